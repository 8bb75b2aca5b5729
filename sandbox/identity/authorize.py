"""The authorization code grant with PKCE: /authorize signs the user in (a plain form, or the
sandbox-only `password` query parameter next to `login_hint` for scripted tests) and redirects to
the application's registered redirect URI with a code, which the token endpoint redeems."""
import base64
import hashlib
import hmac
import secrets
import time
import urllib.parse
import uuid

from .clients import client_id_of, find_client, signed_in_client
from .errors import AadError, error_body, html_error, required
from .issuance import (check_assignment, check_password, consented_scopes, parse_user_scopes, stored_user,
                       tenant_of_upn, user_flow, user_in)
from .pages import auto_post_page, form_page
from ..web import Response

KIND = "authorization_code"
GLOBAL = "_"
CODE_LIFETIME = 600  # Entra's codes live about ten minutes
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")
SIGN_IN_FIELDS = ("login", "password")


def _loopback_match(registered, presented):
    """Native apps may register http://localhost and use any port (RFC 8252); Entra allows that
    for mobile and desktop redirect URIs."""
    reg, got = urllib.parse.urlsplit(registered), urllib.parse.urlsplit(presented)
    return (reg.scheme == got.scheme == "http" and reg.hostname in LOOPBACK_HOSTS and reg.hostname == got.hostname
            and (reg.path or "/") == (got.path or "/"))


def match_redirect(client, uri):
    """The platform of the registered redirect URI `uri` matches; AADSTS50011 if none does."""
    for registered, platform in client.redirect_uris():
        if registered == uri or (platform == "publicClient" and _loopback_match(registered, uri)):
            return platform
    raise AadError(50011, redirect_uri=uri, client_id=client.app_id)


def _pkce_matches(record, verifier):
    challenge = record.get("codeChallenge")
    if not challenge:
        return True
    if not verifier:
        return False
    if record.get("codeChallengeMethod", "plain") == "S256":
        verifier = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()
    return hmac.compare_digest(verifier, challenge)


class AuthorizationCodes:
    def __init__(self, ctx):
        self.ctx = ctx

    def _registered_client(self, where, client_id):
        """The application whose redirect URIs apply. For common/organizations the home tenant is not
        known before sign-in, so any tenant's registration of the app id serves."""
        if where.tenant:
            return find_client(self.ctx, where.tenant, client_id)
        for tenant in self.ctx.directory.tenants():
            try:
                return find_client(self.ctx, tenant, client_id)
            except AadError:
                continue
        raise AadError(700016, client_id=client_id, tenant_name=where.name)

    def authorize(self, req, where):
        """GET/POST /{tenant}/oauth2/v2.0/authorize"""
        params = dict(req.query)
        if req.method == "POST":
            params.update(req.form())
        try:
            client_id = required(params, "client_id")
            client = self._registered_client(where, client_id)
            platform = match_redirect(client, required(params, "redirect_uri"))
        except AadError as exc:
            # Without a trusted redirect URI the error can only be shown to the user.
            return html_error(req, exc)
        try:
            return self._sign_in(req, where, params, client_id, platform)
        except AadError as exc:
            if exc.code in (700016, 7000229, 7000112):
                return html_error(req, exc)
            error = {50058: "login_required", 65001: "consent_required"}.get(exc.code, exc.error)
            body = error_body(req, exc)
            return self._redirect(params, {"error": error, "error_description": body["error_description"],
                                           "error_uri": body["error_uri"]})

    def _sign_in(self, req, where, params, client_id, platform):
        if "code" not in (params.get("response_type") or "").split():
            raise AadError(900144, parameter="response_type")
        login = params.get("login") or params.get("login_hint")
        password = params.get("password")
        if not password:
            if params.get("prompt") == "none":
                raise AadError(50058)  # the sandbox keeps no browser sessions
            return self._form(req, params, login)
        try:
            tenant = tenant_of_upn(self.ctx, where, login)
            user = user_in(self.ctx, tenant, login)
            check_password(tenant, user, login, password)
        except AadError as exc:
            return self._form(req, params, login, str(exc))  # Entra shows sign-in failures on its page
        req.tenant = tenant["id"]
        client = find_client(self.ctx, tenant, client_id)
        scope_req = parse_user_scopes(self.ctx, tenant, params.get("scope"))
        check_assignment(self.ctx, tenant, client, user)
        consented_scopes(self.ctx, tenant, client, scope_req, user)
        code = "1.A" + secrets.token_urlsafe(96)
        self.ctx.store.put(GLOBAL, KIND, {
            "id": code, "tenantId": tenant["id"], "clientId": client_id, "userId": user["id"],
            "redirectUri": params["redirect_uri"], "platform": platform, "scope": params.get("scope", ""),
            "codeChallenge": params.get("code_challenge"),
            "codeChallengeMethod": params.get("code_challenge_method") or "plain",
            "nonce": params.get("nonce"), "expires": time.time() + CODE_LIFETIME, "redeemed": False,
            # The sign-in page can satisfy MFA, unlike ROPC.
            "amr": ["pwd", "mfa"] if user.get("_mfaRequired") else ["pwd"]})
        values = {"code": code}
        if params.get("client_info") == "1":
            values["client_info"] = self.ctx.tokens.client_info(user["id"], tenant["id"])
        values["session_state"] = str(uuid.uuid4())
        return self._redirect(params, values)

    def _form(self, req, params, login, message=None):
        hidden = {k: v for k, v in params.items() if k not in SIGN_IN_FIELDS and k != "login_hint"}
        fields = [("login", "Email, phone, or Skype", "email", login), ("password", "Password", "password", "")]
        return form_page("Sign in", req.path, fields, hidden=hidden, message=message,
                         status=400 if message else 200)

    @staticmethod
    def _redirect(params, values):
        if params.get("state") is not None:
            values["state"] = params["state"]
        uri = params["redirect_uri"]
        mode = params.get("response_mode") or "query"
        if mode == "form_post":
            return auto_post_page(uri, values)
        if mode == "fragment":
            location = "%s#%s" % (uri.split("#")[0], urllib.parse.urlencode(values))
        else:
            parts = urllib.parse.urlsplit(uri)
            query = "&".join(q for q in (parts.query, urllib.parse.urlencode(values)) if q)
            location = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
        return Response(302, b"", {"Location": location, "Cache-Control": "no-store"})

    def redeem(self, req, form, where):
        """grant_type=authorization_code"""
        code = required(form, "code")
        client_id = client_id_of(req, form)
        record = self.ctx.store.get(GLOBAL, KIND, code)
        if record is None or (where.tenant and record["tenantId"] != where.tenant["id"]):
            raise AadError(70000, parameter="code", reason="The code is not valid.")
        if record["clientId"] != client_id:
            raise AadError(70000, parameter="code", reason="The code was issued to another application.")
        tenant = self.ctx.directory.resolve_tenant(record["tenantId"])
        req.tenant = tenant["id"]
        # Codes sent to a mobile/desktop redirect URI come from public clients and need no credential.
        client = signed_in_client(self.ctx, req, form, tenant, where, public=record["platform"] == "publicClient")
        if record["redeemed"]:
            raise AadError(54005)
        if time.time() > record["expires"]:
            raise AadError(70008)
        if form.get("redirect_uri") != record["redirectUri"]:
            raise AadError(70000, parameter="redirect_uri", reason="It does not match the redirect URI of the "
                                                                   "authorization request.")
        if not _pkce_matches(record, form.get("code_verifier")):
            raise AadError(501481)
        record["redeemed"] = True
        self.ctx.store.put(GLOBAL, KIND, record)
        user = stored_user(self.ctx, tenant, record["userId"])
        scope_req = parse_user_scopes(self.ctx, tenant, form.get("scope") or record["scope"])
        return user_flow(self.ctx, req, form, tenant, client, user, scope_req, record["amr"], nonce=record["nonce"])
