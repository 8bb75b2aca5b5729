#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: app_secret
short_description: Add, rotate and remove named client secrets of an Entra ID app registration
version_added: 0.1.0
description:
  - Manages the client secrets (I(Certificates & secrets), I(Client secrets) in the portal) of an app
    registration, by their description (O(display_name)), that is, the secret a mail server such as
    TrueChem, XLReporter or enaio signs in with.
  - With O(state=present), adds a secret of that name when there is none, or when the newest one has expired
    or expires within O(rotate_before_days). Otherwise nothing changes, and the secret's value is not
    returned, because Microsoft Graph only shows it once, when it is created.
  - The value of a new secret is returned as RV(secret.value) in the run that created it, and never again.
    Register the result with C(no_log=true) and hand the value straight to the server or a secret store.
  - Rotation is two steps, so that a server is never left with a removed secret. First add a new secret
    (O(rotate_before_days)) and update the servers, then remove the superseded secret with
    O(remove_superseded=true).
  - With O(state=absent), removes every secret of that name, or the one secret O(key_id).
  - A new secret may take a few seconds before sign-ins accept it (Entra replication); the module returns
    at once.
  - Needs the Microsoft Graph permission C(Application.ReadWrite.All), or C(Application.ReadWrite.OwnedBy)
    for an app the signed-in identity owns.
author:
  - mailauth.m365 contributors (@mailauth)
options:
  display_name:
    description:
      - The secret's description. Secrets are found by it (ignoring case), so it should name what the
        secret is for, for example C(TrueChemEmailSecret).
      - Required with O(state=present). With O(state=absent), O(display_name) or O(key_id) is required.
    type: str
  state:
    description:
      - V(present) makes sure a valid secret of that name exists (see O(rotate_before_days)).
      - V(absent) removes the secrets of that name (or the one O(key_id)).
    type: str
    choices: [present, absent]
    default: present
  end_date:
    description:
      - When a new secret expires, as an ISO 8601 date (C(2027-06-30), meaning 00:00 UTC) or date-time
        (C(2027-06-30T12:00:00+02:00)). Quote it in YAML.
      - It must lie in the future and at most 24 months ahead, the longest the portal offers.
      - Only used when a secret is added; an existing secret's dates cannot be changed.
      - Mutually exclusive with O(lifetime_days).
    type: str
  lifetime_days:
    description:
      - How many days a new secret is valid, counted from the moment it is added.
      - At most 730 (24 months). Without O(end_date) and O(lifetime_days), 730 days.
      - Only used when a secret is added.
    type: int
  rotate_before_days:
    description:
      - Add a new secret of the same name when the newest one expires within this many days.
      - Must be less than the lifetime of a new secret, else every run would add one.
      - The older secret stays until O(remove_superseded=true) removes it.
      - Without it, a new secret is only added when there is none of that name or the newest has expired.
    type: int
  rotate_now:
    description:
      - Add a new secret of this name in this run, even when the newest one is valid and not due, as the first
        step of an unplanned rotation, for example after the value was lost or may have leaked.
      - Every run with it adds a secret; the older ones stay until O(remove_superseded=true) removes them.
      - Only with O(state=present).
    type: bool
    default: false
  remove_superseded:
    description:
      - Remove the secrets of this name other than the newest one.
      - Use it in a second task, after the servers got the new secret.
    type: bool
    default: false
  key_id:
    description:
      - With O(state=absent), remove only the secret with this key ID (the I(Secret ID) of the portal).
      - If O(display_name) is given too, the secret must have that name.
    type: str
notes:
  - Secrets are found by name in one read of the application; addressing the application by O(app_id) or
    O(unique_name) costs no extra request.
  - Two runs at the same moment for the same application can both add a secret; run it once per application
    (for example with C(run_once=true)).
  - If adding a secret fails in a way that leaves unknown whether it was added, the module looks, removes a
    secret it added but whose value it never received, and adds it again.
  - Client secrets cannot be set or changed by C(PATCH); Microsoft Graph creates their values.
extends_documentation_fragment:
  - mailauth.m365.application_key
  - mailauth.m365.connection
  - mailauth.m365.attributes
  - mailauth.m365.attributes.action_group_entra
attributes:
  check_mode:
    support: full
    details: Predicts the secret that would be added, without its key ID, hint and value.
  diff_mode:
    support: full
    details: Shows the secrets of that name (metadata only, never values) before and after.
  idempotent:
    support: full
    details:
      - A secret of that name that is valid, and not within O(rotate_before_days) of its end, is left alone.
      - A run after the newest secret came within O(rotate_before_days) of its end adds one, as asked.
      - With O(rotate_now=true) every run adds a secret.
seealso:
  - module: mailauth.m365.app_certificate
  - module: mailauth.m365.app_registration
  - name: "application: addPassword (Microsoft Graph)"
    description: The call that creates a secret and returns its value once.
    link: https://learn.microsoft.com/graph/api/application-addpassword
  - name: "application: removePassword (Microsoft Graph)"
    description: The call that removes a secret.
    link: https://learn.microsoft.com/graph/api/application-removepassword
"""

EXAMPLES = r"""
# TrueChem, step 5: a client secret "TrueChemEmailSecret" of 24 months, shown once.
- name: Create the TrueChem mail secret
  mailauth.m365.app_secret:
    unique_name: truechem-mail
    display_name: TrueChemEmailSecret
    lifetime_days: 730
  delegate_to: localhost
  run_once: true
  register: truechem_secret
  no_log: true  # the result holds the secret's value

- name: Store the new value in the vault (only when it was just created)
  community.hashi_vault.vault_kv2_write:
    path: mail/truechem
    data:
      client_id: "{{ truechem_secret.application.app_id }}"
      client_secret: "{{ truechem_secret.secret.value }}"
  delegate_to: localhost
  when: truechem_secret.secret.value_returned
  no_log: true

# XLReporter stops mailing when its secret expires ("The provided client secret keys ... are
# expired"). Rotate 60 days ahead: add a new secret, update the server, then remove the old one.
- name: Add a new XLReporter secret when the current one expires within 60 days
  mailauth.m365.app_secret:
    app_id: 6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f
    display_name: XLReporter Mailer
    rotate_before_days: 60
    lifetime_days: 365
  delegate_to: localhost
  run_once: true
  register: xlreporter_secret
  no_log: true

- name: Give XLReporter the new secret
  ansible.builtin.template:
    src: xlreporter-mail.ini.j2
    dest: C:\XLReporter\mail.ini
    mode: "0600"
  when: xlreporter_secret.secret.value_returned
  no_log: true

- name: Remove the superseded XLReporter secret once the server uses the new one
  mailauth.m365.app_secret:
    app_id: 6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f
    display_name: XLReporter Mailer
    rotate_before_days: 60
    lifetime_days: 365
    remove_superseded: true
  delegate_to: localhost
  run_once: true

# enaio, step 4: a secret with a fixed expiry date.
- name: Create the enaio secret, valid until the end of June 2027
  mailauth.m365.app_secret:
    unique_name: enaio-mail
    display_name: enaio OAuth2 Microsoft Office
    end_date: "2027-06-30"
  delegate_to: localhost
  register: enaio_secret
  no_log: true

- name: Remove every secret of that name
  mailauth.m365.app_secret:
    unique_name: enaio-mail
    display_name: enaio OAuth2 Microsoft Office
    state: absent
  delegate_to: localhost

- name: Remove one secret by its ID
  mailauth.m365.app_secret:
    unique_name: enaio-mail
    key_id: 0a1b2c3d-1111-2222-3333-444455556666
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
application:
  description: The app registration. None when it does not exist (only possible with O(state=absent)).
  returned: always
  type: dict
  contains:
    id:
      description: Object ID of the app registration.
      type: str
      sample: 3b1e5a9c-7d2f-4e8a-9c6b-1f2e3d4c5b6a
    app_id:
      description: Application (client) ID.
      type: str
      sample: 6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f
secret:
  description:
    - The newest secret of that name after the run (predicted in check mode). None with O(state=absent) or when
      there is none.
  returned: always
  type: dict
  contains:
    key_id:
      description: The secret's ID (I(Secret ID) in the portal). Not a secret. None for a secret predicted in check mode.
      type: str
      sample: 0a1b2c3d-1111-2222-3333-444455556666
    display_name:
      description: The secret's description.
      type: str
      sample: TrueChemEmailSecret
    hint:
      description: The first characters of the value, as the portal shows them.
      type: str
      sample: Xy7
    start_date_time:
      description: When it became valid (UTC).
      type: str
      sample: "2026-08-20T09:15:02Z"
    end_date_time:
      description: When it expires (UTC).
      type: str
      sample: "2028-08-19T09:15:02Z"
    expires_in_days:
      description: Whole days until it expires; negative once it has expired.
      type: int
      sample: 729
    expired:
      description: Whether it has expired.
      type: bool
      sample: false
    value:
      description:
        - The secret's value. Only in the run that created the secret (and never in check mode); None otherwise.
        - Register the task's result with C(no_log=true). Microsoft Graph cannot show it again.
      type: str
      sample: Xy7Q~abcdefghijklmnopqrstuvwxyz0123456789
    value_returned:
      description: Whether RV(secret.value) holds the value, that is, whether this run created the secret.
      type: bool
      sample: true
superseded:
  description:
    - The other secrets of that name still on the application after the run (older than RV(secret)),
      metadata only. O(remove_superseded=true) removes them.
  returned: always
  type: list
  elements: dict
  sample:
    - key_id: 9f8e7d6c-aaaa-bbbb-cccc-ddddeeeeffff
      display_name: TrueChemEmailSecret
      hint: AbC
      start_date_time: "2024-09-01T08:00:00Z"
      end_date_time: "2026-09-01T08:00:00Z"
      expires_in_days: 11
      expired: false
removed:
  description: Key IDs of the secrets removed by this run (that would be, in check mode).
  returned: always
  type: list
  elements: str
  sample: [9f8e7d6c-aaaa-bbbb-cccc-ddddeeeeffff]
"""

from datetime import timedelta

from ansible_collections.mailauth.m365.plugins.module_utils._credentials import (
    credential_record,
    format_datetime,
    parse_datetime,
    secret_end_date,
    utc_now,
)
from ansible_collections.mailauth.m365.plugins.module_utils._errors import (
    AmbiguousWriteError,
    GraphError,
    ParameterError,
)
from ansible_collections.mailauth.m365.plugins.module_utils._graph import (
    APPLICATION_KEY_NAMES,
    APPLICATION_KEY_OPTIONS,
    read_application,
    read_application_by_options,
)
from ansible_collections.mailauth.m365.plugins.module_utils._http import AMBIGUOUS_WRITE_RESENDS, wait_for_replication
from ansible_collections.mailauth.m365.plugins.module_utils._module import run_module
from ansible_collections.mailauth.m365.plugins.module_utils._reconcile import make_diff

REQUIRED_PERMISSION = "Application.ReadWrite.All (or Application.ReadWrite.OwnedBy on an application it owns)"
APPLICATION_FIELDS = "id,appId,passwordCredentials"

ARGUMENT_SPEC = dict(
    APPLICATION_KEY_OPTIONS,
    display_name=dict(type="str"),
    state=dict(type="str", default="present", choices=["present", "absent"]),
    end_date=dict(type="str"),
    lifetime_days=dict(type="int"),
    rotate_before_days=dict(type="int"),
    rotate_now=dict(type="bool", default=False),
    remove_superseded=dict(type="bool", default=False),
    # An identifier, not a secret: masking it would hide which secret was meant.
    key_id=dict(type="str", no_log=False),
)
MODULE_OPTIONS = dict(
    mutually_exclusive=[APPLICATION_KEY_NAMES, ("end_date", "lifetime_days")],
    required_one_of=[APPLICATION_KEY_NAMES],
    required_if=[("state", "present", ("display_name",)), ("state", "absent", ("display_name", "key_id"), True)],
)


def run(module, clients):
    """Read the application's secrets once; add, remove or leave them; return ``(changed, record, diff)``."""
    params = module.params
    now = utc_now()
    present = params["state"] == "present"
    end = None
    if present:
        if params["key_id"]:
            raise ParameterError("key_id", "only selects a secret to remove, with state=absent.",
                                 "Remove key_id, or set state=absent.")
        end = secret_end_date(params["end_date"], params["lifetime_days"], now)
        check_rotation_window(params["rotate_before_days"], end, now)
    elif params.get("rotate_now"):
        raise ParameterError("rotate_now", "adds a secret, which state=absent does not.",
                             "Remove rotate_now, or set state=present.")
    app, option, value = read_application_by_options(clients.graph, params, select=APPLICATION_FIELDS,
                                                     permission=REQUIRED_PERMISSION, required=present)
    if app is None:
        module.warn("No application with %s %r: there is no secret to remove." % (option, value))
        return False, dict(application=None, secret=None, superseded=[], removed=[]), None
    credentials = app.get("passwordCredentials") or []
    if present:
        plan = plan_present(credentials, params, end, now)
    else:
        plan = plan_absent(credentials, params)

    created = None
    if plan["add"] and not module.check_mode:
        created = add_password(clients, app, params["display_name"], end)
    elif plan["add"]:
        created = dict(keyId=None, displayName=params["display_name"], hint=None,
                       startDateTime=format_datetime(now), endDateTime=format_datetime(end))
    if not module.check_mode:
        for credential in plan["remove"]:
            remove_password(clients, app, credential["keyId"])

    removed_ids = [credential["keyId"] for credential in plan["remove"]]
    after = [credential for credential in plan["named"] if credential["keyId"] not in removed_ids]
    if created is not None:
        after.append(created)
    after = sorted(after, key=age)
    # A secret added by this run is the one to report, whatever the dates: its value exists only here.
    newest = created if created is not None else (after[-1] if present and after else None)
    secret = None
    if newest is not None:
        secret = credential_record(newest, now)
        returned = newest is created and "secretText" in created
        secret["value"] = created["secretText"] if returned else None
        secret["value_returned"] = returned
    record = dict(
        application=dict(id=app["id"], app_id=app["appId"]),
        secret=secret,
        superseded=[credential_record(credential, now) for credential in after if credential is not newest],
        removed=removed_ids,
    )
    changed = bool(plan["add"] or plan["remove"])
    label = params["display_name"] or params["key_id"]
    diff = make_diff(dict(secrets=[credential_record(c, now) for c in plan["named"]], name=label),
                     dict(secrets=[credential_record(c, now) for c in after], name=label))
    return changed, record, diff


def check_rotation_window(rotate_before_days, end, now):
    if rotate_before_days is None:
        return
    if rotate_before_days < 0:
        raise ParameterError("rotate_before_days", "must be 0 or more, got %d." % rotate_before_days)
    if timedelta(days=rotate_before_days) >= end - now:
        raise ParameterError(
            "rotate_before_days", "is %d days, but a new secret would only be valid for %d days, so every run would "
                                  "add another one." % (rotate_before_days, (end - now).days),
            "Lower rotate_before_days, or raise lifetime_days (or end_date).")


def plan_present(credentials, params, end, now):
    """What state=present does: add a secret when none of that name is valid and not due; maybe remove older ones."""
    named = sorted(with_name(credentials, params["display_name"]), key=age)
    newest = named[-1] if named else None
    add = bool(params.get("rotate_now")) or is_due(newest, params["rotate_before_days"], now)
    remove = []
    if params["remove_superseded"]:
        # After an addition every existing secret of the name is older than the new one.
        remove = named if add else named[:-1]
    return dict(named=named, add=add, remove=remove)


def plan_absent(credentials, params):
    """What state=absent does: remove the secrets of that name, or the one key_id."""
    name = params["display_name"]
    key_id = params["key_id"]
    if not key_id:
        named = sorted(with_name(credentials, name), key=age)
        return dict(named=named, add=False, remove=named)
    matches = [credential for credential in credentials if (credential.get("keyId") or "").lower() == key_id.lower()]
    if matches and name and not same_name(matches[0].get("displayName"), name):
        raise ParameterError("key_id", "%s is the secret %r, not %r." % (key_id, matches[0].get("displayName"), name),
                             "Check key_id and display_name; nothing was removed.")
    return dict(named=matches, add=False, remove=matches)


def is_due(newest, rotate_before_days, now):
    """True when a new secret is needed: none of the name, the newest expired, or within the rotation window."""
    if newest is None:
        return True
    end = parse_datetime(newest.get("endDateTime"))
    if end is None:
        return False  # a secret without an end never expires (only older apps have them)
    if end <= now:
        return True
    return rotate_before_days is not None and end - now <= timedelta(days=rotate_before_days)


def with_name(credentials, name):
    return [credential for credential in credentials if same_name(credential.get("displayName"), name)]


def same_name(have, want):
    # Entra compares display names without regard to case ($filter eq); so does this module.
    return (have or "").strip().lower() == (want or "").strip().lower()


def age(credential):
    """Sort key: the secret that lasts longest (then the latest added) is the newest."""
    far_past = parse_datetime("0001-01-01")
    end = parse_datetime(credential.get("endDateTime"))
    return (end or parse_datetime("9999-12-31"), parse_datetime(credential.get("startDateTime")) or far_past)


def add_password(clients, app, display_name, end):
    """POST addPassword and return the new credential with its ``secretText``.

    A POST that failed with replication lag or without an answer may have been applied; its value
    would then be lost for good. So before sending it again, secrets of this name that were not there
    before are removed: a secret nobody has the value of is of no use.
    """
    path = "applications/%s/addPassword" % app["id"]
    body = {"passwordCredential": {"displayName": display_name, "endDateTime": format_datetime(end)}}
    known = set((credential.get("keyId") or "").lower() for credential in app.get("passwordCredentials") or [])
    attempts = []

    def post():
        if attempts:
            discard_unknown(clients, app, display_name, known)
        attempts.append(True)
        return clients.graph.post(path, body, permission=REQUIRED_PERMISSION)

    waits = dict(sleep=clients.sleep, clock=clients.clock, include_forbidden=False)
    resends = 0
    while True:
        try:
            return wait_for_replication(post, **waits)[0]
        except AmbiguousWriteError:
            if resends >= AMBIGUOUS_WRITE_RESENDS:
                raise
            discard_unknown(clients, app, display_name, known)
            del attempts[:]
            resends += 1


def discard_unknown(clients, app, display_name, known):
    """Remove the secrets of this name that appeared since ``known`` was read (their value is lost)."""
    current = read_application(clients.graph, object_id=app["id"], select=APPLICATION_FIELDS,
                               permission=REQUIRED_PERMISSION) or {}
    for credential in with_name(current.get("passwordCredentials") or [], display_name):
        if (credential.get("keyId") or "").lower() not in known:
            remove_password(clients, app, credential["keyId"])


def remove_password(clients, app, key_id):
    """POST removePassword; a secret that is already gone counts as removed."""
    try:
        # Removing a key twice has the effect of removing it once, so a lost answer may be retried.
        clients.graph.post("applications/%s/removePassword" % app["id"], {"keyId": key_id}, idempotent=True,
                           permission=REQUIRED_PERMISSION)
    except GraphError as err:
        if err.status != 404:
            raise


def main():
    run_module(run, argument_spec=ARGUMENT_SPEC, supports_check_mode=True, **MODULE_OPTIONS)


if __name__ == "__main__":
    main()
