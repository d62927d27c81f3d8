"""Fax events become mails (a consumer of the job events, as webhooks are): a route's received fax to its
addresses, and the outcome of a fax that came by e-mail to its sender. Each is stored in the outbox under
an id made from the event's, so a repeated event stores it once."""

from __future__ import annotations

import asyncio
import logging

from faxgw.gateway.config import Config
from faxgw.gateway.domain import EventType, FaxStatus
from faxgw.gateway.mail import compose
from faxgw.gateway.mail.outbox import Mail, MailOutbox
from faxgw.gateway.mail.sender import MailSender
from faxgw.gateway.store import EventRecord, FaxRecord, FaxStore

log = logging.getLogger("gateway.mail")


class MailNotices:
    def __init__(self, config: Config, store: FaxStore, outbox: MailOutbox, sender: MailSender) -> None:
        self.config = config
        self.store = store
        self.outbox = outbox
        self.sender = sender

    async def on_event(self, fax: FaxRecord, event: EventRecord) -> None:
        """Store the mail ``event`` calls for, if any (final events only)."""
        if event.type not in (EventType.RECEIVED, EventType.DELIVERED, EventType.FAILED):
            return
        fax = await self.store.get_fax(fax.id) or fax  # the caller's copy may predate its last update
        mail = await asyncio.to_thread(self._compose, fax, event)
        if mail is not None and await self.outbox.add(mail):
            self.sender.wake()

    def _compose(self, fax: FaxRecord, event: EventRecord) -> Mail | None:
        sender = self.config.mail.sender
        if fax.direction == "inbound":
            route = self.config.route(fax.to_number)
            if route is None or not route.email_to:
                return None
            # A partly received fax ends with RECEIVED too, its status failed: the status decides.
            if fax.status is not FaxStatus.SUCCESS and not route.email_failed:
                return None
            message = compose.received_fax(fax, route, sender)
            return Mail(f"{event.id}:fax", fax.id, "fax", sender, route.email_to, message.as_bytes())
        request = fax.request.get("dialects", {}).get(compose.EMAIL_FIELDS)
        if not request:
            return None  # not a fax that came by e-mail
        message = compose.outcome(fax, request, sender)
        return Mail(
            f"{event.id}:outcome", fax.id, "outcome", sender, (request["reply_to"],), message.as_bytes()
        )
