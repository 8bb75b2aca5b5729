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

from ansible_collections.mailauth.m365.plugins.module_utils._errors import MailauthError, ParameterError

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
# Short names users may give for the resources the seeds use; anything else is an appId or display name.
RESOURCE_ALIASES = {"graph": GRAPH_APP_ID, "microsoft graph": GRAPH_APP_ID,
                    "exchange": EXCHANGE_APP_ID, "office 365 exchange online": EXCHANGE_APP_ID}
PERMISSION_TYPES = {"delegated": "Scope", "application": "Role"}
SP_PERMISSION_FIELDS = "id,appId,displayName,appRoles,oauth2PermissionScopes,servicePrincipalNames"


def odata_quote(value):
    """A string literal for $filter and key segments: single quotes doubled, as OData requires."""
    return "'%s'" % str(value).replace("'", "''")


def find_application(graph, unique_name=None, display_name=None, app_id=None, select=None):
    """The application with this key, or None. Exactly one key is used, in the order given.

    By ``display_name``: more than one match is an error that lists them (never guess, never create
    a duplicate); ``unique_name`` and ``app_id`` are unique by definition.
    """
    params = {"$select": select} if select else None
    if unique_name:
        found = graph.get_all("applications", params=_merge({"$filter": "uniqueName eq %s" % odata_quote(unique_name)}, params))
    elif app_id:
        found = graph.get_all("applications", params=_merge({"$filter": "appId eq %s" % odata_quote(app_id)}, params))
    elif display_name:
        found = graph.get_all("applications", params=_merge({"$filter": "displayName eq %s" % odata_quote(display_name)}, params))
        if len(found) > 1:
            raise MailauthError(
                "Parameter display_name: %d applications are named %r (appIds %s). Refusing to guess. "
                "Address the application by unique_name or app_id, or rename the duplicates."
                % (len(found), display_name, ", ".join(sorted(app["appId"] for app in found))),
                app_ids=sorted(app["appId"] for app in found))
    else:
        raise ParameterError("unique_name", "no key to find the application by.",
                             "Give unique_name, display_name or app_id.")
    return found[0] if found else None


def _merge(first, second):
    merged = dict(first)
    merged.update(second or {})
    return merged


def find_service_principal(graph, app_id, select=None):
    """The service principal (enterprise application) of ``app_id`` in this tenant, or None."""
    params = {"$filter": "appId eq %s" % odata_quote(app_id)}
    if select:
        params["$select"] = select
    found = graph.get_all("servicePrincipals", params=params)
    return found[0] if found else None


class ResourceResolver:
    """Resolves resources (graph, exchange, an appId or display name) and permission names to ids.

    One GET per resource per module run, whatever the number of permissions asked for.
    """

    def __init__(self, graph):
        self.graph = graph
        self._by_key = {}

    def resource(self, name):
        """The resource's service principal (with appRoles and oauth2PermissionScopes)."""
        key = RESOURCE_ALIASES.get(str(name).strip().lower(), str(name).strip())
        if key not in self._by_key:
            if _looks_like_guid(key):
                found = self.graph.get_all("servicePrincipals", params={
                    "$filter": "appId eq %s" % odata_quote(key), "$select": SP_PERMISSION_FIELDS})
            else:
                found = self.graph.get_all("servicePrincipals", params={
                    "$filter": "displayName eq %s" % odata_quote(key), "$select": SP_PERMISSION_FIELDS})
            if not found:
                raise ParameterError(
                    "api_permissions", "resource %r has no service principal in this tenant." % name,
                    "Use graph, exchange, or the appId of an API that is registered in the tenant.")
            if len(found) > 1:
                raise ParameterError("api_permissions", "resource %r matches %d service principals." % (name, len(found)),
                                     "Name the resource by its appId.")
            self._by_key[key] = found[0]
        return self._by_key[key]

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
            "api_permissions", "%s has no %s permission %r.%s" % (resource_sp["displayName"], kind, value, hint),
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
    """Order-free canonical form of ``requiredResourceAccess`` (drops empty resources)."""
    result = []
    for entry in value or []:
        access = sorted({(item["id"].lower(), item["type"]) for item in entry.get("resourceAccess") or []})
        if access:
            result.append({"resourceAppId": entry["resourceAppId"].lower(),
                           "resourceAccess": [{"id": pid, "type": ptype} for pid, ptype in access]})
    return sorted(result, key=lambda item: item["resourceAppId"])


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
