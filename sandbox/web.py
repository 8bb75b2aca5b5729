"""A small HTTPS server framework shared by the sandbox's services (identity, graph, exchange).

Each service listens on its own loopback port, like login.microsoftonline.com, graph.microsoft.com
and outlook.office365.com are separate hosts. Realism controls (latency, 429, 503, dropped
connections) are applied here, before routing, to every request except the control API."""
import datetime
import http.server
import json
import re
import socket
import ssl
import threading
import time
import urllib.parse
import uuid

CONTROL_PREFIX = "/_sandbox/"


class Request:
    def __init__(self, handler, service, body):
        self.handler = handler
        self.service = service
        self.method = handler.command
        parsed = urllib.parse.urlsplit(handler.path)
        self.raw_path = handler.path
        self.path = urllib.parse.unquote(parsed.path)
        if service == "graph":
            # Graph ignores empty path segments; msgraph-sdk sends e.g. /v1.0//applications (base URL with a
            # trailing slash + a template that starts with one), as azure.azcollection's AD modules do.
            self.path = re.sub("/{2,}", "/", self.path)
        self.query_string = parsed.query
        self.query = {k: v[0] for k, v in urllib.parse.parse_qs(parsed.query, keep_blank_values=True).items()}
        self.headers = handler.headers
        self.body = body
        self.params = {}
        self.route_name = None
        self.request_id = str(uuid.uuid4())
        self.client_request_id = self.headers.get("client-request-id") or self.request_id
        self.tenant = None  # set by services that resolve one, for the request log
        self.drop_after_apply = False  # realism: answer this request by closing the connection, once done
        self.log_fields = {}  # more fields for this request's log entry (e.g. Exchange's cmdlet)
        self._json = None

    @property
    def base_url(self):
        """scheme://host:port as the client addressed us: every URL we return is built from it."""
        host = self.headers.get("Host") or "127.0.0.1:%d" % self.handler.server.server_port
        return "https://" + host

    def header(self, name, default=None):
        return self.headers.get(name, default)

    def json(self):
        if self._json is None:
            if not self.body:
                self._json = {}
            else:
                self._json = json.loads(self.body.decode("utf-8"))
        return self._json

    def form(self):
        return {k: v[0] for k, v in urllib.parse.parse_qs(self.body.decode("utf-8"), keep_blank_values=True).items()}

    def bearer(self):
        auth = self.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            return auth[7:].strip()
        return None


class Response:
    def __init__(self, status=200, body=b"", headers=None, content_type=None):
        self.status = status
        self.headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode("utf-8")
            content_type = content_type or "application/json; charset=utf-8"
        elif isinstance(body, str):
            body = body.encode("utf-8")
        self.body = body
        if content_type:
            self.headers.setdefault("Content-Type", content_type)


class DropConnection(Exception):
    """Raised by a handler (or realism) to close the socket without answering."""


def json_response(status, obj, headers=None):
    return Response(status, obj, headers)


def http_date(ts=None):
    return datetime.datetime.fromtimestamp(ts or time.time(), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


class Router:
    """Routes are (method, regex, handler, name). Patterns use {name} for one path segment; a
    pattern starting with ^ is a raw regex (Graph's OData key syntax needs that)."""

    def __init__(self):
        self.routes = []

    def add(self, method, pattern, handler, name=None):
        if pattern.startswith("^"):
            regex = re.compile(pattern)
        else:
            regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")
        self.routes.append((method.upper(), regex, handler, name or pattern))

    def route(self, method, pattern, name=None):
        def decorator(func):
            self.add(method, pattern, func, name)
            return func
        return decorator

    def match(self, method, path):
        """Returns (handler, params, name) or (None, None, allowed_methods)."""
        allowed = set()
        for route_method, regex, handler, name in self.routes:
            found = regex.match(path)
            if found:
                if route_method == method:
                    return handler, found.groupdict(), name
                allowed.add(route_method)
        return None, None, allowed


class Service:
    """One imitated host. Subclasses fill `self.router` and may override `not_found`/`error`."""

    name = "service"

    def __init__(self, ctx):
        self.ctx = ctx
        self.router = Router()

    def not_found(self, req):
        return json_response(404, {"error": {"code": "NotFound", "message": "No route for %s %s" % (req.method, req.path)}})

    def method_not_allowed(self, req, allowed):
        return json_response(405, {"error": {"code": "MethodNotAllowed", "message": "Allowed: %s" % ", ".join(sorted(allowed))}})

    def internal_error(self, req, exc):
        return json_response(500, {"error": {"code": "InternalServerError", "message": "%s: %s" % (type(exc).__name__, exc)}})

    def throttled(self, req, retry_after):
        return json_response(429, {"error": {"code": "TooManyRequests",
                                             "message": "Too many requests. Retry after %d seconds." % retry_after}},
                             {"Retry-After": str(retry_after)})

    def unavailable(self, req, retry_after):
        return json_response(503, {"error": {"code": "ServiceUnavailable",
                                             "message": "The service is temporarily unavailable."}},
                             {"Retry-After": str(retry_after)})

    def dispatch(self, req):
        handler, params, name = self.router.match(req.method, req.path)
        if handler is None:
            if name:
                return self.method_not_allowed(req, name)
            return self.not_found(req)
        req.params = params
        req.route_name = name
        return handler(req)


def make_handler(service, control):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in separate writes: without TCP_NODELAY, Nagle plus delayed ACK
        # would add ~40 ms to every answer on a kept-alive connection.
        disable_nagle_algorithm = True
        server_version = "mailauth-sandbox"
        sys_version = ""

        def log_message(self, fmt, *args):  # the request log replaces stderr chatter
            pass

        def _serve(self):
            started = time.time()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            req = Request(self, service.name, body)
            ctx = service.ctx
            is_control = req.path.startswith(CONTROL_PREFIX)
            try:
                if is_control:
                    resp = control.dispatch(req)
                else:
                    # Name the route first, so the log files a throttled or dropped call under its endpoint too.
                    found, params, name = service.router.match(req.method, req.path)
                    req.route_name = name if found else None
                    resp = ctx.realism.before_request(service, req)
                    if resp is None:
                        resp = service.dispatch(req)
                        if req.drop_after_apply:
                            raise DropConnection()
            except DropConnection:
                ctx.log.record(service.name, req, 0, started)
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            except Exception as exc:  # noqa: BLE001 - a bug in the sandbox must answer 500, not hang the client
                ctx.logger.exception("unhandled error in %s %s", req.method, req.path)
                resp = service.internal_error(req, exc)
            if not is_control:
                ctx.log.record(service.name, req, resp.status, started)
            self.send_response(resp.status)
            resp.headers.setdefault("request-id", req.request_id)
            resp.headers.setdefault("client-request-id", req.client_request_id)
            for key, value in resp.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(resp.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(resp.body)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve

    return Handler


class TLSServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler, ssl_context):
        self.ssl_context = ssl_context
        super().__init__(address, handler)

    def finish_request(self, request, client_address):
        # The TLS handshake happens in the connection's own thread, so a slow client cannot stall accept().
        try:
            request.settimeout(30)
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            super().finish_request(tls, client_address)
        except (ConnectionError, ssl.SSLError, socket.timeout):
            pass


def server_ssl_context(pki):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(pki.server_cert_path, pki.server_key_path)
    return context


def start_service(service, control, host, port, ssl_context):
    """Bind (falling back to an ephemeral port if `port` is taken) and serve in a thread."""
    handler = make_handler(service, control)
    try:
        server = TLSServer((host, port), handler, ssl_context)
    except OSError:
        server = TLSServer((host, 0), handler, ssl_context)
    thread = threading.Thread(target=server.serve_forever, name="sandbox-" + service.name, daemon=True)
    thread.start()
    return server
