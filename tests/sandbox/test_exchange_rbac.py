"""RBAC for Applications (management scope + application role assignment, checked with
Test-ServicePrincipalAuthorization) and the organization's EWS settings (Get-/Set-OrganizationConfig)."""
import uuid

import pytest

from graphclient import unique

SENDER = "reports@contoso.example"
OTHER = "alice@contoso.example"


@pytest.fixture
def scope(exo):
    name = unique("scope")
    exo.run("New-ManagementScope", Name=name, RecipientRestrictionFilter="PrimarySmtpAddress -eq '%s'" % SENDER)
    yield name
    for assignment in exo.values("Get-ManagementRoleAssignment"):
        if assignment["CustomResourceScope"] == name:
            exo.run("Remove-ManagementRoleAssignment", Identity=assignment["Identity"])
    exo.run("Remove-ManagementScope", Identity=name)


def test_scope_lifecycle(exo, scope):
    found = exo.one("Get-ManagementScope", Identity=scope)
    assert (found["Name"], found["ScopeRestrictionType"], found["RecipientRestrictionFilter"]) == (
        scope, "RecipientScope", "PrimarySmtpAddress -eq '%s'" % SENDER)
    assert scope in [s["Name"] for s in exo.values("Get-ManagementScope")]
    exo.fails("New-ManagementScope", 400, "already exists", Name=scope, RecipientRestrictionFilter="Alias -eq 'x'")
    exo.run("Set-ManagementScope", Identity=scope, RecipientRestrictionFilter="(CustomAttribute1 -eq 'smtp') -or (Department -eq 'Sales')")
    assert exo.one("Get-ManagementScope", Identity=scope)["RecipientRestrictionFilter"].startswith("(CustomAttribute1")


@pytest.mark.parametrize("text, message", [
    ("PrimarySmtpAddress -eq", "Invalid filter syntax"),
    ("Colour -eq 'blue'", '"Colour" is not a recognized filterable property'),
    ("(Alias -eq 'a'", "Invalid filter syntax"),
])
def test_scope_filter_errors(exo, text, message):
    exo.fails("New-ManagementScope", 400, message, Name=unique("bad-scope"), RecipientRestrictionFilter=text)


def test_app_limited_to_one_mailbox(exo, registered_app, scope):
    app, sp = registered_app
    assignment = exo.one("New-ManagementRoleAssignment", App=app["appId"], Role="Application Mail.Send", CustomResourceScope=scope)
    assert (assignment["Role"], assignment["RoleAssignee"], assignment["RoleAssigneeType"], assignment["CustomResourceScope"]) == (
        "Application Mail.Send", sp["id"], "ServicePrincipal", scope)
    exo.fails("New-ManagementRoleAssignment", 400, "already exists", App=sp["id"], Role="Application Mail.Send",
              CustomResourceScope=scope)
    listed = exo.values("Get-ManagementRoleAssignment", RoleAssignee=app["appId"])
    assert [a["Name"] for a in listed] == [assignment["Name"]]
    assert [a["Name"] for a in exo.values("Get-ManagementRoleAssignment", RoleAssignee=sp["id"], Role="Application Mail.Send")] == [
        assignment["Name"]]

    inside = exo.one("Test-ServicePrincipalAuthorization", Identity=app["appId"], Resource=SENDER)
    assert inside == {"RoleName": "Application Mail.Send", "GrantedPermissions": "Mail.Send", "AllowedResourceScope": scope,
                      "ScopeType": "CustomRecipientScope", "InScope": True}
    assert exo.one("Test-ServicePrincipalAuthorization", Identity=sp["id"], Resource=OTHER)["InScope"] is False

    # A mailbox comes into the scope when the filter says so.
    exo.run("Set-Mailbox", Identity=OTHER, CustomAttribute5="smtp-relay")
    try:
        exo.run("Set-ManagementScope", Identity=scope,
                RecipientRestrictionFilter="PrimarySmtpAddress -eq '%s' -or CustomAttribute5 -eq 'smtp-relay'" % SENDER)
        assert exo.one("Test-ServicePrincipalAuthorization", Identity=sp["id"], Resource=OTHER)["InScope"] is True
    finally:
        exo.run("Set-Mailbox", Identity=OTHER, CustomAttribute5=None)

    exo.fails("Remove-ManagementScope", 400, "used by these role assignments: %s" % assignment["Name"], Identity=scope)
    exo.run("Remove-ManagementRoleAssignment", Identity=assignment["Name"], Confirm=False)
    assert exo.values("Test-ServicePrincipalAuthorization", Identity=sp["id"], Resource=SENDER) == []


def test_role_assignment_errors(exo, registered_app, graph_admin):
    app, sp = registered_app
    exo.fails("New-ManagementRoleAssignment", 404, "object 'Application Everything' couldn't be found", App=sp["id"],
              Role="Application Everything")
    exo.fails("New-ManagementRoleAssignment", 404, "object 'no-such-scope' couldn't be found", App=sp["id"],
              Role="Application SMTP.SendAsApp", CustomResourceScope="no-such-scope")
    unregistered, other = graph_admin.identity()[:2]
    exo.fails("New-ManagementRoleAssignment", 404, "object '%s' couldn't be found" % unregistered["appId"],
              App=unregistered["appId"], Role="Application Mail.Send")
    exo.fails("Test-ServicePrincipalAuthorization", 404, "object 'nobody@contoso.example' couldn't be found", Identity=sp["id"],
              Resource="nobody@contoso.example")
    exo.fails("Remove-ManagementRoleAssignment", 404, "couldn't be found", Identity=unique("no-assignment"))


def test_organization_wide_assignment_covers_every_mailbox(exo, registered_app):
    sp = registered_app[1]
    assignment = exo.one("New-ManagementRoleAssignment", App=sp["id"], Role="Application SMTP.SendAsApp", Name=unique("org-wide"))
    try:
        row = exo.one("Test-ServicePrincipalAuthorization", Identity=sp["id"], Resource=OTHER)
        assert (row["GrantedPermissions"], row["ScopeType"], row["InScope"]) == ("SMTP.SendAsApp", "Organization", True)
    finally:
        exo.run("Remove-ManagementRoleAssignment", Identity=assignment["Identity"])


# --- organization config: the EWS application allow list ------------------------------------------------
def test_ews_application_allow_list(exo):
    before = exo.one("Get-OrganizationConfig")  # other tests of this sandbox may have put their apps on the list
    assert before["Identity"] == "contoso.onmicrosoft.com" and isinstance(before["EwsAllowedAppIDs"], list)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    try:
        exo.run("Set-OrganizationConfig", EwsAllowedAppIDs=[first], EwsApplicationAccessPolicy="EnforceAllowList")
        config = exo.one("Get-OrganizationConfig")
        assert (config["EwsAllowedAppIDs"], config["EwsApplicationAccessPolicy"]) == ([first], "EnforceAllowList")
        exo.run("Set-OrganizationConfig", EwsAllowedAppIDs=[second])  # a write replaces the whole list
        assert exo.one("Get-OrganizationConfig")["EwsAllowedAppIDs"] == [second]
        exo.run("Set-OrganizationConfig", EwsAllowedAppIDs={"Add": [first], "Remove": [second]})  # @{Add=...; Remove=...}
        assert exo.one("Get-OrganizationConfig")["EwsAllowedAppIDs"] == [first]
        exo.fails("Set-OrganizationConfig", 400, "isn't a valid application ID", EwsAllowedAppIDs=["not-a-guid"])
        exo.fails("Set-OrganizationConfig", 400, "EnforceAllowList, EnforceBlockList", EwsApplicationAccessPolicy="AllowAll")
    finally:
        exo.run("Set-OrganizationConfig", EwsAllowedAppIDs=before["EwsAllowedAppIDs"],
                EwsApplicationAccessPolicy=before.get("EwsApplicationAccessPolicy"))
    assert exo.one("Get-OrganizationConfig")["EwsAllowedAppIDs"] == before["EwsAllowedAppIDs"]
