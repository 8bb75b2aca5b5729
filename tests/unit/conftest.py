# -*- coding: utf-8 -*-
"""Fixtures of the unit tests: the scripted network, a fake clock, connection settings."""

from __future__ import annotations

import pytest
import requests

from ansible_collections.mailauth.m365.plugins.module_utils._module import Clients, settings_from_params
from ansible_collections.mailauth.m365.tests.unit.scripted_http import Identity, ScriptedTransport

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


@pytest.fixture
def transport(monkeypatch):
    """Every ``requests`` session (ours and MSAL's) sends through the scripted transport."""
    scripted = ScriptedTransport()
    monkeypatch.setattr(requests.Session, "get_adapter", lambda self, url: scripted)
    yield scripted
    scripted.assert_done()


@pytest.fixture
def identity(transport):
    return Identity(transport, "https://login.microsoftonline.com/" + TENANT)


class FakeClock:
    """``sleep`` and ``monotonic`` on a clock that only moves when slept on."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self):
        return self.now


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def make_settings(tmp_path):
    """``settings_from_params`` with a client secret, a private token cache, and any overrides."""
    def build(**params):
        merged = dict(tenant_id=TENANT, client_id=CLIENT, client_secret="s3cret-value",
                      token_cache_path=str(tmp_path / "cache"))
        merged.update(params)
        return settings_from_params(merged)
    return build


@pytest.fixture
def clients(identity, make_settings, clock):
    """``Clients`` signed in (discovery and token scripted) whose waits run on the fake clock."""
    identity.discovery()
    identity.token()
    return Clients(make_settings(), sleep=clock.sleep, clock=clock.monotonic)


# Connection settings of the host that must not leak into a module run by main().
HOST_ENVIRONMENT = ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
                    "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST",
                    "MAILAUTH_M365_CA_BUNDLE")


@pytest.fixture
def module_args(tmp_path, monkeypatch):
    """Connection arguments for running a module's main(), with the host's AZURE_* variables removed."""
    for name in HOST_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    return dict(tenant_id=TENANT, client_id=CLIENT, client_secret="s3cret-value",
                token_cache_path=str(tmp_path / "cache"))


@pytest.fixture
def certificate_file(tmp_path):
    """Write a PEM file with a fresh RSA key and its self-signed certificate; return (path, certificate)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    def write(password=None, name="client.pem"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailauth unit test")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=2))
                .sign(key, hashes.SHA256()))
        encryption = (serialization.BestAvailableEncryption(password.encode()) if password
                      else serialization.NoEncryption())
        path = tmp_path / name
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
                         + cert.public_bytes(serialization.Encoding.PEM))
        return str(path), cert
    return write
