"""playbooks/site.yml, rotate_secret.yml, audit.yml and smoke_test.yml against the sandbox: two client tenants
(contoso, fabrikam), each with enaio and XLReporter, and stand-in servers (connection local, one directory each).

Checked independently of the collection (plain Graph and Exchange requests, the sandbox's control API, the
vault files decrypted with Ansible's VaultLib): exactly one application per unique name and one service
principal, the admin consent, the Exchange permissions and SMTP AUTH switches, mail that arrived, and a secret
store whose files are encrypted, owner-only and hold a secret that signs in. A second run changes nothing and
only reads. A lost vault file makes the next run fail with the fix instead of minting a secret, and
rotate_secret.yml then leaves exactly one working secret, on every server."""
import json
import os
import re
import stat
import time
import uuid

import pytest
import yaml

from site_helpers import EXCHANGE_APP, GRAPH_APP, PEOPLE, Tenant, connection_options, decrypt_stored, make_site, remove_site
from site_helpers import recap as site_recap
from test_integration_targets import run_playbook

XLR_SCOPES = {"offline_access", "openid", "profile", "SMTP.Send", "User.Read"}


def recap(stdout):
    """{host: {ok, changed, failed, ...}} from the PLAY RECAP."""
    found = site_recap(stdout)
    assert found, stdout[-3000:]
    return found


@pytest.fixture(scope="module")
def site(sandbox, tmp_path_factory):
    """An inventory beside which the secret store lives, with unique application names for this run."""
    made = make_site(sandbox, tmp_path_factory.mktemp("site"))
    yield made
    remove_site(sandbox, made)


def play(sandbox, site, playbook, *extra, check=True):
    sandbox.control("DELETE", "/requests")
    started = time.monotonic()
    result = run_playbook(sandbox, playbook, "-i", site["inventory"], "--vault-password-file", site["password_file"],
                          *extra, check=check)
    seconds = time.monotonic() - started
    return result, sandbox.control("GET", "/requests"), seconds


def stored(site, tenant, name):
    path = site["store"] / tenant / (name + ".yml")
    data = path.read_bytes()
    assert data.startswith(b"$ANSIBLE_VAULT;"), "not encrypted"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    return decrypt_stored(data)


def writes(log):
    return {endpoint: count for endpoint, count in log["by_endpoint"].items()
            if endpoint.split()[0] in ("graph", "exchange") and endpoint.split()[1] in ("POST", "PATCH", "PUT", "DELETE")
            and "InvokeCommand" not in endpoint}


def show(what, log, seconds):
    print("\n%s: %.1f s, %d requests %s" % (what, seconds, log["total"], json.dumps(log["by_endpoint"], indent=1)))


def exchange_state(sandbox, site):
    """What the tenants' Exchange says of the senders (SMTP AUTH) and the sending users (SendAs)."""
    state = {}
    for key in site["tenants"]:
        tenant = Tenant(sandbox, key)
        sender, user, reports = PEOPLE[key]
        state[key] = {mailbox: tenant.exchange("Get-CASMailbox", Identity=mailbox) for mailbox in (sender, reports)}
        state[key][user] = tenant.exchange("Get-RecipientPermission", Identity=user)
    return state


def test_site_check_mode_on_a_new_tenant_writes_nothing_and_lists_the_plan(sandbox, tmp_path):
    """--check --diff before anything exists: no failed host, nothing written anywhere, and each step named."""
    new = make_site(sandbox, tmp_path)
    exchange_before = exchange_state(sandbox, new)
    checked, log, seconds = play(sandbox, new, "playbooks/site.yml", "--check", "--diff")
    show("site.yml --check --diff on a new tenant", log, seconds)
    hosts = recap(checked.stdout)

    assert len(hosts) == 8 and all(counts["failed"] == 0 for counts in hosts.values()), checked.stdout[-5000:]
    assert writes(log) == {}
    assert exchange_state(sandbox, new) == exchange_before
    for key in new["tenants"]:
        assert all(Tenant(sandbox, key).apps(name) == [] for name in new["names"].values())
    assert not new["store"].exists() and not (new["root"] / "servers").exists()

    # The tenant reports the registration, SendAs and SMTP AUTH (read and compared), and the rest as planned;
    # every server, the files it would write once the application exists.
    for key in new["tenants"]:
        assert hosts[key]["changed"] >= 6, hosts
    sender = PEOPLE["contoso"][0]
    # Each tenant's include of the role prints its own task headers, in any order; the callback wraps long lines.
    plan = " ".join(checked.stdout.split())
    assert "List what a real run would do (check mode) after registering %s" % new["names"]["enaio"] in plan
    for step in ("create its enterprise application and assign", 'create the client secret "%s"' % new["names"]["enaio"],
                 "grant admin consent for SMTP.SendAsApp", "register it with Exchange Online",
                 "give it FullAccess to the mailbox %s" % sender, "send a test message as %s" % sender):
        assert step in plan, plan
    for group in new["servers"].values():
        for host in group["hosts"]:
            assert hosts[host]["changed"] == 1, hosts
    enaio_server = next(iter(new["servers"]["contoso_enaio"]["hosts"]))
    assert re.search(r"changed: \[%s\] =>\s+msg: Would write \S+/osweb-prod.yml,\s+\S+/enaio-mail.reg,"
                     % re.escape(enaio_server), checked.stdout), checked.stdout[-5000:]


def test_site_first_run_second_run_lost_secret_and_rotation(sandbox, site):
    names = site["names"]

    # --- first run ----------------------------------------------------------------------------------------
    first, first_log, first_seconds = play(sandbox, site, "playbooks/site.yml")
    show("site.yml first run", first_log, first_seconds)
    hosts = recap(first.stdout)
    assert hosts["contoso"]["changed"] > 0 and hosts["fabrikam"]["changed"] > 0
    assert all(counts["failed"] == 0 for counts in hosts.values())
    assert first.stdout.count("smoke test: sent") == 2  # enaio in each tenant
    assert first.stdout.count("smoke test: secret works") == 2  # XLReporter: the Test button does the rest

    secrets = {}
    for key, (sender, user, reports) in PEOPLE.items():
        tenant = Tenant(sandbox, key)
        exchange_sp = tenant.resource_sp(EXCHANGE_APP)
        graph_sp = tenant.resource_sp(GRAPH_APP)

        # enaio: one app, one SP, SMTP.SendAsApp granted, sender and user assigned, Exchange set up.
        [enaio] = tenant.apps(names["enaio"])
        assert enaio["displayName"] == "enaio Mail" and enaio["web"]["redirectUris"] == ["http://localhost"]
        [enaio_sp] = tenant.service_principals(enaio["appId"])
        roles = tenant.graph("servicePrincipals/%s/appRoleAssignments" % enaio_sp["id"])["value"]
        send_as_app = next(role["id"] for role in exchange_sp["appRoles"] if role["value"] == "SMTP.SendAsApp")
        assert [(r["resourceId"], r["appRoleId"]) for r in roles] == [(exchange_sp["id"], send_as_app)]
        assigned = tenant.graph("servicePrincipals/%s/appRoleAssignedTo" % enaio_sp["id"])["value"]
        user_ids = {tenant.info["users"][upn]["id"] for upn in (sender, user)}
        assert {a["principalId"] for a in assigned} == user_ids
        [exo_sp] = tenant.exchange("Get-ServicePrincipal", Identity=enaio["appId"])
        assert exo_sp["ObjectId"] == enaio_sp["id"]  # the enterprise application's object ID
        full = tenant.exchange("Get-MailboxPermission", Identity=sender, User=enaio_sp["id"])
        assert any("FullAccess" in row["AccessRights"] for row in full)
        send_as = tenant.exchange("Get-RecipientPermission", Identity=user, Trustee=sender)
        assert any("SendAs" in row["AccessRights"] for row in send_as)
        for mailbox in (sender, reports):  # fabrikam's tenant switch is off: the mailbox's own setting wins
            [cas] = tenant.exchange("Get-CASMailbox", Identity=mailbox)
            assert cas["SmtpClientAuthenticationDisabled"] is False
        assert any(names["enaio"] in message["subject"] for message in tenant.inbox(sender))

        # XLReporter: one app, one SP, the delegated grant as a set of scopes, no application roles.
        [xlr] = tenant.apps(names["xlreporter"])
        assert xlr["web"]["redirectUris"] == ["http://localhost:3017/"]
        [xlr_sp] = tenant.service_principals(xlr["appId"])
        grants = tenant.graph("oauth2PermissionGrants", **{"$filter": "clientId eq '%s'" % xlr_sp["id"]})["value"]
        assert [(g["resourceId"], g["consentType"], set(g["scope"].split())) for g in grants] == [
            (graph_sp["id"], "AllPrincipals", XLR_SCOPES)]

        # The secret store: encrypted, owner-only, the tenant's secret, and it signs in.
        for app in (enaio, xlr):
            name = app["uniqueName"]
            record = stored(site, key, name)
            assert [c["keyId"] for c in app["passwordCredentials"]] == [record["key_id"]]
            assert record["client_id"] == app["appId"] and record["tenant"] == key and record["app"] == name
            assert tenant.secret_works(app["appId"], record["value"])
            secrets[(key, name)] = record
    assert stat.S_IMODE(os.stat(site["store"] / "contoso").st_mode) == 0o700

    # The servers got the stored secrets; their secret files are owner-only, and no secret reached the output.
    enaio_server = site["root"] / "servers" / "enaio1.contoso.example"
    osweb = yaml.safe_load((enaio_server / "osweb-prod.yml").read_text(encoding="utf-8"))
    assert osweb["featureSwitches"]["sendEmail"]["oAuthClientSecret"] == secrets[("contoso", names["enaio"])]["value"]
    assert stat.S_IMODE(os.stat(enaio_server / "osweb-prod.yml").st_mode) == 0o600
    for record in secrets.values():
        assert record["value"] not in first.stdout + first.stderr

    # --- second run: nothing changes, nothing is written ----------------------------------------------------
    second, second_log, second_seconds = play(sandbox, site, "playbooks/site.yml")
    show("site.yml second run", second_log, second_seconds)
    assert all(counts["changed"] == 0 and counts["failed"] == 0 for counts in recap(second.stdout).values())
    assert writes(second_log) == {}
    for (key, name), record in secrets.items():
        assert stored(site, key, name) == record  # the file was not rewritten

    # --- audit: no drift; then a change made by hand shows ------------------------------------------------
    audit_dir = site["root"] / "reports"
    audit, audit_log, _seconds = play(sandbox, site, "playbooks/audit.yml", "-e", "audit_report_dir=%s" % audit_dir)
    assert writes(audit_log) == {} and "drift: none" in audit.stdout
    contoso = Tenant(sandbox, "contoso")
    contoso.exchange("Set-CASMailbox", Identity=PEOPLE["contoso"][0], SmtpClientAuthenticationDisabled=True)
    audit, audit_log, _seconds = play(sandbox, site, "playbooks/audit.yml", "-e", "audit_report_dir=%s" % audit_dir)
    assert writes(audit_log) == {}
    report = (audit_dir / "contoso.md").read_text(encoding="utf-8")
    assert "**SMTP AUTH of the sender**" in report and "drift: %s" % names["enaio"] in audit.stdout
    [cas] = contoso.exchange("Get-CASMailbox", Identity=PEOPLE["contoso"][0])
    assert cas["SmtpClientAuthenticationDisabled"] is True  # the audit changed nothing
    contoso.exchange("Set-CASMailbox", Identity=PEOPLE["contoso"][0], SmtpClientAuthenticationDisabled=False)

    # --- smoke_test.yml sends with the stored secret and changes nothing ------------------------------------
    smoke, smoke_log, _seconds = play(sandbox, site, "playbooks/smoke_test.yml", "-e", "smoke_test_tenants=fabrikam")
    assert smoke.stdout.count("smoke test: sent") == 1 and writes(smoke_log) == {}

    # --- the store lost the enaio secret: the next run fails with the fix and mints nothing -----------------
    enaio_name = names["enaio"]
    (site["store"] / "contoso" / (enaio_name + ".yml")).unlink()
    lost, lost_log, _seconds = play(sandbox, site, "playbooks/site.yml", check=False)
    assert lost.returncode != 0
    assert "rotate_secret.yml -e rotate_secret_tenants=contoso -e rotate_secret_apps=%s" % enaio_name in \
        re.sub(r"\s+", " ", lost.stdout)
    assert not any("addPassword" in endpoint for endpoint in writes(lost_log))
    [enaio] = contoso.apps(enaio_name)
    assert [c["keyId"] for c in enaio["passwordCredentials"]] == [secrets[("contoso", enaio_name)]["key_id"]]

    # --- rotate_secret.yml: new secret, stored, on every server, tested; then only it remains --------------
    rotated, rotated_log, rotated_seconds = play(
        sandbox, site, "playbooks/rotate_secret.yml", "-e", "rotate_secret_tenants=contoso",
        "-e", "rotate_secret_apps=%s" % enaio_name)
    show("rotate_secret.yml", rotated_log, rotated_seconds)
    assert "Rotated: %s." % enaio_name in rotated.stdout
    record = stored(site, "contoso", enaio_name)
    [enaio] = contoso.apps(enaio_name)
    assert [c["keyId"] for c in enaio["passwordCredentials"]] == [record["key_id"]]
    assert record["key_id"] != secrets[("contoso", enaio_name)]["key_id"]
    assert contoso.secret_works(enaio["appId"], record["value"])
    assert not contoso.secret_works(enaio["appId"], secrets[("contoso", enaio_name)]["value"])
    for host in site["servers"]["contoso_enaio"]["hosts"]:
        osweb = yaml.safe_load((site["root"] / "servers" / host / "osweb-prod.yml").read_text(encoding="utf-8"))
        assert osweb["featureSwitches"]["sendEmail"]["oAuthClientSecret"] == record["value"]
    # fabrikam and the other application were left alone.
    assert stored(site, "fabrikam", enaio_name) == secrets[("fabrikam", enaio_name)]
    assert record["value"] not in rotated.stdout + rotated.stderr

    # --- and the next site run is a no-op again -------------------------------------------------------------
    after, after_log, _seconds = play(sandbox, site, "playbooks/site.yml")
    assert all(counts["changed"] == 0 for counts in recap(after.stdout).values()) and writes(after_log) == {}


def test_an_external_secret_store_through_the_tasks_interface(sandbox, tmp_path):
    """tenant_mail_app_secret_store=tasks: the role gets and puts the secret through the user's tasks file."""
    name = "it-site-store-" + uuid.uuid4().hex[:8]
    store_dir = tmp_path / "external-store"
    store_dir.mkdir()
    tenant = sandbox.tenant("fabrikam")
    inventory = {"mailauth_tenants": {"hosts": {"fabrikam": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "mailauth_m365_connection": connection_options(sandbox, "fabrikam"),
        "mailauth_tenant_domain": tenant["default_domain"],
        "mailauth_secret_store": "tasks",
        "mailauth_secret_store_tasks": os.path.join(os.path.dirname(__file__), "files", "secret_store_json.yml"),
        "secret_store_test_dir": str(store_dir),
        "mailauth_apps": [{"product": "xlreporter", "name": name, "sender": "reports@fabrikam.example"}]}}}}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory), encoding="utf-8")
    fabrikam = Tenant(sandbox, "fabrikam")
    try:
        first = run_playbook(sandbox, "playbooks/site.yml", "-i", str(tmp_path / "hosts.yml"))
        record = json.loads((store_dir / ("fabrikam-%s.json" % name)).read_text(encoding="utf-8"))
        [app] = fabrikam.apps(name)
        assert [c["keyId"] for c in app["passwordCredentials"]] == [record["key_id"]]
        assert record["client_id"] == app["appId"] and fabrikam.secret_works(app["appId"], record["value"])
        assert record["value"] not in first.stdout + first.stderr

        second = run_playbook(sandbox, "playbooks/site.yml", "-i", str(tmp_path / "hosts.yml"))
        assert recap(second.stdout)["fabrikam"]["changed"] == 0
        assert [c["keyId"] for c in fabrikam.apps(name)[0]["passwordCredentials"]] == [record["key_id"]]
    finally:
        for app in fabrikam.apps(name):
            fabrikam.graph_delete("applications/%s" % app["id"])
