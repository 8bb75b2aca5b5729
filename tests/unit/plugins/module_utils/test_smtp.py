# -*- coding: utf-8 -*-
"""_smtp: the AUTH exchange against a scripted SMTP peer answering like Exchange Online and like Dovecot."""

from __future__ import annotations

import base64
import imaplib
import json

import pytest

from ansible_collections.mailauth.m365.plugins.module_utils import _smtp
from ansible_collections.mailauth.m365.tests.peers.smtp_peer import EXCHANGE_REFUSED, ScriptedSmtpPeer, server_tls_context
from ansible_collections.mailauth.m365.tests.peers.tls import write_tls_files

USER = "enaio@contoso.com"
# Long enough to exceed any AUTH line limit, like a real RS256 token.
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + "A" * 1500 + ".c2lnbmF0dXJl"
BAD_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + "B" * 1500 + ".c2lnbmF0dXJl"


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    ca, cert, key = write_tls_files(str(tmp_path_factory.mktemp("tls")))
    return dict(ca=ca, context=server_tls_context(cert, key))


def only_good_token(refusal=EXCHANGE_REFUSED):
    return lambda mechanism, user, token: None if token == TOKEN and user == USER else refusal


@pytest.fixture
def peer_factory(tls):
    started = []

    def start(behaviour, **options):
        options.setdefault("tls_context", tls["context"])
        options.setdefault("authorize", only_good_token())
        peer = ScriptedSmtpPeer(behaviour, **options).start()
        started.append(peer)
        return peer
    yield start
    for peer in started:
        peer.stop()


def session(peer, tls, transcript=None, tls_mode="starttls"):
    return _smtp.SmtpSubmission("127.0.0.1", peer.port, transcript or _smtp.Transcript(), tls=tls_mode,
                                verify=tls["ca"], timeout=5, local_hostname="client.test")


def assert_no_token(transcript):
    text = json.dumps(transcript.result())
    for secret in (TOKEN, BAD_TOKEN, _smtp.b64(_smtp.xoauth2_response(USER, TOKEN))):
        assert secret not in text
    assert "A" * 100 not in text and "B" * 100 not in text


# -- Exchange Online's behaviour ------------------------------------------------------------------
@pytest.mark.parametrize("initial_response", ["auto", "separate", "inline"])
def test_exchange_accepts_the_token_after_334_and_on_the_auth_line(peer_factory, tls, initial_response):
    peer = peer_factory("exchange")
    transcript = _smtp.Transcript()
    client = session(peer, tls, transcript)
    client.connect()

    assert client.authenticate(USER, TOKEN, initial_response=initial_response) == "XOAUTH2"
    client.quit()

    kinds = [kind for kind, _length in peer.auth_lines]
    assert kinds == (["command"] if initial_response == "inline" else ["command", "response"])
    if initial_response == "inline":
        assert peer.auth_lines[0][1] > 2000  # Exchange takes the long initial response on the AUTH line
    lines = transcript.result()
    assert "S: 235 2.7.0 Authentication successful" in lines
    assert "-- TLS established" in " ".join(lines)
    assert_no_token(transcript)


def test_exchange_offers_auth_only_after_starttls(peer_factory, tls):
    peer = peer_factory("exchange")
    transcript = _smtp.Transcript()
    client = session(peer, tls, transcript)
    client.connect()
    lines = transcript.result()
    starttls = lines.index("C: STARTTLS")
    assert not any("AUTH" in line for line in lines[:starttls])
    assert "S: 250 AUTH LOGIN XOAUTH2" in lines[starttls:]
    assert client.offered_mechanisms() == ["LOGIN", "XOAUTH2"]
    client.quit()


@pytest.mark.parametrize("answer", [
    EXCHANGE_REFUSED,
    "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. Visit "
    "https://aka.ms/smtp_auth_disabled for more information. [BN0PR04CA0001]",
    "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit "
    "https://aka.ms/smtp_auth_disabled for more information. [BN0PR04CA0001]",
])
def test_exchange_refusal_comes_at_once_with_its_exact_text(peer_factory, tls, answer):
    peer = peer_factory("exchange", authorize=lambda mechanism, user, token: answer)
    transcript = _smtp.Transcript()
    client = session(peer, tls, transcript)
    client.connect()

    with pytest.raises(_smtp.MailProtocolError) as failure:
        client.authenticate(USER, BAD_TOKEN)
    client.quit()

    assert failure.value.step == "auth"
    assert failure.value.answer == answer
    assert failure.value.challenge is None
    assert_no_token(transcript)


# -- Dovecot's behaviour --------------------------------------------------------------------------
def test_dovecot_refuses_a_token_on_the_auth_line(peer_factory, tls):
    peer = peer_factory("dovecot")
    client = session(peer, tls)
    client.connect()

    with pytest.raises(_smtp.MailProtocolError) as failure:
        client.authenticate(USER, TOKEN, initial_response="inline")
    client.quit()

    assert failure.value.answer == "500 5.5.2 Line too long"


@pytest.mark.parametrize("mechanism", ["auto", "xoauth2", "oauthbearer"])
def test_dovecot_takes_the_token_on_its_own_line_after_334(peer_factory, tls, mechanism):
    peer = peer_factory("dovecot")
    transcript = _smtp.Transcript()
    client = session(peer, tls, transcript)
    client.connect()

    used = client.authenticate(USER, TOKEN, mechanism=mechanism)
    client.quit()

    assert used == ("OAUTHBEARER" if mechanism == "oauthbearer" else "XOAUTH2")
    assert [kind for kind, _length in peer.auth_lines] == ["command", "response"]
    assert peer.auth_lines[0][1] < 100 and peer.auth_lines[1][1] > 2000
    lines = transcript.result()
    auth = lines.index("C: AUTH %s" % used)
    assert lines[auth + 1] == "S: 334"
    assert lines[auth + 2].startswith("C: <%s response for user=%s, token redacted" % (used, USER))
    assert_no_token(transcript)


@pytest.mark.parametrize("mechanism, acknowledgement, challenge", [
    ("xoauth2", 0, {"status": "401", "schemes": "bearer", "scope": "mail"}),
    ("oauthbearer", 4, {"status": "invalid_token"}),  # RFC 7628: %x01, base64 "AQ=="
])
def test_dovecot_json_challenge_is_answered_before_the_535(peer_factory, tls, mechanism, acknowledgement, challenge):
    peer = peer_factory("dovecot")
    transcript = _smtp.Transcript()
    client = session(peer, tls, transcript)
    client.connect()

    with pytest.raises(_smtp.MailProtocolError) as failure:
        client.authenticate(USER, BAD_TOKEN, mechanism=mechanism)
    client.quit()

    assert failure.value.answer == "535 5.7.8 Authentication failed."
    assert failure.value.challenge == challenge
    assert peer.auth_lines[-1] == ("acknowledgement", acknowledgement)
    lines = transcript.result()
    assert any(line.startswith("-- error challenge: ") for line in lines)
    assert "S: 535 5.7.8 Authentication failed." in lines
    assert_no_token(transcript)


def test_oauthbearer_response_carries_the_gs2_header_host_and_port():
    text = _smtp.oauthbearer_response("a,b=c@contoso.com", "tok", "smtp.example", 587)
    assert text == "n,a=a=2Cb=3Dc@contoso.com,\x01host=smtp.example\x01port=587\x01auth=Bearer tok\x01\x01"
    assert _smtp.xoauth2_response("u@x", "tok") == "user=u@x\x01auth=Bearer tok\x01\x01"


def test_an_initial_response_that_fits_goes_on_the_auth_line(peer_factory, tls):
    peer = peer_factory("dovecot", authorize=lambda mechanism, user, token: None)
    client = session(peer, tls)
    client.connect()
    client.authenticate(USER, "short-token")
    client.quit()
    assert [kind for kind, _length in peer.auth_lines] == ["command"]


# -- TLS and sending ------------------------------------------------------------------------------
def test_implicit_tls_on_465(peer_factory, tls):
    peer = peer_factory("exchange", implicit_tls=True)
    transcript = _smtp.Transcript()
    client = session(peer, tls, transcript, tls_mode="implicit")
    client.connect()
    client.authenticate(USER, TOKEN)
    client.quit()
    assert "C: STARTTLS" not in transcript.result()
    assert transcript.result()[2].startswith("-- TLS established")  # after the greeting, inside TLS


def test_a_server_without_starttls_is_refused_before_any_token(peer_factory, tls):
    peer = peer_factory("exchange", tls_context=None)
    client = session(peer, tls)
    with pytest.raises(_smtp.MailProtocolError) as failure:
        client.connect()
    client.quit()
    assert failure.value.step == "starttls" and "STARTTLS" in failure.value.text
    assert peer.auth_lines == []


def test_an_untrusted_certificate_fails_the_starttls_step(peer_factory, tls, tmp_path):
    other_ca = write_tls_files(str(tmp_path))[0]
    peer = peer_factory("exchange")
    client = _smtp.SmtpSubmission("127.0.0.1", peer.port, _smtp.Transcript(), verify=other_ca, timeout=5)
    with pytest.raises(_smtp.MailProtocolError) as failure:
        client.connect()
    client.quit()
    assert failure.value.step == "starttls" and failure.value.transport
    assert "certificate verification failed" in failure.value.text


def test_nothing_listening_fails_the_connect_step(tls):
    client = _smtp.SmtpSubmission("127.0.0.1", 1, _smtp.Transcript(), verify=tls["ca"], timeout=2)
    with pytest.raises(_smtp.MailProtocolError) as failure:
        client.connect()
    assert failure.value.step == "connect" and failure.value.transport
    assert "refused" in failure.value.text


def test_send_hands_over_the_message_and_summarises_it(peer_factory, tls):
    peer = peer_factory("exchange")
    transcript = _smtp.Transcript()
    client = session(peer, tls, transcript)
    client.connect()
    client.authenticate(USER, TOKEN)
    client.send(USER, ["alice@contoso.com", "bob@contoso.com"], b"Subject: hi\r\n\r\n.leading dot\r\nbody\r\n")
    client.quit()

    message = peer.messages[0]
    assert message["sender"] == USER and message["recipients"] == ["alice@contoso.com", "bob@contoso.com"]
    assert b".leading dot" in message["data"]
    assert any(line.startswith("C: <message: ") for line in transcript.result())
    assert set(transcript.timings) == {"connect", "starttls", "auth", "send"}


def test_send_as_refusal_names_the_step_and_the_answer(peer_factory, tls):
    peer = peer_factory("exchange", sender_allowed=lambda user, sender: sender == user)
    client = session(peer, tls)
    client.connect()
    client.authenticate(USER, TOKEN)
    with pytest.raises(_smtp.MailProtocolError) as failure:
        client.send("boss@contoso.com", ["alice@contoso.com"], b"Subject: hi\r\n\r\nx\r\n")
    client.quit()
    assert failure.value.step == "send" and failure.value.command == "MAIL FROM"
    assert failure.value.answer == "550 5.7.60 SMTP; Client does not have permissions to send as this sender"


def test_transcript_keeps_a_bounded_number_of_lines():
    transcript = _smtp.Transcript()
    for number in range(_smtp.MAX_TRANSCRIPT_LINES + 5):
        transcript.add("S", "line %d %s" % (number, "x" * 400))
    lines = transcript.result()
    assert len(lines) == _smtp.MAX_TRANSCRIPT_LINES + 1
    assert lines[-1] == "-- 5 more lines not kept"
    assert lines[0].endswith("characters)") and len(lines[0]) < 400


def test_decode_challenge_tolerates_what_is_not_json():
    assert _smtp.decode_challenge(base64.b64encode(b'{"status":"401"}').decode()) == {"status": "401"}
    assert _smtp.decode_challenge(base64.b64encode(b"plain words").decode()) == {"raw": "plain words"}
    assert _smtp.decode_challenge("not base64!") == {"raw": "not base64!"}


# -- IMAP read-back polling -----------------------------------------------------------------------
class FakeImap:
    """select/fetch answers as imaplib returns them; the message appears after ``appears_after`` polls."""

    def __init__(self, test_id, appears_after):
        self.test_id = test_id
        self.appears_after = appears_after
        self.polls = 0

    def select(self, mailbox, readonly=False):
        assert (mailbox, readonly) == ("INBOX", True)
        self.polls += 1
        return "OK", [b"2" if self.polls > self.appears_after else b"1"]

    def fetch(self, numbers, items):
        assert "X-MAILAUTH-SMOKE-TEST" in items
        data = [(b"1 (BODY[HEADER.FIELDS (MESSAGE-ID X-MAILAUTH-SMOKE-TEST)] {30}", b"Message-ID: <old@x>\r\n\r\n"), b")"]
        if numbers.endswith("2"):
            data += [(b"2 (BODY[...] {60}", ("X-Mailauth-Smoke-Test: %s\r\n\r\n" % self.test_id).encode()), b")"]
        return "OK", data


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def sleep(self, seconds):
        self.now += seconds

    def monotonic(self):
        return self.now


@pytest.mark.parametrize("appears_after, timeout, expected", [(0, 10, True), (3, 10, True), (3, 2, False)])
def test_wait_for_polls_until_the_message_is_there_or_time_is_up(appears_after, timeout, expected):
    reader = _smtp.ImapReader("imap.test", 993, _smtp.Transcript())
    reader.imap = FakeImap("id-1", appears_after)
    clock = FakeClock()
    assert reader.wait_for("id-1", timeout, interval=1.0, sleep=clock.sleep, clock=clock.monotonic) is expected
    assert reader.imap.polls == (appears_after + 1 if expected else timeout + 1)


def test_wait_for_turns_an_imap_error_into_a_verify_failure():
    class Broken(FakeImap):
        def select(self, mailbox, readonly=False):
            raise imaplib.IMAP4.abort("socket error: EOF")

    reader = _smtp.ImapReader("imap.test", 993, _smtp.Transcript())
    reader.imap = Broken("id", 0)
    with pytest.raises(_smtp.MailProtocolError) as failure:
        reader.wait_for("id", 5, sleep=lambda s: None)
    assert failure.value.step == "verify"
