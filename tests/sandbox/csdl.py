"""Checks JSON against Microsoft's Graph v1.0 schema (the CSDL file beside FACTS.md), read here
independently of the sandbox: property names must exist on the entity type or its base types,
values must have the declared Edm type, complex values are checked recursively, nothing extra.

The type of an answer is found the way an OData client finds it: from its `@odata.context`
(entity set or singleton, then navigation properties), or from `@odata.type`. A navigation property
in an object ($expand) is checked against the type the schema declares for it, item by item."""
import base64
import binascii
import os
import re
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CSDL_PATH = os.path.join(ROOT, "..", "shared", "reference", "graph-v1.0.csdl")
EDM = "{http://docs.oasis-open.org/odata/ns/edm}"
NAMESPACE = "microsoft.graph"

FORMATS = {
    "Edm.Guid": re.compile(r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$"),
    "Edm.DateTimeOffset": re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?(Z|[+-]\d{2}:\d{2})$"),
    "Edm.Date": re.compile(r"^\d{4}-\d{2}-\d{2}$"),
    "Edm.TimeOfDay": re.compile(r"^\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?$"),
    "Edm.Duration": re.compile(r"^-?P(\d+D)?(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$"),
}
INTEGERS = {"Edm.Byte": (0, 255), "Edm.SByte": (-128, 127), "Edm.Int16": (-2 ** 15, 2 ** 15 - 1),
            "Edm.Int32": (-2 ** 31, 2 ** 31 - 1), "Edm.Int64": (-2 ** 63, 2 ** 63 - 1)}


class GraphSchema:
    def __init__(self, path=CSDL_PATH):
        root = ET.parse(path).getroot()
        schema = next(s for s in root.iter(EDM + "Schema") if s.get("Namespace") == NAMESPACE)
        self.aliases = [NAMESPACE + "."] + ([schema.get("Alias") + "."] if schema.get("Alias") else [])
        self.types = {}
        for tag, kind in (("EntityType", "entity"), ("ComplexType", "complex"), ("EnumType", "enum")):
            for node in schema.findall(EDM + tag):
                self.types[node.get("Name")] = (kind, node)
        container = schema.find(EDM + "EntityContainer")
        self.roots, self.entity_sets = {}, set()
        for node in container:
            if node.tag in (EDM + "EntitySet", EDM + "Singleton"):
                self.roots[node.get("Name")] = self.local(node.get("EntityType") or node.get("Type"))
            if node.tag == EDM + "EntitySet":
                self.entity_sets.add(node.get("Name"))
        self._props = {}
        self.checked = set()  # type names validated at least once

    def local(self, ref):
        """'graph.keyCredential' or 'microsoft.graph.keyCredential' -> 'keyCredential', inside Collection() too."""
        if ref.startswith("Collection("):
            return "Collection(%s)" % self.local(ref[len("Collection("):-1])
        for prefix in self.aliases:
            if ref.startswith(prefix):
                return ref[len(prefix):]
        return ref

    def base(self, name):
        node = self.types[name][1]
        return self.local(node.get("BaseType")) if node.get("BaseType") else None

    def is_a(self, name, ancestor):
        while name:
            if name == ancestor:
                return True
            name = self.base(name)
        return False

    def properties(self, name):
        """{property: (type reference, nullable)} of a structured type, base types included."""
        if name not in self._props:
            props = dict(self.properties(self.base(name))) if self.base(name) else {}
            for prop in self.types[name][1].findall(EDM + "Property"):
                props[prop.get("Name")] = (self.local(prop.get("Type")), prop.get("Nullable") != "false")
            self._props[name] = props
        return self._props[name]

    def navigation(self, name):
        navs = dict(self.navigation(self.base(name))) if self.base(name) else {}
        for nav in self.types[name][1].findall(EDM + "NavigationProperty"):
            navs[nav.get("Name")] = self.local(nav.get("Type"))
        return navs

    # --- which type an answer has ------------------------------------------------------------
    def context_type(self, context):
        """(type name, is collection) that an @odata.context URL names."""
        fragment = context.split("#", 1)[1]
        entity = fragment.endswith("/$entity")
        fragment = fragment[:-len("/$entity")] if entity else fragment
        if fragment.startswith(NAMESPACE + "."):
            return fragment[len(NAMESPACE) + 1:], False
        type_name, collection = None, False
        for index, segment in enumerate(split_segments(fragment)):
            name, sep, arg = segment.partition("(")
            keyed = arg.startswith("'")
            if index == 0:
                type_name, collection = self.roots[name], name in self.entity_sets
            else:
                ref = self.navigation(type_name)[name]
                collection = ref.startswith("Collection(")
                type_name = ref[len("Collection("):-1] if collection else ref
            if keyed:
                collection = False
        return type_name, collection and not entity

    # --- validation --------------------------------------------------------------------------
    def problems(self, type_name, value, path="", top=True):
        """Every way `value` departs from the schema of `type_name` (an empty list when it conforms)."""
        if not isinstance(value, dict):
            return ["%s: expected a JSON object for %s, got %r" % (path or "/", type_name, value)]
        actual = type_name
        if "@odata.type" in value:
            actual = self.local(value["@odata.type"].lstrip("#"))
            if actual not in self.types or not self.is_a(actual, type_name):
                return ["%s: @odata.type %s is not a %s" % (path or "/", value["@odata.type"], type_name)]
        self.checked.add(actual)
        props = self.properties(actual)
        found = []
        for key, item in value.items():
            where = "%s/%s" % (path, key)
            if key.startswith("@odata.") or (top and key.startswith("@")):
                continue
            if key not in props:
                navigation = self.navigation(actual).get(key)
                if navigation is None:
                    found.append("%s: no property '%s' on microsoft.graph.%s" % (where, key, actual))
                else:  # an expanded navigation property: entities of its declared type (or derived ones)
                    found.extend(self.value_problems(navigation, True, item, where))
                continue
            found.extend(self.value_problems(props[key][0], props[key][1], item, where))
        return found

    def value_problems(self, ref, nullable, value, where):
        if ref.startswith("Collection("):
            if value is None:
                return [] if nullable else ["%s: null for a non-nullable collection %s" % (where, ref)]
            if not isinstance(value, list):
                return ["%s: %s needs a JSON array, got %r" % (where, ref, value)]
            found = []
            for index, item in enumerate(value):
                found.extend(self.value_problems(ref[len("Collection("):-1], False, item, "%s[%d]" % (where, index)))
            return found
        if value is None:
            return [] if nullable else ["%s: null for non-nullable %s" % (where, ref)]
        if ref.startswith("Edm."):
            return [] if edm_ok(ref, value) else ["%s: %r is not a valid %s" % (where, value, ref)]
        kind, node = self.types[ref]
        if kind == "enum":
            members = {m.get("Name") for m in node.findall(EDM + "Member")}
            names = value.split(",") if isinstance(value, str) and node.get("IsFlags") == "true" else [value]
            bad = [n for n in names if not isinstance(n, str) or n.strip() not in members]
            return ["%s: %r is not a member of %s" % (where, value, ref)] if bad else []
        return self.problems(ref, value, where, top=False)

    def check_answer(self, body):
        """Problems of a Graph answer whose type its @odata.context names (entity or collection page)."""
        type_name, collection = self.context_type(body["@odata.context"])
        if collection:
            found = []
            for index, item in enumerate(body.get("value", [])):
                found.extend(self.problems(type_name, item, "/value[%d]" % index))
            return found
        return self.problems(type_name, body)


def split_segments(fragment):
    """'applications(id,owners(id))/x' -> ['applications(id,owners(id))', 'x']: '/' inside parentheses stays."""
    segments, depth, current = [], 0, ""
    for char in fragment:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "/" and depth == 0:
            segments.append(current)
            current = ""
        else:
            current += char
    return [segment for segment in segments + [current] if segment]


def edm_ok(ref, value):
    if ref in ("Edm.String", "Edm.Stream"):
        return isinstance(value, str)
    if ref == "Edm.Boolean":
        return isinstance(value, bool)
    if ref in INTEGERS:
        low, high = INTEGERS[ref]
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    if ref in ("Edm.Double", "Edm.Single", "Edm.Decimal"):
        return (isinstance(value, (int, float)) and not isinstance(value, bool)) or value in ("NaN", "INF", "-INF")
    if ref == "Edm.Binary":
        if not isinstance(value, str):
            return False
        try:
            base64.b64decode(value.replace("-", "+").replace("_", "/") + "=" * (-len(value) % 4), validate=True)
        except (binascii.Error, ValueError):
            return False
        return True
    if ref in FORMATS:
        return isinstance(value, str) and bool(FORMATS[ref].match(value))
    raise AssertionError("no check for %s" % ref)


def load():
    """The schema, or None when the reference file is not there."""
    return GraphSchema() if os.path.exists(CSDL_PATH) else None
