# -*- coding: utf-8 -*-
"""A small SMTP server in a thread for tests: answers like Exchange Online, like Dovecot, or as a relay.

- ``exchange``: AUTH only after STARTTLS, offers ``LOGIN XOAUTH2``, takes a long initial response on the
  AUTH line, answers a refused token at once with the failure text (``535 5.7.3 ...``).
- ``dovecot``: offers ``XOAUTH2 OAUTHBEARER``, refuses AUTH lines longer than ``max_auth_line`` with
  ``500 5.5.2 Line too long``, answers a refused token with a ``334`` JSON error challenge and, after the
  client's response to it, ``535 5.7.8 Authentication failed.``
- ``relay``: no TLS, no AUTH; hands every message to ``on_message`` (Dovecot's submission relay).

``implicit_tls=True`` starts TLS with the connection (port 465) instead of offering STARTTLS.

``authorize(mechanism, user, token)`` decides: None accepts, a string is the failure answer (exchange).
``sender_allowed(authenticated_user, sender)`` refuses MAIL FROM with 5.7.60 when it returns False.
"""

from __future__ import annotations

import base64
import json
import socket
import socketserver
import ssl
import threading

EXCHANGE_REFUSED = "535 5.7.3 Authentication unsuccessful [BN0PR04CA0001.namprd04.prod.outlook.com]"


def parse_xoauth2(text):
    fields = dict(part.split("=", 1) for part in text.split("\x01") if "=" in part)
    token = fields.get("auth", "")
    return fields.get("user"), token[7:] if token.lower().startswith("bearer ") else None


def parse_oauthbearer(text):
    parts = text.split("\x01")
    header = parts[0].split(",")
    user = next((item[2:] for item in header if item.startswith("a=")), None)
    fields = dict(part.split("=", 1) for part in parts[1:] if "=" in part)
    token = fields.get("auth", "")
    return user, token[7:] if token.lower().startswith("bearer ") else None, fields


class ScriptedSmtpPeer:
    """Start with ``start()`` (returns self), stop with ``stop()``; ``port`` is where it listens."""

    def __init__(self, behaviour="exchange", tls_context=None, authorize=None, sender_allowed=None,
                 on_message=None, max_auth_line=1024, hostname="peer.test", implicit_tls=False):
        self.behaviour = behaviour
        self.implicit_tls = implicit_tls
        self.tls_context = tls_context
        self.authorize = authorize or (lambda mechanism, user, token: None)
        self.sender_allowed = sender_allowed or (lambda user, sender: True)
        self.on_message = on_message
        self.max_auth_line = max_auth_line
        self.hostname = hostname
        self.messages = []
        self.auth_lines = []      # (kind, length) of every AUTH command and response line received
        self.sessions = 0
        peer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                peer.sessions += 1
                _Session(peer, self.connection).run()

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class _Session:
    def __init__(self, peer, sock):
        self.peer = peer
        self.sock = sock
        self.buffer = b""
        self.tls = False
        self.user = None
        self.sender = None
        self.recipients = []

    # -- line I/O ---------------------------------------------------------------------------
    def reply(self, text):
        self.sock.sendall((text + "\r\n").encode("utf-8"))

    def line(self):
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("client went away")
            self.buffer += chunk
        line, _separator, self.buffer = self.buffer.partition(b"\r\n")
        return line.decode("utf-8", "replace")

    def run(self):
        try:
            if self.peer.implicit_tls:
                self.sock = self.peer.tls_context.wrap_socket(self.sock, server_side=True)
                self.tls = True
            self.reply("220 %s ESMTP ready" % self.peer.hostname)
            while True:
                command = self.line()
                verb = command.split(" ", 1)[0].upper()
                handler = getattr(self, "cmd_" + verb.lower(), None)
                if handler is None:
                    self.reply("502 5.5.2 Command not recognized")
                    continue
                if handler(command) is False:
                    return
        except (ConnectionError, OSError, ssl.SSLError):
            return
        finally:
            try:
                self.sock.close()
            except OSError:
                pass

    # -- commands -----------------------------------------------------------------------------
    def cmd_ehlo(self, command):
        peer = self.peer
        lines = [peer.hostname, "8BITMIME", "ENHANCEDSTATUSCODES", "PIPELINING"]
        if peer.tls_context is not None and not self.tls:
            lines.append("STARTTLS")
        if peer.behaviour == "exchange" and self.tls:
            lines.append("AUTH LOGIN XOAUTH2")
        elif peer.behaviour == "dovecot" and (self.tls or peer.tls_context is None):
            lines.append("AUTH XOAUTH2 OAUTHBEARER")
        for index, text in enumerate(lines):
            self.reply("250%s%s" % (" " if index == len(lines) - 1 else "-", text))

    cmd_helo = cmd_ehlo

    def cmd_starttls(self, command):
        if self.peer.tls_context is None or self.tls:
            self.reply("454 4.7.0 TLS not available")
            return None
        self.reply("220 2.0.0 SMTP server ready")
        self.sock = self.peer.tls_context.wrap_socket(self.sock, server_side=True)
        self.buffer = b""
        self.tls = True
        return None

    def cmd_auth(self, command):
        peer = self.peer
        peer.auth_lines.append(("command", len(command)))
        if peer.behaviour == "dovecot" and len(command) > peer.max_auth_line:
            self.reply("500 5.5.2 Line too long")
            return None
        if peer.behaviour == "exchange" and not self.tls:
            self.reply("504 5.7.4 Unrecognized authentication type")
            return None
        parts = command.split(" ")
        mechanism = parts[1].upper() if len(parts) > 1 else ""
        if mechanism not in ("XOAUTH2", "OAUTHBEARER"):
            self.reply("504 5.7.4 Unrecognized authentication type")
            return None
        if len(parts) > 2:
            response = parts[2]
        else:
            self.reply("334 ")
            response = self.line()
            peer.auth_lines.append(("response", len(response)))
            if peer.behaviour == "dovecot" and len(response) > 8192:
                self.reply("500 5.5.2 Line too long")
                return None
        try:
            decoded = base64.b64decode(response).decode("utf-8")
        except (ValueError, UnicodeError):
            self.reply("501 5.5.2 Invalid base64 data")
            return None
        if mechanism == "XOAUTH2":
            user, token = parse_xoauth2(decoded)
        else:
            user, token, _fields = parse_oauthbearer(decoded)
        refusal = peer.authorize(mechanism, user, token) if user and token else EXCHANGE_REFUSED
        if refusal is None:
            self.user = user
            self.reply("235 2.7.0 Authentication successful")
            return None
        if peer.behaviour == "dovecot":
            challenge = {"status": "401", "schemes": "bearer", "scope": "mail"} if mechanism == "XOAUTH2" \
                else {"status": "invalid_token"}
            self.reply("334 " + base64.b64encode(json.dumps(challenge).encode()).decode())
            peer.auth_lines.append(("acknowledgement", len(self.line())))
            self.reply("535 5.7.8 Authentication failed.")
        else:
            self.reply(refusal)
        return None

    def cmd_mail(self, command):
        if self.peer.behaviour != "relay" and self.user is None:
            self.reply("530 5.7.57 Client not authenticated to send mail. [BN0PR04CA0001]")
            return None
        sender = command.partition(":")[2].strip().split(" ")[0].strip("<>")
        if not self.peer.sender_allowed(self.user, sender):
            self.reply("550 5.7.60 SMTP; Client does not have permissions to send as this sender")
            return None
        self.sender = sender
        self.recipients = []
        self.reply("250 2.1.0 Sender OK")
        return None

    def cmd_rcpt(self, command):
        self.recipients.append(command.partition(":")[2].strip().split(" ")[0].strip("<>"))
        self.reply("250 2.1.5 Recipient OK")

    def cmd_data(self, command):
        if not self.recipients:
            self.reply("503 5.5.1 No recipients")
            return None
        self.reply("354 Start mail input; end with <CRLF>.<CRLF>")
        lines = []
        while True:
            line = self.line()
            if line == ".":
                break
            lines.append(line[1:] if line.startswith("..") else line)
        data = ("\r\n".join(lines) + "\r\n").encode("utf-8")
        message = dict(sender=self.sender, recipients=list(self.recipients), data=data, user=self.user)
        self.peer.messages.append(message)
        if self.peer.on_message is not None:
            try:
                self.peer.on_message(message)
            except (OSError, ValueError) as exc:
                self.reply("451 4.3.0 Relay failed: %s" % exc)
                return None
        self.reply("250 2.0.0 OK queued")
        return None

    def cmd_rset(self, command):
        self.sender, self.recipients = None, []
        self.reply("250 2.0.0 OK")

    def cmd_noop(self, command):
        self.reply("250 2.0.0 OK")

    def cmd_quit(self, command):
        self.reply("221 2.0.0 Bye")
        return False


def server_tls_context(cert_path, key_path):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
