"""POST /{tenant}/oauth2/v2.0/token: the grants Entra's v2.0 token endpoint serves."""
import datetime
import time

from .clients import PUBLIC_IF_ALLOWED, client_id_of, signed_in_client
from .errors import AadError, required
from .issuance import (app_token_answer, check_mfa, check_password, parse_app_scope, parse_user_scopes,
                       stored_user, tenant_of_upn, user_flow, user_in)

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
REFRESH_KIND = "refresh_token"


def _duration(seconds):
    """Entra writes inactivity as d.hh:mm:ss."""
    delta = datetime.timedelta(seconds=int(seconds))
    hours, rest = divmod(delta.seconds, 3600)
    return "%d.%02d:%02d:%02d" % (delta.days, hours, rest // 60, rest % 60)


class TokenEndpoint:
    def __init__(self, ctx, devices, codes):
        self.ctx = ctx
        self.grants = {
            "client_credentials": self.client_credentials,
            "password": self.password,
            "refresh_token": self.refresh_token,
            "authorization_code": codes.redeem,
            DEVICE_CODE_GRANT: devices.redeem,
            "device_code": devices.redeem,  # Entra also takes the short name
        }

    def token(self, req, where):
        form = req.form()
        grant_type = required(form, "grant_type")
        handler = self.grants.get(grant_type)
        if handler is None:
            raise AadError(70003, grant_type=grant_type)
        return handler(req, form, where)

    def client_credentials(self, req, form, where):
        if where.is_alias:
            client_id_of(req, form)
            raise AadError(50059)
        client = signed_in_client(self.ctx, req, form, where.tenant, where, missing_code=7000216)
        scope_req = parse_app_scope(self.ctx, where.tenant, form.get("scope"))
        return app_token_answer(self.ctx, where.tenant, client, scope_req)

    def password(self, req, form, where):
        """Resource owner password credentials (ROPC)."""
        upn, password = required(form, "username"), required(form, "password")
        tenant = tenant_of_upn(self.ctx, where, upn)
        req.tenant = tenant["id"]
        client = signed_in_client(self.ctx, req, form, tenant, where, public=PUBLIC_IF_ALLOWED)
        scope_req = parse_user_scopes(self.ctx, tenant, form.get("scope"))
        user = user_in(self.ctx, tenant, upn)
        check_password(tenant, user, upn, password)
        check_mfa(user, scope_req)
        return user_flow(self.ctx, req, form, tenant, client, user, scope_req, ["pwd"])

    def _stored_refresh_token(self, where, value):
        tenants = [where.tenant] if where.tenant else self.ctx.directory.tenants()
        for tenant in tenants:
            record = self.ctx.store.get(tenant["id"], REFRESH_KIND, value)
            if record is not None:
                return tenant, record
        raise AadError(9002313)

    def refresh_token(self, req, form, where):
        value = required(form, "refresh_token")
        client_id = client_id_of(req, form)
        tenant, record = self._stored_refresh_token(where, value)
        req.tenant = tenant["id"]
        now = time.time()
        if now > record["expires"]:
            raise AadError(700082, issued=datetime.datetime.fromtimestamp(record["issued"], datetime.timezone.utc)
                           .strftime("%m/%d/%Y %H:%M:%S"), inactive=_duration(now - record["lastUsed"]))
        if record["clientId"] != client_id:
            raise AadError(70000, parameter="refresh_token", reason="The refresh token was issued to another application.")
        # A refresh token from a public client flow is redeemed without a credential, as it was issued.
        client = signed_in_client(self.ctx, req, form, tenant, where, public=bool(record.get("public")) or PUBLIC_IF_ALLOWED)
        user = stored_user(self.ctx, tenant, record["userId"])
        # Refresh tokens are multi-resource: the same one may ask for another resource's scopes.
        scope_req = parse_user_scopes(self.ctx, tenant, form.get("scope") or " ".join(record["scopes"]))
        answer = user_flow(self.ctx, req, form, tenant, client, user, scope_req, record.get("amr") or ["pwd"],
                           refresh=True)
        # Entra leaves the redeemed token valid until it expires; clients must keep the new one.
        record["lastUsed"] = now
        self.ctx.store.put(tenant["id"], REFRESH_KIND, record)
        return answer
