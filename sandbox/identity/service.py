"""Microsoft identity platform (login.microsoftonline.com) of the sandbox."""
from ..web import Service


class IdentityService(Service):
    name = "identity"
