# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""A scripted HTTP exchange for unit tests: each request must be the one expected, and gets its answer.

``ScriptedTransport`` is a ``requests`` transport adapter, so everything above it (our clients, MSAL)
runs for real; only the network is replaced.
"""

from __future__ import annotations

import base64
import json
import time
from collections import deque, namedtuple
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

Sent = namedtuple("Sent", "method url headers body verify timeout")


class Expected(namedtuple("Expected", "method url status json headers raises check content")):
    """One scripted step: the request expected and the answer (or exception) it gets."""


class ScriptedTransport(BaseAdapter):
    """Answers requests from a script, in order, and fails on anything not scripted."""

    def __init__(self):
        super().__init__()
        self.script = deque()
        self.sent = []

    def expect(self, method, url, status=200, json=None, headers=None, raises=None, check=None, times=1, content=None):
        """Script an exchange (``times`` in a row). ``url`` matches scheme, host, port, path, and query if given.

        The answer's body is ``json``, or the bytes ``content`` (an XML answer) with the ``headers`` given."""
        self.script.extend([Expected(method, url, status, json, headers or {}, raises, check, content)] * times)
        return self

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        sent = Sent(request.method, request.url, dict(request.headers), body, verify, timeout)
        self.sent.append(sent)
        assert self.script, "unexpected request %s %s" % (request.method, request.url)
        step = self.script.popleft()
        assert (request.method, _without_query(request.url)) == (step.method, _without_query(step.url)), (
            "expected %s %s, got %s %s" % (step.method, step.url, request.method, request.url))
        if urlsplit(step.url).query:
            assert parse_qs(urlsplit(request.url).query) == parse_qs(urlsplit(step.url).query), request.url
        if step.check:
            step.check(sent)
        if step.raises is not None:
            raise step.raises
        response = requests.Response()
        response.status_code = step.status
        response.url = request.url
        response.request = request
        response.headers = CaseInsensitiveDict(step.headers)
        if step.json is not None:
            response._content = json.dumps(step.json).encode()  # pylint: disable=protected-access
            response.headers.setdefault("Content-Type", "application/json")
        elif step.content is not None:
            response._content = step.content  # pylint: disable=protected-access
        else:
            response._content = b""  # pylint: disable=protected-access
        response.encoding = "utf-8"
        return response

    def close(self):
        pass

    def assert_done(self):
        assert not self.script, "scripted requests not sent: %s" % [(s.method, s.url) for s in self.script]

    def count(self, method, url_part=""):
        return sum(1 for sent in self.sent if sent.method == method and url_part in sent.url)


def _without_query(url):
    parts = urlsplit(url)
    return "%s://%s%s" % (parts.scheme, parts.netloc, parts.path)


def form(sent):
    """The form fields of a sent token request, one value each."""
    return {key: values[0] for key, values in parse_qs(sent.body).items()}


def unsigned_jwt(claims):
    """A JWT-shaped token with ``claims`` (not signed: our code never verifies tokens it is given)."""
    def encode(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return "%s.%s.%s" % (encode({"alg": "none", "typ": "JWT"}), encode(claims), "c2lnbmF0dXJl")


def openid_configuration(authority):
    return {
        "issuer": authority + "/v2.0",
        "authorization_endpoint": authority + "/oauth2/v2.0/authorize",
        "token_endpoint": authority + "/oauth2/v2.0/token",
        "device_authorization_endpoint": authority + "/oauth2/v2.0/devicecode",
    }


class Identity:
    """Scripts the identity platform side of a sign-in for one authority."""

    def __init__(self, transport, authority):
        self.transport = transport
        self.authority = authority
        self.token_endpoint = authority + "/oauth2/v2.0/token"

    def discovery(self, status=200, json=None):
        self.transport.expect("GET", self.authority + "/v2.0/.well-known/openid-configuration", status=status,
                              json=openid_configuration(self.authority) if json is None else json)

    def token(self, claims=None, check=None, expires_in=3600, extra=None):
        """Script a successful token answer; return the access token it carries."""
        access_token = unsigned_jwt(dict({"aud": "https://graph.microsoft.com", "iat": int(time.time())},
                                         **(claims or {})))
        answer = dict({"token_type": "Bearer", "expires_in": expires_in, "access_token": access_token},
                      **(extra or {}))
        self.transport.expect("POST", self.token_endpoint, json=answer, check=check)
        return access_token

    def token_error(self, code, error="invalid_client", status=401):
        self.transport.expect("POST", self.token_endpoint, status=status, json={
            "error": error,
            "error_description": "AADSTS%d: something went wrong.\r\nTrace ID: t-1\r\nCorrelation ID: c-1" % code,
            "error_codes": [code],
            "trace_id": "t-1",
            "correlation_id": "c-1",
        })
