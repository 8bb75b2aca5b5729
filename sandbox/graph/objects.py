"""What the directory resources share: finding an object by key, creating it (hidden while replication
delay is simulated), owners, and the clean-up Entra does when a principal is deleted."""
import base64
import re
import uuid

from .. import directory as d
from . import credentials
from .errors import GraphError, bad_request, not_found
from .odata import EntitySet, is_guid, key_of

# Directory objects that can be owners or be assigned roles and permissions, with their @odata.type.
PRINCIPAL_KINDS = ((d.USER, "user", "User"), (d.SERVICE_PRINCIPAL, "servicePrincipal", "ServicePrincipal"))
DIRECTORY_OBJECTS = EntitySet("directoryObjects", None, "directoryObject", "DirectoryObject", ["id"])


def resolve(call, kind, include_invisible=False):
    """The object a route addresses by id or alternate key; 404 as Graph answers when absent or not yet replicated."""
    key, value = key_of(call.params)
    if key == "id":
        doc = call.store.get(call.tid, kind, value.lower() if is_guid(value) else value, include_invisible)
    else:
        doc = call.store.find_one(call.tid, kind, include_invisible, **{key: value})
    if doc is None:
        raise not_found(value)
    return doc


def fetch(call, kind, operation):
    """The addressed object, once the caller may do `operation` on it (its owners count, see permissions.py)."""
    call.caller.require_some(operation)
    doc = resolve(call, kind)
    call.caller.require(operation, owner_ids(doc))
    return doc


def by_id(call, kind, key=None):
    """GET-by-id lookup for objects without alternate keys (GUIDs match in any case, as in Graph)."""
    key = key or call.params["id"]
    doc = call.store.get(call.tid, kind, key.lower() if is_guid(key) else key)
    if doc is None:
        raise not_found(key)
    return doc


def list_visible(call, entity_set, operation):
    """A list (or /$count) of applications or service principals; *.OwnedBy callers see only what they own."""
    call.caller.require_some(operation)
    allowed = call.caller.allowed(operation)
    docs = call.store.list(call.tid, entity_set.kind)
    if allowed == "owned":
        docs = [doc for doc in docs if call.caller.principal_id in owner_ids(doc)]
    if call.req.path.endswith("/$count"):
        return call.count(entity_set, docs)
    return call.collection(entity_set, docs)


def upsert(call, kind, key_name, type_name, create, update):
    """PATCH of one object by id or alternate key. With `Prefer: create-if-missing` on the `key_name` alternate
    key it is an upsert (FACTS.md section 3): 201 + body when created, 204 when updated. The upsert also sees
    objects still replicating, so a retried call never makes a second one. `create(call, body)` returns the new
    document; `update(call, doc)` authorizes, reads the body and stores the change."""
    wanted = call.prefers("create-if-missing") and call.params.get("key") == key_name
    try:
        doc = resolve(call, kind, include_invisible=wanted)
    except GraphError:
        if not wanted:
            raise
        body = call.body(type_name)
        value = key_of(call.params)[1]
        if body.get(key_name, value) != value:
            raise bad_request("The %s in the request body does not match the %s in the request URL." % (key_name, key_name))
        return call.entity(201, type_name, create(call, dict(body, **{key_name: value})), kind_set(kind))
    update(call, doc)
    return call.answer(204)


def kind_set(kind):
    """The entity set (and @odata.context path) of a stored kind."""
    return {d.APPLICATION: "applications", d.SERVICE_PRINCIPAL: "servicePrincipals"}[kind]


def apply_patch(doc, body):
    """Graph's PATCH semantics (directory.merge_patch), except that keyCredentials go through the certificate
    rules of credentials.py."""
    body = dict(body)
    if "keyCredentials" in body:
        credentials.replace_key_credentials(doc, body.pop("keyCredentials") or [])
    return d.merge_patch(doc, body)


def create(call, kind, doc):
    call.store.put(call.tid, kind, doc, visible_at=call.visible_at())
    return doc


def principal(call, object_id, include_invisible=False):
    """(document, type name, principalType) of a user or service principal, or (None, None, None)."""
    for kind, type_name, principal_type in PRINCIPAL_KINDS:
        doc = call.store.get(call.tid, kind, object_id, include_invisible)
        if doc is not None:
            return doc, type_name, principal_type
    return None, None, None


def typed(call, doc, type_name, select=None):
    """A directory object in a mixed collection (owners, directoryObjects) carries its @odata.type."""
    return dict({"@odata.type": "#microsoft.graph.%s" % type_name}, **call.shape(type_name, doc, select, single=False))


def owner_ids(doc):
    return list(doc.get("_owners", []))


def initial_owners(call):
    """Entra makes the creating user, or the creating service principal (app-only), an owner."""
    return [call.caller.principal_id] if call.caller.principal_id else []


def base64url_id(*guids):
    """Ids of grants and app role assignments are not GUIDs in Graph but base64url of the GUIDs they link."""
    raw = b"".join(uuid.UUID(g).bytes_le for g in guids)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# --- owners (applications and service principals) ----------------------------------------------
def owners_of(call, parent):
    """[(document, type name)] of the owners that exist: what /owners lists and $expand=owners embeds."""
    found = []
    for owner_id in owner_ids(parent):
        doc, type_name = principal(call, owner_id)[:2]
        if doc is not None:
            found.append((doc, type_name))
    return found


def list_owners(call, parent):
    """A directoryObject collection: $select may name properties of users and service principals alike, each
    owner answering with those its own type has (Call.shape), next to its @odata.type."""
    docs = [dict(doc, _type=type_name) for doc, type_name in owners_of(call, parent)]
    return call.collection(DIRECTORY_OBJECTS, docs, "directoryObjects", lambda doc, select: typed(call, doc, doc["_type"], select))


# $expand=owners on applications and service principals (Call.expanded): items declared as directoryObject.
OWNERS_EXPANSION = ("directoryObject", owners_of)


def add_owner(call, kind, parent):
    body = call.body()
    ref = body.get("@odata.id")
    if not isinstance(ref, str) or not ref:
        raise bad_request("Invalid request body: '@odata.id' is required.")
    # ".../directoryObjects/{id}" or ".../directoryObjects('{id}')"
    owner_id = re.split(r"[/(']+", ref.rstrip("/')"))[-1].lower()
    owner = principal(call, owner_id)[0]
    if owner is None:
        raise not_found(owner_id)
    if owner_id in owner_ids(parent):
        raise bad_request("One or more added object references already exist for the following modified properties: 'owners'.")
    parent["_owners"] = owner_ids(parent) + [owner_id]
    call.store.put(call.tid, kind, parent)
    return call.answer(204)


def remove_owner(call, kind, parent):
    owner_id = call.params["sub"].lower()
    if owner_id not in owner_ids(parent):
        raise GraphError(404, "Request_ResourceNotFound",
                         "One or more removed object references do not exist for the following modified properties: 'owners'.")
    parent["_owners"] = [o for o in owner_ids(parent) if o != owner_id]
    call.store.put(call.tid, kind, parent)
    return call.answer(204)


def collection_routes(name, item, list_, create, get, update, delete, count=True):
    """Routes of a top-level entity set: list (and /$count), create, and read, update, delete of one item;
    `item` is the regex addressing one member (see odata.key_pattern)."""
    base, label = r"^/v1\.0/" + re.escape(name), "/v1.0/" + name
    routes = [("GET", base + r"/\$count$", list_, label + "/$count")] if count else []
    return routes + [("GET", base + "$", list_, label), ("POST", base + "$", create, label),
                     ("GET", item + "$", get, label + "/{id}"), ("PATCH", item + "$", update, label + "/{id}"),
                     ("DELETE", item + "$", delete, label + "/{id}")]


def owner_routes(pattern, label, kind, read_operation, write_operation):
    """Routes of the owners of an application or service principal: list, add ($ref), remove ($ref)."""
    def list_(call):
        return list_owners(call, fetch(call, kind, read_operation))

    def add(call):
        return add_owner(call, kind, fetch(call, kind, write_operation))

    def remove(call):
        return remove_owner(call, kind, fetch(call, kind, write_operation))

    return [("GET", pattern + r"/owners$", list_, label + "/owners"),
            ("POST", pattern + r"/owners/\$ref$", add, label + "/owners/$ref"),
            ("DELETE", pattern + r"/owners/(?P<sub>[^/]+)/\$ref$", remove, label + "/owners/{ownerId}/$ref")]


# --- deletion ----------------------------------------------------------------------------------
def delete_service_principal(call, sp):
    """Entra removes what hangs on a deleted service principal: its grants, app role assignments (both
    directions) and directory role assignments."""
    store, tid = call.store, call.tid
    for grant in store.list(tid, d.GRANT, include_invisible=True):
        if sp["id"] in (grant["clientId"], grant["resourceId"]):
            store.delete(tid, d.GRANT, grant["id"])
    for assignment in store.list(tid, d.APP_ROLE_ASSIGNMENT, include_invisible=True):
        if sp["id"] in (assignment["principalId"], assignment["resourceId"]):
            store.delete(tid, d.APP_ROLE_ASSIGNMENT, assignment["id"])
    for assignment in store.find(tid, d.ROLE_ASSIGNMENT, include_invisible=True, principalId=sp["id"]):
        store.delete(tid, d.ROLE_ASSIGNMENT, assignment["id"])
    store.delete(tid, d.SERVICE_PRINCIPAL, sp["id"])


def delete_application(call, app):
    """Deleting an application also deletes its service principal and federated credentials, as Entra does."""
    store, tid = call.store, call.tid
    for sp in store.find(tid, d.SERVICE_PRINCIPAL, include_invisible=True, appId=app["appId"]):
        delete_service_principal(call, sp)
    for fic in store.find(tid, d.FEDERATED_CREDENTIAL, include_invisible=True, _applicationId=app["id"]):
        store.delete(tid, d.FEDERATED_CREDENTIAL, fic["id"])
    store.delete(tid, d.APPLICATION, app["id"])


def unique(call, kind, name, value, exclude_id=None):
    """Graph refuses a second object with the same value of a unique property, even one not yet replicated."""
    for doc in call.store.list(call.tid, kind, include_invisible=True):
        if doc["id"] == exclude_id:
            continue
        current = doc.get(name)
        values = current if isinstance(current, list) else [current]
        wanted = value if isinstance(value, list) else [value]
        if any(v is not None and str(v).lower() in [str(x).lower() for x in values if x is not None] for v in wanted):
            raise GraphError(400, "Request_BadRequest", "Another object with the same value for property %s already exists." % name)
