"""The sandbox's mail hosts: SMTP submission (STARTTLS and implicit TLS) and IMAP over TLS, with
Exchange Online's OAuth rules and reply texts; mail is kept per mailbox in the sandbox's store."""
from .service import MailService

__all__ = ["MailService"]
