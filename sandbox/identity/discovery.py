"""Which tenant a request's path names, and the documents clients read before they ask for tokens:
OpenID Connect discovery (v2.0 and v1.0), signing keys, and the user realm lookup MSAL does
before a password grant."""
import re

from .errors import AadError

ALIASES = ("common", "organizations")
GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DOMAIN_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$")
TENANT_PLACEHOLDER = "{tenantid}"  # what Entra's multi-tenant documents put where a tenant id would be


class PathTenant:
    """The {tenant} path segment: a tenant (by id or domain) or one of the multi-tenant aliases."""

    def __init__(self, name, tenant):
        self.name = name
        self.tenant = tenant

    @property
    def is_alias(self):
        return self.tenant is None

    @property
    def segment(self):
        """What Entra's own URLs put in the path: the tenant id, or the alias as given."""
        return self.tenant["id"] if self.tenant else self.name.lower()


def resolve_path_tenant(ctx, name):
    if name.lower() in ALIASES:
        return PathTenant(name, None)
    if not (GUID_RE.match(name) or DOMAIN_RE.match(name)):
        raise AadError(900023, tenant=name)
    tenant = ctx.directory.resolve_tenant(name)
    if tenant is None:
        raise AadError(90002, tenant=name)
    return PathTenant(name, tenant)


def _claims_supported():
    return ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host",
            "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash",
            "c_hash", "email"]


def _host_of(url):
    return url.split("://", 1)[-1] if url else None


def openid_configuration(ctx, base, where, version="2.0"):
    """Entra's discovery document, with every URL on the host the client called."""
    seg = where.segment
    issuer_tid = where.tenant["id"] if where.tenant else TENANT_PLACEHOLDER
    graph_host = _host_of(ctx.urls.get("graph"))
    common = {
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "claims_supported": _claims_supported(),
        "kerberos_endpoint": "%s/%s/kerberos" % (base, seg),
        "tenant_region_scope": "EU" if where.tenant else None,
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": graph_host,
        "rbac_url": "https://pas.windows.net",
    }
    if version == "2.0":
        doc = {
            "token_endpoint": "%s/%s/oauth2/v2.0/token" % (base, seg),
            "jwks_uri": "%s/%s/discovery/v2.0/keys" % (base, seg),
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": "%s/%s/v2.0" % (base, issuer_tid),
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "%s/oidc/userinfo" % ctx.urls.get("graph", base),
            "authorization_endpoint": "%s/%s/oauth2/v2.0/authorize" % (base, seg),
            "device_authorization_endpoint": "%s/%s/oauth2/v2.0/devicecode" % (base, seg),
            "end_session_endpoint": "%s/%s/oauth2/v2.0/logout" % (base, seg),
        }
    else:
        # v1 access tokens (what Graph and Exchange receive) carry the sts.windows.net issuer.
        doc = {
            "token_endpoint": "%s/%s/oauth2/token" % (base, seg),
            "jwks_uri": "%s/common/discovery/keys" % base,
            "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
            "scopes_supported": ["openid"],
            "issuer": "https://sts.windows.net/%s/" % issuer_tid,
            "microsoft_multi_refresh_token": True,
            "authorization_endpoint": "%s/%s/oauth2/authorize" % (base, seg),
            "device_authorization_endpoint": "%s/%s/oauth2/devicecode" % (base, seg),
            "end_session_endpoint": "%s/%s/oauth2/logout" % (base, seg),
            "check_session_iframe": "%s/%s/oauth2/checksession" % (base, seg),
            "userinfo_endpoint": "%s/%s/openid/userinfo" % (base, seg),
        }
    doc.update(common)
    if doc["tenant_region_scope"] is None:
        del doc["tenant_region_scope"]
    return doc


def jwks(ctx, base, where, version="2.0"):
    keys = ctx.tokens.jwks()
    if version == "2.0":
        issuer_tid = where.tenant["id"] if where.tenant else TENANT_PLACEHOLDER
        for key in keys["keys"]:
            key["issuer"] = "%s/%s/v2.0" % (base, issuer_tid)
            key["cloud_instance_name"] = "microsoftonline.com"
    return keys


def user_realm(ctx, username, api_version):
    """What /common/userrealm answers: every sandbox domain is cloud-only ("Managed")."""
    domain = username.rpartition("@")[2]
    tenant = ctx.directory.resolve_tenant(domain) if domain and DOMAIN_RE.match(domain) else None
    if api_version == "2.0":
        if tenant is None:
            return {"NameSpaceType": "Unknown", "Login": username, "DomainName": domain,
                    "cloud_instance_name": "microsoftonline.com"}
        return {"NameSpaceType": "Managed", "Login": username, "DomainName": domain.lower(),
                "FederationBrandName": tenant["displayName"], "TenantBrandingInfo": None,
                "cloud_instance_name": "microsoftonline.com"}
    if tenant is None:
        return {"ver": "1.0", "account_type": "Unknown", "cloud_instance_name": "microsoftonline.com"}
    return {"ver": "1.0", "account_type": "Managed", "domain_name": domain.lower(),
            "cloud_instance_name": "microsoftonline.com", "cloud_audience_urn": "urn:federation:MicrosoftOnline"}
