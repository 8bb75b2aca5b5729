# -*- coding: utf-8 -*-
"""Shared Graph helpers: batched `in` lookups, waiting for reads to show a write, tolerant deletes,
resource service principals by object id."""

from __future__ import annotations

import pytest

from ansible_collections.mailauth.m365.plugins.module_utils import _graph
from ansible_collections.mailauth.m365.plugins.module_utils._errors import GraphError, ReplicationLagError
from ansible_collections.mailauth.m365.plugins.module_utils._http import wait_until
from ansible_collections.mailauth.m365.tests.unit.graph_script import graph_error, url


def test_find_in_asks_for_fifteen_values_per_request(clients, transport):
    names = ["user%02d@contoso.com" % number for number in range(16)]
    transport.expect("GET", url("users", filter="userPrincipalName in (%s)" % ", ".join("'%s'" % name for name in names[:15]),
                                select="id"), json={"value": [{"id": "a"}]})
    transport.expect("GET", url("users", filter="userPrincipalName in ('user15@contoso.com')", select="id"),
                     json={"value": [{"id": "b"}]})

    assert _graph.find_in(clients.graph, "users", "userPrincipalName", names, select="id") == [{"id": "a"}, {"id": "b"}]
    assert _graph.find_in(clients.graph, "users", "userPrincipalName", []) == []


def test_find_in_quotes_values(clients, transport):
    transport.expect("GET", url("groups", filter="displayName in ('O''Brien team')"), json={"value": []})

    assert _graph.find_in(clients.graph, "groups", "displayName", ["O'Brien team"]) == []


def test_wait_until_polls_with_growing_delays_and_gives_up_naming_what(clock):
    reads = []

    with pytest.raises(ReplicationLagError) as caught:
        wait_until(lambda: reads.append(1), lambda result: False, "The new grant", timeout=20,
                   sleep=clock.sleep, clock=clock.monotonic)

    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0]
    assert "The new grant was still not visible to reads" in str(caught.value)
    assert len(reads) == 5


def test_wait_until_returns_the_first_result_that_is_done(clock):
    answers = iter([[], [], ["grant"]])

    assert wait_until(lambda: next(answers), bool, "x", sleep=clock.sleep, clock=clock.monotonic) == (["grant"], 3.0)


def test_delete_if_exists_tolerates_only_404(clients, transport):
    transport.expect("DELETE", url("oauth2PermissionGrants/g1"), status=204)
    transport.expect("DELETE", url("oauth2PermissionGrants/g2"), status=404,
                     json=graph_error("Request_ResourceNotFound", "Resource 'g2' does not exist."))
    transport.expect("DELETE", url("oauth2PermissionGrants/g3"), status=403,
                     json=graph_error("Authorization_RequestDenied", "Insufficient privileges."))

    assert _graph.delete_if_exists(clients.graph, "oauth2PermissionGrants/g1") is True
    assert _graph.delete_if_exists(clients.graph, "oauth2PermissionGrants/g2") is False
    with pytest.raises(GraphError) as caught:
        _graph.delete_if_exists(clients.graph, "oauth2PermissionGrants/g3", permission="DelegatedPermissionGrant.ReadWrite.All")
    assert "DelegatedPermissionGrant.ReadWrite.All" in str(caught.value)


def test_resource_by_id_reads_once_and_shares_the_cache_with_resource(clients, transport):
    graph_sp = {"id": "sp-graph", "appId": _graph.GRAPH_APP_ID, "displayName": "Microsoft Graph"}
    transport.expect("GET", url("servicePrincipals/SP-GRAPH", select=_graph.SP_PERMISSION_FIELDS), json=graph_sp)
    transport.expect("GET", url("servicePrincipals/sp-gone", select=_graph.SP_PERMISSION_FIELDS), status=404,
                     json=graph_error("Request_ResourceNotFound", "Resource 'sp-gone' does not exist."))
    resolver = _graph.ResourceResolver(clients.graph, parameter="permissions")

    assert resolver.resource_by_id("SP-GRAPH") == graph_sp
    assert resolver.resource_by_id("sp-graph") == graph_sp
    assert resolver.resource("graph") == graph_sp  # known by appId now: no lookup
    assert resolver.resource_by_id("sp-gone") is None
    assert resolver.resource_by_id("sp-gone") is None
