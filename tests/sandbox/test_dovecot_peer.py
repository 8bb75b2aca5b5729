"""mail_smoke_test against a server we did not write: Dovecot, validating the sandbox's tokens itself.

Dovecot (Debian's 2.3.19 packages, installed by tests/peers/dovecot.sh when missing) is configured in a
temporary directory, started and stopped here. It validates the sandbox's RS256 tokens locally (keys
exported from the sandbox's JWKS), limits the AUTH line to about 1 KB and answers a refused token with a
JSON error challenge: the two behaviours of standards-based servers the client must handle
(FACTS.md section 5). A consented public client is made through Graph; the module signs in by password
(ROPC) as a seeded user, sends through Dovecot's submission with STARTTLS and reads back over its IMAP.

Without root this machine cannot install or run Dovecot: the tests skip then, but only outside CI; in
CI (CI=true) a missing Dovecot fails them loudly.
"""
import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args
from graphclient import GraphClient, unique

from ansible_collections.mailauth.m365.plugins.modules import mail_smoke_test
from ansible_collections.mailauth.m365.tests.peers import dovecot_peer
from ansible_collections.mailauth.m365.tests.peers.tls import write_tls_files

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
USER = "alice@contoso.example"
OTHER = "admin@contoso.example"


def _require_root():
    if os.geteuid() != 0 and os.environ.get("CI", "").lower() not in ("true", "1"):
        pytest.skip("the Dovecot peer needs root (apt-get install, dovecot -F); CI runs it")


@pytest.fixture(scope="module")
def peer(sandbox, tmp_path_factory):
    """Dovecot, started for this module's tests and stopped after them."""
    _require_root()
    dovecot_peer.install()  # fails loudly (RuntimeError) when it cannot install
    conn = sandbox.conn
    tenant = sandbox.tenant()
    jwks = sandbox.session().get("%s/%s/discovery/v2.0/keys" % (conn["authority_host"], tenant["id"]),
                                 timeout=30).json()
    directory = tmp_path_factory.mktemp("dovecot-tls")
    ca, cert, key = write_tls_files(str(directory))
    # One CA bundle for the module: the sandbox's (sign-in) and the peer's (SMTP, IMAP).
    bundle = os.path.join(str(directory), "bundle.pem")
    with open(bundle, "w", encoding="utf-8") as out:
        for path in (conn["ca_bundle"], ca):
            with open(path, encoding="utf-8") as handle:
                out.write(handle.read())
    server = dovecot_peer.DovecotPeer(tenant["id"], jwks, [USER, OTHER], cert, key).start()
    server.ca_bundle = bundle
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mail_client(sandbox):
    """A public client with SMTP.Send and IMAP.AccessAsUser.All consented for everyone, made through Graph."""
    graph = GraphClient(sandbox, sandbox.app_token("contoso"))
    resource = graph.resource(GRAPH_APP_ID)
    scope_ids = {scope["value"]: scope["id"] for scope in resource["oauth2PermissionScopes"]}
    wanted = ["SMTP.Send", "IMAP.AccessAsUser.All", "User.Read", "offline_access", "openid", "profile"]
    app = graph.new_app(displayName=unique("it-dovecot-peer"), isFallbackPublicClient=True,
                        publicClient={"redirectUris": ["http://localhost"]},
                        requiredResourceAccess=[{"resourceAppId": GRAPH_APP_ID, "resourceAccess": [
                            {"id": scope_ids[name], "type": "Scope"} for name in wanted]}])
    principal = graph.post("/servicePrincipals", {"appId": app["appId"]})
    graph.post("/oauth2PermissionGrants", {"clientId": principal["id"], "consentType": "AllPrincipals",
                                           "resourceId": resource["id"], "scope": " ".join(wanted)})
    yield app
    graph.delete("/applications/%s" % app["id"])


@pytest.fixture
def args(sandbox, peer, mail_client, tmp_path, monkeypatch):
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
                 "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST", "MAILAUTH_M365_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    conn = sandbox.conn
    tenant = sandbox.tenant()
    return dict(cloud="custom", authority_host=conn["authority_host"], graph_endpoint=conn["graph_endpoint"],
                ca_bundle=peer.ca_bundle, tenant_id=tenant["id"], client_id=mail_client["appId"],
                token_cache_path=str(tmp_path / "cache"), sign_in="password", mailbox=USER,
                password=tenant["users"][USER]["password"], smtp_host="127.0.0.1", smtp_port=peer.ports["smtp"],
                tls="starttls", imap_host="127.0.0.1", imap_port=peer.ports["imap"], imap_tls="starttls")


def run_main(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            mail_smoke_test.main()
    return json.loads(capsys.readouterr().out)


def _assert_no_secret(result, sandbox):
    text = json.dumps(result)
    assert sandbox.tenant()["users"][USER]["password"] not in text
    assert "Bearer " not in text and "eyJ0eX" not in text  # no JWT (header starts {"typ"...) anywhere


def test_sends_through_dovecot_submission_and_reads_back_over_imap(args, peer, sandbox, capsys):
    result = run_main(dict(args, to=[USER], verify_delivery=True, verify_timeout=30), capsys)

    assert result.get("failed") is not True, result.get("msg")
    assert result["changed"] is True and result["sent"] is True
    assert result["delivered"] is True and result["delivery_seconds"] >= 0
    assert result["server"]["mechanism"] == "XOAUTH2"
    assert result["signed_in_as"]["username"] == USER
    transcript = result["transcript"]
    # The token went on its own line after Dovecot's 334: its AUTH line limit was respected.
    auth = transcript.index("C: AUTH XOAUTH2")
    assert transcript[auth + 1] == "S: 334"
    assert transcript[auth + 2].startswith("C: <XOAUTH2 response for user=%s, token redacted" % USER)
    assert transcript[auth + 3].startswith("S: 235 2.7.0")
    assert any(line.startswith("S: 250 2.0.0") for line in transcript)  # DATA accepted after relaying to LMTP
    assert any("AUTHENTICATE XOAUTH2" in line for line in transcript)  # the IMAP read-back
    assert set(result["timings"]) >= {"token", "connect", "starttls", "auth", "send", "verify"}
    stored = peer.maildir_messages(USER)
    assert any(result["test_id"].encode() in message for message in stored)
    _assert_no_secret(result, sandbox)


def test_oauthbearer_in_check_mode_authenticates_and_sends_nothing(args, peer, capsys):
    before = len(peer.maildir_messages(USER))
    result = run_main(dict(args, auth_mechanism="oauthbearer", _ansible_check_mode=True), capsys)

    assert result.get("failed") is not True, result.get("msg")
    assert result["sent"] is False and result["changed"] is True
    assert result["server"]["mechanism"] == "OAUTHBEARER"
    assert "S: 235 2.7.0 Logged in." in result["transcript"]
    assert not any(line.startswith("C: mail FROM") for line in result["transcript"])
    assert len(peer.maildir_messages(USER)) == before


def test_token_on_the_auth_line_is_refused_and_diagnosed(args, capsys):
    result = run_main(dict(args, auth_initial_response="inline"), capsys)

    assert result["failed"] is True
    assert result["diagnosis"]["case"] == "auth_line_too_long"
    assert result["diagnosis"]["answer"] == "500 5.5.2 Line too long"
    assert "auth_initial_response" in result["diagnosis"]["remedy"]


def test_graph_token_is_refused_with_a_json_challenge_and_diagnosed(args, sandbox, capsys):
    result = run_main(dict(args, scopes=["https://graph.microsoft.com/User.Read"]), capsys)

    assert result["failed"] is True
    diagnosis = result["diagnosis"]
    assert diagnosis["case"] == "wrong_audience" and diagnosis["step"] == "auth"
    assert diagnosis["answer"] == "535 5.7.8 Authentication failed."
    assert "https://outlook.office.com/SMTP.Send" in diagnosis["remedy"]
    transcript = result["transcript"]
    challenge = next(index for index, line in enumerate(transcript) if line.startswith("-- error challenge"))
    assert '"status": "401"' in transcript[challenge]
    assert transcript[challenge + 1] == "C: <empty response, ending the exchange>"
    assert transcript[challenge + 2] == "S: 535 5.7.8 Authentication failed."
    assert result["msg"].startswith("Mail smoke test failed at auth: 535 5.7.8 Authentication failed")
    _assert_no_secret(result, sandbox)


def test_user_other_than_the_token_is_refused_and_diagnosed(args, sandbox, capsys):
    tenant = sandbox.tenant()
    result = run_main(dict(args, mailbox=OTHER, username=USER, password=tenant["users"][USER]["password"]), capsys)

    assert result["failed"] is True
    assert result["diagnosis"]["case"] == "user_mismatch"
    assert USER in result["diagnosis"]["cause"] and OTHER in result["diagnosis"]["cause"]
