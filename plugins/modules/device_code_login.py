#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# The work is done by the action plugin of the same name, on the controller: this file documents it.

from __future__ import annotations

DOCUMENTATION = r"""
module: device_code_login
short_description: Sign a Microsoft 365 administrator in by device code, for the tasks that follow
version_added: 0.1.0
description:
  - Starts a device code sign-in and shows its message at once ("To sign in, use a web browser to open
    ... and enter the code ..."); a person opens the page on any device, enters the code and signs in
    (with multi-factor authentication where the tenant asks for it).
  - Waits until the code is approved, declined or expired, then keeps the tokens in the token cache
    (a file readable by its owner only), so that every later task of this collection with
    O(auth_method=device_code) and the same O(tenant_id), O(client_id), O(cloud) and O(token_cache_path)
    signs in silently as that person.
  - If the cache already holds a sign-in that still gives a token for O(scopes), it is reused and no code
    is shown (unless O(force=true)).
  - Made for the first run against a new tenant, before any automation identity exists (see the
    C(playbooks/bootstrap.yml) playbook of this collection). Later runs should sign in as that app.
  - Runs on the controller as an action plugin, whatever host the play targets.
  - Returns who signed in and the delegated permissions the access token carries, never a token.
author:
  - mailauth.m365 contributors (@mailauth)
options:
  client_id:
    description:
      - Application (client) ID of the public client to sign in with.
      - Defaults to Microsoft Graph Command Line Tools, a first-party application that every tenant has;
        the tenant must allow it (an administrator consents to its permissions on first use).
      - Any app registration with "Allow public client flows" enabled and the delegated permissions in
        O(scopes) works too.
      - Unlike the other modules, the E(AZURE_CLIENT_ID) environment variable is not used.
    type: str
    default: 14d82eec-204b-4c2f-b7e8-296a70dab67e
  auth_method:
    description:
      - Always a device code sign-in; V(auto) means the same.
      - Accepted so that C(module_defaults) with O(auth_method=device_code) for the whole group apply.
    type: str
    choices: [auto, device_code]
    default: device_code
  scopes:
    description:
      - Delegated permissions of Microsoft Graph to sign in for, by name.
      - What the person can do is also limited by their directory roles (for example Global Administrator
        or Privileged Role Administrator to assign directory roles).
      - The default is what C(playbooks/bootstrap.yml) needs. An empty list asks for every permission
        consented for O(client_id) (C(/.default)).
    type: list
    elements: str
    default:
      - Application.ReadWrite.All
      - AppRoleAssignment.ReadWrite.All
      - DelegatedPermissionGrant.ReadWrite.All
      - RoleManagement.ReadWrite.Directory
      - Organization.Read.All
  wait_timeout:
    description:
      - Seconds to wait for the person to sign in; the code's own lifetime (15 minutes in Entra ID) is the upper limit.
      - Not to be confused with O(timeout), the wait for one HTTP answer.
    type: int
    default: 900
  force:
    description:
      - Sign in again with a new code even if the token cache holds a usable sign-in, for example as
        another administrator. The new sign-in replaces the cached one.
    type: bool
    default: false
  client_secret:
    description:
      - Ignored; a person signs in, not an application.
    type: str
  client_certificate_path:
    description:
      - Ignored; a person signs in, not an application.
    type: path
  client_certificate_password:
    description:
      - Ignored; a person signs in, not an application.
    type: str
  federated_token_file:
    description:
      - Ignored; a person signs in, not an application.
    type: path
extends_documentation_fragment:
  - mailauth.m365.connection
  - mailauth.m365.attributes
  - mailauth.m365.attributes.action_group_entra
attributes:
  action:
    description: Runs on the controller as an action plugin.
    support: full
  async:
    description: Cannot run asynchronously; it must show the code while the task runs.
    support: none
  check_mode:
    support: full
    details: Reports whether the token cache holds a usable sign-in (C(changed) when it does not); shows no code.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: A usable cached sign-in is reused without a new code.
notes:
  - The token cache is keyed by O(tenant_id) as written; give later tasks the same value (tenant GUID or domain).
  - Run for several hosts at once, the runs for the same tenant and cache take turns; one code is shown and the
    other hosts then reuse that sign-in. Runs for different tenants each show a code, labelled with the tenant.
  - Delete the file in RV(token_cache_file) to sign out on this controller.
seealso:
  - name: Microsoft identity platform and the OAuth 2.0 device authorization grant
    description: The protocol this module runs.
    link: https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code
  - module: mailauth.m365.tenant_info
"""

EXAMPLES = r"""
- name: Sign in as an administrator of the new client tenant
  mailauth.m365.device_code_login:
    tenant_id: fabrikam.onmicrosoft.com
  register: admin_login

- name: Tasks after it sign in as that administrator
  mailauth.m365.tenant_info:
    tenant_id: fabrikam.onmicrosoft.com
    client_id: 14d82eec-204b-4c2f-b7e8-296a70dab67e
    auth_method: device_code

- name: Set the connection once; the sign-in and the tasks share tenant, client and cache
  module_defaults:
    group/mailauth.m365.all:
      tenant_id: "{{ m365_tenant_id }}"
      client_id: 14d82eec-204b-4c2f-b7e8-296a70dab67e
      auth_method: device_code
      token_cache_path: "{{ playbook_dir }}/.m365-admin-cache"
  block:
    - name: Sign in (shows the code and waits up to 10 minutes)
      mailauth.m365.device_code_login:
        wait_timeout: 600
      register: admin_login

    - name: Show who signed in
      ansible.builtin.debug:
        msg: "Signed in as {{ admin_login.account.username }} to {{ admin_login.account.tenant_id }}"

- name: Sign in to a US Government (GCC High) tenant with the organization's own public client
  mailauth.m365.device_code_login:
    cloud: usgovernment
    tenant_id: 11111111-2222-3333-4444-555555555555
    client_id: 22222222-3333-4444-5555-666666666666
    scopes: [Application.ReadWrite.All, Organization.Read.All]
"""

RETURN = r"""
signed_in:
  description: Whether a usable sign-in is in the token cache now (in check mode, whether one was found).
  returned: always
  type: bool
  sample: true
account:
  description:
    - Who is signed in. Empty in check mode when no usable sign-in was found.
  returned: always
  type: dict
  contains:
    username:
      description: The user principal name of the person who signed in.
      type: str
      sample: admin@fabrikam.onmicrosoft.com
    tenant_id:
      description: The tenant the person signed in to.
      type: str
      sample: 9c8d7e6f-5a4b-4c3d-8e2f-1a0b9c8d7e6f
    client_id:
      description: The public client the tokens were issued to.
      type: str
      sample: 14d82eec-204b-4c2f-b7e8-296a70dab67e
    scopes:
      description: The delegated permissions the Microsoft Graph access token carries.
      type: list
      elements: str
      sample: [Application.ReadWrite.All, AppRoleAssignment.ReadWrite.All, Organization.Read.All]
token_cache_file:
  description: The token cache file the sign-in is kept in (mode C(0600)); delete it to sign out.
  returned: always
  type: str
  sample: /home/admin/.cache/mailauth.m365/token-cache-0f3a9c5e1b7d4a2c8e6f0a1b2c3d4e5f.json
"""
