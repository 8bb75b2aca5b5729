"""The tenant's people and settings as Graph shows them: /users, /me, /organization, /directoryObjects
and Entra directory roles (/roleManagement/directory/roleDefinitions and roleAssignments)."""
from .. import directory as d
from . import objects
from .errors import GraphError, bad_request, conflict, not_found, read_only
from .odata import EntitySet
from .principals import ASSIGNMENTS

USERS = EntitySet("users", d.USER, "user", "User", [
    "id", "accountEnabled", "displayName", "givenName", "jobTitle", "mail", "surname", "userPrincipalName", "userType"])
ORGANIZATION = EntitySet("organization", d.ORGANIZATION, "organization", "Organization", ["id"])
ROLE_DEFINITIONS = EntitySet("roleManagement/directory/roleDefinitions", d.ROLE_DEFINITION, "unifiedRoleDefinition",
                             "UnifiedRoleDefinition", ["id", "displayName", "isBuiltIn", "isEnabled", "templateId"])
ROLE_ASSIGNMENTS = EntitySet("roleManagement/directory/roleAssignments", d.ROLE_ASSIGNMENT, "unifiedRoleAssignment",
                             "UnifiedRoleAssignment", ["id", "appScopeId", "directoryScopeId", "principalId", "roleDefinitionId"])


def _user(call, key):
    """A user by object id or by userPrincipalName, as /users/{id | userPrincipalName} takes either."""
    user = call.directory.user_by_upn(call.tid, key) if "@" in key else call.store.get(call.tid, d.USER, key.lower())
    if user is None:
        raise not_found(key)
    return user


def list_users(call):
    call.caller.require("users.read")
    return call.collection(USERS, call.store.list(call.tid, d.USER))


def get_user(call):
    call.caller.require("users.read")
    return call.read("user", _user(call, call.params["id"]), "users")


def me(call):
    if call.caller.app_only:
        raise GraphError(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
    call.caller.require("me.read")
    return call.read("user", _user(call, call.caller.principal_id), "users")


def user_assignments(call):
    """GET /users/{id}/appRoleAssignments: the applications a user is assigned to."""
    call.caller.require("appRoleAssignments.read")
    user = _user(call, call.params["id"])
    return call.collection(ASSIGNMENTS, call.store.find(call.tid, d.APP_ROLE_ASSIGNMENT, principalId=user["id"]),
                           "users('%s')/appRoleAssignments" % user["id"])


def list_organization(call):
    call.caller.require("organization.read")
    return call.collection(ORGANIZATION, call.store.list(call.tid, d.ORGANIZATION))


def get_organization(call):
    call.caller.require("organization.read")
    return call.read("organization", objects.by_id(call, d.ORGANIZATION), "organization")


def get_directory_object(call):
    call.caller.require("directoryObjects.read")
    for kind, type_name in ((d.USER, "user"), (d.SERVICE_PRINCIPAL, "servicePrincipal"), (d.APPLICATION, "application")):
        doc = call.store.get(call.tid, kind, call.params["id"].lower())
        if doc is not None:
            body = objects.typed(call, doc, type_name)
            return call.answer(200, dict({"@odata.context": call.context_url("directoryObjects/$entity")}, **body))
    raise not_found(call.params["id"])


# --- directory roles ---------------------------------------------------------------------------
def list_role_definitions(call):
    call.caller.require("roleManagement.read")
    return call.collection(ROLE_DEFINITIONS, call.store.list(call.tid, d.ROLE_DEFINITION))


def get_role_definition(call):
    call.caller.require("roleManagement.read")
    definition = objects.by_id(call, d.ROLE_DEFINITION)
    return call.read("unifiedRoleDefinition", definition, ROLE_DEFINITIONS.name)


def list_role_assignments(call):
    call.caller.require("roleManagement.read")
    return call.collection(ROLE_ASSIGNMENTS, call.store.list(call.tid, d.ROLE_ASSIGNMENT))


def get_role_assignment(call):
    call.caller.require("roleManagement.read")
    return call.read("unifiedRoleAssignment", objects.by_id(call, d.ROLE_ASSIGNMENT), ROLE_ASSIGNMENTS.name)


def create_role_assignment(call):
    call.caller.require("roleManagement.write")
    body = call.body("unifiedRoleAssignment")
    for name in ("id", "principalOrganizationId"):
        if name in body:
            raise read_only(name)
    for name in ("principalId", "roleDefinitionId", "directoryScopeId"):
        if not body.get(name):
            raise bad_request("Property '%s' is required." % name)
    principal, _, _ = objects.principal(call, body["principalId"].lower())
    if principal is None:
        raise not_found(body["principalId"])
    definition = call.store.get(call.tid, d.ROLE_DEFINITION, body["roleDefinitionId"].lower())
    if definition is None:
        raise not_found(body["roleDefinitionId"])
    for existing in call.store.find(call.tid, d.ROLE_ASSIGNMENT, include_invisible=True, principalId=principal["id"],
                                    roleDefinitionId=definition["id"]):
        if existing.get("directoryScopeId") == body["directoryScopeId"]:
            raise conflict()
    # Graph's ids of role assignments are base64url of the role definition and principal ids, then "-1".
    assignment = {"id": objects.base64url_id(definition["id"], principal["id"]) + "-1", "principalId": principal["id"],
                  "roleDefinitionId": definition["id"], "directoryScopeId": body["directoryScopeId"],
                  "appScopeId": body.get("appScopeId"), "condition": body.get("condition"), "principalOrganizationId": call.tid}
    objects.create(call, d.ROLE_ASSIGNMENT, assignment)
    return call.entity(201, "unifiedRoleAssignment", assignment, ROLE_ASSIGNMENTS.name)


def delete_role_assignment(call):
    call.caller.require("roleManagement.write")
    call.store.delete(call.tid, d.ROLE_ASSIGNMENT, objects.by_id(call, d.ROLE_ASSIGNMENT)["id"])
    return call.answer(204)


ONE = r"/(?P<id>[^/()$][^/()]*)$"
ROLES = r"^/v1\.0/roleManagement/directory/"
ROUTES = [
    ("GET", r"^/v1\.0/users$", list_users, "/v1.0/users"),
    ("GET", r"^/v1\.0/users" + ONE, get_user, "/v1.0/users/{id}"),
    ("GET", r"^/v1\.0/users/(?P<id>[^/()$][^/()]*)/appRoleAssignments$", user_assignments, "/v1.0/users/{id}/appRoleAssignments"),
    ("GET", r"^/v1\.0/me$", me, "/v1.0/me"),
    ("GET", r"^/v1\.0/organization$", list_organization, "/v1.0/organization"),
    ("GET", r"^/v1\.0/organization" + ONE, get_organization, "/v1.0/organization/{id}"),
    ("GET", r"^/v1\.0/directoryObjects" + ONE, get_directory_object, "/v1.0/directoryObjects/{id}"),
    ("GET", ROLES + r"roleDefinitions$", list_role_definitions, "/v1.0/roleManagement/directory/roleDefinitions"),
    ("GET", ROLES + r"roleDefinitions" + ONE, get_role_definition, "/v1.0/roleManagement/directory/roleDefinitions/{id}"),
    ("GET", ROLES + r"roleAssignments$", list_role_assignments, "/v1.0/roleManagement/directory/roleAssignments"),
    ("POST", ROLES + r"roleAssignments$", create_role_assignment, "/v1.0/roleManagement/directory/roleAssignments"),
    ("GET", ROLES + r"roleAssignments" + ONE, get_role_assignment, "/v1.0/roleManagement/directory/roleAssignments/{id}"),
    ("DELETE", ROLES + r"roleAssignments" + ONE, delete_role_assignment, "/v1.0/roleManagement/directory/roleAssignments/{id}"),
]
