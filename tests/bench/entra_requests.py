"""Prints HTTP requests and wall time of the XLReporter Entra set-up (xlreporter_entra.yml: app, service
principal, secret, admin consent): a fresh create, then a no-op re-run. tests/bench/run.py runs it as one
of its sections, beside the same task list written with azure.azcollection (azure_compare.py).

    .venv/bin/python tests/bench/entra_requests.py [--latency-ms 50]

Starts a throw-away sandbox (state in a temp dir), counts requests from its request log. Prints
numbers; asserts nothing."""
import argparse

import benchlib


def measure(sandbox):
    """[{label, seconds, total, log}] of a fresh create and a no-op re-run in contoso."""
    rows = []
    for label in ("fresh create", "no-op re-run"):
        run = benchlib.run_playbook(sandbox, "tests/bench/xlreporter_entra.yml")
        rows.append({"label": label, "seconds": run["seconds"], "total": run["log"]["total"], "log": run["log"],
                     "changed": run["changed"]})
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency-ms", type=float, default=0)
    args = parser.parse_args()
    with benchlib.Sandbox(args.latency_ms) as sandbox:
        print("XLReporter Entra set-up, sandbox latency %g ms per request" % args.latency_ms)
        for row in measure(sandbox):
            print("%-22s requests %3d (%s), wall %.1f s" % (
                row["label"], row["total"], benchlib.service_line(row["log"]), row["seconds"]))


if __name__ == "__main__":
    main()
