"""Mailboxes and what hangs on them: Get-Mailbox (paging), FullAccess (Add-/Get-/Remove-MailboxPermission),
SendAs (Add-/Get-/Remove-RecipientPermission) and the SMTP AUTH switches: per mailbox (Set-CASMailbox, $null
= follow the tenant) and tenant-wide (Set-TransportConfig). Every test puts back what it changes."""
import pytest

from exchangeclient import ExchangeClient, assert_exchange_error

MAILBOX = "scanner@contoso.example"
UNKNOWN = "nobody@contoso.example"


# --- mailboxes -------------------------------------------------------------------------------------
def test_get_mailbox_by_any_identity(exo, graph_admin):
    user = graph_admin.get("/users/alice@contoso.example")
    box = exo.one("Get-Mailbox", Identity="alice@contoso.example")
    assert {k: box[k] for k in ("Alias", "DisplayName", "PrimarySmtpAddress", "UserPrincipalName", "ExternalDirectoryObjectId",
                                "RecipientTypeDetails")} == {
        "Alias": "alice", "DisplayName": "Alice Accounting", "PrimarySmtpAddress": "alice@contoso.example",
        "UserPrincipalName": "alice@contoso.example", "ExternalDirectoryObjectId": user["id"], "RecipientTypeDetails": "UserMailbox"}
    assert "SMTP:alice@contoso.example" in box["EmailAddresses"] and "smtp:alice@contoso.onmicrosoft.com" in box["EmailAddresses"]
    for identity in ("alice", "ALICE@contoso.onmicrosoft.com", user["id"], box["Guid"], "Alice Accounting"):
        assert exo.one("Get-Mailbox", Identity=identity)["Guid"] == box["Guid"]


def test_get_mailbox_unknown(exo):
    error = exo.fails("Get-Mailbox", 404, "The operation couldn't be performed because object '%s' couldn't be found on '" % UNKNOWN,
                      "ManagementObjectNotFoundException", Identity=UNKNOWN)
    assert error["details"][0]["message"].startswith("Ex6F9304|Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException|")


def test_paging_with_small_page_size(exo):
    everything = exo.values("Get-Mailbox", ResultSize="Unlimited")
    assert len(everything) >= 5
    body = {"ResultSize": "Unlimited"}
    answer = exo.request("Get-Mailbox", body, page_size=2)
    assert answer.headers["Preference-Applied"] == "odata.maxpagesize=2"
    pages, seen = 0, []
    while True:
        page = answer.json()
        assert answer.status_code == 200 and len(page["value"]) <= 2
        seen += [m["Alias"] for m in page["value"]]
        pages += 1
        if "@odata.nextLink" not in page:
            break
        answer = exo.request("Get-Mailbox", body, url=page["@odata.nextLink"], page_size=2)  # the same POST again
    assert seen == [m["Alias"] for m in everything] and pages == (len(everything) + 1) // 2


def test_next_link_needs_the_same_body(exo):
    first = exo.request("Get-Mailbox", {}, page_size=1).json()
    assert_exchange_error(exo.request("Get-CASMailbox", {}, url=first["@odata.nextLink"], page_size=1), 400, "skip token")


def test_result_size_and_filter(exo):
    assert len(exo.values("Get-Mailbox", ResultSize=2)) == 2
    found = exo.values("Get-Mailbox", Filter="PrimarySmtpAddress -like 'a*' -and -not (Alias -eq 'admin')")
    assert [m["Alias"] for m in found] == ["alice"]


# --- FullAccess ------------------------------------------------------------------------------------
def test_full_access_for_a_user(exo):
    try:
        added = exo.run("Add-MailboxPermission", Identity=MAILBOX, User="alice@contoso.example", AccessRights=["FullAccess"],
                        InheritanceType="All", AutoMapping=False)
        assert added["@adminapi.warnings"] == []
        assert [(p["User"], p["AccessRights"], p["Deny"], p["IsInherited"]) for p in added["value"]] == [
            ("alice@contoso.example", ["FullAccess"], False, False)]
        again = exo.run("Add-MailboxPermission", Identity=MAILBOX, User="alice@contoso.example", AccessRights=["FullAccess"])
        assert again["value"] == [] and "already present" in again["@adminapi.warnings"][0]  # a warning, not an error
        listed = exo.values("Get-MailboxPermission", Identity=MAILBOX)
        assert listed[0]["User"] == "NT AUTHORITY\\SELF"  # the built-in entry comes first, as in Exchange
        assert [p["User"] for p in listed if p["AccessRights"] == ["FullAccess"]] == ["alice@contoso.example"]
        assert len(exo.values("Get-MailboxPermission", Identity=MAILBOX, User="alice")) == 1
    finally:
        exo.run("Remove-MailboxPermission", Identity=MAILBOX, User="alice@contoso.example", AccessRights=["FullAccess"], Confirm=False)
    assert exo.values("Get-MailboxPermission", Identity=MAILBOX, User="alice@contoso.example") == []
    gone = exo.run("Remove-MailboxPermission", Identity=MAILBOX, User="alice@contoso.example", AccessRights=["FullAccess"])
    assert "because the ACE doesn't exist on the object" in gone["@adminapi.warnings"][0]


def test_full_access_for_an_application(exo, registered_app):
    sp = registered_app[1]
    exo.run("Add-MailboxPermission", Identity=MAILBOX, User=sp["id"], AccessRights="FullAccess")
    assert [p["User"] for p in exo.values("Get-MailboxPermission", Identity=MAILBOX, User=sp["id"])] == [sp["id"]]
    exo.run("Remove-MailboxPermission", Identity=MAILBOX, User=sp["id"], AccessRights="FullAccess")


def test_full_access_for_an_application_not_registered_in_exchange(exo, graph_admin):
    """Without New-ServicePrincipal, Exchange does not know the enterprise application as a trustee."""
    sp = graph_admin.identity()[1]
    exo.fails("Add-MailboxPermission", 404, "object '%s' couldn't be found" % sp["id"], Identity=MAILBOX, User=sp["id"],
              AccessRights=["FullAccess"])


@pytest.mark.parametrize("params", [{"Identity": UNKNOWN, "User": "alice@contoso.example"},
                                    {"Identity": MAILBOX, "User": UNKNOWN}])
def test_full_access_unknown_mailbox_or_trustee(exo, params):
    missing = UNKNOWN
    exo.fails("Add-MailboxPermission", 404, "object '%s' couldn't be found" % missing, "ManagementObjectNotFoundException",
              AccessRights=["FullAccess"], **params)
    exo.fails("Get-MailboxPermission", 404, "object '%s' couldn't be found" % missing, **params)


# --- SendAs ----------------------------------------------------------------------------------------
def test_send_as(exo):
    try:
        added = exo.one("Add-RecipientPermission", Identity=MAILBOX, Trustee="enaio@contoso.example", AccessRights=["SendAs"],
                        Confirm=False)
        assert (added["Trustee"], added["AccessControlType"], added["AccessRights"]) == ("enaio@contoso.example", "Allow", ["SendAs"])
        again = exo.run("Add-RecipientPermission", Identity=MAILBOX, Trustee="enaio", AccessRights=["SendAs"], Confirm=False)
        assert again["value"] == [] and "already present" in again["@adminapi.warnings"][0]
        listed = exo.values("Get-RecipientPermission", Identity=MAILBOX)
        assert ("NT AUTHORITY\\SELF", ["SendAs"]) in [(p["Trustee"], p["AccessRights"]) for p in listed]
        assert [p["Identity"] for p in exo.values("Get-RecipientPermission", Trustee="enaio@contoso.example")] == ["scanner"]
    finally:
        exo.run("Remove-RecipientPermission", Identity=MAILBOX, Trustee="enaio@contoso.example", AccessRights=["SendAs"], Confirm=False)
    assert exo.values("Get-RecipientPermission", Identity=MAILBOX, Trustee="enaio@contoso.example") == []


def test_send_as_rejects_other_rights_and_unknown_trustees(exo):
    exo.fails("Add-RecipientPermission", 400, "Specify one of the following enumerator names and try again: SendAs",
              Identity=MAILBOX, Trustee="enaio@contoso.example", AccessRights=["FullAccess"])
    exo.fails("Add-RecipientPermission", 404, "object '%s' couldn't be found" % UNKNOWN, Identity=MAILBOX, Trustee=UNKNOWN,
              AccessRights=["SendAs"])


# --- SMTP AUTH switches ----------------------------------------------------------------------------
def test_smtp_auth_per_mailbox_and_tenant(exo):
    assert exo.one("Get-CASMailbox", Identity=MAILBOX)["SmtpClientAuthenticationDisabled"] is None  # follows the tenant
    assert exo.one("Get-TransportConfig")["SmtpClientAuthenticationDisabled"] is False
    try:
        exo.run("Set-CASMailbox", Identity=MAILBOX, SmtpClientAuthenticationDisabled=False)
        assert exo.one("Get-CASMailbox", Identity=MAILBOX)["SmtpClientAuthenticationDisabled"] is False
        exo.run("Set-TransportConfig", SmtpClientAuthenticationDisabled=True)
        assert exo.one("Get-TransportConfig")["SmtpClientAuthenticationDisabled"] is True
        assert exo.one("Get-CASMailbox", Identity=MAILBOX)["SmtpClientAuthenticationDisabled"] is False  # its own switch stays
        exo.run("Set-CASMailbox", Identity=MAILBOX, SmtpClientAuthenticationDisabled=None)
        assert exo.one("Get-CASMailbox", Identity=MAILBOX)["SmtpClientAuthenticationDisabled"] is None
    finally:
        exo.run("Set-CASMailbox", Identity=MAILBOX, SmtpClientAuthenticationDisabled=None)
        exo.run("Set-TransportConfig", SmtpClientAuthenticationDisabled=False)


def test_tenant_switch_comes_from_the_seed(sandbox):
    fabrikam = ExchangeClient(sandbox, sandbox.app_token("fabrikam", "https://outlook.office365.com"), "fabrikam")
    assert fabrikam.one("Get-TransportConfig")["SmtpClientAuthenticationDisabled"] is True


def test_set_cas_mailbox_errors(exo):
    exo.fails("Set-CASMailbox", 404, "object '%s' couldn't be found" % UNKNOWN, Identity=UNKNOWN, SmtpClientAuthenticationDisabled=False)
    exo.fails("Set-TransportConfig", 400, 'Cannot convert value "" to type "System.Boolean"', SmtpClientAuthenticationDisabled=None)


def test_what_if_changes_nothing(exo):
    exo.run("Set-CASMailbox", Identity=MAILBOX, ImapEnabled=False, WhatIf=True)
    assert exo.one("Get-CASMailbox", Identity=MAILBOX)["ImapEnabled"] is True
