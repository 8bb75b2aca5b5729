"""Exchange Online admin endpoint (/adminapi/beta/{tenant}/InvokeCommand). The cmdlets come with the
Exchange work; until then every route answers Exchange's 404."""
from ..web import Service


class ExchangeService(Service):
    name = "exchange"
