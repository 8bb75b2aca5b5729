#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: app_registration
short_description: Create, update or delete an Entra ID app registration for OAuth2 e-mail
version_added: 0.1.0
description:
  - Manages an app registration (C(application) in Microsoft Graph) the way the mail vendors' guides
    set one up by hand in the Entra admin center, ready for SMTP, IMAP, POP or EWS with OAuth2.
  - "The application is found by one key: O(unique_name) (an upsert: created or updated with one
    request), O(app_id), or O(display_name). Display names are not unique in Entra ID: when several
    applications have the display name, the module fails and lists their application IDs rather than
    guessing, and it never creates a second application with the same display name."
  - Only the options that are set are managed; anything left out stays as it is.
  - Returns the application (client) ID, the object ID, the tenant ID and the v2 authorization, token
    and device code endpoints that the guides tell you to copy from the portal.
  - Needs the Microsoft Graph permission C(Application.ReadWrite.All) (or C(Application.ReadWrite.OwnedBy)
    for applications the caller owns), and C(User.Read.All) to name owners by user principal name.
  - Requesting permissions in O(api_permissions) grants nothing; grant them with M(mailauth.m365.admin_consent).
author:
  - mailauth.m365 contributors (@mailauth)
options:
  state:
    description:
      - V(present) creates or updates the application, V(absent) deletes it.
      - Deleting an application also deletes its enterprise application (service principal) and every
        permission granted to it. Entra ID keeps deleted applications restorable for 30 days.
    type: str
    choices: [present, absent]
    default: present
  unique_name:
    description:
      - A name that identifies the application in the tenant and that you choose, for example C(xlreporter-mailer).
      - The preferred key. When no application has it, one is created, in the same request that would
        update an existing one (C(PATCH /applications(uniqueName=...))).
      - It cannot be changed once set. With O(app_id), an existing application without a unique name gets this one.
    type: str
  app_id:
    description:
      - The application (client) ID of an existing application.
      - Entra ID assigns it when it creates an application, so an application missing by this key is an
        error with O(state=present).
    type: str
  display_name:
    description:
      - The name shown in the Entra admin center and on the sign-in and consent pages.
      - Without O(unique_name) and O(app_id) it is the key; fails when more than one application has it.
      - With one of them it is a property to set. A new application gets O(unique_name) as display name
        when this is not given.
    type: str
  sign_in_audience:
    description:
      - Who may sign in ("Supported account types").
      - V(AzureADMyOrg) is this tenant only (single tenant, the default of new applications), V(AzureADMultipleOrgs)
        any Entra ID tenant, V(AzureADandPersonalMicrosoftAccount) any tenant and personal Microsoft accounts,
        V(PersonalMicrosoftAccount) personal accounts only.
      - The two audiences with personal accounts need version 2 access tokens; the module sets
        C(api.requestedAccessTokenVersion) to 2 with them.
    type: str
    choices: [AzureADMyOrg, AzureADMultipleOrgs, AzureADandPersonalMicrosoftAccount, PersonalMicrosoftAccount]
  public_client_redirect_uris:
    description:
      - Redirect URIs of the "Mobile and desktop applications" platform (C(publicClient)), such as
        C(https://login.microsoftonline.com/common/oauth2/nativeclient) or C(http://localhost).
      - C(https://) URIs, C(http://) only for C(localhost) or C(127.0.0.1), and custom schemes (C(myapp://auth)).
      - See R(the list values guide,ansible_collections.mailauth.m365.docsite.guide_list_values) for add, remove and set.
    type: dict
    suboptions:
      add:
        description: URIs that must be present; others stay.
        type: list
        elements: str
      remove:
        description: URIs that must be absent; others stay.
        type: list
        elements: str
      set:
        description:
          - The exact list of URIs (order does not matter).
          - Cannot be combined with O(public_client_redirect_uris.add) or O(public_client_redirect_uris.remove).
        type: list
        elements: str
  web_redirect_uris:
    description:
      - Redirect URIs of the "Web" platform (C(web)), for example C(http://localhost:3017/) of XLReporter's guide.
      - C(https://) URIs, or C(http://) only for C(localhost) or C(127.0.0.1).
    type: dict
    suboptions:
      add:
        description: URIs that must be present; others stay.
        type: list
        elements: str
      remove:
        description: URIs that must be absent; others stay.
        type: list
        elements: str
      set:
        description:
          - The exact list of URIs (order does not matter).
          - Cannot be combined with O(web_redirect_uris.add) or O(web_redirect_uris.remove).
        type: list
        elements: str
  spa_redirect_uris:
    description:
      - Redirect URIs of the "Single-page application" platform (C(spa)).
      - C(https://) URIs, or C(http://) only for C(localhost) or C(127.0.0.1).
    type: dict
    suboptions:
      add:
        description: URIs that must be present; others stay.
        type: list
        elements: str
      remove:
        description: URIs that must be absent; others stay.
        type: list
        elements: str
      set:
        description:
          - The exact list of URIs (order does not matter).
          - Cannot be combined with O(spa_redirect_uris.add) or O(spa_redirect_uris.remove).
        type: list
        elements: str
  allow_public_client_flows:
    description:
      - The "Allow public client flows" switch (C(isFallbackPublicClient)).
      - Needed for the password (ROPC) and device code flows, for example by Monitor ERP; without it
        sign-in fails with C(AADSTS7000218).
    type: bool
  notes:
    description: Notes about the application, shown on its Overview page of the admin center.
    type: str
  description:
    description: A description of the application.
    type: str
  owners:
    description:
      - Owners of the application, named by user principal name, user object ID, or the application
        (client) ID of a service principal.
      - An application created with app-only credentials is owned by the identity that created it;
        O(owners.set) without that identity removes it (it keeps access through its Graph permissions).
    type: dict
    suboptions:
      add:
        description: Owners that must be present; others stay.
        type: list
        elements: str
      remove:
        description: Owners that must be absent; others stay.
        type: list
        elements: str
      set:
        description: The exact owners. Cannot be combined with O(owners.add) or O(owners.remove).
        type: list
        elements: str
  api_permissions:
    description:
      - The API permissions the application requests (C(requiredResourceAccess)), by name.
      - Names are looked up on the API's own service principal in the tenant; an unknown name fails and
        lists the closest names.
      - With O(purge_api_permissions=true) this is the whole list; permissions not listed are removed.
    type: list
    elements: dict
    suboptions:
      resource:
        description:
          - The API, V(graph) (Microsoft Graph), V(exchange) (Office 365 Exchange Online), or the
            application ID or display name of another API's service principal.
        type: str
        required: true
      delegated:
        description: Delegated permissions (scopes), for example V(SMTP.Send), V(offline_access), V(User.Read).
        type: list
        elements: str
      application:
        description: Application permissions (app roles), for example V(Mail.Send) or V(SMTP.SendAsApp).
        type: list
        elements: str
  purge_api_permissions:
    description:
      - Whether permissions the application requests but O(api_permissions) does not list are removed.
      - With V(false) the module only adds what is missing.
    type: bool
    default: true
extends_documentation_fragment:
  - mailauth.m365.connection
  - mailauth.m365.attributes
  - mailauth.m365.attributes.action_group_entra
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
    details: Permissions are shown by name, owners with their user principal name or application ID.
  idempotent:
    support: full
notes:
  - Right after a create, Entra ID may answer for a while as if the new application did not exist
    (replication); the module waits that out before adding owners.
seealso:
  - module: mailauth.m365.app_registration_info
  - module: mailauth.m365.app_secret
  - module: mailauth.m365.admin_consent
  - name: Upsert application (Microsoft Graph)
    description: The request that creates or updates an application by its unique name.
    link: https://learn.microsoft.com/graph/api/application-upsert
"""

EXAMPLES = r"""
- name: XLReporter Mailer (delegated SMTP, web redirect on the local port)
  mailauth.m365.app_registration:
    unique_name: xlreporter-mailer
    display_name: XLReporter Mailer
    sign_in_audience: AzureADMyOrg
    web_redirect_uris:
      set: [http://localhost:3017/]
    api_permissions:
      - resource: graph
        delegated: [SMTP.Send, offline_access, openid, profile, User.Read]
  delegate_to: localhost
  register: xlreporter

- name: Give XLReporter what its Office 365 dialog asks for
  ansible.builtin.debug:
    msg:
      - "Client ID: {{ xlreporter.application.app_id }}"
      - "Authorization endpoint (v2): {{ xlreporter.endpoints.authorization_endpoint }}"
      - "Token endpoint (v2): {{ xlreporter.endpoints.token_endpoint }}"

- name: Sage 100 (public client with PKCE on https://localhost)
  mailauth.m365.app_registration:
    unique_name: sage100-mail
    display_name: Sage 100 e-mail
    public_client_redirect_uris:
      set: [https://localhost]
    api_permissions:
      - resource: graph
        delegated: [offline_access, SMTP.Send, User.Read]
  delegate_to: localhost

- name: Monitor ERP (EWS with the password flow, as its manifest snippet sets it)
  mailauth.m365.app_registration:
    unique_name: monitor-g5
    display_name: Monitor G5
    allow_public_client_flows: true
    api_permissions:
      - resource: exchange
        delegated: [EWS.AccessAsUser.All]
      - resource: graph
        delegated: [User.Read]
  delegate_to: localhost

- name: TrueChem (app-only Mail.Send, plus the native client redirect)
  mailauth.m365.app_registration:
    unique_name: truechem-email-oauth
    display_name: TrueChemEmailOAuth
    public_client_redirect_uris:
      add: [https://login.microsoftonline.com/common/oauth2/nativeclient]
    api_permissions:
      - resource: graph
        application: [Mail.Send]
    owners:
      add: [it-admin@contoso.com]
  delegate_to: localhost

- name: enaio webclient, an app made earlier in the portal, found by its display name
  mailauth.m365.app_registration:
    display_name: enaio webclient mail
    web_redirect_uris:
      add: [http://localhost]
    api_permissions:
      - resource: graph
        delegated: [SMTP.Send]
    purge_api_permissions: false
  delegate_to: localhost

- name: Add notes to an app found by its application (client) ID, and give it a unique name
  mailauth.m365.app_registration:
    app_id: 6f3a1b2c-4d5e-4f60-8a7b-9c0d1e2f3a4b
    unique_name: scanner-smtp
    notes: "SMTP for the scanners on floor 2. Owner: IT operations."
  delegate_to: localhost

- name: Delete the app registration (and its enterprise application)
  mailauth.m365.app_registration:
    unique_name: xlreporter-mailer
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
application:
  description:
    - The application after the task (predicted in check mode; IDs are then null for a new one).
    - Empty after O(state=absent).
  returned: always
  type: dict
  contains:
    id:
      description: Object ID of the application (the app registration, not its enterprise application).
      type: str
      sample: 5e0d3f4c-8a1b-4c2d-9e3f-0a1b2c3d4e5f
    app_id:
      description: Application (client) ID, what mail clients call the client ID.
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
      contains:
        resource:
          description: Display name of the API.
          type: str
          sample: Microsoft Graph
        resource_app_id:
          description: Application ID of the API.
          type: str
          sample: 00000003-0000-0000-c000-000000000000
        delegated:
          description: Delegated permissions, sorted.
          type: list
          elements: str
          sample: [SMTP.Send, User.Read, offline_access, openid, profile]
        application:
          description: Application permissions, sorted.
          type: list
          elements: str
          sample: []
    owners:
      description: Owners of the application.
      type: list
      elements: dict
      contains:
        id:
          description: Object ID of the owner.
          type: str
        type:
          description: V(user) or V(service_principal).
          type: str
        display_name:
          description: Display name of the owner.
          type: str
        user_principal_name:
          description: User principal name, for users (null otherwise).
          type: str
        app_id:
          description: Application ID, for service principals (null otherwise).
          type: str
      sample:
        - id: 9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d
          type: user
          display_name: IT Admin
          user_principal_name: it-admin@contoso.com
          app_id: null
tenant_id:
  description: The directory (tenant) ID.
  returned: always
  type: str
  sample: 11111111-2222-3333-4444-555555555555
endpoints:
  description: The tenant's OAuth 2.0 v2 endpoints, as the portal's Endpoints pane lists them.
  returned: always
  type: dict
  contains:
    authorization_endpoint:
      description: OAuth 2.0 authorization endpoint (v2).
      type: str
      sample: https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/oauth2/v2.0/authorize
    token_endpoint:
      description: OAuth 2.0 token endpoint (v2).
      type: str
      sample: https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/oauth2/v2.0/token
    device_code_endpoint:
      description: OAuth 2.0 device authorization endpoint (v2).
      type: str
      sample: https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/oauth2/v2.0/devicecode
"""

from ansible_collections.mailauth.m365.plugins.module_utils._applications import (
    APPLICATION_SELECT,
    READ_PERMISSION,
    REDIRECT_PLATFORMS,
    SIGN_IN_AUDIENCES,
    WRITE_PERMISSION,
    add_owner,
    application_record,
    check_redirect_uris,
    owner_changes,
    read_owners,
    redirect_uris,
    remove_owner,
    tenant_and_endpoints,
)
from ansible_collections.mailauth.m365.plugins.module_utils._errors import AmbiguousWriteError, GraphError, ParameterError
from ansible_collections.mailauth.m365.plugins.module_utils._graph import (
    ResourceResolver,
    find_application,
    normalize_required_resource_access,
    odata_quote,
)
from ansible_collections.mailauth.m365.plugins.module_utils._http import wait_for_replication
from ansible_collections.mailauth.m365.plugins.module_utils._module import GUID_PATTERN, run_module
from ansible_collections.mailauth.m365.plugins.module_utils._reconcile import (
    apply_list_change,
    changed_properties,
    list_changed,
    list_option,
    make_diff,
    predicted,
)

DEFAULT_SIGN_IN_AUDIENCE = "AzureADMyOrg"
# Audiences with personal accounts need v2 access tokens (apiApplication.requestedAccessTokenVersion).
PERSONAL_AUDIENCES = ("AzureADandPersonalMicrosoftAccount", "PersonalMicrosoftAccount")
SELECT = APPLICATION_SELECT + ",api"

ARGUMENT_SPEC = dict(
    state=dict(type="str", default="present", choices=["present", "absent"]),
    unique_name=dict(type="str"),
    app_id=dict(type="str"),
    display_name=dict(type="str"),
    sign_in_audience=dict(type="str", choices=list(SIGN_IN_AUDIENCES)),
    public_client_redirect_uris=list_option(),
    web_redirect_uris=list_option(),
    spa_redirect_uris=list_option(),
    allow_public_client_flows=dict(type="bool"),
    notes=dict(type="str"),
    description=dict(type="str"),
    owners=list_option(),
    api_permissions=dict(type="list", elements="dict", options=dict(
        resource=dict(type="str", required=True),
        delegated=dict(type="list", elements="str"),
        application=dict(type="list", elements="str"),
    )),
    purge_api_permissions=dict(type="bool", default=True),
)


def run(module, clients):
    """Find the application by its key, then create, update or delete it; ``(changed, record, diff)``."""
    params = module.params
    check_parameters(params)
    graph = clients.graph
    resolver = ResourceResolver(graph)
    current = find_current(graph, params)
    context = tenant_and_endpoints(clients)
    if params["state"] == "absent":
        changed, before = ensure_absent(module, clients, current, resolver)
        return changed, dict(context, application={}), make_diff(before, {})
    changed, before, after = ensure_present(module, clients, current, resolver)
    return changed, dict(context, application=after), make_diff(before, after)


def check_parameters(params):
    """Fail before any request on options Graph would refuse or that cannot find an application."""
    if not (params["unique_name"] or params["app_id"] or params["display_name"]):
        raise ParameterError("unique_name", "no key to find the application by.",
                             "Give unique_name (preferred), app_id or display_name.")
    if params["app_id"] and not GUID_PATTERN.match(params["app_id"]):
        raise ParameterError("app_id", "%r is not a GUID." % params["app_id"],
                             "Use the Application (client) ID of the app registration, or name it by unique_name.")
    for option, platform in REDIRECT_PLATFORMS:
        check_redirect_uris(option, params[option], custom_schemes=platform == "publicClient")


def find_current(graph, params):
    """The application the key options name, or None. ``app_id`` wins, then ``unique_name``."""
    if params["app_id"]:
        app = find_application(graph, app_id=params["app_id"], select=SELECT)
        unique_name = params["unique_name"]
        if app and unique_name and app.get("uniqueName") not in (None, unique_name):
            raise ParameterError("unique_name", "application %s already has the unique name %r, and a unique name "
                                 "cannot be changed." % (params["app_id"], app["uniqueName"]),
                                 "Leave unique_name out, or give the one it has.")
        return app
    if params["unique_name"]:
        return find_application(graph, unique_name=params["unique_name"], select=SELECT)
    return find_application(graph, display_name=params["display_name"], select=SELECT)


def desired_properties(params, current, resolver):
    """Graph properties the options ask for; ``None`` where an option is unset or already satisfied."""
    current = current or {}
    desired = dict(displayName=params["display_name"], signInAudience=params["sign_in_audience"],
                   isFallbackPublicClient=params["allow_public_client_flows"], notes=params["notes"],
                   description=params["description"])
    if current and params["unique_name"] and not current.get("uniqueName"):
        # found by app_id: an app made in the portal gets the unique name once (it is immutable after)
        desired["uniqueName"] = params["unique_name"]
    for option, platform in REDIRECT_PLATFORMS:
        have = redirect_uris(current, platform)
        wanted = apply_list_change(have, params[option])
        # web may be null on an application; an empty list asked for is then no change either
        desired[platform] = {"redirectUris": wanted} if list_changed(have, wanted) else None
    if params["sign_in_audience"] in PERSONAL_AUDIENCES and (current.get("api") or {}).get("requestedAccessTokenVersion") != 2:
        desired["api"] = {"requestedAccessTokenVersion": 2}
    if params["api_permissions"] is not None:
        have = normalize_required_resource_access(current.get("requiredResourceAccess"))
        wanted = resolver.required_resource_access(params["api_permissions"])
        if not params["purge_api_permissions"]:
            wanted = normalize_required_resource_access(have + wanted)
        desired["requiredResourceAccess"] = wanted if wanted != have else None
    return desired


def ensure_present(module, clients, current, resolver):
    """Create or update; ``(changed, before record, after record)``."""
    params = module.params
    graph = clients.graph
    if current is None and params["app_id"]:
        raise ParameterError("app_id", "no application has the application ID %s in this tenant." % params["app_id"],
                             "Entra ID assigns application IDs: create the application by unique_name or display_name.")
    desired = desired_properties(params, current, resolver)
    cache = []
    owners_before = read_owners(graph, current["id"]) if current else []
    # Owner names are resolved before anything is written, so a misspelt one leaves nothing half done.
    to_add, to_remove = owner_changes(graph, owners_before, params["owners"], cache)
    if current is None:
        body = dict((name, value) for name, value in desired.items() if value is not None)
        body.setdefault("displayName", params["unique_name"])
        body.setdefault("signInAudience", DEFAULT_SIGN_IN_AUDIENCE)
        if params["unique_name"]:
            warn_about_namesakes(module, graph, body["displayName"])
        if module.check_mode:
            return True, {}, application_record(dict(body, id=None, appId=None, uniqueName=params["unique_name"]),
                                                to_add, resolver)
        app = create(clients, params, body)
        # The new application's first owner is whoever created it; read it once it is visible.
        owners_now = read_owners(graph, app["id"], wait=True, sleep=clients.sleep, clock=clients.clock)
        to_add, to_remove = owner_changes(graph, owners_now, params["owners"], cache)
        write_owners(clients, app["id"], to_add, to_remove)
        return True, {}, application_record(app, owners_after(owners_now, to_add, to_remove), resolver)
    changes = changed_properties(current, desired)
    if changes and not module.check_mode:
        graph.patch("applications/%s" % current["id"], body=changes, permission=WRITE_PERMISSION)
    if not module.check_mode:
        write_owners(clients, current["id"], to_add, to_remove)
    before = application_record(current, owners_before, resolver)
    after = application_record(predicted(current, changes), owners_after(owners_before, to_add, to_remove), resolver)
    return bool(changes or to_add or to_remove), before, after


def warn_about_namesakes(module, graph, display_name):
    """A new app keyed by unique name may share its display name with one made in the portal: say so,
    since that one may be the app meant (adopt it with app_id and unique_name)."""
    namesakes = graph.get_all("applications", params={"$filter": "displayName eq %s" % odata_quote(display_name),
                                                      "$select": "appId"}, permission=READ_PERMISSION)
    if namesakes:
        module.warn("Other applications already have the display name %r (appIds %s). If one of them is the app meant, "
                    "give its app_id together with unique_name to adopt it instead of creating another."
                    % (display_name, ", ".join(sorted(app["appId"] for app in namesakes))))


def create(clients, params, body):
    """Create the application with ONE write; return it as Graph has it."""
    graph = clients.graph
    if params["unique_name"]:
        path = "applications(uniqueName=%s)" % odata_quote(params["unique_name"])
        answer = graph.send("PATCH", path, body=body, headers={"Prefer": "create-if-missing"}, permission=WRITE_PERMISSION)
        if answer.status == 201 and answer.body:
            return answer.body
        # 204: it existed after all (our read ran before it replicated) and the body was applied to it,
        # defaults included; read back what it is now.
        return wait_for_replication(lambda: graph.get(path, params={"$select": SELECT}, permission=READ_PERMISSION),
                                    sleep=clients.sleep, clock=clients.clock, include_forbidden=False)[0]
    try:
        return graph.post("applications", body=body, permission=WRITE_PERMISSION)
    except AmbiguousWriteError:
        # Unknown whether Graph made it: look before posting again, or there would be two.
        found = find_application(graph, display_name=params["display_name"], select=SELECT)
        return found or graph.post("applications", body=body, permission=WRITE_PERMISSION)


def write_owners(clients, object_id, to_add, to_remove):
    # Additions first: an application is never left without the owners asked for.
    for owner in to_add:
        add_owner(clients.graph, object_id, owner, sleep=clients.sleep, clock=clients.clock)
    for owner in to_remove:
        remove_owner(clients.graph, object_id, owner)


def owners_after(owners, to_add, to_remove):
    removed = set(owner["id"] for owner in to_remove)
    return [owner for owner in owners if owner["id"] not in removed] + list(to_add)


def ensure_absent(module, clients, current, resolver):
    """Delete the application if it exists; ``(changed, before record)``."""
    if current is None:
        return False, {}
    before = {"id": current["id"], "app_id": current["appId"], "display_name": current.get("displayName")}
    if module._diff:  # pylint: disable=protected-access
        # The full record costs the owners and the API lookups: only when a diff is shown.
        before = application_record(current, read_owners(clients.graph, current["id"]), resolver)
    if not module.check_mode:
        try:
            clients.graph.delete("applications/%s" % current["id"], permission=WRITE_PERMISSION)
        except GraphError as err:
            # Gone already (another run, or our own retried DELETE): the state asked for is reached.
            if err.status != 404:
                raise
    return True, before


def main():
    run_module(run, argument_spec=ARGUMENT_SPEC, supports_check_mode=True)


if __name__ == "__main__":
    main()
