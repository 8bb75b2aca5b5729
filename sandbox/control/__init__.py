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

    def reset_state(self, req):
        self.sandbox.reseed()
        self.ctx.log.reset()
        return json_response(200, self.sandbox.connection_info())
