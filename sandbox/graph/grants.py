"""/oauth2PermissionGrants: delegated permissions consented for a client on a resource, tenant-wide
(AllPrincipals) or for one user (Principal). `scope` is one space-separated string; there is one grant
per client, resource and consent target, and its id is derived from them as Graph derives it."""
from .. import directory as d
from . import objects
from .errors import GraphError, bad_request, read_only, require_properties
from .odata import EntitySet
from .principals import SP

GRANTS = EntitySet("oauth2PermissionGrants", d.GRANT, "oAuth2PermissionGrant", "OAuth2PermissionGrant",
                   ["id", "clientId", "consentType", "principalId", "resourceId"])
CONSENT_TYPES = ("AllPrincipals", "Principal")


def _invalid(name):
    return bad_request("Invalid value specified for property '%s' of resource 'OAuth2PermissionGrant'." % name)


def _grant(call):
    return objects.by_id(call, d.GRANT)


def list_grants(call):
    call.caller.require("oauth2PermissionGrants.read")
    return call.collection(GRANTS, call.store.list(call.tid, d.GRANT))


def list_client_grants(call):
    """GET /servicePrincipals/{id}/oauth2PermissionGrants: the grants where this service principal is the client."""
    sp = objects.resolve(call, d.SERVICE_PRINCIPAL)
    call.caller.require("oauth2PermissionGrants.read")
    return call.collection(GRANTS, call.store.find(call.tid, d.GRANT, clientId=sp["id"]))


def create_grant(call):
    call.caller.require("oauth2PermissionGrants.write")
    body = call.body("oAuth2PermissionGrant")
    if "id" in body:
        raise read_only("id")
    require_properties(body, "clientId", "consentType", "resourceId")
    consent = body.get("consentType")
    if consent not in CONSENT_TYPES:
        raise _invalid("consentType")
    principal_id = (body.get("principalId") or "").lower() or None
    if (consent == "Principal") != (principal_id is not None):
        raise _invalid("principalId")
    # Both service principals (and the user) must exist and be replicated: Graph answers 400 otherwise.
    client = call.store.get(call.tid, d.SERVICE_PRINCIPAL, (body.get("clientId") or "").lower())
    if client is None:
        raise _invalid("clientId")
    resource = call.store.get(call.tid, d.SERVICE_PRINCIPAL, (body.get("resourceId") or "").lower())
    if resource is None:
        raise _invalid("resourceId")
    if principal_id and call.store.get(call.tid, d.USER, principal_id) is None:
        raise _invalid("principalId")
    ids = [client["id"], resource["id"]] + ([principal_id] if principal_id else [])
    grant_id = objects.base64url_id(*ids)
    if call.store.find(call.tid, d.GRANT, include_invisible=True, clientId=client["id"], resourceId=resource["id"],
                       consentType=consent, principalId=principal_id):
        raise GraphError(409, "Request_MultipleObjectsWithSameKeyValue", "Permission entry already exists.")
    grant = {"id": grant_id, "clientId": client["id"], "consentType": consent, "principalId": principal_id,
             "resourceId": resource["id"], "scope": _scope(body.get("scope"))}
    objects.create(call, d.GRANT, grant)
    return call.entity(201, "oAuth2PermissionGrant", grant, "oauth2PermissionGrants")


def _scope(value):
    """One space-separated string; Graph keeps it as given, apart from surrounding blanks."""
    if value is None:
        return ""
    return " ".join(value.split())


def get_grant(call):
    call.caller.require("oauth2PermissionGrants.read")
    return call.read("oAuth2PermissionGrant", _grant(call), "oauth2PermissionGrants")


def update_grant(call):
    call.caller.require("oauth2PermissionGrants.write")
    grant = _grant(call)
    body = call.body("oAuth2PermissionGrant")
    for name in body:
        if name != "scope" and not name.startswith("@odata."):
            raise read_only(name)
    grant["scope"] = _scope(body.get("scope"))
    call.store.put(call.tid, d.GRANT, grant)
    return call.answer(204)


def delete_grant(call):
    call.caller.require("oauth2PermissionGrants.write")
    call.store.delete(call.tid, d.GRANT, _grant(call)["id"])
    return call.answer(204)


ROUTES = objects.collection_routes("oauth2PermissionGrants", r"^/v1\.0/oauth2PermissionGrants/(?P<id>[^/()$][^/()]*)", list_grants,
                                   create_grant, get_grant, update_grant, delete_grant, count=False) + [
    ("GET", SP + r"/oauth2PermissionGrants$", list_client_grants, "/v1.0/servicePrincipals/{id}/oauth2PermissionGrants"),
]
