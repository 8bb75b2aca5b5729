# -*- coding: utf-8 -*-
"""exchange_ews_allow_list: scripted Get-/Set-OrganizationConfig (read, merge, write the whole list)."""

from __future__ import annotations

import pytest
import requests

from ansible_collections.mailauth.m365.plugins.module_utils._errors import ExchangeError, ParameterError
from ansible_collections.mailauth.m365.plugins.modules import exchange_ews_allow_list
from ansible_collections.mailauth.m365.tests.unit.exchange_script import (  # pylint: disable=unused-import
    EXCHANGE_CLAIMS,
    ExchangeScript,
    exchange_clients,
    exchange_error,
    script,
    sent_cmdlets,
)
from ansible_collections.mailauth.m365.tests.unit.graph_script import FakeModule, run_main

MONITOR = "6f3a1b2c-4d5e-4f60-8a7b-9c0d1e2f3a4b"
OTHER = "0c1d2e3f-0001-4a5b-8c7d-9e0f1a2b3c4d"


def org(allowed, enabled=True, policy=None):
    return {"Identity": "contoso.onmicrosoft.com", "EwsAllowedAppIDs": list(allowed), "EwsEnabled": enabled,
            "EwsApplicationAccessPolicy": policy, "IsValid": True}


def run(clients, check_mode=False, **given):
    params = dict(app_ids=None, ews_enabled=None)
    params.update(given)
    module = FakeModule(params, check_mode)
    changed, record, diff = exchange_ews_allow_list.run(module, clients)
    return changed, record, diff, module.warnings


@pytest.mark.parametrize("check_mode", [False, True])
def test_add_keeps_what_others_put_on_the_list(exchange_clients, transport, script, check_mode):
    clients = exchange_clients()
    script.expect("Get-OrganizationConfig", rows=[org([OTHER])])
    if not check_mode:
        script.expect("Set-OrganizationConfig", {"EwsAllowedAppIDs": [OTHER, MONITOR]})

    changed, record, diff, warnings = run(clients, check_mode, app_ids=dict(add=[MONITOR.upper()]))

    assert changed is True
    assert record["ews"] == dict(allowed_app_ids=[OTHER, MONITOR], ews_enabled=True, application_access_policy=None)
    assert record["changes"] == dict(added=[MONITOR], removed=[])
    assert diff["before"]["allowed_app_ids"] == [OTHER] and diff["after"]["allowed_app_ids"] == [OTHER, MONITOR]
    assert sent_cmdlets(transport)[-1] == ("Get-OrganizationConfig" if check_mode else "Set-OrganizationConfig")
    assert bool(warnings) is not check_mode  # the 24 hours, only when something was written


def test_no_change_is_one_read_whatever_the_case(exchange_clients, script):
    clients = exchange_clients()
    script.expect("Get-OrganizationConfig", rows=[org([MONITOR.upper(), OTHER])])
    changed, record, diff, warnings = run(clients, app_ids=dict(add=[MONITOR]), ews_enabled=True)
    assert changed is False and diff["before"] == diff["after"] and warnings == []
    assert record["changes"] == dict(added=[], removed=[])
    assert clients.exchange.request_count == 1


@pytest.mark.parametrize("check_mode", [False, True])
def test_remove_and_set(exchange_clients, transport, script, check_mode):
    clients = exchange_clients()
    script.expect("Get-OrganizationConfig", rows=[org([MONITOR, OTHER])])
    if not check_mode:
        script.expect("Set-OrganizationConfig", {"EwsAllowedAppIDs": [OTHER]})
    assert run(clients, check_mode, app_ids=dict(remove=[MONITOR]))[1]["ews"]["allowed_app_ids"] == [OTHER]

    script.expect("Get-OrganizationConfig", rows=[org([MONITOR, OTHER])])
    if not check_mode:
        script.expect("Set-OrganizationConfig", {"EwsAllowedAppIDs": []})
    changed, record = run(clients, check_mode, app_ids=dict(set=[]))[:2]
    assert changed is True and record["changes"] == dict(added=[], removed=[MONITOR, OTHER])


def test_set_in_another_order_is_no_change(exchange_clients, script):
    clients = exchange_clients()
    script.expect("Get-OrganizationConfig", rows=[org([MONITOR, OTHER])])
    assert run(clients, app_ids=dict(set=[OTHER, MONITOR]))[0] is False


def test_turn_ews_on_without_touching_the_list(exchange_clients, script):
    clients = exchange_clients()
    script.expect("Get-OrganizationConfig", rows=[org([OTHER], enabled=False)])
    script.expect("Set-OrganizationConfig", {"EwsEnabled": True})
    changed, record, _diff, warnings = run(clients, ews_enabled=True)
    assert changed is True and record["ews"]["ews_enabled"] is True and record["ews"]["allowed_app_ids"] == [OTHER]
    assert warnings == []


def test_a_lost_answer_is_read_back_not_sent_twice(exchange_clients, transport, script):
    clients = exchange_clients()
    script.expect("Get-OrganizationConfig", rows=[org([])])
    script.expect("Set-OrganizationConfig", {"EwsAllowedAppIDs": [MONITOR]},
                  raises=requests.exceptions.ConnectionError("Connection reset by peer"))
    script.expect("Get-OrganizationConfig", rows=[org([MONITOR])])
    assert run(clients, app_ids=dict(add=[MONITOR]))[0] is True
    assert sent_cmdlets(transport) == ["Get-OrganizationConfig", "Set-OrganizationConfig", "Get-OrganizationConfig"]


def test_a_lost_answer_that_did_not_apply_is_sent_again(exchange_clients, transport, script):
    clients = exchange_clients()
    script.expect("Get-OrganizationConfig", rows=[org([])])
    script.expect("Set-OrganizationConfig", {"EwsAllowedAppIDs": [MONITOR]},
                  raises=requests.exceptions.ConnectionError("Connection reset by peer"))
    script.expect("Get-OrganizationConfig", rows=[org([])])
    script.expect("Set-OrganizationConfig", {"EwsAllowedAppIDs": [MONITOR]})
    assert run(clients, app_ids=dict(add=[MONITOR]))[0] is True
    assert sent_cmdlets(transport)[-1] == "Set-OrganizationConfig"


def test_exchange_refusing_the_write_names_the_cmdlet(exchange_clients, script):
    clients = exchange_clients()
    script.expect("Get-OrganizationConfig", rows=[org([])])
    script.expect("Set-OrganizationConfig", {"EwsAllowedAppIDs": [MONITOR]}, status=400,
                  error=exchange_error("The value isn't valid.", exception="DataValidationException"))
    with pytest.raises(ExchangeError) as caught:
        run(clients, app_ids=dict(add=[MONITOR]))
    assert "Set-OrganizationConfig" in str(caught.value)


@pytest.mark.parametrize("given, parameter", [
    (dict(), "app_ids"),
    (dict(app_ids=dict(add=["Monitor G5"])), "app_ids"),
    (dict(app_ids=dict(set=[MONITOR, "not-a-guid"])), "app_ids"),
])
def test_invalid_options_fail_before_any_request(transport, given, parameter):
    with pytest.raises(ParameterError) as caught:
        run(None, **given)
    assert caught.value.parameter == parameter
    assert transport.sent == []


def test_main_end_to_end(identity, transport, module_args, capsys):
    identity.discovery()
    identity.token(claims=EXCHANGE_CLAIMS)
    ExchangeScript(transport).expect("Get-OrganizationConfig", rows=[org([MONITOR])])
    result = run_main(exchange_ews_allow_list.main, dict(module_args, app_ids=dict(add=[MONITOR])), capsys)
    assert result["changed"] is False and result["ews"]["allowed_app_ids"] == [MONITOR]
