# -*- coding: utf-8 -*-
"""device_code_login: the controller-side sign-in against a scripted identity platform (MSAL runs for real)."""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
from unittest import mock

import pytest
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.mailauth.m365.plugins.action import device_code_login
from ansible_collections.mailauth.m365.plugins.module_utils._auth import DeviceCodeLogin, TokenSource, decode_claims
from ansible_collections.mailauth.m365.plugins.module_utils._errors import AuthError, ParameterError
from ansible_collections.mailauth.m365.plugins.module_utils._http import HttpSession
from ansible_collections.mailauth.m365.plugins.module_utils._module import settings_from_params
from ansible_collections.mailauth.m365.tests.unit.conftest import TENANT
from ansible_collections.mailauth.m365.tests.unit.scripted_http import form, unsigned_jwt

CLI = device_code_login.GRAPH_CLI_CLIENT_ID
ADMIN = "admin@fabrikam.onmicrosoft.com"
GRANTED = "AppRoleAssignment.ReadWrite.All Application.ReadWrite.All DelegatedPermissionGrant.ReadWrite.All " \
          "Organization.Read.All RoleManagement.ReadWrite.Directory"
MESSAGE = "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code ABCD-EFGH"


def validated(**params):
    """Task arguments as the action plugin sees them after its argument spec (defaults filled in)."""
    result = ArgumentSpecValidator(device_code_login.ARGUMENT_SPEC).validate(dict(params))
    assert not result.error_messages, result.error_messages
    return result.validated_parameters


@pytest.fixture
def params(tmp_path, monkeypatch):
    for name in ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_AUTHORITY_HOST", "MAILAUTH_M365_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    return validated(tenant_id=TENANT, token_cache_path=str(tmp_path / "cache"))


def _client_info():
    return base64.urlsafe_b64encode(json.dumps({"uid": "u-1", "utid": TENANT}).encode()).rstrip(b"=").decode()


def script_device_code(identity, interval=0, expires_in=900):
    identity.transport.expect("POST", identity.authority + "/oauth2/v2.0/devicecode", json={
        "device_code": "dev-1", "user_code": "ABCD-EFGH", "verification_uri": "https://microsoft.com/devicelogin",
        "expires_in": expires_in, "interval": interval, "message": MESSAGE})


def script_pending(identity, error="authorization_pending", code=70016):
    identity.transport.expect("POST", identity.token_endpoint, status=400, json={
        "error": error, "error_codes": [code], "error_description": "AADSTS%d: not yet" % code,
        "trace_id": "t-9", "correlation_id": "c-9"})


def script_approval(identity, username=ADMIN):
    id_token = unsigned_jwt({"aud": CLI, "iss": "https://login.microsoftonline.com/%s/v2.0" % TENANT, "tid": TENANT,
                             "oid": "u-1", "preferred_username": username, "sub": "s", "iat": 1, "exp": 4102444800})
    scope = " ".join("https://graph.microsoft.com/" + name for name in GRANTED.split())
    return identity.token(claims={"scp": GRANTED + " openid profile", "upn": username, "tid": TENANT},
                          extra={"refresh_token": "refresh-1", "id_token": id_token, "client_info": _client_info(),
                                 "scope": scope + " openid profile"})


def sign_in_once(identity, params):
    """A first run that signs in (the cache file then holds the administrator's tokens)."""
    identity.discovery()
    script_device_code(identity)
    script_approval(identity)
    return device_code_login.login(params, False, lambda text: None)


def test_signs_in_shows_the_code_and_caches_the_tokens(identity, params):
    identity.discovery()
    script_device_code(identity)
    script_pending(identity)
    access_token = script_approval(identity)
    shown = []

    result = device_code_login.login(params, False, shown.append)

    assert shown == ["Sign-in to tenant %s: %s" % (TENANT, MESSAGE)]
    assert result["changed"] is True and result["signed_in"] is True
    assert result["account"] == {"username": ADMIN, "tenant_id": TENANT, "client_id": CLI,
                                 "scopes": sorted(GRANTED.split() + ["openid", "profile"])}
    assert access_token not in json.dumps(result) and "refresh-1" not in json.dumps(result)
    assert stat.S_IMODE(os.stat(result["token_cache_file"]).st_mode) == 0o600
    started = form(identity.transport.sent[1])
    assert started["client_id"] == CLI
    assert set(started["scope"].split()) == {"https://graph.microsoft.com/" + name
                                             for name in device_code_login.BOOTSTRAP_SCOPES} | {
        "openid", "profile", "offline_access"}


def test_a_cached_sign_in_is_reused_without_a_new_code(identity, params):
    sign_in_once(identity, params)
    identity.discovery()  # the next run: a new process reads the sign-in from the cache file
    shown = []

    result = device_code_login.login(params, False, shown.append)

    assert (result["changed"], result["signed_in"], shown) == (False, True, [])
    assert result["account"]["username"] == ADMIN
    assert identity.transport.count("POST", "/devicecode") == 1


def test_modules_with_device_code_then_sign_in_silently(identity, params):
    sign_in_once(identity, params)
    module_settings = settings_from_params(dict(params, auth_method="device_code"))
    identity.discovery()
    # Modules ask for /.default: MSAL redeems the cached refresh token once for it.
    identity.token(claims={"scp": GRANTED, "upn": ADMIN}, extra={"refresh_token": "refresh-2",
                                                                 "scope": "https://graph.microsoft.com/.default"})

    token = TokenSource(module_settings.auth, HttpSession(module_settings.verify)).token("graph")

    assert decode_claims(token)["upn"] == ADMIN
    assert form(identity.transport.sent[-1])["grant_type"] == "refresh_token"


def test_check_mode_reports_a_missing_sign_in_and_shows_no_code(identity, params):
    identity.discovery()
    shown = []

    result = device_code_login.login(params, True, shown.append)

    assert (result["changed"], result["signed_in"], result["account"], shown) == (True, False, {}, [])
    assert identity.transport.count("POST") == 0


def test_check_mode_with_a_cached_sign_in_is_unchanged(identity, params):
    sign_in_once(identity, params)
    identity.discovery()

    result = device_code_login.login(params, True, lambda text: None)

    assert (result["changed"], result["signed_in"]) == (False, True)


def test_force_signs_in_again_and_keeps_one_account(identity, params):
    sign_in_once(identity, params)
    identity.discovery()
    script_device_code(identity)
    script_approval(identity, username="other.admin@fabrikam.onmicrosoft.com")

    result = device_code_login.login(dict(params, force=True), False, lambda text: None)

    assert result["changed"] is True
    assert result["account"]["username"] == "other.admin@fabrikam.onmicrosoft.com"
    with open(result["token_cache_file"], encoding="utf-8") as handle:
        cache = json.load(handle)
    assert [account["username"] for account in cache["Account"].values()] == ["other.admin@fabrikam.onmicrosoft.com"]


class SteppingClock:
    """Each reading is a minute later than the one before."""

    def __init__(self):
        self.now = 0

    def __call__(self):
        self.now += 60
        return self.now


def test_nobody_approving_in_time_fails_with_the_code_and_a_remedy(identity, params, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda seconds: None)  # MSAL's polling pause
    identity.discovery()
    script_device_code(identity, interval=1)
    script_pending(identity)

    with pytest.raises(AuthError) as failure:
        device_code_login.login(dict(params, wait_timeout=30), False, lambda text: None, clock=SteppingClock())

    message = failure.value.message
    assert "ABCD-EFGH" in message and "30 seconds" in message and "wait_timeout" in message
    assert failure.value.error_codes == [70016] and failure.value.trace_id == "t-9"


def test_a_declined_sign_in_fails_with_the_identity_platform_error(identity, params):
    identity.discovery()
    script_device_code(identity)
    script_pending(identity, error="authorization_declined", code=70000)

    with pytest.raises(AuthError) as failure:
        device_code_login.login(params, False, lambda text: None)

    assert "AADSTS70000" in failure.value.message and "authorization_declined" in failure.value.message


def test_an_empty_scope_list_asks_for_everything_consented(identity, params):
    identity.discovery()
    script_device_code(identity)
    script_approval(identity)

    device_code_login.login(dict(params, scopes=[]), False, lambda text: None)

    assert form(identity.transport.sent[1])["scope"].split()[0] == "https://graph.microsoft.com/.default"


def test_credentials_from_module_defaults_are_ignored(identity, params):
    identity.discovery()
    script_device_code(identity)
    script_approval(identity)

    device_code_login.login(dict(params, client_secret="app-secret"), False, lambda text: None)

    assert all("app-secret" not in (sent.body or "") for sent in identity.transport.sent)


def test_wrong_parameters_fail_before_any_request(transport, params):
    with pytest.raises(ParameterError) as failure:
        device_code_login.login(dict(params, wait_timeout=0), False, lambda text: None)
    assert failure.value.parameter == "wait_timeout"
    with pytest.raises(ParameterError) as failure:
        device_code_login.login(dict(params, tenant_id=None), False, lambda text: None)
    assert failure.value.parameter == "tenant_id"
    assert transport.sent == []


def make_action(args, check_mode=False):
    task = mock.MagicMock(args=args, check_mode=check_mode, async_val=0, action="mailauth.m365.device_code_login")
    connection = mock.MagicMock()
    connection._shell.tmpdir = None
    return device_code_login.ActionModule(task, connection, mock.MagicMock(), mock.MagicMock(), mock.MagicMock())


def test_action_runs_the_login_and_displays_the_code(identity, params, monkeypatch):
    identity.discovery()
    script_device_code(identity)
    script_approval(identity)
    shown = []
    monkeypatch.setattr(device_code_login.display, "display", lambda text, **kwargs: shown.append(text))

    result = make_action(dict(tenant_id=TENANT, token_cache_path=params["token_cache_path"])).run(task_vars={})

    assert shown == ["Sign-in to tenant %s: %s" % (TENANT, MESSAGE)]
    assert result["changed"] is True and result["account"]["username"] == ADMIN and "failed" not in result


def test_action_turns_errors_into_a_failed_result(identity, params):
    identity.discovery(status=400, json={"error": "invalid_tenant", "error_codes": [90002],
                                         "error_description": "AADSTS90002: Tenant not found."})

    result = make_action(dict(tenant_id=TENANT, token_cache_path=params["token_cache_path"])).run(task_vars={})

    assert result["failed"] is True and "AADSTS90002" in result["msg"]
    assert result["error"]["type"] == "AuthError"


def test_action_rejects_unknown_options_and_other_auth_methods(transport):
    with pytest.raises(AnsibleActionFail):
        make_action(dict(tenant_id=TENANT, colour="blue")).run(task_vars={})
    with pytest.raises(AnsibleActionFail):
        make_action(dict(tenant_id=TENANT, auth_method="client_secret")).run(task_vars={})


def test_parallel_sign_ins_to_one_cache_take_turns(params):
    """Forks of a play signing in to the same tenant: the second waits, then finds the first one's sign-in."""
    settings = settings_from_params(dict(params, auth_method="device_code"))
    first = DeviceCodeLogin(settings.auth, HttpSession(settings.verify))
    second = DeviceCodeLogin(settings.auth, HttpSession(settings.verify))
    entered = threading.Event()

    def run_second():
        with second.one_at_a_time():
            entered.set()

    with first.one_at_a_time():
        waiter = threading.Thread(target=run_second)
        waiter.start()
        assert not entered.wait(0.3)  # held off while the first sign-in runs
    waiter.join(5)
    assert entered.is_set()
