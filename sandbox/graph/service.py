"""Microsoft Graph v1.0 of the sandbox (graph.microsoft.com).

Every request is authenticated like Graph does it (a bearer token for Graph, else 401
InvalidAuthenticationToken), runs in the token's tenant, is authorized against the table in
permissions.py, and answers in Graph's JSON shapes: `@odata.context` built from the address the
client used, Graph's error bodies, server-driven paging, $select and $expand. Resources live in apps.py,
principals.py, grants.py and tenant.py of this package, each with its ROUTES and, where Graph expands a
navigation property, EXPANSIONS; who may call what is the table in permissions.py."""
import datetime
import json
import time

from .. import directory as d
from ..tokens import TokenError
from ..web import Response, Service
from . import apps, grants, mail, objects, principals, tenant
from .errors import GraphError, bad_request
from .odata import MAX_EXPANDED_ITEMS, Query, parse_expand, parse_select, select_clause
from .permissions import Caller
from .schema import Schema

JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
GRAPH_AUDIENCES = tuple(d.RESOURCES["graph"]["servicePrincipalNames"])
TOKEN_MESSAGES = {
    "malformed": "IDX14100: JWT is not well formed, there are no dots (.).",
    "signature": "Access token validation failure.",
    "expired": "Lifetime validation failed, the token is expired.",
    "not_yet_valid": "Lifetime validation failed, the token is not yet valid.",
    "audience": "Access token validation failure. Invalid audience.",
}
WWW_AUTHENTICATE = ('Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
                    'client_id="%s"' % d.GRAPH_APP_ID)
RESOURCE_MODULES = (apps, principals, grants, tenant, mail)  # mail.py: sendMail, delivered by sandbox/smtp
# Properties Graph returns when no $select is given, where that is not all of them.
DEFAULT_PROPERTIES = {"user": ("businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone", "officeLocation",
                               "preferredLanguage", "surname", "userPrincipalName", "id")}
# Values Graph returns for properties the sandbox's documents do not keep.
TYPE_DEFAULTS = {"unifiedRoleDefinition": {"resourceScopes": ["/"], "rolePermissions": [], "version": None}}


def _date():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


class Call:
    """One authenticated Graph request: the tenant it acts in, who calls, and answer helpers."""

    def __init__(self, service, req, claims):
        self.service = service
        self.req = req
        self.ctx = service.ctx
        self.store = service.ctx.store
        self.directory = service.ctx.directory
        self.schema = service.schema
        self.tid = claims["tid"]
        self.tenant = self.directory.resolve_tenant(self.tid)
        if self.tenant is None:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid tenant.",
                             {"WWW-Authenticate": WWW_AUTHENTICATE})
        roles = () if claims.get("idtyp") == "app" else self.directory.directory_roles_of(self.tid, claims.get("oid"))
        self.caller = Caller(claims, roles)
        self.params = req.params

    # --- reading the request -------------------------------------------------------------------
    def body(self, type_name=None):
        """The JSON body, checked against the entity type's declared properties when one is named."""
        try:
            body = self.req.json()
        except (ValueError, UnicodeDecodeError):
            raise GraphError(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set "
                                                "and payload is of valid JSON format.")
        if type_name:
            self.schema.check_body(type_name, body)
        elif not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object.")
        return body

    def prefers(self, preference):
        return preference in [p.strip().lower() for p in (self.req.header("Prefer") or "").split(",")]

    def visible_at(self):
        """When a new object becomes visible: now, or later while realism simulates replication delay."""
        delay = self.ctx.realism.replication_delay()
        return time.time() + delay if delay > 0 else None

    # --- answering ----------------------------------------------------------------------------
    def context_url(self, fragment):
        return "%s/v1.0/$metadata#%s" % (self.req.base_url, fragment)

    def shape(self, type_name, doc, select=None, single=True):
        """The public JSON of a stored document: no sandbox-private keys, Graph's defaults, $select applied.
        A selected name the type does not have (a user's property on a service principal among owners) is left out."""
        out = dict(TYPE_DEFAULTS.get(type_name, {}))
        out.update((k, v) for k, v in doc.items() if not k.startswith("_"))
        props = self.schema.properties(type_name)
        if "keyCredentials" in out:
            # Graph returns a certificate's `key` only when a single object is read with $select=keyCredentials.
            with_key = single and select is not None and "keyCredentials" in select
            out["keyCredentials"] = [dict(k, key=k.get("key") if with_key else None) for k in out["keyCredentials"]]
        if select is None and type_name in DEFAULT_PROPERTIES:
            select = DEFAULT_PROPERTIES[type_name]
        if select is None:
            return {k: v for k, v in out.items() if k in props}
        return {name: out.get(name, [] if props[name]["type"].startswith("Collection(") else None) for name in select
                if name in props}

    def answer(self, status, body=None, headers=None):
        headers = dict(headers or {})
        headers.setdefault("OData-Version", "4.0")
        if body is None:
            return Response(status, b"", headers)
        return Response(status, json.dumps(body).encode("utf-8"), headers, JSON_TYPE)

    def entity(self, status, type_name, doc, context, select=None, headers=None):
        """One entity; `context` is the entity-set path, e.g. "applications"."""
        body = self.shape(type_name, doc, select)
        suffix = "(%s)" % ",".join(select) if select else ""
        return self.answer(status, dict({"@odata.context": self.context_url(context + suffix + "/$entity")}, **body), headers)

    def read(self, type_name, doc, context):
        """GET of one entity, honouring $select and $expand."""
        select = parse_select(self.req.query.get("$select"), type_name, self.schema.selectable(type_name))
        expand = parse_expand(self.req.query.get("$expand"), type_name, self.schema, self.expandable(type_name))
        body = dict(self.shape(type_name, doc, select), **self.expanded(type_name, doc, expand))
        context_url = self.context_url(context + select_clause(select, expand) + "/$entity")
        return self.answer(200, dict({"@odata.context": context_url}, **body))

    def collection(self, entity_set, docs, context=None, shaper=None):
        """A page of a collection with $filter/$select/$expand/$top/$orderby/$count/$skiptoken applied."""
        query = Query(self.req, entity_set, self.schema, self.expandable(entity_set.type_name))
        page, total, next_link = query.apply(docs)
        body = {"@odata.context": self.context_url((context or entity_set.name) + select_clause(query.select, query.expand))}
        if query.count:
            body["@odata.count"] = total
        if next_link:
            body["@odata.nextLink"] = next_link
        shaper = shaper or (lambda doc, select: self.shape(entity_set.type_name, doc, select, single=False))
        body["value"] = [dict(shaper(doc, query.select), **self.expanded(entity_set.type_name, doc, query.expand))
                         for doc in page]
        return self.answer(200, body)

    # --- $expand ---------------------------------------------------------------------------------
    def expandable(self, type_name):
        """{navigation property: declared item type} the sandbox expands on this type (the modules' EXPANSIONS)."""
        return {name: target for name, (target, related) in self.service.expansions.get(type_name, {}).items()}

    def expanded(self, type_name, doc, expand):
        """{navigation property: [items]} for the parsed $expand: at most 20 items each, as Graph gives for directory
        objects, with @odata.type on items of a derived type (the owners, declared as directoryObject)."""
        out = {}
        for item in expand:
            related = self.service.expansions[type_name][item.name][1]
            out[item.name] = [self.shape(actual, other, item.select, single=False) if actual == item.target
                              else objects.typed(self, other, actual, item.select)
                              for other, actual in related(self, doc)[:MAX_EXPANDED_ITEMS]]
        return out

    def count(self, entity_set, docs):
        """GET /{set}/$count: a plain-text number, only with ConsistencyLevel: eventual as in Graph."""
        if (self.req.header("ConsistencyLevel") or "").lower() != "eventual":
            raise bad_request("$count is not currently supported.")
        query = Query(self.req, entity_set, self.schema, self.expandable(entity_set.type_name))
        total = query.apply(docs)[1]
        return Response(200, str(total), {"OData-Version": "4.0"}, "text/plain;charset=utf-8")


class GraphService(Service):
    name = "graph"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.schema = Schema()
        # {entity type: {navigation property: (declared item type, related(call, doc) -> [(document, actual type)])}}
        self.expansions = {}
        for module in RESOURCE_MODULES:
            for method, pattern, handler, name in module.ROUTES:
                self.router.add(method, pattern, self._authenticated(handler), name)
            for (type_name, navigation), expansion in getattr(module, "EXPANSIONS", {}).items():
                self.expansions.setdefault(type_name, {})[navigation] = expansion

    # --- errors in Graph's shape ---------------------------------------------------------------
    def error(self, req, status, code, message, headers=None, inner=None):
        inner_error = {"date": _date(), "request-id": req.request_id, "client-request-id": req.client_request_id}
        inner_error.update(inner or {})
        body = {"error": {"code": code, "message": message, "innerError": inner_error}}
        return Response(status, json.dumps(body).encode("utf-8"), headers, "application/json")

    def not_found(self, req):
        version, sep, rest = req.path.lstrip("/").partition("/")
        if version not in ("v1.0", "beta"):
            return self.error(req, 400, "BadRequest", "Invalid version: %s" % version)
        segment = rest.split("/")[0].split("(")[0] or version
        return self.error(req, 400, "BadRequest", "Resource not found for the segment '%s'." % segment)

    def method_not_allowed(self, req, allowed):
        return self.error(req, 405, "Request_BadRequest", "Specified HTTP method is not allowed for the request uri.")

    def internal_error(self, req, exc):
        return self.error(req, 500, "InternalServerError", "%s: %s" % (type(exc).__name__, exc))

    def throttled(self, req, retry_after):
        # The body of Microsoft's throttling guidance: details sit in innerError, with the status as text.
        return self.error(req, 429, "TooManyRequests", "Please retry again later.", {"Retry-After": str(retry_after)},
                          {"code": "429", "message": "Please retry after", "status": "429"})

    def unavailable(self, req, retry_after):
        return self.error(req, 503, "serviceNotAvailable", "The service is temporarily unavailable. Retry the request after a delay.",
                          {"Retry-After": str(retry_after)}, {"code": "503", "status": "503"})

    # --- authentication ------------------------------------------------------------------------
    def _claims(self, req):
        token = req.bearer()
        if not token:
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.", {"WWW-Authenticate": WWW_AUTHENTICATE})
        try:
            claims = self.ctx.tokens.validate(token, GRAPH_AUDIENCES)
        except TokenError as exc:
            message = TOKEN_MESSAGES.get(exc.reason, "Access token validation failure.")
            if exc.reason == "malformed" and token.count(".") >= 2:
                message = "Access token validation failure."
            raise GraphError(401, "InvalidAuthenticationToken", message, {"WWW-Authenticate": WWW_AUTHENTICATE})
        req.tenant = claims.get("tid")
        return claims

    def _authenticated(self, handler):
        def run(req):
            call = Call(self, req, self._claims(req))
            if req.method == "GET":
                return handler(call)
            # A write reads, checks and changes several documents: one transaction keeps concurrent writes from
            # losing each other's changes, and a refused request from leaving half of its changes behind.
            with self.ctx.store.transaction():
                return handler(call)
        return run

    def dispatch(self, req):
        try:
            return super().dispatch(req)
        except GraphError as err:
            return self.error(req, err.status, err.code, err.message, err.headers)
