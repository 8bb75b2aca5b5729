"""The identity platform's wire protocol where MSAL hides it: discovery documents, Entra's error
answers, the browser pages, the control API and the CLI of the device code flow."""
import html
import re
import urllib.parse
import uuid

import pytest

from identity_helpers import (aadsts, authority, automation, certificate_assertion, claims, client, http_client,
                              password_of, public)

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$")
SMTP_SEND = "https://outlook.office.com/SMTP.Send"
pytestmark = pytest.mark.filterwarnings("ignore:This API has been deprecated:DeprecationWarning")  # ROPC, as seed 001 uses


def _token(sandbox, data, tenant="contoso", **kwargs):
    return http_client(sandbox).post(authority(sandbox, tenant) + "/oauth2/v2.0/token", data=data, timeout=30, **kwargs)


def _secret_grant(sandbox, **overrides):
    auto = automation(sandbox)
    data = {"grant_type": "client_credentials", "client_id": auto["client_id"], "client_secret": auto["client_secret"],
            "scope": "https://graph.microsoft.com/.default"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.mark.parametrize("tenant_of", [lambda t: t["id"], lambda t: t["default_domain"], lambda t: t["initial_domain"].upper()])
def test_discovery_names_the_tenant_id(sandbox, tenant_of):
    tenant, host = sandbox.tenant(), sandbox.conn["authority_host"]
    doc = http_client(sandbox).get("%s/%s/v2.0/.well-known/openid-configuration" % (host, tenant_of(tenant)), timeout=30).json()
    base = "%s/%s" % (host, tenant["id"])
    assert doc["issuer"] == base + "/v2.0"
    assert doc["token_endpoint"] == base + "/oauth2/v2.0/token"
    assert doc["authorization_endpoint"] == base + "/oauth2/v2.0/authorize"
    assert doc["device_authorization_endpoint"] == base + "/oauth2/v2.0/devicecode"
    assert doc["jwks_uri"] == base + "/discovery/v2.0/keys"
    assert "private_key_jwt" in doc["token_endpoint_auth_methods_supported"]


def test_discovery_of_common_and_v1(sandbox):
    session, host, tid = http_client(sandbox), sandbox.conn["authority_host"], sandbox.tenant()["id"]
    common = session.get(host + "/organizations/v2.0/.well-known/openid-configuration", timeout=30).json()
    assert common["issuer"] == host + "/{tenantid}/v2.0"
    assert common["token_endpoint"] == host + "/organizations/oauth2/v2.0/token"
    v1 = session.get("%s/%s/.well-known/openid-configuration" % (host, tid), timeout=30).json()
    assert v1["issuer"] == "https://sts.windows.net/%s/" % tid  # the issuer of v1 access tokens
    assert v1["jwks_uri"] == host + "/common/discovery/keys"
    v1_keys = session.get(v1["jwks_uri"], timeout=30).json()["keys"]
    v2_keys = session.get("%s/%s/discovery/v2.0/keys" % (host, tid), timeout=30).json()["keys"]
    assert [k["kid"] for k in v1_keys] == [k["kid"] for k in v2_keys]
    assert v2_keys[0]["issuer"] == "%s/%s/v2.0" % (host, tid) and v2_keys[0]["x5c"]


@pytest.mark.parametrize("name, code, error", [("8408ada5-1277-42c0-852f-0628e111e4cd", 90002, "invalid_tenant"),
                                               ("nosuch.example", 90002, "invalid_tenant"),
                                               ("not a tenant", 900023, "invalid_request")])
def test_unknown_tenant_answer_is_entra_shaped(sandbox, name, code, error):
    correlation = str(uuid.uuid4())
    answer = http_client(sandbox).get("%s/%s/v2.0/.well-known/openid-configuration" % (sandbox.conn["authority_host"], name),
                                      headers={"client-request-id": correlation}, timeout=30)
    body = answer.json()
    assert answer.status_code == 400
    assert set(body) == {"error", "error_description", "error_codes", "timestamp", "trace_id", "correlation_id", "error_uri"}
    assert body["error"] == error and body["error_codes"] == [code]
    assert body["correlation_id"] == correlation and TIMESTAMP.match(body["timestamp"])
    assert body["error_description"].startswith("AADSTS%d: " % code)
    assert "\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: " % (body["trace_id"], correlation) in body["error_description"]
    assert body["error_uri"] == "%s/error?code=%d" % (sandbox.conn["authority_host"], code)
    assert answer.headers["x-ms-request-id"] == body["trace_id"]


def test_user_realm(sandbox):
    session, host = http_client(sandbox), sandbox.conn["authority_host"]
    managed = session.get(host + "/common/userrealm/alice@contoso.example?api-version=1.0", timeout=30).json()
    assert managed["account_type"] == "Managed" and managed["domain_name"] == "contoso.example"
    unknown = session.get(host + "/common/userrealm/someone@elsewhere.example?api-version=1.0", timeout=30).json()
    assert unknown["account_type"] == "Unknown"


@pytest.mark.parametrize("overrides, status, code", [
    ({"grant_type": None}, 400, 900144),
    ({"grant_type": "urn:example:magic"}, 400, 70003),
    ({"client_id": None}, 400, 900144),
    ({"scope": None}, 400, 90014),
    ({"scope": "https://graph.microsoft.com/User.Read"}, 400, 1002012),
    ({"scope": "https://graph.microsoft.com/.default https://outlook.office365.com/.default"}, 400, 28000),
    ({"client_secret": None}, 401, 7000216),
    ({"client_secret": "wrong"}, 401, 7000215),
])
def test_client_credentials_errors(sandbox, overrides, status, code):
    answer = _token(sandbox, _secret_grant(sandbox, **overrides))
    assert answer.status_code == status and answer.json()["error_codes"] == [code], answer.text
    assert answer.headers["Cache-Control"] == "no-store, no-cache"


@pytest.mark.parametrize("changes, code", [({"sub": "00000000-0000-0000-0000-000000000001"}, 700021),
                                           ({"aud": "https://login.microsoftonline.com/common/oauth2/v2.0/token"}, 700023),
                                           ({}, None)])
def test_certificate_assertion_claims(sandbox, changes, code):
    assertion = certificate_assertion(sandbox, **changes)
    answer = _token(sandbox, _secret_grant(sandbox, client_secret=None, client_assertion=assertion,
                                           client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer"))
    if code is None:
        assert answer.status_code == 200 and claims(answer.json()["access_token"])["appidacr"] == "2"
    else:
        assert answer.status_code == 401 and answer.json()["error_codes"] == [code]


def test_common_client_credentials_and_get(sandbox):
    assert _token(sandbox, _secret_grant(sandbox), tenant="common").json()["error_codes"] == [50059]
    answer = http_client(sandbox).get(authority(sandbox) + "/oauth2/v2.0/token", timeout=30)
    assert answer.json()["error_codes"] == [900561]


def test_client_secret_basic_and_tenant_in_request_log(sandbox):
    auto, tid = automation(sandbox), sandbox.tenant()["id"]
    data = _secret_grant(sandbox, client_id=None, client_secret=None)
    answer = _token(sandbox, data, auth=(auto["client_id"], auto["client_secret"]), tenant="contoso.example")
    assert answer.status_code == 200 and answer.json()["token_type"] == "Bearer"
    assert set(answer.json()) == {"token_type", "expires_in", "ext_expires_in", "access_token"}
    entries = sandbox.control("GET", "/requests?entries=1&tenant=" + tid)["entries"]
    assert any(e["route"] == "/{tenant}/oauth2/v2.0/token" and e["status"] == 200 for e in entries)


def test_refresh_token_binding(sandbox):
    desktop = client(sandbox, "desktop")
    first = public(sandbox, desktop["client_id"]).acquire_token_by_username_password(
        "reports@contoso.example", password_of(sandbox, "reports@contoso.example"), scopes=[SMTP_SEND])
    other = public(sandbox, client(sandbox, "restricted")["client_id"])
    assert aadsts(other.acquire_token_by_refresh_token(first["refresh_token"], scopes=[SMTP_SEND])) == 70000
    garbage = public(sandbox, desktop["client_id"]).acquire_token_by_refresh_token("0.S.garbage", scopes=[SMTP_SEND])
    assert aadsts(garbage) == 9002313
    # The refresh token of a public client works on the organizations endpoint too.
    answer = _token(sandbox, {"grant_type": "refresh_token", "client_id": desktop["client_id"], "scope": SMTP_SEND,
                              "refresh_token": first["refresh_token"]}, tenant="organizations")
    assert claims(answer.json()["access_token"])["upn"] == "reports@contoso.example"


def test_ropc_on_organizations_uses_home_tenant(sandbox):
    fabrikam = sandbox.tenant("fabrikam")
    answer = _token(sandbox, {"grant_type": "password", "client_id": client(sandbox, "desktop")["client_id"],
                              "username": "bob@fabrikam.example", "password": password_of(sandbox, "bob@fabrikam.example", "fabrikam"),
                              "scope": SMTP_SEND}, tenant="organizations")
    # The desktop client is registered in Contoso only: Fabrikam does not know it.
    assert answer.json()["error_codes"] == [700016] and fabrikam["display_name"] in answer.json()["error_description"]


# --- device code -------------------------------------------------------------------------------
def _device_code(sandbox, scope=SMTP_SEND):
    answer = http_client(sandbox).post(authority(sandbox) + "/oauth2/v2.0/devicecode",
                                       data={"client_id": client(sandbox, "desktop")["client_id"], "scope": scope}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _poll(sandbox, flow):
    return _token(sandbox, {"grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": flow["device_code"],
                            "client_id": client(sandbox, "desktop")["client_id"], "client_info": "1"})


def test_device_code_answer_and_pending(sandbox):
    flow = _device_code(sandbox)
    assert set(flow) == {"user_code", "device_code", "verification_uri", "expires_in", "interval", "message"}
    assert flow["expires_in"] == 900 and flow["interval"] == 5 and re.match(r"^[A-Z0-9]{9}$", flow["user_code"])
    pending = _poll(sandbox, flow)
    assert pending.status_code == 400
    assert pending.json()["error"] == "authorization_pending" and pending.json()["error_codes"] == [70016]


def test_device_login_page(sandbox):
    flow = _device_code(sandbox)
    session = http_client(sandbox)
    page = session.get(flow["verification_uri"], timeout=30)
    assert page.status_code == 200 and 'name="otc"' in page.text
    wrong = session.post(flow["verification_uri"], data={"otc": flow["user_code"], "login": "alice@contoso.example",
                                                         "password": "wrong"}, timeout=30)
    assert wrong.status_code == 400 and "AADSTS50126" in wrong.text
    right = session.post(flow["verification_uri"], data={"otc": flow["user_code"], "login": "alice@contoso.example",
                                                         "password": password_of(sandbox, "alice@contoso.example")}, timeout=30)
    assert right.status_code == 200 and "signed in" in right.text
    tokens = _poll(sandbox, flow).json()
    assert claims(tokens["access_token"])["upn"] == "alice@contoso.example" and tokens["client_info"]
    again = _poll(sandbox, flow)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_device_code_cli_and_control_errors(sandbox):
    flow = _device_code(sandbox)
    out = sandbox.cli("approve-device-code", flow["user_code"], "enaio@contoso.example").stdout
    assert "approved" in out and "enaio@contoso.example" in out
    assert claims(_poll(sandbox, flow).json()["access_token"])["upn"] == "enaio@contoso.example"
    session = http_client(sandbox)
    control = sandbox.conn["control_url"]
    unknown = session.post(control + "/devicecode/approve", json={"user_code": "NOSUCHCOD", "user_principal_name": "x@y"}, timeout=30)
    assert unknown.status_code == 404
    stranger = session.post(control + "/devicecode/approve", json={"user_code": _device_code(sandbox)["user_code"],
                                                                   "user_principal_name": "bob@fabrikam.example"}, timeout=30)
    assert stranger.status_code == 400 and "AADSTS50034" in stranger.json()["error"]["message"]


# --- authorization endpoint --------------------------------------------------------------------
def _authorize_url(sandbox, client_key="desktop", **params):
    query = {"client_id": client(sandbox, client_key)["client_id"], "response_type": "code", "redirect_uri": "http://localhost",
             "scope": SMTP_SEND + " openid offline_access", "state": "s1"}
    query.update(params)
    return authority(sandbox) + "/oauth2/v2.0/authorize?" + urllib.parse.urlencode(query)


def _redirect_query(answer):
    assert answer.status_code == 302, answer.text
    return urllib.parse.parse_qs(urllib.parse.urlsplit(answer.headers["Location"]).query)


def test_authorize_form_sign_in(sandbox):
    session = http_client(sandbox)
    form = session.get(_authorize_url(sandbox, login_hint="admin@contoso.example"), timeout=30)
    assert form.status_code == 200 and 'name="password"' in form.text
    hidden = {k: html.unescape(v) for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.text)}
    fields = dict(hidden, login="admin@contoso.example", password=password_of(sandbox, "admin@contoso.example"))
    answer = session.post(authority(sandbox) + "/oauth2/v2.0/authorize", data=fields, allow_redirects=False, timeout=30)
    query = _redirect_query(answer)
    assert query["state"] == ["s1"] and query["code"]
    tokens = _token(sandbox, {"grant_type": "authorization_code", "client_id": client(sandbox, "desktop")["client_id"],
                              "code": query["code"][0], "redirect_uri": "http://localhost", "scope": SMTP_SEND}).json()
    assert claims(tokens["access_token"])["upn"] == "admin@contoso.example"
    replay = _token(sandbox, {"grant_type": "authorization_code", "client_id": client(sandbox, "desktop")["client_id"],
                              "code": query["code"][0], "redirect_uri": "http://localhost", "scope": SMTP_SEND})
    assert replay.json()["error_codes"] == [54005]


def test_authorize_errors_go_back_to_the_app(sandbox):
    session = http_client(sandbox)
    silent = _redirect_query(session.get(_authorize_url(sandbox, prompt="none"), allow_redirects=False, timeout=30))
    assert silent["error"] == ["login_required"] and silent["state"] == ["s1"]
    pop = _authorize_url(sandbox, scope="https://outlook.office.com/POP.AccessAsUser.All", login_hint="scanner@contoso.example",
                         password=password_of(sandbox, "scanner@contoso.example"))
    consent = _redirect_query(session.get(pop, allow_redirects=False, timeout=30))
    assert consent["error"] == ["consent_required"] and consent["error_description"][0].startswith("AADSTS65001")
    web_secret_missing = _authorize_url(sandbox, "web", redirect_uri="https://mail.contoso.example/signin-oidc",
                                        login_hint="alice@contoso.example", password=password_of(sandbox, "alice@contoso.example"))
    code = _redirect_query(session.get(web_secret_missing, allow_redirects=False, timeout=30))["code"][0]
    redeemed = _token(sandbox, {"grant_type": "authorization_code", "client_id": client(sandbox, "web")["client_id"], "code": code,
                                "redirect_uri": "https://mail.contoso.example/signin-oidc", "scope": SMTP_SEND})
    assert redeemed.status_code == 401 and redeemed.json()["error_codes"] == [7000218]


def test_error_lookup_page(sandbox):
    page = http_client(sandbox).get(sandbox.conn["authority_host"] + "/error?code=7000222", timeout=30)
    assert page.status_code == 200 and "AADSTS7000222" in page.text
