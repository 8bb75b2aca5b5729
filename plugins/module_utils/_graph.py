# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Microsoft Graph lookups shared by the Entra modules: applications by their keys, service
principals, resource principals and permission names resolved to ids.

Permission ids are never hard-coded: they are read from the tenant's own resource service principal
(FACTS.md section 1), once per module run. Private to the collection: the interface may change.
"""

from __future__ import annotations

import difflib
from urllib.parse import quote

from ansible_collections.mailauth.m365.plugins.module_utils._errors import (
    AmbiguousWriteError,
    GraphError,
    MailauthError,
    ParameterError,
)
from ansible_collections.mailauth.m365.plugins.module_utils._http import (
    AMBIGUOUS_WRITE_RESENDS,
    wait_for_replication,
    wait_until,
)

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
# Short names users may give for the resources the seeds use; anything else is an appId or display name.
RESOURCE_ALIASES = {"graph": GRAPH_APP_ID, "microsoft graph": GRAPH_APP_ID,
                    "exchange": EXCHANGE_APP_ID, "office 365 exchange online": EXCHANGE_APP_ID}
PERMISSION_TYPES = {"delegated": "Scope", "application": "Role"}
SP_PERMISSION_FIELDS = "id,appId,displayName,appRoles,oauth2PermissionScopes,servicePrincipalNames"
# Graph's `in` operator takes at most 15 values.
FILTER_IN_LIMIT = 15


def odata_quote(value):
    """A string literal for $filter and key segments: single quotes doubled, as OData requires."""
    return "'%s'" % str(value).replace("'", "''")


def find_application(graph, unique_name=None, display_name=None, app_id=None, select=None,
                     permission="Application.Read.All"):
    """The application with this key, or None. Exactly one key is used, in the order given.

    By ``display_name``: more than one match is an error that lists them (never guess, never create
    a duplicate); ``unique_name`` and ``app_id`` are unique by definition. ``permission`` is what a
    403 names as missing.
    """
    if unique_name:
        key = ("uniqueName", unique_name)
    elif app_id:
        key = ("appId", app_id)
    elif display_name:
        key = ("displayName", display_name)
    else:
        raise ParameterError("unique_name", "no key to find the application by.",
                             "Give unique_name, display_name or app_id.")
    params = _merge({"$filter": "%s eq %s" % (key[0], odata_quote(key[1]))}, {"$select": select} if select else None)
    found = graph.get_all("applications", params=params, permission=permission)
    if key[0] == "displayName" and len(found) > 1:
        raise MailauthError(
            "Parameter display_name: %d applications are named %r (appIds %s). Refusing to guess. "
            "Address the application by unique_name or app_id, or rename the duplicates."
            % (len(found), display_name, ", ".join(sorted(app["appId"] for app in found))),
            app_ids=sorted(app["appId"] for app in found))
    return found[0] if found else None


# Options by which a module names an existing application (doc fragment mailauth.m365.application_key).
APPLICATION_KEY_OPTIONS = dict(app_id=dict(type="str"), unique_name=dict(type="str"), app_object_id=dict(type="str"))
APPLICATION_KEY_NAMES = ("app_id", "unique_name", "app_object_id")


def read_application(graph, object_id=None, app_id=None, unique_name=None, select=None, permission=None):
    """The application with this key in ONE single-object GET, or None when Graph answers 404.

    ``/applications/{id}``, ``/applications(appId='...')`` or ``/applications(uniqueName='...')``:
    unlike a ``$filter`` on the collection, a single-object read returns what Graph only gives for one
    object, such as the ``key`` of ``keyCredentials`` when ``$select`` names it.
    """
    if object_id:
        path = "applications/%s" % quote(str(object_id), safe="")
    elif app_id:
        path = "applications(appId=%s)" % quote(odata_quote(app_id), safe="'")
    elif unique_name:
        path = "applications(uniqueName=%s)" % quote(odata_quote(unique_name), safe="'")
    else:
        raise ParameterError("app_id", "no key to find the application by.", "Give app_id, unique_name or app_object_id.")
    try:
        return graph.get(path, params={"$select": select} if select else None, permission=permission)
    except GraphError as err:
        if err.status == 404:
            return None
        raise


def read_application_by_options(graph, params, select=None, permission=None, required=True):
    """The application named by a module's ``app_id`` / ``unique_name`` / ``app_object_id`` option.

    Returns ``(application or None, option, value)``; GUID options are checked before any request.
    ``required``: a missing application is a ``ParameterError`` naming the option (else None is returned).
    """
    option = next((name for name in APPLICATION_KEY_NAMES if params.get(name)), None)
    if option is None:
        raise ParameterError("app_id", "no application was named.", "Give app_id, unique_name or app_object_id.")
    value = params[option]
    if option != "unique_name" and not _looks_like_guid(value):
        raise ParameterError(option, "%r is not a GUID." % value,
                             "Use the application's Application (client) ID for app_id and its Object ID for "
                             "app_object_id, or name it by unique_name.")
    keys = {"app_id": "app_id", "unique_name": "unique_name", "app_object_id": "object_id"}
    app = read_application(graph, select=select, permission=permission, **{keys[option]: value})
    if app is None and required:
        raise ParameterError(option, "no application with %s %r in this tenant." % (option, value),
                             "Check the value (app_id is the Application (client) ID, app_object_id the Object ID); "
                             "an application created moments ago can take a minute to appear.")
    return app, option, value


def _merge(first, second):
    merged = dict(first)
    merged.update(second or {})
    return merged


# Graph's answers to a second app role assignment / delegated grant of the same key. No dedicated
# error code tells them apart from other 400s, so the message is what there is to match on.
DUPLICATE_APP_ROLE_ASSIGNMENT = "Permission being assigned already exists on the object"
DUPLICATE_PERMISSION_GRANT = "Permission entry already exists"
# The appRoleId of "default access": a user or group assigned to an app that defines no roles.
DEFAULT_ACCESS_ROLE_ID = "00000000-0000-0000-0000-000000000000"


def create_once(graph, path, body, find, duplicate, what, permission=None, sleep=None, clock=None, timeout=300):
    """POST ``body`` to ``path`` so that at most one object results; return ``(object, created)``.

    ``find()`` reads the object (None when absent). Replication lag of the objects the body
    references is waited out. A POST whose fate is unknown (``AmbiguousWriteError``) is sent again
    only when ``find()`` does not show it (up to ``AMBIGUOUS_WRITE_RESENDS`` times). An answer containing ``duplicate`` means it exists
    already: the object ``find()`` then shows (once replicated) is returned with ``created`` False.
    """
    waits = dict(timeout=timeout, include_forbidden=False)
    waits.update((name, value) for name, value in (("sleep", sleep), ("clock", clock)) if value is not None)

    def post():
        return wait_for_replication(lambda: graph.post(path, body, permission=permission), **waits)[0], True

    try:
        resends = 0
        while True:
            try:
                return post()
            except AmbiguousWriteError:
                if resends >= AMBIGUOUS_WRITE_RESENDS:
                    raise
                existing = find()
                if existing is not None:
                    return existing, False
                resends += 1
    except GraphError as err:
        if duplicate not in (err.service_message or ""):
            raise
    polls = dict((name, value) for name, value in waits.items() if name in ("timeout", "sleep", "clock"))
    return wait_until(find, lambda found: found is not None, what, **polls)[0], False


def delete_if_exists(graph, path, permission=None):
    """DELETE ``path``; True if it was deleted, False if it was gone already.

    A DELETE retried after a lost answer meets a 404 for its own first attempt, and an object removed
    by someone else meanwhile is just as gone: neither is a failure.
    """
    try:
        graph.delete(path, permission=permission)
    except GraphError as err:
        if err.status != 404:
            raise
        return False
    return True


def find_in(graph, collection, prop, values, select=None, permission=None):
    """The objects of ``collection`` whose ``prop`` is one of ``values``: ``prop in (...)`` filters,
    ``FILTER_IN_LIMIT`` values per request (Graph's cap), so a list of names costs one request, not N."""
    found = []
    values = list(values)
    for start in range(0, len(values), FILTER_IN_LIMIT):
        batch = values[start:start + FILTER_IN_LIMIT]
        params = {"$filter": "%s in (%s)" % (prop, ", ".join(odata_quote(value) for value in batch))}
        if select:
            params["$select"] = select
        found.extend(graph.get_all(collection, params=params, permission=permission))
    return found


def find_service_principal(graph, app_id, select=None):
    """The service principal (enterprise application) of ``app_id`` in this tenant, or None."""
    params = {"$filter": "appId eq %s" % odata_quote(app_id)}
    if select:
        params["$select"] = select
    found = graph.get_all("servicePrincipals", params=params)
    return found[0] if found else None


class ResourceResolver:
    """Resolves resources (graph, exchange, an appId or display name) and permission names to ids.

    One GET per resource per module run, whatever the number of permissions asked for. ``parameter``
    is the module option that errors name (``api_permissions``, or ``permissions`` of admin_consent).
    """

    def __init__(self, graph, parameter="api_permissions"):
        self.graph = graph
        self.parameter = parameter
        self._by_key = {}
        self._by_id = {}

    def resource(self, name):
        """The resource's service principal (with appRoles and oauth2PermissionScopes)."""
        key = RESOURCE_ALIASES.get(str(name).strip().lower(), str(name).strip())
        is_app_id = _looks_like_guid(key)
        if is_app_id:
            key = key.lower()
        if key not in self._by_key:
            if is_app_id:
                found = self.graph.get_all("servicePrincipals", params={
                    "$filter": "appId eq %s" % odata_quote(key), "$select": SP_PERMISSION_FIELDS})
            else:
                found = self.graph.get_all("servicePrincipals", params={
                    "$filter": "displayName eq %s" % odata_quote(key), "$select": SP_PERMISSION_FIELDS})
            if not found:
                raise ParameterError(
                    self.parameter, "resource %r has no service principal in this tenant." % name,
                    "Use graph, exchange, or the appId of an API that is registered in the tenant.")
            if len(found) > 1:
                raise ParameterError(self.parameter, "resource %r matches %d service principals." % (name, len(found)),
                                     "Name the resource by its appId.")
            self._by_key[key] = found[0]
            self._by_id[found[0]["id"].lower()] = found[0]
        return self._by_key[key]

    def resource_by_id(self, object_id):
        """The resource service principal with this object id (as grants and assignments name it), or None."""
        key = object_id.lower()
        if key not in self._by_id:
            try:
                found = self.graph.get("servicePrincipals/%s" % object_id, params={"$select": SP_PERMISSION_FIELDS})
            except GraphError as err:
                if err.status != 404:
                    raise
                found = None
            self._by_id[key] = found
            if found:
                self._by_key.setdefault(found["appId"].lower(), found)
        return self._by_id[key]

    def permission(self, resource_sp, value, kind):
        """The id of permission ``value`` of type ``kind`` (delegated/application) on ``resource_sp``."""
        candidates = _permissions_of(resource_sp, kind)
        for item in candidates:
            if item.get("value") == value:
                return item["id"]
        # Permission names are case-sensitive in Entra, but a case slip deserves a precise hint.
        by_lower = [item["value"] for item in candidates if (item.get("value") or "").lower() == value.lower()]
        close = by_lower or difflib.get_close_matches(value, [item.get("value") or "" for item in candidates], n=5, cutoff=0.5)
        other_kind = "application" if kind == "delegated" else "delegated"
        hint = ""
        if any(item.get("value") == value for item in _permissions_of(resource_sp, other_kind)):
            hint = " %s is an %s permission of %s: list it under %s." % (value, other_kind, resource_sp["displayName"], other_kind)
        raise ParameterError(
            self.parameter, "%s has no %s permission %r.%s" % (resource_sp["displayName"], kind, value, hint),
            ("Close matches: %s." % ", ".join(close)) if close else "Check the spelling against the API's permission list.")

    def required_resource_access(self, api_permissions):
        """``requiredResourceAccess`` for ``[{resource, delegated: [...], application: [...]}]``.

        Output is sorted by resource appId and permission id so that comparisons are order-free.
        """
        merged = {}
        for entry in api_permissions or []:
            resource_sp = self.resource(entry["resource"])
            access = merged.setdefault(resource_sp["appId"], set())
            for kind, graph_type in PERMISSION_TYPES.items():
                for value in entry.get(kind) or []:
                    access.add((self.permission(resource_sp, value, kind), graph_type))
        return normalize_required_resource_access(
            [{"resourceAppId": app_id, "resourceAccess": [{"id": pid, "type": ptype} for pid, ptype in access]}
             for app_id, access in merged.items()])

    def describe(self, required_resource_access):
        """``requiredResourceAccess`` in names: ``[{resource, resource_app_id, delegated, application}]``."""
        described = []
        for entry in required_resource_access or []:
            try:
                resource_sp = self.resource(entry["resourceAppId"])
            except ParameterError:
                resource_sp = {"appId": entry["resourceAppId"], "displayName": entry["resourceAppId"]}
            names = {"Scope": [], "Role": []}
            for access in entry.get("resourceAccess") or []:
                kind = "delegated" if access["type"] == "Scope" else "application"
                value = next((item["value"] for item in _permissions_of(resource_sp, kind) if item["id"] == access["id"]),
                             access["id"])
                names[access["type"]].append(value)
            described.append({"resource": resource_sp["displayName"], "resource_app_id": entry["resourceAppId"],
                              "delegated": sorted(names["Scope"]), "application": sorted(names["Role"])})
        return described


def normalize_required_resource_access(value):
    """Order-free canonical form of ``requiredResourceAccess``: one entry per resource (entries of the same
    resource are merged, so ``normalize(current + wanted)`` is their union), empty resources dropped."""
    merged = {}
    for entry in value or []:
        access = merged.setdefault(entry["resourceAppId"].lower(), set())
        access.update((item["id"].lower(), item["type"]) for item in entry.get("resourceAccess") or [])
    return [{"resourceAppId": app_id, "resourceAccess": [{"id": pid, "type": ptype} for pid, ptype in sorted(access)]}
            for app_id, access in sorted(merged.items()) if access]


def _permissions_of(resource_sp, kind):
    if kind == "delegated":
        return [item for item in resource_sp.get("oauth2PermissionScopes") or [] if item.get("isEnabled", True)]
    return [item for item in resource_sp.get("appRoles") or []
            if item.get("isEnabled", True) and "Application" in (item.get("allowedMemberTypes") or ["Application"])]


def _looks_like_guid(value):
    parts = value.split("-")
    return len(parts) == 5 and [len(part) for part in parts] == [8, 4, 4, 4, 12]


def v2_endpoints(cloud, tenant_id):
    """The v2 authorization and token endpoints that the vendor guides copy by hand."""
    authority = cloud.authority(tenant_id)
    return {"authorization_endpoint": authority + "/oauth2/v2.0/authorize",
            "token_endpoint": authority + "/oauth2/v2.0/token",
            "device_code_endpoint": authority + "/oauth2/v2.0/devicecode"}
