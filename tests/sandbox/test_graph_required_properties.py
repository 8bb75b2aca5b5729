"""Graph refuses to create an object without the properties it must have (400 Request_BadRequest, "Property X
value is required but is empty or missing."), and creates nothing then: applications (displayName, also
through an upsert), service principals (appId), delegated grants (clientId, consentType, resourceId), app
role assignments (principalId, resourceId, appRoleId) and directory role assignments (principalId,
roleDefinitionId, and a directoryScopeId or appScopeId)."""
import pytest

from graphclient import assert_graph_error, unique

REQUIRED = "value is required but is empty or missing"


def assert_required(answer, name):
    assert_graph_error(answer, 400, "Request_BadRequest", "Property %s %s" % (name, REQUIRED))


@pytest.mark.parametrize("body", [{}, {"displayName": ""}, {"displayName": "  "}, {"displayName": None, "notes": "x"}])
def test_application_needs_a_display_name(graph, body):
    before = len(graph.pages("/applications?$select=id")[0])
    assert_required(graph.request("POST", "/applications", body), "displayName")
    assert len(graph.pages("/applications?$select=id")[0]) == before


def test_upsert_that_creates_needs_a_display_name_and_a_rename_cannot_clear_it(graph):
    name = unique("nameless")
    path = "/applications(uniqueName='%s')" % name
    assert_required(graph.request("PATCH", path, {"notes": "x"}, headers={"Prefer": "create-if-missing"}), "displayName")
    assert_graph_error(graph.request("GET", path), 404, "Request_ResourceNotFound")
    created = graph.patch(path, {"displayName": name}, 201, headers={"Prefer": "create-if-missing"})
    for value in ("", None):
        assert_required(graph.request("PATCH", path, {"displayName": value}), "displayName")
    assert graph.get(path)["displayName"] == name
    graph.delete("/applications/%s" % created["id"])


def test_service_principal_needs_an_app_id(graph):
    for body in ({}, {"appId": ""}, {"notes": "no appId"}):
        assert_required(graph.request("POST", "/servicePrincipals", body), "appId")


@pytest.fixture(scope="module")
def principals(graph):
    app = graph.new_app()
    sp = graph.post("/servicePrincipals", {"appId": app["appId"]})
    yield sp, graph.resource()
    graph.delete("/applications/%s" % app["id"])


@pytest.mark.parametrize("missing", ["clientId", "consentType", "resourceId"])
def test_delegated_grant_needs_client_consent_type_and_resource(graph, principals, missing):
    sp, resource = principals
    body = {"clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": resource["id"], "scope": "SMTP.Send"}
    del body[missing]
    assert_required(graph.request("POST", "/oauth2PermissionGrants", body, schema_check=False), missing)
    assert graph.get("/oauth2PermissionGrants?$filter=clientId eq '%s'" % sp["id"])["value"] == []


@pytest.mark.parametrize("missing", ["principalId", "resourceId", "appRoleId"])
def test_app_role_assignment_needs_principal_resource_and_role(graph, principals, missing):
    sp, resource = principals
    role = next(r for r in resource["appRoles"] if r["value"] == "User.Read.All")
    body = {"principalId": sp["id"], "resourceId": resource["id"], "appRoleId": role["id"]}
    del body[missing]
    answer = graph.request("POST", "/servicePrincipals/%s/appRoleAssignedTo" % resource["id"], body, schema_check=False)
    assert_required(answer, missing)
    assert graph.get("/servicePrincipals/%s/appRoleAssignments" % sp["id"])["value"] == []


@pytest.mark.parametrize("missing, named", [(("principalId",), "principalId"), (("roleDefinitionId",), "roleDefinitionId"),
                                            (("directoryScopeId",), "directoryScopeId")])
def test_directory_role_assignment_needs_principal_role_and_scope(graph, principals, missing, named):
    sp = principals[0]
    definition = graph.get("/roleManagement/directory/roleDefinitions?$filter=displayName eq 'Exchange Administrator'")["value"][0]
    body = {"principalId": sp["id"], "roleDefinitionId": definition["id"], "directoryScopeId": "/"}
    for name in missing:
        del body[name]
    assert_required(graph.request("POST", "/roleManagement/directory/roleAssignments", body), named)
    query = "/roleManagement/directory/roleAssignments?$filter=principalId eq '%s'" % sp["id"]
    assert graph.get(query)["value"] == []
