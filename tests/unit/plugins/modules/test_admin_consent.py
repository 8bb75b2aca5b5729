# -*- coding: utf-8 -*-
"""admin_consent: the scripted Graph exchange of granting, updating, no-op and revoking, in normal and
check mode, and the error paths (duplicates, replication lag, ambiguous POST, missing client, 403)."""

from __future__ import annotations

import pytest
import requests

from ansible_collections.mailauth.m365.plugins.module_utils._errors import ParameterError
from ansible_collections.mailauth.m365.plugins.module_utils._graph import SP_PERMISSION_FIELDS
from ansible_collections.mailauth.m365.plugins.modules import admin_consent
from ansible_collections.mailauth.m365.tests.unit.graph_script import (
    FakeModule,
    body_of,
    graph_error,
    last,
    run_main,
    url,
)

APP_ID = "7d2e4b1a-9c3f-4e8d-a5b6-0f1e2d3c4b5a"
CLIENT_SP = {"id": "c11e0000-0000-4000-8000-000000000001", "appId": APP_ID, "displayName": "XLReporter Mailer"}
GRAPH_APP = "00000003-0000-0000-c000-000000000000"
EXO_APP = "00000002-0000-0ff1-ce00-000000000000"
SCOPES = {"SMTP.Send": "258f6531-6087-4cc4-bb90-092c5fb3ed3f", "offline_access": "7427e0e9-2fba-42fe-b0c0-848c9e6a8182",
          "openid": "37f7f235-527c-4136-accd-4a02d197296e", "profile": "14dad69e-099b-42c9-810b-d002981feec1",
          "User.Read": "e1fe6dd8-ba31-4d61-89e7-88639da4683d"}
MAIL_SEND_ROLE = "b633e1c5-b582-4048-a93e-9f11b44c7e96"
SEND_AS_APP_ROLE = "7146a1f0-8703-45b3-9eae-527a64c00995"
GRAPH_SP = {"id": "9a0f0000-0000-4000-8000-00000000000a", "appId": GRAPH_APP, "displayName": "Microsoft Graph",
            "oauth2PermissionScopes": [{"id": pid, "value": name, "isEnabled": True} for name, pid in SCOPES.items()],
            "appRoles": [{"id": MAIL_SEND_ROLE, "value": "Mail.Send", "isEnabled": True,
                          "allowedMemberTypes": ["Application"]}]}
EXO_SP = {"id": "e0e00000-0000-4000-8000-00000000000e", "appId": EXO_APP, "displayName": "Office 365 Exchange Online",
          "oauth2PermissionScopes": [],
          "appRoles": [{"id": SEND_AS_APP_ROLE, "value": "SMTP.SendAsApp", "isEnabled": True,
                        "allowedMemberTypes": ["Application"]}]}
XLREPORTER_RRA = [{"resourceAppId": GRAPH_APP, "resourceAccess": [
    {"id": SCOPES[name], "type": "Scope"} for name in ("offline_access", "openid", "profile", "SMTP.Send", "User.Read")]}]
CLIENT_FILTER = url("servicePrincipals", filter="appId eq '%s'" % APP_ID, select="id,appId,displayName")
APP_FILTER = url("applications", filter="appId eq '%s'" % APP_ID, select="id,appId,requiredResourceAccess")
GRANTS = url("oauth2PermissionGrants", filter="clientId eq '%s' and consentType eq 'AllPrincipals'" % CLIENT_SP["id"])
ROLES = url("servicePrincipals/%s/appRoleAssignments" % CLIENT_SP["id"],
            select="id,appRoleId,resourceId,resourceDisplayName")
GRANT_ID = "xlr-graph-grant"


def resource_filter(app_id):
    return url("servicePrincipals", filter="appId eq '%s'" % app_id, select=SP_PERMISSION_FIELDS)


def grant(scope, resource=None, grant_id=GRANT_ID):
    resource = resource or GRAPH_SP
    return {"id": grant_id, "clientId": CLIENT_SP["id"], "consentType": "AllPrincipals", "principalId": None,
            "resourceId": resource["id"], "scope": scope}


def role_assignment(role=MAIL_SEND_ROLE, resource=None, assignment_id="asg-mail-send"):
    resource = resource or GRAPH_SP
    return {"id": assignment_id, "appRoleId": role, "resourceId": resource["id"],
            "resourceDisplayName": resource["displayName"], "principalId": CLIENT_SP["id"]}


def params(**overrides):
    base = dict(app_id=APP_ID, permissions="all_requested", purge=False, state="present")
    base.update(overrides)
    return base


def run(clients, check_mode=False, **overrides):
    module = FakeModule(params(**overrides), check_mode)
    result = admin_consent.run(module, clients)
    run.warnings = module.warnings
    return result


def expect_reads(transport, grants=(), roles=(), requested=None, resources=(GRAPH_SP,)):
    """The reads every run makes: client SP, (app registration), resource SPs, grants, role assignments."""
    transport.expect("GET", CLIENT_FILTER, json={"value": [CLIENT_SP]})
    if requested is not None:
        transport.expect("GET", APP_FILTER, json={"value": [{"id": "app-object", "appId": APP_ID,
                                                             "requiredResourceAccess": requested}]})
    for resource in resources:
        transport.expect("GET", resource_filter(resource["appId"]), json={"value": [resource]})
    transport.expect("GET", GRANTS, json={"value": list(grants)})
    transport.expect("GET", ROLES, json={"value": list(roles)})


def graph_requests(transport):
    return [sent for sent in transport.sent if "/v1.0/" in sent.url]


# --- delegated: the XLReporter permission set --------------------------------------------------
@pytest.mark.parametrize("check_mode", [False, True])
def test_grant_everything_requested(clients, transport, check_mode):
    expect_reads(transport, requested=XLREPORTER_RRA)
    if not check_mode:
        transport.expect("POST", url("oauth2PermissionGrants"), status=201,
                         json=grant("offline_access openid profile SMTP.Send User.Read"))
        transport.expect("GET", GRANTS, json={"value": [grant("offline_access openid profile SMTP.Send User.Read")]})

    changed, record, diff = run(clients, check_mode)

    assert changed is True
    assert record["consent"]["delegated"] == [{
        "id": None if check_mode else GRANT_ID, "resource": "Microsoft Graph", "resource_app_id": GRAPH_APP,
        "resource_id": GRAPH_SP["id"], "scopes": ["offline_access", "openid", "profile", "SMTP.Send", "User.Read"]}]
    assert record["consent"]["service_principal_id"] == CLIENT_SP["id"]
    assert diff["before"]["delegated"] == [] and diff["after"] == record["consent"]
    if check_mode:
        assert all(sent.method == "GET" for sent in graph_requests(transport))
    else:
        assert body_of(last(transport, "POST")) == {
            "clientId": CLIENT_SP["id"], "consentType": "AllPrincipals", "resourceId": GRAPH_SP["id"],
            "scope": "offline_access openid profile SMTP.Send User.Read"}


@pytest.mark.parametrize("check_mode", [False, True])
def test_same_scopes_in_another_order_are_no_change(clients, transport, check_mode):
    expect_reads(transport, requested=XLREPORTER_RRA, grants=[grant("User.Read  SMTP.Send profile openid offline_access")])

    changed, record, diff = run(clients, check_mode)

    assert changed is False and diff["before"] == diff["after"]
    assert record["consent"]["delegated"][0]["scopes"] == ["offline_access", "openid", "profile", "SMTP.Send", "User.Read"]
    assert len(graph_requests(transport)) == 5  # client, app, Graph SP, grants, role assignments


@pytest.mark.parametrize("check_mode", [False, True])
def test_adding_a_scope_patches_the_one_grant(clients, transport, check_mode):
    expect_reads(transport, grants=[grant("SMTP.Send offline_access")])
    if not check_mode:
        transport.expect("PATCH", url("oauth2PermissionGrants/%s" % GRANT_ID), status=204)

    changed, record = run(clients, check_mode, permissions=[
        {"resource": "graph", "delegated": ["offline_access", "SMTP.Send", "User.Read"]}])[:2]

    assert changed is True
    assert record["consent"]["delegated"][0]["scopes"] == ["offline_access", "SMTP.Send", "User.Read"]
    assert record["consent"]["delegated"][0]["id"] == GRANT_ID
    assert transport.count("POST", "oauth2PermissionGrants") == 0
    if not check_mode:
        assert body_of(last(transport, "PATCH")) == {"scope": "SMTP.Send offline_access User.Read"}


@pytest.mark.parametrize("check_mode", [False, True])
def test_purge_revokes_what_is_not_listed(clients, transport, check_mode):
    exo_grant = grant("EWS.AccessAsUser.All", EXO_SP, "exo-grant")
    expect_reads(transport, grants=[grant("SMTP.Send offline_access User.Read"), exo_grant],
                 roles=[role_assignment()])
    transport.expect("GET", url("servicePrincipals/%s" % EXO_SP["id"], select=SP_PERMISSION_FIELDS), json=EXO_SP)
    if not check_mode:
        transport.expect("PATCH", url("oauth2PermissionGrants/%s" % GRANT_ID), status=204)
        transport.expect("DELETE", url("oauth2PermissionGrants/exo-grant"), status=204)
        transport.expect("DELETE", url("servicePrincipals/%s/appRoleAssignedTo/asg-mail-send" % GRAPH_SP["id"]),
                         status=204)

    changed, record, diff = run(clients, check_mode, purge=True, permissions=[
        {"resource": "graph", "delegated": ["SMTP.Send", "offline_access"]}])

    assert changed is True
    assert record["consent"]["delegated"] == [dict(
        id=GRANT_ID, resource="Microsoft Graph", resource_app_id=GRAPH_APP, resource_id=GRAPH_SP["id"],
        scopes=["offline_access", "SMTP.Send"])]
    assert record["consent"]["application"] == []
    assert [entry["resource"] for entry in diff["before"]["delegated"]] == ["Microsoft Graph", "Office 365 Exchange Online"]
    assert diff["before"]["application"][0]["roles"] == ["Mail.Send"]
    if not check_mode:
        assert body_of(last(transport, "PATCH")) == {"scope": "SMTP.Send offline_access"}


# --- application permissions: TrueChem's Mail.Send, enaio's SMTP.SendAsApp ------------------------
@pytest.mark.parametrize("check_mode", [False, True])
def test_grant_application_permissions(clients, transport, check_mode):
    expect_reads(transport, resources=(GRAPH_SP, EXO_SP))
    if not check_mode:
        transport.expect("POST", url("servicePrincipals/%s/appRoleAssignedTo" % GRAPH_SP["id"]), status=201,
                         json=role_assignment())
        transport.expect("POST", url("servicePrincipals/%s/appRoleAssignedTo" % EXO_SP["id"]), status=201,
                         json=role_assignment(SEND_AS_APP_ROLE, EXO_SP, "asg-send-as"))
        transport.expect("GET", ROLES, json={"value": [role_assignment()]})  # the second is still replicating
        transport.expect("GET", ROLES, json={"value": [role_assignment(),
                                                       role_assignment(SEND_AS_APP_ROLE, EXO_SP, "asg-send-as")]})

    changed, record = run(clients, check_mode, permissions=[
        {"resource": "graph", "application": ["Mail.Send"]},
        {"resource": EXO_APP, "application": ["SMTP.SendAsApp"]}])[:2]

    assert changed is True
    application = record["consent"]["application"]
    assert [(entry["resource"], entry["roles"]) for entry in application] == [
        ("Microsoft Graph", ["Mail.Send"]), ("Office 365 Exchange Online", ["SMTP.SendAsApp"])]
    assert application[1]["assignments"] == [{"id": None if check_mode else "asg-send-as", "role": "SMTP.SendAsApp",
                                              "app_role_id": SEND_AS_APP_ROLE}]
    if not check_mode:
        assert body_of(last(transport, "POST", EXO_SP["id"])) == {
            "principalId": CLIENT_SP["id"], "resourceId": EXO_SP["id"], "appRoleId": SEND_AS_APP_ROLE}


@pytest.mark.parametrize("check_mode", [False, True])
def test_granted_application_permission_is_no_change(clients, transport, check_mode):
    expect_reads(transport, roles=[role_assignment()])

    changed, record = run(clients, check_mode, permissions=[{"resource": "graph", "application": ["Mail.Send"]}])[:2]

    assert changed is False
    assert record["consent"]["application"][0]["assignments"][0]["id"] == "asg-mail-send"


def test_duplicate_application_permission_counts_as_granted(clients, transport):
    expect_reads(transport)
    transport.expect("POST", url("servicePrincipals/%s/appRoleAssignedTo" % GRAPH_SP["id"]), status=400,
                     json=graph_error("Request_BadRequest", "Permission being assigned already exists on the object"))
    transport.expect("GET", ROLES, json={"value": [role_assignment()]})

    changed, record = run(clients, permissions=[{"resource": "graph", "application": ["Mail.Send"]}])[:2]

    assert changed is True
    assert record["consent"]["application"][0]["assignments"][0]["id"] == "asg-mail-send"
    assert transport.count("POST", "/v1.0/") == 1


# --- revoking --------------------------------------------------------------------------------
@pytest.mark.parametrize("check_mode", [False, True])
def test_absent_revokes_the_listed_scopes(clients, transport, check_mode):
    expect_reads(transport, grants=[grant("SMTP.Send offline_access User.Read")], roles=[role_assignment()])
    if not check_mode:
        transport.expect("PATCH", url("oauth2PermissionGrants/%s" % GRANT_ID), status=204)

    changed, record = run(clients, check_mode, state="absent", permissions=[
        {"resource": "graph", "delegated": ["User.Read"]}])[:2]

    assert changed is True
    assert record["consent"]["delegated"][0]["scopes"] == ["offline_access", "SMTP.Send"]
    assert record["consent"]["application"][0]["roles"] == ["Mail.Send"]
    if not check_mode:
        assert body_of(last(transport, "PATCH")) == {"scope": "SMTP.Send offline_access"}


@pytest.mark.parametrize("check_mode", [False, True])
def test_absent_with_all_requested_revokes_every_tenant_wide_grant(clients, transport, check_mode):
    transport.expect("GET", CLIENT_FILTER, json={"value": [CLIENT_SP]})
    transport.expect("GET", GRANTS, json={"value": [grant("SMTP.Send offline_access")]})
    transport.expect("GET", ROLES, json={"value": [role_assignment()]})
    transport.expect("GET", url("servicePrincipals/%s" % GRAPH_SP["id"], select=SP_PERMISSION_FIELDS), json=GRAPH_SP)
    if not check_mode:
        transport.expect("DELETE", url("oauth2PermissionGrants/%s" % GRANT_ID), status=204)
        transport.expect("DELETE", url("servicePrincipals/%s/appRoleAssignedTo/asg-mail-send" % GRAPH_SP["id"]),
                         status=204)

    changed, record, diff = run(clients, check_mode, state="absent")

    assert changed is True
    assert record["consent"]["delegated"] == [] and record["consent"]["application"] == []
    assert diff["before"]["application"][0]["roles"] == ["Mail.Send"]


@pytest.mark.parametrize("check_mode", [False, True])
def test_absent_when_nothing_is_granted_is_no_change(clients, transport, check_mode):
    expect_reads(transport)

    changed = run(clients, check_mode, state="absent", permissions=[{"resource": "graph", "delegated": ["SMTP.Send"]}])[0]

    assert changed is False


def test_absent_without_a_service_principal_is_no_change(clients, transport):
    transport.expect("GET", CLIENT_FILTER, json={"value": []})

    changed, record = run(clients, state="absent")[:2]

    assert changed is False
    assert record["consent"] == {"app_id": APP_ID, "service_principal_id": None, "delegated": [], "application": []}


# --- duplicates, lag, ambiguity ----------------------------------------------------------------
def test_a_grant_made_meanwhile_is_patched_not_duplicated(clients, transport, clock):
    expect_reads(transport)
    transport.expect("POST", url("oauth2PermissionGrants"), status=409, json=graph_error(
        "Request_MultipleObjectsWithSameKeyValue", "Permission entry already exists."))
    one_grant = url("oauth2PermissionGrants", filter="clientId eq '%s' and consentType eq 'AllPrincipals' and "
                    "resourceId eq '%s'" % (CLIENT_SP["id"], GRAPH_SP["id"]))
    transport.expect("GET", one_grant, json={"value": []})  # the parallel run's grant is still replicating
    transport.expect("GET", one_grant, json={"value": [grant("offline_access")]})
    transport.expect("PATCH", url("oauth2PermissionGrants/%s" % GRANT_ID), status=204)

    changed, record = run(clients, permissions=[{"resource": "graph", "delegated": ["SMTP.Send", "offline_access"]}])[:2]

    assert changed is True
    assert body_of(last(transport, "PATCH")) == {"scope": "offline_access SMTP.Send"}
    assert record["consent"]["delegated"][0]["id"] == GRANT_ID
    assert record["consent"]["delegated"][0]["scopes"] == ["offline_access", "SMTP.Send"]
    assert transport.count("POST", "/v1.0/") == 1 and clock.sleeps == [1.0]


def test_an_ambiguous_grant_post_is_read_before_it_is_sent_again(clients, transport):
    expect_reads(transport)
    transport.expect("POST", url("oauth2PermissionGrants"), raises=requests.exceptions.ConnectionError("reset"))
    transport.expect("GET", url("oauth2PermissionGrants"), json={"value": [grant("SMTP.Send")]})  # it was applied

    changed, record = run(clients, permissions=[{"resource": "graph", "delegated": ["SMTP.Send"]}])[:2]

    assert changed is True and transport.count("POST", "/v1.0/") == 1
    assert record["consent"]["delegated"][0]["id"] == GRANT_ID


def test_a_lost_grant_post_is_sent_again(clients, transport):
    expect_reads(transport)
    transport.expect("POST", url("oauth2PermissionGrants"), raises=requests.exceptions.ConnectionError("reset"))
    transport.expect("GET", url("oauth2PermissionGrants"), json={"value": []})
    transport.expect("POST", url("oauth2PermissionGrants"), status=201, json=grant("SMTP.Send"))
    transport.expect("GET", GRANTS, json={"value": [grant("SMTP.Send")]})

    assert run(clients, permissions=[{"resource": "graph", "delegated": ["SMTP.Send"]}])[0] is True
    assert transport.count("POST", "/v1.0/") == 2


def test_throttled_grant_post_is_retried_after_retry_after(clients, transport, clock):
    expect_reads(transport)
    transport.expect("POST", url("oauth2PermissionGrants"), status=429, headers={"Retry-After": "1"},
                     json=graph_error("TooManyRequests", "Please retry again later."))
    transport.expect("POST", url("oauth2PermissionGrants"), status=201, json=grant("SMTP.Send"))
    transport.expect("GET", GRANTS, json={"value": []})
    transport.expect("GET", GRANTS, json={"value": [grant("SMTP.Send")]})

    assert run(clients, permissions=[{"resource": "graph", "delegated": ["SMTP.Send"]}])[0] is True
    assert transport.count("POST", "/v1.0/") == 2 and len(clock.sleeps) == 2


# --- wrong input and missing prerequisites -----------------------------------------------------
def test_missing_client_service_principal_names_the_fix(clients, transport):
    transport.expect("GET", CLIENT_FILTER, json={"value": []})

    with pytest.raises(ParameterError) as caught:
        run(clients)

    assert str(caught.value).startswith("Parameter app_id: the application %s has no service principal" % APP_ID)
    assert "mailauth.m365.service_principal" in str(caught.value)


def test_unknown_permission_lists_close_matches(clients, transport):
    transport.expect("GET", CLIENT_FILTER, json={"value": [CLIENT_SP]})
    transport.expect("GET", resource_filter(GRAPH_APP), json={"value": [GRAPH_SP]})

    with pytest.raises(ParameterError) as caught:
        run(clients, permissions=[{"resource": "graph", "delegated": ["SMTP.send"]}])

    assert str(caught.value).startswith("Parameter permissions: Microsoft Graph has no delegated permission 'SMTP.send'")
    assert "Close matches: SMTP.Send" in str(caught.value)


def test_all_requested_needs_the_app_registration_in_the_tenant(clients, transport):
    transport.expect("GET", CLIENT_FILTER, json={"value": [CLIENT_SP]})
    transport.expect("GET", APP_FILTER, json={"value": []})

    with pytest.raises(ParameterError) as caught:
        run(clients)

    assert "List the permissions to consent to explicitly" in str(caught.value)


def test_requested_permission_unknown_to_the_resource_is_skipped_with_a_warning(clients, transport):
    requested = [{"resourceAppId": GRAPH_APP, "resourceAccess": [
        {"id": SCOPES["SMTP.Send"], "type": "Scope"}, {"id": "deadbeef-0000-4000-8000-000000000000", "type": "Role"}]}]
    expect_reads(transport, requested=requested, grants=[grant("SMTP.Send")])

    changed = run(clients)[0]

    assert changed is False
    assert "deadbeef-0000-4000-8000-000000000000" in run.warnings[0]


@pytest.mark.parametrize("value, problem", [
    ("everything", "must be all_requested or a list"),
    ([{"delegated": ["SMTP.Send"]}], "entry 1 ({'delegated': ['SMTP.Send']}) has no resource"),
    ([{"resource": "graph", "scopes": ["SMTP.Send"]}], "entry 1 has unknown keys scopes"),
    ([{"resource": "graph", "delegated": "SMTP.Send"}], "delegated of entry 1 must be a list"),
])
def test_malformed_permissions_fail_before_any_request(clients, transport, value, problem):
    transport.script.clear()  # no sign-in either

    with pytest.raises(ParameterError) as caught:
        run(clients, permissions=value)

    assert problem in str(caught.value)


# --- main ------------------------------------------------------------------------------------
@pytest.fixture
def app_args(module_args):
    return dict(module_args, app_id=APP_ID)


def test_main_reports_a_forbidden_grant_naming_the_permission(identity, transport, app_args, capsys):
    identity.discovery()
    identity.token()
    expect_reads(transport)
    transport.expect("POST", url("oauth2PermissionGrants"), status=403, json=graph_error(
        "Authorization_RequestDenied", "Insufficient privileges to complete the operation.", "req-403"))

    result = run_main(admin_consent.main, dict(app_args, permissions=[
        {"resource": "graph", "delegated": ["SMTP.Send", "offline_access"]}]), capsys)

    assert result["failed"] is True
    assert "DelegatedPermissionGrant.ReadWrite.All" in result["msg"] and "req-403" in result["msg"]
    assert result["error"]["code"] == "Authorization_RequestDenied"


def test_main_check_and_diff_mode(identity, transport, app_args, capsys):
    identity.discovery()
    identity.token()
    expect_reads(transport, requested=XLREPORTER_RRA)

    result = run_main(admin_consent.main, dict(app_args, _ansible_check_mode=True, _ansible_diff=True), capsys)

    assert result["changed"] is True
    assert result["diff"]["after"] == result["consent"]
    assert result["consent"]["delegated"][0]["id"] is None
