# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Why a mail smoke test failed and what to do: the failing step, the exact answer, cause and remedy.

``CASES`` is the table: one entry per known failure (Entra sign-in codes of FACTS.md section 6,
Exchange Online's SMTP answers of section 5, Graph ``sendMail`` errors, EWS answers, IMAP read-back). The
classifiers pick the case from the service's code first; where one answer has several causes (Exchange
answers ``535 5.7.3`` for all of them), the claims of the token that was presented narrow it down.
The claims are read, never the token. Private to the collection: the interface may change in any release.
"""

from __future__ import annotations

import re
import time
from collections import namedtuple

from ansible_collections.mailauth.m365.plugins.module_utils._errors import (
    AADSTS_REMEDIES,
    AmbiguousWriteError,
    AuthError,
    GaveUpError,
    ServiceError,
    TransportError,
)

Case = namedtuple("Case", "cause remedy")

# Audiences Exchange Online accepts for SMTP/IMAP/POP tokens (FACTS.md section 1).
EXCHANGE_AUDIENCES = ("https://outlook.office.com", "https://outlook.office365.com", "00000002-0000-0ff1-ce00-000000000000",
                      "https://outlook.office365.us", "https://outlook-dod.office365.us", "https://partner.outlook.cn")

CASES = {
    # -- sign-in (Entra) ------------------------------------------------------------------------
    "secret_expired": Case(
        "The client secret of app {client_id} has expired, so Entra issues no token (the failure of seeds 002 and 003).",
        "Rotate it: add a new secret with mailauth.m365.app_secret (rotate_before_days), store its value in the "
        "product, run this test again, then remove the old secret."),
    "secret_wrong": Case(
        "The client secret given for app {client_id} is not one of its secrets; often the secret's ID was stored "
        "instead of its value.",
        "Store the secret's value (mailauth.m365.app_secret returns it once, when it is created), or issue a new secret."),
    "consent_missing": Case(
        "Nobody has consented to the permissions app {client_id} asks for ({scopes}).",
        "Grant admin consent with mailauth.m365.admin_consent (delegated SMTP.Send for a user sign-in, the application "
        "permission SMTP.SendAsApp or Mail.Send for app-only)."),
    "app_not_found": Case(
        "Entra knows no application {client_id} in tenant {tenant}.",
        "Check tenant_id and client_id (the application (client) ID, not the object ID); make sure the app has a "
        "service principal in the tenant (mailauth.m365.service_principal); right after creating it, wait a minute "
        "for replication and run the test again."),
    "service_principal_missing": Case(
        "App {client_id} has no service principal (enterprise application) in tenant {tenant}.",
        "Create it with mailauth.m365.service_principal."),
    "tenant_not_found": Case(
        "Tenant {tenant} was not found in the {cloud} cloud.",
        "Fix tenant_id (directory ID or a verified domain), or set cloud to the cloud the tenant lives in."),
    "mfa_required": Case(
        "User {username} must use multi-factor authentication, which a password sign-in (ROPC) cannot do (the "
        "limitation seed 001 warns about).",
        "Switch the product to an interactive sign-in with a refresh token (sign_in=device_code then refresh_token "
        "here), or to app-only sending (SMTP.SendAsApp). Exempting the account from MFA weakens the tenant."),
    "public_client_disabled": Case(
        "App {client_id} does not allow public client flows, which password, device code and refresh token "
        "sign-ins without a secret need.",
        "Set allow_public_client_flows=true with mailauth.m365.app_registration (\"Allow public client flows\")."),
    "password_wrong": Case(
        "The user name or password of {username} is wrong.",
        "Fix the credentials; better, move the product off passwords (device code or app-only)."),
    "blocked_by_policy": Case(
        "Conditional Access or security defaults blocked the sign-in of {identity}.",
        "Exclude this app or account from the policy, or use app-only sending; security defaults block legacy "
        "protocols such as SMTP AUTH with a user."),
    "resource_not_found": Case(
        "The tenant has no resource for the requested scope ({scopes}): no Exchange Online, or a misspelt scope.",
        "Check the tenant's Exchange Online licence and the scope (https://outlook.office.com/SMTP.Send)."),
    "refresh_token_expired": Case(
        "The cached refresh token of {username} is expired or revoked (90 days without use end it, as the Sage 100 "
        "guide says).",
        "Sign in again with mailauth.m365.device_code_login for client {client_id} and the same token_cache_path."),
    "not_signed_in": Case(
        "The token cache holds no usable sign-in for client {client_id}.",
        "Sign in first with mailauth.m365.device_code_login (client_id {client_id}, scopes {scopes}) and give this "
        "task the same tenant_id, client_id and token_cache_path."),
    "user_not_assigned": Case(
        "The enterprise application {client_id} requires assignment and {username} is not assigned (enaio step 6).",
        "Assign the user (or a group) with mailauth.m365.service_principal, or turn assignment required off."),
    "certificate_rejected": Case(
        "Entra rejected the certificate credential of app {client_id}: it is not registered on the app, or has expired.",
        "Add the certificate with mailauth.m365.app_certificate and check its dates."),
    "sign_in_failed": Case(
        "Entra refused the sign-in.",
        "{aadsts_remedy}"),
    # -- SMTP -----------------------------------------------------------------------------------
    "smtp_unreachable": Case(
        "No SMTP conversation with {host}:{port} was possible: {detail}.",
        "Check smtp_host and smtp_port (smtp.office365.com 587 with STARTTLS, or 465 with tls=implicit), and that "
        "outbound connections to that port are allowed."),
    "tls_untrusted": Case(
        "The certificate of {host} is not trusted: {detail}.",
        "Set ca_bundle to the CA that signed the server's certificate (or check the host name)."),
    "starttls_missing": Case(
        "{host}:{port} does not offer STARTTLS, so the token would travel in clear text.",
        "Use port 587 with tls=starttls, or port 465 with tls=implicit."),
    "no_oauth_mechanism": Case(
        "{host} offers no OAuth SASL mechanism (XOAUTH2 or OAUTHBEARER) after EHLO.",
        "Point smtp_host at the OAuth-capable submission endpoint (smtp.office365.com for Exchange Online)."),
    "auth_line_too_long": Case(
        "The server limits the AUTH command line (Dovecot to about 1 KB) and the token did not fit on it.",
        "Leave auth_initial_response at auto, so the token is sent on its own line after the server's 334."),
    "smtp_auth_disabled_tenant": Case(
        "SMTP AUTH (\"Authenticated SMTP\") is disabled for the whole organization.",
        "Enable it for the mailbox {mailbox} with mailauth.m365.exchange_smtp_auth (enabled: true; a mailbox setting "
        "overrides the tenant's), or for the whole tenant with its tenant_enabled option (Set-TransportConfig "
        "-SmtpClientAuthenticationDisabled $false)."),
    "smtp_auth_disabled_mailbox": Case(
        "SMTP AUTH (\"Authenticated SMTP\" under Manage email apps) is disabled for the mailbox {mailbox}.",
        "Enable it with mailauth.m365.exchange_smtp_auth for {mailbox} (mailboxes: [{mailbox}], enabled: true; "
        "Set-CASMailbox -SmtpClientAuthenticationDisabled $false)."),
    "security_defaults": Case(
        "The user is locked out of SMTP AUTH by the tenant's security defaults.",
        "Replace security defaults by Conditional Access policies that allow this sign-in, or send app-only."),
    "wrong_audience": Case(
        "The token is for {audience}, not for Exchange Online: a Microsoft Graph token was sent to SMTP/IMAP, which "
        "refuses it.",
        "Ask for the Outlook scope: https://outlook.office.com/SMTP.Send (delegated) or "
        "https://outlook.office365.com/.default (app-only)."),
    "token_expired": Case(
        "The token presented had expired ({expired}).",
        "Get a fresh token before sending; a product must refresh tokens before they expire."),
    "app_role_missing": Case(
        "The app-only token of {client_id} carries no SMTP.SendAsApp role: admin consent for the Exchange Online "
        "application permission is missing.",
        "Grant SMTP.SendAsApp of Office 365 Exchange Online with mailauth.m365.admin_consent."),
    "exchange_principal_or_access": Case(
        "Exchange Online refused the app-only token of {client_id} for {mailbox}. The token itself is right "
        "(audience {audience}, role SMTP.SendAsApp), so Exchange does not connect the app to the mailbox: either it "
        "has no Exchange service principal for the app (New-ServicePrincipal missing, or made with the app "
        "registration's object ID instead of the enterprise application's), or the app lacks FullAccess on {mailbox}.",
        "Run mailauth.m365.exchange_service_principal for app {client_id} (it registers the enterprise "
        "application's object ID, and replaces a registration made with the app registration's object ID), then "
        "mailauth.m365.exchange_mailbox_permission with access_rights [FullAccess] on {mailbox}. Changes can take "
        "a few minutes to apply."),
    "delegated_scope_missing": Case(
        "The delegated token carries no {needed} permission (it has: {scopes}).",
        "Add {needed} to the app's API permissions and grant consent (mailauth.m365.app_registration, "
        "mailauth.m365.admin_consent), then sign in again."),
    "user_mismatch": Case(
        "user={mailbox} is not the signed-in user {username}: a delegated token only opens the user's own mailbox or "
        "one the user has FullAccess to.",
        "Set mailbox to {username}, or give {username} FullAccess on {mailbox} with "
        "mailauth.m365.exchange_mailbox_permission."),
    "delegated_rejected": Case(
        "Exchange Online refused the delegated token of {username} for {mailbox}: the user may have no licensed "
        "mailbox, or the mailbox is not the user's.",
        "Check that {username} has an Exchange Online mailbox and that mailbox names it; then run the test again."),
    "token_rejected": Case(
        "The server rejected the token{challenge} without saying why.",
        "Check the token's audience, expiry and user against what the server expects."),
    "send_as_denied": Case(
        "{identity} may not send as {from_address}.",
        "Give {identity} SendAs on {from_address} with mailauth.m365.exchange_mailbox_permission (access_rights "
        "[SendAs]; Add-RecipientPermission, \"Send as\" in the admin center, enaio step 3), or send from {mailbox} "
        "itself."),
    "basic_auth": Case(
        "The server saw a basic (password) authentication, which Exchange Online no longer accepts for client "
        "submission.",
        "Configure the product for OAuth 2.0 (XOAUTH2); this module only sends tokens."),
    "not_authenticated": Case(
        "The server did not consider the session authenticated when mail was submitted.",
        "Authenticate before MAIL FROM; if this follows a successful AUTH, report the transcript."),
    "recipient_rejected": Case(
        "The server refused the recipient: {detail}.",
        "Check the addresses in to."),
    "smtp_temporary": Case(
        "The server reported a temporary failure during {step}.",
        "Run the test again in a few minutes; if it persists, look at the server's status."),
    "smtp_refused": Case(
        "The server refused {step}.",
        "See the answer; it comes from the server unchanged."),
    # -- Graph sendMail -------------------------------------------------------------------------
    "graph_access_denied": Case(
        "Microsoft Graph refused sendMail of {mailbox} for {identity}: the Mail.Send permission is not consented, "
        "or an Exchange RBAC scope / application access policy excludes this mailbox.",
        "Grant Mail.Send with mailauth.m365.admin_consent; if it is granted, include {mailbox} in the app's "
        "management scope (mailauth.m365.exchange_app_rbac)."),
    "graph_mailbox_not_found": Case(
        "Microsoft Graph has no mailbox {mailbox}: the user does not exist or has no Exchange Online licence.",
        "Fix mailbox, or licence the user for Exchange Online."),
    "graph_bad_request": Case(
        "Microsoft Graph refused the message.",
        "See the answer; check the addresses in to and from_address."),
    "graph_unauthorized": Case(
        "Microsoft Graph refused the token (audience {audience}).",
        "Sign in for Microsoft Graph (https://graph.microsoft.com/.default app-only, Mail.Send delegated)."),
    "send_unknown": Case(
        "The connection broke while the message was being handed over: it may or may not have been sent.",
        "Look in the recipient's mailbox (verify_delivery) before sending again."),
    "throttled": Case(
        "The service kept throttling the requests.",
        "Run the test later, or raise backoff_retries."),
    "service_unreachable": Case(
        "The service could not be reached: {detail}.",
        "Check the endpoint, the network path and ca_bundle."),
    # -- Exchange Web Services (Monitor ERP) -----------------------------------------------------
    "ews_wrong_audience": Case(
        "The token is for {audience}, not for Exchange Online: EWS refuses it (a Microsoft Graph token sent to EWS).",
        "Ask for https://outlook.office365.com/EWS.AccessAsUser.All (delegated, as the Monitor ERP guide does) or "
        "https://outlook.office365.com/.default (app-only, with full_access_as_app)."),
    "ews_unauthorized": Case(
        "EWS did not accept the token.",
        "See the answer's x-ms-diagnostics; get a new token for https://outlook.office365.com and run the test again."),
    "ews_scope_missing": Case(
        "The delegated token of {username} carries no EWS.AccessAsUser.All (it has: {scopes}), so EWS answers "
        "\"not enough scope\".",
        "Add the delegated permission EWS.AccessAsUser.All of Office 365 Exchange Online to app {client_id} "
        "(mailauth.m365.app_registration, api_permissions; the monitor_erp profile has it) and grant admin consent "
        "with mailauth.m365.admin_consent, then sign in again."),
    "ews_app_role_missing": Case(
        "The app-only token of {client_id} carries no full_access_as_app role, which app-only EWS needs.",
        "Grant full_access_as_app of Office 365 Exchange Online with mailauth.m365.admin_consent, or sign in as the "
        "user the product signs in as (sign_in=password for Monitor ERP)."),
    "ews_not_allowed": Case(
        "Exchange Online blocks EWS for app {client_id}: since 2026-10-01 only applications on the tenant's EWS "
        "application allow list (EwsAllowedAppIDs) may use EWS.",
        "Put the app on the list with mailauth.m365.exchange_ews_allow_list (app_ids.add: [{client_id}]); the "
        "tenant_mail_app role does it for profiles with exchange.ews_allow_list (monitor_erp). A change can take up "
        "to 24 hours to apply. The list only helps until 2027-04-01, when EWS ends for every tenant: move the product "
        "to Microsoft Graph or SMTP before then."),
    "ews_retired": Case(
        "Exchange Web Services is switched off in Exchange Online for every tenant since 2027-04-01.",
        "No setting brings it back: move the product to Microsoft Graph (Mail.Send) or SMTP AUTH (SMTP.Send) and "
        "change its profile's transport."),
    "ews_disabled": Case(
        "EWS is switched off by the tenant: for the organization, for the mailbox {mailbox}, or by the EWS user-agent "
        "policy (EwsApplicationAccessPolicy).",
        "Turn it on with mailauth.m365.exchange_ews_allow_list (ews_enabled: true) for the organization, "
        "Set-CASMailbox {mailbox} -EwsEnabled $true for the mailbox, or allow the product's user agent "
        "(Set-OrganizationConfig -EwsAllowList)."),
    "ews_mailbox_not_found": Case(
        "Exchange Online has no mailbox for {mailbox}: the user has no Exchange Online licence, or the address is "
        "wrong.",
        "Licence {mailbox} for Exchange Online (or fix mailbox); Monitor ERP sends from the mailbox of the user it "
        "signs in as."),
    "ews_access_denied": Case(
        "EWS refused {identity} access to the mailbox {mailbox}.",
        "A delegated sign-in sends from the user's own mailbox: set mailbox to the signed-in user. App-only needs "
        "full_access_as_app and a mailbox the application access policies allow."),
    "ews_refused": Case(
        "EWS refused {step}.",
        "See the answer; it comes from Exchange unchanged."),
    # -- verify (IMAP) --------------------------------------------------------------------------
    "imap_auth_failed": Case(
        "The IMAP sign-in to {mailbox} for the delivery check failed.",
        "Give verify_with credentials that may read {mailbox}: a delegated token with IMAP.AccessAsUser.All of that "
        "user, or an app with IMAP.AccessAsApp, an Exchange service principal and FullAccess on {mailbox}; IMAP must "
        "be enabled for the mailbox."),
    "not_delivered": Case(
        "The server accepted the message, but it did not arrive in the INBOX of {mailbox} within {timeout} seconds.",
        "Look in the Junk folder and the message trace; check mail flow rules and the recipient address, or raise "
        "verify_timeout."),
    "imap_unreachable": Case(
        "No IMAP conversation with {host}:{port} was possible: {detail}.",
        "Check imap_host, imap_port and imap_tls (outlook.office365.com 993 with implicit TLS)."),
}


class _Fields(dict):
    """``str.format_map`` fields: an unknown field shows as ``?`` rather than failing."""

    def __missing__(self, key):
        return "?"


class Context:
    """What the smoke test knows when it fails: who signed in how, where it sent, the token's claims."""

    def __init__(self, client_id=None, tenant=None, cloud=None, sign_in=None, username=None, mailbox=None,
                 from_address=None, scopes=None, host=None, port=None, transport="smtp", claims=None, now=None):
        self.client_id = client_id
        self.tenant = tenant
        self.cloud = cloud
        self.sign_in = sign_in
        self.username = username
        self.mailbox = mailbox
        self.from_address = from_address or mailbox
        self.scopes = list(scopes or [])
        self.host = host
        self.port = port
        self.transport = transport
        self.claims = dict(claims or {})
        self.now = now if now is not None else time.time()

    @property
    def app_only(self):
        if self.claims:
            return not self.claims.get("scp") and self.claims.get("idtyp") != "user"
        return self.sign_in == "client_credentials"

    @property
    def token_user(self):
        return self.claims.get("upn") or self.claims.get("unique_name") or self.claims.get("preferred_username")

    def fields(self, **extra):
        identity = self.token_user or self.username or (self.client_id and "app %s" % self.client_id)
        fields = _Fields(
            client_id=self.client_id, tenant=self.tenant, cloud=self.cloud, username=self.token_user or self.username,
            mailbox=self.mailbox, from_address=self.from_address, scopes=" ".join(self.scopes) or "?",
            host=self.host, port=self.port, identity=identity, audience=self.claims.get("aud", "?"))
        fields.update({key: value for key, value in extra.items() if value is not None})
        return fields


def diagnosis(case, step, answer, context, **extra):
    """The ``diagnosis`` result of ``case``: step, answer, cause, remedy (and the case's name)."""
    entry = CASES[case]
    fields = context.fields(step=step, **extra)
    return dict(step=step, case=case, answer=answer, cause=entry.cause.format_map(fields),
                remedy=entry.remedy.format_map(fields))


# -- sign-in ------------------------------------------------------------------------------------
SIGN_IN_CODES = {
    7000222: "secret_expired",
    7000215: "secret_wrong",
    65001: "consent_missing",
    700016: "app_not_found",
    7000229: "service_principal_missing",
    90002: "tenant_not_found",
    900023: "tenant_not_found",
    50076: "mfa_required",
    50079: "mfa_required",
    7000218: "public_client_disabled",
    50126: "password_wrong",
    50034: "password_wrong",
    53003: "blocked_by_policy",
    530035: "blocked_by_policy",
    500011: "resource_not_found",
    700082: "refresh_token_expired",
    70008: "refresh_token_expired",
    50105: "user_not_assigned",
    700027: "certificate_rejected",
    50013: "certificate_rejected",
}


def diagnose_sign_in(error, context, step="token"):
    """Diagnosis of an ``AuthError`` (Entra's codes) or a failure to reach the identity platform."""
    if isinstance(error, TransportError):
        return diagnosis("service_unreachable", step, error.message, context, detail=error.message)
    codes = list(getattr(error, "error_codes", None) or [])
    answer = _entra_answer(error)
    for code in codes:
        if code in SIGN_IN_CODES:
            return diagnosis(SIGN_IN_CODES[code], step, answer, context)
    if isinstance(error, AuthError) and not codes and "device code login" in error.message:
        return diagnosis("not_signed_in", step, answer, context)
    remedy = next((AADSTS_REMEDIES[code] for code in codes if code in AADSTS_REMEDIES),
                  getattr(error, "remedy", None) or "See the answer.")
    return diagnosis("sign_in_failed", step, answer, context, aadsts_remedy=remedy)


def _entra_answer(error):
    """``AADSTS7000222 (invalid_client): The provided client secret keys ... are expired`` from the error."""
    message = getattr(error, "message", None) or str(error)
    codes = getattr(error, "error_codes", None) or []
    description = getattr(error, "description", None)
    if description is None:
        # AuthError keeps Entra's first description line after " - " in its message.
        match = re.search(r" - (AADSTS\d+:.*?)(?:\. Remedy:|$| \(trace id)", message)
        description = match.group(1) if match else None
    parts = []
    if codes:
        parts.append(" ".join("AADSTS%s" % code for code in codes))
    if getattr(error, "error", None):
        parts.append("(%s)" % error.error)
    text = " ".join(parts)
    if description:
        text = "%s: %s" % (text, description) if text else description
    return text or message


# -- SMTP and IMAP ------------------------------------------------------------------------------
ENHANCED = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")


def diagnose_protocol(error, context, timeout=None):
    """Diagnosis of a ``MailProtocolError`` at connect, starttls, auth, send or verify."""
    step = error.step
    answer = error.answer
    text = error.text or ""
    lowered = text.lower()
    enhanced = (ENHANCED.search(text) or ENHANCED.search(answer) or [None, None])[1] if text else None
    if step == "verify":
        return _diagnose_imap(error, context, answer, timeout)
    if error.transport:
        if "certificate verification failed" in lowered:
            return diagnosis("tls_untrusted", step, answer, context, detail=text)
        return diagnosis("smtp_unreachable", step, answer, context, detail=text)
    if step == "starttls" and error.code is None:
        return diagnosis("starttls_missing", step, answer, context)
    if step == "auth" and error.code is None:
        return diagnosis("no_oauth_mechanism", step, answer, context)
    if enhanced == "5.7.139" or "smtpclientauthentication is disabled" in lowered:
        if "tenant" in lowered:
            return diagnosis("smtp_auth_disabled_tenant", step, answer, context)
        if "security defaults" in lowered:
            return diagnosis("security_defaults", step, answer, context)
        return diagnosis("smtp_auth_disabled_mailbox", step, answer, context)
    if enhanced == "5.7.30" or "basic authentication is not supported" in lowered:
        return diagnosis("basic_auth", step, answer, context)
    if enhanced in ("5.7.60", "5.2.252") or "sendasdenied" in lowered.replace(" ", "") \
            or "send as this sender" in lowered:
        return diagnosis("send_as_denied", step, answer, context)
    if enhanced == "5.7.57" or error.code == 530:
        return diagnosis("not_authenticated", step, answer, context)
    if step == "auth" and error.code in (500, 501) and ("too long" in lowered or "line" in lowered):
        return diagnosis("auth_line_too_long", step, answer, context)
    if step == "auth" and (error.code == 535 or error.challenge is not None):
        return _diagnose_rejected_token(step, answer, context, error.challenge, "SMTP.Send", "SMTP.SendAsApp")
    if step == "send" and error.command and error.command.startswith("RCPT") and error.code and error.code >= 500:
        return diagnosis("recipient_rejected", step, answer, context, detail=answer)
    if error.code and 400 <= error.code < 500:
        return diagnosis("smtp_temporary", step, answer, context)
    return diagnosis("smtp_refused", step, answer, context)


def _diagnose_rejected_token(step, answer, context, challenge, delegated_permission, app_permission):
    """A token the server refused: what is wrong with it, as far as its claims tell."""
    claims = context.claims
    audience = (claims.get("aud") or "").rstrip("/")
    if audience and audience.lower() not in [value.lower() for value in EXCHANGE_AUDIENCES]:
        return diagnosis("wrong_audience", step, answer, context)
    expires = claims.get("exp")
    if isinstance(expires, (int, float)) and expires < context.now:
        return diagnosis("token_expired", step, answer, context,
                         expired=time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(expires)))
    if claims and context.app_only:
        if app_permission not in (claims.get("roles") or []):
            return diagnosis("app_role_missing", step, answer, context)
        return diagnosis("exchange_principal_or_access", step, answer, context)
    if claims:
        scopes = (claims.get("scp") or "").split()
        if delegated_permission not in scopes:
            return diagnosis("delegated_scope_missing", step, answer, context, needed=delegated_permission,
                             scopes=" ".join(scopes) or "none")
        user = context.token_user
        if user and context.mailbox and user.lower() != context.mailbox.lower():
            return diagnosis("user_mismatch", step, answer, context)
        return diagnosis("delegated_rejected", step, answer, context)
    shown = " (error challenge %s)" % _challenge_text(challenge) if challenge else ""
    return diagnosis("token_rejected", step, answer, context, challenge=shown)


def _challenge_text(challenge):
    return ", ".join("%s=%s" % (key, challenge[key]) for key in sorted(challenge))


def _diagnose_imap(error, context, answer, timeout):
    if error.transport:
        if "certificate verification failed" in (error.text or "").lower():
            return diagnosis("tls_untrusted", "verify", answer, context, detail=error.text)
        return diagnosis("imap_unreachable", "verify", answer, context, detail=error.text)
    if error.command and error.command.startswith("AUTHENTICATE"):
        found = _diagnose_rejected_token("verify", answer, context, error.challenge,
                                         "IMAP.AccessAsUser.All", "IMAP.AccessAsApp")
        if found["case"] in ("exchange_principal_or_access", "delegated_rejected", "token_rejected"):
            return diagnosis("imap_auth_failed", "verify", answer, context)
        return found
    return diagnosis("not_delivered", "verify", answer, context, timeout=timeout)


def diagnose_not_delivered(context, timeout):
    return diagnosis("not_delivered", "verify", "no message with the test id in INBOX after %d seconds" % timeout,
                     context, timeout=timeout)


# -- Graph --------------------------------------------------------------------------------------
def diagnose_graph(error, context, step="send"):
    """Diagnosis of a failed Graph ``sendMail``."""
    if isinstance(error, AmbiguousWriteError):
        return diagnosis("send_unknown", step, error.message, context)
    if isinstance(error, GaveUpError):
        return diagnosis("throttled", step, error.message, context)
    if isinstance(error, TransportError):
        return diagnosis("service_unreachable", step, error.message, context, detail=error.message)
    if not isinstance(error, ServiceError):
        return diagnosis("graph_bad_request", step, str(error), context)
    answer = "HTTP %s %s: %s" % (error.status, error.code or "", error.service_message or "")
    if error.request_id:
        answer += " (request-id %s)" % error.request_id
    code = (error.code or "").lower()
    if error.status == 401:
        claims_audience = (context.claims.get("aud") or "").rstrip("/")
        if claims_audience and "graph" not in claims_audience and "00000003-0000-0000-c000-000000000000" not in claims_audience:
            return diagnosis("graph_unauthorized", step, answer, context)
        expires = context.claims.get("exp")
        if isinstance(expires, (int, float)) and expires < context.now:
            return diagnosis("token_expired", step, answer, context,
                             expired=time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(expires)))
        return diagnosis("graph_unauthorized", step, answer, context)
    if "sendas" in code:
        return diagnosis("send_as_denied", step, answer, context)
    if error.status == 403:
        return diagnosis("graph_access_denied", step, answer, context)
    if error.status == 404 or code in ("errorinvaliduser", "mailboxnotenabledforrestapi",
                                       "resourcenotfound", "request_resourcenotfound"):
        return diagnosis("graph_mailbox_not_found", step, answer, context)
    return diagnosis("graph_bad_request", step, answer, context)


# -- Exchange Web Services ------------------------------------------------------------------------
EWS_RETIRED = 1806537600  # 2027-04-01T00:00:00Z (FACTS.md section 4)
EWS_CODES = {
    "errorsendasdenied": "send_as_denied",
    "errornonexistentmailbox": "ews_mailbox_not_found",
    "erroraccessdenied": "ews_access_denied",
    "errorimpersonateuserdenied": "ews_access_denied",
    "errorinvalidexchangeimpersonationheaderdata": "ews_access_denied",
    "errorserverbusy": "throttled",
}


def diagnose_ews(error, context):
    """Diagnosis of an ``EwsError`` (``_ews.py``) at ``check`` or ``send``."""
    step, answer = error.step, error.answer
    if error.transport:
        if error.ambiguous:
            return diagnosis("send_unknown", step, answer, context)
        if "certificate verify failed" in error.message.lower():
            return diagnosis("tls_untrusted", step, answer, context, detail=error.message)
        return diagnosis("service_unreachable", step, answer, context, detail=error.message)
    code = (error.code or "").lower()
    if code == "errorinvalidrecipients":
        return diagnosis("recipient_rejected", step, answer, context, detail=error.message)
    if code in EWS_CODES:
        return diagnosis(EWS_CODES[code], step, answer, context)
    if code:
        return diagnosis("ews_refused", step, answer, context)
    reason = (error.diagnostics or error.message or "").lower()
    claims = context.claims
    if error.status == 401:
        audience = (claims.get("aud") or "").rstrip("/")
        if reason.startswith("2000003") or "audience" in reason or (
                audience and audience.lower() not in [value.lower() for value in EXCHANGE_AUDIENCES]):
            return diagnosis("ews_wrong_audience", step, answer, context)
        expires = claims.get("exp")
        if "expired" in reason or (isinstance(expires, (int, float)) and expires < context.now):
            return diagnosis("token_expired", step, answer, context,
                             expired=time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(expires)) if expires else "?")
        return diagnosis("ews_unauthorized", step, answer, context)
    if error.status == 403:
        if "scope" in reason:
            if context.app_only:
                return diagnosis("ews_app_role_missing", step, answer, context)
            return diagnosis("ews_scope_missing", step, answer, context,
                             scopes=" ".join((claims.get("scp") or "").split()) or "none")
        if "retired" in reason or context.now >= EWS_RETIRED:
            return diagnosis("ews_retired", step, answer, context)
        if "ewsenabled" in reason or "user agent" in reason or "disabled" in reason:
            return diagnosis("ews_disabled", step, answer, context)
        # Otherwise, since 2026-10-01 a 403 from EWS is most likely the allow list.
        return diagnosis("ews_not_allowed", step, answer, context)
    if error.status in (429, 503):
        return diagnosis("throttled", step, answer, context)
    return diagnosis("ews_refused", step, answer, context)


def summary(found):
    """One line for ``msg``: ``Mail smoke test failed at auth: 535 5.7.3 ... Cause: ... Remedy: ...``."""
    return "Mail smoke test failed at %s: %s. Cause: %s Remedy: %s" % (
        found["step"], found["answer"].rstrip("."), found["cause"], found["remedy"])
