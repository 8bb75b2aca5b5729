"""POST /users/{id | userPrincipalName}/sendMail and /me/sendMail: Graph hands the message to Exchange
Online, which delivers it into the same mailboxes SMTP submission does (sandbox/smtp/mailstore.py).

Who may send: app-only, the Mail.Send application permission in `roles` (tenant-wide, as Entra grants
are), or an RBAC for Applications assignment "Application Mail.Send" whose scope covers the mailbox;
delegated, Mail.Send for the signed-in user's own mailbox, Mail.Send.Shared plus a SendAs right for
another's. A `from` other than the mailbox needs SendAs. Errors are the ones Exchange sends through
Graph (ErrorAccessDenied, ErrorInvalidUser, ErrorSendAsDenied, ...); an unknown recipient in the
tenant's own domains is accepted and bounced into the sender's Inbox, as Exchange does."""
import base64
import binascii
import email.message
import email.policy
import email.utils

from .. import directory as d
from ..exchange.state import ExchangeState
from ..smtp import access, mailstore
from .errors import GraphError

ACCESS_DENIED = "Access is denied. Check credentials and try again."
SEND_AS_DENIED = ("The user account which was used to submit this request does not have the right to send mail on behalf of "
                  "the specified sending account., Cannot submit message.")
NDR_TEXT = ("Your message to %s couldn't be delivered.\r\n%s wasn't found at %s.\r\n\r\n"
            "Remote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup'\r\n")


def _sender(call):
    """The user whose mailbox sends (from the URL), and that mailbox."""
    key = call.params.get("id")
    if key is None:
        if call.caller.app_only:
            raise GraphError(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
        key = call.caller.principal_id
    user = call.directory.user_by_upn(call.tid, key) if "@" in key else call.store.get(call.tid, d.USER, key.lower())
    if user is None:
        raise GraphError(404, "ErrorInvalidUser", "The requested user '%s' is invalid." % key)
    state = ExchangeState(call.store)
    mailbox = next((m for m in state.mailboxes(call.tid) if m.id == user["id"]), None)
    if mailbox is None:
        raise GraphError(404, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or is hosted on-premise.")
    return state, mailbox


def _authorize(call, state, mailbox):
    caller = call.caller
    if caller.app_only:
        if "Mail.Send" in caller.roles or state.app_in_scope(call.tid, caller.app_id, mailbox, "Mail.Send"):
            return
    elif mailbox.id == caller.principal_id:
        if caller.scopes & {"Mail.Send", "Mail.Send.Shared"}:
            return
    elif "Mail.Send.Shared" in caller.scopes and state.can_send_as(call.tid, mailbox, caller.principal_id):
        return
    raise GraphError(403, "ErrorAccessDenied", ACCESS_DENIED)


def _addresses(message, field):
    out = []
    for entry in message.get(field) or []:
        address = ((entry or {}).get("emailAddress") or {}).get("address")
        if not address or "@" not in address:
            raise GraphError(400, "ErrorInvalidRecipients", "At least one recipient isn't valid., Recipient '%s' is not resolved. "
                                                            "All recipients must be resolved before a message can be submitted." % address)
        out.append((entry["emailAddress"].get("name") or "", address))
    return out


def _mime_from_json(message, from_pair):
    mime = email.message.EmailMessage(policy=email.policy.SMTP)
    mime["From"] = email.utils.formataddr(from_pair)
    for field, header in (("toRecipients", "To"), ("ccRecipients", "Cc"), ("replyTo", "Reply-To")):
        pairs = _addresses(message, field)
        if pairs:
            mime[header] = ", ".join(email.utils.formataddr(p) for p in pairs)
    mime["Subject"] = message.get("subject") or ""
    mime["Date"] = email.utils.formatdate()
    mime["Message-ID"] = mailstore.new_message_id()
    for header in message.get("internetMessageHeaders") or []:
        name = (header or {}).get("name") or ""
        if not name.lower().startswith("x-"):
            raise GraphError(400, "InvalidInternetMessageHeader",
                             "The internet message header name '%s' should start with 'x-' or 'X-'." % name)
        mime[name] = header.get("value") or ""
    body = message.get("body") or {}
    subtype = "html" if (body.get("contentType") or "text").lower() == "html" else "plain"
    mime.set_content(body.get("content") or "", subtype=subtype)
    return mime.as_bytes()


def _parse(call, mailbox):
    """(raw RFC 5322 bytes, envelope recipients, from address, saveToSentItems) of a JSON or MIME request."""
    content_type = (call.req.header("Content-Type") or "").lower()
    if content_type.startswith("text/plain"):
        try:
            raw = base64.b64decode(call.req.body, validate=True)
        except (binascii.Error, ValueError):
            raise GraphError(400, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.")
        headers = mailstore.headers_of(raw)
        fields = headers.get_all("To", []) + headers.get_all("Cc", []) + headers.get_all("Bcc", [])
        recipients = [a for name, a in email.utils.getaddresses(fields) if a]
        from_address = (email.utils.parseaddr(headers.get("From") or "")[1]) or mailbox.primary_smtp
        return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), recipients, from_address, True
    body = call.body()
    message = body.get("message")
    if not isinstance(message, dict):
        raise GraphError(400, "ErrorInvalidParameter", "The value of the parameter 'Message' is empty.")
    sender = (message.get("from") or {}).get("emailAddress") or {}
    from_pair = (sender.get("name") or "", sender.get("address") or mailbox.primary_smtp)
    recipients = [a for field in ("toRecipients", "ccRecipients", "bccRecipients") for name, a in _addresses(message, field)]
    save = body.get("saveToSentItems")
    return _mime_from_json(message, from_pair), recipients, from_pair[1], save is None or bool(save)


def send_mail(call):
    state, mailbox = _sender(call)
    _authorize(call, state, mailbox)
    raw, addresses, from_address, save = _parse(call, mailbox)
    if not addresses:
        raise GraphError(400, "ErrorInvalidRecipients", "At least one recipient isn't valid., A message can't be sent because "
                                                        "it contains no recipients.")
    target = access.mailbox_by_address(state, call.tid, from_address)
    if target is None or not state.can_send_as(call.tid, target, mailbox.id):
        raise GraphError(403, "ErrorSendAsDenied", SEND_AS_DENIED)
    store = mailstore.MailStore(call.store)
    resolved, unknown = [], []
    for address in addresses:
        recipient = access.resolve_recipient(call.ctx, call.tid, address)
        if recipient is None:
            unknown.append(address)
        else:
            resolved.append(recipient)
    sender = (call.tid, mailbox.id, mailbox.primary_smtp)
    if resolved:
        store.deliver(sender, resolved, raw, "Microsoft Graph", save_sent=save)
    elif save:
        store.add(call.tid, mailbox.id, mailbox.primary_smtp, mailstore.SENT, raw, {"from": from_address, "to": addresses})
    for address in unknown:
        store.add(call.tid, mailbox.id, mailbox.primary_smtp, mailstore.INBOX, _bounce(call, raw, address),
                  {"from": "", "to": [mailbox.primary_smtp], "via": "Microsoft Exchange"})
    return call.answer(202)


def _bounce(call, raw, address):
    """The non-delivery report Exchange puts into the sender's Inbox for an unknown recipient."""
    original = mailstore.headers_of(raw)
    ndr = email.message.EmailMessage(policy=email.policy.SMTP)
    ndr["From"] = "Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@%s>" % call.tenant["initialDomain"]
    ndr["To"] = original.get("From") or ""
    ndr["Subject"] = "Undeliverable: %s" % (original.get("Subject") or "")
    ndr["Date"] = email.utils.formatdate()
    ndr["Message-ID"] = mailstore.new_message_id()
    ndr.set_content(NDR_TEXT % (address, address, address.rpartition("@")[2]))
    return ndr.as_bytes()


ROUTES = [
    ("POST", r"^/v1\.0/users/(?P<id>[^/()$][^/()]*)/sendMail$", send_mail, "/v1.0/users/{id}/sendMail"),
    ("POST", r"^/v1\.0/me/sendMail$", send_mail, "/v1.0/me/sendMail"),
]
