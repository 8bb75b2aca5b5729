"""Service principals, application permissions (appRoleAssignedTo), delegated consent
(oauth2PermissionGrants), directory role assignments, users and the organization, as Graph serves
them (FACTS.md section 3)."""
from graphclient import GRAPH_APP_ID, assert_graph_error

DEFAULT_ACCESS = "00000000-0000-0000-0000-000000000000"
APP_ROLE = {"allowedMemberTypes": ["Application"], "description": "Read reports", "displayName": "Reports.Read",
            "id": "5b0c5a3e-9d4f-4d8e-9a3c-0d7e1c2b3a40", "isEnabled": True, "value": "Reports.Read"}


def test_service_principal_needs_a_real_application(graph):
    answer = graph.request("POST", "/servicePrincipals", {"appId": "0c0c0c0c-1111-4222-8333-444444444444"})
    assert_graph_error(answer, 400, "Request_BadRequest", "does not reference a valid application object")


def test_service_principal_copies_the_application_and_upserts(graph):
    app = graph.new_app(appRoles=[APP_ROLE], web={"redirectUris": ["https://reports.contoso.example/signin"]})
    path = "/servicePrincipals(appId='%s')" % app["appId"]
    assert_graph_error(graph.request("PATCH", path, {"tags": ["x"]}), 404, "Request_ResourceNotFound")
    sp = graph.patch(path, {"tags": ["WindowsAzureActiveDirectoryIntegratedApp"]}, 201, headers={"Prefer": "create-if-missing"})
    assert sp["appId"] == app["appId"] and sp["displayName"] == app["displayName"]
    assert sp["appRoles"] == [APP_ROLE] and sp["replyUrls"] == ["https://reports.contoso.example/signin"]
    assert sp["servicePrincipalType"] == "Application" and sp["appOwnerOrganizationId"] == graph.tenant["id"]
    assert graph.patch(path, {"notes": "updated"}, 204, headers={"Prefer": "create-if-missing"}) is None
    assert graph.get(path)["notes"] == "updated" and graph.get("/servicePrincipals/%s" % sp["id"])["id"] == sp["id"]
    assert_graph_error(graph.request("POST", "/servicePrincipals", {"appId": app["appId"]}), 409, "Request_MultipleObjectsWithSameKeyValue")
    found = graph.get("/servicePrincipals?$filter=appId eq '%s'&$select=id,appId" % app["appId"])["value"]
    assert found == [{"id": sp["id"], "appId": app["appId"]}]
    assert graph.get("/servicePrincipals?$filter=servicePrincipalNames/any(n:n eq 'https://graph.microsoft.com')&$select=appId")[
        "value"] == [{"appId": GRAPH_APP_ID}]


def test_resource_service_principals_publish_permission_ids(graph):
    """FACTS.md section 1: the ids modules resolve by value instead of hard-coding them."""
    graph_sp = graph.resource()
    roles = {r["value"]: r["id"] for r in graph_sp["appRoles"]}
    scopes = {s["value"]: s["id"] for s in graph_sp["oauth2PermissionScopes"]}
    assert roles["Application.ReadWrite.All"] == "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9"
    assert scopes["SMTP.Send"] == "258f6531-6087-4cc4-bb90-092c5fb3ed3f"
    exchange = graph.resource("00000002-0000-0ff1-ce00-000000000000")
    assert {r["value"]: r["id"] for r in exchange["appRoles"]}["full_access_as_app"] == "dc890d15-9560-4a4c-9b7f-a736ec74ec40"


def test_app_role_assigned_to(graph):
    app = graph.new_app()
    sp = graph.post("/servicePrincipals", {"appId": app["appId"]})
    resource = graph.resource()
    role = next(r for r in resource["appRoles"] if r["value"] == "Mail.Send")
    body = {"principalId": sp["id"], "resourceId": resource["id"], "appRoleId": role["id"]}
    created = graph.post("/servicePrincipals/%s/appRoleAssignedTo" % resource["id"], body)
    assert created["principalType"] == "ServicePrincipal" and created["resourceDisplayName"] == "Microsoft Graph"
    assert created["principalDisplayName"] == app["displayName"] and created["appRoleId"] == role["id"]
    assert created["@odata.context"].endswith("#servicePrincipals('%s')/appRoleAssignedTo/$entity" % resource["id"])
    duplicate = graph.request("POST", "/servicePrincipals/%s/appRoleAssignedTo" % resource["id"], body)
    assert_graph_error(duplicate, 400, "Request_BadRequest", "Permission being assigned already exists on the object")
    unknown = dict(body, appRoleId="0badf00d-0000-4000-8000-000000000000")
    assert_graph_error(graph.request("POST", "/servicePrincipals/%s/appRoleAssignedTo" % resource["id"], unknown), 400, "Request_BadRequest")
    nobody = dict(body, principalId="0badf00d-0000-4000-8000-000000000001")
    assert_graph_error(graph.request("POST", "/servicePrincipals/%s/appRoleAssignedTo" % resource["id"], nobody),
                       404, "Request_ResourceNotFound")
    held = graph.get("/servicePrincipals/%s/appRoleAssignments" % sp["id"])["value"]
    assert [a["id"] for a in held] == [created["id"]]
    listed = graph.get("/servicePrincipals/%s/appRoleAssignedTo?$filter=principalId eq %s" % (resource["id"], sp["id"]))["value"]
    assert [a["id"] for a in listed] == [created["id"]]
    # principalId is an Edm.Guid: OData refuses to compare it with a quoted string.
    quoted = graph.request("GET", "/servicePrincipals/%s/appRoleAssignedTo?$filter=principalId eq '%s'" % (resource["id"], sp["id"]))
    assert_graph_error(quoted, 400, "BadRequest", "incompatible types")
    graph.delete("/servicePrincipals/%s/appRoleAssignedTo/%s" % (resource["id"], created["id"]))
    assert graph.get("/servicePrincipals/%s/appRoleAssignments" % sp["id"])["value"] == []


def test_users_assigned_to_an_application_get_default_access(graph):
    """enaio step 6: users assigned to the enterprise app with appRoleId 00000000-... on its own service principal."""
    app = graph.new_app()
    sp = graph.post("/servicePrincipals", {"appId": app["appId"]})
    user = graph.get("/users/enaio@contoso.example")
    assigned = graph.post("/servicePrincipals/%s/appRoleAssignedTo" % sp["id"],
                          {"principalId": user["id"], "resourceId": sp["id"], "appRoleId": DEFAULT_ACCESS})
    assert assigned["principalType"] == "User" and assigned["principalDisplayName"] == user["displayName"]
    assert assigned["id"] in [a["id"] for a in graph.get("/users/%s/appRoleAssignments" % user["id"])["value"]]
    # A service principal cannot hold the default user access role.
    other = graph.post("/servicePrincipals", {"appId": graph.new_app()["appId"]})
    answer = graph.request("POST", "/servicePrincipals/%s/appRoleAssignedTo" % sp["id"],
                           {"principalId": other["id"], "resourceId": sp["id"], "appRoleId": DEFAULT_ACCESS})
    assert_graph_error(answer, 400, "Request_BadRequest")


def test_oauth2_permission_grants(graph):
    app = graph.new_app()
    sp = graph.post("/servicePrincipals", {"appId": app["appId"]})
    resource = graph.resource()
    body = {"clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": resource["id"], "scope": "SMTP.Send offline_access"}
    grant = graph.post("/oauth2PermissionGrants", body)
    assert grant["scope"] == "SMTP.Send offline_access" and grant["principalId"] is None
    assert grant["@odata.context"].endswith("#oauth2PermissionGrants/$entity")
    duplicate = graph.request("POST", "/oauth2PermissionGrants", dict(body, scope="IMAP.AccessAsUser.All"))
    assert duplicate.status_code in (400, 409) and "Permission entry already exists" in duplicate.json()["error"]["message"]
    query = "/oauth2PermissionGrants?$filter=clientId eq '%s' and consentType eq 'AllPrincipals' and resourceId eq '%s'" % (
        sp["id"], resource["id"])
    assert [g["id"] for g in graph.get(query)["value"]] == [grant["id"]]
    graph.patch("/oauth2PermissionGrants/%s" % grant["id"], {"scope": "SMTP.Send IMAP.AccessAsUser.All offline_access"})
    assert graph.get("/oauth2PermissionGrants/%s" % grant["id"])["scope"] == "SMTP.Send IMAP.AccessAsUser.All offline_access"
    assert [g["id"] for g in graph.get("/servicePrincipals/%s/oauth2PermissionGrants" % sp["id"])["value"]] == [grant["id"]]
    user = graph.get("/users/scanner@contoso.example")
    personal = graph.post("/oauth2PermissionGrants", dict(body, consentType="Principal", principalId=user["id"]))
    assert personal["id"] != grant["id"] and personal["principalId"] == user["id"]
    missing_user = dict(body, consentType="Principal")
    assert_graph_error(graph.request("POST", "/oauth2PermissionGrants", missing_user), 400, "Request_BadRequest")
    graph.delete("/oauth2PermissionGrants/%s" % grant["id"])
    assert_graph_error(graph.request("GET", "/oauth2PermissionGrants/%s" % grant["id"]), 404, "Request_ResourceNotFound")


def test_directory_role_assignments(graph):
    sp = graph.post("/servicePrincipals", {"appId": graph.new_app()["appId"]})
    definitions = graph.get("/roleManagement/directory/roleDefinitions?$filter=displayName eq 'Exchange Administrator'")["value"]
    assert [d["templateId"] for d in definitions] == ["29232cdf-9323-42fd-ade2-1d097af3e4de"]
    body = {"principalId": sp["id"], "roleDefinitionId": definitions[0]["id"], "directoryScopeId": "/"}
    created = graph.post("/roleManagement/directory/roleAssignments", body)
    assert created["principalOrganizationId"] == graph.tenant["id"]
    query = "/roleManagement/directory/roleAssignments?$filter=principalId eq '%s' and roleDefinitionId eq '%s'" % (
        sp["id"], definitions[0]["id"])
    assert [a["id"] for a in graph.get(query)["value"]] == [created["id"]]
    assert graph.get("/roleManagement/directory/roleAssignments/%s" % created["id"])["principalId"] == sp["id"]
    assert graph.request("POST", "/roleManagement/directory/roleAssignments", body).status_code in (400, 409)
    graph.delete("/roleManagement/directory/roleAssignments/%s" % created["id"])
    assert graph.get(query)["value"] == []


def test_users_and_organization(graph):
    admin = graph.get("/users/ADMIN@contoso.example")
    assert admin["userPrincipalName"] == "admin@contoso.example" and "accountEnabled" not in admin  # Graph's default projection
    assert graph.get("/users/%s?$select=accountEnabled,userType" % admin["id"]) == {
        "@odata.context": graph.base + "/$metadata#users(accountEnabled,userType)/$entity", "accountEnabled": True, "userType": "Member"}
    found = graph.get("/users?$filter=userPrincipalName eq 'alice@contoso.example'&$select=id,displayName")["value"]
    assert [u["displayName"] for u in found] == ["Alice Accounting"]
    assert_graph_error(graph.request("GET", "/users/nobody@contoso.example"), 404, "Request_ResourceNotFound")
    orgs = graph.get("/organization")["value"]
    assert [o["id"] for o in orgs] == [graph.tenant["id"]]
    assert {d["name"] for d in orgs[0]["verifiedDomains"]} == set(graph.tenant["domains"])
    typed = graph.get("/directoryObjects/%s" % admin["id"])
    assert typed["@odata.type"] == "#microsoft.graph.user" and typed["id"] == admin["id"]
