"""Helpers of the identity platform tests: MSAL applications pointed at the sandbox the way
FACTS.md section 2 says real clients must be built, and token inspection over the wire."""
import time
import urllib.parse
import uuid

import jwt
import msal
import requests

GRAPH = "https://graph.microsoft.com"
EXCHANGE = "https://outlook.office365.com"
OUTLOOK = "https://outlook.office.com"


class SandboxHttpClient(requests.Session):
    """The `http_client` MSAL gets: trusts only the sandbox CA, ignores REQUESTS_CA_BUNDLE.

    MSAL's ROPC first calls `https://{host}/common/userrealm/...` with the authority's host name
    alone, so the port is lost; on the sandbox's non-443 port this session puts it back. A client
    of the real login.microsoftonline.com (port 443) needs no such thing."""

    def __init__(self, ca_bundle, authority_host):
        super().__init__()
        self.verify = ca_bundle
        self.trust_env = False
        parts = urllib.parse.urlsplit(authority_host)
        self.bare_host, self.netloc = parts.hostname, parts.netloc

    def request(self, method, url, *args, **kwargs):  # pylint: disable=arguments-differ
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "https" and parts.netloc == self.bare_host:
            url = urllib.parse.urlunsplit(parts._replace(netloc=self.netloc))
        return super().request(method, url, *args, **kwargs)


def authority(sandbox, tenant="contoso"):
    """Tenant key of the seed, or a literal tenant id / domain / alias."""
    conn = sandbox.conn
    known = {t["key"]: t["id"] for t in conn["tenants"]}
    return "%s/%s" % (conn["authority_host"], known.get(tenant, tenant))


def http_client(sandbox):
    conn = sandbox.conn
    return SandboxHttpClient(conn["ca_bundle"], conn["authority_host"])


def _options(sandbox, tenant):
    # A new application object each time: MSAL caches a 400 answer for about 60 s per object.
    return {"authority": authority(sandbox, tenant), "instance_discovery": False, "azure_region": False,
            "http_client": http_client(sandbox)}


def confidential(sandbox, client_id, credential, tenant="contoso"):
    return msal.ConfidentialClientApplication(client_id, client_credential=credential, **_options(sandbox, tenant))


def public(sandbox, client_id, tenant="contoso"):
    return msal.PublicClientApplication(client_id, **_options(sandbox, tenant))


def automation(sandbox, tenant="contoso"):
    return sandbox.tenant(tenant)["automation"]


def client(sandbox, key, tenant="contoso"):
    return sandbox.tenant(tenant)["clients"][key]


def password_of(sandbox, upn, tenant="contoso"):
    return sandbox.tenant(tenant)["users"][upn]["password"]


def claims(token):
    return jwt.decode(token, options={"verify_signature": False})


def aadsts(result):
    """The AADSTS code of an MSAL error result (clients branch on it, never on text)."""
    assert "access_token" not in result, result
    return result["error_codes"][0]


def verified_claims(sandbox, token, tenant="contoso"):
    """Claims of `token` after checking its signature with the keys published through discovery."""
    session = http_client(sandbox)
    config = session.get(authority(sandbox, tenant) + "/v2.0/.well-known/openid-configuration", timeout=30).json()
    keys = session.get(config["jwks_uri"], timeout=30).json()["keys"]
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWK(next(k for k in keys if k["kid"] == kid)).key
    return jwt.decode(token, key, algorithms=["RS256"], options={"verify_aud": False})


def certificate_assertion(sandbox, **changes):
    """A client assertion signed with the automation identity's registered certificate, built by
    hand so that tests can change claims MSAL always gets right."""
    auto = automation(sandbox)
    now = int(time.time())
    payload = {"aud": authority(sandbox) + "/oauth2/v2.0/token", "iss": auto["client_id"], "sub": auto["client_id"],
               "jti": str(uuid.uuid4()), "nbf": now, "exp": now + 600}
    payload.update(changes)
    with open(auto["certificate_key_path"], encoding="utf-8") as handle:
        key = handle.read()
    thumbprint = jwt.utils.base64url_encode(bytes.fromhex(auto["certificate_thumbprint"])).decode()
    return jwt.encode(payload, key, algorithm="RS256", headers={"x5t": thumbprint})
