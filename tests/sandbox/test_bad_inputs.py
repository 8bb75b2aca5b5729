"""Bad inputs to the collection's modules fail before any write, naming the parameter and the fix.

Each case runs one module for real: its ``main()`` in a subprocess, with the task arguments as
``ANSIBLE_MODULE_ARGS`` JSON on stdin (Ansible's own argument parsing), against the sandbox. The test
asserts the failure, the parameter and a fix hint in the message, and, from the sandbox's request
log, that nothing was written: no POST/PATCH/PUT/DELETE to Graph, and for Exchange (whose cmdlets
all travel as POST InvokeCommand, reads included) no more InvokeCommand calls than the reads the
module makes, with independent reads of the Exchange objects unchanged. The catalogue is
docs/bad_inputs.md; keep the two in step.
"""
import datetime
import json
import os
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from exchangeclient import EXCHANGE_RESOURCE, ExchangeClient
from graphclient import GraphClient, unique

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
WRITES = ("POST", "PATCH", "PUT", "DELETE", "MERGE")
GUID_LIKE_TYPO = "6f4b1c2e-8a3d-4e5f-9b7a-1c2d3e4f5a6"  # one hex digit short
NOBODY = "nobody-%s@contoso.example"

# Placeholders replaced per run: @APP@ the automation app, @EXO_APP@ an app registered with Exchange Online,
# @CERT_EXPIRED@, @NOT_PEM@ and @TOKEN_FILE@ files written by the `files` fixture.
APP = "@APP@"
EXO_APP = "@EXO_APP@"


def case(case_id, module, args, parameter, hint, exchange=False, drop=(), invoke_max=0):
    """One bad input: module, its arguments (over the sandbox connection), the parameter the message must
    name, a fragment of the fix it must give; ``drop`` removes connection options; ``invoke_max`` is the
    most Exchange InvokeCommand calls (reads) the module may make before failing."""
    return pytest.param(module, args, parameter, hint, exchange, drop, invoke_max, id=case_id)


CASES = [
    # --- connection options (every module) ---------------------------------------------------------
    case("tenant-name-not-domain", "tenant_info", dict(tenant_id="contoso"), "tenant_id", "contoso.onmicrosoft.com"),
    case("tenant-guid-short", "app_registration_info", dict(tenant_id=GUID_LIKE_TYPO), "tenant_id", "directory (tenant) ID"),
    case("tenant-with-spaces", "tenant_info", dict(tenant_id="Contoso Ltd"), "tenant_id", "verified domain"),
    case("client-id-is-name", "tenant_info", dict(client_id="mailauth automation"), "client_id", "application (client) ID"),
    case("client-id-bad-guid", "app_secret", dict(client_id="0a1b2c3d-1111-4aaa-8bbb-00000000000g", unique_name="x",
                                                  display_name="x"), "client_id", "application (client) ID"),
    case("unknown-cloud", "tenant_info", dict(cloud="azure"), "cloud", "public, usgovernment"),
    case("custom-cloud-no-endpoints", "tenant_info", dict(), "authority_host", "Give the URL",
         drop=("authority_host", "graph_endpoint")),
    case("endpoint-on-public-cloud", "tenant_info", dict(cloud="public"), "authority_host", "cloud=custom"),
    case("endpoint-plain-http", "tenant_info", dict(graph_endpoint="http://graph.example"), "graph_endpoint", "https"),
    case("missing-credential", "tenant_info", dict(), "client_secret", "client_certificate_path", drop=("client_secret",)),
    case("several-credentials-auto", "tenant_info", dict(federated_token_file="@TOKEN_FILE@"), "auth_method",
         "set auth_method to the one to use"),
    case("method-without-credential", "tenant_info", dict(auth_method="certificate"), "client_certificate_path",
         "auth_method=certificate"),
    case("ca-bundle-missing", "tenant_info", dict(ca_bundle="/nonexistent/ca.pem"), "ca_bundle", "PEM file of the CA"),
    case("timeout-zero", "tenant_info", dict(timeout=0), "timeout", "at least 1"),
    case("client-cert-unreadable", "tenant_info", dict(client_certificate_path="/nonexistent/app.pem",
                                                       auth_method="certificate"), "client_certificate_path", "cannot read"),
    # --- app_registration -------------------------------------------------------------------------
    case("permission-typo", "app_registration", dict(unique_name="bad-input-app", api_permissions=[
        {"resource": "graph", "application": ["Mail.Sendd"]}]), "api_permissions", "Close matches: Mail.Send"),
    case("permission-wrong-type", "app_registration", dict(unique_name="bad-input-app", api_permissions=[
        {"resource": "graph", "delegated": ["Mail.ReadWrite.All"]}]), "api_permissions", "Mail.ReadWrite"),
    case("unknown-resource", "app_registration", dict(unique_name="bad-input-app", api_permissions=[
        {"resource": "graff", "delegated": ["SMTP.Send"]}]), "api_permissions", "graph"),
    case("redirect-http-remote", "app_registration", dict(unique_name="bad-input-app", web_redirect_uris={
        "add": ["http://app.example.com/cb"]}), "web_redirect_uris", "https"),
    case("redirect-fragment", "app_registration", dict(unique_name="bad-input-app", spa_redirect_uris={
        "set": ["https://app.example.com/#/cb"]}), "spa_redirect_uris", "fragment"),
    case("redirect-custom-scheme-web", "app_registration", dict(unique_name="bad-input-app", web_redirect_uris={
        "add": ["myapp://auth"]}), "web_redirect_uris", "https"),
    case("redirect-set-with-add", "app_registration", dict(unique_name="bad-input-app", web_redirect_uris={
        "set": ["https://a.example/cb"], "add": ["https://b.example/cb"]}), "set", "mutually exclusive"),
    case("app-id-not-guid", "app_registration", dict(app_id="my-app"), "app_id", "unique_name"),
    case("no-key", "app_registration", dict(notes="x"), "unique_name", "display_name"),
    case("unknown-audience", "app_registration", dict(unique_name="bad-input-app", sign_in_audience="AzureADMultiTenant"),
         "sign_in_audience", "AzureADMultipleOrgs"),
    # --- credentials ------------------------------------------------------------------------------
    case("secret-end-date-past", "app_secret", dict(app_id=APP, display_name="bad", end_date="2020-01-01"), "end_date",
         "future date"),
    case("secret-end-date-garbage", "app_secret", dict(app_id=APP, display_name="bad", end_date="next year"), "end_date",
         "2027-06-30"),
    case("secret-over-24-months", "app_secret", dict(app_id=APP, display_name="bad", lifetime_days=1000),
         "lifetime_days", "24 months"),
    case("secret-end-date-too-far", "app_secret", dict(app_id=APP, display_name="bad", end_date="2099-01-01"),
         "end_date", "24 months"),
    case("secret-end-and-lifetime", "app_secret", dict(app_id=APP, display_name="bad", end_date="2027-01-01",
                                                       lifetime_days=30), "end_date", "mutually exclusive"),
    case("secret-key-id-present", "app_secret", dict(app_id=APP, display_name="bad", key_id=APP), "key_id", "state=absent"),
    case("secret-rotate-window", "app_secret", dict(app_id=APP, display_name="bad", lifetime_days=30,
                                                    rotate_before_days=60), "rotate_before_days", "Lower rotate_before_days"),
    case("cert-expired", "app_certificate", dict(app_id=APP, certificate_path="@CERT_EXPIRED@"), "certificate_path",
         "Issue a new certificate"),
    case("cert-unreadable", "app_certificate", dict(app_id=APP, certificate_path="/nonexistent/cert.pem"),
         "certificate_path", "PEM certificate"),
    case("cert-not-pem", "app_certificate", dict(app_id=APP, certificate_path="@NOT_PEM@"), "certificate_path", "PEM"),
    case("cert-two-sources", "app_certificate", dict(app_id=APP, certificate_path="@CERT_EXPIRED@",
                                                     thumbprint="AB" * 20), "certificate_path", "mutually exclusive"),
    # --- consent, roles, service principals ---------------------------------------------------------
    case("consent-permission-typo", "admin_consent", dict(app_id=APP, permissions=[
        {"resource": "graph", "application": ["User.Read.Alll"]}]), "permissions", "Close matches: User.Read.All"),
    case("consent-entry-unknown-key", "admin_consent", dict(app_id=APP, permissions=[
        {"resource": "graph", "roles": ["Mail.Send"]}]), "permissions", "Known keys"),
    case("unknown-directory-role", "directory_role_assignment", dict(app_id=APP, role="Exchange Admin"), "role",
         "Exchange Administrator"),
    case("role-two-principals", "directory_role_assignment", dict(app_id=APP, principal_id=APP, role="Exchange Administrator"),
         "app_id", "mutually exclusive"),
    case("role-scope-not-path", "directory_role_assignment", dict(app_id=APP, role="Exchange Administrator",
                                                                  directory_scope_id="administrativeUnits/x"),
         "directory_scope_id", "/administrativeUnits/"),
    # --- Exchange Online --------------------------------------------------------------------------
    case("mailbox-does-not-exist", "exchange_mailbox_permission", dict(app_id=EXO_APP, mailboxes=[NOBODY % "perm"],
                                                                       access_rights=["SendAs"]),
         "mailboxes", "mailbox", exchange=True, invoke_max=4),
    case("unknown-access-right", "exchange_mailbox_permission", dict(app_id=APP, mailboxes=["enaio@contoso.example"],
                                                                     access_rights=["ReadOnly"]),
         "access_rights", "FullAccess, SendAs", exchange=True),
    case("auto-mapping-for-app", "exchange_mailbox_permission", dict(app_id=APP, mailboxes=["enaio@contoso.example"],
                                                                     access_rights=["FullAccess"], auto_mapping=True),
         "auto_mapping", "Remove auto_mapping", exchange=True),
    case("rbac-empty-filter", "exchange_app_rbac", dict(app_id=APP, scope_name="bad-input-scope", recipient_filter="  ",
                                                        roles=["Mail.Send"]), "recipient_filter", "OPATH", exchange=True),
    case("rbac-filter-and-mailboxes", "exchange_app_rbac", dict(app_id=APP, scope_name="bad-input-scope",
                                                                recipient_filter="Department -eq 'IT'",
                                                                mailboxes=["enaio@contoso.example"]),
         "recipient_filter", "mutually exclusive", exchange=True),
    case("rbac-bad-filter-syntax", "exchange_app_rbac", dict(app_id=EXO_APP, scope_name="bad-input-scope",
                                                             recipient_filter="Department = IT", roles=["Mail.Send"]),
         "recipient_filter", "-eq", exchange=True, invoke_max=4),
    case("rbac-unknown-role", "exchange_app_rbac", dict(app_id=EXO_APP, scope_name="bad-input-scope",
                                                        mailboxes=["enaio@contoso.example"], roles=["Mail.Sendd"]),
         "roles", "Application Mail.Send", exchange=True, invoke_max=4),
    case("rbac-roles-without-scope", "exchange_app_rbac", dict(app_id=APP, roles=["Mail.Send"]), "scope_name",
         "management scope", exchange=True),
    case("rbac-check-mailbox-missing", "exchange_app_rbac", dict(app_id=EXO_APP, scope_name="bad-input-scope",
                                                                 mailboxes=[NOBODY % "rbac"], roles=["Mail.Send"]),
         "mailboxes", "mailbox", exchange=True, invoke_max=4),
    case("ews-app-id-not-guid", "exchange_ews_allow_list", dict(app_ids={"add": ["enaio"]}), "app_ids",
         "application (client) ID", exchange=True),
    case("smtp-auth-bad-enabled", "exchange_smtp_auth", dict(mailboxes=["enaio@contoso.example"], enabled="maybe"),
         "enabled", "default", exchange=True),
    case("smtp-auth-mailboxes-no-enabled", "exchange_smtp_auth", dict(mailboxes=["enaio@contoso.example"]),
         "enabled", "required by 'mailboxes'", exchange=True),
    case("exchange-sp-app-id-not-guid", "exchange_service_principal", dict(app_id="enaio"), "app_id",
         "Application (client) ID", exchange=True),
    # --- smoke test ------------------------------------------------------------------------------
    case("smoke-device-code-with-client-credentials", "mail_smoke_test", dict(mailbox="enaio@contoso.example",
                                                                              auth_method="device_code"),
         "auth_method", "sign_in=refresh_token"),
    case("smoke-password-without-password", "mail_smoke_test", dict(mailbox="enaio@contoso.example", sign_in="password"),
         "password", "sign_in=password"),
    case("smoke-password-with-client-credentials", "mail_smoke_test", dict(mailbox="enaio@contoso.example",
                                                                           password="hunter2"),
         "password", "Remove it, or set sign_in=password"),
    case("smoke-mailbox-not-address", "mail_smoke_test", dict(mailbox="enaio"), "mailbox", "e-mail address"),
    case("smoke-unknown-transport", "mail_smoke_test", dict(mailbox="enaio@contoso.example", transport="imap"),
         "transport", "smtp, graph"),
    case("smoke-verify-without-imap-host", "mail_smoke_test", dict(mailbox="enaio@contoso.example",
                                                                   verify_delivery=True, smtp_host="localhost"),
         "imap_host", "IMAP host"),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Files some cases point at: an expired certificate, a file that is not PEM, a federated token."""
    directory = tmp_path_factory.mktemp("bad-inputs")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expired")])
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    paths = {"@CERT_EXPIRED@": directory / "expired.pem", "@NOT_PEM@": directory / "not-a-cert.pem",
             "@TOKEN_FILE@": directory / "token"}
    paths["@CERT_EXPIRED@"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["@NOT_PEM@"].write_text("this is not a certificate\n", encoding="utf-8")
    paths["@TOKEN_FILE@"].write_text("eyJhbGciOiJub25lIn0.e30.\n", encoding="utf-8")
    return {placeholder: str(path) for placeholder, path in paths.items()}


@pytest.fixture(scope="module")
def clients(sandbox):
    return (GraphClient(sandbox, sandbox.app_token("contoso")),
            ExchangeClient(sandbox, sandbox.app_token("contoso", EXCHANGE_RESOURCE)))


@pytest.fixture(scope="module")
def exchange_app(clients):
    """An application registered with Exchange Online (New-ServicePrincipal), so that Exchange cases get past app_id."""
    graph, exo = clients
    app, sp = graph.identity()[:2]
    exo.run("New-ServicePrincipal", AppId=app["appId"], ObjectId=sp["id"], DisplayName=unique("bad-inputs"))
    yield app["appId"]
    exo.run("Remove-ServicePrincipal", Identity=sp["id"])
    graph.delete("/servicePrincipals/%s" % sp["id"])
    graph.delete("/applications/%s" % app["id"])


def substitute(value, replacements):
    if isinstance(value, str):
        return replacements.get(value, value)
    if isinstance(value, list):
        return [substitute(item, replacements) for item in value]
    if isinstance(value, dict):
        return {key: substitute(item, replacements) for key, item in value.items()}
    return value


def run_module(sandbox, module, args):
    """The module's main() in a subprocess, as Ansible runs it; returns its JSON result."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("AZURE_", "MAILAUTH_M365_", "ANSIBLE_"))}
    env["PYTHONPATH"] = COLLECTIONS
    env["HOME"] = os.path.join(sandbox.state_dir, "bad-inputs-home")  # token cache away from the user's
    answer = subprocess.run([sys.executable, "-m", "ansible_collections.mailauth.m365.plugins.modules." + module],
                            input=json.dumps({"ANSIBLE_MODULE_ARGS": args}), capture_output=True, text=True,
                            env=env, cwd=ROOT, timeout=300, check=False)
    try:
        return json.loads(answer.stdout)
    except ValueError:
        pytest.fail("%s printed no JSON result:\n%s\n%s" % (module, answer.stdout[-2000:], answer.stderr[-3000:]))


def exchange_state(exo):
    """Independent reads of what the Exchange modules write."""
    state = {}
    for cmdlet in ("Get-ManagementScope", "Get-ManagementRoleAssignment", "Get-ServicePrincipal",
                   "Get-OrganizationConfig", "Get-TransportConfig"):
        answer = exo.request(cmdlet)
        state[cmdlet] = answer.json().get("value") if answer.status_code == 200 else answer.status_code
    for cmdlet, params in (("Get-MailboxPermission", {"Identity": "enaio@contoso.example"}),
                           ("Get-RecipientPermission", {"Identity": "enaio@contoso.example"}),
                           ("Get-CASMailbox", {"Identity": "enaio@contoso.example"})):
        answer = exo.request(cmdlet, params)
        state[cmdlet] = answer.json().get("value") if answer.status_code == 200 else answer.status_code
    return state


@pytest.mark.parametrize("module, args, parameter, hint, exchange, drop, invoke_max", CASES)
def test_bad_input_fails_before_any_write(sandbox, clients, files, exchange_app, module, args, parameter, hint, exchange, drop,
                                          invoke_max):
    graph, exo = clients
    conn = sandbox.conn
    tenant = sandbox.tenant("contoso")
    connection = dict(cloud="custom", authority_host=conn["authority_host"], graph_endpoint=conn["graph_endpoint"],
                      exchange_endpoint=conn["exchange_endpoint"], ca_bundle=conn["ca_bundle"], tenant_id=tenant["id"],
                      client_id=tenant["automation"]["client_id"], client_secret=tenant["automation"]["client_secret"])
    if args.get("cloud") == "public":  # an endpoint option with a named cloud
        connection = dict(connection, graph_endpoint=None, exchange_endpoint=None)
    replacements = dict(files, **{APP: tenant["automation"]["client_id"], EXO_APP: exchange_app})
    task_args = {key: value for key, value in dict(connection, **substitute(args, replacements)).items()
                 if value is not None and key not in drop}

    before = exchange_state(exo) if exchange else None
    sandbox.control("DELETE", "/requests")
    result = run_module(sandbox, module, task_args)
    log = sandbox.control("GET", "/requests?entries=1")["entries"]

    assert result.get("failed") is True, "%s did not fail: %s" % (module, result)
    message = result["msg"]
    assert parameter in message, "message does not name %s: %s" % (parameter, message)
    assert hint in message, "message gives no fix (%r): %s" % (hint, message)
    if os.environ.get("BAD_INPUTS_TABLE"):  # a JSON line per case, for regenerating docs/bad_inputs.md
        with open(os.environ["BAD_INPUTS_TABLE"], "a", encoding="utf-8") as handle:
            handle.write(json.dumps(dict(module=module, parameter=parameter, message=message,
                                         requests=len(log), exchange_calls=len([e for e in log if e["service"] == "exchange"])))
                         + "\n")
    graph_writes = [e for e in log if e["service"] == "graph" and e["method"] in WRITES]
    assert graph_writes == [], "Graph writes before failing: %s" % graph_writes
    invokes = [e for e in log if e["service"] == "exchange"]
    assert [e for e in invokes if not e["route"].endswith("InvokeCommand")] == []
    assert len(invokes) <= invoke_max, "%d InvokeCommand calls (reads allowed: %d)" % (len(invokes), invoke_max)
    if exchange:
        assert exchange_state(exo) == before, "Exchange changed although the task failed"
    assert graph.get("/applications?$filter=uniqueName eq 'bad-input-app'")["value"] == []
