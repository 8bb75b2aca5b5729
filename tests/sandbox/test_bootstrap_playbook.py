"""playbooks/bootstrap.yml against the sandbox: a new automation identity for fabrikam, made by its
administrator signing in by device code (auto-approved), proven, then a second run that changes nothing."""
import base64
import json
import os
import re
import stat
import time

import pytest
import yaml

from test_integration_targets import run_playbook

ADMIN = "admin@fabrikam.example"
GRAPH_ROLES = {"Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All", "DelegatedPermissionGrant.ReadWrite.All",
               "User.Read.All", "Organization.Read.All", "RoleManagement.ReadWrite.Directory"}
EXCHANGE_ADMINISTRATOR = "29232cdf-9323-42fd-ade2-1d097af3e4de"
# A later playbook, as the connection file's comment tells users to write it.
LATER_PLAYBOOK = """
- name: A later playbook signs in with the connection file
  hosts: localhost
  gather_facts: false
  vars_files: [{connection_file}]
  module_defaults:
    group/mailauth.m365.all: "{{{{ mailauth_m365_connection }}}}"
  tasks:
    - name: Read the tenant as the automation identity
      mailauth.m365.tenant_info:
      register: later
    - name: Keep who signed in for the test
      ansible.builtin.copy:
        content: "{{{{ later.signed_in_as | to_json }}}}"
        dest: {result_file}
        mode: "0600"
"""


def recap(stdout):
    found = re.search(r"localhost\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", stdout)
    assert found, stdout[-3000:]
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, found.groups())))


class Graph:
    """Independent reads as fabrikam's seeded automation identity (plain HTTP, not the collection)."""

    def __init__(self, sandbox):
        self.session = sandbox.session()
        self.base = sandbox.conn["graph_endpoint"] + "/v1.0/"
        self.session.headers["Authorization"] = "Bearer " + sandbox.app_token("fabrikam")

    def get(self, path, **params):
        for _attempt in range(20):
            answer = self.session.get(self.base + path, params=params, timeout=30)
            if answer.status_code != 429:  # the realism run throttles these reads too
                break
            time.sleep(float(answer.headers.get("Retry-After", 1)))
        answer.raise_for_status()
        return answer.json()

    def delete(self, path):
        self.session.delete(self.base + path, timeout=30)


def run_bootstrap(sandbox, extra_vars_file):
    sandbox.control("DELETE", "/requests")
    result = run_playbook(sandbox, "playbooks/bootstrap.yml", "-e", "@" + extra_vars_file)
    log = sandbox.control("GET", "/requests")
    return result, log


@pytest.fixture
def bootstrap_vars(sandbox, tmp_path):
    conn = sandbox.conn
    credential_dir = tmp_path / "credentials"
    values = {"m365_cloud": "custom", "m365_authority_host": conn["authority_host"],
              "m365_graph_endpoint": conn["graph_endpoint"], "m365_exchange_endpoint": conn["exchange_endpoint"],
              "m365_ca_bundle": conn["ca_bundle"], "m365_tenant_id": "fabrikam.onmicrosoft.com",
              "bootstrap_credential_dir": str(credential_dir)}
    path = tmp_path / "bootstrap-vars.json"
    path.write_text(json.dumps(values), encoding="utf-8")
    sandbox.control("POST", "/devicecode/auto-approve", {"user_principal_name": ADMIN})
    yield str(path), credential_dir
    sandbox.control("POST", "/devicecode/auto-approve", {"user_principal_name": None})
    graph = Graph(sandbox)
    for app in graph.get("applications", **{"$filter": "uniqueName eq 'mailauth-automation'"})["value"]:
        for sp in graph.get("servicePrincipals", **{"$filter": "appId eq '%s'" % app["appId"]})["value"]:
            graph.delete("servicePrincipals/%s" % sp["id"])
        graph.delete("applications/%s" % app["id"])


@pytest.fixture(params=["calm", "lag-and-429"])
def realism(sandbox, request):
    """Each run once as is, once with Entra's replication delay and Graph's throttling."""
    if request.param != "calm":
        sandbox.control("PUT", "/realism", {"replication_delay": [2, 4], "throttle_rate": 0.3, "retry_after": 1,
                                            "seed": 7})
    yield request.param
    sandbox.control("DELETE", "/realism")


def test_bootstrap_makes_a_working_identity_and_a_second_run_changes_nothing(sandbox, bootstrap_vars, realism, tmp_path):
    extra_vars_file, credential_dir = bootstrap_vars
    fabrikam = sandbox.tenant("fabrikam")

    first, first_log = run_bootstrap(sandbox, extra_vars_file)

    assert recap(first.stdout)["changed"] > 0
    assert "To sign in, use a web browser to open the page" in first.stdout  # the code was shown at once
    connection = yaml.safe_load((credential_dir / "connection.yml").read_text(encoding="utf-8"))
    settings, identity = connection["mailauth_m365_connection"], connection["mailauth_m365_automation"]
    assert settings["tenant_id"] == fabrikam["id"]  # the GUID, though the run was given the domain
    assert settings["client_certificate_path"] == str(credential_dir / "automation.pem")
    assert not {"client_secret", "client_certificate_password"} & set(settings)
    assert "PRIVATE KEY" not in (credential_dir / "connection.yml").read_text(encoding="utf-8")
    assert stat.S_IMODE(os.stat(credential_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(credential_dir / "automation.pem").st_mode) == 0o600

    # The identity as Graph has it, read independently.
    graph = Graph(sandbox)
    apps = graph.get("applications", **{"$filter": "uniqueName eq 'mailauth-automation'"})["value"]
    assert [app["appId"] for app in apps] == [settings["client_id"]]
    # customKeyIdentifier is the SHA-1 thumbprint, base64-encoded as Graph sends binary properties.
    assert [base64.b64decode(key["customKeyIdentifier"]).hex().upper()
            for key in apps[0]["keyCredentials"]] == [identity["certificate_thumbprint"]]
    sp = graph.get("servicePrincipals/%s" % identity["service_principal_id"])
    assert sp["appId"] == settings["client_id"]
    granted = graph.get("servicePrincipals/%s/appRoleAssignments" % sp["id"])["value"]
    assert len(granted) == len(GRAPH_ROLES) + 1  # and Exchange.ManageAsApp
    roles = graph.get("roleManagement/directory/roleAssignments", **{"$filter": "principalId eq '%s'" % sp["id"]})["value"]
    assert [role["roleDefinitionId"] for role in roles] == [EXCHANGE_ADMINISTRATOR]

    # A later playbook signs in with nothing but the connection file.
    later = tmp_path / "later.yml"
    later.write_text(LATER_PLAYBOOK.format(connection_file=credential_dir / "connection.yml",
                                           result_file=tmp_path / "signed-in.json"), encoding="utf-8")
    run_playbook(sandbox, str(later))
    signed_in = json.loads((tmp_path / "signed-in.json").read_text(encoding="utf-8"))
    assert signed_in["client_id"] == settings["client_id"] and signed_in["auth_method"] == "certificate"
    assert GRAPH_ROLES <= set(signed_in["roles"])

    second, second_log = run_bootstrap(sandbox, extra_vars_file)

    assert recap(second.stdout) == dict(recap(second.stdout), changed=0, failed=0)
    assert "To sign in" not in second.stdout  # the cached sign-in was reused
    writes = {endpoint: count for endpoint, count in second_log["by_endpoint"].items()
              if endpoint.split()[1] in ("POST", "PATCH", "PUT", "DELETE") and not endpoint.startswith("identity")}
    assert writes == {}
    print("\nbootstrap requests (%s): first run %d %s\nre-run %d %s" % (
        realism, first_log["total"], json.dumps(first_log["by_endpoint"], indent=1),
        second_log["total"], json.dumps(second_log["by_endpoint"], indent=1)))
