# -*- coding: utf-8 -*-
"""_diagnose: every case of the table, from the answer (and token claims) that leads to it."""

from __future__ import annotations

import pytest

from ansible_collections.mailauth.m365.plugins.module_utils import _diagnose as d
from ansible_collections.mailauth.m365.plugins.module_utils._errors import (
    AmbiguousWriteError,
    AuthError,
    GraphError,
    ThrottledError,
    TransportError,
)
from ansible_collections.mailauth.m365.plugins.module_utils._ews import EwsError
from ansible_collections.mailauth.m365.plugins.module_utils._smtp import MailProtocolError

NOW = 2000000000
APP = "0a1b2c3d-1111-4aaa-8bbb-000000000001"
MAILBOX = "enaio@contoso.com"
APP_CLAIMS = {"aud": "https://outlook.office365.com", "idtyp": "app", "roles": ["SMTP.SendAsApp"], "appid": APP,
              "exp": NOW + 3600}
USER_CLAIMS = {"aud": "https://outlook.office.com", "idtyp": "user", "scp": "SMTP.Send", "upn": MAILBOX,
               "exp": NOW + 3600}


def context(claims=None, sign_in="client_credentials", **extra):
    options = dict(client_id=APP, tenant="contoso.onmicrosoft.com", cloud="public", sign_in=sign_in,
                   username="user@contoso.com", mailbox=MAILBOX, from_address=MAILBOX, host="smtp.office365.com",
                   port=587, claims=claims if claims is not None else APP_CLAIMS, now=NOW)
    options.update(extra)
    return d.Context(**options)


def entra(code, error="invalid_client"):
    return AuthError("Could not get a token", error=error, error_codes=[code],
                     description="AADSTS%d: the text Entra sent.\r\nTrace ID: t" % code, trace_id="t-1")


def smtp(answer, step="auth", code=None, command="AUTH XOAUTH2", challenge=None, transport=False):
    if code is None and not transport and answer[:3].isdigit():
        code, answer = int(answer[:3]), answer[4:]
    return MailProtocolError(step, answer, code=code, command=command, challenge=challenge, transport=transport)


def graph(status, code, message="msg"):
    return GraphError("POST", "https://graph.microsoft.com/v1.0/users/x/sendMail", status, code=code, message=message,
                      request_id="req-1")


def ews(status=200, code=None, diagnostics=None, message="", step="send"):
    return EwsError(step, message, status=status, code=code, diagnostics=diagnostics, request_id="ews-1")


EWS_CLAIMS = dict(USER_CLAIMS, aud="https://outlook.office365.com", scp="EWS.AccessAsUser.All")
BEFORE_EWS_ENDS = 1795000000  # 2026-11: the allow list decides
EXPIRED = dict(APP_CLAIMS, exp=NOW - 60)
GRAPH_TOKEN = dict(USER_CLAIMS, aud="https://graph.microsoft.com")

# case -> how it is reached. Every case of the table must be here (see the last test).
SCENARIOS = {
    "secret_expired": lambda: d.diagnose_sign_in(entra(7000222), context()),
    "secret_wrong": lambda: d.diagnose_sign_in(entra(7000215), context()),
    "consent_missing": lambda: d.diagnose_sign_in(entra(65001, "invalid_grant"), context()),
    "app_not_found": lambda: d.diagnose_sign_in(entra(700016, "unauthorized_client"), context()),
    "service_principal_missing": lambda: d.diagnose_sign_in(entra(7000229), context()),
    "tenant_not_found": lambda: d.diagnose_sign_in(entra(90002, "invalid_tenant"), context()),
    "mfa_required": lambda: d.diagnose_sign_in(entra(50076, "invalid_grant"), context({}, "password")),
    "public_client_disabled": lambda: d.diagnose_sign_in(entra(7000218), context({}, "password")),
    "password_wrong": lambda: d.diagnose_sign_in(entra(50126, "invalid_grant"), context({}, "password")),
    "blocked_by_policy": lambda: d.diagnose_sign_in(entra(53003, "access_denied"), context()),
    "resource_not_found": lambda: d.diagnose_sign_in(entra(500011, "invalid_resource"), context()),
    "refresh_token_expired": lambda: d.diagnose_sign_in(entra(700082, "invalid_grant"), context({}, "refresh_token")),
    "not_signed_in": lambda: d.diagnose_sign_in(AuthError(
        "No signed-in account in the token cache /c.json: sign in first with the device code login of mailauth.m365."),
        context({}, "refresh_token")),
    "user_not_assigned": lambda: d.diagnose_sign_in(entra(50105, "invalid_grant"), context({}, "password")),
    "certificate_rejected": lambda: d.diagnose_sign_in(entra(700027), context()),
    "sign_in_failed": lambda: d.diagnose_sign_in(entra(70011, "invalid_scope"), context()),
    "service_unreachable": lambda: d.diagnose_sign_in(TransportError("POST", "https://login", "refused"), context()),
    "smtp_unreachable": lambda: d.diagnose_protocol(smtp("connection refused", "connect", transport=True), context()),
    "tls_untrusted": lambda: d.diagnose_protocol(
        smtp("TLS certificate verification failed: unable to get local issuer certificate", "starttls",
             transport=True), context()),
    "starttls_missing": lambda: d.diagnose_protocol(
        smtp("The server does not offer STARTTLS after EHLO.", "starttls", command="EHLO"), context()),
    "no_oauth_mechanism": lambda: d.diagnose_protocol(
        smtp("The server offers no OAuth mechanism after EHLO (AUTH LOGIN PLAIN).", "auth", command="EHLO"),
        context()),
    "auth_line_too_long": lambda: d.diagnose_protocol(smtp("500 5.5.2 Line too long"), context()),
    "smtp_auth_disabled_tenant": lambda: d.diagnose_protocol(smtp(
        "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit "
        "https://aka.ms/smtp_auth_disabled for more information."), context()),
    "smtp_auth_disabled_mailbox": lambda: d.diagnose_protocol(smtp(
        "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit "
        "https://aka.ms/smtp_auth_disabled for more information."), context()),
    "security_defaults": lambda: d.diagnose_protocol(smtp(
        "535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy. "
        "Contact your administrator."), context(USER_CLAIMS, "password")),
    "wrong_audience": lambda: d.diagnose_protocol(smtp("535 5.7.3 Authentication unsuccessful"),
                                                  context(GRAPH_TOKEN, "refresh_token")),
    "token_expired": lambda: d.diagnose_protocol(smtp("535 5.7.3 Authentication unsuccessful"), context(EXPIRED)),
    "app_role_missing": lambda: d.diagnose_protocol(smtp("535 5.7.3 Authentication unsuccessful"),
                                                    context(dict(APP_CLAIMS, roles=[]))),
    "exchange_principal_or_access": lambda: d.diagnose_protocol(smtp("535 5.7.3 Authentication unsuccessful"),
                                                                context()),
    "delegated_scope_missing": lambda: d.diagnose_protocol(smtp("535 5.7.3 Authentication unsuccessful"),
                                                           context(dict(USER_CLAIMS, scp="User.Read"), "password")),
    "user_mismatch": lambda: d.diagnose_protocol(smtp("535 5.7.3 Authentication unsuccessful"),
                                                 context(dict(USER_CLAIMS, upn="bob@contoso.com"), "password")),
    "delegated_rejected": lambda: d.diagnose_protocol(smtp("535 5.7.3 Authentication unsuccessful"),
                                                      context(USER_CLAIMS, "password")),
    "token_rejected": lambda: d.diagnose_protocol(
        smtp("535 5.7.8 Authentication failed.", challenge={"status": "401", "schemes": "bearer", "scope": "mail"}),
        context({})),
    "send_as_denied": lambda: d.diagnose_protocol(smtp(
        "550 5.7.60 SMTP; Client does not have permissions to send as this sender", "send", command="MAIL FROM"),
        context(from_address="boss@contoso.com")),
    "basic_auth": lambda: d.diagnose_protocol(smtp(
        "550 5.7.30 Basic authentication is not supported for Client Submission."), context()),
    "not_authenticated": lambda: d.diagnose_protocol(smtp(
        "530 5.7.57 Client not authenticated to send mail.", "send", command="MAIL FROM"), context()),
    "recipient_rejected": lambda: d.diagnose_protocol(smtp(
        "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", "send",
        command="RCPT TO:<nobody@contoso.com>"), context()),
    "smtp_temporary": lambda: d.diagnose_protocol(smtp("451 4.7.500 Server busy. Please try again later.", "send",
                                                       command="DATA"), context()),
    "smtp_refused": lambda: d.diagnose_protocol(smtp("554 5.6.0 Corrupt message content", "send", command="DATA"),
                                                context()),
    "graph_access_denied": lambda: d.diagnose_graph(graph(403, "ErrorAccessDenied", "Access is denied."),
                                                    context(dict(APP_CLAIMS, aud="https://graph.microsoft.com"))),
    "graph_mailbox_not_found": lambda: d.diagnose_graph(graph(404, "ErrorInvalidUser"), context()),
    "graph_bad_request": lambda: d.diagnose_graph(graph(400, "ErrorInvalidRecipients"), context()),
    "graph_unauthorized": lambda: d.diagnose_graph(graph(401, "InvalidAuthenticationToken"),
                                                   context(dict(APP_CLAIMS, aud="https://outlook.office365.com"))),
    "send_unknown": lambda: d.diagnose_graph(AmbiguousWriteError("POST", "https://graph/sendMail", "reset"),
                                             context()),
    "throttled": lambda: d.diagnose_graph(ThrottledError(graph(429, "TooManyRequests"), 9, 60.0), context()),
    "imap_auth_failed": lambda: d.diagnose_protocol(
        smtp("IMAP AUTHENTICATE XOAUTH2 as x failed: AUTHENTICATE failed.", "verify", command="AUTHENTICATE XOAUTH2"),
        context(dict(APP_CLAIMS, roles=["IMAP.AccessAsApp"]))),
    "not_delivered": lambda: d.diagnose_not_delivered(context(), 30),
    "imap_unreachable": lambda: d.diagnose_protocol(smtp("IMAP: connection refused", "verify", transport=True),
                                                    context()),
    "ews_wrong_audience": lambda: d.diagnose_ews(ews(401, diagnostics='2000003;reason="The audience claim value is '
                                                                      'invalid"'), context(GRAPH_TOKEN)),
    "ews_unauthorized": lambda: d.diagnose_ews(ews(401, diagnostics='2000001;reason="The token is invalid"'),
                                               context(EWS_CLAIMS, sign_in="password")),
    "ews_scope_missing": lambda: d.diagnose_ews(ews(403, diagnostics='2000008;reason="The token contains not enough '
                                                                     'scope to make this call."'),
                                                context(USER_CLAIMS, sign_in="password")),
    "ews_app_role_missing": lambda: d.diagnose_ews(ews(403, diagnostics='2000008;reason="The token contains not '
                                                                        'enough scope to make this call."'), context()),
    "ews_not_allowed": lambda: d.diagnose_ews(ews(403), context(EWS_CLAIMS, sign_in="password", now=BEFORE_EWS_ENDS)),
    "ews_retired": lambda: d.diagnose_ews(ews(403), context(EWS_CLAIMS, sign_in="password")),
    "ews_disabled": lambda: d.diagnose_ews(ews(403, diagnostics='2000014;reason="EWS is disabled for the mailbox"'),
                                           context(EWS_CLAIMS, sign_in="password", now=BEFORE_EWS_ENDS)),
    "ews_mailbox_not_found": lambda: d.diagnose_ews(ews(code="ErrorNonExistentMailbox",
                                                        message="The SMTP address has no mailbox associated with it."),
                                                    context(EWS_CLAIMS, sign_in="password")),
    "ews_access_denied": lambda: d.diagnose_ews(ews(500, code="ErrorImpersonateUserDenied"), context()),
    "ews_refused": lambda: d.diagnose_ews(ews(500, code="ErrorSchemaValidation", message="schema"), context()),
}


@pytest.mark.parametrize("case", sorted(SCENARIOS))
def test_each_case_is_reached_and_explained(case):
    found = SCENARIOS[case]()
    assert found["case"] == case
    assert set(found) == {"step", "case", "answer", "cause", "remedy"}
    assert found["answer"] and found["cause"] and found["remedy"]
    assert "{" not in found["cause"] + found["remedy"], "unfilled field in %s" % case
    assert " ? " not in " %s " % found["cause"], "unknown field in %s: %s" % (case, found["cause"])


def test_every_case_of_the_table_has_a_scenario():
    assert set(SCENARIOS) == set(d.CASES)


def test_sign_in_answer_keeps_entra_code_and_text():
    found = d.diagnose_sign_in(entra(7000222), context())
    assert found["answer"].startswith("AADSTS7000222 (invalid_client): AADSTS7000222: the text Entra sent.")
    assert found["step"] == "token"
    assert "mailauth.m365.app_secret" in found["remedy"]


@pytest.mark.parametrize("case, needle", [
    ("exchange_principal_or_access", "mailauth.m365.exchange_service_principal"),
    ("exchange_principal_or_access", "[FullAccess] on enaio@contoso.com"),
    ("exchange_principal_or_access", "app registration's object ID"),
    ("smtp_auth_disabled_mailbox", "mailauth.m365.exchange_smtp_auth for enaio@contoso.com"),
    ("smtp_auth_disabled_tenant", "Set-TransportConfig"),
    ("send_as_denied", "SendAs on boss@contoso.com"),
    ("mfa_required", "device_code"),
    ("public_client_disabled", "allow_public_client_flows"),
    ("wrong_audience", "https://outlook.office.com/SMTP.Send"),
    ("consent_missing", "mailauth.m365.admin_consent"),
    ("ews_not_allowed", "mailauth.m365.exchange_ews_allow_list"),
    ("ews_not_allowed", "2027-04-01"),
    ("ews_scope_missing", "EWS.AccessAsUser.All"),
    ("ews_wrong_audience", "https://outlook.office365.com/EWS.AccessAsUser.All"),
])
def test_remedies_name_what_to_run(case, needle):
    assert needle in SCENARIOS[case]()["remedy"]


@pytest.mark.parametrize("answer", [
    "554 5.2.252 SendAsDenied; enaio@contoso.com not allowed to send as boss@contoso.com; STOREDRV.Submission.Exception",
    "550 5.7.60 SMTP; Client does not have permissions to send as this sender",
])
def test_both_send_as_answers_of_exchange(answer):
    found = d.diagnose_protocol(smtp(answer, "send", command="DATA"), context(from_address="boss@contoso.com"))
    assert found["case"] == "send_as_denied" and found["answer"] == answer


def test_dovecot_refusal_is_read_from_the_claims_too():
    found = d.diagnose_protocol(smtp("535 5.7.8 Authentication failed.", challenge={"status": "401"}),
                                context(GRAPH_TOKEN, "password"))
    assert found["case"] == "wrong_audience" and found["answer"] == "535 5.7.8 Authentication failed."


def test_imap_token_problems_keep_their_own_case():
    found = d.diagnose_protocol(smtp("IMAP AUTHENTICATE XOAUTH2 failed: NO", "verify", command="AUTHENTICATE XOAUTH2"),
                                context(dict(USER_CLAIMS, scp="SMTP.Send"), "password"))
    assert found["case"] == "delegated_scope_missing" and "IMAP.AccessAsUser.All" in found["cause"]


def test_summary_is_one_line_for_msg():
    text = d.summary(SCENARIOS["smtp_auth_disabled_mailbox"]())
    assert text.startswith("Mail smoke test failed at auth: 535 5.7.139 Authentication unsuccessful")
    assert "Cause: " in text and "Remedy: " in text and "\n" not in text
