"""Exchange Web Services on the Exchange host: POST /EWS/Exchange.asmx, SOAP 1.1, as Monitor ERP sends mail
(seed 001: delegated EWS.AccessAsUser.All by a password sign-in).

Operations: CreateItem of t:Message with MessageDisposition SendAndSaveCopy, SendOnly or SaveOnly (delivered
through sandbox/smtp/mailstore.py, like SMTP submission and Graph sendMail, so the control API and IMAP see
the mail), and GetFolder of distinguished folders (a read that proves access without sending).

Who may call, in the order Exchange Online checks it:
1. a bearer token for Exchange Online (audience https://outlook.office365.com or https://outlook.office.com),
   else 401 with `x-ms-diagnostics` (2000003 invalid audience, 2000008 expired, 2000001 otherwise);
2. delegated: `scp` has EWS.AccessAsUser.All; app-only: `roles` has full_access_as_app and the request names
   the mailbox with an ExchangeImpersonation SOAP header. Else 403, "The token contains not enough scope";
3. the EWS retirement (FACTS.md section 4): from 2026-10-01 an application missing from the tenant's
   `EwsAllowedAppIDs` (Set-OrganizationConfig, the exchange_ews_allow_list module) gets 403; from
   2027-04-01 EWS is off for every application. Also `EwsEnabled` $false for the organization or the mailbox
   (Set-CASMailbox -EwsEnabled) and the user-agent policy (EwsApplicationAccessPolicy with EwsAllowList /
   EwsBlockList) answer 403. The blocked answers' x-ms-diagnostics codes and texts are the sandbox's own
   (stable), not captured from Exchange Online.
Then per item: ErrorNonExistentMailbox, ErrorInvalidRecipients, ErrorSendAsDenied as a ResponseMessage with
ResponseClass="Error"; malformed XML and unknown operations as SOAP faults (HTTP 500).

The clock the retirement is judged by is real time, unless set through the control API:
    GET|PUT|DELETE /_sandbox/exchange/ews   {"now": "2027-04-02T00:00:00Z" | null}"""
import base64
import datetime
import email.message
import email.policy
import email.utils
import fnmatch
import types
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from .. import directory as d
from ..smtp import access, mailstore
from ..tokens import TokenError, unverified_audience
from ..web import Response, json_response
from . import errors
from .state import ExchangeState

ROUTE = "/EWS/Exchange.asmx"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
E = "http://schemas.microsoft.com/exchange/services/2006/errors"
XML_TYPE = "text/xml; charset=utf-8"
AUDIENCES = access.OUTLOOK_AUDIENCES + (d.EXCHANGE_APP_ID,)
DELEGATED_SCOPE = "EWS.AccessAsUser.All"
APP_ROLE = "full_access_as_app"
# FACTS.md section 4 (MC1176266): blocked by default for apps off the allow list, then off for everyone.
ALLOW_LIST_ENFORCED = datetime.datetime(2026, 10, 1, tzinfo=datetime.timezone.utc)
EWS_RETIRED = datetime.datetime(2027, 4, 1, tzinfo=datetime.timezone.utc)
SERVER_VERSION = {"MajorVersion": "15", "MinorVersion": "20", "MajorBuildNumber": "8769", "MinorBuildNumber": "21",
                  "Version": "V2018_01_08"}
DISPOSITIONS = ("SendAndSaveCopy", "SendOnly", "SaveOnly")
# DistinguishedFolderId Id -> the mail store's folder
FOLDERS = {"inbox": mailstore.INBOX, "sentitems": mailstore.SENT, "drafts": "Drafts", "deleteditems": "Deleted Items",
           "junkemail": "Junk Email", "outbox": "Outbox", "archive": "Archive"}
NOT_ENOUGH_SCOPE = "The token contains not enough scope to make this call."
SEND_AS_DENIED = ("The user account which was used to submit this request does not have the right to send mail on "
                  "behalf of the specified sending account., Cannot submit message.")


class Fault(Exception):
    """A SOAP fault (HTTP 500): the request as a whole is refused."""

    def __init__(self, code, message, status=500):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class ItemError(Exception):
    """One item's failure: a ResponseMessage with ResponseClass="Error"."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


class Blocked(Exception):
    """An HTTP refusal before any SOAP is read (401/403), with Exchange's x-ms-diagnostics."""

    def __init__(self, status, diagnostic, reason, category):
        super().__init__(reason)
        self.status = status
        self.headers = {"x-ms-diagnostics": '%d;reason="%s";error_category="%s"' % (diagnostic, reason, category)}
        if status == 401:
            self.headers["WWW-Authenticate"] = errors.WWW_AUTHENTICATE


def _q(namespace, name):
    return "{%s}%s" % (namespace, name)


class Ews:
    """The endpoint; `handle` is routed by ExchangeService (the same host as the admin API)."""

    def __init__(self, ctx, control=None):
        self.ctx = ctx
        self.clock_override = None
        if control is not None:
            for method in ("GET", "PUT", "DELETE"):
                control.router.add(method, "/_sandbox/exchange/ews", self.control_clock)

    # --- control API ---------------------------------------------------------------------------
    def now(self):
        return self.clock_override or d.now()

    def control_clock(self, req):
        if req.method == "DELETE":
            self.clock_override = None
        elif req.method == "PUT":
            try:
                body = req.json()
                value = body["now"]
                self.clock_override = None if value is None else d.parse_iso(value).astimezone(datetime.timezone.utc)
            except (ValueError, KeyError, TypeError, AttributeError):
                return json_response(400, {"error": {"code": "BadRequest",
                                                     "message": 'Send {"now": "2027-04-02T00:00:00Z"} or {"now": null}.'}})
        return json_response(200, {"now": d.iso(self.now()), "overridden": self.clock_override is not None,
                                   "allowListEnforcedFrom": d.iso(ALLOW_LIST_ENFORCED), "retiredFrom": d.iso(EWS_RETIRED)})

    # --- the endpoint --------------------------------------------------------------------------
    def handle(self, req):
        try:
            claims = self._authenticate(req)
            if not (req.header("Content-Type") or "").lower().startswith("text/xml"):
                # What the WCF host of EWS answers for a SOAP 1.2 or JSON body.
                return Response(415, "Cannot process the message because the content type '%s' was not the expected type "
                                     "'text/xml; charset=utf-8'." % (req.header("Content-Type") or ""), {}, "text/plain")
            envelope = self._parse(req.body)
            operation = self._operation(envelope)
            req.log_fields["operation"] = operation.tag.rpartition("}")[2]
            mailbox = self._mailbox(req, claims, envelope)
            self._check_retirement(req, claims, mailbox)
            if operation.tag == _q(M, "CreateItem"):
                body = self._create_item(claims, mailbox, operation)
            else:
                body = self._get_folder(mailbox, operation)
        except Blocked as exc:
            return Response(exc.status, b"", exc.headers)
        except Fault as fault:
            return self._fault(fault)
        return Response(200, self._envelope(body), {}, XML_TYPE)

    def _authenticate(self, req):
        token = req.bearer()
        if not token:
            raise Blocked(401, 2000001, "The request has no bearer token.", "invalid_token")
        try:
            claims = self.ctx.tokens.validate(token, AUDIENCES)
        except TokenError as exc:
            if exc.reason == "audience":
                raise Blocked(401, 2000003, "The audience claim value is invalid for current resource. Audience claim is "
                                            "'%s', request url is '%s%s' and resource type is 'Exchange'."
                              % (unverified_audience(token), req.base_url, req.path), "invalid_resource")
            if exc.reason == "expired":
                raise Blocked(401, 2000008, "The token has expired.", "invalid_token")
            raise Blocked(401, 2000001, "The token is invalid: %s" % exc, "invalid_token")
        if self.ctx.directory.resolve_tenant(claims["tid"]) is None:
            raise Blocked(401, 2000001, "The token's tenant %s isn't known." % claims["tid"], "invalid_token")
        req.tenant = claims["tid"]
        if _app_only(claims):
            if APP_ROLE not in (claims.get("roles") or []):
                raise Blocked(403, 2000008, NOT_ENOUGH_SCOPE, "invalid_grant")
        elif DELEGATED_SCOPE not in (claims.get("scp") or "").split():
            raise Blocked(403, 2000008, NOT_ENOUGH_SCOPE, "invalid_grant")
        return claims

    @staticmethod
    def _parse(body):
        try:
            envelope = ET.fromstring(body)
        except ET.ParseError as exc:
            raise Fault("ErrorSchemaValidation", "The request failed schema validation: %s" % exc)
        if envelope.tag != _q(SOAP, "Envelope"):
            raise Fault("ErrorSchemaValidation", "The request failed schema validation: the root element is %s, not a "
                                                 "SOAP 1.1 Envelope." % envelope.tag)
        return envelope

    @staticmethod
    def _operation(envelope):
        body = envelope.find(_q(SOAP, "Body"))
        children = list(body) if body is not None else []
        if len(children) != 1:
            raise Fault("ErrorSchemaValidation", "The request failed schema validation: soap:Body must hold one operation.")
        operation = children[0]
        if operation.tag not in (_q(M, "CreateItem"), _q(M, "GetFolder")):
            raise Fault("ErrorInvalidRequest", "The request is invalid: the sandbox's EWS answers CreateItem and GetFolder, "
                                               "not %s." % operation.tag.rpartition("}")[2])
        return operation

    def _mailbox(self, req, claims, envelope):
        """The mailbox the request acts as: the signed-in user's, or the impersonated one (app-only)."""
        state = ExchangeState(self.ctx.store)
        tid = claims["tid"]
        address = None
        header = envelope.find(_q(SOAP, "Header"))
        impersonation = header.find(_q(T, "ExchangeImpersonation")) if header is not None else None
        if impersonation is not None:
            sid = impersonation.find(_q(T, "ConnectingSID"))
            for name in ("PrimarySmtpAddress", "SmtpAddress", "PrincipalName"):
                found = sid.find(_q(T, name)) if sid is not None else None
                if found is not None and (found.text or "").strip():
                    address = found.text.strip()
            if address is None:
                raise Fault("ErrorInvalidExchangeImpersonationHeaderData", "ExchangeImpersonation SOAP header must name "
                                                                           "a mailbox in ConnectingSID.")
        if _app_only(claims):
            if address is None:
                raise Fault("ErrorInvalidExchangeImpersonationHeaderData", "ExchangeImpersonation SOAP header must be "
                                                                           "present for this type of OAuth token.")
            mailbox = access.mailbox_by_address(state, tid, address)
            if mailbox is None:
                raise Fault("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.")
            return mailbox
        if impersonation is not None:
            raise Fault("ErrorImpersonateUserDenied", "The account does not have permission to impersonate the requested "
                                                      "user.")
        return next((m for m in state.mailboxes(tid) if m.id == claims.get("oid")), None)

    def _check_retirement(self, req, claims, mailbox):
        settings = ExchangeState(self.ctx.store).organization(claims["tid"])["organization"]
        app_id = (claims.get("appid") or claims.get("azp") or "").lower()
        now = self.now()
        if now >= EWS_RETIRED:
            raise Blocked(403, 2000015, "Exchange Web Services is retired in Exchange Online since %s; use Microsoft Graph."
                          % EWS_RETIRED.date(), "ews_retired")
        if settings.get("EwsEnabled") is False:
            raise Blocked(403, 2000014, "EWS is disabled for the organization (Set-OrganizationConfig -EwsEnabled).",
                          "ews_disabled")
        if now >= ALLOW_LIST_ENFORCED and app_id not in [a.lower() for a in settings.get("EwsAllowedAppIDs") or []]:
            raise Blocked(403, 2000016, "The application %s isn't on the organization's EWS application allow list "
                                        "(EwsAllowedAppIDs); EWS is blocked by default since %s."
                          % (app_id, ALLOW_LIST_ENFORCED.date()), "ews_app_not_allowed")
        agent = req.header("User-Agent") or ""
        policy = settings.get("EwsApplicationAccessPolicy")
        if policy == "EnforceAllowList" and not _matches(agent, settings.get("EwsAllowList")):
            raise Blocked(403, 2000014, "The user agent '%s' isn't on the organization's EwsAllowList." % agent,
                          "ews_disabled")
        if policy == "EnforceBlockList" and _matches(agent, settings.get("EwsBlockList")):
            raise Blocked(403, 2000014, "The user agent '%s' is on the organization's EwsBlockList." % agent, "ews_disabled")
        if mailbox is not None and not mailbox.cas.get("EwsEnabled", True):
            raise Blocked(403, 2000014, "EWS is disabled for the mailbox %s (Set-CASMailbox -EwsEnabled)."
                          % mailbox.primary_smtp, "ews_disabled")

    # --- operations --------------------------------------------------------------------------------
    def _create_item(self, claims, mailbox, operation):
        disposition = operation.get("MessageDisposition")
        if disposition not in DISPOSITIONS:
            raise Fault("ErrorSchemaValidation", "The request failed schema validation: MessageDisposition must be one of "
                                                 "%s, not %r." % (", ".join(DISPOSITIONS), disposition))
        saved = operation.find("%s/%s" % (_q(M, "SavedItemFolderId"), _q(T, "DistinguishedFolderId")))
        folder = FOLDERS.get((saved.get("Id") if saved is not None else "sentitems").lower())
        if folder is None:
            raise Fault("ErrorFolderNotFound", "The specified folder could not be found in the store.")
        if disposition == "SendOnly" and saved is not None:
            raise Fault("ErrorInvalidRequest", "The request is invalid: SendOnly saves no copy, so it takes no "
                                               "SavedItemFolderId.")
        items = operation.find(_q(M, "Items"))
        messages = [] if items is None else list(items)
        if not messages:
            raise Fault("ErrorSchemaValidation", "The request failed schema validation: Items must hold at least one item.")
        out = []
        for message in messages:
            try:
                if message.tag != _q(T, "Message"):
                    raise ItemError("ErrorInvalidRequest", "The sandbox's CreateItem takes t:Message items, not %s."
                                    % message.tag.rpartition("}")[2])
                item_id = self._create_message(claims, mailbox, message, disposition, folder)
                out.append(_success("CreateItemResponseMessage",
                                    "<m:Items>%s</m:Items>" % (_item(item_id) if item_id else "")))
            except ItemError as exc:
                out.append(_error("CreateItemResponseMessage", exc, "<m:Items/>"))
        return "<m:CreateItemResponse><m:ResponseMessages>%s</m:ResponseMessages></m:CreateItemResponse>" % "".join(out)

    def _create_message(self, claims, mailbox, message, disposition, folder):
        if mailbox is None:
            raise ItemError("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.")
        tid = claims["tid"]
        state = ExchangeState(self.ctx.store)
        fields = _message_fields(message)
        from_address = fields["from"] or mailbox.primary_smtp
        if from_address.lower() not in {a.split(":", 1)[1].lower() for a in mailbox.addresses} | {mailbox.upn.lower()}:
            target = access.mailbox_by_address(state, tid, from_address)
            if target is None or not state.can_send_as(tid, target, mailbox.id):
                raise ItemError("ErrorSendAsDenied", SEND_AS_DENIED)
        recipients = fields["to"] + fields["cc"] + fields["bcc"]
        if disposition != "SaveOnly" and not recipients:
            raise ItemError("ErrorInvalidRecipients", "At least one recipient isn't valid., A message can't be sent because "
                                                      "it contains no recipients.")
        raw = _mime(fields, from_address)
        store = mailstore.MailStore(self.ctx.store)
        if disposition == "SaveOnly":
            doc = store.add(tid, mailbox.id, mailbox.primary_smtp, folder, raw, {"from": from_address, "to": recipients})
            return doc["id"]
        resolved, unknown = [], []
        for address in recipients:
            recipient = access.resolve_recipient(self.ctx, tid, address)
            (unknown if recipient is None else resolved).append(recipient or address)
        sender = (tid, mailbox.id, mailbox.primary_smtp)
        save = disposition == "SendAndSaveCopy"
        with self.ctx.store.transaction():
            if resolved:
                store.deliver(sender, resolved, raw, "Exchange Web Services", save_sent=save and folder == mailstore.SENT)
            if save and (folder != mailstore.SENT or not resolved):
                store.add(tid, mailbox.id, mailbox.primary_smtp, folder, raw, {"from": from_address, "to": recipients},
                          flags=["\\Seen"])
            for address in unknown:
                store.add(tid, mailbox.id, mailbox.primary_smtp, mailstore.INBOX, self._bounce(tid, raw, address),
                          {"from": "", "to": [mailbox.primary_smtp], "via": "Microsoft Exchange"})
        return None

    def _bounce(self, tid, raw, address):
        # The same non-delivery report Graph's sendMail leaves (sandbox/graph/mail.py).
        from ..graph.mail import _bounce
        return _bounce(types.SimpleNamespace(tenant=self.ctx.directory.resolve_tenant(tid)), raw, address)

    def _get_folder(self, mailbox, operation):
        if mailbox is None:
            raise Fault("ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it.")
        out = []
        for folder_id in operation.iter(_q(T, "DistinguishedFolderId")):
            name = folder_id.get("Id") or ""
            if name.lower() not in FOLDERS:
                out.append(_error("GetFolderResponseMessage", ItemError("ErrorFolderNotFound", "The specified folder "
                                                                        "could not be found in the store."), "<m:Folders/>"))
                continue
            key = base64.b64encode(("%s/%s" % (mailbox.exchange_guid, name.lower())).encode()).decode()
            out.append(_success("GetFolderResponseMessage",
                                "<m:Folders><t:Folder><t:FolderId Id=%s ChangeKey=\"AQAAAA==\"/>"
                                "<t:DisplayName>%s</t:DisplayName></t:Folder></m:Folders>"
                                % (quoteattr(key), escape(FOLDERS[name.lower()]))))
        if not out:
            raise Fault("ErrorSchemaValidation", "The request failed schema validation: FolderIds must name a folder.")
        return "<m:GetFolderResponse><m:ResponseMessages>%s</m:ResponseMessages></m:GetFolderResponse>" % "".join(out)

    # --- answers -----------------------------------------------------------------------------------
    @staticmethod
    def _envelope(body):
        version = " ".join("%s=%s" % (k, quoteattr(v)) for k, v in SERVER_VERSION.items())
        return ('<?xml version="1.0" encoding="utf-8"?>'
                '<s:Envelope xmlns:s="%s"><s:Header><h:ServerVersionInfo %s xmlns:h="%s" '
                'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>'
                '</s:Header><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                'xmlns:xsd="http://www.w3.org/2001/XMLSchema">%s</s:Body></s:Envelope>'
                % (SOAP, version, T, _with_namespaces(body))).encode("utf-8")

    def _fault(self, fault):
        body = ('<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="%s"><s:Body><s:Fault>'
                '<faultcode xmlns:a="%s">a:%s</faultcode><faultstring xml:lang="en-US">%s</faultstring>'
                '<detail><e:ResponseCode xmlns:e="%s">%s</e:ResponseCode><e:Message xmlns:e="%s">%s</e:Message></detail>'
                '</s:Fault></s:Body></s:Envelope>'
                % (SOAP, T, fault.code, escape(fault.message), E, fault.code, E, escape(fault.message)))
        return Response(fault.status, body.encode("utf-8"), {}, XML_TYPE)


def _with_namespaces(body):
    """The operation's response element carrying the m: and t: namespaces, as Exchange writes it."""
    first_end = body.index(">")
    return body[:first_end] + ' xmlns:m="%s" xmlns:t="%s"' % (M, T) + body[first_end:]


def _success(tag, inner):
    return '<m:%s ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>%s</m:%s>' % (tag, inner, tag)


def _error(tag, exc, inner):
    return ('<m:%s ResponseClass="Error"><m:MessageText>%s</m:MessageText><m:ResponseCode>%s</m:ResponseCode>'
            '<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>%s</m:%s>' % (tag, escape(exc.message), exc.code, inner, tag))


def _item(doc_id):
    item_id = base64.b64encode(uuid.UUID(doc_id).bytes).decode()
    return '<t:Message><t:ItemId Id=%s ChangeKey="CQAAAA=="/></t:Message>' % quoteattr(item_id)


def _text(element, path):
    found = element.find(path)
    return (found.text or "") if found is not None else None


def _addresses(message, field):
    out = []
    container = message.find(_q(T, field))
    for mailbox in ([] if container is None else container.findall(_q(T, "Mailbox"))):
        address = (_text(mailbox, _q(T, "EmailAddress")) or "").strip()
        if "@" not in address:
            raise ItemError("ErrorInvalidRecipients", "At least one recipient isn't valid., Recipient '%s' is not resolved. "
                                                      "All recipients must be resolved before a message can be submitted."
                            % address)
        out.append((_text(mailbox, _q(T, "Name")) or "", address))
    return out


def _message_fields(message):
    body = message.find(_q(T, "Body"))
    sender = message.find("%s/%s/%s" % (_q(T, "From"), _q(T, "Mailbox"), _q(T, "EmailAddress")))
    headers = []
    for prop in message.findall(_q(T, "ExtendedProperty")):
        uri = prop.find(_q(T, "ExtendedFieldURI"))
        if uri is not None and uri.get("DistinguishedPropertySetId") == "InternetHeaders" and uri.get("PropertyName"):
            headers.append((uri.get("PropertyName"), _text(prop, _q(T, "Value")) or ""))
    pairs = {field: _addresses(message, name) for field, name in
             (("to", "ToRecipients"), ("cc", "CcRecipients"), ("bcc", "BccRecipients"))}
    return {"subject": _text(message, _q(T, "Subject")) or "",
            "body": (body.text or "") if body is not None else "",
            "html": body is not None and (body.get("BodyType") or "Text").lower() == "html",
            "from": (sender.text or "").strip() if sender is not None else None,
            "pairs": pairs, "headers": headers,
            "to": [pair[1] for pair in pairs["to"]], "cc": [pair[1] for pair in pairs["cc"]],
            "bcc": [pair[1] for pair in pairs["bcc"]]}


def _mime(fields, from_address):
    mime = email.message.EmailMessage(policy=email.policy.SMTP)
    mime["From"] = from_address
    for field, header in (("to", "To"), ("cc", "Cc")):
        if fields["pairs"][field]:
            mime[header] = ", ".join(email.utils.formataddr(p) for p in fields["pairs"][field])
    mime["Subject"] = fields["subject"]
    mime["Date"] = email.utils.formatdate()
    mime["Message-ID"] = mailstore.new_message_id()
    for name, value in fields["headers"]:
        mime[name] = value
    mime.set_content(fields["body"], subtype="html" if fields["html"] else "plain")
    return mime.as_bytes()


def _matches(agent, patterns):
    return any(fnmatch.fnmatch(agent.lower(), (p or "").lower()) for p in patterns or [])


def _app_only(claims):
    return claims.get("idtyp") == "app" or "scp" not in claims


def is_ews(req):
    return req.path.rstrip("/").lower() == ROUTE.lower()


def server_busy(retry_after):
    """Throttling as EWS answers it: a SOAP fault ErrorServerBusy with the back-off in milliseconds."""
    body = ('<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="%s"><s:Body><s:Fault>'
            '<faultcode xmlns:a="%s">a:ErrorServerBusy</faultcode><faultstring xml:lang="en-US">The server cannot service '
            'this request right now. Try again later.</faultstring><detail><e:ResponseCode xmlns:e="%s">ErrorServerBusy'
            '</e:ResponseCode><e:Message xmlns:e="%s">The server cannot service this request right now. Try again later.'
            '</e:Message><t:MessageXml xmlns:t="%s"><t:Value Name="BackOffMilliseconds">%d</t:Value></t:MessageXml>'
            '</detail></s:Fault></s:Body></s:Envelope>' % (SOAP, T, E, E, T, retry_after * 1000))
    return Response(503, body.encode("utf-8"), {"Retry-After": str(retry_after)}, XML_TYPE)
