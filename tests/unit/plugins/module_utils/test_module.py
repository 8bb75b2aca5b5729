# -*- coding: utf-8 -*-
"""Validation of the shared connection options and the cloud table."""

from __future__ import annotations

import pytest

from ansible_collections.mailauth.m365.plugins.module_utils import _clouds
from ansible_collections.mailauth.m365.plugins.module_utils._errors import ParameterError


def parameter_error(build, **params):
    with pytest.raises(ParameterError) as failure:
        build(**params)
    return failure.value


@pytest.mark.parametrize("params, parameter", [
    (dict(cloud="custom", graph_endpoint="https://127.0.0.1:8443/graph"), "authority_host"),
    (dict(cloud="custom", authority_host="https://127.0.0.1:8443"), "graph_endpoint"),
    (dict(cloud="custom", authority_host="http://127.0.0.1:8443", graph_endpoint="https://x"), "authority_host"),
    (dict(cloud="custom", authority_host="https://127.0.0.1:99999", graph_endpoint="https://x"), "authority_host"),
    (dict(authority_host="login.microsoftonline.us"), "authority_host"),
    (dict(cloud="usgovernment", graph_endpoint="https://graph.microsoft.com"), "graph_endpoint"),
    (dict(graph_resource="https://graph.microsoft.com"), "graph_resource"),
    (dict(cloud="mars"), "cloud"),
])
def test_cloud_options_are_validated(make_settings, params, parameter):
    error = parameter_error(make_settings, **params)
    assert error.parameter == parameter
    assert error.message.startswith("Parameter %s:" % parameter)
    assert error.to_fail_kwargs()["error"]["parameter"] == parameter


def test_custom_cloud_serves_loopback_but_issues_public_audiences(make_settings):
    cloud = make_settings(cloud="custom", authority_host="127.0.0.1:8443/",
                          graph_endpoint="https://127.0.0.1:8443/graph/",
                          exchange_endpoint="https://127.0.0.1:8443/exchange").cloud
    assert cloud.authority("t") == "https://127.0.0.1:8443/t"
    assert cloud.endpoint("graph") == "https://127.0.0.1:8443/graph"
    assert cloud.endpoint("exchange") == "https://127.0.0.1:8443/exchange"
    assert cloud.scope("graph") == "https://graph.microsoft.com/.default"
    assert cloud.scope("exchange") == "https://outlook.office365.com/.default"


def test_custom_cloud_resources_can_be_overridden(make_settings):
    cloud = make_settings(cloud="custom", authority_host="https://login.test", graph_endpoint="https://graph.test",
                          graph_resource="https://graph.test/.default", exchange_resource="api://exchange.test/").cloud
    assert cloud.scope("graph") == "https://graph.test/.default"
    assert cloud.scope("exchange") == "api://exchange.test/.default"


def test_named_cloud_accepts_its_own_authority_host(make_settings):
    cloud = make_settings(cloud="usgovernment", authority_host="https://login.microsoftonline.us/").cloud
    assert cloud.graph_endpoint == "https://graph.microsoft.us"
    assert cloud.scope("exchange") == "https://outlook.office365.us/.default"
    assert cloud.smtp_host == "smtp.office365.us"


@pytest.mark.parametrize("name, graph, exchange", [
    ("public", "https://graph.microsoft.com", "https://outlook.office365.com"),
    ("dod", "https://dod-graph.microsoft.us", "https://outlook-dod.office365.us"),
    ("china", "https://microsoftgraph.chinacloudapi.cn", "https://partner.outlook.cn"),
])
def test_cloud_table(name, graph, exchange):
    cloud = _clouds.resolve_cloud(name)
    assert (cloud.graph_endpoint, cloud.exchange_endpoint) == (graph, exchange)
    assert cloud.scope("graph") == graph + "/.default"


@pytest.mark.parametrize("params, parameter", [
    (dict(tenant_id="not a tenant"), "tenant_id"),
    (dict(tenant_id=""), "tenant_id"),
    (dict(client_id="my-app"), "client_id"),
    (dict(client_id="aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeeZ"), "client_id"),
    (dict(client_certificate_path="/x.pem"), "auth_method"),
    (dict(client_secret=None), "client_secret"),
    (dict(auth_method="certificate"), "client_certificate_path"),
    (dict(auth_method="federated"), "federated_token_file"),
    (dict(ca_bundle="/no/such/ca.pem"), "ca_bundle"),
    (dict(timeout=0), "timeout"),
    (dict(backoff_retries=-1), "backoff_retries"),
])
def test_connection_options_are_validated(make_settings, params, parameter):
    assert parameter_error(make_settings, **params).parameter == parameter


def test_tenant_may_be_a_domain_and_auth_method_is_picked(make_settings, tmp_path):
    settings = make_settings(tenant_id="contoso.onmicrosoft.com")
    assert settings.auth.tenant_id == "contoso.onmicrosoft.com"
    assert settings.auth.method == "client_secret"
    assert make_settings(client_secret=None, federated_token_file="/t").auth.method == "federated"
    assert make_settings(auth_method="device_code", client_secret=None).auth.method == "device_code"


def test_explicit_auth_method_drops_other_credentials(make_settings):
    auth = make_settings(auth_method="federated", federated_token_file="/t").auth
    assert auth.client_secret is None
    assert "s3cret" not in repr(auth)


def test_verify_follows_validate_certs_and_ca_bundle(make_settings, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("pem")
    assert make_settings().verify is True
    assert make_settings(ca_bundle=str(bundle)).verify == str(bundle)
    assert make_settings(validate_certs=False, ca_bundle=str(bundle)).verify is False
