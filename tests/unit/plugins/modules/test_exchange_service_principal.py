# -*- coding: utf-8 -*-
"""exchange_service_principal: the scripted Exchange and Graph exchange of create, fix, rename, no-op and
delete, in normal and check mode, and the error paths."""

from __future__ import annotations

import pytest
import requests

from ansible_collections.mailauth.m365.plugins.module_utils._errors import ParameterError, ReplicationLagError
from ansible_collections.mailauth.m365.plugins.modules import exchange_service_principal as module_under_test
from ansible_collections.mailauth.m365.tests.unit.exchange_script import (  # pylint: disable=unused-import
    EXCHANGE_CLAIMS,
    ExchangeScript,
    exchange_clients,
    exchange_error,
    graph_token,
    not_found,
    run_module_under_test,
    script,
    sent_cmdlets,
)
from ansible_collections.mailauth.m365.tests.unit.graph_script import FakeModule, run_main, url

APP_ID = "7d2e4b1a-9c3f-4e8d-a5b6-0f1e2d3c4b5a"
SP_ID = "3c1d8a2e-5f4b-4d7a-9e21-6b0c8f1a2d34"
APP_OBJECT_ID = "5e0d3f4c-8a1b-4c2d-9e3f-0a1b2c3d4e5f"
ENTRA_SP = {"id": SP_ID, "appId": APP_ID, "displayName": "enaio SMTP"}
SP_LOOKUP = url("servicePrincipals", filter="appId eq '%s'" % APP_ID, select="id,appId,displayName")


def exchange_sp(object_id=SP_ID, name="enaio SMTP"):
    return {"AppId": APP_ID, "ObjectId": object_id, "DisplayName": name, "Identity": object_id, "Name": object_id,
            "Id": object_id}


def params(**overrides):
    base = dict(app_id=APP_ID, display_name=None, state="present")
    base.update(overrides)
    return base


def run(clients, check_mode=False, **overrides):
    return run_module_under_test(module_under_test, clients, params(**overrides), check_mode)


@pytest.fixture
def entra_sp(transport, identity):
    """Scripts the module's Graph lookup of the service principal (with the Graph token before the first)."""
    def expect(found=True, token=True):
        if token:
            graph_token(identity)
        transport.expect("GET", SP_LOOKUP, json={"value": [ENTRA_SP] if found else []})
    return expect


@pytest.mark.parametrize("check_mode", [False, True])
def test_create_looks_up_the_enterprise_application_object_id(entra_sp, exchange_clients, transport, script, check_mode):
    clients = exchange_clients()
    script.expect("Get-ServicePrincipal", {"Identity": APP_ID}, status=404, error=not_found(APP_ID))
    entra_sp()
    if not check_mode:
        script.expect("New-ServicePrincipal", {"AppId": APP_ID, "ObjectId": SP_ID, "DisplayName": "enaio SMTP"},
                      rows=[exchange_sp()])

    changed, record, diff, _warnings = run(clients, check_mode)

    assert changed is True
    sp = record["exchange_service_principal"]
    assert (sp["app_id"], sp["object_id"], sp["display_name"]) == (APP_ID, SP_ID, "enaio SMTP")
    assert sp["identity"] == (None if check_mode else SP_ID)
    assert record["replaced_object_id"] is None
    assert diff == {"before": {}, "after": sp}
    expected = ["Get-ServicePrincipal"] + ([] if check_mode else ["New-ServicePrincipal"])
    assert sent_cmdlets(transport) == expected


def test_create_with_a_display_name(entra_sp, exchange_clients, transport, script):
    clients = exchange_clients()
    script.expect("Get-ServicePrincipal", {"Identity": APP_ID}, rows=[])
    entra_sp()
    script.expect("New-ServicePrincipal", {"AppId": APP_ID, "ObjectId": SP_ID, "DisplayName": "enaio mailer"},
                  rows=[exchange_sp(name="enaio mailer")])
    changed, record, _diff, _warnings = run(clients, display_name="enaio mailer")
    assert changed and record["exchange_service_principal"]["display_name"] == "enaio mailer"


def test_no_change_when_registered_with_the_right_object_id(entra_sp, exchange_clients, transport, script):
    clients = exchange_clients()
    script.expect("Get-ServicePrincipal", {"Identity": APP_ID}, rows=[exchange_sp()])
    entra_sp()

    changed, record, diff, warnings = run(clients, display_name="enaio SMTP")

    assert changed is False and warnings == []
    assert record["exchange_service_principal"]["object_id"] == SP_ID
    assert diff["before"] == diff["after"]
    assert clients.exchange.request_count == 1 and clients.graph.request_count == 1


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_registration_with_the_app_registration_object_id_is_replaced(
        entra_sp, exchange_clients, transport, script, check_mode):
    clients = exchange_clients()
    script.expect("Get-ServicePrincipal", {"Identity": APP_ID}, rows=[exchange_sp(object_id=APP_OBJECT_ID)])
    entra_sp()
    if not check_mode:
        script.expect("Remove-ServicePrincipal", {"Identity": APP_ID, "Confirm": False})
        script.expect("New-ServicePrincipal", {"AppId": APP_ID, "ObjectId": SP_ID, "DisplayName": "enaio SMTP"},
                      rows=[exchange_sp()])

    changed, record, diff, warnings = run(clients, check_mode)

    assert changed is True
    assert record["replaced_object_id"] == APP_OBJECT_ID
    assert record["exchange_service_principal"]["object_id"] == SP_ID
    assert diff["before"]["object_id"] == APP_OBJECT_ID and diff["after"]["object_id"] == SP_ID
    assert len(warnings) == 1 and APP_OBJECT_ID in warnings[0] and "535 5.7.3" in warnings[0]
    assert sent_cmdlets(transport)[1:] == ([] if check_mode else ["Remove-ServicePrincipal", "New-ServicePrincipal"])


@pytest.mark.parametrize("check_mode", [False, True])
def test_rename(entra_sp, exchange_clients, transport, script, check_mode):
    clients = exchange_clients()
    script.expect("Get-ServicePrincipal", {"Identity": APP_ID}, rows=[exchange_sp()])
    entra_sp()
    if not check_mode:
        script.expect("Set-ServicePrincipal", {"Identity": APP_ID, "DisplayName": "enaio mailer"})

    changed, record, diff, _warnings = run(clients, check_mode, display_name="enaio mailer")

    assert changed is True
    assert record["exchange_service_principal"]["display_name"] == "enaio mailer"
    assert diff["before"]["display_name"] == "enaio SMTP"


@pytest.mark.parametrize("check_mode", [False, True])
def test_delete(exchange_clients, transport, script, check_mode):
    clients = exchange_clients()
    script.expect("Get-ServicePrincipal", {"Identity": APP_ID}, rows=[exchange_sp()])
    if not check_mode:
        script.expect("Remove-ServicePrincipal", {"Identity": APP_ID, "Confirm": False})

    changed, record, diff, _warnings = run(clients, check_mode, state="absent")

    assert changed is True and record["exchange_service_principal"] == {}
    assert diff["before"]["object_id"] == SP_ID and diff["after"] == {}
    assert transport.count("GET") == 1  # discovery only: no Graph lookup to delete


def test_delete_when_absent_is_no_change(exchange_clients, script):
    clients = exchange_clients()
    script.expect("Get-ServicePrincipal", {"Identity": APP_ID}, status=404, error=not_found(APP_ID))
    changed, record, _diff, _warnings = run(clients, state="absent")
    assert changed is False and record["exchange_service_principal"] == {}


def test_a_row_of_another_app_with_the_same_display_name_does_not_count(entra_sp, exchange_clients, transport, script):
    clients = exchange_clients()
    other = dict(exchange_sp(), AppId="11111111-2222-3333-4444-555555555555")
    script.expect("Get-ServicePrincipal", {"Identity": APP_ID}, rows=[other])
    entra_sp()
    script.expect("New-ServicePrincipal", {"AppId": APP_ID, "ObjectId": SP_ID, "DisplayName": "enaio SMTP"},
                  rows=[exchange_sp()])
    assert run(clients)[0] is True


def test_an_app_without_enterprise_application_fails_naming_app_id(entra_sp, exchange_clients, transport, script):
    clients = exchange_clients()
    script.expect("Get-ServicePrincipal", {"Identity": APP_ID}, rows=[])
    entra_sp(found=False)
    with pytest.raises(ParameterError) as caught:
        run(clients)
    assert caught.value.parameter == "app_id" and "mailauth.m365.service_principal" in caught.value.message


def test_a_malformed_app_id_fails_before_any_request(exchange_clients, transport):
    with pytest.raises(ParameterError) as caught:
        module_under_test.run(FakeModule(params(app_id="enaio SMTP")), None)
    assert caught.value.parameter == "app_id"
    assert transport.sent == []


def test_exchange_lagging_behind_a_new_service_principal_is_waited_out(entra_sp, exchange_clients, transport, script, clock):
    clients = exchange_clients()
    script.expect("Get-ServicePrincipal", {"Identity": APP_ID}, rows=[])
    entra_sp()
    new = {"AppId": APP_ID, "ObjectId": SP_ID, "DisplayName": "enaio SMTP"}
    script.expect("New-ServicePrincipal", new, status=404, error=not_found(SP_ID), times=2)
    script.expect("New-ServicePrincipal", new, rows=[exchange_sp()])

    changed, record, _diff, _warnings = run(clients)

    assert changed and record["exchange_service_principal"]["object_id"] == SP_ID
    assert clock.sleeps == [1.0, 2.0]


def test_giving_up_on_the_lag_keeps_exchange_s_message(entra_sp, exchange_clients, transport, script):
    clients = exchange_clients()
    script.expect("Get-ServicePrincipal", {"Identity": APP_ID}, rows=[])
    entra_sp()
    script.expect("New-ServicePrincipal", {"AppId": APP_ID, "ObjectId": SP_ID, "DisplayName": "enaio SMTP"},
                  status=404, error=not_found(SP_ID), times=40)
    with pytest.raises(ReplicationLagError) as caught:
        run(clients)
    assert SP_ID in caught.value.message and "New-ServicePrincipal" in caught.value.message
    transport.script.clear()


def test_a_lost_answer_to_new_service_principal_is_read_back(entra_sp, exchange_clients, transport, script):
    clients = exchange_clients()
    script.expect("Get-ServicePrincipal", {"Identity": APP_ID}, rows=[])
    entra_sp()
    script.expect("New-ServicePrincipal", {"AppId": APP_ID, "ObjectId": SP_ID, "DisplayName": "enaio SMTP"},
                  raises=requests.exceptions.ConnectionError("Connection reset by peer"))
    script.expect("Get-ServicePrincipal", {"Identity": APP_ID}, rows=[exchange_sp()])

    changed, record, _diff, _warnings = run(clients)

    assert changed and record["exchange_service_principal"]["identity"] == SP_ID
    assert sent_cmdlets(transport) == ["Get-ServicePrincipal", "New-ServicePrincipal", "Get-ServicePrincipal"]


def test_registered_by_a_parallel_run_counts_as_done(entra_sp, exchange_clients, transport, script):
    clients = exchange_clients()
    script.expect("Get-ServicePrincipal", {"Identity": APP_ID}, rows=[])
    entra_sp()
    script.expect("New-ServicePrincipal", {"AppId": APP_ID, "ObjectId": SP_ID, "DisplayName": "enaio SMTP"},
                  status=400, error=exchange_error("A service principal with AppId %s already exists." % APP_ID,
                                                   exception="ADObjectAlreadyExistsException"))
    script.expect("Get-ServicePrincipal", {"Identity": APP_ID}, rows=[exchange_sp()])
    assert run(clients)[1]["exchange_service_principal"]["object_id"] == SP_ID


def test_main_reports_a_missing_exchange_role(identity, transport, module_args, capsys):
    identity.discovery()
    identity.token(claims=EXCHANGE_CLAIMS)
    ExchangeScript(transport).expect("Get-ServicePrincipal", {"Identity": APP_ID}, status=403, error=exchange_error(
        "The role assigned to application %s isn't supported in this scenario." % APP_ID,
        code="Forbidden", exception="UnauthorizedAccessException"))

    result = run_main(module_under_test.main, dict(module_args, app_id=APP_ID), capsys)

    assert result["failed"] is True
    assert result["msg"].startswith("Exchange cmdlet Get-ServicePrincipal failed: HTTP 403")
    assert "Exchange.ManageAsApp" in result["msg"] and "Exchange Administrator" in result["msg"]
    assert result["error"]["exception_type"] == "UnauthorizedAccessException"


def test_main_end_to_end_in_check_mode_with_diff(entra_sp, identity, transport, module_args, capsys):
    identity.discovery()
    identity.token(claims=EXCHANGE_CLAIMS)
    ExchangeScript(transport).expect("Get-ServicePrincipal", {"Identity": APP_ID}, rows=[])
    entra_sp()

    result = run_main(module_under_test.main, dict(module_args, app_id=APP_ID, _ansible_check_mode=True,
                                                   _ansible_diff=True), capsys)

    assert result["changed"] is True and result["diff"]["before"] == {}
    assert result["exchange_service_principal"]["object_id"] == SP_ID
