# -*- coding: utf-8 -*-
"""Graph objects and scripted exchanges shared by the app_registration unit tests."""

from __future__ import annotations

from ansible_collections.mailauth.m365.plugins.module_utils._applications import CREDENTIALS_SELECT
from ansible_collections.mailauth.m365.plugins.module_utils._graph import SP_PERMISSION_FIELDS
from ansible_collections.mailauth.m365.tests.unit.conftest import CLIENT

GRAPH = "https://graph.microsoft.com/v1.0"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
APP_OBJECT_ID = "5e0d3f4c-8a1b-4c2d-9e3f-0a1b2c3d4e5f"
APP_ID = "6f3a1b2c-4d5e-4f60-8a7b-9c0d1e2f3a4b"
SCOPES = {"SMTP.Send": "258f6531-6087-4cc4-bb90-092c5fb3ed3f", "offline_access": "7427e0e9-2fba-42fe-b0c0-848c9e6a8182",
          "openid": "37f7f235-527c-4136-accd-4a02d197296e", "profile": "14dad69e-099b-42c9-810b-d002981feec1",
          "User.Read": "e1fe6dd8-ba31-4d61-89e7-88639da4683d", "Mail.Send": "e383f46e-2787-4529-855e-0e479a3ffac0"}
ROLES = {"Mail.Send": "b633e1c5-b582-4048-a93e-9f11b44c7e96"}
GRAPH_SP = {
    "id": "c0ffee00-0000-4000-8000-000000000003", "appId": GRAPH_APP_ID, "displayName": "Microsoft Graph",
    "servicePrincipalNames": ["https://graph.microsoft.com"],
    "oauth2PermissionScopes": [{"id": pid, "value": name, "isEnabled": True} for name, pid in SCOPES.items()],
    "appRoles": [{"id": pid, "value": name, "isEnabled": True, "allowedMemberTypes": ["Application"]}
                 for name, pid in ROLES.items()],
}
XLREPORTER_SCOPES = ["SMTP.Send", "offline_access", "openid", "profile", "User.Read"]
AUTOMATION_OWNER = {"@odata.type": "#microsoft.graph.servicePrincipal", "id": "d1a71605-7b16-40d8-b217-7a160f7ed11c",
                    "appId": CLIENT, "displayName": "mailauth automation"}
ALICE = {"@odata.type": "#microsoft.graph.user", "id": "a486307c-2ae5-4ed2-9f38-d4ef693aa61f",
         "userPrincipalName": "alice@contoso.com", "displayName": "Alice Accounting"}


def required_access(*names, kind="Scope"):
    table = SCOPES if kind == "Scope" else ROLES
    return [{"resourceAppId": GRAPH_APP_ID, "resourceAccess": [{"id": table[name], "type": kind} for name in names]}]


def application(**overrides):
    """The XLReporter Mailer app registration as Graph returns it."""
    app = {
        "id": APP_OBJECT_ID, "appId": APP_ID, "uniqueName": "xlreporter-mailer", "displayName": "XLReporter Mailer",
        "signInAudience": "AzureADMyOrg", "isFallbackPublicClient": None, "notes": None, "description": None,
        "publicClient": {"redirectUris": []}, "spa": {"redirectUris": []},
        "web": {"redirectUris": ["http://localhost:3017/"], "implicitGrantSettings": {"enableIdTokenIssuance": False}},
        "api": {"requestedAccessTokenVersion": None},
        "requiredResourceAccess": required_access(*XLREPORTER_SCOPES),
    }
    app.update(overrides)
    return app


def graph_error(code, message, request_id="req-1"):
    return {"error": {"code": code, "message": message, "innerError": {"request-id": request_id, "date": "2026-01-01T00:00:00"}}}


def expect_graph_sp(transport):
    transport.expect("GET", GRAPH + "/servicePrincipals?$filter=appId eq '%s'&$select=%s" % (GRAPH_APP_ID, SP_PERMISSION_FIELDS),
                     json={"value": [GRAPH_SP]})


def expect_owners(transport, owners, object_id=APP_OBJECT_ID, **kwargs):
    transport.expect("GET", GRAPH + "/applications/%s/owners" % object_id, json={"value": list(owners)}, **kwargs)


def expect_info_list(transport, query, apps):
    """app_registration_info's one list request; each app carries its expanded ``owners`` (default none)."""
    apps = [dict({"owners": []}, **app) for app in apps]
    transport.expect("GET", GRAPH + "/applications?%s$select=%s&$expand=owners" % (query, CREDENTIALS_SELECT),
                     json={"value": apps})


class FakeModule:
    """What run() may use of AnsibleModule."""

    def __init__(self, params, check_mode=False, diff=True):
        self.params = params
        self.check_mode = check_mode
        self._diff = diff
        self.warnings = []

    def warn(self, message):
        self.warnings.append(message)


def module_params(argument_spec, **given):
    """Every option of ``argument_spec`` at its default (None when it has none), then ``given``."""
    params = dict((name, spec.get("default")) for name, spec in argument_spec.items())
    params.update(given)
    return params
