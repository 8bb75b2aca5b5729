# -*- coding: utf-8 -*-
"""exchange_app_rbac: scripted management scopes, application role assignments and authorization checks."""

from __future__ import annotations

import pytest
import requests

from ansible_collections.mailauth.m365.plugins.module_utils._errors import ParameterError
from ansible_collections.mailauth.m365.plugins.modules import exchange_app_rbac as module_under_test
from ansible_collections.mailauth.m365.tests.unit.exchange_script import (  # pylint: disable=unused-import
    EXCHANGE_CLAIMS,
    ExchangeScript,
    exchange_clients,
    exchange_error,
    not_found,
    run_module_under_test,
    script,
    sent_cmdlets,
)
from ansible_collections.mailauth.m365.tests.unit.graph_script import run_main

APP_ID = "9b1c2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e"
SCOPE = "TrueChem sender"
SENDER = "truechem@contoso.com"
CEO = "ceo@contoso.com"
FILTER = "PrimarySmtpAddress -eq 'truechem@contoso.com'"
MAIL_SEND = "Application Mail.Send"
SMTP = "Application SMTP.SendAsApp"


def scope(recipient_filter=FILTER):
    return {"Name": SCOPE, "Identity": SCOPE, "RecipientFilter": recipient_filter, "ScopeRestrictionType": "RecipientScope"}


def assignment(role=MAIL_SEND, resource_scope=SCOPE):
    name = "%s-%s" % (role, APP_ID)
    return {"Name": name, "Identity": name, "Role": role, "RoleAssignee": APP_ID, "RoleAssigneeType": "ServicePrincipal",
            "CustomResourceScope": resource_scope, "RecipientWriteScope": "CustomRecipientScope" if resource_scope
            else "Organization"}


def authorization(in_scope, role=MAIL_SEND):
    return {"RoleName": role, "GrantedPermissions": role.split(" ", 1)[1], "AllowedResourceScope": SCOPE,
            "ScopeType": "CustomRecipientScope", "InScope": in_scope}


def params(**overrides):
    base = dict(app_id=APP_ID, scope_name=SCOPE, recipient_filter=None, mailboxes=[SENDER], roles=[MAIL_SEND],
                purge_roles=False, check_mailboxes=None, state="present")
    base.update(overrides)
    return base


def run(clients, check_mode=False, **overrides):
    return run_module_under_test(module_under_test, clients, params(**overrides), check_mode)


def expect_reads(script, found_scope=None, assignments=()):
    if found_scope is None:
        script.expect("Get-ManagementScope", {"Identity": SCOPE}, status=404, error=not_found(SCOPE))
    else:
        script.expect("Get-ManagementScope", {"Identity": SCOPE}, rows=[found_scope])
    script.expect("Get-ManagementRoleAssignment", {"RoleAssignee": APP_ID}, rows=list(assignments))


@pytest.mark.parametrize("check_mode", [False, True])
def test_limit_mail_send_to_one_mailbox(exchange_clients, transport, script, check_mode):
    clients = exchange_clients()
    expect_reads(script)
    script.expect("Get-Mailbox", {"Identity": SENDER}, rows=[{"Identity": "truechem", "PrimarySmtpAddress": SENDER}])
    if not check_mode:
        script.expect("New-ManagementScope", {"Name": SCOPE, "RecipientRestrictionFilter": FILTER}, rows=[scope()])
        script.expect("New-ManagementRoleAssignment", {"App": APP_ID, "Role": MAIL_SEND, "CustomResourceScope": SCOPE},
                      rows=[assignment()])
    script.expect("Test-ServicePrincipalAuthorization", {"Identity": APP_ID, "Resource": SENDER},
                  rows=[] if check_mode else [authorization(True)])
    script.expect("Test-ServicePrincipalAuthorization", {"Identity": APP_ID, "Resource": CEO},
                  rows=[] if check_mode else [authorization(False)])

    changed, record, diff, _warnings = run(clients, check_mode, check_mailboxes=[SENDER, CEO])

    assert changed is True
    assert record["changes"] == ["create scope %s" % SCOPE, "assign %s" % MAIL_SEND]
    rbac = record["app_rbac"]
    assert rbac["scope"]["recipient_filter"] == FILTER and rbac["scope"]["name"] == SCOPE
    assert [item["role"] for item in rbac["role_assignments"]] == [MAIL_SEND]
    assert rbac["role_assignments"][0]["identity"] == (None if check_mode else "%s-%s" % (MAIL_SEND, APP_ID))
    assert diff["before"] == dict(app_id=APP_ID, scope={}, role_assignments=[])
    assert [item["in_scope"] for item in record["mailbox_checks"]] == ([False, False] if check_mode else [True, False])


def test_no_change_is_two_reads(exchange_clients, script):
    clients = exchange_clients()
    expect_reads(script, scope("(PrimarySmtpAddress -eq 'TrueChem@contoso.com')"), [assignment()])

    changed, record, diff, warnings = run(clients)

    assert changed is False and record["changes"] == [] and warnings == []
    assert diff["before"] == diff["after"]
    assert clients.exchange.request_count == 2


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_changed_filter_updates_the_scope(exchange_clients, transport, script, check_mode):
    clients = exchange_clients()
    wanted = "PrimarySmtpAddress -eq 'a@contoso.com' -or PrimarySmtpAddress -eq 'b@contoso.com'"
    expect_reads(script, scope(), [assignment()])
    script.expect("Get-Mailbox", {"Identity": "b@contoso.com"}, rows=[{"PrimarySmtpAddress": "b@contoso.com"}])
    script.expect("Get-Mailbox", {"Identity": "A@contoso.com"}, rows=[{"PrimarySmtpAddress": "a@contoso.com"}])
    if not check_mode:
        script.expect("Set-ManagementScope", {"Identity": SCOPE, "RecipientRestrictionFilter": wanted})

    changed, record, _diff, _warnings = run(clients, check_mode, mailboxes=["b@contoso.com", "A@contoso.com"])

    assert changed is True and record["changes"] == ["update scope %s filter" % SCOPE]
    assert record["app_rbac"]["scope"]["recipient_filter"] == wanted


def test_an_alias_is_refused_as_scope_member(exchange_clients, script):
    clients = exchange_clients()
    expect_reads(script)
    script.expect("Get-Mailbox", {"Identity": "sales@contoso.com"},
                  rows=[{"PrimarySmtpAddress": "vertrieb@contoso.com"}])
    with pytest.raises(ParameterError) as caught:
        run(clients, mailboxes=["sales@contoso.com"])
    assert caught.value.parameter == "mailboxes" and "vertrieb@contoso.com" in caught.value.message


def test_recipient_filter_and_role_without_prefix(exchange_clients, script):
    clients = exchange_clients()
    expect_reads(script)
    script.expect("New-ManagementScope", {"Name": SCOPE, "RecipientRestrictionFilter": "CustomAttribute1 -eq 'smtp'"},
                  rows=[scope("CustomAttribute1 -eq 'smtp'")])
    script.expect("New-ManagementRoleAssignment", {"App": APP_ID, "Role": SMTP, "CustomResourceScope": SCOPE},
                  rows=[assignment(SMTP)])
    changed, record, _diff, _warnings = run(clients, mailboxes=None, roles=["SMTP.SendAsApp"],
                                            recipient_filter="CustomAttribute1 -eq 'smtp'")
    assert changed and record["app_rbac"]["role_assignments"][0]["role"] == SMTP


@pytest.mark.parametrize("check_mode", [False, True])
def test_purge_roles(exchange_clients, script, check_mode):
    clients = exchange_clients()
    expect_reads(script, scope(), [assignment(), assignment(SMTP)])
    if not check_mode:
        script.expect("Remove-ManagementRoleAssignment", {"Identity": "%s-%s" % (SMTP, APP_ID), "Confirm": False})
    changed, record, _diff, _warnings = run(clients, check_mode, purge_roles=True)
    assert changed and record["changes"] == ["remove %s" % SMTP]
    assert [item["role"] for item in record["app_rbac"]["role_assignments"]] == [MAIL_SEND]


def test_without_purge_other_roles_stay(exchange_clients, script):
    clients = exchange_clients()
    expect_reads(script, scope(), [assignment(), assignment(SMTP)])
    assert run(clients)[0] is False


def test_an_organization_wide_assignment_of_the_role_is_warned_about(exchange_clients, script):
    clients = exchange_clients()
    expect_reads(script, scope(), [assignment(), assignment(resource_scope=None)])
    warnings = run(clients)[3]
    assert len(warnings) == 1 and "without a scope" in warnings[0]


@pytest.mark.parametrize("check_mode", [False, True])
def test_absent_removes_the_assignments_then_the_scope(exchange_clients, transport, script, check_mode):
    clients = exchange_clients()
    expect_reads(script, scope(), [assignment(), assignment(SMTP), assignment(resource_scope="Other scope")])
    if not check_mode:
        script.expect("Remove-ManagementRoleAssignment", {"Identity": "%s-%s" % (MAIL_SEND, APP_ID), "Confirm": False})
        script.expect("Remove-ManagementRoleAssignment", {"Identity": "%s-%s" % (SMTP, APP_ID), "Confirm": False})
        script.expect("Remove-ManagementScope", {"Identity": SCOPE, "Confirm": False})

    changed, record, diff, _warnings = run(clients, check_mode, state="absent", roles=None, mailboxes=None)

    assert changed is True
    assert record["changes"] == ["remove %s" % MAIL_SEND, "remove %s" % SMTP, "remove scope %s" % SCOPE]
    assert record["app_rbac"] == dict(app_id=APP_ID, scope={}, role_assignments=[])
    assert len(diff["before"]["role_assignments"]) == 2


def test_absent_of_some_roles_keeps_the_scope_for_the_others(exchange_clients, script):
    clients = exchange_clients()
    expect_reads(script, scope(), [assignment(), assignment(SMTP)])
    script.expect("Remove-ManagementRoleAssignment", {"Identity": "%s-%s" % (SMTP, APP_ID), "Confirm": False})
    changed, record, _diff, _warnings = run(clients, state="absent", roles=[SMTP], mailboxes=None)
    assert changed and record["app_rbac"]["scope"]["name"] == SCOPE


def test_absent_when_gone_is_no_change_even_for_an_unregistered_app(exchange_clients, script):
    clients = exchange_clients()
    script.expect("Get-ManagementScope", {"Identity": SCOPE}, status=404, error=not_found(SCOPE))
    script.expect("Get-ManagementRoleAssignment", {"RoleAssignee": APP_ID}, status=404, error=not_found(APP_ID))
    assert run(clients, state="absent", roles=None, mailboxes=None)[0] is False


def test_present_for_an_unregistered_app_names_the_fix(exchange_clients, script):
    clients = exchange_clients()
    script.expect("Get-ManagementScope", {"Identity": SCOPE}, rows=[scope()])
    script.expect("Get-ManagementRoleAssignment", {"RoleAssignee": APP_ID}, status=404, error=not_found(APP_ID))
    with pytest.raises(ParameterError) as caught:
        run(clients)
    assert caught.value.parameter == "app_id" and "exchange_service_principal" in caught.value.message


def test_a_new_scope_needs_a_filter(exchange_clients, script):
    clients = exchange_clients()
    expect_reads(script)
    with pytest.raises(ParameterError) as caught:
        run(clients, mailboxes=None)
    assert caught.value.parameter == "recipient_filter"


def test_only_checking_needs_no_scope(exchange_clients, transport, script):
    clients = exchange_clients()
    script.expect("Test-ServicePrincipalAuthorization", {"Identity": APP_ID, "Resource": SENDER},
                  rows=[authorization(True), authorization(False, SMTP)])
    changed, record, _diff, _warnings = run(clients, check_mode=True, scope_name=None, mailboxes=None, roles=None,
                                            check_mailboxes=[SENDER])
    assert changed is False and record["app_rbac"]["scope"] == {}
    assert record["mailbox_checks"][0]["in_scope"] is True
    assert record["mailbox_checks"][0]["roles"][1] == dict(role=SMTP, in_scope=False, allowed_resource_scope=SCOPE,
                                                           scope_type="CustomRecipientScope",
                                                           granted_permissions="SMTP.SendAsApp")
    assert sent_cmdlets(transport) == ["Test-ServicePrincipalAuthorization"]


def test_a_check_of_an_unknown_mailbox_is_named(exchange_clients, script):
    clients = exchange_clients()
    script.expect("Test-ServicePrincipalAuthorization", {"Identity": APP_ID, "Resource": "x@contoso.com"},
                  status=404, error=not_found("x@contoso.com"))
    with pytest.raises(ParameterError) as caught:
        run(clients, scope_name=None, mailboxes=None, roles=None, check_mailboxes=["x@contoso.com"])
    assert caught.value.parameter == "check_mailboxes"


def test_a_lost_answer_to_the_assignment_is_read_back(exchange_clients, transport, script):
    clients = exchange_clients()
    expect_reads(script, scope(), [])
    script.expect("New-ManagementRoleAssignment", {"App": APP_ID, "Role": MAIL_SEND, "CustomResourceScope": SCOPE},
                  raises=requests.exceptions.ConnectionError("Connection reset by peer"))
    script.expect("Get-ManagementRoleAssignment", {"RoleAssignee": APP_ID}, rows=[assignment()])
    changed, record, _diff, _warnings = run(clients)
    assert changed and record["app_rbac"]["role_assignments"][0]["name"] == "%s-%s" % (MAIL_SEND, APP_ID)


@pytest.mark.parametrize("given, parameter", [
    (dict(scope_name=None), "scope_name"),
    (dict(scope_name=None, mailboxes=None, roles=None), "scope_name"),
    (dict(app_id="TrueChem"), "app_id"),
    (dict(mailboxes=None, recipient_filter="  "), "recipient_filter"),
    (dict(mailboxes=None, recipient_filter="Department = IT"), "recipient_filter"),
    (dict(mailboxes=None, recipient_filter="Department -eq 'IT"), "recipient_filter"),
    (dict(mailboxes=None, recipient_filter="(Department -eq 'IT'"), "recipient_filter"),
    (dict(mailboxes=None, recipient_filter="Department"), "recipient_filter"),
    (dict(roles=["Mail.Sendd"]), "roles"),
])
def test_invalid_options_fail_before_any_request(transport, given, parameter):
    with pytest.raises(ParameterError) as caught:
        run(None, **given)
    assert caught.value.parameter == parameter
    assert transport.sent == []


def test_main_refuses_filter_and_mailboxes_together(transport, module_args, capsys):
    result = run_main(module_under_test.main, dict(module_args, app_id=APP_ID, scope_name=SCOPE, mailboxes=[SENDER],
                                                   recipient_filter=FILTER), capsys)
    assert result["failed"] is True and "mutually exclusive" in result["msg"]


def test_main_end_to_end_no_change(identity, transport, module_args, capsys):
    identity.discovery()
    identity.token(claims=EXCHANGE_CLAIMS)
    script = ExchangeScript(transport)
    expect_reads(script, scope(), [assignment()])
    result = run_main(module_under_test.main, dict(module_args, app_id=APP_ID, scope_name=SCOPE, mailboxes=[SENDER],
                                                   roles=["Mail.Send"]), capsys)
    assert result["changed"] is False and result["app_rbac"]["scope"]["recipient_filter"] == FILTER


def test_filter_normalization():
    normalize = module_under_test.normalize_filter
    assert normalize("((PrimarySmtpAddress  -eq \"A@x\"))") == normalize("PrimarySmtpAddress -eq 'a@x'")
    assert normalize("(a -eq 'x') -or (b -eq 'y')") == "(a -eq 'x') -or (b -eq 'y')"
    assert module_under_test.mailbox_filter(["o'brien@x.com"]) == "PrimarySmtpAddress -eq 'o''brien@x.com'"


@pytest.mark.parametrize("text", ["PrimarySmtpAddress -eq 'a@contoso.com'", "(Department -eq 'IT') -or (Title -like 'x=*')",
                                  "CustomAttribute1 -ne $null", "MemberOfGroup -eq 'CN=Senders,OU=x,DC=y'"])
def test_valid_filters_pass_the_syntax_check(text):
    assert module_under_test.filter_problem(text) is None


def test_an_unknown_role_names_close_matches(transport):
    with pytest.raises(ParameterError) as caught:
        run(None, roles=["Mail.Sendd"])
    assert "Close matches: Application Mail.Send" in caught.value.message
    assert transport.sent == []
