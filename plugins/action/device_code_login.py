# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Action plugin of mailauth.m365.device_code_login: an administrator signs in by device code.

It runs on the controller because a module cannot show anything while it runs, and the code must be
shown at once. The tokens land in the token cache that modules with ``auth_method=device_code``
read, so they sign in silently afterwards.
"""

from __future__ import annotations

import time

from ansible import constants as C
from ansible.module_utils.basic import missing_required_lib
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

from ansible_collections.mailauth.m365.plugins.module_utils._auth import (
    HAS_MSAL,
    MSAL_IMPORT_ERROR,
    DeviceCodeLogin,
)
from ansible_collections.mailauth.m365.plugins.module_utils._errors import AuthError, MailauthError, ParameterError
from ansible_collections.mailauth.m365.plugins.module_utils._http import (
    HAS_REQUESTS,
    REQUESTS_IMPORT_ERROR,
    HttpSession,
)
from ansible_collections.mailauth.m365.plugins.module_utils._module import CONNECTION_ARGSPEC, settings_from_params

display = Display()

# Microsoft Graph Command Line Tools: a first-party public client present in every tenant, so that a
# new tenant needs no app registration before its first sign-in.
GRAPH_CLI_CLIENT_ID = "14d82eec-204b-4c2f-b7e8-296a70dab67e"
# What playbooks/bootstrap.yml does as the administrator: register the automation app and its service
# principal, grant its permissions, give it a directory role, and read the tenant.
BOOTSTRAP_SCOPES = ["Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All",
                    "DelegatedPermissionGrant.ReadWrite.All", "RoleManagement.ReadWrite.Directory",
                    "Organization.Read.All"]
DEFAULT_WAIT_TIMEOUT = 900  # Entra's device codes live 15 minutes
# A person signs in, not an application: these are accepted (module_defaults for the whole group may
# carry them) and never used.
IGNORED_CREDENTIALS = ("client_secret", "client_certificate_path", "client_certificate_password",
                       "federated_token_file")
# The polling answers that mean nobody approved the code in time.
UNAPPROVED_ERRORS = ("authorization_pending", "expired_token", "slow_down")


def _argument_spec():
    spec = {name: dict(option) for name, option in CONNECTION_ARGSPEC.items()}
    # The first-party client, not AZURE_CLIENT_ID: that variable usually names a confidential app.
    spec["client_id"] = dict(type="str", default=GRAPH_CLI_CLIENT_ID)
    spec["auth_method"] = dict(type="str", default="device_code", choices=["auto", "device_code"])
    spec.update(
        scopes=dict(type="list", elements="str", default=list(BOOTSTRAP_SCOPES)),
        wait_timeout=dict(type="int", default=DEFAULT_WAIT_TIMEOUT),
        force=dict(type="bool", default=False),
    )
    return spec


ARGUMENT_SPEC = _argument_spec()


def login(params, check_mode, show, session=None, clock=time.time):
    """Reuse the cached sign-in or run a device code sign-in; return the task result (never a token).

    ``show(text)`` displays the sign-in instructions; ``clock`` is injectable for tests.
    """
    if params.get("wait_timeout") is not None and params["wait_timeout"] < 1:
        raise ParameterError("wait_timeout", "must be at least 1 second, got %d." % params["wait_timeout"])
    connection = dict(params, auth_method="device_code")
    connection.update(dict.fromkeys(IGNORED_CREDENTIALS))
    settings = settings_from_params(connection)
    session = session or HttpSession(settings.verify, settings.timeout)
    try:
        device_login = DeviceCodeLogin(settings.auth, session, scopes=params.get("scopes"))
        with device_login.one_at_a_time():
            return dict(_sign_in(device_login, settings, params, check_mode, show, clock),
                        token_cache_file=device_login.cache_file.path)
    finally:
        session.close()


def _sign_in(device_login, settings, params, check_mode, show, clock):
    account = None if params.get("force") else device_login.signed_in()
    if account is not None:
        return dict(changed=False, signed_in=True, account=_account(account, settings))
    if check_mode:
        return dict(changed=True, signed_in=False, account={})
    code = device_login.start()
    # Forks of a play may sign in to several tenants at once: say which one this code is for.
    show("Sign-in to tenant %s: %s" % (settings.auth.tenant_id, code["message"]))
    wait = min(params.get("wait_timeout") or DEFAULT_WAIT_TIMEOUT, int(code.get("expires_in") or DEFAULT_WAIT_TIMEOUT))
    deadline = clock() + wait
    try:
        account = device_login.finish(exit_condition=lambda flow: clock() >= deadline)
    except AuthError as err:
        if err.error in UNAPPROVED_ERRORS:
            raise AuthError(
                "Nobody approved the device code %s at %s within %d seconds"
                % (code["user_code"], code["verification_uri"], wait), error=err.error,
                error_codes=err.error_codes, trace_id=err.trace_id, correlation_id=err.correlation_id,
                remedy="Run the task again and sign in within the time (raise wait_timeout if needed).") from None
        raise
    return dict(changed=True, signed_in=True, account=_account(account, settings))


def _account(account, settings):
    return dict(account, client_id=settings.auth.client_id)


def _show(text):
    # Highlighted, and at once: the person at the terminal has minutes to act on it.
    display.display(text, color=C.COLOR_HIGHLIGHT)


class ActionModule(ActionBase):
    """Signs an administrator in by device code on the controller."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)[1]
        for present, name, error in ((HAS_REQUESTS, "requests", REQUESTS_IMPORT_ERROR),
                                     (HAS_MSAL, "msal", MSAL_IMPORT_ERROR)):
            if not present:
                result.update(failed=True, msg=missing_required_lib(name), exception=error)
                return result
        try:
            result.update(login(params, self._task.check_mode, _show))
        except MailauthError as err:
            result.update(failed=True, **err.to_fail_kwargs())
        return result
