"""The cmdlet table and what a cmdlet sees while it runs (`Invocation`): its bound parameters, the
tenant's Exchange state, identity resolution with Exchange's errors, and warnings for the answer."""
from .. import directory as d
from . import errors
from .params import Param, bind
from .state import ExchangeState, server_name

CMDLETS = {}


class Cmdlet:
    def __init__(self, name, func, params, default_result_size=None):
        self.name = name
        self.func = func
        self.params = params
        self.default_result_size = default_result_size

    @property
    def reads(self):
        """Get-/Test- cmdlets change nothing; their output is paged."""
        return self.name.split("-")[0] in ("Get", "Test")

    @property
    def takes_result_size(self):
        return any(p.name == "ResultSize" for p in self.params)

    def bind(self, given):
        return bind(self.name, self.params, given)


def cmdlet(name, *params, default_result_size=None):
    """Register a cmdlet: `func(invocation)` returns the list of output objects."""
    def register(func):
        CMDLETS[name.lower()] = Cmdlet(name, func, params, default_result_size)
        return func
    return register


def identity(mandatory=True, name="Identity"):
    return Param(name, mandatory=mandatory)


def result_size():
    return Param("ResultSize", "result_size")


class Invocation:
    def __init__(self, ctx, tid, spec, params):
        self.ctx = ctx
        self.store = ctx.store
        self.state = ExchangeState(ctx.store)
        self.tid = tid
        self.tenant = ctx.store.get("_", d.TENANT, tid)
        self.cmdlet = spec
        self.params = params
        self.warnings = []

    def warn(self, message):
        self.warnings.append(message)

    def given(self, name):
        return name in self.params

    @property
    def server(self):
        return server_name(self.tid)

    def not_found(self, value):
        return errors.not_found(value, self.server)

    def one(self, found, value):
        """The single object `found` for `value`: Exchange's errors for none and for several."""
        if not found:
            raise self.not_found(value)
        if len(found) > 1:
            raise errors.ambiguous(value)
        return found[0]

    # --- identities -----------------------------------------------------------------------------
    def mailbox(self, value):
        return self.one(self.state.find_mailboxes(self.tid, value), value)

    def service_principal(self, value):
        return self.one(self.state.find_service_principals(self.tid, value), value)

    def principal(self, value):
        """A trustee (-User, -Trustee): a user (any identity of their mailbox, or UPN / object id / display name)
        or an Exchange service principal (its ObjectId). Returns {"kind", "id"}."""
        wanted = value.strip().lower()
        mailboxes = {m.id: m for m in self.state.mailboxes(self.tid)}
        found = []
        for user in self.store.list(self.tid, d.USER):
            box = mailboxes.get(user["id"])
            names = box.identities() if box else {(user.get(k) or "").lower() for k in ("userPrincipalName", "id", "displayName")}
            if wanted in names:
                found.append({"kind": "user", "id": user["id"]})
        for sp in self.state.service_principals(self.tid):
            if wanted in (sp["ObjectId"].lower(), sp["ExchangeObjectId"].lower()):
                found.append({"kind": "servicePrincipal", "id": sp["ObjectId"]})
        return self.one(found, value)

    def principal_name(self, trustee):
        """How Get-MailboxPermission / Get-RecipientPermission show a trustee: a user's UPN, a service
        principal's ObjectId."""
        if trustee["kind"] == "user":
            user = self.store.get(self.tid, d.USER, trustee["id"])
            return user["userPrincipalName"] if user else trustee["id"]
        return trustee["id"]
