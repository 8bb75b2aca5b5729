"""IMAP4rev1 over implicit TLS as outlook.office365.com:993 answers it, enough to read mail back:
AUTHENTICATE XOAUTH2 (OAUTHBEARER when the listener's switch is on), LIST, SELECT/EXAMINE, SEARCH,
FETCH, STORE, their UID forms, NOOP, LOGOUT. Authorization is access.py's, the mail mailstore.py's."""
import base64
import fnmatch

from . import access as access_mod
from . import imapdata as data
from . import mailstore
from . import sasl
from .imapdata import BadCommand
from .wire import LineTooLong, Session

GREETING = "* OK The Microsoft Exchange IMAP4 service is ready. [%s]" % base64.b64encode(
    mailstore.HOSTNAME.encode("utf-16-le")).decode()
FLAGS = "(\\Seen \\Answered \\Flagged \\Deleted \\Draft $MDNSent)"
INVALID_STATE = "BAD Command received in Invalid state."


def needs(state):
    """The session state a command needs: "auth" (signed in) or "selected" (a folder open)."""
    def mark(method):
        method.state = state
        return method
    return mark


def _folder_match(pattern, name):
    """LIST wildcards: * matches anything, % anything but the hierarchy delimiter."""
    return fnmatch.fnmatchcase(name.lower(), pattern.lower().replace("%", "*"))


class ImapSession(Session):
    protocol = "imap"

    def __init__(self, conn, listener):
        super().__init__(conn, listener)
        self.folder = None          # selected folder name
        self.read_only = False
        self.known = 0              # messages the client has been told about (EXISTS)
        self.not_connected = False  # signed in with a token for a mailbox it has no right to
        self.refusals = 0

    # --- wire ----------------------------------------------------------------------------------
    def send(self, line):
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.conn.send(line + b"\r\n")

    def read_command(self):
        """(tag, parts): the command line and any literals it announced, read to the end."""
        parts = []
        line = self.conn.readline()
        while True:
            text = line.decode("utf-8", "replace")
            if text.endswith("}") and "{" in text:
                head, sep, count = text[:-1].rpartition("{")
                plus = count.endswith("+")
                count = count.rstrip("+")
                if count.isdigit():
                    parts.append(head)
                    if not plus:
                        self.send("+ Ready for additional command text.")
                    parts.append(self.conn.read(int(count)))
                    line = self.conn.readline()
                    continue
            parts.append(text)
            return parts

    def run(self):
        self.send(GREETING)
        while not self.done:
            try:
                parts = self.read_command()
            except LineTooLong:
                self.send("* BAD Command Error. 10")
                continue
            if self.mail.realism(self, lambda: self.send("* BYE Connection is closed. 13")):
                return
            first = parts[0] if isinstance(parts[0], str) else ""
            tag, sep, rest = first.partition(" ")
            if not tag or not rest and len(parts) == 1:
                self.send("%s BAD Command Error. 10" % (tag or "*"))
                continue
            name, sep, rest = rest.partition(" ")
            parts[0] = rest
            self.dispatch(tag, name.upper(), parts)

    def dispatch(self, tag, name, parts):
        uid = False
        if name == "UID":
            sub, sep, rest = parts[0].lstrip().partition(" ")
            name, uid, parts[0] = sub.upper(), True, rest
            if name not in ("FETCH", "SEARCH", "STORE", "EXPUNGE"):
                self.send("%s BAD Command Error. 10" % tag)
                return
        handler = getattr(self, "cmd_" + name, None)
        if handler is None:
            self.send("%s BAD Command Error. 10" % tag)
            return
        needs = getattr(handler, "state", None)
        if needs and self.not_connected:
            self.send("%s BAD User is authenticated but not connected." % tag)
            self.refusals += 1
            if self.refusals >= 2:
                self.send("* BYE Connection closed. 14")
                self.done = True
            return
        if needs == "auth" and self.identity is None or needs == "selected" and self.folder is None:
            self.send("%s %s" % (tag, INVALID_STATE))
            return
        try:
            if name == "AUTHENTICATE":
                handler(tag, parts)
            else:
                args = data.tokenize(parts)
                handler(tag, args, uid) if needs == "selected" else handler(tag, args)
        except BadCommand:
            self.send("%s BAD Command Argument Error. 11" % tag)

    def log_fields(self):
        return dict(super().log_fields(), folder=self.folder)

    # --- any state -----------------------------------------------------------------------------
    def capability(self):
        caps = ["IMAP4", "IMAP4rev1"]
        if self.identity is None:
            caps += ["AUTH=PLAIN", "AUTH=XOAUTH2"] + (["AUTH=OAUTHBEARER"] if self.settings.get("oauthbearer") else [])
            caps.append("SASL-IR")
        return " ".join(caps + ["UIDPLUS", "MOVE", "ID", "UNSELECT", "CHILDREN", "NAMESPACE", "LITERAL+"])

    def cmd_CAPABILITY(self, tag, args):
        self.send("* CAPABILITY " + self.capability())
        self.send("%s OK CAPABILITY completed." % tag)

    def cmd_NOOP(self, tag, args):
        self._report_new()
        self.send("%s OK NOOP completed." % tag)

    cmd_CHECK = cmd_NOOP

    def cmd_ID(self, tag, args):
        self.send("* ID NIL")
        self.send("%s OK ID completed." % tag)

    def cmd_LOGOUT(self, tag, args):
        self.send("* BYE Microsoft Exchange Server IMAP4 server signing off.")
        self.send("%s OK LOGOUT completed." % tag)
        self.done = True

    # --- not authenticated ---------------------------------------------------------------------
    def cmd_LOGIN(self, tag, args):
        # Basic authentication is off in Exchange Online: a password never works.
        self.mail.log_auth(self, "LOGIN", None, access_mod.Refused(access_mod.BASIC, "basic auth"))
        self.send("%s NO LOGIN failed." % tag)

    def cmd_AUTHENTICATE(self, tag, parts):
        words = "".join(p for p in parts if isinstance(p, str)).split()
        if self.identity is not None or self.not_connected:
            self.send("%s %s" % (tag, INVALID_STATE))
            return
        if not words:
            self.send("%s BAD Command Argument Error. 11" % tag)
            return
        mechanism = words[0].upper()
        offered = ["PLAIN", "XOAUTH2"] + (["OAUTHBEARER"] if self.settings.get("oauthbearer") else [])
        if mechanism not in offered:
            self.send("%s NO The specified authentication mechanism is not supported." % tag)
            return
        initial = words[1] if len(words) > 1 else None
        if initial is None:
            self.send("+ ")
            initial = self.conn.readline().decode("ascii", "replace").strip()
        if initial == "*":
            self.send("%s BAD AUTHENTICATE cancelled." % tag)
            return
        if mechanism == "PLAIN":
            self.mail.log_auth(self, "PLAIN", None, access_mod.Refused(access_mod.BASIC, "basic auth"))
            self.send("%s NO AUTHENTICATE failed." % tag)
            return
        user = None
        try:
            user, token = sasl.parse(mechanism, sasl.b64decode(initial))
            identity = access_mod.authenticate(self.ctx, access_mod.IMAP, user, token)
        except (sasl.SaslError, access_mod.Refused) as exc:
            refused = exc if isinstance(exc, access_mod.Refused) else access_mod.Refused(access_mod.TOKEN, str(exc))
            self.mail.log_auth(self, mechanism, user, refused)
            if refused.kind == access_mod.NOT_CONNECTED:
                # Exchange takes a good token for a mailbox it may not open, then refuses every command.
                self.not_connected = True
                self.send("%s OK AUTHENTICATE completed." % tag)
                return
            if mechanism == "OAUTHBEARER":
                self.send("+ " + sasl.error_challenge())
                self.conn.readline()
            self.send("%s NO AUTHENTICATE failed." % tag)
            return
        self.identity = identity
        self.tenant = identity.tid
        self.mail.log_auth(self, mechanism, identity, None)
        self.send("%s OK AUTHENTICATE completed." % tag)

    # --- authenticated -------------------------------------------------------------------------
    def _folders(self):
        return [name for name, special_use in mailstore.FOLDERS]

    def _folder_name(self, token):
        wanted = data.string(token)
        for name in self._folders():
            if name.lower() == wanted.lower():
                return name
        return None

    @needs("auth")
    def cmd_LIST(self, tag, args):
        if len(args) != 2:
            raise BadCommand("LIST takes a reference and a pattern")
        pattern = data.string(args[0]) + data.string(args[1])
        if data.string(args[1]) == "":
            self.send('* LIST (\\Noselect \\HasChildren) "/" ""')
        else:
            for name, special in mailstore.FOLDERS:
                if _folder_match(pattern, name):
                    flags = " ".join(f for f in ("\\HasNoChildren", special) if f)
                    self.send(b"* LIST (" + flags.encode() + b') "/" ' + data.quote(name))
        self.send("%s OK %s completed." % (tag, "LIST"))

    @needs("auth")
    def cmd_LSUB(self, tag, args):
        self.cmd_LIST(tag, args)

    @needs("auth")
    def cmd_NAMESPACE(self, tag, args):
        self.send('* NAMESPACE (("" "/")) NIL NIL')
        self.send("%s OK NAMESPACE completed." % tag)

    @needs("auth")
    def cmd_STATUS(self, tag, args):
        if len(args) != 2 or not isinstance(args[1], list):
            raise BadCommand("STATUS takes a mailbox and a list")
        name = self._folder_name(args[0])
        if name is None:
            self.send("%s NO The requested item could not be found." % tag)
            return
        docs = self._docs(name)
        state = self.mail.store.folder_state(self.identity.tid, self.identity.owner, name)
        values = {"MESSAGES": len(docs), "RECENT": 0, "UIDNEXT": state["uidNext"],
                  "UIDVALIDITY": state["uidValidity"], "UNSEEN": sum(1 for d in docs if "\\Seen" not in d["flags"])}
        items = []
        for item in args[1]:
            key = data.string(item).upper()
            if key not in values:
                raise BadCommand("unknown status item")
            items.append("%s %d" % (key, values[key]))
        self.send(b"* STATUS " + data.quote(name) + (" (%s)" % " ".join(items)).encode())
        self.send("%s OK STATUS completed." % tag)

    def _select(self, tag, args, read_only):
        if len(args) != 1:
            raise BadCommand("SELECT takes a mailbox")
        name = self._folder_name(args[0])
        self.folder = None
        if name is None:
            self.send("%s NO The requested item could not be found." % tag)
            return
        self.folder, self.read_only = name, read_only
        docs = self._docs(name)
        state = self.mail.store.folder_state(self.identity.tid, self.identity.owner, name)
        self.known = len(docs)
        self.send("* %d EXISTS" % len(docs))
        self.send("* 0 RECENT")
        self.send("* FLAGS " + FLAGS)
        self.send("* OK [PERMANENTFLAGS %s] Permanent flags" % FLAGS)
        unseen = next((i + 1 for i, d in enumerate(docs) if "\\Seen" not in d["flags"]), None)
        if unseen:
            self.send("* OK [UNSEEN %d] Is the first unseen message" % unseen)
        self.send("* OK [UIDVALIDITY %d] UIDVALIDITY value" % state["uidValidity"])
        self.send("* OK [UIDNEXT %d] The next unique identifier value" % state["uidNext"])
        verb = "EXAMINE" if read_only else "SELECT"
        self.send("%s OK [%s] %s completed." % (tag, "READ-ONLY" if read_only else "READ-WRITE", verb))

    @needs("auth")
    def cmd_SELECT(self, tag, args):
        self._select(tag, args, False)

    @needs("auth")
    def cmd_EXAMINE(self, tag, args):
        self._select(tag, args, True)

    # --- selected ------------------------------------------------------------------------------
    def _docs(self, folder=None):
        return self.mail.store.messages(self.identity.tid, self.identity.owner, folder or self.folder)

    def _messages(self):
        return [data.Message(doc, i + 1) for i, doc in enumerate(self._docs())]

    def _report_new(self):
        if self.folder is not None:
            count = len(self._docs())
            if count != self.known:
                self.known = count
                self.send("* %d EXISTS" % count)

    def _targets(self, messages, text, uid):
        if not messages:
            data.sequence_set(text, 0)
            return []
        largest = messages[-1].uid if uid else len(messages)
        wanted = data.sequence_set(text, largest)
        return [m for m in messages if (m.uid if uid else m.seq) in wanted]

    @needs("selected")
    def cmd_SEARCH(self, tag, args, uid=False):
        args = list(args)
        if args and not isinstance(args[0], list) and data.string(args[0]).upper() == "CHARSET":
            args = args[2:]
        messages = self._messages()
        largest_uid = messages[-1].uid if messages else 0
        predicate = data.search_key(args, len(messages), largest_uid) if args else None
        if predicate is None:
            raise BadCommand("SEARCH needs a key")
        found = [str(m.uid if uid else m.seq) for m in messages if predicate(m)]
        self.send("* SEARCH" + "".join(" " + n for n in found))
        self.send("%s OK SEARCH completed." % tag)

    @needs("selected")
    def cmd_FETCH(self, tag, args, uid=False):
        if len(args) < 2:
            raise BadCommand("FETCH takes a set and items")
        items = data.fetch_items(args[1:])
        if uid and "UID" not in [i.upper() for i in items]:
            items = ["UID"] + items
        mark = data.sets_seen(items) and not self.read_only
        out = []
        for msg in self._targets(self._messages(), data.string(args[0]), uid):
            shown = list(items)
            if mark and "\\Seen" not in msg.flags:
                self.mail.store.set_flags(self.identity.tid, msg.doc, msg.flags + ["\\Seen"])
                if "FLAGS" not in [i.upper() for i in shown]:
                    shown.append("FLAGS")
            out.append(b"* %d FETCH " % msg.seq + data.render(msg, shown))
        for line in out:
            self.send(line)
        self.send("%s OK FETCH completed." % tag)

    @needs("selected")
    def cmd_STORE(self, tag, args, uid=False):
        if len(args) < 3:
            raise BadCommand("STORE takes a set, an item and flags")
        item = data.string(args[1]).upper()
        flags = args[2] if isinstance(args[2], list) else args[2:]
        flags = [data.string(f) for f in flags]
        silent = item.endswith(".SILENT")
        if (item[:-7] if silent else item).lstrip("+-") != "FLAGS":
            raise BadCommand("STORE changes FLAGS only")
        if self.read_only:
            self.send("%s NO STORE failed." % tag)
            return
        for msg in self._targets(self._messages(), data.string(args[0]), uid):
            current = set(msg.flags)
            if item.startswith("+"):
                current |= set(flags)
            elif item.startswith("-"):
                current -= set(flags)
            else:
                current = set(flags)
            self.mail.store.set_flags(self.identity.tid, msg.doc, current)
            if not silent:
                extra = b" UID %d" % msg.uid if uid else b""
                self.send(b"* %d FETCH (FLAGS (" % msg.seq + " ".join(sorted(current)).encode() + b")" + extra + b")")
        self.send("%s OK STORE completed." % tag)

    @needs("selected")
    def cmd_EXPUNGE(self, tag, args, uid=False):
        if self.read_only:
            self.send("%s NO EXPUNGE failed." % tag)
            return
        messages = self._messages()
        allowed = {m.uid for m in self._targets(messages, data.string(args[0]), True)} if uid and args else None
        removed = 0
        for msg in messages:
            if "\\Deleted" in msg.flags and (allowed is None or msg.uid in allowed):
                self.mail.store.expunge(self.identity.tid, msg.doc)
                self.send("* %d EXPUNGE" % (msg.seq - removed))
                removed += 1
        self.known = len(messages) - removed
        self.send("%s OK EXPUNGE completed." % tag)

    @needs("selected")
    def cmd_CLOSE(self, tag, args, uid=False):
        if not self.read_only:  # CLOSE removes what is marked \Deleted, without telling
            for msg in self._messages():
                if "\\Deleted" in msg.flags:
                    self.mail.store.expunge(self.identity.tid, msg.doc)
        self.folder = None
        self.send("%s OK CLOSE completed." % tag)

    @needs("selected")
    def cmd_UNSELECT(self, tag, args, uid=False):
        self.folder = None
        self.send("%s OK UNSELECT completed." % tag)
