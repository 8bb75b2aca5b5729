"""The SASL messages of OAuth 2.0 bearer sign-in, as SMTP and IMAP carry them (base64 on the wire).

XOAUTH2 (Google's, which Exchange Online takes): "user=" mailbox ^A "auth=Bearer " token ^A ^A.
OAUTHBEARER (RFC 7628): a GS2 header "n,a=" authzid "," then ^A-separated key=value pairs, one of
them "auth=Bearer " token, ending ^A ^A; a failure is first answered with a JSON challenge the client
must acknowledge with a single ^A."""
import base64
import binascii
import json


class SaslError(Exception):
    """The client's message is not a well-formed SASL response."""


def b64decode(text):
    """The bytes of a base64 SASL response ("=" alone is an empty response, RFC 4954)."""
    text = text.strip()
    if text in ("", "="):
        return b""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SaslError("not base64")


def b64encode(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.b64encode(data).decode("ascii")


def _pairs(fields):
    out = {}
    for field in fields:
        if not field:
            continue
        key, sep, value = field.partition("=")
        if not sep:
            raise SaslError("field without '='")
        out[key.lower()] = value
    return out


def _bearer(value):
    scheme, sep, token = (value or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise SaslError("no bearer token")
    return token.strip()


def parse_xoauth2(data):
    """(user, token) of an XOAUTH2 initial response."""
    text = data.decode("utf-8", "replace")
    if not text.endswith("\x01\x01"):
        raise SaslError("XOAUTH2 response must end with ^A^A")
    pairs = _pairs(text[:-2].split("\x01"))
    if not pairs.get("user"):
        raise SaslError("no user=")
    return pairs["user"], _bearer(pairs.get("auth"))


def parse_oauthbearer(data):
    """(authzid or None, token) of an OAUTHBEARER initial response (RFC 7628 section 3.1)."""
    text = data.decode("utf-8", "replace")
    header, sep, rest = text.partition("\x01")
    if not sep or not rest.endswith("\x01\x01"):
        raise SaslError("OAUTHBEARER response must be a GS2 header and ^A-separated fields")
    gs2 = header.split(",")
    if len(gs2) < 2 or gs2[0] not in ("n", "y") and not gs2[0].startswith("p="):
        raise SaslError("bad GS2 header")
    authzid = None
    if gs2[1].startswith("a="):
        authzid = gs2[1][2:].replace("=2C", ",").replace("=3D", "=")
    pairs = _pairs(rest[:-2].split("\x01"))
    return authzid, _bearer(pairs.get("auth"))


def parse(mechanism, data):
    """(user, token) for XOAUTH2 or OAUTHBEARER."""
    if mechanism == "XOAUTH2":
        return parse_xoauth2(data)
    return parse_oauthbearer(data)


def error_challenge(scope=None):
    """The base64 JSON a standards-based server sends before its failure reply (RFC 7628 section 3.2.2)."""
    body = {"status": "invalid_token", "schemes": "bearer"}
    if scope:
        body["scope"] = scope
    return b64encode(json.dumps(body, separators=(",", ":")))
