"""The data side of IMAP4rev1 (RFC 3501) the sandbox needs: command arguments, sequence sets, SEARCH
criteria, FETCH items and the way answers are written (quoted strings, literals, dates)."""
import datetime
import email.utils
import re

from . import mailstore

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
SYSTEM_FLAGS = ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")


class BadCommand(Exception):
    """The client sent something the grammar does not allow: answered `BAD`."""


class Literal(bytes):
    """An argument the client sent as a literal ({n}): a string, never an atom."""


# --- arguments -----------------------------------------------------------------------------------
def tokenize(parts):
    """Tokens of a command (after the tag): str atoms, Quoted/Literal strings and lists for ( ).

    `parts` alternates text (str) and literal bytes, as the session read them."""
    stack = [[]]
    for part in parts:
        if isinstance(part, bytes):
            stack[-1].append(Literal(part))
            continue
        i, text = 0, part
        while i < len(text):
            char = text[i]
            if char == " ":
                i += 1
            elif char == "(":
                stack.append([])
                i += 1
            elif char == ")":
                if len(stack) == 1:
                    raise BadCommand("unbalanced )")
                done = stack.pop()
                stack[-1].append(done)
                i += 1
            elif char == '"':
                i, value = _quoted(text, i)
                stack[-1].append(Quoted(value))
            else:
                i, value = _atom(text, i)
                stack[-1].append(value)
    if len(stack) != 1:
        raise BadCommand("unbalanced (")
    return stack[0]


class Quoted(str):
    """An argument the client sent as a quoted string."""


def _quoted(text, i):
    out, i = [], i + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif char == '"':
            return i + 1, "".join(out)
        else:
            out.append(char)
            i += 1
    raise BadCommand("unterminated quoted string")


def _atom(text, i):
    """An atom; a [...] section (which may hold spaces and parentheses) is part of it."""
    start, depth = i, 0
    while i < len(text):
        char = text[i]
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif depth == 0 and char in " ()":
            break
        i += 1
    return i, text[start:i]


def string(token):
    """The text of an astring argument."""
    if isinstance(token, list):
        raise BadCommand("a list where a string belongs")
    if isinstance(token, bytes):
        return token.decode("utf-8", "replace")
    return token


# --- answers -------------------------------------------------------------------------------------
def quote(value):
    """A string as IMAP writes it: NIL, a quoted string, or a literal when it must be."""
    if value is None:
        return b"NIL"
    if isinstance(value, str):
        value = value.encode("utf-8")
    if b"\r" in value or b"\n" in value or any(b > 126 for b in value) or len(value) > 1000:
        return b"{%d}\r\n" % len(value) + value
    return b'"' + value.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def literal(data):
    return b"{%d}\r\n" % len(data) + data


def imap_datetime(timestamp):
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc)
    return '"%02d-%s-%d %02d:%02d:%02d +0000"' % (moment.day, MONTHS[moment.month - 1], moment.year,
                                                  moment.hour, moment.minute, moment.second)


def parse_date(text):
    """An IMAP date (1-Feb-2026) as a datetime.date."""
    found = re.match(r"^(\d{1,2})-([A-Za-z]{3})-(\d{4})$", text or "")
    if not found or found.group(2).title() not in MONTHS:
        raise BadCommand("bad date %r" % text)
    return datetime.date(int(found.group(3)), MONTHS.index(found.group(2).title()) + 1, int(found.group(1)))


# --- sequence sets -------------------------------------------------------------------------------
def sequence_set(text, largest):
    """The numbers of a sequence set ("1:3,5,7:*"); `largest` stands for "*"."""
    numbers = set()
    if not re.match(r"^[0-9*:,]+$", text or ""):
        raise BadCommand("bad sequence set %r" % text)
    for piece in text.split(","):
        low, sep, high = piece.partition(":")
        low_n = largest if low == "*" else int(low)
        high_n = low_n if not high else (largest if high == "*" else int(high))
        if low_n > high_n:
            low_n, high_n = high_n, low_n
        numbers.update(range(low_n, high_n + 1))
    return numbers


# --- messages ------------------------------------------------------------------------------------
class Message:
    """One message of the selected folder as a session sees it."""

    def __init__(self, doc, seq):
        self.doc = doc
        self.seq = seq
        self.uid = doc["uid"]
        self._raw = None
        self._headers = None

    @property
    def raw(self):
        if self._raw is None:
            self._raw = mailstore.raw_bytes(self.doc)
        return self._raw

    @property
    def flags(self):
        return self.doc.get("flags", [])

    @property
    def headers(self):
        if self._headers is None:
            self._headers = mailstore.headers_of(self.raw)
        return self._headers

    def split(self):
        """(header block including the blank line, body)."""
        raw = self.raw
        end = raw.find(b"\r\n\r\n")
        if end < 0:
            return raw, b""
        return raw[:end + 4], raw[end + 4:]

    def header_fields(self, names, negate=False):
        head = self.split()[0]
        wanted = {n.lower() for n in names}
        out, keep = [], False
        for line in head.split(b"\r\n"):
            if not line:
                continue
            if line[:1] in (b" ", b"\t"):
                if keep:
                    out.append(line)
                continue
            name = line.split(b":", 1)[0].decode("ascii", "replace").strip().lower()
            keep = (name in wanted) != negate
            if keep:
                out.append(line)
        return b"".join(l + b"\r\n" for l in out) + b"\r\n"

    def sent_date(self):
        try:
            moment = email.utils.parsedate_to_datetime(self.headers.get("Date"))
        except (TypeError, ValueError):
            return None
        return moment.date() if moment else None

    def internal_date(self):
        return datetime.datetime.fromtimestamp(self.doc["internalDate"], datetime.timezone.utc).date()


# --- SEARCH --------------------------------------------------------------------------------------
def search_key(tokens, largest_seq, largest_uid):
    """A predicate(Message) for a list of search keys (all must hold), consuming `tokens`."""
    tokens = list(tokens)
    keys = []
    while tokens:
        keys.append(_one_key(tokens, largest_seq, largest_uid))
    return lambda msg: all(key(msg) for key in keys)


def _contains(value, needle):
    return needle.lower() in (value or "").lower()


FLAG_KEYS = {"ANSWERED": ("\\Answered", True), "DELETED": ("\\Deleted", True), "FLAGGED": ("\\Flagged", True),
             "SEEN": ("\\Seen", True), "DRAFT": ("\\Draft", True), "UNANSWERED": ("\\Answered", False),
             "UNDELETED": ("\\Deleted", False), "UNFLAGGED": ("\\Flagged", False), "UNSEEN": ("\\Seen", False),
             "UNDRAFT": ("\\Draft", False)}
ADDRESS_KEYS = {"FROM": "From", "TO": "To", "CC": "Cc", "BCC": "Bcc", "SUBJECT": "Subject"}
DATE_KEYS = {"BEFORE": ("internal", lambda a, b: a < b), "ON": ("internal", lambda a, b: a == b),
             "SINCE": ("internal", lambda a, b: a >= b), "SENTBEFORE": ("sent", lambda a, b: a < b),
             "SENTON": ("sent", lambda a, b: a == b), "SENTSINCE": ("sent", lambda a, b: a >= b)}


def _take(tokens):
    if not tokens:
        raise BadCommand("missing search argument")
    return tokens.pop(0)


def _one_key(tokens, largest_seq, largest_uid):
    token = _take(tokens)
    if isinstance(token, list):
        return search_key(token, largest_seq, largest_uid)
    if isinstance(token, (Quoted, Literal)):
        raise BadCommand("a string where a search key belongs")
    key = token.upper()
    if key == "ALL":
        return lambda msg: True
    if key in ("NEW", "RECENT"):
        return lambda msg: False   # \Recent is never set: every session sees the messages as old
    if key == "OLD":
        return lambda msg: True
    if key in FLAG_KEYS:
        flag, present = FLAG_KEYS[key]
        return lambda msg: (flag in msg.flags) == present
    if key in ("KEYWORD", "UNKEYWORD"):
        flag = string(_take(tokens))
        return lambda msg: (flag in msg.flags) == (key == "KEYWORD")
    if key in ADDRESS_KEYS:
        needle, header = string(_take(tokens)), ADDRESS_KEYS[key]
        return lambda msg: _contains(msg.headers.get(header), needle)
    if key == "HEADER":
        name, needle = string(_take(tokens)), string(_take(tokens))
        return lambda msg: any(_contains(v, needle) for v in (msg.headers.get_all(name) or ())) if needle else \
            msg.headers.get(name) is not None
    if key in ("BODY", "TEXT"):
        needle = string(_take(tokens)).encode("utf-8").lower()
        part = 1 if key == "BODY" else None
        return lambda msg: needle in (msg.split()[1] if part else msg.raw).lower()
    if key in DATE_KEYS:
        which, compare = DATE_KEYS[key]
        day = parse_date(string(_take(tokens)))

        def by_date(msg):
            value = msg.internal_date() if which == "internal" else msg.sent_date()
            return value is not None and compare(value, day)
        return by_date
    if key in ("LARGER", "SMALLER"):
        size = int(string(_take(tokens)))
        return lambda msg: len(msg.raw) > size if key == "LARGER" else len(msg.raw) < size
    if key == "UID":
        uids = sequence_set(string(_take(tokens)), largest_uid)
        return lambda msg: msg.uid in uids
    if key == "NOT":
        inner = _one_key(tokens, largest_seq, largest_uid)
        return lambda msg: not inner(msg)
    if key == "OR":
        left = _one_key(tokens, largest_seq, largest_uid)
        right = _one_key(tokens, largest_seq, largest_uid)
        return lambda msg: left(msg) or right(msg)
    if re.match(r"^[0-9*:,]+$", key):
        seqs = sequence_set(key, largest_seq)
        return lambda msg: msg.seq in seqs
    raise BadCommand("unknown search key %s" % key)


# --- FETCH ---------------------------------------------------------------------------------------
MACROS = {"ALL": ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"],
          "FAST": ["FLAGS", "INTERNALDATE", "RFC822.SIZE"],
          "FULL": ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"]}
SECTION = re.compile(r"^(BODY|BODY\.PEEK)\[([^\]]*)\](?:<(\d+)(?:\.(\d+))?>)?$", re.IGNORECASE)


def fetch_items(tokens):
    """The item names of a FETCH, macros expanded."""
    if len(tokens) == 1 and isinstance(tokens[0], list):
        tokens = tokens[0]
    items = []
    for token in tokens:
        if isinstance(token, list) or not token:
            raise BadCommand("bad fetch item")
        name = token.upper() if "[" not in token else token
        items.extend(MACROS.get(name, [name]))
    return items


def sets_seen(items):
    """True if fetching these items marks the message \\Seen (a body fetched without PEEK)."""
    for item in items:
        upper = item.upper()
        if upper in ("RFC822", "RFC822.TEXT") or (upper.startswith("BODY[")):
            return True
    return False


def _section(msg, section):
    upper = section.upper()
    if upper == "":
        return msg.raw
    if upper == "HEADER":
        return msg.split()[0]
    if upper == "TEXT":
        return msg.split()[1]
    found = re.match(r"^HEADER\.FIELDS(\.NOT)?\s*\((.*)\)$", section, re.IGNORECASE)
    if found:
        return msg.header_fields(found.group(2).split(), negate=bool(found.group(1)))
    if upper == "1" and not msg.headers.get_content_maintype() == "multipart":
        return msg.split()[1]
    raise BadCommand("unsupported body section %s" % section)


def _address_list(value):
    if not value:
        return b"NIL"
    parts = []
    for name, address in email.utils.getaddresses([value]):
        local, sep, domain = address.partition("@")
        parts.append(b"(" + b" ".join([quote(name or None), b"NIL", quote(local or None), quote(domain or None)]) + b")")
    return b"(" + b"".join(parts) + b")" if parts else b"NIL"


def envelope(msg):
    h = msg.headers
    sender = h.get("Sender") or h.get("From")
    reply_to = h.get("Reply-To") or h.get("From")
    fields = [quote(h.get("Date")), quote(h.get("Subject")), _address_list(h.get("From")), _address_list(sender),
              _address_list(reply_to), _address_list(h.get("To")), _address_list(h.get("Cc")),
              _address_list(h.get("Bcc")), quote(h.get("In-Reply-To")), quote(h.get("Message-ID"))]
    return b"(" + b" ".join(fields) + b")"


def render(msg, items):
    """The parenthesized answer of one FETCH (without `* n FETCH`)."""
    out = []
    for item in items:
        upper = item.upper()
        if upper == "UID":
            out.append(b"UID %d" % msg.uid)
        elif upper == "FLAGS":
            out.append(b"FLAGS (" + " ".join(msg.flags).encode() + b")")
        elif upper == "INTERNALDATE":
            out.append(b"INTERNALDATE " + imap_datetime(msg.doc["internalDate"]).encode())
        elif upper == "RFC822.SIZE":
            out.append(b"RFC822.SIZE %d" % len(msg.raw))
        elif upper == "ENVELOPE":
            out.append(b"ENVELOPE " + envelope(msg))
        elif upper == "RFC822":
            out.append(b"RFC822 " + literal(msg.raw))
        elif upper == "RFC822.HEADER":
            out.append(b"RFC822.HEADER " + literal(msg.split()[0]))
        elif upper == "RFC822.TEXT":
            out.append(b"RFC822.TEXT " + literal(msg.split()[1]))
        else:
            found = SECTION.match(item)
            if not found:
                raise BadCommand("unknown fetch item %s" % item)
            data = _section(msg, found.group(2))
            name = "BODY[%s]" % found.group(2)
            if found.group(3) is not None:
                start = int(found.group(3))
                data = data[start:] if found.group(4) is None else data[start:start + int(found.group(4))]
                name += "<%d>" % start
            out.append(name.encode() + b" " + literal(data))
    return b"(" + b" ".join(out) + b")"
