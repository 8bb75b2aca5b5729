#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: exchange_smtp_auth_info
short_description: Report whether authenticated SMTP (SMTP AUTH) is on for mailboxes, and why
version_added: 0.1.0
description:
  - Reports, per mailbox, whether a device or program may sign in to C(smtp.office365.com) as the mailbox with
    SMTP AUTH, and where that comes from - the mailbox's own switch (C(Get-CASMailbox)) or, when the mailbox
    follows the tenant, the tenant-wide switch (C(Get-TransportConfig)).
  - The first thing to check when a device reports C(535 5.7.139 Authentication unsuccessful,
    SmtpClientAuthentication is disabled for the Mailbox) (or C(... for the Tenant)).
  - Needs the application permission C(Exchange.ManageAsApp) of Office 365 Exchange Online and the Entra role
    Exchange Administrator.
author:
  - mailauth.m365 contributors (@mailauth)
options:
  mailboxes:
    description:
      - The mailboxes to report, by address, user principal name or alias.
      - When not given, every mailbox of the tenant is reported.
    type: list
    elements: str
extends_documentation_fragment:
  - mailauth.m365.connection
  - mailauth.m365.attributes.info
  - mailauth.m365.attributes.action_group_exchange
seealso:
  - module: mailauth.m365.exchange_smtp_auth
notes:
  - Security defaults in Entra ID turn SMTP AUTH off whatever these switches say.
  - Requests per run, one per mailbox given (or one per page of 1000 mailboxes for all), plus one for the tenant.
"""

EXAMPLES = r"""
- name: Why does the scanner get 535 5.7.139?
  mailauth.m365.exchange_smtp_auth_info:
    mailboxes: [scanner@contoso.com]
  delegate_to: localhost
  register: smtp_auth

- name: Say where the scanner's setting comes from
  ansible.builtin.debug:
    msg: >-
      SMTP AUTH is {{ 'on' if smtp_auth.mailboxes[0].smtp_auth_enabled else 'off' }} for the scanner,
      set by the {{ smtp_auth.mailboxes[0].source }}

- name: List every mailbox that may use SMTP AUTH
  mailauth.m365.exchange_smtp_auth_info:
  delegate_to: localhost
  register: all_mailboxes

- name: Show them
  ansible.builtin.debug:
    msg: "{{ all_mailboxes.mailboxes | selectattr('smtp_auth_enabled') | map(attribute='primary_smtp_address') }}"
"""

RETURN = r"""
mailboxes:
  description: One item per mailbox; V([]) when the tenant has none.
  returned: always
  type: list
  elements: dict
  contains:
    mailbox:
      description: The mailbox as given in O(mailboxes), else its primary SMTP address.
      type: str
      sample: scanner@contoso.com
    identity:
      description: Exchange's identity of the mailbox.
      type: str
      sample: scanner
    primary_smtp_address:
      description: The primary SMTP address.
      type: str
      sample: scanner@contoso.com
    smtp_auth_enabled:
      description: Whether SMTP AUTH is on for the mailbox, all switches considered.
      type: bool
      sample: false
    source:
      description: V(mailbox) when the mailbox's own switch decides, V(tenant) when it follows the tenant's.
      type: str
      sample: tenant
    mailbox_setting:
      description: The mailbox's own switch; V(null) when it follows the tenant.
      type: bool
      sample: null
    tenant_setting:
      description: The tenant-wide switch.
      type: bool
      sample: false
  sample:
    - mailbox: scanner@contoso.com
      identity: scanner
      primary_smtp_address: scanner@contoso.com
      smtp_auth_enabled: false
      source: tenant
      mailbox_setting: null
      tenant_setting: false
tenant:
  description: The tenant-wide switch.
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


def run(module, clients):
    exchange = clients.exchange
    if module.params["mailboxes"] is None:
        rows = [(row.get("PrimarySmtpAddress"), row) for row in exchange.invoke("Get-CASMailbox", ResultSize="Unlimited")]
    else:
        rows = [(mailbox, read_one(exchange, "Get-CASMailbox", "mailboxes", mailbox))
                for mailbox in unique_names(module.params["mailboxes"])]
    tenant_disabled = bool(read_transport_config(exchange).get(SETTING))
    report_warnings(module, exchange)
    return False, dict(mailboxes=[effective(mailbox, row, tenant_disabled) for mailbox, row in rows],
                       tenant=tenant_smtp_auth_record(tenant_disabled)), None


def effective(mailbox, row, tenant_disabled):
    """What decides SMTP AUTH for one mailbox: its own switch when set, else the tenant's."""
    own = smtp_auth_enabled(row.get(SETTING))
    return dict(mailbox=mailbox, identity=row.get("Identity"), primary_smtp_address=row.get("PrimarySmtpAddress"),
                smtp_auth_enabled=(not tenant_disabled) if own is None else own,
                source="tenant" if own is None else "mailbox", mailbox_setting=own,
                tenant_setting=not tenant_disabled)


def main():
    run_module(run, dict(mailboxes=dict(type="list", elements="str")), supports_check_mode=True)


if __name__ == "__main__":
    main()
