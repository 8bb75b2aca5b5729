#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: exchange_mailbox_permission
short_description: Grant or remove FullAccess and SendAs on Exchange Online mailboxes
version_added: 0.1.0
description:
  - Gives a trustee C(FullAccess) to mailboxes (C(Add-MailboxPermission)) and the right to send as them
    (C(SendAs), C(Add-RecipientPermission)), or takes those rights away, for several mailboxes in one task.
  - The trustee is a user (or group) by its user principal name or address, or an application by its
    application (client) ID; the application's Exchange service principal (see
    M(mailauth.m365.exchange_service_principal)) is then the trustee, as in the enaio guide's
    C(Add-MailboxPermission -User <ObjectID Enterprise Application>).
  - A SMTP sender without C(SendAs) on the address it sends from gets C(550 5.7.60) or C(554 5.2.252 SendAsDenied);
    an application that signs in to a mailbox with its own token needs C(FullAccess) on it.
  - Reads each mailbox's permissions for the trustee once (C(Get-MailboxPermission), C(Get-RecipientPermission))
    and writes only what is missing or, with O(state=absent), what is there.
  - Needs the application permission C(Exchange.ManageAsApp) of Office 365 Exchange Online and the Entra role
    Exchange Administrator.
author:
  - mailauth.m365 contributors (@mailauth)
options:
  mailboxes:
    description:
      - The mailboxes to grant rights on, by address, user principal name or alias.
    type: list
    elements: str
    required: true
  trustee:
    description:
      - The user or group that gets the rights, by user principal name, address or alias.
      - Exactly one of O(trustee) and O(app_id) is required.
    type: str
  app_id:
    description:
      - Application (client) ID of an application that gets the rights, through its Exchange service principal.
      - The application must be registered with Exchange first (M(mailauth.m365.exchange_service_principal)).
    type: str
  access_rights:
    description:
      - The rights to grant or remove. V(FullAccess) opens the mailbox; V(SendAs) sends mail as its address.
    type: list
    elements: str
    choices: [FullAccess, SendAs]
    required: true
  auto_mapping:
    description:
      - Whether Outlook opens a mailbox the trustee user gets C(FullAccess) to automatically (C(-AutoMapping)).
      - Only used when the right is granted; not managed for rights already there. Exchange's default is V(true).
      - Not for applications.
    type: bool
  state:
    description:
      - V(present) grants the rights that are missing; V(absent) removes those that are there.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - mailauth.m365.connection
  - mailauth.m365.attributes
  - mailauth.m365.attributes.action_group_exchange
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
seealso:
  - module: mailauth.m365.exchange_service_principal
  - module: mailauth.m365.exchange_app_rbac
  - name: Add-MailboxPermission (Exchange Online PowerShell)
    description: The cmdlet that grants FullAccess.
    link: https://learn.microsoft.com/powershell/module/exchange/add-mailboxpermission
  - name: Add-RecipientPermission (Exchange Online PowerShell)
    description: The cmdlet that grants SendAs.
    link: https://learn.microsoft.com/powershell/module/exchange/add-recipientpermission
notes:
  - Rights a trustee has through inheritance (from the organization or a database) are reported but cannot be
    removed per mailbox; O(state=absent) warns about them.
  - Requests per run, for N mailboxes and one right, when nothing needs to change is N (2N for both rights), plus
    one to find an application's Exchange service principal.
"""

EXAMPLES = r"""
- name: enaio guide - the enaio app may open the SMTP user's mailbox (Add-MailboxPermission ... FullAccess)
  mailauth.m365.exchange_mailbox_permission:
    app_id: "{{ enaio_app_id }}"
    mailboxes:
      - enaio@contoso.com
    access_rights: [FullAccess]
  delegate_to: localhost

- name: enaio guide - the enaio SMTP user may send as each user it mails for (Send as permissions)
  mailauth.m365.exchange_mailbox_permission:
    trustee: enaio@contoso.com
    mailboxes:
      - alice@contoso.com
      - bob@contoso.com
      - accounting@contoso.com
    access_rights: [SendAs]
  delegate_to: localhost

- name: The scanner account may open and send as the shared scans mailbox, without Outlook mapping it
  mailauth.m365.exchange_mailbox_permission:
    trustee: scanner@contoso.com
    mailboxes: [scans@contoso.com]
    access_rights: [FullAccess, SendAs]
    auto_mapping: false
  delegate_to: localhost

- name: A departed service account loses its rights
  mailauth.m365.exchange_mailbox_permission:
    trustee: old-erp@contoso.com
    mailboxes: [accounting@contoso.com, sales@contoso.com]
    access_rights: [FullAccess, SendAs]
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
permissions:
  description:
    - Per mailbox, which of the managed rights the trustee has after the task (as predicted in check mode).
  returned: always
  type: list
  elements: dict
  contains:
    mailbox:
      description: The mailbox as given in O(mailboxes).
      type: str
      sample: enaio@contoso.com
    trustee:
      description: The trustee as sent to Exchange (the user, or the application's service principal object ID).
      type: str
      sample: 3c1d8a2e-5f4b-4d7a-9e21-6b0c8f1a2d34
    access_rights:
      description: The rights of O(access_rights) the trustee has on the mailbox.
      type: list
      elements: str
      sample: [FullAccess]
    inherited:
      description: Rights the trustee has only through inheritance (not removable per mailbox).
      type: list
      elements: str
      sample: []
  sample:
    - mailbox: enaio@contoso.com
      trustee: 3c1d8a2e-5f4b-4d7a-9e21-6b0c8f1a2d34
      access_rights: [FullAccess]
      inherited: []
changes:
  description: The rights granted (V(add)) or removed (V(remove)), or that would be in check mode.
  returned: always
  type: list
  elements: dict
  contains:
    mailbox:
      description: The mailbox.
      type: str
      sample: enaio@contoso.com
    access_right:
      description: V(FullAccess) or V(SendAs).
      type: str
      sample: FullAccess
    action:
      description: V(add) or V(remove).
      type: str
      sample: add
  sample:
    - mailbox: enaio@contoso.com
      access_right: FullAccess
      action: add
trustee:
  description: The trustee the task managed rights for.
  returned: always
  type: dict
  contains:
    name:
      description: O(trustee), or the application's display name in Exchange.
      type: str
      sample: enaio SMTP
    app_id:
      description: The application (client) ID, for an application; else V(null).
      type: str
      sample: 7d2e4b1a-9c3f-4e8d-a5b6-0f1e2d3c4b5a
    identity:
      description: The value sent to Exchange as C(-User) / C(-Trustee).
      type: str
      sample: 3c1d8a2e-5f4b-4d7a-9e21-6b0c8f1a2d34
"""

from ansible_collections.mailauth.m365.plugins.module_utils._errors import ExchangeError, ParameterError
from ansible_collections.mailauth.m365.plugins.module_utils._exchange import (
    find_service_principal,
    is_not_found,
    mailbox_not_found,
    missing_object,
    report_warnings,
    unique_names,
)
from ansible_collections.mailauth.m365.plugins.module_utils._module import GUID_PATTERN, run_module
from ansible_collections.mailauth.m365.plugins.module_utils._reconcile import make_diff

FULL_ACCESS = "FullAccess"
SEND_AS = "SendAs"
RIGHTS = (FULL_ACCESS, SEND_AS)


class Right:
    """How one access right is read, granted and removed."""

    def __init__(self, name, read, add, remove, trustee_parameter, grants):
        self.name = name
        self.read = read
        self.add = add
        self.remove = remove
        self.trustee_parameter = trustee_parameter
        self.grants = grants


def rights_of(row):
    """The rights of a permission row. Exchange renders a flags value as one string ("FullAccess, ReadPermission")."""
    value = row.get("AccessRights") or []
    items = value if isinstance(value, list) else [value]
    return set(part.strip() for item in items for part in str(item).split(",") if part.strip())


def _full_access_row(row):
    return FULL_ACCESS in rights_of(row) and not row.get("Deny")


def _send_as_row(row):
    return SEND_AS in rights_of(row) and (row.get("AccessControlType") or "Allow") == "Allow"


HANDLERS = {
    FULL_ACCESS: Right(FULL_ACCESS, "Get-MailboxPermission", "Add-MailboxPermission",
                       "Remove-MailboxPermission", "User", _full_access_row),
    SEND_AS: Right(SEND_AS, "Get-RecipientPermission", "Add-RecipientPermission",
                   "Remove-RecipientPermission", "Trustee", _send_as_row),
}


def run(module, clients):
    params = module.params
    mailboxes = unique_names(params["mailboxes"])
    if not mailboxes:
        raise ParameterError("mailboxes", "names no mailbox.", "Give at least one mailbox address.")
    rights = [right for right in RIGHTS if right in (params["access_rights"] or [])]
    if not rights:
        raise ParameterError("access_rights", "names no right.", "Give FullAccess, SendAs or both.")
    if params["app_id"] and not GUID_PATTERN.match(params["app_id"].strip()):
        raise ParameterError("app_id", "%r is not a GUID." % params["app_id"],
                             "Use the Application (client) ID of the app registration.")
    if params["app_id"] and params["auto_mapping"] is not None:
        raise ParameterError("auto_mapping", "applies to users and groups, not to an application.",
                             "Remove auto_mapping from the task.")
    exchange = clients.exchange
    trustee = resolve_trustee(params, exchange)
    if trustee is None:
        # An application without Exchange registration holds no rights: nothing to remove.
        module.warn("Application %s is not registered with Exchange Online, so it holds no mailbox rights."
                    % params["app_id"])
        empty = dict(name=None, app_id=params["app_id"], identity=None)
        permissions = [dict(mailbox=mailbox, trustee=None, access_rights=[], inherited=[]) for mailbox in mailboxes]
        return False, dict(permissions=permissions, changes=[], trustee=empty), make_diff({}, {})

    current = dict((mailbox, read_rights(exchange, mailbox, trustee, rights, params)) for mailbox in mailboxes)
    changes = plan(current, rights, params["state"])
    for mailbox, state in current.items():
        if params["state"] == "absent" and state["inherited"]:
            module.warn("%s has %s on %s only through inheritance, which cannot be removed per mailbox."
                        % (trustee["identity"], " and ".join(state["inherited"]), mailbox))
    if changes and not module.check_mode:
        for change in changes:
            apply(exchange, change, trustee, params)
    after = dict((mailbox, _after(state["explicit"], [change for change in changes if change["mailbox"] == mailbox]))
                 for mailbox, state in current.items())
    permissions = [dict(mailbox=mailbox, trustee=trustee["identity"],
                        access_rights=[right for right in rights if right in after[mailbox]
                                       or right in current[mailbox]["inherited"]],
                        inherited=[right for right in rights if right in current[mailbox]["inherited"]])
                   for mailbox in mailboxes]
    before_diff = dict((mailbox, sorted(set(state["explicit"]) | set(state["inherited"])))
                       for mailbox, state in current.items())
    after_diff = dict((item["mailbox"], item["access_rights"]) for item in permissions)
    report_warnings(module, exchange)
    return bool(changes), dict(permissions=permissions, changes=changes, trustee=trustee), \
        make_diff(before_diff, after_diff)


def resolve_trustee(params, exchange):
    """``{name, app_id, identity}`` of the trustee; None for an application Exchange does not know and absent."""
    if params["trustee"]:
        return dict(name=params["trustee"], app_id=None, identity=params["trustee"].strip())
    app_id = params["app_id"].strip()
    sp = find_service_principal(exchange, app_id)
    if sp is None:
        if params["state"] == "absent":
            return None
        raise ParameterError("app_id", "application %s is not registered with Exchange Online." % app_id,
                             "Register it first with mailauth.m365.exchange_service_principal.")
    # The enterprise application's object ID, as the enaio guide passes to -User.
    return dict(name=sp.get("DisplayName"), app_id=app_id, identity=sp.get("ObjectId") or sp.get("Identity"))


def read_rights(exchange, mailbox, trustee, rights, params):
    """``{"explicit": [rights set on the mailbox], "inherited": [rights only inherited]}`` of the trustee."""
    explicit = []
    inherited = []
    for right in rights:
        handler = HANDLERS[right]
        rows = _read(exchange, handler, mailbox, trustee, params)
        # -User / -Trustee already filter; built-in principals such as NT AUTHORITY\SELF never are the trustee.
        granting = [row for row in rows if handler.grants(row) and not _builtin(row, trustee)]
        if any(not row.get("IsInherited") for row in granting):
            explicit.append(right)
        elif granting:
            inherited.append(right)
    return dict(explicit=explicit, inherited=inherited)


def _read(exchange, handler, mailbox, trustee, params):
    try:
        return exchange.invoke(handler.read, Identity=mailbox, **{handler.trustee_parameter: trustee["identity"]})
    except ExchangeError as err:
        if is_not_found(err):
            raise not_found(err, mailbox, trustee, params) from None
        raise


def not_found(err, mailbox, trustee, params):
    """A ``ParameterError`` naming the option whose value Exchange could not find."""
    missing = (missing_object(err) or "").lower()
    if missing and missing == mailbox.lower():
        return mailbox_not_found("mailboxes", mailbox, err)
    option = "trustee" if params["trustee"] else "app_id"
    if missing and missing == (trustee["identity"] or "").lower():
        return ParameterError(option, "Exchange Online has no recipient %r (%s)." % (trustee["identity"],
                                                                                     err.service_message),
                              "Check the user principal name or address.")
    return ParameterError("mailboxes", "%s (reading %s for %s)." % (err.service_message, mailbox, trustee["identity"]),
                          "Check the mailbox addresses and %s." % option)


def _builtin(row, trustee):
    principal = str(row.get("User") or row.get("Trustee") or "")
    return principal.upper().startswith("NT AUTHORITY\\") and principal.lower() != trustee["identity"].lower()


def plan(current, rights, state):
    changes = []
    for mailbox, have in current.items():
        for right in rights:
            if state == "present" and right not in have["explicit"] and right not in have["inherited"]:
                changes.append(dict(mailbox=mailbox, access_right=right, action="add"))
            elif state == "absent" and right in have["explicit"]:
                changes.append(dict(mailbox=mailbox, access_right=right, action="remove"))
    return changes


def apply(exchange, change, trustee, params):
    """Grant or remove one right; a write without answer is read back before it is sent again."""
    handler = HANDLERS[change["access_right"]]
    mailbox = change["mailbox"]
    adding = change["action"] == "add"
    parameters = {"Identity": mailbox, handler.trustee_parameter: trustee["identity"],
                  "AccessRights": [handler.name]}
    if handler.name == FULL_ACCESS:
        # The same as the Exchange admin center's grant: the mailbox and all its folders.
        parameters["InheritanceType"] = "All"
        if adding and params["auto_mapping"] is not None:
            parameters["AutoMapping"] = params["auto_mapping"]
    if not adding or handler.name == SEND_AS:
        parameters["Confirm"] = False

    def applied():
        rows = _read(exchange, handler, mailbox, trustee, params)
        has = any(handler.grants(row) and not row.get("IsInherited") and not _builtin(row, trustee) for row in rows)
        return has == adding

    exchange.write(handler.add if adding else handler.remove, applied, **parameters)


def _after(explicit, changes):
    result = list(explicit)
    for change in changes:
        if change["action"] == "add":
            result.append(change["access_right"])
        elif change["access_right"] in result:
            result.remove(change["access_right"])
    return result


def main():
    argument_spec = dict(
        mailboxes=dict(type="list", elements="str", required=True),
        trustee=dict(type="str"),
        app_id=dict(type="str"),
        access_rights=dict(type="list", elements="str", choices=list(RIGHTS), required=True),
        auto_mapping=dict(type="bool"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    run_module(run, argument_spec, supports_check_mode=True,
               mutually_exclusive=[("trustee", "app_id")], required_one_of=[("trustee", "app_id")])


if __name__ == "__main__":
    main()
