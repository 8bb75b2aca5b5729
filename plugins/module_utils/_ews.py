# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Exchange Web Services for the mail smoke test, as Monitor ERP sends mail: SOAP 1.1 over HTTPS with a bearer token.

- ``send``: ``CreateItem`` of one ``t:Message`` with ``MessageDisposition`` ``SendOnly`` or ``SendAndSaveCopy``;
  the test id travels as an ``InternetHeaders`` extended property (an internet header of the message).
- ``check_access``: ``GetFolder`` of the sender's Sent Items, a read that proves the token, the mailbox and the
  tenant's EWS allow list without sending anything (check mode).

Refusals raise ``EwsError`` with what Exchange said: the HTTP status and ``x-ms-diagnostics`` header of a 401/403,
the ``ResponseCode`` of a SOAP fault or of the item's ``ResponseMessage``.
Private to the collection: the interface may change in any release.
"""

from __future__ import annotations

import time
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from ansible_collections.mailauth.m365.plugins.module_utils._http import backoff_delay

try:
    import requests
except ImportError:
    pass  # the module reports the missing library before anything here runs

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
MESSAGES = "http://schemas.microsoft.com/exchange/services/2006/messages"
TYPES = "http://schemas.microsoft.com/exchange/services/2006/types"
ERRORS = "http://schemas.microsoft.com/exchange/services/2006/errors"
NS = {"s": SOAP, "m": MESSAGES, "t": TYPES, "e": ERRORS}
SERVER_VERSION = "Exchange2016"  # the newest RequestServerVersion Exchange Online documents for these operations
BUSY_STATUSES = (429, 503)


class EwsError(Exception):
    """EWS refused ``step`` (``check`` or ``send``), or could not be talked to (``transport``).

    ``status`` is the HTTP status; ``code`` the ``ResponseCode`` (``ErrorSendAsDenied``) of a fault or item;
    ``diagnostics`` the ``x-ms-diagnostics`` header of a 401/403; ``ambiguous`` says the request may have arrived.
    """

    def __init__(self, step, message, status=None, code=None, diagnostics=None, request_id=None, transport=False,
                 ambiguous=False):
        super().__init__(message)
        self.step = step
        self.message = message
        self.status = status
        self.code = code
        self.diagnostics = diagnostics
        self.request_id = request_id
        self.transport = transport
        self.ambiguous = ambiguous

    @property
    def answer(self):
        """``HTTP 403 (x-ms-diagnostics: 2000008;reason="...")`` or ``ErrorSendAsDenied: The user account ...``."""
        if self.transport:
            return self.message
        parts = []
        if self.code:
            parts.append("%s: %s" % (self.code, self.message) if self.message else self.code)
        else:
            parts.append("HTTP %s" % self.status)
            if self.diagnostics:
                parts.append("(x-ms-diagnostics: %s)" % self.diagnostics)
            elif self.message:
                parts.append(self.message)
        if self.request_id:
            parts.append("(request-id %s)" % self.request_id)
        return " ".join(parts)


def _header(impersonate):
    header = '<t:RequestServerVersion Version="%s"/>' % SERVER_VERSION
    if impersonate:
        # App-only EWS acts for a mailbox only through impersonation (full_access_as_app).
        header += ("<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>%s</t:PrimarySmtpAddress>"
                   "</t:ConnectingSID></t:ExchangeImpersonation>" % escape(impersonate))
    return header


def _envelope(body, impersonate=None):
    return ('<?xml version="1.0" encoding="utf-8"?>'
            '<soap:Envelope xmlns:soap="%s" xmlns:t="%s" xmlns:m="%s"><soap:Header>%s</soap:Header>'
            '<soap:Body>%s</soap:Body></soap:Envelope>' % (SOAP, TYPES, MESSAGES, _header(impersonate), body))


def create_item(subject, body, to, from_address=None, headers=None, save_copy=False, impersonate=None):
    """The ``CreateItem`` request of one plain text message (elements in the schema's order)."""
    extended = "".join(
        '<t:ExtendedProperty><t:ExtendedFieldURI DistinguishedPropertySetId="InternetHeaders" PropertyName=%s '
        'PropertyType="String"/><t:Value>%s</t:Value></t:ExtendedProperty>' % (quoteattr(name), escape(value))
        for name, value in (headers or []))
    recipients = "".join("<t:Mailbox><t:EmailAddress>%s</t:EmailAddress></t:Mailbox>" % escape(address)
                         for address in to)
    sender = ("<t:From><t:Mailbox><t:EmailAddress>%s</t:EmailAddress></t:Mailbox></t:From>" % escape(from_address)
              if from_address else "")
    disposition = "SendAndSaveCopy" if save_copy else "SendOnly"
    saved = ('<m:SavedItemFolderId><t:DistinguishedFolderId Id="sentitems"/></m:SavedItemFolderId>'
             if save_copy else "")
    operation = ('<m:CreateItem MessageDisposition="%s">%s<m:Items><t:Message><t:ItemClass>IPM.Note</t:ItemClass>'
                 '<t:Subject>%s</t:Subject><t:Body BodyType="Text">%s</t:Body>%s<t:ToRecipients>%s</t:ToRecipients>'
                 '%s</t:Message></m:Items></m:CreateItem>'
                 % (disposition, saved, escape(subject), escape(body), extended, recipients, sender))
    return _envelope(operation, impersonate)


def get_folder(folder="sentitems", impersonate=None):
    operation = ('<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds>'
                 '<t:DistinguishedFolderId Id=%s/></m:FolderIds></m:GetFolder>' % quoteattr(folder))
    return _envelope(operation, impersonate)


class EwsClient:
    """One EWS endpoint, one token. Busy answers (429, 503, ErrorServerBusy) are retried after their back-off."""

    def __init__(self, url, session, token, transcript, impersonate=None, backoff_retries=3, backoff_max_delay=60,
                 sleep=time.sleep):
        self.url = url
        self.session = session
        self.token = token
        self.transcript = transcript
        self.impersonate = impersonate
        self.backoff_retries = backoff_retries
        self.backoff_max_delay = backoff_max_delay
        self.sleep = sleep
        self.request_count = 0

    def check_access(self):
        """GetFolder of Sent Items: proves the sign-in is accepted by EWS for the mailbox; sends nothing."""
        self.transcript.add("C", "POST %s GetFolder (sentitems)" % self.url)
        self._call(get_folder(impersonate=self.impersonate), "check", "GetFolderResponseMessage")

    def send(self, subject, body, to, from_address=None, headers=None, save_copy=False):
        self.transcript.add("C", "POST %s CreateItem (%s, subject %r, to %s)" % (
            self.url, "SendAndSaveCopy" if save_copy else "SendOnly", subject, ", ".join(to)))
        xml = create_item(subject, body, to, from_address, headers, save_copy, self.impersonate)
        self._call(xml, "send", "CreateItemResponseMessage")

    def _call(self, xml, step, message_tag):
        attempt = 0
        while True:
            response = self._post(xml, step)
            request_id = response.headers.get("request-id")
            busy = response.status_code == 500 and _fault_code(response) == "ErrorServerBusy"
            if response.status_code in BUSY_STATUSES or busy:
                if attempt >= self.backoff_retries:
                    raise _error_of(step, response, request_id)
                delay = backoff_delay(attempt, _back_off(response), self.backoff_max_delay)
                self.transcript.add("S", "HTTP %d %s" % (response.status_code, _fault_code(response) or ""))
                self.transcript.note("busy: waiting %.1f s" % delay)
                self.sleep(delay)
                attempt += 1
                continue
            if response.status_code != 200:
                error = _error_of(step, response, request_id)
                self.transcript.add("S", error.answer)
                raise error
            messages = _parse(response, step, request_id).findall(".//m:%s" % message_tag, NS)
            if not messages:
                raise EwsError(step, "The answer holds no %s." % message_tag, status=200, request_id=request_id)
            for message in messages:
                response_class = message.get("ResponseClass")
                code = message.findtext("m:ResponseCode", default="", namespaces=NS)
                shown_id = " (request-id %s)" % request_id if request_id else ""
                self.transcript.add("S", "HTTP 200 %s %s %s%s" % (message_tag, response_class, code, shown_id))
                if response_class != "Success":
                    raise EwsError(step, message.findtext("m:MessageText", default="", namespaces=NS), status=200,
                                   code=code or "ErrorInternalServerError", request_id=request_id)
            return

    def _post(self, xml, step):
        headers = {"Content-Type": "text/xml; charset=utf-8", "Accept": "text/xml",
                   "Authorization": "Bearer " + self.token, "client-request-id": str(uuid.uuid4()),
                   "return-client-request-id": "true"}
        if self.impersonate:
            headers["X-AnchorMailbox"] = self.impersonate
        self.request_count += 1
        try:
            return self.session.request("POST", self.url, data=xml.encode("utf-8"), headers=headers)
        except requests.exceptions.RequestException as exc:
            sent = not isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.SSLError)) and \
                not _never_connected(exc)
            raise EwsError(step, "%s: %s" % (type(exc).__name__, exc), transport=True,
                           ambiguous=sent and step == "send") from None


def _never_connected(exc):
    return isinstance(exc, requests.exceptions.ConnectionError) and "NewConnectionError" in repr(exc)


def _parse(response, step, request_id):
    try:
        return ET.fromstring(response.content)
    except ET.ParseError as exc:
        raise EwsError(step, "The answer is not XML (%s): %s" % (exc, response.text[:200]), status=response.status_code,
                       request_id=request_id) from None


def _fault(response):
    try:
        return ET.fromstring(response.content).find("s:Body/s:Fault", NS)
    except ET.ParseError:
        return None


def _fault_code(response):
    fault = _fault(response)
    if fault is None:
        return None
    return fault.findtext("detail/e:ResponseCode", namespaces=NS) or (fault.findtext("faultcode") or "").rpartition(":")[2]


def _back_off(response):
    """Retry-After, or the fault's BackOffMilliseconds, in seconds (a string as Retry-After is)."""
    if response.headers.get("Retry-After"):
        return response.headers["Retry-After"]
    fault = _fault(response)
    value = fault.find("detail/t:MessageXml/t:Value[@Name='BackOffMilliseconds']", NS) if fault is not None else None
    if value is not None and (value.text or "").strip().isdigit():
        return str(max(1, int(value.text) // 1000))
    return None


def _error_of(step, response, request_id):
    fault = _fault(response)
    if fault is not None:
        return EwsError(step, fault.findtext("faultstring", default="", namespaces=NS), status=response.status_code,
                        code=_fault_code(response), request_id=request_id)
    text = (response.text or "").strip()
    return EwsError(step, text[:300], status=response.status_code, diagnostics=response.headers.get("x-ms-diagnostics"),
                    request_id=request_id)
