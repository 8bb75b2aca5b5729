"""Exchange Web Services (POST /EWS/Exchange.asmx), as Monitor ERP sends mail (seed 001): SOAP 1.1 over HTTPS
with a delegated EWS.AccessAsUser.All token from a password sign-in, Exchange Online's token checks, the EWS
retirement (EwsAllowedAppIDs from 2026-10-01, off for everyone from 2027-04-01), CreateItem delivered into the
same mailboxes SMTP and Graph deliver to. Plain requests + XML; then exchangelib, a real EWS client."""
import contextlib
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import pytest

from exchangeclient import EXCHANGE_APP_ID, EXCHANGE_RESOURCE
from graphclient import unique

ALICE, REPORTS, SCANNER = "alice@contoso.example", "reports@contoso.example", "scanner@contoso.example"
EWS_SCOPE = EXCHANGE_RESOURCE + "/EWS.AccessAsUser.All"
NS = {"s": "http://schemas.xmlsoap.org/soap/envelope/", "m": "http://schemas.microsoft.com/exchange/services/2006/messages",
      "t": "http://schemas.microsoft.com/exchange/services/2006/types",
      "e": "http://schemas.microsoft.com/exchange/services/2006/errors"}
SMOKE_HEADER = "X-Mailauth-Smoke-Test"


def create_item(to, subject, disposition="SendAndSaveCopy", body="Sent over EWS.", body_type="Text", sender=None,
                header_value=None, impersonate=None, saved_folder=None):
    """A CreateItem request as Microsoft documents it (CreateItem operation (email message))."""
    extended = ('<t:ExtendedProperty><t:ExtendedFieldURI DistinguishedPropertySetId="InternetHeaders" PropertyName="%s" '
                'PropertyType="String"/><t:Value>%s</t:Value></t:ExtendedProperty>' % (SMOKE_HEADER, header_value)
                if header_value else "")
    recipients = "".join("<t:Mailbox><t:EmailAddress>%s</t:EmailAddress></t:Mailbox>" % escape(a) for a in to)
    sender_xml = "<t:From><t:Mailbox><t:EmailAddress>%s</t:EmailAddress></t:Mailbox></t:From>" % sender if sender else ""
    header = ('<t:RequestServerVersion Version="Exchange2016"/>'
              + ('<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>%s</t:PrimarySmtpAddress>'
                 '</t:ConnectingSID></t:ExchangeImpersonation>' % impersonate if impersonate else ""))
    saved = ('<m:SavedItemFolderId><t:DistinguishedFolderId Id="%s"/></m:SavedItemFolderId>' % saved_folder
             if saved_folder else "")
    return ('<?xml version="1.0" encoding="utf-8"?>'
            '<soap:Envelope xmlns:soap="%(s)s" xmlns:t="%(t)s" xmlns:m="%(m)s"><soap:Header>%(header)s</soap:Header>'
            '<soap:Body><m:CreateItem MessageDisposition="%(disposition)s">%(saved)s<m:Items><t:Message>'
            '<t:ItemClass>IPM.Note</t:ItemClass><t:Subject>%(subject)s</t:Subject>'
            '<t:Body BodyType="%(body_type)s">%(body)s</t:Body>%(extended)s'
            '<t:ToRecipients>%(recipients)s</t:ToRecipients>%(sender)s</t:Message></m:Items></m:CreateItem></soap:Body>'
            '</soap:Envelope>' % dict(NS, header=header, disposition=disposition, saved=saved, subject=escape(subject),
                                      body_type=body_type, body=escape(body), extended=extended, recipients=recipients,
                                      sender=sender_xml))


class Ews:
    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.url = sandbox.conn["exchange_endpoint"] + "/EWS/Exchange.asmx"
        self.http = sandbox.session()

    def post(self, token, xml, content_type="text/xml; charset=utf-8", headers=None):
        all_headers = {"Content-Type": content_type}
        if token:
            all_headers["Authorization"] = "Bearer " + token
        all_headers.update(headers or {})
        return self.http.post(self.url, data=xml.encode("utf-8") if isinstance(xml, str) else xml, headers=all_headers,
                              timeout=30)

    def send(self, token, *args, **kwargs):
        return self.post(token, create_item(*args, **kwargs))

    @contextlib.contextmanager
    def clock(self, now):
        self.sandbox.control("PUT", "/exchange/ews", {"now": now})
        try:
            yield
        finally:
            self.sandbox.control("DELETE", "/exchange/ews")


def response_messages(answer):
    assert answer.status_code == 200, (answer.status_code, answer.text)
    assert answer.headers["Content-Type"].startswith("text/xml")
    root = ET.fromstring(answer.content)
    assert root.find("s:Header/t:ServerVersionInfo", NS).get("MajorVersion") == "15"
    return root.findall("s:Body/m:CreateItemResponse/m:ResponseMessages/m:CreateItemResponseMessage", NS)


def only_message(answer):
    [message] = response_messages(answer)
    return message.get("ResponseClass"), message.findtext("m:ResponseCode", namespaces=NS), \
        message.findtext("m:MessageText", namespaces=NS)


def fault(answer):
    assert answer.status_code == 500, (answer.status_code, answer.text)
    found = ET.fromstring(answer.content).find("s:Body/s:Fault", NS)
    return found.findtext("faultcode"), found.findtext("detail/e:ResponseCode", namespaces=NS)


def diagnostics(answer):
    return answer.headers.get("x-ms-diagnostics", "")


def delivered(mail, address, subject, folder="INBOX"):
    return [m for m in mail.messages(address, folder) if m["subject"] == subject]


@pytest.fixture(scope="module")
def ews(sandbox):
    return Ews(sandbox)


@pytest.fixture(scope="module")
def monitor_app(contoso):
    """Monitor ERP's app of seed 001: a public client with consented EWS.AccessAsUser.All, on the EWS allow list."""
    app_id = contoso.public_client(scope="EWS.AccessAsUser.All SMTP.Send", resource_app_id=EXCHANGE_APP_ID)
    contoso.exo.run("Set-OrganizationConfig", EwsAllowedAppIDs={"Add": [app_id]})
    return app_id


@pytest.fixture(scope="module")
def alice_token(contoso, monitor_app):
    return contoso.user_token(monitor_app, ALICE, EWS_SCOPE)


def test_send_and_save_copy_is_delivered_and_saved(ews, mail, alice_token):
    subject = unique("ews")
    answer = ews.send(alice_token, [REPORTS], subject, header_value="test-1")
    assert only_message(answer) == ("Success", "NoError", None)
    [copy] = delivered(mail, REPORTS, subject)
    assert copy["envelope"]["via"] == "Exchange Web Services" and ALICE in copy["from"]
    raw = mail.messages(REPORTS, "INBOX", raw=True)
    assert any("%s: test-1" % SMOKE_HEADER in m["raw"] for m in raw if m["subject"] == subject)
    assert delivered(mail, ALICE, subject, "Sent Items")


def test_send_only_saves_no_copy_and_html_bodies_arrive_as_html(ews, mail, alice_token):
    subject = unique("ews-sendonly")
    answer = ews.send(alice_token, [REPORTS], subject, disposition="SendOnly", body="<p>Hi</p>", body_type="HTML")
    assert only_message(answer)[0] == "Success"
    [copy] = [m for m in mail.messages(REPORTS, "INBOX", raw=True) if m["subject"] == subject]
    assert "Content-Type: text/html" in copy["raw"]
    assert not delivered(mail, ALICE, subject, "Sent Items")


def test_save_only_returns_the_draft_id(ews, mail, alice_token):
    subject = unique("ews-draft")
    answer = ews.send(alice_token, [REPORTS], subject, disposition="SaveOnly", saved_folder="drafts")
    [message] = response_messages(answer)
    assert message.find("m:Items/t:Message/t:ItemId", NS).get("Id")
    assert delivered(mail, ALICE, subject, "Drafts") and not delivered(mail, REPORTS, subject)


def test_a_graph_token_is_refused_for_its_audience(ews, contoso):
    graph_client = contoso.public_client(scope="User.Read")
    token = contoso.user_token(graph_client, ALICE, "https://graph.microsoft.com/.default")
    answer = ews.send(token, [REPORTS], unique("ews"))
    assert answer.status_code == 401 and answer.content == b""
    assert diagnostics(answer).startswith("2000003;") and "audience" in diagnostics(answer)
    assert "Bearer" in answer.headers["WWW-Authenticate"]


def test_no_token_and_a_token_without_the_ews_scope(ews, contoso, monitor_app):
    assert ews.send(None, [REPORTS], unique("ews")).status_code == 401
    smtp_only = contoso.user_token(monitor_app, ALICE, "https://outlook.office.com/SMTP.Send")
    answer = ews.send(smtp_only, [REPORTS], unique("ews"))
    assert answer.status_code == 403 and "not enough scope" in diagnostics(answer)


def test_errors_per_item(ews, mail, alice_token):
    assert only_message(ews.send(alice_token, [], unique("ews")))[1] == "ErrorInvalidRecipients"
    assert only_message(ews.send(alice_token, ["not-an-address"], unique("ews")))[1] == "ErrorInvalidRecipients"
    response_class, code, text = only_message(ews.send(alice_token, [REPORTS], unique("ews"), sender=SCANNER))
    assert (response_class, code) == ("Error", "ErrorSendAsDenied") and "send mail on behalf" in text
    # An unknown address of the tenant's own domain is accepted and bounced, as Exchange does.
    subject = unique("ews-ndr")
    assert only_message(ews.send(alice_token, ["nobody@contoso.example"], subject))[0] == "Success"
    assert [m for m in mail.messages(ALICE, "INBOX") if m["subject"] == "Undeliverable: " + subject]


def test_malformed_xml_and_unknown_operations_are_soap_faults(ews, alice_token):
    assert fault(ews.post(alice_token, "<soap:Envelope")) == ("a:ErrorSchemaValidation", "ErrorSchemaValidation")
    other = create_item([REPORTS], "x").replace("m:CreateItem ", "m:FindItem ").replace("</m:CreateItem>", "</m:FindItem>")
    assert fault(ews.post(alice_token, other))[1] == "ErrorInvalidRequest"
    assert ews.post(alice_token, create_item([REPORTS], "x"), content_type="application/json").status_code == 415


def test_get_folder_reads_without_sending(ews, alice_token):
    xml = ('<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="%(s)s" xmlns:t="%(t)s" xmlns:m="%(m)s">'
           '<soap:Body><m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds>'
           '<t:DistinguishedFolderId Id="sentitems"/></m:FolderIds></m:GetFolder></soap:Body></soap:Envelope>' % NS)
    answer = ews.post(alice_token, xml)
    assert answer.status_code == 200
    message = ET.fromstring(answer.content).find("s:Body/m:GetFolderResponse/m:ResponseMessages/m:GetFolderResponseMessage",
                                                 NS)
    assert message.get("ResponseClass") == "Success" and message.find("m:Folders/t:Folder/t:FolderId", NS).get("Id")


def test_the_ews_retirement(ews, contoso, alice_token):
    """Today (2026-11-23) the allow list decides; before 2026-10-01 every app could; from 2027-04-01 none can."""
    other_app = contoso.public_client(scope="EWS.AccessAsUser.All", resource_app_id=EXCHANGE_APP_ID)
    off_list = contoso.user_token(other_app, ALICE, EWS_SCOPE)
    with ews.clock("2026-11-23T12:00:00Z"):
        answer = ews.send(off_list, [REPORTS], unique("ews"))
        assert answer.status_code == 403 and "EwsAllowedAppIDs" in diagnostics(answer) and other_app in diagnostics(answer)
        assert only_message(ews.send(alice_token, [REPORTS], unique("ews")))[0] == "Success"
    with ews.clock("2026-09-30T23:59:00Z"):
        assert only_message(ews.send(off_list, [REPORTS], unique("ews")))[0] == "Success"
    with ews.clock("2027-04-01T00:00:00Z"):
        answer = ews.send(alice_token, [REPORTS], unique("ews"))
        assert answer.status_code == 403 and "retired" in diagnostics(answer)


def test_ews_switched_off_for_the_mailbox(ews, contoso, alice_token):
    with contoso.changed("Set-CASMailbox", {"Identity": ALICE, "EwsEnabled": True}, Identity=ALICE, EwsEnabled=False):
        answer = ews.send(alice_token, [REPORTS], unique("ews"))
        assert answer.status_code == 403 and "Set-CASMailbox" in diagnostics(answer)


def test_app_only_with_full_access_as_app_impersonates(ews, mail, contoso):
    app = contoso.mail_app(roles=("full_access_as_app",), register=False)
    contoso.exo.run("Set-OrganizationConfig", EwsAllowedAppIDs={"Add": [app["app"]["appId"]]})
    token = app["token"]()
    subject = unique("ews-app")
    assert fault(ews.send(token, [REPORTS], subject))[1] == "ErrorInvalidExchangeImpersonationHeaderData"
    assert only_message(ews.send(token, [REPORTS], subject, impersonate=SCANNER))[0] == "Success"
    assert delivered(mail, REPORTS, subject) and delivered(mail, SCANNER, subject, "Sent Items")
    assert fault(ews.send(token, [REPORTS], subject, impersonate="ghost@contoso.example"))[1] == "ErrorNonExistentMailbox"


def test_throttling_answers_error_server_busy(ews, sandbox, alice_token):
    sandbox.control("PUT", "/realism", {"throttle_rate": 1.0, "retry_after": 2, "services": ["exchange"]})
    try:
        answer = ews.send(alice_token, [REPORTS], unique("ews"))
    finally:
        sandbox.control("DELETE", "/realism")
    assert answer.status_code in (429, 503) and answer.headers["Retry-After"] == "2"
    assert fault_code_of(answer) == "ErrorServerBusy"


def fault_code_of(answer):
    return ET.fromstring(answer.content).find("s:Body/s:Fault/detail/e:ResponseCode", NS).text


def test_exchangelib_sends_through_the_sandbox(ews, sandbox, mail, alice_token, monkeypatch):
    """The fidelity check: exchangelib, a real EWS client, with an OAuth token, sends and reads its answer."""
    exchangelib = pytest.importorskip("exchangelib")
    import requests.adapters
    from exchangelib.protocol import BaseProtocol

    ca_bundle = sandbox.conn["ca_bundle"]

    class SandboxCA(requests.adapters.HTTPAdapter):
        def send(self, request, **kwargs):
            kwargs["verify"] = ca_bundle
            return super().send(request, **kwargs)

    monkeypatch.setattr(BaseProtocol, "HTTP_ADAPTER_CLS", SandboxCA)
    credentials = exchangelib.OAuth2AuthorizationCodeCredentials(
        access_token={"access_token": alice_token, "token_type": "Bearer", "expires_in": 3600})
    config = exchangelib.Configuration(service_endpoint=ews.url, credentials=credentials,
                                       auth_type=exchangelib.OAUTH2,
                                       version=exchangelib.Version(build=exchangelib.version.EXCHANGE_O365))
    account = exchangelib.Account(ALICE, config=config, autodiscover=False, access_type=exchangelib.DELEGATE)
    subject = unique("exchangelib")
    try:
        exchangelib.Message(account=account, subject=subject, body=exchangelib.HTMLBody("<b>exchangelib</b>"),
                            to_recipients=[exchangelib.Mailbox(email_address=REPORTS)]).send(save_copy=False)
        assert delivered(mail, REPORTS, subject)
        with pytest.raises(exchangelib.errors.ErrorSendAsDenied):
            exchangelib.Message(account=account, subject=subject, body="x", author=exchangelib.Mailbox(email_address=SCANNER),
                                to_recipients=[exchangelib.Mailbox(email_address=REPORTS)]).send(save_copy=False)
    finally:
        account.protocol.close()
