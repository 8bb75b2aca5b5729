"""RBAC for Applications: management scopes (a recipient filter), application role assignments of an
Exchange service principal limited to a scope, and Test-ServicePrincipalAuthorization, which tells
whether an app may act on a mailbox."""
from .. import directory as d
from . import errors, opath
from .cmdlet import Param, cmdlet, identity, result_size
from .state import APPLICATION_ROLES, ROLE_ASSIGNMENT, SCOPE, SERVICE_PRINCIPAL


def _check_filter(text):
    try:
        opath.parse(text)
    except opath.FilterError as exc:
        raise errors.binding("Cannot bind parameter 'RecipientRestrictionFilter' to the target. "
                             "Exception setting \"RecipientRestrictionFilter\": \"%s\"" % exc)
    return text


def _find_scopes(inv, value):
    wanted = value.strip().lower()
    return [s for s in inv.state.scopes(inv.tid) if wanted in (s["Name"].lower(), s["id"].lower())]


def _scope(inv, value):
    return inv.one(_find_scopes(inv, value), value)


def _scope_object(scope):
    return {"Name": scope["Name"], "Identity": scope["Name"], "Id": scope["Name"], "Guid": scope["id"],
            "ScopeRestrictionType": "RecipientScope", "RecipientRestrictionFilter": scope["RecipientRestrictionFilter"],
            "RecipientFilter": scope["RecipientRestrictionFilter"], "RecipientRoot": None, "Exclusive": False,
            "WhenCreated": scope["WhenCreated"], "WhenChanged": scope["WhenChanged"], "IsValid": True}


def _check_name_free(inv, name, own_id=None):
    if any(s["Name"].lower() == name.lower() and s["id"] != own_id for s in inv.state.scopes(inv.tid)):
        raise errors.already_exists('The management scope "%s" already exists.' % name)


# --- management scopes ------------------------------------------------------------------------------
@cmdlet("New-ManagementScope", Param("Name", mandatory=True), Param("RecipientRestrictionFilter", mandatory=True))
def new_management_scope(inv):
    _check_name_free(inv, inv.params["Name"])
    now = d.iso(d.now())
    scope = {"id": d.new_id(), "Name": inv.params["Name"], "RecipientRestrictionFilter": _check_filter(inv.params["RecipientRestrictionFilter"]),
             "WhenCreated": now, "WhenChanged": now}
    inv.store.put(inv.tid, SCOPE, scope)
    return [_scope_object(scope)]


@cmdlet("Get-ManagementScope", identity(False))
def get_management_scope(inv):
    if inv.given("Identity"):
        return [_scope_object(_scope(inv, inv.params["Identity"]))]
    return [_scope_object(s) for s in inv.state.scopes(inv.tid)]


@cmdlet("Set-ManagementScope", identity(), Param("Name"), Param("RecipientRestrictionFilter"))
def set_management_scope(inv):
    scope = _scope(inv, inv.params["Identity"])
    if inv.params.get("Name"):
        _check_name_free(inv, inv.params["Name"], scope["id"])
        scope["Name"] = inv.params["Name"]
    if inv.params.get("RecipientRestrictionFilter"):
        scope["RecipientRestrictionFilter"] = _check_filter(inv.params["RecipientRestrictionFilter"])
    scope["WhenChanged"] = d.iso(d.now())
    inv.store.put(inv.tid, SCOPE, scope)
    return []


@cmdlet("Remove-ManagementScope", identity())
def remove_management_scope(inv):
    scope = _scope(inv, inv.params["Identity"])
    users = [a["Name"] for a in inv.state.role_assignments(inv.tid) if a["ScopeId"] == scope["id"]]
    if users:
        raise errors.invalid('The management scope "%s" can\'t be removed because it\'s used by these role assignments: %s.'
                             % (scope["Name"], ", ".join(users)), "Microsoft.Exchange.Management.RbacTasks.ScopeInUseException")
    inv.store.delete(inv.tid, SCOPE, scope["id"])
    return []


# --- role assignments -------------------------------------------------------------------------------
def _role(inv, value):
    for role in APPLICATION_ROLES:
        if role.lower() == value.strip().lower():
            return role
    raise inv.not_found(value)


def _assignment_object(inv, assignment):
    sp = inv.store.get(inv.tid, SERVICE_PRINCIPAL, assignment["AppObjectId"]) or {}
    scope = inv.store.get(inv.tid, SCOPE, assignment["ScopeId"]) if assignment["ScopeId"] else None
    return {"Name": assignment["Name"], "Identity": assignment["Name"], "Id": assignment["Name"], "Guid": assignment["id"],
            "Role": assignment["Role"], "RoleAssignee": assignment["AppObjectId"],
            "RoleAssigneeName": sp.get("DisplayName") or assignment["AppObjectId"], "RoleAssigneeType": "ServicePrincipal",
            "AssignmentMethod": "Direct", "RoleAssignmentDelegationType": "Regular", "Enabled": True,
            "CustomResourceScope": scope["Name"] if scope else None,
            "RecipientWriteScope": "CustomRecipientScope" if scope else "Organization",
            "CustomRecipientWriteScope": scope["Name"] if scope else None, "ConfigWriteScope": "None",
            "WhenCreated": assignment["WhenCreated"], "IsValid": True}


def _find_assignments(inv, value):
    wanted = value.strip().lower()
    return [a for a in inv.state.role_assignments(inv.tid) if wanted in (a["Name"].lower(), a["id"].lower())]


@cmdlet("New-ManagementRoleAssignment", Param("Role", mandatory=True), Param("App", mandatory=True),
        Param("CustomResourceScope"), Param("Name"))
def new_management_role_assignment(inv):
    role = _role(inv, inv.params["Role"])
    sp = inv.service_principal(inv.params["App"])
    scope = _scope(inv, inv.params["CustomResourceScope"]) if inv.params.get("CustomResourceScope") else None
    scope_id = scope["id"] if scope else None
    for existing in inv.state.role_assignments(inv.tid):
        if (existing["Role"], existing["AppObjectId"], existing["ScopeId"]) == (role, sp["ObjectId"], scope_id):
            raise errors.already_exists("A role assignment with the same role, role assignee and scope already exists: '%s'."
                                        % existing["Name"])
    name = inv.params.get("Name") or ("%s-%s" % (role, sp.get("DisplayName") or sp["ObjectId"]))[:64]
    if _find_assignments(inv, name):
        if inv.params.get("Name"):
            raise errors.already_exists('The role assignment "%s" already exists.' % name)
        base, number = name[:60], 1
        while _find_assignments(inv, name):
            number += 1
            name = "%s-%d" % (base, number)
    assignment = {"id": d.new_id(), "Name": name, "Role": role, "AppObjectId": sp["ObjectId"], "ScopeId": scope_id,
                  "WhenCreated": d.iso(d.now())}
    inv.store.put(inv.tid, ROLE_ASSIGNMENT, assignment)
    return [_assignment_object(inv, assignment)]


@cmdlet("Get-ManagementRoleAssignment", identity(False), Param("RoleAssignee"), Param("Role"), result_size())
def get_management_role_assignment(inv):
    found = inv.state.role_assignments(inv.tid)
    if inv.given("Identity"):
        found = [inv.one(_find_assignments(inv, inv.params["Identity"]), inv.params["Identity"])]
    if inv.given("RoleAssignee"):
        sp = inv.service_principal(inv.params["RoleAssignee"])
        found = [a for a in found if a["AppObjectId"] == sp["ObjectId"]]
    if inv.given("Role"):
        role = _role(inv, inv.params["Role"])
        found = [a for a in found if a["Role"] == role]
    return [_assignment_object(inv, a) for a in found]


@cmdlet("Remove-ManagementRoleAssignment", identity())
def remove_management_role_assignment(inv):
    assignment = inv.one(_find_assignments(inv, inv.params["Identity"]), inv.params["Identity"])
    inv.store.delete(inv.tid, ROLE_ASSIGNMENT, assignment["id"])
    return []


@cmdlet("Test-ServicePrincipalAuthorization", identity(), Param("Resource"))
def test_service_principal_authorization(inv):
    """One row per role assignment of the app: what it grants, in which scope, and (with -Resource) whether
    that mailbox is in the scope."""
    sp = inv.service_principal(inv.params["Identity"])
    box = inv.mailbox(inv.params["Resource"]) if inv.given("Resource") else None
    rows = []
    for assignment in inv.state.role_assignments(inv.tid):
        if assignment["AppObjectId"] != sp["ObjectId"]:
            continue
        scope = inv.store.get(inv.tid, SCOPE, assignment["ScopeId"]) if assignment["ScopeId"] else None
        rows.append({"RoleName": assignment["Role"], "GrantedPermissions": ", ".join(APPLICATION_ROLES[assignment["Role"]]),
                     "AllowedResourceScope": scope["Name"] if scope else "Organization",
                     "ScopeType": "CustomRecipientScope" if scope else "Organization",
                     "InScope": bool(box) and inv.state.scope_covers(inv.tid, assignment["ScopeId"], box)})
    return rows
