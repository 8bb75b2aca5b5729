# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Token acquisition with MSAL, and the on-disk token cache shared by parallel module runs.

Credentials: client secret, certificate (PEM with key and certificate), federated token file, and
device code (an administrator signs in once; later runs take the tokens from the cache). Access
tokens leave this file only as the value of an Authorization header: they are never returned,
logged or put into an error. Private to the collection: the interface may change in any release.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import tempfile
import time
import traceback
from collections import namedtuple
from contextlib import contextmanager

from ansible_collections.mailauth.m365.plugins.module_utils._errors import AuthError, ParameterError
from ansible_collections.mailauth.m365.plugins.module_utils._http import transport_error

try:
    import fcntl
except ImportError:  # not on Windows; modules run on POSIX hosts only
    fcntl = None

try:
    import msal
    from msal.exceptions import MsalServiceError
    import requests
except ImportError:
    HAS_MSAL = False
    MSAL_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_MSAL = True
    MSAL_IMPORT_ERROR = None

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
except ImportError:
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = traceback.format_exc()
else:
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None

AUTH_METHODS = ("client_secret", "certificate", "federated", "device_code")
CACHE_FILE_MODE = 0o600
CACHE_DIR_MODE = 0o700
TOKEN_REUSE_MARGIN = 300  # seconds of validity a remembered token must still have
DEVICE_LOGIN_HINT = "sign in first with the device code login of mailauth.m365"


class AuthSettings(namedtuple("AuthSettings", "cloud tenant_id client_id method client_secret "
                                              "certificate_path certificate_password "
                                              "federated_token_file cache_dir")):
    """Who signs in, where and how. ``method`` is one of ``AUTH_METHODS`` (already resolved from auto)."""

    __slots__ = ()

    def __new__(cls, cloud, tenant_id, client_id, method, client_secret=None, certificate_path=None,
                certificate_password=None, federated_token_file=None, cache_dir=None):
        return super().__new__(cls, cloud, tenant_id, client_id, method, client_secret, certificate_path,
                               certificate_password, federated_token_file, cache_dir)

    def __repr__(self):
        # Keeps secrets out of tracebacks and debug output.
        return "AuthSettings(cloud=%s, tenant_id=%s, client_id=%s, method=%s)" % (
            self.cloud.name, self.tenant_id, self.client_id, self.method)

    @property
    def authority(self):
        return self.cloud.authority(self.tenant_id)


class Certificate(namedtuple("Certificate", "private_key_pem certificate_pem thumbprint thumbprint_sha256")):
    """A client certificate: unencrypted key PEM (memory only), certificate chain PEM (leaf first), hex thumbprints."""

    __slots__ = ()

    def __repr__(self):
        return "Certificate(thumbprint=%s)" % self.thumbprint


def load_certificate(path, password=None):
    """Read a PEM file holding a private key and its certificate; ``ParameterError`` explains what is wrong."""
    option = "client_certificate_path"
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise ParameterError(option, "cannot read %s (%s)." % (path, exc.strerror)) from None
    try:
        key = serialization.load_pem_private_key(data, password.encode() if password else None)
    except TypeError:
        raise ParameterError("client_certificate_password", "the private key in %s is encrypted." % path,
                             "Give its password.") from None
    except ValueError:
        if password and b"PRIVATE KEY-----" in data:
            raise ParameterError("client_certificate_password", "does not decrypt the private key in %s." % path,
                                 "Give the key's password.") from None
        raise ParameterError(option, "%s holds no readable private key." % path,
                             "Use a PEM file with the private key and the certificate.") from None
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise ParameterError(option, "%s holds no PEM certificate." % path,
                             "Append the certificate to the private key in the same file.") from None
    public_key = _public_der(key.public_key())
    leaf = [cert for cert in certificates if _public_der(cert.public_key()) == public_key]
    if not leaf:
        raise ParameterError(option, "no certificate in %s matches its private key." % path)
    # The certificate of the signing key must come first in x5c.
    chain = leaf[:1] + [cert for cert in certificates if cert is not leaf[0]]
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode("ascii")
    chain_pem = "".join(cert.public_bytes(serialization.Encoding.PEM).decode("ascii") for cert in chain)
    return Certificate(key_pem, chain_pem, leaf[0].fingerprint(hashes.SHA1()).hex().upper(),
                       leaf[0].fingerprint(hashes.SHA256()).hex().upper())


def _public_der(public_key):
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def default_cache_dir():
    """``$XDG_CACHE_HOME/mailauth.m365`` or ``~/.cache/mailauth.m365``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "mailauth.m365")


class TokenCacheFile:
    """One MSAL ``SerializableTokenCache`` persisted in a 0600 file, under an exclusive lock while in use.

    Each (authority, client, credential) has its own file, so tenants, clients and clouds never share
    entries. Parallel forks take turns: the first one fetches a token, the others then find it cached.
    """

    def __init__(self, directory, key):
        self.directory = directory or default_cache_dir()
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode("utf-8")).hexdigest()[:32]
        self.path = os.path.join(self.directory, "token-cache-%s.json" % digest)
        self.cache = msal.SerializableTokenCache()

    @contextmanager
    def locked(self):
        """Load the file under the lock, yield the cache, write it back if MSAL changed it."""
        self.ensure_directory()
        lock_fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, CACHE_FILE_MODE)
        try:
            if fcntl:
                fcntl.flock(lock_fd, fcntl.LOCK_EX)
            self._load()
            yield self.cache
            if self.cache.has_state_changed:
                self._save()
        finally:
            os.close(lock_fd)  # closing releases the lock

    def ensure_directory(self):
        if not os.path.isdir(self.directory):
            os.makedirs(self.directory, mode=CACHE_DIR_MODE, exist_ok=True)
            os.chmod(self.directory, CACHE_DIR_MODE)
        elif self.directory == default_cache_dir():
            # Ours alone; a user-chosen directory is left as its owner set it.
            os.chmod(self.directory, CACHE_DIR_MODE)

    def _load(self):
        try:
            with open(self.path, "r", encoding="utf-8") as handle:
                state = handle.read()
        except FileNotFoundError:
            state = None
        try:
            self.cache.deserialize(state)
        except ValueError:
            self.cache.deserialize(None)  # unreadable cache: start afresh, it is rewritten below
        self.cache.has_state_changed = False

    def _save(self):
        handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".token-cache-")  # created 0600
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(self.cache.serialize())
            os.chmod(temporary, CACHE_FILE_MODE)
            os.replace(temporary, self.path)
        except OSError:
            os.unlink(temporary)
            raise
        self.cache.has_state_changed = False


def build_msal_app(settings, session, token_cache, credential=None, public=False):
    """A MSAL client application for ``settings`` that talks only through ``session``.

    ``credential`` is MSAL's ``client_credential`` (secret string or dict); ``public=True`` builds a
    ``PublicClientApplication`` (device code, ROPC).
    """
    session.restore_port(settings.cloud.authority_host)
    options = dict(
        authority=settings.authority,
        http_client=session,
        token_cache=token_cache,
        # Otherwise MSAL asks login.microsoftonline.com about any authority it does not know.
        instance_discovery=False,
    )
    if settings.cloud.name != "public":
        # MSAL's regional endpoints exist only in the public cloud.
        options["azure_region"] = False
    try:
        if public:
            return msal.PublicClientApplication(settings.client_id, **options)
        return msal.ConfidentialClientApplication(settings.client_id, client_credential=credential, **options)
    except (ValueError, MsalServiceError, RuntimeError) as exc:
        raise _discovery_error(settings, exc) from None
    except requests.exceptions.RequestException as exc:
        raise transport_error("GET", settings.authority, exc) from None


class TokenSource:
    """Access tokens for ``graph`` / ``exchange`` of one identity, from the cache or the identity platform."""

    def __init__(self, settings, session):
        self.settings = settings
        self.session = session
        self.certificate = None
        self._app = None
        self._credential = None
        self._tokens = {}
        fingerprint = ""
        if settings.method == "client_secret":
            self._credential = settings.client_secret
            fingerprint = hashlib.sha256(settings.client_secret.encode("utf-8")).hexdigest()
        elif settings.method == "certificate":
            self.certificate = load_certificate(settings.certificate_path, settings.certificate_password)
            # MSAL derives the SHA-256 thumbprint from public_certificate: PS256 with x5t#S256 and x5c.
            self._credential = dict(private_key=self.certificate.private_key_pem,
                                    public_certificate=self.certificate.certificate_pem)
            fingerprint = self.certificate.thumbprint_sha256
        elif settings.method == "federated":
            # Federated tokens are short-lived and rotated on disk: read the file for every request.
            self._credential = dict(client_assertion=self._read_federated_token)
            fingerprint = os.path.abspath(settings.federated_token_file)
        # A new secret or certificate gets its own cache file, so verifying it cannot pass on an old token.
        self.cache_file = TokenCacheFile(settings.cache_dir, [settings.authority, settings.client_id,
                                                              settings.method, fingerprint])

    def token(self, resource="graph", force_refresh=False):
        """An access token for ``resource`` (``graph`` or ``exchange``); ``force_refresh`` skips the cache."""
        remembered = self._tokens.get(resource)
        # Within one run, skip the locked file round trip while the token has minutes left.
        if remembered and not force_refresh and remembered[1] > time.time() + TOKEN_REUSE_MARGIN:
            return remembered[0]
        scopes = [self.settings.cloud.scope(resource)]
        with self.cache_file.locked():
            app = self._msal_app()
            try:
                if self.settings.method == "device_code":
                    result = self._silent(app, scopes, force_refresh)
                else:
                    if force_refresh:
                        app.remove_tokens_for_client()
                    result = app.acquire_token_for_client(scopes)
            except requests.exceptions.RequestException as exc:
                raise transport_error("POST", self.settings.authority, exc) from None
        if "access_token" not in result:
            raise AuthError.from_token_response(self._failure_summary(resource), result)
        self._tokens[resource] = (result["access_token"], time.time() + int(result.get("expires_in") or 0))
        return result["access_token"]

    def claims(self, resource="graph"):
        """The claims of the current token for ``resource`` (decoded, not verified); never the token."""
        return decode_claims(self.token(resource))

    def describe(self):
        """What identifies this sign-in in results: method, client, tenant, cloud, thumbprint."""
        described = dict(auth_method=self.settings.method, client_id=self.settings.client_id,
                         tenant=self.settings.tenant_id, cloud=self.settings.cloud.name)
        if self.certificate:
            described["certificate_thumbprint"] = self.certificate.thumbprint
        return described

    def _msal_app(self):
        if self._app is None:
            self._app = build_msal_app(self.settings, self.session, self.cache_file.cache, self._credential,
                                       public=self.settings.method == "device_code")
        return self._app

    def _silent(self, app, scopes, force_refresh):
        account = signed_in_account(app, self.cache_file.path)
        result = app.acquire_token_silent_with_error(scopes, account, force_refresh=force_refresh)
        if result is None:
            raise AuthError("The cached device code sign-in of %s has no usable token for %s: %s again."
                            % (account.get("username"), scopes[0], DEVICE_LOGIN_HINT))
        return result

    def _read_federated_token(self):
        path = self.settings.federated_token_file
        try:
            with open(path, "r", encoding="utf-8") as handle:
                assertion = handle.read().strip()
        except OSError as exc:
            raise ParameterError("federated_token_file", "cannot read %s (%s)." % (path, exc.strerror)) from None
        if not assertion:
            raise ParameterError("federated_token_file", "%s is empty." % path,
                                 "Point it at the file your platform writes the federated token to.")
        return assertion

    def _failure_summary(self, resource):
        return "Could not get a token for %s as client %s in tenant %s (%s)" % (
            self.settings.cloud.resource(resource), self.settings.client_id, self.settings.tenant_id,
            self.settings.method)


def signed_in_account(app, cache_path):
    """The one account a device code sign-in left in the cache; ``AuthError`` when there is none or several."""
    accounts = app.get_accounts()
    if not accounts:
        raise AuthError("No signed-in account in the token cache %s: %s." % (cache_path, DEVICE_LOGIN_HINT))
    if len(accounts) > 1:
        raise AuthError("Several accounts are signed in in the token cache %s (%s): %s to keep one."
                        % (cache_path, ", ".join(sorted(a.get("username", "?") for a in accounts)),
                           DEVICE_LOGIN_HINT))
    return accounts[0]


class DeviceCodeLogin:
    """Interactive administrator sign-in: ``start()`` shows a code, ``finish()`` waits for approval.

    The tokens go into the same cache file that ``TokenSource`` with ``method=device_code`` reads, so
    modules run later sign in silently. Only the account's name, tenant and granted scopes are returned.
    ``scopes`` are permission names on ``resource`` (``Application.ReadWrite.All``) or full scope URIs;
    by default ``/.default``, every permission consented for the client.
    """

    def __init__(self, settings, session, resource="graph", scopes=None):
        if settings.method != "device_code":
            raise ParameterError("auth_method", "is %s; a device code login needs device_code." % settings.method)
        self.settings = settings
        self.scopes = resource_scopes(settings.cloud, resource, scopes)
        self.cache_file = TokenSource(settings, session).cache_file
        self._session = session
        self._app = None
        self._flow = None

    def _application(self, cache):
        if self._app is None:
            self._app = build_msal_app(self.settings, self._session, cache, public=True)
        return self._app

    @contextmanager
    def one_at_a_time(self):
        """Hold a lock beside the cache file across a whole check-then-sign-in.

        Parallel runs for the same cache (the forks of one play) then show one code between them: the
        others wait, and find the sign-in in the cache. (The cache's own lock cannot be held that long:
        each step takes it anew.)
        """
        self.cache_file.ensure_directory()
        lock_fd = os.open(self.cache_file.path + ".login.lock", os.O_RDWR | os.O_CREAT, CACHE_FILE_MODE)
        try:
            if fcntl:
                fcntl.flock(lock_fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(lock_fd)

    def signed_in(self):
        """The account of a cached sign-in that still yields a token for the scopes, else None.

        A cache without exactly one account, or whose refresh token the identity platform no longer
        accepts (expired, revoked), is not signed in; transport failures propagate.
        """
        with self.cache_file.locked() as cache:
            app = self._application(cache)
            accounts = app.get_accounts()
            if len(accounts) != 1:
                return None
            try:
                result = app.acquire_token_silent_with_error(self.scopes, accounts[0])
            except requests.exceptions.RequestException as exc:
                raise transport_error("POST", self.settings.authority, exc) from None
        if not result or "access_token" not in result:
            return None
        return _account_record(accounts[0].get("username"), accounts[0].get("realm"), result)

    def start(self):
        """Ask for a device code; return ``user_code``, ``verification_uri``, ``expires_in`` and ``message``."""
        with self.cache_file.locked() as cache:
            app = self._application(cache)
        try:
            flow = app.initiate_device_flow(scopes=self.scopes)
        except requests.exceptions.RequestException as exc:
            raise transport_error("POST", self.settings.authority, exc) from None
        if "user_code" not in flow:
            raise AuthError.from_token_response(
                "Could not start a device code sign-in for client %s" % self.settings.client_id, flow)
        self._flow = flow
        return {key: flow.get(key) for key in ("user_code", "verification_uri", "expires_in", "interval", "message")}

    def finish(self, exit_condition=None):
        """Poll until the code is approved, declined or expired; return ``username``, ``tenant_id``, ``scopes``.

        ``exit_condition(flow)`` returning True stops polling early (MSAL's own hook).
        """
        if self._flow is None:
            raise AuthError("finish() was called before start().")
        with self.cache_file.locked():
            options = {"exit_condition": exit_condition} if exit_condition else {}
            try:
                result = self._app.acquire_token_by_device_flow(self._flow, **options)
            except requests.exceptions.RequestException as exc:
                raise transport_error("POST", self.settings.authority, exc) from None
            if "access_token" not in result:
                raise AuthError.from_token_response("The device code sign-in did not complete", result)
            claims = result.get("id_token_claims") or {}
            username = claims.get("preferred_username")
            # One account per cache file, so later silent sign-ins know whose tokens to use.
            for account in self._app.get_accounts():
                if account.get("username") != username:
                    self._app.remove_account(account)
        return _account_record(username, claims.get("tid"), result)


def resource_scopes(cloud, resource, scopes=None):
    """Scope URIs for permission names on ``resource``; ``[<resource>/.default]`` when none are given.

    MSAL adds openid, profile and offline_access itself and refuses them in the list, so they are dropped.
    """
    if not scopes:
        return [cloud.scope(resource)]
    prefix = cloud.resource(resource).rstrip("/")
    return [scope if "://" in scope else "%s/%s" % (prefix, scope)
            for scope in scopes if scope.lower() not in ("openid", "profile", "offline_access")]


def _account_record(username, tenant_id, token_result):
    """What may be said about a sign-in: who, where, and the delegated scopes the access token carries."""
    scopes = (decode_claims(token_result["access_token"]).get("scp") or "").split()
    if not scopes:
        # An opaque token: fall back to what the token answer says it grants.
        scopes = [scope.rpartition("/")[2] for scope in (token_result.get("scope") or "").split()]
    return dict(username=username, tenant_id=tenant_id, scopes=sorted(scopes))


def decode_claims(token):
    """The payload of a JWT as a dict, without verifying it; ``{}`` for an opaque token."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def _discovery_error(settings, exc):
    """Turn MSAL's failure to read the tenant's OpenID configuration into an ``AuthError``.

    MSAL puts the identity platform's JSON answer at the end of the message of the error it raises
    first (then re-raises a generic one); the codes are taken from that JSON, not from the prose.
    """
    summary = "Could not read the sign-in configuration of tenant %s at %s" % (
        settings.tenant_id, settings.cloud.authority_host)
    error = exc
    while error is not None:
        answer = _trailing_json(str(error))
        if answer.get("error"):
            return AuthError.from_token_response(summary, answer)
        error = error.__context__
    return AuthError(summary, description=str(exc), remedy="Check tenant_id and cloud (or authority_host).")


def _trailing_json(text):
    start = text.find("{")
    try:
        answer = json.loads(text[start:]) if start >= 0 else None
    except ValueError:
        answer = None
    return answer if isinstance(answer, dict) else {}
