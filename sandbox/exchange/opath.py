"""OPATH recipient filters, as management scopes (-RecipientRestrictionFilter) and Get-Mailbox -Filter
take them: `Property -eq 'value'` comparisons (-eq, -ne, -like, -notlike) joined by -and/-or, negated by
-not, grouped by parentheses. Values are quoted with ' or " (a doubled quote escapes itself), or bare;
$null, $true and $false are PowerShell's. Property names and string comparisons are case-insensitive,
-like takes * as a wildcard.

`parse(text)` returns a predicate over a recipient's attributes (lower-case property name -> value or
list of values); it raises FilterError with Exchange's text for a filter it cannot read."""
import fnmatch
import re

# Filterable properties the sandbox knows, in Exchange's spelling.
PROPERTIES = ["Alias", "DisplayName", "Name", "PrimarySmtpAddress", "UserPrincipalName", "WindowsEmailAddress",
              "EmailAddresses", "RecipientType", "RecipientTypeDetails", "ExternalDirectoryObjectId", "Guid",
              "Department", "MemberOfGroup"] + ["CustomAttribute%d" % n for n in range(1, 16)]
KNOWN = {name.lower(): name for name in PROPERTIES}
OPERATORS = ("-eq", "-ne", "-like", "-notlike")
TOKEN = re.compile(r"""\s*(?:(?P<open>\()|(?P<close>\))|(?P<op>-[A-Za-z]+)|'(?P<sq>(?:[^']|'')*)'|"(?P<dq>(?:[^"]|"")*)"|(?P<word>[^\s()'"]+))""")
SYNTAX_HELP = "For a description of the filter parameter syntax see the command help."


class FilterError(Exception):
    pass


def _tokens(text):
    tokens, pos = [], 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        match = TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise FilterError('Invalid filter syntax. %s\n"%s" at position %d.' % (SYNTAX_HELP, text, pos + 1))
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "sq":
            kind, value = "value", value.replace("''", "'")
        elif kind == "dq":
            kind, value = "value", value.replace('""', '"')
        tokens.append((kind, value, match.start(kind) if kind != "value" else match.start()))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text):
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0

    def fail(self):
        at = self.tokens[self.pos][2] + 1 if self.pos < len(self.tokens) else len(self.text) + 1
        raise FilterError('Invalid filter syntax. %s\n"%s" at position %d.' % (SYNTAX_HELP, self.text, at))

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else (None, None, None)

    def take(self):
        token = self.peek()
        if token[0] is None:
            self.fail()
        self.pos += 1
        return token

    def keyword(self, word):
        kind, value = self.peek()[:2]
        if kind == "op" and value.lower() == word:
            self.pos += 1
            return True
        return False

    def parse(self):
        if not self.tokens:
            self.fail()
        node = self.or_()
        if self.pos != len(self.tokens):
            self.fail()
        return node

    def or_(self):
        nodes = [self.and_()]
        while self.keyword("-or"):
            nodes.append(self.and_())
        return nodes[0] if len(nodes) == 1 else (lambda attrs, n=nodes: any(f(attrs) for f in n))

    def and_(self):
        nodes = [self.not_()]
        while self.keyword("-and"):
            nodes.append(self.not_())
        return nodes[0] if len(nodes) == 1 else (lambda attrs, n=nodes: all(f(attrs) for f in n))

    def not_(self):
        if self.keyword("-not"):
            inner = self.not_()
            return lambda attrs: not inner(attrs)
        return self.primary()

    def primary(self):
        kind, value = self.take()[:2]
        if kind == "open":
            node = self.or_()
            if self.take()[0] != "close":
                self.pos -= 1
                self.fail()
            return node
        if kind != "word":
            self.pos -= 1
            self.fail()
        prop = KNOWN.get(value.lower())
        if prop is None:
            raise FilterError('"%s" is not a recognized filterable property. %s' % (value, SYNTAX_HELP))
        op_kind, op = self.take()[:2]
        if op_kind != "op" or op.lower() not in OPERATORS:
            self.pos -= 1
            self.fail()
        value_kind, operand = self.take()[:2]
        if value_kind not in ("value", "word"):
            self.pos -= 1
            self.fail()
        if value_kind == "word":
            operand = {"$null": None, "$true": "True", "$false": "False"}.get(operand.lower(), operand)
        return _comparison(prop.lower(), op.lower(), operand)


def _matches(actual, operand, like):
    if operand is None:
        return actual in (None, "", [])
    if actual is None:
        return False
    text = str(actual).lower()
    wanted = operand.lower()
    if like:
        return fnmatch.fnmatchcase(text, wanted)
    return text == wanted


def _comparison(prop, op, operand):
    like = op in ("-like", "-notlike")
    negate = op in ("-ne", "-notlike")

    def test(attrs):
        actual = attrs.get(prop)
        values = actual if isinstance(actual, list) else [actual]
        if prop == "emailaddresses" and operand is not None and ":" not in operand:
            # A bare address matches a proxy address of any type prefix (SMTP:, smtp:).
            values = [v.split(":", 1)[-1] for v in values]
        if isinstance(actual, list) and not actual:
            values = [None]
        found = any(_matches(v, operand, like) for v in values)
        return not found if negate else found
    return test


def parse(text):
    if text is None or not str(text).strip():
        raise FilterError('Invalid filter syntax. %s\n"%s" at position 1.' % (SYNTAX_HELP, text or ""))
    return _Parser(str(text)).parse()
