"""What a token request asks for (resource and scopes), whether the user and the tenant allow it
(password, MFA, assignment, consent), and the token answer Entra sends when they do."""
import hmac
import random

from .. import directory as d
from .errors import AadError

OIDC_SCOPES = ("openid", "profile", "offline_access", "email")
DEFAULT_SCOPE = ".default"
USER_TOKEN_LIFETIME = (3600, 5400)


class ScopeRequest:
    """The resource a request is for, as the client named it, and the permission names it wants."""

    def __init__(self, resource_sp, asked, scopes, oidc, raw):
        self.resource_sp = resource_sp
        self.asked = asked      # resource prefix as sent ("https://outlook.office.com"), None for bare names
        self.scopes = scopes    # permission values (or ".default") on that resource
        self.oidc = oidc        # the OpenID Connect scopes among them
        self.raw = raw          # the scope parameter, split

    @property
    def audience(self):
        return audience_for(self.resource_sp, self.asked)

    @property
    def is_graph(self):
        return self.resource_sp["appId"] == d.GRAPH_APP_ID


def audience_for(resource_sp, asked):
    """Entra keeps the resource URI the client asked for (without trailing slash) as `aud`; a
    resource asked for by app id, or a bare Graph scope, gets the resource's canonical URI."""
    names = [n.rstrip("/") for n in resource_sp.get("servicePrincipalNames", [])]
    if asked:
        for name in names:
            if name.lower() == asked.rstrip("/").lower() and name != resource_sp["appId"]:
                return name
    return next((n for n in names if n.startswith("https://")), resource_sp["appId"])


def _split_scope(value):
    """("https://outlook.office.com", "SMTP.Send") for a URI-prefixed scope, (None, value) for a bare one."""
    if "/" in value:
        resource, sep, name = value.rpartition("/")
        return resource, name
    return None, value


def _resource(ctx, tenant, asked):
    sp = ctx.directory.service_principal_by_name(tenant["id"], asked)
    if sp is None:
        raise AadError(500011, resource=asked, tenant_name=tenant["displayName"])
    return sp


def parse_user_scopes(ctx, tenant, scope_text):
    """The scopes of a delegated (user) request; they must all belong to one resource."""
    raw = (scope_text or "").split()
    oidc = [s for s in raw if s.lower() in OIDC_SCOPES]
    wanted = {}
    for value in raw:
        if value.lower() in OIDC_SCOPES:
            continue
        asked, name = _split_scope(value)
        wanted.setdefault(asked, []).append(name)
    if len(wanted) > 1:
        raise AadError(28000, scope=" ".join(raw))
    if not wanted:
        # Only OpenID Connect scopes: Entra answers with a token for Microsoft Graph.
        return ScopeRequest(_resource(ctx, tenant, d.GRAPH_APP_ID), None, [], oidc, raw)
    asked, names = next(iter(wanted.items()))
    sp = _resource(ctx, tenant, asked or d.GRAPH_APP_ID)
    return ScopeRequest(sp, asked, names, oidc, raw)


def parse_app_scope(ctx, tenant, scope_text):
    """The single `<resource>/.default` scope of a client credentials request."""
    raw = (scope_text or "").split()
    if not raw:
        raise AadError(90014, parameter="scope")
    if any(not value.endswith("/" + DEFAULT_SCOPE) for value in raw):
        raise AadError(1002012, scope=scope_text)
    resources = {value[:-len(DEFAULT_SCOPE) - 1].rstrip("/").lower() for value in raw}
    if len(resources) > 1:
        raise AadError(28000, scope=scope_text)
    asked = raw[0][:-len(DEFAULT_SCOPE) - 1]
    return ScopeRequest(_resource(ctx, tenant, asked), asked, [DEFAULT_SCOPE], [], raw)


# --- users -------------------------------------------------------------------------------------
def check_password(tenant, user, upn, password):
    if user is None:
        raise AadError(50034, upn=upn, tenant_id=tenant["id"])
    if user.get("accountEnabled") is False:
        raise AadError(50057)
    stored = user.get("_password")
    if not password or not stored or not hmac.compare_digest(stored, d.hash_secret(password)):
        raise AadError(50126)


def check_mfa(user, scope_req):
    """ROPC cannot answer an MFA challenge (seed 001's limitation); interactive sign-ins can."""
    if user.get("_mfaRequired"):
        raise AadError(50076, resource_app_id=scope_req.resource_sp["appId"])


def check_assignment(ctx, tenant, client, user):
    """Enterprise apps with "Assignment required" admit only users assigned to them (enaio step 6)."""
    if not client.sp.get("appRoleAssignmentRequired"):
        return
    if not ctx.store.find(tenant["id"], d.APP_ROLE_ASSIGNMENT, principalId=user["id"], resourceId=client.sp_id):
        raise AadError(50105, client_name=client.display_name, client_id=client.app_id,
                       upn=user["userPrincipalName"])


def stored_user(ctx, tenant, user_id):
    """The user a code or refresh token was issued to, if the account still exists and is enabled."""
    user = ctx.store.get(tenant["id"], d.USER, user_id)
    if user is None:
        raise AadError(50034, upn=user_id, tenant_id=tenant["id"])
    if user.get("accountEnabled") is False:
        raise AadError(50057)
    return user


def user_in(ctx, tenant, upn):
    return ctx.directory.user_by_upn(tenant["id"], upn)


def home_tenant(ctx, upn, label="organizations"):
    """The tenant whose verified domain the user name ends with."""
    tenant = ctx.directory.resolve_tenant((upn or "").rpartition("@")[2])
    if tenant is None:
        raise AadError(50034, upn=upn, tenant_id=label)
    return tenant


def tenant_of_upn(ctx, where, upn):
    """The tenant a user signs in to: the one in the path, or (for common/organizations) the user's home."""
    return home_tenant(ctx, upn, where.name) if where.is_alias else where.tenant


# --- consent -----------------------------------------------------------------------------------
def _published(resource_sp):
    values = {s["value"] for s in resource_sp.get("oauth2PermissionScopes", [])}
    if resource_sp["appId"] == d.EXCHANGE_APP_ID:
        values |= set(d.RESOURCES["outlook_scopes_consented_on_graph"])
    return values


def granted_scopes(ctx, tenant, client, resource_sp, user):
    directory = ctx.directory
    tid = tenant["id"]
    granted = directory.delegated_scopes_granted(tid, client.sp_id, resource_sp["id"], user["id"])
    if resource_sp["appId"] == d.EXCHANGE_APP_ID:
        # SMTP.Send, IMAP and POP for Outlook are consented on Microsoft Graph (FACTS.md section 1).
        graph = directory.service_principal_by_app_id(tid, d.GRAPH_APP_ID)
        if graph is not None:
            on_graph = directory.delegated_scopes_granted(tid, client.sp_id, graph["id"], user["id"])
            granted |= on_graph & set(d.RESOURCES["outlook_scopes_consented_on_graph"])
    return granted - set(OIDC_SCOPES)


def consented_scopes(ctx, tenant, client, scope_req, user):
    """The permissions the access token will carry; AADSTS65001 if any asked for is not consented."""
    published = _published(scope_req.resource_sp)
    for name in scope_req.scopes:
        if name != DEFAULT_SCOPE and name not in published:
            raise AadError(650053, client_name=client.display_name, scope=name,
                           resource_app_id=scope_req.resource_sp["appId"])
    granted = granted_scopes(ctx, tenant, client, scope_req.resource_sp, user)
    if DEFAULT_SCOPE in scope_req.scopes:
        chosen = sorted(granted | {s for s in scope_req.scopes if s != DEFAULT_SCOPE})
        missing = [] if granted else [DEFAULT_SCOPE]
    else:
        chosen = list(dict.fromkeys(scope_req.scopes))
        missing = [s for s in chosen if s not in granted]
    if missing:
        raise AadError(65001, client_id=client.app_id, client_name=client.display_name)
    return chosen


# --- token answers -----------------------------------------------------------------------------
def _expiry_fields(lifetime):
    # Entra reports a second less than the token's lifetime; ext_expires_in is the outage extension.
    return {"expires_in": lifetime - 1, "ext_expires_in": lifetime - 1}


def app_token_answer(ctx, tenant, client, scope_req):
    roles = ctx.directory.app_roles_granted(tenant["id"], client.sp_id, scope_req.resource_sp)
    token, lifetime = ctx.tokens.access_token(tenant["id"], scope_req.audience, client.app_id, client.display_name,
                                              client.appidacr, client.sp_id, roles=roles)
    answer = {"token_type": "Bearer"}
    answer.update(_expiry_fields(lifetime))
    answer["access_token"] = token
    return answer


def user_token_answer(ctx, req, form, tenant, client, user, scope_req, granted, amr, nonce=None, refresh=None):
    """The answer of every user flow. `refresh` forces (True) a new refresh token, as the refresh
    grant always returns one; otherwise one comes only with offline_access."""
    tid = tenant["id"]
    oidc = {s.lower() for s in scope_req.oidc}
    scp = list(granted)
    echoed = ["%s/%s" % (scope_req.asked.rstrip("/"), s) for s in granted] if scope_req.asked else list(granted)
    if scope_req.asked and DEFAULT_SCOPE in scope_req.scopes:
        echoed.append("%s/%s" % (scope_req.asked.rstrip("/"), DEFAULT_SCOPE))
    if scope_req.is_graph:
        # Graph tokens list the OpenID Connect permissions as well.
        extra = [s for s in ("openid", "profile", "email") if s in oidc]
        scp += extra
        echoed += extra
    # Entra varies user token lifetimes between 60 and 90 minutes: clients must not assume an hour.
    lifetime = random.randint(USER_TOKEN_LIFETIME[0], USER_TOKEN_LIFETIME[1])
    token, lifetime = ctx.tokens.access_token(tid, scope_req.audience, client.app_id, client.display_name,
                                              client.appidacr, client.sp_id, scp=scp, user=user, amr=amr,
                                              lifetime=lifetime)
    answer = {"token_type": "Bearer", "scope": " ".join(echoed)}
    answer.update(_expiry_fields(lifetime))
    answer["access_token"] = token
    if refresh or "offline_access" in oidc:
        answer["refresh_token"] = ctx.tokens.refresh_token(tid, client.app_id, user["id"], scope_req.raw,
                                                           public=client.method is None, amr=amr)
    if "openid" in oidc:
        answer["id_token"] = ctx.tokens.id_token("%s/%s/v2.0" % (req.base_url, tid), tid, client.app_id, user,
                                                 nonce=nonce)
    if form.get("client_info") == "1":
        answer["client_info"] = ctx.tokens.client_info(user["id"], tid)
    return answer


def user_flow(ctx, req, form, tenant, client, user, scope_req, amr, nonce=None, refresh=None):
    """Assignment and consent, then the token answer; shared by every delegated grant."""
    check_assignment(ctx, tenant, client, user)
    granted = consented_scopes(ctx, tenant, client, scope_req, user)
    return user_token_answer(ctx, req, form, tenant, client, user, scope_req, granted, amr, nonce, refresh)
