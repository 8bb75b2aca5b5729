"""Who may submit mail, or open a mailbox, with an OAuth token: Exchange Online's rules for SMTP AUTH
and IMAP (FACTS.md sections 1, 4 and 5), decided on the tenant's Exchange state
(sandbox/exchange/state.py: mailboxes, CAS and transport switches, Exchange service principals,
FullAccess, SendAs, RBAC for Applications).

The protocols turn a refusal's `kind` into their own answer; its `reason` goes only to the request
log of the control API, so that a test or a developer can see which rule refused."""
import collections
import email.utils

from ..exchange.state import ExchangeState
from ..tokens import TokenError
from . import mailstore

SMTP, IMAP = "smtp", "imap"
# Kinds of refusal
TOKEN = "token"                     # the token is not one Exchange takes for this protocol
NOT_CONNECTED = "not_connected"     # a good token, but no right to the mailbox named by user=
DISABLED_MAILBOX = "disabled_mailbox"
DISABLED_TENANT = "disabled_tenant"
PROTOCOL_DISABLED = "protocol_disabled"
BASIC = "basic"                     # a password: basic authentication is off

# Exchange Online takes tokens for either name of its resource (delegated tokens are usually asked for
# https://outlook.office.com/..., app-only ones for https://outlook.office365.com/.default).
OUTLOOK_AUDIENCES = ("https://outlook.office.com", "https://outlook.office365.com")
Rule = collections.namedtuple("Rule", "scope role rbac")
RULES = {
    SMTP: Rule(scope="SMTP.Send", role="SMTP.SendAsApp", rbac="SMTP.SendAsApp"),
    IMAP: Rule(scope="IMAP.AccessAsUser.All", role="IMAP.AccessAsApp", rbac=None),
}


class Refused(Exception):
    def __init__(self, kind, reason):
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


def mailbox_by_address(state, tid, address):
    """The mailbox with this SMTP address (or user principal name): Exchange's address lookup, which,
    unlike a cmdlet's -Identity, does not take aliases or display names."""
    wanted = (address or "").strip().lower()
    if "@" not in wanted:
        return None
    for mailbox in state.mailboxes(tid):
        if wanted == mailbox.upn.lower() or wanted in {a.split(":", 1)[1].lower() for a in mailbox.addresses}:
            return mailbox
    return None


class Identity:
    """An authenticated session: the token's claims and the mailbox it acts for."""

    def __init__(self, state, claims, mailbox, protocol):
        self.state = state
        self.claims = claims
        self.tid = claims["tid"]
        self.mailbox = mailbox
        self.protocol = protocol
        self.app_only = _app_only(claims)
        self.owner = mailbox.id                  # the mail store's key of the mailbox
        self.mailbox_address = mailbox.primary_smtp
        # Who SendAs is checked for: the mailbox the session signed in to (a SendAs right given to an
        # application's service principal does not count for SMTP), and for a delegated token its user.
        self.trustees = [mailbox.id] if self.app_only else list(dict.fromkeys([mailbox.id, claims.get("oid")]))

    @property
    def name(self):
        if self.app_only:
            return "app %s as %s" % (self.claims.get("appid"), self.mailbox_address)
        return self.claims.get("upn")

    def may_send_as(self, address):
        target = mailbox_by_address(self.state, self.tid, address)
        return target is not None and any(self.state.can_send_as(self.tid, target, t) for t in self.trustees)

    def send_as_refusal(self, mail_from, raw):
        """The first sender address (envelope, then the From: header) this session may not send as, or None."""
        senders = [mail_from] if mail_from else []
        senders += [addr for name, addr in email.utils.getaddresses(mailstore.headers_of(raw).get_all("From") or []) if addr]
        return next((addr for addr in senders if not self.may_send_as(addr)), None)


Recipient = collections.namedtuple("Recipient", "tid owner address")   # tid None: outside the sandbox's mailboxes


def _app_only(claims):
    return claims.get("idtyp") == "app" or "scp" not in claims


def authenticate(ctx, protocol, user, token):
    """The Identity of a token presented with `user=`; Refused with Exchange's reason otherwise."""
    rule = RULES[protocol]
    try:
        claims = ctx.tokens.validate(token, OUTLOOK_AUDIENCES)
    except TokenError as exc:
        raise Refused(TOKEN, "token rejected (%s): %s" % (exc.reason, exc))
    tid = claims["tid"]
    if ctx.directory.resolve_tenant(tid) is None:
        raise Refused(TOKEN, "unknown tenant %s" % tid)
    state = ExchangeState(ctx.store)
    app_only = _app_only(claims)
    if app_only:
        sp = state.exchange_sp(tid, claims.get("appid"))
        if sp is None:
            raise Refused(TOKEN, "application %s has no Exchange service principal (New-ServicePrincipal)" % claims.get("appid"))
        if sp["ObjectId"].lower() != (claims.get("oid") or "").lower():
            raise Refused(TOKEN, "the Exchange service principal of %s has ObjectId %s, but the token's enterprise application "
                                 "(service principal) is %s: it was registered with the wrong object id"
                          % (claims.get("appid"), sp["ObjectId"], claims.get("oid")))
    elif rule.scope not in (claims.get("scp") or "").split():
        raise Refused(TOKEN, "delegated token without %s (scp: %s)" % (rule.scope, claims.get("scp")))
    mailbox = mailbox_by_address(state, tid, user)
    if mailbox is None:
        raise Refused(NOT_CONNECTED, "user=%s is no mailbox of tenant %s" % (user, tid))
    _check_switches(state, tid, mailbox, protocol)
    if app_only:
        _check_app(state, tid, claims, mailbox, rule)
    elif mailbox.id != claims.get("oid") and not state.has_full_access(tid, mailbox, claims.get("oid")):
        raise Refused(NOT_CONNECTED, "user=%s is not the mailbox of the token's user %s, who has no FullAccess on it"
                      % (user, claims.get("upn")))
    return Identity(state, claims, mailbox, protocol)


def _check_switches(state, tid, mailbox, protocol):
    if protocol == SMTP:
        if state.smtp_auth_enabled(tid, mailbox):
            return
        if mailbox.cas["SmtpClientAuthenticationDisabled"] is None:
            raise Refused(DISABLED_TENANT, "SMTP AUTH is disabled for the tenant (Set-TransportConfig) and %s follows it"
                          % mailbox.primary_smtp)
        raise Refused(DISABLED_MAILBOX, "SMTP AUTH is disabled for %s (Set-CASMailbox)" % mailbox.primary_smtp)
    if protocol == IMAP and not mailbox.cas.get("ImapEnabled", True):
        raise Refused(PROTOCOL_DISABLED, "IMAP is disabled for %s (Set-CASMailbox -ImapEnabled)" % mailbox.primary_smtp)


def _check_app(state, tid, claims, mailbox, rule):
    """App-only: the permission in `roles` plus FullAccess on the mailbox, or an RBAC for Applications
    assignment whose scope covers the mailbox."""
    if rule.rbac and state.app_in_scope(tid, claims.get("appid"), mailbox, rule.rbac):
        return
    if rule.role not in (claims.get("roles") or ()):
        raise Refused(TOKEN, "app-only token without %s in roles (%s), and no RBAC assignment covers %s"
                      % (rule.role, claims.get("roles"), mailbox.primary_smtp))
    if not state.has_full_access(tid, mailbox, claims.get("oid")):
        raise Refused(NOT_CONNECTED, "the application's service principal %s has no FullAccess on %s (Add-MailboxPermission)"
                      % (claims.get("oid"), mailbox.primary_smtp))


def resolve_recipient(ctx, tid, address):
    """Where mail for `address`, sent from tenant `tid`, goes: a sandbox mailbox, the outbound store
    (another domain; or an unknown address in another sandbox tenant, whose bounce would come later),
    or None for an unknown address in the sender's own domains (Exchange refuses it at once)."""
    domain = address.rpartition("@")[2].lower()
    tenant = ctx.directory.resolve_tenant(domain) if domain else None
    if tenant is None:
        return Recipient(None, None, address)
    mailbox = mailbox_by_address(ExchangeState(ctx.store), tenant["id"], address)
    if mailbox is not None:
        return Recipient(tenant["id"], mailbox.id, mailbox.primary_smtp)
    return None if tenant["id"] == tid else Recipient(None, None, address)
