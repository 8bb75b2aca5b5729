# -*- coding: utf-8 -*-
"""app_registration_info: filters, the record with credential metadata, empty results, main()."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.mailauth.m365.plugins.module_utils import _applications
from ansible_collections.mailauth.m365.plugins.module_utils._errors import ParameterError
from ansible_collections.mailauth.m365.plugins.module_utils._module import Clients
from ansible_collections.mailauth.m365.plugins.modules import app_registration_info
from ansible_collections.mailauth.m365.tests.unit.conftest import CLIENT, TENANT
from ansible_collections.mailauth.m365.tests.unit.plugins.modules.app_objects import (
    ALICE,
    APP_ID,
    AUTOMATION_OWNER,
    XLREPORTER_SCOPES,
    FakeModule,
    application,
    expect_graph_sp,
    expect_info_list,
    expect_owners,
    module_params,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
SECRETS = [
    {"keyId": "787397d1-0c37-4a79-ab19-95d526f57342", "displayName": "XLReporter", "hint": "7aE", "secretText": None,
     "customKeyIdentifier": None, "startDateTime": "2026-01-10T09:00:00Z", "endDateTime": "2026-06-11T11:59:00.1234567Z"},
    {"keyId": "66e322d5-b55e-41fc-8a0b-e0e6e7fd3620", "displayName": "old", "hint": "Hjy", "secretText": None,
     "customKeyIdentifier": None, "startDateTime": "2025-01-10T09:00:00Z", "endDateTime": "2026-05-01T00:00:00Z"},
]
CERTIFICATE = {"keyId": "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", "displayName": "CN=mailer", "type": "AsymmetricX509Cert",
               "usage": "Verify", "key": None, "customKeyIdentifier": "KW9t74rpnpDj6zlORr/YzBDUOvs=",
               "startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2027-01-01T00:00:00Z"}


def params(**given):
    return module_params(app_registration_info.ARGUMENT_SPEC, **given)


@pytest.fixture
def clients(identity, make_settings):
    identity.discovery()
    identity.token()
    return Clients(make_settings())


@pytest.fixture
def frozen_now(monkeypatch):
    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return NOW
    monkeypatch.setattr(_applications, "datetime", Frozen)


@pytest.mark.parametrize("check_mode", [False, True])
def test_by_unique_name_with_credential_metadata(clients, transport, frozen_now, check_mode):
    app = application(passwordCredentials=SECRETS, keyCredentials=[CERTIFICATE], owners=[AUTOMATION_OWNER, ALICE])
    expect_info_list(transport, "$filter=uniqueName eq 'xlreporter-mailer'&", [app])
    expect_graph_sp(transport)

    changed, record, diff = app_registration_info.run(FakeModule(params(unique_name="xlreporter-mailer"), check_mode), clients)

    assert (changed, diff) == (False, None)
    [found] = record["applications"]
    assert (found["id"], found["app_id"], found["display_name"]) == (app["id"], APP_ID, "XLReporter Mailer")
    assert found["api_permissions"][0]["delegated"] == sorted(XLREPORTER_SCOPES)
    assert [owner["type"] for owner in found["owners"]] == ["service_principal", "user"]
    assert found["owners"][1]["user_principal_name"] == "alice@contoso.com"
    assert found["password_credentials"] == [
        {"key_id": SECRETS[0]["keyId"], "display_name": "XLReporter", "hint": "7aE", "start_date_time": "2026-01-10T09:00:00Z",
         "end_date_time": "2026-06-11T11:59:00.1234567Z", "expires_in_days": 9, "expired": False},
        {"key_id": SECRETS[1]["keyId"], "display_name": "old", "hint": "Hjy", "start_date_time": "2025-01-10T09:00:00Z",
         "end_date_time": "2026-05-01T00:00:00Z", "expires_in_days": -32, "expired": True}]
    [certificate] = found["key_credentials"]
    assert certificate["thumbprint"] == "296F6DEF8AE99E90E3EB394E46BFD8CC10D43AFB"
    assert (certificate["type"], certificate["usage"], certificate["expires_in_days"], certificate["expired"]) == (
        "AsymmetricX509Cert", "Verify", 213, False)
    assert "secretText" not in json.dumps(record) and "key" not in certificate
    assert record["tenant_id"] == TENANT and record["endpoints"]["device_code_endpoint"].endswith("/oauth2/v2.0/devicecode")


@pytest.mark.parametrize("option,query", [
    ("app_id", "$filter=appId eq '%s'&" % APP_ID),
    ("display_name", "$filter=displayName eq 'XLReporter Mailer'&"),
    ("display_name_prefix", "$filter=startswith(displayName,'XLR')&"),
])
def test_filters(clients, transport, option, query):
    value = {"app_id": APP_ID, "display_name": "XLReporter Mailer", "display_name_prefix": "XLR"}[option]
    expect_info_list(transport, query, [application(requiredResourceAccess=[])])

    record = app_registration_info.run(FakeModule(params(**{option: value})), clients)[1]

    assert [app["app_id"] for app in record["applications"]] == [APP_ID]


def test_duplicates_by_display_name_are_all_listed(clients, transport):
    twins = [application(id="a-1", appId="11111111-0000-4000-8000-000000000001", requiredResourceAccess=[]),
             application(id="a-2", appId="11111111-0000-4000-8000-000000000002", requiredResourceAccess=[])]
    expect_info_list(transport, "$filter=displayName eq 'XLReporter Mailer'&", twins)

    record = app_registration_info.run(FakeModule(params(display_name="XLReporter Mailer")), clients)[1]

    assert [app["app_id"] for app in record["applications"]] == [twin["appId"] for twin in twins]


def test_nothing_found_is_an_empty_list(clients, transport):
    expect_info_list(transport, "$filter=uniqueName eq 'nope'&", [])

    record = app_registration_info.run(FakeModule(params(unique_name="nope")), clients)[1]

    assert record["applications"] == []


def test_all_applications_and_resources_looked_up_once(clients, transport):
    expect_info_list(transport, "", [application(id="a-1"), application(id="a-2", uniqueName=None)])
    expect_graph_sp(transport)

    record = app_registration_info.run(FakeModule(params()), clients)[1]

    assert len(record["applications"]) == 2
    assert transport.count("GET", "/servicePrincipals") == 1
    assert transport.count("GET", "/owners") == 0  # expanded with the list


def test_owners_beyond_what_graph_expands_are_read_in_full(clients, transport):
    """Graph expands at most 20 items: with 20 expanded, there may be more, so that application's owners are read."""
    many = [dict(ALICE, id="0000000%d-0000-4000-8000-%012d" % (n % 10, n)) for n in range(20)]
    expect_info_list(transport, "", [application(id="a-1", owners=many, requiredResourceAccess=[])])
    expect_owners(transport, many + [AUTOMATION_OWNER], object_id="a-1")

    [found] = app_registration_info.run(FakeModule(params()), clients)[1]["applications"]

    assert len(found["owners"]) == 21


def test_a_malformed_app_id_fails_before_any_request(clients, transport):
    with pytest.raises(ParameterError, match="GUID"):
        app_registration_info.run(FakeModule(params(app_id="XLReporter Mailer")), clients)
    transport.script.clear()


def test_main_rejects_two_filters(transport, tmp_path, capsys):
    args = dict(tenant_id=TENANT, client_id=CLIENT, client_secret="s3cret-value", token_cache_path=str(tmp_path / "cache"),
                unique_name="a", display_name="b")
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            app_registration_info.main()
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] is True and "mutually exclusive" in result["msg"]
    assert transport.sent == []
