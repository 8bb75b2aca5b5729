"""Mail in the sandbox's store: each message a document of its mailbox's tenant, with its raw RFC 5322
bytes (base64), arrival time, folder, IMAP UID and flags. Mail for addresses outside the sandbox
lands in the sender tenant's outbound store (the sandbox has no internet).

Both submission paths (SMTP, Graph sendMail) deliver through `deliver`, and IMAP and the control API
read through `messages`, so they see the same mailboxes."""
import base64
import email.parser
import email.policy
import email.utils
import secrets
import time
import uuid

MESSAGE, FOLDER_STATE, OUTBOUND = "mailMessage", "mailFolderState", "outboundMessage"
INBOX, SENT = "INBOX", "Sent Items"
# The folders every Exchange Online mailbox has, with their IMAP special-use flags (RFC 6154).
FOLDERS = ((INBOX, ""), ("Archive", "\\Archive"), ("Deleted Items", "\\Trash"), ("Drafts", "\\Drafts"),
           ("Junk Email", "\\Junk"), ("Outbox", ""), (SENT, "\\Sent"))
HOSTNAME = "SANDBOX01.outlook.office365.com"
_HEADERS = email.parser.BytesHeaderParser(policy=email.policy.compat32)


def headers_of(raw):
    return _HEADERS.parsebytes(raw)


def new_message_id():
    return "<%s@%s>" % (secrets.token_hex(12).upper(), HOSTNAME)


def stamp(raw, mail_from, via, arrival):
    """What Exchange adds on acceptance: a Received line, and Message-ID / Date when the client sent none."""
    headers = headers_of(raw)
    added = []
    if headers.get("Message-ID") is None:
        added.append("Message-ID: %s" % new_message_id())
    if headers.get("Date") is None:
        added.append("Date: %s" % email.utils.formatdate(arrival))
    received = ("Received: from sandbox client by %s via %s; %s"
                % (HOSTNAME, via, email.utils.formatdate(arrival)))
    prefix = "\r\n".join(["Return-Path: <%s>" % mail_from, received] + added) + "\r\n"
    return prefix.encode("ascii") + raw, headers.get("Message-ID") or added[0].split(": ", 1)[1]


class MailStore:
    def __init__(self, store):
        self.store = store

    # --- writing -------------------------------------------------------------------------------
    def _next_uid(self, tid, owner, folder):
        key = "%s/%s" % (owner, folder)
        state = self.store.get(tid, FOLDER_STATE, key) or {"id": key, "uidNext": 1,
                                                           "uidValidity": int(time.time()) % 1000000 or 1}
        uid = state["uidNext"]
        state["uidNext"] = uid + 1
        self.store.put(tid, FOLDER_STATE, state)
        return uid

    def folder_state(self, tid, owner, folder):
        key = "%s/%s" % (owner, folder)
        return self.store.get(tid, FOLDER_STATE, key) or {"id": key, "uidNext": 1, "uidValidity": 1}

    def add(self, tid, owner, address, folder, raw, envelope, flags=()):
        """Put one message into a mailbox folder; returns its document."""
        with self.store.transaction():
            doc = self._doc(raw, envelope, time.time())
            doc.update({"owner": owner, "mailbox": address, "folder": folder, "flags": list(flags),
                        "uid": self._next_uid(tid, owner, folder)})
            self.store.put(tid, MESSAGE, doc)
        return doc

    def deliver(self, sender, recipients, raw, via, save_sent=True):
        """Accept one message: a copy into each recipient mailbox's Inbox, one into the sender tenant's
        outbound store for the rest, and (as Exchange does for submitted mail) one into the sender's Sent
        Items. `sender` is (tenant id, mailbox owner key, address); `recipients` are access.Recipient.
        Returns the Message-ID."""
        tid, owner, address = sender
        arrival = time.time()
        stamped, message_id = stamp(raw, address, via, arrival)
        envelope = {"from": address, "to": [r.address for r in recipients], "via": via}
        with self.store.transaction():
            delivered = set()
            for recipient in recipients:
                if recipient.tid is not None and (recipient.tid, recipient.owner) not in delivered:
                    delivered.add((recipient.tid, recipient.owner))
                    self.add(recipient.tid, recipient.owner, recipient.address, INBOX, stamped, envelope)
            if any(r.tid is None for r in recipients):
                self.add_outbound(tid, stamped, envelope)
            if save_sent:
                self.add(tid, owner, address, SENT, stamped, envelope, flags=["\\Seen"])
        return message_id

    def add_outbound(self, tid, raw, envelope):
        doc = self._doc(raw, envelope, time.time())
        self.store.put(tid, OUTBOUND, doc)
        return doc

    @staticmethod
    def _doc(raw, envelope, arrival):
        headers = headers_of(raw)
        return {"id": str(uuid.uuid4()), "internalDate": arrival, "size": len(raw),
                "raw": base64.b64encode(raw).decode("ascii"), "messageId": headers.get("Message-ID"),
                "subject": headers.get("Subject"), "from": headers.get("From"),
                "envelope": dict(envelope)}

    def set_flags(self, tid, doc, flags):
        doc["flags"] = sorted(set(flags))
        self.store.put(tid, MESSAGE, doc)

    def expunge(self, tid, doc):
        self.store.delete(tid, MESSAGE, doc["id"])

    # --- reading -------------------------------------------------------------------------------
    def messages(self, tid, owner, folder=None):
        """A mailbox's messages (of one folder, or all), oldest first."""
        docs = self.store.find(tid, MESSAGE, owner=owner)
        if folder is not None:
            docs = [m for m in docs if m["folder"].lower() == folder.lower()]
        return sorted(docs, key=lambda m: (m["folder"], m["uid"]))

    def outbound(self, tid):
        return self.store.list(tid, OUTBOUND)


def raw_bytes(doc):
    return base64.b64decode(doc["raw"])


def public(doc, with_raw=False):
    """A message as the control API shows it."""
    out = {k: v for k, v in doc.items() if k != "raw"}
    out["arrived"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(doc["internalDate"]))
    if with_raw:
        out["raw"] = raw_bytes(doc).decode("utf-8", "replace")
    return out
