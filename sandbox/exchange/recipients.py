"""Mailbox cmdlets: Get-/Set-Mailbox, Get-/Set-CASMailbox (the per-mailbox SMTP AUTH switch),
Add-/Get-/Remove-MailboxPermission (FullAccess) and Add-/Get-/Remove-RecipientPermission (SendAs)."""
from . import errors, opath
from .cmdlet import Param, cmdlet, identity, result_size
from .state import SELF

ACCESS_RIGHTS = ("ChangeOwner", "ChangePermission", "DeleteItem", "ExternalAccount", "FullAccess", "ReadPermission")
INHERITANCE = ("None", "All", "Descendents", "SelfAndChildren", "Children")
CAS_SWITCHES = ("ImapEnabled", "PopEnabled", "EwsEnabled", "MAPIEnabled", "OWAEnabled", "ActiveSyncEnabled")
CUSTOM_ATTRIBUTES = ["CustomAttribute%d" % n for n in range(1, 16)]
# Exchange's warnings when a permission to add is there already, or one to remove is not.
ALREADY_PRESENT = 'The appropriate access control entry is already present on object "%s" for account "%s".'
NOT_PRESENT = 'Can\'t remove the access control entry on the object "%s" for account "%s" because the ACE doesn\'t exist on the object.'


def _mailboxes(inv):
    """The mailboxes a Get- cmdlet covers: the one -Identity names, else all (optionally -Filter'ed)."""
    if inv.given("Identity"):
        return [inv.mailbox(inv.params["Identity"])]
    found = inv.state.mailboxes(inv.tid)
    if inv.params.get("Filter"):
        try:
            test = opath.parse(inv.params["Filter"])
        except opath.FilterError as exc:
            raise errors.binding("Cannot bind parameter 'Filter' to the target. Exception setting \"Filter\": \"%s\"" % exc)
        found = [m for m in found if test(m.attributes())]
    return found


def _mailbox_object(box):
    out = {"Identity": box.alias, "Id": box.alias, "Name": box.alias, "Alias": box.alias,
           "DisplayName": box.user.get("displayName"), "PrimarySmtpAddress": box.primary_smtp,
           "WindowsEmailAddress": box.primary_smtp, "UserPrincipalName": box.upn, "ExternalDirectoryObjectId": box.id,
           "Guid": box.guid, "ExchangeGuid": box.exchange_guid, "DistinguishedName": box.distinguished_name,
           "RecipientType": "UserMailbox", "RecipientTypeDetails": "UserMailbox", "EmailAddresses": box.addresses,
           "IsMailboxEnabled": True, "AccountDisabled": not box.user.get("accountEnabled", True),
           "HiddenFromAddressListsEnabled": False, "GrantSendOnBehalfTo": []}
    for number, name in enumerate(CUSTOM_ATTRIBUTES, 1):
        out[name] = box.doc["customAttributes"].get(str(number)) or ""
    return out


# --- mailboxes ------------------------------------------------------------------------------------
@cmdlet("Get-Mailbox", identity(False), result_size(), Param("Filter"),
        Param("RecipientTypeDetails", "strings"), default_result_size=1000)
def get_mailbox(inv):
    wanted = {t.lower() for t in inv.params.get("RecipientTypeDetails") or []}
    return [_mailbox_object(b) for b in _mailboxes(inv) if not wanted or "usermailbox" in wanted]


@cmdlet("Set-Mailbox", identity(), *[Param(name, nullable=True) for name in CUSTOM_ATTRIBUTES])
def set_mailbox(inv):
    box = inv.mailbox(inv.params["Identity"])
    for number, name in enumerate(CUSTOM_ATTRIBUTES, 1):
        if inv.given(name):
            box.doc["customAttributes"][str(number)] = inv.params[name]
    inv.state.save_mailbox(inv.tid, box)
    return []


def _cas_object(box):
    out = {"Identity": box.alias, "Name": box.alias, "DisplayName": box.user.get("displayName"),
           "PrimarySmtpAddress": box.primary_smtp, "ExternalDirectoryObjectId": box.id, "Guid": box.guid,
           "SmtpClientAuthenticationDisabled": box.cas["SmtpClientAuthenticationDisabled"]}
    out.update((name, box.cas[name]) for name in CAS_SWITCHES)
    return out


@cmdlet("Get-CASMailbox", identity(False), result_size(), Param("Filter"), default_result_size=1000)
def get_cas_mailbox(inv):
    return [_cas_object(b) for b in _mailboxes(inv)]


@cmdlet("Set-CASMailbox", identity(), Param("SmtpClientAuthenticationDisabled", "nullable_bool"),
        *[Param(name, "bool") for name in CAS_SWITCHES])
def set_cas_mailbox(inv):
    """$null for SmtpClientAuthenticationDisabled: the mailbox follows the tenant's transport setting."""
    box = inv.mailbox(inv.params["Identity"])
    for name in ("SmtpClientAuthenticationDisabled",) + CAS_SWITCHES:
        if inv.given(name):
            box.cas[name] = inv.params[name]
    inv.state.save_mailbox(inv.tid, box)
    return []


# --- FullAccess and other mailbox permissions --------------------------------------------------------
def _permission_object(inv, box, entry):
    return {"Identity": box.alias, "User": inv.principal_name(entry["trustee"]), "AccessRights": list(entry["rights"]),
            "IsInherited": False, "Deny": bool(entry.get("deny")), "InheritanceType": entry.get("inheritance", "All"),
            "IsValid": True}


def _self_permission(box):
    return {"Identity": box.alias, "User": SELF, "AccessRights": ["FullAccess, ReadPermission"], "IsInherited": False,
            "Deny": False, "InheritanceType": "All", "IsValid": True}


def _entries(box, trustee, deny):
    return [e for e in box.doc["permissions"] if e["trustee"] == trustee and bool(e.get("deny")) == deny]


PERMISSION_PARAMS = (identity(), Param("User", mandatory=True),
                     Param("AccessRights", "enums", mandatory=True, choices=ACCESS_RIGHTS,
                           type_name="Microsoft.Exchange.Management.RecipientTasks.MailboxRights[]"),
                     Param("InheritanceType", "enum", choices=INHERITANCE,
                           type_name="System.DirectoryServices.ActiveDirectorySecurityInheritance"),
                     Param("Deny", "switch"))


@cmdlet("Get-MailboxPermission", identity(), Param("User"), result_size())
def get_mailbox_permission(inv):
    box = inv.mailbox(inv.params["Identity"])
    entries = box.doc["permissions"]
    if inv.given("User"):
        trustee = inv.principal(inv.params["User"])
        return [_permission_object(inv, box, e) for e in entries if e["trustee"] == trustee]
    return [_self_permission(box)] + [_permission_object(inv, box, e) for e in entries]


@cmdlet("Add-MailboxPermission", *PERMISSION_PARAMS, Param("AutoMapping", "bool"))
def add_mailbox_permission(inv):
    box = inv.mailbox(inv.params["Identity"])
    trustee = inv.principal(inv.params["User"])
    deny = inv.params.get("Deny", False)
    current = _entries(box, trustee, deny)
    held = {r for e in current for r in e["rights"]}
    wanted = [r for r in inv.params["AccessRights"] if r not in held]
    if not wanted:
        inv.warn(ALREADY_PRESENT % (box.alias, inv.principal_name(trustee)))
        return []
    if current:
        entry = current[0]
        entry["rights"] = entry["rights"] + wanted
    else:
        entry = {"trustee": trustee, "rights": wanted, "deny": deny, "inheritance": inv.params.get("InheritanceType") or "All",
                 "autoMapping": inv.params.get("AutoMapping", True)}
        box.doc["permissions"].append(entry)
    inv.state.save_mailbox(inv.tid, box)
    return [_permission_object(inv, box, entry)]


@cmdlet("Remove-MailboxPermission", *PERMISSION_PARAMS, Param("BypassMasterAccountSid", "switch"))
def remove_mailbox_permission(inv):
    box = inv.mailbox(inv.params["Identity"])
    trustee = inv.principal(inv.params["User"])
    removed = False
    for entry in _entries(box, trustee, inv.params.get("Deny", False)):
        kept = [r for r in entry["rights"] if r not in inv.params["AccessRights"]]
        removed = removed or len(kept) < len(entry["rights"])
        entry["rights"] = kept
    if not removed:
        inv.warn(NOT_PRESENT % (box.alias, inv.principal_name(trustee)))
        return []
    box.doc["permissions"] = [e for e in box.doc["permissions"] if e["rights"]]
    inv.state.save_mailbox(inv.tid, box)
    return []


# --- SendAs ----------------------------------------------------------------------------------------
def _send_as_object(inv, box, trustee_name):
    return {"Identity": box.alias, "Trustee": trustee_name, "AccessControlType": "Allow", "AccessRights": ["SendAs"],
            "IsInherited": False, "InheritanceType": "None"}


SEND_AS_PARAMS = (identity(), Param("Trustee", mandatory=True),
                  Param("AccessRights", "enums", mandatory=True, choices=("SendAs",),
                        type_name="Microsoft.Exchange.Management.RecipientTasks.RecipientAccessRight[]"))


@cmdlet("Get-RecipientPermission", identity(False), Param("Trustee"),
        Param("AccessRights", "enums", choices=("SendAs",), type_name="Microsoft.Exchange.Management.RecipientTasks.RecipientAccessRight[]"),
        result_size(), default_result_size=1000)
def get_recipient_permission(inv):
    boxes = [inv.mailbox(inv.params["Identity"])] if inv.given("Identity") else inv.state.mailboxes(inv.tid)
    trustee = inv.principal(inv.params["Trustee"]) if inv.given("Trustee") else None
    out = []
    for box in boxes:
        if trustee is None:
            out.append(_send_as_object(inv, box, SELF))  # every mailbox lets its own account send as itself
        out += [_send_as_object(inv, box, inv.principal_name(e["trustee"])) for e in box.doc["sendAs"]
                if trustee is None or e["trustee"] == trustee]
    return out


@cmdlet("Add-RecipientPermission", *SEND_AS_PARAMS)
def add_recipient_permission(inv):
    box = inv.mailbox(inv.params["Identity"])
    trustee = inv.principal(inv.params["Trustee"])
    name = inv.principal_name(trustee)
    if any(e["trustee"] == trustee for e in box.doc["sendAs"]):
        inv.warn(ALREADY_PRESENT % (box.alias, name))
        return []
    box.doc["sendAs"].append({"trustee": trustee})
    inv.state.save_mailbox(inv.tid, box)
    return [_send_as_object(inv, box, name)]


@cmdlet("Remove-RecipientPermission", *SEND_AS_PARAMS)
def remove_recipient_permission(inv):
    box = inv.mailbox(inv.params["Identity"])
    trustee = inv.principal(inv.params["Trustee"])
    kept = [e for e in box.doc["sendAs"] if e["trustee"] != trustee]
    if len(kept) == len(box.doc["sendAs"]):
        inv.warn(NOT_PRESENT % (box.alias, inv.principal_name(trustee)))
        return []
    box.doc["sendAs"] = kept
    inv.state.save_mailbox(inv.tid, box)
    return []
