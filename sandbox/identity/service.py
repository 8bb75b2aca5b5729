"""Microsoft identity platform (login.microsoftonline.com) of the sandbox.

Every URL it returns is built from the host and port the client called. The `{tenant}` path
segment is a tenant id, any verified domain, or `common` / `organizations`.

    GET  /{tenant}/v2.0/.well-known/openid-configuration, /{tenant}/.well-known/openid-configuration
    GET  /{tenant}/discovery/v2.0/keys, /{tenant}/discovery/keys (also /common/discovery/keys)
    GET  /common/userrealm/{user}?api-version=1.0|2.0
    POST /{tenant}/oauth2/v2.0/token        client_credentials (secret, certificate, federated assertion),
                                            password, device_code, refresh_token, authorization_code (PKCE)
    POST /{tenant}/oauth2/v2.0/devicecode
    GET|POST /{tenant}/oauth2/v2.0/authorize   sign-in form; `login_hint` + `password` sign in at once
    GET|POST /devicelogin                       the device code verification page
    GET  /error?code=N                          what error_uri points to

Control API (tests, demo): POST /_sandbox/devicecode/approve|decline {"user_code", "user_principal_name"},
POST /_sandbox/devicecode/auto-approve {"user_principal_name" | null}, GET|PUT /_sandbox/devicecode/settings
{"interval", "expires_in"}, POST /_sandbox/federated-token {"subject", "audience"?, "issuer"?, "lifetime"?},
POST /_sandbox/refresh-tokens/expire {"refresh_token" | "user_principal_name"}."""
import html
import time

from .. import tokens as tokens_mod
from ..web import Response, Service, json_response
from .authorize import AuthorizationCodes
from .devicecode import DeviceCodeError, DeviceCodes
from .discovery import jwks, openid_configuration, resolve_path_tenant, user_realm
from .errors import CATALOG, AadError, error_response, html_error, no_store_headers
from .grants import REFRESH_KIND, TokenEndpoint
from .pages import html_page

V2 = "/{tenant}/oauth2/v2.0/"


def _control_error(status, code, message):
    return json_response(status, {"error": {"code": code, "message": message}})


class IdentityService(Service):
    name = "identity"

    def __init__(self, ctx):
        super().__init__(ctx)
        self.devices = DeviceCodes(ctx)
        self.codes = AuthorizationCodes(ctx)
        self.token_endpoint = TokenEndpoint(ctx, self.devices, self.codes)
        r = self.router
        r.add("GET", "/{tenant}/v2.0/.well-known/openid-configuration", self.discovery_v2)
        r.add("GET", "/{tenant}/.well-known/openid-configuration", self.discovery_v1)
        r.add("GET", "/{tenant}/discovery/v2.0/keys", self.keys_v2)
        r.add("GET", "/{tenant}/discovery/keys", self.keys_v1)
        r.add("GET", "/common/userrealm/{username}", self.userrealm)
        r.add("POST", V2 + "token", self.token)
        r.add("GET", V2 + "token", self.token_get)
        r.add("POST", V2 + "devicecode", self.devicecode)
        r.add("GET", V2 + "authorize", self.authorize)
        r.add("POST", V2 + "authorize", self.authorize)
        r.add("GET", V2 + "logout", self.logout)
        r.add("GET", "/devicelogin", self.devicelogin)
        r.add("POST", "/devicelogin", self.devicelogin)
        r.add("GET", "/error", self.error_page)
        control = ctx.control.router
        control.add("POST", "/_sandbox/devicecode/approve", self.control_approve)
        control.add("POST", "/_sandbox/devicecode/decline", self.control_decline)
        control.add("POST", "/_sandbox/devicecode/auto-approve", self.control_auto_approve)
        control.add("GET", "/_sandbox/devicecode/settings", self.control_device_settings)
        control.add("PUT", "/_sandbox/devicecode/settings", self.control_device_settings)
        control.add("POST", "/_sandbox/federated-token", self.control_federated_token)
        control.add("POST", "/_sandbox/refresh-tokens/expire", self.control_expire_refresh_tokens)

    def _where(self, req):
        where = resolve_path_tenant(self.ctx, req.params["tenant"])
        if where.tenant:
            req.tenant = where.tenant["id"]
        return where

    def _json(self, req, produce):
        """Run `produce(where)`; AADSTS failures become Entra's JSON error answer."""
        try:
            return json_response(200, produce(self._where(req)), no_store_headers(req))
        except AadError as exc:
            return error_response(req, exc)

    # --- discovery -----------------------------------------------------------------------------
    def discovery_v2(self, req):
        return self._json(req, lambda where: openid_configuration(self.ctx, req.base_url, where, "2.0"))

    def discovery_v1(self, req):
        return self._json(req, lambda where: openid_configuration(self.ctx, req.base_url, where, "1.0"))

    def keys_v2(self, req):
        return self._json(req, lambda where: jwks(self.ctx, req.base_url, where, "2.0"))

    def keys_v1(self, req):
        return self._json(req, lambda where: jwks(self.ctx, req.base_url, where, "1.0"))

    def userrealm(self, req):
        return json_response(200, user_realm(self.ctx, req.params["username"], req.query.get("api-version", "1.0")))

    # --- tokens --------------------------------------------------------------------------------
    def token(self, req):
        return self._json(req, lambda where: self.token_endpoint.token(req, where))

    def token_get(self, req):
        return error_response(req, AadError(900561))

    def devicecode(self, req):
        return self._json(req, lambda where: self.devices.initiate(req, where))

    # --- browser endpoints ---------------------------------------------------------------------
    def authorize(self, req):
        try:
            where = self._where(req)
        except AadError as exc:
            return html_error(req, exc)
        return self.codes.authorize(req, where)

    def logout(self, req):
        target = req.query.get("post_logout_redirect_uri")
        if target:
            return Response(302, b"", {"Location": target})
        return html_page("You signed out of your account", "<p>It's a good idea to close all browser windows.</p>")

    def devicelogin(self, req):
        return self.devices.login_page(req)

    def error_page(self, req):
        try:
            code = int(req.query.get("code", ""))
            error, status, template = CATALOG[code]
        except (ValueError, KeyError):
            return html_page("Error code lookup", "<p>Unknown error code.</p>", 404)
        return html_page("AADSTS%d" % code, "<p><code>%s</code></p><p>%s</p>" % (html.escape(error), html.escape(template)))

    # --- control API ---------------------------------------------------------------------------
    def _device_control(self, action):
        try:
            return json_response(200, action())
        except DeviceCodeError as exc:
            return _control_error(exc.status, exc.code, str(exc))

    def control_approve(self, req):
        """{"user_code", "user_principal_name"}: the person signs in (no password needed here)."""
        body = req.json()
        return self._device_control(lambda: self.devices.approve(body.get("user_code"), body.get("user_principal_name")))

    def control_decline(self, req):
        body = req.json()
        return self._device_control(lambda: self.devices.decline(body.get("user_code")))

    def control_auto_approve(self, req):
        """{"user_principal_name": upn} approves every new device code as that user; null stops it."""
        upn = req.json().get("user_principal_name")
        if upn is not None and self.ctx.directory.resolve_tenant(upn.rpartition("@")[2]) is None:
            return _control_error(400, "BadRequest", "No sandbox tenant has the domain of '%s'." % upn)
        return json_response(200, self.devices.configure(auto_approve=upn))

    def control_device_settings(self, req):
        """{"interval", "expires_in"} of new device codes (tests shorten Entra's 5 s and 15 min)."""
        if req.method == "GET":
            return json_response(200, self.devices.settings())
        try:
            return json_response(200, self.devices.configure(**req.json()))
        except (ValueError, TypeError) as exc:
            return _control_error(400, "BadRequest", str(exc))

    def control_federated_token(self, req):
        """{"subject", "audience"?, "issuer"?, "lifetime"?}: a token of the external workload issuer."""
        body = req.json()
        if not body.get("subject"):
            return _control_error(400, "BadRequest", "subject is required")
        issuer = body.get("issuer") or self.ctx.store.kv_get("workload_issuer")
        lifetime = int(body.get("lifetime", 3600))
        token = tokens_mod.mint_workload_token(self.ctx.pki, issuer, body["subject"],
                                               body.get("audience") or tokens_mod.WORKLOAD_AUDIENCE, lifetime)
        return json_response(200, {"token": token, "issuer": issuer, "expires_on": int(time.time()) + lifetime})

    def control_expire_refresh_tokens(self, req):
        """{"refresh_token"} or {"user_principal_name"}: age refresh tokens past their lifetime."""
        body = req.json()
        expired = 0
        for tenant in self.ctx.directory.tenants():
            user = self.ctx.directory.user_by_upn(tenant["id"], body.get("user_principal_name") or "")
            for record in self.ctx.store.list(tenant["id"], REFRESH_KIND):
                if record["id"] == body.get("refresh_token") or (user and record["userId"] == user["id"]):
                    now = time.time()
                    record["lastUsed"] = now - tokens_mod.REFRESH_TOKEN_LIFETIME - 1
                    record["expires"] = now - 1
                    record["issued"] = min(record["issued"], record["lastUsed"])
                    self.ctx.store.put(tenant["id"], REFRESH_KIND, record)
                    expired += 1
        return json_response(200, {"expired": expired})
