"""Fixtures that start a real sandbox process and talk to it over HTTPS, as clients do.

Tests here never import the sandbox's internals to check its answers: they see only what goes over
the wire (and the control API, which is part of the wire contract)."""
import json
import os
import subprocess
import sys

import pytest
import requests

from exchangeclient import EXCHANGE_RESOURCE, ExchangeClient
from graphclient import GraphClient, unique
from mailclient import Mail, Tenant

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class SandboxProcess:
    def __init__(self, state_dir):
        self.state_dir = str(state_dir)

    def cli(self, *args):
        return subprocess.run([sys.executable, "-m", "sandbox", "--state-dir", self.state_dir, *args],
                              cwd=ROOT, check=True, capture_output=True, text=True, timeout=120)

    @property
    def conn(self):
        with open(os.path.join(self.state_dir, "connection.json"), encoding="utf-8") as handle:
            return json.load(handle)

    def tenant(self, key="contoso"):
        return next(t for t in self.conn["tenants"] if t["key"] == key)

    def session(self):
        """A requests session that trusts only the sandbox CA (REQUESTS_CA_BUNDLE must not win)."""
        session = requests.Session()
        session.verify = self.conn["ca_bundle"]
        session.trust_env = False
        return session

    def control(self, method, path, body=None):
        answer = self.session().request(method, self.conn["control_url"] + path, json=body, timeout=30)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def reset(self):
        self.control("POST", "/reset")
        self.control("DELETE", "/realism")

    def app_token(self, tenant_key="contoso", resource="https://graph.microsoft.com"):
        """Client-credentials token of the tenant's automation identity, by a plain form POST."""
        tenant = self.tenant(tenant_key)
        answer = self.session().post(
            "%s/%s/oauth2/v2.0/token" % (self.conn["authority_host"], tenant["id"]),
            data={"grant_type": "client_credentials", "client_id": tenant["automation"]["client_id"],
                  "client_secret": tenant["automation"]["client_secret"], "scope": resource + "/.default"},
            timeout=30)
        answer.raise_for_status()
        return answer.json()["access_token"]


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    proc = SandboxProcess(tmp_path_factory.mktemp("sandbox-state"))
    proc.cli("up")
    yield proc
    proc.cli("down")


# --- clients shared by the test modules (module scope: one of each per test module) ----------------
@pytest.fixture(scope="module")
def graph(sandbox):
    """Graph as the contoso automation identity (app-only, Application.ReadWrite.All and friends)."""
    return GraphClient(sandbox, sandbox.app_token("contoso"))


@pytest.fixture(scope="module")
def exo(sandbox):
    """Exchange Online as the contoso automation identity (Exchange.ManageAsApp + Exchange Administrator)."""
    return ExchangeClient(sandbox, sandbox.app_token("contoso", EXCHANGE_RESOURCE))


@pytest.fixture(scope="module")
def graph_admin(sandbox):
    return GraphClient(sandbox, sandbox.app_token("contoso"))


@pytest.fixture
def registered_app(exo, graph_admin):
    """A new application with its enterprise application registered in Exchange (New-ServicePrincipal); removed after."""
    app, sp = graph_admin.identity()[:2]
    exo.run("New-ServicePrincipal", AppId=app["appId"], ObjectId=sp["id"], DisplayName=unique("exo-sp"))
    yield app, sp
    if exo.request("Get-ServicePrincipal", {"Identity": sp["id"]}).status_code == 200:
        exo.run("Remove-ServicePrincipal", Identity=sp["id"])


@pytest.fixture(scope="module")
def mail(sandbox):
    return Mail(sandbox)


@pytest.fixture(scope="module")
def contoso(sandbox):
    return Tenant(sandbox, "contoso")
