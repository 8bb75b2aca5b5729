# -*- coding: utf-8 -*-
"""mail_smoke_test: main() end to end against a scripted identity platform / Graph and a scripted SMTP peer."""

from __future__ import annotations

import base64
import email
import json
import xml.etree.ElementTree as ET

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.mailauth.m365.plugins.action import device_code_login
from ansible_collections.mailauth.m365.plugins.modules import mail_smoke_test
from ansible_collections.mailauth.m365.tests.peers.smtp_peer import ScriptedSmtpPeer, server_tls_context
from ansible_collections.mailauth.m365.tests.peers.tls import write_tls_files
from ansible_collections.mailauth.m365.tests.unit.conftest import CLIENT, TENANT
from ansible_collections.mailauth.m365.tests.unit.scripted_http import form, unsigned_jwt

GRAPH = "https://graph.microsoft.com/v1.0"
EWS_NS = {"soap": "http://schemas.xmlsoap.org/soap/envelope/",
          "m": "http://schemas.microsoft.com/exchange/services/2006/messages",
          "t": "http://schemas.microsoft.com/exchange/services/2006/types"}
MAILBOX = "enaio@contoso.com"
SECRET = "s3cret-value"
APP_CLAIMS = {"aud": "https://outlook.office365.com", "idtyp": "app", "roles": ["SMTP.SendAsApp"], "appid": CLIENT,
              "tid": TENANT, "oid": "sp-1", "exp": 4102444800}
USER = "accounting@contoso.com"
USER_CLAIMS = {"aud": "https://outlook.office.com", "idtyp": "user", "scp": "SMTP.Send", "upn": USER, "tid": TENANT,
               "appid": CLIENT, "exp": 4102444800}
MAILBOX_DISABLED = ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. "
                    "Visit https://aka.ms/smtp_auth_disabled for more information. [BN0PR04CA0001]")


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    ca, cert, key = write_tls_files(str(tmp_path_factory.mktemp("tls")))
    return dict(ca=ca, context=server_tls_context(cert, key))


@pytest.fixture
def exchange(tls):
    """An Exchange-like SMTP peer; ``answer`` (None accepts) decides about every token."""
    state = {"answer": None, "tokens": []}

    def authorize(mechanism, user, token):
        state["tokens"].append((user, token))
        return state["answer"]
    peer = ScriptedSmtpPeer("exchange", tls_context=tls["context"], authorize=authorize).start()
    peer.state = state
    yield peer
    peer.stop()


@pytest.fixture
def args(module_args, exchange, tls):
    return dict(module_args, mailbox=MAILBOX, smtp_host="127.0.0.1", smtp_port=exchange.port, ca_bundle=tls["ca"])


def run_main(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            mail_smoke_test.main()
    return json.loads(capsys.readouterr().out)


def assert_no_secrets(result, *secrets):
    text = json.dumps(result)
    for secret in (SECRET,) + secrets:
        assert secret not in text


# -- app-only over SMTP ---------------------------------------------------------------------------
def test_client_credentials_send_over_smtp(identity, transport, exchange, args, capsys):
    identity.discovery()
    token = identity.token(claims=APP_CLAIMS)

    result = run_main(dict(args, to=["alice@contoso.com"], subject="hello"), capsys)

    assert "failed" not in result, result.get("msg")
    assert result["changed"] is True and result["sent"] is True and result["delivered"] is None
    assert form([sent for sent in transport.sent if sent.method == "POST"][0])["scope"] == \
        "https://outlook.office365.com/.default"
    assert exchange.state["tokens"] == [(MAILBOX, token)]
    message = email.message_from_bytes(exchange.messages[0]["data"])
    assert message["Subject"] == "hello" and message["X-Mailauth-Smoke-Test"] == result["test_id"]
    assert message["Message-ID"] == result["message_id"] and result["message_id"].endswith("@contoso.com>")
    assert exchange.messages[0]["sender"] == MAILBOX and exchange.messages[0]["recipients"] == ["alice@contoso.com"]
    assert result["server"] == {"host": "127.0.0.1", "port": exchange.port, "tls": "starttls", "mechanism": "XOAUTH2"}
    assert result["signed_in_as"]["identity_type"] == "application"
    assert result["signed_in_as"]["roles"] == ["SMTP.SendAsApp"]
    assert set(result["timings"]) == {"token", "connect", "starttls", "auth", "send"}
    assert "C: <XOAUTH2 response for user=%s, token redacted" % MAILBOX in " ".join(result["transcript"])
    assert_no_secrets(result, token, base64.b64encode(("user=%s\x01auth=Bearer %s\x01\x01" % (MAILBOX, token))
                                                      .encode()).decode())


def test_check_mode_authenticates_and_sends_nothing(identity, exchange, args, capsys):
    identity.discovery()
    identity.token(claims=APP_CLAIMS)

    result = run_main(dict(args, _ansible_check_mode=True, verify_delivery=True, imap_host="127.0.0.1"), capsys)

    assert "failed" not in result, result.get("msg")
    assert result["changed"] is True and result["sent"] is False and result["delivered"] is None
    assert exchange.state["tokens"] and exchange.messages == []
    assert "S: 235 2.7.0 Authentication successful" in result["transcript"]
    assert "-- check mode: authenticated, quitting without sending" in result["transcript"]


def test_an_expired_secret_fails_before_any_smtp_with_the_rotation_remedy(identity, exchange, args, capsys):
    identity.discovery()
    identity.token_error(7000222)

    result = run_main(args, capsys)

    assert result["failed"] is True
    assert result["diagnosis"]["case"] == "secret_expired" and result["diagnosis"]["step"] == "token"
    assert result["diagnosis"]["answer"].startswith("AADSTS7000222 (invalid_client)")
    assert "mailauth.m365.app_secret" in result["msg"] and result["msg"].startswith("Mail smoke test failed at token")
    assert exchange.sessions == 0
    assert result["sent"] is False
    assert_no_secrets(result)


def test_smtp_auth_disabled_for_the_mailbox_is_diagnosed(identity, exchange, args, capsys):
    identity.discovery()
    token = identity.token(claims=APP_CLAIMS)
    exchange.state["answer"] = MAILBOX_DISABLED

    result = run_main(args, capsys)

    assert result["failed"] is True
    diagnosis = result["diagnosis"]
    assert diagnosis["case"] == "smtp_auth_disabled_mailbox" and diagnosis["answer"] == MAILBOX_DISABLED
    assert "mailauth.m365.exchange_smtp_auth for %s" % MAILBOX in diagnosis["remedy"]
    assert "S: " + MAILBOX_DISABLED in result["transcript"]
    assert result["timings"]["auth"] >= 0
    assert exchange.messages == []
    assert_no_secrets(result, token)


def test_app_token_refused_names_the_exchange_service_principal_and_fullaccess(identity, exchange, args, capsys):
    identity.discovery()
    identity.token(claims=APP_CLAIMS)
    exchange.state["answer"] = "535 5.7.3 Authentication unsuccessful [BN0PR04CA0001]"

    result = run_main(args, capsys)

    assert result["diagnosis"]["case"] == "exchange_principal_or_access"
    assert "mailauth.m365.exchange_service_principal" in result["msg"]
    assert "FullAccess" in result["msg"]


def test_graph_token_sent_to_smtp_is_recognised_by_its_audience(identity, exchange, args, capsys):
    identity.discovery()
    identity.token(claims=dict(APP_CLAIMS, aud="https://graph.microsoft.com"))
    exchange.state["answer"] = "535 5.7.3 Authentication unsuccessful"

    result = run_main(args, capsys)

    assert result["diagnosis"]["case"] == "wrong_audience"


def test_send_as_another_address_refused(identity, tls, module_args, capsys):
    peer = ScriptedSmtpPeer("exchange", tls_context=tls["context"],
                            sender_allowed=lambda user, sender: sender == user).start()
    try:
        identity.discovery()
        identity.token(claims=APP_CLAIMS)
        result = run_main(dict(module_args, mailbox=MAILBOX, from_address="ceo@contoso.com", smtp_host="127.0.0.1",
                               smtp_port=peer.port, ca_bundle=tls["ca"]), capsys)
    finally:
        peer.stop()
    assert result["diagnosis"]["case"] == "send_as_denied" and result["diagnosis"]["step"] == "send"
    assert "SendAs on ceo@contoso.com" in result["diagnosis"]["remedy"]


def test_implicit_tls_defaults_to_port_465(identity, module_args, tls, capsys):
    identity.discovery()
    identity.token(claims=APP_CLAIMS)
    result = run_main(dict(module_args, mailbox=MAILBOX, smtp_host="127.0.0.1", tls="implicit", ca_bundle=tls["ca"]),
                      capsys)
    # Nothing listens on 465 here: the point is the port chosen and the diagnosis of the connect step.
    assert result["server"]["port"] == 465
    assert result["diagnosis"]["step"] == "connect" and result["diagnosis"]["case"] == "smtp_unreachable"


# -- delegated sign-ins ---------------------------------------------------------------------------
def _client_info(uid="u-1"):
    return base64.urlsafe_b64encode(json.dumps({"uid": uid, "utid": TENANT}).encode()).rstrip(b"=").decode()


def _user_extra(username=USER, scope="https://outlook.office.com/SMTP.Send"):
    id_token = unsigned_jwt({"aud": CLIENT, "iss": "https://login.microsoftonline.com/%s/v2.0" % TENANT, "tid": TENANT,
                             "oid": "u-1", "preferred_username": username, "sub": "s", "iat": 1, "exp": 4102444800})
    return {"refresh_token": "refresh-1", "id_token": id_token, "client_info": _client_info(),
            "scope": scope + " openid profile offline_access"}


def test_password_sign_in_sends_as_the_user(identity, transport, exchange, args, capsys):
    identity.discovery()
    transport.expect("GET", "https://login.microsoftonline.com/common/userrealm/%s?api-version=1.0" % USER,
                     json={"account_type": "Managed"})
    token = identity.token(claims=USER_CLAIMS, extra=_user_extra())
    password = "Pa55-word!"

    result = run_main(dict(args, client_secret=None, sign_in="password", mailbox=USER, password=password), capsys)

    assert "failed" not in result, result.get("msg")
    sent = form([sent for sent in transport.sent if sent.method == "POST"][0])
    assert sent["grant_type"] == "password" and sent["username"] == USER
    assert "https://outlook.office.com/SMTP.Send" in sent["scope"].split()
    assert "client_secret" not in sent  # a person signs in: the app's secret is not sent
    assert result["signed_in_as"]["username"] == USER and result["signed_in_as"]["scopes"] == ["SMTP.Send"]
    assert exchange.state["tokens"] == [(USER, token)]
    assert_no_secrets(result, token, password, "refresh-1")


def test_password_sign_in_of_an_mfa_user_is_diagnosed(identity, transport, exchange, args, capsys):
    identity.discovery()
    transport.expect("GET", "https://login.microsoftonline.com/common/userrealm/%s?api-version=1.0" % USER,
                     json={"account_type": "Managed"})
    identity.token_error(50076, error="invalid_grant", status=400)

    result = run_main(dict(args, sign_in="password", mailbox=USER, password="pw"), capsys)

    assert result["diagnosis"]["case"] == "mfa_required"
    assert "device_code" in result["diagnosis"]["remedy"]
    assert exchange.sessions == 0


def test_refresh_token_from_the_device_code_cache_is_redeemed(identity, transport, exchange, args, capsys):
    identity.discovery()
    transport.expect("POST", identity.authority + "/oauth2/v2.0/devicecode", json={
        "device_code": "dev-1", "user_code": "ABCD-EFGH", "verification_uri": "https://microsoft.com/devicelogin",
        "expires_in": 900, "interval": 0, "message": "enter ABCD-EFGH"})
    identity.token(claims=USER_CLAIMS, extra=_user_extra())
    device_code_login.login(dict(tenant_id=TENANT, client_id=CLIENT, auth_method="device_code",
                                 token_cache_path=args["token_cache_path"], cloud="public",
                                 scopes=["https://outlook.office.com/SMTP.Send", "offline_access"],
                                 wait_timeout=60, force=False, validate_certs=True, timeout=60),
                            False, lambda text: None)
    identity.discovery()  # the module's own run reads the OpenID configuration again
    refreshed = identity.token(claims=dict(USER_CLAIMS, uti="second"), extra=_user_extra())

    result = run_main(dict(args, client_secret=None, auth_method="device_code", sign_in="refresh_token",
                           mailbox=USER), capsys)

    assert "failed" not in result, result.get("msg")
    sent = form([sent for sent in transport.sent if sent.method == "POST"][-1])
    assert sent["grant_type"] == "refresh_token" and sent["refresh_token"] == "refresh-1"
    assert exchange.state["tokens"] == [(USER, refreshed)]
    assert result["signed_in_as"]["sign_in"] == "refresh_token"
    assert_no_secrets(result, refreshed, "refresh-1")


def test_device_code_sign_in_reuses_the_cached_access_token(identity, transport, exchange, args, capsys):
    identity.discovery()
    transport.expect("POST", identity.authority + "/oauth2/v2.0/devicecode", json={
        "device_code": "dev-1", "user_code": "ABCD-EFGH", "verification_uri": "https://microsoft.com/devicelogin",
        "expires_in": 900, "interval": 0, "message": "enter ABCD-EFGH"})
    token = identity.token(claims=USER_CLAIMS, extra=_user_extra())
    device_code_login.login(dict(tenant_id=TENANT, client_id=CLIENT, auth_method="device_code",
                                 token_cache_path=args["token_cache_path"], cloud="public",
                                 scopes=["https://outlook.office.com/SMTP.Send", "offline_access"],
                                 wait_timeout=60, force=False, validate_certs=True, timeout=60),
                            False, lambda text: None)
    identity.discovery()

    result = run_main(dict(args, client_secret=None, sign_in="device_code", mailbox=USER), capsys)

    assert "failed" not in result, result.get("msg")
    assert exchange.state["tokens"] == [(USER, token)]  # the consent's own token: no token request
    assert transport.count("POST", "/token") == 1


def test_refresh_token_without_a_cached_sign_in_says_to_sign_in(identity, exchange, args, capsys):
    identity.discovery()
    result = run_main(dict(args, sign_in="refresh_token", mailbox=USER), capsys)
    assert result["diagnosis"]["case"] == "not_signed_in"
    assert "mailauth.m365.device_code_login" in result["diagnosis"]["remedy"]


# -- Graph sendMail -------------------------------------------------------------------------------
def test_graph_send_mail_as_truechem_does(identity, transport, args, capsys):
    identity.discovery()
    token = identity.token(claims=dict(APP_CLAIMS, aud="https://graph.microsoft.com", roles=["Mail.Send"]))
    bodies = []
    transport.expect("POST", GRAPH + "/users/%s/sendMail" % MAILBOX, status=202,
                     headers={"request-id": "req-202"}, check=lambda sent: bodies.append(json.loads(sent.body)))

    result = run_main(dict(args, transport="graph", to=["lab@contoso.com"]), capsys)

    assert "failed" not in result, result.get("msg")
    assert result["sent"] is True and result["message_id"] is None
    message = bodies[0]["message"]
    assert message["toRecipients"] == [{"emailAddress": {"address": "lab@contoso.com"}}]
    assert message["internetMessageHeaders"] == [{"name": "X-Mailauth-Smoke-Test", "value": result["test_id"]}]
    assert bodies[0]["saveToSentItems"] is False
    assert form([sent for sent in transport.sent if sent.method == "POST"][0])["scope"] == \
        "https://graph.microsoft.com/.default"
    assert "S: HTTP 202 (request-id req-202)" in result["transcript"]
    assert_no_secrets(result, token)


def test_graph_check_mode_only_signs_in(identity, transport, args, capsys):
    identity.discovery()
    identity.token(claims=dict(APP_CLAIMS, aud="https://graph.microsoft.com"))
    result = run_main(dict(args, transport="graph", _ansible_check_mode=True), capsys)
    assert result["changed"] is True and result["sent"] is False
    assert transport.count("POST", "sendMail") == 0


def test_graph_access_denied_is_diagnosed(identity, transport, args, capsys):
    identity.discovery()
    identity.token(claims=dict(APP_CLAIMS, aud="https://graph.microsoft.com", roles=[]))
    transport.expect("POST", GRAPH + "/users/%s/sendMail" % MAILBOX, status=403, json={"error": {
        "code": "ErrorAccessDenied", "message": "Access is denied. Check credentials and try again.",
        "innerError": {"request-id": "req-403"}}})

    result = run_main(dict(args, transport="graph"), capsys)

    assert result["diagnosis"]["case"] == "graph_access_denied"
    assert "req-403" in result["diagnosis"]["answer"] and "Mail.Send" in result["diagnosis"]["remedy"]


# -- parameters -----------------------------------------------------------------------------------
@pytest.mark.parametrize("extra, parameter", [
    (dict(sign_in="password"), "password"),
    (dict(password="x"), "password"),
    (dict(auth_method="device_code"), "auth_method"),
    (dict(sign_in="password", password="x", auth_method="client_secret"), "auth_method"),
    (dict(to=["not-an-address"]), "to"),
    (dict(verify_timeout=0), "verify_timeout"),
    (dict(cloud="custom", authority_host="https://127.0.0.1:1", graph_endpoint="https://127.0.0.1:2", smtp_host=None),
     "smtp_host"),
    (dict(cloud="custom", authority_host="https://127.0.0.1:1", graph_endpoint="https://127.0.0.1:2",
          verify_delivery=True), "imap_host"),
])
def test_wrong_parameters_fail_before_any_request(transport, args, capsys, extra, parameter):
    result = run_main(dict(args, **extra), capsys)
    assert result["failed"] is True
    assert result["msg"].startswith("Parameter %s:" % parameter), result["msg"]
    assert transport.sent == []


def test_verify_with_a_missing_credential_names_the_suboption(identity, exchange, args, capsys):
    identity.discovery()
    identity.token(claims=APP_CLAIMS)
    result = run_main(dict(args, verify_delivery=True, imap_host="127.0.0.1",
                           verify_with=dict(sign_in="client_credentials", client_id=CLIENT)), capsys)
    assert result["failed"] is True
    assert result["msg"].startswith("Parameter verify_with.client_secret:"), result["msg"]


def test_documentation_lists_every_option():
    import yaml
    documented = yaml.safe_load(mail_smoke_test.DOCUMENTATION)["options"]
    assert set(documented) == set(mail_smoke_test.ARGUMENT_SPEC)
    assert set(documented["verify_with"]["suboptions"]) == set(mail_smoke_test.ARGUMENT_SPEC["verify_with"]["options"])


def test_smtp_options_with_graph_transport_are_warned_about(identity, transport, args, capsys, monkeypatch):
    warned = []
    monkeypatch.setattr(AnsibleModule, "warn", lambda self, warning, **kwargs: warned.append(warning))
    identity.discovery()
    identity.token(claims=dict(APP_CLAIMS, aud="https://graph.microsoft.com"))
    run_main(dict(args, transport="graph", smtp_host="smtp.example", tls="implicit", _ansible_check_mode=True), capsys)
    warnings = [warning for warning in warned if "only apply to transport=smtp" in warning]
    assert len(warnings) == 1 and "smtp_host" in warnings[0] and "tls" in warnings[0], warned


# -- Exchange Web Services (Monitor ERP) ----------------------------------------------------------
EWS_URL = "https://outlook.office365.com/EWS/Exchange.asmx"
EWS_SCOPE = "https://outlook.office365.com/EWS.AccessAsUser.All"
EWS_USER_CLAIMS = dict(USER_CLAIMS, aud="https://outlook.office365.com", scp="EWS.AccessAsUser.All")
XML = {"Content-Type": "text/xml; charset=utf-8", "request-id": "ews-req-1"}


def ews_answer(operation, response_class="Success", code="NoError", text=None):
    message = "%sResponseMessage" % operation
    text_xml = "<m:MessageText>%s</m:MessageText>" % text if text else ""
    return ('<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
            '<s:Header><h:ServerVersionInfo MajorVersion="15" MinorVersion="20" '
            'xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types"/></s:Header><s:Body>'
            '<m:%sResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
            'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><m:ResponseMessages>'
            '<m:%s ResponseClass="%s">%s<m:ResponseCode>%s</m:ResponseCode><m:Items/></m:%s>'
            '</m:ResponseMessages></m:%sResponse></s:Body></s:Envelope>'
            % (operation, message, response_class, text_xml, code, message, operation)).encode()


def ews_sign_in(identity, transport, claims=None):
    identity.discovery()
    transport.expect("GET", "https://login.microsoftonline.com/common/userrealm/%s?api-version=1.0" % USER,
                     json={"account_type": "Managed"})
    return identity.token(claims=claims or EWS_USER_CLAIMS, extra=_user_extra(scope=EWS_SCOPE))


def ews_args(args, **extra):
    return dict(args, client_secret=None, sign_in="password", transport="ews", mailbox=USER, password="Pa55-word!",
                to=["purchasing@contoso.com"], smtp_host=None, smtp_port=None, ca_bundle=None, **extra)


def test_ews_send_as_monitor_erp_does(identity, transport, args, capsys):
    token = ews_sign_in(identity, transport)
    sent = []
    transport.expect("POST", EWS_URL, content=ews_answer("CreateItem"), headers=XML, check=sent.append)

    result = run_main(ews_args(args, subject="erp test"), capsys)

    assert "failed" not in result, result.get("msg")
    assert result["sent"] is True and result["changed"] is True and result["transport"] == "ews"
    assert result["server"] == {"host": EWS_URL, "port": None, "tls": "https", "mechanism": "Bearer"}
    assert EWS_SCOPE in form([s for s in transport.sent if s.method == "POST"][0])["scope"].split()
    request = sent[0]
    assert request.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert request.headers["Authorization"] == "Bearer " + token and "X-AnchorMailbox" not in request.headers
    envelope = ET.fromstring(request.body)
    create = envelope.find("soap:Body/m:CreateItem", EWS_NS)
    assert create.get("MessageDisposition") == "SendOnly"
    message = create.find("m:Items/t:Message", EWS_NS)
    assert message.findtext("t:Subject", namespaces=EWS_NS) == "erp test"
    assert [e.text for e in message.findall("t:ToRecipients/t:Mailbox/t:EmailAddress", EWS_NS)] == \
        ["purchasing@contoso.com"]
    header = message.find("t:ExtendedProperty", EWS_NS)
    assert header.find("t:ExtendedFieldURI", EWS_NS).get("PropertyName") == "X-Mailauth-Smoke-Test"
    assert header.findtext("t:Value", namespaces=EWS_NS) == result["test_id"]
    assert message.find("t:From", EWS_NS) is None
    assert "S: HTTP 200 CreateItemResponseMessage Success NoError (request-id ews-req-1)" in result["transcript"]
    assert set(result["timings"]) == {"token", "send"}
    assert_no_secrets(result, token, "Pa55-word!")


def test_ews_check_mode_reads_sent_items_and_sends_nothing(identity, transport, args, capsys):
    ews_sign_in(identity, transport)
    sent = []
    transport.expect("POST", EWS_URL, content=ews_answer("GetFolder"), headers=XML, check=sent.append)

    result = run_main(ews_args(args, _ansible_check_mode=True), capsys)

    assert "failed" not in result, result.get("msg")
    assert result["changed"] is True and result["sent"] is False
    assert ET.fromstring(sent[0].body).find("soap:Body/m:GetFolder", EWS_NS) is not None
    assert "CreateItem" not in sent[0].body
    assert set(result["timings"]) == {"token", "check"}


@pytest.mark.parametrize("status, diagnostics, claims, case, remedy", [
    (403, '2000016;reason="The application %s isn\'t on the organization\'s EWS application allow list '
          '(EwsAllowedAppIDs)";error_category="ews_app_not_allowed"' % CLIENT, None, "ews_not_allowed",
     "mailauth.m365.exchange_ews_allow_list"),
    (403, '2000008;reason="The token contains not enough scope to make this call.";error_category="invalid_grant"',
     dict(EWS_USER_CLAIMS, scp="SMTP.Send"), "ews_scope_missing", "EWS.AccessAsUser.All"),
    (401, '2000003;reason="The audience claim value is invalid for current resource.";error_category="invalid_resource"',
     dict(EWS_USER_CLAIMS, aud="https://graph.microsoft.com"), "ews_wrong_audience", "EWS.AccessAsUser.All"),
])
def test_ews_refusals_are_diagnosed(identity, transport, args, capsys, status, diagnostics, claims, case, remedy):
    ews_sign_in(identity, transport, claims)
    transport.expect("POST", EWS_URL, status=status, content=b"",
                     headers={"x-ms-diagnostics": diagnostics, "request-id": "ews-req-2"})

    result = run_main(ews_args(args), capsys)

    assert result["failed"] is True and result["sent"] is False
    assert result["diagnosis"]["case"] == case and result["diagnosis"]["step"] == "send"
    assert remedy in result["diagnosis"]["remedy"]
    assert diagnostics in result["diagnosis"]["answer"] and "ews-req-2" in result["diagnosis"]["answer"]


def test_ews_allow_list_remedy_names_the_end_of_ews(identity, transport, args, capsys):
    ews_sign_in(identity, transport)
    transport.expect("POST", EWS_URL, status=403, content=b"")
    result = run_main(ews_args(args), capsys)
    assert result["diagnosis"]["case"] == "ews_not_allowed"
    assert "2027-04-01" in result["diagnosis"]["remedy"] and "app_ids.add: [%s]" % CLIENT in result["diagnosis"]["remedy"]


@pytest.mark.parametrize("code, case", [
    ("ErrorNonExistentMailbox", "ews_mailbox_not_found"),
    ("ErrorSendAsDenied", "send_as_denied"),
    ("ErrorInvalidRecipients", "recipient_rejected"),
])
def test_ews_item_errors_are_diagnosed(identity, transport, args, capsys, code, case):
    ews_sign_in(identity, transport)
    transport.expect("POST", EWS_URL, content=ews_answer("CreateItem", "Error", code, "Exchange says no."), headers=XML)
    result = run_main(ews_args(args), capsys)
    assert result["diagnosis"]["case"] == case
    assert result["diagnosis"]["answer"].startswith("%s: Exchange says no." % code)


def test_ews_busy_is_retried_after_its_back_off(identity, transport, args, capsys):
    ews_sign_in(identity, transport)
    transport.expect("POST", EWS_URL, status=503, content=b"", headers={"Retry-After": "0"})
    transport.expect("POST", EWS_URL, content=ews_answer("CreateItem"), headers=XML)
    result = run_main(ews_args(args), capsys)
    assert result["sent"] is True, result.get("msg")
    assert transport.count("POST", "/EWS/") == 2


def test_ews_app_only_impersonates_the_mailbox(identity, transport, args, capsys):
    identity.discovery()
    identity.token(claims=dict(APP_CLAIMS, roles=["full_access_as_app"]))
    sent = []
    transport.expect("POST", EWS_URL, content=ews_answer("CreateItem"), headers=XML, check=sent.append)
    result = run_main(dict(args, transport="ews", smtp_host=None, smtp_port=None), capsys)
    assert result["sent"] is True, result.get("msg")
    assert sent[0].headers["X-AnchorMailbox"] == MAILBOX
    assert ET.fromstring(sent[0].body).findtext(
        "soap:Header/t:ExchangeImpersonation/t:ConnectingSID/t:PrimarySmtpAddress", namespaces=EWS_NS) == MAILBOX


def test_ews_url_is_required_without_an_exchange_endpoint(transport, args, capsys):
    result = run_main(dict(ews_args(args), cloud="custom", authority_host="https://127.0.0.1:1",
                           graph_endpoint="https://127.0.0.1:2"), capsys)
    assert result["msg"].startswith("Parameter ews_url:"), result["msg"]
    assert transport.sent == []
