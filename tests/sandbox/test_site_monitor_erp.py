"""playbooks/site.yml with a Monitor ERP item (seed 001) against the sandbox: the app with delegated
EWS.AccessAsUser.All and public client flows, admin consent, the application on the tenant's EWS allow list, and
a smoke test that signs in with the sender's password (ROPC) and really sends over Exchange Web Services.

Checked independently: the message in the recipient's mailbox (control API), the allow list (Get-OrganizationConfig)."""
import os
import uuid

import pytest
import yaml

from site_helpers import VAULT_PASSWORD, Tenant, connection_options, recap
from test_integration_targets import run_playbook

SENDER, RECIPIENT = "alice@contoso.example", "reports@contoso.example"


@pytest.fixture
def monitor_site(sandbox, tmp_path):
    tenant = sandbox.tenant("contoso")
    name = "it-site-monitor-" + uuid.uuid4().hex[:8]
    inventory = {"all": {"children": {"mailauth_tenants": {"hosts": {"contoso": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
        "mailauth_m365_connection": connection_options(sandbox, "contoso"),
        "mailauth_tenant_domain": tenant["default_domain"],
        "mailauth_apps": [{"product": "monitor_erp", "name": name, "sender": SENDER, "smoke_test_to": [RECIPIENT],
                           "smoke_test_password": tenant["users"][SENDER]["password"]}]}}}}}}
    path = tmp_path / "inventory" / "hosts.yml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(inventory), encoding="utf-8")
    password_file = tmp_path / "vault-password"
    password_file.write_text(VAULT_PASSWORD + "\n", encoding="utf-8")
    os.chmod(password_file, 0o600)
    yield dict(inventory=str(path), password_file=str(password_file), name=name)
    contoso = Tenant(sandbox, "contoso")
    for app in contoso.apps(name):
        contoso.exchange("Set-OrganizationConfig", EwsAllowedAppIDs={"Remove": [app["appId"]]})
        for sp in contoso.service_principals(app["appId"]):
            contoso.graph_delete("servicePrincipals/%s" % sp["id"])
        contoso.graph_delete("applications/%s" % app["id"])


def test_monitor_erp_smoke_test_sends_over_ews(sandbox, monitor_site):
    result = run_playbook(sandbox, "playbooks/site.yml", "-i", monitor_site["inventory"],
                          "--vault-password-file", monitor_site["password_file"])
    assert recap(result.stdout)["contoso"]["failed"] == 0
    assert "%s smoke test: sent." % monitor_site["name"] in result.stdout, result.stdout[-4000:]

    contoso = Tenant(sandbox, "contoso")
    [app] = contoso.apps(monitor_site["name"])
    [organization] = contoso.exchange("Get-OrganizationConfig")
    assert app["appId"] in organization["EwsAllowedAppIDs"]
    received = sandbox.control("GET", "/mailboxes/%s/messages?folder=INBOX" % RECIPIENT)["value"]
    [message] = [m for m in received if monitor_site["name"] in (m["subject"] or "")]
    assert message["envelope"]["via"] == "Exchange Web Services" and SENDER in message["from"]
