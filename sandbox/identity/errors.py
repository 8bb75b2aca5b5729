"""Entra's error answers: the OAuth `error`, the AADSTS code and its message, and the JSON body
(or HTML page, for browser endpoints) the token service sends with them.

Messages follow what Entra sends today; clients must branch on `error` / `error_codes`, never on
text (FACTS.md section 2), so the wording only has to be recognisable in logs."""
import html
import time
import uuid

from ..web import json_response
from .pages import html_page

# code -> (OAuth error, HTTP status, message template filled from AadError fields)
CATALOG = {
    28000: ("invalid_scope", 400, "Provided value for the input parameter scope is not valid because it contains more "
                                  "than one resource. Scope {scope} is not valid."),
    50011: ("invalid_request", 400, "The redirect URI '{redirect_uri}' specified in the request does not match the "
                                    "redirect URIs configured for the application '{client_id}'. Make sure the redirect "
                                    "URI sent in the request matches one added to your application in the Azure portal. "
                                    "Navigate to https://aka.ms/redirectUriMismatchError to learn more about how to fix this."),
    50013: ("invalid_client", 401, "Assertion failed signature validation. [Reason - {reason}]"),
    50027: ("invalid_request", 400, "JWT token is invalid or malformed."),
    50034: ("invalid_grant", 400, "The user account {upn} does not exist in the {tenant_id} directory. To sign into this "
                                  "application, the account must be added to the directory."),
    50057: ("invalid_grant", 400, "The user account is disabled."),
    50058: ("login_required", 400, "A silent sign-in request was sent but no user is signed in."),
    50059: ("invalid_request", 400, "No tenant-identifying information found in either the request or implied by any "
                                    "provided credentials."),
    50076: ("invalid_grant", 400, "Due to a configuration change made by your administrator, or because you moved to a "
                                  "new location, you must use multi-factor authentication to access '{resource_app_id}'."),
    50105: ("invalid_grant", 400, "Your administrator has configured the application {client_name} ('{client_id}') to "
                                  "block users unless they are specifically granted ('assigned') access to the "
                                  "application. The signed in user '{upn}' is blocked because they are not a direct "
                                  "member of a group with access, nor had access directly assigned by an administrator. "
                                  "Please contact your administrator to assign access to this application."),
    50126: ("invalid_grant", 400, "Error validating credentials due to invalid username or password."),
    50166: ("invalid_client", 401, "Request to External OIDC endpoint failed."),
    54005: ("invalid_grant", 400, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or "
                                  "use an existing refresh token."),
    65001: ("invalid_grant", 400, "The user or administrator has not consented to use the application with ID "
                                  "'{client_id}' named '{client_name}'. Send an interactive authorization request for "
                                  "this user and resource."),
    70000: ("invalid_grant", 400, "The provided value for the '{parameter}' parameter is not valid. {reason}"),
    70003: ("unsupported_grant_type", 400, "The app requested an unsupported grant type '{grant_type}'."),
    70008: ("invalid_grant", 400, "The provided authorization code or refresh token has expired due to inactivity. Send "
                                  "a new interactive authorization request for this user and resource."),
    70016: ("authorization_pending", 400, "OAuth 2.0 device flow error. Authorization is pending. Continue polling."),
    70020: ("expired_token", 400, "The provided value for the input parameter 'device_code' is not valid. This device "
                                  "code has expired."),
    70021: ("invalid_request", 400, "No matching federated identity record found for presented assertion. Assertion "
                                    "Issuer: '{issuer}'. Assertion Subject: '{subject}'. Assertion Audience: '{audience}'. "
                                    "https://learn.microsoft.com/entra/workload-id/workload-identity-federation"),
    90002: ("invalid_tenant", 400, "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and "
                                   "are signing into the correct cloud. Check with your subscription administrator, this "
                                   "may happen if there are no active subscriptions for the tenant."),
    90014: ("invalid_request", 400, "The required field '{parameter}' is missing from the credential. Ensure that you "
                                    "have all the necessary parameters for the login request."),
    500011: ("invalid_resource", 400, "The resource principal named {resource} was not found in the tenant named "
                                      "{tenant_name}. This can happen if the application has not been installed by the "
                                      "administrator of the tenant or consented to by any user in the tenant. You might "
                                      "have sent your authentication request to the wrong tenant."),
    501481: ("invalid_grant", 400, "The Code_Verifier does not match the code_challenge supplied in the authorization "
                                   "request."),
    650053: ("invalid_client", 400, "The application '{client_name}' asked for scope '{scope}' that doesn't exist on the "
                                    "resource '{resource_app_id}'. Contact the app vendor."),
    700016: ("unauthorized_client", 400, "Application with identifier '{client_id}' was not found in the directory "
                                         "'{tenant_name}'. This can happen if the application has not been installed by "
                                         "the administrator of the tenant or consented to by any user in the tenant. You "
                                         "may have sent your authentication request to the wrong tenant."),
    700021: ("invalid_client", 401, "Client assertion application identifier doesn't match 'client_id' parameter. Review "
                                    "the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials ."),
    700023: ("invalid_client", 401, "Client assertion audience claim does not match Realm issuer. Review the "
                                    "documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials ."),
    700024: ("invalid_client", 401, "Client assertion is not within its valid time range. Current time: {now}, assertion "
                                    "valid from {nbf}, expiry time of assertion {exp}. Review the documentation at "
                                    "https://learn.microsoft.com/entra/identity-platform/certificate-credentials ."),
    700027: ("invalid_client", 401, "Client assertion contains an invalid signature. [Reason - {reason}, Thumbprint of "
                                    "key used by client: '{thumbprint}', Please visit the Azure Portal, Graph Explorer or "
                                    "directly use MS Graph to see configured keys for app Id '{client_id}'.]"),
    700082: ("invalid_grant", 400, "The refresh token has expired due to inactivity. The token was issued on {issued} and "
                                   "was inactive for {inactive}."),
    9002313: ("invalid_grant", 400, "Invalid request. Request is malformed or invalid."),
    900023: ("invalid_request", 400, "Specified tenant identifier '{tenant}' is neither a valid DNS name, nor a valid "
                                     "external domain."),
    900144: ("invalid_request", 400, "The request body must contain the following parameter: '{parameter}'."),
    900561: ("invalid_request", 400, "The endpoint only accepts POST requests. Received a GET request."),
    1002012: ("invalid_scope", 400, "The provided value for scope {scope} is not valid. Client credential flows must have "
                                    "a scope value with /.default suffixed to the resource identifier (application ID URI)."),
    7000112: ("unauthorized_client", 400, "Application '{client_id}'({client_name}) is disabled."),
    7000215: ("invalid_client", 401, "Invalid client secret provided. Ensure the secret being sent in the request is the "
                                     "client secret value, not the client secret ID, for a secret added to app '{client_id}'."),
    7000216: ("invalid_client", 401, "'client_assertion', 'client_secret' or 'request' is required for the "
                                     "'client_credentials' grant type."),
    7000218: ("invalid_client", 401, "The request body must contain the following parameter: 'client_assertion' or "
                                     "'client_secret'."),
    7000222: ("invalid_client", 401, "The provided client secret keys for app '{client_id}' are expired. Visit the Azure "
                                     "portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider "
                                     "using certificate credentials for added security: https://aka.ms/certCreds."),
    7000229: ("invalid_client", 400, "The client application {client_id} is missing service principal in the tenant "
                                     "{tenant_id}. See instructions here: https://go.microsoft.com/fwlink/?linkid=2225119"),
    7000274: ("invalid_client", 401, "Key was found, but use of the key to verify the signature failed."),
}

# Extra members Entra adds to some answers (MSAL surfaces `suberror` to applications).
SUBERRORS = {50076: "basic_action", 65001: "consent_required"}


class AadError(Exception):
    """An Entra sign-in failure. `error` overrides the catalog's OAuth error (device flow states)."""

    def __init__(self, code, error=None, **fields):
        self.code = code
        default_error, self.status, template = CATALOG[code]
        self.error = error or default_error
        self.fields = fields
        super().__init__("AADSTS%d: %s" % (code, template.format(**fields)))


def required(params, name):
    """A parameter the request must carry (AADSTS900144 otherwise)."""
    value = params.get(name)
    if not value:
        raise AadError(900144, parameter=name)
    return value


def entra_timestamp(moment=None):
    """Entra's timestamp format in error answers: '2016-01-09 02:02:12Z'."""
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(moment))


def error_body(req, exc):
    trace_id = req.request_id
    correlation_id = req.header("client-request-id") or str(uuid.uuid4())
    stamp = entra_timestamp()
    body = {
        "error": exc.error,
        "error_description": "%s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s" % (exc, trace_id, correlation_id, stamp),
        "error_codes": [exc.code],
        "timestamp": stamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": "%s/error?code=%d" % (req.base_url, exc.code),
    }
    if exc.code in SUBERRORS:
        body["suberror"] = SUBERRORS[exc.code]
    return body


def error_response(req, exc):
    return json_response(exc.status, error_body(req, exc), no_store_headers(req))


def no_store_headers(req):
    """Headers Entra puts on every token endpoint answer."""
    return {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache", "x-ms-request-id": req.request_id}


def html_error(req, exc):
    """Browser endpoints (authorize, device login) show the error instead of answering JSON."""
    body = error_body(req, exc)
    return html_page("Sign in", "<p><strong>Sorry, but we're having trouble signing you in.</strong></p>"
                                "<p id=\"error\">%s</p><p>Trace ID: %s<br>Correlation ID: %s<br>Timestamp: %s</p>"
                     % (html.escape(str(exc)), body["trace_id"], body["correlation_id"], body["timestamp"]), status=400)
