"""Who may call Exchange Online's admin endpoint (FACTS.md section 4): a token for Exchange (not Graph),
and for an app the Exchange.ManageAsApp role AND a directory role Exchange supports; plus the answers to
requests Exchange cannot run (unknown cmdlet, parameter, value) and the request log."""
import pytest

from exchangeclient import EXCHANGE_ADMIN_ROLE, ExchangeClient, assert_exchange_error, new_app_identity


def test_token_for_graph_is_401(exo, sandbox):
    answer = exo.request("Get-Mailbox", token=sandbox.app_token("contoso", "https://graph.microsoft.com"))
    assert_exchange_error(answer, 401, "The audience claim value is invalid")
    assert answer.headers["WWW-Authenticate"].startswith('Bearer client_id="00000002-0000-0ff1-ce00-000000000000"')
    assert answer.headers["x-ms-diagnostics"].startswith("2000003;")


@pytest.mark.parametrize("token", ["", "not-a-jwt"])
def test_missing_or_malformed_token_is_401(exo, token):
    answer = exo.request("Get-Mailbox", token=token)
    assert_exchange_error(answer, 401)
    assert "WWW-Authenticate" in answer.headers


def test_token_of_another_tenant_is_401(exo, sandbox):
    fabrikam = sandbox.app_token("fabrikam", "https://outlook.office365.com")
    assert_exchange_error(exo.request("Get-Mailbox", token=fabrikam), 401, "isn't the tenant the token was issued for")


def test_app_without_manage_as_app_is_403(exo, sandbox, graph_admin):
    token = new_app_identity(sandbox, graph_admin, exchange_roles=())[2]
    assert_exchange_error(exo.request("Get-Mailbox", token=token), 403, "Exchange.ManageAsApp")


def test_app_needs_a_supported_directory_role(exo, sandbox, graph_admin):
    app, sp, token = new_app_identity(sandbox, graph_admin, directory_role=None)
    error = assert_exchange_error(exo.request("Get-TransportConfig", token=token), 403,
                                  "The role assigned to application %s isn't supported in this scenario" % app["appId"])
    assert error["code"] == "Forbidden"
    # Exchange reads the role when the request comes: granting it needs no new token.
    graph_admin.post("/roleManagement/directory/roleAssignments",
                     {"principalId": sp["id"], "roleDefinitionId": EXCHANGE_ADMIN_ROLE, "directoryScopeId": "/"})
    assert exo.request("Get-TransportConfig", token=token).status_code == 200


def test_app_with_role_and_permission_may_run_cmdlets(exo, sandbox, graph_admin):
    token = new_app_identity(sandbox, graph_admin)[2]
    other = ExchangeClient(sandbox, token)
    assert other.one("Get-Mailbox", Identity="alice@contoso.example")["Alias"] == "alice"


def test_user_token_for_smtp_does_not_administer(exo, sandbox):
    """Even a Global Administrator's token is refused when it was asked for SMTP.Send, not for administration."""
    tenant = sandbox.tenant()
    answer = sandbox.session().post(
        "%s/%s/oauth2/v2.0/token" % (sandbox.conn["authority_host"], tenant["id"]),
        data={"grant_type": "password", "client_id": tenant["clients"]["desktop"]["client_id"], "username": "admin@contoso.example",
              "password": tenant["users"]["admin@contoso.example"]["password"], "scope": "https://outlook.office.com/SMTP.Send"},
        timeout=30)
    assert answer.status_code == 200, answer.text
    assert_exchange_error(exo.request("Get-Mailbox", token=answer.json()["access_token"]), 403, "SMTP.Send")


def test_unknown_cmdlet(exo):
    error = exo.fails("Get-Nonsense", 400, "The term 'Get-Nonsense' is not recognized", "CommandNotFoundException")
    assert error["details"][0]["message"].startswith("|")  # an invocation error carries no ExNNNNNN code


def test_unknown_parameter(exo):
    exo.fails("Get-Mailbox", 400, "Invalid cmdlet parameters specified. Bogus", "AmbiguousParameterSetException", Bogus=1)


def test_missing_mandatory_parameter(exo):
    exo.fails("Add-MailboxPermission", 400, "missing mandatory parameters: User AccessRights", "ParameterBindingException",
              Identity="alice@contoso.example")


def test_value_that_does_not_convert_comes_without_details(exo):
    # PowerShell takes $true/$false/1/0 for a Boolean parameter, not the string "true".
    error = exo.fails("Set-TransportConfig", 400, "Boolean parameters accept only Boolean values", "ParameterTransformationException",
                      SmtpClientAuthenticationDisabled="true")
    assert "details" not in error and error["message"] == "Invalid Operation"


def test_enum_value_names_the_valid_ones(exo):
    exo.fails("Add-MailboxPermission", 400, "Specify one of the following enumerator names and try again: ChangeOwner",
              Identity="alice@contoso.example", User="reports@contoso.example", AccessRights=["Everything"])


def test_body_without_cmdlet_input_is_400(exo):
    answer = exo.http.post(exo.url, json={"CmdletName": "Get-Mailbox"}, timeout=30,
                           headers={"Authorization": "Bearer " + exo.token})
    assert_exchange_error(answer, 400, "CmdletInput")


def test_only_post_is_served(exo):
    answer = exo.http.get(exo.url, headers={"Authorization": "Bearer " + exo.token}, timeout=30)
    assert answer.status_code == 405 and answer.headers["Allow"] == "POST"


def test_request_log_names_the_tenant(exo, sandbox):
    answer = exo.request("Get-TransportConfig")
    entries = [e for e in sandbox.control("GET", "/requests?entries=1")["entries"] if e["request_id"] == answer.headers["request-id"]]
    assert [(e["service"], e["route"], e["tenant"], e["status"]) for e in entries] == [
        ("exchange", "/adminapi/beta/{tenant}/InvokeCommand", exo.tenant["id"], 200)]
