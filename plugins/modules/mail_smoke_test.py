#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: mail_smoke_test
short_description: Send a test e-mail the way a product will, prove it arrived, and explain any failure
version_added: 0.1.0
description:
  - The "Test e-mail" button of every product guide, as a task. Signs in exactly as the product does
    (O(sign_in)), sends a real message over SMTP submission with XOAUTH2 or OAUTHBEARER (or through
    Microsoft Graph C(sendMail) for products that use Mail.Send, or through Exchange Web Services C(CreateItem)
    for products that use EWS such as Monitor ERP), and with O(verify_delivery=true) reads it
    back from the recipient's mailbox over IMAP with XOAUTH2, reporting how long delivery took.
  - When a step fails the task fails with a RV(diagnosis) - the failing step, the exact answer of Entra ID or
    the mail server, the likely cause and the remedy (usually another module of this collection) - for
    example an expired client secret, missing admin consent, SMTP AUTH disabled for the mailbox or the tenant,
    a missing Exchange service principal or FullAccess, SendAs denied, a Microsoft Graph token sent to SMTP,
    a password sign-in of a user who must use MFA, or an application missing from the tenant's EWS allow list.
  - Returns a transcript of the conversation in which every token and AUTH response is replaced by a
    description, and the time each step took.
  - Works with Exchange Online and with standards-based servers such as Dovecot, which limit the length of
    the AUTH line and answer a rejected token with a JSON error challenge before the final C(535).
author:
  - mailauth.m365 contributors (@mailauth)
options:
  sign_in:
    description:
      - How the product signs in.
      - V(client_credentials) - app-only with the connection's credential (O(client_secret),
        O(client_certificate_path) or O(federated_token_file)) and the scope C(https://outlook.office365.com/.default)
        (Microsoft Graph C(/.default) with O(transport=graph)); enaio, TrueChem. Always asks Entra ID for a
        new token, so an expired secret shows even while an earlier token is still valid.
      - V(refresh_token) - redeems the refresh token an earlier interactive consent left in the token cache
        (Sage 100, XLReporter), as the product does before it sends. Sign in once with
        M(mailauth.m365.device_code_login) using the product's O(client_id) and
        O(scopes=[https://outlook.office.com/SMTP.Send, offline_access]); give this task the same
        O(tenant_id), O(client_id) and O(token_cache_path).
      - V(device_code) - the same cached device code sign-in, reusing its access token while it is valid
        (the test right after the first interactive consent).
      - V(password) - user name and password (resource owner password credentials, Monitor ERP). Cannot do
        multi-factor authentication; the app must allow public client flows.
      - The delegated sign-ins (all but V(client_credentials)) need no app credential; O(auth_method) may be
        left at V(auto) or set to V(device_code).
    type: str
    choices: [client_credentials, refresh_token, device_code, password]
    default: client_credentials
  username:
    description:
      - The user who signs in with O(sign_in=password). Defaults to O(mailbox).
    type: str
  password:
    description:
      - The password of O(username) for O(sign_in=password).
    type: str
  scopes:
    description:
      - Delegated permissions to ask for, as the product does, by name (C(SMTP.Send)) or full URI
        (C(https://outlook.office.com/SMTP.Send)). C(offline_access), C(openid) and C(profile) are added by the
        sign-in itself.
      - Defaults to C(https://outlook.office.com/SMTP.Send) for SMTP, Microsoft Graph C(Mail.Send) for
        O(transport=graph) and C(https://outlook.office365.com/EWS.AccessAsUser.All) for O(transport=ews).
      - Not used with O(sign_in=client_credentials), which always asks for C(/.default).
    type: list
    elements: str
  transport:
    description:
      - V(smtp) - SMTP submission with OAuth 2.0 (SMTP AUTH XOAUTH2 / OAUTHBEARER), as most products send.
      - V(graph) - Microsoft Graph C(POST /users/{mailbox}/sendMail), for products that use the Mail.Send
        permission (TrueChem).
      - V(ews) - Exchange Web Services C(CreateItem) (SOAP, C(MessageDisposition=SendOnly)) at O(ews_url), for
        products that use EWS (Monitor ERP). A delegated sign-in sends from the signed-in user's mailbox; app-only
        (C(full_access_as_app)) impersonates O(mailbox). Since 2026-10-01 Exchange Online blocks EWS for
        applications missing from the tenant's EWS allow list (M(mailauth.m365.exchange_ews_allow_list)), and
        EWS ends for every tenant on 2027-04-01.
    type: str
    choices: [smtp, graph, ews]
    default: smtp
  ews_url:
    description:
      - The EWS endpoint for O(transport=ews). Defaults to C(/EWS/Exchange.asmx) on the cloud's Exchange Online host
        (C(https://outlook.office365.com/EWS/Exchange.asmx) in the public cloud, O(exchange_endpoint) with
        O(cloud=custom)).
    type: str
  smtp_host:
    description:
      - The SMTP submission server. Defaults to the cloud's (C(smtp.office365.com) in the public cloud).
      - Required with O(cloud=custom) and the clouds whose SMTP host is not known to the collection.
    type: str
  smtp_port:
    description:
      - Defaults to C(587) with O(tls=starttls) and C(465) with O(tls=implicit).
    type: int
  tls:
    description:
      - V(starttls) - connect in plain text and upgrade with STARTTLS before authenticating (port 587).
      - V(implicit) - TLS from the first byte (port 465).
      - The server certificate is verified against O(ca_bundle) (or the system's CAs) unless
        O(validate_certs=false).
    type: str
    choices: [starttls, implicit]
    default: starttls
  auth_mechanism:
    description:
      - The SASL mechanism. V(auto) uses XOAUTH2 (what Exchange Online and the products use) and falls back to
        OAUTHBEARER (RFC 7628) when the server offers only that.
    type: str
    choices: [auto, xoauth2, oauthbearer]
    default: auto
  auth_initial_response:
    description:
      - Where the AUTH response goes.
      - V(auto) sends it on its own line after the server's C(334), as RFC 4954 asks for responses that would
        make the AUTH line longer than 512 octets (a token always does); every server accepts that.
      - V(inline) puts it on the AUTH line (C(AUTH XOAUTH2 <response>)), as many products do; Exchange Online
        accepts it, servers that limit the line (Dovecot) refuse it.
      - V(separate) always waits for the C(334).
    type: str
    choices: [auto, inline, separate]
    default: auto
  mailbox:
    description:
      - The mailbox the product sends from - the C(user=) of the AUTH response, and for delegated sign-ins the
        signed-in user (or a mailbox that user has FullAccess to).
      - With O(transport=graph) the mailbox whose C(sendMail) is called (C(/users/{mailbox}/sendMail)).
      - With O(transport=ews) and a delegated sign-in the signed-in user (its mailbox sends); app-only, the
        mailbox impersonated.
    type: str
    required: true
  from_address:
    description:
      - The sender address of the message (envelope and C(From:)). Defaults to O(mailbox).
      - A different address needs SendAs for the signing-in identity.
    type: str
  to:
    description:
      - Recipients. Defaults to O(mailbox) itself.
    type: list
    elements: str
  subject:
    description:
      - Subject of the message. Defaults to C(mailauth.m365 smoke test <test id>).
      - Every message also carries the header C(X-Mailauth-Smoke-Test) with the test id, by which the delivery
        check finds it.
    type: str
  body:
    description:
      - Plain text body of the message.
    type: str
    default: This message was sent by the mailauth.m365 mail smoke test. It can be deleted.
  verify_delivery:
    description:
      - Read the message back from the mailbox of O(verify_mailbox) over IMAP with XOAUTH2, and report
        RV(delivered) and RV(delivery_seconds). The task fails when it does not arrive within O(verify_timeout).
      - The reading identity is O(verify_with) when given, else the sending identity (which then needs
        C(IMAP.AccessAsUser.All), or for app-only C(IMAP.AccessAsApp) and FullAccess on the mailbox).
      - Not done in check mode.
    type: bool
    default: false
  verify_mailbox:
    description:
      - The mailbox to look in. Defaults to the first of O(to).
    type: str
  verify_timeout:
    description:
      - Seconds to wait for the message to arrive.
    type: int
    default: 120
  verify_with:
    description:
      - Another identity to read the recipient's mailbox with, for example the recipient user by password
        through a public client that has C(IMAP.AccessAsUser.All).
      - Tenant, cloud and the endpoints are those of the task.
    type: dict
    suboptions:
      sign_in:
        description: As O(sign_in).
        type: str
        choices: [client_credentials, refresh_token, device_code, password]
        default: password
      client_id:
        description: The application (client) ID to sign in with. Defaults to O(client_id).
        type: str
      client_secret:
        description: Client secret for O(verify_with.sign_in=client_credentials).
        type: str
      client_certificate_path:
        description: PEM file with key and certificate for O(verify_with.sign_in=client_credentials).
        type: path
      client_certificate_password:
        description: Password of the key in O(verify_with.client_certificate_path).
        type: str
      username:
        description: User for O(verify_with.sign_in=password). Defaults to O(verify_mailbox).
        type: str
      password:
        description: Password of O(verify_with.username).
        type: str
      scopes:
        description: Delegated scopes. Defaults to C(https://outlook.office.com/IMAP.AccessAsUser.All).
        type: list
        elements: str
  imap_host:
    description:
      - The IMAP server for O(verify_delivery). Defaults to the cloud's Exchange Online host
        (C(outlook.office365.com)); required with O(cloud=custom).
    type: str
  imap_port:
    description:
      - Defaults to C(993) with O(imap_tls=implicit) and C(143) with O(imap_tls=starttls).
    type: int
  imap_tls:
    description:
      - V(implicit) (port 993) or V(starttls) (port 143).
    type: str
    choices: [implicit, starttls]
    default: implicit
extends_documentation_fragment:
  - mailauth.m365.connection
  - mailauth.m365.attributes
  - mailauth.m365.attributes.action_group_mail
attributes:
  check_mode:
    support: full
    details:
      - Signs in and authenticates to the SMTP server (up to C(235 Authentication successful)), then quits
        without sending; with O(transport=graph) only signs in; with O(transport=ews) signs in and reads the
        sender's Sent Items folder (C(GetFolder)), which proves that EWS takes the token for the mailbox (and the
        EWS allow list), without sending. Reports C(changed) as a real run would.
  diff_mode:
    support: none
  idempotent:
    support: none
    details: Every run sends a new message and reports C(changed=true).
notes:
  - Tokens never appear in the result; the transcript shows who authenticated and how long the response was.
  - The Exchange Online set-up the SMTP test depends on is done by M(mailauth.m365.exchange_service_principal),
    M(mailauth.m365.exchange_mailbox_permission) and M(mailauth.m365.exchange_smtp_auth); the Entra ID set-up by
    M(mailauth.m365.app_registration), M(mailauth.m365.app_secret) and M(mailauth.m365.admin_consent).
seealso:
  - name: Authenticate an IMAP, POP or SMTP connection using OAuth
    description: Microsoft's description of XOAUTH2 for Exchange Online.
    link: https://learn.microsoft.com/exchange/client-developer/legacy-protocols/how-to-authenticate-an-imap-pop-smtp-application-by-using-oauth
  - module: mailauth.m365.device_code_login
  - module: mailauth.m365.exchange_smtp_auth
"""

EXAMPLES = r"""
- name: enaio - app-only SMTP with the app's secret, read back from the recipient's mailbox
  mailauth.m365.mail_smoke_test:
    tenant_id: "{{ m365_tenant_id }}"
    client_id: "{{ enaio_app.application.app_id }}"
    client_secret: "{{ enaio_secret.secret.value }}"
    mailbox: enaio@contoso.com
    to: [alice@contoso.com]
    verify_delivery: true
    verify_with:
      sign_in: password
      client_id: "{{ mail_reader_client_id }}"
      username: alice@contoso.com
      password: "{{ alice_password }}"
  register: enaio_test

- name: Sage 100 - first consent by device code, then the refresh token the product will use
  module_defaults:
    group/mailauth.m365.all:
      tenant_id: contoso.onmicrosoft.com
      client_id: "{{ sage_app.application.app_id }}"
      auth_method: device_code
  block:
    - name: The mailbox owner signs in once
      mailauth.m365.device_code_login:
        scopes: [https://outlook.office.com/SMTP.Send, offline_access]

    - name: Test e-mail as Sage 100 sends it
      mailauth.m365.mail_smoke_test:
        sign_in: refresh_token
        mailbox: accounting@contoso.com
        to: [accounting@contoso.com]

- name: Monitor ERP - user name and password (no MFA possible)
  mailauth.m365.mail_smoke_test:
    tenant_id: "{{ m365_tenant_id }}"
    client_id: "{{ monitor_app.application.app_id }}"
    sign_in: password
    mailbox: erp@contoso.com
    password: "{{ erp_mailbox_password }}"

- name: TrueChem - Graph sendMail with the Mail.Send application permission
  mailauth.m365.mail_smoke_test:
    tenant_id: "{{ m365_tenant_id }}"
    client_id: "{{ truechem_app.application.app_id }}"
    client_secret: "{{ truechem_secret }}"
    transport: graph
    mailbox: lab@contoso.com
    to: [lab-manager@contoso.com]

- name: Monitor ERP - EWS with the user's password, as the product sends
  mailauth.m365.mail_smoke_test:
    tenant_id: "{{ m365_tenant_id }}"
    client_id: "{{ monitor_app.application.app_id }}"
    sign_in: password
    transport: ews
    mailbox: erp@contoso.com
    password: "{{ erp_mailbox_password }}"
    to: [purchasing@contoso.com]

- name: Check mode signs in and authenticates without sending anything
  mailauth.m365.mail_smoke_test:
    tenant_id: "{{ m365_tenant_id }}"
    client_id: "{{ enaio_app.application.app_id }}"
    client_certificate_path: /etc/enaio/mail-app.pem
    mailbox: enaio@contoso.com
  check_mode: true

- name: Show what to fix when the test fails
  mailauth.m365.mail_smoke_test:
    tenant_id: "{{ m365_tenant_id }}"
    client_id: "{{ enaio_app.application.app_id }}"
    client_secret: "{{ enaio_secret.secret.value }}"
    mailbox: enaio@contoso.com
  register: smoke
  ignore_errors: true

- name: Print the remedy
  ansible.builtin.debug:
    msg: "{{ smoke.diagnosis.remedy }}"
  when: smoke is failed
"""

RETURN = r"""
sent:
  description: Whether a message was handed over (accepted by the SMTP server, by Graph with C(202), or by EWS
    with C(NoError)).
  returned: always
  type: bool
  sample: true
delivered:
  description: Whether the message was found in the mailbox of O(verify_mailbox); null when not checked.
  returned: always
  type: bool
  sample: true
delivery_seconds:
  description: Seconds from the server's acceptance until the message was found; null when not checked.
  returned: always
  type: float
  sample: 2.31
test_id:
  description: The unique id of this test, in the subject (by default) and the C(X-Mailauth-Smoke-Test) header.
  returned: always
  type: str
  sample: 3f5c2a9e-6d1b-4f0e-9a8c-2b7d1e4f6a90
message_id:
  description: The C(Message-ID) of the message (SMTP), or null when Graph or EWS assigns it.
  returned: always
  type: str
  sample: "<170012345678.12345.987654321@contoso.com>"
subject:
  description: The subject of the message.
  returned: always
  type: str
  sample: mailauth.m365 smoke test 3f5c2a9e-6d1b-4f0e-9a8c-2b7d1e4f6a90
transport:
  description: V(smtp), V(graph) or V(ews).
  returned: always
  type: str
  sample: smtp
server:
  description: Where the message went and how the client authenticated.
  returned: always
  type: dict
  contains:
    host:
      description: SMTP host (or the Graph endpoint, or the EWS URL).
      type: str
      sample: smtp.office365.com
    port:
      description: SMTP port.
      type: int
      sample: 587
    tls:
      description: V(starttls) or V(implicit).
      type: str
      sample: starttls
    mechanism:
      description: The SASL mechanism used.
      type: str
      sample: XOAUTH2
signed_in_as:
  description: Who signed in and what the token allowed, read from its claims. The token itself is never returned.
  returned: when a token was obtained
  type: dict
  contains:
    sign_in:
      description: The O(sign_in) method.
      type: str
      sample: client_credentials
    client_id:
      description: The application (client) ID the token was issued to.
      type: str
      sample: 0a1b2c3d-1111-4aaa-8bbb-000000000001
    tenant_id:
      description: The tenant that issued the token.
      type: str
      sample: 6f4b1c2e-8a3d-4e5f-9b7a-1c2d3e4f5a6b
    identity_type:
      description: V(application) for app-only tokens, V(user) for delegated ones.
      type: str
      sample: application
    username:
      description: The signed-in user (delegated tokens).
      type: str
      sample: accounting@contoso.com
    object_id:
      description: Object ID of the user, or of the app's service principal.
      type: str
      sample: 716ef2ef-a4ce-43c3-90db-8a5ee200c6a3
    audience:
      description: The token's audience.
      type: str
      sample: https://outlook.office365.com
    scopes:
      description: Delegated permissions in the token.
      type: list
      elements: str
      sample: [SMTP.Send]
    roles:
      description: Application permissions in the token.
      type: list
      elements: str
      sample: [SMTP.SendAsApp]
    expires_on:
      description: When the token expires (UTC).
      type: str
      sample: "2026-11-23T11:05:00Z"
transcript:
  description:
    - The conversation with the servers, one line each (C(C:) client, C(S:) server, C(--) notes). Tokens and AUTH
      responses are replaced by a description such as C(<XOAUTH2 response for user=..., token redacted, 2180 bytes>).
  returned: always
  type: list
  elements: str
  sample:
    - "S: 220 BN0PR04CA0001.outlook.office365.com Microsoft ESMTP MAIL Service ready"
    - "C: AUTH XOAUTH2"
    - "S: 334"
    - "C: <XOAUTH2 response for user=enaio@contoso.com, token redacted, 2180 bytes>"
    - "S: 235 2.7.0 Authentication successful"
timings:
  description:
    - Seconds spent in each step (C(token), C(connect), C(starttls), C(auth), C(send), C(verify); C(check) for
      the EWS access check of check mode).
  returned: always
  type: dict
  sample: {token: 0.21, connect: 0.05, starttls: 0.03, auth: 0.12, send: 0.4, verify: 2.6}
diagnosis:
  description: Why the test failed and what to do.
  returned: on failure
  type: dict
  contains:
    step:
      description: The failing step (C(token), C(connect), C(starttls), C(auth), C(check), C(send), C(verify)).
      type: str
      sample: auth
    case:
      description: A stable name of the failure, for conditions in playbooks.
      type: str
      sample: smtp_auth_disabled_mailbox
    answer:
      description: The exact answer of Entra ID or the server.
      type: str
      sample: 535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox.
    cause:
      description: The likely cause.
      type: str
      sample: SMTP AUTH ("Authenticated SMTP" under Manage email apps) is disabled for the mailbox enaio@contoso.com.
    remedy:
      description: What to do, usually naming the module of this collection that does it.
      type: str
      sample: Enable it with mailauth.m365.exchange_smtp_auth for enaio@contoso.com.
"""

import email.policy
import email.utils
import time
import uuid
from email.message import EmailMessage
from urllib.parse import quote, urlsplit

from ansible_collections.mailauth.m365.plugins.module_utils import _diagnose as diagnose
from ansible_collections.mailauth.m365.plugins.module_utils._clouds import normalize_url
from ansible_collections.mailauth.m365.plugins.module_utils._errors import (
    AuthError,
    GraphError,
    MailauthError,
    ParameterError,
    TransportError,
)
from ansible_collections.mailauth.m365.plugins.module_utils._ews import EwsClient, EwsError
from ansible_collections.mailauth.m365.plugins.module_utils._http import RestClient
from ansible_collections.mailauth.m365.plugins.module_utils._module import run_module, settings_from_params
from ansible_collections.mailauth.m365.plugins.module_utils._signin import (
    SIGN_INS,
    MailSignIn,
    delegated_scopes,
    outlook_base,
)
from ansible_collections.mailauth.m365.plugins.module_utils._smtp import (
    SMOKE_TEST_HEADER,
    ImapReader,
    MailProtocolError,
    SmtpSubmission,
    Transcript,
)

DEFAULT_BODY = "This message was sent by the mailauth.m365 mail smoke test. It can be deleted."
# SMTP-only options and their defaults (None: no default); a value other than the default asks for SMTP.
SMTP_OPTION_DEFAULTS = (("smtp_host", None), ("smtp_port", None), ("tls", "starttls"), ("auth_mechanism", "auto"),
                        ("auth_initial_response", "auto"))
APP_CREDENTIALS = ("client_secret", "client_certificate_path", "federated_token_file")

ARGUMENT_SPEC = dict(
    sign_in=dict(type="str", default="client_credentials", choices=list(SIGN_INS)),
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    scopes=dict(type="list", elements="str"),
    transport=dict(type="str", default="smtp", choices=["smtp", "graph", "ews"]),
    ews_url=dict(type="str"),
    smtp_host=dict(type="str"),
    smtp_port=dict(type="int"),
    tls=dict(type="str", default="starttls", choices=["starttls", "implicit"]),
    auth_mechanism=dict(type="str", default="auto", choices=["auto", "xoauth2", "oauthbearer"]),
    auth_initial_response=dict(type="str", default="auto", choices=["auto", "inline", "separate"]),
    mailbox=dict(type="str", required=True),
    from_address=dict(type="str"),
    to=dict(type="list", elements="str"),
    subject=dict(type="str"),
    body=dict(type="str", default=DEFAULT_BODY),
    verify_delivery=dict(type="bool", default=False),
    verify_mailbox=dict(type="str"),
    verify_timeout=dict(type="int", default=120),
    verify_with=dict(type="dict", options=dict(
        sign_in=dict(type="str", default="password", choices=list(SIGN_INS)),
        client_id=dict(type="str"),
        client_secret=dict(type="str", no_log=True),
        client_certificate_path=dict(type="path"),
        client_certificate_password=dict(type="str", no_log=True),
        username=dict(type="str"),
        password=dict(type="str", no_log=True),
        scopes=dict(type="list", elements="str"),
    )),
    imap_host=dict(type="str"),
    imap_port=dict(type="int"),
    imap_tls=dict(type="str", default="implicit", choices=["implicit", "starttls"]),
)


def connection_params(params, sign_in=None):
    """The connection options for ``sign_in``: a person signing in uses the token cache, no app credential."""
    sign_in = sign_in or params.get("sign_in") or "client_credentials"
    method = params.get("auth_method") or "auto"
    if sign_in == "client_credentials":
        if method == "device_code":
            raise ParameterError("auth_method", "device_code signs a person in, but sign_in is client_credentials.",
                                 "Use sign_in=refresh_token or device_code, or give the app's credential.")
        return params
    if method not in ("auto", "device_code"):
        raise ParameterError("auth_method", "is %s, but sign_in=%s signs a user in without an app credential."
                             % (method, sign_in), "Leave auth_method at auto (or device_code).")
    # The delegated sign-ins read the device code token cache; a stray AZURE_CLIENT_SECRET must not count.
    return dict(params, auth_method="device_code", **dict.fromkeys(APP_CREDENTIALS))


class SmokeTestFailed(MailauthError):
    """A step of the smoke test failed; the result carries the diagnosis and what was done so far."""

    def __init__(self, found, result):
        super().__init__(diagnose.summary(found), case=found["case"], step=found["step"])
        self.diagnosis = found
        self.result = result

    def to_fail_kwargs(self):
        kwargs = super().to_fail_kwargs()
        kwargs.update(self.result)
        kwargs["diagnosis"] = self.diagnosis
        return kwargs


class SmokeTest:
    """One run: sign in, send (SMTP or Graph), optionally read back over IMAP."""

    def __init__(self, module, clients, sleep=time.sleep, clock=time.monotonic):
        self.module = module
        self.clients = clients
        self.params = module.params
        self.settings = clients.settings
        self.cloud = clients.settings.cloud
        self.sleep = sleep
        self.clock = clock
        self.transcript = Transcript(clock=clock)
        params = self.params
        self.mailbox = params["mailbox"].strip()
        self.from_address = (params.get("from_address") or self.mailbox).strip()
        self.to = [address.strip() for address in (params.get("to") or [self.mailbox])]
        self.test_id = str(uuid.uuid4())
        self.subject = params.get("subject") or "mailauth.m365 smoke test %s" % self.test_id
        self.message_id = None
        self.result = dict(sent=False, delivered=None, delivery_seconds=None, test_id=self.test_id,
                           message_id=None, subject=self.subject, transport=params["transport"], server={})
        self.sign_in = MailSignIn(params["sign_in"], self.settings, clients.session,
                                  username=params.get("username") or self.mailbox, password=params.get("password"))
        self.validate()

    # -- options ---------------------------------------------------------------------------------
    def validate(self):
        params = self.params
        if params["sign_in"] == "password" and not params.get("password"):
            raise ParameterError("password", "is required with sign_in=password.")
        if params["sign_in"] != "password" and params.get("password"):
            raise ParameterError("password", "is only used with sign_in=password.",
                                 "Remove it, or set sign_in=password.")
        if params["verify_timeout"] < 1:
            raise ParameterError("verify_timeout", "must be at least 1 second, got %d." % params["verify_timeout"])
        for option in ("mailbox", "from_address"):
            value = params.get(option)
            if value is not None and "@" not in value:
                raise ParameterError(option, "%r is not an e-mail address." % value)
        if not self.to or any("@" not in address for address in self.to):
            raise ParameterError("to", "every recipient must be an e-mail address, got %s." % self.to)
        if params["transport"] == "smtp":
            self.smtp_host, self.smtp_port = self.smtp_endpoint()
        else:
            self.check_no_smtp_options()
        if params["transport"] == "ews":
            self.ews_url = self.ews_endpoint()
        elif params.get("ews_url"):
            self.module.warn("ews_url only applies to transport=ews and was ignored: transport is %s."
                             % params["transport"])
        if params["verify_delivery"]:
            self.imap_host, self.imap_port = self.imap_endpoint()

    def check_no_smtp_options(self):
        """transport=graph sends through Graph's sendMail: say so when SMTP options are given, not ignore them silently.

        A warning, not a failure: roles pass their SMTP defaults to every smoke test, whatever its transport.
        """
        params = self.params
        given = [option for option, default in SMTP_OPTION_DEFAULTS if params.get(option) not in (None, default)]
        if given:
            self.module.warn("%s only apply to transport=smtp and were ignored: transport is %s. Remove them, or set "
                             "transport=smtp." % (", ".join(given), params["transport"]))

    def smtp_endpoint(self):
        params = self.params
        host = params.get("smtp_host") or self.cloud.smtp_host
        if not host:
            raise ParameterError("smtp_host", "is required with cloud=%s." % self.cloud.name,
                                 "Give the SMTP submission host of the tenant's cloud.")
        port = params.get("smtp_port") or (465 if params["tls"] == "implicit" else 587)
        return host, port

    def ews_endpoint(self):
        url = self.params.get("ews_url") or self.cloud.ews_url()
        if not url:
            raise ParameterError("ews_url", "is required with transport=ews and cloud=%s without exchange_endpoint."
                                 % self.cloud.name, "Give the EWS URL, e.g. https://outlook.office365.com/EWS/Exchange.asmx.")
        return normalize_url("ews_url", url)

    def imap_endpoint(self):
        params = self.params
        host = params.get("imap_host")
        if not host and self.cloud.name != "custom" and self.cloud.exchange_endpoint:
            host = urlsplit(self.cloud.exchange_endpoint).hostname
        if not host:
            raise ParameterError("imap_host", "is required for verify_delivery with cloud=%s." % self.cloud.name,
                                 "Give the IMAP host of the recipient's mailbox.")
        port = params.get("imap_port") or (993 if params["imap_tls"] == "implicit" else 143)
        return host, port

    def scopes(self, names, default, base):
        return delegated_scopes(self.cloud, names or default, base)

    # -- run ---------------------------------------------------------------------------------------
    def run(self):
        check_mode = self.module.check_mode
        if self.params["transport"] == "graph":
            self.send_graph(check_mode)
        elif self.params["transport"] == "ews":
            self.send_ews(check_mode)
        else:
            self.send_smtp(check_mode)
        if self.params["verify_delivery"] and not check_mode:
            self.verify()
        elif self.params["verify_delivery"]:
            self.transcript.note("check mode: nothing was sent, so the delivery check is skipped")
        return self.finish()

    def finish(self):
        self.result["transcript"] = self.transcript.result()
        self.result["timings"] = dict(self.transcript.timings)
        if self.sign_in.claims:
            self.result["signed_in_as"] = self.sign_in.describe()
        return self.result

    def context(self, host=None, port=None, claims=None, sign_in=None, scopes=None):
        auth = self.settings.auth
        return diagnose.Context(
            client_id=auth.client_id, tenant=auth.tenant_id, cloud=self.cloud.name,
            sign_in=(sign_in or self.sign_in).method, username=(sign_in or self.sign_in).username,
            mailbox=self.mailbox, from_address=self.from_address, scopes=scopes, host=host, port=port,
            transport=self.params["transport"], claims=self.sign_in.claims if claims is None else claims)

    def fail(self, found):
        raise SmokeTestFailed(found, self.finish())

    def get_token(self, sign_in, resource, scopes, context_args=None, step="token"):
        """A token from ``sign_in``; a refusal fails the test at ``step`` (timed as such unless ``verify``)."""
        try:
            if step == "verify":  # inside the verify step's own timing
                token = sign_in.token(resource, scopes)
            else:
                with self.transcript.timed(step):
                    token = sign_in.token(resource, scopes)
        except (AuthError, TransportError) as err:
            self.transcript.note("sign-in failed: %s" % err.message)
            self.fail(diagnose.diagnose_sign_in(err, self.context(scopes=scopes, sign_in=sign_in, **(context_args or {})),
                                                step=step))
        claims = sign_in.claims
        self.transcript.note("signed in (%s): token for %s, %s" % (
            sign_in.method, claims.get("aud", "?"),
            "scopes %s" % (claims.get("scp") or "none") if claims.get("scp") or claims.get("idtyp") == "user"
            else "roles %s" % (" ".join(claims.get("roles") or []) or "none")))
        return token

    def send_smtp(self, check_mode):
        params = self.params
        scopes = self.scopes(params.get("scopes"), ["SMTP.Send"], outlook_base(self.cloud))
        token = self.get_token(self.sign_in, "exchange", scopes)
        self.transcript.add_secret(token, "<token>")
        session = SmtpSubmission(self.smtp_host, self.smtp_port, self.transcript, tls=params["tls"],
                                 verify=self.settings.verify, timeout=self.settings.timeout)
        self.result["server"] = dict(host=self.smtp_host, port=self.smtp_port, tls=params["tls"], mechanism=None)
        context = self.context(self.smtp_host, self.smtp_port, scopes=scopes)
        try:
            session.connect()
            mechanism = session.authenticate(self.mailbox, token, params["auth_mechanism"],
                                             params["auth_initial_response"])
            self.result["server"]["mechanism"] = mechanism
            if check_mode:
                self.transcript.note("check mode: authenticated, quitting without sending")
                self.result["changed"] = True
                return
            session.send(self.from_address, self.to, self.message_bytes())
            self.sent_at = self.clock()
            self.result["sent"] = True
            self.result["message_id"] = self.message_id
        except MailProtocolError as err:
            self.result["server"]["mechanism"] = session.mechanism
            self.fail(diagnose.diagnose_protocol(err, context))
        finally:
            session.quit()

    def message_bytes(self):
        message = EmailMessage(policy=email.policy.SMTP)
        message["From"] = self.from_address
        message["To"] = ", ".join(self.to)
        message["Subject"] = self.subject
        message["Date"] = email.utils.formatdate(localtime=False, usegmt=True)
        self.message_id = email.utils.make_msgid(domain=self.from_address.rpartition("@")[2])
        message["Message-ID"] = self.message_id
        message[SMOKE_TEST_HEADER] = self.test_id
        message.set_content(self.params["body"])
        return message.as_bytes()

    def send_graph(self, check_mode):
        params = self.params
        scopes = self.scopes(params.get("scopes"), ["Mail.Send"], self.cloud.graph_resource)
        token = self.get_token(self.sign_in, "graph", scopes)
        self.transcript.add_secret(token, "<token>")
        base = self.cloud.graph_endpoint + "/v1.0"
        self.result["server"] = dict(host=self.cloud.graph_endpoint, port=None, tls="https", mechanism="Bearer")
        if check_mode:
            self.transcript.note("check mode: signed in for Microsoft Graph, not calling sendMail")
            self.result["changed"] = True
            return
        client = RestClient(base, self.clients.session, lambda force_refresh=False: token, error_class=GraphError,
                            backoff_retries=self.settings.backoff_retries,
                            backoff_max_delay=self.settings.backoff_max_delay, sleep=self.sleep)
        path = "/users/%s/sendMail" % quote(self.mailbox, safe="@")
        body = {"message": {
            "subject": self.subject,
            "body": {"contentType": "Text", "content": params["body"]},
            "toRecipients": [{"emailAddress": {"address": address}} for address in self.to],
            "internetMessageHeaders": [{"name": SMOKE_TEST_HEADER, "value": self.test_id}],
        }, "saveToSentItems": False}
        if self.from_address.lower() != self.mailbox.lower():
            body["message"]["from"] = {"emailAddress": {"address": self.from_address}}
        self.transcript.add("C", "POST %s%s (subject %r, to %s)" % (base, path, self.subject, ", ".join(self.to)))
        with self.transcript.timed("send"):
            try:
                answer = client.send("POST", path, body=body, permission="Mail.Send")
            except MailauthError as err:
                self.transcript.add("S", getattr(err, "message", str(err)))
                self.fail(diagnose.diagnose_graph(err, self.context(self.cloud.graph_endpoint)))
        request_id = " (request-id %s)" % answer.request_id if answer.request_id else ""
        self.transcript.add("S", "HTTP %d%s" % (answer.status, request_id))
        self.sent_at = self.clock()
        self.result["sent"] = True

    def send_ews(self, check_mode):
        params = self.params
        app_only = self.sign_in.method == "client_credentials"
        # The scope of Microsoft's EWS OAuth guide (and Monitor ERP's manifest): on https://outlook.office365.com.
        scopes = self.scopes(params.get("scopes"), ["EWS.AccessAsUser.All"], self.cloud.exchange_resource)
        token = self.get_token(self.sign_in, "exchange", scopes)
        self.transcript.add_secret(token, "<token>")
        self.result["server"] = dict(host=self.ews_url, port=None, tls="https", mechanism="Bearer")
        client = EwsClient(self.ews_url, self.clients.session, token, self.transcript,
                           impersonate=self.mailbox if app_only else None,
                           backoff_retries=self.settings.backoff_retries,
                           backoff_max_delay=self.settings.backoff_max_delay, sleep=self.sleep)
        context = self.context(self.ews_url, scopes=scopes)
        try:
            if check_mode:
                with self.transcript.timed("check"):
                    client.check_access()
                self.transcript.note("check mode: EWS accepted the sign-in for %s; nothing was sent" % self.mailbox)
                self.result["changed"] = True
                return
            sender = self.from_address if self.from_address.lower() != self.mailbox.lower() else None
            with self.transcript.timed("send"):
                client.send(self.subject, params["body"], self.to, from_address=sender,
                            headers=[(SMOKE_TEST_HEADER, self.test_id)])
        except EwsError as err:
            self.fail(diagnose.diagnose_ews(err, context))
        self.sent_at = self.clock()
        self.result["sent"] = True

    # -- verify ------------------------------------------------------------------------------------
    def verify(self):
        params = self.params
        mailbox = (params.get("verify_mailbox") or self.to[0]).strip()
        reader_sign_in, scopes = self.reader(mailbox)
        context_args = dict(host=self.imap_host, port=self.imap_port)
        with self.transcript.timed("verify"):
            token = self.get_token(reader_sign_in, "exchange", scopes, context_args, step="verify")
            reader = ImapReader(self.imap_host, self.imap_port, self.transcript, tls=params["imap_tls"],
                                verify=self.settings.verify, timeout=self.settings.timeout)
            context = diagnose.Context(
                client_id=reader_sign_in.settings.auth.client_id, tenant=self.settings.auth.tenant_id,
                cloud=self.cloud.name, sign_in=reader_sign_in.method, username=reader_sign_in.username,
                mailbox=mailbox, host=self.imap_host, port=self.imap_port, claims=reader_sign_in.claims)
            try:
                reader.login(mailbox, token)
                arrived = reader.wait_for(self.test_id, params["verify_timeout"], sleep=self.sleep, clock=self.clock)
            except MailProtocolError as err:
                self.result["delivered"] = False
                self.fail(diagnose.diagnose_protocol(err, context, timeout=params["verify_timeout"]))
            finally:
                reader.logout()
        self.result["delivered"] = arrived
        if not arrived:
            self.fail(diagnose.diagnose_not_delivered(context, params["verify_timeout"]))
        seconds = round(self.clock() - self.sent_at, 3)
        self.result["delivery_seconds"] = seconds
        self.transcript.note("delivered to %s after %.2f s" % (mailbox, seconds))

    def reader(self, mailbox):
        """The sign-in that reads ``mailbox``: ``verify_with``, or the sending identity with IMAP scopes."""
        other = self.params.get("verify_with")
        base = outlook_base(self.cloud)
        if not other:
            return self.sign_in_for_imap(), self.scopes(None, ["IMAP.AccessAsUser.All"], base)
        connection = dict(self.params, client_id=other.get("client_id") or self.params["client_id"],
                          client_secret=other.get("client_secret"),
                          client_certificate_path=other.get("client_certificate_path"),
                          client_certificate_password=other.get("client_certificate_password"),
                          federated_token_file=None, auth_method="auto")
        try:
            settings = settings_from_params(connection_params(connection, other["sign_in"]))
        except ParameterError as err:
            raise ParameterError("verify_with." + err.parameter, err.message.partition(": ")[2]) from None
        if other["sign_in"] == "password" and not other.get("password"):
            raise ParameterError("verify_with.password", "is required with verify_with.sign_in=password.")
        sign_in = MailSignIn(other["sign_in"], settings, self.clients.session,
                             username=other.get("username") or mailbox, password=other.get("password"))
        return sign_in, self.scopes(other.get("scopes"), ["IMAP.AccessAsUser.All"], base)

    def sign_in_for_imap(self):
        if self.sign_in.method == "client_credentials":
            return self.sign_in  # the same app-only token serves SMTP and IMAP (IMAP.AccessAsApp)
        return MailSignIn(self.sign_in.method, self.settings, self.clients.session,
                          username=self.sign_in.username, password=self.sign_in.password)


def run(module, clients):
    test = SmokeTest(module, clients)
    result = test.run()
    changed = bool(result.pop("changed", False) or result["sent"])
    return changed, result, None


def main():
    run_module(run, ARGUMENT_SPEC, supports_check_mode=True, connection_params=connection_params)


if __name__ == "__main__":
    main()
