# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""HTTP for mailauth.m365: one pinned ``requests`` session, a small REST client and waiting helpers.

The REST client speaks JSON with a bearer token, honours ``Retry-After`` on 429/503/504 with bounded
jittered retries, follows ``@odata.nextLink``, re-acquires the token once on 401, never re-sends a
write whose fate is unknown, and keeps the service's error code and request id in every error.
Private to the collection: the interface may change in any release.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import os
import random
import time
import traceback
import uuid
from collections import namedtuple
from datetime import datetime, timezone
from urllib.parse import urlsplit, urlunsplit

from ansible_collections.mailauth.m365.plugins.module_utils._errors import (
    AmbiguousWriteError,
    GraphError,
    MailauthError,
    ReplicationLagError,
    ServiceError,
    ThrottledError,
    TransportError,
)

try:
    import requests
    from urllib3.exceptions import NewConnectionError
except ImportError:
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = traceback.format_exc()
    _SessionBase = object
else:
    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None
    _SessionBase = requests.Session

USER_AGENT = "mailauth.m365"
DEFAULT_TIMEOUT = 60
DEFAULT_BACKOFF_RETRIES = 15  # 16 tries, as go-azure-sdk (FACTS.md section 3)
DEFAULT_BACKOFF_MAX_DELAY = 60
RETRY_STATUSES = frozenset((429, 503, 504))
# A write whose answer was lost is read back and, when it did not happen, sent again: at most this many
# times (each try may lose its answer too; at a 3 % drop rate five in a row are one in 40 million).
AMBIGUOUS_WRITE_RESENDS = 5
METADATA_CACHE_SECONDS = 24 * 3600
# Graph PATCH sets properties to given values (and the create-if-missing upsert is keyed), so
# sending it twice has the effect of sending it once.
IDEMPOTENT_METHODS = frozenset(("GET", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH"))
TLS_REMEDY = ("Set ca_bundle to the PEM file of the CA that signed the server certificate "
              "(validate_certs=false only for throw-away tests).")

ApiResponse = namedtuple("ApiResponse", "status headers body request_id")
ApiResponse.__doc__ = "A successful answer: HTTP status, headers, parsed JSON body (None if empty), request id."


class HttpSession(_SessionBase):
    """A ``requests.Session`` that always sends with our ``verify``, a default timeout and a request count.

    ``requests`` lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace a ``verify`` of True, which would
    silently change which CA is trusted; here the configured value always wins. MSAL uses this
    session too (its ``http_client``), so token requests are pinned and counted the same way.
    """

    def __init__(self, verify=True, timeout=DEFAULT_TIMEOUT, metadata_cache_dir=None):
        super().__init__()
        self.pinned_verify = verify
        self.default_timeout = timeout
        self.request_count = 0
        self.headers["User-Agent"] = USER_AGENT
        self._ports = {}
        self.metadata_cache_dir = metadata_cache_dir

    def restore_port(self, url):
        """Give requests to ``url``'s host without a port ``url``'s port back.

        MSAL builds its ROPC ``/common/userrealm`` URL from the authority's host name alone, which
        loses a non-default port (a local sandbox); only same-host URLs are touched.
        """
        parts = urlsplit(url)
        if parts.port and parts.port != 443:
            self._ports[parts.hostname.lower()] = parts.port

    def request(self, method, url, *args, **kwargs):  # pylint: disable=arguments-differ
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        url = self._with_port(url)
        cached = self._cached_metadata(method, url)
        if cached is not None:
            return cached
        self.request_count += 1
        response = super().request(method, url, *args, **kwargs)
        self._store_metadata(method, url, response)
        return response

    # MSAL reads the tenant's OpenID configuration every time an app object is built, that is in
    # every module run. The document changes about never; caching it for a day saves one request
    # per task against the tenant's throttling budget.
    def _metadata_path(self, method, url):
        if not self.metadata_cache_dir or method.upper() != "GET":
            return None
        if not urlsplit(url).path.endswith("/.well-known/openid-configuration"):
            return None
        key = hashlib.sha256(("%s|%s" % (url, self.pinned_verify)).encode("utf-8")).hexdigest()[:32]
        return os.path.join(self.metadata_cache_dir, "metadata-%s.json" % key)

    def _cached_metadata(self, method, url):
        path = self._metadata_path(method, url)
        if not path:
            return None
        try:
            if time.time() - os.stat(path).st_mtime > METADATA_CACHE_SECONDS:
                return None
            with open(path, "rb") as handle:
                content = handle.read()
            json.loads(content.decode("utf-8"))
        except (OSError, ValueError):
            return None
        response = requests.Response()
        response.status_code = 200
        response._content = content  # pylint: disable=protected-access
        response.headers["Content-Type"] = "application/json; charset=utf-8"
        response.encoding = "utf-8"
        response.url = url
        return response

    def _store_metadata(self, method, url, response):
        path = self._metadata_path(method, url)
        if not path or response.status_code != 200:
            return
        try:
            os.makedirs(self.metadata_cache_dir, mode=0o700, exist_ok=True)
            temporary = "%s.%d.tmp" % (path, os.getpid())
            # Owner-only, like the token cache beside it: a later run sends its credentials to these endpoints.
            with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
                handle.write(response.content)
            os.replace(temporary, path)
        except OSError:
            pass  # a cache that cannot be written only costs the request next time

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        settings["verify"] = self.pinned_verify
        return settings

    def _with_port(self, url):
        parts = urlsplit(url)
        port = self._ports.get((parts.hostname or "").lower())
        if port and parts.port is None and parts.scheme == "https":
            return urlunsplit(parts._replace(netloc="%s:%d" % (parts.netloc, port)))
        return url


class RestClient:
    """JSON REST client with bearer auth for one service (Graph, later the Exchange admin API).

    ``token_provider(force_refresh=False)`` returns an access token; it is put in the Authorization
    header and nowhere else. ``error_class`` (a ``ServiceError``) parses the service's error bodies.
    """

    def __init__(self, base_url, session, token_provider, error_class=GraphError,
                 backoff_retries=DEFAULT_BACKOFF_RETRIES, backoff_max_delay=DEFAULT_BACKOFF_MAX_DELAY,
                 sleep=time.sleep, jitter=random.random, default_headers=None):
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.token_provider = token_provider
        self.error_class = error_class
        self.backoff_retries = backoff_retries
        self.backoff_max_delay = backoff_max_delay
        self.sleep = sleep
        self.jitter = jitter
        self.default_headers = dict(default_headers or {})
        self.request_count = 0
        self.waited = 0.0
        origin = urlsplit(self.base_url)
        self._origin = (origin.scheme, origin.netloc.lower())

    def url(self, path):
        """Absolute URL of ``path``; absolute URLs (``@odata.nextLink``) must stay on this service."""
        if "://" not in path:
            return "%s/%s" % (self.base_url, path.lstrip("/"))
        parts = urlsplit(path)
        if (parts.scheme, parts.netloc.lower()) != self._origin:
            # The bearer token must never be sent to a host other than the one it is meant for.
            raise MailauthError("Refusing to send a request for %s to %s: it is not on %s."
                                % (self.error_class.service, path, self.base_url), url=path)
        return path

    def send(self, method, path, params=None, body=None, headers=None, idempotent=None, permission=None):
        """Send one logical request (with retries) and return an ``ApiResponse``.

        ``idempotent`` overrides the method-based guess (a POST that only reads may say True).
        ``permission`` names what a 403 would lack, for the error message.
        """
        method = method.upper()
        url = self.url(path)
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        attempt = 0
        waited = 0.0
        force_refresh = reauthenticated = False
        while True:
            try:
                response = self._send_once(method, url, params, body, headers, force_refresh)
            except requests.exceptions.SSLError as exc:
                raise transport_error(method, url, exc) from None  # retrying cannot fix a certificate
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                if not (idempotent or _never_sent(exc)):
                    raise AmbiguousWriteError(method, url, _describe(exc)) from None
                if attempt >= self.backoff_retries:
                    raise transport_error(method, url, exc) from None
                delay = self._delay(attempt, None)
            else:
                force_refresh = False
                status = response.status_code
                if status == 401 and not reauthenticated:
                    # A cached token can be revoked or cut short; one fresh token settles it.
                    force_refresh = reauthenticated = True
                    continue
                if status in RETRY_STATUSES:
                    if status == 504 and not idempotent:
                        # The gateway gave up waiting; the write behind it may have completed.
                        raise AmbiguousWriteError(method, url, "HTTP 504 Gateway Timeout")
                    if attempt >= self.backoff_retries:
                        last = self.error_class.from_response(method, url, response, permission)
                        raise ThrottledError(last, attempt + 1, waited)
                    delay = self._delay(attempt, response.headers.get("Retry-After"))
                elif status >= 400:
                    raise self.error_class.from_response(method, url, response, permission)
                else:
                    return ApiResponse(status, response.headers, _json_body(response),
                                       response.headers.get("request-id"))
            self.sleep(delay)
            waited += delay
            self.waited += delay
            attempt += 1

    def get(self, path, params=None, **kwargs):
        """GET and return the JSON body."""
        return self.send("GET", path, params=params, **kwargs).body

    def post(self, path, body=None, **kwargs):
        """POST ``body`` as JSON and return the JSON answer (None when empty)."""
        return self.send("POST", path, body=body, **kwargs).body

    def patch(self, path, body=None, **kwargs):
        """PATCH ``body`` as JSON and return the JSON answer (None for 204)."""
        return self.send("PATCH", path, body=body, **kwargs).body

    def put(self, path, body=None, **kwargs):
        """PUT ``body`` as JSON and return the JSON answer."""
        return self.send("PUT", path, body=body, **kwargs).body

    def delete(self, path, **kwargs):
        """DELETE and return the JSON answer (usually None)."""
        return self.send("DELETE", path, **kwargs).body

    def get_all(self, path, params=None, **kwargs):
        """GET a collection and every ``@odata.nextLink`` page after it; return all ``value`` items."""
        items = []
        seen = set()
        url = path
        while url:
            page = self.get(url, params=params, **kwargs) or {}
            items.extend(page.get("value", []))
            url = page.get("@odata.nextLink")
            params = None  # a nextLink already carries the query
            if url in seen:
                raise MailauthError("%s returned the same @odata.nextLink twice: %s"
                                    % (self.error_class.service, url), url=url)
            seen.add(url)
        return items

    def _send_once(self, method, url, params, body, headers, force_refresh):
        request_headers = {
            "Accept": "application/json",
            "client-request-id": str(uuid.uuid4()),
            "Authorization": "Bearer " + self.token_provider(force_refresh=force_refresh),
        }
        request_headers.update(self.default_headers)
        request_headers.update(headers or {})
        self.request_count += 1
        return self.session.request(method, url, params=params, json=body, headers=request_headers)

    def _delay(self, attempt, retry_after):
        return backoff_delay(attempt, retry_after, self.backoff_max_delay, self.jitter)


def backoff_delay(attempt, retry_after, max_delay, jitter=random.random):
    """Seconds to wait before retry number ``attempt`` (0-based).

    A ``Retry-After`` hint is honoured (capped at ``max_delay``) with up to 10 % added, so that
    parallel forks throttled together do not come back together. Without one: exponential with
    jitter, between half and all of ``min(max_delay, 2**attempt)``.
    """
    hinted = parse_retry_after(retry_after)
    if hinted is not None:
        return min(max_delay, hinted * (1 + 0.1 * jitter()))
    ceiling = min(max_delay, 2 ** attempt)
    return ceiling / 2.0 * (1 + jitter())


def parse_retry_after(value, now=None):
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date); None when absent or invalid."""
    if value is None:
        return None
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def is_replication_lag(error, include_forbidden=True):
    """True for the answers Graph gives while a just-created object is not replicated everywhere yet."""
    if not isinstance(error, ServiceError):
        return False
    if error.status == 404 and error.code == "Request_ResourceNotFound":
        return True
    # No dedicated code exists for this one; the message is all there is to match on.
    if error.status == 400 and "does not reference a valid application object" in (error.service_message or ""):
        return True
    return include_forbidden and error.status == 403


def wait_for_replication(call, timeout=300, sleep=time.sleep, clock=time.monotonic, first_delay=2.0,
                         max_delay=20.0, include_forbidden=True):
    """Run ``call()`` until it stops failing with replication lag; return ``(result, seconds_waited)``.

    Other errors propagate at once. After ``timeout`` seconds a ``ReplicationLagError`` wraps the last
    error, saying how long it waited. ``include_forbidden=False`` when a 403 cannot be lag.
    """
    start = clock()
    delay = first_delay
    attempts = 0
    while True:
        attempts += 1
        try:
            return call(), clock() - start
        except ServiceError as err:
            if not is_replication_lag(err, include_forbidden):
                raise
            waited = clock() - start
            if waited + delay > timeout:
                raise ReplicationLagError(err, attempts, waited) from None
        sleep(delay)
        delay = min(max_delay, delay * 2)


def wait_until(read, done, what, timeout=300, sleep=time.sleep, clock=time.monotonic, first_delay=1.0,
               max_delay=10.0):
    """Call ``read()`` until ``done(result)``; return ``(result, seconds_waited)``.

    For writes Graph confirmed (or refused as a duplicate) whose result reads do not show yet: a
    successful read that lacks the object is replication lag too, not an error to raise. ``what``
    names the awaited state for the ``ReplicationLagError`` raised after ``timeout`` seconds.
    """
    start = clock()
    delay = first_delay
    attempts = 0
    while True:
        attempts += 1
        result = read()
        waited = clock() - start
        if done(result):
            return result, waited
        if waited + delay > timeout:
            raise ReplicationLagError(MailauthError("%s was still not visible to reads." % what), attempts, waited)
        sleep(delay)
        delay = min(max_delay, delay * 2)


def transport_error(method, url, exc):
    """A ``TransportError`` for a ``requests`` exception, with the CA remedy when TLS verification failed."""
    remedy = TLS_REMEDY if isinstance(exc, requests.exceptions.SSLError) else None
    return TransportError(method, url, _describe(exc), remedy=remedy)


def _json_body(response):
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _never_sent(exc):
    """True when the connection failed before any byte of the request left, so any method may retry."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


def _describe(exc):
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return "%s: %s" % (type(exc).__name__, reason or exc)
