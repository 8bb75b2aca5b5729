# -*- coding: utf-8 -*-
"""directory_role_assignment: run() against a scripted Graph, and main() as Ansible runs it."""

from __future__ import annotations

import pytest
import requests

from ansible_collections.mailauth.m365.plugins.module_utils._errors import GraphError, ParameterError
from ansible_collections.mailauth.m365.plugins.module_utils._module import Clients
from ansible_collections.mailauth.m365.plugins.modules import directory_role_assignment as module_under_test
from ansible_collections.mailauth.m365.tests.unit import graph_script
from ansible_collections.mailauth.m365.tests.unit.conftest import CLIENT, TENANT
from ansible_collections.mailauth.m365.tests.unit.graph_script import graph_error

GRAPH = graph_script.GRAPH
ROLES = GRAPH + "/roleManagement/directory/roleDefinitions"
ASSIGNMENTS = GRAPH + "/roleManagement/directory/roleAssignments"
EXCHANGE_ADMIN = {"id": "29232cdf-9323-42fd-ade2-1d097af3e4de", "displayName": "Exchange Administrator",
                  "templateId": "29232cdf-9323-42fd-ade2-1d097af3e4de"}
APP_ID = "0a1b2c3d-2222-4aaa-8bbb-000000000002"
SP = {"id": "c3328a9d-5439-42ca-b7c9-7aa7b8e14d7d", "appId": APP_ID, "displayName": "mailauth automation"}
ASSIGNMENT = {"id": "lAPpYvVpN0KRkAEhdxReEJ2qMsM5VMpCt8l6p7jhTX0-1", "principalId": SP["id"],
              "roleDefinitionId": EXCHANGE_ADMIN["id"], "directoryScopeId": "/"}
OTHER_SCOPE = dict(ASSIGNMENT, id="other-1", directoryScopeId="/administrativeUnits/au-1")
RECORD = {"id": ASSIGNMENT["id"], "role": "Exchange Administrator", "role_definition_id": EXCHANGE_ADMIN["id"],
          "principal_id": SP["id"], "principal_display_name": "mailauth automation", "directory_scope_id": "/",
          "app_id": APP_ID}
DEFAULTS = dict(role="Exchange Administrator", app_id=None, user_principal_name=None, principal_id=None,
                directory_scope_id="/", state="present")


def fake_module(check_mode=False, **params):
    """The shared fake module with this module's defaults."""
    return graph_script.FakeModule(dict(DEFAULTS, **params), check_mode)


@pytest.fixture
def clients(identity, make_settings, clock):
    identity.discovery()
    identity.token(claims={"appid": CLIENT, "tid": TENANT, "idtyp": "app"})
    built = Clients(make_settings(), sleep=clock.sleep, clock=clock.monotonic)
    yield built
    built.close()


def expect_role_by_name(transport, found=(EXCHANGE_ADMIN,)):
    transport.expect("GET", ROLES + "?$filter=displayName eq 'Exchange Administrator'&$select=id,displayName,templateId",
                     json={"value": list(found)})


def expect_sp(transport, found=(SP,)):
    transport.expect("GET", GRAPH + "/servicePrincipals?$filter=appId eq '%s'&$select=id,appId,displayName" % APP_ID,
                     json={"value": list(found)})


def expect_assignments(transport, found=(), principal_id=SP["id"]):
    transport.expect("GET", ASSIGNMENTS + "?$filter=principalId eq '%s'&$select=id,principalId,roleDefinitionId,"
                                          "directoryScopeId" % principal_id, json={"value": list(found)})


def expect_reads(transport, assignments=()):
    expect_role_by_name(transport)
    expect_sp(transport)
    expect_assignments(transport, assignments)


# --- present ---------------------------------------------------------------------------------------
def test_create_assigns_the_role_and_waits_until_reads_show_it(clients, transport):
    expect_reads(transport, [OTHER_SCOPE])
    wanted = {"principalId": SP["id"], "roleDefinitionId": EXCHANGE_ADMIN["id"], "directoryScopeId": "/"}
    transport.expect("POST", ASSIGNMENTS, status=201, json=dict(ASSIGNMENT, appScopeId=None),
                     check=lambda sent: graph_script.body_of(sent) == wanted)
    expect_assignments(transport, [OTHER_SCOPE, ASSIGNMENT])

    changed, record, diff = module_under_test.run(fake_module(app_id=APP_ID), clients)

    assert changed is True
    assert record == {"assignment": RECORD}
    assert diff == {"before": {}, "after": RECORD}
    assert clients.request_count == 2 + 5  # sign-in, 3 reads, POST, confirming read


def test_create_in_check_mode_predicts_and_writes_nothing(clients, transport):
    expect_reads(transport)

    changed, record, diff = module_under_test.run(fake_module(check_mode=True, app_id=APP_ID), clients)

    assert changed is True
    assert record["assignment"] == dict(RECORD, id=None)
    assert diff["after"]["role"] == "Exchange Administrator" and diff["before"] == {}
    assert transport.count("POST", "/roleAssignments") == 0


@pytest.mark.parametrize("check_mode", [False, True])
def test_an_existing_assignment_is_unchanged_with_reads_only(clients, transport, check_mode):
    expect_reads(transport, [ASSIGNMENT])

    changed, record, diff = module_under_test.run(fake_module(check_mode=check_mode, app_id=APP_ID), clients)

    assert changed is False
    assert record == {"assignment": RECORD}
    assert diff == {"before": RECORD, "after": RECORD}
    assert clients.request_count == 2 + 3


def test_role_by_template_id_is_one_get(clients, transport):
    transport.expect("GET", ROLES + "/%s?$select=id,displayName,templateId" % EXCHANGE_ADMIN["id"], json=EXCHANGE_ADMIN)
    expect_sp(transport)
    expect_assignments(transport, [ASSIGNMENT])

    changed, record = module_under_test.run(fake_module(role=EXCHANGE_ADMIN["id"].upper(), app_id=APP_ID), clients)[:2]

    assert changed is False and record["assignment"]["role"] == "Exchange Administrator"


def test_user_by_user_principal_name(clients, transport):
    user = {"id": "9e5d7041-4b67-4776-982c-52faca57e9a0", "userPrincipalName": "erp.admin@contoso.com",
            "displayName": "ERP Admin"}
    expect_role_by_name(transport)
    transport.expect("GET", GRAPH + "/users/erp.admin@contoso.com?$select=id,userPrincipalName,displayName", json=user)
    expect_assignments(transport, [], principal_id=user["id"])
    created = dict(ASSIGNMENT, principalId=user["id"])
    transport.expect("POST", ASSIGNMENTS, status=201, json=created)
    expect_assignments(transport, [created], principal_id=user["id"])

    changed, record = module_under_test.run(fake_module(user_principal_name="erp.admin@contoso.com"), clients)[:2]

    assert changed is True
    assert record["assignment"]["principal_id"] == user["id"]
    assert record["assignment"]["user_principal_name"] == "erp.admin@contoso.com"
    assert "app_id" not in record["assignment"]


def test_principal_by_object_id_needs_no_lookup(clients, transport):
    expect_role_by_name(transport)
    expect_assignments(transport, [ASSIGNMENT])

    changed, record = module_under_test.run(fake_module(principal_id=SP["id"].upper()), clients)[:2]

    assert changed is False and record["assignment"]["principal_id"] == SP["id"]


# --- absent ----------------------------------------------------------------------------------------
def test_delete_removes_the_assignment_and_waits_until_it_is_gone(clients, transport):
    expect_reads(transport, [ASSIGNMENT])
    transport.expect("DELETE", ASSIGNMENTS + "/" + ASSIGNMENT["id"], status=204)
    expect_assignments(transport, [])

    changed, record, diff = module_under_test.run(fake_module(app_id=APP_ID, state="absent"), clients)

    assert (changed, record, diff) == (True, {"assignment": {}}, {"before": RECORD, "after": {}})


def test_delete_in_check_mode_writes_nothing(clients, transport):
    expect_reads(transport, [ASSIGNMENT])

    changed, record, diff = module_under_test.run(fake_module(check_mode=True, app_id=APP_ID, state="absent"), clients)

    assert (changed, record, diff) == (True, {"assignment": {}}, {"before": RECORD, "after": {}})
    assert transport.count("DELETE") == 0


@pytest.mark.parametrize("check_mode", [False, True])
def test_absent_when_not_assigned_is_unchanged(clients, transport, check_mode):
    expect_reads(transport, [OTHER_SCOPE])

    changed, record = module_under_test.run(fake_module(check_mode=check_mode, app_id=APP_ID, state="absent"), clients)[:2]

    assert (changed, record) == (False, {"assignment": {}})


def test_absent_for_an_app_without_service_principal_is_unchanged(clients, transport):
    expect_role_by_name(transport)
    expect_sp(transport, found=())

    changed = module_under_test.run(fake_module(app_id=APP_ID, state="absent"), clients)[0]

    assert changed is False


def test_delete_of_an_assignment_gone_meanwhile_is_fine(clients, transport):
    expect_reads(transport, [ASSIGNMENT])
    transport.expect("DELETE", ASSIGNMENTS + "/" + ASSIGNMENT["id"], status=404,
                     json=graph_error("Request_ResourceNotFound", "Resource does not exist."))
    expect_assignments(transport, [])

    changed = module_under_test.run(fake_module(app_id=APP_ID, state="absent"), clients)[0]

    assert changed is True


# --- error paths -----------------------------------------------------------------------------------
def test_an_ambiguous_post_is_read_before_posting_again(clients, transport):
    expect_reads(transport)
    transport.expect("POST", ASSIGNMENTS, raises=requests.exceptions.ConnectionError("connection reset"))
    expect_assignments(transport, [ASSIGNMENT])  # it was applied after all
    expect_assignments(transport, [ASSIGNMENT])

    changed, record = module_under_test.run(fake_module(app_id=APP_ID), clients)[:2]

    assert changed is True and record["assignment"]["id"] == ASSIGNMENT["id"]
    assert transport.count("POST", "/roleAssignments") == 1


def test_an_ambiguous_post_that_was_not_applied_is_sent_again(clients, transport):
    expect_reads(transport)
    transport.expect("POST", ASSIGNMENTS, raises=requests.exceptions.ConnectionError("connection reset"))
    expect_assignments(transport, [])
    transport.expect("POST", ASSIGNMENTS, status=201, json=ASSIGNMENT)
    expect_assignments(transport, [ASSIGNMENT])

    changed, record = module_under_test.run(fake_module(app_id=APP_ID), clients)[:2]

    assert changed is True and record["assignment"] == RECORD


def test_replication_lag_of_a_new_service_principal_is_waited_out(clients, transport, clock):
    expect_reads(transport)
    lag = graph_error("Request_ResourceNotFound", "Resource '%s' does not exist or one of its queried "
                                                  "reference-property objects are not present." % SP["id"])
    transport.expect("POST", ASSIGNMENTS, status=404, json=lag, times=2)
    transport.expect("POST", ASSIGNMENTS, status=201, json=ASSIGNMENT)
    expect_assignments(transport, [])  # the new assignment is not visible to reads yet
    expect_assignments(transport, [ASSIGNMENT])

    changed, record = module_under_test.run(fake_module(app_id=APP_ID), clients)[:2]

    assert changed is True and record["assignment"] == RECORD
    assert len(clock.sleeps) == 3


def test_a_duplicate_answer_returns_the_existing_assignment(clients, transport):
    expect_reads(transport)
    transport.expect("POST", ASSIGNMENTS, status=409, json=graph_error(
        "Request_MultipleObjectsWithSameKeyValue",
        "A conflicting object with one or more of the specified property values is present in the directory."))
    expect_assignments(transport, [ASSIGNMENT])
    expect_assignments(transport, [ASSIGNMENT])

    changed, record = module_under_test.run(fake_module(app_id=APP_ID), clients)[:2]

    assert record["assignment"]["id"] == ASSIGNMENT["id"]
    assert transport.count("POST", "/roleAssignments") == 1


def test_forbidden_names_the_permission_and_keeps_the_request_id(clients, transport):
    expect_reads(transport)
    transport.expect("POST", ASSIGNMENTS, status=403, json=graph_error(
        "Authorization_RequestDenied", "Insufficient privileges to complete the operation.", "req-403"))

    with pytest.raises(GraphError) as failure:
        module_under_test.run(fake_module(app_id=APP_ID), clients)

    assert "RoleManagement.ReadWrite.Directory" in failure.value.message and "req-403" in failure.value.message
    assert failure.value.code == "Authorization_RequestDenied"
    assert transport.count("POST", "/roleAssignments") == 1  # a real 403 is not mistaken for lag


def test_an_unknown_role_name_lists_close_matches(clients, transport):
    transport.expect("GET", ROLES + "?$filter=displayName eq 'Exchange Admin'&$select=id,displayName,templateId",
                     json={"value": []})
    transport.expect("GET", ROLES + "?$select=displayName", json={"value": [
        {"displayName": "Exchange Administrator"}, {"displayName": "Global Administrator"},
        {"displayName": "Exchange Recipient Administrator"}]})

    with pytest.raises(ParameterError) as failure:
        module_under_test.run(fake_module(role="Exchange Admin", app_id=APP_ID), clients)

    assert failure.value.parameter == "role"
    assert "Close matches: Exchange Administrator" in failure.value.message


def test_two_roles_with_the_name_fail_and_list_their_ids(clients, transport):
    expect_role_by_name(transport, found=(EXCHANGE_ADMIN, dict(EXCHANGE_ADMIN, id="custom-role-id")))

    with pytest.raises(ParameterError) as failure:
        module_under_test.run(fake_module(app_id=APP_ID), clients)

    assert "custom-role-id" in failure.value.message


def test_an_unknown_role_id_fails(clients, transport):
    transport.expect("GET", ROLES + "/%s?$select=id,displayName,templateId" % SP["id"], status=404,
                     json=graph_error("Request_ResourceNotFound", "Resource not found."))

    with pytest.raises(ParameterError) as failure:
        module_under_test.run(fake_module(role=SP["id"], app_id=APP_ID), clients)

    assert failure.value.parameter == "role"


def test_an_app_without_service_principal_fails_with_the_fix(clients, transport):
    expect_role_by_name(transport)
    expect_sp(transport, found=())

    with pytest.raises(ParameterError) as failure:
        module_under_test.run(fake_module(app_id=APP_ID), clients)

    assert failure.value.parameter == "app_id" and "mailauth.m365.service_principal" in failure.value.message


def test_an_unknown_user_fails_and_is_nothing_to_remove(clients, transport):
    for state in ("present", "absent"):
        expect_role_by_name(transport)
        transport.expect("GET", GRAPH + "/users/nobody@contoso.com?$select=id,userPrincipalName,displayName",
                         status=404, json=graph_error("Request_ResourceNotFound", "Resource does not exist."))
    with pytest.raises(ParameterError) as failure:
        module_under_test.run(fake_module(user_principal_name="nobody@contoso.com"), clients)
    assert failure.value.parameter == "user_principal_name"

    changed = module_under_test.run(fake_module(user_principal_name="nobody@contoso.com", state="absent"), clients)[0]
    assert changed is False


@pytest.mark.parametrize("params, parameter", [
    (dict(app_id="not-a-guid"), "app_id"),
    (dict(principal_id="mailauth automation"), "principal_id"),
    (dict(app_id=APP_ID, directory_scope_id="administrativeUnits/1"), "directory_scope_id"),
    (dict(), "app_id"),
])
def test_wrong_options_fail_before_any_graph_request(transport, make_settings, params, parameter):
    with pytest.raises(ParameterError) as failure:
        module_under_test.run(fake_module(**params), Clients(make_settings()))
    assert failure.value.parameter == parameter
    assert transport.sent == []


def test_main_rejects_two_principals(capsys, tmp_path):
    args = dict(tenant_id=TENANT, client_id=CLIENT, client_secret="s3cret-value", token_cache_path=str(tmp_path),
                role="Exchange Administrator", app_id=APP_ID, principal_id=SP["id"])
    result = graph_script.run_main(module_under_test.main, args, capsys)
    assert result["failed"] is True and "mutually exclusive" in result["msg"]


def test_main_end_to_end(identity, transport, capsys, tmp_path):
    identity.discovery()
    identity.token(claims={"appid": CLIENT, "tid": TENANT, "idtyp": "app"})
    expect_reads(transport, [ASSIGNMENT])
    args = dict(tenant_id=TENANT, client_id=CLIENT, client_secret="s3cret-value", token_cache_path=str(tmp_path),
                role="Exchange Administrator", app_id=APP_ID, _ansible_diff=True)
    result = graph_script.run_main(module_under_test.main, args, capsys)
    assert result["changed"] is False and result["assignment"] == RECORD
    assert result["diff"] == {"before": RECORD, "after": RECORD}
