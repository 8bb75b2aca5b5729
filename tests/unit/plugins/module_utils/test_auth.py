# -*- coding: utf-8 -*-
"""Token acquisition: MSAL runs for real against a scripted identity platform."""

from __future__ import annotations

import base64
import json
import os
import stat

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization

from ansible_collections.mailauth.m365.plugins.module_utils import _auth
from ansible_collections.mailauth.m365.plugins.module_utils._errors import AuthError, ParameterError
from ansible_collections.mailauth.m365.plugins.module_utils._http import HttpSession
from ansible_collections.mailauth.m365.tests.unit.conftest import CLIENT, TENANT
from ansible_collections.mailauth.m365.tests.unit.scripted_http import Identity, form

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


def token_source(settings):
    return _auth.TokenSource(settings.auth, HttpSession(settings.verify, settings.timeout))


def test_client_secret_token_request(identity, make_settings):
    identity.discovery()
    expected = identity.token()
    source = token_source(make_settings())

    assert source.token("graph") == expected

    sent = form(identity.transport.sent[-1])
    assert sent["grant_type"] == "client_credentials"
    assert sent["client_id"] == CLIENT
    assert sent["client_secret"] == "s3cret-value"
    assert sent["scope"] == GRAPH_SCOPE


def test_exchange_token_uses_the_exchange_audience(identity, make_settings):
    identity.discovery()
    identity.token()
    token_source(make_settings()).token("exchange")
    assert form(identity.transport.sent[-1])["scope"] == "https://outlook.office365.com/.default"


@pytest.mark.parametrize("ca_bundle", [False, True])
def test_verify_is_pinned_against_environment(identity, make_settings, tmp_path, monkeypatch, ca_bundle):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/elsewhere/ca.pem")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/elsewhere/ca.pem")
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    identity.discovery()
    identity.token()
    settings = make_settings(ca_bundle=str(bundle)) if ca_bundle else make_settings()

    token_source(settings).token()

    assert [sent.verify for sent in identity.transport.sent] == [str(bundle) if ca_bundle else True] * 2


def test_token_cache_is_private_and_reused_by_the_next_run(identity, make_settings, tmp_path):
    settings = make_settings()
    identity.discovery()
    expected = identity.token()
    first = token_source(settings)
    assert first.token() == expected

    cache_dir = tmp_path / "cache"
    assert stat.S_IMODE(os.stat(cache_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(first.cache_file.path).st_mode) == 0o600
    with open(first.cache_file.path) as handle:
        assert "s3cret-value" not in handle.read()

    identity.discovery()  # a new module run reads the tenant's configuration again, then the cache
    assert token_source(settings).token() == expected
    assert identity.transport.count("POST") == 1


def test_cache_files_are_keyed_by_tenant_client_and_credential(make_settings):
    base = token_source(make_settings()).cache_file.path
    others = [
        token_source(make_settings(client_id="aaaaaaaa-bbbb-cccc-dddd-000000000000")).cache_file.path,
        token_source(make_settings(tenant_id="contoso.onmicrosoft.com")).cache_file.path,
        token_source(make_settings(client_secret="rotated-secret")).cache_file.path,
        token_source(make_settings(cloud="usgovernment")).cache_file.path,
    ]
    assert len(set(others + [base])) == 5
    assert token_source(make_settings()).cache_file.path == base


def test_force_refresh_asks_again(identity, make_settings):
    identity.discovery()
    identity.token()
    source = token_source(make_settings())
    source.token()
    fresh = identity.token(claims={"n": 2})
    assert source.token(force_refresh=True) == fresh


def _assertion_header_and_claims(sent, certificate):
    assertion = form(sent)["client_assertion"]
    header = jwt.get_unverified_header(assertion)
    claims = jwt.decode(assertion, certificate.public_key(), algorithms=[header["alg"]],
                        audience=sent.url)
    return header, claims


@pytest.mark.parametrize("password", [None, "pfx-pass"])
def test_certificate_sends_a_signed_assertion_with_x5t_s256_and_x5c(identity, make_settings, certificate_file,
                                                                    password):
    path, certificate = certificate_file(password)
    identity.discovery()
    identity.token()
    source = token_source(make_settings(client_secret=None, client_certificate_path=path,
                                        client_certificate_password=password))
    source.token()

    sent = identity.transport.sent[-1]
    assert form(sent)["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert "client_secret" not in form(sent)
    header, claims = _assertion_header_and_claims(sent, certificate)
    der = certificate.public_bytes(serialization.Encoding.DER)
    assert header["alg"] == "PS256"
    # MSAL keeps the base64url padding; compare the bytes
    assert base64.urlsafe_b64decode(header["x5t#S256"]) == certificate.fingerprint(hashes.SHA256())
    assert base64.b64decode(header["x5c"][0]) == der
    assert claims["iss"] == claims["sub"] == CLIENT
    assert source.describe()["certificate_thumbprint"] == certificate.fingerprint(hashes.SHA1()).hex().upper()


def test_certificate_with_wrong_password_names_the_password(make_settings, certificate_file):
    path = certificate_file("right")[0]
    with pytest.raises(ParameterError) as failure:
        token_source(make_settings(client_secret=None, client_certificate_path=path,
                                   client_certificate_password="wrong"))
    assert failure.value.parameter == "client_certificate_password"


def test_certificate_file_without_key(make_settings, tmp_path):
    path = tmp_path / "cert-only.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(ParameterError) as failure:
        token_source(make_settings(client_secret=None, client_certificate_path=str(path)))
    assert failure.value.parameter == "client_certificate_path"


def test_federated_token_file_is_read_for_every_request(identity, make_settings, tmp_path):
    token_file = tmp_path / "federated-token"
    token_file.write_text("first.federated.token\n")
    identity.discovery()
    identity.token()
    source = token_source(make_settings(client_secret=None, federated_token_file=str(token_file)))
    source.token()
    assert form(identity.transport.sent[-1])["client_assertion"] == "first.federated.token"

    token_file.write_text("second.federated.token")
    identity.token()
    source.token(force_refresh=True)
    sent = form(identity.transport.sent[-1])
    assert sent["client_assertion"] == "second.federated.token"
    assert sent["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def test_sign_in_error_becomes_auth_error_with_remedy(identity, make_settings):
    identity.discovery()
    identity.token_error(7000215)
    with pytest.raises(AuthError) as failure:
        token_source(make_settings()).token()
    error = failure.value
    assert error.error_codes == [7000215]
    assert error.error == "invalid_client"
    assert error.trace_id == "t-1" and error.correlation_id == "c-1"
    assert "secretText" in error.remedy
    assert "AADSTS7000215" in error.message and "Remedy:" in error.message and "trace id t-1" in error.message
    assert "s3cret-value" not in error.message
    assert error.to_fail_kwargs()["error"]["error_codes"] == [7000215]


def test_unknown_tenant_in_discovery_becomes_auth_error(identity, make_settings):
    identity.discovery(status=400, json={"error": "invalid_tenant", "error_codes": [90002],
                                         "error_description": "AADSTS90002: Tenant not found.",
                                         "trace_id": "t-2", "correlation_id": "c-2"})
    with pytest.raises(AuthError) as failure:
        token_source(make_settings()).token()
    assert failure.value.error_codes == [90002]
    assert "tenant" in failure.value.remedy.lower()


def _client_info(uid, utid):
    return base64.urlsafe_b64encode(json.dumps({"uid": uid, "utid": utid}).encode()).rstrip(b"=").decode()


def _user_token_extra(username="admin@contoso.onmicrosoft.com"):
    from ansible_collections.mailauth.m365.tests.unit.scripted_http import unsigned_jwt
    id_token = unsigned_jwt({"aud": CLIENT, "iss": "https://login.microsoftonline.com/%s/v2.0" % TENANT,
                             "tid": TENANT, "oid": "u-1", "preferred_username": username, "sub": "s",
                             "iat": 1, "exp": 4102444800})
    return {"refresh_token": "refresh-1", "id_token": id_token, "client_info": _client_info("u-1", TENANT),
            "scope": GRAPH_SCOPE}


def test_device_code_login_then_silent_runs(identity, make_settings, transport):
    settings = make_settings(client_secret=None, auth_method="device_code")
    identity.discovery()
    transport.expect("POST", identity.authority + "/oauth2/v2.0/devicecode", json={
        "device_code": "dev-1", "user_code": "ABCD-EFGH", "verification_uri": "https://microsoft.com/devicelogin",
        "expires_in": 900, "interval": 0, "message": "To sign in, use a web browser..."})
    transport.expect("POST", identity.token_endpoint, status=400, json={
        "error": "authorization_pending", "error_codes": [70016], "error_description": "AADSTS70016: pending"})
    identity.token(claims={"scp": "Application.ReadWrite.All", "upn": "admin@contoso.onmicrosoft.com"},
                   extra=_user_token_extra())

    login = _auth.DeviceCodeLogin(settings.auth, HttpSession(settings.verify))
    shown = login.start()
    assert shown["user_code"] == "ABCD-EFGH" and "device_code" not in shown
    assert login.finish() == {"username": "admin@contoso.onmicrosoft.com", "tenant_id": TENANT,
                              "scopes": ["Application.ReadWrite.All"]}
    assert form(transport.sent[-1])["grant_type"] == "urn:ietf:params:oauth:grant-type:device_code"

    identity.discovery()
    source = token_source(settings)
    assert _auth.decode_claims(source.token())["upn"] == "admin@contoso.onmicrosoft.com"
    assert transport.count("POST", "/token") == 2  # the pending poll and the approval only


def test_device_code_without_a_prior_login(identity, make_settings):
    identity.discovery()
    with pytest.raises(AuthError) as failure:
        token_source(make_settings(client_secret=None, auth_method="device_code")).token()
    assert "device code" in failure.value.message


@pytest.mark.filterwarnings("ignore:This API has been deprecated:DeprecationWarning")
def test_ropc_user_realm_lookup_gets_the_authority_port_back(transport, make_settings):
    settings = make_settings(cloud="custom", authority_host="https://127.0.0.1:8443",
                             graph_endpoint="https://127.0.0.1:8443/graph")
    identity = Identity(transport, "https://127.0.0.1:8443/" + TENANT)
    identity.discovery()
    transport.expect("GET", "https://127.0.0.1:8443/common/userrealm/user@contoso.onmicrosoft.com?api-version=1.0",
                     json={"account_type": "Managed"})
    identity.token(extra=_user_token_extra("user@contoso.onmicrosoft.com"))
    session = HttpSession(settings.verify)
    app = _auth.build_msal_app(settings.auth, session, _auth.TokenCacheFile(None, ["t"]).cache, public=True)

    result = app.acquire_token_by_username_password("user@contoso.onmicrosoft.com", "pw", scopes=[GRAPH_SCOPE])

    assert "access_token" in result
    assert form(transport.sent[-1])["grant_type"] == "password"


def test_decode_claims_of_an_opaque_token():
    assert _auth.decode_claims("opaque-token") == {}
    assert _auth.decode_claims("a.!!!.c") == {}


def test_token_close_to_expiry_is_renewed(identity, make_settings):
    identity.discovery()
    identity.token(expires_in=60)
    source = token_source(make_settings())
    source.token()
    renewed = identity.token(claims={"n": 2})
    assert source.token() == renewed


def test_valid_token_is_reused_within_a_run(identity, make_settings):
    identity.discovery()
    first = identity.token()
    source = token_source(make_settings())
    assert (source.token(), source.token(), source.token()) == (first,) * 3
    assert identity.transport.count("POST") == 1
