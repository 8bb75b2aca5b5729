"""The sandbox's SMTP and IMAP against a client we did not write: curl's --oauth2-bearer (SASL XOAUTH2,
and OAUTHBEARER where the server offers it), over STARTTLS and implicit TLS."""
import os
import re
import shutil
import subprocess

import pytest

from mailclient import OUTLOOK, message

CURL = shutil.which("curl")
ALICE, REPORTS, SCANNER = "alice@contoso.example", "reports@contoso.example", "scanner@contoso.example"
pytestmark = pytest.mark.skipif(CURL is None, reason="curl is not installed")


@pytest.fixture(scope="module")
def client_id(contoso):
    return contoso.public_client()


def curl(mail, url, user, token, *args):
    """curl with the sandbox CA and no proxy; returns (exit code, verbose transcript)."""
    command = [CURL, "-v", "--noproxy", "*", "--cacert", mail.ca, "--url", url, "--user", user, "--oauth2-bearer", token,
               "--max-time", "20", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30, env={"PATH": os.environ.get("PATH", "")}, check=False)
    return done.returncode, done.stdout + done.stderr


def curl_send(mail, tmp_path, url, user, token, sender, rcpt, *args):
    raw, message_id = message(sender, rcpt)[:2]
    path = tmp_path / "message.eml"
    path.write_bytes(raw)
    code, transcript = curl(mail, url, user, token, "--mail-from", sender, "--mail-rcpt", rcpt, "--upload-file", str(path), *args)
    return code, transcript, message_id


def test_curl_starttls_xoauth2_delegated(mail, contoso, client_id, tmp_path):
    token = contoso.user_token(client_id, ALICE, OUTLOOK + "/SMTP.Send")
    code, transcript, message_id = curl_send(mail, tmp_path, "smtp://%s:%d" % (mail.host, mail.port), ALICE, token, ALICE, REPORTS,
                                             "--ssl-reqd", "--login-options", "AUTH=XOAUTH2")
    assert code == 0, transcript
    assert "> STARTTLS" in transcript and "> AUTH XOAUTH2\n" in transcript.replace("\r", "")   # the 334 form
    assert "< 235 2.7.0 Authentication successful" in transcript
    assert mail.find(REPORTS, message_id)


def test_curl_implicit_tls_app_only(mail, contoso, tmp_path):
    app = contoso.mail_app(roles=("SMTP.SendAsApp",), full_access=[SCANNER])
    code, transcript, message_id = curl_send(mail, tmp_path, "smtps://%s:%d" % (mail.host, mail.port_tls), SCANNER, app["token"](),
                                             SCANNER, REPORTS, "--login-options", "AUTH=XOAUTH2", "--sasl-ir")
    assert code == 0, transcript
    # Even with --sasl-ir, curl keeps SMTP's AUTH line under 512 octets: a full token goes after the 334.
    assert "STARTTLS" not in transcript and "< 235 2.7.0 Authentication successful" in transcript
    assert mail.find(REPORTS, message_id)


def test_curl_sees_exchanges_refusal(mail, contoso, client_id, tmp_path):
    graph_token = contoso.user_token(client_id, ALICE, "https://graph.microsoft.com/SMTP.Send")
    code, transcript = curl_send(mail, tmp_path, "smtp://%s:%d" % (mail.host, mail.port), ALICE, graph_token, ALICE, REPORTS,
                                 "--ssl-reqd", "--login-options", "AUTH=XOAUTH2")[:2]
    assert code == 67, transcript                      # CURLE_LOGIN_DENIED
    assert "< 535 5.7.3 Authentication unsuccessful" in transcript


def test_curl_picks_oauthbearer_where_offered(mail, contoso, client_id, tmp_path):
    token = contoso.user_token(client_id, ALICE, OUTLOOK + "/SMTP.Send")
    with mail.switched("smtp", oauthbearer=True):
        code, transcript, message_id = curl_send(mail, tmp_path, "smtp://%s:%d" % (mail.host, mail.port), ALICE, token, ALICE,
                                                 REPORTS, "--ssl-reqd")
    assert code == 0, transcript
    assert "> AUTH OAUTHBEARER" in transcript
    assert mail.find(REPORTS, message_id)


def test_curl_reads_back_over_imap(mail, contoso, client_id, tmp_path):
    token = contoso.user_token(client_id, ALICE, OUTLOOK + "/SMTP.Send")
    message_id = curl_send(mail, tmp_path, "smtp://%s:%d" % (mail.host, mail.port), ALICE, token, ALICE, REPORTS,
                           "--ssl-reqd", "--login-options", "AUTH=XOAUTH2")[2]
    reader = contoso.user_token(client_id, REPORTS, OUTLOOK + "/IMAP.AccessAsUser.All")
    base = "imaps://%s:%d/INBOX" % (mail.host, mail.imap_port)
    code, transcript = curl(mail, base, REPORTS, reader, "--login-options", "AUTH=XOAUTH2",
                            "-X", 'UID SEARCH HEADER Message-ID "%s"' % message_id)
    assert code == 0, transcript
    uid = re.search(r"^\* SEARCH (\d+)\s*$", transcript, re.M).group(1)
    code, transcript = curl(mail, "%s;UID=%s" % (base, uid), REPORTS, reader, "--login-options", "AUTH=XOAUTH2")
    assert code == 0 and "Message-ID: %s" % message_id in transcript, transcript
