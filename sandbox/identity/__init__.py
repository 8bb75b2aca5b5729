"""identity service of the sandbox (routes are added in identity/service.py)."""
from .service import IdentityService

__all__ = ["IdentityService"]
