#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: exchange_smtp_auth
short_description: Turn authenticated SMTP (SMTP AUTH) on or off per mailbox and for the tenant
version_added: 0.1.0
description:
  - Sets the I(Authenticated SMTP) switch of mailboxes, the checkbox the Sage 100, XLReporter and enaio guides
    tick under I(Mail > Manage email apps) in the Microsoft 365 admin center (C(Set-CASMailbox
    -SmtpClientAuthenticationDisabled)), and the tenant-wide switch (C(Set-TransportConfig
    -SmtpClientAuthenticationDisabled)).
  - A mailbox either follows the tenant's switch (V(default)) or overrides it (V(true), V(false)). A device or
    program that signs in to C(smtp.office365.com) as a mailbox with SMTP AUTH off gets
    C(535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox) (or
    C(... for the Tenant)).
  - Microsoft recommends keeping the tenant switch off and turning SMTP AUTH on only for the mailboxes that
    need it.
  - M(mailauth.m365.exchange_smtp_auth_info) reports the effective state.
  - Needs the application permission C(Exchange.ManageAsApp) of Office 365 Exchange Online and the Entra role
    Exchange Administrator.
author:
  - mailauth.m365 contributors (@mailauth)
options:
  mailboxes:
    description:
      - Mailboxes whose switch is set to O(enabled), by address, user principal name or alias.
      - At least one of O(mailboxes) and O(tenant_enabled) is required.
    type: list
    elements: str
  enabled:
    description:
      - V(true) turns SMTP AUTH on for O(mailboxes), V(false) turns it off, whatever the tenant's switch says.
      - V(default) removes the mailbox's own setting (C($null)), so the mailbox follows the tenant's switch.
      - Required with O(mailboxes).
    type: raw
  tenant_enabled:
    description:
      - The tenant-wide switch that mailboxes with V(default) follow (C(Set-TransportConfig)).
      - Not managed when not given.
    type: bool
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
  - module: mailauth.m365.exchange_smtp_auth_info
  - name: Enable or disable authenticated client SMTP submission (SMTP AUTH) in Exchange Online
    description: Microsoft's description of the two switches.
    link: https://learn.microsoft.com/exchange/clients-and-mobile-in-exchange-online/authenticated-client-smtp-submission
notes:
  - Security defaults in Entra ID turn SMTP AUTH off whatever these switches say.
  - Requests per run when nothing changes, one per mailbox, plus one with O(tenant_enabled).
"""

EXAMPLES = r"""
- name: Sage 100 - Authenticated SMTP for the user that sends the company's e-mail
  mailauth.m365.exchange_smtp_auth:
    mailboxes: [admin@contoso.com]
    enabled: true
  delegate_to: localhost

- name: Keep SMTP AUTH off for the tenant, on only for the XLReporter and enaio senders
  mailauth.m365.exchange_smtp_auth:
    tenant_enabled: false
    mailboxes:
      - reports@contoso.com
      - enaio@contoso.com
    enabled: true
  delegate_to: localhost

- name: A retired scanner mailbox follows the tenant again
  mailauth.m365.exchange_smtp_auth:
    mailboxes: [scanner@contoso.com]
    enabled: default
  delegate_to: localhost
"""

RETURN = r"""
mailboxes:
  description: The mailboxes of O(mailboxes) with their switch after the task (as predicted in check mode).
  returned: always
  type: list
  elements: dict
  contains:
    mailbox:
      description: The mailbox as given.
      type: str
      sample: reports@contoso.com
    identity:
      description: Exchange's identity of the mailbox.
      type: str
      sample: reports
    primary_smtp_address:
      description: The mailbox's primary SMTP address.
      type: str
      sample: reports@contoso.com
    smtp_auth_enabled:
      description: The mailbox's own setting; V(null) when it follows the tenant's switch.
      type: bool
      sample: true
    smtp_client_authentication_disabled:
      description: Exchange's C(SmtpClientAuthenticationDisabled) of the mailbox (the inverse; V(null) = tenant).
      type: bool
      sample: false
  sample:
    - mailbox: reports@contoso.com
      identity: reports
      primary_smtp_address: reports@contoso.com
      smtp_auth_enabled: true
      smtp_client_authentication_disabled: false
tenant:
  description: The tenant-wide switch after the task; V({}) when O(tenant_enabled) was not given.
  returned: always
  type: dict
  contains:
    smtp_auth_enabled:
      description: Whether SMTP AUTH is on for mailboxes that follow the tenant.
      type: bool
      sample: false
    smtp_client_authentication_disabled:
      description: Exchange's C(SmtpClientAuthenticationDisabled) of the transport configuration.
      type: bool
      sample: true
"""

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.mailauth.m365.plugins.module_utils._errors import ParameterError
from ansible_collections.mailauth.m365.plugins.module_utils._exchange import SMTP_AUTH_SETTING as SETTING
from ansible_collections.mailauth.m365.plugins.module_utils._exchange import (
    read_one,
    read_transport_config,
    report_warnings,
    smtp_auth_enabled,
    tenant_smtp_auth_record,
    unique_names,
)
from ansible_collections.mailauth.m365.plugins.module_utils._module import run_module
from ansible_collections.mailauth.m365.plugins.module_utils._reconcile import make_diff

DEFAULT = "default"


def wanted_disabled(enabled):
    """``enabled`` (true, false or default) -> the ``SmtpClientAuthenticationDisabled`` to set."""
    if isinstance(enabled, str) and enabled.strip().lower() == DEFAULT:
        return None
    try:
        return not boolean(enabled, strict=True)
    except TypeError:
        raise ParameterError("enabled", "%r is neither true, false nor default." % (enabled,),
                             "Use true, false, or default (follow the tenant's switch).") from None


def run(module, clients):
    params = module.params
    mailboxes = unique_names(params["mailboxes"])
    if params["mailboxes"] is not None and not mailboxes:
        raise ParameterError("mailboxes", "names no mailbox.", "Give mailbox addresses, or leave mailboxes out.")
    if mailboxes and params["enabled"] is None:
        raise ParameterError("enabled", "is required with mailboxes.", "Set it to true, false or default.")
    if not mailboxes and params["tenant_enabled"] is None:
        raise ParameterError("mailboxes", "nothing to manage.", "Give mailboxes with enabled, and/or tenant_enabled.")
    disabled = wanted_disabled(params["enabled"]) if mailboxes else None
    exchange = clients.exchange

    rows = [(mailbox, read_one(exchange, "Get-CASMailbox", "mailboxes", mailbox)) for mailbox in mailboxes]
    transport = read_transport_config(exchange) if params["tenant_enabled"] is not None else None
    pending = [mailbox for mailbox, row in rows if row.get(SETTING) != disabled]
    tenant_disabled = None if transport is None else not params["tenant_enabled"]
    tenant_change = transport is not None and bool(transport.get(SETTING)) != tenant_disabled
    changed = bool(pending) or tenant_change

    if changed and not module.check_mode:
        # The tenant first: mailboxes set to default follow it as soon as they are set.
        if tenant_change:
            exchange.write("Set-TransportConfig",
                           lambda: bool(read_transport_config(exchange).get(SETTING)) == tenant_disabled,
                           **{SETTING: tenant_disabled})
        for mailbox in pending:
            exchange.write("Set-CASMailbox",
                           lambda mailbox=mailbox: read_one(exchange, "Get-CASMailbox", "mailboxes", mailbox)
                           .get(SETTING) == disabled,
                           Identity=mailbox, **{SETTING: disabled})

    before = dict(mailboxes=[mailbox_record(mailbox, row) for mailbox, row in rows],
                  tenant=tenant_smtp_auth_record(transport.get(SETTING)) if transport is not None else {})
    after = dict(mailboxes=[mailbox_record(mailbox, dict(row, **{SETTING: disabled})) for mailbox, row in rows],
                 tenant=tenant_smtp_auth_record(tenant_disabled) if transport is not None else {})
    report_warnings(module, exchange)
    return changed, after, make_diff(before, after)


def mailbox_record(mailbox, row):
    """A ``Get-CASMailbox`` row -> the snake_case mailbox result."""
    return dict(mailbox=mailbox, identity=row.get("Identity"), primary_smtp_address=row.get("PrimarySmtpAddress"),
                smtp_auth_enabled=smtp_auth_enabled(row.get(SETTING)),
                smtp_client_authentication_disabled=row.get(SETTING))


def main():
    argument_spec = dict(
        mailboxes=dict(type="list", elements="str"),
        enabled=dict(type="raw"),
        tenant_enabled=dict(type="bool"),
    )
    run_module(run, argument_spec, supports_check_mode=True, required_one_of=[("mailboxes", "tenant_enabled")],
               required_by=dict(mailboxes="enabled"))


if __name__ == "__main__":
    main()
