"""SMTP client submission of the sandbox, over the wire with smtplib, against Exchange Online's
behaviour (FACTS.md section 5): STARTTLS before AUTH, XOAUTH2 with the token's checks, Exchange's
reply texts for every refusal, SendAs, recipients, delivery into the mailboxes. Every test puts back
what it changes in the tenant."""
import base64
import json
import time

import pytest

from mailclient import AUTH_FAILED, OUTLOOK, Tenant, message, tampered, xoauth2

ALICE, REPORTS, SCANNER, ENAIO = "alice@contoso.example", "reports@contoso.example", "scanner@contoso.example", "enaio@contoso.example"
SMTP_SEND = OUTLOOK + "/SMTP.Send"
SEND_AS_DENIED = ("5.2.252 SendAsDenied; %s not allowed to send as %s; STOREDRV.Submission.Exception:SendAsDeniedException."
                  "MapiExceptionSendAsDenied; Failed to process message due to a permanent exception with message")


@pytest.fixture(scope="module")
def client_id(contoso):
    """A public client with SMTP.Send and IMAP.AccessAsUser.All consented on Microsoft Graph."""
    return contoso.public_client()


@pytest.fixture(scope="module")
def alice(contoso, client_id):
    return contoso.user_token(client_id, ALICE, SMTP_SEND)


@pytest.fixture(scope="module")
def sender_app(contoso):
    """App-only sender: SMTP.SendAsApp, Exchange service principal, FullAccess on the scanner mailbox."""
    return contoso.mail_app(full_access=[SCANNER])


def send(client, sender, to, **kwargs):
    raw, message_id = message(sender, to, **kwargs)[:2]
    client.sendmail(sender, to if isinstance(to, list) else [to], raw)
    return message_id


# --- before STARTTLS --------------------------------------------------------------------------------
def test_plaintext_ehlo_offers_starttls_but_no_auth(mail, alice):
    client = mail.smtp(starttls=False)
    assert client.has_extn("starttls") and not client.has_extn("auth")
    code, text = mail.auth(client, ALICE, alice)
    assert code == 504 and text.startswith("5.7.4 Unrecognized authentication type ["), text
    code, text = client.docmd("MAIL", "FROM:<%s>" % ALICE)
    assert code == 451 and text.decode().startswith("5.7.3 STARTTLS is required to send mail")
    client.quit()


def test_after_starttls_auth_login_and_xoauth2(mail):
    client = mail.smtp()
    assert client.esmtp_features["auth"].split() == ["LOGIN", "XOAUTH2"]
    assert "starttls" not in client.esmtp_features
    client.quit()


# --- delegated ------------------------------------------------------------------------------------
def test_delegated_send_is_delivered(mail, alice):
    with mail.session(ALICE, alice) as client:
        message_id = send(client, ALICE, REPORTS)
    [delivered] = mail.find(REPORTS, message_id)
    assert delivered["envelope"]["from"] == ALICE and delivered["envelope"]["via"] == "SMTP submission"
    assert delivered["arrived"].endswith("Z") and delivered["size"] > 100
    assert mail.find(ALICE, message_id, "Sent Items"), "a copy in the sender's Sent Items, as Exchange keeps one"


def test_initial_response_after_334(mail, alice):
    client = mail.smtp()
    assert mail.auth(client, ALICE, alice, initial=False) == (235, "2.7.0 Authentication successful")
    client.quit()


def test_implicit_tls_port(mail, alice):
    with mail.session(ALICE, alice, implicit_tls=True) as client:
        assert client.esmtp_features["auth"].split() == ["LOGIN", "XOAUTH2"]
        message_id = send(client, ALICE, REPORTS)
    assert mail.find(REPORTS, message_id)


def test_graph_token_is_refused(mail, contoso, client_id):
    graph_token = contoso.user_token(client_id, ALICE, "https://graph.microsoft.com/SMTP.Send")
    mail.assert_refused(ALICE, graph_token, "token rejected (audience)")


def test_token_with_a_broken_signature_is_refused(mail, alice):
    mail.assert_refused(ALICE, tampered(alice), "token rejected (signature)")


def test_delegated_token_without_smtp_send_consent(mail, contoso):
    imap_only = contoso.public_client(scope="IMAP.AccessAsUser.All")
    token = contoso.user_token(imap_only, ALICE, OUTLOOK + "/.default")
    mail.assert_refused(ALICE, token, "delegated token without SMTP.Send")


def test_user_must_be_the_token_users_mailbox_unless_full_access(mail, contoso, alice):
    mail.assert_refused(REPORTS, alice, "is not the mailbox of the token's user")
    with contoso.changed("Add-MailboxPermission", ("Remove-MailboxPermission", dict(Identity=REPORTS, User=ALICE, AccessRights=["FullAccess"])),
                         Identity=REPORTS, User=ALICE, AccessRights=["FullAccess"]):
        with mail.session(REPORTS, alice) as client:
            message_id = send(client, REPORTS, ALICE)
    assert mail.find(ALICE, message_id)


def test_smtp_auth_disabled_for_the_mailbox(mail, contoso, client_id):
    token = contoso.user_token(client_id, ENAIO, SMTP_SEND)
    with contoso.changed("Set-CASMailbox", dict(Identity=ENAIO, SmtpClientAuthenticationDisabled=None),
                         Identity=ENAIO, SmtpClientAuthenticationDisabled=True):
        code, text = mail.refusal(ENAIO, token)
    assert code == 535
    assert text.startswith("5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. "
                           "Visit https://aka.ms/smtp_auth_disabled for more information. ["), text
    with mail.session(ENAIO, token):
        pass


def test_smtp_auth_disabled_for_the_tenant_and_the_mailbox_override(mail, sandbox):
    fabrikam = Tenant(sandbox, "fabrikam")
    bob = "bob@fabrikam.example"
    token = fabrikam.user_token(fabrikam.public_client(), bob, SMTP_SEND)
    code, text = mail.refusal(bob, token)
    assert code == 535
    assert text.startswith("5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. "
                           "Visit https://aka.ms/smtp_auth_disabled for more information."), text
    # A mailbox's own switch wins over the tenant's (Set-CASMailbox -SmtpClientAuthenticationDisabled $false).
    with fabrikam.changed("Set-CASMailbox", dict(Identity=bob, SmtpClientAuthenticationDisabled=None),
                          Identity=bob, SmtpClientAuthenticationDisabled=False):
        with mail.session(bob, token) as client:
            message_id = send(client, bob, "reports@fabrikam.example")
    assert mail.find("reports@fabrikam.example", message_id)


def test_basic_authentication_is_disabled(mail):
    client = mail.smtp()
    with pytest.raises(Exception) as refused:
        client.login(ALICE, "Sandbox!Alice1")
    assert refused.value.smtp_code == 535
    assert refused.value.smtp_error.decode().startswith("5.7.139 Authentication unsuccessful, basic authentication is disabled.")
    client.quit()


def test_unknown_mechanism_and_unauthenticated_mail(mail):
    client = mail.smtp()
    code, text = client.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0alice\0pw").decode())
    assert code == 504 and text.decode().startswith("5.7.4 Unrecognized authentication type")
    code, text = client.docmd("MAIL", "FROM:<%s>" % ALICE)
    assert code == 530 and text.decode().startswith("5.7.57 Client not authenticated to send mail.")
    code, text = client.docmd("AUTH", "XOAUTH2 not-base64!")
    assert code == 501 and text.decode() == "5.5.2 Cannot Base64-decode Client responses"
    client.quit()


# --- sender and recipients ---------------------------------------------------------------------------
def test_send_as_denied_then_granted(mail, contoso, alice):
    with mail.session(ALICE, alice) as client:
        raw = message(REPORTS, REPORTS)[0]
        with pytest.raises(Exception) as refused:
            client.sendmail(REPORTS, [REPORTS], raw)
        assert refused.value.smtp_code == 554
        assert refused.value.smtp_error.decode().startswith(SEND_AS_DENIED % (ALICE, REPORTS))
        # The From: header counts as well as the envelope.
        raw = message(ALICE, REPORTS, from_header=REPORTS)[0]
        with pytest.raises(Exception) as refused:
            client.sendmail(ALICE, [REPORTS], raw)
        assert refused.value.smtp_error.decode().startswith(SEND_AS_DENIED % (ALICE, REPORTS))
    with contoso.changed("Add-RecipientPermission", ("Remove-RecipientPermission", dict(Identity=REPORTS, Trustee=ALICE, AccessRights=["SendAs"])),
                         Identity=REPORTS, Trustee=ALICE, AccessRights=["SendAs"]):
        with mail.session(ALICE, alice) as client:
            message_id = send(client, REPORTS, ALICE)
    assert mail.find(ALICE, message_id)


def test_send_as_checked_at_mail_from_when_switched(mail, alice):
    with mail.switched("smtp", send_as_at_mail_from=True), mail.session(ALICE, alice) as client:
        code, text = client.docmd("MAIL", "FROM:<%s>" % REPORTS)
        assert code == 550 and text.decode().startswith("5.7.60 SMTP; Client does not have permissions to send as this sender")


def test_unknown_internal_recipient_and_external_recipient(mail, alice):
    with mail.session(ALICE, alice) as client:
        client.docmd("MAIL", "FROM:<%s>" % ALICE)
        code, text = client.docmd("RCPT", "TO:<nobody@contoso.example>")
        assert (code, text.decode()) == (550, "5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup")
        client.docmd("RSET")
        message_id = send(client, ALICE, ["someone@example.org", REPORTS])
    assert mail.find(REPORTS, message_id)
    outbound = mail.sandbox.control("GET", "/outbound/messages?tenant=contoso")["value"]
    assert [m for m in outbound if m["messageId"] == message_id and "someone@example.org" in m["envelope"]["to"]]


# --- app-only ------------------------------------------------------------------------------------
def test_app_only_send_on_both_ports(mail, sender_app):
    token = sender_app["token"]()
    for implicit in (False, True):
        with mail.session(SCANNER, token, implicit_tls=implicit) as client:
            message_id = send(client, SCANNER, REPORTS)
        assert mail.find(REPORTS, message_id)


def test_app_only_needs_full_access_on_the_mailbox(mail, sender_app):
    mail.assert_refused(REPORTS, sender_app["token"](), "has no FullAccess on reports@contoso.example")


def test_app_only_graph_token_is_refused(mail, contoso, sender_app):
    mail.assert_refused(SCANNER, sender_app["token"]("https://graph.microsoft.com"), "token rejected (audience)")


def test_app_only_without_exchange_service_principal(mail, contoso):
    app = contoso.mail_app(register=False)
    mail.assert_refused(SCANNER, app["token"](), "has no Exchange service principal")


def test_app_only_exchange_service_principal_with_the_wrong_object_id(mail, contoso):
    """Exchange's reference points at an object id that is not the enterprise application the token comes from
    (here: the enterprise application was deleted and made again after New-ServicePrincipal)."""
    app = contoso.mail_app(full_access=[SCANNER])
    contoso.graph.delete("/servicePrincipals/%s" % app["sp"]["id"])
    new_sp = contoso.graph.post("/servicePrincipals", {"appId": app["app"]["appId"]})
    contoso.grant_app_roles(new_sp["id"], ["SMTP.SendAsApp"])
    mail.assert_refused(SCANNER, app["token"](), "registered with the wrong object id")


def test_app_only_without_smtp_send_as_app_but_with_rbac_scope(mail, contoso):
    """RBAC for Applications: "Application SMTP.SendAsApp" scoped to one mailbox, no Entra permission."""
    app = contoso.mail_app(roles=())
    scope = "smtp-test-%s" % app["sp"]["id"][:8]
    contoso.exo.run("New-ManagementScope", Name=scope, RecipientRestrictionFilter="PrimarySmtpAddress -eq '%s'" % SCANNER)
    contoso.exo.run("New-ManagementRoleAssignment", Role="Application SMTP.SendAsApp", App=app["sp"]["id"], CustomResourceScope=scope)
    token = app["token"]()
    with mail.session(SCANNER, token) as client:
        message_id = send(client, SCANNER, REPORTS)
    assert mail.find(REPORTS, message_id)
    mail.assert_refused(REPORTS, token, "no RBAC assignment covers reports@contoso.example")   # outside the scope


# --- switches of a standards-based server ---------------------------------------------------------------
def test_oauthbearer_when_switched_on(mail, alice):
    with mail.switched("smtp", oauthbearer=True):
        client = mail.smtp()
        assert client.esmtp_features["auth"].split() == ["LOGIN", "XOAUTH2", "OAUTHBEARER"]
        assert mail.auth(client, ALICE, alice, mechanism="OAUTHBEARER") == (235, "2.7.0 Authentication successful")
        client.quit()
        client = mail.smtp()
        code, text = mail.auth(client, REPORTS, alice, mechanism="OAUTHBEARER")
        assert code == 334   # RFC 7628: a JSON error first, answered with ^A
        assert json.loads(base64.b64decode(text))["status"] == "invalid_token"
        code, text = client.docmd(base64.b64encode(b"\x01").decode())
        assert code == 535 and text.decode().startswith(AUTH_FAILED)
        client.quit()
    client = mail.smtp()
    assert "OAUTHBEARER" not in client.esmtp_features["auth"]
    client.quit()


def test_error_challenge_and_short_auth_line_like_dovecot(mail, alice):
    with mail.switched("smtp", error_challenge=True, max_auth_line=1024):
        client = mail.smtp()
        code = mail.auth(client, ALICE, alice)[0]            # the whole token on the AUTH line
        assert code == 500
        assert mail.auth(client, ALICE, alice, initial=False) == (235, "2.7.0 Authentication successful")
        client.quit()
        client = mail.smtp()
        code, text = mail.auth(client, REPORTS, alice, initial=False)
        assert code == 334 and json.loads(base64.b64decode(text))["schemes"] == "bearer"
        code, text = client.docmd("")
        assert (code, text.decode()) == (535, "5.7.8 Authentication failed")
        client.quit()


def test_listener_switches_are_validated(mail):
    answer = mail.sandbox.session().put(mail.sandbox.conn["control_url"] + "/mail/listeners/smtp", json={"nope": 1}, timeout=10)
    assert answer.status_code == 400
    answer = mail.sandbox.session().put(mail.sandbox.conn["control_url"] + "/mail/listeners/pop3", json={}, timeout=10)
    assert answer.status_code == 404


# --- what the control API shows ----------------------------------------------------------------------
def test_request_log_counts_sessions_and_auth_outcomes(mail, alice):
    with mail.session(ALICE, alice) as client:
        send(client, ALICE, REPORTS)
    summary = mail.sandbox.control("GET", "/requests")
    assert summary["by_endpoint"]["smtp AUTH XOAUTH2"] >= 1 and summary["by_endpoint"]["smtp SESSION smtp"] >= 1
    entries = mail.log("smtp")
    ok = [e for e in entries if e["method"] == "AUTH" and e["status"] == 235]
    assert ok and ok[-1]["user"] == ALICE and ok[-1]["tenant"] == mail.sandbox.tenant()["id"]
    session = [e for e in entries if e["method"] == "SESSION" and e["request_id"] == ok[-1]["request_id"]]
    assert session and session[0]["status"] == "closed" and session[0]["messages"] == 1 and session[0]["tls"]


def test_mailbox_messages_route(mail, alice):
    with mail.session(ALICE, alice) as client:
        message_id = send(client, ALICE, REPORTS, subject="route check")
    [found] = [m for m in mail.messages(REPORTS, "INBOX", raw=True) if m["messageId"] == message_id]
    assert found["subject"] == "route check" and found["folder"] == "INBOX" and "Received: from" in found["raw"]
    answer = mail.sandbox.session().get(mail.sandbox.conn["control_url"] + "/mailboxes/nobody@contoso.example/messages", timeout=10)
    assert answer.status_code == 404


def test_xoauth2_helper_is_what_exchange_documents():
    assert base64.b64decode(xoauth2("a@b.c", "T")) == b"user=a@b.c\x01auth=Bearer T\x01\x01"


def test_realism_applies_to_smtp_commands(mail):
    client = mail.smtp()
    mail.sandbox.control("PUT", "/realism", {"latency_ms": 150})
    try:
        started = time.monotonic()
        assert client.noop()[0] == 250
        assert time.monotonic() - started >= 0.15
        mail.sandbox.control("PUT", "/realism", {"latency_ms": 0, "unavailable_rate": 1.0, "services": ["smtp"]})
        code, text = client.docmd("NOOP")
        assert (code, text.decode()) == (421, "4.3.2 Service not available, closing transmission channel")
    finally:
        mail.sandbox.control("DELETE", "/realism")
