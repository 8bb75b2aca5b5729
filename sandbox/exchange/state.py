"""The tenant's Exchange Online state, and the lookups the sandbox's other services (the SMTP server
of a later issue) use to enforce it. Construct `ExchangeState(ctx.store)`; every method takes the
tenant id first. Store kinds are listed in `sandbox/exchange/__init__.py`.

Mailboxes are not stored as such: a user whose directory document has `_mailbox` true HAS a mailbox
(the seed gives one to users with `mailbox: true`; a user created later gets none, as a user without an
Exchange licence has none). What Exchange adds to it (CAS switches, permissions, SendAs, custom
attributes) lives in one `exchange.mailbox` document per mailbox, created on the first change; until
then the defaults below apply."""
import copy
import dataclasses
import uuid
import zlib

from .. import directory as d
from . import opath

MAILBOX, SERVICE_PRINCIPAL, ORGANIZATION = "exchange.mailbox", "exchange.servicePrincipal", "exchange.organization"
SCOPE, ROLE_ASSIGNMENT = "exchange.managementScope", "exchange.roleAssignment"
ORGANIZATION_ID = "organization"
SELF = "NT AUTHORITY\\SELF"

CAS_DEFAULTS = {"SmtpClientAuthenticationDisabled": None, "ImapEnabled": True, "PopEnabled": True, "EwsEnabled": True,
                "MAPIEnabled": True, "OWAEnabled": True, "ActiveSyncEnabled": True}
ORGANIZATION_DEFAULTS = {"EwsEnabled": None, "EwsApplicationAccessPolicy": None, "EwsAllowList": None, "EwsBlockList": None,
                         "EwsAllowedAppIDs": [], "OAuth2ClientProfileEnabled": True, "SmtpActionableMessagesEnabled": True}

# RBAC for Applications: the application roles Exchange Online publishes and what each grants.
APPLICATION_ROLES = {
    "Application Mail.Read": ["Mail.Read"],
    "Application Mail.ReadBasic": ["Mail.ReadBasic"],
    "Application Mail.ReadWrite": ["Mail.ReadWrite"],
    "Application Mail.Send": ["Mail.Send"],
    "Application MailboxSettings.Read": ["MailboxSettings.Read"],
    "Application MailboxSettings.ReadWrite": ["MailboxSettings.ReadWrite"],
    "Application Calendars.Read": ["Calendars.Read"],
    "Application Calendars.ReadWrite": ["Calendars.ReadWrite"],
    "Application Contacts.Read": ["Contacts.Read"],
    "Application Contacts.ReadWrite": ["Contacts.ReadWrite"],
    "Application Mail Full Access": ["Mail.ReadWrite", "Mail.Send"],
    "Application Exchange Full Access": ["Mail.ReadWrite", "Mail.Send", "MailboxSettings.ReadWrite", "Calendars.ReadWrite",
                                         "Contacts.ReadWrite"],
    "Application EWS.AccessAsApp": ["EWS.AccessAsApp"],
    "Application SMTP.SendAsApp": ["SMTP.SendAsApp"],
}


def server_name(tid):
    """The domain controller Exchange names in its errors: stable per tenant."""
    number = zlib.crc32(tid.encode()) % 90 + 1
    return "NAMPR%02dA%03d.PROD.OUTLOOK.COM" % (number % 20 + 1, number)


@dataclasses.dataclass
class Mailbox:
    """A mailbox: who it is (from the directory) and its Exchange state document (`doc`)."""
    user: dict
    tenant: dict
    doc: dict

    @property
    def id(self):
        return self.user["id"]

    @property
    def upn(self):
        return self.user["userPrincipalName"]

    @property
    def alias(self):
        return self.upn.split("@")[0]

    @property
    def primary_smtp(self):
        return self.user.get("mail") or self.upn

    @property
    def guid(self):
        return str(uuid.uuid5(uuid.UUID(self.id), "mailbox"))

    @property
    def exchange_guid(self):
        return str(uuid.uuid5(uuid.UUID(self.id), "exchangeGuid"))

    @property
    def addresses(self):
        out = ["SMTP:" + self.primary_smtp]
        initial = "%s@%s" % (self.alias, self.tenant["initialDomain"])
        if initial.lower() != self.primary_smtp.lower():
            out.append("smtp:" + initial)
        return out

    @property
    def distinguished_name(self):
        dc = ",".join("DC=" + part for part in server_name(self.tenant["id"]).split("."))
        return "CN=%s,OU=%s,OU=Microsoft Exchange Hosted Organizations,%s" % (self.alias, self.tenant["initialDomain"], dc)

    @property
    def cas(self):
        return self.doc["cas"]

    def identities(self):
        """Every value a MailboxIdParameter / recipient id resolves to this mailbox (lower case)."""
        values = [self.alias, self.upn, self.primary_smtp, self.user.get("displayName"), self.guid, self.exchange_guid,
                  self.id, self.distinguished_name]
        values += [a.split(":", 1)[1] for a in self.addresses] + self.addresses
        return {v.lower() for v in values if v}

    def attributes(self):
        """Properties an OPATH filter can test (lower-case names)."""
        attrs = {"alias": self.alias, "name": self.alias, "displayname": self.user.get("displayName"),
                 "primarysmtpaddress": self.primary_smtp, "userprincipalname": self.upn, "windowsemailaddress": self.primary_smtp,
                 "emailaddresses": self.addresses, "recipienttype": "UserMailbox", "recipienttypedetails": "UserMailbox",
                 "externaldirectoryobjectid": self.id, "guid": self.guid, "department": self.user.get("department"),
                 "memberofgroup": []}  # the sandbox has no groups: MemberOfGroup never matches
        for number in range(1, 16):
            attrs["customattribute%d" % number] = self.doc["customAttributes"].get(str(number))
        return attrs


def _mailbox_doc(user_id, stored):
    doc = {"id": user_id, "cas": dict(CAS_DEFAULTS), "permissions": [], "sendAs": [], "customAttributes": {}}
    if stored:
        doc.update(copy.deepcopy(stored))
        doc["cas"] = dict(CAS_DEFAULTS, **stored.get("cas", {}))
    return doc


def trustee_key(trustee):
    return (trustee["kind"], trustee["id"])


class ExchangeState:
    def __init__(self, store):
        self.store = store

    # --- mailboxes ---------------------------------------------------------------------------------
    def _tenant(self, tid):
        return self.store.get("_", d.TENANT, tid)

    def mailboxes(self, tid):
        tenant = self._tenant(tid)
        if tenant is None:
            return []
        stored = {doc["id"]: doc for doc in self.store.list(tid, MAILBOX)}
        return [Mailbox(user, tenant, _mailbox_doc(user["id"], stored.get(user["id"])))
                for user in self.store.list(tid, d.USER) if user.get("_mailbox")]

    def find_mailboxes(self, tid, identity):
        """Every mailbox `identity` names (UPN, any e-mail address, alias, display name, GUIDs, DN)."""
        wanted = (identity or "").strip().lower()
        return [m for m in self.mailboxes(tid) if wanted in m.identities()]

    def mailbox(self, tid, address):
        """The mailbox an address (or any other identity) names, or None when none or several do."""
        found = self.find_mailboxes(tid, address)
        return found[0] if len(found) == 1 else None

    def save_mailbox(self, tid, mailbox):
        self.store.put(tid, MAILBOX, mailbox.doc)

    # --- tenant settings ---------------------------------------------------------------------------
    def organization(self, tid):
        """{"transport": {...}, "organization": {...}}; the transport switch starts from the seed's value."""
        stored = self.store.get(tid, ORGANIZATION, ORGANIZATION_ID)
        if stored is not None:
            return stored
        tenant = self._tenant(tid) or {}
        return {"id": ORGANIZATION_ID,
                "transport": {"SmtpClientAuthenticationDisabled": bool(tenant.get("smtpClientAuthenticationDisabled", False)),
                              "AllowLegacyTLSClients": False},
                "organization": copy.deepcopy(ORGANIZATION_DEFAULTS)}

    def save_organization(self, tid, doc):
        self.store.put(tid, ORGANIZATION, doc)

    def smtp_auth_disabled_for_tenant(self, tid):
        return bool(self.organization(tid)["transport"]["SmtpClientAuthenticationDisabled"])

    def smtp_auth_enabled(self, tid, mailbox):
        """Whether SMTP AUTH (client submission) is allowed for a mailbox (a Mailbox or an address): its own
        switch when set, else the tenant's. None when there is no such mailbox."""
        mailbox = self._as_mailbox(tid, mailbox)
        if mailbox is None:
            return None
        own = mailbox.cas["SmtpClientAuthenticationDisabled"]
        disabled = self.smtp_auth_disabled_for_tenant(tid) if own is None else own
        return not disabled

    def ews_allowed_app_ids(self, tid):
        return list(self.organization(tid)["organization"].get("EwsAllowedAppIDs") or [])

    # --- service principals -------------------------------------------------------------------------
    def service_principals(self, tid):
        return self.store.list(tid, SERVICE_PRINCIPAL)

    def find_service_principals(self, tid, identity):
        """Exchange service principals by ObjectId (= Identity, Name, ServiceId), AppId or DisplayName."""
        wanted = (identity or "").strip().lower()
        return [sp for sp in self.service_principals(tid)
                if wanted in {(sp.get(k) or "").lower() for k in ("ObjectId", "AppId", "DisplayName", "ExchangeObjectId")}]

    def exchange_sp(self, tid, app_id):
        """The Exchange service principal registered (New-ServicePrincipal) for an application id, or None."""
        return next((sp for sp in self.service_principals(tid) if sp["AppId"].lower() == (app_id or "").lower()), None)

    # --- permissions ----------------------------------------------------------------------------------
    def _as_mailbox(self, tid, mailbox):
        return mailbox if isinstance(mailbox, Mailbox) else self.mailbox(tid, mailbox)

    def has_full_access(self, tid, mailbox, principal_id):
        """Whether a user (object id) or a service principal (its object id, registered with Exchange) holds
        FullAccess on a mailbox. A mailbox's own user always does; a Deny entry wins."""
        mailbox = self._as_mailbox(tid, mailbox)
        if mailbox is None or not principal_id:
            return False
        if mailbox.id == principal_id:
            return True
        entries = [e for e in mailbox.doc["permissions"] if e["trustee"]["id"] == principal_id and "FullAccess" in e["rights"]]
        return bool(entries) and not any(e.get("deny") for e in entries)

    def can_send_as(self, tid, mailbox, principal_id):
        """Whether a user or service principal may send as the mailbox: its own user, or a SendAs right."""
        mailbox = self._as_mailbox(tid, mailbox)
        if mailbox is None or not principal_id:
            return False
        return mailbox.id == principal_id or any(e["trustee"]["id"] == principal_id for e in mailbox.doc["sendAs"])

    # --- RBAC for applications ----------------------------------------------------------------------
    def scopes(self, tid):
        return self.store.list(tid, SCOPE)

    def role_assignments(self, tid):
        return self.store.list(tid, ROLE_ASSIGNMENT)

    def scope_covers(self, tid, scope_id, mailbox):
        """Whether a management scope's recipient filter includes the mailbox (no scope: the organization)."""
        if scope_id is None:
            return True
        scope = self.store.get(tid, SCOPE, scope_id)
        if scope is None:
            return False
        return opath.parse(scope["RecipientRestrictionFilter"])(mailbox.attributes())

    def app_in_scope(self, tid, app_id, mailbox, permission):
        """Whether RBAC for Applications lets an app (by app id) use `permission` (e.g. "Mail.Send",
        "SMTP.SendAsApp") on a mailbox: a role assignment of its Exchange service principal whose role grants
        the permission and whose scope includes the mailbox."""
        sp = self.exchange_sp(tid, app_id)
        mailbox = self._as_mailbox(tid, mailbox)
        if sp is None or mailbox is None:
            return False
        for assignment in self.role_assignments(tid):
            if assignment["AppObjectId"] != sp["ObjectId"]:
                continue
            if permission in APPLICATION_ROLES.get(assignment["Role"], []) and self.scope_covers(tid, assignment["ScopeId"], mailbox):
                return True
        return False
