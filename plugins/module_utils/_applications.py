# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""App registrations as the app_registration modules see them: the record they return (permissions by
name, owners, credential metadata, never secrets), owners named by UPN, object id or appId, and the
redirect URI rules of Entra ID. Private to the collection: the interface may change in any release.
"""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlsplit

from ansible_collections.mailauth.m365.plugins.module_utils._credentials import credential_record
from ansible_collections.mailauth.m365.plugins.module_utils._errors import GraphError, ParameterError
from ansible_collections.mailauth.m365.plugins.module_utils._graph import (
    create_once,
    normalize_required_resource_access,
    odata_quote,
    v2_endpoints,
)
from ansible_collections.mailauth.m365.plugins.module_utils._http import wait_for_replication
from ansible_collections.mailauth.m365.plugins.module_utils._module import GUID_PATTERN

# What the modules manage and return; $select keeps the answers small.
APPLICATION_SELECT = ("id,appId,uniqueName,displayName,signInAudience,publicClient,web,spa,isFallbackPublicClient,"
                      "notes,description,requiredResourceAccess")
CREDENTIALS_SELECT = APPLICATION_SELECT + ",passwordCredentials,keyCredentials"
# option -> the Graph property whose redirectUris it manages
REDIRECT_PLATFORMS = (("public_client_redirect_uris", "publicClient"), ("web_redirect_uris", "web"),
                      ("spa_redirect_uris", "spa"))
SIGN_IN_AUDIENCES = ("AzureADMyOrg", "AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount", "PersonalMicrosoftAccount")
READ_PERMISSION = "Application.Read.All"
WRITE_PERMISSION = "Application.ReadWrite.All"
# Entra accepts plain http only for the loopback (native and development apps).
LOOPBACK_HOSTS = ("localhost", "127.0.0.1")
MAX_REDIRECT_URI_LENGTH = 256
# Graph's `in` operator takes at most 15 values.
FILTER_IN_LIMIT = 15
OWNER_TYPES = {"user": "user", "servicePrincipal": "service_principal"}
# Graph's answer to adding an owner that is one already (400, no dedicated error code).
DUPLICATE_REFERENCE = "One or more added object references already exist"


# --- the record the modules return -----------------------------------------------------------------
def application_record(app, owners, resolver, credentials=False, now=None):
    """Graph ``application`` (+ its owners) -> the snake_case record of the modules.

    Permissions are named through ``resolver`` (a ``ResourceResolver``), owners by UPN or appId.
    With ``credentials``, password and key credential metadata are added; secret values never are.
    """
    record = dict(
        id=app.get("id"),
        app_id=app.get("appId"),
        unique_name=app.get("uniqueName"),
        display_name=app.get("displayName"),
        sign_in_audience=app.get("signInAudience"),
        allow_public_client_flows=bool(app.get("isFallbackPublicClient")),
        notes=app.get("notes"),
        description=app.get("description"),
        api_permissions=resolver.describe(normalize_required_resource_access(app.get("requiredResourceAccess"))),
        owners=[owner_record(owner) for owner in owners],
    )
    for option, platform in REDIRECT_PLATFORMS:
        record[option] = redirect_uris(app, platform)
    if credentials:
        now = now or datetime.now(timezone.utc)
        record["password_credentials"] = [credential_record(item, now) for item in app.get("passwordCredentials") or []]
        record["key_credentials"] = [credential_record(item, now) for item in app.get("keyCredentials") or []]
    return record


def redirect_uris(app, platform):
    return list((app.get(platform) or {}).get("redirectUris") or [])


def owner_record(owner):
    """A directory object from ``/owners`` (or our own lookups) -> ``{id, type, display_name, ...}``."""
    kind = (owner.get("@odata.type") or "").rpartition(".")[2]
    return dict(id=owner.get("id"), type=OWNER_TYPES.get(kind, kind or None), display_name=owner.get("displayName"),
                user_principal_name=owner.get("userPrincipalName"), app_id=owner.get("appId"))


def tenant_and_endpoints(clients):
    """The tenant GUID (from the token when a domain was given) and the v2 endpoints the guides copy."""
    tenant_id = clients.settings.auth.tenant_id
    if not GUID_PATTERN.match(tenant_id):
        tenant_id = clients.tokens.claims("graph").get("tid") or tenant_id
    return dict(tenant_id=tenant_id, endpoints=v2_endpoints(clients.settings.cloud, tenant_id))


# --- redirect URIs ---------------------------------------------------------------------------------
def check_redirect_uris(option, change, custom_schemes=False):
    """Raise ``ParameterError`` naming ``option`` for the first URI Entra would refuse (``add``/``set`` only:
    removing a URI that should never have been there must stay possible)."""
    for uri in (change or {}).get("set") or (change or {}).get("add") or []:
        problem = redirect_uri_problem(uri, custom_schemes)
        if problem:
            allowed = "https://, http:// only for localhost or 127.0.0.1"
            if custom_schemes:
                allowed += ", or a custom scheme such as myapp://auth"
            raise ParameterError(option, "%r %s" % (uri, problem), "Use %s." % allowed)


def redirect_uri_problem(uri, custom_schemes):
    """Why Entra ID would refuse ``uri`` as a redirect URI, or None."""
    if len(uri) > MAX_REDIRECT_URI_LENGTH:
        return "is longer than %d characters." % MAX_REDIRECT_URI_LENGTH
    parts = urlsplit(uri)
    if not parts.scheme or not (parts.netloc or parts.path):
        return "is not an absolute URI."
    if "#" in uri:
        return "has a fragment (#), which redirect URIs may not have."
    scheme = parts.scheme.lower()
    if scheme == "https":
        return None if parts.hostname else "has no host."
    if scheme == "http":
        return None if (parts.hostname or "").lower() in LOOPBACK_HOSTS else "uses http:// for a host other than localhost."
    return None if custom_schemes else "has a scheme this platform does not accept."


# --- owners ----------------------------------------------------------------------------------------
def read_owners(graph, object_id, wait=False, sleep=None, clock=None):
    """The owners of application ``object_id``; ``wait`` rides out replication lag after a create.

    No ``$select``: the owners are users and service principals, and the properties that name them
    (``userPrincipalName``, ``appId``) live on those types, not on directoryObject.
    """
    def read():
        return graph.get_all("applications/%s/owners" % object_id, permission=READ_PERMISSION)
    if not wait:
        return read()
    return wait_for_replication(read, **_timing(sleep, clock))[0]


def _owner_keys(owner):
    return set(str(owner[name]).lower() for name in ("id", "userPrincipalName", "appId") if owner.get(name))


def _matching(owners, name):
    key = name.strip().lower()
    return next((owner for owner in owners if key in _owner_keys(owner)), None)


def owner_changes(graph, current, change, cache=None):
    """``(to_add, to_remove)`` directory objects for an add/remove/set ``change`` of the owners ``current``.

    Names are matched against the current owners first; only names that are not owners yet are looked
    up (one request per kind, however many). ``cache`` (a list) keeps looked-up objects between calls.
    """
    if not change:
        return [], []
    cache = [] if cache is None else cache
    wanted = change["set"] if change.get("set") is not None else (change.get("add") or [])
    kept, missing = [], []
    for name in wanted:
        owner = _matching(current, name)
        if owner is not None:
            kept.append(owner)
        elif _matching(cache, name) is None:
            missing.append(name)
    cache.extend(resolve_principals(graph, missing))
    to_add = _unique_by_id(_matching(cache, name) for name in wanted if _matching(current, name) is None)
    if change.get("set") is not None:
        keep = set(owner["id"] for owner in kept + to_add)
        return to_add, [owner for owner in current if owner["id"] not in keep]
    removing = list(change.get("remove") or [])
    # add and remove of the same owner: remove wins, as for every add/remove list option
    to_add = [owner for owner in to_add if not any(_matching([owner], name) for name in removing)]
    return to_add, _unique_by_id(_matching(current, name) for name in removing)


def _unique_by_id(owners):
    result, seen = [], set()
    for owner in owners:
        if owner is not None and owner["id"] not in seen:
            seen.add(owner["id"])
            result.append(owner)
    return result


def resolve_principals(graph, names, option="owners"):
    """Users (by UPN or object id) and service principals (by appId) named in ``names``.

    Returns directory objects carrying ``@odata.type``, like ``/owners`` does. An unknown or malformed
    name raises ``ParameterError`` naming ``option``.
    """
    if not names:
        return []
    upns = [name.strip() for name in names if "@" in name]
    guids = [name.strip() for name in names if GUID_PATTERN.match(name.strip())]
    malformed = [name for name in names if name.strip() not in upns + guids]
    if malformed:
        raise ParameterError(option, "%r is neither a user principal name nor a GUID." % malformed[0],
                             "Name owners by user principal name, user object ID or service principal appId.")
    found = []
    for chunk in _chunks(upns + guids):
        clauses = _in_clause("userPrincipalName", [name for name in chunk if "@" in name])
        clauses += _in_clause("id", [name for name in chunk if "@" not in name])
        found += [dict(user, **{"@odata.type": "#microsoft.graph.user"}) for user in graph.get_all(
            "users", params={"$filter": " or ".join(clauses), "$select": "id,userPrincipalName,displayName"},
            permission="User.Read.All")]
    left = [name for name in guids if _matching(found, name) is None]
    for chunk in _chunks(left):
        found += [dict(sp, **{"@odata.type": "#microsoft.graph.servicePrincipal"}) for sp in graph.get_all(
            "servicePrincipals", params={"$filter": " or ".join(_in_clause("appId", chunk)), "$select": "id,appId,displayName"},
            permission=READ_PERMISSION)]
    unknown = [name for name in names if _matching(found, name) is None]
    if unknown:
        raise ParameterError(option, "no user or service principal %s in this tenant." % ", ".join(repr(name) for name in unknown),
                             "Name owners by user principal name, user object ID or service principal appId.")
    return found


def _in_clause(name, values):
    return ["%s in (%s)" % (name, ", ".join(odata_quote(value) for value in values))] if values else []


def _chunks(items):
    return [items[start:start + FILTER_IN_LIMIT] for start in range(0, len(items), FILTER_IN_LIMIT)]


def add_owner(graph, object_id, owner, sleep=None, clock=None):
    """Make ``owner`` an owner of application ``object_id`` (``owners/$ref``); an owner already there is fine.

    The POST is sent again only when the owners do not show it, and replication lag of an application
    created moments ago is waited out (``create_once``).
    """
    def find():
        return next((item for item in read_owners(graph, object_id) if item["id"] == owner["id"]), None)
    create_once(graph, "applications/%s/owners/$ref" % object_id, {"@odata.id": graph.url("directoryObjects/%s" % owner["id"])},
                find, DUPLICATE_REFERENCE, "Owner %s of application %s" % (owner["id"], object_id),
                permission=WRITE_PERMISSION, sleep=sleep, clock=clock)


def remove_owner(graph, object_id, owner):
    """Remove ``owner`` from the owners of application ``object_id``; one already gone is fine."""
    try:
        graph.delete("applications/%s/owners/%s/$ref" % (object_id, owner["id"]), permission=WRITE_PERMISSION)
    except GraphError as err:
        if err.status != 404:
            raise


def _timing(sleep, clock):
    return {name: value for name, value in (("sleep", sleep), ("clock", clock)) if value is not None}
