# -*- coding: utf-8 -*-
"""app_certificate: run() against a scripted Graph (add, no-op, remove, each in normal and check mode), the merge
with other credentials, certificate validation, error paths, and main() end to end."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from ansible_collections.mailauth.m365.plugins.module_utils._errors import GraphError, MailauthError, ParameterError
from ansible_collections.mailauth.m365.plugins.module_utils._module import Clients
from ansible_collections.mailauth.m365.plugins.modules import app_certificate
from ansible_collections.mailauth.m365.tests.unit.graph_script import GRAPH, FakeModule, graph_error, run_main

APP_OBJECT_ID = "3b1e5a9c-7d2f-4e8a-9c6b-1f2e3d4c5b6a"
APP_ID = "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
SELECT = "$select=id,appId,keyCredentials"
BY_UNIQUE_NAME = GRAPH + "/applications(uniqueName='automation')?" + SELECT
BY_APP_ID = GRAPH + "/applications(appId='%s')?%s" % (APP_ID, SELECT)
APPLICATION_URL = GRAPH + "/applications/%s" % APP_OBJECT_ID
NOW = datetime.datetime.now(datetime.timezone.utc)


class Cert:
    """A self-signed certificate with its key, as PEM, DER and Graph keyCredential."""

    def __init__(self, common_name="mailauth unit test", valid_from=-1, valid_days=365):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        start = NOW + datetime.timedelta(days=valid_from)
        self.cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=valid_days))
                     .sign(self.key, hashes.SHA256()))
        self.der = self.cert.public_bytes(serialization.Encoding.DER)
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM).decode()
        self.key_pem = self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()).decode()
        self.thumbprint = hashlib.sha1(self.der).hexdigest().upper()
        self.subject = "CN=" + common_name

    def write(self, directory, with_key=True, name="cert.pem"):
        path = directory / name
        path.write_text((self.key_pem if with_key else "") + self.pem)
        return str(path)

    def credential(self, key_id, display_name=None, with_key=True, custom_key_identifier=True):
        return {
            "customKeyIdentifier": (base64.b64encode(bytes.fromhex(self.thumbprint)).decode()
                                    if custom_key_identifier else None),
            "displayName": display_name or self.subject,
            "endDateTime": self.cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "key": base64.b64encode(self.der).decode() if with_key else None,
            "keyId": key_id,
            "startDateTime": self.cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "type": "AsymmetricX509Cert",
            "usage": "Verify",
        }


@pytest.fixture(scope="module")
def new_cert():
    return Cert("mail.contoso.com")


@pytest.fixture(scope="module")
def other_cert():
    return Cert("existing automation")


def params(**overrides):
    result = dict(app_id=None, unique_name="automation", app_object_id=None, state="present", certificate_path=None,
                  certificate=None, thumbprint=None, display_name=None)
    result.update(overrides)
    return result


def application(*credentials):
    return {"id": APP_OBJECT_ID, "appId": APP_ID, "keyCredentials": list(credentials)}


def patched_list(transport):
    return [json.loads(sent.body)["keyCredentials"] for sent in transport.sent if sent.method == "PATCH"]


# --- add -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("check_mode", [False, True])
def test_adds_the_certificate_and_keeps_the_other_credential(clients, transport, tmp_path, new_cert, other_cert,
                                                             check_mode):
    existing = other_cert.credential("existing-key")
    transport.expect("GET", BY_UNIQUE_NAME, json=application(existing))
    if not check_mode:
        transport.expect("PATCH", APPLICATION_URL, status=204)

    changed, record, diff = app_certificate.run(
        FakeModule(params(certificate_path=new_cert.write(tmp_path)), check_mode), clients)

    assert changed is True
    assert record["application"] == {"id": APP_OBJECT_ID, "app_id": APP_ID}
    certificate = record["certificate"]
    assert certificate["thumbprint"] == new_cert.thumbprint
    assert certificate["display_name"] == "CN=mail.contoso.com"
    assert 363 <= certificate["expires_in_days"] <= 364
    assert [item["thumbprint"] for item in record["key_credentials"]] == [other_cert.thumbprint, new_cert.thumbprint]
    assert [item["thumbprint"] for item in diff["before"]["key_credentials"]] == [other_cert.thumbprint]
    assert len(diff["after"]["key_credentials"]) == 2
    if check_mode:
        assert patched_list(transport) == []
        return
    (sent,) = patched_list(transport)
    assert sent[0] == existing  # written back exactly as read, certificate included
    added = sent[1]
    assert added["key"] == base64.b64encode(new_cert.der).decode()
    assert base64.b64decode(added["customKeyIdentifier"]).hex().upper() == new_cert.thumbprint
    assert added["type"] == "AsymmetricX509Cert" and added["usage"] == "Verify"
    assert added["keyId"] == certificate["key_id"]  # made by the module: no read after the write
    assert "PRIVATE KEY" not in json.dumps(transport.sent[-1].body)


def test_certificate_text_with_a_display_name(clients, transport, new_cert):
    transport.expect("GET", BY_APP_ID, json=application())
    transport.expect("PATCH", APPLICATION_URL, status=204)
    module = FakeModule(params(unique_name=None, app_id=APP_ID, certificate=new_cert.pem, display_name="Monitor G5"))

    changed, record, _diff = app_certificate.run(module, clients)

    assert changed is True and record["certificate"]["display_name"] == "Monitor G5"
    assert patched_list(transport)[0][0]["displayName"] == "Monitor G5"
    assert module.warnings == []


def test_certificate_text_with_a_private_key_warns_and_sends_only_the_certificate(clients, transport, new_cert):
    transport.expect("GET", BY_UNIQUE_NAME, json=application())
    transport.expect("PATCH", APPLICATION_URL, status=204)
    module = FakeModule(params(certificate=new_cert.key_pem + new_cert.pem))

    app_certificate.run(module, clients)

    assert "private key" in module.warnings[0]
    assert "PRIVATE KEY" not in transport.sent[-1].body


# --- no-op -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("check_mode", [False, True])
def test_a_certificate_already_there_changes_nothing(clients, transport, tmp_path, new_cert, other_cert, check_mode):
    # No customKeyIdentifier: the certificate itself (key) tells the thumbprint.
    transport.expect("GET", BY_UNIQUE_NAME, json=application(
        other_cert.credential("existing-key"), new_cert.credential("mine", custom_key_identifier=False)))

    changed, record, diff = app_certificate.run(
        FakeModule(params(certificate_path=new_cert.write(tmp_path)), check_mode), clients)

    assert changed is False
    assert record["certificate"]["key_id"] == "mine" and record["removed"] == []
    assert diff["before"] == diff["after"]
    assert [sent.method for sent in transport.sent if sent.url.startswith(GRAPH)] == ["GET"]


def test_a_different_display_name_on_an_existing_certificate_warns(clients, transport, new_cert):
    transport.expect("GET", BY_UNIQUE_NAME, json=application(new_cert.credential("mine")))
    module = FakeModule(params(certificate=new_cert.pem, display_name="New name"))

    changed, _record, _diff = app_certificate.run(module, clients)

    assert changed is False and "cannot rename" in module.warnings[0]


# --- remove ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("check_mode", [False, True])
def test_absent_removes_only_that_certificate(clients, transport, tmp_path, new_cert, other_cert, check_mode):
    existing = other_cert.credential("existing-key")
    transport.expect("GET", BY_UNIQUE_NAME, json=application(new_cert.credential("mine"), existing))
    if not check_mode:
        transport.expect("PATCH", APPLICATION_URL, status=204)

    changed, record, diff = app_certificate.run(
        FakeModule(params(certificate_path=new_cert.write(tmp_path), state="absent"), check_mode), clients)

    assert changed is True
    assert record["removed"] == ["mine"] and record["certificate"] is None
    assert [item["key_id"] for item in record["key_credentials"]] == ["existing-key"]
    assert len(diff["before"]["key_credentials"]) == 2 and len(diff["after"]["key_credentials"]) == 1
    assert patched_list(transport) == ([] if check_mode else [[existing]])


def test_absent_by_thumbprint_with_colons_and_the_last_certificate(clients, transport, new_cert):
    transport.expect("GET", BY_UNIQUE_NAME, json=application(new_cert.credential("mine")))
    transport.expect("PATCH", APPLICATION_URL, status=204)
    spaced = ":".join(new_cert.thumbprint[i:i + 2] for i in range(0, 40, 2)).lower()

    changed, record, _diff = app_certificate.run(FakeModule(params(thumbprint=spaced, state="absent")), clients)

    assert changed is True and record["removed"] == ["mine"]
    assert patched_list(transport) == [[]]


@pytest.mark.parametrize("check_mode", [False, True])
def test_absent_when_not_there_changes_nothing(clients, transport, other_cert, new_cert, check_mode):
    transport.expect("GET", BY_UNIQUE_NAME, json=application(other_cert.credential("existing-key")))

    changed, record, _diff = app_certificate.run(
        FakeModule(params(thumbprint=new_cert.thumbprint, state="absent"), check_mode), clients)

    assert changed is False and record["removed"] == []
    assert patched_list(transport) == []


def test_an_expired_certificate_can_still_be_removed(clients, transport, tmp_path):
    expired = Cert("old", valid_from=-400, valid_days=365)
    transport.expect("GET", BY_UNIQUE_NAME, json=application(expired.credential("old-key")))
    transport.expect("PATCH", APPLICATION_URL, status=204)

    changed, record, _diff = app_certificate.run(
        FakeModule(params(certificate_path=expired.write(tmp_path), state="absent")), clients)

    assert changed is True and record["removed"] == ["old-key"]


def test_absent_when_the_application_is_gone(clients, transport, new_cert):
    transport.expect("GET", BY_UNIQUE_NAME, status=404, json=graph_error("Request_ResourceNotFound", "gone"))
    module = FakeModule(params(thumbprint=new_cert.thumbprint, state="absent"))

    changed, record, _diff = app_certificate.run(module, clients)

    assert changed is False and record["application"] is None and module.warnings


# --- never clobber, lag, permissions ---------------------------------------------------------------
def test_refuses_to_write_when_graph_hides_an_existing_certificate(clients, transport, new_cert, other_cert):
    transport.expect("GET", BY_UNIQUE_NAME, json=application(other_cert.credential("existing-key", with_key=False)))

    with pytest.raises(MailauthError, match="without its certificate"):
        app_certificate.run(FakeModule(params(certificate=new_cert.pem)), clients)
    assert patched_list(transport) == []


def test_replication_lag_on_the_patch_is_waited_out(clients, transport, clock, new_cert):
    transport.expect("GET", BY_UNIQUE_NAME, json=application())
    transport.expect("PATCH", APPLICATION_URL, status=404, json=graph_error(
        "Request_ResourceNotFound", "Resource '%s' does not exist or one of its queried reference-property objects "
                                    "are not present." % APP_OBJECT_ID))
    transport.expect("PATCH", APPLICATION_URL, status=204)

    changed, _record, _diff = app_certificate.run(FakeModule(params(certificate=new_cert.pem)), clients)

    assert changed is True and clock.sleeps == [2.0]
    first, second = patched_list(transport)
    assert first == second  # the same keyId both times: sending it again cannot add a second credential


def test_forbidden_names_the_permission(clients, transport, clock, new_cert):
    transport.expect("GET", BY_UNIQUE_NAME, json=application())
    transport.expect("PATCH", APPLICATION_URL, status=403, json=graph_error(
        "Authorization_RequestDenied", "Insufficient privileges to complete the operation.", "req-403"))

    with pytest.raises(GraphError) as caught:
        app_certificate.run(FakeModule(params(certificate=new_cert.pem)), clients)

    assert "Application.ReadWrite.All" in caught.value.message and "req-403" in caught.value.message
    assert clock.sleeps == []


def test_a_missing_application_names_the_option(clients, transport, new_cert):
    transport.expect("GET", BY_UNIQUE_NAME, status=404, json=graph_error("Request_ResourceNotFound", "missing"))

    with pytest.raises(ParameterError, match="^Parameter unique_name: no application with unique_name 'automation'"):
        app_certificate.run(FakeModule(params(certificate=new_cert.pem)), clients)


# --- certificate validation ------------------------------------------------------------------------
@pytest.mark.parametrize("cert, message", [
    (Cert("expired", valid_from=-30, valid_days=10), r"certificate_path: the certificate \(thumbprint \w+\) expired on"),
    (Cert("future", valid_from=5, valid_days=10), r"certificate_path: the certificate \(thumbprint \w+\) is not valid before"),
])
def test_certificates_outside_their_validity_fail_before_any_graph_request(transport, make_settings, tmp_path, cert,
                                                                           message):
    with pytest.raises(ParameterError, match=message):
        app_certificate.run(FakeModule(params(certificate_path=cert.write(tmp_path))), Clients(make_settings()))
    assert transport.sent == []


@pytest.mark.parametrize("content, message", [
    ("no certificate here", "found no PEM certificate"),
    ("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n", "cannot be read"),
])
def test_unusable_files_name_the_option(transport, make_settings, tmp_path, content, message):
    path = tmp_path / "bad.pem"
    path.write_text(content)
    with pytest.raises(ParameterError, match="^Parameter certificate_path: .*" + message):
        app_certificate.run(FakeModule(params(certificate_path=str(path))), Clients(make_settings()))
    assert transport.sent == []


def test_a_missing_file_names_the_option(transport, make_settings, tmp_path):
    with pytest.raises(ParameterError, match="^Parameter certificate_path: cannot read"):
        app_certificate.run(FakeModule(params(certificate_path=str(tmp_path / "nope.pem"))), Clients(make_settings()))


def test_a_bad_thumbprint_names_the_option(transport, make_settings):
    with pytest.raises(ParameterError, match="^Parameter thumbprint: 'abc' is not a SHA-1 thumbprint"):
        app_certificate.run(FakeModule(params(thumbprint="abc", state="absent")), Clients(make_settings()))


# --- main() end to end -----------------------------------------------------------------------------
def test_main_end_to_end_with_diff(identity, transport, module_args, capsys, tmp_path, new_cert):
    identity.discovery()
    identity.token()
    transport.expect("GET", BY_UNIQUE_NAME, json=application())
    transport.expect("PATCH", APPLICATION_URL, status=204)

    args = dict(module_args, unique_name="automation", certificate_path=new_cert.write(tmp_path), _ansible_diff=True)

    result = run_main(app_certificate.main, args, capsys)

    assert result["changed"] is True and result["certificate"]["thumbprint"] == new_cert.thumbprint
    assert result["diff"]["after"]["key_credentials"][0]["thumbprint"] == new_cert.thumbprint
    assert "BEGIN" not in json.dumps(result)


def test_main_needs_a_certificate_for_present(transport, module_args, capsys, new_cert):
    args = dict(module_args, unique_name="automation", thumbprint=new_cert.thumbprint)

    result = run_main(app_certificate.main, args, capsys)
    assert result["failed"] is True and "certificate_path" in result["msg"]
    assert transport.sent == []
