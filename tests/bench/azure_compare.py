"""The XLReporter Entra set-up of xlreporter_entra.yml written with azure.azcollection (azure_rm_adapplication,
azure_rm_adserviceprincipal, azure_rm_adpassword) against the sandbox: requests on a first and a second run,
and what the second run duplicated.

    sudo .venv/bin/python tests/bench/azure_compare.py [--latency-ms 50]

Why it needs root: azure.azcollection cannot be given a Graph endpoint. Its get_msgraph_client()
(plugins/module_utils/azure_rm_common.py) picks the Graph host from a fixed map of the named clouds
(msgraph_core NationalClouds: Global, US_GOV, China, Germany) keyed by the cloud object; a custom cloud
from `cloud_environment: <metadata URL>` is not in the map and gets https://graph.microsoft.com. Only the
sign-in authority follows the metadata (or `adfs_authority_url`). So this script runs in a network and
mount namespace of its own (unshare): graph.microsoft.com resolves to 127.0.0.1 through a bind-mounted
/etc/hosts, the sandbox's Graph listens on port 443 there with a certificate (from the sandbox's CA) that
also names graph.microsoft.com, and SSL_CERT_FILE (httpx, which msgraph-core uses) and REQUESTS_CA_BUNDLE
(azure-identity) trust that CA. Nothing outside the namespace sees any of it.

The collection and its Python requirements (requirements.txt of azure.azcollection, from PyPI) go into
.build/bench/azure once (a few minutes): the collection from the `ansible` package on PyPI, which bundles it.
Prints numbers; asserts nothing."""
import argparse
import datetime
import glob
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AZURE_DIR = os.environ.get("BENCH_AZURE_DIR", os.path.join(ROOT, ".build", "bench", "azure"))
VENV = os.path.join(AZURE_DIR, "venv")
COLLECTIONS = os.path.join(AZURE_DIR, "collections")
COLLECTION = os.path.join(COLLECTIONS, "ansible_collections", "azure", "azcollection")
ANSIBLE_PACKAGE = "ansible>=12,<13"  # bundles azure.azcollection 3.x; ansible-core 2.19 as ours
PLAYBOOK = os.path.join(ROOT, "tests", "bench", "xlreporter_azcollection.yml")
GRAPH_HOST = "graph.microsoft.com"


def prepare():
    """The collection and a virtual environment with its requirements, once."""
    if not os.path.exists(os.path.join(COLLECTION, "MANIFEST.json")):
        download = tempfile.mkdtemp(prefix="bench-ansible-")
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", download, ANSIBLE_PACKAGE],
                       check=True)
        [wheel] = glob.glob(os.path.join(download, "ansible-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            members = [name for name in archive.namelist() if name.startswith("ansible_collections/azure/azcollection/")]
            archive.extractall(COLLECTIONS, members)
        shutil.rmtree(download)
    if not os.path.exists(os.path.join(VENV, ".installed")):
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        import ansible.release
        subprocess.run([os.path.join(VENV, "bin", "pip"), "install", "--quiet", "ansible-core==" + ansible.release.__version__,
                        "-r", os.path.join(COLLECTION, "requirements.txt")], check=True)
        open(os.path.join(VENV, ".installed"), "w").close()
    with open(os.path.join(COLLECTION, "MANIFEST.json"), encoding="utf-8") as handle:
        return json.load(handle)["collection_info"]["version"]


def graph_certificate(state_dir):
    """The sandbox's server certificate, reissued by its CA for localhost, 127.0.0.1 and graph.microsoft.com."""
    sys.path.insert(0, ROOT)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    from sandbox import pki as pki_mod  # key material only; the sandbox itself runs as its own process

    pki = pki_mod.Pki(state_dir)
    ca_key, ca = pki_mod.load_key(pki.ca_key_path), pki_mod.load_cert(pki.ca_cert_path)
    key = pki_mod.new_key()
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, GRAPH_HOST)]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.DNSName(GRAPH_HOST),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    with open(pki.server_key_path, "wb") as handle:
        handle.write(pki_mod.key_pem(key))
    with open(pki.server_cert_path, "wb") as handle:
        handle.write(pki_mod.cert_pem(cert))


def control(conn, method, path, body=None):
    import requests
    answer = requests.request(method, conn["control_url"] + path, json=body, verify=conn["ca_bundle"], timeout=60)
    answer.raise_for_status()
    return answer.json() if answer.content else None


def run(conn, label, extra_vars):
    control(conn, "DELETE", "/requests")
    config = os.path.join(AZURE_DIR, "ansible.cfg")  # not the project's: only the azure collection
    with open(config, "w", encoding="utf-8") as handle:
        handle.write("[defaults]\ninterpreter_python = auto_silent\n")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_HOME=os.path.join(AZURE_DIR, "ansible-home"),
               ANSIBLE_CONFIG=config, ANSIBLE_NOCOLOR="1", SSL_CERT_FILE=conn["ca_bundle"],
               REQUESTS_CA_BUNDLE=conn["ca_bundle"], PATH=os.path.join(VENV, "bin") + os.pathsep + os.environ["PATH"])
    started = time.monotonic()
    result = subprocess.run([os.path.join(VENV, "bin", "ansible-playbook"), "-i", "localhost,", "-c", "local",
                             "-e", "ansible_python_interpreter=" + os.path.join(VENV, "bin", "python"),
                             "-e", json.dumps(extra_vars), PLAYBOOK], env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    log = control(conn, "GET", "/requests?entries=1")
    if result.returncode:
        print(result.stdout[-5000:], result.stderr[-3000:], [(e["method"], e["path"], e["status"]) for e in log["entries"]])
        raise SystemExit("%s: azure.azcollection playbook failed" % label)
    graph = [e for e in log["entries"] if e["service"] == "graph"]
    writes = [e for e in graph if e["method"] != "GET"]
    sign_in = [e for e in log["entries"] if e["service"] == "identity"]
    return {"label": label, "seconds": round(seconds, 1), "total": log["total"], "graph": len(graph),
            "graph_writes": len(writes), "sign_in": len(sign_in), "by_endpoint": log["by_endpoint"],
            "changed": result.stdout.count("changed: ")}


def inside(args):
    """In the private namespaces: loopback up, /etc/hosts bound over, the sandbox on 443, two runs."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    state_dir = tempfile.mkdtemp(prefix="bench-azure-sandbox-")
    hosts = os.path.join(state_dir, "hosts")
    with open(hosts, "w", encoding="utf-8") as handle:
        handle.write("127.0.0.1 localhost %s\n" % GRAPH_HOST)
    subprocess.run(["mount", "--bind", hosts, "/etc/hosts"], check=True)
    graph_certificate(state_dir)
    with open(os.path.join(state_dir, "connection.json"), "w", encoding="utf-8") as handle:
        json.dump({"ports": {"graph": 443}}, handle)  # the port the sandbox takes for Graph
    log = open(os.path.join(state_dir, "sandbox.log"), "ab")
    server = subprocess.Popen([sys.executable, "-m", "sandbox", "--state-dir", state_dir, "serve"], cwd=ROOT,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        for _attempt in range(300):
            try:
                with open(os.path.join(state_dir, "connection.json"), encoding="utf-8") as handle:
                    conn = json.load(handle)
                if conn.get("pid") == server.pid:
                    break
            except ValueError:
                pass
            time.sleep(0.1)
        if conn.get("ports", {}).get("graph") != 443:
            raise SystemExit("the sandbox's Graph did not get port 443")
        control(conn, "PUT", "/realism", {"latency_ms": args.latency_ms, "services": []})
        tenant = next(t for t in conn["tenants"] if t["key"] == "contoso")
        extra_vars = {"tenant": tenant["id"], "client_id": tenant["automation"]["client_id"],
                      "secret": tenant["automation"]["client_secret"], "authority": conn["authority_host"]}
        rows = [run(conn, "first run", extra_vars), run(conn, "second run", extra_vars)]
        graph_token = _token(conn, tenant)
        import requests
        apps = requests.get(conn["graph_endpoint"] + "/v1.0/applications", verify=conn["ca_bundle"], timeout=30,
                            params={"$filter": "displayName eq 'XLReporter Mailer (azcollection)'"},
                            headers={"Authorization": "Bearer " + graph_token}).json()["value"]
        after = {"applications": len(apps), "secrets": sum(len(app["passwordCredentials"]) for app in apps)}
        print(json.dumps({"rows": rows, "after_second_run": after}))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)


def _token(conn, tenant):
    import requests
    answer = requests.post("%s/%s/oauth2/v2.0/token" % (conn["authority_host"], tenant["id"]), verify=conn["ca_bundle"],
                           data={"grant_type": "client_credentials", "client_id": tenant["automation"]["client_id"],
                                 "client_secret": tenant["automation"]["client_secret"],
                                 "scope": "https://graph.microsoft.com/.default"}, timeout=30)
    answer.raise_for_status()
    return answer.json()["access_token"]


def measure(latency_ms):
    """Runs the comparison; returns {version, rows, after_second_run} or {skipped: why}."""
    if os.geteuid() != 0:
        return {"skipped": "needs root (a network and mount namespace in which graph.microsoft.com is the sandbox)"}
    try:
        version = prepare()
    except subprocess.CalledProcessError as exc:
        return {"skipped": "could not install azure.azcollection or its requirements from PyPI: %s" % exc}
    result = subprocess.run(["unshare", "--net", "--mount", "--propagation", "private", sys.executable,
                             os.path.abspath(__file__), "--inside", "--latency-ms", str(latency_ms)],
                            cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode:
        return {"skipped": "failed: %s %s" % (result.stdout[-3000:], result.stderr[-3000:])}
    data = json.loads(result.stdout.strip().splitlines()[-1])
    data["version"] = version
    return data


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        inside(args)
        return
    print(json.dumps(measure(args.latency_ms), indent=2))


if __name__ == "__main__":
    main()
