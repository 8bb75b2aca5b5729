"""Tokens the sandbox's identity platform issues and its resource services validate.

Access tokens for Microsoft's first-party resources (Graph, Exchange Online) are v1.0-format RS256
JWTs with the claims Entra puts in them; id tokens are v2.0. Refresh tokens are opaque and kept in
the store so they can be redeemed, rotated and revoked."""
import base64
import collections
import json
import secrets
import threading
import time
import uuid

import jwt

from . import pki as pki_mod

ACCESS_TOKEN_LIFETIME = 3600
REFRESH_TOKEN_LIFETIME = 90 * 24 * 3600  # Microsoft's inactivity window, which the Sage 100 guide mentions


class TokenError(Exception):
    """A presented token is not acceptable; `reason` is a short machine-readable cause."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason


def _b64url_json(obj):
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).rstrip(b"=").decode()


class TokenService:
    def __init__(self, ctx):
        self.ctx = ctx
        self.key = ctx.pki.signing_key
        self.kid = ctx.pki.signing_kid
        self.x5t = pki_mod.x5t(ctx.pki.signing_cert)
        # Every token handed out since start (or the last clear), for GET /_sandbox/tokens: tests that
        # look for leaked tokens in logs search for these exact values. In memory only.
        self.issued_lock = threading.Lock()
        self.issued = collections.deque(maxlen=10000)

    def _remember(self, kind, value, tenant_id, client_id):
        with self.issued_lock:
            self.issued.append({"kind": kind, "value": value, "tenant": tenant_id, "client_id": client_id,
                                "issued": round(time.time(), 3)})
        return value

    def issued_tokens(self, kind=None):
        with self.issued_lock:
            return [dict(entry) for entry in self.issued if kind in (None, entry["kind"])]

    def forget_issued(self):
        with self.issued_lock:
            self.issued.clear()

    # --- issuing -----------------------------------------------------------------------------
    def _sign(self, claims):
        return jwt.encode(claims, self.key, algorithm="RS256",
                          headers={"typ": "JWT", "kid": self.kid, "x5t": self.x5t})

    def access_token(self, tenant_id, audience, client_app_id, client_display_name, appidacr,
                     client_sp_id, roles=None, scp=None, user=None, lifetime=ACCESS_TOKEN_LIFETIME, amr=None):
        """`user` is a user document (delegated token) or None (app-only token)."""
        now = int(time.time())
        claims = {
            "aud": audience,
            "iss": "https://sts.windows.net/%s/" % tenant_id,
            "iat": now, "nbf": now, "exp": now + lifetime,
            "aio": secrets.token_urlsafe(24),
            "app_displayname": client_display_name,
            "appid": client_app_id,
            "appidacr": appidacr,
            "idp": "https://sts.windows.net/%s/" % tenant_id,
            "rh": "0.%s." % secrets.token_urlsafe(16),
            "tid": tenant_id,
            "uti": secrets.token_urlsafe(16),
            "ver": "1.0",
            "xms_tcdt": now - 86400 * 365,
        }
        if user is None:
            claims.update({"idtyp": "app", "oid": client_sp_id, "sub": client_sp_id})
            if roles:
                claims["roles"] = sorted(roles)
        else:
            claims.update({
                "idtyp": "user", "oid": user["id"], "sub": _pairwise(user["id"], client_app_id),
                "upn": user["userPrincipalName"], "unique_name": user["userPrincipalName"],
                "name": user.get("displayName"), "given_name": user.get("givenName"),
                "family_name": user.get("surname"), "amr": amr or ["pwd"], "acct": 0,
                "scp": " ".join(scp or []),
            })
        return self._remember("access_token", self._sign(claims), tenant_id, client_app_id), lifetime

    def id_token(self, issuer, tenant_id, client_id, user, nonce=None, lifetime=ACCESS_TOKEN_LIFETIME):
        now = int(time.time())
        claims = {"aud": client_id, "iss": issuer, "iat": now, "nbf": now, "exp": now + lifetime,
                  "name": user.get("displayName"), "oid": user["id"],
                  "preferred_username": user["userPrincipalName"], "sub": _pairwise(user["id"], client_id),
                  "tid": tenant_id, "ver": "2.0", "rh": "0.%s." % secrets.token_urlsafe(16),
                  "uti": secrets.token_urlsafe(16)}
        if nonce:
            claims["nonce"] = nonce
        return self._remember("id_token", self._sign(claims), tenant_id, client_id)

    @staticmethod
    def client_info(user_id, tenant_id):
        """What MSAL needs to build a cache account: base64url of {"uid","utid"}."""
        return _b64url_json({"uid": user_id, "utid": tenant_id})

    def refresh_token(self, tenant_id, client_id, user_id, scopes, family=None, **details):
        """Opaque refresh token stored for later redemption; `details` (e.g. how the user signed in)
        are kept with it for the redeeming grant."""
        value = "0.S.sandbox." + secrets.token_urlsafe(48)
        now = time.time()
        doc = {"id": value, "clientId": client_id, "userId": user_id, "scopes": sorted(scopes),
               "issued": now, "lastUsed": now, "expires": now + REFRESH_TOKEN_LIFETIME, "family": family}
        doc.update(details)
        self.ctx.store.put(tenant_id, "refresh_token", doc)
        return self._remember("refresh_token", value, tenant_id, client_id)

    # --- validating --------------------------------------------------------------------------
    def jwks(self):
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        cert_der = self.ctx.pki.signing_cert.public_bytes(pki_mod.serialization.Encoding.DER)
        public.update({"kid": self.kid, "use": "sig", "x5t": self.x5t, "alg": "RS256",
                       "x5c": [base64.b64encode(cert_der).decode()]})
        return {"keys": [public]}

    def validate(self, token, audiences=None):
        """Claims of a token this sandbox issued; TokenError with a reason otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenError("malformed", "The token is not a JWT: %s" % exc)
        if header.get("kid") != self.kid:
            raise TokenError("signature", "The token was not signed by this identity platform.")
        try:
            claims = jwt.decode(token, self.key.public_key(), algorithms=["RS256"],
                                options={"verify_aud": False, "require": ["exp", "nbf", "aud", "tid"]})
        except jwt.ExpiredSignatureError:
            raise TokenError("expired", "Lifetime validation failed, the token is expired.")
        except jwt.ImmatureSignatureError:
            raise TokenError("not_yet_valid", "The token is not yet valid.")
        except jwt.PyJWTError as exc:
            raise TokenError("signature", "Signature validation failed: %s" % exc)
        if audiences is not None and claims.get("aud") not in audiences:
            raise TokenError("audience", "Invalid audience '%s'." % claims.get("aud"))
        return claims


def unverified_audience(token):
    """The ``aud`` claim of a JWT, unverified: for error messages that name the audience a caller sent."""
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("aud")
    except (IndexError, ValueError):
        return None


def _pairwise(user_id, client_id):
    """Entra's `sub` is pairwise per user and app: stable, but not the object id."""
    return base64.urlsafe_b64encode(uuid.uuid5(uuid.UUID(user_id), client_id).bytes * 2).rstrip(b"=").decode()[:43]


WORKLOAD_AUDIENCE = "api://AzureADTokenExchange"


def mint_workload_token(pki, issuer, subject, audience=WORKLOAD_AUDIENCE, lifetime=24 * 3600):
    """A token from the external OIDC issuer (a CI system's), for workload identity federation."""
    now = int(time.time())
    claims = {"iss": issuer, "sub": subject, "aud": audience, "iat": now, "nbf": now, "exp": now + lifetime,
              "jti": str(uuid.uuid4())}
    return jwt.encode(claims, pki.issuer_key, algorithm="RS256", headers={"kid": pki.issuer_kid})
