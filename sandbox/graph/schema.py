"""The part of Microsoft's Graph v1.0 schema (CSDL) that the sandbox serves, and request-body checks
against it.

`graph-v1.0-schema.json` beside this file is generated from Microsoft's CSDL, so the sandbox knows
which properties each entity really has without copying lists by hand:

    python -m sandbox.graph.schema ../shared/reference/graph-v1.0.csdl

It holds the entity types below, their base types and every complex and enum type they reach, and for
directoryObject the names of the properties its derived types declare: Graph takes those in a $select
on a collection of directory objects (owners, getByIds), each item answering with the ones its own type has."""
import base64
import binascii
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

from .errors import GraphError

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "graph-v1.0-schema.json")
NAMESPACE = "microsoft.graph"
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
ROOT_TYPES = ("application", "servicePrincipal", "oAuth2PermissionGrant", "appRoleAssignment", "user", "organization",
              "unifiedRoleDefinition", "unifiedRoleAssignment", "federatedIdentityCredential", "passwordCredential",
              "keyCredential")
# Base types whose collections accept $select of properties of their derived types.
POLYMORPHIC_TYPES = ("directoryObject",)

GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")
INT_RANGES = {"Edm.Byte": (0, 255), "Edm.Int16": (-2 ** 15, 2 ** 15 - 1), "Edm.Int32": (-2 ** 31, 2 ** 31 - 1),
              "Edm.Int64": (-2 ** 63, 2 ** 63 - 1)}


# --- generation from the CSDL ------------------------------------------------------------------
def _local(type_ref, aliases):
    """'graph.keyCredential' / 'microsoft.graph.keyCredential' -> 'keyCredential'; Edm types unchanged."""
    collection = type_ref.startswith("Collection(")
    inner = type_ref[len("Collection("):-1] if collection else type_ref
    for prefix in aliases:
        if inner.startswith(prefix + "."):
            inner = inner[len(prefix) + 1:]
            break
    return "Collection(%s)" % inner if collection else inner


def generate(csdl_path):
    tree = ET.parse(csdl_path)
    schema = next(s for s in tree.getroot().iter(EDM + "Schema") if s.get("Namespace") == NAMESPACE)
    aliases = [NAMESPACE] + ([schema.get("Alias")] if schema.get("Alias") else [])
    nodes = {}
    for tag, kind in (("EntityType", "entity"), ("ComplexType", "complex"), ("EnumType", "enum")):
        for node in schema.findall(EDM + tag):
            nodes[node.get("Name")] = (kind, node)
    derived = {}
    for name, (kind, node) in nodes.items():
        if node.get("BaseType"):
            derived.setdefault(_local(node.get("BaseType"), aliases), []).append(name)
    types, pending = {}, list(ROOT_TYPES)
    while pending:
        name = pending.pop()
        if name in types or name not in nodes:
            continue
        kind, node = nodes[name]
        if kind == "enum":
            types[name] = {"kind": "enum", "flags": node.get("IsFlags") == "true",
                           "members": [m.get("Name") for m in node.findall(EDM + "Member")]}
            continue
        entry = {"kind": kind, "abstract": node.get("Abstract") == "true", "open": node.get("OpenType") == "true",
                 "base": _local(node.get("BaseType"), aliases) if node.get("BaseType") else None,
                 "properties": {}, "navigation": {}}
        for prop in node.findall(EDM + "Property"):
            entry["properties"][prop.get("Name")] = {"type": _local(prop.get("Type"), aliases),
                                                     "nullable": prop.get("Nullable") != "false"}
        for nav in node.findall(EDM + "NavigationProperty"):
            entry["navigation"][nav.get("Name")] = _local(nav.get("Type"), aliases)
        types[name] = entry
        if entry["base"]:
            pending.append(entry["base"])
        if kind == "complex":
            # A complex-typed value may be any derived type (named by @odata.type), so keep those too.
            pending.extend(derived.get(name, []))
        for prop in entry["properties"].values():
            inner = prop["type"][len("Collection("):-1] if prop["type"].startswith("Collection(") else prop["type"]
            if not inner.startswith("Edm."):
                pending.append(inner)
    return {"source": "Microsoft Graph v1.0 CSDL (msgraph-metadata schemas/v1.0-Prod.csdl), namespace microsoft.graph",
            "roots": list(ROOT_TYPES), "types": dict(sorted(types.items())),
            "derivedProperties": {name: _derived_properties(name, nodes, derived) for name in POLYMORPHIC_TYPES}}


def _derived_properties(base, nodes, derived):
    """Sorted names of the structural properties declared by the entity types that derive, at any depth, from `base`."""
    names, pending = set(), list(derived.get(base, []))
    while pending:
        name = pending.pop()
        kind, node = nodes[name]
        if kind == "entity":
            names.update(prop.get("Name") for prop in node.findall(EDM + "Property"))
            pending.extend(derived.get(name, []))
    return sorted(names)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit("usage: python -m sandbox.graph.schema <graph-v1.0.csdl>")
    data = generate(argv[0])
    with open(SCHEMA_PATH, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=False)
        handle.write("\n")
    print("wrote %s (%d types)" % (SCHEMA_PATH, len(data["types"])))


# --- use at run time ---------------------------------------------------------------------------
class Schema:
    def __init__(self, path=SCHEMA_PATH):
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        self.types = data["types"]
        self.derived_properties = data.get("derivedProperties", {})
        self._props = {}

    def properties(self, type_name):
        """Structural properties of a type including its base types."""
        if type_name not in self._props:
            entry, props = self.types[type_name], {}
            if entry.get("base"):
                props.update(self.properties(entry["base"]))
            props.update(entry["properties"])
            self._props[type_name] = props
        return self._props[type_name]

    def selectable(self, type_name):
        """Names a $select may list on a collection (or object) of this type: its own properties, and for a
        polymorphic base such as directoryObject also those of its derived types."""
        return set(self.properties(type_name)) | set(self.derived_properties.get(type_name, ()))

    def navigation(self, type_name):
        entry = self.types[type_name]
        names = set(entry.get("navigation", {}))
        if entry.get("base"):
            names |= self.navigation(entry["base"])
        return names

    def check_body(self, type_name, body):
        """A write body must use declared properties with values of their declared types (400 otherwise)."""
        if not isinstance(body, dict):
            raise GraphError(400, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set "
                                                "and payload is of valid JSON format.")
        props = self.properties(type_name)
        for key, value in body.items():
            if key.startswith("@odata."):
                continue
            if key not in props:
                # Directory entities are open types: Entra itself rejects names that are neither declared nor
                # registered extension properties; the sandbox has no extension properties.
                raise GraphError(400, "Request_BadRequest",
                                 "Property '%s' does not exist as a declared property or extension property." % key)
            self._check_value(props[key], value, key)

    def _check_value(self, prop, value, path):
        type_ref = prop["type"]
        if value is None:
            if prop.get("nullable", True) or type_ref.startswith("Collection("):
                return
            raise GraphError(400, "BadRequest", "A null value was found for the property named '%s', which has the expected type "
                                                "'%s'. The expected type '%s' does not allow null values." % (path, type_ref, type_ref))
        if type_ref.startswith("Collection("):
            if not isinstance(value, list):
                raise GraphError(400, "BadRequest", "The property '%s' is of type '%s' and requires a JSON array." % (path, type_ref))
            inner = {"type": type_ref[len("Collection("):-1], "nullable": False}
            for item in value:
                self._check_value(inner, item, path)
            return
        if type_ref.startswith("Edm."):
            if not edm_value_ok(type_ref, value):
                raise GraphError(400, "BadRequest", "Cannot convert the literal '%s' to the expected type '%s'." % (value, type_ref))
            return
        entry = self.types.get(type_ref)
        if entry is None:
            return
        if entry["kind"] == "enum":
            members = value.split(",") if entry["flags"] and isinstance(value, str) else [value]
            if not all(isinstance(m, str) and m.strip() in entry["members"] for m in members):
                raise GraphError(400, "BadRequest", "The string '%s' is not a valid enumeration type constant." % value)
            return
        if not isinstance(value, dict):
            raise GraphError(400, "BadRequest", "The property '%s' is of type 'microsoft.graph.%s' and requires a JSON object."
                             % (path, type_ref))
        actual = value.get("@odata.type", "").lstrip("#").replace(NAMESPACE + ".", "") or type_ref
        props = self.properties(actual if actual in self.types else type_ref)
        for key, inner_value in value.items():
            if key.startswith("@odata."):
                continue
            if key not in props:
                raise GraphError(400, "BadRequest", "The property '%s' does not exist on type 'microsoft.graph.%s'. Make sure to "
                                                    "only use property names that are defined by the type." % (key, actual))
            self._check_value(props[key], inner_value, key)


def edm_value_ok(type_ref, value):
    """Whether a JSON value is a valid instance of an Edm primitive type."""
    if type_ref == "Edm.String":
        return isinstance(value, str)
    if type_ref == "Edm.Boolean":
        return isinstance(value, bool)
    if type_ref == "Edm.Guid":
        return isinstance(value, str) and bool(GUID_RE.match(value))
    if type_ref == "Edm.DateTimeOffset":
        return isinstance(value, str) and bool(DATETIME_RE.match(value))
    if type_ref in INT_RANGES:
        low, high = INT_RANGES[type_ref]
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    if type_ref in ("Edm.Double", "Edm.Single", "Edm.Decimal"):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if type_ref == "Edm.Binary":
        if not isinstance(value, str):
            return False
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return False
        return True
    return isinstance(value, str)  # Date, TimeOfDay, Duration, Stream: strings on the wire


if __name__ == "__main__":
    main()
