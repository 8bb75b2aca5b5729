#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: admin_consent
short_description: Grant or revoke tenant-wide admin consent for an application
version_added: 0.1.0
description:
  - Does what the portal's I(Grant admin consent for <tenant>) button does, for one application. It consents
    to its delegated permissions on behalf of all users, and grants its application permissions.
  - Delegated permissions are one C(oauth2PermissionGrant) per client and resource with consent type
    C(AllPrincipals), whose scopes are compared as a set (the order of the scope string is no change) and
    updated in place. Application permissions are app role assignments to the application's service
    principal on the resource's service principal.
  - Either everything the app registration requests (O(permissions=all_requested), the portal button), or
    an explicit list. Permission names are resolved against the tenant's own resource service principals.
  - Safe to run twice at once. Graph keeps one grant per client and resource, and an existing grant or
    assignment found on the way is used, never duplicated.
  - The application needs a service principal in the tenant first; create it with
    M(mailauth.m365.service_principal).
  - Needs the Microsoft Graph application permissions C(DelegatedPermissionGrant.ReadWrite.All) (delegated
    consent), C(AppRoleAssignment.ReadWrite.All) (application permissions) and C(Application.Read.All).
author:
  - mailauth.m365 contributors (@mailauth)
options:
  app_id:
    description:
      - Application (client) ID of the application to consent for (the client).
    type: str
    required: true
  permissions:
    description:
      - V(all_requested) stands for every permission the app registration requests (its API permissions,
        C(requiredResourceAccess)); the app registration must be in this tenant.
      - Or a list of permissions in the format of M(mailauth.m365.app_registration)'s C(api_permissions), that is
        entries with C(resource) (V(graph), V(exchange), an application ID, or the display name of an API's
        service principal) and the permission names under C(delegated) and C(application).
      - With O(state=absent) and V(all_requested), every tenant-wide grant and application permission of the
        application is revoked, requested or not.
    type: raw
    default: all_requested
  purge:
    description:
      - With O(state=present), also revoke the delegated permissions (on any resource) and application
        permissions granted tenant-wide that O(permissions) does not name.
      - Per-user consent (consent type C(Principal)) is never touched.
    type: bool
    default: false
  state:
    description:
      - V(present) grants the permissions (adding to what is granted, see O(purge)).
      - V(absent) revokes them; a delegated grant left without scopes is deleted.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - mailauth.m365.connection
  - mailauth.m365.attributes
  - mailauth.m365.attributes.action_group_entra
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
seealso:
  - module: mailauth.m365.service_principal
  - module: mailauth.m365.app_registration
  - name: Grant or revoke API permissions programmatically (Microsoft Entra)
    description: The Graph calls this module makes, and what admin consent means.
    link: https://learn.microsoft.com/graph/permissions-grant-via-msgraph
notes:
  - Consent is recorded against the resource (for SMTP AUTH, Microsoft Graph's C(SMTP.Send)), but mail clients
    request their tokens for Exchange Online (C(https://outlook.office.com/SMTP.Send)).
"""

EXAMPLES = r"""
- name: Grant admin consent for everything the XLReporter Mailer app requests (SMTP.Send, offline_access, ...)
  mailauth.m365.admin_consent:
    app_id: "{{ xlreporter_app.application.app_id }}"
  delegate_to: localhost

- name: TrueChem sends with the application permission Mail.Send (guide step 3, "Grant admin consent for...")
  mailauth.m365.admin_consent:
    app_id: "{{ truechem_app_id }}"
    permissions:
      - resource: graph
        application: [Mail.Send]
  delegate_to: localhost

- name: Sage 100 gets exactly SMTP.Send and offline_access on behalf of all users, nothing else
  mailauth.m365.admin_consent:
    app_id: "{{ sage_app_id }}"
    permissions:
      - resource: graph
        delegated: [SMTP.Send, offline_access]
    purge: true
  delegate_to: localhost

- name: enaio sends as an application over SMTP (guide step 5, "Grant administrator approval")
  mailauth.m365.admin_consent:
    app_id: "{{ enaio_app_id }}"
    permissions:
      - resource: exchange
        application: [SMTP.SendAsApp]
  delegate_to: localhost

- name: Revoke every tenant-wide consent of a retired app
  mailauth.m365.admin_consent:
    app_id: "{{ old_app_id }}"
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
consent:
  description:
    - The tenant-wide consent of the application after the task (as predicted in check mode), on every resource.
  returned: always
  type: dict
  contains:
    app_id:
      description: Application (client) ID of the application.
      type: str
      sample: 7d2e4b1a-9c3f-4e8d-a5b6-0f1e2d3c4b5a
    service_principal_id:
      description: Object ID of the application's service principal (the client); V(null) when it has none.
      type: str
      sample: 3c1d8a2e-5f4b-4d7a-9e21-6b0c8f1a2d34
    delegated:
      description: One entry per resource with a tenant-wide delegated grant.
      type: list
      elements: dict
      contains:
        id:
          description: ID of the C(oauth2PermissionGrant); V(null) in check mode for a new one.
          type: str
          sample: 4o0dPM-V-EKZr2KKCWi6fIMzOFT2LNtJq3OldeTR0D4
        resource:
          description: Display name of the resource.
          type: str
          sample: Microsoft Graph
        resource_app_id:
          description: Application ID of the resource.
          type: str
          sample: 00000003-0000-0000-c000-000000000000
        resource_id:
          description: Object ID of the resource's service principal.
          type: str
          sample: 5c2f6d1e-7a3b-4c8d-9e0f-1a2b3c4d5e6f
        scopes:
          description: The delegated permissions consented to, sorted regardless of case.
          type: list
          elements: str
          sample: [offline_access, SMTP.Send]
    application:
      description: One entry per resource with application permissions granted.
      type: list
      elements: dict
      contains:
        resource:
          description: Display name of the resource.
          type: str
          sample: Office 365 Exchange Online
        resource_app_id:
          description: Application ID of the resource.
          type: str
          sample: 00000002-0000-0ff1-ce00-000000000000
        resource_id:
          description: Object ID of the resource's service principal.
          type: str
          sample: 8e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b
        roles:
          description: The application permissions granted, sorted regardless of case.
          type: list
          elements: str
          sample: [SMTP.SendAsApp]
        assignments:
          description: The app role assignments, one per permission.
          type: list
          elements: dict
          contains:
            id:
              description: ID of the app role assignment; V(null) in check mode for a new one.
              type: str
              sample: Lo0dPM-V-EKZr2KKCWi6fIMzOFT2LNtJq3OldeTR0D4
            role:
              description: The permission's name.
              type: str
              sample: SMTP.SendAsApp
            app_role_id:
              description: The permission's ID on the resource.
              type: str
              sample: 7146a1f0-8703-45b3-9eae-527a64c00995
  sample:
    app_id: 7d2e4b1a-9c3f-4e8d-a5b6-0f1e2d3c4b5a
    service_principal_id: 3c1d8a2e-5f4b-4d7a-9e21-6b0c8f1a2d34
    delegated:
      - id: 4o0dPM-V-EKZr2KKCWi6fIMzOFT2LNtJq3OldeTR0D4
        resource: Microsoft Graph
        resource_app_id: 00000003-0000-0000-c000-000000000000
        resource_id: 5c2f6d1e-7a3b-4c8d-9e0f-1a2b3c4d5e6f
        scopes: [offline_access, openid, profile, SMTP.Send, User.Read]
    application: []
"""

from ansible_collections.mailauth.m365.plugins.module_utils._errors import ParameterError
from ansible_collections.mailauth.m365.plugins.module_utils._graph import (
    DUPLICATE_APP_ROLE_ASSIGNMENT,
    DUPLICATE_PERMISSION_GRANT,
    PERMISSION_TYPES,
    ResourceResolver,
    create_once,
    delete_if_exists,
    find_application,
    find_service_principal,
    odata_quote,
)
from ansible_collections.mailauth.m365.plugins.module_utils._http import wait_until
from ansible_collections.mailauth.m365.plugins.module_utils._module import run_module
from ansible_collections.mailauth.m365.plugins.module_utils._reconcile import make_diff

ALL_REQUESTED = "all_requested"
GRANT_PERMISSION = "DelegatedPermissionGrant.ReadWrite.All"
ASSIGN_PERMISSION = "AppRoleAssignment.ReadWrite.All"
READ_PERMISSION = "Application.Read.All"
ENTRY_KEYS = ("resource",) + tuple(PERMISSION_TYPES)


def run(module, clients):
    params = module.params
    graph = clients.graph
    explicit = parse_permissions(params["permissions"])
    client = find_service_principal(graph, params["app_id"], select="id,appId,displayName")
    if client is None:
        if params["state"] == "absent":
            empty = consent_record(params["app_id"], None, {}, [], [])
            return False, dict(consent=empty), make_diff(empty, empty)
        raise ParameterError(
            "app_id", "the application %s has no service principal (enterprise application) in this tenant, and "
            "consent is granted to a service principal." % params["app_id"],
            "Create it first with mailauth.m365.service_principal (app_id: %s), then run this task again." % params["app_id"])
    resolver = ResourceResolver(graph, parameter="permissions")
    wanted = wanted_permissions(module, graph, resolver, explicit)
    grants = read_grants(graph, client["id"])
    assignments = read_role_assignments(graph, client["id"])
    plan = Plan(params, wanted, grants, assignments)
    resources = resource_names(resolver, grants, assignments, plan)
    before = consent_record(params["app_id"], client["id"], resources, grants, assignments)
    if module.check_mode or not plan:
        after = consent_record(params["app_id"], client["id"], resources, *plan.predicted(grants, assignments))
        return bool(plan), dict(consent=after), make_diff(before, after)
    grants_after, assignments_after = apply(clients, client["id"], params["purge"], plan, grants, assignments)
    after = consent_record(params["app_id"], client["id"], resources, grants_after, assignments_after)
    return True, dict(consent=after), make_diff(before, after)


# --- what is wanted --------------------------------------------------------------------------
def parse_permissions(value):
    """The explicit permission list, or None for all_requested; fails naming the bad entry."""
    if value is None or value == ALL_REQUESTED:
        return None
    if not isinstance(value, list):
        raise ParameterError("permissions", "must be %s or a list of {resource, delegated, application}, got %r."
                             % (ALL_REQUESTED, value))
    for index, entry in enumerate(value):
        if not isinstance(entry, dict) or not entry.get("resource"):
            raise ParameterError("permissions", "entry %d (%r) has no resource." % (index + 1, entry),
                                 "Write entries like {resource: graph, delegated: [SMTP.Send, offline_access]}.")
        unknown = sorted(set(entry) - set(ENTRY_KEYS))
        if unknown:
            raise ParameterError("permissions", "entry %d has unknown keys %s." % (index + 1, ", ".join(unknown)),
                                 "Known keys: %s." % ", ".join(ENTRY_KEYS))
        for kind in PERMISSION_TYPES:
            names = entry.get(kind) or []
            if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
                raise ParameterError("permissions", "%s of entry %d must be a list of permission names." % (kind, index + 1))
    return value


def wanted_permissions(module, graph, resolver, explicit):
    """{resource SP id: {"delegated": [scope values], "application": [app role ids]}}, or None for 'all'."""
    params = module.params
    wanted = {}
    if explicit is not None:
        for entry in explicit:
            resource_sp = resolver.resource(entry["resource"])
            item = wanted.setdefault(resource_sp["id"].lower(), {"delegated": [], "application": []})
            for name in entry.get("delegated") or []:
                resolver.permission(resource_sp, name, "delegated")
                _append(item["delegated"], name)
            for name in entry.get("application") or []:
                _append(item["application"], resolver.permission(resource_sp, name, "application").lower())
        return wanted
    if params["state"] == "absent":
        return None
    app = find_application(graph, app_id=params["app_id"], select="id,appId,requiredResourceAccess")
    if app is None:
        raise ParameterError(
            "permissions", "%s reads the API permissions of the app registration, but %s is not registered in this "
            "tenant (a multi-tenant app of another tenant?)." % (ALL_REQUESTED, params["app_id"]),
            "List the permissions to consent to explicitly.")
    for entry in app.get("requiredResourceAccess") or []:
        resource_sp = resolver.resource(entry["resourceAppId"])
        item = wanted.setdefault(resource_sp["id"].lower(), {"delegated": [], "application": []})
        for access in entry.get("resourceAccess") or []:
            kind = "delegated" if access["type"] == "Scope" else "application"
            known = _permission_by_id(resource_sp, kind, access["id"])
            if known is None:
                module.warn("The app requests %s permission %s of %s, which the resource does not offer; skipped."
                            % (kind, access["id"], resource_sp.get("displayName")))
            elif kind == "delegated":
                _append(item["delegated"], known["value"])
            else:
                _append(item["application"], known["id"].lower())
    return wanted


def _append(items, value):
    if value not in items:
        items.append(value)


def _permission_by_id(resource_sp, kind, permission_id):
    items = resource_sp.get("oauth2PermissionScopes" if kind == "delegated" else "appRoles") or []
    return next((item for item in items if item["id"].lower() == permission_id.lower()), None)


# --- what is there ---------------------------------------------------------------------------
def read_grants(graph, client_id, resource_id=None):
    """Tenant-wide (AllPrincipals) delegated grants of the client, optionally on one resource."""
    query = "clientId eq %s and consentType eq 'AllPrincipals'" % odata_quote(client_id)
    if resource_id:
        query += " and resourceId eq %s" % odata_quote(resource_id)
    return graph.get_all("oauth2PermissionGrants", params={"$filter": query}, permission=GRANT_PERMISSION)


def read_role_assignments(graph, client_id):
    return graph.get_all("servicePrincipals/%s/appRoleAssignments" % client_id,
                         params={"$select": "id,appRoleId,resourceId,resourceDisplayName"}, permission=READ_PERMISSION)


def scopes_of(grant):
    """A grant's scope string as a list: order kept, blanks and repeats dropped."""
    result = []
    for scope in (grant or {}).get("scope", "").split():
        _append(result, scope)
    return result


class Plan:
    """The writes that bring the consent to what the task asks for.

    ``grants``: [(resource id, grant or None, new scope list)]: create, PATCH, or delete (empty list).
    ``adds``: [(resource id, app role id)]; ``removes``: [assignment].
    """

    def __init__(self, params, wanted, grants, assignments):
        present = params["state"] == "present"
        by_resource = {}
        for grant in grants:
            by_resource.setdefault(grant["resourceId"].lower(), grant)
        self.grants = []
        for resource_id in _ordered(list(by_resource) + [rid for rid, item in (wanted or {}).items() if item["delegated"]]):
            grant = by_resource.get(resource_id)
            have = scopes_of(grant)
            want = (wanted or {}).get(resource_id, {}).get("delegated", [])
            if present:
                new = [scope for scope in have if scope in want] if params["purge"] else list(have)
                new += [scope for scope in want if scope not in new]
            else:
                new = [] if wanted is None else [scope for scope in have if scope not in want]
            if set(new) != set(have):
                self.grants.append((resource_id, grant, new))
        held = dict(((item["resourceId"].lower(), item["appRoleId"].lower()), item) for item in assignments)
        want_roles = [(rid, role) for rid, item in (wanted or {}).items() for role in item["application"]]
        if present:
            self.adds = [pair for pair in want_roles if pair not in held]
            self.removes = [item for pair, item in held.items() if pair not in want_roles] if params["purge"] else []
        else:
            self.adds = []
            self.removes = list(held.values()) if wanted is None else [held[pair] for pair in want_roles if pair in held]

    def __bool__(self):
        return bool(self.grants or self.adds or self.removes)

    def predicted(self, grants, assignments):
        """(grants, assignments) as they will be after the writes; new objects have id None."""
        changed = dict((entry[0], entry[2]) for entry in self.grants)
        result = []
        for grant in grants:
            new = changed.pop(grant["resourceId"].lower(), None)
            if new is None:
                result.append(grant)
            elif new:
                result.append(dict(grant, scope=" ".join(new)))
        result += [{"id": None, "resourceId": resource_id, "scope": " ".join(new)} for resource_id, new in changed.items() if new]
        removed = set(item["id"] for item in self.removes)
        roles = [item for item in assignments if item["id"] not in removed]
        roles += [{"id": None, "resourceId": resource_id, "appRoleId": role} for resource_id, role in self.adds]
        return result, roles


def _ordered(items):
    result = []
    for item in items:
        _append(result, item)
    return result


# --- writing ---------------------------------------------------------------------------------
def apply(clients, client_id, purge, plan, grants, assignments):
    """Make the planned writes; return (grants, assignments) after them, waiting until new ones are readable."""
    graph = clients.graph
    created = {}
    posted = set()
    for resource_id, grant, new in plan.grants:
        if grant is None:
            created[resource_id], is_new = create_grant(clients, client_id, resource_id, new, purge)
            if is_new:
                posted.add(created[resource_id]["id"])
        elif new:
            graph.patch("oauth2PermissionGrants/%s" % grant["id"], {"scope": " ".join(new)}, permission=GRANT_PERMISSION)
        else:
            delete_if_exists(graph, "oauth2PermissionGrants/%s" % grant["id"], permission=GRANT_PERMISSION)
    for assignment in plan.removes:
        delete_if_exists(graph, "servicePrincipals/%s/appRoleAssignedTo/%s" % (assignment["resourceId"], assignment["id"]),
                         permission=ASSIGN_PERMISSION)
    added = [grant_app_role(clients, client_id, resource_id, role) for resource_id, role in plan.adds]
    posted_roles = set(assignment["id"] for assignment, is_new in added if is_new)
    added = [entry[0] for entry in added]
    grants_after, assignments_after = plan.predicted(grants, assignments)
    grants_after = [created[item["resourceId"]] if item["id"] is None else item for item in grants_after]
    assignments_after = [item for item in assignments_after if item["id"] is not None] + added
    # Later tasks (and a re-run) read these lists: ride out replication before saying done.
    waits = dict(sleep=clients.sleep, clock=clients.clock)
    if posted:
        wait_until(lambda: read_grants(graph, client_id), lambda found: posted <= set(item["id"] for item in found),
                   "The new delegated permission grant", **waits)
    if posted_roles:
        wait_until(lambda: read_role_assignments(graph, client_id),
                   lambda found: posted_roles <= set(item["id"] for item in found),
                   "The new application permission", **waits)
    return grants_after, assignments_after


def create_grant(clients, client_id, resource_id, scopes, purge):
    """POST the one AllPrincipals grant of client and resource; if it exists already, PATCH it instead.

    Returns ``(grant, posted)``: ``posted`` is False when an existing grant was found (and is readable).
    """
    graph = clients.graph
    body = {"clientId": client_id, "consentType": "AllPrincipals", "resourceId": resource_id, "scope": " ".join(scopes)}

    def find():
        found = read_grants(graph, client_id, resource_id)
        return found[0] if found else None

    grant, created = create_once(graph, "oauth2PermissionGrants", body, find, DUPLICATE_PERMISSION_GRANT,
                                 "The delegated permission grant on %s" % resource_id, permission=GRANT_PERMISSION,
                                 sleep=clients.sleep, clock=clients.clock)
    if created:
        return grant, True
    # Another run (or our own POST whose answer was lost) made it: merge as a PATCH would have.
    have = scopes_of(grant)
    new = list(scopes) if purge else have + [scope for scope in scopes if scope not in have]
    if set(new) != set(have):
        graph.patch("oauth2PermissionGrants/%s" % grant["id"], {"scope": " ".join(new)}, permission=GRANT_PERMISSION)
    return dict(grant, scope=" ".join(new)), False


def grant_app_role(clients, client_id, resource_id, role_id):
    graph = clients.graph
    body = {"principalId": client_id, "resourceId": resource_id, "appRoleId": role_id}

    def find():
        return next((item for item in read_role_assignments(graph, client_id)
                     if item["resourceId"].lower() == resource_id and item["appRoleId"].lower() == role_id), None)

    return create_once(graph, "servicePrincipals/%s/appRoleAssignedTo" % resource_id, body, find,
                       DUPLICATE_APP_ROLE_ASSIGNMENT, "The application permission %s" % role_id,
                       permission=ASSIGN_PERMISSION, sleep=clients.sleep, clock=clients.clock)


# --- the result ------------------------------------------------------------------------------
def resource_names(resolver, grants, assignments, plan):
    """{resource SP id: service principal or None} for every resource the result mentions."""
    ids = _ordered([item["resourceId"].lower() for item in grants + assignments]
                   + [entry[0] for entry in plan.grants] + [entry[0] for entry in plan.adds])
    return dict((resource_id, resolver.resource_by_id(resource_id)) for resource_id in ids)


def consent_record(app_id, client_id, resources, grants, assignments):
    delegated = []
    for grant in grants:
        resource = _resource_fields(resources, grant["resourceId"])
        delegated.append(dict(id=grant["id"], scopes=sorted(scopes_of(grant), key=_name_order), **resource))
    application = {}
    for item in assignments:
        resource_id = item["resourceId"].lower()
        entry = application.setdefault(resource_id, dict(roles=[], assignments=[], **_resource_fields(
            resources, item["resourceId"], item.get("resourceDisplayName"))))
        known = _permission_by_id(resources.get(resource_id) or {}, "application", item["appRoleId"])
        name = known["value"] if known else item["appRoleId"]
        entry["roles"].append(name)
        entry["assignments"].append(dict(id=item["id"], role=name, app_role_id=item["appRoleId"]))
    for entry in application.values():
        entry["roles"].sort(key=_name_order)
        entry["assignments"].sort(key=lambda assignment: _name_order(assignment["role"]))
    return dict(app_id=app_id, service_principal_id=client_id,
                delegated=sorted(delegated, key=lambda entry: entry["resource"] or ""),
                application=sorted(application.values(), key=lambda entry: entry["resource"] or ""))


def _name_order(name):
    """Sort key of permission names: as the portal lists them, case aside (offline_access before SMTP.Send)."""
    return (name.lower(), name)


def _resource_fields(resources, resource_id, display_name=None):
    sp = resources.get(resource_id.lower()) or {}
    return dict(resource=sp.get("displayName") or display_name or resource_id, resource_app_id=sp.get("appId"),
                resource_id=resource_id)


def main():
    argument_spec = dict(
        app_id=dict(type="str", required=True),
        permissions=dict(type="raw", default=ALL_REQUESTED),
        purge=dict(type="bool", default=False),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    run_module(run, argument_spec, supports_check_mode=True)


if __name__ == "__main__":
    main()
