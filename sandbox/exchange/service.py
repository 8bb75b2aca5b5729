"""Exchange Online's admin endpoint, as the ExchangeOnlineManagement module v3 calls it:

    POST /adminapi/beta/{tenant}/InvokeCommand
    {"CmdletInput": {"CmdletName": "Get-Mailbox", "Parameters": {...}}}

Every request is authenticated (a token for Exchange Online, else 401), authorized as Exchange does it
(app-only: the Exchange.ManageAsApp role AND the Exchange Administrator or Global Administrator
directory role; delegated: the signed-in user holds one of those roles), limited to a few concurrent
requests per tenant, and answered in Exchange's shapes: `{"@odata.context", "value", "@odata.nextLink"?,
"@adminapi.warnings"}`, paged by `Prefer: odata.maxpagesize=N` (the nextLink is POSTed again with the same
body), errors as in errors.py. The cmdlets live in recipients.py, principals.py, rbac.py and
organization.py; the state they keep, in state.py."""
import base64
import collections
import contextlib
import hashlib
import json
import threading
import time

from .. import directory as d
from ..tokens import TokenError, unverified_audience
from ..web import Response, Service, json_response
from . import errors
from . import ews, organization, principals, rbac, recipients
from .cmdlet import CMDLETS, Invocation

# Importing these modules registers their cmdlets in CMDLETS.
CMDLET_MODULES = (organization, principals, rbac, recipients)

JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8"
ROUTE = "/adminapi/beta/{tenant}/InvokeCommand"
AUDIENCES = ("https://outlook.office365.com", "https://outlook.office.com", "https://ps.outlook.com", d.EXCHANGE_APP_ID)
MANAGE_AS_APP = "Exchange.ManageAsApp"
# Delegated scopes of the clients that administer Exchange (the ExchangeOnlineManagement module's own app).
ADMIN_SCOPES = ("AdminApi.AccessAsUser.All", "Exchange.Manage")
ADMIN_ROLES = ("Global Administrator", "Exchange Administrator")
READER_ROLES = ("Global Reader",)
DEFAULT_PAGE_SIZE = 1000
TRUNCATED = ("By default, only the first %d items are returned. Use the ResultSize parameter to specify the number of items "
             "returned. To return all items, specify \"-ResultSize Unlimited\". Be aware that, depending upon the actual number "
             "of items, returning all items can take a long time and consume a large amount of memory. Also, we don't recommend "
             "storing the results in a variable. Instead, pipe the results to another task or script to perform batch changes.")
# Per tenant, how many InvokeCommand requests may run at once, and how long each cmdlet takes (so that
# tests can make requests overlap). Changed through the control API: /_sandbox/exchange/limits.
LIMIT_DEFAULTS = {"concurrency": 3, "cmdlet_ms": 0}


class _WhatIf(Exception):
    """Rolls back what a cmdlet run with -WhatIf changed."""


class ExchangeService(Service):
    name = "exchange"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.router.add("POST", ROUTE, self.invoke)
        control = getattr(ctx, "control", None)
        self.ews = ews.Ews(ctx, control)  # Exchange Web Services, on the same host (ews.py)
        self.router.add("POST", ews.ROUTE, self.ews.handle, name=ews.ROUTE)
        self.limits = dict(LIMIT_DEFAULTS)
        self.running = collections.Counter()
        self.lock = threading.Lock()
        if control is not None:
            for method in ("GET", "PUT", "DELETE"):
                control.router.add(method, "/_sandbox/exchange/limits", self.control_limits)

    # --- answers in Exchange's shapes ----------------------------------------------------------------
    def error(self, req, err, warnings=()):
        headers = dict(err.headers)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        return Response(err.status, json.dumps(err.body(warnings)).encode("utf-8"), headers, JSON_TYPE)

    def not_found(self, req):
        return json_response(404, {"error": {"code": "NotFound", "message": "The resource you are looking for has been removed, "
                                             "had its name changed, or is temporarily unavailable."}})

    def method_not_allowed(self, req, allowed):
        return json_response(405, {"error": {"code": "MethodNotAllowed",
                                             "message": "The requested resource does not support http method '%s'." % req.method}},
                             {"Allow": ", ".join(sorted(allowed))})

    def internal_error(self, req, exc):
        return self.error(req, errors.ExchangeError(500, "InternalServerError", errors.ODATA_EXCEPTION,
                                                    "%s: %s" % (type(exc).__name__, exc), task=False))

    def throttled(self, req, retry_after):
        if ews.is_ews(req):
            return ews.server_busy(retry_after)
        return self.error(req, errors.throttled(retry_after, self.limits["concurrency"]))

    def unavailable(self, req, retry_after):
        if ews.is_ews(req):
            return ews.server_busy(retry_after)
        return self.error(req, errors.unavailable(retry_after))

    # --- control API ---------------------------------------------------------------------------------
    def control_limits(self, req):
        if req.method == "DELETE":
            self.limits = dict(LIMIT_DEFAULTS)
        elif req.method == "PUT":
            try:
                changes = req.json()
            except ValueError:
                changes = None
            if (not isinstance(changes, dict) or set(changes) - set(LIMIT_DEFAULTS)
                    or not all(isinstance(v, int) and v >= 0 for v in changes.values())):
                return json_response(400, {"error": {"code": "BadRequest", "message": "known limits (non-negative integers): %s"
                                                     % ", ".join(sorted(LIMIT_DEFAULTS))}})
            self.limits.update(changes)
        return json_response(200, dict(self.limits))

    # --- the endpoint ----------------------------------------------------------------------------------
    def invoke(self, req):
        try:
            claims = self._authenticate(req)
            name, given = self._cmdlet_input(req)
            req.log_fields["cmdlet"] = name  # the request log tells reads from writes by it
            spec = CMDLETS.get(name.lower())
            caller_roles = self._authorize(claims, spec, name)
            if spec is None or (caller_roles == "reader" and not spec.reads):
                raise errors.unknown_cmdlet(name)
            params = spec.bind(given)
            inv = Invocation(self.ctx, claims["tid"], spec, params)
            offset = self._offset(req)
            with self._slot(claims["tid"]):
                items = self._run(spec, inv)
        except errors.ExchangeError as err:
            return self.error(req, err)
        return self._page(req, spec, inv, items, offset)

    def _authenticate(self, req):
        token = req.bearer()
        if not token:
            raise errors.unauthorized(2000001, "The request has no bearer token.")
        try:
            claims = self.ctx.tokens.validate(token, AUDIENCES)
        except TokenError as exc:
            if exc.reason == "audience":
                raise errors.unauthorized(2000003, "The audience claim value is invalid for current resource. Audience claim is '%s', "
                                                   "request url is '%s%s'." % (unverified_audience(token), req.base_url, req.path),
                                          "invalid_resource")
            if exc.reason == "expired":
                raise errors.unauthorized(2000008, "The token has expired.")
            raise errors.unauthorized(2000001, "The token is invalid: %s" % exc)
        req.tenant = claims["tid"]
        tenant = self.ctx.directory.resolve_tenant(req.params["tenant"])
        if tenant is None or tenant["id"] != claims["tid"]:
            raise errors.unauthorized(2000001, "The tenant '%s' of the request URL isn't the tenant the token was issued for."
                                      % req.params["tenant"])
        return claims

    def _authorize(self, claims, spec, name):
        """'admin' or 'reader'; 403 as Exchange answers an app without Exchange.ManageAsApp or a supported
        directory role, or a user token not made for administration (e.g. one for SMTP.Send). A signed-in
        user without a supported role finds no cmdlets at all, as in Exchange."""
        tid, principal = claims["tid"], claims.get("oid")
        roles = set(self.ctx.directory.directory_roles_of(tid, principal))
        app_only = claims.get("idtyp") == "app"
        if app_only and MANAGE_AS_APP not in claims.get("roles", []):
            raise errors.forbidden("The application '%s' isn't authorized to manage Exchange Online: its token carries no %s "
                                   "role." % (claims.get("appid"), MANAGE_AS_APP))
        scopes = (claims.get("scp") or "").split()
        if not app_only and not set(scopes) & set(ADMIN_SCOPES):
            raise errors.forbidden("The token's scopes (%s) don't allow Exchange Online administration; it needs %s."
                                   % (" ".join(scopes) or "none", " or ".join(ADMIN_SCOPES)))
        if roles & set(ADMIN_ROLES):
            return "admin"
        if roles & set(READER_ROLES):
            return "reader"
        if app_only:
            raise errors.forbidden("The role assigned to application %s isn't supported in this scenario. Please check online "
                                   "documentation for assigning correct Directory Roles to Azure AD Application for EXO App-Only "
                                   "Authentication." % claims.get("appid"))
        raise errors.unknown_cmdlet(name)

    @staticmethod
    def _cmdlet_input(req):
        try:
            body = req.json()
        except (ValueError, UnicodeDecodeError):
            raise errors.bad_request("The request body isn't valid JSON.")
        cmdlet_input = body.get("CmdletInput") if isinstance(body, dict) else None
        if not isinstance(cmdlet_input, dict) or not isinstance(cmdlet_input.get("CmdletName"), str):
            raise errors.bad_request("The request body must be {\"CmdletInput\": {\"CmdletName\": ..., \"Parameters\": {...}}}.")
        return cmdlet_input["CmdletName"].strip(), cmdlet_input.get("Parameters") or {}

    @contextlib.contextmanager
    def _slot(self, tid):
        """One of the tenant's concurrent requests, or 429 when they are all taken."""
        with self.lock:
            if self.running[tid] >= self.limits["concurrency"]:
                raise errors.throttled(int(self.ctx.realism.snapshot()["retry_after"]), self.limits["concurrency"])
            self.running[tid] += 1
        try:
            if self.limits["cmdlet_ms"]:
                time.sleep(self.limits["cmdlet_ms"] / 1000.0)
            yield
        finally:
            with self.lock:
                self.running[tid] -= 1

    def _run(self, spec, inv):
        """The cmdlet in one transaction: concurrent requests don't lose each other's changes, a failed one
        leaves nothing half done, and -WhatIf changes nothing."""
        try:
            with self.ctx.store.transaction():
                items = spec.func(inv)
                if inv.params.get("WhatIf"):
                    raise _WhatIf()
        except _WhatIf:
            items = []
        return items

    # --- paging -------------------------------------------------------------------------------------------
    @staticmethod
    def _fingerprint(req):
        return hashlib.sha256(json.dumps(req.json(), sort_keys=True).encode()).hexdigest()[:16]

    def _offset(self, req):
        token = req.query.get("$skiptoken")
        if token is None:
            return 0
        try:
            state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            offset, fingerprint = int(state["o"]), state["h"]
        except (ValueError, KeyError, TypeError):
            raise errors.bad_request("The skip token '%s' isn't valid." % token)
        if fingerprint != self._fingerprint(req):
            raise errors.bad_request("The skip token doesn't belong to this request: send the same body as the first page's.")
        return offset

    @staticmethod
    def _page_size(req):
        for preference in (req.header("Prefer") or "").split(","):
            key, sep, value = preference.strip().partition("=")
            if key.strip().lower() == "odata.maxpagesize" and value.strip().isdigit() and int(value) > 0:
                return int(value), True
        return DEFAULT_PAGE_SIZE, False

    def _page(self, req, spec, inv, items, offset):
        warnings = list(inv.warnings)
        if spec.takes_result_size:
            limit = inv.params.get("ResultSize", spec.default_result_size)
            if limit is not None and len(items) > limit:
                items = items[:limit]
                if "ResultSize" not in inv.params:
                    warnings.append(TRUNCATED % limit)
        headers = {"OData-Version": "4.0"}
        size, preferred = self._page_size(req)
        if preferred:
            headers["Preference-Applied"] = "odata.maxpagesize=%d" % size
        next_link = None
        if spec.reads:
            page = items[offset:offset + size]
            if offset + size < len(items):
                token = base64.urlsafe_b64encode(json.dumps({"o": offset + size, "h": self._fingerprint(req)}).encode())
                next_link = "%s/adminapi/beta/%s/InvokeCommand?%%24skiptoken=%s" % (req.base_url, req.params["tenant"],
                                                                                    token.decode().rstrip("="))
            if offset:
                warnings = []  # warnings come with the first page only
            items = page
        body = {"@odata.context": "%s/adminapi/beta/%s/$metadata#Collection(Exchange.GenericHashTable)"
                                  % (req.base_url, req.params["tenant"])}
        if next_link:
            body["@odata.nextLink"] = next_link
        body["adminapi.warnings@odata.type"] = "#Collection(String)"
        body["@adminapi.warnings"] = warnings
        body["value"] = items
        return Response(200, json.dumps(body).encode("utf-8"), headers, JSON_TYPE)
