"""A small client of the sandbox's Exchange Online admin endpoint for the tests, over HTTPS only, sending
what the ExchangeOnlineManagement module sends (FACTS.md section 4) and checking Exchange's answer shapes."""

EXCHANGE_RESOURCE = "https://outlook.office365.com"
EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
EXCHANGE_ADMIN_ROLE = "29232cdf-9323-42fd-ade2-1d097af3e4de"
ANCHOR = "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@%s"


def message_of(error):
    """The text a client shows: details[].message after the last '|', else innererror.internalexception, else message."""
    if error.get("details"):
        return error["details"][0]["message"].rsplit("|", 1)[-1]
    inner = error.get("innererror", {}).get("internalexception", {})
    return inner.get("message") or error["message"]


class ExchangeClient:
    def __init__(self, sandbox, token, tenant_key="contoso"):
        self.sandbox = sandbox
        self.tenant = sandbox.tenant(tenant_key)
        self.url = "%s/adminapi/beta/%s/InvokeCommand" % (sandbox.conn["exchange_endpoint"], self.tenant["id"])
        self.http = sandbox.session()
        self.token = token

    def request(self, cmdlet, params=None, token=None, url=None, page_size=1000, headers=None):
        all_headers = {"Authorization": "Bearer " + (self.token if token is None else token),
                       "X-AnchorMailbox": ANCHOR % self.tenant["id"]}
        if page_size:
            all_headers["Prefer"] = "odata.maxpagesize=%d" % page_size
        all_headers.update(headers or {})
        body = {"CmdletInput": {"CmdletName": cmdlet, "Parameters": params or {}}}
        return self.http.post(url or self.url, json=body, headers=all_headers, timeout=30)

    def run(self, cmdlet, **params):
        """A cmdlet that must succeed; returns the answer's body (one page)."""
        answer = self.request(cmdlet, params)
        assert answer.status_code == 200, "%s: %s %s" % (cmdlet, answer.status_code, answer.text)
        body = answer.json()
        assert body["@odata.context"].endswith("$metadata#Collection(Exchange.GenericHashTable)")
        assert isinstance(body["value"], list) and isinstance(body["@adminapi.warnings"], list)
        return body

    def values(self, cmdlet, **params):
        return self.run(cmdlet, **params)["value"]

    def one(self, cmdlet, **params):
        found = self.values(cmdlet, **params)
        assert len(found) == 1, found
        return found[0]

    def fails(self, cmdlet, status, text=None, exception=None, **params):
        """A cmdlet that must fail with `status`; checks Exchange's error shape and returns the error."""
        return assert_exchange_error(self.request(cmdlet, params), status, text, exception)


def assert_exchange_error(answer, status, text=None, exception=None):
    assert answer.status_code == status, "%s %s" % (answer.status_code, answer.text)
    error = answer.json()["error"]
    assert error["code"] and error["message"]
    inner = error["innererror"]["internalexception"]
    assert inner["message"] and inner["type"]
    if error.get("details"):
        assert error["details"][0]["message"].rsplit("|", 1)[-1] == inner["message"]
    if text is not None:
        assert text in message_of(error), message_of(error)
    if exception is not None:
        assert inner["type"].endswith(exception), inner["type"]
    return error


def new_app_identity(sandbox, graph, exchange_roles=("Exchange.ManageAsApp",), directory_role=EXCHANGE_ADMIN_ROLE):
    """A new application (+ service principal, secret) holding these Exchange Online application permissions and,
    optionally, the Exchange Administrator directory role; all made through Graph. Returns (app, sp, Exchange token)."""
    app, sp, secret = graph.identity()
    exchange = graph.resource(EXCHANGE_APP_ID)
    for value in exchange_roles:
        role = next(r for r in exchange["appRoles"] if r["value"] == value)
        graph.post("/servicePrincipals/%s/appRoleAssignedTo" % exchange["id"],
                   {"principalId": sp["id"], "resourceId": exchange["id"], "appRoleId": role["id"]})
    if directory_role:
        graph.post("/roleManagement/directory/roleAssignments",
                   {"principalId": sp["id"], "roleDefinitionId": directory_role, "directoryScopeId": "/"})
    return app, sp, graph.token_for(app["appId"], secret, EXCHANGE_RESOURCE)
