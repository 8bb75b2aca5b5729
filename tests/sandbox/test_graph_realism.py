"""The faults automation must survive against Graph (FACTS.md section 3): replication delay after a
create, throttling with Retry-After, unavailability; and the request log that benchmarks count on."""
import time

import pytest

from graphclient import assert_graph_error, unique

DELAY = 1.5


@pytest.fixture
def realism(sandbox):
    """Change fault settings for one test; always back to none afterwards."""
    def configure(**settings):
        return sandbox.control("PUT", "/realism", settings)
    yield configure
    sandbox.control("DELETE", "/realism")


def test_replication_delay_hides_new_objects(graph, realism):
    resource = graph.resource()
    visible_app = graph.new_app()
    realism(replication_delay=DELAY)
    started = time.time()
    name = unique("replica")
    app = graph.new_app(uniqueName=name)
    sp = graph.post("/servicePrincipals", {"appId": visible_app["appId"]})
    # Reads of the new objects fail as Graph's do until replication catches up.
    assert_graph_error(graph.request("GET", "/applications/%s" % app["id"]), 404, "Request_ResourceNotFound",
                       "does not exist or one of its queried reference-property objects are not present")
    assert app["id"] not in [a["id"] for a in graph.get("/applications?$filter=uniqueName eq '%s'" % name)["value"]]
    assert_graph_error(graph.request("POST", "/servicePrincipals", {"appId": app["appId"]}), 400, "Request_BadRequest",
                       "does not reference a valid application object")
    role = next(r for r in resource["appRoles"] if r["value"] == "User.Read.All")
    assignment = {"principalId": sp["id"], "resourceId": resource["id"], "appRoleId": role["id"]}
    assert_graph_error(graph.request("POST", "/servicePrincipals/%s/appRoleAssignedTo" % resource["id"], assignment),
                       404, "Request_ResourceNotFound")
    grant = {"clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": resource["id"], "scope": "SMTP.Send"}
    assert_graph_error(graph.request("POST", "/oauth2PermissionGrants", grant), 400, "Request_BadRequest")
    # A retried upsert still finds the hidden application instead of making a second one.
    graph.patch("/applications(uniqueName='%s')" % name, {"notes": "retried"}, 204, headers={"Prefer": "create-if-missing"})
    assert time.time() - started < DELAY, "the checks above took longer than the simulated delay"
    realism(replication_delay=0)
    time.sleep(max(0.0, DELAY - (time.time() - started)) + 0.1)
    assert graph.get("/applications(uniqueName='%s')" % name)["notes"] == "retried"
    assert [a["id"] for a in graph.get("/applications?$filter=uniqueName eq '%s'" % name)["value"]] == [app["id"]]
    graph.post("/servicePrincipals/%s/appRoleAssignedTo" % resource["id"], assignment)
    graph.post("/oauth2PermissionGrants", grant)


def test_throttling_answers_429_with_retry_after(graph, realism, sandbox):
    realism(throttle_rate=1, retry_after=7)
    answer = graph.request("GET", "/applications")
    error = assert_graph_error(answer, 429, "TooManyRequests")
    assert answer.headers["Retry-After"] == "7" and error["innerError"]["code"] == "429"
    logged = [e for e in sandbox.control("GET", "/requests?entries=1")["entries"] if e["request_id"] == answer.headers["request-id"]]
    assert [(e["route"], e["status"]) for e in logged] == [("/v1.0/applications", 429)]  # counted under its endpoint


def test_unavailable_answers_503_with_retry_after(graph, realism):
    realism(unavailable_rate=1, retry_after=3)
    answer = graph.request("GET", "/organization")
    assert_graph_error(answer, 503, "serviceNotAvailable")
    assert answer.headers["Retry-After"] == "3"


def test_request_log_counts_graph_calls(graph, sandbox):
    app = graph.new_app()
    key = "graph GET /v1.0/applications/{id}"
    before = sandbox.control("GET", "/requests")["by_endpoint"].get(key, 0)
    for attempt in range(3):
        graph.get("/applications/%s" % app["id"])
    summary = sandbox.control("GET", "/requests?entries=1")
    assert summary["by_endpoint"][key] == before + 3
    mine = [e for e in summary["entries"] if e["path"] == "/v1.0/applications/%s" % app["id"]]
    assert len(mine) == 3 and {e["tenant"] for e in mine} == {graph.tenant["id"]} and {e["status"] for e in mine} == {200}
