"""Reading delivered mail back over IMAP (implicit TLS, AUTHENTICATE XOAUTH2) with imaplib, as the
smoke test's verify_delivery does; and IMAP's own refusals as Exchange Online answers them."""
import base64
import datetime
import imaplib
import json
import re

import pytest

from mailclient import OUTLOOK, message, xoauth2

ALICE, REPORTS, SCANNER = "alice@contoso.example", "reports@contoso.example", "scanner@contoso.example"
IMAP_SCOPE = OUTLOOK + "/IMAP.AccessAsUser.All"


@pytest.fixture(scope="module")
def client_id(contoso):
    return contoso.public_client()


@pytest.fixture(scope="module")
def delivered(mail, contoso, client_id):
    """Two messages from alice to reports, sent over SMTP; returns their (Message-ID, Subject) pairs."""
    token = contoso.user_token(client_id, ALICE, OUTLOOK + "/SMTP.Send")
    sent = []
    with mail.session(ALICE, token) as client:
        for index in range(2):
            raw, message_id, subject = message(ALICE, REPORTS)
            client.sendmail(ALICE, [REPORTS], raw)
            sent.append((message_id, subject))
    return sent


def login(mail, user, token, mechanism="XOAUTH2"):
    imap = mail.imap()
    imap.authenticate(mechanism, lambda _: base64.b64decode(xoauth2(user, token)))
    return imap


@pytest.fixture
def reports(mail, contoso, client_id, delivered):
    imap = login(mail, REPORTS, contoso.user_token(client_id, REPORTS, IMAP_SCOPE))
    yield imap
    imap.logout()


def test_capability_before_and_after_sign_in(mail, contoso, client_id):
    imap = mail.imap()
    assert {"IMAP4REV1", "AUTH=XOAUTH2", "SASL-IR"} <= set(imap.capabilities)
    assert "AUTH=OAUTHBEARER" not in imap.capabilities
    imap.authenticate("XOAUTH2", lambda _: base64.b64decode(xoauth2(REPORTS, contoso.user_token(client_id, REPORTS, IMAP_SCOPE))))
    typ, data = imap.capability()
    assert typ == "OK" and b"AUTH=" not in data[0]
    assert imap.logout()[0] == "BYE"


def test_list_and_select(reports):
    typ, folders = reports.list()
    assert typ == "OK"
    names = [re.search(rb'"([^"]+)"$', f).group(1).decode() for f in folders]
    assert names[0] == "INBOX" and "Sent Items" in names
    assert any(b"\\Sent" in f for f in folders)
    typ, data = reports.select("INBOX")
    assert typ == "OK" and int(data[0]) >= 2
    assert reports.response("UIDVALIDITY")[1][0]


def test_search_by_message_id_and_read_back(reports, delivered):
    message_id, subject = delivered[0]
    reports.select("INBOX")
    typ, data = reports.search(None, "HEADER", "Message-ID", message_id)
    assert typ == "OK" and len(data[0].split()) == 1
    number = data[0].split()[0]
    typ, data = reports.fetch(number, "(BODY.PEEK[] INTERNALDATE FLAGS)")
    assert typ == "OK"
    raw = data[0][1]
    assert b"Subject: " + subject.encode() in raw and b"Message-ID: " + message_id.encode() in raw
    assert b"\\Seen" not in data[0][0] + data[1]        # PEEK leaves it unread
    arrived = imaplib.Internaldate2tuple(data[1])
    assert arrived is not None
    typ, data = reports.fetch(number, "(RFC822)")
    assert typ == "OK" and data[0][1] == raw
    typ, data = reports.fetch(number, "(FLAGS)")
    assert b"\\Seen" in data[0]                          # a body fetch without PEEK marks it read


def test_search_by_subject_and_since(reports, delivered):
    reports.select("INBOX")
    subject = delivered[1][1]
    typ, data = reports.search(None, "SUBJECT", '"%s"' % subject)
    assert typ == "OK" and len(data[0].split()) == 1
    today = datetime.date.today().strftime("%d-%b-%Y")
    typ, data = reports.search(None, "SINCE", today, "HEADER", "Subject", subject)
    assert len(data[0].split()) == 1
    tomorrow = (datetime.date.today() + datetime.timedelta(days=2)).strftime("%d-%b-%Y")
    assert reports.search(None, "SINCE", tomorrow)[1] == [b""]
    typ, data = reports.search(None, "ALL")
    assert len(data[0].split()) >= 2


def test_uid_search_and_header_fields(reports, delivered):
    message_id, subject = delivered[1]
    reports.select("INBOX")
    typ, data = reports.uid("SEARCH", None, "HEADER", "Message-ID", message_id)
    uid = data[0].split()[0]
    typ, data = reports.uid("FETCH", uid, "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT MESSAGE-ID)])")
    assert typ == "OK"
    head, fields = data[0]
    assert b"UID " + uid in head
    assert fields.replace(b"\r\n", b"\n") == ("Subject: %s\nMessage-ID: %s\n\n" % (subject, message_id)).encode()


def test_examine_is_read_only(reports):
    typ = reports.select("INBOX", readonly=True)[0]
    assert typ == "OK"
    typ, data = reports.fetch("1", "(RFC822.SIZE)")
    assert typ == "OK" and b"RFC822.SIZE" in data[0]


def test_noop_reports_new_mail(mail, contoso, client_id, reports):
    typ, data = reports.select("INBOX")
    before = int(data[0])
    token = contoso.user_token(client_id, ALICE, OUTLOOK + "/SMTP.Send")
    with mail.session(ALICE, token) as client:
        raw = message(ALICE, REPORTS)[0]
        client.sendmail(ALICE, [REPORTS], raw)
    reports.noop()
    assert int(reports.response("EXISTS")[1][-1]) == before + 1


def test_app_only_reads_a_mailbox_with_full_access(mail, contoso, delivered):
    app = contoso.mail_app(roles=("IMAP.AccessAsApp",), full_access=[REPORTS])
    imap = login(mail, REPORTS, app["token"]())
    typ, data = imap.select("INBOX")
    assert typ == "OK" and int(data[0]) >= 2
    imap.logout()


def test_refusals(mail, contoso, client_id):
    graph_token = contoso.user_token(client_id, REPORTS, "https://graph.microsoft.com/IMAP.AccessAsUser.All")
    smtp_only = contoso.user_token(client_id, REPORTS, OUTLOOK + "/SMTP.Send")
    for token in (graph_token, smtp_only):
        imap = mail.imap()
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATE failed."):
            imap.authenticate("XOAUTH2", lambda _, t=token: base64.b64decode(xoauth2(REPORTS, t)))
        imap.logout()
    imap = mail.imap()
    with pytest.raises(imaplib.IMAP4.error, match="LOGIN failed."):
        imap.login(REPORTS, "Sandbox!Reports1")
    imap.logout()


def test_imap_disabled_for_the_mailbox(mail, contoso, client_id):
    token = contoso.user_token(client_id, REPORTS, IMAP_SCOPE)
    with contoso.changed("Set-CASMailbox", dict(Identity=REPORTS, ImapEnabled=True), Identity=REPORTS, ImapEnabled=False):
        imap = mail.imap()
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATE failed."):
            imap.authenticate("XOAUTH2", lambda _: base64.b64decode(xoauth2(REPORTS, token)))
        imap.logout()
    login(mail, REPORTS, token).logout()


def test_a_mailbox_without_rights_is_authenticated_but_not_connected(mail, contoso):
    """Exchange takes the token, then refuses every command (as public logs show)."""
    app = contoso.mail_app(roles=("IMAP.AccessAsApp",))          # no FullAccess anywhere
    imap = login(mail, SCANNER, app["token"]())
    for attempt in range(2):
        with pytest.raises(imaplib.IMAP4.error, match="User is authenticated but not connected."):
            imap.select("INBOX")
    with pytest.raises(imaplib.IMAP4.abort):
        imap.noop()            # the second refusal came with * BYE: the connection is gone


def test_oauthbearer_when_switched_on(mail, contoso, client_id):
    token = contoso.user_token(client_id, REPORTS, IMAP_SCOPE)
    with mail.switched("imaps", oauthbearer=True):
        imap = mail.imap()
        assert "AUTH=OAUTHBEARER" in imap.capabilities
        text = "n,a=%s,\x01auth=Bearer %s\x01\x01" % (REPORTS, token)
        imap.authenticate("OAUTHBEARER", lambda _: text.encode())
        assert imap.select("INBOX")[0] == "OK"
        imap.logout()
        imap = mail.imap()
        challenges = []

        def answer(challenge):
            if challenges:
                return b"\x01"
            challenges.append(challenge)
            return ("n,a=%s,\x01auth=Bearer broken\x01\x01" % REPORTS).encode()
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATE failed."):
            imap.authenticate("OAUTHBEARER", answer)
        imap.logout()


def test_request_log_has_imap_auth(mail):
    entries = [e for e in mail.log("imap") if e["method"] == "AUTH"]
    assert {"OK", "NO"} <= {e["status"] for e in entries}
    assert any(e.get("refused") == "not_connected" for e in entries)
    assert json.dumps(entries)  # plain JSON, no secrets needed to read it
    assert not any("eyJ" in json.dumps(e) for e in entries), "the log never holds a token"
