"""graph service of the sandbox (routes are added in graph/service.py)."""
from .service import GraphService

__all__ = ["GraphService"]
