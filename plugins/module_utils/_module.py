# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The base of every mailauth.m365 module: shared connection options, their validation, the clients.

A module declares only its own options and a ``run(module, clients)`` returning
``(changed, record, diff)``, then calls ``run_module(run, argument_spec, ...)``.
Private to the collection: the interface may change in any release.
"""

from __future__ import annotations

import functools
import os
import re
import time
from collections import namedtuple

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.mailauth.m365.plugins.module_utils._auth import (
    AUTH_METHODS,
    CRYPTOGRAPHY_IMPORT_ERROR,
    HAS_CRYPTOGRAPHY,
    HAS_MSAL,
    MSAL_IMPORT_ERROR,
    AuthSettings,
    TokenSource,
    default_cache_dir,
)
from ansible_collections.mailauth.m365.plugins.module_utils._clouds import CLOUD_NAMES, resolve_cloud
from ansible_collections.mailauth.m365.plugins.module_utils._errors import (
    ExchangeError,
    GraphError,
    MailauthError,
    ParameterError,
)
from ansible_collections.mailauth.m365.plugins.module_utils._exchange import (
    ExchangeClient,
    exchange_base_url,
    exchange_headers,
    tenant_guid,
)
from ansible_collections.mailauth.m365.plugins.module_utils._http import (
    DEFAULT_BACKOFF_MAX_DELAY,
    DEFAULT_BACKOFF_RETRIES,
    DEFAULT_TIMEOUT,
    HAS_REQUESTS,
    REQUESTS_IMPORT_ERROR,
    HttpSession,
    RestClient,
)


def _env(*names):
    return (env_fallback, list(names))


# Documented once, in the mailauth.m365.connection doc fragment.
CONNECTION_ARGSPEC = dict(
    tenant_id=dict(type="str", fallback=_env("AZURE_TENANT_ID")),
    client_id=dict(type="str", fallback=_env("AZURE_CLIENT_ID")),
    client_secret=dict(type="str", no_log=True, fallback=_env("AZURE_CLIENT_SECRET")),
    client_certificate_path=dict(type="path", fallback=_env("AZURE_CLIENT_CERTIFICATE_PATH")),
    client_certificate_password=dict(type="str", no_log=True, fallback=_env("AZURE_CLIENT_CERTIFICATE_PASSWORD")),
    # A path, not a secret: masking it would only hide where the token is.
    federated_token_file=dict(type="path", no_log=False, fallback=_env("AZURE_FEDERATED_TOKEN_FILE")),
    auth_method=dict(type="str", default="auto", choices=("auto",) + AUTH_METHODS),
    cloud=dict(type="str", default="public", choices=list(CLOUD_NAMES)),
    authority_host=dict(type="str", fallback=_env("AZURE_AUTHORITY_HOST")),
    graph_endpoint=dict(type="str"),
    exchange_endpoint=dict(type="str"),
    graph_resource=dict(type="str"),
    exchange_resource=dict(type="str"),
    ca_bundle=dict(type="path", fallback=_env("MAILAUTH_M365_CA_BUNDLE")),
    validate_certs=dict(type="bool", default=True),
    token_cache_path=dict(type="path", no_log=False),
    timeout=dict(type="int", default=DEFAULT_TIMEOUT),
    backoff_retries=dict(type="int", default=DEFAULT_BACKOFF_RETRIES),
    backoff_max_delay=dict(type="int", default=DEFAULT_BACKOFF_MAX_DELAY),
)

# auth_method -> the option that carries its credential
CREDENTIAL_OPTIONS = dict(client_secret="client_secret", certificate="client_certificate_path",
                          federated="federated_token_file")
GUID_PATTERN = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
DOMAIN_PATTERN = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$", re.IGNORECASE)


class ConnectionSettings(namedtuple("ConnectionSettings", "auth verify timeout backoff_retries backoff_max_delay")):
    """Validated connection options: ``auth`` (``AuthSettings``), ``verify`` for requests, HTTP limits."""

    __slots__ = ()

    @property
    def cloud(self):
        return self.auth.cloud


def settings_from_params(params):
    """Validate the shared connection options of ``params``; return ``ConnectionSettings``.

    Raises ``ParameterError`` naming the option and the fix. Usable without ``AnsibleModule`` (action
    plugins pass their task arguments).
    """
    tenant_id = _required(params, "tenant_id", "AZURE_TENANT_ID")
    if not (GUID_PATTERN.match(tenant_id) or DOMAIN_PATTERN.match(tenant_id)):
        raise ParameterError("tenant_id", "%r is neither a tenant GUID nor a domain name." % tenant_id,
                             "Use the directory (tenant) ID or a verified domain such as contoso.onmicrosoft.com.")
    client_id = _required(params, "client_id", "AZURE_CLIENT_ID")
    if not GUID_PATTERN.match(client_id):
        raise ParameterError("client_id", "%r is not a GUID." % client_id,
                             "Use the application (client) ID of the app registration, not its name or object ID.")
    cloud = resolve_cloud(params.get("cloud") or "public", **{
        option: params.get(option) for option in
        ("authority_host", "graph_endpoint", "exchange_endpoint", "graph_resource", "exchange_resource")})
    method = resolve_auth_method(params)
    # Only the chosen method's credential goes on: a stray AZURE_* variable must not ride along.
    credential = dict(client_secret=dict(client_secret=params.get("client_secret")),
                      certificate=dict(certificate_path=params.get("client_certificate_path"),
                                       certificate_password=params.get("client_certificate_password")),
                      federated=dict(federated_token_file=params.get("federated_token_file")))
    auth = AuthSettings(cloud, tenant_id, client_id, method, cache_dir=params.get("token_cache_path"),
                        **credential.get(method, {}))
    for option, minimum in (("timeout", 1), ("backoff_retries", 0), ("backoff_max_delay", 0)):
        value = params.get(option)
        if value is not None and value < minimum:
            raise ParameterError(option, "must be at least %d, got %d." % (minimum, value))
    return ConnectionSettings(auth, _verify(params), params.get("timeout") or DEFAULT_TIMEOUT,
                              _or_default(params.get("backoff_retries"), DEFAULT_BACKOFF_RETRIES),
                              _or_default(params.get("backoff_max_delay"), DEFAULT_BACKOFF_MAX_DELAY))


def resolve_auth_method(params):
    """The auth method to use: ``auth_method`` itself, or for ``auto`` the one credential given."""
    method = params.get("auth_method") or "auto"
    given = [name for name, option in CREDENTIAL_OPTIONS.items() if params.get(option)]
    if method == "auto":
        if len(given) > 1:
            raise ParameterError(
                "auth_method", "auto found several credentials (%s)."
                % ", ".join(CREDENTIAL_OPTIONS[name] for name in given),
                "Keep one (mind AZURE_* environment variables), or set auth_method to the one to use.")
        if not given:
            raise ParameterError(
                "client_secret", "no credential was given.",
                "Give client_secret, client_certificate_path or federated_token_file (or their AZURE_* "
                "environment variables), or set auth_method=device_code after a device code sign-in.")
        return given[0]
    if method in CREDENTIAL_OPTIONS and method not in given:
        raise ParameterError(CREDENTIAL_OPTIONS[method], "is required with auth_method=%s." % method)
    return method


def _required(params, option, env_name):
    value = (params.get(option) or "").strip()
    if not value:
        raise ParameterError(option, "is required.", "Set it, or the environment variable %s." % env_name)
    return value


def _verify(params):
    if params.get("validate_certs") is False:
        return False
    bundle = params.get("ca_bundle")
    if not bundle:
        return True
    if not os.path.isfile(bundle):
        raise ParameterError("ca_bundle", "%s is not a file." % bundle,
                             "Give the PEM file of the CA that signed the server certificates.")
    return bundle


def _or_default(value, default):
    return default if value is None else value


class Clients:
    """What ``run()`` talks to: ``graph`` (REST client), ``tokens`` (``TokenSource``), request counts.

    Clients are built on first use, so a module that never calls Exchange needs no Exchange endpoint.
    ``sleep`` and ``clock`` (monotonic seconds) are injectable so tests do not wait out back-offs
    and replication lag.
    """

    def __init__(self, settings, session=None, sleep=time.sleep, clock=time.monotonic):
        self.settings = settings
        self.session = session or HttpSession(settings.verify, settings.timeout,
                                              metadata_cache_dir=settings.auth.cache_dir or default_cache_dir())
        self.tokens = TokenSource(settings.auth, self.session)
        self.sleep = sleep
        self.clock = clock
        self._rest = {}
        self._exchange = None

    @property
    def graph(self):
        """Microsoft Graph v1.0: paths are relative to ``{graph_endpoint}/v1.0``."""
        return self.rest_client("graph", self.settings.cloud.graph_endpoint + "/v1.0", GraphError)

    @property
    def exchange(self):
        """Exchange Online cmdlets (``ExchangeClient``) on ``{exchange_endpoint}/adminapi/beta/{tenant GUID}``."""
        if self._exchange is None:
            endpoint = self.settings.cloud.exchange_endpoint
            if not endpoint:
                raise ParameterError("exchange_endpoint", "is required with cloud=custom for Exchange Online modules.",
                                     "Give the URL of the Exchange Online endpoint (https://outlook.office365.com "
                                     "in the public cloud).")
            tenant = tenant_guid(self.settings.auth.tenant_id, lambda: self.tokens.claims("exchange"))
            rest = self.rest_client("exchange", exchange_base_url(endpoint, tenant), ExchangeError,
                                    default_headers=exchange_headers(tenant))
            self._exchange = ExchangeClient(rest, tenant)
        return self._exchange

    def rest_client(self, resource, base_url, error_class, default_headers=None):
        """A ``RestClient`` (one per ``base_url``) whose bearer tokens are issued for ``resource``."""
        if base_url not in self._rest:
            self._rest[base_url] = RestClient(
                base_url, self.session, functools.partial(self.tokens.token, resource), error_class=error_class,
                backoff_retries=self.settings.backoff_retries, backoff_max_delay=self.settings.backoff_max_delay,
                sleep=self.sleep, default_headers=default_headers)
        return self._rest[base_url]

    @property
    def request_count(self):
        """HTTP requests sent so far, token requests included (for benchmarks)."""
        return self.session.request_count

    def close(self):
        self.session.close()


class M365Module(AnsibleModule):
    """``AnsibleModule`` with the shared connection options merged in and validated into ``settings``."""

    def __init__(self, argument_spec=None, connection_params=None, **kwargs):
        spec = dict(CONNECTION_ARGSPEC)
        spec.update(argument_spec or {})
        super().__init__(argument_spec=spec, **kwargs)
        self._require_library(HAS_REQUESTS, "requests", REQUESTS_IMPORT_ERROR)
        self._require_library(HAS_MSAL, "msal", MSAL_IMPORT_ERROR)
        try:
            # A module may derive connection options from its own first (a person signing in needs
            # no app credential); such a function raises ParameterError for contradictions.
            params = connection_params(self.params) if connection_params else self.params
            self.settings = settings_from_params(params)
        except ParameterError as err:
            self.fail_json(**err.to_fail_kwargs())
        if self.settings.auth.method == "certificate":
            self._require_library(HAS_CRYPTOGRAPHY, "cryptography", CRYPTOGRAPHY_IMPORT_ERROR)

    def _require_library(self, present, name, import_error):
        if not present:
            self.fail_json(msg=missing_required_lib(name), exception=import_error)


def run_module(run, argument_spec=None, **module_kwargs):
    """Build the module and clients, call ``run(module, clients)``, exit with its result.

    ``run`` returns ``(changed, record, diff)``: ``record`` is a dict of result keys (e.g.
    ``{"application": {...}}``), ``diff`` a ``{"before", "after"}`` dict or None. A ``MailauthError``
    becomes ``fail_json`` with its message and details.
    """
    module = M365Module(argument_spec, **module_kwargs)
    clients = None
    try:
        clients = Clients(module.settings)
        changed, record, diff = run(module, clients)
    except MailauthError as err:
        module.fail_json(**err.to_fail_kwargs())
    finally:
        if clients is not None:
            clients.close()
    result = dict(record, changed=changed)
    if diff is not None and module._diff:  # pylint: disable=protected-access
        result["diff"] = diff
    module.exit_json(**result)
