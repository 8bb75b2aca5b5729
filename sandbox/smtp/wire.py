"""Line-based TLS listeners for the mail protocols (SMTP submission, IMAP): one thread per
connection, like the sandbox's HTTPS services, so realism's latency can simply sleep.

A protocol is a class with `__init__(conn, listener)` and `run()`; it reads with `conn.readline()` /
`conn.read(n)`, writes with `conn.send(...)` and may switch to TLS with `conn.starttls()`."""
import socket
import socketserver
import ssl
import threading
import time
import uuid

MAX_LINE = 1 << 20      # a command line (an AUTH line carries a whole token: no 1 KB limit, as Exchange)
IDLE_TIMEOUT = 120


class Closed(Exception):
    """The client went away, or the session must end without another word."""


class LineTooLong(Exception):
    pass


class Connection:
    """A client socket with a byte buffer; `starttls` drops whatever plaintext was read ahead."""

    def __init__(self, sock, tls_context):
        self.sock = sock
        self.tls_context = tls_context
        self.buffer = b""
        self.tls = isinstance(sock, ssl.SSLSocket)
        try:
            self.peer = sock.getpeername()[0]
        except OSError:
            self.peer = "127.0.0.1"

    def _fill(self):
        try:
            chunk = self.sock.recv(65536)
        except (OSError, ssl.SSLError):
            raise Closed()
        if not chunk:
            raise Closed()
        self.buffer += chunk

    def readline(self, limit=MAX_LINE):
        """One line without its CRLF (bytes)."""
        while True:
            end = self.buffer.find(b"\n")
            if end >= 0:
                line, self.buffer = self.buffer[:end + 1], self.buffer[end + 1:]
                return line.rstrip(b"\r\n")
            if len(self.buffer) > limit:
                self.buffer = b""
                raise LineTooLong()
            self._fill()

    def read(self, size):
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        try:
            self.sock.sendall(data)
        except (OSError, ssl.SSLError):
            raise Closed()

    def starttls(self):
        self.buffer = b""  # nothing sent before the handshake may count as sent inside TLS
        try:
            self.sock = self.tls_context.wrap_socket(self.sock, server_side=True)
        except (OSError, ssl.SSLError):
            raise Closed()
        self.tls = True

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Session:
    """What every protocol session has; subclasses set `protocol` and define `run` and `log_fields`."""

    protocol = None

    def __init__(self, conn, listener):
        self.conn = conn
        self.listener = listener
        self.mail = listener.mail
        self.ctx = listener.mail.ctx
        self.settings = listener.settings
        self.session_id = str(uuid.uuid4())
        self.tenant = None          # the tenant of the identity signed in, for the request log
        self.identity = None
        self.done = False

    def log_fields(self):
        return {"tls": self.conn.tls, "authenticated": self.identity.name if self.identity else None}


class Listener(socketserver.ThreadingTCPServer):
    """One listening port: `protocol` speaks on it, `implicit_tls` wraps the socket on accept."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, mail, name, protocol, host, port, tls_context, implicit_tls):
        self.mail = mail            # the MailService: context, settings, store access
        self.name = name
        self.protocol = protocol
        self.tls_context = tls_context
        self.implicit_tls = implicit_tls
        try:
            super().__init__((host, port), _Handler)
        except OSError:
            super().__init__((host, 0), _Handler)
        self.server_port = self.server_address[1]
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, name="sandbox-" + name,
                                       daemon=True)

    def start(self):
        self.thread.start()
        return self

    @property
    def settings(self):
        return self.mail.listener_settings(self.name)


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        server = self.server
        sock = self.request
        sock.settimeout(IDLE_TIMEOUT)
        # Replies go out line by line: without this, Nagle's algorithm holds each back ~40 ms.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if server.implicit_tls:
            try:
                sock = server.tls_context.wrap_socket(sock, server_side=True)
            except (OSError, ssl.SSLError):
                return
        conn = Connection(sock, server.tls_context)
        session = server.protocol(conn, server)
        started = time.time()
        try:
            session.run()
        except (Closed, socket.timeout):
            pass
        except Exception:  # noqa: BLE001 - a bug must end one session, not the listener
            server.mail.ctx.logger.exception("unhandled error in a %s session", server.name)
        finally:
            server.mail.log_session(session, started)
            conn.close()
