"""/servicePrincipals (enterprise applications) and app role assignments: application permissions
granted (appRoleAssignedTo on the resource, appRoleAssignments on the principal) and users assigned
to an application (default access role 00000000-...)."""
from .. import directory as d
from . import objects
from .errors import bad_request, conflict, not_found, read_only, require_properties
from .odata import EntitySet, key_pattern

SERVICE_PRINCIPALS = EntitySet("servicePrincipals", d.SERVICE_PRINCIPAL, "servicePrincipal", "ServicePrincipal", [
    "id", "accountEnabled", "alternativeNames", "appDisplayName", "appId", "applicationTemplateId", "appOwnerOrganizationId",
    "appRoleAssignmentRequired", "description", "displayName", "keyCredentials", "preferredSingleSignOnMode",
    "servicePrincipalNames", "servicePrincipalType", "signInAudience", "tags"])
ASSIGNMENTS = EntitySet("appRoleAssignments", d.APP_ROLE_ASSIGNMENT, "appRoleAssignment", "AppRoleAssignment",
                        ["id", "appRoleId", "principalId", "principalType", "principalDisplayName", "resourceId", "resourceDisplayName"])
READ_ONLY = ("id", "appId", "appOwnerOrganizationId", "createdByAppId", "deletedDateTime", "disabledByMicrosoftStatus",
             "passwordCredentials", "servicePrincipalType", "appDisplayName", "appDescription")

SP = r"^/v1\.0/" + key_pattern("servicePrincipals", "appId")


def _sp(call):
    return objects.resolve(call, d.SERVICE_PRINCIPAL)


def _application_for(call, app_id):
    """The application a new service principal stands for: one of this tenant (visible, i.e. replicated), or a
    multi-tenant one registered in another tenant. Returns (application, owner tenant id)."""
    app = call.directory.application_by_app_id(call.tid, app_id)
    if app is not None:
        return app, call.tid
    for tenant in call.directory.tenants():
        other = call.directory.application_by_app_id(tenant["id"], app_id)
        if tenant["id"] != call.tid and other is not None and other.get("signInAudience") != "AzureADMyOrg":
            return other, tenant["id"]
    raise bad_request("The appId '%s' of the service principal does not reference a valid application object." % app_id)


def _new(call, body):
    call.caller.require_some("servicePrincipals.write")
    require_properties(body, "appId")
    app_id = body["appId"]
    if call.directory.service_principal_by_app_id(call.tid, app_id, include_invisible=True) is not None:
        raise conflict()
    app, owner_tid = _application_for(call, app_id)
    # The *.OwnedBy permission covers only service principals of applications the caller owns in this tenant.
    call.caller.require("servicePrincipals.write", objects.owner_ids(app) if owner_tid == call.tid else [])
    if str(body.get("servicePrincipalType", "")).lower() == "application":
        # Graph takes the type it sets itself on a create (azure.azcollection's azure_rm_adserviceprincipal
        # always sends it); any other value, or any value on an update, is refused as read-only.
        body = {k: v for k, v in body.items() if k != "servicePrincipalType"}
    _check_write(body, creating=True)
    sp = d.service_principal_doc(call.tenant, app, owner_tid)
    objects.apply_patch(sp, {k: v for k, v in body.items() if k != "appId"})
    sp["_owners"] = objects.initial_owners(call)
    return objects.create(call, d.SERVICE_PRINCIPAL, sp)


def _check_write(body, creating=False):
    for name in READ_ONLY:
        if name in body and not (creating and name == "appId"):
            raise read_only(name)


# --- service principals --------------------------------------------------------------------------
def list_service_principals(call):
    return objects.list_visible(call, SERVICE_PRINCIPALS, "servicePrincipals.read")


def create_service_principal(call):
    sp = _new(call, call.body("servicePrincipal"))
    return call.entity(201, "servicePrincipal", sp, "servicePrincipals")


def get_service_principal(call):
    return call.read("servicePrincipal", objects.fetch(call, d.SERVICE_PRINCIPAL, "servicePrincipals.read"), "servicePrincipals")


def _update(call, sp):
    call.caller.require("servicePrincipals.write", objects.owner_ids(sp))
    body = call.body("servicePrincipal")
    _check_write(body)
    call.store.put(call.tid, d.SERVICE_PRINCIPAL, objects.apply_patch(sp, body))


def update_service_principal(call):
    """PATCH by id or appId; an upsert on (appId='...') with `Prefer: create-if-missing`."""
    return objects.upsert(call, d.SERVICE_PRINCIPAL, "appId", "servicePrincipal", _new, _update)


def delete_service_principal(call):
    objects.delete_service_principal(call, objects.fetch(call, d.SERVICE_PRINCIPAL, "servicePrincipals.write"))
    return call.answer(204)


# --- app role assignments ------------------------------------------------------------------------
def _assignment_context(sp, navigation):
    return "servicePrincipals('%s')/%s" % (sp["id"], navigation)


def assign(call, resource_id, principal_id, body):
    """Create an app role assignment after Graph's checks; both ends must exist (and be replicated)."""
    call.caller.require("appRoleAssignments.write")
    call.schema.check_body("appRoleAssignment", body)
    require_properties(body, "principalId", "resourceId", "appRoleId")
    if body["resourceId"].lower() != resource_id.lower() or body["principalId"].lower() != principal_id.lower():
        raise bad_request("The principalId and resourceId in the request body must match the objects in the request URL.")
    resource = call.store.get(call.tid, d.SERVICE_PRINCIPAL, resource_id.lower())
    if resource is None:
        raise not_found(resource_id)
    principal, type_name, principal_type = objects.principal(call, principal_id.lower())
    if principal is None:
        raise not_found(principal_id)
    role_id = body["appRoleId"].lower()
    member_type = "Application" if principal_type == "ServicePrincipal" else "User"
    if role_id == d.DEFAULT_ACCESS_ROLE_ID:
        if member_type != "User":
            raise bad_request("Permission being assigned was not found on application '%s'." % resource["appId"])
    elif not any(r["id"] == role_id and r.get("isEnabled", True) and member_type in r.get("allowedMemberTypes", [])
                 for r in resource.get("appRoles", [])):
        raise bad_request("Permission being assigned was not found on application '%s'." % resource["appId"])
    for existing in call.store.find(call.tid, d.APP_ROLE_ASSIGNMENT, include_invisible=True,
                                    principalId=principal["id"], resourceId=resource["id"]):
        if existing["appRoleId"] == role_id:
            raise bad_request("Permission being assigned already exists on the object")
    assignment = {"id": objects.base64url_id(principal["id"], d.new_id()), "deletedDateTime": None, "appRoleId": role_id,
                  "createdDateTime": d.iso(d.now()), "principalDisplayName": principal.get("displayName"),
                  "principalId": principal["id"], "principalType": principal_type,
                  "resourceDisplayName": resource.get("displayName"), "resourceId": resource["id"]}
    return objects.create(call, d.APP_ROLE_ASSIGNMENT, assignment)


def _assignments(call, field, owner_id):
    return call.store.find(call.tid, d.APP_ROLE_ASSIGNMENT, **{field: owner_id})


def _one_assignment(call, field, owner_id):
    assignment = call.store.get(call.tid, d.APP_ROLE_ASSIGNMENT, call.params["sub"])
    if assignment is None or assignment[field] != owner_id:
        raise not_found(call.params["sub"])
    return assignment


NAVIGATION = {"appRoleAssignedTo": "resourceId", "appRoleAssignments": "principalId"}


def _navigation(call):
    """appRoleAssignedTo lists what was granted on this resource, appRoleAssignments what this principal holds."""
    return call.params["nav"], NAVIGATION[call.params["nav"]]


def list_assignments(call):
    sp = _sp(call)
    call.caller.require("appRoleAssignments.read")
    name, field = _navigation(call)
    return call.collection(ASSIGNMENTS, _assignments(call, field, sp["id"]), _assignment_context(sp, name))


def create_assignment(call):
    sp = _sp(call)
    name, field = _navigation(call)
    body = call.body()
    if field == "resourceId":
        assignment = assign(call, sp["id"], body.get("principalId") or "", body)
    else:
        assignment = assign(call, body.get("resourceId") or "", sp["id"], body)
    return call.entity(201, "appRoleAssignment", assignment, _assignment_context(sp, name))


def get_assignment(call):
    sp = _sp(call)
    call.caller.require("appRoleAssignments.read")
    name, field = _navigation(call)
    return call.read("appRoleAssignment", _one_assignment(call, field, sp["id"]), _assignment_context(sp, name))


def delete_assignment(call):
    sp = _sp(call)
    call.caller.require("appRoleAssignments.write")
    field = _navigation(call)[1]
    call.store.delete(call.tid, d.APP_ROLE_ASSIGNMENT, _one_assignment(call, field, sp["id"])["id"])
    return call.answer(204)


ROUTES = objects.collection_routes("servicePrincipals", SP, list_service_principals, create_service_principal,
                                   get_service_principal, update_service_principal, delete_service_principal)
for _nav in NAVIGATION:
    _base, _label = SP + "/(?P<nav>%s)" % _nav, "/v1.0/servicePrincipals/{id}/" + _nav
    ROUTES += [("GET", _base + "$", list_assignments, _label), ("POST", _base + "$", create_assignment, _label),
               ("GET", _base + r"/(?P<sub>[^/]+)$", get_assignment, _label + "/{assignmentId}"),
               ("DELETE", _base + r"/(?P<sub>[^/]+)$", delete_assignment, _label + "/{assignmentId}")]
ROUTES += objects.owner_routes(SP, "/v1.0/servicePrincipals/{id}", d.SERVICE_PRINCIPAL, "servicePrincipals.read", "servicePrincipals.write")


def _expand_assignments(field):
    """$expand=appRoleAssignedTo / appRoleAssignments: needs the permission the list route needs."""
    def related(call, sp):
        call.caller.require("appRoleAssignments.read")
        return [(assignment, "appRoleAssignment") for assignment in _assignments(call, field, sp["id"])]
    return related


EXPANSIONS = {("servicePrincipal", "owners"): objects.OWNERS_EXPANSION}
EXPANSIONS.update((("servicePrincipal", name), ("appRoleAssignment", _expand_assignments(field))) for name, field in NAVIGATION.items())
