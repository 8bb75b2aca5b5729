"""exchange service of the sandbox (routes are added in exchange/service.py)."""
from .service import ExchangeService

__all__ = ["ExchangeService"]
