# -*- coding: utf-8 -*-
"""The Exchange admin API client: the wire format of InvokeCommand, paging, warnings, error shapes, retries
and ambiguous writes."""

from __future__ import annotations

import json

import pytest
import requests

from ansible_collections.mailauth.m365.plugins.module_utils._errors import (
    AmbiguousWriteError,
    ExchangeError,
    MailauthError,
    ParameterError,
    ThrottledError,
)
from ansible_collections.mailauth.m365.plugins.module_utils._exchange import is_not_found, missing_object
from ansible_collections.mailauth.m365.plugins.module_utils._module import Clients
from ansible_collections.mailauth.m365.tests.unit.conftest import TENANT
from ansible_collections.mailauth.m365.tests.unit.exchange_script import (  # pylint: disable=unused-import
    ANCHOR,
    EXCHANGE_CLAIMS,
    INVOKE,
    ExchangeScript,
    body,
    exchange_clients,
    exchange_error,
    not_found,
    script,
    sent_cmdlets,
)
from ansible_collections.mailauth.m365.tests.unit.scripted_http import Identity, form

MAILBOX = {"Identity": "enaio", "PrimarySmtpAddress": "enaio@contoso.com", "UserPrincipalName": "enaio@contoso.com",
           "ExternalDirectoryObjectId": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "RecipientTypeDetails": "UserMailbox"}


def test_invoke_posts_the_cmdlet_with_anchor_and_page_size(exchange_clients, transport, script):
    exchange = exchange_clients().exchange
    script.expect("Get-Mailbox", {"Identity": "enaio@contoso.com"}, rows=[MAILBOX])

    rows = exchange.invoke("Get-Mailbox", Identity="enaio@contoso.com")

    assert rows == [MAILBOX] and rows.warnings == []
    sent = transport.sent[-1]
    assert sent.url == INVOKE
    assert json.loads(sent.body) == {"CmdletInput": {"CmdletName": "Get-Mailbox",
                                                     "Parameters": {"Identity": "enaio@contoso.com"}}}
    assert sent.headers["X-AnchorMailbox"] == ANCHOR
    assert sent.headers["Prefer"] == "odata.maxpagesize=1000"
    token_request = [item for item in transport.sent if item.method == "POST" and "/token" in item.url][0]
    assert form(token_request)["scope"].split()[0] == "https://outlook.office365.com/.default"


def test_none_is_sent_as_powershell_null(exchange_clients, transport, script):
    exchange = exchange_clients().exchange
    script.expect("Set-CASMailbox", {"Identity": "scanner@contoso.com", "SmtpClientAuthenticationDisabled": None})
    exchange.invoke("Set-CASMailbox", Identity="scanner@contoso.com", SmtpClientAuthenticationDisabled=None)
    assert '"SmtpClientAuthenticationDisabled": null' in transport.sent[-1].body


def test_a_domain_tenant_is_resolved_to_its_guid_from_the_token(transport, make_settings, clock):
    identity = Identity(transport, "https://login.microsoftonline.com/contoso.onmicrosoft.com")
    identity.discovery()
    identity.token(claims=EXCHANGE_CLAIMS)
    clients = Clients(make_settings(tenant_id="contoso.onmicrosoft.com"), sleep=clock.sleep)
    ExchangeScript(transport).expect("Get-TransportConfig", rows=[{"SmtpClientAuthenticationDisabled": True}])

    exchange = clients.exchange
    assert exchange.tenant_id == TENANT
    assert exchange.invoke("Get-TransportConfig")[0]["SmtpClientAuthenticationDisabled"] is True
    assert transport.sent[-1].url == INVOKE  # the GUID, not the domain, in the URL and the anchor


def test_a_custom_cloud_without_exchange_endpoint_is_refused_before_any_request(transport, make_settings):
    clients = Clients(make_settings(cloud="custom", authority_host="https://127.0.0.1:8443",
                                    graph_endpoint="https://127.0.0.1:8443/graph"))
    with pytest.raises(ParameterError) as caught:
        clients.exchange.invoke("Get-Mailbox")
    assert caught.value.parameter == "exchange_endpoint"
    assert transport.sent == []


def test_custom_cloud_sends_to_its_exchange_endpoint(transport, make_settings):
    identity = Identity(transport, "https://127.0.0.1:8443/" + TENANT)
    identity.discovery()
    identity.token(claims=EXCHANGE_CLAIMS)
    clients = Clients(make_settings(cloud="custom", authority_host="https://127.0.0.1:8443",
                                    graph_endpoint="https://127.0.0.1:8443/graph",
                                    exchange_endpoint="https://127.0.0.1:8445"))
    ExchangeScript(transport).expect("Get-TransportConfig", rows=[{}],
                                     url="https://127.0.0.1:8445/adminapi/beta/%s/InvokeCommand" % TENANT)
    clients.exchange.invoke("Get-TransportConfig")


def test_every_page_is_fetched_with_the_same_body_and_warnings_are_kept(exchange_clients, transport, script):
    exchange = exchange_clients().exchange
    page2 = INVOKE + "?$skiptoken=page2"
    page3 = INVOKE + "?$skiptoken=page3"
    script.expect("Get-CASMailbox", {"ResultSize": "Unlimited"}, rows=[{"Identity": "a"}], next_link=page2,
                  warnings=["The command completed successfully but returned more than 1 page."])
    script.expect("Get-CASMailbox", {"ResultSize": "Unlimited"}, rows=[{"Identity": "b"}], next_link=page3, url=page2)
    script.expect("Get-CASMailbox", {"ResultSize": "Unlimited"}, rows=[{"Identity": "c"}], url=page3)

    rows = exchange.invoke("Get-CASMailbox", ResultSize="Unlimited")

    assert [row["Identity"] for row in rows] == ["a", "b", "c"]
    assert rows.warnings == exchange.warnings == ["The command completed successfully but returned more than 1 page."]
    assert [sent.body for sent in transport.sent[-3:]] == [json.dumps(body("Get-CASMailbox", ResultSize="Unlimited"))] * 3


def test_a_repeated_next_link_stops_paging(exchange_clients, script):
    exchange = exchange_clients().exchange
    page2 = INVOKE + "?$skiptoken=2"
    script.expect("Get-Mailbox", rows=[{"Identity": "a"}], next_link=page2)
    script.expect("Get-Mailbox", rows=[{"Identity": "b"}], next_link=page2, url=page2)
    with pytest.raises(MailauthError, match="same @odata.nextLink twice"):
        exchange.invoke("Get-Mailbox")


def test_a_next_link_to_another_host_is_refused(exchange_clients, transport, script):
    exchange = exchange_clients().exchange
    script.expect("Get-Mailbox", rows=[], next_link="https://evil.example/adminapi/beta/x/InvokeCommand")
    with pytest.raises(MailauthError, match="Refusing to send"):
        exchange.invoke("Get-Mailbox")
    assert not any("evil.example" in sent.url for sent in transport.sent)


@pytest.mark.parametrize("shape, expected_type", [("details", "ManagementObjectNotFoundException"),
                                                  ("internal", "ManagementObjectNotFoundException"),
                                                  ("message", None)])
def test_each_error_shape_gives_the_message_and_names_the_cmdlet(exchange_clients, script, shape, expected_type):
    exchange = exchange_clients().exchange
    text = "The operation couldn't be performed because object 'nobody@contoso.com' couldn't be found on 'X'."
    script.expect("Get-Mailbox", {"Identity": "nobody@contoso.com"}, status=404,
                  error=exchange_error(text, shape=shape), headers={"request-id": "exo-req-1"})

    with pytest.raises(ExchangeError) as caught:
        exchange.invoke("Get-Mailbox", Identity="nobody@contoso.com")

    err = caught.value
    assert err.service_message == text
    assert err.exception_type == expected_type
    assert err.cmdlet == "Get-Mailbox" and err.status == 404 and err.request_id == "exo-req-1"
    assert err.message.startswith("Exchange cmdlet Get-Mailbox failed: HTTP 404")
    assert text.rstrip(".") in err.message and "exo-req-1" in err.message
    assert is_not_found(err)  # by type, or by Exchange's text when the shape has no type
    assert missing_object(err) == "nobody@contoso.com"
    assert err.to_fail_kwargs()["error"]["type"] == "ExchangeError"


def test_several_details_are_joined_after_their_last_bar(exchange_clients, script):
    exchange = exchange_clients().exchange
    script.expect("New-ManagementScope", {"Name": "x", "RecipientRestrictionFilter": "bad"}, status=400, error={
        "error": {"code": "BadRequest", "message": "Error executing cmdlet", "details": [
            {"code": "A", "message": "ExA|Microsoft.Exchange.Data.InvalidOperationException|First problem."},
            {"code": "B", "message": "Second problem."}]}})
    with pytest.raises(ExchangeError) as caught:
        exchange.invoke("New-ManagementScope", Name="x", RecipientRestrictionFilter="bad")
    assert caught.value.service_message == "First problem.; Second problem."
    assert caught.value.exception_type == "InvalidOperationException"
    assert not is_not_found(caught.value)


def test_a_non_json_error_keeps_the_text(exchange_clients, transport):
    exchange = exchange_clients().exchange
    transport.expect("POST", INVOKE, status=500, headers={"Content-Type": "text/html"})
    with pytest.raises(ExchangeError) as caught:
        exchange.invoke("Get-Mailbox")
    assert caught.value.status == 500 and caught.value.cmdlet == "Get-Mailbox"


def test_403_names_manage_as_app_and_the_exchange_administrator_role(exchange_clients, script):
    exchange = exchange_clients().exchange
    script.expect("Get-Mailbox", status=403, error=exchange_error(
        "The role assigned to application 0a1b2c3d isn't supported in this scenario.",
        code="Forbidden", exception="UnauthorizedAccessException", shape="message"))
    with pytest.raises(ExchangeError) as caught:
        exchange.invoke("Get-Mailbox")
    assert "Exchange.ManageAsApp" in caught.value.message
    assert "Exchange Administrator" in caught.value.message
    assert "isn't supported in this scenario" in caught.value.message


def test_401_is_retried_once_with_a_new_token_then_explained(exchange_clients, identity, transport, script):
    exchange = exchange_clients().exchange
    script.expect("Get-Mailbox", status=401, error={"error": {"code": "Unauthorized", "message": "Invalid audience"}})
    identity.token(claims=EXCHANGE_CLAIMS)
    script.expect("Get-Mailbox", status=401, error={"error": {"code": "Unauthorized", "message": "Invalid audience"}})
    with pytest.raises(ExchangeError) as caught:
        exchange.invoke("Get-Mailbox")
    assert "https://outlook.office365.com" in caught.value.message and "exchange_resource" in caught.value.message


@pytest.mark.parametrize("cmdlet, parameters", [("Get-Mailbox", {}), ("Add-MailboxPermission", {
    "Identity": "enaio@contoso.com", "User": "sp", "AccessRights": ["FullAccess"]})])
def test_429_is_retried_after_retry_after_for_reads_and_writes(exchange_clients, script, clock, cmdlet, parameters):
    exchange = exchange_clients().exchange
    throttled = {"error": {"code": "TooManyRequests",
                           "message": "The request was throttled: the maximum number of concurrent requests per tenant "
                                      "was reached."}}
    script.expect(cmdlet, parameters, status=429, error=throttled, headers={"Retry-After": "3"}, times=2)
    script.expect(cmdlet, parameters, rows=[{"Identity": "ok"}])

    assert exchange.invoke(cmdlet, **parameters) == [{"Identity": "ok"}]
    assert len(clock.sleeps) == 2 and all(3 <= delay <= 3.3 for delay in clock.sleeps)


def test_the_concurrency_limit_text_is_retried_whatever_the_status(exchange_clients, script, clock):
    exchange = exchange_clients().exchange
    script.expect("Get-Mailbox", status=500, error=exchange_error(
        "Server is busy: the maximum number of concurrent requests per tenant was exceeded.",
        exception="ThrottlingException", shape="internal"))
    script.expect("Get-Mailbox", rows=[])
    assert exchange.invoke("Get-Mailbox") == []
    assert len(clock.sleeps) == 1


def test_throttling_beyond_the_budget_fails_clearly(exchange_clients, script, clock):
    exchange = exchange_clients(backoff_retries=2).exchange
    script.expect("Get-Mailbox", status=429, headers={"Retry-After": "1"}, times=3,
                  error={"error": {"code": "TooManyRequests", "message": "Too many requests"}})
    with pytest.raises(ThrottledError) as caught:
        exchange.invoke("Get-Mailbox")
    assert caught.value.attempts == 3 and "backoff_retries" in caught.value.message


def test_a_read_without_answer_is_sent_again(exchange_clients, script):
    exchange = exchange_clients().exchange
    script.expect("Get-Mailbox", {"Identity": "enaio@contoso.com"},
                  raises=requests.exceptions.ConnectionError("Connection reset by peer"))
    script.expect("Get-Mailbox", {"Identity": "enaio@contoso.com"}, rows=[MAILBOX])
    assert exchange.invoke("Get-Mailbox", Identity="enaio@contoso.com") == [MAILBOX]


def test_a_write_without_answer_is_not_sent_again_blindly(exchange_clients, script):
    exchange = exchange_clients().exchange
    script.expect("Add-MailboxPermission", {"Identity": "a@contoso.com", "User": "b"},
                  raises=requests.exceptions.ConnectionError("Connection reset by peer"))
    with pytest.raises(AmbiguousWriteError):
        exchange.invoke("Add-MailboxPermission", Identity="a@contoso.com", User="b")


def test_write_reads_back_after_a_lost_answer_and_skips_what_happened(exchange_clients, transport, script):
    exchange = exchange_clients().exchange
    parameters = {"Identity": "a@contoso.com", "User": "b", "AccessRights": ["FullAccess"]}
    script.expect("Add-MailboxPermission", parameters, raises=requests.exceptions.ReadTimeout("read timed out"))
    script.expect("Get-MailboxPermission", {"Identity": "a@contoso.com", "User": "b"},
                  rows=[{"User": "b", "AccessRights": ["FullAccess"], "IsInherited": False, "Deny": False}])

    def applied():
        return bool(exchange.invoke("Get-MailboxPermission", Identity="a@contoso.com", User="b"))

    assert exchange.write("Add-MailboxPermission", applied, **parameters) == []
    assert sent_cmdlets(transport) == ["Add-MailboxPermission", "Get-MailboxPermission"]


def test_write_sends_again_when_the_read_back_shows_nothing(exchange_clients, transport, script):
    exchange = exchange_clients().exchange
    parameters = {"Identity": "a@contoso.com", "User": "b", "AccessRights": ["FullAccess"]}
    script.expect("Add-MailboxPermission", parameters, status=504, error={"error": {"code": "GatewayTimeout",
                                                                                    "message": "timeout"}})
    script.expect("Get-MailboxPermission", {"Identity": "a@contoso.com", "User": "b"}, rows=[])
    script.expect("Add-MailboxPermission", parameters, rows=[{"User": "b", "AccessRights": ["FullAccess"]}])

    rows = exchange.write("Add-MailboxPermission",
                          lambda: bool(exchange.invoke("Get-MailboxPermission", Identity="a@contoso.com", User="b")),
                          **parameters)

    assert rows == [{"User": "b", "AccessRights": ["FullAccess"]}]
    assert sent_cmdlets(transport) == ["Add-MailboxPermission", "Get-MailboxPermission", "Add-MailboxPermission"]


def test_write_keeps_reading_back_and_sending_while_answers_are_lost(exchange_clients, transport, script):
    """Each re-sent write may lose its answer too (the fault campaign met two drops in a row)."""
    exchange = exchange_clients().exchange
    parameters = {"Identity": "a@contoso.com", "User": "b", "AccessRights": ["FullAccess"]}
    for _lost in range(2):
        script.expect("Add-MailboxPermission", parameters, raises=requests.exceptions.ConnectionError("reset"))
        script.expect("Get-MailboxPermission", {"Identity": "a@contoso.com", "User": "b"}, rows=[])
    script.expect("Add-MailboxPermission", parameters, rows=[{"User": "b", "AccessRights": ["FullAccess"]}])

    rows = exchange.write("Add-MailboxPermission",
                          lambda: bool(exchange.invoke("Get-MailboxPermission", Identity="a@contoso.com", User="b")),
                          **parameters)

    assert rows == [{"User": "b", "AccessRights": ["FullAccess"]}]
    assert sent_cmdlets(transport) == ["Add-MailboxPermission", "Get-MailboxPermission"] * 2 + ["Add-MailboxPermission"]


def test_invoke_optional_turns_not_found_into_no_rows(exchange_clients, script):
    exchange = exchange_clients().exchange
    script.expect("Get-ServicePrincipal", {"Identity": "x"}, status=404, error=not_found("x"))
    assert exchange.invoke_optional("Get-ServicePrincipal", Identity="x") == []


def test_invoke_optional_passes_other_errors_on(exchange_clients, script):
    exchange = exchange_clients().exchange
    script.expect("Get-ServicePrincipal", {"Identity": "x"}, status=400, error=exchange_error(
        "A parameter cannot be found that matches parameter name 'Bogus'.", exception="ParameterBindingException"))
    with pytest.raises(ExchangeError):
        exchange.invoke_optional("Get-ServicePrincipal", Identity="x")


def test_the_request_count_includes_exchange_calls(exchange_clients, script):
    clients = exchange_clients()
    script.expect("Get-TransportConfig", rows=[{}])
    clients.exchange.invoke("Get-TransportConfig")
    assert clients.exchange.request_count == 1
    assert clients.request_count == 3  # discovery, token, cmdlet


def test_an_invocation_error_without_task_code(exchange_clients, script):
    exchange = exchange_clients().exchange
    text = "The term 'Get-Nothing' is not recognized as a name of a cmdlet, function, script file, or executable program."
    script.expect("Get-Nothing", status=400, error={"error": {
        "code": "BadRequest", "message": "Invalid Operation",
        "details": [{"code": "Client", "target": "",
                     "message": "|Microsoft.Exchange.AdminApi.CommandInvocation.CommandNotFoundException|" + text}],
        "innererror": {"message": "Invalid Operation", "type": "Microsoft.Exchange.Admin.OData.Core.ODataServiceException",
                       "internalexception": {"message": text, "type": "CommandNotFoundException"}}}})
    with pytest.raises(ExchangeError) as caught:
        exchange.invoke("Get-Nothing")
    assert caught.value.exception_type == "CommandNotFoundException" and caught.value.service_message == text
    assert not is_not_found(caught.value)
