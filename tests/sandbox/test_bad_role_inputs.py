"""Bad inputs to playbooks/site.yml and its roles fail before any write, naming the input and the fix.

tests/sandbox/files/bad_role_inputs.yml has one tenant "host" per case, all of them the sandbox's contoso
tenant; one ansible-playbook run covers them all (plus one run without a vault password). The sandbox's request
log shows that nothing was written: no POST/PATCH/PUT/DELETE to Graph and no Exchange cmdlet. The catalogue is
docs/bad_inputs.md (section "Roles and playbooks"); keep the two in step."""
import os
import re

import pytest

from test_integration_targets import ROOT, run_playbook

INVENTORY = os.path.join(ROOT, "tests", "sandbox", "files", "bad_role_inputs.yml")
FILES = os.path.join(ROOT, "tests", "sandbox", "files")
WRITES = ("POST", "PATCH", "PUT", "DELETE")

# host: (the input the message must name, a fragment of the fix it must give)
CASES = {
    "apps-not-a-list": ("mailauth_apps", 'one "- product: ..." item each'),
    "product-typo": ("tenant_mail_app_product", "give one of sage100, monitor_erp, xlreporter"),
    "profile-key-typo": ("trasnport", "Supported parameters include"),
    "profile-transport-unknown": ("transport", "must be one of: smtp, graph, ews"),
    "profile-file-missing": ("profile_file", "Give the path of a YAML file with a mail_profile mapping"),
    "profile-file-not-a-profile": ("not_a_profile.yml", "holds no mail_profile mapping"),
    "profile-permission-typo": ("api_permissions", "Close matches: SMTP.Send"),
    "secret-store-typo": ("tenant_mail_app_secret_store", "must be one of: vault_file, tasks"),
    "secret-store-tasks-missing": ("mailauth_secret_store_tasks", "give the tasks file"),
    "secret-store-dir-unwritable": ("mailauth_secret_store_dir", "Fix the store's permissions"),
    "secret-lifetime-too-long": ("secret_lifetime_days", "give 1 to 730"),
    "sender-missing": ("mailauth_apps", "needs sender and product"),
    "sender-not-an-address": ("tenant_mail_app_sender", "is not a mailbox address"),
}
NO_PASSWORD = ("no-vault-password", ("vault password", "--vault-password-file"))


def failures(stdout):
    """{host: the text of its failure} from the callback's output (YAML result format)."""
    found = {}
    for match in re.finditer(r"^fatal: \[([^\]]+)\]: FAILED! => (.*?)(?=^\S)", stdout, re.M | re.S):
        found[match.group(1)] = re.sub(r"\s+", " ", match.group(2)).replace("''", "'")  # YAML's quoting
    return found


def writes(log):
    return {endpoint: count for endpoint, count in log["by_endpoint"].items()
            if endpoint.split()[0] == "exchange"
            or (endpoint.split()[0] == "graph" and endpoint.split()[1] in WRITES)}


@pytest.fixture
def bad_run(sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("BAD_INPUT_FILES", FILES)
    monkeypatch.setenv("BAD_INPUT_STORE", str(tmp_path / "mailauth_secrets"))
    password = tmp_path / "vault-password"
    password.write_text("bad inputs only\n", encoding="utf-8")

    def run(*extra):
        sandbox.control("DELETE", "/requests")
        result = run_playbook(sandbox, "playbooks/site.yml", "-i", INVENTORY, "--forks", "20", *extra, check=False)
        return result, sandbox.control("GET", "/requests")
    run.password = str(password)
    return run


def test_every_bad_input_fails_before_any_write(bad_run):
    result, log = bad_run("--vault-password-file", bad_run.password, "--limit", "all:!%s" % NO_PASSWORD[0])
    found = failures(result.stdout)
    assert result.returncode != 0
    assert sorted(found) == sorted(CASES), result.stdout[-5000:]
    for host, (names, fix) in CASES.items():
        assert names in found[host] and fix in found[host], (host, found[host])
    assert "changed=0" in result.stdout and not re.search(r"changed=[1-9]", result.stdout)
    assert writes(log) == {}


def test_a_play_without_the_vault_password_stops_before_any_write(bad_run):
    host, fragments = NO_PASSWORD
    result, log = bad_run("--limit", host)
    found = failures(result.stdout)
    assert list(found) == [host] and all(fragment in found[host] for fragment in fragments), found
    assert writes(log) == {}
