# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Mail protocol clients of the smoke test: SMTP submission with XOAUTH2/OAUTHBEARER, IMAP read-back.

Both keep a transcript of the conversation for the task result. Tokens never enter it: every line
that carries one (an AUTH response, an initial response) is replaced by a description of what was
sent. Servers differ in two ways that matter (FACTS.md section 5): Exchange Online takes a long
initial response on the AUTH line, Dovecot limits that line to about 1 KB; and on a rejected token a
standards-based server first sends a ``334`` challenge with a JSON error that the client must answer
before the final ``535``. The client here handles both. Private to the collection: the interface may
change in any release.
"""

from __future__ import annotations

import base64
import binascii
import email.parser
import imaplib
import json
import re
import smtplib
import socket
import ssl
import time

MECHANISMS = ("XOAUTH2", "OAUTHBEARER")
# RFC 5321 4.5.3.1.4 limits a command line to 512 octets; RFC 4954 says not to use an initial response
# that would make the AUTH line longer. Access tokens never fit, so they go after the 334.
MAX_AUTH_LINE = 512
MAX_TRANSCRIPT_LINES = 400
MAX_LINE_CHARS = 300
SMOKE_TEST_HEADER = "X-Mailauth-Smoke-Test"


class MailProtocolError(Exception):
    """A mail server refused a step, or could not be talked to.

    ``step`` is ``connect``, ``starttls``, ``auth``, ``send`` or ``verify``; ``code`` the SMTP reply code
    (None for a transport failure or an IMAP answer); ``text`` the server's exact answer; ``challenge``
    the decoded JSON error challenge a standards-based server sent before refusing a token.
    """

    def __init__(self, step, text, code=None, command=None, challenge=None, transport=False):
        super().__init__(text)
        self.step = step
        self.text = text
        self.code = code
        self.command = command
        self.challenge = challenge
        self.transport = transport

    @property
    def answer(self):
        """The server's answer as it was sent: ``535 5.7.3 Authentication unsuccessful``."""
        if self.code is None:
            return self.text
        return ("%s %s" % (self.code, self.text)).strip()


class Transcript:
    """The lines exchanged with servers, secrets replaced, with the time each step took."""

    def __init__(self, clock=time.monotonic):
        self.lines = []
        self.timings = {}
        self.dropped = 0
        self._secrets = []
        self._clock = clock

    def add_secret(self, value, shown="<redacted>"):
        """Never let ``value`` (a token, an encoded AUTH response) appear: show ``shown`` instead."""
        if value and len(value) >= 8:
            self._secrets.append((value, shown))
            # Longest first, so a token inside an encoded response cannot leave a part behind.
            self._secrets.sort(key=lambda pair: -len(pair[0]))

    def scrub(self, text):
        for value, shown in self._secrets:
            if value in text:
                text = text.replace(value, shown)
        return text

    def add(self, direction, text):
        if len(self.lines) >= MAX_TRANSCRIPT_LINES:
            self.dropped += 1
            return
        text = self.scrub(text.rstrip("\r\n"))
        if len(text) > MAX_LINE_CHARS:
            text = text[:MAX_LINE_CHARS] + "... (%d characters)" % len(text)
        self.lines.append("%s: %s" % (direction, text) if direction else text)

    def note(self, text):
        """A line about the conversation rather than of it (TLS established, waiting)."""
        self.add(None, "-- " + text)

    def timed(self, step):
        """Context manager adding the seconds spent in ``step`` to ``timings``."""
        return _Timer(self, step)

    def result(self):
        lines = list(self.lines)
        if self.dropped:
            lines.append("-- %d more lines not kept" % self.dropped)
        return lines


class _Timer:
    def __init__(self, transcript, step):
        self.transcript = transcript
        self.step = step
        self.start = None

    def __enter__(self):
        self.start = self.transcript._clock()  # pylint: disable=protected-access
        return self

    def __exit__(self, *exc_info):
        spent = self.transcript._clock() - self.start  # pylint: disable=protected-access
        timings = self.transcript.timings
        timings[self.step] = round(timings.get(self.step, 0.0) + spent, 3)
        return False


def xoauth2_response(user, token):
    """The XOAUTH2 client response (before base64): ``user=..^Aauth=Bearer ..^A^A``."""
    return "user=%s\x01auth=Bearer %s\x01\x01" % (user, token)


def oauthbearer_response(user, token, host, port):
    """The OAUTHBEARER client response of RFC 7628 with its RFC 5801 gs2 header."""
    authzid = user.replace("=", "=3D").replace(",", "=2C")
    return "n,a=%s,\x01host=%s\x01port=%d\x01auth=Bearer %s\x01\x01" % (authzid, host, port, token)


def b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def tls_context(verify):
    """An SSL context for ``verify`` as the connection options give it: True, a CA file, or False."""
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return ssl.create_default_context()


def describe_tls(sock):
    try:
        return "TLS established: %s, %s" % (sock.version(), sock.cipher()[0])
    except (AttributeError, TypeError, IndexError):
        return "TLS established"


def decode_challenge(text):
    """The JSON error of a ``334`` challenge after a rejected token, or the raw text when it is not JSON."""
    try:
        decoded = base64.b64decode(text.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeError):
        return {"raw": text}
    try:
        value = json.loads(decoded)
    except ValueError:
        return {"raw": decoded}
    return value if isinstance(value, dict) else {"raw": decoded}


class _TracingMixin:
    """Records every line ``smtplib`` sends and receives into a ``Transcript``."""

    transcript = None
    _sending_message = False

    def send(self, s):
        text = s.decode("utf-8", "replace") if isinstance(s, bytes) else s
        if self._sending_message:
            self._sending_message = False
            self.transcript.add("C", "<message: %d bytes, ending with CRLF.CRLF>" % len(text))
        else:
            for line in text.rstrip("\r\n").split("\r\n"):
                self.transcript.add("C", line)
        super().send(s)

    def getreply(self):
        code, message = super().getreply()
        # After "354 Start mail input" smtplib sends the whole message in one piece.
        self._sending_message = code == 354
        lines = message.decode("utf-8", "replace").split("\n") if message else [""]
        for index, line in enumerate(lines):
            separator = " " if index == len(lines) - 1 else "-"
            self.transcript.add("S", ("%s%s%s" % (code, separator, line)).rstrip())
        return code, message


class TracingSMTP(_TracingMixin, smtplib.SMTP):
    """``smtplib.SMTP`` with a transcript."""


class TracingSMTPS(_TracingMixin, smtplib.SMTP_SSL):
    """``smtplib.SMTP_SSL`` (implicit TLS, port 465) with a transcript."""


class _MailConnection:
    """Where a mail client connects and how: host, port, ``starttls`` or ``implicit`` TLS, trust, timeout."""

    def __init__(self, host, port, transcript, tls, verify=True, timeout=30):
        if tls not in ("starttls", "implicit"):
            raise ValueError("tls must be starttls or implicit, not %r" % tls)
        self.host = host
        self.port = port
        self.tls = tls
        self.transcript = transcript
        self.context = tls_context(verify)
        self.timeout = timeout


class SmtpSubmission(_MailConnection):
    """One SMTP submission session: connect, STARTTLS, AUTH with a token, send, QUIT.

    Each step raises ``MailProtocolError`` naming the step and carrying the server's exact answer.
    """

    def __init__(self, host, port, transcript, tls="starttls", verify=True, timeout=30, local_hostname=None):
        super().__init__(host, port, transcript, tls, verify, timeout)
        self.local_hostname = local_hostname or socket.gethostname() or "localhost"
        self.smtp = None
        self.mechanism = None

    # -- connection -------------------------------------------------------------------------
    def connect(self):
        cls = TracingSMTPS if self.tls == "implicit" else TracingSMTP
        options = dict(local_hostname=self.local_hostname, timeout=self.timeout)
        if self.tls == "implicit":
            options["context"] = self.context
        smtp = cls(**options)
        smtp.transcript = self.transcript
        # smtplib names the TLS server (SNI, certificate check) from _host, which only a constructor
        # that also connects would set; connecting separately keeps the greeting in the connect timing.
        smtp._host = self.host  # pylint: disable=protected-access
        how = "implicit TLS" if self.tls == "implicit" else "plain, then STARTTLS"
        self.transcript.note("connecting to %s:%d (%s)" % (self.host, self.port, how))
        with self.transcript.timed("connect"):
            try:
                code, greeting = smtp.connect(self.host, self.port)
            except ssl.SSLCertVerificationError as exc:
                raise MailProtocolError("connect", "TLS certificate verification failed: %s" % exc.verify_message,
                                        transport=True) from None
            except (OSError, smtplib.SMTPException) as exc:
                raise MailProtocolError("connect", _describe_exception(exc), transport=True) from None
            self.smtp = smtp
            if code != 220:
                raise MailProtocolError("connect", _text(greeting), code=code, command="(greeting)")
            if self.tls == "implicit":
                self.transcript.note(describe_tls(smtp.sock))
            self._ehlo("connect")
        if self.tls == "starttls":
            self.starttls()

    def _ehlo(self, step):
        try:
            code, answer = self.smtp.ehlo()
        except (OSError, smtplib.SMTPException) as exc:
            raise MailProtocolError(step, _describe_exception(exc), transport=True) from None
        if code != 250:
            raise MailProtocolError(step, _text(answer), code=code, command="EHLO")

    def starttls(self):
        with self.transcript.timed("starttls"):
            if not self.smtp.has_extn("starttls"):
                raise MailProtocolError("starttls", "The server does not offer STARTTLS after EHLO.",
                                        command="EHLO")
            try:
                code, answer = self.smtp.docmd("STARTTLS")
                if code != 220:
                    raise MailProtocolError("starttls", _text(answer), code=code, command="STARTTLS")
                self.smtp.sock = self.context.wrap_socket(self.smtp.sock, server_hostname=self.host)
                self.smtp.file = None
                # RFC 3207: forget what was learnt before TLS, and ask again.
                self.smtp.helo_resp = self.smtp.ehlo_resp = None
                self.smtp.esmtp_features = {}
                self.smtp.does_esmtp = False
            except ssl.SSLCertVerificationError as exc:
                raise MailProtocolError("starttls", "TLS certificate verification failed: %s" % exc.verify_message,
                                        transport=True) from None
            except (OSError, smtplib.SMTPException) as exc:
                raise MailProtocolError("starttls", _describe_exception(exc), transport=True) from None
            self.transcript.note(describe_tls(self.smtp.sock))
            self._ehlo("starttls")

    def offered_mechanisms(self):
        return [name.upper() for name in (self.smtp.esmtp_features.get("auth") or "").split()]

    # -- AUTH -------------------------------------------------------------------------------
    def choose_mechanism(self, wanted="auto"):
        """``auto`` takes XOAUTH2 (what Exchange Online and the products use), else OAUTHBEARER."""
        offered = self.offered_mechanisms()
        if wanted != "auto":
            return wanted.upper()
        for name in MECHANISMS:
            if name in offered:
                return name
        raise MailProtocolError(
            "auth", "The server offers no OAuth mechanism after EHLO (AUTH %s)." % (" ".join(offered) or "none"),
            command="EHLO")

    def authenticate(self, user, token, mechanism="auto", initial_response="auto"):
        """SASL XOAUTH2 / OAUTHBEARER with ``token`` for ``user``; returns the mechanism used.

        ``initial_response``: ``auto`` puts the response on the AUTH line only when the line stays
        within 512 octets (never for a real token), ``inline`` always (like Exchange Online clients
        that rely on its long lines), ``separate`` always after the server's ``334``.
        """
        mechanism = self.choose_mechanism(mechanism)
        self.mechanism = mechanism
        if mechanism == "XOAUTH2":
            response = xoauth2_response(user, token)
            # Google's XOAUTH2 and Dovecot expect an empty line after an error challenge.
            acknowledgement = ""
        elif mechanism == "OAUTHBEARER":
            response = oauthbearer_response(user, token, self.host, self.port)
            # RFC 7628 3.2.3: the client answers an error challenge with a single %x01.
            acknowledgement = b64("\x01")
        else:
            raise MailProtocolError("auth", "Unsupported mechanism %s." % mechanism)
        encoded = b64(response)
        summary = "<%s response for user=%s, token redacted, %d bytes>" % (mechanism, user, len(encoded))
        self.transcript.add_secret(encoded, summary)
        self.transcript.add_secret(token, "<token>")
        command = "AUTH %s %s" % (mechanism, encoded)
        inline = initial_response == "inline" or (initial_response == "auto" and len(command) + 2 <= MAX_AUTH_LINE)
        with self.transcript.timed("auth"):
            try:
                if inline:
                    code, answer = self._raw_command(command, "AUTH %s %s" % (mechanism, summary))
                else:
                    code, answer = self._raw_command("AUTH %s" % mechanism)
                    if code == 334:
                        code, answer = self._raw_command(encoded, summary)
                challenge = None
                if code == 334:
                    # A rejected token: the server explains in JSON and waits for the client to finish.
                    challenge = decode_challenge(_text(answer))
                    self.transcript.note("error challenge: %s" % json.dumps(challenge, sort_keys=True))
                    code, answer = self._raw_command(acknowledgement, "<empty response, ending the exchange>"
                                                     if mechanism == "XOAUTH2" else "<%x01, ending the exchange>")
            except (OSError, smtplib.SMTPException) as exc:
                raise MailProtocolError("auth", _describe_exception(exc), transport=True) from None
        if code != 235:
            raise MailProtocolError("auth", _text(answer), code=code, command="AUTH %s" % mechanism,
                                    challenge=challenge)
        return mechanism

    def _raw_command(self, line, shown=None):
        """Send one line (shown in the transcript as ``shown``) and read the reply."""
        smtp = self.smtp
        if smtp.sock is None:
            raise smtplib.SMTPServerDisconnected("not connected")
        self.transcript.add("C", line if shown is None else shown)
        try:
            smtp.sock.sendall((line + "\r\n").encode("ascii"))
        except OSError:
            smtp.close()
            raise
        return smtp.getreply()

    # -- sending ----------------------------------------------------------------------------
    def send(self, sender, recipients, message_bytes):
        """MAIL FROM, RCPT TO for each recipient, DATA; raises on the first refusal."""
        with self.transcript.timed("send"):
            try:
                code, answer = self.smtp.mail(sender)
                if code != 250:
                    raise MailProtocolError("send", _text(answer), code=code, command="MAIL FROM")
                for recipient in recipients:
                    code, answer = self.smtp.rcpt(recipient)
                    if code not in (250, 251):
                        raise MailProtocolError("send", _text(answer), code=code, command="RCPT TO:<%s>" % recipient)
                code, answer = self.smtp.data(message_bytes)
                if code != 250:
                    raise MailProtocolError("send", _text(answer), code=code, command="DATA")
            except smtplib.SMTPResponseException as exc:
                raise MailProtocolError("send", _text(exc.smtp_error), code=exc.smtp_code, command="DATA") from None
            except (OSError, smtplib.SMTPException) as exc:
                raise MailProtocolError("send", _describe_exception(exc), transport=True) from None
        return _text(answer)

    def quit(self):
        if self.smtp is None:
            return
        try:
            if self.smtp.sock is not None:
                self.smtp.quit()
        except (OSError, smtplib.SMTPException):
            pass  # the server may already have closed; nothing is left to say
        finally:
            self.smtp.close()


# -- IMAP ---------------------------------------------------------------------------------------
class _ImapTracingMixin:
    transcript = None
    _last_sent = None

    def send(self, data):
        text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
        # imaplib sends a continuation response and its CRLF separately: an empty response is only
        # visible as a CRLF right after an empty send.
        if text == "\r\n":
            if self._last_sent == "":
                self.transcript.add("C", "<empty response>")
        elif text:
            self.transcript.add("C", text)
        self._last_sent = text
        super().send(data)

    def readline(self):
        line = super().readline()
        self.transcript.add("S", line.decode("utf-8", "replace"))
        return line


def _imap_classes():
    class TracingIMAP(_ImapTracingMixin, imaplib.IMAP4):
        """``imaplib.IMAP4`` with a transcript (STARTTLS on 143)."""

    class TracingIMAPS(_ImapTracingMixin, imaplib.IMAP4_SSL):
        """``imaplib.IMAP4_SSL`` with a transcript (implicit TLS on 993)."""

    return TracingIMAP, TracingIMAPS


TracingIMAP, TracingIMAPS = _imap_classes()


class ImapReader(_MailConnection):
    """Signs in to a mailbox with XOAUTH2 and waits for a message to arrive in its INBOX."""

    def __init__(self, host, port, transcript, tls="implicit", verify=True, timeout=30):
        super().__init__(host, port, transcript, tls, verify, timeout)
        self.imap = None

    def login(self, user, token):
        self.transcript.note("connecting to IMAP %s:%d (%s)" % (self.host, self.port, self.tls))
        try:
            if self.tls == "implicit":
                imap = TracingIMAPS.__new__(TracingIMAPS)
                imap.transcript = self.transcript
                TracingIMAPS.__init__(imap, self.host, self.port, ssl_context=self.context, timeout=self.timeout)
            else:
                imap = TracingIMAP.__new__(TracingIMAP)
                imap.transcript = self.transcript
                TracingIMAP.__init__(imap, self.host, self.port, timeout=self.timeout)
                imap.starttls(ssl_context=self.context)
            self.imap = imap
            self.transcript.note(describe_tls(imap.sock))
        except ssl.SSLCertVerificationError as exc:
            raise MailProtocolError("verify", "IMAP TLS certificate verification failed: %s" % exc.verify_message,
                                    transport=True) from None
        except (OSError, imaplib.IMAP4.error) as exc:
            raise MailProtocolError("verify", "IMAP: %s" % _describe_exception(exc), transport=True) from None
        encoded = b64(xoauth2_response(user, token))
        self.transcript.add_secret(encoded, "<XOAUTH2 response for user=%s, token redacted, %d bytes>"
                                   % (user, len(encoded)))
        self.transcript.add_secret(token, "<token>")
        challenges = []

        def respond(challenge):
            if not challenges:
                challenges.append(None)
                return xoauth2_response(user, token).encode("utf-8")
            challenges.append(decode_challenge(base64.b64encode(challenge).decode("ascii")))
            return b""

        try:
            imap.authenticate("XOAUTH2", respond)
        except imaplib.IMAP4.error as exc:
            challenge = challenges[1] if len(challenges) > 1 else None
            raise MailProtocolError("verify", "IMAP AUTHENTICATE XOAUTH2 as %s failed: %s" % (user, _imap_text(exc)),
                                    command="AUTHENTICATE XOAUTH2", challenge=challenge) from None
        except OSError as exc:
            raise MailProtocolError("verify", "IMAP: %s" % _describe_exception(exc), transport=True) from None

    def wait_for(self, test_id, timeout, interval=1.0, sleep=time.sleep, clock=time.monotonic, window=50):
        """Poll INBOX until a message with our ``X-Mailauth-Smoke-Test`` header is there; True if it came.

        Only the newest ``window`` messages' headers are read on each poll, so a busy mailbox costs no more.
        """
        deadline = clock() + timeout
        while True:
            try:
                if self._present(test_id, window):
                    return True
            except (OSError, imaplib.IMAP4.error) as exc:
                raise MailProtocolError("verify", "IMAP: %s" % _imap_text(exc), transport=True) from None
            if clock() + interval > deadline:
                return False
            sleep(interval)

    def _present(self, test_id, window):
        status, data = self.imap.select("INBOX", readonly=True)
        if status != "OK":
            raise imaplib.IMAP4.error("SELECT INBOX: %s" % _imap_text(data))
        count = int(data[0] or 0)
        if count == 0:
            return False
        first = max(1, count - window + 1)
        status, data = self.imap.fetch("%d:%d" % (first, count),
                                       "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID %s)])" % SMOKE_TEST_HEADER.upper())
        if status != "OK":
            raise imaplib.IMAP4.error("FETCH: %s" % _imap_text(data))
        parser = email.parser.BytesHeaderParser()
        for item in data:
            if isinstance(item, tuple) and len(item) == 2:
                headers = parser.parsebytes(item[1])
                if (headers.get(SMOKE_TEST_HEADER) or "").strip() == test_id:
                    return True
        return False

    def logout(self):
        if self.imap is None:
            return
        try:
            self.imap.logout()
        except (OSError, imaplib.IMAP4.error):
            pass  # already gone; nothing left to say


def _text(answer):
    if isinstance(answer, bytes):
        answer = answer.decode("utf-8", "replace")
    return " ".join(line.strip() for line in (answer or "").split("\n")).strip()


def _imap_text(exc):
    text = str(exc.args[0]) if getattr(exc, "args", None) else str(exc)
    # imaplib shows server data as a list of bytes literals: keep only the text.
    return re.sub(r"\[b'(.*?)'\]", r"\1", text)


def _describe_exception(exc):
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "the server closed the connection (%s)" % (exc or "no reason given")
    if isinstance(exc, socket.timeout):
        return "no answer in time (timeout)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "host name not found (%s)" % exc.strerror
    if isinstance(exc, ssl.SSLError):
        return "TLS failed: %s" % (exc.reason or exc)
    return "%s: %s" % (type(exc).__name__, exc)
