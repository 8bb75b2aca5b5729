"""The client application of a token request: which one it is in the tenant, and how it proved it
(client secret, certificate assertion, federated workload assertion, or none for public clients)."""
import base64
import binascii
import datetime
import hmac
import urllib.parse

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from .. import directory as d
from .errors import AadError, required

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MULTI_TENANT_AUDIENCES = ("AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount")
ASSERTION_ALGORITHMS = ["RS256", "PS256"]
CLOCK_SKEW = datetime.timedelta(minutes=5)
PUBLIC_IF_ALLOWED = "isFallbackPublicClient"
# appidacr of the access token: how the client authenticated.
APPIDACR = {None: "0", "secret": "1", "certificate": "2", "federated": "2"}


class Client:
    """An application as it signs in to one tenant: its registration and its service principal there."""

    def __init__(self, tenant, app, sp, app_tenant_id):
        self.tenant = tenant
        self.app = app
        self.sp = sp
        self.app_tenant_id = app_tenant_id  # where the registration (and its credentials) lives
        self.method = None

    @property
    def app_id(self):
        return self.app["appId"]

    @property
    def display_name(self):
        return self.app.get("displayName") or self.app_id

    @property
    def sp_id(self):
        return self.sp["id"]

    @property
    def appidacr(self):
        return APPIDACR[self.method]

    @property
    def is_public(self):
        """"Allow public client flows" in the portal."""
        return self.app.get("isFallbackPublicClient") is True

    def redirect_uris(self):
        """(uri, platform) pairs registered on the application."""
        return ([(uri, "publicClient") for uri in (self.app.get("publicClient") or {}).get("redirectUris", [])]
                + [(uri, "web") for uri in (self.app.get("web") or {}).get("redirectUris", [])]
                + [(uri, "spa") for uri in (self.app.get("spa") or {}).get("redirectUris", [])])


def find_client(ctx, tenant, client_id):
    """The client in `tenant`. Objects that replication has not yet made visible are not found:
    right after creating an app, Entra answers 700016 too."""
    directory = ctx.directory
    tid = tenant["id"]
    app = directory.application_by_app_id(tid, client_id)
    sp = directory.service_principal_by_app_id(tid, client_id)
    app_tenant_id = tid
    if app is None and sp is not None and sp.get("appOwnerOrganizationId") not in (None, tid):
        # A multi-tenant app registered in another tenant: its credentials are on the home registration.
        home = directory.application_by_app_id(sp["appOwnerOrganizationId"], client_id)
        if home is not None and home.get("signInAudience") in MULTI_TENANT_AUDIENCES:
            app, app_tenant_id = home, sp["appOwnerOrganizationId"]
    if app is None:
        raise AadError(700016, client_id=client_id, tenant_name=tenant["displayName"])
    if sp is None:
        raise AadError(7000229, client_id=client_id, tenant_id=tid)
    if sp.get("accountEnabled") is False:
        raise AadError(7000112, client_id=client_id, client_name=app.get("displayName"))
    return Client(tenant, app, sp, app_tenant_id)


def client_id_of(req, form):
    """client_id from the body, or from HTTP Basic authentication (client_secret_basic)."""
    client_id = form.get("client_id")
    basic = _basic_credentials(req)
    if not client_id and basic:
        client_id = basic[0]
    return required({"client_id": client_id}, "client_id").strip()


def _basic_credentials(req):
    auth = req.header("Authorization", "")
    if auth[:6].lower() != "basic ":
        return None
    try:
        user, sep, password = base64.b64decode(auth[6:].strip()).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(password)


def authenticate(ctx, req, form, client, audiences, public_ok=False, missing_code=7000218):
    """Check the credential the request carries and record on `client` how it authenticated.

    `public_ok`: this request may come from a public client without any credential (the caller
    knows: "Allow public client flows", or a code sent to a mobile/desktop redirect URI). `audiences`: the
    URLs a client assertion may be addressed to (this tenant's token endpoints)."""
    assertion = form.get("client_assertion")
    secret = form.get("client_secret")
    basic = _basic_credentials(req)
    if secret is None and basic:
        secret = basic[1]
    if assertion:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise AadError(900144, parameter="client_assertion_type")
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise AadError(50027) from None
        if claims.get("iss") == client.app_id:
            _check_certificate_assertion(client, assertion, header, claims, audiences)
            client.method = "certificate"
        else:
            # Anything not self-issued is a token from an external identity provider (workload identity federation).
            _check_federated_assertion(ctx, client, assertion, claims)
            client.method = "federated"
    elif secret:
        _check_secret(client, secret)
        client.method = "secret"
    elif public_ok:
        client.method = None
    else:
        raise AadError(missing_code)
    return client


def _check_secret(client, secret):
    digest = d.hash_secret(secret)
    hashes_by_key = client.app.get("_secretHashes") or {}
    credentials = {c["keyId"]: c for c in client.app.get("passwordCredentials") or []}
    matched = [credentials[key_id] for key_id, value in hashes_by_key.items()
               if key_id in credentials and hmac.compare_digest(value, digest)]
    if not matched:
        raise AadError(7000215, client_id=client.app_id)
    now = d.now()
    if any(_within(c, now) for c in matched):
        return
    if any(d.parse_iso(c.get("endDateTime")) and d.parse_iso(c["endDateTime"]) < now for c in matched):
        raise AadError(7000222, client_id=client.app_id)
    raise AadError(7000215, client_id=client.app_id)  # not valid yet


def _within(credential, now):
    start, end = d.parse_iso(credential.get("startDateTime")), d.parse_iso(credential.get("endDateTime"))
    return (start is None or start <= now) and (end is None or now <= end)


def _entra_time(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def _check_time_range(claims):
    now = d.now()
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if not isinstance(exp, (int, float)):
        raise AadError(50027)
    expires = datetime.datetime.fromtimestamp(exp, datetime.timezone.utc)
    valid_from = datetime.datetime.fromtimestamp(nbf if isinstance(nbf, (int, float)) else 0, datetime.timezone.utc)
    if expires + CLOCK_SKEW < now or valid_from - CLOCK_SKEW > now:
        raise AadError(700024, now=_entra_time(now), nbf=_entra_time(valid_from), exp=_entra_time(expires))


def _b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _find_key(client, header):
    """The registered certificate the assertion's x5t / x5t#S256 header names: (credential, cert, thumbprint hex)."""
    try:
        if header.get("x5t#S256"):
            wanted, algorithm = _b64url_decode(header["x5t#S256"]), hashes.SHA256()
        elif header.get("x5t"):
            wanted, algorithm = _b64url_decode(header["x5t"]), hashes.SHA1()
        else:
            raise AadError(700027, reason="The key was not found.", thumbprint="", client_id=client.app_id)
    except (binascii.Error, ValueError):
        raise AadError(50027) from None
    thumbprint = wanted.hex().upper()
    for credential in client.app.get("keyCredentials") or []:
        if credential.get("type") != "AsymmetricX509Cert" or not credential.get("key"):
            continue
        cert = x509.load_der_x509_certificate(base64.b64decode(credential["key"]))
        if cert.fingerprint(algorithm) == wanted:
            return credential, cert, thumbprint
    raise AadError(700027, reason="The key was not found.", thumbprint=thumbprint, client_id=client.app_id)


def _check_certificate_assertion(client, assertion, header, claims, audiences):
    if claims.get("sub") != client.app_id:
        raise AadError(700021)
    credential, cert, thumbprint = _find_key(client, header)
    if not _within(credential, d.now()):
        raise AadError(700027, client_id=client.app_id, thumbprint=thumbprint,
                       reason="The key used is expired., Found key 'Start=%s, End=%s'" % (
                           credential.get("startDateTime"), credential.get("endDateTime")))
    try:
        jwt.decode(assertion, cert.public_key(), algorithms=ASSERTION_ALGORITHMS,
                   options={"verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False})
    except jwt.InvalidAlgorithmError:
        raise AadError(700027, client_id=client.app_id, thumbprint=thumbprint,
                       reason="Invalid JWT token. Unsupported asymmetric signing algorithm.") from None
    except jwt.InvalidSignatureError:
        raise AadError(7000274) from None
    except jwt.PyJWTError:
        raise AadError(50027) from None
    audience = claims.get("aud")
    presented = audience if isinstance(audience, list) else [audience]
    if not any(isinstance(a, str) and a.rstrip("/").lower() in audiences for a in presented):
        raise AadError(700023)
    _check_time_range(claims)


def _check_federated_assertion(ctx, client, assertion, claims):
    _check_time_range(claims)
    issuer, subject, audience = claims.get("iss"), claims.get("sub"), claims.get("aud")
    presented = audience if isinstance(audience, list) else [audience]
    records = ctx.store.find(client.app_tenant_id, d.FEDERATED_CREDENTIAL, _applicationId=client.app["id"])
    # Entra matches issuer and subject case-sensitively.
    if not any(r.get("issuer") == issuer and r.get("subject") == subject
               and any(a in (r.get("audiences") or []) for a in presented) for r in records):
        raise AadError(70021, issuer=issuer, subject=subject, audience=", ".join(str(a) for a in presented))
    if issuer != ctx.store.kv_get("workload_issuer"):
        # The only external issuer whose signing keys the sandbox can fetch is its own workload issuer.
        raise AadError(50166)
    try:
        jwt.decode(assertion, ctx.pki.issuer_key.public_key(), algorithms=["RS256"],
                   options={"verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False})
    except jwt.PyJWTError as exc:
        raise AadError(50013, reason=str(exc)) from None


def signed_in_client(ctx, req, form, tenant, where, public=False, missing_code=7000218):
    """The request's client in `tenant`, authenticated. `public`: True if this request may come
    without a credential, PUBLIC_IF_ALLOWED if only when the app allows public client flows."""
    client = find_client(ctx, tenant, client_id_of(req, form))
    public_ok = public is True or (public == PUBLIC_IF_ALLOWED and client.is_public)
    return authenticate(ctx, req, form, client, assertion_audiences(req.base_url, tenant, where.name), public_ok,
                        missing_code)


def assertion_audiences(base, tenant, path_name):
    """Token endpoint URLs of this tenant a client assertion may name as `aud` (lower case, no trailing slash)."""
    names = {tenant["id"], path_name} | set(tenant["domains"])
    urls = set()
    for name in names:
        for path in ("oauth2/v2.0/token", "oauth2/token"):
            urls.add(("%s/%s/%s" % (base, name, path)).lower())
    urls.add(("%s/%s/v2.0" % (base, tenant["id"])).lower())
    return urls
