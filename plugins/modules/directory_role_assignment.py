#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: directory_role_assignment
short_description: Assign an Entra ID directory role to an application, a user or a group
version_added: 0.1.0
description:
  - Assigns an Entra ID directory role, such as C(Exchange Administrator), to a principal, or removes that
    assignment, through Microsoft Graph's role management API (C(/roleManagement/directory/roleAssignments)).
  - The principal is the enterprise application (service principal) of an application, a user, or any
    principal by object ID (for example a role-assignable group).
  - An automation identity that manages Exchange Online through its admin API needs the
    C(Exchange Administrator) role besides the C(Exchange.ManageAsApp) application permission.
  - Needs the Microsoft Graph permission C(RoleManagement.ReadWrite.Directory) (C(RoleManagement.Read.Directory)
    in check mode), plus C(Application.Read.All) to find a service principal by O(app_id) and C(User.Read.All)
    to find a user by O(user_principal_name). Signed in as a person, that person must also be a
    C(Privileged Role Administrator) or C(Global Administrator).
author:
  - mailauth.m365 contributors (@mailauth)
options:
  role:
    description:
      - The directory role, by display name (for example C(Exchange Administrator), compared without regard to case)
        or by role template ID (for example C(29232cdf-9323-42fd-ade2-1d097af3e4de)), which for built-in roles is
        also the role definition ID.
      - An unknown display name fails and lists the close matches.
    type: str
    required: true
  app_id:
    description:
      - Application (client) ID whose service principal (enterprise application) gets the role.
      - Exactly one of O(app_id), O(user_principal_name) and O(principal_id) is required.
    type: str
  user_principal_name:
    description:
      - User principal name of the user who gets the role.
    type: str
  principal_id:
    description:
      - Object ID of the user, role-assignable group or service principal that gets the role (not the object ID
        of an app registration).
      - It is not looked up, which saves a request; a wrong ID fails when Graph refuses the assignment, after the
        module has waited out what could be replication lag of a new principal (up to five minutes).
    type: str
  directory_scope_id:
    description:
      - Where the role applies. V(/) is the whole tenant; C(/administrativeUnits/<id>) limits it to an
        administrative unit.
      - Part of the assignment's identity; the same role at another scope is another assignment.
    type: str
    default: /
  state:
    description:
      - V(present) assigns the role if the principal does not have it at O(directory_scope_id).
      - V(absent) removes that assignment; a principal or service principal that does not exist has none.
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
notes:
  - Only active, permanent assignments are managed; Privileged Identity Management eligibility schedules are not.
  - A new assignment can take a few minutes to take effect in services such as Exchange Online; the module
    waits only until Microsoft Graph shows it.
seealso:
  - module: mailauth.m365.service_principal
  - module: mailauth.m365.admin_consent
  - name: Create unifiedRoleAssignment (Microsoft Graph)
    description: The call that assigns the role.
    link: https://learn.microsoft.com/graph/api/rbacapplication-post-roleassignments
  - name: Microsoft Entra built-in roles
    description: The role names and template IDs.
    link: https://learn.microsoft.com/entra/identity/role-based-access-control/permissions-reference
"""

EXAMPLES = r"""
- name: Let the automation app run Exchange Online cmdlets (New-ServicePrincipal, Add-MailboxPermission)
  mailauth.m365.directory_role_assignment:
    role: Exchange Administrator
    app_id: "{{ automation_app.application.app_id }}"
  delegate_to: localhost

- name: The same role by its template ID
  mailauth.m365.directory_role_assignment:
    role: 29232cdf-9323-42fd-ade2-1d097af3e4de
    app_id: "{{ automation_app.application.app_id }}"
  delegate_to: localhost

- name: The mail administrator of the ERP team may manage mailbox permissions (Monitor ERP, TrueChem)
  mailauth.m365.directory_role_assignment:
    role: Exchange Administrator
    user_principal_name: erp.admin@contoso.com
  delegate_to: localhost

- name: Remove the role from a former vendor's application
  mailauth.m365.directory_role_assignment:
    role: Exchange Administrator
    app_id: 3f0f7a55-2c1e-4b1a-9a51-7d1c0f6e2b11
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
assignment:
  description:
    - The role assignment after the task (predicted in check mode, where a new one has no RV(assignment.id) yet).
    - Empty when O(state=absent).
  returned: always
  type: dict
  contains:
    id:
      description: ID of the role assignment.
      type: str
      sample: lAPpYvVpN0KRkAEhdxReEJ2qMsM5VMpCt8l6p7jhTX0-1
    role:
      description: Display name of the role.
      type: str
      sample: Exchange Administrator
    role_definition_id:
      description: ID of the role definition (for built-in roles, the role template ID).
      type: str
      sample: 29232cdf-9323-42fd-ade2-1d097af3e4de
    principal_id:
      description: Object ID of the principal that has the role.
      type: str
      sample: c3328a9d-5439-42ca-b7c9-7aa7b8e14d7d
    principal_display_name:
      description: Display name of the principal, when it was looked up by O(app_id) or O(user_principal_name).
      type: str
      sample: mailauth automation
    app_id:
      description: Application (client) ID of the service principal, when given by O(app_id).
      type: str
      sample: 0a1b2c3d-2222-4aaa-8bbb-000000000002
    user_principal_name:
      description: User principal name of the user, when given by O(user_principal_name).
      type: str
      sample: erp.admin@contoso.com
    directory_scope_id:
      description: Where the role applies.
      type: str
      sample: /
"""

import difflib
from urllib.parse import quote

from ansible_collections.mailauth.m365.plugins.module_utils._errors import GraphError, ParameterError
from ansible_collections.mailauth.m365.plugins.module_utils._graph import create_once, find_service_principal, odata_quote
from ansible_collections.mailauth.m365.plugins.module_utils._http import wait_until
from ansible_collections.mailauth.m365.plugins.module_utils._module import GUID_PATTERN, run_module
from ansible_collections.mailauth.m365.plugins.module_utils._reconcile import make_diff

ROLES_PATH = "roleManagement/directory/roleDefinitions"
ASSIGNMENTS_PATH = "roleManagement/directory/roleAssignments"
ROLE_FIELDS = "id,displayName,templateId"
ASSIGNMENT_FIELDS = "id,principalId,roleDefinitionId,directoryScopeId"
READ_PERMISSION = "RoleManagement.Read.Directory"
WRITE_PERMISSION = "RoleManagement.ReadWrite.Directory"
# Graph's answer to a second assignment of the same role, principal and scope.
DUPLICATE_ASSIGNMENT = "conflicting object"
PRINCIPAL_OPTIONS = ("app_id", "user_principal_name", "principal_id")

ARGUMENT_SPEC = dict(
    role=dict(type="str", required=True),
    app_id=dict(type="str"),
    user_principal_name=dict(type="str"),
    principal_id=dict(type="str"),
    directory_scope_id=dict(type="str", default="/"),
    state=dict(type="str", default="present", choices=["present", "absent"]),
)


def run(module, clients):
    params = module.params
    check_options(params)
    graph = clients.graph
    role = resolve_role(graph, params["role"])
    principal = resolve_principal(graph, params)
    scope = params["directory_scope_id"]
    current = find_assignment(graph, principal["id"], role["id"], scope) if principal["id"] else None
    before = assignment_record(current, role, principal) if current else {}
    if params["state"] == "absent":
        if current is None:
            return False, dict(assignment={}), make_diff(before, {})
        if not module.check_mode:
            remove(clients, current, role, scope)
        return True, dict(assignment={}), make_diff(before, {})

    if current is not None:
        return False, dict(assignment=before), make_diff(before, before)
    if principal["id"] is None:
        raise ParameterError(
            "app_id", "application %s has no service principal in this tenant." % params["app_id"],
            "Create it first with mailauth.m365.service_principal. If it was created moments ago, Entra may still "
            "be replicating it: run the task again in a few minutes.")
    if module.check_mode:
        planned = {"id": None, "principalId": principal["id"], "roleDefinitionId": role["id"], "directoryScopeId": scope}
        after = assignment_record(planned, role, principal)
        return True, dict(assignment=after), make_diff(before, after)
    created = create(clients, principal["id"], role, scope)
    after = assignment_record(created, role, principal)
    return True, dict(assignment=after), make_diff(before, after)


def check_options(params):
    """Exactly one principal option, GUIDs where GUIDs belong, a scope that is a path."""
    given = [name for name in PRINCIPAL_OPTIONS if params.get(name)]
    if len(given) != 1:
        raise ParameterError(
            "app_id", "name the principal by exactly one of app_id, user_principal_name and principal_id (got %s)."
            % (", ".join(given) or "none"))
    for name in ("app_id", "principal_id"):
        if params.get(name) and not GUID_PATTERN.match(params[name]):
            raise ParameterError(name, "%r is not a GUID." % params[name],
                                 "Use the Application (client) ID for app_id and an Object ID for principal_id.")
    if not params["directory_scope_id"].startswith("/"):
        raise ParameterError("directory_scope_id", "%r does not start with /." % params["directory_scope_id"],
                             "Use / for the whole tenant or /administrativeUnits/<id>.")


def resolve_role(graph, role):
    """The role definition by template/definition ID (one GET) or display name (one filtered GET)."""
    if GUID_PATTERN.match(role):
        try:
            return graph.get("%s/%s" % (ROLES_PATH, role.lower()), params={"$select": ROLE_FIELDS},
                             permission=READ_PERMISSION)
        except GraphError as err:
            if err.status != 404:
                raise
        raise ParameterError("role", "no directory role has the ID %s." % role,
                             "Give the role template ID of a built-in role, or the role's display name.")
    found = graph.get_all(ROLES_PATH, params={"$filter": "displayName eq %s" % odata_quote(role), "$select": ROLE_FIELDS},
                          permission=READ_PERMISSION)
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise ParameterError("role", "%d directory roles are named %r (IDs %s)."
                             % (len(found), role, ", ".join(sorted(item["id"] for item in found))),
                             "Give the role by its ID.")
    # Only now, to explain the failure: every role's name.
    names = [item.get("displayName") or "" for item in
             graph.get_all(ROLES_PATH, params={"$select": "displayName"}, permission=READ_PERMISSION)]
    close = difflib.get_close_matches(role, names, n=5, cutoff=0.5)
    raise ParameterError("role", "no directory role is named %r." % role,
                         ("Close matches: %s." % ", ".join(close)) if close else
                         "Check the name against Entra ID's built-in roles, or give the role template ID.")


def resolve_principal(graph, params):
    """``{"id", "display_name", "app_id"|"user_principal_name"}``; ``id`` is None when it does not exist."""
    if params.get("app_id"):
        sp = find_service_principal(graph, params["app_id"], select="id,appId,displayName")
        return dict(id=sp and sp["id"], display_name=sp and sp.get("displayName"), app_id=params["app_id"])
    if params.get("user_principal_name"):
        upn = params["user_principal_name"]
        try:
            user = graph.get("users/%s" % quote(upn, safe="@"), params={"$select": "id,userPrincipalName,displayName"},
                             permission="User.Read.All")
        except GraphError as err:
            if err.status != 404:
                raise
            if params["state"] == "absent":
                return dict(id=None, display_name=None, user_principal_name=upn)
            raise ParameterError("user_principal_name", "no user %s in this tenant." % upn,
                                 "Check the user principal name (it is often not the e-mail address).") from None
        return dict(id=user["id"], display_name=user.get("displayName"), user_principal_name=user["userPrincipalName"])
    return dict(id=params["principal_id"].lower(), display_name=None)


def read_assignments(graph, principal_id):
    """The principal's role assignments: one filtered GET (a principal has a handful at most)."""
    return graph.get_all(ASSIGNMENTS_PATH, params={"$filter": "principalId eq %s" % odata_quote(principal_id),
                                                   "$select": ASSIGNMENT_FIELDS}, permission=READ_PERMISSION)


def find_assignment(graph, principal_id, role_id, scope):
    for item in read_assignments(graph, principal_id):
        if (item.get("roleDefinitionId") or "").lower() == role_id.lower() and item.get("directoryScopeId") == scope:
            return item
    return None


def create(clients, principal_id, role, scope):
    """POST the assignment once, then wait until the read the next run makes shows it."""
    graph = clients.graph
    body = {"principalId": principal_id, "roleDefinitionId": role["id"], "directoryScopeId": scope}

    def find():
        return find_assignment(graph, principal_id, role["id"], scope)

    what = "The %s role assignment of %s" % (role.get("displayName"), principal_id)
    created = create_once(graph, ASSIGNMENTS_PATH, body, find, DUPLICATE_ASSIGNMENT, what,
                          permission=WRITE_PERMISSION, sleep=clients.sleep, clock=clients.clock)[0]
    wait_until(find, lambda found: found is not None, what, sleep=clients.sleep, clock=clients.clock)
    return created


def remove(clients, assignment, role, scope):
    """DELETE the assignment (gone already is fine), then wait until reads no longer show it."""
    graph = clients.graph
    try:
        graph.delete("%s/%s" % (ASSIGNMENTS_PATH, quote(assignment["id"], safe="")), permission=WRITE_PERMISSION)
    except GraphError as err:
        if err.status != 404:
            raise
    principal_id = assignment["principalId"]
    wait_until(lambda: find_assignment(graph, principal_id, role["id"], scope), lambda found: found is None,
               "The removal of the %s role assignment of %s" % (role.get("displayName"), principal_id),
               sleep=clients.sleep, clock=clients.clock)


def assignment_record(assignment, role, principal):
    """Graph's unifiedRoleAssignment plus what was resolved -> the snake_case ``assignment`` result."""
    record = dict(
        id=assignment.get("id"),
        role=role.get("displayName"),
        role_definition_id=assignment.get("roleDefinitionId"),
        principal_id=assignment.get("principalId"),
        principal_display_name=principal.get("display_name"),
        directory_scope_id=assignment.get("directoryScopeId"),
    )
    for key in ("app_id", "user_principal_name"):
        if key in principal:
            record[key] = principal[key]
    return record


def main():
    run_module(run, argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
               mutually_exclusive=[PRINCIPAL_OPTIONS], required_one_of=[PRINCIPAL_OPTIONS])


if __name__ == "__main__":
    main()
