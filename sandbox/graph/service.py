"""Microsoft Graph v1.0 of the sandbox."""
from ..web import Service


class GraphService(Service):
    name = "graph"
