# -*- coding: utf-8 -*-
"""app_registration: run() against a scripted Graph (create, update, no-op, delete, in normal and check
mode, and the error paths), and main() as Ansible runs it."""

from __future__ import annotations

import json

import pytest
import requests
from ansible.module_utils.testing import patch_module_args

from ansible_collections.mailauth.m365.plugins.module_utils._errors import GraphError, MailauthError, ParameterError
from ansible_collections.mailauth.m365.plugins.module_utils._module import Clients
from ansible_collections.mailauth.m365.plugins.modules import app_registration
from ansible_collections.mailauth.m365.tests.unit.conftest import CLIENT, TENANT
from ansible_collections.mailauth.m365.tests.unit.plugins.modules.app_objects import (
    ALICE,
    APP_ID,
    APP_OBJECT_ID,
    AUTOMATION_OWNER,
    GRAPH,
    GRAPH_APP_ID,
    ROLES,
    SCOPES,
    XLREPORTER_SCOPES,
    FakeModule,
    application,
    expect_graph_sp,
    expect_owners,
    graph_error,
    module_params,
    required_access,
)

SELECT = app_registration.SELECT
BY_UNIQUE_NAME = GRAPH + "/applications?$filter=uniqueName eq 'xlreporter-mailer'&$select=" + SELECT
BY_DISPLAY_NAME = GRAPH + "/applications?$filter=displayName eq 'XLReporter Mailer'&$select=" + SELECT
BY_APP_ID = GRAPH + "/applications?$filter=appId eq '%s'&$select=%s" % (APP_ID, SELECT)
UPSERT = GRAPH + "/applications(uniqueName='xlreporter-mailer')"
APP_URL = GRAPH + "/applications/" + APP_OBJECT_ID
ALICE_LOOKUP = GRAPH + "/users?$filter=userPrincipalName in ('alice@contoso.com')&$select=id,userPrincipalName,displayName"
XLREPORTER = dict(unique_name="xlreporter-mailer", display_name="XLReporter Mailer",
                  web_redirect_uris={"set": ["http://localhost:3017/"]},
                  api_permissions=[{"resource": "graph", "delegated": XLREPORTER_SCOPES}])


def expect_namesakes(transport, display_name="XLReporter Mailer", apps=()):
    transport.expect("GET", GRAPH + "/applications?$filter=displayName eq '%s'&$select=appId" % display_name,
                     json={"value": [{"appId": app_id} for app_id in apps]})


def params(**given):
    return module_params(app_registration.ARGUMENT_SPEC, **given)


@pytest.fixture
def clients(identity, make_settings, clock):
    """Signed-in clients (sign-in scripted); Graph calls are scripted by each test."""
    identity.discovery()
    identity.token()
    return Clients(make_settings(), sleep=clock.sleep, clock=clock.monotonic)


def body_of(transport, method, url_part):
    return json.loads(next(sent.body for sent in transport.sent if sent.method == method and url_part in sent.url))


def writes(transport):
    return [(sent.method, sent.url) for sent in transport.sent if sent.method in ("POST", "PATCH", "DELETE")
            and "/oauth2/" not in sent.url]


# --- create ---------------------------------------------------------------------------------------
def test_create_by_unique_name_is_one_upsert_then_owners(clients, transport):
    transport.expect("GET", BY_UNIQUE_NAME, json={"value": []})
    expect_graph_sp(transport)
    transport.expect("GET", ALICE_LOOKUP, json={"value": [ALICE]})
    expect_namesakes(transport)
    transport.expect("PATCH", UPSERT, status=201, json=application(),
                     check=lambda sent: sent.headers["Prefer"] == "create-if-missing")
    expect_owners(transport, [AUTOMATION_OWNER])
    transport.expect("POST", APP_URL + "/owners/$ref", status=204)

    changed, record, diff = app_registration.run(FakeModule(params(owners={"add": ["alice@contoso.com"]}, **XLREPORTER)), clients)

    assert changed is True
    sent = body_of(transport, "PATCH", "uniqueName=")
    assert sent == {"displayName": "XLReporter Mailer", "signInAudience": "AzureADMyOrg",
                    "web": {"redirectUris": ["http://localhost:3017/"]},
                    "requiredResourceAccess": [{"resourceAppId": GRAPH_APP_ID, "resourceAccess": sorted(
                        ({"id": SCOPES[name], "type": "Scope"} for name in XLREPORTER_SCOPES), key=lambda item: item["id"])}]}
    assert body_of(transport, "POST", "/owners/$ref") == {"@odata.id": GRAPH + "/directoryObjects/" + ALICE["id"]}
    app = record["application"]
    assert (app["id"], app["app_id"], app["unique_name"]) == (APP_OBJECT_ID, APP_ID, "xlreporter-mailer")
    assert app["api_permissions"] == [{"resource": "Microsoft Graph", "resource_app_id": GRAPH_APP_ID, "application": [],
                                       "delegated": sorted(XLREPORTER_SCOPES)}]
    assert [owner["id"] for owner in app["owners"]] == [AUTOMATION_OWNER["id"], ALICE["id"]]
    assert app["web_redirect_uris"] == ["http://localhost:3017/"]
    assert record["tenant_id"] == TENANT
    assert record["endpoints"]["token_endpoint"] == "https://login.microsoftonline.com/%s/oauth2/v2.0/token" % TENANT
    assert record["endpoints"]["authorization_endpoint"].endswith("/oauth2/v2.0/authorize")
    assert diff["before"] == {} and diff["after"] == app
    assert len(writes(transport)) == 2  # the upsert and the owner


def test_create_in_check_mode_writes_nothing_and_predicts(clients, transport):
    transport.expect("GET", BY_UNIQUE_NAME, json={"value": []})
    expect_graph_sp(transport)
    transport.expect("GET", ALICE_LOOKUP, json={"value": [ALICE]})
    expect_namesakes(transport)

    changed, record, diff = app_registration.run(
        FakeModule(params(owners={"add": ["alice@contoso.com"]}, **XLREPORTER), check_mode=True), clients)

    assert changed is True
    assert writes(transport) == []
    app = record["application"]
    assert app["id"] is None and app["app_id"] is None
    assert (app["unique_name"], app["display_name"], app["sign_in_audience"]) == ("xlreporter-mailer", "XLReporter Mailer", "AzureADMyOrg")
    assert app["api_permissions"][0]["delegated"] == sorted(XLREPORTER_SCOPES)
    assert [owner["user_principal_name"] for owner in app["owners"]] == ["alice@contoso.com"]
    assert diff == {"before": {}, "after": app}


def test_create_by_unique_name_defaults_the_display_name(clients, transport):
    transport.expect("GET", GRAPH + "/applications?$filter=uniqueName eq 'scanner'&$select=" + SELECT, json={"value": []})
    expect_namesakes(transport, "scanner")
    transport.expect("PATCH", GRAPH + "/applications(uniqueName='scanner')", status=201,
                     json=application(uniqueName="scanner", displayName="scanner", requiredResourceAccess=[]))
    expect_owners(transport, [AUTOMATION_OWNER])

    changed, record = app_registration.run(FakeModule(params(unique_name="scanner")), clients)[:2]

    assert changed is True
    assert body_of(transport, "PATCH", "uniqueName=") == {"displayName": "scanner", "signInAudience": "AzureADMyOrg"}
    assert record["application"]["display_name"] == "scanner"


def test_create_by_unique_name_warns_about_a_namesake(clients, transport):
    transport.expect("GET", BY_UNIQUE_NAME, json={"value": []})
    expect_namesakes(transport, apps=["11111111-0000-4000-8000-000000000001"])
    module = FakeModule(params(unique_name="xlreporter-mailer", display_name="XLReporter Mailer"), check_mode=True)

    assert app_registration.run(module, clients)[0] is True

    assert "11111111-0000-4000-8000-000000000001" in module.warnings[0] and "app_id" in module.warnings[0]


def test_upsert_that_finds_the_app_after_all_reads_it_back(clients, transport, clock):
    """Our read ran before the app replicated; the upsert updated it (204): read it back, riding out lag."""
    transport.expect("GET", BY_UNIQUE_NAME, json={"value": []})
    expect_graph_sp(transport)
    expect_namesakes(transport)
    transport.expect("PATCH", UPSERT, status=204)
    transport.expect("GET", UPSERT + "?$select=" + SELECT, status=404,
                     json=graph_error("Request_ResourceNotFound", "Resource 'xlreporter-mailer' does not exist."))
    transport.expect("GET", UPSERT + "?$select=" + SELECT, json=application())
    expect_owners(transport, [AUTOMATION_OWNER])

    changed, record = app_registration.run(FakeModule(params(**XLREPORTER)), clients)[:2]

    assert changed is True
    assert record["application"]["id"] == APP_OBJECT_ID
    assert clock.sleeps == [2.0]


def test_create_by_display_name_posts_once(clients, transport):
    transport.expect("GET", BY_DISPLAY_NAME, json={"value": []})
    transport.expect("POST", GRAPH + "/applications", status=201, json=application(uniqueName=None, requiredResourceAccess=[]))
    expect_owners(transport, [AUTOMATION_OWNER])

    changed, record = app_registration.run(FakeModule(params(display_name="XLReporter Mailer")), clients)[:2]

    assert changed is True
    assert body_of(transport, "POST", "/applications") == {"displayName": "XLReporter Mailer", "signInAudience": "AzureADMyOrg"}
    assert record["application"]["unique_name"] is None


def test_ambiguous_post_reads_before_posting_again(clients, transport):
    """The POST's fate is unknown: Graph had made it, so it is not posted a second time."""
    transport.expect("GET", BY_DISPLAY_NAME, json={"value": []})
    transport.expect("POST", GRAPH + "/applications", raises=requests.exceptions.ReadTimeout("read timed out"))
    transport.expect("GET", BY_DISPLAY_NAME, json={"value": [application(uniqueName=None, requiredResourceAccess=[])]})
    expect_owners(transport, [AUTOMATION_OWNER])

    changed, record = app_registration.run(FakeModule(params(display_name="XLReporter Mailer")), clients)[:2]

    assert changed is True and record["application"]["app_id"] == APP_ID
    assert transport.count("POST", "/applications") == 1


def test_ambiguous_post_that_did_not_happen_is_posted_again(clients, transport):
    transport.expect("GET", BY_DISPLAY_NAME, json={"value": []})
    transport.expect("POST", GRAPH + "/applications", raises=requests.exceptions.ReadTimeout("read timed out"))
    transport.expect("GET", BY_DISPLAY_NAME, json={"value": []})
    transport.expect("POST", GRAPH + "/applications", status=201, json=application(uniqueName=None, requiredResourceAccess=[]))
    expect_owners(transport, [AUTOMATION_OWNER])

    changed = app_registration.run(FakeModule(params(display_name="XLReporter Mailer")), clients)[0]

    assert changed is True
    assert transport.count("POST", "/applications") == 2


def test_owner_added_right_after_a_create_rides_out_replication_lag(clients, transport, clock):
    transport.expect("GET", BY_UNIQUE_NAME, json={"value": []})
    transport.expect("GET", ALICE_LOOKUP, json={"value": [ALICE]})
    expect_namesakes(transport)
    transport.expect("PATCH", UPSERT, status=201, json=application(requiredResourceAccess=[]))
    transport.expect("GET", APP_URL + "/owners", status=404, json=graph_error(
        "Request_ResourceNotFound", "Resource '%s' does not exist or one of its queried reference-property objects are "
        "not present." % APP_OBJECT_ID))
    expect_owners(transport, [AUTOMATION_OWNER])
    transport.expect("POST", APP_URL + "/owners/$ref", status=400, json=graph_error(
        "Request_BadRequest", "The reference does not reference a valid application object."))
    transport.expect("POST", APP_URL + "/owners/$ref", status=204)

    changed, record = app_registration.run(
        FakeModule(params(unique_name="xlreporter-mailer", display_name="XLReporter Mailer",
                          owners={"add": ["alice@contoso.com"]})), clients)[:2]

    assert changed is True
    assert [owner["id"] for owner in record["application"]["owners"]] == [AUTOMATION_OWNER["id"], ALICE["id"]]
    assert clock.sleeps == [2.0, 2.0]


def test_app_id_cannot_create(clients, transport):
    transport.expect("GET", BY_APP_ID, json={"value": []})

    with pytest.raises(ParameterError) as caught:
        app_registration.run(FakeModule(params(app_id=APP_ID, notes="x")), clients)

    assert caught.value.parameter == "app_id" and "unique_name or display_name" in caught.value.message
    assert writes(transport) == []


# --- no-op ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("check_mode", [False, True])
def test_second_run_reads_only_and_reports_no_change(clients, transport, check_mode):
    transport.expect("GET", BY_UNIQUE_NAME, json={"value": [application()]})
    expect_graph_sp(transport)
    expect_owners(transport, [AUTOMATION_OWNER, ALICE])

    changed, record, diff = app_registration.run(
        FakeModule(params(owners={"add": ["ALICE@contoso.com"]}, sign_in_audience="AzureADMyOrg", **XLREPORTER),
                   check_mode=check_mode), clients)

    assert changed is False
    assert writes(transport) == []
    assert diff["before"] == diff["after"] == record["application"]
    assert len([sent for sent in transport.sent if "/v1.0/" in sent.url]) == 3


def test_no_op_with_permissions_in_another_order(clients, transport):
    reordered = required_access(*reversed(XLREPORTER_SCOPES))
    transport.expect("GET", BY_UNIQUE_NAME, json={"value": [application(requiredResourceAccess=reordered)]})
    expect_graph_sp(transport)
    expect_owners(transport, [AUTOMATION_OWNER])

    changed = app_registration.run(FakeModule(params(**XLREPORTER)), clients)[0]

    assert changed is False


# --- update ---------------------------------------------------------------------------------------
UPDATE = dict(XLREPORTER, allow_public_client_flows=True, notes="XLReporter on the SCADA server",
              public_client_redirect_uris={"add": ["https://login.microsoftonline.com/common/oauth2/nativeclient"]},
              owners={"set": ["alice@contoso.com"]})


def expect_update_reads(transport):
    transport.expect("GET", BY_UNIQUE_NAME, json={"value": [application()]})
    expect_graph_sp(transport)
    expect_owners(transport, [AUTOMATION_OWNER])
    transport.expect("GET", ALICE_LOOKUP, json={"value": [ALICE]})


def test_update_patches_only_what_changed(clients, transport):
    expect_update_reads(transport)
    transport.expect("PATCH", APP_URL, status=204)
    transport.expect("POST", APP_URL + "/owners/$ref", status=204)
    transport.expect("DELETE", APP_URL + "/owners/%s/$ref" % AUTOMATION_OWNER["id"], status=204)

    changed, record, diff = app_registration.run(FakeModule(params(**UPDATE)), clients)

    assert changed is True
    assert body_of(transport, "PATCH", APP_OBJECT_ID) == {
        "isFallbackPublicClient": True, "notes": "XLReporter on the SCADA server",
        "publicClient": {"redirectUris": ["https://login.microsoftonline.com/common/oauth2/nativeclient"]}}
    app = record["application"]
    assert app["allow_public_client_flows"] is True
    assert [owner["user_principal_name"] for owner in app["owners"]] == ["alice@contoso.com"]
    assert diff["before"]["allow_public_client_flows"] is False and diff["after"] == app


def test_update_in_check_mode_predicts_without_writing(clients, transport):
    expect_update_reads(transport)

    changed, record, diff = app_registration.run(FakeModule(params(**UPDATE), check_mode=True), clients)

    assert changed is True
    assert writes(transport) == []
    assert record["application"]["public_client_redirect_uris"] == ["https://login.microsoftonline.com/common/oauth2/nativeclient"]
    assert diff["before"]["owners"][0]["app_id"] == CLIENT
    assert [owner["id"] for owner in diff["after"]["owners"]] == [ALICE["id"]]


def test_permissions_are_replaced_by_default_and_merged_without_purge(clients, transport):
    for purge, expected in ((True, ["Mail.Send"]), (False, sorted(XLREPORTER_SCOPES + ["Mail.Send"]))):
        transport.expect("GET", BY_UNIQUE_NAME, json={"value": [application()]})
        expect_graph_sp(transport)
        expect_owners(transport, [AUTOMATION_OWNER])
        transport.expect("PATCH", APP_URL, status=204)
        transport.sent.clear()

        changed, record = app_registration.run(FakeModule(params(
            unique_name="xlreporter-mailer", purge_api_permissions=purge,
            api_permissions=[{"resource": "graph", "delegated": ["Mail.Send"]}])), clients)[:2]

        assert changed is True
        assert record["application"]["api_permissions"][0]["delegated"] == expected
        sent = body_of(transport, "PATCH", APP_OBJECT_ID)["requiredResourceAccess"]
        assert len(sent[0]["resourceAccess"]) == len(expected)


def test_personal_accounts_get_v2_tokens(clients, transport):
    transport.expect("GET", BY_UNIQUE_NAME, json={"value": [application(requiredResourceAccess=[])]})
    expect_owners(transport, [AUTOMATION_OWNER])
    transport.expect("PATCH", APP_URL, status=204)

    app_registration.run(FakeModule(params(unique_name="xlreporter-mailer",
                                           sign_in_audience="AzureADandPersonalMicrosoftAccount")), clients)

    assert body_of(transport, "PATCH", APP_OBJECT_ID) == {"signInAudience": "AzureADandPersonalMicrosoftAccount",
                                                          "api": {"requestedAccessTokenVersion": 2}}


def test_app_id_key_gives_an_existing_app_its_unique_name(clients, transport):
    transport.expect("GET", BY_APP_ID, json={"value": [application(uniqueName=None, requiredResourceAccess=[])]})
    expect_owners(transport, [])
    transport.expect("PATCH", APP_URL, status=204)

    changed, record = app_registration.run(FakeModule(params(app_id=APP_ID, unique_name="xlreporter-mailer")), clients)[:2]

    assert changed is True
    assert body_of(transport, "PATCH", APP_OBJECT_ID) == {"uniqueName": "xlreporter-mailer"}
    assert record["application"]["unique_name"] == "xlreporter-mailer"


def test_unique_name_cannot_be_changed(clients, transport):
    transport.expect("GET", BY_APP_ID, json={"value": [application(uniqueName="other")]})

    with pytest.raises(ParameterError, match="cannot be changed") as caught:
        app_registration.run(FakeModule(params(app_id=APP_ID, unique_name="xlreporter-mailer")), clients)

    assert caught.value.parameter == "unique_name"


def test_forbidden_update_names_the_permission_and_request_id(clients, transport):
    transport.expect("GET", BY_UNIQUE_NAME, json={"value": [application(requiredResourceAccess=[])]})
    expect_owners(transport, [AUTOMATION_OWNER])
    transport.expect("PATCH", APP_URL, status=403, json=graph_error(
        "Authorization_RequestDenied", "Insufficient privileges to complete the operation.", request_id="req-403"))

    with pytest.raises(GraphError) as caught:
        app_registration.run(FakeModule(params(unique_name="xlreporter-mailer", notes="n")), clients)

    assert "Application.ReadWrite.All" in caught.value.message and "req-403" in caught.value.message
    assert caught.value.code == "Authorization_RequestDenied"


# --- delete ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("check_mode", [False, True])
def test_delete(clients, transport, check_mode):
    transport.expect("GET", BY_UNIQUE_NAME, json={"value": [application()]})
    expect_owners(transport, [AUTOMATION_OWNER])
    expect_graph_sp(transport)
    if not check_mode:
        transport.expect("DELETE", APP_URL, status=204)

    changed, record, diff = app_registration.run(
        FakeModule(params(unique_name="xlreporter-mailer", state="absent"), check_mode=check_mode), clients)

    assert changed is True
    assert record["application"] == {}
    assert diff["after"] == {} and diff["before"]["api_permissions"][0]["delegated"] == sorted(XLREPORTER_SCOPES)
    assert len(writes(transport)) == (0 if check_mode else 1)


def test_delete_without_diff_reads_only_the_app(clients, transport):
    transport.expect("GET", BY_UNIQUE_NAME, json={"value": [application()]})
    transport.expect("DELETE", APP_URL, status=404, json=graph_error("Request_ResourceNotFound", "gone"))

    changed = app_registration.run(FakeModule(params(unique_name="xlreporter-mailer", state="absent"), diff=False), clients)[0]

    assert changed is True  # deleted by us or by a run a moment before: absent either way


@pytest.mark.parametrize("check_mode", [False, True])
def test_delete_of_a_missing_app_is_no_change(clients, transport, check_mode):
    transport.expect("GET", BY_UNIQUE_NAME, json={"value": []})

    changed, record, diff = app_registration.run(
        FakeModule(params(unique_name="xlreporter-mailer", state="absent"), check_mode=check_mode), clients)

    assert changed is False and record["application"] == {} and diff == {"before": {}, "after": {}}


# --- errors ---------------------------------------------------------------------------------------
def test_duplicate_display_names_fail_listing_the_app_ids(clients, transport):
    twins = [application(appId="11111111-0000-4000-8000-000000000001"), application(appId="11111111-0000-4000-8000-000000000002")]
    transport.expect("GET", BY_DISPLAY_NAME, json={"value": twins})

    with pytest.raises(MailauthError) as caught:
        app_registration.run(FakeModule(params(display_name="XLReporter Mailer", notes="n")), clients)

    assert "11111111-0000-4000-8000-000000000001" in caught.value.message
    assert "11111111-0000-4000-8000-000000000002" in caught.value.message
    assert caught.value.details["app_ids"] == [twin["appId"] for twin in twins]
    assert writes(transport) == []


@pytest.mark.parametrize("option,uri,problem", [
    ("web_redirect_uris", "http://mail.contoso.com/callback", "localhost"),
    ("spa_redirect_uris", "ftp://localhost/", "scheme"),
    ("web_redirect_uris", "https://localhost/#frag", "fragment"),
    ("public_client_redirect_uris", "/callback", "absolute"),
])
def test_invalid_redirect_uris_fail_before_any_request(clients, transport, option, uri, problem):
    with pytest.raises(ParameterError, match=problem) as caught:
        app_registration.run(FakeModule(params(unique_name="x", **{option: {"add": [uri]}})), clients)
    assert caught.value.parameter == option
    assert [sent for sent in transport.sent if "/v1.0/" in sent.url] == []
    transport.script.clear()  # the sign-in was never needed


@pytest.mark.parametrize("uri", ["http://localhost:3017/", "http://127.0.0.1", "https://localhost", "myapp://auth",
                                 "msal6f3a1b2c-4d5e-4f60-8a7b-9c0d1e2f3a4b://auth", "urn:ietf:wg:oauth:2.0:oob"])
def test_public_clients_take_loopback_and_custom_schemes(uri):
    app_registration.check_parameters(params(unique_name="x", public_client_redirect_uris={"set": [uri]}))


def test_an_invalid_uri_may_still_be_removed():
    app_registration.check_parameters(params(unique_name="x", web_redirect_uris={"remove": ["http://mail.contoso.com/"]}))


def test_unknown_permission_lists_close_matches(clients, transport):
    transport.expect("GET", BY_UNIQUE_NAME, json={"value": [application()]})
    expect_graph_sp(transport)

    with pytest.raises(ParameterError) as caught:
        app_registration.run(FakeModule(params(unique_name="xlreporter-mailer",
                                               api_permissions=[{"resource": "graph", "delegated": ["SMTP.Sned"]}])), clients)

    assert caught.value.parameter == "api_permissions" and "SMTP.Send" in caught.value.message


def test_unknown_owner_fails_before_any_write(clients, transport):
    transport.expect("GET", BY_UNIQUE_NAME, json={"value": []})
    transport.expect("GET", GRAPH + "/users?$filter=userPrincipalName in ('nobody@contoso.com') or id in "
                     "('%s')&$select=id,userPrincipalName,displayName" % ROLES["Mail.Send"], json={"value": []})
    transport.expect("GET", GRAPH + "/servicePrincipals?$filter=appId in ('%s')&$select=id,appId,displayName"
                     % ROLES["Mail.Send"], json={"value": []})

    with pytest.raises(ParameterError, match="nobody@contoso.com") as caught:
        app_registration.run(FakeModule(params(unique_name="xlreporter-mailer",
                                               owners={"set": ["nobody@contoso.com", ROLES["Mail.Send"]]})), clients)

    assert caught.value.parameter == "owners"
    assert writes(transport) == []


def test_no_key_is_a_parameter_error():
    with pytest.raises(ParameterError, match="unique_name"):
        app_registration.check_parameters(params(notes="x"))


# --- main() ---------------------------------------------------------------------------------------
def test_main_end_to_end_with_diff(identity, transport, tmp_path, capsys, monkeypatch):
    for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH"):
        monkeypatch.delenv(name, raising=False)
    identity.discovery()
    identity.token()
    transport.expect("GET", BY_UNIQUE_NAME, json={"value": [application()]})
    expect_graph_sp(transport)
    expect_owners(transport, [AUTOMATION_OWNER])
    transport.expect("PATCH", APP_URL, status=204)
    args = dict(tenant_id=TENANT, client_id=CLIENT, client_secret="s3cret-value", token_cache_path=str(tmp_path / "cache"),
                _ansible_diff=True, notes="Mailer of the SCADA server", **XLREPORTER)

    with patch_module_args(args):
        with pytest.raises(SystemExit):
            app_registration.main()
    result = json.loads(capsys.readouterr().out)

    assert result["changed"] is True and "failed" not in result
    assert result["application"]["notes"] == "Mailer of the SCADA server"
    assert result["diff"]["before"]["notes"] is None and result["diff"]["after"]["notes"] == "Mailer of the SCADA server"
    assert "s3cret-value" not in json.dumps(result)


# --- owner writes ---------------------------------------------------------------------------------
def expect_owner_update_reads(transport):
    transport.expect("GET", BY_UNIQUE_NAME, json={"value": [application(requiredResourceAccess=[])]})
    expect_owners(transport, [AUTOMATION_OWNER])
    transport.expect("GET", ALICE_LOOKUP, json={"value": [ALICE]})


def test_owner_added_meanwhile_by_someone_else_is_fine(clients, transport):
    expect_owner_update_reads(transport)
    transport.expect("POST", APP_URL + "/owners/$ref", status=400, json=graph_error(
        "Request_BadRequest", "One or more added object references already exist for the following modified properties: 'owners'."))
    expect_owners(transport, [AUTOMATION_OWNER, ALICE])

    changed = app_registration.run(FakeModule(params(unique_name="xlreporter-mailer", owners={"add": ["alice@contoso.com"]})),
                                   clients)[0]

    assert changed is True


def test_ambiguous_owner_post_reads_before_posting_again(clients, transport):
    expect_owner_update_reads(transport)
    transport.expect("POST", APP_URL + "/owners/$ref", raises=requests.exceptions.ReadTimeout("read timed out"))
    expect_owners(transport, [AUTOMATION_OWNER])
    transport.expect("POST", APP_URL + "/owners/$ref", status=204)

    record = app_registration.run(FakeModule(params(unique_name="xlreporter-mailer", owners={"add": ["alice@contoso.com"]})),
                                  clients)[1]

    assert [owner["id"] for owner in record["application"]["owners"]] == [AUTOMATION_OWNER["id"], ALICE["id"]]
    assert transport.count("POST", "/owners/$ref") == 2


def test_owners_named_by_object_id_and_app_id_are_matched_without_lookups(clients, transport):
    transport.expect("GET", BY_UNIQUE_NAME, json={"value": [application(requiredResourceAccess=[])]})
    expect_owners(transport, [AUTOMATION_OWNER, ALICE])

    changed = app_registration.run(FakeModule(params(unique_name="xlreporter-mailer",
                                                     owners={"set": [ALICE["id"].upper(), CLIENT]})), clients)[0]

    assert changed is False
    assert writes(transport) == []


def test_add_and_remove_of_the_same_owner_removes_it(clients, transport):
    transport.expect("GET", BY_UNIQUE_NAME, json={"value": [application(requiredResourceAccess=[])]})
    expect_owners(transport, [AUTOMATION_OWNER, ALICE])
    transport.expect("DELETE", APP_URL + "/owners/%s/$ref" % ALICE["id"], status=204)

    changed = app_registration.run(FakeModule(params(unique_name="xlreporter-mailer", owners={
        "add": ["alice@contoso.com"], "remove": ["alice@contoso.com"]})), clients)[0]

    assert changed is True
