"""Time a mail smoke test against the sandbox next to a bare smtplib script doing the same exchange.

Both do, per run: one fresh token (password sign-in of a seeded user through the sandbox's desktop
client, which has SMTP.Send consented), connect, STARTTLS, AUTH XOAUTH2, send one message to the user
itself, QUIT. The baseline is the least code that can do it (requests + smtplib, no checks, no
transcript); the module run is mailauth.m365.mail_smoke_test's main() in this process, and, with
--playbook, the same task through ansible-playbook (what a user waits for).

    .venv/bin/python tests/bench/smtplib_baseline.py [--state-dir .sandbox] [--runs 10] [--playbook]

The sandbox must be up (make sandbox-up) with its SMTP submission service.
"""

import argparse
import base64
import io
import json
import os
import smtplib
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import redirect_stdout
from email.message import EmailMessage

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))

DESKTOP_CLIENT = "0a1b2c3d-1111-4aaa-8bbb-000000000011"  # seeded public client, SMTP.Send consented
USER = "alice@contoso.example"
SCOPE = "https://outlook.office.com/SMTP.Send"


def baseline_run(conn, tenant):
    """The bare exchange: token by a form POST, then smtplib."""
    start = time.perf_counter()
    http = requests.Session()
    http.verify = conn["ca_bundle"]
    http.trust_env = False
    answer = http.post("%s/%s/oauth2/v2.0/token" % (conn["authority_host"], tenant["id"]), timeout=30, data={
        "grant_type": "password", "client_id": DESKTOP_CLIENT, "username": USER,
        "password": tenant["users"][USER]["password"], "scope": SCOPE})
    answer.raise_for_status()
    token = answer.json()["access_token"]
    context = ssl.create_default_context(cafile=conn["ca_bundle"])
    with smtplib.SMTP(conn["smtp"]["host"], conn["smtp"]["port"], local_hostname="bench", timeout=30) as smtp:
        smtp.starttls(context=context)
        smtp.ehlo("bench")
        response = base64.b64encode(("user=%s\x01auth=Bearer %s\x01\x01" % (USER, token)).encode()).decode()
        code, text = smtp.docmd("AUTH", "XOAUTH2")
        if code == 334:
            code, text = smtp.docmd(response)
        if code != 235:
            raise RuntimeError("AUTH failed: %s %s" % (code, text))
        message = EmailMessage()
        message["From"] = message["To"] = USER
        message["Subject"] = "baseline %s" % uuid.uuid4()
        message.set_content("bench")
        smtp.send_message(message)
    return time.perf_counter() - start


def module_args(conn, tenant, cache_dir):
    return dict(cloud="custom", authority_host=conn["authority_host"], graph_endpoint=conn["graph_endpoint"],
                ca_bundle=conn["ca_bundle"], tenant_id=tenant["id"], client_id=DESKTOP_CLIENT,
                token_cache_path=cache_dir, sign_in="password", mailbox=USER,
                password=tenant["users"][USER]["password"], smtp_host=conn["smtp"]["host"],
                smtp_port=conn["smtp"]["port"])


def module_run(conn, tenant, cache_dir):
    """mail_smoke_test's main() in this process, as Ansible would run it (minus Ansible)."""
    from ansible.module_utils.testing import patch_module_args
    from ansible_collections.mailauth.m365.plugins.modules import mail_smoke_test

    out = io.StringIO()
    start = time.perf_counter()
    with patch_module_args(module_args(conn, tenant, cache_dir)), redirect_stdout(out):
        try:
            mail_smoke_test.main()
        except SystemExit:
            pass
    spent = time.perf_counter() - start
    result = json.loads(out.getvalue())
    if result.get("failed"):
        raise RuntimeError(result["msg"])
    return spent, result["timings"]


def playbook_run(conn, tenant, cache_dir):
    playbook = {"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "smoke test", "mailauth.m365.mail_smoke_test": module_args(conn, tenant, cache_dir)}]}
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
        json.dump([playbook], handle)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    start = time.perf_counter()
    subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), handle.name], cwd=ROOT, env=env,
                   check=True, capture_output=True)
    spent = time.perf_counter() - start
    os.unlink(handle.name)
    return spent


def compare(sandbox, runs):
    """For tests/bench/run.py: the bare script, the module in process and the task through ansible-playbook,
    each `runs` times (medians), and the requests of one run of each from the sandbox's request log."""
    conn = sandbox.conn
    tenant = next(item for item in conn["tenants"] if item["key"] == "contoso")
    cache_dir = tempfile.mkdtemp(prefix="bench-cache-")
    baseline_run(conn, tenant)  # warm-up, as in main()
    module_run(conn, tenant, cache_dir)
    rows = []
    for label, run in (("bare smtplib script", lambda: baseline_run(conn, tenant)),
                       ("mail_smoke_test in process", lambda: module_run(conn, tenant, cache_dir)[0]),
                       ("mail_smoke_test via ansible-playbook", lambda: playbook_run(conn, tenant, cache_dir))):
        sandbox.control("DELETE", "/requests")
        times = [run()]
        log = sandbox.control("GET", "/requests?entries=1")
        times += [run() for _run in range(runs - 1)]
        rows.append({"label": label, "seconds": statistics.median(times), "runs": runs, "log": log})
    return rows


def describe(name, values):
    return "%-34s median %7.1f ms   min %7.1f ms   max %7.1f ms   (n=%d)" % (
        name, 1000 * statistics.median(values), 1000 * min(values), 1000 * max(values), len(values))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", default=os.path.join(ROOT, ".sandbox"))
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--playbook", action="store_true", help="also time the task through ansible-playbook")
    args = parser.parse_args()
    with open(os.path.join(args.state_dir, "connection.json"), encoding="utf-8") as handle:
        conn = json.load(handle)
    if not (conn.get("smtp") or {}).get("port"):
        raise SystemExit("the sandbox at %s has no SMTP service (connection.json smtp.port)" % args.state_dir)
    tenant = next(item for item in conn["tenants"] if item["key"] == "contoso")
    cache_dir = tempfile.mkdtemp(prefix="bench-cache-")
    baseline_run(conn, tenant)  # warm up both paths (imports, TLS session set-up)
    module_run(conn, tenant, cache_dir)
    baseline, module, steps = [], [], {}
    for _run in range(args.runs):
        baseline.append(baseline_run(conn, tenant))
        spent, timings = module_run(conn, tenant, cache_dir)
        module.append(spent)
        for step, seconds in timings.items():
            steps.setdefault(step, []).append(seconds)
    print(describe("bare smtplib script", baseline))
    print(describe("mail_smoke_test (in process)", module))
    for step in ("token", "connect", "starttls", "auth", "send"):
        if step in steps:
            print(describe("  module step %s" % step, steps[step]))
    if args.playbook:
        print(describe("mail_smoke_test (ansible-playbook)", [playbook_run(conn, tenant, cache_dir)
                                                              for _run in range(max(1, args.runs // 3))]))


if __name__ == "__main__":
    main()
