"""Prints HTTP requests and wall time of the XLReporter Entra set-up: a fresh create, then a no-op re-run.

    .venv/bin/python tests/bench/entra_requests.py [--latency-ms 50]

Starts a throw-away sandbox (state in a temp dir), counts requests from its request log. Prints
numbers; asserts nothing."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def sandbox_cli(state_dir, *args):
    return subprocess.run([sys.executable, "-m", "sandbox", "--state-dir", state_dir, *args], cwd=ROOT,
                          check=True, capture_output=True, text=True).stdout


def control(state_dir, method, path, body=None):
    args = ["--state-dir", state_dir]
    code = ("import json,sys; from sandbox.__main__ import control; "
            "print(json.dumps(control(sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4]))))")
    out = subprocess.run([sys.executable, "-c", code, args[1], method, path, json.dumps(body)], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def run_once(state_dir, label):
    control(state_dir, "DELETE", "/requests")
    env = dict(os.environ, MAILAUTH_SANDBOX_DIR=state_dir, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_HOME=os.path.join(ROOT, ".build", "ansible-home"))
    started = time.monotonic()
    result = subprocess.run([os.path.join(BIN, "ansible-playbook"), "tests/bench/xlreporter_entra.yml"], cwd=ROOT,
                            env=env, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    if result.returncode:
        sys.exit("playbook failed:\n" + result.stdout[-4000:])
    log = control(state_dir, "GET", "/requests")
    writes = sum(count for key, count in log["by_endpoint"].items()
                 if key.split()[0] == "graph" and key.split()[1] in ("POST", "PATCH", "PUT", "DELETE"))
    by_service = {}
    for key, count in log["by_endpoint"].items():
        by_service[key.split()[0]] = by_service.get(key.split()[0], 0) + count
    print("%-22s requests %3d (%s), Graph writes %d, wall %.1f s" % (
        label, log["total"], ", ".join("%s %d" % item for item in sorted(by_service.items())), writes, wall))
    return log


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency-ms", type=float, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as state_dir:
        sandbox_cli(state_dir, "up")
        try:
            if args.latency_ms:
                control(state_dir, "PUT", "/realism", {"latency_ms": args.latency_ms, "services": []})
            print("XLReporter Entra set-up, sandbox latency %g ms per request" % args.latency_ms)
            run_once(state_dir, "fresh create")
            log = run_once(state_dir, "no-op re-run")
            for key, count in sorted(log["by_endpoint"].items()):
                print("    %3d  %s" % (count, key))
        finally:
            sandbox_cli(state_dir, "down")


if __name__ == "__main__":
    main()
