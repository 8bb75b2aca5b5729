"""Fault and interrupt campaigns of playbooks/site.yml against sandboxes (docs/resilience.md).

faults      For each seed: a fresh sandbox whose Graph and Exchange answer 30 % of requests 429 (Retry-After),
            5 % 503, drop some connections and delay replication of new objects; site.yml must finish with no
            failed task; then, without faults, site.yml again must change nothing, and the tenants must hold
            no duplicate (one application per unique name, one service principal per app, one grant per
            client/resource, one Exchange service principal, no repeated mailbox permission) and exactly the
            stored secret as the application's only password credential, one that signs in.
interrupts  For each seed: site.yml is killed at a seeded random moment (SIGKILL of its process group, SIGINT
            of the group as Ctrl-C does, or SIGTERM of ansible-playbook), then run again to the end; then the
            same checks, and the servers' files: osweb-prod.yml parses and holds the stored secret, the .reg
            file is well-formed, no temporary file is left.

    python tests/faults/campaign.py faults [--seeds 20] [--first-seed 1] [--parallel 4]
    python tests/faults/campaign.py interrupts [--seeds 10] [--first-seed 1] [--parallel 4]

Each job has a sandbox of its own (its own --state-dir under .build/faults/), so jobs run side by side. One
row per seed, then a total; the exit status is 1 when any seed failed or left a duplicate.
tests/sandbox/test_faults.py runs a short version of both in the test suite."""
import argparse
import collections
import concurrent.futures
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "sandbox"))

from conftest import SandboxProcess  # noqa: E402  pylint: disable=wrong-import-position
from site_helpers import (  # noqa: E402  pylint: disable=wrong-import-position
    PEOPLE, Tenant, decrypt_stored, make_site, playbook_command, recap, remove_site)

# FACTS.md section 3 and the brief of the campaign: the share of requests throttled, unavailable, dropped.
FULL_FAULTS = {"throttle_rate": 0.30, "unavailable_rate": 0.05, "drop_rate": 0.03, "retry_after": 1,
               "replication_delay": [0.0, 10.0]}
SIGNALS = ("SIGKILL-group", "SIGINT-group", "SIGTERM")
TEMP_FILE = re.compile(r"(\.tmp|~|\.swp|\.part)$|^\.ansible_tmp|^tmp[a-z0-9_]{6,}$")
FAILED_TASK = re.compile(r"^(?:fatal|failed): \[([^\]]+)\]", re.M)


class Job:
    """One seed: its own sandbox state directory, inventory, secret store and stand-in servers."""

    def __init__(self, kind, seed, work_dir, sandbox=None, site_options=None):
        """With `sandbox` (the test suite's), the job borrows it and leaves it as it found it; `site_options`
        (tenants, products) choose part of the site."""
        self.kind, self.seed = kind, seed
        self.dir = os.path.join(work_dir, "%s-%03d" % (kind, seed))
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.own_sandbox = sandbox is None
        self.sandbox = sandbox or SandboxProcess(os.path.join(self.dir, "sandbox"))
        self.site = None
        self.cpu = 0.0
        self.site_options = site_options or {}
        self.log = open(os.path.join(self.dir, "runs.log"), "w", encoding="utf-8")  # pylint: disable=consider-using-with

    def __enter__(self):
        if self.own_sandbox:
            self.sandbox.cli("up")
        self.site = make_site(self.sandbox, os.path.join(self.dir, "site"),
                              suffix="%s%03d-%s" % (self.kind[0], self.seed, uuid.uuid4().hex[:4]), **self.site_options)
        return self

    def __exit__(self, *exc):
        self.log.close()
        if self.own_sandbox:
            try:
                self.sandbox.cli("down")
            except subprocess.SubprocessError:
                pass
        else:
            self.sandbox.control("DELETE", "/realism")
            remove_site(self.sandbox, self.site)

    def command(self, playbook="playbooks/site.yml"):
        return playbook_command(self.sandbox, playbook, "-i", self.site["inventory"],
                                "--vault-password-file", self.site["password_file"])

    def run(self, what):
        """Run site.yml to the end; (rc, recap, failed task lines, seconds)."""
        argv, env = self.command()
        started, cpu = time.monotonic(), children_cpu()
        result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800, check=False)
        seconds = time.monotonic() - started
        self.cpu += children_cpu() - cpu  # approximate when jobs run in parallel threads
        self._keep(what, result.returncode, result.stdout, result.stderr)
        return result.returncode, recap(result.stdout), FAILED_TASK.findall(result.stdout), seconds, result.stdout

    def _keep(self, what, returncode, stdout, stderr):
        self.log.write("===== %s (rc %s)\n%s\n%s\n" % (what, returncode, stdout, stderr))
        self.log.flush()


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- the checks ------------------------------------------------------------------------------------------
def _counted(items, what):
    return ["%d x %s" % (count, what % (key,)) for key, count in collections.Counter(items).items() if count > 1]


def tenant_problems(sandbox, site):
    """Duplicates, and password credentials other than the stored secret, in both tenants; [] when none."""
    problems = []
    names = site["names"]
    for key in site["tenants"]:
        tenant = Tenant(sandbox, key)
        exo_principals = [sp["AppId"].lower() for sp in tenant.exchange("Get-ServicePrincipal")]
        for product, name in names.items():
            apps = tenant.apps(name)
            if len(apps) != 1:
                problems.append("%s: %d applications %s" % (key, len(apps), name))
                if not apps:
                    continue
            for app in apps:
                where = "%s/%s" % (key, name)
                sps = tenant.service_principals(app["appId"])
                if len(sps) != 1:
                    problems.append("%s: %d service principals" % (where, len(sps)))
                for sp in sps:
                    grants = tenant.graph("oauth2PermissionGrants", **{"$filter": "clientId eq '%s'" % sp["id"]})["value"]
                    problems += ["%s: %s" % (where, text) for text in _counted(
                        [(g["resourceId"], g["consentType"], g.get("principalId")) for g in grants], "grant %s")]
                    roles = tenant.graph("servicePrincipals/%s/appRoleAssignments" % sp["id"])["value"]
                    problems += ["%s: %s" % (where, text) for text in _counted(
                        [(r["resourceId"], r["appRoleId"]) for r in roles], "application permission %s")]
                    assigned = tenant.graph("servicePrincipals/%s/appRoleAssignedTo" % sp["id"])["value"]
                    problems += ["%s: %s" % (where, text) for text in _counted(
                        [(a["principalId"], a["appRoleId"]) for a in assigned], "user assignment %s")]
                if product == "enaio":
                    count = exo_principals.count(app["appId"].lower())
                    if count != 1:
                        problems.append("%s: %d Exchange service principals" % (where, count))
                problems += secret_problems(tenant, site, key, app)
        for mailbox in PEOPLE[key]:
            rows = tenant.exchange("Get-MailboxPermission", Identity=mailbox)
            problems += ["%s: %s" % (key, text) for text in _counted(
                [(r.get("User"), right) for r in rows for right in r.get("AccessRights", [])],
                "mailbox permission %s on " + mailbox)]
            rows = tenant.exchange("Get-RecipientPermission", Identity=mailbox)
            problems += ["%s: %s" % (key, text) for text in _counted(
                [r.get("Trustee") for r in rows], "SendAs %s on " + mailbox)]
    return problems


def secret_problems(tenant, site, key, app):
    """The application's password credentials must be exactly the stored one, and it must sign in."""
    path = site["store"] / key / (app["uniqueName"] + ".yml")
    keys = sorted(c["keyId"].lower() for c in app.get("passwordCredentials") or [])
    if not path.exists():
        return ["%s/%s: no stored secret, %d in the tenant" % (key, app["uniqueName"], len(keys))] if keys else []
    record = decrypt_stored(path.read_bytes())
    where = "%s/%s" % (key, app["uniqueName"])
    if keys != [record["key_id"].lower()]:
        orphans = len(set(keys) - {record["key_id"].lower()})
        return ["%s: %d orphaned secret(s), stored secret %s" % (
            where, orphans, "in the tenant" if record["key_id"].lower() in keys else "NOT in the tenant (lost)")]
    if not tenant.secret_works(app["appId"], record["value"]):
        return ["%s: the stored secret does not sign in" % where]
    return []


def server_problems(site):
    """Each server's files: osweb-prod.yml parses and holds the stored secret, .reg well-formed, no temp files;
    and no temporary file or marker of an interrupted creation left in the secret store."""
    problems = ["secret store: leftover %s" % os.path.relpath(os.path.join(top, name), str(site["store"]))
                for top, _dirs, files in os.walk(str(site["store"])) for name in files if name.startswith(".")]
    for group in site["servers"].values():
        tenant, app = group["vars"]["mailauth_tenant"], group["vars"]["mailauth_app"]
        record = decrypt_stored((site["store"] / tenant / (app + ".yml")).read_bytes())
        for host in group["hosts"]:
            server = site["root"] / "servers" / host
            files = sorted(os.listdir(server)) if server.is_dir() else []
            problems += ["%s: leftover %s" % (host, name) for name in files if TEMP_FILE.search(name)]
            if "enaio" not in host:
                continue
            try:
                osweb = yaml.safe_load((server / "osweb-prod.yml").read_text(encoding="utf-8"))
                if osweb["featureSwitches"]["sendEmail"]["oAuthClientSecret"] != record["value"]:
                    problems.append("%s: osweb-prod.yml holds another secret than the store" % host)
            except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
                problems.append("%s: osweb-prod.yml: %s" % (host, exc))
            problems += ["%s: %s" % (host, text) for text in reg_problems(server, record["value"])]
    return problems


def reg_problems(server, secret):
    """A .reg file: the REGEDIT5 header (UTF-16 with BOM, or plain), [key] sections, "name"=value lines, ; comments."""
    found = [name for name in os.listdir(server) if name.endswith(".reg")]
    if not found:
        return ["no .reg file"]
    problems = []
    for name in found:
        raw = (server / name).read_bytes()
        text = raw.decode("utf-16") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else raw.decode("utf-8-sig")
        lines = [line for line in text.splitlines() if line.strip()]
        if not lines or lines[0] != "Windows Registry Editor Version 5.00":
            problems.append("%s: no Windows Registry Editor header" % name)
        bad = [line for line in lines[1:] if not re.match(r'^(;.*|\[[^\]]+\]|"[^"]*"=("([^"\\]|\\.)*"|dword:[0-9a-f]{8}|hex(\([0-9a-f]\))?:.*)|@=.*)$', line)]
        if bad:
            problems.append("%s: malformed line %r" % (name, bad[0][:60]))
        if secret not in text:
            problems.append("%s: does not hold the stored secret" % name)
    return problems


# --- one seed ----------------------------------------------------------------------------------------------
def fault_seed(seed, work_dir, faults=None, sandbox=None, site_options=None):
    """site.yml under faults, then without faults (changed must be 0), then the checks. Returns a row."""
    faults = dict(faults or FULL_FAULTS)
    row = {"seed": seed, "result": "ok", "problems": []}
    with Job("faults", seed, work_dir, sandbox, site_options) as job:
        job.sandbox.control("PUT", "/realism", dict(faults, seed=seed))
        job.sandbox.control("DELETE", "/requests")
        returncode, hosts, failed, seconds, _out = job.run("site.yml under faults")
        log = job.sandbox.control("GET", "/requests")
        job.sandbox.control("DELETE", "/realism")
        statuses = log.get("by_status", {})
        row.update(seconds=seconds, requests=log["total"], throttled=statuses.get("429", 0),
                   unavailable=statuses.get("503", 0), dropped=statuses.get("0", 0))
        if returncode != 0 or any(h["failed"] or h["unreachable"] for h in hosts.values()):
            row["result"] = "FAILED"
            row["problems"].append("rc %d, failed: %s" % (returncode, ", ".join(sorted(set(failed))) or "?"))
        time.sleep(max(faults["replication_delay"]))  # what the faulty run created is visible now
        converge(job, row)
    return row


def converge(job, row):
    """site.yml without faults changes nothing; then the tenants and servers are checked."""
    returncode, hosts, failed, seconds, _out = job.run("site.yml again, without faults")
    row["converge_seconds"] = seconds
    changed = sum(h["changed"] for h in hosts.values())
    if returncode != 0 or not hosts:
        row["problems"].append("second run rc %d, failed: %s" % (returncode, ", ".join(sorted(set(failed))) or "?"))
    elif changed:
        row["problems"].append("second run changed=%d" % changed)
    duplicates = tenant_problems(job.sandbox, job.site)
    row["duplicates"] = len(duplicates)
    row["problems"] += duplicates
    if returncode == 0:
        row["problems"] += server_problems(job.site)
    row["cpu"] = job.cpu
    if row["problems"] and row["result"] == "ok":
        row["result"] = "NOT CONVERGED"


def interrupt_seed(seed, work_dir, sandbox=None, site_options=None):
    """site.yml killed at a seeded random moment, then run to the end; then the checks. Returns a row."""
    rng = random.Random(seed)
    how = SIGNALS[seed % len(SIGNALS)]
    row = {"seed": seed, "result": "ok", "problems": [], "signal": how}
    with Job("interrupts", seed, work_dir, sandbox, site_options) as job:
        # Every other seed aims at the dangerous moment: just after the client secret is asked for.
        aim = "Create a client secret" if seed % 2 == 0 else None
        delay = rng.uniform(0.0, 1.5) if aim else rng.uniform(2.0, 40.0)
        row["killed_in"], row["delay"] = kill_during(job, how, delay, aim)
        returncode, hosts, failed, seconds, _out = job.run("site.yml after the interruption")
        row["seconds"] = seconds
        if returncode != 0 or any(h["failed"] for h in hosts.values()):
            row["result"] = "FAILED"
            row["problems"].append("re-run rc %d, failed: %s" % (returncode, ", ".join(sorted(set(failed))) or "?"))
        converge(job, row)
    return row


def kill_during(job, how, delay, aim):
    """Start site.yml, wait `delay` seconds (after the task named `aim` started, if given), interrupt it.
    Returns (the task that was running, the delay)."""
    argv, env = job.command()
    cpu = children_cpu()
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,  # pylint: disable=consider-using-with
                               text=True, start_new_session=True)
    lines = []
    aimed = threading.Event()

    def read():
        for line in process.stdout:
            lines.append(line)
            if aim and line.startswith("TASK [") and aim in line:
                aimed.set()
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if aim:
        aimed.wait(timeout=600)
    time.sleep(delay)
    if process.poll() is None:
        if how == "SIGKILL-group":
            os.killpg(process.pid, signal.SIGKILL)
        elif how == "SIGINT-group":
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # workers a signal left behind
    except ProcessLookupError:
        pass
    process.wait()
    reader.join(timeout=10)
    job.cpu += children_cpu() - cpu
    tasks = [line.strip() for line in lines if line.startswith("TASK [")]
    job._keep("site.yml interrupted by %s after %.1f s (%s)" % (how, delay, aim or "random"), process.returncode,
              "".join(lines), "")
    killed_in = tasks[-1][6:].split("]")[0] if tasks else "(before the first task)"
    return (killed_in if process.returncode != 0 else "(finished first)"), delay


# --- the campaign -----------------------------------------------------------------------------------------
def campaign(kind, seeds, parallel, work_dir, faults=None):
    """Run the seeds, `parallel` at a time; the rows in seed order."""
    def one(seed):
        try:
            row = interrupt_seed(seed, work_dir) if kind == "interrupts" else fault_seed(seed, work_dir, faults)
        except Exception as exc:  # noqa: BLE001 - a broken seed is a row, not the end of the campaign
            row = {"seed": seed, "result": "ERROR", "problems": ["%s: %s" % (type(exc).__name__, exc)]}
        sys.stderr.write("done: %r\n" % (row,))  # progress, and the numbers should the campaign be stopped
        return row
    with concurrent.futures.ThreadPoolExecutor(max_workers=parallel) as pool:
        rows = list(pool.map(one, seeds))
    return rows


def print_faults(rows, out=sys.stdout):
    out.write("| seed | result | wall s | requests | 429 | 503 | drops | duplicates | 2nd run s | CPU s |\n")
    out.write("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
    for r in rows:
        out.write("| %d | %s | %.0f | %d | %d | %d | %d | %s | %.0f | %.0f |\n" % (
            r["seed"], r["result"], r.get("seconds", 0), r.get("requests", 0), r.get("throttled", 0),
            r.get("unavailable", 0), r.get("dropped", 0), r.get("duplicates", "?"), r.get("converge_seconds", 0),
            r.get("cpu", 0)))
    ok = sum(r["result"] == "ok" for r in rows)

    def total(name):
        return sum(r.get(name, 0) for r in rows)
    out.write("| total %d | %d ok, %d not | %.0f | %d | %d | %d | %d | %d | %.0f | %.0f |\n" % (
        len(rows), ok, len(rows) - ok, total("seconds"), total("requests"), total("throttled"), total("unavailable"),
        total("dropped"), total("duplicates"), total("converge_seconds"), total("cpu")))
    _problems(rows, out)


def print_interrupts(rows, out=sys.stdout):
    out.write("| seed | signal | after s | killed in task | result | re-run s | duplicates/orphans | CPU s |\n")
    out.write("|---:|---|---:|---|---|---:|---:|---:|\n")
    for r in rows:
        out.write("| %d | %s | %.1f | %s | %s | %.0f | %s | %.0f |\n" % (
            r["seed"], r.get("signal", "?"), r.get("delay", 0), r.get("killed_in", "?"), r["result"],
            r.get("seconds", 0), r.get("duplicates", "?"), r.get("cpu", 0)))
    ok = sum(r["result"] == "ok" for r in rows)
    out.write("| total %d | | | | %d ok, %d not | %.0f | %d | %.0f |\n" % (
        len(rows), ok, len(rows) - ok, sum(r.get("seconds", 0) for r in rows),
        sum(r.get("duplicates", 0) for r in rows), sum(r.get("cpu", 0) for r in rows)))
    _problems(rows, out)


def _problems(rows, out):
    for r in rows:
        for problem in r["problems"]:
            out.write("seed %d: %s\n" % (r["seed"], problem))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("kind", choices=["faults", "interrupts"])
    parser.add_argument("--seeds", type=int, default=None, help="how many seeds (faults 20, interrupts 10)")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--parallel", type=int, default=4, help="sandboxes at once")
    parser.add_argument("--replication-delay", default="0,10", help="min,max seconds (faults)")
    parser.add_argument("--drop-rate", type=float, default=FULL_FAULTS["drop_rate"])
    parser.add_argument("--drop-after-apply", type=float, default=0.0,
                        help="share of the drops that come after the request was carried out (its answer is lost)")
    parser.add_argument("--work-dir", default=os.path.join(ROOT, ".build", "faults"))
    parser.add_argument("--keep", action="store_true", help="keep the work directory of seeds that passed")
    args = parser.parse_args(argv)
    count = args.seeds or (20 if args.kind == "faults" else 10)
    seeds = list(range(args.first_seed, args.first_seed + count))
    low, _sep, high = args.replication_delay.partition(",")
    faults = dict(FULL_FAULTS, drop_rate=args.drop_rate, drop_after_apply=args.drop_after_apply,
                  replication_delay=[float(low), float(high or low)])
    os.makedirs(args.work_dir, exist_ok=True)
    started = time.monotonic()
    if args.kind == "faults":
        print("site.yml under faults: %s; %d seeds, %d at a time" % (faults, count, args.parallel), flush=True)
    else:
        print("site.yml interrupted: %d seeds, %d at a time" % (count, args.parallel), flush=True)
    rows = campaign(args.kind, seeds, args.parallel, args.work_dir, faults)
    (print_faults if args.kind == "faults" else print_interrupts)(rows)
    print("campaign wall time: %.0f s; logs: %s/<kind>-<seed>/runs.log" % (time.monotonic() - started, args.work_dir))
    if not args.keep:
        for row in rows:
            if row["result"] == "ok":
                shutil.rmtree(os.path.join(args.work_dir, "%s-%03d" % (args.kind, row["seed"])), ignore_errors=True)
    return 0 if all(r["result"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
