"""roles/app_mail_config on a fleet of local hosts (connection local, one directory per host).

Each host gets a fake hand-off (`mail_app`) built from the shipped product profile, as
tenant_mail_app would make it. The fleet runs twice with --diff: every sheet is checked field by
field against its profile, enaio's osweb-prod.yml merge keeps the file's other settings, files with
the secret are 0600, the secret never shows in the output, the second run changes nothing and the
product's service is restarted exactly once. Broken inputs fail before anything is written.

The restarts go to init scripts in a private mount namespace (unshare, root only) over
/etc/init.d, so nothing on the machine is touched; without it that one check is skipped."""
import grp
import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROFILES = os.path.join(ROOT, "roles", "tenant_mail_app", "vars", "profiles")
PRODUCTS = ("sage100", "monitor_erp", "xlreporter", "truechem", "enaio")
TENANT_ID = "6f4b1c2d-7e8f-4a0b-9c1d-2e3f4a5b6c7d"
SECRET_END = "2028-11-23T09:30:00Z"
LEAVE_EMPTY = "(leave empty)"

PLAYBOOK = """
- name: Configure mail on the fleet
  hosts: fleet
  gather_facts: false
  roles:
    - role: mailauth.m365.app_mail_config
"""

# An osweb-prod.yml as an enaio installation has it: other settings, an old sendEmail block with a
# key the role does not manage, and one managed key also spelled flat (it must end up defined once).
EXISTING_OSWEB = """\
# enaio service-manager
server:
  port: 8090
  ssl: {enabled: true, keyStore: 'C:\\\\certs\\\\osweb.p12'}
spring:
  profiles: [prod, ldap]
featureSwitches:
  sendEmail:
    smtpServer: mail.old.example
    smtpPort: 25
    maxAttachmentSizeMb: 20
  dmsPreview: false
featureSwitches.sendEmail.smtpUsername: old-user@old.example
osweb:
  title: "Contoso DMS"
  sessionTimeoutMinutes: 30
"""


def secret_of(host):
    return "Zq8~%s-Secret_Value.0123456789abcdef" % host.replace("_", "-")


def profile(product):
    with open(os.path.join(PROFILES, product + ".yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["mail_profile"]


def handoff(product, host):
    """mail_app as tenant_mail_app hands it over (docs/profiles.md)."""
    prof = profile(product)
    smtp = prof.get("smtp") or {}
    authority = "https://login.microsoftonline.com/" + TENANT_ID
    has_secret = prof.get("credential") == "secret"
    return {
        "product": product, "profile": prof,
        "tenant_id": TENANT_ID, "tenant_domain": "contoso.example",
        "client_id": "0c1d2e3f-%04d-4a5b-8c7d-9e0f1a2b3c4d" % PRODUCTS.index(product),
        "client_secret": secret_of(host) if has_secret else None,
        "secret_key_id": "5a6b7c8d-0000-4e1f-9a2b-3c4d5e6f7a8b" if has_secret else None,
        "secret_end_date": SECRET_END if has_secret else None,
        "authority": authority,
        "authorization_endpoint": authority + "/oauth2/v2.0/authorize",
        "token_endpoint": authority + "/oauth2/v2.0/token",
        "token_endpoint_template": "https://login.microsoftonline.com/#TenantID#/oauth2/v2.0/token",
        "scopes": prof.get("scopes"),
        "smtp_host": smtp.get("host"), "smtp_port": smtp.get("port"), "smtp_encryption": smtp.get("encryption"),
        "sender": "mailer@contoso.example",
        "redirect_uri": prof.get("redirect_uri"), "redirect_port": prof.get("redirect_port"),
        "code_challenge_method": prof.get("code_challenge_method"),
        "token_grace_seconds": prof.get("token_grace_seconds"),
    }


def field_value(app, field):
    value = app[field["from"]] if "from" in field else field["value"]
    text = "" if value is None else str(value)
    return text if text else LEAVE_EMPTY


def sections(prof):
    sheet = prof["settings_sheet"]
    return [sheet] + [v for v in sheet.values() if isinstance(v, dict) and "fields" in v]


def has_secret_field(prof):
    return any(f.get("secret") for s in sections(prof) for f in s["fields"])


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def recap(stdout):
    """{host: {"ok": n, "changed": n, "failed": n, ...}} from the PLAY RECAP."""
    found = {}
    for match in re.finditer(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+"
                             r"skipped=(\d+)\s+rescued=(\d+)", stdout, re.M):
        found[match.group(1)] = dict(zip(("ok", "changed", "unreachable", "failed", "skipped", "rescued"),
                                         map(int, match.groups()[1:])))
    assert found, stdout[-3000:]
    return found


def can_unshare():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "--mount", "true"], capture_output=True, check=False).returncode == 0


def service_account():
    """An existing unprivileged user and group to own files, when the tests may chown (root)."""
    if os.geteuid() != 0:
        return None
    for user, group in (("nobody", "nogroup"), ("nobody", "nobody")):
        try:
            pwd.getpwnam(user)
            grp.getgrnam(group)
        except KeyError:
            continue
        return user, group
    return None


class Fleet:
    """An inventory of local hosts, a playbook, and the runs."""

    def __init__(self, base):
        self.base = base
        self.hosts = {}
        self.initd = None
        self.service_log = os.path.join(base, "service.log")

    def add(self, host, product, **extra):
        app = handoff(product, host)
        app.update(extra.pop("mail_app_overrides", {}))
        self.hosts[host] = dict({"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                                 "mail_app": app, "app_mail_config_dir": self.dir(host)}, **extra)
        return app

    def dir(self, host):
        return os.path.join(self.base, host, "etc-mailauth")

    def with_services(self):
        """Each host restarts its own fake service: an init script that logs what it is asked."""
        self.initd = os.path.join(self.base, "init.d")
        os.makedirs(self.initd, exist_ok=True)
        for host, hostvars in self.hosts.items():
            name = "mailauth-test-" + host
            hostvars["app_mail_config_service"] = name
            script = os.path.join(self.initd, name)
            with open(script, "w", encoding="utf-8") as handle:
                handle.write('#!/bin/sh\necho "%s $1" >> %s\nexit 0\n' % (name, self.service_log))
            os.chmod(script, 0o755)

    def restarts(self):
        if not os.path.exists(self.service_log):
            return {}
        counts = {}
        with open(self.service_log, encoding="utf-8") as handle:
            for line in handle:
                name, action = line.split()
                if action in ("restart", "start"):  # sysvinit's restart is stop, then start
                    counts[name] = counts.get(name, 0) + 1
        return counts

    def run(self, *args, limit=None):
        inventory = os.path.join(self.base, "inventory.json")
        with open(inventory, "w", encoding="utf-8") as handle:
            json.dump({"all": {"children": {"fleet": {"hosts": self.hosts}}}}, handle)
        playbook = os.path.join(self.base, "play.yml")
        with open(playbook, "w", encoding="utf-8") as handle:
            handle.write(PLAYBOOK)
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_FORCE_COLOR="0", ANSIBLE_HOME=os.path.join(ROOT, ".build", "ansible-home"),
                   ANSIBLE_LOCAL_TEMP=os.path.join(ROOT, ".build", "ansible-tmp"))
        command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", inventory, playbook, *args]
        if limit:
            command += ["--limit", limit]
        if self.initd:
            command = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                       'mount --bind "$0" /etc/init.d && exec "$@"', self.initd, *command]
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """Every product once, enaio twice (an existing osweb-prod.yml elsewhere, and none), run twice."""
    base = str(tmp_path_factory.mktemp("fleet"))
    fleet = Fleet(base)
    for product in PRODUCTS:
        fleet.add(product, product, app_mail_config_sheet_formats=["txt", "md"])
    fleet.service_account = service_account()
    if fleet.service_account:  # XLReporter's files belong to its service account
        fleet.hosts["xlreporter"].update(app_mail_config_owner=fleet.service_account[0],
                                         app_mail_config_group=fleet.service_account[1])
    osweb = os.path.join(base, "enaio_existing", "service-manager", "config", "osweb-prod.yml")
    os.makedirs(os.path.dirname(osweb))
    with open(osweb, "w", encoding="utf-8") as handle:
        handle.write(EXISTING_OSWEB)
    os.chmod(osweb, 0o644)
    fleet.add("enaio_existing", "enaio", app_mail_config_osweb_path=osweb)
    fleet.existing_osweb = osweb
    fleet.handlers_checked = can_unshare()
    if fleet.handlers_checked:
        fleet.with_services()
    fleet.first = fleet.run("--diff")
    assert fleet.first.returncode == 0, fleet.first.stdout[-20000:] + fleet.first.stderr[-5000:]
    fleet.restarts_first = fleet.restarts()
    fleet.second = fleet.run("--diff")
    assert fleet.second.returncode == 0, fleet.second.stdout[-20000:] + fleet.second.stderr[-5000:]
    fleet.restarts_second = fleet.restarts()
    return fleet


def sheet_lines(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read().splitlines()


@pytest.mark.parametrize("product", PRODUCTS)
def test_settings_sheet_has_the_guides_fields_in_order(fleet, product):
    prof = profile(product)
    app = fleet.hosts[product]["mail_app"]
    lines = sheet_lines(os.path.join(fleet.dir(product), product + "-mail-settings.txt"))
    for section in sections(prof):
        start = lines.index(section["title"])
        assert lines[start + 1] == "Enter, in this order:"
        expected = ["%2d. %s: %s" % (n, f["label"], field_value(app, f)) for n, f in enumerate(section["fields"], 1)]
        got = lines[start + 2:start + 2 + len(expected)]
        assert got == expected
        after = lines[start + 2 + len(expected):]
        assert not after or after[0] == "", "a field the guide does not ask for: %r" % after[:1]
    for note in prof["settings_sheet"].get("notes", []):
        assert "- " + note in lines
    text = "\n".join(lines)
    assert TENANT_ID in text and app["client_id"] in text
    if app["client_secret"]:
        assert "Client secret: expires %s, key ID %s" % (SECRET_END, app["secret_key_id"]) in lines
    else:
        assert "Client secret: none (public client)" in lines
    if "ews_end_of_life" in prof:
        assert any(prof["ews_end_of_life"] in line for line in lines)


@pytest.mark.parametrize("product", PRODUCTS)
def test_markdown_sheet_rows(fleet, product):
    prof = profile(product)
    app = fleet.hosts[product]["mail_app"]
    lines = sheet_lines(os.path.join(fleet.dir(product), product + "-mail-settings.md"))
    for section in sections(prof):
        start = lines.index("## " + section["title"])
        assert lines[start + 2:start + 4] == ["| # | Field | Value |", "|---|---|---|"]
        expected = ["| %d | %s | %s |" % (n, f["label"], field_value(app, f).replace("|", "\\|"))
                    for n, f in enumerate(section["fields"], 1)]
        assert lines[start + 4:start + 4 + len(expected)] == expected


@pytest.mark.parametrize("product", PRODUCTS)
def test_modes_follow_the_secret(fleet, product):
    prof = profile(product)
    directory = fleet.dir(product)
    assert mode(directory) == 0o750
    expected = 0o600 if has_secret_field(prof) else 0o644
    for ext in ("txt", "md"):
        assert mode(os.path.join(directory, "%s-mail-settings.%s" % (product, ext))) == expected
    if product == "enaio":
        assert mode(os.path.join(directory, "osweb-prod.yml")) == 0o600
        assert mode(os.path.join(directory, "enaio-mail.reg")) == 0o600
    else:
        assert sorted(os.listdir(directory)) == ["%s-mail-settings.md" % product, "%s-mail-settings.txt" % product]


def test_files_belong_to_the_service_account(fleet):
    if not fleet.service_account:
        pytest.skip("needs root and a nobody user to change owners")
    user, group = fleet.service_account
    directory = fleet.dir("xlreporter")
    for path in [directory] + [os.path.join(directory, name) for name in os.listdir(directory)]:
        info = os.stat(path)
        assert (pwd.getpwuid(info.st_uid).pw_name, grp.getgrgid(info.st_gid).gr_name) == (user, group), path
    assert mode(os.path.join(directory, "xlreporter-mail-settings.txt")) == 0o600


def test_osweb_created_when_missing(fleet):
    with open(os.path.join(fleet.dir("enaio"), "osweb-prod.yml"), encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    app = fleet.hosts["enaio"]["mail_app"]
    assert data == {"featureSwitches": {"sendEmail": {
        "smtpServer": "smtp.office365.com", "smtpPort": 587, "smtpEncryption": "TLS",
        "smtpAuthentication": "MS_OAUTH", "smtpUsername": "mailer@contoso.example",
        "oAuthClientId": app["client_id"], "oAuthClientSecret": app["client_secret"], "oAuthTenantId": TENANT_ID}}}


def test_osweb_merge_keeps_the_other_settings(fleet):
    before = yaml.safe_load(EXISTING_OSWEB)
    with open(fleet.existing_osweb, encoding="utf-8") as handle:
        after = yaml.safe_load(handle)
    app = fleet.hosts["enaio_existing"]["mail_app"]
    for key in ("server", "spring", "osweb"):
        assert after[key] == before[key]
    assert after["featureSwitches"]["dmsPreview"] is False
    send = after["featureSwitches"]["sendEmail"]
    assert send["maxAttachmentSizeMb"] == 20
    assert send["smtpServer"] == "smtp.office365.com" and send["smtpPort"] == 587
    assert send["smtpUsername"] == "mailer@contoso.example"
    assert send["oAuthClientSecret"] == app["client_secret"]
    assert send["smtpEncryption"] == "TLS" and send["smtpAuthentication"] == "MS_OAUTH"
    assert "featureSwitches.sendEmail.smtpUsername" not in after  # one definition left
    assert list(after)[:2] == ["server", "spring"]  # the file's order, not sorted
    assert mode(fleet.existing_osweb) == 0o600
    backups = [n for n in os.listdir(os.path.dirname(fleet.existing_osweb)) if n.startswith("osweb-prod.yml.")]
    assert len(backups) == 1
    with open(os.path.join(os.path.dirname(fleet.existing_osweb), backups[0]), encoding="utf-8") as handle:
        assert handle.read() == EXISTING_OSWEB


def test_reg_file_is_what_regedit_imports(fleet):
    with open(os.path.join(fleet.dir("enaio"), "enaio-mail.reg"), "rb") as handle:
        raw = handle.read()
    assert raw.startswith(b"\xff\xfe")  # UTF-16LE with a byte order mark
    text = raw[2:].decode("utf-16-le")
    assert "\n" not in text.replace("\r\n", "")  # CRLF only
    lines = text.split("\r\n")
    assert lines[0] == "Windows Registry Editor Version 5.00"
    app = fleet.hosts["enaio"]["mail_app"]
    values = dict(line.split("=", 1) for line in lines if line.startswith('"'))
    assert lines.index(r"[HKEY_LOCAL_MACHINE\SOFTWARE\OPTIMAL SYSTEMS\enaio server\Mail]") < lines.index(
        '"OfficeClientID"=' + values['"OfficeClientID"'])
    assert values['"OfficeClientID"'] == '"%s"' % app["client_id"]
    assert values['"OfficeClientSecret"'] == '"%s"' % app["client_secret"]
    assert values['"OfficeTenantID"'] == '"%s"' % TENANT_ID
    assert values['"OfficeTokenEndpoint"'] == '"https://login.microsoftonline.com/#TenantID#/oauth2/v2.0/token"'
    assert values['"OfficeAccessScopes"'] == '"https://outlook.office365.com/.default"'
    assert values['"OfficeTokenGraceTimeInSeconds"'] == "dword:0000012c"  # 300
    assert values['"SMTPUserName"'] == '"mailer@contoso.example"'
    assert values['"SMTPPort"'] == "dword:0000024b"  # 587
    assert values['"SMTPEncryption"'] == "dword:00000002"  # TLS


def test_secret_never_in_output_but_other_diffs_are(fleet):
    for run in (fleet.first, fleet.second):
        output = run.stdout + run.stderr
        for host, hostvars in fleet.hosts.items():
            secret = hostvars["mail_app"]["client_secret"]
            if secret:
                assert secret not in output, host
                assert secret[:12] not in output, host
    # a sheet without a secret shows its diff
    assert "+ 1. Address: smtp.office365.com" in fleet.first.stdout
    assert "+ 7. Application (client) ID: %s" % fleet.hosts["monitor_erp"]["mail_app"]["client_id"] in fleet.first.stdout
    # the changed files with a secret are named, without content
    assert "Changed (content not shown, it holds the client secret)" in fleet.first.stdout


def test_second_run_changes_nothing(fleet):
    first, second = recap(fleet.first.stdout), recap(fleet.second.stdout)
    assert set(first) == set(fleet.hosts)
    for host in fleet.hosts:
        assert first[host]["changed"] > 0 and first[host]["failed"] == 0, host
        assert second[host]["changed"] == 0 and second[host]["failed"] == 0, host


def test_service_restarted_once_per_run_with_changes(fleet):
    if not fleet.handlers_checked:
        pytest.skip("needs root and unshare for a private /etc/init.d")
    assert fleet.restarts_first == {"mailauth-test-" + host: 1 for host in fleet.hosts}
    assert fleet.restarts_second == fleet.restarts_first  # no restart without a change
    assert fleet.first.stdout.count("RUNNING HANDLER [mailauth.m365.app_mail_config : Restart the product's service]") == 1


def test_bad_inputs_fail_before_writing(tmp_path):
    fleet = Fleet(str(tmp_path))
    secret = secret_of("enaio_bad_yaml")
    not_yaml = str(tmp_path / "bad_yaml-osweb-prod.yml")
    with open(not_yaml, "w", encoding="utf-8") as handle:  # a tab indent and an unclosed bracket
        handle.write("featureSwitches:\n\tsendEmail:\n    oAuthClientSecret: %s\n  list: [a, b\n" % secret)
    a_list = str(tmp_path / "a_list-osweb-prod.yml")
    with open(a_list, "w", encoding="utf-8") as handle:
        handle.write("- server\n- port\n")
    fleet.add("enaio_bad_yaml", "enaio", app_mail_config_osweb_path=not_yaml)
    fleet.add("enaio_a_list", "enaio", app_mail_config_osweb_path=a_list)
    fleet.add("xlreporter_no_secret", "xlreporter", mail_app_overrides={"client_secret": None})
    nowhere = str(tmp_path / "not-installed" / "config" / "osweb-prod.yml")
    fleet.add("enaio_not_installed", "enaio", app_mail_config_osweb_path=nowhere)
    result = fleet.run("--diff")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert recap(result.stdout)["enaio_bad_yaml"]["failed"] == 1
    assert "%s on enaio_bad_yaml is not valid YAML" % not_yaml in output
    assert "Nothing was written. Fix: repair the file" in output
    assert "%s on enaio_a_list is YAML but its top level is a list" % a_list in output
    assert "takes mail_app.client_secret from the hand-off, which has no value for it" in output
    assert "%s on enaio_not_installed does not exist and neither does its directory" % nowhere in output
    assert all(counts["failed"] == 1 for counts in recap(result.stdout).values())
    assert secret not in output
    for host in fleet.hosts:
        assert not os.path.exists(fleet.dir(host)), host
    with open(not_yaml, encoding="utf-8") as handle:
        assert secret in handle.read()


def test_check_mode_writes_nothing_and_diffs_only_on_request(tmp_path):
    fleet = Fleet(str(tmp_path))
    fleet.add("truechem", "truechem")
    fleet.add("sage100", "sage100")
    result = fleet.run("--check")
    assert result.returncode == 0, result.stdout[-5000:]
    assert recap(result.stdout)["truechem"]["changed"] > 0
    assert not os.path.exists(fleet.dir("truechem")) and not os.path.exists(fleet.dir("sage100"))
    assert secret_of("truechem") not in result.stdout + result.stderr
    assert "+++ after" not in result.stdout  # no --diff, no diff


def test_backups_of_the_secret_file_keep_only_the_newest(tmp_path):
    """Each rewrite of osweb-prod.yml leaves a backup holding the secret it replaced: one is kept by default."""
    fleet = Fleet(str(tmp_path))
    osweb = str(tmp_path / "config" / "osweb-prod.yml")
    os.makedirs(os.path.dirname(osweb))
    with open(osweb, "w", encoding="utf-8") as handle:
        handle.write(EXISTING_OSWEB)
    app = fleet.add("enaio", "enaio", app_mail_config_osweb_path=osweb)

    def backups():
        return sorted(name for name in os.listdir(os.path.dirname(osweb)) if name.startswith("osweb-prod.yml."))

    def backup_text():
        (name,) = backups()
        with open(os.path.join(os.path.dirname(osweb), name), encoding="utf-8") as handle:
            return handle.read()

    secrets_in_turn = [app["client_secret"], "Rotated~1-" + app["client_secret"], "Rotated~2-" + app["client_secret"]]
    first = fleet.run()
    assert first.returncode == 0, first.stdout[-5000:]
    assert backup_text() == EXISTING_OSWEB

    app["client_secret"] = secrets_in_turn[1]  # a rotation: the backup now holds the first secret
    rotated = fleet.run()
    assert rotated.returncode == 0, rotated.stdout[-5000:]
    assert secrets_in_turn[0] in backup_text() and EXISTING_OSWEB != backup_text()
    assert recap(fleet.run().stdout)["enaio"]["changed"] == 0  # and a re-run leaves the one backup alone
    assert len(backups()) == 1

    app["client_secret"] = secrets_in_turn[2]
    fleet.hosts["enaio"]["app_mail_config_backups_keep"] = 0
    pruned = fleet.run()
    assert pruned.returncode == 0, pruned.stdout[-5000:]
    assert backups() == []
    with open(osweb, encoding="utf-8") as handle:
        current = handle.read()
    assert secrets_in_turn[2] in current and secrets_in_turn[1] not in current
    assert all(secret not in pruned.stdout + rotated.stdout for secret in secrets_in_turn)
