# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Exchange Online cmdlets over the admin REST endpoint the ExchangeOnlineManagement module uses.

``POST {exchange_endpoint}/adminapi/beta/{tenant GUID}/InvokeCommand`` with
``{"CmdletInput": {"CmdletName": ..., "Parameters": {...}}}`` (FACTS.md section 4). Answers carry the
cmdlet's objects with their PowerShell property names in ``value``, more pages behind ``@odata.nextLink``
(fetched with the same POST body) and warnings in ``@adminapi.warnings``.

Reads (``Get-*``, ``Test-*``) are retried like any idempotent request; a write whose fate is unknown is
never sent again blindly: ``write()`` reads back with the matching ``Get-`` cmdlet first.
Private to the collection: the interface may change in any release.
"""

from __future__ import annotations

import re

from ansible_collections.mailauth.m365.plugins.module_utils._errors import (
    AmbiguousWriteError,
    ExchangeError,
    MailauthError,
    ParameterError,
)
from ansible_collections.mailauth.m365.plugins.module_utils._http import AMBIGUOUS_WRITE_RESENDS, backoff_delay

# The arbitration mailbox Exchange routes app-only admin requests to; the tenant GUID follows the @.
ANCHOR_MAILBOX = "APP:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@%s"
PAGE_SIZE = "odata.maxpagesize=1000"
READ_VERBS = frozenset(("Get", "Test"))
# Exchange's text when a tenant runs too many cmdlets at once; it may come without a 429.
CONCURRENCY_LIMIT_TEXT = "maximum number of concurrent requests"
NOT_FOUND_EXCEPTION = "ManagementObjectNotFoundException"
_NOT_FOUND_OBJECT = re.compile(r"object '(.*?)' couldn't be found", re.IGNORECASE)
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


def exchange_base_url(endpoint, tenant_guid):
    return "%s/adminapi/beta/%s" % (endpoint.rstrip("/"), tenant_guid)


def exchange_headers(tenant_guid):
    """The headers every InvokeCommand request carries besides the token."""
    return {"X-AnchorMailbox": ANCHOR_MAILBOX % tenant_guid, "Prefer": PAGE_SIZE}


def tenant_guid(tenant_id, claims):
    """The tenant GUID Exchange wants in the URL and anchor: ``tenant_id`` itself, or for a domain the
    ``tid`` claim of the Exchange token (``claims()`` is only called then)."""
    if _GUID.match(tenant_id):
        return tenant_id.lower()
    tid = (claims() or {}).get("tid")
    if not tid or not _GUID.match(tid):
        raise ParameterError("tenant_id", "%s is a domain and the Exchange token names no tenant GUID." % tenant_id,
                             "Give the directory (tenant) ID instead of a domain name.")
    return tid.lower()


def is_read(cmdlet):
    """Whether ``cmdlet`` only reads (Get-*, Test-*), so that sending it twice is harmless."""
    return cmdlet.split("-", 1)[0].capitalize() in READ_VERBS


def is_not_found(error):
    """True when Exchange said an object named in the cmdlet does not exist."""
    if not isinstance(error, ExchangeError):
        return False
    return (error.exception_type == NOT_FOUND_EXCEPTION
            or bool(_NOT_FOUND_OBJECT.search(error.service_message or "")))


def missing_object(error):
    """The name of the object a not-found error says is missing ('x' of "object 'x' couldn't be found"), or None."""
    match = _NOT_FOUND_OBJECT.search(getattr(error, "service_message", None) or "")
    return match.group(1) if match else None


class CmdletResult(list):
    """The rows a cmdlet returned, all pages together; ``warnings`` are those Exchange sent with them."""

    def __init__(self, rows=(), warnings=()):
        super().__init__(rows)
        self.warnings = list(warnings)


class ExchangeClient:
    """Runs cmdlets for one tenant through a ``RestClient`` on ``.../adminapi/beta/{tenant}``.

    ``warnings`` collects every ``@adminapi.warnings`` of the run, for the module to pass on.
    """

    def __init__(self, rest, tenant_id):
        self.rest = rest
        self.tenant_id = tenant_id
        self.warnings = []

    @property
    def request_count(self):
        return self.rest.request_count

    def invoke(self, cmdlet, **parameters):
        """Run ``cmdlet`` with ``parameters`` (PowerShell names; None is sent as $null); return a ``CmdletResult``.

        Every ``@odata.nextLink`` page is fetched with the same body. Raises ``ExchangeError`` naming the
        cmdlet, or ``AmbiguousWriteError`` when a write got no answer.
        """
        body = {"CmdletInput": {"CmdletName": cmdlet, "Parameters": parameters}}
        result = CmdletResult()
        seen = set()
        url = "InvokeCommand"
        while url:
            page = self._post(cmdlet, url, body) or {}
            rows = page.get("value")
            if isinstance(rows, dict):
                rows = [rows]
            result.extend(rows or [])
            result.warnings.extend(str(warning) for warning in page.get("@adminapi.warnings") or [])
            url = page.get("@odata.nextLink")
            if url in seen:
                raise MailauthError("Exchange Online returned the same @odata.nextLink twice for %s: %s"
                                    % (cmdlet, url), url=url, cmdlet=cmdlet)
            seen.add(url)
        self.warnings.extend(result.warnings)
        return result

    def invoke_optional(self, cmdlet, **parameters):
        """``invoke`` for a read by ``Identity``: an empty result instead of a not-found error."""
        try:
            return self.invoke(cmdlet, **parameters)
        except ExchangeError as err:
            if is_not_found(err):
                return CmdletResult()
            raise

    def write(self, cmdlet, applied, **parameters):
        """Run the write ``cmdlet`` so that it takes effect once.

        When the request got no answer (connection lost, gateway timeout), ``applied()`` reads back with the
        matching ``Get-`` cmdlet: True means the write happened and is not sent again, else it is re-sent
        (up to ``AMBIGUOUS_WRITE_RESENDS`` times). Returns the ``CmdletResult`` (empty when the read-back showed it applied).
        """
        resends = 0
        while True:
            try:
                return self.invoke(cmdlet, **parameters)
            except AmbiguousWriteError:
                if resends >= AMBIGUOUS_WRITE_RESENDS:
                    raise
                if applied():
                    return CmdletResult()
                resends += 1

    def _post(self, cmdlet, url, body):
        idempotent = is_read(cmdlet)
        attempt = 0
        while True:
            try:
                return self.rest.post(url, body, idempotent=idempotent)
            except ExchangeError as err:
                # Refused before it ran, so any cmdlet may be sent again after a pause.
                if CONCURRENCY_LIMIT_TEXT in (err.service_message or "") and attempt < self.rest.backoff_retries:
                    delay = backoff_delay(attempt, None, self.rest.backoff_max_delay, self.rest.jitter)
                    self.rest.sleep(delay)
                    self.rest.waited += delay
                    attempt += 1
                    continue
                raise err.with_cmdlet(cmdlet) from None


def find_service_principal(exchange, app_id):
    """The Exchange service principal (what ``New-ServicePrincipal`` made) of ``app_id``, or None.

    ``Get-ServicePrincipal -Identity`` also matches display names, so only a row with this AppId counts.
    """
    rows = exchange.invoke_optional("Get-ServicePrincipal", Identity=app_id)
    return next((row for row in rows if str(row.get("AppId") or "").lower() == app_id.lower()), None)


def unique_names(names):
    """``names`` without blanks and case-insensitive repeats (mailbox addresses), in the order given."""
    seen = set()
    result = []
    for name in names or []:
        name = (name or "").strip()
        if name and name.lower() not in seen:
            seen.add(name.lower())
            result.append(name)
    return result


def report_warnings(module, exchange):
    """Pass the warnings Exchange sent with its answers on to the task's output."""
    for warning in exchange.warnings:
        module.warn("Exchange Online: %s" % warning)


def mailbox_not_found(parameter, mailbox, error):
    """The ``ParameterError`` for a mailbox Exchange does not know."""
    return ParameterError(parameter, "Exchange Online has no mailbox %r (%s)." % (mailbox, error.service_message),
                          "Check the address; the mailbox of a new user can take a while to appear.")


def read_one(exchange, cmdlet, parameter, mailbox, **parameters):
    """The first row of a read of ``mailbox`` (``Identity``); a not-found names ``parameter``."""
    try:
        rows = exchange.invoke(cmdlet, Identity=mailbox, **parameters)
    except ExchangeError as err:
        if is_not_found(err):
            raise mailbox_not_found(parameter, mailbox, err) from None
        raise
    if not rows:
        raise MailauthError("Exchange Online returned nothing for %s -Identity %s." % (cmdlet, mailbox), cmdlet=cmdlet)
    return rows[0]


# The SMTP AUTH switch of Get-/Set-CASMailbox and Get-/Set-TransportConfig; "disabled", so True means off.
SMTP_AUTH_SETTING = "SmtpClientAuthenticationDisabled"


def smtp_auth_enabled(disabled):
    """``SmtpClientAuthenticationDisabled`` ($true/$false/$null) -> SMTP AUTH enabled (True/False/None)."""
    return None if disabled is None else not disabled


def tenant_smtp_auth_record(disabled):
    """The tenant's transport switch -> the ``tenant`` result of the SMTP AUTH modules."""
    return dict(smtp_auth_enabled=not disabled, smtp_client_authentication_disabled=bool(disabled))


def read_transport_config(exchange):
    """The tenant's transport configuration (``Get-TransportConfig``)."""
    rows = exchange.invoke("Get-TransportConfig")
    return rows[0] if rows else {}
