# -*- coding: utf-8 -*-
"""Dovecot as a real, independent peer for the mail smoke test: configured, started and stopped here.

Everything lives in one temporary directory: the configuration (no system file is read), the token
validation keys exported from the sandbox's JWKS, the users' maildirs. Dovecot validates the sandbox's
RS256 tokens itself (passdb oauth2, ``introspection_mode = local``), checking signature, expiry, issuer,
audience (``client_id``) and that ``user=`` is the token's ``upn``. Its submission service relays to a
small SMTP relay in this process, which hands each message to Dovecot's LMTP, so accepted mail lands in
the recipient's maildir and is read back over Dovecot's IMAP.
"""

from __future__ import annotations

import base64
import os
import pwd
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

from ansible_collections.mailauth.m365.tests.peers.smtp_peer import ScriptedSmtpPeer, free_port

INSTALL_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dovecot.sh")
DOVECOT = "/usr/sbin/dovecot"
# The audience Dovecot accepts: what delegated SMTP.Send / IMAP tokens are issued for.
OUTLOOK_AUDIENCE = "https://outlook.office.com"

CONFIG = """\
# Written by tests/peers/dovecot_peer.py for one test run; nothing outside {root} is used.
base_dir = {root}/run
state_dir = {root}/state
instance_name = mailauth-peer-{port_smtp}
protocols = imap submission lmtp
listen = 127.0.0.1
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
auth_verbose = yes
auth_debug = {debug}
auth_failure_delay = 0
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = yes
auth_mechanisms = xoauth2 oauthbearer
first_valid_uid = {uid}
last_valid_uid = 0
mail_location = maildir:{root}/mail/%u
hostname = dovecot.peer.test
default_login_user = dovenull
default_internal_user = dovecot
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {root}/oauth2.conf.ext
}}
userdb {{
  driver = passwd-file
  args = username_format=%Lu {root}/users
  default_fields = uid={uid} gid={gid} home={root}/mail/%Lu
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port_imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service submission-login {{
  inet_listener submission {{
    address = 127.0.0.1
    port = {port_smtp}
  }}
}}
service lmtp {{
  unix_listener lmtp {{
    mode = 0600
  }}
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {port_lmtp}
  }}
}}
submission_relay_host = 127.0.0.1
submission_relay_port = {port_relay}
"""

OAUTH2 = """\
introspection_mode = local
local_validation_key_dict = fs:posix:prefix={root}/keys/
username_attribute = upn
issuers = https://sts.windows.net/{tenant}/
client_id = {audience}
"""


def install():
    """Install the Dovecot packages when missing (the script needs root and apt); return its output."""
    if os.path.exists(DOVECOT) and os.path.exists("/usr/lib/dovecot/submission") \
            and os.path.exists("/usr/lib/dovecot/imap") and os.path.exists("/usr/lib/dovecot/lmtp"):
        return "present"
    result = subprocess.run(["bash", INSTALL_SCRIPT], capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:
        raise RuntimeError("installing Dovecot failed (rc %d): %s %s"
                           % (result.returncode, result.stdout, result.stderr))
    return result.stdout


def jwks_to_key_files(jwks, directory):
    """Write each RS256 key of ``jwks`` where Dovecot's local validation looks it up.

    Dovecot 2.3 reads ``<dict prefix>/<azp or default>/<alg>/<kid>`` (``/`` and ``%`` in the kid escaped
    as ``%2f`` / ``%25``); the sandbox's v1.0 tokens carry no ``azp``, so the folder is ``default``. The
    value is the public key as PEM.
    """
    written = []
    for key in jwks.get("keys", []):
        if key.get("kty") != "RSA":
            continue
        public = RSAPublicNumbers(_b64_int(key["e"]), _b64_int(key["n"])).public_key()
        pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        kid = key.get("kid") or "default"
        folder = os.path.join(directory, "default", key.get("alg") or "RS256")
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, kid.replace("%", "%25").replace("/", "%2f"))
        with open(path, "wb") as handle:
            handle.write(pem)
        written.append(path)
    return written


def _b64_int(value):
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


class DovecotPeer:
    """``start()`` writes the configuration and runs ``dovecot -F``; ``stop()`` ends it and cleans up."""

    def __init__(self, tenant_id, jwks, users, cert_path, key_path, audience=OUTLOOK_AUDIENCE, debug=False):
        self.tenant_id = tenant_id
        self.jwks = jwks
        self.users = [user.lower() for user in users]
        self.cert_path = cert_path
        self.key_path = key_path
        self.audience = audience
        self.debug = debug
        self.root = None
        self.process = None
        self.relay = None
        self.ports = {}

    def start(self):
        # Under /tmp with 0755, so Dovecot's unprivileged processes can reach their sockets and files.
        self.root = tempfile.mkdtemp(prefix="mailauth-dovecot-", dir="/tmp")
        os.chmod(self.root, 0o755)
        account = pwd.getpwnam("mail")
        for sub in ("run", "state", "mail", "keys"):
            os.makedirs(os.path.join(self.root, sub))
        os.chown(os.path.join(self.root, "mail"), account.pw_uid, account.pw_gid)
        jwks_to_key_files(self.jwks, os.path.join(self.root, "keys"))
        with open(os.path.join(self.root, "users"), "w", encoding="utf-8") as handle:
            handle.writelines("%s::::::\n" % user for user in self.users)
        self.ports = dict(smtp=free_port(), imap=free_port(), lmtp=free_port())
        self.relay = ScriptedSmtpPeer("relay", on_message=self._deliver).start()
        self.ports["relay"] = self.relay.port
        fields = dict(root=self.root, port_smtp=self.ports["smtp"], port_imap=self.ports["imap"],
                      port_lmtp=self.ports["lmtp"], port_relay=self.ports["relay"], cert=self.cert_path,
                      key=self.key_path, uid=account.pw_uid, gid=account.pw_gid,
                      debug="yes" if self.debug else "no")
        with open(self.config_path, "w", encoding="utf-8") as handle:
            handle.write(CONFIG.format(**fields))
        with open(os.path.join(self.root, "oauth2.conf.ext"), "w", encoding="utf-8") as handle:
            handle.write(OAUTH2.format(root=self.root, tenant=self.tenant_id, audience=self.audience))
        self.process = subprocess.Popen([DOVECOT, "-F", "-c", self.config_path], stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT)
        try:
            for name in ("smtp", "imap", "lmtp"):
                self._wait_for_port(self.ports[name])
        except RuntimeError:
            self.stop()
            raise
        return self

    @property
    def config_path(self):
        return os.path.join(self.root, "dovecot.conf")

    def _wait_for_port(self, port, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("dovecot exited (rc %s): %s\n%s"
                                   % (self.process.returncode, self.process.stdout.read().decode(), self.log()))
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("dovecot did not listen on %d within %.0f s:\n%s" % (port, timeout, self.log()))

    def _deliver(self, message):
        with smtplib.LMTP("127.0.0.1", self.ports["lmtp"]) as lmtp:
            lmtp.sendmail(message["sender"], message["recipients"], message["data"])

    def log(self):
        try:
            with open(os.path.join(self.root, "dovecot.log"), encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except OSError:
            return ""

    def maildir_messages(self, user):
        """The raw messages in ``user``'s INBOX (new and cur), read from disk."""
        found = []
        for sub in ("new", "cur"):
            folder = os.path.join(self.root, "mail", user.lower(), sub)
            if os.path.isdir(folder):
                for name in sorted(os.listdir(folder)):
                    with open(os.path.join(folder, name), "rb") as handle:
                        found.append(handle.read())
        return found

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process is not None and self.process.stdout is not None:
            self.process.stdout.close()
        if self.relay is not None:
            self.relay.stop()
        if self.root and os.path.isdir(self.root):
            shutil.rmtree(self.root, ignore_errors=True)
