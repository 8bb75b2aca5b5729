# -*- coding: utf-8 -*-
"""service_principal: the scripted Graph exchange of create, update, no-op and delete, in normal and
check mode, and the error paths (replication lag, ambiguous POST, duplicates, 403)."""

from __future__ import annotations

import pytest
import requests

from ansible_collections.mailauth.m365.plugins.module_utils._errors import GraphError, ParameterError
from ansible_collections.mailauth.m365.plugins.modules import service_principal
from ansible_collections.mailauth.m365.tests.unit.graph_script import (
    FakeModule,
    body_of,
    graph_error,
    last,
    run_main,
    url,
)

APP_ID = "7d2e4b1a-9c3f-4e8d-a5b6-0f1e2d3c4b5a"
SP_ID = "3c1d8a2e-5f4b-4d7a-9e21-6b0c8f1a2d34"
USER_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
OTHER_ID = "11112222-3333-4444-5555-666677778888"
GROUP_ID = "aaaa1111-bbbb-4ccc-8ddd-eeeeffff0000"
DEFAULT_ROLE = "00000000-0000-0000-0000-000000000000"
SP = {"id": SP_ID, "appId": APP_ID, "displayName": "enaio SMTP", "appRoleAssignmentRequired": False,
      "notes": None, "tags": []}
USER = {"id": USER_ID, "displayName": "enaio Mail Sender", "userPrincipalName": "enaio@contoso.com"}
SP_FILTER = url("servicePrincipals", filter="appId eq '%s'" % APP_ID, select=service_principal.SP_FIELDS)
ASSIGNED_TO = url("servicePrincipals/%s/appRoleAssignedTo" % SP_ID, select=service_principal.ASSIGNMENT_FIELDS)
USERS = url("users", filter="userPrincipalName in ('enaio@contoso.com')", select="id,displayName,userPrincipalName")
UPSERT = url("servicePrincipals(appId='%s')" % APP_ID)


def assignment(principal_id=USER_ID, name="enaio Mail Sender", assignment_id="asg-user", principal_type="User",
               role=DEFAULT_ROLE):
    return {"id": assignment_id, "appRoleId": role, "principalId": principal_id, "principalType": principal_type,
            "principalDisplayName": name}


def params(**overrides):
    base = dict(app_id=APP_ID, state="present", app_role_assignment_required=None, notes=None, tags=None,
                assigned_principals=None)
    base.update(overrides)
    return base


def run(clients, check_mode=False, **overrides):
    return service_principal.run(FakeModule(params(**overrides), check_mode), clients)


def graph_requests(transport):
    return [sent for sent in transport.sent if "/v1.0/" in sent.url]


# --- create ----------------------------------------------------------------------------------
@pytest.mark.parametrize("check_mode", [False, True])
def test_create_with_an_assigned_user(clients, transport, check_mode):
    transport.expect("GET", SP_FILTER, json={"value": []})
    transport.expect("GET", USERS.replace("enaio%40", "ENAIO%40"), json={"value": [USER]})
    if not check_mode:
        transport.expect("PATCH", UPSERT, status=201, json=dict(SP, appRoleAssignmentRequired=True),
                         check=lambda sent: sent.headers["Prefer"] == "create-if-missing")
        transport.expect("GET", SP_FILTER, json={"value": [dict(SP, appRoleAssignmentRequired=True)]})
        transport.expect("POST", url("servicePrincipals/%s/appRoleAssignedTo" % SP_ID), status=201, json=assignment())
        transport.expect("GET", ASSIGNED_TO, json={"value": [assignment()]})

    changed, record, diff = run(clients, check_mode, app_role_assignment_required=True,
                                assigned_principals={"add": ["ENAIO@contoso.com"]})

    sp = record["service_principal"]
    assert changed is True
    assert sp["app_id"] == APP_ID and sp["app_role_assignment_required"] is True
    assert sp["assigned_principals"] == [{"id": USER_ID, "type": "user", "display_name": "enaio Mail Sender",
                                          "assignment_id": None if check_mode else "asg-user"}]
    assert diff["before"] == {} and diff["after"] == sp
    if check_mode:
        assert sp["id"] is None
        assert [sent.method for sent in graph_requests(transport)] == ["GET", "GET"]
    else:
        assert sp["id"] == SP_ID
        assert body_of(last(transport, "PATCH")) == {"appRoleAssignmentRequired": True}
        assert body_of(last(transport, "POST", "appRoleAssignedTo")) == {
            "principalId": USER_ID, "resourceId": SP_ID, "appRoleId": DEFAULT_ROLE}


def test_create_rides_out_replication_lag_of_a_new_app(clients, transport, clock):
    transport.expect("GET", SP_FILTER, json={"value": []})
    transport.expect("PATCH", UPSERT, status=400, json=graph_error(
        "Request_BadRequest", "The appId '%s' of the service principal does not reference a valid application object."
        % APP_ID))
    transport.expect("PATCH", UPSERT, status=201, json=SP)
    transport.expect("GET", SP_FILTER, json={"value": []})  # not replicated to the read side yet
    transport.expect("GET", SP_FILTER, json={"value": [SP]})

    changed, record = run(clients)[:2]

    assert changed is True and record["service_principal"]["id"] == SP_ID
    assert clock.sleeps == [2.0, 1.0]


def test_create_gives_up_on_an_app_id_that_never_appears(clients, transport, clock):
    transport.expect("GET", SP_FILTER, json={"value": []})
    transport.expect("PATCH", UPSERT, status=400, times=18, json=graph_error(
        "Request_BadRequest", "The appId '%s' of the service principal does not reference a valid application object."
        % APP_ID, request_id="req-lag"))

    with pytest.raises(ParameterError) as caught:
        run(clients)

    message = str(caught.value)
    assert message.startswith("Parameter app_id: no application with app ID %s" % APP_ID)
    assert "290 s" in message and "req-lag" in message and "run the task again" in message


def test_create_that_finds_one_made_meanwhile_reads_it(clients, transport):
    transport.expect("GET", SP_FILTER, json={"value": []})
    transport.expect("PATCH", UPSERT, status=204)  # another run created it after our read
    transport.expect("GET", SP_FILTER, json={"value": [dict(SP, notes="old")]})

    changed, record = run(clients, notes="Used by enaio")[:2]

    assert changed is True
    assert record["service_principal"]["id"] == SP_ID and record["service_principal"]["notes"] == "Used by enaio"


# --- update ----------------------------------------------------------------------------------
@pytest.mark.parametrize("check_mode", [False, True])
def test_update_patches_only_changed_properties_and_assigns(clients, transport, check_mode):
    transport.expect("GET", SP_FILTER, json={"value": [dict(SP, tags=["HideApp"])]})
    transport.expect("GET", ASSIGNED_TO, json={"value": [assignment(OTHER_ID, "Old User", "asg-old")]})
    transport.expect("GET", USERS, json={"value": [USER]})
    if not check_mode:
        transport.expect("PATCH", url("servicePrincipals/%s" % SP_ID), status=204)
        transport.expect("DELETE", url("servicePrincipals/%s/appRoleAssignedTo/asg-old" % SP_ID), status=204)
        transport.expect("POST", url("servicePrincipals/%s/appRoleAssignedTo" % SP_ID), status=201, json=assignment())
        transport.expect("GET", ASSIGNED_TO, json={"value": []})  # still replicating
        transport.expect("GET", ASSIGNED_TO, json={"value": [assignment()]})

    changed, record, diff = run(clients, check_mode, app_role_assignment_required=False, notes="Used by enaio",
                                tags={"add": ["WindowsAzureActiveDirectoryIntegratedApp"]},
                                assigned_principals={"set": ["enaio@contoso.com"]})

    sp = record["service_principal"]
    assert changed is True
    assert sp["notes"] == "Used by enaio"
    assert sp["tags"] == ["HideApp", "WindowsAzureActiveDirectoryIntegratedApp"]
    assert [p["id"] for p in sp["assigned_principals"]] == [USER_ID]
    assert [p["id"] for p in diff["before"]["assigned_principals"]] == [OTHER_ID]
    if not check_mode:
        assert body_of(last(transport, "PATCH")) == {
            "notes": "Used by enaio", "tags": ["HideApp", "WindowsAzureActiveDirectoryIntegratedApp"]}
    else:
        assert all(sent.method == "GET" for sent in graph_requests(transport))


@pytest.mark.parametrize("check_mode", [False, True])
def test_no_op_reads_three_times_and_changes_nothing(clients, transport, check_mode):
    transport.expect("GET", SP_FILTER, json={"value": [dict(SP, tags=["b", "a"], appRoleAssignmentRequired=True)]})
    transport.expect("GET", ASSIGNED_TO, json={"value": [
        assignment(), assignment(OTHER_ID, "App role holder", "asg-role", role="5e5addcd-3e8d-4e90-baf5-964efab2b20a")]})
    transport.expect("GET", USERS, json={"value": [USER]})

    changed, record, diff = run(clients, check_mode, app_role_assignment_required=True, tags={"set": ["a", "b"]},
                                assigned_principals={"set": ["enaio@contoso.com"]})

    assert changed is False
    assert diff["before"] == diff["after"]
    assert record["service_principal"]["tags"] == ["b", "a"]
    # assignments of app roles the app defines are not "default access" and stay out of it
    assert [p["id"] for p in record["service_principal"]["assigned_principals"]] == [USER_ID]
    assert len(graph_requests(transport)) == 3


def test_unmanaged_options_cause_no_request_beyond_the_reads(clients, transport):
    transport.expect("GET", SP_FILTER, json={"value": [dict(SP, notes="keep")]})
    transport.expect("GET", ASSIGNED_TO, json={"value": []})

    changed, record = run(clients)[:2]

    assert changed is False and record["service_principal"]["notes"] == "keep"


# --- delete ----------------------------------------------------------------------------------
@pytest.mark.parametrize("check_mode", [False, True])
def test_delete(clients, transport, check_mode):
    transport.expect("GET", SP_FILTER, json={"value": [SP]})
    transport.expect("GET", ASSIGNED_TO, json={"value": [assignment()]})
    if not check_mode:
        transport.expect("DELETE", url("servicePrincipals/%s" % SP_ID), status=204)

    changed, record, diff = run(clients, check_mode, state="absent")

    assert changed is True and record == {"service_principal": {}}
    assert diff["before"]["id"] == SP_ID and diff["after"] == {}


@pytest.mark.parametrize("check_mode", [False, True])
def test_delete_when_absent_is_no_change(clients, transport, check_mode):
    transport.expect("GET", SP_FILTER, json={"value": []})

    assert run(clients, check_mode, state="absent")[:2] == (False, {"service_principal": {}})


# --- principals ------------------------------------------------------------------------------
def test_groups_by_name_and_principals_by_object_id(clients, transport):
    transport.expect("GET", SP_FILTER, json={"value": [SP]})
    transport.expect("GET", ASSIGNED_TO, json={"value": [assignment()]})
    transport.expect("GET", url("groups", filter="displayName in ('Mail senders')", select="id,displayName"),
                     json={"value": [{"id": GROUP_ID, "displayName": "Mail Senders"}]})
    transport.expect("GET", url("directoryObjects/%s" % OTHER_ID), json={
        "@odata.type": "#microsoft.graph.user", "id": OTHER_ID, "displayName": "Alice"})
    transport.expect("POST", url("servicePrincipals/%s/appRoleAssignedTo" % SP_ID), status=201,
                     json=assignment(GROUP_ID, "Mail Senders", "asg-group", "Group"))
    transport.expect("POST", url("servicePrincipals/%s/appRoleAssignedTo" % SP_ID), status=201,
                     json=assignment(OTHER_ID, "Alice", "asg-alice"))
    transport.expect("GET", ASSIGNED_TO, json={"value": [
        assignment(), assignment(GROUP_ID, "Mail Senders", "asg-group", "Group"), assignment(OTHER_ID, "Alice", "asg-alice")]})

    # USER_ID is assigned already: known by its object id without a lookup
    changed, record = run(clients, assigned_principals={"add": ["Mail senders", OTHER_ID, USER_ID]})[:2]

    assert changed is True
    assert [(p["type"], p["display_name"]) for p in record["service_principal"]["assigned_principals"]] == [
        ("group", "Mail Senders"), ("user", "Alice"), ("user", "enaio Mail Sender")]


def test_two_groups_with_the_name_fail_listing_their_ids(clients, transport):
    transport.expect("GET", SP_FILTER, json={"value": [SP]})
    transport.expect("GET", ASSIGNED_TO, json={"value": []})
    transport.expect("GET", url("groups", filter="displayName in ('Mail senders')", select="id,displayName"),
                     json={"value": [{"id": GROUP_ID, "displayName": "Mail senders"},
                                     {"id": OTHER_ID, "displayName": "Mail senders"}]})

    with pytest.raises(ParameterError) as caught:
        run(clients, assigned_principals={"add": ["Mail senders"]})

    assert str(caught.value).startswith("Parameter assigned_principals: 2 groups are named 'Mail senders'")
    assert GROUP_ID in str(caught.value) and OTHER_ID in str(caught.value)


def test_unknown_principals_fail_to_add_but_are_ignored_on_remove(clients, transport):
    transport.expect("GET", SP_FILTER, json={"value": [SP]})
    transport.expect("GET", ASSIGNED_TO, json={"value": []})
    transport.expect("GET", url("users", filter="userPrincipalName in ('gone@contoso.com')",
                                select="id,displayName,userPrincipalName"), json={"value": []})
    transport.expect("GET", url("directoryObjects/%s" % OTHER_ID), status=404,
                     json=graph_error("Request_ResourceNotFound", "Resource does not exist"))

    changed = run(clients, assigned_principals={"remove": ["gone@contoso.com", OTHER_ID]})[0]
    assert changed is False

    transport.expect("GET", SP_FILTER, json={"value": [SP]})
    transport.expect("GET", ASSIGNED_TO, json={"value": []})
    transport.expect("GET", url("users", filter="userPrincipalName in ('gone@contoso.com')",
                                select="id,displayName,userPrincipalName"), json={"value": []})
    with pytest.raises(ParameterError) as caught:
        run(clients, assigned_principals={"add": ["gone@contoso.com"]})
    assert "'gone@contoso.com'" in str(caught.value)


def test_a_service_principal_cannot_be_assigned_as_a_user(clients, transport):
    transport.expect("GET", SP_FILTER, json={"value": [SP]})
    transport.expect("GET", ASSIGNED_TO, json={"value": []})
    transport.expect("GET", url("directoryObjects/%s" % OTHER_ID), json={
        "@odata.type": "#microsoft.graph.servicePrincipal", "id": OTHER_ID, "displayName": "Some app"})

    with pytest.raises(ParameterError) as caught:
        run(clients, assigned_principals={"add": [OTHER_ID]})

    assert "is a servicePrincipal, not a user or group" in str(caught.value)
    assert "mailauth.m365.admin_consent" in str(caught.value)


def test_ambiguous_assignment_post_reads_before_posting_again(clients, transport):
    transport.expect("GET", SP_FILTER, json={"value": [SP]})
    transport.expect("GET", ASSIGNED_TO, json={"value": []})
    transport.expect("GET", USERS, json={"value": [USER]})
    transport.expect("POST", url("servicePrincipals/%s/appRoleAssignedTo" % SP_ID),
                     raises=requests.exceptions.ConnectionError("connection reset by peer"))
    transport.expect("GET", ASSIGNED_TO, json={"value": [assignment()]})  # it was applied: no second POST

    changed, record = run(clients, assigned_principals={"add": ["enaio@contoso.com"]})[:2]

    assert changed is True
    assert record["service_principal"]["assigned_principals"][0]["assignment_id"] == "asg-user"
    assert transport.count("POST", "appRoleAssignedTo") == 1


def test_ambiguous_assignment_post_that_was_lost_is_sent_again(clients, transport):
    transport.expect("GET", SP_FILTER, json={"value": [SP]})
    transport.expect("GET", ASSIGNED_TO, json={"value": []})
    transport.expect("GET", USERS, json={"value": [USER]})
    transport.expect("POST", url("servicePrincipals/%s/appRoleAssignedTo" % SP_ID),
                     raises=requests.exceptions.ConnectionError("connection reset by peer"))
    transport.expect("GET", ASSIGNED_TO, json={"value": []})
    transport.expect("POST", url("servicePrincipals/%s/appRoleAssignedTo" % SP_ID), status=201, json=assignment())
    transport.expect("GET", ASSIGNED_TO, json={"value": [assignment()]})

    changed, record = run(clients, assigned_principals={"add": ["enaio@contoso.com"]})[:2]

    assert changed is True and transport.count("POST", "appRoleAssignedTo") == 2


def test_duplicate_assignment_counts_as_present_once_visible(clients, transport, clock):
    transport.expect("GET", SP_FILTER, json={"value": [SP]})
    transport.expect("GET", ASSIGNED_TO, json={"value": []})
    transport.expect("GET", USERS, json={"value": [USER]})
    transport.expect("POST", url("servicePrincipals/%s/appRoleAssignedTo" % SP_ID), status=400, json=graph_error(
        "Request_BadRequest", "Permission being assigned already exists on the object"))
    transport.expect("GET", ASSIGNED_TO, json={"value": []})  # made by a parallel run, not replicated yet
    transport.expect("GET", ASSIGNED_TO, json={"value": [assignment()]})

    changed, record = run(clients, assigned_principals={"add": ["enaio@contoso.com"]})[:2]

    assert record["service_principal"]["assigned_principals"][0]["assignment_id"] == "asg-user"
    assert clock.sleeps == [1.0]


def test_assignment_waits_for_a_new_user_to_replicate(clients, transport, clock):
    transport.expect("GET", SP_FILTER, json={"value": [SP]})
    transport.expect("GET", ASSIGNED_TO, json={"value": []})
    transport.expect("GET", USERS, json={"value": [USER]})
    transport.expect("POST", url("servicePrincipals/%s/appRoleAssignedTo" % SP_ID), status=404, json=graph_error(
        "Request_ResourceNotFound", "Resource '%s' does not exist or one of its queried reference-property objects "
        "are not present." % USER_ID))
    transport.expect("POST", url("servicePrincipals/%s/appRoleAssignedTo" % SP_ID), status=201, json=assignment())
    transport.expect("GET", ASSIGNED_TO, json={"value": [assignment()]})

    assert run(clients, assigned_principals={"add": ["enaio@contoso.com"]})[0] is True
    assert clock.sleeps == [2.0]


def test_a_forbidden_patch_fails_at_once_naming_the_permission(clients, transport, clock):
    transport.expect("GET", SP_FILTER, json={"value": [SP]})
    transport.expect("GET", ASSIGNED_TO, json={"value": []})
    transport.expect("PATCH", url("servicePrincipals/%s" % SP_ID), status=403, json=graph_error(
        "Authorization_RequestDenied", "Insufficient privileges to complete the operation.", "req-403"))

    with pytest.raises(GraphError) as caught:
        run(clients, notes="x")

    assert "Application.ReadWrite.All" in str(caught.value) and "req-403" in str(caught.value)
    assert clock.sleeps == []


# --- main ------------------------------------------------------------------------------------
@pytest.fixture
def app_args(module_args):
    return dict(module_args, app_id=APP_ID)


def test_main_in_check_and_diff_mode(identity, transport, app_args, capsys):
    identity.discovery()
    identity.token()
    transport.expect("GET", SP_FILTER, json={"value": []})

    result = run_main(service_principal.main, dict(app_args, _ansible_check_mode=True, _ansible_diff=True,
                                                   app_role_assignment_required=True), capsys)

    assert result["changed"] is True
    assert result["service_principal"]["app_id"] == APP_ID
    assert result["diff"] == {"before": {}, "after": result["service_principal"]}
    assert "s3cret-value" not in str(result)


def test_main_reports_a_forbidden_create_with_permission_and_request_id(identity, transport, app_args, capsys):
    identity.discovery()
    identity.token()
    transport.expect("GET", SP_FILTER, json={"value": []})
    transport.expect("PATCH", UPSERT, status=403, json=graph_error(
        "Authorization_RequestDenied", "Insufficient privileges to complete the operation.", "req-403"))

    result = run_main(service_principal.main, app_args, capsys)

    assert result["failed"] is True
    assert "Application.ReadWrite.All" in result["msg"] and "req-403" in result["msg"]
    assert result["error"]["code"] == "Authorization_RequestDenied"


def test_main_rejects_set_with_add(transport, app_args, capsys):
    result = run_main(service_principal.main, dict(app_args, tags={"set": ["a"], "add": ["b"]}), capsys)
    assert result["failed"] is True and "mutually exclusive" in result["msg"]
    assert transport.sent == []


@pytest.mark.parametrize("current, changed", [(None, False), ("", False), ("old", True)])
def test_empty_notes_clear_only_notes_that_have_text(clients, transport, current, changed):
    transport.expect("GET", SP_FILTER, json={"value": [dict(SP, notes=current)]})
    transport.expect("GET", ASSIGNED_TO, json={"value": []})
    if changed:
        transport.expect("PATCH", url("servicePrincipals/%s" % SP_ID), status=204,
                         check=lambda sent: body_of(sent) == {"notes": ""})

    assert run(clients, notes="")[0] is changed


def test_delete_of_one_gone_meanwhile_is_fine(clients, transport):
    transport.expect("GET", SP_FILTER, json={"value": [SP]})
    transport.expect("GET", ASSIGNED_TO, json={"value": []})
    transport.expect("DELETE", url("servicePrincipals/%s" % SP_ID), status=404,
                     json=graph_error("Request_ResourceNotFound", "Resource '%s' does not exist." % SP_ID))

    assert run(clients, state="absent")[:2] == (True, {"service_principal": {}})
