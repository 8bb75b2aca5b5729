"""Authentication and authorization as Graph does them: 401 InvalidAuthenticationToken for a missing,
malformed or foreign-audience token; 403 Authorization_RequestDenied unless an app-only token carries
a permission the call needs, or a delegated token carries the scope AND its user holds a suitable
directory role (or owns the object)."""
import pytest

from graphclient import GraphClient, assert_graph_error, unique


@pytest.mark.parametrize("token, message", [
    ("", "Access token is empty."),
    ("not-a-jwt", "JWT is not well formed"),
    ("eyJhbGciOiJub25lIn0.eyJhdWQiOiJ4In0.", "Access token validation failure"),
])
def test_bad_tokens_get_401(graph, token, message):
    answer = graph.request("GET", "/applications", token=token)
    assert_graph_error(answer, 401, "InvalidAuthenticationToken", message)
    assert answer.headers["WWW-Authenticate"].startswith("Bearer ")


def test_exchange_token_is_not_a_graph_token(graph):
    exchange_token = graph.sandbox.app_token("contoso", "https://outlook.office365.com")
    answer = graph.request("GET", "/organization", token=exchange_token)
    assert_graph_error(answer, 401, "InvalidAuthenticationToken", "Invalid audience")


def test_app_without_the_needed_permission_gets_403(graph):
    app, sp, secret = graph.identity(graph_roles=["User.Read.All"])
    limited = GraphClient(graph.sandbox, graph.token_for(app["appId"], secret))
    assert limited.get("/users?$select=id&$top=1")["value"]  # what it was granted works
    assert_graph_error(limited.request("POST", "/applications", {"displayName": unique()}), 403,
                       "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
    assert_graph_error(limited.request("GET", "/applications"), 403, "Authorization_RequestDenied")
    assert_graph_error(limited.request("GET", "/organization"), 403, "Authorization_RequestDenied")
    assert_graph_error(limited.request("GET", "/me"), 400, "BadRequest", "/me request is only valid with delegated authentication flow")


def test_owned_by_permission_covers_only_owned_applications(graph):
    app, sp, secret = graph.identity(graph_roles=["Application.ReadWrite.OwnedBy"])
    owner = GraphClient(graph.sandbox, graph.token_for(app["appId"], secret))
    mine = owner.new_app()
    owner.patch("/applications/%s" % mine["id"], {"notes": "mine"})
    assert [a["id"] for a in owner.get("/applications?$select=id")["value"]] == [mine["id"]]
    theirs = graph.new_app()
    assert_graph_error(owner.request("PATCH", "/applications/%s" % theirs["id"], {"notes": "x"}), 403, "Authorization_RequestDenied")
    assert_graph_error(owner.request("GET", "/applications/%s" % theirs["id"]), 403, "Authorization_RequestDenied")
    assert owner.post("/servicePrincipals", {"appId": mine["appId"]})["appId"] == mine["appId"]


def test_delegated_calls_need_scope_and_directory_role(graph):
    client = graph.new_app(isFallbackPublicClient=True, publicClient={"redirectUris": ["http://localhost"]})
    client_sp = graph.post("/servicePrincipals", {"appId": client["appId"]})
    graph.post("/oauth2PermissionGrants", {"clientId": client_sp["id"], "consentType": "AllPrincipals",
                                           "resourceId": graph.resource()["id"], "scope": "User.Read Application.ReadWrite.All"})
    admin = GraphClient(graph.sandbox, graph.user_token(client["appId"], "admin@contoso.example"))
    alice = GraphClient(graph.sandbox, graph.user_token(client["appId"], "alice@contoso.example"))
    assert admin.get("/me")["userPrincipalName"] == "admin@contoso.example"
    assert alice.get("/me")["userPrincipalName"] == "alice@contoso.example"
    created = admin.new_app()  # Global Administrator with Application.ReadWrite.All
    assert_graph_error(alice.request("POST", "/applications", {"displayName": unique()}), 403, "Authorization_RequestDenied")
    assert_graph_error(alice.request("PATCH", "/applications/%s" % created["id"], {"notes": "x"}), 403, "Authorization_RequestDenied")
    assert alice.get("/applications/%s?$select=id" % created["id"])["id"] == created["id"]  # members may read
    assert_graph_error(alice.request("GET", "/users"), 403, "Authorization_RequestDenied")  # User.Read is only /me
    # An owner may change the application without an administrator role.
    alice_id = alice.get("/me")["id"]
    graph.post("/applications/%s/owners/$ref" % created["id"], {"@odata.id": "%s/directoryObjects/%s" % (graph.base, alice_id)}, 204)
    alice.patch("/applications/%s" % created["id"], {"notes": "owned by alice"})
