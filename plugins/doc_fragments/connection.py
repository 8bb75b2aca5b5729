# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The connection options every mailauth.m365 module shares (argument spec in module_utils/_module.py)."""

    DOCUMENTATION = r"""
options:
  tenant_id:
    description:
      - The Entra ID tenant to sign in to, as its directory (tenant) ID or one of its verified domains
        (for example C(contoso.onmicrosoft.com)).
      - If not given, the E(AZURE_TENANT_ID) environment variable is used.
      - Required, either way.
    type: str
  client_id:
    description:
      - Application (client) ID of the app registration that signs in (a GUID).
      - If not given, the E(AZURE_CLIENT_ID) environment variable is used.
      - Required, either way.
    type: str
  client_secret:
    description:
      - Client secret of the app registration (the secret's value, not its ID).
      - If not given, the E(AZURE_CLIENT_SECRET) environment variable is used.
    type: str
  client_certificate_path:
    description:
      - Path to a PEM file holding the private key and the certificate of the app registration.
      - The certificate is sent with the sign-in (C(x5c)), so subject name and issuer authentication work.
      - If not given, the E(AZURE_CLIENT_CERTIFICATE_PATH) environment variable is used.
    type: path
  client_certificate_password:
    description:
      - Password of the private key in O(client_certificate_path), if it is encrypted.
      - If not given, the E(AZURE_CLIENT_CERTIFICATE_PASSWORD) environment variable is used.
    type: str
  federated_token_file:
    description:
      - Path to a file holding a federated token (workload identity federation), sent as the client assertion.
      - The file is read again for every token request, so a token rotated on disk is picked up.
      - If not given, the E(AZURE_FEDERATED_TOKEN_FILE) environment variable is used.
    type: path
  auth_method:
    description:
      - How to sign in.
      - V(auto) uses the one credential that is given (O(client_secret), O(client_certificate_path) or
        O(federated_token_file)) and fails if there are none or several.
      - V(device_code) signs in as the administrator who approved an earlier device code sign-in; the
        tokens come from the token cache in O(token_cache_path).
    type: str
    choices: [auto, client_secret, certificate, federated, device_code]
    default: auto
  cloud:
    description:
      - The Microsoft cloud the tenant lives in.
      - V(public) is the global service, V(usgovernment) GCC High, V(dod) US DoD, V(china) the service
        operated by 21Vianet.
      - V(custom) takes every endpoint from O(authority_host), O(graph_endpoint) and O(exchange_endpoint),
        for example an offline test tenant.
    type: str
    choices: [public, usgovernment, dod, china, custom]
    default: public
  authority_host:
    description:
      - URL (or host name) of the identity platform, for example C(https://login.microsoftonline.com).
      - Required with O(cloud=custom). With another cloud it may only repeat that cloud's own host.
      - If not given, the E(AZURE_AUTHORITY_HOST) environment variable is used.
    type: str
  graph_endpoint:
    description:
      - Base URL of Microsoft Graph, without version, for example C(https://graph.microsoft.com).
      - Required with O(cloud=custom); other clouds know their own.
    type: str
  exchange_endpoint:
    description:
      - Base URL of Exchange Online, for example C(https://outlook.office365.com).
      - Used with O(cloud=custom) by modules that manage Exchange; other clouds know their own.
    type: str
  graph_resource:
    description:
      - The audience of Graph tokens with O(cloud=custom).
      - Defaults to C(https://graph.microsoft.com), the audience an offline test tenant issues even when it
        serves Graph elsewhere.
    type: str
  exchange_resource:
    description:
      - The audience of Exchange Online tokens with O(cloud=custom).
      - Defaults to C(https://outlook.office365.com).
    type: str
  ca_bundle:
    description:
      - Path to a PEM file of the certificate authorities to trust for every HTTPS request, sign-in included.
      - When not set, the CA bundle of the Python C(certifi) package is trusted. The E(REQUESTS_CA_BUNDLE) and
        E(CURL_CA_BUNDLE) environment variables are deliberately ignored, so that what is trusted is what
        the task says.
      - If not given, the E(MAILAUTH_M365_CA_BUNDLE) environment variable is used.
    type: path
  validate_certs:
    description:
      - Whether to verify the TLS certificates of the services.
      - Set to V(false) only for throw-away tests; prefer O(ca_bundle).
    type: bool
    default: true
  token_cache_path:
    description:
      - Directory of the token cache.
      - Tokens are cached per identity platform, tenant, client and credential, in files readable by their
        owner only (mode C(0600)), so that later tasks and parallel hosts do not sign in again.
      - Defaults to C(mailauth.m365) under E(XDG_CACHE_HOME), or C(~/.cache/mailauth.m365), on the host the
        module runs on.
    type: path
  timeout:
    description:
      - Seconds to wait for an answer to one HTTP request.
    type: int
    default: 60
  backoff_retries:
    description:
      - How many times to retry a request that was throttled (HTTP 429) or met an unavailable service
        (503, 504) or a network error, honouring the service's C(Retry-After).
      - A write that may already have been applied is never sent again blindly; it is read back first.
    type: int
    default: 15
  backoff_max_delay:
    description:
      - The longest wait, in seconds, before one retry, even if the service asks for longer.
    type: int
    default: 60
requirements:
  - msal
  - requests
  - cryptography (for O(client_certificate_path))
notes:
  - Run these modules on the control node (for example with C(delegate_to) set to C(localhost)); they only
    call Microsoft's APIs.
  - Access tokens are never returned or logged.
"""
