# -*- coding: utf-8 -*-
"""The REST client: retries, paging, re-authentication, ambiguous writes and error messages."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import requests
from urllib3.exceptions import MaxRetryError, NewConnectionError

from ansible_collections.mailauth.m365.plugins.module_utils import _http
from ansible_collections.mailauth.m365.plugins.module_utils._errors import (
    AmbiguousWriteError,
    GraphError,
    MailauthError,
    ReplicationLagError,
    ThrottledError,
    TransportError,
)
from ansible_collections.mailauth.m365.plugins.module_utils._module import Clients

GRAPH = "https://graph.microsoft.com/v1.0"


def graph_error(code, message, request_id="req-1"):
    return {"error": {"code": code, "message": message,
                      "innerError": {"request-id": request_id, "date": "2026-01-01T00:00:00"}}}


@pytest.fixture
def clients(identity, make_settings, clock):
    """Clients signed in with a client secret; the sign-in is scripted, Graph calls are up to the test."""
    def build(**params):
        identity.discovery()
        identity.token()
        return Clients(make_settings(**params), sleep=clock.sleep)
    return build


def test_get_returns_json_with_bearer_and_pinned_headers(clients, transport):
    graph = clients().graph
    transport.expect("GET", GRAPH + "/organization", json={"value": [{"id": "t"}]},
                     check=lambda sent: sent.headers["Authorization"].startswith("Bearer ey"))
    assert graph.get("/organization") == {"value": [{"id": "t"}]}
    assert transport.sent[-1].headers["Accept"] == "application/json"
    assert transport.sent[-1].headers["client-request-id"]


def test_429_honours_retry_after_then_succeeds(clients, transport, clock):
    graph = clients().graph
    transport.expect("GET", GRAPH + "/applications", status=429, headers={"Retry-After": "7"},
                     json=graph_error("TooManyRequests", "Slow down"))
    transport.expect("GET", GRAPH + "/applications", json={"value": []})

    assert graph.get("/applications") == {"value": []}
    assert len(clock.sleeps) == 1 and 7 <= clock.sleeps[0] <= 7.7


def test_retry_after_is_capped_by_backoff_max_delay(clients, transport, clock):
    graph = clients(backoff_max_delay=5).graph
    transport.expect("GET", GRAPH + "/applications", status=429, headers={"Retry-After": "120"})
    transport.expect("GET", GRAPH + "/applications", json={"value": []})
    graph.get("/applications")
    assert clock.sleeps == [5]


def test_503_retries_are_bounded(clients, transport, clock):
    graph = clients(backoff_retries=3, backoff_max_delay=4).graph
    transport.expect("GET", GRAPH + "/applications", status=503, times=4,
                     json=graph_error("serviceNotAvailable", "Try later", "req-503"))
    with pytest.raises(ThrottledError) as failure:
        graph.get("/applications")
    assert len(clock.sleeps) == 3 and all(0.5 <= delay <= 4 for delay in clock.sleeps)
    assert failure.value.attempts == 4
    assert "serviceNotAvailable" in failure.value.message and "req-503" in failure.value.message
    assert failure.value.to_fail_kwargs()["error"]["request_id"] == "req-503"


def test_504_on_post_is_ambiguous_not_retried(clients, transport, clock):
    graph = clients().graph
    transport.expect("POST", GRAPH + "/applications", status=504)
    with pytest.raises(AmbiguousWriteError):
        graph.post("/applications", {"displayName": "x"})
    assert clock.sleeps == []


def test_504_on_get_is_retried(clients, transport):
    graph = clients().graph
    transport.expect("GET", GRAPH + "/applications", status=504)
    transport.expect("GET", GRAPH + "/applications", json={"value": []})
    assert graph.get("/applications") == {"value": []}


def test_next_link_paging(clients, transport):
    graph = clients().graph
    transport.expect("GET", GRAPH + "/applications?$top=2", json={
        "value": [{"id": 1}, {"id": 2}], "@odata.nextLink": GRAPH + "/applications?$skiptoken=a"})
    transport.expect("GET", GRAPH + "/applications?$skiptoken=a", json={
        "value": [{"id": 3}], "@odata.nextLink": GRAPH + "/applications?$skiptoken=b"})
    transport.expect("GET", GRAPH + "/applications?$skiptoken=b", json={"value": []})

    assert graph.get_all("/applications", params={"$top": 2}) == [{"id": 1}, {"id": 2}, {"id": 3}]


def test_next_link_to_another_host_is_refused(clients, transport):
    graph = clients().graph
    transport.expect("GET", GRAPH + "/applications", json={
        "value": [{"id": 1}], "@odata.nextLink": "https://evil.example/v1.0/applications?$skiptoken=a"})
    with pytest.raises(MailauthError) as failure:
        graph.get_all("/applications")
    assert "evil.example" in failure.value.message


def test_401_acquires_a_new_token_once(clients, identity, transport):
    client_set = clients()
    graph = client_set.graph
    transport.expect("GET", GRAPH + "/organization", status=401, json=graph_error("InvalidAuthenticationToken", "expired"))
    fresh = identity.token(claims={"n": 2})
    transport.expect("GET", GRAPH + "/organization", json={"value": []},
                     check=lambda sent: sent.headers["Authorization"] == "Bearer " + fresh)
    assert graph.get("/organization") == {"value": []}
    assert client_set.request_count == 5  # discovery, token, 401, token, 200


def test_second_401_is_an_error(clients, identity, transport):
    graph = clients().graph
    transport.expect("GET", GRAPH + "/organization", status=401, json=graph_error("InvalidAuthenticationToken", "no"))
    identity.token()
    transport.expect("GET", GRAPH + "/organization", status=401,
                     json=graph_error("InvalidAuthenticationToken", "still no", "req-401"))
    with pytest.raises(GraphError) as failure:
        graph.get("/organization")
    assert failure.value.status == 401 and failure.value.request_id == "req-401"


def test_post_that_timed_out_is_not_resent(clients, transport, clock):
    graph = clients().graph
    transport.expect("POST", GRAPH + "/applications", raises=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(AmbiguousWriteError) as failure:
        graph.post("/applications", {"displayName": "x"})
    assert "Read the resource before sending it again" in failure.value.message
    assert clock.sleeps == []


def _refused():
    return requests.exceptions.ConnectionError(
        MaxRetryError(None, "/", reason=NewConnectionError(None, "Connection refused")))


def test_post_whose_connection_was_refused_is_retried(clients, transport):
    graph = clients().graph
    transport.expect("POST", GRAPH + "/applications", raises=_refused())
    transport.expect("POST", GRAPH + "/applications", status=201, json={"id": "new"})
    assert graph.post("/applications", {"displayName": "x"}) == {"id": "new"}


def test_get_connection_errors_are_retried_then_reported(clients, transport, clock):
    graph = clients(backoff_retries=2).graph
    transport.expect("GET", GRAPH + "/organization", times=3,
                     raises=requests.exceptions.ConnectionError("reset by peer"))
    with pytest.raises(TransportError):
        graph.get("/organization")
    assert len(clock.sleeps) == 2


def test_tls_failure_is_not_retried_and_suggests_ca_bundle(clients, transport, clock):
    graph = clients().graph
    transport.expect("GET", GRAPH + "/organization", raises=requests.exceptions.SSLError("certificate verify failed"))
    with pytest.raises(TransportError) as failure:
        graph.get("/organization")
    assert "ca_bundle" in failure.value.message and clock.sleeps == []


def test_error_message_has_code_message_and_request_id(clients, transport):
    graph = clients().graph
    transport.expect("GET", GRAPH + "/applications/x", status=404,
                     json=graph_error("Request_ResourceNotFound", "Resource 'x' does not exist", "req-404"))
    with pytest.raises(GraphError) as failure:
        graph.get("/applications/x")
    message = failure.value.message
    assert "GET %s/applications/x" % GRAPH in message
    assert "HTTP 404 Request_ResourceNotFound: Resource 'x' does not exist" in message
    assert "request-id req-404" in message
    assert failure.value.code == "Request_ResourceNotFound"


def test_forbidden_names_the_missing_permission(clients, transport):
    graph = clients().graph
    transport.expect("GET", GRAPH + "/organization", status=403,
                     json=graph_error("Authorization_RequestDenied", "Insufficient privileges", "req-403"))
    with pytest.raises(GraphError) as failure:
        graph.get("/organization", permission="Organization.Read.All")
    assert "lacks the permission Organization.Read.All" in failure.value.message
    assert failure.value.to_fail_kwargs()["error"]["required_permission"] == "Organization.Read.All"


def test_error_without_json_body_keeps_the_text(clients, transport):
    graph = clients().graph
    transport.expect("GET", GRAPH + "/organization", status=502, headers={"request-id": "hdr-1"})
    with pytest.raises(GraphError) as failure:
        graph.get("/organization")
    assert "HTTP 502" in failure.value.message and "hdr-1" in failure.value.message


def test_204_has_no_body_and_status_is_kept(clients, transport):
    graph = clients().graph
    transport.expect("PATCH", GRAPH + "/applications(uniqueName='a')", status=204)
    answer = graph.send("PATCH", "/applications(uniqueName='a')", body={"displayName": "a"},
                        headers={"Prefer": "create-if-missing"})
    assert answer.status == 204 and answer.body is None
    assert transport.sent[-1].headers["Prefer"] == "create-if-missing"


def test_parse_retry_after():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert _http.parse_retry_after("12") == 12
    assert _http.parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30
    assert _http.parse_retry_after("soon") is None
    assert _http.parse_retry_after(None) is None


def test_backoff_without_hint_grows_and_is_capped():
    assert _http.backoff_delay(0, None, 60, jitter=lambda: 1.0) == 1
    assert _http.backoff_delay(3, None, 60, jitter=lambda: 0.0) == 4
    assert _http.backoff_delay(10, None, 60, jitter=lambda: 1.0) == 60


def _failing(errors, result="done"):
    remaining = list(errors)

    def call():
        if remaining:
            raise remaining.pop(0)
        return result
    return call


def _lag_404():
    return GraphError("GET", GRAPH + "/servicePrincipals/x", 404, code="Request_ResourceNotFound",
                      message="Resource 'x' does not exist or one of its queried reference-property objects are not present.")


def test_wait_for_replication_rides_out_lag(clock):
    bad_app = GraphError("POST", GRAPH + "/servicePrincipals", 400, code="Request_BadRequest",
                         message="The appId 'x' of the service principal does not reference a valid application object.")
    call = _failing([_lag_404(), bad_app, GraphError("GET", GRAPH + "/x", 403, code="Authorization_RequestDenied")])
    result, waited = _http.wait_for_replication(call, sleep=clock.sleep, clock=clock.monotonic)
    assert result == "done"
    assert waited == sum(clock.sleeps) == 2 + 4 + 8


def test_wait_for_replication_passes_other_errors_at_once(clock):
    other = GraphError("POST", GRAPH + "/applications", 400, code="Request_BadRequest", message="Invalid value")
    with pytest.raises(GraphError):
        _http.wait_for_replication(_failing([other]), sleep=clock.sleep, clock=clock.monotonic)
    assert clock.sleeps == []


def test_wait_for_replication_gives_up_and_says_how_long(clock):
    with pytest.raises(ReplicationLagError) as failure:
        _http.wait_for_replication(_failing([_lag_404()] * 50), timeout=30, sleep=clock.sleep, clock=clock.monotonic)
    # 2 + 4 + 8 + 16 s waited; another 20 s would pass the 30 s window
    assert failure.value.waited_seconds == 30 and clock.sleeps == [2, 4, 8, 16]
    assert "5 attempts and 30 s of waiting" in failure.value.message
    assert "replication" in failure.value.message and "Request_ResourceNotFound" in failure.value.message


def test_cached_openid_configuration_is_owner_only(clients, transport, tmp_path):
    """The tenant's OpenID configuration is cached beside the token cache, 0600 like it."""
    graph = clients().graph
    transport.expect("GET", GRAPH + "/organization", json={"value": []})
    graph.get("/organization")
    cached = list((tmp_path / "cache").glob("metadata-*.json"))
    assert cached, "the sign-in read the OpenID configuration, so it is cached"
    assert {oct(path.stat().st_mode & 0o777) for path in cached} == {"0o600"}
