"""Graph's POST /users/{id | userPrincipalName}/sendMail (TrueChem's transport) delivers into the same
mailboxes as SMTP submission; Mail.Send (application, or delegated for the signed-in user), RBAC for
Applications ("Application Mail.Send" in a management scope) and SendAs decide who may send."""
import base64

import pytest

from graphclient import GraphClient, assert_graph_error, unique
from mailclient import message

ALICE, REPORTS, SCANNER = "alice@contoso.example", "reports@contoso.example", "scanner@contoso.example"


def body(to, subject=None, **message_fields):
    msg = {"subject": subject or unique("graph-mail"), "body": {"contentType": "Text", "content": "Sent through Graph."},
           "toRecipients": [{"emailAddress": {"address": address}} for address in to]}
    msg.update(message_fields)
    return {"message": msg, "saveToSentItems": True}


def delivered(mail, address, subject, folder="INBOX"):
    return [m for m in mail.messages(address, folder) if m["subject"] == subject]


@pytest.fixture(scope="module")
def app_graph(sandbox, contoso):
    """Graph as an application holding Mail.Send (application permission)."""
    app, sp, secret = contoso.graph.identity(graph_roles=["Mail.Send"])
    return GraphClient(sandbox, contoso.graph.token_for(app["appId"], secret))


def test_app_only_send_mail_is_delivered(mail, app_graph):
    sent = body([REPORTS])
    answer = app_graph.request("POST", "/users/%s/sendMail" % SCANNER, sent)
    assert answer.status_code == 202 and answer.content == b""
    subject = sent["message"]["subject"]
    [copy] = delivered(mail, REPORTS, subject)
    assert copy["envelope"]["via"] == "Microsoft Graph" and SCANNER in copy["from"]
    assert delivered(mail, SCANNER, subject, "Sent Items")


def test_send_mail_by_object_id_and_mime(mail, app_graph, contoso):
    user_id = contoso.graph.get("/users/%s" % SCANNER)["id"]
    raw, message_id, subject = message(SCANNER, REPORTS)
    # The MIME form: the whole message, base64, as text/plain.
    answer = app_graph.http.post(app_graph.base + "/users/%s/sendMail" % user_id, data=base64.b64encode(raw),
                                 headers={"Authorization": "Bearer " + app_graph.token, "Content-Type": "text/plain"}, timeout=30)
    assert answer.status_code == 202, answer.text
    assert mail.find(REPORTS, message_id)


def test_without_mail_send_access_is_denied(sandbox, contoso):
    app, sp, secret = contoso.graph.identity()
    graph = GraphClient(sandbox, contoso.graph.token_for(app["appId"], secret))
    answer = graph.request("POST", "/users/%s/sendMail" % SCANNER, body([REPORTS]))
    assert_graph_error(answer, 403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")


def test_rbac_for_applications_scope(sandbox, mail, contoso):
    app, sp, secret = contoso.graph.identity()
    contoso.exo.run("New-ServicePrincipal", AppId=app["appId"], ObjectId=sp["id"], DisplayName=unique("graph-rbac"))
    scope = "graph-mail-%s" % sp["id"][:8]
    contoso.exo.run("New-ManagementScope", Name=scope, RecipientRestrictionFilter="PrimarySmtpAddress -eq '%s'" % SCANNER)
    contoso.exo.run("New-ManagementRoleAssignment", Role="Application Mail.Send", App=sp["id"], CustomResourceScope=scope)
    graph = GraphClient(sandbox, contoso.graph.token_for(app["appId"], secret))
    sent = body([REPORTS])
    assert graph.request("POST", "/users/%s/sendMail" % SCANNER, sent).status_code == 202
    assert delivered(mail, REPORTS, sent["message"]["subject"])
    answer = graph.request("POST", "/users/%s/sendMail" % ALICE, body([REPORTS]))    # outside the scope
    assert_graph_error(answer, 403, "ErrorAccessDenied")


def test_delegated_mail_send_for_the_signed_in_user_only(sandbox, mail, contoso):
    client_id = contoso.public_client(scope="Mail.Send")
    graph = GraphClient(sandbox, contoso.user_token(client_id, ALICE, "https://graph.microsoft.com/Mail.Send"))
    sent = body([REPORTS])
    assert graph.request("POST", "/me/sendMail", sent).status_code == 202
    assert delivered(mail, REPORTS, sent["message"]["subject"])
    assert_graph_error(graph.request("POST", "/users/%s/sendMail" % REPORTS, body([ALICE])), 403, "ErrorAccessDenied")


def test_from_another_mailbox_needs_send_as(mail, app_graph, contoso):
    sent = body([REPORTS], **{"from": {"emailAddress": {"address": ALICE}}})
    answer = app_graph.request("POST", "/users/%s/sendMail" % SCANNER, sent)
    assert_graph_error(answer, 403, "ErrorSendAsDenied", "does not have the right to send mail on behalf of the specified sending account")
    with contoso.changed("Add-RecipientPermission", ("Remove-RecipientPermission", dict(Identity=ALICE, Trustee=SCANNER, AccessRights=["SendAs"])),
                         Identity=ALICE, Trustee=SCANNER, AccessRights=["SendAs"]):
        assert app_graph.request("POST", "/users/%s/sendMail" % SCANNER, sent).status_code == 202
    [copy] = delivered(mail, REPORTS, sent["message"]["subject"])
    assert ALICE in copy["from"]


def test_unknown_user_and_unknown_recipient(mail, app_graph):
    answer = app_graph.request("POST", "/users/nobody@contoso.example/sendMail", body([REPORTS]))
    assert_graph_error(answer, 404, "ErrorInvalidUser", "The requested user 'nobody@contoso.example' is invalid.")
    assert_graph_error(app_graph.request("POST", "/users/%s/sendMail" % SCANNER, body([])), 400, "ErrorInvalidRecipients")
    sent = body(["nobody@contoso.example"])
    assert app_graph.request("POST", "/users/%s/sendMail" % SCANNER, sent).status_code == 202   # accepted, then bounced
    bounce = delivered(mail, SCANNER, "Undeliverable: " + sent["message"]["subject"])
    assert bounce and "Microsoft Outlook" in bounce[0]["from"]
