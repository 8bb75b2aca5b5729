#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: exchange_ews_allow_list
short_description: Put applications on Exchange Online's EWS application allow list
version_added: 0.1.0
description:
  - Manages the tenant's EWS application allow list, the organization setting C(EwsAllowedAppIDs)
    (C(Get-OrganizationConfig), C(Set-OrganizationConfig)) that holds the application (client) IDs allowed to
    use Exchange Web Services.
  - Since 2026-10-01 Exchange Online blocks EWS by default for applications missing from that list. Monitor ERP,
    whose guide signs in with C(EWS.AccessAsUser.All), stops sending and receiving mail without it.
  - EWS ends in Exchange Online for every tenant on 2027-04-01; the list only buys time until the product
    moves to Microsoft Graph or SMTP.
  - Exchange replaces the whole list on every write, so the module reads the list, merges the change into it
    and writes the result back; IDs that others put on the list stay unless O(app_ids.set) or
    O(app_ids.remove) says otherwise.
  - Optionally turns EWS on or off for the whole organization (C(EwsEnabled)).
  - Needs the application permission C(Exchange.ManageAsApp) of Office 365 Exchange Online and the Entra role
    Exchange Administrator.
author:
  - mailauth.m365 contributors (@mailauth)
options:
  app_ids:
    description:
      - Application (client) IDs on the allow list, as GUIDs. Compared without regard to case.
      - Takes C(add), C(remove) or C(set), see
        R(the list values guide,ansible_collections.mailauth.m365.docsite.guide_list_values).
      - Not managed when not given.
    type: dict
    suboptions:
      add:
        description: IDs that must be on the list; others stay.
        type: list
        elements: str
      remove:
        description: IDs that must not be on the list; others stay.
        type: list
        elements: str
      set:
        description:
          - Exactly these IDs (order does not matter); others are removed. V([]) empties the list.
          - Cannot be combined with O(app_ids.add) or O(app_ids.remove).
        type: list
        elements: str
  ews_enabled:
    description:
      - Whether EWS is on for the organization (C(EwsEnabled)). V(false) blocks EWS for every application,
        whatever the allow list says.
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
  - module: mailauth.m365.app_registration
  - name: Set-OrganizationConfig (Exchange Online PowerShell)
    description: The cmdlet this module runs.
    link: https://learn.microsoft.com/powershell/module/exchange/set-organizationconfig
notes:
  - Exchange Online takes up to 24 hours to apply a change of the allow list; the module returns at once.
  - Requests per run when nothing changes, one (C(Get-OrganizationConfig)).
"""

EXAMPLES = r"""
- name: Monitor ERP - let the Monitor G5 app keep using EWS until it ends on 2027-04-01
  mailauth.m365.exchange_ews_allow_list:
    app_ids:
      add: ["{{ monitor_app.application.app_id }}"]
  delegate_to: localhost

- name: Monitor ERP moved to Microsoft Graph - take it off the list again
  mailauth.m365.exchange_ews_allow_list:
    app_ids:
      remove: [6f3a1b2c-4d5e-4f60-8a7b-9c0d1e2f3a4b]
  delegate_to: localhost

- name: Only these two applications may use EWS
  mailauth.m365.exchange_ews_allow_list:
    app_ids:
      set:
        - 6f3a1b2c-4d5e-4f60-8a7b-9c0d1e2f3a4b
        - 0c1d2e3f-0001-4a5b-8c7d-9e0f1a2b3c4d
    ews_enabled: true
  delegate_to: localhost
"""

RETURN = r"""
ews:
  description: The organization's EWS settings after the task (as predicted in check mode).
  returned: always
  type: dict
  contains:
    allowed_app_ids:
      description: The application IDs on the allow list (C(EwsAllowedAppIDs)), lower case, in the list's order.
      type: list
      elements: str
      sample: [6f3a1b2c-4d5e-4f60-8a7b-9c0d1e2f3a4b]
    ews_enabled:
      description: Whether EWS is on for the organization; V(null) when Exchange's default applies.
      type: bool
      sample: true
    application_access_policy:
      description: The older EWS access policy (C(EwsApplicationAccessPolicy)), for example C(EnforceAllowList), or V(null).
      type: str
      sample: null
  sample:
    allowed_app_ids: [6f3a1b2c-4d5e-4f60-8a7b-9c0d1e2f3a4b]
    ews_enabled: true
    application_access_policy: null
changes:
  description: The IDs added to and removed from the list (or that would be, in check mode).
  returned: always
  type: dict
  contains:
    added:
      description: IDs added.
      type: list
      elements: str
      sample: [6f3a1b2c-4d5e-4f60-8a7b-9c0d1e2f3a4b]
    removed:
      description: IDs removed.
      type: list
      elements: str
      sample: []
"""

import re

from ansible_collections.mailauth.m365.plugins.module_utils._errors import ParameterError
from ansible_collections.mailauth.m365.plugins.module_utils._exchange import report_warnings
from ansible_collections.mailauth.m365.plugins.module_utils._module import run_module
from ansible_collections.mailauth.m365.plugins.module_utils._reconcile import (
    apply_list_change,
    list_changed,
    list_option,
    make_diff,
)

ALLOW_LIST = "EwsAllowedAppIDs"
ENABLED = "EwsEnabled"
POLICY = "EwsApplicationAccessPolicy"
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


def normalized_change(change):
    """``app_ids`` with every ID checked to be a GUID and lower-cased, so that case is no change."""
    if not change:
        return None
    result = {}
    for key in ("add", "remove", "set"):
        values = change.get(key)
        if values is None:
            continue
        for value in values:
            if not _GUID.match((value or "").strip()):
                raise ParameterError("app_ids", "%r (in %s) is not an application (client) ID." % (value, key),
                                     "Give the application's client ID, a GUID, not its name or object ID.")
        result[key] = [value.strip().lower() for value in values]
    return result


def read_organization(exchange):
    rows = exchange.invoke("Get-OrganizationConfig")
    return rows[0] if rows else {}


def ews_record(allowed, enabled, policy):
    return dict(allowed_app_ids=list(allowed), ews_enabled=enabled, application_access_policy=policy)


def run(module, clients):
    params = module.params
    change = normalized_change(params["app_ids"])
    if change is None and params["ews_enabled"] is None:
        raise ParameterError("app_ids", "nothing to manage.", "Give app_ids (add, remove or set), and/or ews_enabled.")
    exchange = clients.exchange

    organization = read_organization(exchange)
    have = [str(value).lower() for value in organization.get(ALLOW_LIST) or []]
    want = apply_list_change(have, change)
    list_change = list_changed(have, want)
    enabled = organization.get(ENABLED)
    want_enabled = enabled if params["ews_enabled"] is None else params["ews_enabled"]
    enabled_change = want_enabled != enabled
    changed = list_change or enabled_change

    if changed and not module.check_mode:
        settings = {}
        if list_change:
            # The whole list: Exchange replaces it, so what others added is sent back with it.
            settings[ALLOW_LIST] = want
        if enabled_change:
            settings[ENABLED] = want_enabled

        def applied():
            now = read_organization(exchange)
            return (sorted(str(value).lower() for value in now.get(ALLOW_LIST) or []) == sorted(want)
                    and now.get(ENABLED) == want_enabled)

        exchange.write("Set-OrganizationConfig", applied, **settings)
        if list_change:
            module.warn("Exchange Online can take up to 24 hours to apply a change of the EWS allow list.")

    policy = organization.get(POLICY)
    before = ews_record(have, enabled, policy)
    after = ews_record(want, want_enabled, policy)
    report_warnings(module, exchange)
    record = dict(ews=after, changes=dict(added=[value for value in want if value not in have],
                                          removed=[value for value in have if value not in want]))
    return changed, record, make_diff(before, after)


def main():
    argument_spec = dict(
        app_ids=list_option(),
        ews_enabled=dict(type="bool"),
    )
    run_module(run, argument_spec, supports_check_mode=True, required_one_of=[("app_ids", "ews_enabled")])


if __name__ == "__main__":
    main()
