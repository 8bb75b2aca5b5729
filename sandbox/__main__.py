"""Command line of the sandbox tenant.

    python -m sandbox up [--reset] [--extra-tenants N]   start in the background, write <state>/connection.json;
                                         N more tenants (tenant001..) made like contoso
    python -m sandbox down               stop it
    python -m sandbox status             where it listens and what it has served
    python -m sandbox serve              run in the foreground
    python -m sandbox realism [--latency-ms N --throttle-rate R ...]   show or change fault settings
    python -m sandbox requests [--reset] request counts per endpoint
    python -m sandbox reset              wipe the state and apply the seed again
    python -m sandbox approve-device-code USER_CODE UPN [--decline]   act as the person at /devicelogin
"""
import argparse
import json
import logging
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

DEFAULT_STATE_DIR = os.environ.get("MAILAUTH_SANDBOX_DIR", ".sandbox")


def _connection(state_dir):
    try:
        with open(os.path.join(state_dir, "connection.json"), encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def control(state_dir, method, path, body=None, timeout=10):
    """Call the control API of the running sandbox; returns parsed JSON (or None for 204)."""
    conn = _connection(state_dir)
    if not conn:
        raise SystemExit("sandbox: no connection.json in %s; run `python -m sandbox up`" % state_dir)
    context = ssl.create_default_context(cafile=conn["ca_bundle"])
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(conn["control_url"] + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, context=context, timeout=timeout) as answer:
        raw = answer.read()
    return json.loads(raw) if raw else None


def _alive(state_dir):
    conn = _connection(state_dir)
    if not conn:
        return False
    try:
        os.kill(conn["pid"], 0)
        return control(state_dir, "GET", "/health", timeout=3)["status"] == "ok"
    except (OSError, urllib.error.URLError, ValueError, KeyError, ssl.SSLError):
        return False


def cmd_serve(args):
    from .server import Sandbox
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    sandbox = Sandbox(args.state_dir).start()
    if args.reset:
        sandbox.reseed()
    print("sandbox listening: %s" % json.dumps(sandbox.ctx.urls), flush=True)
    sandbox.serve_forever()


def cmd_up(args):
    if _alive(args.state_dir):
        if args.reset:
            control(args.state_dir, "POST", "/reset", timeout=300)
            print("sandbox: running; state reset to the seed")
        else:
            print("sandbox: already running (%s)" % os.path.join(args.state_dir, "connection.json"))
    else:
        _start(args)
    if args.extra_tenants:
        # Seeding a tenant makes its automation identity's key pair: about 0.1 s each.
        added = control(args.state_dir, "POST", "/tenants", {"extra": args.extra_tenants}, timeout=600)
        print("sandbox: %d extra tenant(s) added, %d in all" % (len(added["added"]), added["tenants"]))


def _start(args):
    os.makedirs(args.state_dir, mode=0o700, exist_ok=True)
    conn_path = os.path.join(args.state_dir, "connection.json")
    if os.path.exists(conn_path):
        os.unlink(conn_path)
    log = open(os.path.join(args.state_dir, "sandbox.log"), "ab")
    command = [sys.executable, "-m", "sandbox", "--state-dir", args.state_dir, "serve"]
    if args.reset:
        command.append("--reset")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit("sandbox: failed to start, see %s/sandbox.log" % args.state_dir)
        if _alive(args.state_dir):
            conn = _connection(args.state_dir)
            print("sandbox: up (pid %d) authority %s graph %s exchange %s; connection file %s" % (
                conn["pid"], conn["authority_host"], conn["graph_endpoint"], conn["exchange_endpoint"],
                os.path.abspath(conn_path)))
            return
        time.sleep(0.2)
    proc.kill()
    raise SystemExit("sandbox: not ready after 60 s, see %s/sandbox.log" % args.state_dir)


def cmd_down(args):
    conn = _connection(args.state_dir)
    if not conn:
        print("sandbox: not running")
        return
    try:
        os.kill(conn["pid"], signal.SIGTERM)
    except ProcessLookupError:
        print("sandbox: not running")
        return
    for attempt in range(100):
        try:
            os.kill(conn["pid"], 0)
        except ProcessLookupError:
            print("sandbox: stopped")
            return
        time.sleep(0.1)
    os.kill(conn["pid"], signal.SIGKILL)
    print("sandbox: killed")


def cmd_status(args):
    if not _alive(args.state_dir):
        print("sandbox: not running")
        sys.exit(1)
    conn = _connection(args.state_dir)
    summary = control(args.state_dir, "GET", "/requests")
    print(json.dumps({"authority_host": conn["authority_host"], "graph_endpoint": conn["graph_endpoint"],
                      "exchange_endpoint": conn["exchange_endpoint"], "ca_bundle": conn["ca_bundle"],
                      "tenants": [t["default_domain"] for t in conn["tenants"]],
                      "requests": summary["total"]}, indent=2))


def cmd_realism(args):
    changes = {key: value for key, value in vars(args).items()
               if key in ("latency_ms", "throttle_rate", "retry_after", "unavailable_rate", "drop_rate", "seed")
               and value is not None}
    if args.replication_delay is not None:
        low, sep, high = args.replication_delay.partition(",")
        changes["replication_delay"] = [float(low), float(high or low)]
    if args.services:
        changes["services"] = args.services.split(",")
    result = control(args.state_dir, "DELETE", "/realism") if args.off else None
    if changes or not args.off:
        result = control(args.state_dir, "PUT", "/realism", changes) if changes else control(args.state_dir, "GET", "/realism")
    print(json.dumps(result, indent=2))


def cmd_requests(args):
    if args.reset:
        control(args.state_dir, "DELETE", "/requests")
        print("sandbox: request log cleared")
        return
    print(json.dumps(control(args.state_dir, "GET", "/requests"), indent=2))


def cmd_reset(args):
    control(args.state_dir, "POST", "/reset", timeout=300)
    print("sandbox: state reset to the seed")


def cmd_approve_device_code(args):
    action = "decline" if args.decline else "approve"
    try:
        result = control(args.state_dir, "POST", "/devicecode/" + action,
                         {"user_code": args.user_code, "user_principal_name": args.user_principal_name})
    except urllib.error.HTTPError as exc:
        raise SystemExit("sandbox: %s" % json.loads(exc.read() or b"{}").get("error", {}).get("message", exc)) from None
    print("sandbox: device code %s %s%s" % (result["user_code"], result["status"],
                                            " for " + result["user_principal_name"] if "user_principal_name" in result else ""))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state-dir", default=DEFAULT_STATE_DIR)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("serve", "up"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--reset", action="store_true", help="wipe the state and apply the seed again")
    sub.choices["up"].add_argument(
        "--extra-tenants", type=int, default=0, metavar="N",
        help="also tenants tenant001..tenantN, each like contoso (kept by later resets)")
    sub.add_parser("down")
    sub.add_parser("status")
    sub.add_parser("reset")
    requests_cmd = sub.add_parser("requests")
    requests_cmd.add_argument("--reset", action="store_true")
    approve = sub.add_parser("approve-device-code", help="sign a user in for a pending device code")
    approve.add_argument("user_code")
    approve.add_argument("user_principal_name", nargs="?")
    approve.add_argument("--decline", action="store_true")
    realism = sub.add_parser("realism")
    realism.add_argument("--latency-ms", type=float)
    realism.add_argument("--throttle-rate", type=float)
    realism.add_argument("--retry-after", type=int)
    realism.add_argument("--unavailable-rate", type=float)
    realism.add_argument("--drop-rate", type=float)
    realism.add_argument("--replication-delay", help="seconds, or min,max")
    realism.add_argument("--services", help="comma-separated: graph,exchange,identity")
    realism.add_argument("--seed", type=int)
    realism.add_argument("--off", action="store_true", help="back to no faults")
    args = parser.parse_args(argv)
    {"serve": cmd_serve, "up": cmd_up, "down": cmd_down, "status": cmd_status, "realism": cmd_realism,
     "requests": cmd_requests, "reset": cmd_reset, "approve-device-code": cmd_approve_device_code}[args.command](args)


if __name__ == "__main__":
    main()
