#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: app_registration_info
short_description: List Entra ID app registrations, their permissions, owners and credential expiry
version_added: 0.1.0
description:
  - Lists app registrations (C(applications) in Microsoft Graph) by unique name, application ID, display
    name, display name prefix, or all of them, with the same record M(mailauth.m365.app_registration) returns.
  - Adds the metadata of each application's client secrets and certificates (ID, name, hint, validity,
    days until expiry), so that a play can warn before a secret expires and mail stops (the Monitor ERP
    and TrueChem guides' failure). Secret values are never returned; Graph does not keep them readable.
  - Every application with a display name is returned, duplicates included; that is how to find them.
  - Needs the Microsoft Graph permission C(Application.Read.All).
author:
  - mailauth.m365 contributors (@mailauth)
options:
  unique_name:
    description: Return the application with this unique name.
    type: str
  app_id:
    description: Return the application with this application (client) ID.
    type: str
  display_name:
    description: Return every application with exactly this display name.
    type: str
  display_name_prefix:
    description: Return every application whose display name starts with this text (case does not matter).
    type: str
extends_documentation_fragment:
  - mailauth.m365.connection
  - mailauth.m365.attributes.info
  - mailauth.m365.attributes.action_group_entra
notes:
  - Without any of the options, every application of the tenant is returned.
  - The owners come with the applications (C($expand=owners)); only an application with more owners than Graph
    expands (20) costs one more request for the rest.
seealso:
  - module: mailauth.m365.app_registration
  - module: mailauth.m365.app_secret
"""

EXAMPLES = r"""
- name: Read the XLReporter app registration
  mailauth.m365.app_registration_info:
    unique_name: xlreporter-mailer
  delegate_to: localhost
  register: xlreporter

- name: Fail early when it is missing
  ansible.builtin.assert:
    that: xlreporter.applications | length == 1
    fail_msg: Run the XLReporter setup play first.

- name: Find every secret of the mail apps that expires within 30 days
  mailauth.m365.app_registration_info:
    display_name_prefix: "Mail - "
  delegate_to: localhost
  register: mail_apps

- name: Warn about them (TrueChem and Monitor ERP stop sending mail when it happens)
  ansible.builtin.debug:
    msg: "{{ item.0.display_name }}: secret {{ item.1.display_name }} ends {{ item.1.end_date_time }}"
  loop: "{{ mail_apps.applications | subelements('password_credentials') }}"
  when: item.1.expires_in_days < 30

- name: Look for duplicates of a display name before adopting a portal-made app
  mailauth.m365.app_registration_info:
    display_name: TrueChemEmailOAuth
  delegate_to: localhost
  register: truechem

- name: List every app registration of the tenant
  mailauth.m365.app_registration_info:
  delegate_to: localhost
"""

RETURN = r"""
applications:
  description:
    - The applications found, as M(mailauth.m365.app_registration) returns one, plus credential metadata.
    - An empty list when none matched.
  returned: always
  type: list
  elements: dict
  contains:
    id:
      description: Object ID of the application.
      type: str
      sample: 5e0d3f4c-8a1b-4c2d-9e3f-0a1b2c3d4e5f
    app_id:
      description: Application (client) ID.
      type: str
      sample: 6f3a1b2c-4d5e-4f60-8a7b-9c0d1e2f3a4b
    unique_name:
      description: The unique name, or null.
      type: str
      sample: xlreporter-mailer
    display_name:
      description: Display name.
      type: str
      sample: XLReporter Mailer
    sign_in_audience:
      description: Supported account types.
      type: str
      sample: AzureADMyOrg
    public_client_redirect_uris:
      description: Redirect URIs of the mobile and desktop platform.
      type: list
      elements: str
      sample: []
    web_redirect_uris:
      description: Redirect URIs of the web platform.
      type: list
      elements: str
      sample: [http://localhost:3017/]
    spa_redirect_uris:
      description: Redirect URIs of the single-page application platform.
      type: list
      elements: str
      sample: []
    allow_public_client_flows:
      description: Whether public client flows (password, device code) are allowed.
      type: bool
      sample: false
    notes:
      description: Notes, or null.
      type: str
      sample: null
    description:
      description: Description, or null.
      type: str
      sample: null
    api_permissions:
      description: The permissions the application requests, by name, one item per API.
      type: list
      elements: dict
      sample:
        - resource: Microsoft Graph
          resource_app_id: 00000003-0000-0000-c000-000000000000
          delegated: [SMTP.Send, User.Read, offline_access, openid, profile]
          application: []
    owners:
      description: Owners (C(id), C(type), C(display_name), C(user_principal_name), C(app_id)).
      type: list
      elements: dict
      sample:
        - id: 9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d
          type: user
          display_name: IT Admin
          user_principal_name: it-admin@contoso.com
          app_id: null
    password_credentials:
      description: Client secrets, without their values.
      type: list
      elements: dict
      contains:
        key_id:
          description: ID of the secret (not its value).
          type: str
        display_name:
          description: The secret's description.
          type: str
        hint:
          description: The first characters of the value, as the portal shows them.
          type: str
        start_date_time:
          description: Start of validity.
          type: str
        end_date_time:
          description: End of validity.
          type: str
        expires_in_days:
          description: Whole days until the end of validity; negative once expired.
          type: int
        expired:
          description: Whether it has expired.
          type: bool
      sample:
        - key_id: 787397d1-0c37-4a79-ab19-95d526f57342
          display_name: XLReporter
          hint: 7aE
          start_date_time: "2026-01-10T09:00:00Z"
          end_date_time: "2028-01-10T09:00:00Z"
          expires_in_days: 412
          expired: false
    key_credentials:
      description: Certificates, without their keys.
      type: list
      elements: dict
      contains:
        key_id:
          description: ID of the certificate credential.
          type: str
        display_name:
          description: Its name, usually the certificate's subject.
          type: str
        type:
          description: C(AsymmetricX509Cert), for example.
          type: str
        usage:
          description: C(Verify) for sign-in certificates.
          type: str
        thumbprint:
          description: SHA-1 thumbprint in hex, when Graph has it.
          type: str
        start_date_time:
          description: Start of validity.
          type: str
        end_date_time:
          description: End of validity.
          type: str
        expires_in_days:
          description: Whole days until the end of validity; negative once expired.
          type: int
        expired:
          description: Whether it has expired.
          type: bool
      sample: []
tenant_id:
  description: The directory (tenant) ID.
  returned: always
  type: str
  sample: 11111111-2222-3333-4444-555555555555
endpoints:
  description: The tenant's OAuth 2.0 v2 endpoints (C(authorization_endpoint), C(token_endpoint), C(device_code_endpoint)).
  returned: always
  type: dict
  sample:
    authorization_endpoint: https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/oauth2/v2.0/authorize
    token_endpoint: https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/oauth2/v2.0/token
    device_code_endpoint: https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/oauth2/v2.0/devicecode
"""

from ansible_collections.mailauth.m365.plugins.module_utils._applications import (
    CREDENTIALS_SELECT,
    READ_PERMISSION,
    application_record,
    read_owners,
    tenant_and_endpoints,
)
from ansible_collections.mailauth.m365.plugins.module_utils._errors import ParameterError
from ansible_collections.mailauth.m365.plugins.module_utils._graph import ResourceResolver, odata_quote
from ansible_collections.mailauth.m365.plugins.module_utils._module import GUID_PATTERN, run_module

# option -> the $filter it becomes
FILTERS = {"unique_name": "uniqueName eq %s", "app_id": "appId eq %s", "display_name": "displayName eq %s",
           "display_name_prefix": "startswith(displayName,%s)"}
ARGUMENT_SPEC = dict((option, dict(type="str")) for option in FILTERS)
# Graph expands at most this many items of a directory object's relationship.
EXPANDED_ITEMS_MAX = 20


def owners_of(graph, app):
    """The owners Graph expanded into ``app``; read in full only when the expansion may have been cut short."""
    expanded = app.get("owners")
    if expanded is None or len(expanded) >= EXPANDED_ITEMS_MAX:
        return read_owners(graph, app["id"])
    return expanded


def run(module, clients):
    """List the applications that match; nothing is ever changed."""
    params = module.params
    if params["app_id"] and not GUID_PATTERN.match(params["app_id"]):
        raise ParameterError("app_id", "%r is not a GUID." % params["app_id"],
                             "Use the Application (client) ID of the app registration.")
    query = {"$select": CREDENTIALS_SELECT, "$expand": "owners"}
    option = next((name for name in FILTERS if params[name]), None)
    if option:
        query["$filter"] = FILTERS[option] % odata_quote(params[option])
    graph = clients.graph
    apps = graph.get_all("applications", params=query, permission=READ_PERMISSION)
    resolver = ResourceResolver(graph)
    applications = [application_record(app, owners_of(graph, app), resolver, credentials=True) for app in apps]
    return False, dict(tenant_and_endpoints(clients), applications=applications), None


def main():
    run_module(run, argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
               mutually_exclusive=[tuple(FILTERS)])


if __name__ == "__main__":
    main()
