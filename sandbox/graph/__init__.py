"""Microsoft Graph v1.0 of the sandbox: service.py assembles the resources (apps, principals, grants,
tenant), OData queries (odata.py), the CSDL-derived schema (schema.py) and the permission table
(permissions.py)."""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .service import GraphService

__all__ = ["GraphService"]


def __getattr__(name):
    # Imported on first use, so `python -m sandbox.graph.schema` / `.permissions` run without the whole service.
    if name == "GraphService":
        from .service import GraphService
        return GraphService
    raise AttributeError(name)
