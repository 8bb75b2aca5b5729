# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Sign-ins the way mail products do them, for the mail smoke test.

- ``client_credentials``: app-only with the connection's secret, certificate or federated token
  (enaio, TrueChem); always a fresh token, so an expired secret shows even while a cached token lives.
- ``refresh_token``: redeems the refresh token an earlier interactive consent left in the token
  cache (Sage 100, XLReporter), as the product does every time it sends.
- ``device_code``: the cached device code sign-in of ``mailauth.m365.device_code_login``, its access
  token reused while it is valid (the first test after the interactive consent).
- ``password``: user name and password (ROPC, Monitor ERP); cannot do MFA.

Tokens are returned to the caller only, for the AUTH line; results carry their claims, never them.
Private to the collection: the interface may change in any release.
"""

from __future__ import annotations

import time
import warnings

from ansible_collections.mailauth.m365.plugins.module_utils._auth import (
    TokenSource,
    build_msal_app,
    decode_claims,
    signed_in_account,
)
from ansible_collections.mailauth.m365.plugins.module_utils._errors import AuthError
from ansible_collections.mailauth.m365.plugins.module_utils._http import transport_error

try:
    import msal
    import requests
except ImportError:
    pass  # the module reports the missing library before anything here runs

SIGN_INS = ("client_credentials", "refresh_token", "device_code", "password")
DELEGATED = ("refresh_token", "device_code", "password")
RESERVED_SCOPES = ("openid", "profile", "offline_access", "email")
# Entra answers both Outlook names; the product guides (Sage 100) use this one for SMTP.Send.
PUBLIC_OUTLOOK = "https://outlook.office.com"
PUBLIC_EXCHANGE_RESOURCE = "https://outlook.office365.com"


def outlook_base(cloud):
    """The resource delegated SMTP/IMAP scopes are asked for in ``cloud``."""
    resource = cloud.exchange_resource.rstrip("/")
    return PUBLIC_OUTLOOK if resource == PUBLIC_EXCHANGE_RESOURCE else resource


def delegated_scopes(cloud, names, base):
    """Full scope URIs for ``names`` (``SMTP.Send`` or a full URI); MSAL adds the reserved OIDC ones."""
    scopes = []
    for name in names:
        if name.lower() in RESERVED_SCOPES:
            continue
        scopes.append(name if "://" in name else "%s/%s" % (base.rstrip("/"), name))
    return scopes


class MailSignIn:
    """Access tokens of one identity, obtained the way ``method`` says (one of ``SIGN_INS``).

    ``settings`` are the validated connection settings (``ConnectionSettings``); for the delegated
    methods their auth method is ``device_code``, whose token cache holds the earlier sign-in.
    """

    def __init__(self, method, settings, session, username=None, password=None):
        if method not in SIGN_INS:
            raise ValueError("unknown sign-in %r" % method)
        self.method = method
        self.settings = settings
        self.session = session
        self.username = username
        self.password = password
        self.claims = {}
        self.expires_on = None
        self._source = None

    def token(self, resource, scopes=None):
        """A token for ``resource`` (``exchange`` or ``graph``): app-only ``/.default``, else ``scopes``."""
        if self.method == "client_credentials":
            if self._source is None:
                self._source = TokenSource(self.settings.auth, self.session)
            # A smoke test proves the credential works now: never a token cached by an earlier run.
            token = self._source.token(resource, force_refresh=True)
            return self._remember(token, None)
        if self.method == "password":
            result = self._password(scopes)
        else:
            result = self._cached(scopes, force_refresh=self.method == "refresh_token")
        return self._remember(result["access_token"], result.get("expires_in"))

    def _remember(self, token, expires_in):
        self.claims = decode_claims(token)
        expires = self.claims.get("exp")
        if expires is None and expires_in:
            expires = int(time.time() + int(expires_in))
        self.expires_on = expires
        return token

    def _password(self, scopes):
        auth = self.settings.auth
        # A throw-away cache: the smoke test must not leave a password sign-in behind.
        app = build_msal_app(auth, self.session, msal.SerializableTokenCache(), public=True)
        try:
            with warnings.catch_warnings():
                # MSAL deprecates ROPC; the smoke test does it because the product (Monitor ERP) does.
                warnings.simplefilter("ignore", DeprecationWarning)
                result = app.acquire_token_by_username_password(self.username, self.password, scopes=scopes)
        except requests.exceptions.RequestException as exc:
            raise transport_error("POST", auth.authority, exc) from None
        if "access_token" not in result:
            raise AuthError.from_token_response(
                "Password sign-in of %s with client %s failed" % (self.username, auth.client_id), result)
        return result

    def _cached(self, scopes, force_refresh):
        auth = self.settings.auth
        cache_file = TokenSource(auth, self.session).cache_file
        with cache_file.locked() as cache:
            app = build_msal_app(auth, self.session, cache, public=True)
            account = signed_in_account(app, cache_file.path)
            try:
                result = app.acquire_token_silent_with_error(scopes, account, force_refresh=force_refresh)
            except requests.exceptions.RequestException as exc:
                raise transport_error("POST", auth.authority, exc) from None
        if result is None:
            raise AuthError("The cached sign-in of %s in %s has no refresh token for %s: sign in again with "
                            "the device code login of mailauth.m365"
                            % (account.get("username"), cache_file.path, " ".join(scopes)))
        if "access_token" not in result:
            raise AuthError.from_token_response(
                "Redeeming the cached sign-in of %s for %s failed" % (account.get("username"), " ".join(scopes)),
                result)
        self.username = account.get("username")
        return result

    def describe(self):
        """Who signed in and what the token allows (its claims; the token itself never)."""
        claims = self.claims
        scopes = (claims.get("scp") or "").split()
        user = claims.get("upn") or claims.get("unique_name") or claims.get("preferred_username")
        record = dict(
            sign_in=self.method,
            client_id=claims.get("appid") or claims.get("azp") or self.settings.auth.client_id,
            tenant_id=claims.get("tid") or self.settings.auth.tenant_id,
            identity_type="user" if (scopes or claims.get("idtyp") == "user") else "application",
            username=user or (self.username if self.method in DELEGATED else None),
            object_id=claims.get("oid"),
            audience=claims.get("aud"),
            scopes=scopes,
            roles=list(claims.get("roles") or []),
            expires_on=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.expires_on)) if self.expires_on else None,
        )
        if self._source is not None and self._source.certificate is not None:
            record["certificate_thumbprint"] = self._source.certificate.thumbprint
        return record
