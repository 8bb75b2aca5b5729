# -*- coding: utf-8 -*-
# Copyright: mailauth.m365 contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Microsoft clouds: where to sign in, where the APIs live, and which audiences tokens are for.

An endpoint is where requests go; a resource is the audience a token is issued for. They differ
only for ``custom`` (the sandbox serves Graph on a loopback URL but issues Graph-audience tokens).
Private to the collection: the interface may change in any release.
"""

from __future__ import annotations

from collections import namedtuple
from urllib.parse import urlsplit

from ansible_collections.mailauth.m365.plugins.module_utils._errors import ParameterError

RESOURCES = ("graph", "exchange")
# Exchange Web Services lives on the Exchange host (https://outlook.office365.com/EWS/Exchange.asmx).
EWS_PATH = "/EWS/Exchange.asmx"


class Cloud(namedtuple("Cloud", "name authority_host graph_endpoint exchange_endpoint smtp_host "
                                "graph_resource exchange_resource")):
    """Endpoints (URLs without trailing slash) and token resources of one cloud."""

    __slots__ = ()

    def authority(self, tenant):
        """The authority URL MSAL signs in against, e.g. ``https://login.microsoftonline.com/<tenant>``."""
        return "%s/%s" % (self.authority_host, tenant)

    def endpoint(self, resource):
        """Base URL of ``graph`` or ``exchange``; None when the cloud has none configured."""
        return getattr(self, "%s_endpoint" % _known(resource))

    def resource(self, resource):
        """Token audience of ``graph`` or ``exchange``."""
        return getattr(self, "%s_resource" % _known(resource))

    def ews_url(self):
        """The EWS endpoint on the cloud's Exchange host; None when the cloud has no Exchange endpoint."""
        return self.exchange_endpoint + EWS_PATH if self.exchange_endpoint else None

    def scope(self, resource):
        """The ``/.default`` scope that asks for every permission granted on ``resource``."""
        return "%s/.default" % self.resource(resource)


def _cloud(name, login, graph, exchange, smtp):
    # In Microsoft's own clouds the token audience is the API's own URL.
    return Cloud(name, "https://" + login, "https://" + graph, "https://" + exchange, smtp,
                 "https://" + graph, "https://" + exchange)


CLOUDS = {
    "public": _cloud("public", "login.microsoftonline.com", "graph.microsoft.com",
                     "outlook.office365.com", "smtp.office365.com"),
    "usgovernment": _cloud("usgovernment", "login.microsoftonline.us", "graph.microsoft.us",
                           "outlook.office365.us", "smtp.office365.us"),
    # SMTP host names of DoD and 21Vianet are not in our reference facts: left unset rather than guessed.
    "dod": _cloud("dod", "login.microsoftonline.us", "dod-graph.microsoft.us",
                  "outlook-dod.office365.us", None),
    "china": _cloud("china", "login.chinacloudapi.cn", "microsoftgraph.chinacloudapi.cn",
                    "partner.outlook.cn", None),
}
CLOUD_NAMES = tuple(CLOUDS) + ("custom",)


def resolve_cloud(name, authority_host=None, graph_endpoint=None, exchange_endpoint=None,
                  graph_resource=None, exchange_resource=None):
    """Return the ``Cloud`` for the module options; raise ``ParameterError`` naming a wrong option."""
    urls = {option: normalize_url(option, value) for option, value in
            (("authority_host", authority_host), ("graph_endpoint", graph_endpoint),
             ("exchange_endpoint", exchange_endpoint)) if value}
    resources = {option: normalize_resource(value) for option, value in
                 (("graph_resource", graph_resource), ("exchange_resource", exchange_resource)) if value}
    if name == "custom":
        for option in ("authority_host", "graph_endpoint"):
            if option not in urls:
                raise ParameterError(option, "is required with cloud=custom.",
                                     "Give the URL of the identity endpoint and of Microsoft Graph.")
        public = CLOUDS["public"]
        return Cloud("custom", urls["authority_host"], urls["graph_endpoint"],
                     urls.get("exchange_endpoint"), None,
                     resources.get("graph_resource", public.graph_resource),
                     resources.get("exchange_resource", public.exchange_resource))
    if name not in CLOUDS:
        raise ParameterError("cloud", "unknown cloud %r." % name, "Use one of %s." % ", ".join(CLOUD_NAMES))
    for option in resources:
        raise ParameterError(option, "is only used with cloud=custom.",
                             "Remove it, or set cloud=custom with your own endpoints.")
    cloud = CLOUDS[name]
    for option, url in urls.items():
        # A stray AZURE_AUTHORITY_HOST that repeats the cloud's own host is harmless.
        if url != getattr(cloud, option):
            raise ParameterError(
                option, "%s does not belong to cloud=%s." % (url, name),
                "Use cloud=custom to give your own endpoints, or remove %s." % option)
    return cloud


def normalize_url(option, value):
    """``host[:port]`` or ``https://host[:port][/path]`` -> ``https://host[:port][/path]`` (no trailing slash)."""
    text = value.strip().rstrip("/")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if parts.scheme != "https" or not parts.hostname or not port_ok:
        raise ParameterError(option, "%r is not an https URL." % value,
                             "Microsoft endpoints (and MSAL) require https://host[:port].")
    return text


def normalize_resource(value):
    """A token audience as given (URL or app id), without a trailing ``/`` or ``/.default``."""
    text = value.strip()
    if text.endswith("/.default"):
        text = text[:-len("/.default")]
    return text.rstrip("/")


def _known(resource):
    if resource not in RESOURCES:
        raise ValueError("unknown resource %r, expected one of %s" % (resource, RESOURCES))
    return resource
