"""Helpers of the mail tests (SMTP submission, IMAP, curl, Graph sendMail): clients from the standard
library pointed at the sandbox's mail hosts, and a tenant set up the way the product guides do it,
entirely over the wire (Graph for apps, consent and permissions; Exchange's InvokeCommand for service
principals, mailbox rights and switches; the token endpoint for tokens)."""
import base64
import contextlib
import email.message
import email.utils
import imaplib
import smtplib
import ssl
import uuid

from exchangeclient import EXCHANGE_APP_ID, EXCHANGE_RESOURCE, ExchangeClient
from graphclient import GraphClient, unique

OUTLOOK = "https://outlook.office.com"
GRAPH_SCOPE_GRANT = "SMTP.Send IMAP.AccessAsUser.All offline_access"
AUTH_FAILED = "5.7.3 Authentication unsuccessful"


def xoauth2(user, token):
    return base64.b64encode(("user=%s\x01auth=Bearer %s\x01\x01" % (user, token)).encode()).decode()


def oauthbearer(user, token, host="127.0.0.1", port=587):
    text = "n,a=%s,\x01host=%s\x01port=%d\x01auth=Bearer %s\x01\x01" % (user, host, port, token)
    return base64.b64encode(text.encode()).decode()


def tampered(token):
    """The token with its payload changed by one character: its signature no longer holds."""
    head, payload, signature = token.split(".")
    middle = len(payload) // 2
    swapped = "A" if payload[middle] != "A" else "B"
    return ".".join([head, payload[:middle] + swapped + payload[middle + 1:], signature])


def message(sender, to, subject=None, from_header=None, body="Sent by the mailauth.m365 sandbox tests."):
    """(RFC 5322 bytes, Message-ID, Subject) of a small unique message."""
    msg = email.message.EmailMessage()
    subject = subject or unique("smoke")
    message_id = "<%s@mailauth.test>" % uuid.uuid4().hex
    msg["From"] = from_header or sender
    msg["To"] = ", ".join(to) if isinstance(to, (list, tuple)) else to
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate()
    msg["Message-ID"] = message_id
    msg.set_content(body)
    return msg.as_bytes(), message_id, subject


class Mail:
    """The sandbox's mail endpoints, with the sandbox CA as the only trust anchor."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        conn = sandbox.conn
        self.host = conn["smtp"]["host"]
        self.port = conn["smtp"]["port"]
        self.port_tls = conn["smtp"]["port_implicit_tls"]
        self.imap_port = conn["imap"]["port"]
        self.ca = conn["ca_bundle"]
        self.tls = ssl.create_default_context(cafile=self.ca)

    def smtp(self, starttls=True):
        """SMTP on the submission port, after STARTTLS and a second EHLO (unless `starttls` is False)."""
        client = smtplib.SMTP(self.host, self.port, timeout=15)
        client.ehlo()
        if starttls:
            client.starttls(context=self.tls)
            client.ehlo()
        return client

    def smtps(self):
        client = smtplib.SMTP_SSL(self.host, self.port_tls, context=self.tls, timeout=15)
        client.ehlo()
        return client

    def imap(self):
        return imaplib.IMAP4_SSL(self.host, self.imap_port, ssl_context=self.tls, timeout=15)

    @staticmethod
    def auth(client, user, token, mechanism="XOAUTH2", initial=True):
        """AUTH with the initial response on the AUTH line, or after the server's 334; (code, text)."""
        response = xoauth2(user, token) if mechanism == "XOAUTH2" else oauthbearer(user, token)
        if initial:
            code, text = client.docmd("AUTH", "%s %s" % (mechanism, response))
        else:
            code, text = client.docmd("AUTH", mechanism)
            assert code == 334, (code, text)
            code, text = client.docmd(response)
        return code, text.decode()

    @contextlib.contextmanager
    def session(self, user, token, implicit_tls=False):
        """An authenticated SMTP session (asserting 235), closed with QUIT."""
        client = self.smtps() if implicit_tls else self.smtp()
        code, text = self.auth(client, user, token)
        assert (code, text) == (235, "2.7.0 Authentication successful"), (code, text)
        try:
            yield client
        finally:
            client.quit()

    def refusal(self, user, token, **auth):
        """(code, text) of an AUTH that must fail, in a session of its own."""
        client = self.smtp()
        code, text = self.auth(client, user, token, **auth)
        client.quit()
        return code, text

    def assert_refused(self, user, token, reason=None):
        """Exchange's plain refusal, and (when given) the rule the request log names for it."""
        code, text = self.refusal(user, token)
        assert code == 535 and text.startswith(AUTH_FAILED + " ["), (code, text)
        if reason:
            reasons = [e.get("reason") or "" for e in self.log("smtp") if e["method"] == "AUTH" and e["status"] == 535]
            assert reason in reasons[-1], reasons[-1]

    def messages(self, address, folder=None, raw=False):
        query = []
        if folder:
            query.append("folder=" + folder)
        if raw:
            query.append("raw=1")
        return self.sandbox.control("GET", "/mailboxes/%s/messages%s" % (address, "?" + "&".join(query) if query else ""))["value"]

    def find(self, address, message_id, folder="INBOX"):
        return [m for m in self.messages(address, folder) if m["messageId"] == message_id]

    def listener(self, name, **switches):
        return self.sandbox.control("PUT", "/mail/listeners/" + name, switches)

    @contextlib.contextmanager
    def switched(self, name, **switches):
        """Listener switches for the block, put back after."""
        before = self.sandbox.control("GET", "/mail/listeners")[name]
        self.listener(name, **switches)
        try:
            yield
        finally:
            self.listener(name, **{k: before[k] for k in switches})

    def log(self, service):
        entries = self.sandbox.control("GET", "/requests?entries=1")["entries"]
        return [e for e in entries if e["service"] == service]


class Tenant:
    """One tenant's Graph and Exchange, as its automation identity, and what the tests make in it."""

    def __init__(self, sandbox, key="contoso"):
        self.sandbox = sandbox
        self.key = key
        self.graph = GraphClient(sandbox, sandbox.app_token(key), key)
        self.exo = ExchangeClient(sandbox, sandbox.app_token(key, EXCHANGE_RESOURCE), key)

    def public_client(self, scope=GRAPH_SCOPE_GRANT, resource_app_id=None):
        """A public client (ROPC allowed) with tenant-wide consent for `scope` on Microsoft Graph, as an admin
        grants SMTP.Send and IMAP.AccessAsUser.All (FACTS.md section 1). Returns its appId."""
        app, sp = self.graph.identity(public=True)[:2]
        resource = self.graph.resource(resource_app_id) if resource_app_id else self.graph.resource()
        self.graph.post("/oauth2PermissionGrants", {"clientId": sp["id"], "consentType": "AllPrincipals",
                                                    "resourceId": resource["id"], "scope": scope})
        return app["appId"]

    def user_token(self, client_id, upn, scope):
        return self.graph.user_token(client_id, upn, scope)

    def grant_app_roles(self, sp_id, values, resource_app_id=EXCHANGE_APP_ID):
        resource = self.graph.resource(resource_app_id)
        for value in values:
            role = next(r for r in resource["appRoles"] if r["value"] == value)
            self.graph.post("/servicePrincipals/%s/appRoleAssignedTo" % resource["id"],
                            {"principalId": sp_id, "resourceId": resource["id"], "appRoleId": role["id"]})

    def mail_app(self, roles=("SMTP.SendAsApp", "IMAP.AccessAsApp"), register=True, full_access=(), graph_roles=()):
        """An application for app-only mail: Exchange Online application permissions (`roles`), Graph ones,
        its enterprise application registered in Exchange (New-ServicePrincipal with the SERVICE PRINCIPAL's
        object id) and FullAccess on some mailboxes. Returns a dict with app, sp, secret and token()."""
        app, sp, secret = self.graph.identity(graph_roles=graph_roles)
        self.grant_app_roles(sp["id"], roles)
        if register:
            self.exo.run("New-ServicePrincipal", AppId=app["appId"], ObjectId=sp["id"], DisplayName=unique("mail-app"))
        for mailbox in full_access:
            self.exo.run("Add-MailboxPermission", Identity=mailbox, User=sp["id"], AccessRights=["FullAccess"])
        graph = self.graph
        return {"app": app, "sp": sp, "secret": secret,
                "token": lambda resource=EXCHANGE_RESOURCE: graph.token_for(app["appId"], secret, resource)}

    @contextlib.contextmanager
    def changed(self, set_cmdlet, undo, **params):
        """Run an Exchange cmdlet for the block and `undo` (a dict of parameters for the same cmdlet, or a
        (cmdlet, params) pair) after it."""
        self.exo.run(set_cmdlet, **params)
        try:
            yield
        finally:
            cmdlet, undo_params = undo if isinstance(undo, tuple) else (set_cmdlet, undo)
            self.exo.run(cmdlet, **undo_params)
