"""Exchange Online's error answers on /adminapi/beta/{tenant}/InvokeCommand.

The shape follows answers captured from Exchange Online (HTTP 400, a cmdlet that failed):

    {"error": {"code": "BadRequest", "message": "Invalid Operation",
               "details": [{"code": "Client", "target": "",
                            "message": "Ex6F9304|Microsoft.Exchange...ManagementObjectNotFoundException|The operation ..."}],
               "innererror": {"message": "Invalid Operation", "type": "Microsoft.Exchange.Admin.OData.Core.ODataServiceException",
                              "stacktrace": "", "internalexception": {"message": "The operation ...", "type": "...", "stacktrace": ""}},
               "adminapi.warnings@odata.type": "#Collection(String)", "@adminapi.warnings": []}}

`error.message` says nothing ("Invalid Operation"); the text is in `details[].message` after the last
`|` (a task error carries an "ExNNNNNN" code before the first `|`, an invocation error none) and in
`innererror.internalexception.message` (Exchange spells that key in lower case). Some errors, such as a
value that cannot be converted to a parameter's type, come without `details`, as Exchange sends them."""
import zlib

ODATA_EXCEPTION = "Microsoft.Exchange.Admin.OData.Core.ODataServiceException"
INVOCATION = "Microsoft.Exchange.AdminApi.CommandInvocation."
NOT_FOUND_TYPE = "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"
# Codes Exchange puts before a task exception's type; others are derived from the type name (stable, made up).
TASK_CODES = {NOT_FOUND_TYPE: "Ex6F9304"}


class ExchangeError(Exception):
    """A failed request: HTTP status, the OData code, the exception Exchange names and its text.

    `task` errors (raised by a cmdlet) carry an ExNNNNNN code in `details`; invocation errors (parameter
    binding, unknown cmdlet) do not. `details=False` leaves the `details` array out."""

    def __init__(self, status, code, exception_type, message, task=True, details=True, headers=None,
                 summary="Invalid Operation"):
        super().__init__(message)
        self.status = status
        self.code = code
        self.exception_type = exception_type
        self.message = message
        self.task = task
        self.details = details
        self.headers = dict(headers or {})
        self.summary = summary

    def body(self, warnings=()):
        prefix = TASK_CODES.get(self.exception_type) or ("Ex%06X" % (zlib.crc32(self.exception_type.encode()) & 0xFFFFFF))
        error = {"code": self.code, "message": self.summary}
        if self.details:
            error["details"] = [{"code": "Client", "target": "",
                                 "message": "%s|%s|%s" % (prefix if self.task else "", self.exception_type, self.message)}]
        error["innererror"] = {"message": self.summary, "type": ODATA_EXCEPTION, "stacktrace": "",
                               "internalexception": {"message": self.message, "type": self.exception_type, "stacktrace": ""}}
        error["adminapi.warnings@odata.type"] = "#Collection(String)"
        error["@adminapi.warnings"] = list(warnings)
        return {"error": error}


# --- cmdlet (task) errors --------------------------------------------------------------------------
def not_found(identity, server):
    return ExchangeError(404, "NotFound", NOT_FOUND_TYPE,
                         "The operation couldn't be performed because object '%s' couldn't be found on '%s'." % (identity, server))


def ambiguous(identity):
    return ExchangeError(400, "BadRequest", "Microsoft.Exchange.Configuration.Tasks.ManagementObjectAmbiguousException",
                         "The operation couldn't be performed because '%s' matches multiple entries." % identity)


def already_exists(message):
    return ExchangeError(400, "BadRequest", "Microsoft.Exchange.Data.Directory.ADObjectAlreadyExistsException", message)


def invalid(message, exception_type="Microsoft.Exchange.Configuration.Tasks.TaskArgumentException"):
    return ExchangeError(400, "BadRequest", exception_type, message)


# --- invocation errors (before the cmdlet runs) ----------------------------------------------------
def unknown_parameters(names):
    return ExchangeError(400, "BadRequest", INVOCATION + "AmbiguousParameterSetException",
                         "Parameter set cannot be resolved using the specified named parameters. "
                         "Invalid cmdlet parameters specified. %s" % ", ".join(names), task=False)


def missing_parameters(names):
    return ExchangeError(400, "BadRequest", INVOCATION + "ParameterBindingException",
                         "Cannot process command because of one or more missing mandatory parameters: %s." % " ".join(names),
                         task=False)


def binding(message):
    return ExchangeError(400, "BadRequest", INVOCATION + "ParameterBindingException", message, task=False)


def transformation(parameter, message):
    """A value that does not convert to the parameter's type: Exchange sends this one without `details`."""
    return ExchangeError(400, "BadRequest", INVOCATION + "ParameterTransformationException",
                         "Cannot process argument transformation on parameter '%s'. %s" % (parameter, message),
                         task=False, details=False)


def unknown_cmdlet(name):
    # Exchange answers so for a cmdlet that does not exist and for one the caller's roles do not include.
    return ExchangeError(400, "BadRequest", INVOCATION + "CommandNotFoundException",
                         "The term '%s' is not recognized as a name of a cmdlet, function, script file, or executable program. "
                         "Check the spelling of the name, or if a path was included, verify that the path is correct "
                         "and try again." % name, task=False)


def bad_request(message):
    return ExchangeError(400, "BadRequest", ODATA_EXCEPTION, message, task=False, summary=message)


# --- authentication, authorization, throttling ------------------------------------------------------
# What Exchange Online sends with a 401: its resource app id and the token kinds it takes.
WWW_AUTHENTICATE = ('Bearer client_id="00000002-0000-0ff1-ce00-000000000000", '
                    'trusted_issuers="00000001-0000-0000-c000-000000000000@*", '
                    'token_types="app_asserted_user_v1 service_asserted_app_v1", '
                    'authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="invalid_token"')


def unauthorized(diagnostic_code, reason, category="invalid_token"):
    headers = {"WWW-Authenticate": WWW_AUTHENTICATE,
               "x-ms-diagnostics": '%d;reason="%s";error_category="%s"' % (diagnostic_code, reason, category)}
    return ExchangeError(401, "Unauthorized", "Microsoft.Exchange.Security.Authorization.UnauthorizedAccessException",
                         reason, task=False, headers=headers, summary="UnAuthorized")


def forbidden(message):
    return ExchangeError(403, "Forbidden", "Microsoft.Exchange.Security.Authorization.UnauthorizedAccessException",
                         message, task=False, summary="Forbidden")


def throttled(retry_after, limit):
    return ExchangeError(429, "TooManyRequests", "Microsoft.Exchange.Admin.OData.Core.TooManyRequestsException",
                         "The request was throttled: the tenant reached the maximum number of concurrent requests per tenant "
                         "(%d). Retry after %d seconds." % (limit, retry_after),
                         task=False, headers={"Retry-After": str(retry_after)}, summary="Too Many Requests")


def unavailable(retry_after):
    return ExchangeError(503, "ServiceUnavailable", ODATA_EXCEPTION, "The service is temporarily unavailable. Retry later.",
                         task=False, headers={"Retry-After": str(retry_after)}, summary="Service Unavailable")
