"""/applications: app registrations, their secrets and certificates, federated identity credentials
and owners (FACTS.md section 3 for the upsert and credential semantics)."""
import re
import urllib.parse

from .. import directory as d
from . import credentials, objects
from .errors import GraphError, bad_request, not_found, property_required, read_only, require_properties
from .odata import EntitySet, key_pattern

APPLICATIONS = EntitySet("applications", d.APPLICATION, "application", "Application", [
    "id", "appId", "applicationTemplateId", "createdDateTime", "description", "disabledByMicrosoftStatus", "displayName",
    "identifierUris", "info", "isFallbackPublicClient", "keyCredentials", "publicClient", "publisherDomain",
    "requiredResourceAccess", "serviceManagementReference", "signInAudience", "spa", "tags", "uniqueName", "web"])
FEDERATED_CREDENTIALS = EntitySet("federatedIdentityCredentials", d.FEDERATED_CREDENTIAL, "federatedIdentityCredential",
                                  "FederatedIdentityCredential", ["id", "name", "subject", "issuer", "audiences"])
READ_ONLY = ("id", "appId", "createdDateTime", "deletedDateTime", "publisherDomain", "createdByAppId",
             "disabledByMicrosoftStatus", "passwordCredentials")
MAX_FEDERATED_CREDENTIALS = 20

APP = r"^/v1\.0/" + key_pattern("applications", "appId", "uniqueName")
ACTION = r"/(?:microsoft\.graph\.)?"


def _app(call, operation):
    return objects.fetch(call, d.APPLICATION, operation)


def _check_write(call, body, app=None):
    """Graph's rules for a create or update body beyond the schema: read-only and immutable properties,
    unique values, enabled roles and scopes, identifier URIs on verified domains."""
    for name in READ_ONLY:
        if name in body:
            raise read_only(name)
    if app is not None and "displayName" in body and not (body["displayName"] or "").strip():
        raise property_required("displayName")  # an application always has a name
    if "uniqueName" in body:
        current = app.get("uniqueName") if app else None
        if current is not None and body["uniqueName"] != current:
            raise bad_request("Property 'uniqueName' is immutable once set and cannot be changed.")
        if current is None and body["uniqueName"] is not None:
            objects.unique(call, d.APPLICATION, "uniqueName", body["uniqueName"], app and app["id"])
    if app is not None:
        _check_entitlements(app, body)
    for uri in body.get("identifierUris") or []:
        _check_identifier_uri(call, uri)
    if body.get("identifierUris"):
        objects.unique(call, d.APPLICATION, "identifierUris", body["identifierUris"], app and app["id"])


def _check_entitlements(app, body):
    """Graph refuses to remove or change an app role or delegated scope that is still enabled: a client must
    PATCH it to isEnabled false first."""
    changes = [(app.get("appRoles") or [], body.get("appRoles"))]
    if isinstance(body.get("api"), dict):
        changes.append(((app.get("api") or {}).get("oauth2PermissionScopes") or [], body["api"].get("oauth2PermissionScopes")))
    for before, after in changes:
        if after is None:
            continue
        after_by_id = {entry.get("id"): entry for entry in after if isinstance(entry, dict)}
        for old in before:
            new = after_by_id.get(old["id"])
            changed = new is None or any(new[k] != old.get(k) for k in new if k != "isEnabled")
            if old.get("isEnabled") and changed:
                raise GraphError(400, "CannotDeleteOrUpdateEnabledEntitlement",
                                 "Permission (scope or role) cannot be deleted or updated unless disabled first.")


def _sync_service_principal(call, app):
    """Entra keeps the application's service principal in step with what the application publishes."""
    sp = call.directory.service_principal_by_app_id(call.tid, app["appId"], include_invisible=True)
    if sp is None:
        return
    fresh = d.service_principal_doc(call.tenant, app, sp["appOwnerOrganizationId"])
    sp.update((name, fresh[name]) for name in ("appDisplayName", "appRoles", "oauth2PermissionScopes", "replyUrls"))
    call.store.put(call.tid, d.SERVICE_PRINCIPAL, sp)


def _check_identifier_uri(call, uri):
    parsed = urllib.parse.urlsplit(uri)
    if parsed.scheme in ("http", "https"):
        host = (parsed.hostname or "").lower()
        domains = [name.lower() for name in call.tenant["domains"]]
        if not any(host == dom or host.endswith("." + dom) for dom in domains):
            raise GraphError(400, "HostNameNotOnVerifiedDomain", "Values of identifierUris property must use a verified domain of "
                                                                 "the organization or its subdomain: '%s'" % uri)
    elif parsed.scheme not in ("api", "urn", "ms-appx") or not (parsed.netloc or parsed.path):
        raise bad_request("Invalid value specified for property 'identifierUris' of resource 'Application'.")


def _new(call, body):
    require_properties(body, "displayName")  # also for an upsert that creates (PATCH with Prefer: create-if-missing)
    _check_write(call, body)
    app = objects.apply_patch(d.application_doc(call.tenant, {}, created_by_app_id=call.caller.app_id), body)
    app["_owners"] = objects.initial_owners(call)
    return objects.create(call, d.APPLICATION, app)


# --- handlers ------------------------------------------------------------------------------------
def list_applications(call):
    return objects.list_visible(call, APPLICATIONS, "applications.read")


def _create(call, body):
    call.caller.require("applications.create")
    return _new(call, body)


def _update(call, app):
    call.caller.require("applications.write", objects.owner_ids(app))
    body = call.body("application")
    _check_write(call, body, app)
    call.store.put(call.tid, d.APPLICATION, objects.apply_patch(app, body))
    _sync_service_principal(call, app)


def create_application(call):
    return call.entity(201, "application", _create(call, call.body("application")), "applications")


def get_application(call):
    return call.read("application", _app(call, "applications.read"), "applications")


def update_application(call):
    """PATCH by id or alternate key; an upsert on (uniqueName='...') with `Prefer: create-if-missing`."""
    return objects.upsert(call, d.APPLICATION, "uniqueName", "application", _create, _update)


def delete_application(call):
    objects.delete_application(call, _app(call, "applications.write"))
    return call.answer(204)


# addPassword, removePassword, addKey, removeKey: (change, body member checked against the schema)
CREDENTIAL_ACTIONS = {"addPassword": (credentials.add_password, "passwordCredential"),
                      "removePassword": (credentials.remove_password, None),
                      "addKey": (credentials.add_key, "keyCredential"),
                      "removeKey": (credentials.remove_key, None)}


def credential_action(call):
    """The credential actions answer 200 with the new credential (a secret's text only here, once) or 204."""
    change, member = CREDENTIAL_ACTIONS[call.params["action"]]
    app = _app(call, "applications.write")
    body = call.body()
    if member:
        call.schema.check_body(member, body.get(member) or {})
    created = change(app, body)
    call.store.put(call.tid, d.APPLICATION, app)
    if created is None:
        return call.answer(204)
    return call.answer(200, dict({"@odata.context": call.context_url("microsoft.graph." + member)}, **created))


# --- federated identity credentials ---------------------------------------------------------------
def _fic_context(app):
    return "applications('%s')/federatedIdentityCredentials" % app["id"]


def _fics(call, app, include_invisible=False):
    return call.store.find(call.tid, d.FEDERATED_CREDENTIAL, include_invisible, _applicationId=app["id"])


def _fic(call, app, include_invisible=False):
    """By id, by name (Graph takes either in the path), or by the (name='...') alternate key."""
    wanted = (call.params.get("sub") or call.params.get("name") or "").replace("''", "'")
    for fic in _fics(call, app, include_invisible):
        if wanted in (fic["id"], fic["name"]):
            return fic
    raise not_found(wanted)


def _check_fic(call, app, body, existing=None):
    for name in ("issuer", "subject", "audiences"):
        if existing is None and not body.get(name):
            raise bad_request("Property '%s' is required for a federated identity credential." % name)
    if existing is not None and "name" in body and body["name"] != existing["name"]:
        raise read_only("name")
    others = [f for f in _fics(call, app, True) if existing is None or f["id"] != existing["id"]]
    name = body.get("name", existing and existing["name"])
    if not name or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,119}$", name):
        raise bad_request("Invalid value specified for property 'name' of resource 'FederatedIdentityCredential'.")
    if any(f["name"].lower() == name.lower() for f in others):
        raise GraphError(409, "Request_MultipleObjectsWithSameKeyValue",
                         "FederatedIdentityCredential with name %s already exists." % name)
    issuer, subject = body.get("issuer", existing and existing["issuer"]), body.get("subject", existing and existing["subject"])
    if any(f["issuer"] == issuer and f["subject"] == subject for f in others):
        raise GraphError(409, "Request_MultipleObjectsWithSameKeyValue",
                         "FederatedIdentityCredential with the same issuer and subject already exists.")
    if existing is None and len(others) >= MAX_FEDERATED_CREDENTIALS:
        raise bad_request("Maximum number of federated identity credentials (%d) reached for the application."
                          % MAX_FEDERATED_CREDENTIALS)
    if len(body.get("audiences") or ["x"]) != 1:
        raise bad_request("Federated identity credentials support exactly one audience.")


def _create_fic(call, app, body):
    _check_fic(call, app, body)
    fic = {"id": d.new_id(), "name": body["name"], "issuer": body["issuer"], "subject": body["subject"],
           "audiences": body["audiences"], "description": body.get("description"), "_applicationId": app["id"]}
    return objects.create(call, d.FEDERATED_CREDENTIAL, fic)


def list_fics(call):
    app = _app(call, "applications.read")
    return call.collection(FEDERATED_CREDENTIALS, _fics(call, app), _fic_context(app))


def create_fic(call):
    app = _app(call, "applications.write")
    fic = _create_fic(call, app, call.body("federatedIdentityCredential"))
    return call.entity(201, "federatedIdentityCredential", fic, _fic_context(app))


def get_fic(call):
    app = _app(call, "applications.read")
    return call.read("federatedIdentityCredential", _fic(call, app), _fic_context(app))


def update_fic(call):
    """PATCH; on the (name='...') key it is an upsert, as the schema marks the collection Upsertable."""
    app = _app(call, "applications.write")
    body = call.body("federatedIdentityCredential")
    try:
        fic = _fic(call, app, include_invisible=True)
    except GraphError:
        if not call.params.get("name"):
            raise
        fic = _create_fic(call, app, dict(body, name=call.params["name"].replace("''", "'")))
        return call.entity(201, "federatedIdentityCredential", fic, _fic_context(app))
    _check_fic(call, app, body, fic)
    d.merge_patch(fic, body)
    call.store.put(call.tid, d.FEDERATED_CREDENTIAL, fic)
    return call.answer(204)


def delete_fic(call):
    app = _app(call, "applications.write")
    fic = _fic(call, app)
    call.store.delete(call.tid, d.FEDERATED_CREDENTIAL, fic["id"])
    return call.answer(204)


FIC = APP + r"/federatedIdentityCredentials"
FIC_ONE = FIC + r"(?:/(?P<sub>[^/()]+)|\(name='(?P<name>(?:[^']|'')*)'\))$"
ROUTES = objects.collection_routes("applications", APP, list_applications, create_application, get_application,
                                   update_application, delete_application) + [
    ("POST", APP + ACTION + "(?P<action>%s)$" % action, credential_action, "/v1.0/applications/{id}/" + action) for action in CREDENTIAL_ACTIONS
] + [
    ("GET", FIC + "$", list_fics, "/v1.0/applications/{id}/federatedIdentityCredentials"),
    ("POST", FIC + "$", create_fic, "/v1.0/applications/{id}/federatedIdentityCredentials"),
    ("GET", FIC_ONE, get_fic, "/v1.0/applications/{id}/federatedIdentityCredentials/{fid}"),
    ("PATCH", FIC_ONE, update_fic, "/v1.0/applications/{id}/federatedIdentityCredentials/{fid}"),
    ("DELETE", FIC_ONE, delete_fic, "/v1.0/applications/{id}/federatedIdentityCredentials/{fid}"),
] + objects.owner_routes(APP, "/v1.0/applications/{id}", d.APPLICATION, "applications.read", "applications.write")
EXPANSIONS = {("application", "owners"): objects.OWNERS_EXPANSION}
