# -*- coding: utf-8 -*-
"""exchange_mailbox_permission: scripted cmdlets for grant, no-op and removal of FullAccess and SendAs, in normal
and check mode, for users and applications, and the error paths."""

from __future__ import annotations

import pytest
import requests

from ansible_collections.mailauth.m365.plugins.module_utils._errors import ParameterError
from ansible_collections.mailauth.m365.plugins.modules import exchange_mailbox_permission as module_under_test
from ansible_collections.mailauth.m365.tests.unit.exchange_script import (  # pylint: disable=unused-import
    EXCHANGE_CLAIMS,
    ExchangeScript,
    exchange_clients,
    not_found,
    run_module_under_test,
    script,
    sent_cmdlets,
)
from ansible_collections.mailauth.m365.tests.unit.graph_script import run_main

APP_ID = "7d2e4b1a-9c3f-4e8d-a5b6-0f1e2d3c4b5a"
SP_ID = "3c1d8a2e-5f4b-4d7a-9e21-6b0c8f1a2d34"
ENAIO = "enaio@contoso.com"
ALICE = "alice@contoso.com"
BOB = "bob@contoso.com"
SELF = {"Identity": "alice", "User": "NT AUTHORITY\\SELF", "AccessRights": ["FullAccess, ReadPermission"],
        "IsInherited": False, "Deny": False, "InheritanceType": "All"}


def full_access(user=ENAIO, inherited=False, deny=False, rights=("FullAccess",)):
    return {"Identity": "alice", "User": user, "AccessRights": list(rights), "IsInherited": inherited,
            "Deny": deny, "InheritanceType": "All"}


def send_as(trustee=ENAIO):
    return {"Identity": "alice", "Trustee": trustee, "AccessControlType": "Allow", "AccessRights": ["SendAs"],
            "IsInherited": False, "InheritanceType": "None"}


def params(**overrides):
    base = dict(mailboxes=[ALICE, BOB], trustee=ENAIO, app_id=None, access_rights=["FullAccess", "SendAs"],
                auto_mapping=None, state="present")
    base.update(overrides)
    return base


def run(clients, check_mode=False, **overrides):
    return run_module_under_test(module_under_test, clients, params(**overrides), check_mode)


def expect_reads(script, mailbox, full=(), sendas=(), trustee=ENAIO):
    script.expect("Get-MailboxPermission", {"Identity": mailbox, "User": trustee}, rows=list(full))
    script.expect("Get-RecipientPermission", {"Identity": mailbox, "Trustee": trustee}, rows=list(sendas))


@pytest.mark.parametrize("check_mode", [False, True])
def test_grant_what_is_missing(exchange_clients, transport, script, check_mode):
    clients = exchange_clients()
    expect_reads(script, ALICE, full=[full_access()], sendas=[])
    expect_reads(script, BOB)
    if not check_mode:
        script.expect("Add-RecipientPermission", {"Identity": ALICE, "Trustee": ENAIO, "AccessRights": ["SendAs"],
                                                  "Confirm": False}, rows=[send_as()])
        script.expect("Add-MailboxPermission", {"Identity": BOB, "User": ENAIO, "AccessRights": ["FullAccess"],
                                                "InheritanceType": "All"}, rows=[full_access()])
        script.expect("Add-RecipientPermission", {"Identity": BOB, "Trustee": ENAIO, "AccessRights": ["SendAs"],
                                                  "Confirm": False}, rows=[send_as()])

    changed, record, diff, _warnings = run(clients, check_mode)

    assert changed is True
    assert record["changes"] == [dict(mailbox=ALICE, access_right="SendAs", action="add"),
                                 dict(mailbox=BOB, access_right="FullAccess", action="add"),
                                 dict(mailbox=BOB, access_right="SendAs", action="add")]
    assert [item["access_rights"] for item in record["permissions"]] == [["FullAccess", "SendAs"]] * 2
    assert record["trustee"] == dict(name=ENAIO, app_id=None, identity=ENAIO)
    assert diff == {"before": {ALICE: ["FullAccess"], BOB: []},
                    "after": {ALICE: ["FullAccess", "SendAs"], BOB: ["FullAccess", "SendAs"]}}
    assert len(sent_cmdlets(transport)) == (4 if check_mode else 7)


def test_no_change_reads_each_mailbox_once_per_right(exchange_clients, script):
    clients = exchange_clients()
    expect_reads(script, ALICE, full=[SELF, full_access()], sendas=[send_as()])
    expect_reads(script, BOB, full=[full_access()], sendas=[send_as()])

    changed, record, diff, warnings = run(clients)

    assert changed is False and record["changes"] == [] and warnings == []
    assert diff["before"] == diff["after"]
    assert clients.exchange.request_count == 4


def test_a_deny_entry_is_not_a_grant(exchange_clients, script):
    clients = exchange_clients()
    script.expect("Get-MailboxPermission", {"Identity": ALICE, "User": ENAIO}, rows=[full_access(deny=True)])
    script.expect("Add-MailboxPermission", {"Identity": ALICE, "User": ENAIO, "AccessRights": ["FullAccess"],
                                            "InheritanceType": "All"})
    assert run(clients, mailboxes=[ALICE], access_rights=["FullAccess"])[0] is True


def test_the_application_trustee_is_its_exchange_service_principal(exchange_clients, script, transport):
    clients = exchange_clients()
    script.expect("Get-ServicePrincipal", {"Identity": APP_ID},
                  rows=[{"AppId": APP_ID, "ObjectId": SP_ID, "DisplayName": "enaio SMTP", "Identity": SP_ID}])
    script.expect("Get-MailboxPermission", {"Identity": ENAIO, "User": SP_ID}, rows=[SELF])
    script.expect("Add-MailboxPermission", {"Identity": ENAIO, "User": SP_ID, "AccessRights": ["FullAccess"],
                                            "InheritanceType": "All"},
                  rows=[full_access(user=SP_ID)])

    changed, record, _diff, _warnings = run(clients, trustee=None, app_id=APP_ID, mailboxes=[ENAIO], access_rights=["FullAccess"])

    assert changed is True
    assert record["trustee"] == dict(name="enaio SMTP", app_id=APP_ID, identity=SP_ID)
    assert record["permissions"] == [dict(mailbox=ENAIO, trustee=SP_ID, access_rights=["FullAccess"], inherited=[])]


def test_an_application_unknown_to_exchange_fails_with_the_fix(exchange_clients, script):
    clients = exchange_clients()
    script.expect("Get-ServicePrincipal", {"Identity": APP_ID}, status=404, error=not_found(APP_ID))
    with pytest.raises(ParameterError) as caught:
        run(clients, trustee=None, app_id=APP_ID)
    assert caught.value.parameter == "app_id" and "exchange_service_principal" in caught.value.message


def test_removing_the_rights_of_an_unregistered_application_is_no_change(exchange_clients, script):
    clients = exchange_clients()
    script.expect("Get-ServicePrincipal", {"Identity": APP_ID}, rows=[])
    changed, record, _diff, warnings = run(clients, trustee=None, app_id=APP_ID, state="absent")
    assert changed is False and record["changes"] == [] and "not registered" in warnings[0]


@pytest.mark.parametrize("check_mode", [False, True])
def test_remove(exchange_clients, transport, script, check_mode):
    clients = exchange_clients()
    expect_reads(script, ALICE, full=[SELF, full_access()], sendas=[send_as()])
    expect_reads(script, BOB, full=[], sendas=[])
    if not check_mode:
        script.expect("Remove-MailboxPermission", {"Identity": ALICE, "User": ENAIO, "AccessRights": ["FullAccess"],
                                                   "InheritanceType": "All", "Confirm": False})
        script.expect("Remove-RecipientPermission", {"Identity": ALICE, "Trustee": ENAIO, "AccessRights": ["SendAs"],
                                                     "Confirm": False})

    changed, record, diff, _warnings = run(clients, check_mode, state="absent")

    assert changed is True
    assert [change["action"] for change in record["changes"]] == ["remove", "remove"]
    assert [item["access_rights"] for item in record["permissions"]] == [[], []]
    assert diff["before"][ALICE] == ["FullAccess", "SendAs"] and diff["after"][ALICE] == []


def test_inherited_rights_are_kept_and_reported(exchange_clients, script):
    clients = exchange_clients()
    script.expect("Get-MailboxPermission", {"Identity": ALICE, "User": ENAIO}, rows=[full_access(inherited=True)])
    changed, record, _diff, warnings = run(clients, mailboxes=[ALICE], access_rights=["FullAccess"], state="absent")
    assert changed is False
    assert record["permissions"][0]["inherited"] == ["FullAccess"]
    assert "inheritance" in warnings[0]


def test_auto_mapping_is_sent_with_a_new_full_access(exchange_clients, script):
    clients = exchange_clients()
    script.expect("Get-MailboxPermission", {"Identity": ALICE, "User": ENAIO}, rows=[])
    script.expect("Add-MailboxPermission", {"Identity": ALICE, "User": ENAIO, "AccessRights": ["FullAccess"],
                                            "InheritanceType": "All", "AutoMapping": False},
                  warnings=["AutoMapping is set to false."])
    changed, _record, _diff, warnings = run(clients, mailboxes=[ALICE], access_rights=["FullAccess"], auto_mapping=False)
    assert changed is True
    assert warnings == ["Exchange Online: AutoMapping is set to false."]


def test_auto_mapping_is_refused_for_an_application(exchange_clients, transport):
    with pytest.raises(ParameterError) as caught:
        run(None, trustee=None, app_id=APP_ID, auto_mapping=True)
    assert caught.value.parameter == "auto_mapping"


def test_an_unknown_mailbox_is_named(exchange_clients, script):
    clients = exchange_clients()
    script.expect("Get-MailboxPermission", {"Identity": "nobody@contoso.com", "User": ENAIO}, status=404,
                  error=not_found("nobody@contoso.com"))
    with pytest.raises(ParameterError) as caught:
        run(clients, mailboxes=["nobody@contoso.com"])
    assert caught.value.parameter == "mailboxes" and "nobody@contoso.com" in caught.value.message


def test_an_unknown_trustee_is_named(exchange_clients, script):
    clients = exchange_clients()
    script.expect("Get-MailboxPermission", {"Identity": ALICE, "User": "ghost@contoso.com"}, status=404,
                  error=not_found("ghost@contoso.com"))
    with pytest.raises(ParameterError) as caught:
        run(clients, mailboxes=[ALICE], trustee="ghost@contoso.com")
    assert caught.value.parameter == "trustee"


def test_a_lost_answer_to_a_grant_is_read_back_before_sending_again(exchange_clients, transport, script):
    clients = exchange_clients()
    script.expect("Get-MailboxPermission", {"Identity": ALICE, "User": ENAIO}, rows=[])
    script.expect("Add-MailboxPermission", {"Identity": ALICE, "User": ENAIO, "AccessRights": ["FullAccess"],
                                            "InheritanceType": "All"},
                  raises=requests.exceptions.ConnectionError("Connection reset by peer"))
    script.expect("Get-MailboxPermission", {"Identity": ALICE, "User": ENAIO}, rows=[full_access()])

    assert run(clients, mailboxes=[ALICE], access_rights=["FullAccess"])[0] is True
    assert sent_cmdlets(transport) == ["Get-MailboxPermission", "Add-MailboxPermission", "Get-MailboxPermission"]


def test_mailboxes_are_deduplicated_without_regard_to_case(exchange_clients, script):
    clients = exchange_clients()
    script.expect("Get-RecipientPermission", {"Identity": ALICE, "Trustee": ENAIO}, rows=[send_as()])
    changed, record, _diff, _warnings = run(clients, mailboxes=[ALICE, ALICE.upper(), " "], access_rights=["SendAs"])
    assert changed is False and len(record["permissions"]) == 1


def test_main_requires_exactly_one_trustee(transport, module_args, capsys):
    result = run_main(module_under_test.main, dict(module_args, mailboxes=[ALICE], access_rights=["SendAs"],
                                                   trustee=ENAIO, app_id=APP_ID), capsys)
    assert result["failed"] is True and "mutually exclusive" in result["msg"]
    assert transport.sent == []


def test_main_end_to_end(identity, transport, module_args, capsys):
    identity.discovery()
    identity.token(claims=EXCHANGE_CLAIMS)
    ExchangeScript(transport).expect("Get-RecipientPermission", {"Identity": ALICE, "Trustee": ENAIO},
                                     rows=[send_as()])
    result = run_main(module_under_test.main, dict(module_args, mailboxes=[ALICE], access_rights=["SendAs"],
                                                   trustee=ENAIO), capsys)
    assert result["changed"] is False and result["permissions"][0]["access_rights"] == ["SendAs"]


def test_flags_rendered_as_one_string_are_read(exchange_clients, script):
    clients = exchange_clients()
    script.expect("Get-MailboxPermission", {"Identity": ALICE, "User": ENAIO},
                  rows=[full_access(rights=["ReadPermission, FullAccess"])])
    assert run(clients, mailboxes=[ALICE], access_rights=["FullAccess"])[0] is False
