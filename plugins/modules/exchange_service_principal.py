#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: exchange_service_principal
short_description: Register an enterprise application with Exchange Online (New-ServicePrincipal)
version_added: 0.1.0
description:
  - Registers the enterprise application (service principal) of an app with Exchange Online, as the
    C(New-ServicePrincipal) step of the enaio guide does in PowerShell, or removes that registration.
    Exchange needs it before mailbox permissions or RBAC role assignments can name the application,
    and an app signing in to SMTP, IMAP or POP with its own token (client credentials) is refused
    with C(535 5.7.3 Authentication unsuccessful) without it.
  - The module looks up the service principal's object ID in Microsoft Graph itself. The C(-ObjectId) of
    C(New-ServicePrincipal) must be the I(enterprise application's) object ID; the app registration's object ID,
    the common mistake, leaves a registration that Exchange cannot match to the tokens the app gets.
  - An existing registration with a wrong object ID is reported as a warning and fixed, as a change.
    It is removed and registered again with the right one. Mailbox permissions and role assignments
    made for the wrong registration must then be granted again (run those tasks after this one).
  - Runs the cmdlets over the Exchange Online admin REST endpoint that the ExchangeOnlineManagement
    PowerShell module uses; no PowerShell is needed.
  - Needs the Microsoft Graph permission C(Application.Read.All) to look up the service principal, and for
    Exchange the application permission C(Exchange.ManageAsApp) of Office 365 Exchange Online plus the Entra
    role Exchange Administrator.
author:
  - mailauth.m365 contributors (@mailauth)
options:
  app_id:
    description:
      - Application (client) ID of the application to register.
      - Its enterprise application must exist in the tenant (see M(mailauth.m365.service_principal)).
    type: str
    required: true
  display_name:
    description:
      - The name Exchange shows for the registration (C(Get-ServicePrincipal)).
      - Defaults to the enterprise application's display name when the registration is created.
      - When given and an existing registration has another name, it is renamed (C(Set-ServicePrincipal)).
    type: str
  state:
    description:
      - V(present) registers the application (with the right object ID).
      - V(absent) removes the registration from Exchange; the enterprise application in Entra ID stays.
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
  - module: mailauth.m365.service_principal
  - module: mailauth.m365.exchange_mailbox_permission
  - module: mailauth.m365.exchange_app_rbac
  - name: New-ServicePrincipal (Exchange Online PowerShell)
    description: The cmdlet this module runs.
    link: https://learn.microsoft.com/powershell/module/exchange/new-serviceprincipal
  - name: Authenticate an IMAP, POP or SMTP connection using OAuth
    description: Microsoft's guide to registering service principals in Exchange for app-only mail.
    link: https://learn.microsoft.com/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth
notes:
  - The module reads the service principal from Microsoft Graph on every run with O(state=present), to check
    the object ID of an existing registration.
"""

EXAMPLES = r"""
- name: Register the enaio app with Exchange Online (enaio guide, New-ServicePrincipal)
  mailauth.m365.exchange_service_principal:
    app_id: "{{ enaio_app_id }}"
    display_name: enaio SMTP
  delegate_to: localhost
  register: enaio_exchange_sp

- name: Give the app FullAccess to the sending mailbox (enaio guide, Add-MailboxPermission)
  mailauth.m365.exchange_mailbox_permission:
    app_id: "{{ enaio_exchange_sp.exchange_service_principal.app_id }}"
    mailboxes:
      - enaio@contoso.com
    access_rights: [FullAccess]
  delegate_to: localhost

- name: Remove the Exchange registration of the retired TrueChem app
  mailauth.m365.exchange_service_principal:
    app_id: "{{ truechem_app_id }}"
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
exchange_service_principal:
  description:
    - The Exchange registration after the task (as predicted in check mode), or V({}) when there is none.
  returned: always
  type: dict
  contains:
    app_id:
      description: Application (client) ID.
      type: str
      sample: 7d2e4b1a-9c3f-4e8d-a5b6-0f1e2d3c4b5a
    object_id:
      description: Object ID of the enterprise application (service principal) the registration points to.
      type: str
      sample: 3c1d8a2e-5f4b-4d7a-9e21-6b0c8f1a2d34
    display_name:
      description: The name Exchange shows.
      type: str
      sample: enaio SMTP
    identity:
      description:
        - How Exchange identifies the registration (C(-Identity), C(-User) and C(-App) of other cmdlets).
        - V(null) in check mode when it would be created.
      type: str
      sample: 3c1d8a2e-5f4b-4d7a-9e21-6b0c8f1a2d34
    id:
      description: Exchange's own ID of the registration; V(null) in check mode when it would be created.
      type: str
      sample: 3c1d8a2e-5f4b-4d7a-9e21-6b0c8f1a2d34
  sample:
    app_id: 7d2e4b1a-9c3f-4e8d-a5b6-0f1e2d3c4b5a
    object_id: 3c1d8a2e-5f4b-4d7a-9e21-6b0c8f1a2d34
    display_name: enaio SMTP
    identity: 3c1d8a2e-5f4b-4d7a-9e21-6b0c8f1a2d34
    id: 3c1d8a2e-5f4b-4d7a-9e21-6b0c8f1a2d34
replaced_object_id:
  description:
    - The wrong object ID an existing registration had when the task replaced it (usually the app
      registration's object ID); V(null) when nothing was replaced.
  returned: always
  type: str
  sample: 5e0d3f4c-8a1b-4c2d-9e3f-0a1b2c3d4e5f
"""

from ansible_collections.mailauth.m365.plugins.module_utils._errors import (
    ExchangeError,
    ParameterError,
    ReplicationLagError,
)
from ansible_collections.mailauth.m365.plugins.module_utils._exchange import (
    find_service_principal,
    is_not_found,
    report_warnings,
)
from ansible_collections.mailauth.m365.plugins.module_utils._graph import find_service_principal as find_entra_sp
from ansible_collections.mailauth.m365.plugins.module_utils._http import wait_until
from ansible_collections.mailauth.m365.plugins.module_utils._module import GUID_PATTERN, run_module
from ansible_collections.mailauth.m365.plugins.module_utils._reconcile import make_diff

ENTRA_SP_FIELDS = "id,appId,displayName"
ALREADY_EXISTS = "already exists"


def run(module, clients):
    params = module.params
    app_id = (params["app_id"] or "").strip()
    if not GUID_PATTERN.match(app_id):
        raise ParameterError("app_id", "%r is not a GUID." % params["app_id"],
                             "Use the Application (client) ID of the app registration.")
    exchange = clients.exchange
    current = find_service_principal(exchange, app_id)
    if params["state"] == "absent":
        result = ensure_absent(module, exchange, app_id, current)
    else:
        result = ensure_present(module, clients, app_id, current)
    report_warnings(module, exchange)
    return result


def ensure_absent(module, exchange, app_id, current):
    record = dict(exchange_service_principal={}, replaced_object_id=None)
    if current is None:
        return False, record, make_diff({}, {})
    if not module.check_mode:
        remove(exchange, app_id)
    return True, record, make_diff(sp_record(current), {})


def ensure_present(module, clients, app_id, current):
    params = module.params
    exchange = clients.exchange
    entra_sp = find_entra_sp(clients.graph, app_id, select=ENTRA_SP_FIELDS)
    if entra_sp is None:
        raise ParameterError(
            "app_id", "application %s has no enterprise application (service principal) in this tenant." % app_id,
            "Create it first with mailauth.m365.service_principal; Exchange registers service principals, "
            "not app registrations.")
    object_id = entra_sp["id"]
    before = sp_record(current) if current else {}
    wrong_id = current is not None and str(current.get("ObjectId") or "").lower() != object_id.lower()
    name = params["display_name"] or (current or {}).get("DisplayName") or entra_sp.get("displayName") or app_id
    if wrong_id:
        module.warn(
            "The Exchange service principal of %s points to object ID %s, which is not the object ID of the "
            "enterprise application (%s); it is likely the app registration's. Exchange refuses the app's tokens "
            "(535 5.7.3) until it is fixed, so it is registered again with the right object ID. Grant its "
            "mailbox permissions and role assignments again." % (app_id, current.get("ObjectId"), object_id))
    rename = current is not None and not wrong_id and params["display_name"] is not None \
        and params["display_name"] != current.get("DisplayName")
    changed = current is None or wrong_id or rename
    replaced = current.get("ObjectId") if wrong_id else None
    record = dict(replaced_object_id=replaced)
    if not changed:
        after = sp_record(current)
        return False, dict(record, exchange_service_principal=after), make_diff(before, after)
    if module.check_mode:
        if rename:
            after = dict(sp_record(current), display_name=name)
        else:
            after = {"app_id": app_id, "object_id": object_id, "display_name": name, "identity": None, "id": None}
        return True, dict(record, exchange_service_principal=after), make_diff(before, after)

    if rename:
        exchange.write("Set-ServicePrincipal", lambda: _named(find_service_principal(exchange, app_id), name),
                       Identity=app_id, DisplayName=name)
        after = dict(sp_record(current), display_name=name)
        return True, dict(record, exchange_service_principal=after), make_diff(before, after)
    if wrong_id:
        remove(exchange, app_id)
    created = create(clients, app_id, object_id, name)
    after = sp_record(created)
    return True, dict(record, exchange_service_principal=after), make_diff(before, after)


def create(clients, app_id, object_id, name):
    """New-ServicePrincipal, once; return the registration.

    Exchange checks the object ID against Entra ID, which can lag behind a service principal created moments
    ago: "couldn't be found" is waited out like Graph's replication lag.
    """
    exchange = clients.exchange

    seen = []

    def registered():
        found = find_service_principal(exchange, app_id)
        if found and str(found.get("ObjectId") or "").lower() == object_id.lower():
            seen.append(found)
            return found
        return None

    last = []

    def attempt():
        try:
            rows = exchange.write("New-ServicePrincipal", lambda: registered() is not None,
                                  AppId=app_id, ObjectId=object_id, DisplayName=name)
        except ExchangeError as err:
            if is_not_found(err):
                last.append(err)
                return None, err
            if ALREADY_EXISTS in (err.service_message or "").lower():
                # Registered since our read (a parallel run): fine if it is right, else say so.
                found = registered()
                if found is None:
                    raise
                return found, None
            raise
        return (rows[0] if rows else (seen[-1] if seen else registered())), None

    try:
        (row, _error), _waited = wait_until(attempt, lambda outcome: outcome[1] is None,
                                            "The enterprise application %s in Exchange Online" % object_id,
                                            sleep=clients.sleep, clock=clients.clock)
    except ReplicationLagError as err:
        raise ReplicationLagError(last[-1], err.details["attempts"], err.details["waited_seconds"]) from None
    if row is None:
        row = {"AppId": app_id, "ObjectId": object_id, "DisplayName": name}
    return row


def remove(exchange, app_id):
    exchange.write("Remove-ServicePrincipal", lambda: find_service_principal(exchange, app_id) is None,
                   Identity=app_id, Confirm=False)


def _named(found, name):
    return bool(found) and found.get("DisplayName") == name


def sp_record(row):
    """An Exchange ``Get-ServicePrincipal`` row -> the snake_case ``exchange_service_principal`` result."""
    return {
        "app_id": row.get("AppId"),
        "object_id": row.get("ObjectId"),
        "display_name": row.get("DisplayName"),
        "identity": row.get("Identity"),
        "id": row.get("Id"),
    }


def main():
    argument_spec = dict(
        app_id=dict(type="str", required=True),
        display_name=dict(type="str"),
        state=dict(type="str", default="present", choices=["present", "absent"]),
    )
    run_module(run, argument_spec, supports_check_mode=True)


if __name__ == "__main__":
    main()
