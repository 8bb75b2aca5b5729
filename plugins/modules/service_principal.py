#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: service_principal
short_description: Manage the enterprise application (service principal) of an app registration
version_added: 0.1.0
description:
  - Creates, updates or deletes the service principal of an application in the tenant, that is the
    entry under Entra ID's I(Enterprise applications), keyed by the application (client) ID.
  - Creation is an upsert (C(PATCH /servicePrincipals(appId='...')) with the C(Prefer) header C(create-if-missing)), so
    two runs at the same time cannot create two. Right after the app registration was created Graph may
    answer that the app ID I(does not reference a valid application object); the module waits that out.
  - Manages whether users must be assigned (I(Assignment required?)), the notes, the tags, and the users
    and groups assigned to the application (the I(Users and groups) page, step 6 of the enaio guide).
    Options left out are not managed.
  - Consent (delegated grants, application permissions) is the job of M(mailauth.m365.admin_consent).
  - Needs the Microsoft Graph application permissions C(Application.ReadWrite.All) (or
    C(Application.ReadWrite.OwnedBy) for applications the automation identity owns), and
    C(AppRoleAssignment.ReadWrite.All) plus C(User.Read.All) (C(Group.Read.All) for groups) to assign principals.
author:
  - mailauth.m365 contributors (@mailauth)
options:
  app_id:
    description:
      - Application (client) ID of the app registration whose enterprise application this is.
      - May be an application registered in another tenant that is available to every organization
        (multi-tenant), as when a vendor's application is added to this tenant.
    type: str
    required: true
  state:
    description:
      - V(present) creates the service principal if it is missing and sets the options given.
      - V(absent) deletes the service principal only; the app registration stays. Entra deletes the
        delegated grants, application permissions and assignments that hang on it.
    type: str
    choices: [present, absent]
    default: present
  app_role_assignment_required:
    description:
      - Whether users and groups must be assigned to the application before they can sign in to it
        (I(Assignment required?) in the portal).
      - Not managed when not given; a new service principal then gets Entra's default, V(false).
    type: bool
  notes:
    description:
      - Free text about the enterprise application (I(Notes) in the portal), for example who runs it.
      - Not managed when not given; an empty string clears it.
    type: str
  tags:
    description:
      - Tags of the service principal.
      - The Entra portal lists a service principal under I(Enterprise applications) with its default
        filter only when it has the tag C(WindowsAzureActiveDirectoryIntegratedApp), which the portal sets
        and Graph does not; add it for an application people look for there. C(HideApp) hides the
        application from users' My Apps.
      - Takes C(add), C(remove) or C(set); not managed when not given.
    type: dict
    suboptions:
      add:
        description: Tags that must be present; other tags stay.
        type: list
        elements: str
      remove:
        description: Tags that must be absent; other tags stay.
        type: list
        elements: str
      set:
        description: The exact tags (order does not matter). Cannot be combined with O(tags.add) or O(tags.remove).
        type: list
        elements: str
  assigned_principals:
    description:
      - Users and groups assigned to the application with default access (the I(Users and groups) page).
      - A user is given by user principal name (contains C(@)) or object ID, a group by object ID or display
        name. A display name that more than one group has fails; use the object ID then.
      - Only assignments of the default access role are managed; assignments of app roles the application
        defines stay as they are.
      - Takes C(add), C(remove) or C(set); not managed when not given.
      - With O(app_role_assignment_required=true) only assigned principals can sign in to the application.
    type: dict
    suboptions:
      add:
        description: Users and groups that must be assigned; others stay.
        type: list
        elements: str
      remove:
        description: Users and groups that must not be assigned; others stay. Unknown names are ignored.
        type: list
        elements: str
      set:
        description:
          - Exactly these users and groups (order does not matter); others are unassigned. V([]) unassigns all.
          - Cannot be combined with O(assigned_principals.add) or O(assigned_principals.remove).
        type: list
        elements: str
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
  - module: mailauth.m365.admin_consent
  - name: Upsert servicePrincipal (Microsoft Graph)
    description: The call that creates or updates the service principal.
    link: https://learn.microsoft.com/graph/api/serviceprincipal-upsert
  - name: Grant an appRoleAssignment for a service principal (Microsoft Graph)
    description: How users and groups are assigned to the application.
    link: https://learn.microsoft.com/graph/api/serviceprincipal-post-approleassignedto
notes:
  - The object ID returned in RV(service_principal.id) is the one Exchange Online's
    C(New-ServicePrincipal -ObjectId) wants (the enterprise application's, not the app registration's).
"""

EXAMPLES = r"""
- name: Create the enterprise application of the enaio app registration and assign the SMTP user (enaio step 6)
  mailauth.m365.service_principal:
    app_id: "{{ enaio_app.application.app_id }}"
    assigned_principals:
      add:
        - enaio@contoso.com
  delegate_to: localhost
  register: enaio_sp

- name: Note the object ID that New-ServicePrincipal needs
  ansible.builtin.debug:
    msg: "New-ServicePrincipal -AppId {{ enaio_sp.service_principal.app_id }} -ObjectId {{ enaio_sp.service_principal.id }}"

- name: Only the XLReporter mailer account and the reporting group may sign in to the XLReporter Mailer app
  mailauth.m365.service_principal:
    app_id: "{{ xlreporter_app_id }}"
    app_role_assignment_required: true
    notes: Used by XLReporter's Mailer on the reporting server; contact it-ops@contoso.com
    tags:
      add: [WindowsAzureActiveDirectoryIntegratedApp]
    assigned_principals:
      set:
        - reports@contoso.com
        - XLReporter users
  delegate_to: localhost

- name: Remove a departed user from the Sage 100 mail app without touching the other assignments
  mailauth.m365.service_principal:
    app_id: "{{ sage_app_id }}"
    assigned_principals:
      remove:
        - 5b0c1f4e-8d2a-4c4b-9a51-3f7e2d9c0a11
  delegate_to: localhost

- name: Delete the enterprise application of the retired TrueChem app (the app registration stays)
  mailauth.m365.service_principal:
    app_id: "{{ truechem_app_id }}"
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
service_principal:
  description:
    - The service principal after the task (as predicted in check mode), or V({}) when it does not exist.
  returned: always
  type: dict
  contains:
    id:
      description:
        - Object ID of the service principal (the I(Object ID) of the enterprise application).
        - V(null) in check mode when it would be created.
      type: str
      sample: 3c1d8a2e-5f4b-4d7a-9e21-6b0c8f1a2d34
    app_id:
      description: Application (client) ID of the app registration.
      type: str
      sample: 7d2e4b1a-9c3f-4e8d-a5b6-0f1e2d3c4b5a
    display_name:
      description: Display name (that of the application).
      type: str
      sample: enaio SMTP
    app_role_assignment_required:
      description: Whether users must be assigned before they can sign in.
      type: bool
      sample: false
    notes:
      description: The notes.
      type: str
      sample: Used by enaio server for administrative e-mails.
    tags:
      description: The tags.
      type: list
      elements: str
      sample: [WindowsAzureActiveDirectoryIntegratedApp]
    assigned_principals:
      description: Users and groups assigned with default access, sorted by type and name.
      type: list
      elements: dict
      contains:
        id:
          description: Object ID of the user or group.
          type: str
          sample: 9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d
        type:
          description: C(user) or C(group).
          type: str
          sample: user
        display_name:
          description: Display name of the user or group.
          type: str
          sample: enaio Mail Sender
        assignment_id:
          description: ID of the app role assignment; V(null) in check mode for a new one.
          type: str
          sample: bX-Lmk5eSkqL3B4PmotcbRjWFkIbuOpFgO5rN6m3d8E
  sample:
    id: 3c1d8a2e-5f4b-4d7a-9e21-6b0c8f1a2d34
    app_id: 7d2e4b1a-9c3f-4e8d-a5b6-0f1e2d3c4b5a
    display_name: enaio SMTP
    app_role_assignment_required: false
    notes: null
    tags: []
    assigned_principals:
      - id: 9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d
        type: user
        display_name: enaio Mail Sender
        assignment_id: bX-Lmk5eSkqL3B4PmotcbRjWFkIbuOpFgO5rN6m3d8E
"""

from ansible_collections.mailauth.m365.plugins.module_utils._errors import GraphError, ParameterError, ReplicationLagError
from ansible_collections.mailauth.m365.plugins.module_utils._graph import (
    DEFAULT_ACCESS_ROLE_ID,
    DUPLICATE_APP_ROLE_ASSIGNMENT,
    create_once,
    delete_if_exists,
    find_in,
    find_service_principal,
    odata_quote,
)
from ansible_collections.mailauth.m365.plugins.module_utils._http import wait_for_replication, wait_until
from ansible_collections.mailauth.m365.plugins.module_utils._module import GUID_PATTERN, run_module
from ansible_collections.mailauth.m365.plugins.module_utils._reconcile import (
    apply_list_change,
    changed_properties,
    list_changed,
    list_option,
    make_diff,
    predicted,
)

SP_FIELDS = "id,appId,displayName,appRoleAssignmentRequired,notes,tags"
ASSIGNMENT_FIELDS = "id,appRoleId,principalId,principalType,principalDisplayName"
WRITE_PERMISSION = "Application.ReadWrite.All"
ASSIGN_PERMISSION = "AppRoleAssignment.ReadWrite.All"
# Graph's principalType of an assignment and @odata.type of a directory object -> our type names.
PRINCIPAL_TYPES = {"User": "user", "Group": "group"}
OBJECT_TYPES = {"#microsoft.graph.user": "user", "#microsoft.graph.group": "group"}
NOT_VALID_APPLICATION = "does not reference a valid application object"


def run(module, clients):
    params = module.params
    graph = clients.graph
    sp = find_service_principal(graph, params["app_id"], select=SP_FIELDS)
    if params["state"] == "absent":
        return ensure_absent(module, graph, sp)
    return ensure_present(module, clients, sp)


def ensure_absent(module, graph, sp):
    if sp is None:
        return False, dict(service_principal={}), make_diff({}, {})
    before = sp_record(sp, read_assignments(graph, sp["id"]))
    if not module.check_mode:
        delete_if_exists(graph, "servicePrincipals/%s" % sp["id"], permission=WRITE_PERMISSION)
    return True, dict(service_principal={}), make_diff(before, {})


def ensure_present(module, clients, sp):
    params = module.params
    graph = clients.graph
    assignments = read_assignments(graph, sp["id"]) if sp else []
    wanted = desired_properties(params, sp or {})
    changes = changed_properties(sp or {}, wanted)
    adds, removes = plan_assignments(graph, params["assigned_principals"], assignments)
    before = sp_record(sp, assignments) if sp else {}
    if sp is None:
        sp_after = predicted({"id": None, "appId": params["app_id"], "displayName": None,
                              "appRoleAssignmentRequired": False, "notes": None, "tags": []}, changes)
    else:
        sp_after = predicted(sp, changes)
    changed = sp is None or bool(changes) or bool(adds) or bool(removes)
    if module.check_mode or not changed:
        after = sp_record(sp_after, kept(assignments, removes) + [pending(principal) for principal in adds])
        return changed, dict(service_principal=after), make_diff(before, after)

    if sp is None:
        sp_after = create(clients, params["app_id"], changes)
    elif changes:
        graph.patch("servicePrincipals/%s" % sp["id"], changes, permission=WRITE_PERMISSION)
    for assignment in removes:
        delete_if_exists(graph, "servicePrincipals/%s/appRoleAssignedTo/%s" % (sp_after["id"], assignment["id"]),
                         permission=ASSIGN_PERMISSION)
    added = [assign(clients, sp_after["id"], principal) for principal in adds]
    posted = set(assignment["id"] for assignment, is_new in added if is_new)
    if posted:
        # A re-run (or a sign-in check) reads the list: ride out replication before saying done.
        wait_until(lambda: read_assignments(graph, sp_after["id"]),
                   lambda found: posted <= set(item["id"] for item in found),
                   "The new assignment", sleep=clients.sleep, clock=clients.clock)
    after = sp_record(sp_after, kept(assignments, removes) + [entry[0] for entry in added])
    return True, dict(service_principal=after), make_diff(before, after)


def desired_properties(params, current):
    """Graph properties the task manages (None: not managed)."""
    tags = None
    if params["tags"] is not None:
        have = current.get("tags") or []
        new = apply_list_change(have, params["tags"])
        # The same tags in another order are no change: keep Graph's list then.
        tags = new if list_changed(have, new) else have
    notes = params["notes"]
    if notes == "" and not current.get("notes"):
        notes = None  # clearing notes that are empty (or null) already is no change
    return {"appRoleAssignmentRequired": params["app_role_assignment_required"], "notes": notes, "tags": tags}


def create(clients, app_id, properties):
    """Upsert the service principal; wait until a lookup by appId (what later tasks do) finds it."""
    graph = clients.graph
    path = "servicePrincipals(appId=%s)" % odata_quote(app_id)
    try:
        wait_for_replication(
            lambda: graph.send("PATCH", path, body=properties, headers={"Prefer": "create-if-missing"},
                               permission=WRITE_PERMISSION),
            sleep=clients.sleep, clock=clients.clock, include_forbidden=False)
    except ReplicationLagError as err:
        if NOT_VALID_APPLICATION not in (err.last_error.details.get("service_message") or ""):
            raise
        raise ParameterError(
            "app_id", "no application with app ID %s could be found after waiting %.0f s (%s)."
            % (app_id, err.details["waited_seconds"], err.last_error.message),
            "Check app_id. If the app registration was created moments ago, run the task again in a few minutes.")
    # 201 carries the new object, 204 means one appeared since our read and got the properties. Either
    # way the next task looks it up by appId, so that lookup must find it before this task ends.
    found = wait_until(lambda: find_service_principal(graph, app_id, select=SP_FIELDS), lambda sp: sp is not None,
                       "The service principal of %s" % app_id, sleep=clients.sleep, clock=clients.clock)[0]
    return predicted(found, properties)


def read_assignments(graph, sp_id):
    """Default-access assignments of users and groups to the service principal."""
    items = graph.get_all("servicePrincipals/%s/appRoleAssignedTo" % sp_id, params={"$select": ASSIGNMENT_FIELDS},
                          permission="Application.Read.All")
    return [item for item in items
            if item.get("appRoleId") == DEFAULT_ACCESS_ROLE_ID and item.get("principalType") in PRINCIPAL_TYPES]


def plan_assignments(graph, change, assignments):
    """(principals to assign, assignments to delete) for an add/remove/set ``change``."""
    if not change:
        return [], []
    current = {item["principalId"].lower(): item for item in assignments}
    named = [name for key in ("add", "remove", "set") for name in change.get(key) or []]
    resolved = resolve_principals(graph, named, current)
    missing = [name for key in ("add", "set") for name in change.get(key) or [] if resolved.get(name) is None]
    if missing:
        raise ParameterError(
            "assigned_principals", "no user or group found for %s." % ", ".join(repr(name) for name in missing),
            "Give users by user principal name or object ID, groups by object ID or display name.")
    by_id = {}
    ids = {}
    for key in ("add", "remove", "set"):
        if change.get(key) is None:
            continue
        ids[key] = []
        for name in change[key]:
            principal = resolved.get(name)
            if principal is not None:
                by_id[principal["id"].lower()] = principal
                ids[key].append(principal["id"].lower())
    new = apply_list_change(list(current), ids)
    adds = [by_id[key] for key in new if key not in current]
    removes = [item for key, item in current.items() if key not in new]
    return adds, removes


def resolve_principals(graph, names, assigned):
    """name -> {id, type, display_name} (None when unknown), with one query per kind of name."""
    resolved = {}
    upns = sorted({name for name in names if "@" in name})
    object_ids = sorted({name for name in names if GUID_PATTERN.match(name)})
    group_names = sorted({name for name in names if name not in upns and name not in object_ids})
    for user in find_in(graph, "users", "userPrincipalName", upns, "id,displayName,userPrincipalName", "User.Read.All"):
        for name in upns:
            if name.lower() == user["userPrincipalName"].lower():
                resolved[name] = {"id": user["id"], "type": "user", "display_name": user.get("displayName")}
    groups = find_in(graph, "groups", "displayName", group_names, "id,displayName", "Group.Read.All")
    for name in group_names:
        matches = [group for group in groups if (group.get("displayName") or "").lower() == name.lower()]
        if len(matches) > 1:
            raise ParameterError(
                "assigned_principals", "%d groups are named %r (object IDs %s)."
                % (len(matches), name, ", ".join(sorted(group["id"] for group in matches))),
                "Give the group's object ID instead of its name.")
        if matches:
            resolved[name] = {"id": matches[0]["id"], "type": "group", "display_name": matches[0].get("displayName")}
    for name in object_ids:
        resolved[name] = _principal_by_id(graph, name, assigned)
    return resolved


def _principal_by_id(graph, object_id, assigned):
    item = assigned.get(object_id.lower())
    if item is not None:
        return {"id": item["principalId"], "type": PRINCIPAL_TYPES[item["principalType"]],
                "display_name": item.get("principalDisplayName")}
    try:
        found = graph.get("directoryObjects/%s" % object_id, permission="Directory.Read.All")
    except GraphError as err:
        if err.status == 404:
            return None
        raise
    kind = OBJECT_TYPES.get(found.get("@odata.type"))
    if kind is None:
        raise ParameterError("assigned_principals", "%s is a %s, not a user or group."
                             % (object_id, (found.get("@odata.type") or "directory object").rsplit(".", 1)[-1]),
                             "Assign users and groups only; application permissions are granted with "
                             "mailauth.m365.admin_consent.")
    return {"id": found["id"], "type": kind, "display_name": found.get("displayName")}


def assign(clients, sp_id, principal):
    """Assign a user or group with default access; return ``(assignment, posted)``.

    An existing assignment counts as done (``posted`` False).
    """
    graph = clients.graph
    body = {"principalId": principal["id"], "resourceId": sp_id, "appRoleId": DEFAULT_ACCESS_ROLE_ID}

    def find():
        return next((item for item in read_assignments(graph, sp_id)
                     if item["principalId"].lower() == principal["id"].lower()), None)

    return create_once(graph, "servicePrincipals/%s/appRoleAssignedTo" % sp_id, body, find,
                       DUPLICATE_APP_ROLE_ASSIGNMENT, "The assignment of %s" % principal["id"],
                       permission=ASSIGN_PERMISSION, sleep=clients.sleep, clock=clients.clock)


def pending(principal):
    """A planned assignment, shaped like Graph's, for check mode."""
    return {"id": None, "principalId": principal["id"], "appRoleId": DEFAULT_ACCESS_ROLE_ID,
            "principalType": "User" if principal["type"] == "user" else "Group",
            "principalDisplayName": principal["display_name"]}


def kept(assignments, removes):
    gone = set(item["id"] for item in removes)
    return [item for item in assignments if item["id"] not in gone]


def sp_record(sp, assignments):
    """Graph service principal and its assignments -> the snake_case ``service_principal`` result."""
    principals = [{"id": item["principalId"], "type": PRINCIPAL_TYPES.get(item.get("principalType"), "user"),
                   "display_name": item.get("principalDisplayName"), "assignment_id": item.get("id")}
                  for item in assignments]
    return {
        "id": sp.get("id"),
        "app_id": sp.get("appId"),
        "display_name": sp.get("displayName"),
        "app_role_assignment_required": bool(sp.get("appRoleAssignmentRequired")),
        "notes": sp.get("notes"),
        "tags": list(sp.get("tags") or []),
        "assigned_principals": sorted(principals, key=lambda item: (item["type"], (item["display_name"] or "").lower(),
                                                                    item["id"])),
    }


def main():
    argument_spec = dict(
        app_id=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        app_role_assignment_required=dict(type="bool"),
        notes=dict(type="str"),
        tags=list_option(),
        assigned_principals=list_option(),
    )
    run_module(run, argument_spec, supports_check_mode=True)


if __name__ == "__main__":
    main()
