"""Every kind of object the sandbox's Graph returns, checked against Microsoft's own Graph v1.0 schema
(../shared/reference/graph-v1.0.csdl, read by csdl.py, not by the sandbox): property names exist on
the entity type or its base types, values have the declared Edm types, nested complex values too,
and nothing extra. Also: the checker itself catches what it should, and the sandbox refuses bodies
the schema refuses."""
import base64
import hashlib

import pytest

import csdl
from graphclient import SCHEMA, assert_graph_error, body_type, certificate, unique

TYPES = ["application", "servicePrincipal", "oAuth2PermissionGrant", "appRoleAssignment", "user", "organization",
         "passwordCredential", "keyCredential", "federatedIdentityCredential", "unifiedRoleAssignment", "unifiedRoleDefinition"]


@pytest.fixture(scope="module")
def schema():
    if SCHEMA is None:
        pytest.skip("Microsoft's Graph schema is not at %s" % csdl.CSDL_PATH)
    return SCHEMA


@pytest.fixture(scope="module")
def samples(graph, schema):
    """One of each object, as the sandbox returns it from creates, reads and lists: {type: [objects]}."""
    out = {name: [] for name in TYPES}
    der = certificate("schema-check")[2]
    app = graph.new_app(uniqueName=unique("schema"), web={"redirectUris": ["https://localhost/cb"]},
                        requiredResourceAccess=[{"resourceAppId": "00000003-0000-0000-c000-000000000000",
                                                 "resourceAccess": [{"id": "258f6531-6087-4cc4-bb90-092c5fb3ed3f", "type": "Scope"}]}])
    graph.patch("/applications/%s" % app["id"], {"keyCredentials": [{"type": "AsymmetricX509Cert", "usage": "Verify", "key": der}]})
    out["passwordCredential"].append(graph.post("/applications/%s/addPassword" % app["id"],
                                                {"passwordCredential": {"displayName": "schema"}}, 200))
    read = graph.get("/applications/%s" % app["id"])
    out["application"] += [app, read, graph.get("/applications?$top=5")["value"][0]]
    out["keyCredential"] += read["keyCredentials"] + graph.get("/applications/%s?$select=keyCredentials" % app["id"])["keyCredentials"]
    out["passwordCredential"] += read["passwordCredentials"]
    out["federatedIdentityCredential"].append(graph.post("/applications/%s/federatedIdentityCredentials" % app["id"], {
        "name": "schema-check", "issuer": "https://issuer.example", "subject": "repo:x:ref:main", "audiences": ["api://AzureADTokenExchange"]}))
    sp = graph.post("/servicePrincipals", {"appId": app["appId"]})
    out["servicePrincipal"] += [sp, graph.resource(), graph.get("/servicePrincipals?$top=3")["value"][0]]
    resource = graph.resource()
    role = next((r for r in resource["appRoles"] if r["value"] == "User.Read.All"), None)
    assert role is not None, "Microsoft Graph has no User.Read.All app role"
    out["appRoleAssignment"].append(graph.post("/servicePrincipals/%s/appRoleAssignedTo" % resource["id"],
                                               {"principalId": sp["id"], "resourceId": resource["id"], "appRoleId": role["id"]}))
    out["appRoleAssignment"] += graph.get("/servicePrincipals/%s/appRoleAssignments" % sp["id"])["value"]
    out["oAuth2PermissionGrant"].append(graph.post("/oauth2PermissionGrants", {
        "clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": resource["id"], "scope": "SMTP.Send offline_access"}))
    out["oAuth2PermissionGrant"] += graph.get("/oauth2PermissionGrants?$filter=clientId eq '%s'" % sp["id"])["value"]
    users = graph.get("/users")["value"]
    out["user"] += users + [graph.get("/users/%s?$select=id,accountEnabled,userType,deletedDateTime,mail" % users[0]["id"])]
    out["organization"] += graph.get("/organization")["value"]
    definitions = graph.get("/roleManagement/directory/roleDefinitions")["value"]
    out["unifiedRoleDefinition"] += definitions
    exchange_admin = next((d for d in definitions if d["displayName"] == "Exchange Administrator"), None)
    assert exchange_admin is not None, "no Exchange Administrator role definition"
    out["unifiedRoleAssignment"].append(graph.post("/roleManagement/directory/roleAssignments", {
        "principalId": sp["id"], "roleDefinitionId": exchange_admin["id"], "directoryScopeId": "/"}))
    out["unifiedRoleAssignment"] += graph.get("/roleManagement/directory/roleAssignments")["value"]
    yield out
    graph.delete("/applications/%s" % app["id"])


@pytest.mark.parametrize("type_name", TYPES)
def test_returned_objects_match_microsofts_schema(schema, samples, type_name):
    assert samples[type_name], "no %s was collected" % type_name
    for obj in samples[type_name]:
        body = {k: v for k, v in obj.items() if not k.startswith("@odata.context")}
        assert schema.problems(type_name, body) == [], obj
        assert not any(key.startswith("_") for key in obj), "sandbox-private keys leaked: %s" % obj


def test_credentials_carry_graph_derived_values(samples):
    """customKeyIdentifier is the base64 SHA-1 thumbprint Graph derives; key only with $select; secretText only once."""
    listed, selected = samples["keyCredential"][0], samples["keyCredential"][-1]
    assert listed["key"] is None
    der = base64.b64decode(selected["key"])
    assert base64.b64decode(selected["customKeyIdentifier"]) == hashlib.sha1(der).digest()
    created, stored = samples["passwordCredential"][0], samples["passwordCredential"][1]
    assert created["secretText"] and stored["secretText"] is None and stored["hint"] == created["secretText"][:3]


def test_checker_catches_departures(schema, samples):
    """The checker has teeth: an extra property, a wrong Edm type, a bad GUID and a bad nested value are caught."""
    app = dict(samples["application"][1])
    assert schema.problems("application", dict(app, extra=1))
    assert schema.problems("application", dict(app, displayName=5))
    assert schema.problems("application", dict(app, tokenEncryptionKeyId="not-a-guid"))
    assert schema.problems("application", dict(app, web={"redirectUris": "https://x"}))
    assert schema.problems("application", dict(app, keyCredentials=[{"key": "%%%"}]))
    assert schema.problems("application", dict(app, createdDateTime="yesterday"))
    assert schema.problems("user", {"@odata.type": "#microsoft.graph.application"})
    assert schema.problems("appRoleAssignment", dict(samples["appRoleAssignment"][0], appRoleId=None))


@pytest.mark.parametrize("body, code", [
    ({"displayName": "x", "notAProperty": 1}, "Request_BadRequest"),
    ({"displayName": 5}, "BadRequest"),
    ({"displayName": "x", "web": {"redirectUri": ["https://x"]}}, "BadRequest"),
    ({"displayName": "x", "tokenEncryptionKeyId": "nope"}, "BadRequest"),
    ({"displayName": "x", "tags": "one"}, "BadRequest"),
    ({"displayName": "x", "nativeAuthenticationApisEnabled": "sometimes"}, "BadRequest"),
])
def test_sandbox_refuses_bodies_outside_the_schema(schema, graph, body, code):
    assert schema.problems("application", body)
    answer = graph.request("POST", "/applications", body, schema_check=False)
    assert_graph_error(answer, 400, code)


def test_request_bodies_of_the_tests_are_checked(schema):
    """The client refuses to send a body Graph's schema does not allow (every test's bodies go through it)."""
    assert body_type("POST", "/applications") == "application"
    assert body_type("POST", "/servicePrincipals/x/appRoleAssignedTo") == "appRoleAssignment"
    assert body_type("PATCH", "/applications(uniqueName='a')") == "application"
    assert schema.problems("oAuth2PermissionGrant", {"clientId": "a", "scope": ["SMTP.Send"]})
