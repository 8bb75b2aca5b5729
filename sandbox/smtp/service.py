"""The sandbox's mail hosts: SMTP submission with STARTTLS (smtp.office365.com:587), SMTP over
implicit TLS (the 465 a standards-based server offers), IMAP over implicit TLS
(outlook.office365.com:993); their request-log entries, realism, per-listener switches and
control routes.

Control API (on every HTTPS port, like the rest of /_sandbox/):
    GET  /_sandbox/mail/listeners                  the switches of each listener
    PUT  /_sandbox/mail/listeners/{name}           change some: {"oauthbearer": true, ...}; reset restores them
    GET  /_sandbox/mailboxes/{address}/messages    a mailbox's messages (?folder=INBOX, ?raw=1)
    GET  /_sandbox/outbound/messages               mail that left the sandbox's mailboxes (?tenant=)"""
import time

from ..exchange.state import ExchangeState
from ..web import json_response
from . import access as access_mod
from . import mailstore
from .imap import ImapSession
from .smtp import SmtpSession
from .wire import Listener

SETTINGS_KEY = "mail_listeners"
SMTP_DEFAULTS = {
    "oauthbearer": False,           # offer AUTH OAUTHBEARER too (a standards-based server does, Exchange does not)
    "error_challenge": False,       # on failure send RFC 7628's 334 JSON challenge, then 535 5.7.8 (Dovecot)
    "max_auth_line": None,          # refuse AUTH lines longer than this (Dovecot: about 1 KB); None: no limit
    "send_as_at_mail_from": False,  # refuse a foreign MAIL FROM at once with 550 5.7.60 (else 554 5.2.252 after DATA)
}
# name -> (protocol, implicit TLS, default switches)
LISTENERS = {
    "smtp": (SmtpSession, False, SMTP_DEFAULTS),
    "smtps": (SmtpSession, True, SMTP_DEFAULTS),
    "imaps": (ImapSession, True, {"oauthbearer": False}),
}


class MailService:
    name = "mail"

    def __init__(self, ctx):
        self.ctx = ctx
        self.store = mailstore.MailStore(ctx.store)
        self.listeners = {}
        control = ctx.control.router
        control.add("GET", "/_sandbox/mail/listeners", self.control_listeners)
        control.add("PUT", "/_sandbox/mail/listeners/{name}", self.control_put_listener)
        control.add("GET", "/_sandbox/mailboxes/{address}/messages", self.control_messages)
        control.add("GET", "/_sandbox/outbound/messages", self.control_outbound)

    def start(self, host, ports, tls_context):
        """Open every listener (on its port of the previous run when free); returns {name: Listener}."""
        for name, (protocol, implicit, defaults) in LISTENERS.items():
            self.listeners[name] = Listener(self, name, protocol, host, ports.get(name, 0), tls_context, implicit).start()
        return dict(self.listeners)

    def connection_info(self, host):
        port = {name: listener.server_port for name, listener in self.listeners.items()}
        return {"smtp": {"host": host, "port": port.get("smtp"), "port_implicit_tls": port.get("smtps")},
                "imap": {"host": host, "port": port.get("imaps")}}

    # --- switches ------------------------------------------------------------------------------
    def listener_settings(self, name):
        stored = (self.ctx.store.kv_get(SETTINGS_KEY) or {}).get(name, {})
        return dict(LISTENERS[name][2], **stored)

    @staticmethod
    def smtp_mechanisms(settings):
        return ["LOGIN", "XOAUTH2"] + (["OAUTHBEARER"] if settings.get("oauthbearer") else [])

    # --- realism -------------------------------------------------------------------------------
    def realism(self, session, on_fault):
        """Latency before each command; a fault (when realism's `services` lists "smtp" / "imap") ends the
        session, with `on_fault()` saying so unless the connection is just dropped. True when it must end."""
        fault = self.ctx.realism.fault(session.protocol)
        if fault is None:
            return False
        if fault != "drop":
            on_fault()
        return True

    # --- request log ---------------------------------------------------------------------------
    def log_event(self, session, method, status, started=None, **fields):
        fields.setdefault("path", session.listener.name)
        self.ctx.log.record_event(session.protocol, method, fields.pop("name", session.listener.name), status,
                                  started or time.time(), tenant=session.tenant, request_id=session.session_id,
                                  **fields)

    def log_auth(self, session, mechanism, who, refused):
        """One AUTH / AUTHENTICATE / LOGIN: its outcome and, on refusal, the rule that refused."""
        if refused is None:
            status = 235 if session.protocol == "smtp" else "OK"
            self.log_event(session, "AUTH", status, name=mechanism, route=mechanism, user=who.name)
            return
        if session.protocol == "smtp":
            status = 535
        else:
            status = "OK" if refused.kind == access_mod.NOT_CONNECTED else "NO"
        self.log_event(session, "AUTH", status, name=mechanism, route=mechanism, user=who if isinstance(who, str) else None,
                       refused=refused.kind, reason=refused.reason)

    def log_session(self, session, started):
        self.log_event(session, "SESSION", "closed" if session.done else "dropped", started, **session.log_fields())

    # --- delivery ------------------------------------------------------------------------------
    def submit(self, identity, mail_from, recipients, raw, via):
        sender = (identity.tid, identity.owner, identity.mailbox_address)
        return self.store.deliver(sender, recipients, raw, via)

    # --- control API ---------------------------------------------------------------------------
    def control_listeners(self, req):
        return json_response(200, {name: self.listener_settings(name) for name in LISTENERS})

    def control_put_listener(self, req):
        name = req.params["name"]
        if name not in LISTENERS:
            return json_response(404, {"error": {"code": "NotFound", "message": "no listener %s (known: %s)"
                                                 % (name, ", ".join(LISTENERS))}})
        try:
            changes = req.json()
        except ValueError:
            changes = None
        defaults = LISTENERS[name][2]
        if not isinstance(changes, dict) or set(changes) - set(defaults):
            return json_response(400, {"error": {"code": "BadRequest", "message": "settings of %s: %s"
                                                 % (name, ", ".join(sorted(defaults)))}})
        with self.ctx.store.transaction():
            stored = self.ctx.store.kv_get(SETTINGS_KEY) or {}
            stored[name] = dict(stored.get(name, {}), **changes)
            self.ctx.store.kv_set(SETTINGS_KEY, stored)
        return json_response(200, self.listener_settings(name))

    def control_messages(self, req):
        address = req.params["address"]
        domain = address.rpartition("@")[2]
        tenant = self.ctx.directory.resolve_tenant(domain) if domain else None
        state = ExchangeState(self.ctx.store)
        mailbox = access_mod.mailbox_by_address(state, tenant["id"], address) if tenant else None
        if mailbox is None:
            return json_response(404, {"error": {"code": "NotFound", "message": "no mailbox %s in the sandbox" % address}})
        docs = self.store.messages(tenant["id"], mailbox.id, req.query.get("folder"))
        with_raw = req.query.get("raw") in ("1", "true")
        return json_response(200, {"mailbox": mailbox.primary_smtp, "tenant": tenant["id"],
                                   "value": [mailstore.public(doc, with_raw) for doc in docs]})

    def control_outbound(self, req):
        with_raw = req.query.get("raw") in ("1", "true")
        wanted = req.query.get("tenant")
        out = []
        for tenant in self.ctx.directory.tenants():
            if wanted in (None, tenant["id"], tenant["key"]):
                out += [dict(mailstore.public(doc, with_raw), tenant=tenant["id"]) for doc in self.store.outbound(tenant["id"])]
        return json_response(200, {"value": sorted(out, key=lambda m: m["internalDate"])})
