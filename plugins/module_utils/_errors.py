# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Typed errors of mailauth.m365.

Every failure the collection can explain is one of these classes. Each carries the service's own
identifiers (AADSTS code, Graph error code, request id) and a remedy, and turns straight into
``fail_json`` keyword arguments. Private to the collection: the interface may change in any release.
"""

from __future__ import annotations

# Entra sign-in error codes (AADSTS) and what to do about them. The code, not the text, is the
# stable part of a token endpoint answer.
AADSTS_REMEDIES = {
    7000215: "The client secret is wrong; often the secret's ID was stored instead of its value. "
             "Store the secretText returned when the secret was created, or issue a new secret.",
    7000222: "The client secret has expired. Rotate it: add a new secret, deploy it, verify it, "
             "then remove the old one.",
    65001: "Consent has not been granted. Grant admin consent for the requested permissions.",
    700016: "The application was not found in the tenant: check tenant_id and client_id, check that "
            "the app has a service principal in this tenant, or wait for replication after creating it.",
    50126: "The user name or password is wrong. Fix the credentials; prefer device code or "
           "app-only authentication to passwords.",
    50076: "Multi-factor authentication is required, which a password sign-in cannot do. "
           "Use auth_method=device_code or app-only credentials.",
    7000218: "The app does not allow public client flows. Set isFallbackPublicClient "
             "(Allow public client flows) on the app registration.",
    90002: "The tenant was not found. Fix tenant_id, or choose the cloud the tenant lives in.",
    500011: "The resource principal was not found in the tenant: the tenant may lack Exchange "
            "Online (licence), or the scope is misspelt.",
    53003: "Conditional Access blocked the sign-in. Exclude this app or account from the policy, "
           "or use app-only authentication.",
    530035: "Security defaults blocked the sign-in. Use app-only authentication or adjust the policy.",
}


class MailauthError(Exception):
    """Base of all errors the collection raises on purpose.

    ``details`` (ids, codes) become attributes of the error and, where set, keys of the ``error``
    result of ``fail_json``; they must never hold secrets.
    """

    def __init__(self, message, **details):
        super().__init__(message)
        self.message = message
        self.__dict__.update(details)
        self.details = {key: value for key, value in details.items() if value not in (None, [])}

    def __str__(self):
        return self.message

    def to_fail_kwargs(self):
        """Keyword arguments for ``AnsibleModule.fail_json``."""
        return dict(msg=self.message, error=dict(type=type(self).__name__, **self.details))


class ParameterError(MailauthError):
    """A module parameter is missing, malformed or contradicts another one."""

    def __init__(self, parameter, problem, fix=None):
        message = "Parameter %s: %s" % (parameter, problem)
        if fix:
            message += " %s" % fix
        super().__init__(message, parameter=parameter)


class AuthError(MailauthError):
    """The identity platform refused to issue a token."""

    def __init__(self, summary, error=None, description=None, error_codes=None,
                 trace_id=None, correlation_id=None, remedy=None):
        error_codes = list(error_codes or [])
        if remedy is None:
            remedy = next((AADSTS_REMEDIES[code] for code in error_codes if code in AADSTS_REMEDIES), None)
        parts = [summary]
        if error or error_codes:
            codes = ", ".join("AADSTS%s" % code for code in error_codes)
            parts.append(": %s" % " ".join(part for part in (codes, error and "(%s)" % error) if part))
        if description:
            parts.append(" - %s" % _first_line(description))
        if remedy:
            parts.append(". Remedy: %s" % remedy)
        ids = _join_ids(("trace id", trace_id), ("correlation id", correlation_id))
        if ids:
            parts.append(" (%s)" % ids)
        super().__init__("".join(parts), error=error, error_codes=error_codes, trace_id=trace_id,
                         correlation_id=correlation_id, remedy=remedy)

    @classmethod
    def from_token_response(cls, summary, response):
        """Build from an MSAL/token-endpoint error dict (``error``, ``error_codes``, ``trace_id``...)."""
        return cls(summary, error=response.get("error"), description=response.get("error_description"),
                   error_codes=response.get("error_codes"), trace_id=response.get("trace_id"),
                   correlation_id=response.get("correlation_id"))


class ServiceError(MailauthError):
    """A REST API answered with an HTTP error.

    Subclasses describe one service; ``from_response`` parses that service's error body.
    """

    service = "The service"

    def __init__(self, method, url, status, code=None, message=None, request_id=None,
                 permission=None, date=None):
        text = "%s %s failed: HTTP %s" % (method, url, status)
        if code:
            text += " %s" % code
        if message:
            text += ": %s" % message
        if status == 403:
            text += ". " + _forbidden_remedy(permission)
        ids = _join_ids(("request-id", request_id), ("date", date))
        if ids:
            text += " (%s)" % ids
        super().__init__(text, status=status, code=code, service_message=message, request_id=request_id,
                         method=method, url=url, required_permission=permission)

    @classmethod
    def from_response(cls, method, url, response, permission=None):
        """Build from a ``requests.Response`` whose status is an error."""
        body = _json_or_none(response)
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            error = {}
        inner = error.get("innerError") or error.get("innererror") or {}
        request_id = (inner.get("request-id") or response.headers.get("request-id")
                      or response.headers.get("client-request-id"))
        message = error.get("message") or (None if body else _short_text(response))
        return cls(method, url, response.status_code, code=error.get("code"), message=message,
                   request_id=request_id, permission=permission, date=inner.get("date"))


class GraphError(ServiceError):
    """Microsoft Graph answered with an HTTP error (``{"error": {"code", "message", "innerError"}}``)."""

    service = "Microsoft Graph"


# What app-only Exchange administration needs (FACTS.md section 4); a 403 or 401 says which.
EXCHANGE_FORBIDDEN_REMEDY = (
    "The automation app needs the application permission Exchange.ManageAsApp of Office 365 Exchange Online "
    "(with admin consent) and the Entra role Exchange Administrator (or an Exchange role group for its "
    "Exchange service principal)")
EXCHANGE_UNAUTHORIZED_REMEDY = (
    "Exchange did not accept the access token: it must be an app-only token for https://outlook.office365.com "
    "(check cloud, exchange_endpoint and exchange_resource)")


class ExchangeError(ServiceError):
    """Exchange Online's admin API (InvokeCommand) answered with an HTTP error.

    Exchange puts the useful text in ``error.details[].message`` as ``Code|Exception type|message``, else in
    ``error.innererror.internalException.message``, else in ``error.message``. ``exception_type`` is the short
    .NET type (``ManagementObjectNotFoundException``), the stable part to branch on; ``cmdlet`` names what ran.
    """

    service = "Exchange Online"

    def __init__(self, method, url, status, code=None, message=None, request_id=None, permission=None,
                 date=None, exception_type=None, cmdlet=None):
        # ServiceError's text names the URL, which is the same InvokeCommand for every cmdlet: name the cmdlet.
        text = "%s failed: HTTP %s" % ("Exchange cmdlet %s" % cmdlet if cmdlet else "%s %s" % (method, url), status)
        if exception_type or code:
            text += " %s" % (exception_type or code)
        if message:
            text += ": %s" % message.rstrip(".")
        if status == 403:
            text += ". " + (_forbidden_remedy(permission) if permission else EXCHANGE_FORBIDDEN_REMEDY)
        elif status == 401:
            text += ". " + EXCHANGE_UNAUTHORIZED_REMEDY
        ids = _join_ids(("request-id", request_id), ("date", date))
        if ids:
            text += " (%s)" % ids
        MailauthError.__init__(  # pylint: disable=non-parent-init-called
            self, text, status=status, code=code, service_message=message, request_id=request_id, method=method,
            url=url, required_permission=permission, exception_type=exception_type, cmdlet=cmdlet)
        self.date = date

    @classmethod
    def from_response(cls, method, url, response, permission=None):
        body = _json_or_none(response)
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            error = {}
        inner = error.get("innererror") or error.get("innerError") or {}
        # Exchange spells it internalexception; documentation and other clients internalException.
        internal = next((value for key, value in inner.items() if key.lower() == "internalexception"), None) or {}
        exception_type = None
        messages = []
        for detail in error.get("details") or []:
            parts = str((detail or {}).get("message") or "").split("|")
            if parts[-1].strip():
                messages.append(parts[-1].strip())
            if len(parts) >= 2 and exception_type is None:
                exception_type = parts[-2].strip().rpartition(".")[2] or None
        message = "; ".join(messages) or internal.get("message") or error.get("message")
        if exception_type is None and (internal.get("type") or inner.get("type")):
            exception_type = str(internal.get("type") or inner["type"]).rpartition(".")[2]
        if message is None and not body:
            message = _short_text(response)
        request_id = (inner.get("request-id") or response.headers.get("request-id")
                      or response.headers.get("client-request-id"))
        return cls(method, url, response.status_code, code=error.get("code"), message=message,
                   request_id=request_id, permission=permission, date=inner.get("date"),
                   exception_type=exception_type)

    def with_cmdlet(self, cmdlet):
        """The same error, its message naming ``cmdlet`` instead of the InvokeCommand URL."""
        return type(self)(self.method, self.url, self.status, code=self.code, message=self.service_message,
                          request_id=self.request_id, permission=self.required_permission, date=self.date,
                          exception_type=self.exception_type, cmdlet=cmdlet)


class AmbiguousWriteError(MailauthError):
    """A non-idempotent request failed in a way that leaves unknown whether it was applied."""

    def __init__(self, method, url, cause):
        super().__init__(
            "%s %s failed without an answer (%s); the request may or may not have been applied. "
            "Read the resource before sending it again." % (method, url, cause),
            method=method, url=url)


class TransportError(MailauthError):
    """No HTTP answer could be had from a service (DNS, refused connection, TLS)."""

    def __init__(self, method, url, cause, remedy=None):
        message = "%s %s: could not reach the service (%s)." % (method, url, cause)
        if remedy:
            message += " Remedy: %s" % remedy
        super().__init__(message, method=method, url=url, remedy=remedy)


class GaveUpError(MailauthError):
    """Waiting out a temporary condition took longer than allowed; wraps the last error seen."""

    reason = "kept failing"

    def __init__(self, last_error, attempts, waited):
        super().__init__(
            "Gave up after %d attempts and %.0f s of waiting (%s): %s"
            % (attempts, waited, self.reason, last_error.message),
            **dict(last_error.details, attempts=attempts, waited_seconds=round(waited, 1)))
        self.last_error = last_error


class ThrottledError(GaveUpError):
    """The service kept answering 429/503/504 beyond the retry budget (``backoff_*`` options)."""

    reason = "the service kept throttling or was unavailable; raise backoff_retries or run later"


class ReplicationLagError(GaveUpError):
    """A freshly created object did not become visible within the replication window."""

    reason = ("a new object was still not visible, most likely Entra replication lag; "
              "run again in a few minutes")


def _forbidden_remedy(permission):
    if permission:
        return ("The signed-in identity lacks the permission %s: grant it (application permissions "
                "need admin consent) or assign a directory role that includes it" % permission)
    return "The signed-in identity lacks a permission or directory role for this request"


def _first_line(text):
    return text.strip().splitlines()[0].strip() if text and text.strip() else text


def _join_ids(*pairs):
    return ", ".join("%s %s" % (label, value) for label, value in pairs if value)


def _json_or_none(response):
    try:
        return response.json()
    except ValueError:
        return None


def _short_text(response, limit=300):
    text = (response.text or "").strip()
    return text[:limit] or None
