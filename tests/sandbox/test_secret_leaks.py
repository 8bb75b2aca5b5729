"""No secret, access token or refresh token in anything Ansible prints, logs or leaves behind (docs/secrets.md).

The demo mission runs against a sandbox of its own, every run at -vvvv: demo.yml with --check --diff on the new
tenants, then demo.yml with --diff; then side by side,
with throttling (429s): rotate_secret.yml --diff failing in the middle of the rotation (the smoke test's
delivery check signs in with a wrong password), smoke_test.yml with SMTP AUTH turned off for a sender, site.yml
signing in with a wrong client secret (contoso) and a certificate the automation identity does not have
(fabrikam), and audit.yml --check --diff. Each run's stdout and stderr, ANSIBLE_LOG_PATH, every result as a
result-archiving callback gets it (files/callback_plugins/result_events.py), the tree and junit callbacks'
files and the retry files are kept; with them the files the runs left in Ansible's temporary directories and
beside the inventory.

Searched for: every client secret the runs made (the vault store decrypted with VaultLib, before and after the
rotation), the automation identities' secrets and the users' passwords (connection.json), the wrong secret and
password, the body lines of every private key of the sandbox's PKI, the vault password, and every access, id
and refresh token the sandbox issued (GET /_sandbox/tokens); each as is, URL-encoded and base64-encoded
(XOAUTH2), and anything JWT-shaped."""
import base64
import binascii
import collections
import concurrent.futures
import json
import os
import pathlib
import re
import secrets
import stat
import subprocess
import time
import urllib.parse

import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

from conftest import ROOT, SandboxProcess
from site_helpers import Tenant, connection_options, playbook_command

CALLBACK_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "files", "callback_plugins")
DEMO_INVENTORY = ("-i", "playbooks/inventory/demo.yml", "-i", "playbooks/inventory/demo_servers.yml")
WINDOW = 12
WORD = re.compile(r"[A-Za-z0-9+/=_~.!%%-]{%d,}" % WINDOW)
JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.")
BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
PRIVATE_KEY = re.compile(r"-----BEGIN ([A-Z ]*PRIVATE KEY)-----(.*?)-----END", re.S)
SENDER = {"contoso": "enaio@contoso.example", "fabrikam": "plant@fabrikam.example"}


class Mission:
    """The sandbox, the vault password and the captured output of every run of the mission."""

    def __init__(self, root):
        self.root = root
        self.sandbox = SandboxProcess(root / "sandbox")
        self.captures = root / "captures"
        self.scratch = root / "scratch"   # extra-vars files of the failure runs: test input, not captured
        self.cache = root / "cache"        # the modules' token cache (XDG_CACHE_HOME)
        self.temp = root / "temp"          # ANSIBLE_LOCAL_TEMP and ANSIBLE_REMOTE_TEMP: what is left is searched
        for path in (self.captures, self.scratch, self.cache, self.temp):
            path.mkdir()
        self.wrong_secret = "Wr0ng~" + secrets.token_urlsafe(27)
        self.wrong_password = "Wr0ng!" + secrets.token_urlsafe(9)
        self.throttled = 0
        self.stored_before_rotation = {}
        self.runs = {}
        self.inventory_files_before = self.inventory_files()

    @staticmethod
    def inventory_files():
        """The files beside the demo's inventory (playbooks/inventory/) in the repository."""
        return {path for path in pathlib.Path(ROOT, "playbooks", "inventory").rglob("*") if path.is_file()}

    @property
    def demo_dir(self):
        return self.root / "sandbox" / "demo"

    @property
    def password_file(self):
        return os.path.join(self.sandbox.state_dir, "demo-vault-password")

    def stored_secrets(self, when="at the end"):
        """{description: value} of the client secrets in the store, decrypted with Ansible's VaultLib."""
        with open(self.password_file, encoding="utf-8") as handle:
            vault = VaultLib([("default", VaultSecret(handle.read().strip().encode()))])
        found = {}
        for path in sorted((self.demo_dir / "mailauth_secrets").rglob("*.yml")):
            record = yaml.safe_load(vault.decrypt(path.read_bytes()))["mailauth_secret"]
            found["client secret in %s (%s)" % (path.relative_to(self.demo_dir), when)] = record["value"]
        return found

    def extra_vars(self, name, data):
        path = self.scratch / (name + ".json")
        path.write_text(json.dumps(data), encoding="utf-8")
        return "@" + str(path)

    def run(self, name, playbook, *extra):
        """ansible-playbook at -vvvv with every output it has captured under captures/<name>/."""
        out = self.captures / name
        out.mkdir()
        argv, env = playbook_command(self.sandbox, playbook, *DEMO_INVENTORY, "--vault-password-file",
                                     self.password_file, "-vvvv", *extra)
        env.update({
            "ANSIBLE_LOG_PATH": str(out / "ansible.log"),
            "ANSIBLE_CALLBACK_PLUGINS": CALLBACK_DIR,
            "ANSIBLE_CALLBACKS_ENABLED": "result_events,ansible.builtin.tree,ansible.builtin.junit",
            "RESULT_EVENTS_FILE": str(out / "results.jsonl"),
            "ANSIBLE_CALLBACK_TREE_DIR": str(out / "tree"),
            "JUNIT_OUTPUT_DIR": str(out / "junit"),
            "ANSIBLE_RETRY_FILES_ENABLED": "1",
            "ANSIBLE_RETRY_FILES_SAVE_PATH": str(out / "retry"),
            "ANSIBLE_LOCAL_TEMP": str(self.temp / "local"),
            "ANSIBLE_REMOTE_TEMP": str(self.temp / "remote"),
            "XDG_CACHE_HOME": str(self.cache),
        })
        started = time.monotonic()
        done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, timeout=900, check=False)
        (out / "stdout").write_bytes(done.stdout)
        (out / "stderr").write_bytes(done.stderr)
        self.runs[name] = dict(rc=done.returncode, stdout=done.stdout.decode("utf-8", "replace"),
                               seconds=time.monotonic() - started)
        return self.runs[name]


def connection_for(sandbox, key, **credential):
    """Tenant `key`'s connection options with another credential than its automation certificate."""
    options = connection_options(sandbox, key)
    del options["client_certificate_path"]
    return dict(options, **credential)


def app_defaults(**changes):
    """The demo inventory's mailauth_app_defaults (playbooks/inventory/demo.yml) with `changes`."""
    defaults = {"smoke_test_smtp_host": "{{ demo_sandbox.smtp.host }}",
                "smoke_test_smtp_port": "{{ demo_sandbox.smtp.port }}",
                "smoke_test_imap_host": "{{ demo_sandbox.imap.host }}",
                "smoke_test_imap_port": "{{ demo_sandbox.imap.port }}",
                "smoke_test_to": ["{{ demo_recipient }}"]}
    defaults.update(changes)
    return defaults


@pytest.fixture(scope="module")
def mission(tmp_path_factory):
    mission = Mission(tmp_path_factory.mktemp("leaks"))
    sandbox = mission.sandbox
    sandbox.cli("up")
    try:
        with open(os.open(mission.password_file, os.O_WRONLY | os.O_CREAT, 0o600), "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(24) + "\n")
        tenants = {key: sandbox.tenant(key) for key in SENDER}

        # The demo in check mode with --diff before anything exists (the plan, servers name their files), then
        # for real with --diff: applications, secrets, consent, Exchange, servers, mail sent and read back.
        mission.run("demo_check", "playbooks/demo.yml", "--check", "--diff")
        mission.run("demo", "playbooks/demo.yml", "--diff")
        mission.stored_before_rotation = mission.stored_secrets("before the rotation")

        # Then four runs side by side (they touch different tenants or only read), with throttling (429s):
        # - contoso's enaio secret is rotated (--diff) and the rotation fails in the middle: the new secret is
        #   made, stored and on the servers, then the smoke test's delivery check signs in with a wrong password;
        # - fabrikam's smoke tests, with SMTP AUTH turned off for the enaio sender;
        # - site.yml signing in with a wrong client secret (contoso) and a certificate the automation
        #   identity does not have (fabrikam);
        # - the audit (--check --diff, as audit.yml always is), reports beside the inventory.
        readers = {key: Tenant(sandbox, key).apps("mailauth-demo-reader")[0]["appId"] for key in SENDER}
        Tenant(sandbox, "fabrikam").exchange("Set-CASMailbox", Identity=SENDER["fabrikam"],
                                             SmtpClientAuthenticationDisabled=True)
        verify_with = {"sign_in": "password", "client_id": "{{ leak_readers[inventory_hostname] }}",
                       "username": "{{ demo_recipient }}", "password": "{{ leak_wrong_password }}"}
        rotate_vars = {"mailauth_app_defaults": app_defaults(smoke_test_verify_delivery=True,
                                                             smoke_test_verify_with=verify_with),
                       "leak_readers": readers, "leak_wrong_password": mission.wrong_password}
        wrong_vars = {"mailauth_m365_connection": "{{ leak_connections[inventory_hostname] }}", "leak_connections": {
            "contoso": connection_for(sandbox, "contoso", client_secret=mission.wrong_secret),
            "fabrikam": connection_for(sandbox, "fabrikam",
                                       client_certificate_path=tenants["contoso"]["automation"]["certificate_path"])}}
        sandbox.control("PUT", "/realism", {"throttle_rate": 0.1, "retry_after": 1, "seed": 7})
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            for future in [
                    pool.submit(mission.run, "rotate_failing", "playbooks/rotate_secret.yml", "--diff",
                                "-e", "rotate_secret_tenants=contoso", "-e", "rotate_secret_apps=enaio-mail",
                                "-e", mission.extra_vars("rotate", rotate_vars)),
                    pool.submit(mission.run, "smoke_failing", "playbooks/smoke_test.yml",
                                "-e", "smoke_test_tenants=fabrikam"),
                    pool.submit(mission.run, "wrong_identity", "playbooks/site.yml",
                                "-e", mission.extra_vars("wrong", wrong_vars)),
                    pool.submit(mission.run, "audit", "playbooks/audit.yml", "--check", "--diff",
                                "-e", "audit_report_dir=%s" % (mission.demo_dir / "mailauth_reports"))]:
                future.result()
        mission.throttled = sum(count for status, count in sandbox.control("GET", "/requests")["by_status"].items()
                                if status == "429")
        yield mission
    finally:
        sandbox.cli("down")


# --- what the runs did: each went down the path it is meant to cover ---------------------------------------
def test_the_runs_took_their_paths(mission):
    runs = mission.runs
    lines = ["%-15s rc %d  %5.1f s  %7d bytes of stdout" % (name, run["rc"], run["seconds"], len(run["stdout"]))
             for name, run in runs.items()]
    print("\n" + "\n".join(lines) + "\n%d requests throttled (429)" % mission.throttled)
    planned = " ".join(runs["demo_check"]["stdout"].split())  # the callback wraps long lines
    assert runs["demo_check"]["rc"] == 0 and "then, once the application exists: create its enterprise" in planned
    assert runs["demo"]["rc"] == 0 and runs["demo"]["stdout"].count("enaio-mail smoke test: delivered") >= 2
    assert runs["audit"]["rc"] == 0 and mission.throttled > 0
    rotate = runs["rotate_failing"]
    assert rotate["rc"] != 0 and "Not finished (old secret kept): enaio-mail" in rotate["stdout"]
    store_file = "client secret in mailauth_secrets/contoso/enaio-mail.yml (%s)"
    assert mission.stored_before_rotation[store_file % "before the rotation"] != \
        mission.stored_secrets()[store_file % "at the end"]  # the new secret was made and stored
    assert "case: password_wrong" in rotate["stdout"]
    smoke = runs["smoke_failing"]
    assert smoke["rc"] != 0 and "case: smtp_auth_disabled_mailbox" in smoke["stdout"]
    wrong = runs["wrong_identity"]
    assert wrong["rc"] != 0 and "AADSTS7000215" in wrong["stdout"] and "AADSTS700027" in wrong["stdout"]


# --- the search ----------------------------------------------------------------------------------------------
def searched_values(mission):
    """{description: value} of every secret and token to look for."""
    sandbox = mission.sandbox
    with open(mission.password_file, encoding="utf-8") as handle:
        password = handle.read().strip()
    values = {"the vault password": password,
              "the wrong client secret": mission.wrong_secret, "the wrong password": mission.wrong_password}
    for tenant in sandbox.conn["tenants"]:
        values["automation secret of %s" % tenant["key"]] = tenant["automation"]["client_secret"]
        for name, client in tenant["clients"].items():
            for key in ("client_secret", "expired_client_secret"):
                if client.get(key):
                    values["%s of %s's %s client" % (key, tenant["key"], name)] = client[key]
        for upn, user in tenant["users"].items():
            values["password of %s" % upn] = user["password"]
    values.update(mission.stored_before_rotation)
    values.update(mission.stored_secrets())
    for path in sorted((mission.root / "sandbox" / "pki").iterdir()):
        for block in PRIVATE_KEY.finditer(path.read_text(encoding="utf-8")):
            for number, line in enumerate(block.group(2).split()):
                values["line %d of the private key in %s" % (number, path.name)] = line
    for number, token in enumerate(sandbox.control("GET", "/tokens")["value"]):
        values["%s %d (client %s)" % (token["kind"], number, token["client_id"])] = token["value"]
    return values


def needles(values):
    """{text to find: description}: each value; secrets and tokens also URL-encoded, and base64-encoded at each
    of the three alignments a value can have inside a longer base64 string (XOAUTH2's user=...^Aauth=Bearer ...)."""
    found = {}
    for description, value in values.items():
        found[value] = description
        if description.startswith("line "):  # PEM body lines are base64 already
            continue
        for quoted in (urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)):
            found.setdefault(quoted, description + " (URL-encoded)")
        raw = value.encode()
        for shift in range(3):
            encoded = base64.b64encode(b"\0" * shift + raw).decode()
            middle = encoded[-(-8 * shift // 6):8 * (shift + len(raw)) // 6]  # the characters only the value makes
            if len(middle) >= WINDOW:
                found.setdefault(middle, description + " (base64)")
                found.setdefault(middle.replace("+", "-").replace("/", "_"), description + " (base64url)")
    return found


def views(text):
    """`text`, and what it says URL-decoded, JSON-unescaped and with each base64 run decoded."""
    found = [text, urllib.parse.unquote_plus(text), text.replace("\\n", "\n").replace("\\u0001", "\x01")]
    for run in BASE64_RUN.findall(text):
        try:
            found.append(base64.b64decode(run + "=" * (-len(run) % 4), altchars=b"-_" if "-" in run or "_" in run
                                          else None).decode("latin-1"))
        except (binascii.Error, ValueError):
            continue
    return found


class Search:
    """Finds many needles in many files at once: the files' words (runs of the characters secrets, tokens and
    their encodings are made of) are few once deduplicated, and each needle is looked up by its first WINDOW
    characters in every WINDOW-long slice of them. Needles with other characters are looked for plainly."""

    def __init__(self, patterns):
        self.patterns = patterns
        self.index = {}
        self.plain = []
        for needle in patterns:
            if len(needle) >= WINDOW and WORD.fullmatch(needle):
                self.index.setdefault(needle[:WINDOW], []).append(needle)
            else:
                self.plain.append(needle)

    def __call__(self, path):
        """[(description, context)] of what `path` holds; a JWT-shaped string counts as well."""
        hits = {}
        for view in views(path.read_bytes().decode("utf-8", "replace")):
            for match in JWT_SHAPE.finditer(view):
                hits.setdefault("a JWT-shaped string", view[max(0, match.start() - 160):match.end()])
            for needle in self.plain:
                where = view.find(needle)
                if where >= 0:
                    hits.setdefault(self.patterns[needle], view[max(0, where - 160):where + 20])
            for word in set(WORD.findall(view)):
                for start in range(len(word) - WINDOW + 1):
                    for needle in self.index.get(word[start:start + WINDOW], ()):
                        if word.startswith(needle, start):
                            where = view.find(word)
                            hits.setdefault(self.patterns[needle], view[max(0, where - 160):where + start + 20])
        return sorted(hits.items())


def captured_files(mission):
    """Every file of the captures, the temporary directories, the demo directory (where demo.yml keeps what a
    site keeps beside its inventory) and new files beside the inventory itself, except the server stand-ins'
    configuration (where the secret belongs) and what the store encrypted."""
    files = [path for path in mission.captures.rglob("*") if path.is_file()]
    files += [path for path in mission.temp.rglob("*") if path.is_file()]
    files += mission.inventory_files() - mission.inventory_files_before
    for path in mission.demo_dir.rglob("*"):
        if path.is_file() and path.relative_to(mission.demo_dir).parts[0] != "fleet":
            with open(path, "rb") as handle:
                if handle.read(15) != b"$ANSIBLE_VAULT;":
                    files.append(path)
    return sorted(files)


@pytest.fixture(scope="module")
def search(mission):
    values = searched_values(mission)
    search = Search(needles(values))
    search.values = values
    return search


def test_no_secret_or_token_in_anything_ansible_printed_or_wrote(mission, search):
    started = time.monotonic()
    files = captured_files(mission)
    leaks = ["%s: %s: ...%s" % (path.relative_to(mission.root), what, context.replace("\n", " | "))
             for path in files for what, context in search(path)]
    kinds = collections.Counter(description.split(" ")[0] if "_token " in description else "secret or key line"
                                for description in search.values)
    print("\nsearched %d files (%d bytes) for %d values %s in %d forms, in %.1f s" % (
        len(files), sum(path.stat().st_size for path in files), len(search.values), dict(kinds),
        len(search.patterns), time.monotonic() - started))
    assert kinds["access_token"] and kinds["refresh_token"] and kinds["id_token"]
    assert {"ansible.log", "stdout", "stderr", "results.jsonl"} <= {path.name for path in files}
    assert not leaks, "\n".join(leaks[:40])


def test_the_search_sees_what_it_looks_for(mission, search):
    """Where the values belong, the search finds them: the client secrets in the servers' settings, the access
    tokens the modules got in their token cache. So a clean result above is not the search missing them."""
    in_servers = {what for path in (mission.demo_dir / "fleet").rglob("*") if path.is_file()
                  for what, _context in search(path)}
    assert {what for what in in_servers if what.startswith("client secret in ")} >= {
        "client secret in mailauth_secrets/%s/%s.yml (at the end)" % (tenant, app)
        for tenant in SENDER for app in ("enaio-mail", "xlreporter-mail")}
    in_cache = {what.split(" ")[0] for path in mission.cache.rglob("*.json") for what, _context in search(path)}
    assert "access_token" in in_cache  # the delivery check's refresh tokens are not kept in a file


def test_the_search_finds_encoded_values(tmp_path):
    """Without a sandbox: values hidden the ways a leak could encode them are found."""
    token = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0." + secrets.token_urlsafe(64)
    secret = "Ab1~" + secrets.token_urlsafe(30)
    key_line = base64.b64encode(secrets.token_bytes(48)).decode()
    search = Search(needles({"the token": token.split(".")[2], "the secret": secret, "the key line": key_line}))
    planted = {
        "xoauth2": ("AUTH XOAUTH2 " + base64.b64encode(
            b"user=a@b.example\x01auth=Bearer %s\x01\x01" % token.encode()).decode(), "the token"),
        "xoauth2-glued": ("x" + base64.b64encode(b"u=ab\x01auth=Bearer " + token.encode()).decode(),
                          "the token (base64)"),
        "form": ("grant_type=client_credentials&client_secret=" + urllib.parse.quote(secret, safe=""),
                 "the secret"),
        "base64-shifted": (base64.b64encode(b"pw:" + secret.encode()).decode(), "the secret"),
        "json": (json.dumps({"key": "-----BEGIN PRIVATE KEY-----\n%s\n-----END PRIVATE KEY-----" % key_line}),
                 "the key line"),
    }
    for name, (text, expected) in planted.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        assert expected in dict(search(path)), (name, search(path))


def test_files_that_hold_secrets_are_encrypted_or_owner_only(mission, search):
    store = sorted((mission.demo_dir / "mailauth_secrets").rglob("*.yml"))
    assert len(store) == 4
    for path in store:
        assert path.read_bytes().startswith(b"$ANSIBLE_VAULT;"), path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    holding = [path for path in (mission.demo_dir / "fleet").rglob("*") if path.is_file() and search(path)]
    token_caches = [path for path in mission.cache.rglob("*") if path.is_file() and search(path)]
    assert holding and token_caches
    for path in holding + token_caches:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, "%s can be read by others" % path
