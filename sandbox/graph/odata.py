"""OData query options as Graph's directory endpoints implement them: $filter, $select, $expand, $top,
$orderby, $count (with ConsistencyLevel: eventual) and server-driven paging with $skiptoken.

Graph compares directory strings case-insensitively, pages at 100 objects by default and at most
999, and accepts some operators (ne, not, endswith), and $orderby together with $filter, only as
"advanced queries": with $count=true and the ConsistencyLevel: eventual header. $expand takes one
navigation property, optionally with a nested $select; for directory objects it returns at most 20
related items (and no nextLink for them) and pages the outer collection at 100 at most."""
import base64
import binascii
import collections
import json
import re
import urllib.parse

from .errors import GraphError
from .schema import GUID_RE

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 999
MAX_EXPANDED_ITEMS = 20   # per expanded relationship of a directory object
MAX_EXPAND_PAGE_SIZE = 100  # a page of directory objects with $expand, whatever $top asks
SUPPORTED_OPTIONS = {"$filter", "$select", "$expand", "$top", "$skiptoken", "$count", "$orderby"}
ADVANCED_OPERATORS = {"ne", "not", "endswith"}
COMPARISONS = {"eq", "ne", "gt", "ge", "lt", "le"}
TOKEN_RE = re.compile(r"""\s*(?:
    (?P<string>'(?:[^']|'')*')
  | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![\w-]))
  | (?P<datetime>\d{4}-\d{2}-\d{2}T[\d:.]+(?:Z|[+-]\d{2}:\d{2}))
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<name>[A-Za-z_$][\w.$]*(?:/[A-Za-z_$][\w.$]*)*)
  | (?P<punct>[(),:])
)""", re.VERBOSE)


def invalid_filter(message):
    return GraphError(400, "BadRequest", "Invalid filter clause: %s" % message)


# --- $filter -----------------------------------------------------------------------------------
class FilterParser:
    """Recursive descent over the tokens; builds a small tuple tree that `evaluate` walks."""

    def __init__(self, text):
        self.text = text
        self.tokens = self._tokenize(text)
        self.pos = 0
        self.properties = set()   # top-level properties the filter reads
        self.operators = set()

    @staticmethod
    def _tokenize(text):
        tokens, pos = [], 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            found = TOKEN_RE.match(text, pos)
            if not found:
                raise invalid_filter("Syntax error at position %d in '%s'." % (pos, text))
            kind = found.lastgroup
            tokens.append((kind, found.group(kind)))
            pos = found.end()
        return tokens

    def peek(self, offset=0):
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else (None, None)

    def take(self, value=None):
        token = self.peek()
        if token[0] is None or (value is not None and token[1].lower() != value):
            raise invalid_filter("Syntax error: expected '%s' in '%s'." % (value or "an expression", self.text))
        self.pos += 1
        return token

    def parse(self):
        tree = self.expression(())
        if self.pos != len(self.tokens):
            raise invalid_filter("Syntax error at '%s' in '%s'." % (self.peek()[1], self.text))
        return tree

    def expression(self, scope):
        return self._chain(scope, "or", self.conjunction)

    def conjunction(self, scope):
        return self._chain(scope, "and", self.unary)

    def _chain(self, scope, word, operand):
        """Left-associative `operand (word operand)*`: 'and' binds tighter than 'or'."""
        left = operand(scope)
        while self._word(word):
            self.pos += 1
            left = (word, left, operand(scope))
        return left

    def _word(self, word):
        kind, value = self.peek()
        return kind == "name" and value.lower() == word

    def unary(self, scope):
        if self._word("not"):
            self.pos += 1
            self.operators.add("not")
            return ("not", self.unary(scope))
        if self.peek() == ("punct", "("):
            self.pos += 1
            inner = self.expression(scope)
            self.take(")")
            return inner
        left = self.operand(scope)
        kind, value = self.peek()
        if kind == "name" and value.lower() in COMPARISONS:
            self.pos += 1
            self.operators.add(value.lower())
            return ("cmp", value.lower(), left, self.operand(scope))
        if kind == "name" and value.lower() == "in":
            self.pos += 1
            self.operators.add("in")
            return ("in", left, self._operands(scope))
        if left[0] in ("call", "any", "all"):
            return left
        raise invalid_filter("Syntax error: a comparison was expected after '%s' in '%s'." % (value or "", self.text))

    def operand(self, scope):
        kind, value = self.take()
        if kind == "string":
            return ("lit", value[1:-1].replace("''", "'"), "Edm.String")
        if kind == "guid":
            return ("lit", value.lower(), "Edm.Guid")
        if kind == "datetime":
            return ("lit", value)
        if kind == "number":
            return ("lit", float(value) if "." in value else int(value))
        if kind != "name":
            raise invalid_filter("Syntax error at '%s' in '%s'." % (value, self.text))
        lowered = value.lower()
        if lowered in ("true", "false"):
            return ("lit", lowered == "true")
        if lowered == "null":
            return ("lit", None)
        if self.peek() == ("punct", "("):
            head, sep, last = value.rpartition("/")
            if head and last.lower() in ("any", "all"):
                return self._lambda(head, last.lower(), scope)
            return self._call(lowered, scope)
        return self._path(value, scope)

    def _path(self, value, scope):
        first = value.split("/")[0]
        if first not in scope:
            self.properties.add(first)
        return ("prop", value)

    def _call(self, name, scope):
        if name not in ("startswith", "endswith"):
            raise invalid_filter("The function '%s' is not supported." % name)
        self.operators.add(name)
        args = self._operands(scope)
        if len(args) != 2:
            raise invalid_filter("The function '%s' takes 2 arguments, not %d." % (name, len(args)))
        return ("call", name, args)

    def _operands(self, scope):
        """A parenthesized, comma-separated list: the values of `in`, the arguments of a function."""
        self.take("(")
        items = [self.operand(scope)]
        while self.peek() == ("punct", ","):
            self.pos += 1
            items.append(self.operand(scope))
        self.take(")")
        return items

    def _lambda(self, path, quantifier, scope):
        self._path(path, scope)
        self.take("(")
        kind, var = self.take()
        if kind != "name":
            raise invalid_filter("Syntax error: a lambda variable was expected in '%s'." % self.text)
        self.take(":")
        body = self.expression(scope + (var,))
        self.take(")")
        return ("any" if quantifier == "any" else "all", path, var, body)


OPERATOR_KINDS = {"eq": "Equal", "ne": "NotEqual", "gt": "GreaterThan", "ge": "GreaterThanOrEqual", "lt": "LessThan",
                  "le": "LessThanOrEqual"}


def check_types(tree, properties):
    """OData refuses to compare a Guid property with a string literal and a string property with a GUID
    literal (appId is a string, principalId of an appRoleAssignment a Guid): so does the sandbox."""
    if tree[0] in ("or", "and"):
        check_types(tree[1], properties)
        check_types(tree[2], properties)
    elif tree[0] == "not":
        check_types(tree[1], properties)
    elif tree[0] == "cmp":
        left, right = tree[2], tree[3]
        if left[0] == "prop" and right[0] == "lit" and len(right) > 2 and left[1] in properties:
            declared = properties[left[1]]["type"]
            if declared in ("Edm.Guid", "Edm.String") and declared != right[2]:
                raise GraphError(400, "BadRequest", "A binary operator with incompatible types was detected. Found operand types "
                                 "'%s' and '%s' for operator kind '%s'." % (declared, right[2], OPERATOR_KINDS[tree[1]]))


def _resolve(doc, path, env):
    parts = path.split("/")
    value = env[parts[0]] if parts[0] in env else doc.get(parts[0])
    for part in parts[1:]:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _norm(value):
    """Graph compares directory strings without regard to case; GUIDs likewise."""
    return value.lower() if isinstance(value, str) else value


def evaluate(tree, doc, env=None):
    env = env or {}
    kind = tree[0]
    if kind == "lit":
        return tree[1]
    if kind == "prop":
        return _resolve(doc, tree[1], env)
    if kind == "or":
        return evaluate(tree[1], doc, env) or evaluate(tree[2], doc, env)
    if kind == "and":
        return evaluate(tree[1], doc, env) and evaluate(tree[2], doc, env)
    if kind == "not":
        return not evaluate(tree[1], doc, env)
    if kind == "in":
        value = _norm(evaluate(tree[1], doc, env))
        return any(value == _norm(evaluate(item, doc, env)) for item in tree[2])
    if kind == "call":
        subject, prefix = (_norm(evaluate(arg, doc, env)) for arg in tree[2])
        if not isinstance(subject, str) or not isinstance(prefix, str):
            return False
        return subject.startswith(prefix) if tree[1] == "startswith" else subject.endswith(prefix)
    if kind in ("any", "all"):
        items = _resolve(doc, tree[1], env) or []
        test = (evaluate(tree[3], doc, dict(env, **{tree[2]: item})) for item in items)
        return any(test) if kind == "any" else all(test)
    return _compare(tree[1], _norm(evaluate(tree[2], doc, env)), _norm(evaluate(tree[3], doc, env)))


def _compare(op, left, right):
    if op == "eq":
        return left == right
    if op == "ne":
        return left != right
    if left is None or right is None:
        return False
    try:
        return {"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[op]
    except TypeError:
        return False


# --- the whole query ---------------------------------------------------------------------------
def _skiptoken(offset):
    raw = json.dumps({"sandbox": 1, "offset": offset}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _offset(token):
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return int(data["offset"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise GraphError(400, "Request_BadRequest", "Invalid paging token specified.")


class Query:
    """The query options of one list request, checked against the entity set they address."""

    def __init__(self, req, entity_set, schema, expandable=None):
        """`expandable`: {navigation property: target type} that the service expands on this entity set."""
        self.req = req
        self.entity_set = entity_set
        self.options = {k: v for k, v in req.query.items() if k.startswith("$")}
        unknown = set(self.options) - SUPPORTED_OPTIONS
        if unknown:
            name = sorted(unknown)[0]
            if name in ("$search", "$skip", "$apply"):
                raise GraphError(400, "Request_BadRequest", "'%s' is not supported by the service." % name)
            raise GraphError(400, "BadRequest", "The query parameter '%s' is not supported." % name)
        self.properties = schema.properties(entity_set.type_name)
        self.select = parse_select(self.options.get("$select"), entity_set.type_name, schema.selectable(entity_set.type_name))
        self.expand = parse_expand(self.options.get("$expand"), entity_set.type_name, schema, expandable or {})
        self.eventual = (req.header("ConsistencyLevel") or "").lower() == "eventual"
        self.count = self.options.get("$count", "").lower() == "true"
        if "$count" in self.options and self.options["$count"].lower() not in ("true", "false"):
            raise GraphError(400, "BadRequest", "Invalid value '%s' for $count query option found. Valid values are 'true' and "
                                                "'false'." % self.options["$count"])
        self.top = self._top()
        # An advanced query without its parameters is refused as such (Request_UnsupportedQuery), even when
        # $count=true is there and only the header is missing.
        self.filter = self._filter()
        self.orderby = self._orderby()
        if self.count and not self.eventual:
            raise GraphError(400, "Request_BadRequest", "$count is not currently supported.")

    def _top(self):
        text = self.options.get("$top")
        if text is None:
            return None
        if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE_SIZE:
            raise GraphError(400, "Request_BadRequest", "Invalid page size specified: '%s'. Must be between 1 and %d inclusive."
                             % (text, MAX_PAGE_SIZE))
        return int(text)

    def _filter(self):
        text = self.options.get("$filter")
        if not text:
            return None
        parser = FilterParser(text)
        tree = parser.parse()
        for name in sorted(parser.properties):
            if name not in self.properties:
                raise invalid_filter("Could not find a property named '%s' on type 'microsoft.graph.%s'."
                                     % (name, self.entity_set.type_name))
            if name not in self.entity_set.filterable:
                raise GraphError(400, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified for "
                                 "property '%s' of resource '%s'." % (name, self.entity_set.resource_name))
        check_types(tree, self.properties)
        advanced = sorted(parser.operators & ADVANCED_OPERATORS)
        if advanced and not (self.eventual and self.count):
            raise GraphError(400, "Request_UnsupportedQuery", "Operator '%s' is not supported because the required parameters "
                             "might be missing. Try adding $count=true query parameter and the ConsistencyLevel:eventual header. "
                             "Refer to https://aka.ms/graph-aad-advanced-queries for more information" % advanced[0])
        return tree

    def _orderby(self):
        text = self.options.get("$orderby")
        if not text:
            return None
        name, sep, direction = text.strip().partition(" ")
        if name not in self.properties:
            raise GraphError(400, "BadRequest", "Could not find a property named '%s' on type 'microsoft.graph.%s'."
                             % (name, self.entity_set.type_name))
        if self.filter is not None and not (self.eventual and self.count):
            raise GraphError(400, "Request_UnsupportedQuery", "Sorting not supported for current query.")
        return name, direction.strip().lower() == "desc"

    def apply(self, docs):
        """(page, total, next_link) of the matching documents."""
        if self.filter is not None:
            docs = [doc for doc in docs if evaluate(self.filter, doc)]
        if self.orderby:
            name, descending = self.orderby
            present = [d for d in docs if d.get(name) is not None]
            present.sort(key=lambda d: _norm(d[name]), reverse=descending)
            docs = present + [d for d in docs if d.get(name) is None]
        offset = _offset(self.options["$skiptoken"]) if "$skiptoken" in self.options else 0
        size = self.top or self.entity_set.page_size
        if self.expand:
            size = min(size, MAX_EXPAND_PAGE_SIZE)
        page = docs[offset:offset + size]
        next_link = None
        if offset + size < len(docs):
            query = [(k, v) for k, v in urllib.parse.parse_qsl(self.req.query_string, keep_blank_values=True) if k != "$skiptoken"]
            query.append(("$skiptoken", _skiptoken(offset + size)))
            path = urllib.parse.quote(self.req.path, safe="/()'=,$:")
            next_link = "%s%s?%s" % (self.req.base_url, path, urllib.parse.urlencode(query, safe="$'(),:/=", quote_via=urllib.parse.quote))
        return page, len(docs), next_link


def _select_expand_failed(message):
    return GraphError(400, "BadRequest", "Parsing OData Select and Expand failed: " + message)


def parse_select(text, type_name, selectable):
    """The names of a $select, each one of `selectable` (Schema.selectable: for directoryObject that includes
    the properties of its derived types)."""
    if not text:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in selectable:
            raise _select_expand_failed("Could not find a property named '%s' on type 'microsoft.graph.%s'." % (name, type_name))
    return names


# One expanded navigation property: its name, the type its items are declared with, and the nested $select.
Expansion = collections.namedtuple("Expansion", "name target select")
EXPAND_ITEM_RE = re.compile(r"^(?P<name>[A-Za-z_][\w.]*)\s*(?:\((?P<options>.*)\))?$", re.DOTALL)


def _top_level_items(text):
    """The comma-separated items of an $expand, leaving commas inside parentheses alone."""
    items, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            break
        if char == "," and depth == 0:
            items.append(text[start:index])
            start = index + 1
    if depth != 0:
        raise _select_expand_failed("Syntax error: unbalanced parentheses in '%s'." % text)
    return [item.strip() for item in items + [text[start:]] if item.strip()]


def parse_expand(text, type_name, schema, expandable):
    """[Expansion] of an $expand on `type_name`. Graph takes one navigation property per request on directory
    objects, with at most a nested $select; `expandable` ({name: target type}) is what the service expands."""
    if not text:
        return []
    items = _top_level_items(text)
    if len(items) > 1:
        raise GraphError(400, "BadRequest", "The result of parsing $expand contained at least %d items, but the maximum "
                                            "allowed is 1." % len(items))
    found = EXPAND_ITEM_RE.match(items[0]) if items else None
    if not found:
        raise _select_expand_failed("Syntax error in '%s'." % text)
    name = found.group("name")
    if name not in schema.navigation(type_name):
        if name in schema.properties(type_name):
            raise _select_expand_failed("Property '%s' on type 'microsoft.graph.%s' is not a navigation property or complex "
                                        "property. Only navigation properties can be expanded." % (name, type_name))
        raise _select_expand_failed("Could not find a property named '%s' on type 'microsoft.graph.%s'." % (name, type_name))
    if name not in expandable:
        raise GraphError(400, "Request_UnsupportedQuery", "Expanding navigation property '%s' of resource '%s' is not "
                                                          "supported." % (name, type_name[0].upper() + type_name[1:]))
    target, select = expandable[name], None
    for option in (found.group("options") or "").split(";"):
        key, sep, value = option.partition("=")
        if not key.strip():
            continue
        if key.strip().lower() != "$select":
            raise GraphError(400, "Request_UnsupportedQuery", "The query option '%s' is not supported inside $expand."
                             % key.strip())
        select = parse_select(value, target, schema.selectable(target))
    return [Expansion(name, target, select)]


def select_clause(select, expand=()):
    """The "(...)" of an @odata.context: the selected properties, then each expanded navigation property with
    its nested selection in parentheses (empty without one), as OData 4.0 writes it; "" when neither."""
    parts = list(select or []) + ["%s(%s)" % (item.name, ",".join(item.select or [])) for item in expand]
    return "(%s)" % ",".join(parts) if parts else ""


def is_guid(value):
    return bool(GUID_RE.match(value or ""))


class EntitySet:
    """A collection Graph exposes: where its documents live and how they may be queried."""

    def __init__(self, name, kind, type_name, resource_name, filterable, page_size=DEFAULT_PAGE_SIZE):
        self.name = name
        self.kind = kind
        self.type_name = type_name
        self.resource_name = resource_name
        self.filterable = set(filterable)
        self.page_size = page_size


def key_pattern(entity_set, *keys):
    """Regex for `/{set}/{id}` or `/{set}(key='value')` (OData alternate keys, with '' escaping a quote)."""
    alternatives = "|".join(re.escape(k) for k in keys)
    return r"%s(?:/(?P<id>[^/()$][^/()]*)|\((?P<key>%s)='(?P<value>(?:[^']|'')*)'\))" % (re.escape(entity_set), alternatives)


def key_of(params):
    """(property, value) addressed by a key_pattern match: ("id", ...) or the alternate key."""
    if params.get("id") is not None:
        return "id", params["id"]
    return params["key"], params["value"].replace("''", "'")
