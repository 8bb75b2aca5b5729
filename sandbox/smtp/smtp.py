"""SMTP client submission as smtp.office365.com answers it (FACTS.md section 5).

STARTTLS before AUTH on the submission port (EHLO in plaintext offers no AUTH), AUTH LOGIN and
XOAUTH2 (OAUTHBEARER too when the listener's switch is on), the initial response on the AUTH line at
any length or after a `334`, Exchange Online's reply texts for every refusal, SendAs checked at the
end of DATA, and recipients resolved against the tenant's mailboxes. Who may do what is decided in
access.py; this module only speaks the protocol."""
import datetime
import email.utils
import secrets

from . import access as access_mod
from . import mailstore
from . import sasl
from .wire import LineTooLong, Session

HOST = mailstore.HOSTNAME
MAX_SIZE = 157286400  # what Exchange Online announces
DATA_LINE_LIMIT = 1 << 20


def diagnostic():
    """The bracketed tail Exchange Online puts on its replies: front-end host, time, a session id."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return "[%s %s %s]" % (HOST, now.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (now.microsecond // 1000),
                           secrets.token_hex(8).upper())


# Replies whose texts clients (and the collection's diagnosis) recognise.
AUTH_OK = "235 2.7.0 Authentication successful"
AUTH_FAILED = "535 5.7.3 Authentication unsuccessful"
DISABLED = ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the %s. "
            "Visit https://aka.ms/smtp_auth_disabled for more information.")
BASIC_DISABLED = "535 5.7.139 Authentication unsuccessful, basic authentication is disabled."
UNRECOGNIZED_AUTH = "504 5.7.4 Unrecognized authentication type"
NOT_AUTHENTICATED = "530 5.7.57 Client not authenticated to send mail."
STARTTLS_REQUIRED = "451 5.7.3 STARTTLS is required to send mail"
SEND_AS_AT_MAIL_FROM = "550 5.7.60 SMTP; Client does not have permissions to send as this sender"
SEND_AS_DENIED = ("554 5.2.252 SendAsDenied; %s not allowed to send as %s; "
                  "STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; "
                  "Failed to process message due to a permanent exception with message "
                  "[BeginDiagnosticData]Cannot submit message.[EndDiagnosticData]")
RECIPIENT_NOT_FOUND = "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"
REFUSALS = {  # access.Refused.kind -> reply; any other refusal is AUTH_FAILED
    access_mod.DISABLED_MAILBOX: DISABLED % "Mailbox",
    access_mod.DISABLED_TENANT: DISABLED % "Tenant",
}


def _address(arg, keyword):
    """The address of `FROM:<a@b> SIZE=..` / `TO:<a@b>`; None when malformed."""
    if not arg.upper().startswith(keyword + ":"):
        return None
    rest = arg[len(keyword) + 1:].strip()
    if rest.startswith("<"):
        end = rest.find(">")
        if end < 0:
            return None
        return rest[1:end].strip()
    return rest.split(" ")[0] or None


class SmtpSession(Session):
    protocol = "smtp"

    def __init__(self, conn, listener):
        super().__init__(conn, listener)
        self.helo = None
        self.mail_from = None
        self.recipients = []      # access.Recipient
        self.messages = 0

    # --- wire ----------------------------------------------------------------------------------
    def reply(self, text, lines=()):
        out = "".join("%s-%s\r\n" % (text[:3], line) for line in lines) + text + "\r\n"
        self.conn.send(out)

    def fail(self, text):
        self.reply("%s %s" % (text, diagnostic()))

    def run(self):
        stamp = email.utils.formatdate(localtime=False)
        self.reply("220 %s Microsoft ESMTP MAIL Service ready at %s" % (HOST, stamp))
        while not self.done:
            try:
                line = self.conn.readline()
            except LineTooLong:
                self.reply("500 5.3.3 Line too long")
                continue
            if self.mail.realism(self, lambda: self.reply(
                    "421 4.3.2 Service not available, closing transmission channel")):
                return
            text = line.decode("utf-8", "replace")
            verb, sep, arg = text.partition(" ")
            handler = getattr(self, "cmd_" + verb.upper(), None) if verb.isalpha() else None
            if handler is None:
                self.reply("500 5.3.3 Unrecognized command")
            else:
                handler(arg.strip())

    def log_fields(self):
        return dict(super().log_fields(), messages=self.messages)

    # --- session -------------------------------------------------------------------------------
    def _extensions(self):
        ext = ["SIZE %d" % MAX_SIZE, "PIPELINING", "DSN", "ENHANCEDSTATUSCODES"]
        if not self.conn.tls:
            ext.append("STARTTLS")
        else:
            ext.append("AUTH " + " ".join(self.mail.smtp_mechanisms(self.settings)))
        return ext + ["8BITMIME", "SMTPUTF8"]

    def _hello(self, arg, extended):
        if not arg:
            self.reply("501 5.5.4 Invalid domain name")
            return
        self._reset_transaction()
        self.helo = arg
        lines = ["%s Hello [%s]" % (HOST, self.conn.peer)] + (self._extensions() if extended else [])
        self.reply("250 " + lines[-1], lines[:-1])

    def cmd_EHLO(self, arg):
        self._hello(arg, True)

    def cmd_HELO(self, arg):
        self._hello(arg, False)

    def cmd_STARTTLS(self, arg):
        if self.conn.tls:
            self.reply("500 5.3.3 Unrecognized command")
            return
        if arg:
            self.reply("501 5.5.4 Invalid arguments")
            return
        self.reply("220 2.0.0 SMTP server ready")
        self.conn.starttls()
        # RFC 3207: the client starts over with EHLO, nothing learnt before TLS counts.
        self.helo = None
        self._reset_transaction()

    def cmd_NOOP(self, arg):
        self.reply("250 2.0.0 OK")

    def cmd_RSET(self, arg):
        self._reset_transaction()
        self.reply("250 2.0.0 Resetting")

    def cmd_VRFY(self, arg):
        self.reply("252 2.1.5 Cannot VRFY user")

    def cmd_QUIT(self, arg):
        self.reply("221 2.0.0 Service closing transmission channel")
        self.done = True

    def _reset_transaction(self):
        self.mail_from = None
        self.recipients = []

    # --- AUTH ----------------------------------------------------------------------------------
    def _read_response(self):
        """One SASL response line; None when the client cancels with `*`."""
        line = self.conn.readline().decode("ascii", "replace").strip()
        if line == "*":
            self.reply("501 5.7.0 Authentication cancelled")
            return None
        return line

    def cmd_AUTH(self, arg):
        if self.helo is None:
            self.reply("503 5.5.2 Send hello first")
            return
        if self.identity is not None:
            self.reply("503 5.5.2 Already authenticated")
            return
        mechanism, sep, initial = arg.partition(" ")
        mechanism = mechanism.upper()
        offered = self.mail.smtp_mechanisms(self.settings) if self.conn.tls else ()
        if mechanism not in offered:
            self.fail(UNRECOGNIZED_AUTH)
            return
        limit = self.settings.get("max_auth_line")
        if limit and len(arg) + 5 > limit:
            # What a standards-based server with a short line buffer does (Dovecot: about 1 KB).
            self.reply("500 5.5.2 Line too long")
            return
        if mechanism == "LOGIN":
            self._auth_login(initial)
        else:
            self._auth_bearer(mechanism, initial)

    def _auth_login(self, initial):
        if not initial:
            self.reply("334 VXNlcm5hbWU6")  # "Username:"
            if self._read_response() is None:
                return
        self.reply("334 UGFzc3dvcmQ6")      # "Password:"
        if self._read_response() is None:
            return
        self.mail.log_auth(self, "LOGIN", None, access_mod.Refused(access_mod.BASIC, "basic auth"))
        self.fail(BASIC_DISABLED)

    def _auth_bearer(self, mechanism, initial):
        if not initial:
            self.reply("334 ")
            initial = self._read_response()
            if initial is None:
                return
        try:
            user, token = sasl.parse(mechanism, sasl.b64decode(initial))
        except sasl.SaslError as exc:
            if str(exc) == "not base64":
                self.reply("501 5.5.2 Cannot Base64-decode Client responses")
                return
            self._refuse(mechanism, None, access_mod.Refused(access_mod.TOKEN, "malformed %s response: %s" % (mechanism, exc)))
            return
        try:
            identity = access_mod.authenticate(self.ctx, access_mod.SMTP, user, token)
        except access_mod.Refused as refused:
            self._refuse(mechanism, user, refused)
            return
        self.identity = identity
        self.tenant = identity.tid
        self.mail.log_auth(self, mechanism, identity, None)
        self.reply(AUTH_OK)

    def _refuse(self, mechanism, user, refused):
        self.mail.log_auth(self, mechanism, user, refused)
        # OAUTHBEARER (RFC 7628), and XOAUTH2 on a listener set to behave like a standards-based server,
        # first send a JSON error the client must answer with an empty response (^A or nothing).
        if mechanism == "OAUTHBEARER" or self.settings.get("error_challenge"):
            self.reply("334 " + sasl.error_challenge())
            self.conn.readline()
            if self.settings.get("error_challenge"):
                self.reply("535 5.7.8 Authentication failed")
                return
        self.fail(REFUSALS.get(refused.kind, AUTH_FAILED))

    # --- mail transaction ----------------------------------------------------------------------
    def _may_transact(self, need_sender=False):
        if not self.conn.tls:
            self.fail(STARTTLS_REQUIRED)
            return False
        if self.helo is None:
            self.reply("503 5.5.2 Send hello first")
            return False
        if self.identity is None:
            self.fail(NOT_AUTHENTICATED)
            return False
        if need_sender and self.mail_from is None:
            self.reply("503 5.5.2 Need mail command")
            return False
        return True

    def cmd_MAIL(self, arg):
        if not self._may_transact():
            return
        if self.mail_from is not None:
            self.reply("503 5.5.2 Sender already specified")
            return
        address = _address(arg, "FROM")
        if address is None:
            self.reply("501 5.5.4 Invalid arguments")
            return
        if self.settings.get("send_as_at_mail_from") and address and not self.identity.may_send_as(address):
            self.fail(SEND_AS_AT_MAIL_FROM)
            return
        self.mail_from = address
        self.reply("250 2.1.0 Sender OK")

    def cmd_RCPT(self, arg):
        if not self._may_transact(need_sender=True):
            return
        address = _address(arg, "TO")
        if not address or "@" not in address:
            self.reply("501 5.1.3 Invalid address")
            return
        recipient = access_mod.resolve_recipient(self.ctx, self.identity.tid, address)
        if recipient is None:
            self.reply(RECIPIENT_NOT_FOUND)
            return
        self.recipients.append(recipient)
        self.reply("250 2.1.5 Recipient OK")

    def cmd_DATA(self, arg):
        if not self._may_transact(need_sender=True):
            return
        if not self.recipients:
            self.reply("503 5.5.2 Need rcpt command")
            return
        self.reply("354 Start mail input; end with <CRLF>.<CRLF>")
        lines, size, too_big = [], 0, False
        while True:
            try:
                line = self.conn.readline(DATA_LINE_LIMIT)
            except LineTooLong:
                too_big = True
                continue
            if line == b".":
                break
            if line.startswith(b"."):
                line = line[1:]
            size += len(line) + 2
            if size > MAX_SIZE:
                too_big = True
            if not too_big:
                lines.append(line)
        if too_big:
            self._reset_transaction()
            self.reply("552 5.3.4 Message size exceeds fixed maximum message size")
            return
        raw = b"\r\n".join(lines) + b"\r\n"
        self._submit(raw)

    def _submit(self, raw):
        # Exchange decides SendAs when the message is handed to the mailbox store, after the data.
        refused = self.identity.send_as_refusal(self.mail_from, raw)
        if refused:
            self._reset_transaction()
            self.mail.log_event(self, "DATA", 554, reason="not allowed to send as %s" % refused)
            self.reply((SEND_AS_DENIED % (self.identity.mailbox_address, refused)) + " [Hostname=%s]" % HOST)
            return
        message_id = self.mail.submit(self.identity, self.mail_from, self.recipients, raw, via="SMTP submission")
        self.messages += 1
        self._reset_transaction()
        self.mail.log_event(self, "DATA", 250)
        self.reply("250 2.0.0 OK %s [Hostname=%s]" % (message_id, HOST))

    def cmd_BDAT(self, arg):
        self.reply("500 5.3.3 Unrecognized command")
