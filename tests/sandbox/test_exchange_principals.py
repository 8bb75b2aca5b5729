"""New-/Get-/Set-/Remove-ServicePrincipal: Exchange's reference to an enterprise application, which
must be made with the SERVICE PRINCIPAL's object id (FACTS.md section 4), never the app registration's."""
import time

from graphclient import unique


def test_new_service_principal_with_the_enterprise_application_id(exo, graph_admin):
    app, sp = graph_admin.identity()[:2]
    name = unique("exo-sp")
    created = exo.one("New-ServicePrincipal", AppId=app["appId"], ObjectId=sp["id"], DisplayName=name)
    assert {k: created[k] for k in ("AppId", "ObjectId", "DisplayName", "Identity", "Name", "Id")} == {
        "AppId": app["appId"], "ObjectId": sp["id"], "DisplayName": name, "Identity": sp["id"], "Name": sp["id"], "Id": sp["id"]}
    for identity in (app["appId"], sp["id"], name):  # Identity takes the AppId, the ObjectId or the DisplayName
        assert exo.one("Get-ServicePrincipal", Identity=identity)["ObjectId"] == sp["id"]
    assert sp["id"] in [p["ObjectId"] for p in exo.values("Get-ServicePrincipal")]
    exo.run("Remove-ServicePrincipal", Identity=app["appId"])
    exo.fails("Get-ServicePrincipal", 404, "The operation couldn't be performed because object '%s' couldn't be found" % sp["id"],
              "ManagementObjectNotFoundException", Identity=sp["id"])


def test_app_registration_object_id_is_refused(exo, graph_admin):
    """The usual mistake: the Object ID from 'App registrations' instead of 'Enterprise applications'."""
    app, sp = graph_admin.identity()[:2]
    error = exo.fails("New-ServicePrincipal", 404, "object '%s' couldn't be found" % app["id"], "ManagementObjectNotFoundException",
                      AppId=app["appId"], ObjectId=app["id"], DisplayName=unique("wrong-id"))
    assert error["details"][0]["message"].startswith("Ex6F9304|")
    exo.fails("Get-ServicePrincipal", 404, Identity=app["appId"])  # nothing was registered


def test_object_id_of_another_application_is_refused(exo, graph_admin, registered_app):
    app = graph_admin.identity()[0]
    other_sp = registered_app[1]
    exo.fails("New-ServicePrincipal", 400, "doesn't match the AppId", AppId=app["appId"], ObjectId=other_sp["id"])


def test_duplicate_is_refused(exo, registered_app):
    app, sp = registered_app
    exo.fails("New-ServicePrincipal", 400, "already exists", AppId=app["appId"], ObjectId=sp["id"], DisplayName="again")


def test_missing_object_id_is_refused(exo, graph_admin):
    app = graph_admin.identity()[0]
    exo.fails("New-ServicePrincipal", 400, "missing mandatory parameters: ObjectId", AppId=app["appId"])


def test_service_id_is_the_newer_name_of_object_id(exo, graph_admin):
    app, sp = graph_admin.identity()[:2]
    assert exo.one("New-ServicePrincipal", AppId=app["appId"], ServiceId=sp["id"])["ServiceId"] == sp["id"]
    exo.run("Remove-ServicePrincipal", Identity=sp["id"])


def test_set_display_name(exo, registered_app):
    sp = registered_app[1]
    name = unique("renamed")
    exo.run("Set-ServicePrincipal", Identity=sp["id"], DisplayName=name)
    assert exo.one("Get-ServicePrincipal", Identity=name)["ObjectId"] == sp["id"]


def test_remove_unknown_is_404(exo):
    exo.fails("Remove-ServicePrincipal", 404, "couldn't be found", Identity="00000000-1111-2222-3333-444444444444")


def test_removing_it_takes_its_exchange_permissions_along(exo, registered_app):
    sp = registered_app[1]
    exo.run("Add-MailboxPermission", Identity="reports@contoso.example", User=sp["id"], AccessRights=["FullAccess"])
    exo.run("Add-RecipientPermission", Identity="reports@contoso.example", Trustee=sp["id"], AccessRights=["SendAs"], Confirm=False)
    exo.run("Remove-ServicePrincipal", Identity=sp["id"], Confirm=False)
    users = [p["User"] for p in exo.values("Get-MailboxPermission", Identity="reports@contoso.example")]
    trustees = [p["Trustee"] for p in exo.values("Get-RecipientPermission", Identity="reports@contoso.example")]
    assert sp["id"] not in users and sp["id"] not in trustees


def test_ambiguous_display_name(exo, graph_admin, registered_app):
    sp = registered_app[1]
    name = exo.one("Get-ServicePrincipal", Identity=sp["id"])["DisplayName"]
    app, other = graph_admin.identity()[:2]
    exo.run("New-ServicePrincipal", AppId=app["appId"], ObjectId=other["id"], DisplayName=name)
    try:
        exo.fails("Get-ServicePrincipal", 400, "The operation couldn't be performed because '%s' matches multiple entries." % name,
                  "ManagementObjectAmbiguousException", Identity=name)
    finally:
        exo.run("Remove-ServicePrincipal", Identity=other["id"])


def test_enterprise_application_not_yet_replicated(exo, graph_admin, sandbox):
    """Exchange sees a new enterprise application only once Entra has replicated it: retry New-ServicePrincipal."""
    app = graph_admin.new_app()
    sandbox.control("PUT", "/realism", {"replication_delay": 0.8})
    try:
        sp = graph_admin.post("/servicePrincipals", {"appId": app["appId"]})
        exo.fails("New-ServicePrincipal", 404, "object '%s' couldn't be found" % sp["id"], AppId=app["appId"], ObjectId=sp["id"])
    finally:
        sandbox.control("DELETE", "/realism")
    time.sleep(0.9)
    assert exo.one("New-ServicePrincipal", AppId=app["appId"], ObjectId=sp["id"])["ObjectId"] == sp["id"]
    exo.run("Remove-ServicePrincipal", Identity=sp["id"])
