"""playbooks/site.yml against a sandbox, shared by the site tests (test_site_playbook.py, test_faults.py) and
the fault campaign (tests/faults/campaign.py): the inventory of two client tenants (contoso, fabrikam), each
with enaio and XLReporter, and stand-in servers (connection local, one directory each); the command that runs
a playbook against a sandbox; independent reads of a tenant with plain HTTP; and the clean-up.

Nothing here needs pytest, so the campaign script can use it as well."""
import os
import pathlib
import re
import sys
import time
import uuid

import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GRAPH_APP = "00000003-0000-0000-c000-000000000000"
EXCHANGE_APP = "00000002-0000-0ff1-ce00-000000000000"
ANCHOR = "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@%s"
VAULT_PASSWORD = "sandbox test only"
# Per tenant: the enaio sender and its sending user, the XLReporter sender.
PEOPLE = {"contoso": ("enaio@contoso.example", "alice@contoso.example", "reports@contoso.example"),
          "fabrikam": ("plant@fabrikam.example", "bob@fabrikam.example", "reports@fabrikam.example")}
SERVERS_PER_PRODUCT = (("enaio", 2), ("xlreporter", 1))


def connection_options(sandbox, key):
    """The connection options (module_defaults of group/mailauth.m365.all) of tenant ``key``'s automation identity."""
    conn, tenant = sandbox.conn, sandbox.tenant(key)
    return {"cloud": "custom", "authority_host": conn["authority_host"], "graph_endpoint": conn["graph_endpoint"],
            "exchange_endpoint": conn["exchange_endpoint"], "ca_bundle": conn["ca_bundle"], "tenant_id": tenant["id"],
            "client_id": tenant["automation"]["client_id"],
            "client_certificate_path": tenant["automation"]["certificate_path"]}


def playbook_command(sandbox, playbook, *extra):
    """(argv, env) of ansible-playbook running `playbook` (relative to the repository) against `sandbox`."""
    env = dict(os.environ, MAILAUTH_SANDBOX_DIR=sandbox.state_dir, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    env.setdefault("ANSIBLE_HOME", os.path.join(ROOT, ".build", "ansible-home"))
    env.setdefault("ANSIBLE_LOCAL_TEMP", os.path.join(ROOT, ".build", "ansible-tmp"))
    bin_dir = os.path.dirname(sys.executable)  # the venv's bin, where ansible-playbook is
    return [os.path.join(bin_dir, "ansible-playbook"), playbook, *extra], env


def recap(stdout):
    """{host: {ok, changed, unreachable, failed}} from the PLAY RECAP ({} when there is none)."""
    found = re.findall(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", stdout, re.M)
    return {host: dict(zip(("ok", "changed", "unreachable", "failed"), map(int, numbers)))
            for host, *numbers in found}


class Tenant:
    """Independent reads (and clean-up) of one sandbox tenant, as its automation identity, with plain HTTP.

    Reads wait out 429/503 and dropped connections, so they work while the sandbox injects faults."""

    def __init__(self, sandbox, key):
        self.sandbox = sandbox
        self.key = key
        self.info = sandbox.tenant(key)
        self.session = sandbox.session()
        self.graph_token = sandbox.app_token(key)
        self.exchange_token = sandbox.app_token(key, "https://outlook.office365.com")

    def _retry(self, call):
        answer = None
        for _attempt in range(30):
            try:
                answer = call()
            except OSError:  # requests' ConnectionError: a dropped connection
                time.sleep(0.2)
                continue
            if answer.status_code not in (429, 503):
                return answer
            time.sleep(float(answer.headers.get("Retry-After", 1)))
        if answer is None:
            raise ConnectionError("the sandbox dropped every attempt")
        return answer

    def graph(self, path, **params):
        answer = self._retry(lambda: self.session.get(
            self.sandbox.conn["graph_endpoint"] + "/v1.0/" + path, params=params,
            headers={"Authorization": "Bearer " + self.graph_token}, timeout=30))
        answer.raise_for_status()
        return answer.json()

    def graph_delete(self, path):
        self._retry(lambda: self.session.delete(self.sandbox.conn["graph_endpoint"] + "/v1.0/" + path,
                                                headers={"Authorization": "Bearer " + self.graph_token}, timeout=30))

    def exchange(self, cmdlet, **parameters):
        answer = self._retry(lambda: self.session.post(
            "%s/adminapi/beta/%s/InvokeCommand" % (self.sandbox.conn["exchange_endpoint"], self.info["id"]),
            json={"CmdletInput": {"CmdletName": cmdlet, "Parameters": parameters}},
            headers={"Authorization": "Bearer " + self.exchange_token, "X-AnchorMailbox": ANCHOR % self.info["id"]},
            timeout=30))
        return answer.json().get("value", []) if answer.status_code == 200 else []

    def apps(self, unique_name):
        return self.graph("applications", **{"$filter": "uniqueName eq '%s'" % unique_name})["value"]

    def service_principals(self, app_id):
        return self.graph("servicePrincipals", **{"$filter": "appId eq '%s'" % app_id})["value"]

    def resource_sp(self, app_id):
        return self.service_principals(app_id)[0]

    def secret_works(self, client_id, value):
        """Whether the secret signs in (client credentials for Exchange Online, as enaio does)."""
        answer = self._retry(lambda: self.session.post(
            "%s/%s/oauth2/v2.0/token" % (self.sandbox.conn["authority_host"], self.info["id"]),
            data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": value,
                  "scope": "https://outlook.office365.com/.default"}, timeout=30))
        return answer.status_code == 200

    def inbox(self, mailbox):
        return self.sandbox.control("GET", "/mailboxes/%s/messages?folder=INBOX" % mailbox)["value"]


def decrypt_stored(data):
    """The record (key_id, value, client_id, ...) of a secret store file's encrypted bytes."""
    plain = VaultLib([("default", VaultSecret(VAULT_PASSWORD.encode()))]).decrypt(data)
    return yaml.safe_load(plain)["mailauth_secret"]


def make_site(sandbox, root, suffix=None, tenants=tuple(PEOPLE), products=("enaio", "xlreporter")):
    """Write the inventory (and a vault password file) under `root`; application names end in `suffix`.
    `tenants` and `products` choose a part of the whole (both tenants, both products).

    Returns {root, inventory, store, password_file, names, servers, tenants}: the secret store is `store`
    (mailauth_secrets beside the inventory), the servers' files are under root/servers/<host>."""
    suffix = suffix or uuid.uuid4().hex[:8]
    names = {product: {"enaio": "it-site-enaio-", "xlreporter": "it-site-xlr-"}[product] + suffix for product in products}
    chosen_tenants = tuple(tenants)
    conn = sandbox.conn
    tenants, servers = {}, {}
    for key in chosen_tenants:
        sender, user, reports = PEOPLE[key]
        tenant = sandbox.tenant(key)
        items = {"enaio": {"product": "enaio", "name": names.get("enaio"), "sender": sender, "users": [user]},
                 "xlreporter": {"product": "xlreporter", "name": names.get("xlreporter"), "sender": reports}}
        tenants[key] = {
            "mailauth_m365_connection": connection_options(sandbox, key),
            "mailauth_tenant_domain": tenant["default_domain"],
            "mailauth_app_defaults": {"smoke_test_smtp_host": conn["smtp"]["host"],
                                      "smoke_test_smtp_port": conn["smtp"]["port"]},
            "mailauth_apps": [items[product] for product in products]}
        for product, count in SERVERS_PER_PRODUCT:
            if product not in names:
                continue
            group = "%s_%s" % (key, product)
            servers[group] = {"vars": {"mailauth_tenant": key, "mailauth_app": names[product]},
                              "hosts": {"%s%d.%s" % (product, n, tenant["default_domain"]): {} for n in range(1, count + 1)}}
    root = str(root)
    inventory = {"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
                 "app_mail_config_dir": os.path.join(root, "servers") + "/{{ inventory_hostname }}"},
        "children": {"mailauth_tenants": {"hosts": tenants}, "mailauth_servers": {"children": servers}}}}
    inventory_dir = os.path.join(root, "inventory")
    os.makedirs(inventory_dir, exist_ok=True)
    with open(os.path.join(inventory_dir, "hosts.yml"), "w", encoding="utf-8") as handle:
        handle.write(yaml.safe_dump(inventory))
    password_file = os.path.join(root, "vault-password")
    with open(os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as handle:
        handle.write(VAULT_PASSWORD + "\n")
    return dict(root=pathlib.Path(root), inventory=os.path.join(inventory_dir, "hosts.yml"),
                store=pathlib.Path(inventory_dir, "mailauth_secrets"), password_file=password_file, names=names,
                servers=servers, tenants=chosen_tenants)


def remove_site(sandbox, site):
    """Delete the site's applications (and their Exchange service principals) and reset the senders' SMTP AUTH."""
    for key in site["tenants"]:
        tenant = Tenant(sandbox, key)
        for name in site["names"].values():
            for app in tenant.apps(name):
                tenant.exchange("Remove-ServicePrincipal", Identity=app["appId"])
                for sp in tenant.service_principals(app["appId"]):
                    tenant.graph_delete("servicePrincipals/%s" % sp["id"])
                tenant.graph_delete("applications/%s" % app["id"])
        for mailbox in PEOPLE[key][0::2]:
            tenant.exchange("Set-CASMailbox", Identity=mailbox, SmtpClientAuthenticationDisabled=None)
