"""What every service of one sandbox process shares: store, keys, tokens, realism, request log."""
import collections
import logging
import random
import threading
import time

from .web import DropConnection

REALISM_DEFAULTS = {
    "latency_ms": 0,            # added to every request
    "throttle_rate": 0.0,       # share of requests answered 429 with Retry-After
    "retry_after": 1,           # seconds announced in Retry-After
    "unavailable_rate": 0.0,    # share answered 503 with Retry-After
    "drop_rate": 0.0,           # share whose connection is closed without an answer
    "drop_after_apply": 0.0,    # share of those drops that strike after the request was carried out
    "replication_delay": [0.0, 0.0],  # new objects stay invisible for uniform(min, max) seconds
    "services": ["graph", "exchange"],  # where throttling/unavailability/drops apply
    "seed": None,               # RNG seed, so a faulty run can be replayed
}


class Realism:
    def __init__(self):
        self.lock = threading.Lock()
        self.settings = dict(REALISM_DEFAULTS)
        self.rng = random.Random()

    def configure(self, **changes):
        unknown = set(changes) - set(REALISM_DEFAULTS)
        if unknown:
            raise ValueError("unknown realism settings: %s (known: %s)" % (", ".join(sorted(unknown)),
                                                                           ", ".join(sorted(REALISM_DEFAULTS))))
        with self.lock:
            self.settings.update(changes)
            delay = self.settings["replication_delay"]
            if isinstance(delay, (int, float)):
                self.settings["replication_delay"] = [float(delay), float(delay)]
            if "seed" in changes:
                self.rng = random.Random(changes["seed"])
        return dict(self.settings)

    def reset(self):
        with self.lock:
            self.settings = dict(REALISM_DEFAULTS)
            self.rng = random.Random()

    def snapshot(self):
        with self.lock:
            return dict(self.settings)

    def fault(self, service_name):
        """Latency, then the fault that strikes this request, if any: None, "drop", "throttled" or
        "unavailable". For services that are not HTTP (SMTP, IMAP) as well."""
        with self.lock:
            settings = dict(self.settings)
            roll = self.rng.random()
        if settings["latency_ms"]:
            time.sleep(settings["latency_ms"] / 1000.0)
        if service_name not in settings["services"]:
            return None
        edge = settings["drop_rate"]
        if roll < edge:
            return "drop"
        if roll < edge + settings["throttle_rate"]:
            return "throttled"
        edge += settings["throttle_rate"]
        if roll < edge + settings["unavailable_rate"]:
            return "unavailable"
        return None

    def before_request(self, service, req):
        """Latency, then maybe a fault. Returns a Response to send instead of routing, or None."""
        fault = self.fault(service.name)
        if fault == "drop":
            with self.lock:
                after = self.rng.random() < self.settings["drop_after_apply"]
            if not after:
                raise DropConnection()
            req.drop_after_apply = True  # carried out, then the answer is lost (web.py)
            return None
        if fault is not None:
            answer = service.throttled if fault == "throttled" else service.unavailable
            return answer(req, int(self.snapshot()["retry_after"]))
        return None

    def replication_delay(self):
        with self.lock:
            low, high = self.settings["replication_delay"]
            return self.rng.uniform(low, high) if high > 0 else 0.0


class RequestLog:
    """Every request but the control API's, with counts per endpoint and method."""

    def __init__(self, keep=100000):
        self.lock = threading.Lock()
        self.entries = collections.deque(maxlen=keep)
        self.counts = collections.Counter()
        self.statuses = collections.Counter()
        self.total = 0

    def record(self, service, req, status, started):
        self.record_event(service, req.method, req.route_name or req.path, status, started, path=req.path,
                          route=req.route_name, tenant=req.tenant, request_id=req.request_id, **req.log_fields)

    def record_event(self, service, method, name, status, started, **fields):
        """One entry, counted under "<service> <method> <name>"; `fields` must include `tenant`."""
        key = "%s %s %s" % (service, method, name)
        entry = {"time": round(started, 3), "service": service, "method": method, "status": status,
                 "ms": round((time.time() - started) * 1000, 1)}
        entry.update(fields)
        with self.lock:
            self.total += 1
            self.counts[key] += 1
            self.statuses[str(status)] += 1
            self.entries.append(entry)

    def summary(self, with_entries=False):
        with self.lock:
            out = {"total": self.total, "by_endpoint": dict(self.counts.most_common()),
                   "by_status": dict(self.statuses)}
            if with_entries:
                out["entries"] = list(self.entries)
        return out

    def reset(self):
        with self.lock:
            self.entries.clear()
            self.counts.clear()
            self.statuses.clear()
            self.total = 0


class Context:
    def __init__(self, state_dir, store, pki):
        self.state_dir = state_dir
        self.store = store
        self.pki = pki
        self.realism = Realism()
        self.log = RequestLog()
        self.logger = logging.getLogger("sandbox")
        self.urls = {}        # service name -> https://127.0.0.1:port, filled in at start
        self.services = {}    # service name -> Service
        self.tokens = None    # set by the server assembly (tokens.TokenService)
        self.started = time.time()
