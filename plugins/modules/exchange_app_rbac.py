#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: exchange_app_rbac
short_description: Limit an application's mail access to some mailboxes (RBAC for Applications in Exchange Online)
version_added: 0.1.0
description:
  - Gives an application Exchange Online application roles such as C(Application Mail.Send) or
    C(Application SMTP.SendAsApp) for the mailboxes of one management scope only, instead of the whole tenant.
    This is Microsoft's I(RBAC for Applications), which replaces Application Access Policies.
  - The management scope (C(New-ManagementScope -RecipientRestrictionFilter)) is named by O(scope_name) and
    selects mailboxes by an OPATH O(recipient_filter), or by a list of O(mailboxes) the module turns into one.
    Each role of O(roles) is assigned to the application on that scope (C(New-ManagementRoleAssignment -App
    -Role -CustomResourceScope)). Assignments are matched by application, role and scope, whatever their names.
  - O(check_mailboxes) runs C(Test-ServicePrincipalAuthorization) and says per mailbox whether the application
    may act on it, which also works without managing anything.
  - With O(state=absent) the application's assignments on the scope (those of O(roles), or all) are removed,
    then the scope when none of the application's assignments use it any more.
  - Needs the application permission C(Exchange.ManageAsApp) of Office 365 Exchange Online and the Entra role
    Exchange Administrator. The application must be registered with Exchange
    (M(mailauth.m365.exchange_service_principal)).
author:
  - mailauth.m365 contributors (@mailauth)
options:
  app_id:
    description:
      - Application (client) ID of the application whose access is managed.
    type: str
    required: true
  scope_name:
    description:
      - Name of the management scope the roles are limited to.
      - Required unless the task only runs O(check_mailboxes).
    type: str
  recipient_filter:
    description:
      - The scope's OPATH recipient filter, for example C(CustomAttribute1 -eq 'mailauth-senders') or
        C(MemberOfGroup -eq 'CN=Senders,...').
      - Needed to create the scope; when given for an existing scope with another filter, the scope is updated,
        which changes what every role assignment on it reaches.
      - Compared without regard to case, spacing and outer parentheses.
      - Mutually exclusive with O(mailboxes).
    type: str
  mailboxes:
    description:
      - The mailboxes of the scope, by primary SMTP address; the module writes the filter
        C(PrimarySmtpAddress -eq 'a@contoso.com' -or PrimarySmtpAddress -eq 'b@contoso.com') (lower case, sorted).
      - When the scope is created or updated, each address is checked to be a mailbox's primary SMTP address.
      - Mutually exclusive with O(recipient_filter).
    type: list
    elements: str
  roles:
    description:
      - Application roles to assign on the scope, for example V(Application Mail.Send),
        V(Application SMTP.SendAsApp), V(Application Mail.ReadWrite). The C(Application ) prefix may be left out.
      - Roles the application already has on the scope but which are not listed stay, unless O(purge_roles).
      - With O(state=absent), the roles to remove; all of the application's roles on the scope when not given.
    type: list
    elements: str
  purge_roles:
    description:
      - Remove the application's role assignments on the scope whose roles are not in O(roles).
    type: bool
    default: false
  check_mailboxes:
    description:
      - Mailboxes to test the application's access to (C(Test-ServicePrincipalAuthorization)), after the changes.
      - In check mode the test shows the access before the changes.
    type: list
    elements: str
  state:
    description:
      - V(present) creates or updates the scope and assigns the roles; V(absent) removes them.
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
  - module: mailauth.m365.admin_consent
  - name: Role Based Access Control for Applications in Exchange Online
    description: Microsoft's description of RBAC for Applications.
    link: https://learn.microsoft.com/exchange/permissions-exo/application-rbac
notes:
  - Application permissions granted in Entra ID with admin consent (Microsoft Graph C(Mail.Send), Office 365
    Exchange Online C(SMTP.SendAsApp) or C(full_access_as_app)) reach every mailbox and add to what RBAC grants.
    Revoke them (M(mailauth.m365.admin_consent) with O(state=absent)) when limiting access with this module.
    C(Test-ServicePrincipalAuthorization) sees only the RBAC side.
  - Exchange caches application permissions; a change can take from 30 minutes to 2 hours to apply to mail
    sent by the application. O(check_mailboxes) reads the configuration and shows it at once.
  - Assignments of the same roles to the application without a scope (organization-wide) make the scope
    pointless; the module warns about them.
  - Requests per run when nothing changes, two (the scope and the application's assignments), plus one per
    mailbox of O(check_mailboxes).
"""

EXAMPLES = r"""
# TrueChem's guide grants the Graph application permission Mail.Send with admin consent, which lets the app
# send as every mailbox of the tenant. These tasks limit it to the one mailbox TrueChem sends from.
- name: Register the TrueChem app with Exchange Online
  mailauth.m365.exchange_service_principal:
    app_id: "{{ truechem_app_id }}"
  delegate_to: localhost

- name: TrueChem may send mail only as truechem@contoso.com
  mailauth.m365.exchange_app_rbac:
    app_id: "{{ truechem_app_id }}"
    scope_name: TrueChem sender
    mailboxes: [truechem@contoso.com]
    roles: [Application Mail.Send]
    check_mailboxes:
      - truechem@contoso.com
      - ceo@contoso.com
  delegate_to: localhost
  register: truechem_rbac

- name: Fail unless the scope works as intended
  ansible.builtin.assert:
    that:
      - truechem_rbac.mailbox_checks[0].in_scope
      - not truechem_rbac.mailbox_checks[1].in_scope

- name: Revoke the tenant-wide Mail.Send consent of the guide, which would bypass the scope
  mailauth.m365.admin_consent:
    app_id: "{{ truechem_app_id }}"
    permissions:
      - resource: graph
        application: [Mail.Send]
    state: absent
  delegate_to: localhost

- name: SMTP app-only sending for all mailboxes tagged by HR in CustomAttribute1
  mailauth.m365.exchange_app_rbac:
    app_id: "{{ scanner_app_id }}"
    scope_name: Scan-to-mail senders
    recipient_filter: CustomAttribute1 -eq 'scan-to-mail'
    roles: [SMTP.SendAsApp]
  delegate_to: localhost

- name: Is the ERP app allowed on the accounting mailbox?
  mailauth.m365.exchange_app_rbac:
    app_id: "{{ erp_app_id }}"
    check_mailboxes: [accounting@contoso.com]
  delegate_to: localhost

- name: Take the TrueChem app's access away again, with its scope
  mailauth.m365.exchange_app_rbac:
    app_id: "{{ truechem_app_id }}"
    scope_name: TrueChem sender
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
app_rbac:
  description: The scope and the application's role assignments on it after the task (as predicted in check mode).
  returned: always
  type: dict
  contains:
    app_id:
      description: The application (client) ID.
      type: str
      sample: 9b1c2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e
    scope:
      description: The management scope; V({}) when it does not exist or no O(scope_name) was given.
      type: dict
      contains:
        name:
          description: Its name.
          type: str
          sample: TrueChem sender
        identity:
          description: Exchange's identity of the scope; V(null) in check mode when it would be created.
          type: str
          sample: TrueChem sender
        recipient_filter:
          description: The OPATH recipient filter.
          type: str
          sample: PrimarySmtpAddress -eq 'truechem@contoso.com'
    role_assignments:
      description: The application's role assignments on the scope, by role.
      type: list
      elements: dict
      contains:
        role:
          description: The application role.
          type: str
          sample: Application Mail.Send
        name:
          description: The assignment's name; V(null) in check mode when it would be created.
          type: str
          sample: Application Mail.Send-9b1c2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e
        identity:
          description: Exchange's identity of the assignment; V(null) in check mode when it would be created.
          type: str
          sample: Application Mail.Send-9b1c2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e
        scope:
          description: The scope it is limited to.
          type: str
          sample: TrueChem sender
  sample:
    app_id: 9b1c2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e
    scope:
      name: TrueChem sender
      identity: TrueChem sender
      recipient_filter: PrimarySmtpAddress -eq 'truechem@contoso.com'
    role_assignments:
      - role: Application Mail.Send
        name: Application Mail.Send-9b1c2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e
        identity: Application Mail.Send-9b1c2d3e-4f5a-4b6c-8d7e-0f1a2b3c4d5e
        scope: TrueChem sender
changes:
  description: What the task did (or would do in check mode), in order.
  returned: always
  type: list
  elements: str
  sample: ["create scope TrueChem sender", "assign Application Mail.Send"]
mailbox_checks:
  description: The result of C(Test-ServicePrincipalAuthorization) per mailbox of O(check_mailboxes).
  returned: always
  type: list
  elements: dict
  contains:
    mailbox:
      description: The mailbox as given.
      type: str
      sample: truechem@contoso.com
    in_scope:
      description:
        - Whether the application may act on the mailbox through one of its Exchange roles (of O(roles) when
          given).
      type: bool
      sample: true
    roles:
      description: One item per Exchange role of the application.
      type: list
      elements: dict
      contains:
        role:
          description: The role (C(RoleName)).
          type: str
          sample: Application Mail.Send
        in_scope:
          description: Whether the mailbox is in the role's scope.
          type: bool
          sample: true
        allowed_resource_scope:
          description: The scope of the role assignment.
          type: str
          sample: TrueChem sender
        scope_type:
          description: The kind of scope, for example C(CustomRecipientScope) or C(Organization).
          type: str
          sample: CustomRecipientScope
        granted_permissions:
          description: The permissions the role grants.
          type: str
          sample: Mail.Send
  sample:
    - mailbox: truechem@contoso.com
      in_scope: true
      roles:
        - role: Application Mail.Send
          in_scope: true
          allowed_resource_scope: TrueChem sender
          scope_type: CustomRecipientScope
          granted_permissions: Mail.Send
"""

import difflib
import re

from ansible_collections.mailauth.m365.plugins.module_utils._errors import ExchangeError, ParameterError
from ansible_collections.mailauth.m365.plugins.module_utils._exchange import (
    is_not_found,
    read_one,
    report_warnings,
    unique_names,
)
from ansible_collections.mailauth.m365.plugins.module_utils._module import GUID_PATTERN, run_module
from ansible_collections.mailauth.m365.plugins.module_utils._reconcile import make_diff

ROLE_PREFIX = "Application "
# The application roles of RBAC for Applications that Exchange Online publishes (without ROLE_PREFIX). A name
# outside this list would fail only at New-ManagementRoleAssignment, after the scope was written.
APPLICATION_ROLES = ("Mail.Read", "Mail.ReadBasic", "Mail.ReadWrite", "Mail.Send", "MailboxSettings.Read",
                     "MailboxSettings.ReadWrite", "Calendars.Read", "Calendars.ReadWrite", "Contacts.Read",
                     "Contacts.ReadWrite", "Mail Full Access", "Exchange Full Access", "EWS.AccessAsApp",
                     "SMTP.SendAsApp")
# OPATH comparison operators; a filter must compare with one of them (Department -eq 'IT').
OPATH_OPERATOR = re.compile(r"\s-(eq|ne|like|notlike|lt|gt|le|ge|contains|notcontains|in|notin|match|notmatch)\s",
                            re.IGNORECASE)


def run(module, clients):
    params = module.params
    app_id = validate(params)
    exchange = clients.exchange
    scope_name = params["scope_name"]
    roles = normalize_roles(params["roles"])
    changes = []
    before = after = dict(app_id=app_id, scope={}, role_assignments=[])
    if scope_name:
        scope = read_scope(exchange, scope_name)
        assignments = read_assignments(exchange, app_id, required=params["state"] == "present")
        mine = [item for item in assignments if _same(item.get("CustomResourceScope"), scope_name)]
        before = rbac_record(app_id, scope, mine)
        warn_unscoped(module, app_id, assignments, roles)
        if params["state"] == "present":
            after = ensure_present(module, exchange, app_id, scope, mine, roles, changes)
        else:
            after = ensure_absent(module, exchange, app_id, scope, mine, roles, changes)
    checks = [check_mailbox(exchange, app_id, mailbox, roles) for mailbox in unique_names(params["check_mailboxes"])]
    report_warnings(module, exchange)
    return bool(changes), dict(app_rbac=after, changes=changes, mailbox_checks=checks), make_diff(before, after)


def validate(params):
    app_id = (params["app_id"] or "").strip()
    if not GUID_PATTERN.match(app_id):
        raise ParameterError("app_id", "%r is not a GUID." % params["app_id"],
                             "Use the Application (client) ID of the app registration.")
    managed = [name for name in ("recipient_filter", "mailboxes", "roles") if params[name] is not None]
    if params["scope_name"] is None:
        if managed:
            raise ParameterError("scope_name", "is required with %s." % " and ".join(managed),
                                 "Name the management scope the roles are limited to.")
        if params["state"] == "absent":
            raise ParameterError("scope_name", "is required with state=absent.", "Name the scope to remove.")
        if not params["check_mailboxes"]:
            raise ParameterError("scope_name", "nothing to do.",
                                 "Give scope_name with roles and recipient_filter or mailboxes, or check_mailboxes.")
    if params["mailboxes"] is not None and not unique_names(params["mailboxes"]):
        raise ParameterError("mailboxes", "names no mailbox.", "Give the mailboxes' primary SMTP addresses.")
    if params["recipient_filter"] is not None and not params["recipient_filter"].strip():
        raise ParameterError("recipient_filter", "is empty; a scope without filter would reach every mailbox.",
                             "Give an OPATH filter, or mailboxes.")
    if params["recipient_filter"] is not None:
        problem = filter_problem(params["recipient_filter"])
        if problem:
            raise ParameterError("recipient_filter", "%r %s" % (params["recipient_filter"], problem),
                                 "Write an OPATH filter such as \"Department -eq 'Sales'\" (compare with -eq, -ne, "
                                 "-like, ...; quote values in single quotes).")
    known = {(ROLE_PREFIX + name).lower(): ROLE_PREFIX + name for name in APPLICATION_ROLES}
    for role in normalize_roles(params["roles"]) or []:
        if role.lower() not in known:
            close = difflib.get_close_matches(role, list(known.values()), n=3, cutoff=0.6)
            raise ParameterError("roles", "Exchange Online has no application role %r." % role,
                                 "%sKnown roles: %s." % ("Close matches: %s. " % ", ".join(close) if close else "",
                                                         ", ".join(APPLICATION_ROLES)))
    return app_id


def filter_problem(text):
    """Why ``text`` is not an OPATH filter Exchange would parse, or None (a syntax check, not a full parser)."""
    if text.count("'") % 2 or text.count('"') % 2:
        return "has an unclosed quote."
    bare = re.sub(r"'[^']*'|\"[^\"]*\"", "''", text)
    depth = 0
    for char in bare:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            break
    if depth:
        return "has unbalanced parentheses."
    if re.search(r"[=<>!]", bare):
        return "uses =, <, > or ! outside quotes; OPATH compares with -eq, -ne, -lt, -gt."
    if not OPATH_OPERATOR.search(" %s " % bare.replace("(", " ").replace(")", " ")):
        return "has no comparison operator (-eq, -ne, -like, ...)."
    return None


def normalize_roles(roles):
    """Role names with the ``Application `` prefix, without repeats; None when not given."""
    if roles is None:
        return None
    result = []
    for role in roles:
        role = " ".join((role or "").split())
        if not role:
            continue
        if not role.lower().startswith(ROLE_PREFIX.lower()):
            role = ROLE_PREFIX + role
        if role.lower() not in [item.lower() for item in result]:
            result.append(role)
    return result


def ensure_present(module, exchange, app_id, scope, mine, roles, changes):
    params = module.params
    scope_name = params["scope_name"]
    wanted_filter = params["recipient_filter"]
    if params["mailboxes"] is not None:
        wanted_filter = mailbox_filter(params["mailboxes"])
    if scope is None and wanted_filter is None:
        raise ParameterError("recipient_filter", "management scope %r does not exist and a new one needs a filter."
                             % scope_name, "Give recipient_filter or mailboxes.")
    write_scope = scope is None or (wanted_filter is not None
                                    and normalize_filter(scope_filter(scope)) != normalize_filter(wanted_filter))
    have_roles = set(item.get("Role", "").lower() for item in mine)
    adds = [role for role in roles or [] if role.lower() not in have_roles]
    removes = []
    if params["purge_roles"] and roles is not None:
        wanted = set(role.lower() for role in roles)
        removes = [item for item in mine if item.get("Role", "").lower() not in wanted]
    if write_scope and params["mailboxes"] is not None:
        check_primary_addresses(exchange, params["mailboxes"])

    if scope is None:
        changes.append("create scope %s" % scope_name)
    elif write_scope:
        changes.append("update scope %s filter" % scope_name)
    changes.extend("assign %s" % role for role in adds)
    changes.extend("remove %s" % item.get("Role") for item in removes)

    new_scope = scope
    if write_scope:
        new_scope = dict(scope or {"Name": scope_name, "Identity": None}, RecipientFilter=wanted_filter)
    kept = [item for item in mine if item not in removes]
    if module.check_mode or not changes:
        planned = [{"Role": role, "CustomResourceScope": scope_name, "Name": None, "Identity": None} for role in adds]
        return rbac_record(app_id, new_scope, kept + planned)

    written = []
    if scope is None:
        written = exchange.write("New-ManagementScope", lambda: read_scope(exchange, scope_name) is not None,
                                 Name=scope_name, RecipientRestrictionFilter=wanted_filter)
    elif write_scope:
        exchange.write("Set-ManagementScope",
                       lambda: normalize_filter(scope_filter(read_scope(exchange, scope_name) or {}))
                       == normalize_filter(wanted_filter),
                       Identity=scope_name, RecipientRestrictionFilter=wanted_filter)
    for item in removes:
        remove_assignment(exchange, app_id, item)
    added = [assign(exchange, app_id, role, scope_name) for role in adds]
    # New-ManagementScope answers with the new scope; Set- answers with nothing, and the filter is what was sent.
    return rbac_record(app_id, written[0] if written else new_scope, kept + added)


def ensure_absent(module, exchange, app_id, scope, mine, roles, changes):
    scope_name = module.params["scope_name"]
    wanted = None if roles is None else set(role.lower() for role in roles)
    removes = [item for item in mine if wanted is None or item.get("Role", "").lower() in wanted]
    kept = [item for item in mine if item not in removes]
    drop_scope = scope is not None and not kept
    changes.extend("remove %s" % item.get("Role") for item in removes)
    if drop_scope:
        changes.append("remove scope %s" % scope_name)
    if changes and not module.check_mode:
        for item in removes:
            remove_assignment(exchange, app_id, item)
        if drop_scope:
            exchange.write("Remove-ManagementScope", lambda: read_scope(exchange, scope_name) is None,
                           Identity=scope_name, Confirm=False)
    return rbac_record(app_id, None if drop_scope else scope, kept)


def assign(exchange, app_id, role, scope_name):
    """New-ManagementRoleAssignment, once; return the assignment."""
    found = []

    def applied():
        found.extend(item for item in read_assignments(exchange, app_id)
                     if _same(item.get("Role"), role) and _same(item.get("CustomResourceScope"), scope_name))
        return bool(found)

    rows = exchange.write("New-ManagementRoleAssignment", applied, App=app_id, Role=role, CustomResourceScope=scope_name)
    return (rows or found or [{"Role": role, "CustomResourceScope": scope_name}])[0]


def remove_assignment(exchange, app_id, item):
    identity = item.get("Identity") or item.get("Name")
    exchange.write("Remove-ManagementRoleAssignment",
                   lambda: not any((other.get("Identity") or other.get("Name")) == identity
                                   for other in read_assignments(exchange, app_id, required=False)),
                   Identity=identity, Confirm=False)


def read_scope(exchange, name):
    rows = exchange.invoke_optional("Get-ManagementScope", Identity=name)
    return rows[0] if rows else None


def read_assignments(exchange, app_id, required=True):
    """The application's management role assignments; [] for an app Exchange does not know, unless ``required``."""
    try:
        return list(exchange.invoke("Get-ManagementRoleAssignment", RoleAssignee=app_id))
    except ExchangeError as err:
        if not is_not_found(err):
            raise
        if required:
            raise ParameterError("app_id", "application %s is not registered with Exchange Online (%s)."
                                 % (app_id, err.service_message),
                                 "Register it first with mailauth.m365.exchange_service_principal.") from None
        return []


def warn_unscoped(module, app_id, assignments, roles):
    """Organization-wide assignments of the managed roles reach every mailbox, whatever the scope says."""
    for item in assignments:
        if item.get("CustomResourceScope") or (roles is not None and not any(_same(item.get("Role"), role)
                                                                             for role in roles)):
            continue
        module.warn("Application %s also holds %s without a scope (assignment %s), which reaches every mailbox; "
                    "remove it (Remove-ManagementRoleAssignment) for the scope to limit anything."
                    % (app_id, item.get("Role"), item.get("Name") or item.get("Identity")))


def check_primary_addresses(exchange, mailboxes):
    """The scope filter matches PrimarySmtpAddress: an alias or UPN that differs would silently match nothing."""
    for mailbox in unique_names(mailboxes):
        primary = read_one(exchange, "Get-Mailbox", "mailboxes", mailbox).get("PrimarySmtpAddress") or ""
        if primary.lower() != mailbox.lower():
            raise ParameterError("mailboxes", "%s is not the primary SMTP address of its mailbox (%s is)."
                                 % (mailbox, primary), "List the primary address; the scope filter matches it only.")


def check_mailbox(exchange, app_id, mailbox, roles):
    try:
        rows = exchange.invoke("Test-ServicePrincipalAuthorization", Identity=app_id, Resource=mailbox)
    except ExchangeError as err:
        if is_not_found(err):
            raise ParameterError("check_mailboxes", "%s (testing %s for application %s)."
                                 % (err.service_message, mailbox, app_id),
                                 "Check the mailbox address, and that the application is registered with "
                                 "Exchange Online (mailauth.m365.exchange_service_principal).") from None
        raise
    results = [dict(role=row.get("RoleName"), in_scope=bool(row.get("InScope")),
                    allowed_resource_scope=row.get("AllowedResourceScope"), scope_type=row.get("ScopeType"),
                    granted_permissions=row.get("GrantedPermissions")) for row in rows]
    relevant = [item for item in results if roles is None or any(_same(item["role"], role) for role in roles)]
    return dict(mailbox=mailbox, in_scope=any(item["in_scope"] for item in relevant), roles=results)


def mailbox_filter(mailboxes):
    """``PrimarySmtpAddress -eq 'a' -or ...`` for the mailboxes, in lower case and sorted so that it is stable."""
    addresses = sorted(address.lower() for address in unique_names(mailboxes))
    return " -or ".join("PrimarySmtpAddress -eq '%s'" % address.replace("'", "''") for address in addresses)


def normalize_filter(text):
    """An OPATH filter for comparison: lower case, single spaces, single quotes, no enclosing parentheses."""
    text = " ".join((text or "").replace('"', "'").split()).lower()
    while text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
        text = text[1:-1].strip()
    return text


def _balanced(text):
    depth = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def scope_filter(scope):
    # Get-ManagementScope returns the filter as RecipientFilter; the cmdlets take RecipientRestrictionFilter.
    return scope.get("RecipientFilter") or scope.get("RecipientRestrictionFilter")


def _same(first, second):
    return (first or "").strip().lower() == (second or "").strip().lower() and first is not None


def rbac_record(app_id, scope, assignments):
    scope_record = {}
    if scope:
        scope_record = dict(name=scope.get("Name"), identity=scope.get("Identity"), recipient_filter=scope_filter(scope))
    role_assignments = [dict(role=item.get("Role"), name=item.get("Name"), identity=item.get("Identity"),
                             scope=item.get("CustomResourceScope")) for item in assignments]
    return dict(app_id=app_id, scope=scope_record,
                role_assignments=sorted(role_assignments, key=lambda item: (item["role"] or "").lower()))


def main():
    argument_spec = dict(
        app_id=dict(type="str", required=True),
        scope_name=dict(type="str"),
        recipient_filter=dict(type="str"),
        mailboxes=dict(type="list", elements="str"),
        roles=dict(type="list", elements="str"),
        purge_roles=dict(type="bool", default=False),
        check_mailboxes=dict(type="list", elements="str"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    run_module(run, argument_spec, supports_check_mode=True, mutually_exclusive=[("recipient_filter", "mailboxes")])


if __name__ == "__main__":
    main()
