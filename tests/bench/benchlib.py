"""What the benchmark scripts share: a throw-away sandbox with realism's latency, playbook runs timed
against it, an inventory of N client tenants, and the sandbox's request log summed up per service (reads
against writes) and per tenant. Numbers only; nothing here asserts."""
import collections
import json
import os
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "sandbox"))
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))

from conftest import SandboxProcess  # noqa: E402  (tests/sandbox/conftest.py: the sandbox as tests drive it)
from site_helpers import VAULT_PASSWORD, connection_options, playbook_command, recap  # noqa: E402

CALLBACKS = os.path.join(ROOT, "tests", "bench", "callback_plugins")
WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")
# Graph POSTs that only read.
GRAPH_READ_POSTS = ("getByIds", "getMemberObjects", "checkMemberGroups")


class Sandbox(SandboxProcess):
    """A sandbox in a temporary state directory, with `latency_ms` on every request and no faults."""

    def __init__(self, latency_ms, extra_tenants=0):
        self.tmp = tempfile.TemporaryDirectory(prefix="bench-sandbox-")
        super().__init__(self.tmp.name)
        self.latency_ms = latency_ms
        self.extra_tenants = extra_tenants
        self.token_cache = tempfile.mkdtemp(prefix="token-cache-", dir=self.tmp.name)

    def __enter__(self):
        args = ["up"] + (["--extra-tenants", str(self.extra_tenants)] if self.extra_tenants else [])
        self.cli(*args)
        self.realism()
        return self

    def __exit__(self, *exc):
        self.cli("down")
        self.tmp.cleanup()

    def realism(self):
        self.control("PUT", "/realism", {"latency_ms": self.latency_ms, "services": []})

    def reset(self):
        """Back to the seed (the extra tenants stay), request log cleared, latency kept, and a new token cache
        for the playbooks: the reseeded automation identities have new object ids, so tokens cached before
        would name service principals that no longer exist (Exchange refuses them: no directory role)."""
        answer = self.session().post(self.conn["control_url"] + "/reset", timeout=300)
        answer.raise_for_status()
        self.realism()
        self.token_cache = tempfile.mkdtemp(prefix="token-cache-", dir=self.tmp.name)

    def requests_log(self):
        return self.control("GET", "/requests?entries=1")


def kind(entry):
    """'read', 'write', 'sign-in' (identity platform), 'mail' (SMTP/IMAP) or 'ews' of one log entry."""
    service, method = entry["service"], entry["method"]
    if service == "identity":
        return "sign-in"
    if service in ("smtp", "smtps", "imap", "imaps"):
        return "mail"
    if service == "exchange":
        cmdlet = entry.get("cmdlet")
        if not cmdlet:
            return "ews"  # Exchange Web Services on the same host: SOAP, no cmdlet
        return "read" if cmdlet.split("-")[0] in ("Get", "Test") else "write"
    if method in WRITE_METHODS and not (entry.get("route") or entry.get("path", "")).endswith(GRAPH_READ_POSTS):
        return "write"
    return "read"


def summarise(log):
    """{total, by_service: {service: {read, write, ...}}, by_tenant: {tenant id: total}, writes: {route: n}}."""
    by_service = collections.defaultdict(collections.Counter)
    by_tenant = collections.Counter()
    writes = collections.Counter()
    for entry in log["entries"]:
        what = kind(entry)
        by_service[entry["service"]][what] += 1
        by_tenant[entry.get("tenant")] += 1
        if what == "write":
            name = entry.get("cmdlet") or "%s %s" % (entry["method"], entry.get("route") or entry["path"])
            writes["%s %s" % (entry["service"], name)] += 1
    return {"total": log["total"], "by_service": {k: dict(v) for k, v in sorted(by_service.items())},
            "by_tenant": dict(by_tenant), "writes": dict(writes), "by_status": log["by_status"]}


def service_line(summary):
    """'graph 40 (12 w), exchange 20 (6 w), identity 8, smtp 9' from a summary."""
    parts = []
    for service, counts in summary["by_service"].items():
        total = sum(counts.values())
        writes = counts.get("write", 0)
        parts.append("%s %d%s" % (service, total, " (%d w)" % writes if service in ("graph", "exchange") else ""))
    return ", ".join(parts)


def reads_writes(summary):
    counts = collections.Counter()
    for service_counts in summary["by_service"].values():
        counts.update(service_counts)
    return counts


def run_playbook(sandbox, playbook, *extra, env=None):
    """ansible-playbook against the sandbox, timed; the request log cleared before and read after.

    Returns {seconds, recap, log (summary), stdout, play_times}; exits with the output when it fails."""
    sandbox.control("DELETE", "/requests")
    argv, run_env = playbook_command(sandbox, playbook, *extra)
    times = tempfile.NamedTemporaryFile(prefix="bench-plays-", suffix=".json", delete=False)
    times.close()
    # XDG_CACHE_HOME: the modules' token cache (token_cache_path's default) of this sandbox since its last reset.
    run_env.update(ANSIBLE_CALLBACK_PLUGINS=CALLBACKS, ANSIBLE_CALLBACKS_ENABLED="bench_play_times",
                   BENCH_PLAY_TIMES_FILE=times.name, XDG_CACHE_HOME=sandbox.token_cache, **(env or {}))
    started = time.monotonic()
    result = subprocess.run(argv, cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=3600, check=False)
    seconds = time.monotonic() - started
    with open(times.name, encoding="utf-8") as handle:
        play_times = json.load(handle) if os.path.getsize(times.name) else []
    os.unlink(times.name)
    if result.returncode:
        sys.exit("ansible-playbook %s failed (rc %d):\n%s\n%s" % (
            playbook, result.returncode, result.stdout[-6000:], result.stderr[-3000:]))
    hosts = recap(result.stdout)
    return {"seconds": seconds, "recap": hosts, "log": summarise(sandbox.requests_log()), "stdout": result.stdout,
            "play_times": play_times, "changed": sum(counts["changed"] for counts in hosts.values())}


def people(sandbox, key):
    """(enaio sender, its sending user, XLReporter sender) of a tenant: contoso's mailboxes, in its domain."""
    domain = sandbox.tenant(key)["default_domain"]
    return "enaio@" + domain, "alice@" + domain, "reports@" + domain


def tenant_keys(sandbox, count):
    """contoso first, then the extra tenants made like it (tenant001, ...); fabrikam (SMTP AUTH off) is left out."""
    keys = ["contoso"] + sorted(t["key"] for t in sandbox.conn["tenants"] if t["key"].startswith("tenant"))
    if len(keys) < count:
        raise SystemExit("the sandbox has %d tenants like contoso, %d asked" % (len(keys), count))
    return keys[:count]


def write_inventory(sandbox, root, keys, servers=None, server_vars=None, extra_inventory=()):
    """An inventory of client tenants `keys`, each with enaio and XLReporter (names enaio-mail, xlreporter-mail),
    beside which the secret store lives; `servers` {group: {vars, hosts}} under mailauth_servers.

    Returns {args}: the ansible-playbook arguments (-i ..., --vault-password-file ...)."""
    conn = sandbox.conn
    tenants = {}
    for key in keys:
        tenant = sandbox.tenant(key)
        sender, user, reports = people(sandbox, key)
        tenants[key] = {
            "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "mailauth_m365_connection": connection_options(sandbox, key),
            "mailauth_tenant_domain": tenant["default_domain"],
            "mailauth_app_defaults": {"smoke_test_smtp_host": conn["smtp"]["host"],
                                      "smoke_test_smtp_port": conn["smtp"]["port"]},
            "mailauth_apps": [{"product": "enaio", "sender": sender, "users": [user]},
                              {"product": "xlreporter", "sender": reports}]}
    inventory = {"all": {"vars": dict(server_vars or {}), "children": {
        "mailauth_tenants": {"hosts": tenants}, "mailauth_servers": {"children": servers or {}}}}}
    os.makedirs(os.path.join(root, "inventory"), exist_ok=True)
    path = os.path.join(root, "inventory", "hosts.yml")
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(inventory, handle)
    password_file = os.path.join(root, "vault-password")
    with open(os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
        handle.write(VAULT_PASSWORD + "\n")
    args = []
    for extra in extra_inventory:
        args += ["-i", extra]
    return {"args": args + ["-i", path, "--vault-password-file", password_file]}


def fmt_seconds(seconds):
    return "%.1f s" % seconds
