# -*- coding: utf-8 -*-
"""exchange_smtp_auth and exchange_smtp_auth_info: scripted Get-/Set-CASMailbox and Get-/Set-TransportConfig."""

from __future__ import annotations

import pytest
import requests

from ansible_collections.mailauth.m365.plugins.module_utils._errors import ParameterError
from ansible_collections.mailauth.m365.plugins.modules import exchange_smtp_auth, exchange_smtp_auth_info
from ansible_collections.mailauth.m365.tests.unit.exchange_script import (  # pylint: disable=unused-import
    EXCHANGE_CLAIMS,
    INVOKE,
    ExchangeScript,
    exchange_clients,
    not_found,
    script,
    sent_cmdlets,
)
from ansible_collections.mailauth.m365.tests.unit.graph_script import FakeModule, run_main

REPORTS = "reports@contoso.com"
SCANNER = "scanner@contoso.com"


def cas(address, disabled):
    alias = address.split("@")[0]
    return {"Identity": alias, "PrimarySmtpAddress": address, "SmtpClientAuthenticationDisabled": disabled,
            "ImapEnabled": True, "PopEnabled": True, "EwsEnabled": True}


def run(clients, check_mode=False, **given):
    params = dict(mailboxes=None, enabled=None, tenant_enabled=None)
    params.update(given)
    module = FakeModule(params, check_mode)
    changed, record, diff = exchange_smtp_auth.run(module, clients)
    return changed, record, diff


@pytest.mark.parametrize("check_mode", [False, True])
def test_enable_per_mailbox(exchange_clients, transport, script, check_mode):
    clients = exchange_clients()
    script.expect("Get-CASMailbox", {"Identity": REPORTS}, rows=[cas(REPORTS, None)])
    script.expect("Get-CASMailbox", {"Identity": SCANNER}, rows=[cas(SCANNER, False)])
    if not check_mode:
        script.expect("Set-CASMailbox", {"Identity": REPORTS, "SmtpClientAuthenticationDisabled": False})

    changed, record, diff = run(clients, check_mode, mailboxes=[REPORTS, SCANNER], enabled=True)

    assert changed is True
    assert [item["smtp_auth_enabled"] for item in record["mailboxes"]] == [True, True]
    assert record["mailboxes"][0] == dict(mailbox=REPORTS, identity="reports", primary_smtp_address=REPORTS,
                                          smtp_auth_enabled=True, smtp_client_authentication_disabled=False)
    assert record["tenant"] == {}
    assert diff["before"]["mailboxes"][0]["smtp_auth_enabled"] is None
    assert sent_cmdlets(transport)[-1] == ("Get-CASMailbox" if check_mode else "Set-CASMailbox")


def test_no_change_reads_one_row_per_mailbox(exchange_clients, script):
    clients = exchange_clients()
    script.expect("Get-CASMailbox", {"Identity": REPORTS}, rows=[cas(REPORTS, False)])
    changed, _record, diff = run(clients, mailboxes=[REPORTS], enabled="yes")
    assert changed is False and diff["before"] == diff["after"]
    assert clients.exchange.request_count == 1


def test_default_sends_null_so_the_mailbox_follows_the_tenant(exchange_clients, transport, script):
    clients = exchange_clients()
    script.expect("Get-CASMailbox", {"Identity": SCANNER}, rows=[cas(SCANNER, True)])
    script.expect("Set-CASMailbox", {"Identity": SCANNER, "SmtpClientAuthenticationDisabled": None})
    changed, record, _diff = run(clients, mailboxes=[SCANNER], enabled="default")
    assert changed is True and record["mailboxes"][0]["smtp_auth_enabled"] is None


def test_disable_a_mailbox(exchange_clients, script):
    clients = exchange_clients()
    script.expect("Get-CASMailbox", {"Identity": SCANNER}, rows=[cas(SCANNER, None)])
    script.expect("Set-CASMailbox", {"Identity": SCANNER, "SmtpClientAuthenticationDisabled": True})
    assert run(clients, mailboxes=[SCANNER], enabled=False)[1]["mailboxes"][0]["smtp_auth_enabled"] is False


@pytest.mark.parametrize("check_mode", [False, True])
def test_the_tenant_switch(exchange_clients, transport, script, check_mode):
    clients = exchange_clients()
    script.expect("Get-TransportConfig", rows=[{"SmtpClientAuthenticationDisabled": False}])
    if not check_mode:
        script.expect("Set-TransportConfig", {"SmtpClientAuthenticationDisabled": True})

    changed, record, diff = run(clients, check_mode, tenant_enabled=False)

    assert changed is True and record["mailboxes"] == []
    assert record["tenant"] == dict(smtp_auth_enabled=False, smtp_client_authentication_disabled=True)
    assert diff["before"]["tenant"]["smtp_auth_enabled"] is True


def test_tenant_first_then_mailboxes_and_no_change_on_rerun(exchange_clients, transport, script):
    clients = exchange_clients()
    script.expect("Get-CASMailbox", {"Identity": REPORTS}, rows=[cas(REPORTS, None)])
    script.expect("Get-TransportConfig", rows=[{"SmtpClientAuthenticationDisabled": False}])
    script.expect("Set-TransportConfig", {"SmtpClientAuthenticationDisabled": True})
    script.expect("Set-CASMailbox", {"Identity": REPORTS, "SmtpClientAuthenticationDisabled": False})
    assert run(clients, mailboxes=[REPORTS], enabled=True, tenant_enabled=False)[0] is True

    script.expect("Get-CASMailbox", {"Identity": REPORTS}, rows=[cas(REPORTS, False)])
    script.expect("Get-TransportConfig", rows=[{"SmtpClientAuthenticationDisabled": True}])
    assert run(clients, mailboxes=[REPORTS], enabled=True, tenant_enabled=False)[0] is False


def test_a_lost_answer_to_set_casmailbox_is_read_back(exchange_clients, transport, script):
    clients = exchange_clients()
    script.expect("Get-CASMailbox", {"Identity": REPORTS}, rows=[cas(REPORTS, True)])
    script.expect("Set-CASMailbox", {"Identity": REPORTS, "SmtpClientAuthenticationDisabled": False},
                  raises=requests.exceptions.ConnectionError("Connection reset by peer"))
    script.expect("Get-CASMailbox", {"Identity": REPORTS}, rows=[cas(REPORTS, True)])
    script.expect("Set-CASMailbox", {"Identity": REPORTS, "SmtpClientAuthenticationDisabled": False})
    assert run(clients, mailboxes=[REPORTS], enabled=True)[0] is True
    assert sent_cmdlets(transport) == ["Get-CASMailbox", "Set-CASMailbox", "Get-CASMailbox", "Set-CASMailbox"]


def test_an_unknown_mailbox_is_named(exchange_clients, script):
    clients = exchange_clients()
    script.expect("Get-CASMailbox", {"Identity": "nobody@contoso.com"}, status=404,
                  error=not_found("nobody@contoso.com"))
    with pytest.raises(ParameterError) as caught:
        run(clients, mailboxes=["nobody@contoso.com"], enabled=True)
    assert caught.value.parameter == "mailboxes" and "nobody@contoso.com" in caught.value.message


@pytest.mark.parametrize("given, parameter", [
    (dict(mailboxes=[REPORTS]), "enabled"),
    (dict(mailboxes=[REPORTS], enabled="maybe"), "enabled"),
    (dict(), "mailboxes"),
    (dict(mailboxes=[" "], enabled=True), "mailboxes"),
])
def test_invalid_options_fail_before_any_request(transport, given, parameter):
    with pytest.raises(ParameterError) as caught:
        run(None, **given)
    assert caught.value.parameter == parameter
    assert transport.sent == []


def test_main_end_to_end_with_yaml_booleans(identity, transport, module_args, capsys):
    identity.discovery()
    identity.token(claims=EXCHANGE_CLAIMS)
    ExchangeScript(transport).expect("Get-CASMailbox", {"Identity": REPORTS}, rows=[cas(REPORTS, False)])
    result = run_main(exchange_smtp_auth.main, dict(module_args, mailboxes=[REPORTS], enabled=True), capsys)
    assert result["changed"] is False and result["mailboxes"][0]["smtp_auth_enabled"] is True


# --- exchange_smtp_auth_info --------------------------------------------------------------------
def run_info(clients, mailboxes=None):
    return exchange_smtp_auth_info.run(FakeModule(dict(mailboxes=mailboxes), True), clients)


def test_info_says_where_the_effective_state_comes_from(exchange_clients, script):
    clients = exchange_clients()
    script.expect("Get-CASMailbox", {"Identity": REPORTS}, rows=[cas(REPORTS, False)])
    script.expect("Get-CASMailbox", {"Identity": SCANNER}, rows=[cas(SCANNER, None)])
    script.expect("Get-TransportConfig", rows=[{"SmtpClientAuthenticationDisabled": True}])

    changed, record, diff = run_info(clients, [REPORTS, SCANNER])

    assert (changed, diff) == (False, None)
    assert record["mailboxes"] == [
        dict(mailbox=REPORTS, identity="reports", primary_smtp_address=REPORTS, smtp_auth_enabled=True,
             source="mailbox", mailbox_setting=True, tenant_setting=False),
        dict(mailbox=SCANNER, identity="scanner", primary_smtp_address=SCANNER, smtp_auth_enabled=False,
             source="tenant", mailbox_setting=None, tenant_setting=False)]
    assert record["tenant"] == dict(smtp_auth_enabled=False, smtp_client_authentication_disabled=True)


def test_info_lists_every_mailbox_across_pages(exchange_clients, script):
    clients = exchange_clients()
    page2 = INVOKE + "?$skiptoken=2"
    script.expect("Get-CASMailbox", {"ResultSize": "Unlimited"}, rows=[cas(REPORTS, None)], next_link=page2)
    script.expect("Get-CASMailbox", {"ResultSize": "Unlimited"}, rows=[cas(SCANNER, True)], url=page2)
    script.expect("Get-TransportConfig", rows=[{"SmtpClientAuthenticationDisabled": False}])

    record = run_info(clients)[1]

    assert [(item["mailbox"], item["smtp_auth_enabled"], item["source"]) for item in record["mailboxes"]] == [
        (REPORTS, True, "tenant"), (SCANNER, False, "mailbox")]


def test_info_of_an_empty_tenant_is_an_empty_list(exchange_clients, script):
    clients = exchange_clients()
    script.expect("Get-CASMailbox", {"ResultSize": "Unlimited"}, rows=[])
    script.expect("Get-TransportConfig", rows=[{"SmtpClientAuthenticationDisabled": False}])
    assert run_info(clients)[1]["mailboxes"] == []
