"""A small Microsoft Graph client for the sandbox tests, over HTTPS only.

Every JSON body it sends to an entity collection, and every answer that names its type in
`@odata.context`, is checked against Microsoft's CSDL (csdl.py): a test that passes has also shown
that the sandbox answered, and the test asked, in Graph's own schema."""
import base64
import datetime
import re
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

import csdl

SCHEMA = csdl.load()
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
GRAPH_RESOURCE = "https://graph.microsoft.com"
# Entity type of a request body, by method and path (after /v1.0).
BODY_TYPES = [
    ("POST", r"^/applications$", "application"),
    ("PATCH", r"^/applications[/(][^/]*$", "application"),
    ("POST", r"^/servicePrincipals$", "servicePrincipal"),
    ("PATCH", r"^/servicePrincipals[/(][^/]*$", "servicePrincipal"),
    ("POST", r"/(appRoleAssignedTo|appRoleAssignments)$", "appRoleAssignment"),
    ("POST", r"^/oauth2PermissionGrants$", "oAuth2PermissionGrant"),
    ("PATCH", r"^/oauth2PermissionGrants/", "oAuth2PermissionGrant"),
    ("POST", r"/federatedIdentityCredentials$", "federatedIdentityCredential"),
    ("PATCH", r"/federatedIdentityCredentials[/(]", "federatedIdentityCredential"),
    ("POST", r"^/roleManagement/directory/roleAssignments$", "unifiedRoleAssignment"),
]


def unique(prefix="mailauth-test"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def body_type(method, path):
    path = path.split("?")[0]
    return next((name for verb, pattern, name in BODY_TYPES if verb == method and re.search(pattern, path)), None)


class GraphClient:
    def __init__(self, sandbox, token, tenant_key="contoso"):
        self.sandbox = sandbox
        self.tenant = sandbox.tenant(tenant_key)
        self.root = sandbox.conn["graph_endpoint"]
        self.base = self.root + "/v1.0"
        self.http = sandbox.session()
        self.token = token

    def request(self, method, path, body=None, headers=None, token=None, schema_check=True):
        """One call; `path` is relative to /v1.0 or a full URL (a nextLink)."""
        if body is not None and SCHEMA is not None and schema_check and not path.startswith("https://"):
            type_name = body_type(method, path)
            if type_name:
                problems = SCHEMA.problems(type_name, body)
                assert not problems, "the test sends a body Graph would not take: %s" % problems
        all_headers = {"Authorization": "Bearer " + (self.token if token is None else token)}
        all_headers.update(headers or {})
        url = path if path.startswith("https://") else self.base + path
        answer = self.http.request(method, url, json=body, headers=all_headers, timeout=30)
        if SCHEMA is not None and answer.content and answer.headers.get("Content-Type", "").startswith("application/json"):
            data = answer.json()
            if "@odata.context" in data:
                problems = SCHEMA.check_answer(data)
                assert not problems, "%s %s answered outside Graph's schema: %s" % (method, path, problems)
        return answer

    def call(self, method, path, body=None, status=200, **kwargs):
        """A call that must answer `status`; returns the JSON body (None for an empty one)."""
        answer = self.request(method, path, body, **kwargs)
        assert answer.status_code == status, "%s %s: %s %s" % (method, path, answer.status_code, answer.text)
        return answer.json() if answer.content else None

    def get(self, path, **kwargs):
        return self.call("GET", path, **kwargs)

    def post(self, path, body, status=201, **kwargs):
        return self.call("POST", path, body, status, **kwargs)

    def patch(self, path, body, status=204, **kwargs):
        return self.call("PATCH", path, body, status, **kwargs)

    def delete(self, path, status=204, **kwargs):
        return self.call("DELETE", path, status=status, **kwargs)

    def pages(self, path, **kwargs):
        """Every item of a collection, following @odata.nextLink; returns (items, number of pages)."""
        items, pages, url = [], 0, path
        while url:
            page = self.get(url, **kwargs)
            items.extend(page["value"])
            pages += 1
            url = page.get("@odata.nextLink")
        return items, pages

    # --- fixtures of a test ---------------------------------------------------------------------
    def new_app(self, **props):
        props.setdefault("displayName", unique())
        return self.post("/applications", props)

    def resource(self, app_id=GRAPH_APP_ID):
        return self.get("/servicePrincipals(appId='%s')?$select=id,appId,displayName,appRoles,oauth2PermissionScopes" % app_id)

    def identity(self, graph_roles=(), public=False):
        """A new application with a secret and a service principal holding these Graph application
        permissions. Returns (application, service principal, secret)."""
        app = self.new_app(isFallbackPublicClient=True) if public else self.new_app()
        secret = self.post("/applications/%s/addPassword" % app["id"], {"passwordCredential": {"displayName": "test"}}, 200)
        sp = self.post("/servicePrincipals", {"appId": app["appId"]})
        graph = self.resource()
        for value in graph_roles:
            role = next(r for r in graph["appRoles"] if r["value"] == value)
            self.post("/servicePrincipals/%s/appRoleAssignedTo" % graph["id"],
                      {"principalId": sp["id"], "resourceId": graph["id"], "appRoleId": role["id"]})
        return app, sp, secret["secretText"]

    def token_for(self, app_id, secret, resource=GRAPH_RESOURCE):
        """Client-credentials token through the sandbox's public token endpoint."""
        answer = self.http.post("%s/%s/oauth2/v2.0/token" % (self.sandbox.conn["authority_host"], self.tenant["id"]),
                                data={"grant_type": "client_credentials", "client_id": app_id, "client_secret": secret,
                                      "scope": resource + "/.default"}, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    def user_token(self, app_id, upn, scope=GRAPH_RESOURCE + "/.default"):
        """Delegated token (resource owner password flow) of a seeded user for a public client."""
        answer = self.http.post("%s/%s/oauth2/v2.0/token" % (self.sandbox.conn["authority_host"], self.tenant["id"]),
                                data={"grant_type": "password", "client_id": app_id, "username": upn,
                                      "password": self.tenant["users"][upn]["password"], "scope": scope},
                                timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]


def assert_graph_error(answer, status, code, message=None):
    """Graph's error shape: {"error": {"code", "message", "innerError": {"date", "request-id", "client-request-id"}}}."""
    assert answer.status_code == status, "%s %s" % (answer.status_code, answer.text)
    error = answer.json()["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    assert {"date", "request-id", "client-request-id"} <= set(error["innerError"]), error
    assert error["innerError"]["request-id"] == answer.headers["request-id"]
    if message is not None:
        assert message in error["message"], error["message"]
    return error


def certificate(common_name, days=365):
    """A self-signed certificate as the tests upload it: (private key, certificate, base64 DER)."""
    start = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - datetime.timedelta(minutes=5)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=days)).sign(key, hashes.SHA256()))
    return key, cert, base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
