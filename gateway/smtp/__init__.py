"""E-mail in: an SMTP listener (aiosmtpd) that makes faxes of mail, through the service as the API does."""

from faxgw.gateway.smtp.listener import SmtpListener, listening

__all__ = ["SmtpListener", "listening"]
