"""The sandbox's identity platform driven by the real MSAL library, flow by flow, the way the
collection and the products of the seed guides use it. Only the wire is inspected."""
import datetime
import threading
import time
import urllib.parse
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from identity_helpers import (EXCHANGE, GRAPH, OUTLOOK, aadsts, automation, certificate_assertion, claims, client,
                              confidential, http_client, password_of, public, verified_claims)

ADMIN = "admin@contoso.example"
SCANNER = "scanner@contoso.example"
ALICE = "alice@contoso.example"
MFA_USER = "mfa.user@contoso.example"
SMTP_SEND = OUTLOOK + "/SMTP.Send"
# ROPC is what seed 001 uses, and a query-mode redirect what the tests can read: expected warnings.
pytestmark = pytest.mark.filterwarnings("ignore:This API has been deprecated:DeprecationWarning",
                                        "ignore:response_mode='form_post' is recommended:UserWarning")


def _self_signed():
    """A key and certificate the tenant has never seen."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stranger")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem.decode(), cert.fingerprint(hashes.SHA1()).hex()


def _read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _cert_credential(sandbox, **extra):
    auto = automation(sandbox)
    credential = {"private_key": _read(auto["certificate_key_path"])}
    credential.update(extra)
    return credential


def _assertion(token):
    # MSAL wants a callable, so a long-running client can fetch a fresh assertion.
    return {"client_assertion": lambda: token}


def _app_claims(sandbox, result):
    assert "access_token" in result, result
    return verified_claims(sandbox, result["access_token"])


# --- client credentials ------------------------------------------------------------------------
def test_client_secret_gets_graph_roles(sandbox):
    auto, tenant = automation(sandbox), sandbox.tenant()
    result = confidential(sandbox, auto["client_id"], auto["client_secret"]).acquire_token_for_client([GRAPH + "/.default"])
    assert result["token_type"] == "Bearer" and 3000 < result["expires_in"] <= 3600
    token = _app_claims(sandbox, result)
    assert token["aud"] == GRAPH
    assert token["iss"] == "https://sts.windows.net/%s/" % tenant["id"]
    assert token["tid"] == tenant["id"] and token["appid"] == auto["client_id"]
    assert token["appidacr"] == "1" and token["idtyp"] == "app"
    assert token["oid"] == auto["service_principal_id"]
    assert token["exp"] - token["nbf"] == 3600
    assert {"Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All"} <= set(token["roles"])
    assert "scp" not in token and "upn" not in token


def test_exchange_audience_and_role(sandbox):
    auto = automation(sandbox)
    result = confidential(sandbox, auto["client_id"], auto["client_secret"]).acquire_token_for_client([EXCHANGE + "/.default"])
    token = _app_claims(sandbox, result)
    assert token["aud"] == EXCHANGE and token["roles"] == ["Exchange.ManageAsApp"]


def test_audience_by_app_id_is_canonical_and_no_roles_without_grants(sandbox):
    web = client(sandbox, "web")
    app = confidential(sandbox, web["client_id"], web["client_secret"])
    token = _app_claims(sandbox, app.acquire_token_for_client(["00000002-0000-0ff1-ce00-000000000000/.default"]))
    assert token["aud"] == EXCHANGE
    assert "roles" not in token  # Entra leaves the claim out when nothing is granted


def test_certificate_rs256_with_thumbprint(sandbox):
    auto = automation(sandbox)
    app = confidential(sandbox, auto["client_id"], _cert_credential(sandbox, thumbprint=auto["certificate_thumbprint"]))
    token = _app_claims(sandbox, app.acquire_token_for_client([GRAPH + "/.default"]))
    assert token["appidacr"] == "2" and token["roles"]


def test_certificate_ps256_with_public_certificate(sandbox):
    auto = automation(sandbox)
    # With the certificate MSAL signs PS256 and sends x5t#S256 and x5c.
    credential = _cert_credential(sandbox, public_certificate=_read(auto["certificate_cert_path"]))
    token = _app_claims(sandbox, confidential(sandbox, auto["client_id"], credential).acquire_token_for_client([EXCHANGE + "/.default"]))
    assert token["appidacr"] == "2" and token["aud"] == EXCHANGE


def test_federated_assertion_from_token_file(sandbox):
    auto = automation(sandbox)
    app = confidential(sandbox, auto["client_id"], _assertion(_read(auto["federated_token_file"])))
    token = _app_claims(sandbox, app.acquire_token_for_client([GRAPH + "/.default"]))
    assert token["appidacr"] == "2" and token["appid"] == auto["client_id"]


@pytest.mark.parametrize("request_body, code", [
    ({"subject": "repo:mailauth/m365:ref:refs/heads/feature"}, 70021),
    ({"subject": "repo:mailauth/m365:ref:refs/heads/main", "audience": "api://SomethingElse"}, 70021),
    ({"subject": "repo:mailauth/m365:ref:refs/heads/main", "issuer": "https://token.actions.example"}, 70021),
    ({"subject": "repo:mailauth/m365:ref:refs/heads/main", "lifetime": -900}, 700024),
])
def test_federated_assertion_failures(sandbox, request_body, code):
    auto = automation(sandbox)
    assertion = sandbox.control("POST", "/federated-token", request_body)["token"]
    result = confidential(sandbox, auto["client_id"], _assertion(assertion)).acquire_token_for_client([GRAPH + "/.default"])
    assert aadsts(result) == code


def test_wrong_and_expired_secrets(sandbox):
    auto, web = automation(sandbox), client(sandbox, "web")
    # The secret's id instead of its value is the classic mistake behind 7000215.
    wrong = confidential(sandbox, auto["client_id"], str(uuid.uuid4())).acquire_token_for_client([GRAPH + "/.default"])
    assert aadsts(wrong) == 7000215 and wrong["error"] == "invalid_client"
    expired = confidential(sandbox, web["client_id"], web["expired_client_secret"]).acquire_token_for_client([GRAPH + "/.default"])
    assert aadsts(expired) == 7000222 and expired["error"] == "invalid_client"


def test_unknown_application_and_resource(sandbox):
    auto = automation(sandbox)
    missing = confidential(sandbox, str(uuid.uuid4()), "x").acquire_token_for_client([GRAPH + "/.default"])
    assert aadsts(missing) == 700016 and missing["error"] == "unauthorized_client"
    resource = confidential(sandbox, auto["client_id"], auto["client_secret"]).acquire_token_for_client(
        ["https://crm.contoso.example/.default"])
    assert aadsts(resource) == 500011


def test_unknown_tenant_fails_discovery(sandbox):
    auto = automation(sandbox)
    with pytest.raises(ValueError) as failure:
        confidential(sandbox, auto["client_id"], auto["client_secret"], tenant=str(uuid.uuid4()))
    assert "AADSTS90002" in str(failure.value.__context__)  # MSAL wraps the discovery answer


def test_unregistered_certificate_and_wrong_key(sandbox):
    auto = automation(sandbox)
    key, thumbprint = _self_signed()
    stranger = confidential(sandbox, auto["client_id"], {"private_key": key, "thumbprint": thumbprint})
    assert aadsts(stranger.acquire_token_for_client([GRAPH + "/.default"])) == 700027
    # The registered thumbprint, but a signature by another key.
    forged = confidential(sandbox, auto["client_id"], {"private_key": key, "thumbprint": auto["certificate_thumbprint"]})
    assert aadsts(forged.acquire_token_for_client([GRAPH + "/.default"])) == 7000274


def test_expired_certificate_assertion(sandbox):
    now = int(time.time())
    assertion = certificate_assertion(sandbox, nbf=now - 3600, exp=now - 1200)
    result = confidential(sandbox, automation(sandbox)["client_id"], _assertion(assertion)).acquire_token_for_client([GRAPH + "/.default"])
    assert aadsts(result) == 700024


# --- resource owner password credentials -------------------------------------------------------
def test_ropc_outlook_smtp_token_and_cache_account(sandbox):
    desktop, tenant = client(sandbox, "desktop"), sandbox.tenant()
    app = public(sandbox, desktop["client_id"])
    result = app.acquire_token_by_username_password(SCANNER, password_of(sandbox, SCANNER), scopes=[SMTP_SEND])
    assert {"access_token", "refresh_token", "id_token", "client_info", "ext_expires_in", "scope"} <= set(result), result
    token = verified_claims(sandbox, result["access_token"])
    user_id = tenant["users"][SCANNER]["id"]
    assert token["aud"] == OUTLOOK and token["scp"] == "SMTP.Send"
    assert token["upn"] == SCANNER and token["oid"] == user_id and token["idtyp"] == "user"
    assert token["appid"] == desktop["client_id"] and token["appidacr"] == "0" and token["amr"] == ["pwd"]
    assert result["id_token_claims"]["iss"] == "%s/%s/v2.0" % (sandbox.conn["authority_host"], tenant["id"])
    assert result["id_token_claims"]["aud"] == desktop["client_id"]
    assert result["scope"] == SMTP_SEND
    assert 3600 <= result["expires_in"] + 1 <= 5400  # user tokens live 60 to 90 minutes, as in Entra
    accounts = app.get_accounts(username=SCANNER)
    assert accounts and accounts[0]["home_account_id"] == "%s.%s" % (user_id, tenant["id"])
    log = sandbox.control("GET", "/requests")["by_endpoint"]
    assert log.get("identity GET /common/userrealm/{username}")  # reached through the port-restoring client


@pytest.mark.parametrize("client_key, user, password, scopes, code", [
    ("desktop", SCANNER, "not the password", [SMTP_SEND], 50126),
    ("desktop", "nobody@contoso.example", "x", [SMTP_SEND], 50034),
    ("desktop", MFA_USER, None, [SMTP_SEND], 50076),
    ("desktop", SCANNER, None, [OUTLOOK + "/POP.AccessAsUser.All"], 65001),
    ("desktop", SCANNER, None, [OUTLOOK + "/NoSuch.Permission"], 650053),
    ("restricted", SCANNER, None, [SMTP_SEND], 50105),
    (None, SCANNER, None, [SMTP_SEND], 7000218),
])
def test_ropc_failures(sandbox, client_key, user, password, scopes, code):
    client_id = client(sandbox, client_key)["client_id"] if client_key else automation(sandbox)["client_id"]
    secret = password or password_of(sandbox, user)
    result = public(sandbox, client_id).acquire_token_by_username_password(user, secret, scopes=scopes)
    assert aadsts(result) == code, result


def test_ropc_assigned_user_and_confidential_client(sandbox):
    restricted = public(sandbox, client(sandbox, "restricted")["client_id"])
    assert "access_token" in restricted.acquire_token_by_username_password(ALICE, password_of(sandbox, ALICE), scopes=[SMTP_SEND])
    web = client(sandbox, "web")
    app = confidential(sandbox, web["client_id"], web["client_secret"])
    result = app.acquire_token_by_username_password(SCANNER, password_of(sandbox, SCANNER), scopes=[SMTP_SEND])
    assert claims(result["access_token"])["appidacr"] == "1"


# --- refresh -----------------------------------------------------------------------------------
def test_refresh_silently_and_for_another_resource(sandbox):
    app = public(sandbox, client(sandbox, "desktop")["client_id"])
    first = app.acquire_token_by_username_password(SCANNER, password_of(sandbox, SCANNER), scopes=[SMTP_SEND])
    account = app.get_accounts(username=SCANNER)[0]
    refreshed = app.acquire_token_silent([SMTP_SEND], account=account, force_refresh=True)
    assert refreshed["token_source"] == "identity_provider"
    assert refreshed["access_token"] != first["access_token"]
    assert claims(refreshed["access_token"])["aud"] == OUTLOOK
    # The same refresh token serves Microsoft Graph too (multi-resource refresh tokens).
    graph = app.acquire_token_silent(["User.Read"], account=account)
    token = claims(graph["access_token"])
    assert token["aud"] == GRAPH and "User.Read" in token["scp"].split()
    imap = app.acquire_token_by_refresh_token(first["refresh_token"], scopes=[OUTLOOK + "/IMAP.AccessAsUser.All"])
    assert claims(imap["access_token"])["scp"] == "IMAP.AccessAsUser.All"
    assert imap["refresh_token"] != first["refresh_token"]  # a new refresh token with every redemption


def test_expired_refresh_token(sandbox):
    app = public(sandbox, client(sandbox, "desktop")["client_id"])
    first = app.acquire_token_by_username_password(SCANNER, password_of(sandbox, SCANNER), scopes=[SMTP_SEND])
    assert sandbox.control("POST", "/refresh-tokens/expire", {"refresh_token": first["refresh_token"]})["expired"] == 1
    result = app.acquire_token_by_refresh_token(first["refresh_token"], scopes=[SMTP_SEND])
    assert aadsts(result) == 700082 and result["error"] == "invalid_grant"


# --- device code -------------------------------------------------------------------------------
@pytest.fixture
def quick_device_codes(sandbox):
    sandbox.control("PUT", "/devicecode/settings", {"interval": 1, "expires_in": 60})
    yield
    sandbox.control("PUT", "/devicecode/settings", {"interval": 5, "expires_in": 900, "auto_approve": None})


def _approve_later(sandbox, user_code, upn, action="approve"):
    def run():
        time.sleep(1.2)  # let the client poll into authorization_pending first
        sandbox.control("POST", "/devicecode/" + action, {"user_code": user_code, "user_principal_name": upn})
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.usefixtures("quick_device_codes")
def test_device_code_for_mfa_user(sandbox):
    app = public(sandbox, client(sandbox, "desktop")["client_id"])
    flow = app.initiate_device_flow(scopes=[OUTLOOK + "/IMAP.AccessAsUser.All"])
    assert flow["verification_uri"] == sandbox.conn["authority_host"] + "/devicelogin"
    assert flow["user_code"] in flow["message"] and flow["interval"] == 1
    thread = _approve_later(sandbox, flow["user_code"], MFA_USER)
    result = app.acquire_token_by_device_flow(flow)
    thread.join()
    assert {"access_token", "refresh_token", "id_token", "client_info"} <= set(result), result
    token = claims(result["access_token"])
    # Unlike ROPC, an interactive sign-in can satisfy MFA.
    assert token["upn"] == MFA_USER and token["amr"] == ["pwd", "mfa"] and token["aud"] == OUTLOOK
    assert app.get_accounts(username=MFA_USER)
    requests_log = sandbox.control("GET", "/requests?entries=1")["entries"]
    # Entries of unknown paths have no route (None): they cannot be the token endpoint's answer.
    assert any((e["route"] or "").endswith("/token") and e["status"] == 400 for e in requests_log)  # authorization_pending


@pytest.mark.usefixtures("quick_device_codes")
def test_device_code_declined_and_unconsented(sandbox):
    app = public(sandbox, client(sandbox, "desktop")["client_id"])
    flow = app.initiate_device_flow(scopes=[SMTP_SEND])
    thread = _approve_later(sandbox, flow["user_code"], SCANNER, action="decline")
    result = app.acquire_token_by_device_flow(flow)
    thread.join()
    assert result["error"] == "authorization_declined"
    flow = app.initiate_device_flow(scopes=[OUTLOOK + "/POP.AccessAsUser.All"])
    sandbox.control("POST", "/devicecode/approve", {"user_code": flow["user_code"], "user_principal_name": SCANNER})
    assert aadsts(app.acquire_token_by_device_flow(flow)) == 65001


@pytest.mark.usefixtures("quick_device_codes")
def test_device_code_expires(sandbox):
    sandbox.control("PUT", "/devicecode/settings", {"expires_in": 2})
    app = public(sandbox, client(sandbox, "desktop")["client_id"])
    flow = app.initiate_device_flow(scopes=[SMTP_SEND])
    # Poll until the server itself says the code expired (MSAL would stop at its own clock).
    result = app.acquire_token_by_device_flow(flow, exit_condition=lambda flow: False)
    assert result["error"] == "expired_token" and aadsts(result) == 70020


@pytest.mark.usefixtures("quick_device_codes")
def test_device_code_needs_public_client_flows(sandbox):
    app = public(sandbox, automation(sandbox)["client_id"])
    flow = app.initiate_device_flow(scopes=[SMTP_SEND])
    assert aadsts(app.acquire_token_by_device_flow(flow)) == 7000218


@pytest.mark.usefixtures("quick_device_codes")
def test_device_code_auto_approve(sandbox):
    sandbox.control("POST", "/devicecode/auto-approve", {"user_principal_name": ALICE})
    app = public(sandbox, client(sandbox, "desktop")["client_id"])
    result = app.acquire_token_by_device_flow(app.initiate_device_flow(scopes=[SMTP_SEND]))
    assert claims(result["access_token"])["upn"] == ALICE


# --- authorization code with PKCE --------------------------------------------------------------
def _sign_in(sandbox, auth_uri, upn, password):
    """What the browser does: the sandbox signs in from login_hint + password and redirects."""
    answer = http_client(sandbox).get(auth_uri + "&" + urllib.parse.urlencode({"login_hint": upn, "password": password}),
                                      allow_redirects=False, timeout=30)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def _auth_response(location):
    return {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(location).query).items()}


def test_auth_code_pkce_public_client(sandbox):
    app = public(sandbox, client(sandbox, "desktop")["client_id"])
    flow = app.initiate_auth_code_flow([SMTP_SEND], redirect_uri="http://localhost:8765/")
    assert flow["code_verifier"] and "code_challenge_method=S256" in flow["auth_uri"]
    location = _sign_in(sandbox, flow["auth_uri"], ADMIN, password_of(sandbox, ADMIN))
    assert location.startswith("http://localhost:8765/?code=")
    result = app.acquire_token_by_auth_code_flow(flow, _auth_response(location))  # MSAL checks state and nonce
    assert {"access_token", "refresh_token", "id_token", "client_info"} <= set(result), result
    assert claims(result["access_token"])["upn"] == ADMIN and app.get_accounts(username=ADMIN)


def test_auth_code_confidential_web_client(sandbox):
    web = client(sandbox, "web")
    app = confidential(sandbox, web["client_id"], web["client_secret"])
    flow = app.initiate_auth_code_flow([SMTP_SEND], redirect_uri=web["redirect_uris"][0], response_mode="form_post")
    answer = http_client(sandbox).get(flow["auth_uri"] + "&" + urllib.parse.urlencode(
        {"login_hint": ALICE, "password": password_of(sandbox, ALICE)}), timeout=30)
    assert answer.status_code == 200 and 'name="code"' in answer.text  # form_post page
    location = _sign_in(sandbox, flow["auth_uri"].replace("response_mode=form_post", "response_mode=query"), ALICE,
                        password_of(sandbox, ALICE))
    result = app.acquire_token_by_auth_code_flow(flow, _auth_response(location))
    assert claims(result["access_token"])["appidacr"] == "1"


def test_auth_code_wrong_verifier_and_redirect(sandbox):
    app = public(sandbox, client(sandbox, "desktop")["client_id"])
    flow = app.initiate_auth_code_flow([SMTP_SEND], redirect_uri="http://localhost:8765/")
    location = _sign_in(sandbox, flow["auth_uri"], ADMIN, password_of(sandbox, ADMIN))
    tampered = dict(flow, code_verifier="x" * 43)
    assert aadsts(app.acquire_token_by_auth_code_flow(tampered, _auth_response(location))) == 501481
    flow = app.initiate_auth_code_flow([SMTP_SEND], redirect_uri="https://evil.example/callback")
    page = http_client(sandbox).get(flow["auth_uri"], timeout=30)
    assert page.status_code == 400 and "AADSTS50011" in page.text


def _until_replicated(send, deadline=15):
    """Graph answers 404/400 for objects replication has not brought everywhere yet; clients retry."""
    stop = time.time() + deadline
    while True:
        answer = send()
        if answer.status_code < 400 or time.time() > stop:
            answer.raise_for_status()
            return answer.json() if answer.content else None
        time.sleep(0.3)


def test_new_app_is_unknown_until_replicated(sandbox):
    sandbox.control("PUT", "/realism", {"replication_delay": [2, 2]})
    try:
        graph = http_client(sandbox)
        graph.headers["Authorization"] = "Bearer " + sandbox.app_token()
        base = sandbox.conn["graph_endpoint"] + "/v1.0"
        app = graph.post(base + "/applications", json={"displayName": "replication test"}, timeout=30).json()
        # Entra checks the app before the credential: any secret shows the replication state.
        probe = confidential(sandbox, app["appId"], "not-yet").acquire_token_for_client([GRAPH + "/.default"])
        assert aadsts(probe) == 700016
        _until_replicated(lambda: graph.post(base + "/servicePrincipals", json={"appId": app["appId"]}, timeout=30))
        probe = confidential(sandbox, app["appId"], "not-yet").acquire_token_for_client([GRAPH + "/.default"])
        assert aadsts(probe) == 7000229  # the application is there, its service principal not yet
        secret = _until_replicated(lambda: graph.post(base + "/applications/%s/addPassword" % app["id"],
                                                      json={"passwordCredential": {"displayName": "test"}}, timeout=30))
        stop = time.time() + 15
        while True:
            result = confidential(sandbox, app["appId"], secret["secretText"]).acquire_token_for_client([GRAPH + "/.default"])
            if "access_token" in result or time.time() > stop:
                break
            assert aadsts(result) == 7000229
            time.sleep(0.3)
        assert "roles" not in claims(result["access_token"])
    finally:
        sandbox.reset()
