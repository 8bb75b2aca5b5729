"""The tenant's people and settings as Graph shows them: /users, /me, /organization, /directoryObjects
(one by id, or many through getByIds) and Entra directory roles (/roleManagement/directory/roleDefinitions
and roleAssignments)."""
from .. import directory as d
from . import objects
from .errors import GraphError, bad_request, conflict, not_found, property_required, read_only, require_properties
from .odata import EntitySet, parse_select, select_clause
from .principals import ASSIGNMENTS

USERS = EntitySet("users", d.USER, "user", "User", [
    "id", "accountEnabled", "displayName", "givenName", "jobTitle", "mail", "surname", "userPrincipalName", "userType"])
ORGANIZATION = EntitySet("organization", d.ORGANIZATION, "organization", "Organization", ["id"])
ROLE_DEFINITIONS = EntitySet("roleManagement/directory/roleDefinitions", d.ROLE_DEFINITION, "unifiedRoleDefinition",
                             "UnifiedRoleDefinition", ["id", "displayName", "isBuiltIn", "isEnabled", "templateId"])
# The directory objects the sandbox keeps, in the order getByIds and /directoryObjects/{id} look for them.
DIRECTORY_KINDS = ((d.USER, "user"), (d.SERVICE_PRINCIPAL, "servicePrincipal"), (d.APPLICATION, "application"))
MAX_IDS = 1000  # getByIds takes up to 1000 ids
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


def _directory_object(call, object_id, types=None):
    """(document, type name) of the user, service principal or application with this id, or (None, None);
    `types` (lower-case type names) limits the search."""
    for kind, type_name in DIRECTORY_KINDS:
        if types is None or type_name.lower() in types:
            doc = call.store.get(call.tid, kind, object_id.lower())
            if doc is not None:
                return doc, type_name
    return None, None


def _directory_select(call):
    """$select on directory objects: properties of any derived type (Schema.selectable), each object answering
    with those its own type has."""
    return parse_select(call.req.query.get("$select"), "directoryObject", call.schema.selectable("directoryObject"))


def get_directory_object(call):
    call.caller.require("directoryObjects.read")
    select = _directory_select(call)
    doc, type_name = _directory_object(call, call.params["id"])
    if doc is None:
        raise not_found(call.params["id"])
    body = objects.typed(call, doc, type_name, select)
    return call.answer(200, dict({"@odata.context": call.context_url("directoryObjects%s/$entity" % select_clause(select))}, **body))


def get_by_ids(call):
    """POST /directoryObjects/getByIds {"ids": [...], "types": [...]}: the objects that exist, in the order asked,
    each with its @odata.type; ids of no object (or of another type than `types` names) are left out."""
    call.caller.require("directoryObjects.read")
    select = _directory_select(call)
    body = call.body()
    ids, types = body.get("ids"), body.get("types")
    if not isinstance(ids, list) or not ids or not all(isinstance(item, str) for item in ids):
        raise bad_request("Invalid value specified for property 'ids' of resource 'DirectoryObject'.")
    if len(ids) > MAX_IDS:
        raise bad_request("The number of ids must not exceed %d." % MAX_IDS)
    if types is not None and not (isinstance(types, list) and all(isinstance(item, str) for item in types)):
        raise bad_request("Invalid value specified for property 'types' of resource 'DirectoryObject'.")
    wanted = {name.lower() for name in types} if types else None
    found = [_directory_object(call, object_id, wanted) for object_id in ids]
    value = [objects.typed(call, doc, type_name, select) for doc, type_name in found if doc is not None]
    return call.answer(200, {"@odata.context": call.context_url("directoryObjects" + select_clause(select)), "value": value})


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
    require_properties(body, "principalId", "roleDefinitionId")
    if not (body.get("directoryScopeId") or body.get("appScopeId")):
        raise property_required("directoryScopeId")  # Graph: either directoryScopeId or appScopeId must be given
    principal = objects.principal(call, body["principalId"].lower())[0]
    if principal is None:
        raise not_found(body["principalId"])
    definition = call.store.get(call.tid, d.ROLE_DEFINITION, body["roleDefinitionId"].lower())
    if definition is None:
        raise not_found(body["roleDefinitionId"])
    for existing in call.store.find(call.tid, d.ROLE_ASSIGNMENT, include_invisible=True, principalId=principal["id"],
                                    roleDefinitionId=definition["id"]):
        if (existing.get("directoryScopeId"), existing.get("appScopeId")) == (body.get("directoryScopeId"), body.get("appScopeId")):
            raise conflict()
    # Graph's ids of role assignments are base64url of the role definition and principal ids, then "-1".
    assignment = {"id": objects.base64url_id(definition["id"], principal["id"]) + "-1", "principalId": principal["id"],
                  "roleDefinitionId": definition["id"], "directoryScopeId": body.get("directoryScopeId"),
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
    ("POST", r"^/v1\.0/directoryObjects/(?:microsoft\.graph\.)?getByIds$", get_by_ids, "/v1.0/directoryObjects/getByIds"),
    ("GET", ROLES + r"roleDefinitions$", list_role_definitions, "/v1.0/roleManagement/directory/roleDefinitions"),
    ("GET", ROLES + r"roleDefinitions" + ONE, get_role_definition, "/v1.0/roleManagement/directory/roleDefinitions/{id}"),
    ("GET", ROLES + r"roleAssignments$", list_role_assignments, "/v1.0/roleManagement/directory/roleAssignments"),
    ("POST", ROLES + r"roleAssignments$", create_role_assignment, "/v1.0/roleManagement/directory/roleAssignments"),
    ("GET", ROLES + r"roleAssignments" + ONE, get_role_assignment, "/v1.0/roleManagement/directory/roleAssignments/{id}"),
    ("DELETE", ROLES + r"roleAssignments" + ONE, delete_role_assignment, "/v1.0/roleManagement/directory/roleAssignments/{id}"),
]
