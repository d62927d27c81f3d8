"""E-mail out: received faxes to a route's addresses as PDF, and the outcome of e-mailed faxes to their
senders, through a durable outbox (``outbox``), composed from fax events (``notices``), sent over SMTP with
back-off (``sender``). The listener that turns mail into faxes is ``gateway.smtp``, above the service."""

from faxgw.gateway.mail.notices import MailNotices
from faxgw.gateway.mail.outbox import Mail, MailOutbox, MailStatus
from faxgw.gateway.mail.sender import MailSender

__all__ = ["Mail", "MailNotices", "MailOutbox", "MailSender", "MailStatus"]
