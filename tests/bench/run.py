"""`make bench`: requests and wall time of the collection's main jobs against the sandbox with realism's
latency (50 ms per request and per SMTP command, no other faults). Prints numbers (and a Markdown table
for docs/performance.md); asserts nothing.

    .venv/bin/python tests/bench/run.py [--quick] [--tenants 1,10,50] [--hosts 3,6,12] [--sections ...]

Sections (all by default; --quick: tenants 1,10, hosts 3, 3 smoke runs, no azure):
  site     playbooks/site.yml for one tenant (contoso: enaio + XLReporter) and two stand-in servers:
           fresh converge, then a no-op re-run; requests per service, reads against writes
  entra    the XLReporter Entra set-up alone (xlreporter_entra.yml, entra_requests.py)
  tenants  site.yml's tenant side over 1, 10, 50 tenants like contoso (sandbox --extra-tenants), with forks
  fleet    site.yml's server side (role app_mail_config, enaio) on 3, 6, 12 real hosts of tests/fleet/fleet.sh
           (slot BENCH_FLEET_SLOT, default 8): first and no-op rollout; root only
  smoke    mail_smoke_test through Ansible against a bare smtplib script (smtplib_baseline.py)
  azure    the XLReporter set-up with azure.azcollection (azure_compare.py); root only
Environment: BENCH_QUICK=1, BENCH_TENANTS, BENCH_HOSTS, BENCH_FORKS (forks for the tenant runs; default
N up to 10 tenants, else 25), BENCH_SECTIONS, BENCH_LATENCY_MS, BENCH_JSON (write the results there)."""
import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import tempfile
import time

import benchlib
from benchlib import ROOT

SECTIONS = ("site", "entra", "tenants", "fleet", "smoke", "azure")


def load():
    return "%.1f" % os.getloadavg()[0]


def cpu_seconds():
    """CPU time of finished child processes (ansible-playbook and its workers) so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(sandbox, playbook, *args):
    before = cpu_seconds()
    run = benchlib.run_playbook(sandbox, playbook, *args)
    run["cpu"] = cpu_seconds() - before
    run["load"] = load()
    return run


def play_seconds(run, index):
    plays = run["play_times"]
    return plays[index]["end"] - plays[index]["start"] if len(plays) > index else 0.0


def rw(log, service):
    counts = log["by_service"].get(service, {})
    return "%d / %d" % (counts.get("read", 0), counts.get("write", 0))


def requests_of(log, service):
    return sum(log["by_service"].get(service, {}).values())


def head(*columns):
    """A Markdown table's header lines, after an empty line."""
    return ["", "| %s |" % " | ".join(columns), "|" + "---|" * len(columns)]


def others(log):
    return sum(requests_of(log, service) for service in log["by_service"] if service not in ("graph", "exchange"))


# --- 1. one tenant ---------------------------------------------------------------------------------
def bench_site(sandbox, results):
    sandbox.reset()
    root = tempfile.mkdtemp(prefix="bench-site-")
    servers = {"contoso_%s" % product: {"vars": {"mailauth_tenant": "contoso", "mailauth_app": "%s-mail" % product},
                                        "hosts": {"%s1.contoso.example" % product: {}}}
               for product in ("enaio", "xlreporter")}
    server_vars = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                   "app_mail_config_dir": root + "/servers/{{ inventory_hostname }}"}
    inventory = benchlib.write_inventory(sandbox, root, ["contoso"], servers, server_vars)
    rows = []
    for label in ("fresh converge", "no-op re-run"):
        run = timed_run(sandbox, "playbooks/site.yml", *inventory["args"])
        rows.append({"label": label, "seconds": run["seconds"], "tenant_play": play_seconds(run, 0),
                     "server_play": play_seconds(run, 1), "cpu": run["cpu"], "load": run["load"], "log": run["log"],
                     "changed": run["changed"]})
        print("site.yml, 1 tenant + 2 stand-in servers, %-15s %6.1f s (tenant play %.1f s, servers %.1f s, cpu %.0f s, "
              "load %s), %d requests: %s; changed %d" % (
                  label, run["seconds"], rows[-1]["tenant_play"], rows[-1]["server_play"], run["cpu"], run["load"],
                  run["log"]["total"], benchlib.service_line(run["log"]), run["changed"]), flush=True)
    print("    writes of the fresh converge: %s" % json.dumps(rows[0]["log"]["writes"]))
    results["site"] = rows


def bench_entra(sandbox, results):
    import entra_requests
    sandbox.reset()
    rows = entra_requests.measure(sandbox)
    for row in rows:
        print("xlreporter_entra.yml %-15s %6.1f s, %d requests: %s" % (
            row["label"], row["seconds"], row["total"], benchlib.service_line(row["log"])), flush=True)
    results["entra"] = rows


# --- 2. many tenants -------------------------------------------------------------------------------
def forks_for(count, forced):
    return forced or (count if count <= 10 else 25)


def bench_tenants(sandbox, results, counts, forced_forks):
    rows = []
    for count in counts:
        sandbox.reset()
        root = tempfile.mkdtemp(prefix="bench-tenants-")
        keys = benchlib.tenant_keys(sandbox, count)
        forks = forks_for(count, forced_forks)
        inventory = benchlib.write_inventory(sandbox, root, keys)
        for label in ("fresh converge", "no-op re-run"):
            run = timed_run(sandbox, "playbooks/site.yml", "-f", str(forks), *inventory["args"])
            per_tenant = sorted(total for tenant, total in run["log"]["by_tenant"].items() if tenant)
            rows.append({"tenants": count, "forks": forks, "label": label, "seconds": run["seconds"], "cpu": run["cpu"],
                         "load": run["load"], "log": run["log"], "changed": run["changed"],
                         "per_tenant_min": per_tenant[0] if per_tenant else 0,
                         "per_tenant_max": per_tenant[-1] if per_tenant else 0})
            print("site.yml tenant side, %2d tenant(s), forks %2d, %-15s %7.1f s (%.1f s per tenant, cpu %.0f s, load %s), "
                  "%d requests (%.1f per tenant, %d..%d): %s; changed %d" % (
                      count, forks, label, run["seconds"], run["seconds"] / count, run["cpu"], run["load"],
                      run["log"]["total"], run["log"]["total"] / count, rows[-1]["per_tenant_min"],
                      rows[-1]["per_tenant_max"], benchlib.service_line(run["log"]), run["changed"]), flush=True)
    results["tenants"] = rows


# --- 3. fleet rollout ------------------------------------------------------------------------------
def fleet(slot, *args):
    """tests/fleet/fleet.sh in the slot; once more when it fails (hosts can be slow to answer SSH under load)."""
    for attempt in (1, 2):
        result = subprocess.run(["bash", os.path.join(ROOT, "tests", "fleet", "fleet.sh"), *args], cwd=ROOT,
                                env=dict(os.environ, FLEET_SLOT=str(slot)), capture_output=True, text=True, check=False)
        if result.returncode == 0:
            return result
        print("fleet.sh %s failed (attempt %d): %s" % (" ".join(args), attempt, result.stderr.strip()[-1000:]), flush=True)
    raise SystemExit("fleet.sh %s failed twice" % " ".join(args))


def bench_fleet(sandbox, results, counts, slot):
    if os.geteuid() != 0:
        print("fleet: skipped, needs root (tests/fleet/fleet.sh runs systemd-nspawn hosts)")
        results["fleet"] = {"skipped": "not root"}
        return
    rows = []
    inventory_path = os.path.join(ROOT, ".build", "fleet", "slot%d" % slot, "inventory.yml")
    try:
        for count in counts:
            fleet(slot, "down")  # fresh hosts: a first rollout writes every file
            started = time.monotonic()
            fleet(slot, "up", str(count))
            up_seconds = time.monotonic() - started
            sandbox.reset()
            root = tempfile.mkdtemp(prefix="bench-fleet-")
            hosts = {"fleet-%d" % n: {} for n in range(1, count + 1)}
            servers = {"contoso_enaio": {"vars": {"mailauth_tenant": "contoso", "mailauth_app": "enaio-mail"},
                                         "hosts": hosts}}
            inventory = benchlib.write_inventory(sandbox, root, ["contoso"], servers, extra_inventory=[inventory_path])
            for label in ("first rollout", "no-op rollout"):
                run = timed_run(sandbox, "playbooks/site.yml", "-f", str(max(count, 5)), *inventory["args"])
                rows.append({"hosts": count, "forks": max(count, 5), "label": label, "seconds": run["seconds"],
                             "tenant_play": play_seconds(run, 0), "server_play": play_seconds(run, 1), "cpu": run["cpu"],
                             "load": run["load"], "changed": run["changed"], "fleet_up": up_seconds,
                             "server_changed": sum(c["changed"] for h, c in run["recap"].items() if h in hosts)})
                print("fleet, %2d host(s) (up in %.1f s), %-14s site.yml %6.1f s: tenant play %.1f s, server play %.1f s "
                      "(cpu %.0f s, load %s); servers changed %d" % (
                          count, up_seconds, label, run["seconds"], rows[-1]["tenant_play"], rows[-1]["server_play"],
                          run["cpu"], run["load"], rows[-1]["server_changed"]), flush=True)
    finally:
        fleet(slot, "down")
    results["fleet"] = rows


# --- 4. smoke test ---------------------------------------------------------------------------------
def bench_smoke(sandbox, results, runs):
    import smtplib_baseline
    sandbox.reset()
    rows = smtplib_baseline.compare(sandbox, runs)
    for row in rows:
        summary = benchlib.summarise(row["log"])
        row["log"] = summary
        print("smoke test: %-38s median %6.2f s of %d, requests per run %d: %s" % (
            row["label"], row["seconds"], row["runs"], summary["total"], benchlib.service_line(summary)), flush=True)
    results["smoke"] = rows


# --- 5. azure.azcollection -------------------------------------------------------------------------
def bench_azure(results, latency_ms):
    import azure_compare
    data = azure_compare.measure(latency_ms)
    if "skipped" in data:
        print("azure.azcollection: skipped: %s" % data["skipped"])
    else:
        for row in data["rows"]:
            print("azure.azcollection %s: %-11s %6.1f s, %d requests (graph %d, of them %d writes; sign-in %d); "
                  "changed %d" % (data["version"], row["label"], row["seconds"], row["total"], row["graph"],
                                  row["graph_writes"], row["sign_in"], row["changed"]))
        print("    after the second run: %(applications)d applications named 'XLReporter Mailer (azcollection)', "
              "%(secrets)d secrets on them" % data["after_second_run"])
    results["azure"] = data


# --- report ----------------------------------------------------------------------------------------
def machine():
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "")
    except OSError:
        pass
    with open("/proc/meminfo", encoding="utf-8") as handle:
        mem_kb = int(handle.readline().split()[1])
    import ansible.release
    return {"cpu": model, "cores": os.cpu_count(), "memory_gib": round(mem_kb / 1048576), "os": platform.platform(),
            "python": platform.python_version(), "ansible_core": ansible.release.__version__,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def markdown(results):
    """The tables of docs/performance.md from one run."""
    out = []
    if "site" in results:
        out += head("site.yml, 1 tenant, 2 servers", "wall", "tenant play", "server play", "Graph r / w",
                    "Exchange r / w", "sign-in", "SMTP", "total", "changed")
        for row in results["site"]:
            log = row["log"]
            out.append("| %s | %.1f s | %.1f s | %.1f s | %s | %s | %d | %d | %d | %d |" % (
                row["label"], row["seconds"], row["tenant_play"], row["server_play"], rw(log, "graph"), rw(log, "exchange"),
                requests_of(log, "identity"), requests_of(log, "smtp"),
                log["total"], row["changed"]))
    if "entra" in results:
        out += head("xlreporter_entra.yml", "wall", "Graph r / w", "sign-in", "total")
        for row in results["entra"]:
            out.append("| %s | %.1f s | %s | %d | %d |" % (
                row["label"], row["seconds"], rw(row["log"], "graph"), requests_of(row["log"], "identity"), row["total"]))
    if "tenants" in results:
        out += head("tenants", "forks", "run", "wall", "per tenant", "requests", "per tenant", "Graph r / w",
                    "Exchange r / w", "other", "CPU")
        for row in results["tenants"]:
            log = row["log"]
            out.append("| %d | %d | %s | %.1f s | %.1f s | %d | %.1f | %s | %s | %d | %.0f s |" % (
                row["tenants"], row["forks"], row["label"], row["seconds"], row["seconds"] / row["tenants"], log["total"],
                log["total"] / row["tenants"], rw(log, "graph"), rw(log, "exchange"), others(log), row["cpu"]))
    if isinstance(results.get("fleet"), list):
        out += head("hosts", "forks", "rollout", "site.yml wall", "server play", "tenant play", "servers changed")
        for row in results["fleet"]:
            out.append("| %d | %d | %s | %.1f s | %.1f s | %.1f s | %d |" % (
                row["hosts"], row["forks"], row["label"], row["seconds"], row["server_play"], row["tenant_play"],
                row["server_changed"]))
    if "smoke" in results:
        out += head("smoke test", "median wall", "runs", "requests per run")
        for row in results["smoke"]:
            out.append("| %s | %.2f s | %d | %d (%s) |" % (
                row["label"], row["seconds"], row["runs"], row["log"]["total"], benchlib.service_line(row["log"])))
    if "azure" in results and "rows" in results["azure"]:
        out += head("azure.azcollection %s" % results["azure"]["version"], "wall", "Graph requests", "of them writes",
                    "sign-in", "total", "changed")
        for row in results["azure"]["rows"]:
            out.append("| %s | %.1f s | %d | %d | %d | %d | %d |" % (
                row["label"], row["seconds"], row["graph"], row["graph_writes"], row["sign_in"], row["total"],
                row["changed"]))
    return "\n".join(out)


def numbers(text):
    return [int(item) for item in text.split(",") if item.strip()]


def main():
    quick = os.environ.get("BENCH_QUICK") == "1"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", default=quick)
    parser.add_argument("--tenants", default=os.environ.get("BENCH_TENANTS"))
    parser.add_argument("--hosts", default=os.environ.get("BENCH_HOSTS"))
    parser.add_argument("--forks", type=int, default=int(os.environ.get("BENCH_FORKS") or 0))
    parser.add_argument("--sections", default=os.environ.get("BENCH_SECTIONS"))
    parser.add_argument("--latency-ms", type=float, default=float(os.environ.get("BENCH_LATENCY_MS") or 50))
    parser.add_argument("--fleet-slot", type=int, default=int(os.environ.get("BENCH_FLEET_SLOT") or 8))
    parser.add_argument("--json", default=os.environ.get("BENCH_JSON"))
    args = parser.parse_args()
    tenants = numbers(args.tenants or ("1,10" if args.quick else "1,10,50"))
    hosts = numbers(args.hosts or ("3" if args.quick else "3,6,12"))
    sections = [s for s in (args.sections or ",".join(SECTIONS)).split(",") if s]
    if args.quick and not args.sections:
        sections.remove("azure")
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise SystemExit("unknown sections %s; known: %s" % (", ".join(sorted(unknown)), ", ".join(SECTIONS)))
    results = {"machine": machine(), "latency_ms": args.latency_ms, "load_at_start": load()}
    print("bench: %s; sandbox latency %g ms per request; sections %s; load %s" % (
        json.dumps(results["machine"]), args.latency_ms, ",".join(sections), results["load_at_start"]), flush=True)
    started = time.monotonic()
    extra = max(tenants) - 1 if "tenants" in sections else 0

    def save():  # after every section, so a long run that breaks off keeps what it measured
        if args.json:
            with open(args.json, "w", encoding="utf-8") as handle:
                json.dump(results, handle, indent=1, default=str)

    with benchlib.Sandbox(args.latency_ms, extra_tenants=extra) as sandbox:
        for name, bench in (("site", lambda: bench_site(sandbox, results)),
                            ("entra", lambda: bench_entra(sandbox, results)),
                            ("tenants", lambda: bench_tenants(sandbox, results, tenants, args.forks)),
                            ("fleet", lambda: bench_fleet(sandbox, results, hosts, args.fleet_slot)),
                            ("smoke", lambda: bench_smoke(sandbox, results, 3 if args.quick else 5))):
            if name in sections:
                bench()
                save()
    if "azure" in sections:
        bench_azure(results, args.latency_ms)
    results["seconds"] = time.monotonic() - started
    results["load_at_end"] = load()
    save()
    print("\nbench: %.0f s in all; load %s at the start, %s at the end" % (
        results["seconds"], results["load_at_start"], results["load_at_end"]))
    print(markdown(results))


if __name__ == "__main__":
    main()
