"""The device authorization grant: the client gets a user code, a person approves it elsewhere
(the device login page, the control API, the CLI, or the demo's auto-approval), and the client's
polling turns into tokens."""
import secrets
import time

from .clients import PUBLIC_IF_ALLOWED, client_id_of, find_client, signed_in_client
from .errors import AadError, required
from .issuance import check_password, home_tenant, parse_user_scopes, stored_user, user_flow, user_in
from .pages import form_page, html_page

KIND = "device_code"
GLOBAL = "_"  # device codes belong to no tenant until someone signs in (the path may say "organizations")
SETTINGS_KEY = "identity.devicecode"
DEFAULTS = {"interval": 5, "expires_in": 900, "auto_approve": None}
USER_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
USER_CODE_LENGTH = 9


class DeviceCodeError(Exception):
    """An approval the control API or the login page refuses: HTTP status and a message."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code


class DeviceCodes:
    def __init__(self, ctx):
        self.ctx = ctx

    # --- settings (kept in the store, so a reset restores Entra's defaults) --------------------
    def settings(self):
        current = dict(DEFAULTS)
        current.update(self.ctx.store.kv_get(SETTINGS_KEY) or {})
        return current

    def configure(self, **changes):
        unknown = set(changes) - set(DEFAULTS)
        if unknown:
            raise ValueError("unknown device code settings: %s (known: %s)" % (", ".join(sorted(unknown)),
                                                                               ", ".join(sorted(DEFAULTS))))
        for key in ("interval", "expires_in"):
            if key in changes and (not isinstance(changes[key], int) or changes[key] < 1):
                raise ValueError("%s must be a positive whole number of seconds" % key)
        current = self.settings()
        current.update(changes)
        self.ctx.store.kv_set(SETTINGS_KEY, current)
        return current

    # --- the client's side ---------------------------------------------------------------------
    def initiate(self, req, where):
        """POST /{tenant}/oauth2/v2.0/devicecode"""
        form = req.form()
        client_id = client_id_of(req, form)
        scope = required(form, "scope")
        if where.tenant:
            find_client(self.ctx, where.tenant, client_id)
            parse_user_scopes(self.ctx, where.tenant, scope)
        settings = self.settings()
        now = time.time()
        user_code = "".join(secrets.choice(USER_CODE_ALPHABET) for position in range(USER_CODE_LENGTH))
        record = {"id": "DAQABIQEAAAB" + secrets.token_urlsafe(96), "userCode": user_code, "clientId": client_id,
                  "tenantId": where.tenant["id"] if where.tenant else None, "scope": scope, "created": now,
                  "expires": now + settings["expires_in"], "status": "pending"}
        self.ctx.store.put(GLOBAL, KIND, record)
        if settings["auto_approve"]:
            try:
                self.approve(user_code, settings["auto_approve"])
            except DeviceCodeError as exc:
                self.ctx.logger.warning("device code auto-approval for %s failed: %s", settings["auto_approve"], exc)
        uri = "%s/devicelogin" % req.base_url
        return {"user_code": user_code, "device_code": record["id"], "verification_uri": uri,
                "expires_in": settings["expires_in"], "interval": settings["interval"],
                "message": "To sign in, use a web browser to open the page %s and enter the code %s to authenticate."
                           % (uri, user_code)}

    def redeem(self, req, form, where):
        """grant_type=urn:ietf:params:oauth:grant-type:device_code"""
        code = required(form, "device_code")
        client_id = client_id_of(req, form)
        record = self.ctx.store.get(GLOBAL, KIND, code)
        if record is None or record["clientId"] != client_id or (
                where.tenant and record["tenantId"] not in (None, where.tenant["id"])):
            raise AadError(70000, parameter="device_code", reason="The code is not valid.")
        if record["status"] != "redeemed" and time.time() > record["expires"]:
            raise AadError(70020)
        tenant_id = record.get("userTenantId") or record["tenantId"]
        tenant = self.ctx.directory.resolve_tenant(tenant_id) if tenant_id else None
        client = None
        if tenant is not None:
            req.tenant = tenant["id"]
            # Client checks come first: a confidential app polls into AADSTS7000218 even before approval.
            client = signed_in_client(self.ctx, req, form, tenant, where, public=PUBLIC_IF_ALLOWED)
        status = record["status"]
        if status == "pending":
            raise AadError(70016)
        if status == "declined":
            raise AadError(70000, error="authorization_declined", parameter="device_code",
                           reason="The user declined the authorization request.")
        if status == "redeemed":
            raise AadError(70000, parameter="device_code", reason="The code was already redeemed.")
        user = stored_user(self.ctx, tenant, record["userId"])
        scope_req = parse_user_scopes(self.ctx, tenant, record["scope"])
        answer = user_flow(self.ctx, req, form, tenant, client, user, scope_req, record["amr"])
        record["status"] = "redeemed"
        self.ctx.store.put(GLOBAL, KIND, record)
        return answer

    # --- the person's side ---------------------------------------------------------------------
    def _pending(self, user_code):
        normalized = (user_code or "").strip().upper().replace("-", "").replace(" ", "")
        record = self.ctx.store.find_one(GLOBAL, KIND, userCode=normalized) if normalized else None
        if record is None:
            raise DeviceCodeError(404, "BadVerificationCode", "No device code with user code '%s'." % user_code)
        if time.time() > record["expires"]:
            raise DeviceCodeError(400, "CodeExpired", "The code '%s' has expired." % user_code)
        if record["status"] != "pending":
            raise DeviceCodeError(409, "AlreadyUsed", "The code '%s' was already %s." % (user_code, record["status"]))
        return record

    def approve(self, user_code, upn, password=None, verify_password=False):
        """Sign `upn` in for the device. The login page checks the password; the control API
        (a test harness acting as the person) does not."""
        record = self._pending(user_code)
        where_tenant = self.ctx.directory.resolve_tenant(record["tenantId"]) if record["tenantId"] else None
        try:
            tenant = where_tenant or home_tenant(self.ctx, upn)
            user = user_in(self.ctx, tenant, upn)
            if verify_password:
                check_password(tenant, user, upn, password)
            elif user is None or user.get("accountEnabled") is False:
                check_password(tenant, user, upn, None)
        except AadError as exc:
            raise DeviceCodeError(400, "SignInFailed", str(exc)) from None
        record.update({"status": "approved", "userId": user["id"], "userTenantId": tenant["id"],
                       "userPrincipalName": user["userPrincipalName"], "approved": time.time(),
                       # An interactive sign-in can satisfy MFA, so MFA-required users pass here.
                       "amr": ["pwd", "mfa"] if user.get("_mfaRequired") else ["pwd"]})
        self.ctx.store.put(GLOBAL, KIND, record)
        return {"status": "approved", "user_code": record["userCode"], "user_principal_name": user["userPrincipalName"],
                "tenant_id": tenant["id"], "client_id": record["clientId"]}

    def decline(self, user_code):
        record = self._pending(user_code)
        record["status"] = "declined"
        self.ctx.store.put(GLOBAL, KIND, record)
        return {"status": "declined", "user_code": record["userCode"], "client_id": record["clientId"]}

    # --- the device login page -----------------------------------------------------------------
    def login_page(self, req):
        """GET/POST /devicelogin: user code, then user name and password."""
        params = req.form() if req.method == "POST" else req.query
        code = params.get("otc", "")
        fields = [("otc", "Code", "text", code), ("login", "Email or username", "email", params.get("login")),
                  ("password", "Password", "password", "")]
        intro = "Enter the code displayed on your app or device, then sign in."
        if req.method != "POST":
            return form_page("Enter code", req.path, fields, intro=intro)
        try:
            result = self.approve(code, params.get("login"), params.get("password"), verify_password=True)
        except DeviceCodeError as exc:
            return form_page("Enter code", req.path, fields, message=str(exc), intro=intro, status=400)
        return html_page("You're signed in", "<p>You have signed in to the application %s on your device as %s. "
                                             "You may now close this window.</p>"
                         % (result["client_id"], result["user_principal_name"]))
