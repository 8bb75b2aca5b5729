"""`python -m sandbox up --extra-tenants N` (POST /_sandbox/tenants): tenants made like contoso, over the wire.

A sandbox of its own, so the shared one keeps its two tenants."""
import pytest

from conftest import SandboxProcess

EXCHANGE = "https://outlook.office365.com"


@pytest.fixture(scope="module")
def roomy(tmp_path_factory):
    proc = SandboxProcess(tmp_path_factory.mktemp("sandbox-extra"))
    proc.cli("up", "--extra-tenants", "2")
    yield proc
    proc.cli("down")


def test_extra_tenants_are_like_contoso_and_survive_a_reset(roomy):
    keys = [tenant["key"] for tenant in roomy.conn["tenants"]]
    assert keys == ["contoso", "fabrikam", "tenant001", "tenant002"]
    extra = roomy.tenant("tenant002")
    assert extra["default_domain"] == "tenant002.example" and extra["automation"]["certificate_path"]
    assert set(extra["users"]) == {upn.replace("contoso.", "tenant002.") for upn in roomy.tenant("contoso")["users"]}

    # Its automation identity signs in with its secret and may manage Exchange: the senders' mailboxes exist
    # with SMTP AUTH following the tenant, which has it on.
    token = roomy.app_token("tenant002", EXCHANGE)
    answer = roomy.session().post(
        "%s/adminapi/beta/%s/InvokeCommand" % (roomy.conn["exchange_endpoint"], extra["id"]),
        json={"CmdletInput": {"CmdletName": "Get-CASMailbox", "Parameters": {"Identity": "enaio@tenant002.example"}}},
        headers={"Authorization": "Bearer " + token}, timeout=30)
    assert answer.status_code == 200, answer.text
    transport = roomy.session().post(
        "%s/adminapi/beta/%s/InvokeCommand" % (roomy.conn["exchange_endpoint"], extra["id"]),
        json={"CmdletInput": {"CmdletName": "Get-TransportConfig", "Parameters": {}}},
        headers={"Authorization": "Bearer " + token}, timeout=30).json()["value"]
    assert transport[0]["SmtpClientAuthenticationDisabled"] is False

    # Asking again adds only what is missing; a reset keeps them, with the same ids.
    again = roomy.control("POST", "/tenants", {"extra": 3})
    assert again == {"added": ["tenant003"], "tenants": 5}
    roomy.control("POST", "/reset")
    assert roomy.tenant("tenant002")["id"] == extra["id"] and len(roomy.conn["tenants"]) == 5
    assert roomy.session().post(roomy.conn["control_url"] + "/tenants", json={"extra": "many"}, timeout=30).status_code == 400
