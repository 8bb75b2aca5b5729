"""Graph's /applications as the collection's modules use it (FACTS.md section 3): create, keys,
OData queries and paging, upsert by uniqueName, merge PATCH, secrets, certificates, federated
credentials, owners, and the clean-up when an application is deleted."""
import base64
import datetime
import time

import jwt
import pytest
from cryptography.hazmat.primitives import hashes

from graphclient import assert_graph_error, certificate, unique


def test_create_then_read_by_id_and_alternate_keys(graph):
    name = unique("keys")
    app = graph.new_app(uniqueName=name, displayName=name)
    assert app["@odata.context"].endswith("/v1.0/$metadata#applications/$entity")
    assert app["@odata.context"].startswith(graph.root)
    assert app["appId"] != app["id"] and app["uniqueName"] == name
    assert app["signInAudience"] == "AzureADMyOrg" and app["passwordCredentials"] == []
    for path in ("/applications/%s" % app["id"], "/applications(appId='%s')" % app["appId"], "/applications(uniqueName='%s')" % name):
        assert graph.get(path)["id"] == app["id"]
    selected = graph.get("/applications/%s?$select=id,displayName" % app["id"])
    assert set(selected) == {"@odata.context", "id", "displayName"}
    assert selected["@odata.context"].endswith("#applications(id,displayName)/$entity")
    assert_graph_error(graph.request("GET", "/applications/%s?$select=nope" % app["id"]), 400, "BadRequest", "nope")
    missing = graph.request("GET", "/applications(appId='%s')" % "0c0c0c0c-0000-4000-8000-000000000000")
    assert_graph_error(missing, 404, "Request_ResourceNotFound", "does not exist or one of its queried reference-property objects")


def test_filter_operators(graph):
    tag = unique("tag")
    first = graph.new_app(displayName=tag + "-alpha", identifierUris=["api://%s-alpha" % tag], tags=[tag])
    second = graph.new_app(displayName=tag + "-beta", tags=[tag, "extra"])

    def names(query, **kwargs):
        return sorted(a["displayName"] for a in graph.get("/applications?$select=displayName&$filter=" + query, **kwargs)["value"])

    assert names("displayName eq '%s'" % first["displayName"].upper()) == [first["displayName"]]  # case-insensitive
    assert names("appId eq '%s'" % second["appId"]) == [second["displayName"]]
    assert names("startswith(displayName,'%s')" % tag) == [first["displayName"], second["displayName"]]
    assert names("displayName in ('%s','nobody')" % second["displayName"]) == [second["displayName"]]
    assert names("identifierUris/any(x:x eq 'api://%s-alpha')" % tag) == [first["displayName"]]
    assert names("tags/any(t:t eq '%s') and tags/any(t:t eq 'extra')" % tag) == [second["displayName"]]
    assert names("displayName eq '%s' or appId eq '%s'" % (first["displayName"], second["appId"])) == \
        [first["displayName"], second["displayName"]]
    # ne is an "advanced query": Graph wants $count=true and ConsistencyLevel: eventual with it.
    advanced = "tags/any(t:t eq '%s') and displayName ne '%s'" % (tag, first["displayName"])
    assert_graph_error(graph.request("GET", "/applications?$filter=" + advanced), 400, "Request_UnsupportedQuery", "ne")
    page = graph.get("/applications?$count=true&$filter=" + advanced, headers={"ConsistencyLevel": "eventual"})
    assert page["@odata.count"] == 1 and page["value"][0]["id"] == second["id"]
    assert_graph_error(graph.request("GET", "/applications?$count=true"), 400, "Request_BadRequest")
    assert_graph_error(graph.request("GET", "/applications?$filter=notes eq 'x'"), 400, "Request_UnsupportedQuery")
    assert_graph_error(graph.request("GET", "/applications?$filter=displayName eq"), 400, "BadRequest")
    count = graph.request("GET", "/applications/$count?$filter=tags/any(t:t eq '%s')" % tag, headers={"ConsistencyLevel": "eventual"})
    assert count.status_code == 200 and count.text == "2"


def test_paging_follows_next_link(graph):
    tag = unique("page")
    created = {graph.new_app(tags=[tag])["id"] for index in range(5)}
    items, pages = graph.pages("/applications?$top=2&$select=id,tags&$filter=tags/any(t:t eq '%s')" % tag)
    assert pages == 3 and {a["id"] for a in items} == created
    first = graph.get("/applications?$top=2&$filter=tags/any(t:t eq '%s')" % tag)
    assert "$skiptoken=" in first["@odata.nextLink"] and first["@odata.nextLink"].startswith(graph.base + "/applications?")
    assert_graph_error(graph.request("GET", "/applications?$top=1000"), 400, "Request_BadRequest", "between 1 and 999")


def test_server_side_page_size_is_100(graph):
    existing = len(graph.pages("/applications?$select=id")[0])
    bulk = [graph.new_app(tags=["bulk"])["id"] for index in range(max(0, 101 - existing))]
    try:
        page = graph.get("/applications?$select=id")
        assert len(page["value"]) == 100 and "@odata.nextLink" in page
        assert len(graph.pages("/applications?$select=id")[0]) >= 101
    finally:
        for app_id in bulk:
            graph.delete("/applications/%s" % app_id)


def test_upsert_by_unique_name(graph):
    name = unique("upsert")
    path = "/applications(uniqueName='%s')" % name
    assert_graph_error(graph.request("PATCH", path, {"displayName": name}), 404, "Request_ResourceNotFound")
    created = graph.patch(path, {"displayName": name, "notes": "one"}, 201, headers={"Prefer": "create-if-missing"})
    assert created["uniqueName"] == name and created["@odata.context"].endswith("#applications/$entity")
    assert graph.patch(path, {"notes": "two"}, 204, headers={"Prefer": "create-if-missing"}) is None
    again = graph.get(path)
    assert again["id"] == created["id"] and again["notes"] == "two"
    assert len(graph.get("/applications?$filter=uniqueName eq '%s'" % name)["value"]) == 1
    assert_graph_error(graph.request("PATCH", path, {"uniqueName": name + "-renamed"}), 400, "Request_BadRequest", "uniqueName")
    graph.patch(path, {"uniqueName": name})  # setting the same value again is no change
    other = graph.new_app()
    assert_graph_error(graph.request("PATCH", "/applications/%s" % other["id"], {"uniqueName": name}), 400, "Request_BadRequest")


def test_patch_merges_like_graph(graph):
    app = graph.new_app(web={"redirectUris": ["https://one.example/cb"], "implicitGrantSettings": {"enableIdTokenIssuance": True}},
                        tags=["a", "b"])
    graph.patch("/applications/%s" % app["id"], {"web": {"redirectUris": ["https://two.example/cb"]}, "tags": ["c"]})
    after = graph.get("/applications/%s" % app["id"])
    assert after["web"]["redirectUris"] == ["https://two.example/cb"]  # collections are replaced
    assert after["web"]["implicitGrantSettings"]["enableIdTokenIssuance"] is True  # untouched members stay
    assert after["tags"] == ["c"] and after["displayName"] == app["displayName"]


@pytest.mark.parametrize("body, code, text", [
    ({"passwordCredentials": []}, "Request_BadRequest", "passwordCredentials"),
    ({"appId": "11111111-1111-4111-8111-111111111111"}, "Request_BadRequest", "appId"),
    ({"notAProperty": True}, "Request_BadRequest", "notAProperty"),
    ({"web": {"redirectUrls": []}}, "BadRequest", "redirectUrls"),
    ({"identifierUris": ["https://not-our-domain.example.org/api"]}, "HostNameNotOnVerifiedDomain", "verified domain"),
])
def test_patch_refuses_what_graph_refuses(graph, body, code, text):
    app = graph.new_app()
    answer = graph.request("PATCH", "/applications/%s" % app["id"], body, schema_check=False)
    assert_graph_error(answer, 400, code, text)


def test_enabled_roles_and_scopes_must_be_disabled_before_removal(graph):
    role = {"allowedMemberTypes": ["Application"], "description": "r", "displayName": "Reports.Read",
            "id": "6a3b0c1d-2e4f-4a5b-8c6d-7e8f9a0b1c2d", "isEnabled": True, "value": "Reports.Read"}
    app = graph.new_app(appRoles=[role])
    sp = graph.post("/servicePrincipals", {"appId": app["appId"]})
    path = "/applications/%s" % app["id"]
    assert_graph_error(graph.request("PATCH", path, {"appRoles": []}), 400, "CannotDeleteOrUpdateEnabledEntitlement")
    assert_graph_error(graph.request("PATCH", path, {"appRoles": [dict(role, value="Reports.ReadAll")]}), 400,
                       "CannotDeleteOrUpdateEnabledEntitlement")
    graph.patch(path, {"appRoles": [dict(role, isEnabled=False)]})
    assert graph.get("/servicePrincipals/%s?$select=appRoles" % sp["id"])["appRoles"][0]["isEnabled"] is False  # kept in step
    graph.patch(path, {"appRoles": []})
    assert graph.get("/servicePrincipals/%s?$select=appRoles" % sp["id"])["appRoles"] == []


def test_add_and_remove_password(graph):
    app, sp, first_secret = graph.identity()
    added = graph.post("/applications/%s/addPassword" % app["id"], {"passwordCredential": {"displayName": "rotated"}}, 200)
    assert added["@odata.context"].endswith("$metadata#microsoft.graph.passwordCredential")
    assert len(added["secretText"]) == 40 and added["hint"] == added["secretText"][:3]
    lifetime = datetime.datetime.fromisoformat(added["endDateTime"].replace("Z", "+00:00")) - \
        datetime.datetime.fromisoformat(added["startDateTime"].replace("Z", "+00:00"))
    assert 729 <= lifetime.days <= 731  # Graph's default: two years
    stored = graph.get("/applications/%s?$select=passwordCredentials" % app["id"])["passwordCredentials"]
    assert len(stored) == 2 and all(c["secretText"] is None for c in stored)
    assert graph.token_for(app["appId"], added["secretText"])
    graph.post("/applications/%s/removePassword" % app["id"], {"keyId": added["keyId"]}, 204)
    remaining = graph.get("/applications/%s" % app["id"])["passwordCredentials"]
    assert len(remaining) == 1 and remaining[0]["keyId"] != added["keyId"]
    refused = graph.http.post("%s/%s/oauth2/v2.0/token" % (graph.sandbox.conn["authority_host"], graph.tenant["id"]), data={
        "grant_type": "client_credentials", "client_id": app["appId"], "client_secret": added["secretText"],
        "scope": "https://graph.microsoft.com/.default"}, timeout=30)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    assert graph.token_for(app["appId"], first_secret)
    gone = graph.request("POST", "/applications/%s/removePassword" % app["id"], {"keyId": added["keyId"]})
    assert_graph_error(gone, 404, "Request_ResourceNotFound")


def test_key_credentials_via_patch(graph):
    app = graph.new_app()
    first_cert, first_der = certificate("first")[1:]
    second_der = certificate("second", days=30)[2]
    path = "/applications/%s" % app["id"]
    graph.patch(path, {"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": first_der}]})
    keys = graph.get(path + "?$select=keyCredentials")["keyCredentials"]
    assert len(keys) == 1 and keys[0]["key"] == first_der
    assert keys[0]["customKeyIdentifier"] == base64.b64encode(first_cert.fingerprint(hashes.SHA1())).decode()
    assert keys[0]["displayName"] == "CN=first"
    assert keys[0]["startDateTime"] == first_cert.not_valid_before_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert keys[0]["endDateTime"] == first_cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert graph.get(path)["keyCredentials"][0]["key"] is None  # only a $select on one object returns the key
    # PATCH replaces the list: keep the first (as GET shows it, without key) and add a second.
    existing = graph.get(path)["keyCredentials"]
    graph.patch(path, {"keyCredentials": existing + [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": second_der,
                                                      "displayName": "second cert"}]})
    keys = graph.get(path + "?$select=keyCredentials")["keyCredentials"]
    assert [k["displayName"] for k in keys] == ["CN=first", "second cert"] and keys[0]["keyId"] == existing[0]["keyId"]
    changed = [dict(keys[0], key=second_der)]
    assert_graph_error(graph.request("PATCH", path, {"keyCredentials": changed}), 400, "Request_BadRequest", "Update to existing credential")
    bad = [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": base64.b64encode(b"not a certificate").decode()}]
    assert_graph_error(graph.request("PATCH", path, {"keyCredentials": bad}), 400, "Request_BadRequest")
    graph.patch(path, {"keyCredentials": [keys[1]]})
    assert [k["displayName"] for k in graph.get(path)["keyCredentials"]] == ["second cert"]


def test_add_and_remove_key_with_proof(graph):
    app = graph.new_app()
    key, cert, der = certificate("proof-holder")
    new_der = certificate("added-by-addKey")[2]
    path = "/applications/%s" % app["id"]
    graph.patch(path, {"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": der}]})
    now = int(time.time())
    proof = jwt.encode({"aud": "00000002-0000-0000-c000-000000000000", "iss": app["id"], "nbf": now, "exp": now + 600}, key,
                       algorithm="RS256")
    body = {"keyCredential": {"type": "AsymmetricX509Cert", "usage": "Verify", "key": new_der}, "passwordCredential": None,
            "proof": proof}
    added = graph.post(path + "/addKey", body, 200, schema_check=False)
    assert added["@odata.context"].endswith("#microsoft.graph.keyCredential") and added["key"] is None
    assert len(graph.get(path)["keyCredentials"]) == 2
    stranger = certificate("stranger")[0]
    forged = jwt.encode({"aud": "00000002-0000-0000-c000-000000000000", "iss": app["id"], "nbf": now, "exp": now + 600}, stranger,
                        algorithm="RS256")
    answer = graph.request("POST", path + "/removeKey", {"keyId": added["keyId"], "proof": forged})
    assert answer.status_code in (400, 401)
    graph.post(path + "/removeKey", {"keyId": added["keyId"], "proof": proof}, 204)
    assert len(graph.get(path)["keyCredentials"]) == 1


def test_federated_identity_credentials(graph):
    app = graph.new_app()
    base = "/applications/%s/federatedIdentityCredentials" % app["id"]
    body = {"name": "ci-main", "issuer": "https://token.actions.githubusercontent.com", "subject": "repo:org/repo:ref:refs/heads/main",
            "audiences": ["api://AzureADTokenExchange"], "description": "main branch"}
    created = graph.post(base, body)
    assert created["@odata.context"].endswith("#applications('%s')/federatedIdentityCredentials/$entity" % app["id"])
    assert graph.get(base + "/" + created["id"])["name"] == "ci-main"
    assert graph.get(base + "/ci-main")["id"] == created["id"]
    assert_graph_error(graph.request("POST", base, body), 409, "Request_MultipleObjectsWithSameKeyValue")
    assert [f["id"] for f in graph.get(base + "?$filter=subject eq '%s'" % body["subject"])["value"]] == [created["id"]]
    graph.patch(base + "/" + created["id"], {"description": "changed"})
    assert graph.get(base + "/ci-main")["description"] == "changed"
    graph.delete(base + "/" + created["id"])
    assert graph.get(base)["value"] == []


def test_owners(graph):
    app = graph.new_app()
    owners = graph.get("/applications/%s/owners" % app["id"])["value"]
    assert [o["@odata.type"] for o in owners] == ["#microsoft.graph.servicePrincipal"]  # the creating app owns it
    alice = graph.get("/users/alice@contoso.example")
    ref = {"@odata.id": "%s/directoryObjects/%s" % (graph.base, alice["id"])}
    graph.post("/applications/%s/owners/$ref" % app["id"], ref, 204)
    assert alice["id"] in [o["id"] for o in graph.get("/applications/%s/owners" % app["id"])["value"]]
    again = graph.request("POST", "/applications/%s/owners/$ref" % app["id"], ref)
    assert_graph_error(again, 400, "Request_BadRequest", "already exist")
    graph.delete("/applications/%s/owners/%s/$ref" % (app["id"], alice["id"]))
    assert alice["id"] not in [o["id"] for o in graph.get("/applications/%s/owners" % app["id"])["value"]]


def test_delete_removes_service_principal_and_grants(graph):
    app = graph.new_app()
    sp = graph.post("/servicePrincipals", {"appId": app["appId"]})
    resource = graph.resource()
    grant = graph.post("/oauth2PermissionGrants", {"clientId": sp["id"], "consentType": "AllPrincipals",
                                                   "resourceId": resource["id"], "scope": "SMTP.Send"})
    role = next(r for r in resource["appRoles"] if r["value"] == "User.Read.All")
    assignment = graph.post("/servicePrincipals/%s/appRoleAssignedTo" % resource["id"],
                            {"principalId": sp["id"], "resourceId": resource["id"], "appRoleId": role["id"]})
    graph.delete("/applications/%s" % app["id"])
    for path in ("/applications/%s" % app["id"], "/servicePrincipals/%s" % sp["id"], "/oauth2PermissionGrants/%s" % grant["id"],
                 "/servicePrincipals/%s/appRoleAssignedTo/%s" % (resource["id"], assignment["id"])):
        assert_graph_error(graph.request("GET", path), 404, "Request_ResourceNotFound")
