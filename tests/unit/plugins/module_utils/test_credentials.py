# -*- coding: utf-8 -*-
"""_credentials: Graph date-times, secret end dates, certificates and thumbprints; _graph.read_application."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import serialization

from ansible_collections.mailauth.m365.plugins.module_utils._credentials import (
    add_months,
    credential_record,
    expires_in_days,
    format_datetime,
    key_credential_thumbprint,
    normalize_thumbprint,
    parse_datetime,
    read_pem_certificate,
    secret_end_date,
)
from ansible_collections.mailauth.m365.plugins.module_utils._errors import GraphError, ParameterError
from ansible_collections.mailauth.m365.plugins.module_utils._graph import read_application
from ansible_collections.mailauth.m365.tests.unit.graph_script import GRAPH, graph_error

UTC = timezone.utc
NOW = datetime(2026, 8, 20, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("text, expected", [
    ("2026-08-20T10:00:00Z", NOW),
    ("2026-08-20T10:00:00.1234567Z", NOW.replace(microsecond=123456)),  # Graph's seven digits
    ("2026-08-20T12:00:00+02:00", NOW),
    ("2026-08-20T05:30:00-0430", NOW),
    ("2026-08-20 10:00", NOW),
    ("2026-08-20T10:00:00", NOW),  # no zone: UTC
    ("2026-08-20", NOW.replace(hour=0)),
])
def test_parse_datetime(text, expected):
    assert parse_datetime(text) == expected


@pytest.mark.parametrize("text", ["tomorrow", "2026-13-01", "20260820"])
def test_parse_datetime_rejects_other_text(text):
    with pytest.raises(ValueError):
        parse_datetime(text)


def test_empty_datetimes_are_none():
    assert parse_datetime(None) is None and parse_datetime(" ") is None and expires_in_days(None) is None


def test_format_and_expiry():
    assert format_datetime(NOW.replace(microsecond=5)) == "2026-08-20T10:00:00Z"
    assert expires_in_days("2026-08-22T09:00:00Z", NOW) == 1
    assert expires_in_days("2026-08-20T09:00:00Z", NOW) == -1


@pytest.mark.parametrize("start, months, expected", [
    (datetime(2026, 1, 31, tzinfo=UTC), 1, datetime(2026, 2, 28, tzinfo=UTC)),
    (datetime(2026, 2, 28, tzinfo=UTC), 24, datetime(2028, 2, 28, tzinfo=UTC)),
    (datetime(2026, 12, 15, tzinfo=UTC), 1, datetime(2027, 1, 15, tzinfo=UTC)),
    (datetime(2027, 8, 31, tzinfo=UTC), 6, datetime(2028, 2, 29, tzinfo=UTC)),
])
def test_add_months_clamps_the_day(start, months, expected):
    assert add_months(start, months) == expected


def test_secret_end_date_rules():
    assert secret_end_date(now=NOW) == NOW + timedelta(days=730)
    assert secret_end_date(lifetime_days=30, now=NOW) == NOW + timedelta(days=30)
    assert secret_end_date(end_date="2028-08-20T10:00:00Z", now=NOW) == datetime(2028, 8, 20, 10, tzinfo=UTC)
    with pytest.raises(ParameterError, match="^Parameter end_date: .* more than 24 months"):
        secret_end_date(end_date="2028-08-20T10:00:01Z", now=NOW)
    with pytest.raises(ParameterError, match="^Parameter end_date: is empty"):
        secret_end_date(end_date="", now=NOW)
    with pytest.raises(ParameterError, match="^Parameter lifetime_days: 731 days"):
        secret_end_date(lifetime_days=731, now=NOW)


def test_certificates_and_thumbprints(certificate_file):
    path, cert = certificate_file()
    with open(path, "rb") as handle:
        data = handle.read()
    der = cert.public_bytes(serialization.Encoding.DER)
    thumbprint = hashlib.sha1(der).hexdigest().upper()

    parsed = read_pem_certificate(data, "certificate_path", path)

    assert (parsed.thumbprint, parsed.der, parsed.subject) == (thumbprint, der, "CN=mailauth unit test")
    assert parsed.had_private_key is True
    assert base64.b64decode(parsed.custom_key_identifier).hex().upper() == thumbprint
    pem_text = data[data.index(b"-----BEGIN CERTIFICATE"):]
    assert read_pem_certificate(pem_text.decode(), "certificate").had_private_key is False
    # Graph's `key` may hold base64 of DER or of PEM; without it, customKeyIdentifier tells the thumbprint.
    assert key_credential_thumbprint({"key": parsed.key_base64}) == thumbprint
    assert key_credential_thumbprint({"key": base64.b64encode(pem_text).decode()}) == thumbprint
    assert key_credential_thumbprint({"key": None, "customKeyIdentifier": parsed.custom_key_identifier}) == thumbprint
    assert key_credential_thumbprint({"customKeyIdentifier": base64.b64encode(b"my label").decode()}) is None
    assert normalize_thumbprint(":".join(thumbprint[i:i + 2] for i in range(0, 40, 2)).lower()) == thumbprint


def test_credential_records_never_hold_values():
    password = {"keyId": "k", "displayName": "n", "hint": "Ab", "secretText": "value",
                "startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2026-08-19T00:00:00Z"}
    record = credential_record(password, NOW)
    assert record == {"key_id": "k", "display_name": "n", "hint": "Ab", "start_date_time": "2026-01-01T00:00:00Z",
                      "end_date_time": "2026-08-19T00:00:00Z", "expires_in_days": -2, "expired": True}
    key = {"keyId": "c", "displayName": "CN=x", "type": "AsymmetricX509Cert", "usage": "Verify", "key": None,
           "customKeyIdentifier": None, "startDateTime": None, "endDateTime": None}
    assert credential_record(key, NOW)["thumbprint"] is None and credential_record(key, NOW)["expired"] is False


@pytest.mark.parametrize("keys, path", [
    (dict(object_id="3b1e5a9c-7d2f-4e8a-9c6b-1f2e3d4c5b6a"), "/applications/3b1e5a9c-7d2f-4e8a-9c6b-1f2e3d4c5b6a"),
    (dict(app_id="6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f"), "/applications(appId='6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f')"),
    (dict(unique_name="o'brien mail/2"), "/applications(uniqueName='o''brien%20mail%2F2')"),
])
def test_read_application_reads_one_object_by_its_key(clients, transport, keys, path):
    transport.expect("GET", GRAPH + path + "?$select=id,keyCredentials", json={"id": "x"})
    assert read_application(clients.graph, select="id,keyCredentials", **keys) == {"id": "x"}


def test_read_application_is_none_on_404_and_raises_otherwise(clients, transport):
    transport.expect("GET", GRAPH + "/applications/abc", status=404, json=graph_error("Request_ResourceNotFound", "x"))
    transport.expect("GET", GRAPH + "/applications/abc", status=400, json=graph_error("BadRequest", "x"))
    assert read_application(clients.graph, object_id="abc") is None
    with pytest.raises(GraphError):
        read_application(clients.graph, object_id="abc")
