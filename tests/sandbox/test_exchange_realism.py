"""Throttling and unavailability of Exchange Online's admin endpoint: 429 with Retry-After and Exchange's
text (from the core realism, and from the per-tenant limit of concurrent requests), 503 with Retry-After."""
import concurrent.futures

import pytest

from exchangeclient import assert_exchange_error


@pytest.fixture
def controls(sandbox):
    """PUT settings of the control API (/realism, /exchange/limits) for one test; each back to its defaults after."""
    changed = []

    def put(path, **settings):
        changed.append(path)
        return sandbox.control("PUT", path, settings)
    yield put
    for path in dict.fromkeys(changed):
        sandbox.control("DELETE", path)


def test_throttled_request_answers_429_with_retry_after(exo, controls, sandbox):
    controls("/realism", throttle_rate=1, retry_after=4, services=["exchange"])
    answer = exo.request("Get-Mailbox")
    error = assert_exchange_error(answer, 429, "maximum number of concurrent requests per tenant")
    assert answer.headers["Retry-After"] == "4" and error["code"] == "TooManyRequests"
    logged = [e for e in sandbox.control("GET", "/requests?entries=1")["entries"] if e["request_id"] == answer.headers["request-id"]]
    assert [(e["route"], e["status"]) for e in logged] == [("/adminapi/beta/{tenant}/InvokeCommand", 429)]
    controls("/realism", throttle_rate=0)
    assert exo.request("Get-Mailbox").status_code == 200


def test_unavailable_answers_503_with_retry_after(exo, controls):
    controls("/realism", unavailable_rate=1, retry_after=2, services=["exchange"])
    answer = exo.request("Get-TransportConfig")
    assert_exchange_error(answer, 503)
    assert answer.headers["Retry-After"] == "2"


def test_concurrent_requests_beyond_the_tenant_limit_are_429(exo, controls):
    controls("/realism", retry_after=3)
    assert controls("/exchange/limits", concurrency=2, cmdlet_ms=400) == {"concurrency": 2, "cmdlet_ms": 400}
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda _: exo.request("Get-TransportConfig"), range(5)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(200) >= 1 and statuses.count(429) >= 1, statuses
    throttled = next(a for a in answers if a.status_code == 429)
    assert_exchange_error(throttled, 429, "maximum number of concurrent requests per tenant (2)")
    assert throttled.headers["Retry-After"] == "3"


def test_limits_reject_unknown_settings(sandbox):
    answer = sandbox.session().put(sandbox.conn["control_url"] + "/exchange/limits", json={"speed": 1}, timeout=10)
    assert answer.status_code == 400
