#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: tenant_info
short_description: Read the Microsoft 365 tenant the credentials sign in to
version_added: 0.1.0
description:
  - Reads the signed-in tenant's organization record from Microsoft Graph (C(GET /organization)), that is
    its ID, name, type and verified domains.
  - Also reports who signed in (client, app name, granted roles or scopes, auth method), taken from
    the access token's claims. The token itself is never returned.
  - A first task of a play that checks the credentials, cloud and permissions before anything changes.
  - Needs the Microsoft Graph permission C(Organization.Read.All) (or C(Directory.Read.All)); C(User.Read)
    is enough when signed in as a user.
author:
  - mailauth.m365 contributors (@mailauth)
options: {}
extends_documentation_fragment:
  - mailauth.m365.connection
  - mailauth.m365.attributes.info
  - mailauth.m365.attributes.action_group_entra
seealso:
  - name: Get organization (Microsoft Graph)
    description: The Graph call this module makes.
    link: https://learn.microsoft.com/graph/api/organization-get
"""

EXAMPLES = r"""
- name: Check the credentials and read the tenant
  mailauth.m365.tenant_info:
    tenant_id: contoso.onmicrosoft.com
    client_id: 00000000-0000-0000-0000-000000000001
    client_secret: "{{ vault_m365_client_secret }}"
  delegate_to: localhost
  register: tenant

- name: Show the default domain and what the app may do
  ansible.builtin.debug:
    msg: "{{ tenant.tenants[0].default_domain }} as {{ tenant.signed_in_as.app_display_name }}: {{ tenant.signed_in_as.roles }}"

- name: Set the connection once for every module of the collection
  module_defaults:
    group/mailauth.m365.all:
      tenant_id: "{{ m365_tenant_id }}"
      client_id: "{{ m365_client_id }}"
      client_certificate_path: /etc/mailauth/automation.pem
  block:
    - name: Read the tenant with a certificate
      mailauth.m365.tenant_info:
      delegate_to: localhost

- name: Read a US Government (GCC High) tenant, signed in as the administrator of a device code login
  mailauth.m365.tenant_info:
    cloud: usgovernment
    tenant_id: 11111111-2222-3333-4444-555555555555
    client_id: 14d82eec-204b-4c2f-b7e8-296a70dab67e
    auth_method: device_code
  delegate_to: localhost

- name: Read the offline sandbox tenant
  mailauth.m365.tenant_info:
    cloud: custom
    authority_host: https://127.0.0.1:8443
    graph_endpoint: https://127.0.0.1:8443/graph
    ca_bundle: "{{ playbook_dir }}/../.sandbox/ca.pem"
    tenant_id: "{{ sandbox_tenant_id }}"
    client_id: "{{ sandbox_client_id }}"
    client_secret: "{{ sandbox_client_secret }}"
  delegate_to: localhost
"""

RETURN = r"""
tenants:
  description:
    - The organization records of the signed-in tenant (one item; a list like every C(_info) module's result).
  returned: success
  type: list
  elements: dict
  contains:
    id:
      description: The tenant (directory) ID.
      type: str
      sample: 11111111-2222-3333-4444-555555555555
    display_name:
      description: The organization's name.
      type: str
      sample: Contoso
    tenant_type:
      description: C(AAD) for a workforce tenant, C(AAD B2C) or C(CIAM) for customer tenants.
      type: str
      sample: AAD
    default_domain:
      description: The verified domain marked as default (new users and mailboxes get it).
      type: str
      sample: contoso.com
    initial_domain:
      description: The C(.onmicrosoft.com) domain the tenant was created with.
      type: str
      sample: contoso.onmicrosoft.com
    verified_domains:
      description: Every verified domain of the tenant.
      type: list
      elements: dict
      contains:
        name:
          description: The domain name.
          type: str
          sample: contoso.com
        type:
          description: C(Managed) or C(Federated).
          type: str
          sample: Managed
        capabilities:
          description: What the domain is used for, for example C(Email, OfficeCommunicationsOnline).
          type: str
          sample: Email, OfficeCommunicationsOnline
        is_default:
          description: Whether it is the default domain.
          type: bool
          sample: true
        is_initial:
          description: Whether it is the initial C(.onmicrosoft.com) domain.
          type: bool
          sample: false
  sample:
    - id: 11111111-2222-3333-4444-555555555555
      display_name: Contoso
      tenant_type: AAD
      default_domain: contoso.com
      initial_domain: contoso.onmicrosoft.com
      verified_domains:
        - name: contoso.com
          type: Managed
          capabilities: Email, OfficeCommunicationsOnline
          is_default: true
          is_initial: false
        - name: contoso.onmicrosoft.com
          type: Managed
          capabilities: Email, OfficeCommunicationsOnline
          is_default: false
          is_initial: true
signed_in_as:
  description:
    - Who the Graph access token was issued to, from its claims. The token itself is never returned.
  returned: success
  type: dict
  contains:
    auth_method:
      description: How the module signed in.
      type: str
      sample: client_secret
    cloud:
      description: The cloud signed in to.
      type: str
      sample: public
    client_id:
      description: Application (client) ID the token was issued to.
      type: str
      sample: 00000000-0000-0000-0000-000000000001
    app_display_name:
      description: The app's display name, when the token carries it.
      type: str
      sample: Contoso mail automation
    tenant_id:
      description: The tenant that issued the token.
      type: str
      sample: 11111111-2222-3333-4444-555555555555
    identity_type:
      description: C(application) for app-only tokens, C(user) for delegated ones.
      type: str
      sample: application
    username:
      description: The signed-in user, for delegated tokens.
      type: str
      returned: when identity_type is user
      sample: admin@contoso.onmicrosoft.com
    object_id:
      description: Object ID of the service principal (app-only) or user (delegated).
      type: str
      sample: 22222222-3333-4444-5555-666666666666
    roles:
      description: Application permissions (app roles) granted to the app, as carried by the token.
      type: list
      elements: str
      sample: [Application.ReadWrite.All, Organization.Read.All]
    scopes:
      description: Delegated permissions (scopes) in the token.
      type: list
      elements: str
      sample: []
    audience:
      description: The resource the token is for.
      type: str
      sample: https://graph.microsoft.com
    certificate_thumbprint:
      description: SHA-1 thumbprint of the client certificate, as shown by Entra ID.
      type: str
      returned: when signing in with a certificate
      sample: 3A1F9C0B5E6D7A8B9C0D1E2F3A4B5C6D7E8F9A0B
"""

from ansible_collections.mailauth.m365.plugins.module_utils._module import run_module

# Reading the organization needs this permission (or Directory.Read.All) for app-only sign-in.
REQUIRED_PERMISSION = "Organization.Read.All"


def run(module, clients):
    """Read the organization and the token's identity; nothing is ever changed."""
    organizations = clients.graph.get_all("/organization", permission=REQUIRED_PERMISSION)
    record = dict(
        tenants=[tenant_record(organization) for organization in organizations],
        signed_in_as=identity_record(clients.tokens.claims("graph"), clients.tokens.describe()),
    )
    return False, record, None


def tenant_record(organization):
    """Graph ``organization`` -> the snake_case tenant record this module returns."""
    domains = [dict(name=domain.get("name"), type=domain.get("type"), capabilities=domain.get("capabilities"),
                    is_default=bool(domain.get("isDefault")), is_initial=bool(domain.get("isInitial")))
               for domain in organization.get("verifiedDomains") or []]
    return dict(
        id=organization.get("id"),
        display_name=organization.get("displayName"),
        tenant_type=organization.get("tenantType"),
        default_domain=next((domain["name"] for domain in domains if domain["is_default"]), None),
        initial_domain=next((domain["name"] for domain in domains if domain["is_initial"]), None),
        verified_domains=domains,
    )


def identity_record(claims, sign_in):
    """Token claims (v1 or v2) and the sign-in description -> ``signed_in_as``."""
    scopes = (claims.get("scp") or "").split()
    # Delegated tokens carry scp (and the user's upn); app-only tokens carry roles and idtyp=app.
    is_user = bool(scopes) or claims.get("idtyp") == "user"
    record = dict(
        auth_method=sign_in["auth_method"],
        cloud=sign_in["cloud"],
        client_id=claims.get("appid") or claims.get("azp") or sign_in["client_id"],
        app_display_name=claims.get("app_displayname"),
        tenant_id=claims.get("tid"),
        identity_type="user" if is_user else "application",
        object_id=claims.get("oid"),
        roles=list(claims.get("roles") or []),
        scopes=scopes,
        audience=claims.get("aud"),
    )
    if is_user:
        record["username"] = claims.get("upn") or claims.get("preferred_username") or claims.get("unique_name")
    if "certificate_thumbprint" in sign_in:
        record["certificate_thumbprint"] = sign_in["certificate_thumbprint"]
    return record


def main():
    run_module(run, argument_spec={}, supports_check_mode=True)


if __name__ == "__main__":
    main()
