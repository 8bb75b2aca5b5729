# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Helpers for unit tests that script Exchange Online's admin API: one expected cmdlet call at a time, with
its exact POST body and headers, and Exchange's answer or error shapes."""

from __future__ import annotations

import json

import pytest

from ansible_collections.mailauth.m365.plugins.module_utils._module import Clients
from ansible_collections.mailauth.m365.tests.unit.conftest import CLIENT, TENANT
from ansible_collections.mailauth.m365.tests.unit.graph_script import FakeModule
from ansible_collections.mailauth.m365.tests.unit.scripted_http import form

EXCHANGE = "https://outlook.office365.com"
INVOKE = "%s/adminapi/beta/%s/InvokeCommand" % (EXCHANGE, TENANT)
ANCHOR = "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@" + TENANT
EXCHANGE_CLAIMS = {"aud": "https://outlook.office365.com", "tid": TENANT, "appid": CLIENT, "idtyp": "app",
                   "roles": ["Exchange.ManageAsApp"]}
NOT_FOUND_TEMPLATE = ("Ex6F9304|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|"
                      "The operation couldn't be performed because object '%s' couldn't be found on "
                      "'NAMPR01A001.PROD.OUTLOOK.COM'.")


def body(cmdlet, **parameters):
    return {"CmdletInput": {"CmdletName": cmdlet, "Parameters": parameters}}


def cmdlet_of(sent):
    """(cmdlet name, parameters) of a sent InvokeCommand request."""
    data = json.loads(sent.body)
    return data["CmdletInput"]["CmdletName"], data["CmdletInput"]["Parameters"]


def exchange_error(message, code="InternalServerError", exception="ManagementObjectNotFoundException",
                   shape="details"):
    """Exchange's error body in one of its three shapes (FACTS.md section 4)."""
    error = {"code": code, "message": "Error executing cmdlet"}
    if shape == "details":
        error["details"] = [{"code": "Ex6F9304", "target": "",
                             "message": "Ex6F9304|Microsoft.Exchange.Configuration.Tasks.%s|%s" % (exception, message)}]
        error["innererror"] = {"message": message, "type": "Microsoft.Exchange.Configuration.Tasks.%s" % exception}
    elif shape == "internal":
        # As Exchange sends it: the key in lower case, the outer type a generic OData one.
        error["innererror"] = {"message": "Invalid Operation", "type": "Microsoft.Exchange.Admin.OData.Core.ODataServiceException",
                               "internalexception": {"message": message, "type": "Microsoft.Exchange.Admin.%s" % exception}}
    else:
        error["message"] = message
    return {"error": error}


def not_found(name):
    return {"error": {"code": "NotFound", "message": "Error executing cmdlet",
                      "details": [{"code": "Ex6F9304", "target": "", "message": NOT_FOUND_TEMPLATE % name}]}}


class ExchangeScript:
    """Scripts InvokeCommand calls on a ``ScriptedTransport``; every call's body must be the one expected."""

    def __init__(self, transport):
        self.transport = transport

    def expect(self, cmdlet, parameters=None, rows=(), status=200, error=None, warnings=None, next_link=None,
               url=INVOKE, headers=None, raises=None, times=1):
        expected = body(cmdlet, **(parameters or {}))

        def check(sent):
            assert json.loads(sent.body) == expected, "expected %s, got %s" % (expected, sent.body)
            assert sent.headers["X-AnchorMailbox"] == ANCHOR
            assert sent.headers["Prefer"] == "odata.maxpagesize=1000"
            assert sent.headers["Content-Type"] == "application/json"
            assert sent.headers["Authorization"].startswith("Bearer ")

        if error is not None:
            answer = error
        else:
            answer = {"@odata.context": "%s/adminapi/beta/%s/$metadata#%s" % (EXCHANGE, TENANT, cmdlet),
                      "value": list(rows)}
            if warnings:
                answer["@adminapi.warnings"] = list(warnings)
            if next_link:
                answer["@odata.nextLink"] = next_link
        self.transport.expect("POST", url, status=status, json=answer, check=check, headers=headers, raises=raises,
                              times=times)
        return self


def _asks_for(sent, resource):
    scope = form(sent)["scope"].split()
    wanted = "https://outlook.office365.com/.default" if resource == "exchange" else "https://graph.microsoft.com/.default"
    assert wanted in scope, scope


def sent_cmdlets(transport):
    """The cmdlets sent so far, in order."""
    return [cmdlet_of(sent)[0] for sent in transport.sent if "/InvokeCommand" in sent.url]


@pytest.fixture
def exchange_clients(identity, make_settings, clock):
    """``Clients`` whose first request is a cmdlet: OpenID discovery and an Exchange token are scripted.

    A test whose code reads Graph later scripts the Graph token there (``graph_token``)."""
    def build(**params):
        identity.discovery()
        identity.token(claims=EXCHANGE_CLAIMS, check=lambda sent: _asks_for(sent, "exchange"))
        return Clients(make_settings(**params), sleep=clock.sleep, clock=clock.monotonic)
    return build


def graph_token(identity):
    """Script the Graph token a module asks for at its first Graph request."""
    identity.token(check=lambda sent: _asks_for(sent, "graph"))


@pytest.fixture
def script(transport):
    """An ``ExchangeScript`` on the test's transport."""
    return ExchangeScript(transport)


def run_module_under_test(module_under_test, clients, params, check_mode=False):
    """``module_under_test.run()`` with a fake module: ``(changed, record, diff, warnings)``."""
    module = FakeModule(params, check_mode)
    changed, record, diff = module_under_test.run(module, clients)
    return changed, record, diff, module.warnings
