"""OData queries as Graph answers them for the calls the modules make: $select of derived-type properties
on directory-object collections (owners), $expand of owners and app role assignments (one navigation
property, a nested $select, at most 20 items, pages of at most 100), the parameters advanced queries need,
and where a certificate's `key` and a secret's `secretText` are shown."""
import pytest

from graphclient import assert_graph_error, certificate, unique

OWNER_SELECT = "id,displayName,userPrincipalName,appId"
EVENTUAL = {"ConsistencyLevel": "eventual"}


@pytest.fixture(scope="module")
def owned(graph):
    """An application and its service principal, each owned by the automation identity (their creator) and alice."""
    tag = unique("owned")
    app = graph.new_app(tags=[tag])
    sp = graph.post("/servicePrincipals", {"appId": app["appId"]})
    alice = graph.get("/users/alice@contoso.example")
    for path in ("/applications/%s" % app["id"], "/servicePrincipals/%s" % sp["id"]):
        graph.post(path + "/owners/$ref", {"@odata.id": "%s/directoryObjects/%s" % (graph.base, alice["id"])}, 204)
    yield {"tag": tag, "app": app, "sp": sp, "alice": alice}
    graph.delete("/applications/%s" % app["id"])


def by_type(items):
    return {item["@odata.type"]: item for item in items}


@pytest.mark.parametrize("kind", ["applications", "servicePrincipals"])
def test_owners_take_select_of_properties_of_derived_types(graph, owned, kind):
    parent = owned["app"] if kind == "applications" else owned["sp"]
    page = graph.get("/%s/%s/owners?$select=%s" % (kind, parent["id"], OWNER_SELECT))
    assert page["@odata.context"].endswith("$metadata#directoryObjects(%s)" % OWNER_SELECT)
    owners = by_type(page["value"])
    # Each owner answers with the selected properties its own type has, and its @odata.type.
    user, sp = owners["#microsoft.graph.user"], owners["#microsoft.graph.servicePrincipal"]
    assert user == {"@odata.type": "#microsoft.graph.user", "id": owned["alice"]["id"], "displayName": "Alice Accounting",
                    "userPrincipalName": "alice@contoso.example"}
    assert set(sp) == {"@odata.type", "id", "displayName", "appId"} and sp["appId"] == graph.tenant["automation"]["client_id"]
    answer = graph.request("GET", "/%s/%s/owners?$select=id,notAProperty" % (kind, parent["id"]))
    assert_graph_error(answer, 400, "BadRequest", "Could not find a property named 'notAProperty' on type 'microsoft.graph.directoryObject'")


def test_directory_objects_by_ids_and_by_id(graph, owned):
    app, sp, alice = owned["app"], owned["sp"], owned["alice"]
    missing = "0c0c0c0c-2222-4333-8444-555555555555"
    body = {"ids": [alice["id"], missing, sp["id"], app["id"]]}
    found = graph.post("/directoryObjects/getByIds?$select=%s" % OWNER_SELECT, body, 200)
    assert found["@odata.context"].endswith("$metadata#directoryObjects(%s)" % OWNER_SELECT)
    assert [(o["@odata.type"], o["id"]) for o in found["value"]] == [
        ("#microsoft.graph.user", alice["id"]), ("#microsoft.graph.servicePrincipal", sp["id"]),
        ("#microsoft.graph.application", app["id"])]
    assert set(found["value"][0]) == {"@odata.type", "id", "displayName", "userPrincipalName"}
    assert set(found["value"][2]) == {"@odata.type", "id", "displayName", "appId"}
    only = graph.post("/directoryObjects/getByIds", dict(body, types=["servicePrincipal", "user"]), 200)["value"]
    assert [o["id"] for o in only] == [alice["id"], sp["id"]]
    assert_graph_error(graph.request("POST", "/directoryObjects/getByIds", {"ids": []}), 400, "Request_BadRequest", "ids")
    one = graph.get("/directoryObjects/%s?$select=id,appId,userPrincipalName" % sp["id"])
    assert one == {"@odata.context": graph.base + "/$metadata#directoryObjects(id,appId,userPrincipalName)/$entity",
                   "@odata.type": "#microsoft.graph.servicePrincipal", "id": sp["id"], "appId": sp["appId"]}


def test_expand_owners_on_application_lists_and_objects(graph, owned):
    app, alice = owned["app"], owned["alice"]
    listed = graph.get("/applications?$filter=tags/any(t:t eq '%s')&$expand=owners" % owned["tag"])
    assert listed["@odata.context"].endswith("$metadata#applications(owners())")
    [item] = listed["value"]
    assert item["id"] == app["id"] and item["displayName"] == app["displayName"]  # all properties, plus the owners
    owners = by_type(item["owners"])
    assert owners["#microsoft.graph.user"]["userPrincipalName"] == "alice@contoso.example"
    assert "accountEnabled" not in owners["#microsoft.graph.user"]  # a user's default projection, as /owners gives it
    assert owners["#microsoft.graph.servicePrincipal"]["appId"] == graph.tenant["automation"]["client_id"]

    query = "$select=id,displayName&$expand=owners($select=id,displayName,userPrincipalName)"
    selected = graph.get("/applications?$filter=tags/any(t:t eq '%s')&%s" % (owned["tag"], query))
    assert selected["@odata.context"].endswith("$metadata#applications(id,displayName,owners(id,displayName,userPrincipalName))")
    [item] = selected["value"]
    assert set(item) == {"id", "displayName", "owners"}
    owners = by_type(item["owners"])
    assert set(owners["#microsoft.graph.user"]) == {"@odata.type", "id", "displayName", "userPrincipalName"}
    assert set(owners["#microsoft.graph.servicePrincipal"]) == {"@odata.type", "id", "displayName"}

    single = graph.get("/applications/%s?$expand=owners($select=id)" % app["id"])
    assert single["@odata.context"].endswith("$metadata#applications(owners(id))/$entity")
    assert alice["id"] in [o["id"] for o in single["owners"]] and single["appId"] == app["appId"]
    by_key = graph.get("/applications(appId='%s')?$select=displayName&$expand=owners" % app["appId"])
    assert by_key["@odata.context"].endswith("$metadata#applications(displayName,owners())/$entity")
    assert set(by_key) == {"@odata.context", "displayName", "owners"} and len(by_key["owners"]) == 2


def test_expand_on_service_principals(graph, owned):
    sp = owned["sp"]
    single = graph.get("/servicePrincipals/%s?$select=id&$expand=owners($select=userPrincipalName,appId)" % sp["id"])
    assert single["@odata.context"].endswith("$metadata#servicePrincipals(id,owners(userPrincipalName,appId))/$entity")
    assert sorted(sorted(o) for o in single["owners"]) == [["@odata.type", "appId"], ["@odata.type", "userPrincipalName"]]
    listed = graph.get("/servicePrincipals?$filter=appId eq '%s'&$expand=owners($select=id)" % sp["appId"])["value"]
    assert [sorted(o["id"] for o in item["owners"]) for item in listed] == [sorted(o["id"] for o in single_owners(graph, sp))]

    # The application permissions granted on a resource, and those a principal holds.
    role = {"allowedMemberTypes": ["Application"], "description": "r", "displayName": "Jobs.Run",
            "id": "3f1d2c4b-5a6e-4f70-8a9b-0c1d2e3f4a5b", "isEnabled": True, "value": "Jobs.Run"}
    resource_app = graph.new_app(appRoles=[role])
    resource = graph.post("/servicePrincipals", {"appId": resource_app["appId"]})
    assignment = graph.post("/servicePrincipals/%s/appRoleAssignedTo" % resource["id"],
                            {"principalId": sp["id"], "resourceId": resource["id"], "appRoleId": role["id"]})
    granted = graph.get("/servicePrincipals/%s?$select=appId&$expand=appRoleAssignedTo" % resource["id"])
    assert granted["@odata.context"].endswith("$metadata#servicePrincipals(appId,appRoleAssignedTo())/$entity")
    assert [a["id"] for a in granted["appRoleAssignedTo"]] == [assignment["id"]]
    assert "@odata.type" not in granted["appRoleAssignedTo"][0]  # items of the declared type carry none
    held = graph.get("/servicePrincipals?$filter=appId eq '%s'&$expand=appRoleAssignments($select=appRoleId,resourceId)"
                     % sp["appId"])["value"][0]["appRoleAssignments"]
    assert held == [{"appRoleId": role["id"], "resourceId": resource["id"]}]
    graph.delete("/applications/%s" % resource_app["id"])


def single_owners(graph, sp):
    return graph.get("/servicePrincipals/%s/owners?$select=id" % sp["id"])["value"]


def test_expand_returns_at_most_20_items_and_pages_of_at_most_100(graph):
    tag = unique("many")
    app = graph.new_app(tags=[tag])
    created = [app["id"]]
    for index in range(21):
        other = graph.new_app(tags=[tag])
        created.append(other["id"])
        owner = graph.post("/servicePrincipals", {"appId": other["appId"]})
        graph.post("/applications/%s/owners/$ref" % app["id"], {"@odata.id": "%s/directoryObjects/%s" % (graph.base, owner["id"])}, 204)
    try:
        assert len(graph.pages("/applications/%s/owners?$select=id" % app["id"])[0]) == 22
        expanded = graph.get("/applications/%s?$select=id&$expand=owners($select=id)" % app["id"])
        assert len(expanded["owners"]) == 20 and "owners@odata.nextLink" not in expanded
        listed = graph.get("/applications?$filter=id eq '%s'&$expand=owners" % app["id"])["value"][0]
        assert len(listed["owners"]) == 20
        # With $expand a page of directory objects holds 100 at most, whatever $top asks for.
        total = len(graph.pages("/applications?$select=id")[0])
        for index in range(max(0, 101 - total)):
            created.append(graph.new_app(tags=[tag])["id"])
        page = graph.get("/applications?$top=999&$select=id&$expand=owners($select=id)")
        assert len(page["value"]) == 100
        assert "$skiptoken=" in page["@odata.nextLink"] and "$expand=owners($select=id)" in page["@odata.nextLink"]
        assert len(graph.get("/applications?$top=999&$select=id")["value"]) > 100
    finally:
        for object_id in created:
            graph.delete("/applications/%s" % object_id)


@pytest.mark.parametrize("path, status, code, text", [
    ("/servicePrincipals?$expand=owners,appRoleAssignedTo", 400, "BadRequest", "maximum allowed is 1"),
    ("/applications?$expand=displayName", 400, "BadRequest", "is not a navigation property"),
    ("/applications?$expand=appRoleAssignedTo", 400, "BadRequest", "Could not find a property named 'appRoleAssignedTo'"),
    ("/applications?$expand=tokenIssuancePolicies", 400, "Request_UnsupportedQuery", "tokenIssuancePolicies"),
    ("/applications?$expand=owners($top=1)", 400, "Request_UnsupportedQuery", "$top"),
    ("/applications?$expand=owners($select=nope)", 400, "BadRequest", "Could not find a property named 'nope'"),
    ("/applications?$expand=owners($select=id", 400, "BadRequest", "Parsing OData Select and Expand failed"),
    ("/users?$expand=manager", 400, "Request_UnsupportedQuery", "manager"),
    ("/organization?$expand=branding", 400, "Request_UnsupportedQuery", "branding"),
])
def test_unsupported_expands_are_refused(graph, path, status, code, text):
    assert_graph_error(graph.request("GET", path), status, code, text)


def test_unsupported_expand_on_a_single_object(graph, owned):
    answer = graph.request("GET", "/applications/%s?$expand=extensionProperties" % owned["app"]["id"])
    assert_graph_error(answer, 400, "Request_UnsupportedQuery", "extensionProperties")
    answer = graph.request("GET", "/users/%s?$expand=memberOf" % owned["alice"]["id"])
    assert_graph_error(answer, 400, "Request_UnsupportedQuery", "memberOf")


@pytest.mark.parametrize("query", [
    "$filter=endswith(displayName,'-two')",
    "$filter=displayName ne 'x'",
    "$filter=not(startswith(displayName,'x'))",
    "$filter=startswith(displayName,'x')&$orderby=displayName",
])
def test_advanced_queries_need_count_and_consistency_level(graph, query):
    message = "Sorting not supported" if "$orderby" in query else "ConsistencyLevel:eventual"
    assert_graph_error(graph.request("GET", "/applications?" + query), 400, "Request_UnsupportedQuery", message)
    # $count=true alone, or the header alone, is not enough: still an unsupported query, not a $count error.
    assert_graph_error(graph.request("GET", "/applications?$count=true&" + query), 400, "Request_UnsupportedQuery", message)
    assert_graph_error(graph.request("GET", "/applications?" + query, headers=EVENTUAL), 400, "Request_UnsupportedQuery")
    assert "@odata.count" in graph.get("/applications?$count=true&" + query, headers=EVENTUAL)


def test_advanced_query_answers(graph):
    tag = unique("adv")
    first, second = graph.new_app(displayName=tag + "-one", tags=[tag]), graph.new_app(displayName=tag + "-two", tags=[tag])
    ended = graph.get("/applications?$count=true&$select=id&$filter=endswith(displayName,'%s-two')" % tag, headers=EVENTUAL)
    assert ended["@odata.count"] == 1 and ended["value"] == [{"id": second["id"]}]
    ordered = graph.get("/applications?$count=true&$select=id&$orderby=displayName desc&$filter=startswith(displayName,'%s')" % tag,
                        headers=EVENTUAL)
    assert [a["id"] for a in ordered["value"]] == [second["id"], first["id"]] and ordered["@odata.count"] == 2
    assert graph.get("/applications?$select=id&$orderby=displayName")["value"]  # $orderby alone is a plain query
    assert_graph_error(graph.request("GET", "/applications?$count=true"), 400, "Request_BadRequest", "$count is not currently supported")


def test_certificate_key_only_on_a_single_object_that_selects_it(graph):
    app = graph.new_app()
    der = certificate("visibility")[2]
    graph.patch("/applications/%s" % app["id"], {"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": der}]})
    graph.post("/applications/%s/addPassword" % app["id"], {"passwordCredential": {"displayName": "visibility"}}, 200)
    sp = graph.post("/servicePrincipals", {"appId": app["appId"]})
    graph.patch("/servicePrincipals/%s" % sp["id"], {"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": der}]})

    def keys(path, **kwargs):
        body = graph.get(path, **kwargs)
        items = body["value"] if "value" in body else [body]
        return [k["key"] for item in items for k in item["keyCredentials"]]

    # Returned: a single object read with keyCredentials in its $select, by id or by alternate key.
    for path in ("/applications/%s" % app["id"], "/applications(appId='%s')" % app["appId"], "/servicePrincipals/%s" % sp["id"],
                 "/servicePrincipals(appId='%s')" % app["appId"]):
        assert keys(path + "?$select=id,keyCredentials") == [der], path
    assert keys("/applications/%s?$select=keyCredentials&$expand=owners($select=id)" % app["id"]) == [der]
    # Null everywhere else: without $select, in lists (even with $select), in directoryObjects.
    assert keys("/applications/%s" % app["id"]) == [None]
    assert keys("/applications?$filter=appId eq '%s'&$select=keyCredentials" % app["appId"]) == [None]
    assert keys("/servicePrincipals?$filter=appId eq '%s'&$select=keyCredentials" % app["appId"]) == [None]
    assert keys("/directoryObjects/%s" % app["id"]) == [None]
    # A secret's text is never read back: only addPassword's answer carries it.
    for path in ("/applications/%s?$select=passwordCredentials" % app["id"], "/applications/%s" % app["id"],
                 "/applications?$filter=appId eq '%s'&$select=passwordCredentials" % app["appId"]):
        body = graph.get(path)
        for item in body.get("value", [body]):
            assert [c["secretText"] for c in item["passwordCredentials"]] == [None], path
    graph.delete("/applications/%s" % app["id"])


def test_checker_validates_expanded_items():
    """The schema check every answer goes through (graphclient) reads nested @odata.context selections and
    checks expanded navigation properties item by item against their declared type."""
    from graphclient import SCHEMA
    if SCHEMA is None:
        pytest.skip("Microsoft's Graph schema is not available")
    context = "https://graph.example/v1.0/$metadata#applications(id,owners(id,appId))"
    assert SCHEMA.context_type(context) == ("application", True)
    owner = {"@odata.type": "#microsoft.graph.servicePrincipal", "id": "s", "appId": "x"}
    assert SCHEMA.check_answer({"@odata.context": context, "value": [{"id": "a", "owners": [owner]}]}) == []
    wrong_owners = [{"@odata.type": "#microsoft.graph.user", "appId": "x"}, {"@odata.type": "#microsoft.graph.keyCredential"}]
    bad = {"@odata.context": context, "value": [{"id": "a", "owners": wrong_owners, "appRoleAssignedTo": []}]}
    assert len(SCHEMA.check_answer(bad)) == 3
