# -*- coding: utf-8 -*-
"""app_secret: run() against a scripted Graph (add, rotate, no-op, remove, each in normal and check mode), error
paths, and main() end to end."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import requests

from ansible_collections.mailauth.m365.plugins.module_utils._credentials import format_datetime, utc_now
from ansible_collections.mailauth.m365.plugins.module_utils._errors import (
    GraphError,
    MailauthError,
    ParameterError,
)
from ansible_collections.mailauth.m365.plugins.module_utils._module import Clients
from ansible_collections.mailauth.m365.plugins.modules import app_secret
from ansible_collections.mailauth.m365.tests.unit.graph_script import GRAPH, FakeModule, body_of, graph_error, run_main

APP_OBJECT_ID = "3b1e5a9c-7d2f-4e8a-9c6b-1f2e3d4c5b6a"
APP_ID = "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f"
SELECT = "$select=id,appId,passwordCredentials"
BY_UNIQUE_NAME = GRAPH + "/applications(uniqueName='truechem-mail')?" + SELECT
BY_APP_ID = GRAPH + "/applications(appId='%s')?%s" % (APP_ID, SELECT)
BY_OBJECT_ID = GRAPH + "/applications/%s?%s" % (APP_OBJECT_ID, SELECT)
ADD = GRAPH + "/applications/%s/addPassword" % APP_OBJECT_ID
REMOVE = GRAPH + "/applications/%s/removePassword" % APP_OBJECT_ID
NAME = "TrueChemEmailSecret"
SECRET_VALUE = "Xy7Q~new-secret-value-0123456789abcdefghij"


def params(**overrides):
    result = dict(app_id=None, unique_name="truechem-mail", app_object_id=None, display_name=NAME, state="present",
                  end_date=None, lifetime_days=None, rotate_before_days=None, remove_superseded=False, key_id=None)
    result.update(overrides)
    return result


def credential(key_id, name=NAME, ends_in_days=400, started_days_ago=30, hint="AbC"):
    now = utc_now()
    return {"customKeyIdentifier": None, "displayName": name, "hint": hint, "keyId": key_id, "secretText": None,
            "startDateTime": format_datetime(now - timedelta(days=started_days_ago)),
            "endDateTime": format_datetime(now + timedelta(days=ends_in_days))}


def application(*credentials):
    return {"id": APP_OBJECT_ID, "appId": APP_ID, "passwordCredentials": list(credentials)}


def created(key_id="new-key", name=NAME, days=730):
    return dict(credential(key_id, name, ends_in_days=days, started_days_ago=0, hint="Xy7"), secretText=SECRET_VALUE)


def body_is(expected):
    def check(sent):
        assert body_of(sent) == expected
    return check


def graph_requests(transport):
    return [sent for sent in transport.sent if sent.url.startswith(GRAPH)]


# --- create ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("check_mode", [False, True])
def test_creates_a_named_secret_and_returns_its_value_once(clients, transport, check_mode):
    transport.expect("GET", BY_UNIQUE_NAME, json=application(credential("other", name="Other app secret")))
    if not check_mode:
        transport.expect("POST", ADD, json=created())

    changed, record, diff = app_secret.run(FakeModule(params(lifetime_days=365), check_mode), clients)

    assert changed is True
    assert record["application"] == {"id": APP_OBJECT_ID, "app_id": APP_ID}
    assert record["superseded"] == [] and record["removed"] == []
    secret = record["secret"]
    assert secret["display_name"] == NAME
    if check_mode:
        assert secret["key_id"] is None and secret["value"] is None and secret["value_returned"] is False
        assert 364 <= secret["expires_in_days"] <= 365
        assert len(graph_requests(transport)) == 1
    else:
        assert secret["key_id"] == "new-key" and secret["hint"] == "Xy7"
        assert secret["value"] == SECRET_VALUE and secret["value_returned"] is True
        sent = body_of(graph_requests(transport)[1])
        assert sent["passwordCredential"]["displayName"] == NAME
        assert set(sent["passwordCredential"]) == {"displayName", "endDateTime"}
        assert sent["passwordCredential"]["endDateTime"][:10] == format_datetime(utc_now() + timedelta(days=365))[:10]
    assert diff["before"]["secrets"] == []
    assert [item["display_name"] for item in diff["after"]["secrets"]] == [NAME]
    assert SECRET_VALUE not in json.dumps(diff)


def test_default_lifetime_is_two_years_and_end_date_is_sent_as_given(clients, transport):
    transport.expect("GET", BY_UNIQUE_NAME, json=application())
    transport.expect("POST", ADD, json=created())
    end = (utc_now() + timedelta(days=100)).strftime("%Y-%m-%d")

    app_secret.run(FakeModule(params(end_date=end)), clients)

    assert body_of(graph_requests(transport)[1])["passwordCredential"]["endDateTime"] == end + "T00:00:00Z"


def test_an_expired_secret_of_the_name_is_replaced_even_without_rotation(clients, transport):
    expired = credential("old", ends_in_days=-3, started_days_ago=700)
    transport.expect("GET", BY_UNIQUE_NAME, json=application(expired))
    transport.expect("POST", ADD, json=created())

    changed, record, _diff = app_secret.run(FakeModule(params()), clients)

    assert changed is True and record["secret"]["value_returned"] is True
    assert [item["key_id"] for item in record["superseded"]] == ["old"]
    assert record["superseded"][0]["expired"] is True and record["removed"] == []


# --- no-op -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("check_mode", [False, True])
def test_a_valid_secret_of_the_name_is_left_alone_and_its_value_not_returned(clients, transport, check_mode):
    transport.expect("GET", BY_UNIQUE_NAME, json=application(credential("current", name=NAME.lower())))

    changed, record, diff = app_secret.run(
        FakeModule(params(lifetime_days=365, rotate_before_days=30), check_mode), clients)

    assert changed is False
    assert record["secret"]["key_id"] == "current"
    assert record["secret"]["value"] is None and record["secret"]["value_returned"] is False
    assert diff["before"] == diff["after"]
    assert len(graph_requests(transport)) == 1  # one read, nothing else


# --- rotation --------------------------------------------------------------------------------------
@pytest.mark.parametrize("check_mode", [False, True])
def test_rotation_adds_one_secret_and_keeps_the_old_one(clients, transport, check_mode):
    old = credential("old", ends_in_days=10, started_days_ago=355)
    transport.expect("GET", BY_APP_ID, json=application(old))
    if not check_mode:
        transport.expect("POST", ADD, json=created(days=365))

    changed, record, diff = app_secret.run(
        FakeModule(params(unique_name=None, app_id=APP_ID, rotate_before_days=30, lifetime_days=365), check_mode),
        clients)

    assert changed is True
    assert [item["key_id"] for item in record["superseded"]] == ["old"]
    assert record["removed"] == []
    assert record["secret"]["value_returned"] is (not check_mode)
    assert len(diff["after"]["secrets"]) == 2 and len(diff["before"]["secrets"]) == 1


@pytest.mark.parametrize("check_mode", [False, True])
def test_remove_superseded_removes_the_older_secrets_of_the_name_only(clients, transport, check_mode):
    older = credential("older", ends_in_days=10, started_days_ago=355)
    newer = credential("newer", ends_in_days=360, started_days_ago=5)
    other = credential("other", name="Another secret", ends_in_days=5)
    transport.expect("GET", BY_UNIQUE_NAME, json=application(newer, other, older))
    if not check_mode:
        transport.expect("POST", REMOVE, status=204, check=body_is({"keyId": "older"}))

    changed, record, diff = app_secret.run(
        FakeModule(params(rotate_before_days=30, lifetime_days=365, remove_superseded=True), check_mode), clients)

    assert changed is True
    assert record["removed"] == ["older"]
    assert record["secret"]["key_id"] == "newer" and record["superseded"] == []
    assert [item["key_id"] for item in diff["after"]["secrets"]] == ["newer"]


def test_rotation_and_removal_in_one_task_add_first_then_remove(clients, transport):
    old = credential("old", ends_in_days=10)
    transport.expect("GET", BY_UNIQUE_NAME, json=application(old))
    transport.expect("POST", ADD, json=created(days=365))
    transport.expect("POST", REMOVE, status=204)

    changed, record, _diff = app_secret.run(
        FakeModule(params(rotate_before_days=30, lifetime_days=365, remove_superseded=True)), clients)

    assert changed is True and record["removed"] == ["old"] and record["secret"]["key_id"] == "new-key"
    assert [sent.url for sent in graph_requests(transport)][1:] == [ADD, REMOVE]


@pytest.mark.parametrize("check_mode", [False, True])
def test_rotate_now_adds_a_secret_although_the_newest_is_valid(clients, transport, check_mode):
    current = credential("current", ends_in_days=729, started_days_ago=0)
    transport.expect("GET", BY_UNIQUE_NAME, json=application(current))
    if not check_mode:
        transport.expect("POST", ADD, json=created())

    changed, record, _diff = app_secret.run(FakeModule(params(rotate_now=True), check_mode), clients)

    assert changed is True
    assert record["secret"]["value_returned"] is (not check_mode)
    assert [item["key_id"] for item in record["superseded"]] == ["current"] and record["removed"] == []


def test_rotate_now_with_state_absent_is_refused(transport, make_settings):
    with pytest.raises(ParameterError, match="^Parameter rotate_now: adds a secret"):
        app_secret.run(FakeModule(params(state="absent", rotate_now=True)), Clients(make_settings()))
    assert transport.sent == []


def test_duplicate_secrets_of_one_name_the_longest_lasting_is_the_newest(clients, transport):
    first = credential("first", ends_in_days=200, started_days_ago=100)
    second = credential("second", ends_in_days=600, started_days_ago=50)
    transport.expect("GET", BY_UNIQUE_NAME, json=application(second, first))

    changed, record, _diff = app_secret.run(FakeModule(params()), clients)

    assert changed is False
    assert record["secret"]["key_id"] == "second"
    assert [item["key_id"] for item in record["superseded"]] == ["first"]


# --- absent ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("check_mode", [False, True])
def test_absent_removes_every_secret_of_the_name(clients, transport, check_mode):
    transport.expect("GET", BY_OBJECT_ID, json=application(
        credential("a", ends_in_days=10), credential("b"), credential("keep", name="Other")))
    if not check_mode:
        transport.expect("POST", REMOVE, status=204, times=2)

    changed, record, diff = app_secret.run(
        FakeModule(params(unique_name=None, app_object_id=APP_OBJECT_ID, state="absent"), check_mode), clients)

    assert changed is True
    assert record["removed"] == ["a", "b"] and record["secret"] is None
    assert diff["after"]["secrets"] == []
    if not check_mode:
        assert [body_of(sent)["keyId"] for sent in graph_requests(transport)[1:]] == ["a", "b"]


@pytest.mark.parametrize("check_mode", [False, True])
def test_absent_without_such_secret_changes_nothing(clients, transport, check_mode):
    transport.expect("GET", BY_UNIQUE_NAME, json=application(credential("keep", name="Other")))

    changed, record, _diff = app_secret.run(FakeModule(params(state="absent"), check_mode), clients)

    assert changed is False and record["removed"] == []


def test_absent_by_key_id_removes_that_one(clients, transport):
    transport.expect("GET", BY_UNIQUE_NAME, json=application(credential("a"), credential("b")))
    transport.expect("POST", REMOVE, status=204, check=body_is({"keyId": "b"}))

    changed, record, _diff = app_secret.run(
        FakeModule(params(state="absent", display_name=None, key_id="B")), clients)

    assert changed is True and record["removed"] == ["b"]


def test_absent_by_key_id_of_another_name_refuses(clients, transport):
    transport.expect("GET", BY_UNIQUE_NAME, json=application(credential("a", name="Something else")))

    with pytest.raises(ParameterError, match="key_id: a is the secret 'Something else'"):
        app_secret.run(FakeModule(params(state="absent", key_id="a")), clients)


def test_absent_when_the_application_is_gone(clients, transport):
    transport.expect("GET", BY_UNIQUE_NAME, status=404, json=graph_error("Request_ResourceNotFound", "gone"))
    module = FakeModule(params(state="absent"))

    changed, record, diff = app_secret.run(module, clients)

    assert (changed, diff, record["application"]) == (False, None, None)
    assert "no secret to remove" in module.warnings[0]


def test_remove_of_a_secret_already_gone_counts_as_removed(clients, transport):
    transport.expect("GET", BY_UNIQUE_NAME, json=application(credential("a")))
    transport.expect("POST", REMOVE, status=404, json=graph_error("Request_ResourceNotFound", "No such key"))

    changed, record, _diff = app_secret.run(FakeModule(params(state="absent")), clients)

    assert changed is True and record["removed"] == ["a"]


# --- writes whose fate is unknown, replication lag -------------------------------------------------
def test_an_ambiguous_add_is_read_back_and_a_secret_without_known_value_replaced(clients, transport):
    transport.expect("GET", BY_UNIQUE_NAME, json=application(credential("existing", name="Other")))
    transport.expect("POST", ADD, raises=requests.exceptions.ConnectionError("connection reset by peer"))
    # The read shows that the lost POST did add a secret: its value is unknown, so it goes.
    transport.expect("GET", BY_OBJECT_ID, json=application(credential("existing", name="Other"),
                                                           credential("orphan", ends_in_days=730)))
    transport.expect("POST", REMOVE, status=204, check=body_is({"keyId": "orphan"}))
    transport.expect("POST", ADD, json=created())

    changed, record, _diff = app_secret.run(FakeModule(params()), clients)

    assert changed is True
    assert record["secret"]["key_id"] == "new-key" and record["secret"]["value"] == SECRET_VALUE
    assert transport.count("POST", "/addPassword") == 2


def test_an_ambiguous_add_that_was_not_applied_is_sent_again(clients, transport):
    transport.expect("GET", BY_UNIQUE_NAME, json=application())
    transport.expect("POST", ADD, raises=requests.exceptions.ConnectionError("connection reset by peer"))
    transport.expect("GET", BY_OBJECT_ID, json=application())
    transport.expect("POST", ADD, json=created())

    changed, record, _diff = app_secret.run(FakeModule(params()), clients)

    assert changed is True and record["secret"]["value_returned"] is True


def test_replication_lag_on_add_is_waited_out(clients, transport, clock):
    transport.expect("GET", BY_UNIQUE_NAME, json=application())
    transport.expect("POST", ADD, status=404, json=graph_error(
        "Request_ResourceNotFound",
        "Resource '%s' does not exist or one of its queried reference-property objects are not present." % APP_OBJECT_ID))
    transport.expect("GET", BY_OBJECT_ID, json=application())  # nothing was added by the failed POST
    transport.expect("POST", ADD, json=created())

    changed, record, _diff = app_secret.run(FakeModule(params()), clients)

    assert changed is True and record["secret"]["value"] == SECRET_VALUE
    assert clock.sleeps == [2.0]


# --- errors ----------------------------------------------------------------------------------------
def test_forbidden_names_the_permission_and_keeps_the_request_id(clients, transport):
    transport.expect("GET", BY_UNIQUE_NAME, status=403, json=graph_error(
        "Authorization_RequestDenied", "Insufficient privileges to complete the operation.", "req-403"))

    with pytest.raises(GraphError) as caught:
        app_secret.run(FakeModule(params()), clients)

    assert "Application.ReadWrite.All" in caught.value.message and "req-403" in caught.value.message
    assert caught.value.code == "Authorization_RequestDenied"


def test_forbidden_add_fails_at_once(clients, transport, clock):
    transport.expect("GET", BY_UNIQUE_NAME, json=application())
    transport.expect("POST", ADD, status=403, json=graph_error(
        "Authorization_RequestDenied", "Insufficient privileges to complete the operation.", "req-w"))

    with pytest.raises(GraphError, match="Application.ReadWrite.All"):
        app_secret.run(FakeModule(params()), clients)
    assert clock.sleeps == []


def test_a_missing_application_names_the_option(clients, transport):
    transport.expect("GET", BY_APP_ID, status=404, json=graph_error("Request_ResourceNotFound", "missing"))

    with pytest.raises(ParameterError, match="^Parameter app_id: no application with app_id"):
        app_secret.run(FakeModule(params(unique_name=None, app_id=APP_ID)), clients)


@pytest.mark.parametrize("overrides, message", [
    (dict(lifetime_days=800), "Parameter lifetime_days: 800 days is more than 24 months"),
    (dict(lifetime_days=0), "Parameter lifetime_days: must be at least 1"),
    (dict(end_date="2020-01-01"), "Parameter end_date: 2020-01-01T00:00:00Z is in the past"),
    (dict(end_date="next tuesday"), "Parameter end_date: 'next tuesday' is not an ISO 8601"),
    (dict(end_date=format_datetime(utc_now() + timedelta(days=800))), "Parameter end_date: .* more than 24 months"),
    (dict(lifetime_days=30, rotate_before_days=30), "Parameter rotate_before_days: is 30 days, but a new secret"),
    (dict(rotate_before_days=-1), "Parameter rotate_before_days: must be 0 or more"),
    (dict(key_id="abc"), "Parameter key_id: only selects a secret to remove"),
    (dict(unique_name=None, app_object_id="not-a-guid"), "Parameter app_object_id: 'not-a-guid' is not a GUID"),
])
def test_bad_options_fail_before_any_graph_request(transport, make_settings, overrides, message):
    clients = Clients(make_settings())

    with pytest.raises(MailauthError, match=message):
        app_secret.run(FakeModule(params(**overrides)), clients)

    assert transport.sent == []


# --- main() end to end -----------------------------------------------------------------------------
def test_main_returns_the_value_but_never_puts_it_in_the_diff(identity, transport, module_args, capsys):
    identity.discovery()
    identity.token()
    transport.expect("GET", BY_UNIQUE_NAME, json=application())
    transport.expect("POST", ADD, json=created())

    args = dict(module_args, unique_name="truechem-mail", display_name=NAME, _ansible_diff=True)

    result = run_main(app_secret.main, args, capsys)

    assert result["changed"] is True
    assert result["secret"]["value"] == SECRET_VALUE
    assert SECRET_VALUE not in json.dumps(result["diff"])
    assert result["diff"]["after"]["secrets"][0]["hint"] == "Xy7"


def test_main_rejects_conflicting_options(transport, module_args, capsys):
    result = run_main(app_secret.main, dict(module_args, unique_name="x", app_id=APP_ID, display_name=NAME), capsys)
    assert result["failed"] is True and "mutually exclusive" in result["msg"]
    result = run_main(app_secret.main, dict(module_args, unique_name="x"), capsys)
    assert result["failed"] is True and "display_name" in result["msg"]
    assert transport.sent == []
