# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Read / compare / write helpers shared by every module: list options, property diffs, secret masking.

Rules (see docs/guide_list_values.md):
- An option left unset (None) is not managed: it never causes a change.
- Lists of plain values (redirect URIs, owners, principals) take microsoft.ad's ``add`` / ``remove`` /
  ``set``; structured lists take a whole list plus an opt-in ``purge_*`` flag (amazon.aws).
- Diffs never hold secrets: known secret keys are masked.
Private to the collection: the interface may change in any release.
"""

from __future__ import annotations

import copy

MASK = "********"
# Keys whose values are secrets wherever they appear in a record or diff.
SECRET_KEYS = frozenset(("secretText", "secret_text", "client_secret", "password", "value_secret", "private_key",
                         "access_token", "refresh_token"))


def list_option(elements="str"):
    """Argument spec of an add/remove/set list option (microsoft.ad style)."""
    return dict(type="dict", options=dict(
        add=dict(type="list", elements=elements),
        remove=dict(type="list", elements=elements),
        set=dict(type="list", elements=elements),
    ), mutually_exclusive=[("set", "add"), ("set", "remove")])


def apply_list_change(current, change, normalize=None):
    """New value of a list after an add/remove/set ``change``; ``current`` is returned when unmanaged.

    Keeps the order of what is there, appends additions in the order given, drops duplicates.
    ``normalize`` maps an element to its comparison key (e.g. ``str.lower`` for e-mail addresses).
    """
    current = list(current or [])
    if not change:
        return current
    key = normalize or (lambda item: item)
    if change.get("set") is not None:
        wanted = _unique(change["set"], key)
        # Same members in another order is not a change: keep the current order then.
        if sorted(key(item) for item in wanted) == sorted(key(item) for item in _unique(current, key)):
            return current
        return wanted
    result = _unique(current, key)
    present = set(key(item) for item in result)
    for item in change.get("add") or []:
        if key(item) not in present:
            result.append(item)
            present.add(key(item))
    removing = set(key(item) for item in change.get("remove") or [])
    return [item for item in result if key(item) not in removing]


def _unique(items, key):
    seen = set()
    result = []
    for item in items:
        if key(item) not in seen:
            seen.add(key(item))
            result.append(item)
    return result


def list_changed(current, new, normalize=None):
    """True when ``new`` differs from ``current`` as a set (order alone is not a change)."""
    key = normalize or (lambda item: item)
    return sorted(key(item) for item in current or []) != sorted(key(item) for item in new or [])


def changed_properties(current, desired):
    """The part of ``desired`` that differs from ``current``: what a PATCH must send.

    ``None`` in ``desired`` means "not managed". Nested dicts are compared on the keys given only, and
    the whole nested dict is returned when one of them differs (Graph replaces a complex property's
    given sub-keys). Lists compare as given (callers normalise order first where it does not matter).
    """
    changes = {}
    for name, wanted in desired.items():
        if wanted is None:
            continue
        have = (current or {}).get(name)
        if isinstance(wanted, dict) and isinstance(have, dict):
            if changed_properties(have, wanted):
                changes[name] = wanted
        elif wanted != have:
            changes[name] = wanted
    return changes


def mask_secrets(value, secret_keys=SECRET_KEYS):
    """A deep copy of ``value`` with the values of secret keys replaced by a mask."""
    if isinstance(value, dict):
        return {key: (MASK if key in secret_keys and item is not None else mask_secrets(item, secret_keys))
                for key, item in value.items()}
    if isinstance(value, list):
        return [mask_secrets(item, secret_keys) for item in value]
    return copy.deepcopy(value)


def make_diff(before, after):
    """Ansible diff dict with secrets masked; ``{}`` for an absent side."""
    return dict(before=mask_secrets(before or {}), after=mask_secrets(after or {}))


def predicted(current, changes):
    """What an object will look like after ``changes`` are PATCHed onto ``current`` (for check mode)."""
    result = copy.deepcopy(current or {})
    for name, value in changes.items():
        if isinstance(value, dict) and isinstance(result.get(name), dict):
            merged = dict(result[name])
            merged.update(copy.deepcopy(value))
            result[name] = merged
        else:
            result[name] = copy.deepcopy(value)
    return result
