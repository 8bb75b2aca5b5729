# -*- coding: utf-8 -*-
"""tenant_info: run() against a scripted Graph, and main() end to end as Ansible runs it."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.mailauth.m365.plugins.module_utils._module import Clients
from ansible_collections.mailauth.m365.plugins.modules import tenant_info
from ansible_collections.mailauth.m365.tests.unit.conftest import CLIENT, TENANT
from ansible_collections.mailauth.m365.tests.unit.scripted_http import Identity, form

GRAPH = "https://graph.microsoft.com/v1.0"
ORGANIZATION = {
    "id": TENANT,
    "displayName": "Contoso",
    "tenantType": "AAD",
    "verifiedDomains": [
        {"name": "contoso.onmicrosoft.com", "type": "Managed", "capabilities": "Email, OfficeCommunicationsOnline",
         "isDefault": False, "isInitial": True},
        {"name": "contoso.com", "type": "Managed", "capabilities": "Email", "isDefault": True, "isInitial": False},
    ],
}
APP_CLAIMS = {"appid": CLIENT, "app_displayname": "Contoso mail automation", "tid": TENANT, "idtyp": "app",
              "oid": "sp-object-id", "roles": ["Organization.Read.All", "Application.ReadWrite.All"]}
EXPECTED_TENANT = {
    "id": TENANT,
    "display_name": "Contoso",
    "tenant_type": "AAD",
    "default_domain": "contoso.com",
    "initial_domain": "contoso.onmicrosoft.com",
    "verified_domains": [
        {"name": "contoso.onmicrosoft.com", "type": "Managed", "capabilities": "Email, OfficeCommunicationsOnline",
         "is_default": False, "is_initial": True},
        {"name": "contoso.com", "type": "Managed", "capabilities": "Email", "is_default": True, "is_initial": False},
    ],
}


class FakeModule:
    """What run() may use of AnsibleModule."""

    def __init__(self, params, check_mode=False):
        self.params = params
        self.check_mode = check_mode
        self.warnings = []

    def warn(self, message):
        self.warnings.append(message)


@pytest.mark.parametrize("check_mode", [False, True])
def test_run_reads_the_tenant_and_the_signed_in_app(identity, transport, make_settings, check_mode):
    identity.discovery()
    access_token = identity.token(claims=APP_CLAIMS)
    transport.expect("GET", GRAPH + "/organization", json={"value": [ORGANIZATION]})
    clients = Clients(make_settings())

    changed, record, diff = tenant_info.run(FakeModule({}, check_mode), clients)

    assert (changed, diff) == (False, None)
    assert record["tenants"] == [EXPECTED_TENANT]
    assert record["signed_in_as"] == {
        "auth_method": "client_secret", "cloud": "public", "client_id": CLIENT,
        "app_display_name": "Contoso mail automation", "tenant_id": TENANT, "identity_type": "application",
        "object_id": "sp-object-id", "roles": ["Organization.Read.All", "Application.ReadWrite.All"],
        "scopes": [], "audience": "https://graph.microsoft.com"}
    assert access_token not in json.dumps(record)
    assert clients.request_count == 3  # discovery, token, organization


def test_delegated_identity_reports_user_and_scopes():
    record = tenant_info.identity_record(
        {"azp": CLIENT, "scp": "User.Read Application.ReadWrite.All", "upn": "admin@contoso.com", "tid": TENANT},
        {"auth_method": "device_code", "cloud": "public", "client_id": CLIENT})
    assert record["identity_type"] == "user"
    assert record["username"] == "admin@contoso.com"
    assert record["scopes"] == ["User.Read", "Application.ReadWrite.All"]
    assert record["client_id"] == CLIENT


def run_main(args, capsys):
    """Run the module as Ansible does; return its JSON result."""
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            tenant_info.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def module_args(tmp_path, monkeypatch):
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
                 "AZURE_FEDERATED_TOKEN_FILE", "AZURE_AUTHORITY_HOST", "MAILAUTH_M365_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    return dict(tenant_id=TENANT, client_id=CLIENT, client_secret="s3cret-value",
                token_cache_path=str(tmp_path / "cache"))


@pytest.mark.parametrize("check_mode", [False, True])
def test_main_end_to_end_and_token_cache_reuse(identity, transport, module_args, capsys, check_mode):
    identity.discovery()
    access_token = identity.token(claims=APP_CLAIMS)
    transport.expect("GET", GRAPH + "/organization", json={"value": [ORGANIZATION]})
    args = dict(module_args, _ansible_check_mode=check_mode)

    result = run_main(args, capsys)

    assert result["changed"] is False and "failed" not in result
    assert result["tenants"] == [EXPECTED_TENANT]
    assert result["signed_in_as"]["app_display_name"] == "Contoso mail automation"
    assert access_token not in json.dumps(result)

    transport.expect("GET", GRAPH + "/organization", json={"value": [ORGANIZATION]})
    assert run_main(args, capsys)["tenants"] == [EXPECTED_TENANT]
    # The second run signed in from the token cache and read the OpenID configuration from its
    # metadata cache: its only request was the Graph read.
    assert transport.count("POST") == 1
    assert transport.count("GET") == 3


def test_main_against_a_custom_cloud_on_loopback(transport, module_args, capsys):
    identity = Identity(transport, "https://127.0.0.1:8443/" + TENANT)
    identity.discovery()
    identity.token(claims=APP_CLAIMS)
    transport.expect("GET", "https://127.0.0.1:8443/graph/v1.0/organization", json={"value": [ORGANIZATION]})

    result = run_main(dict(module_args, cloud="custom", authority_host="https://127.0.0.1:8443",
                           graph_endpoint="https://127.0.0.1:8443/graph"), capsys)

    assert result["tenants"][0]["id"] == TENANT
    assert result["signed_in_as"]["cloud"] == "custom"
    token_request = [sent for sent in transport.sent if sent.method == "POST"][0]
    assert form(token_request)["scope"] == "https://graph.microsoft.com/.default"


def test_main_reports_a_missing_permission(identity, transport, module_args, capsys):
    identity.discovery()
    identity.token(claims=APP_CLAIMS)
    transport.expect("GET", GRAPH + "/organization", status=403, json={"error": {
        "code": "Authorization_RequestDenied", "message": "Insufficient privileges to complete the operation.",
        "innerError": {"request-id": "req-403"}}})

    result = run_main(module_args, capsys)

    assert result["failed"] is True
    assert "Organization.Read.All" in result["msg"] and "req-403" in result["msg"]
    assert result["error"]["type"] == "GraphError" and result["error"]["code"] == "Authorization_RequestDenied"


def test_main_reports_a_sign_in_error_with_remedy(identity, module_args, capsys):
    identity.discovery()
    identity.token_error(7000222)

    result = run_main(module_args, capsys)

    assert result["failed"] is True
    assert "AADSTS7000222" in result["msg"] and "Rotate" in result["msg"]
    assert "s3cret-value" not in json.dumps(result)


def test_main_rejects_a_custom_cloud_without_graph(transport, module_args, capsys):
    result = run_main(dict(module_args, cloud="custom", authority_host="https://127.0.0.1:8443"), capsys)
    assert result["failed"] is True
    assert result["msg"].startswith("Parameter graph_endpoint: is required with cloud=custom.")
    assert transport.sent == []


def test_main_takes_credentials_from_the_environment(identity, transport, module_args, capsys, monkeypatch):
    monkeypatch.setenv("AZURE_TENANT_ID", TENANT)
    monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT)
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "env-secret")
    identity.discovery()
    identity.token(claims=APP_CLAIMS)
    transport.expect("GET", GRAPH + "/organization", json={"value": [ORGANIZATION]})

    result = run_main(dict(token_cache_path=module_args["token_cache_path"]), capsys)

    assert result["tenants"][0]["id"] == TENANT
    assert form([sent for sent in transport.sent if sent.method == "POST"][0])["client_secret"] == "env-secret"
