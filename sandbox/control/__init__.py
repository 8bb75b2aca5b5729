"""The control API (/_sandbox/...) for tests, benchmarks and the demo: health, request log,
realism settings, reset. Served on every port; never throttled and never logged. Services add
their own control routes (e.g. approving a device code) through `ctx.control.router`."""
from ..web import Service, json_response


class ControlService(Service):
    name = "control"

    def __init__(self, ctx, sandbox):
        super().__init__(ctx)
        self.sandbox = sandbox
        r = self.router
        r.add("GET", "/_sandbox/health", self.health)
        r.add("GET", "/_sandbox/connection", self.connection)
        r.add("GET", "/_sandbox/requests", self.requests)
        r.add("DELETE", "/_sandbox/requests", self.reset_requests)
        r.add("GET", "/_sandbox/realism", self.get_realism)
        r.add("PUT", "/_sandbox/realism", self.put_realism)
        r.add("DELETE", "/_sandbox/realism", self.reset_realism)
        r.add("POST", "/_sandbox/reset", self.reset_state)
        r.add("POST", "/_sandbox/tenants", self.add_tenants)
        r.add("GET", "/_sandbox/tokens", self.tokens)
        r.add("DELETE", "/_sandbox/tokens", self.forget_tokens)

    def health(self, req):
        return json_response(200, {"status": "ok", "services": self.ctx.urls, "objects": self.ctx.store.count()})

    def connection(self, req):
        return json_response(200, self.sandbox.connection_info())

    def requests(self, req):
        summary = self.ctx.log.summary(with_entries=req.query.get("entries") in ("1", "true"))
        tenant = req.query.get("tenant")
        if tenant and "entries" in summary:
            summary["entries"] = [e for e in summary["entries"] if e["tenant"] == tenant]
        return json_response(200, summary)

    def reset_requests(self, req):
        self.ctx.log.reset()
        return json_response(204, b"")

    def tokens(self, req):
        issued = self.ctx.tokens.issued_tokens(req.query.get("kind"))
        return json_response(200, {"count": len(issued), "value": issued})

    def forget_tokens(self, req):
        self.ctx.tokens.forget_issued()
        return json_response(204, b"")

    def get_realism(self, req):
        return json_response(200, self.ctx.realism.snapshot())

    def put_realism(self, req):
        try:
            return json_response(200, self.ctx.realism.configure(**req.json()))
        except (ValueError, TypeError) as exc:
            return json_response(400, {"error": {"code": "BadRequest", "message": str(exc)}})

    def reset_realism(self, req):
        self.ctx.realism.reset()
        return json_response(200, self.ctx.realism.snapshot())

    def add_tenants(self, req):
        """{"extra": N}: tenants tenant001..tenantN exist afterwards, each made like the seed's first."""
        count = (req.json() or {}).get("extra")
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= 500:
            return json_response(400, {"error": {"code": "BadRequest", "message":
                                                 "extra must be a whole number from 0 to 500, e.g. {\"extra\": 48}"}})
        added = self.sandbox.add_tenants(count)
        return json_response(200, {"added": added, "tenants": len(self.ctx.directory.tenants())})

    def reset_state(self, req):
        self.sandbox.reseed()
        self.ctx.log.reset()
        return json_response(200, self.sandbox.connection_info())
