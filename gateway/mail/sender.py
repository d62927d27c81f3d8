"""Sends the outbox's mails through the configured SMTP server (``[mail]``): STARTTLS (RFC 3207) or
implicit TLS (RFC 8314 3.3) and AUTH (RFC 4954) as configured, at once when a mail is stored, then on a
doubling back-off.

A 5xx answer is the server's final word (RFC 5321 4.2.1): the mail is marked failed. Anything else (a 4xx,
no connection, a timeout) is tried again, ``retries`` times; every failure is logged and kept in the row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time

import aiosmtplib
from faxgw.gateway.mail.outbox import Mail, MailOutbox, MailStatus
from faxgw.gateway.mailconfig import MailConfig

log = logging.getLogger("gateway.mail")
#: Mails taken per pass, and how long one is ours before another node may take it.
BATCH = 10
#: Seconds between looks at the outbox when nothing is due sooner (mails another node stored).
IDLE_LOOK = 30.0


class MailSender:
    def __init__(self, config: MailConfig, outbox: MailOutbox) -> None:
        self.config = config
        self.outbox = outbox
        self._wake = asyncio.Event()
        self._stopping = False
        self._tls: ssl.SSLContext | None = None
        if config.smtp_security != "none":
            self._tls = ssl.create_default_context(
                cafile=str(config.smtp_ca_file) if config.smtp_ca_file else None
            )

    def wake(self) -> None:
        """A mail was stored: look at the outbox now."""
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            wait = IDLE_LOOK
            try:
                for mail in await self.outbox.claim_due(BATCH, self.config.smtp_timeout * 3):
                    await self._attempt(mail)
                due = await self.outbox.next_due_at()
                if due is not None:
                    wait = min(IDLE_LOOK, max(0.0, due - time.time()))
            except Exception:  # the database away for a moment: the mails wait in it, looked at again
                log.exception("mail outbox not read; again in %g s", IDLE_LOOK)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def _attempt(self, mail: Mail) -> None:
        config = self.config
        try:
            refused, _ = await aiosmtplib.send(
                mail.message,
                sender=config.sender,
                recipients=list(mail.recipients),
                hostname=config.smtp_host,
                port=config.submission_port,
                # Both said outright: aiosmtplib's default (None) would upgrade only if offered, so a
                # server (or a man in the middle) not offering STARTTLS would get the password in clear.
                use_tls=config.smtp_security == "tls",
                start_tls=config.smtp_security == "starttls",
                tls_context=self._tls,
                username=config.smtp_username,
                password=config.smtp_password,
                timeout=config.smtp_timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:  # every recipient refused, each with its reply
            replies = error.recipients
            text = "; ".join(f"{reply.code} {reply.message}" for reply in replies)
            await self._failed(mail, text, final=all(reply.code >= 500 for reply in replies))
        except aiosmtplib.SMTPResponseException as error:
            await self._failed(mail, f"{error.code} {error.message}", final=error.code >= 500)
        except (aiosmtplib.SMTPException, OSError) as error:  # no connection, TLS, timeout
            await self._failed(mail, f"{type(error).__name__}: {error}", final=False)
        else:
            log.info("fax %s: %s mail sent to %s", mail.fax_id, mail.kind, ", ".join(mail.recipients))
            for address, (code, text) in refused.items():  # the others took it: nothing to send again
                log.error(
                    "fax %s: %s mail refused for %s: %d %s", mail.fax_id, mail.kind, address, code, text
                )
            await self.outbox.record(mail.id, MailStatus.SENT, None, time.time())

    async def _failed(self, mail: Mail, error: str, *, final: bool) -> None:
        attempt = mail.attempts + 1
        if final or attempt > self.config.retries:
            log.error(
                "fax %s: %s mail to %s given up after %d attempt(s): %s",
                mail.fax_id,
                mail.kind,
                ", ".join(mail.recipients),
                attempt,
                error,
            )
            await self.outbox.record(mail.id, MailStatus.FAILED, error, time.time())
            return
        delay = self.config.retry_delay * 2 ** (attempt - 1)
        log.warning(
            "fax %s: %s mail to %s not sent (attempt %d), again in %g s: %s",
            mail.fax_id,
            mail.kind,
            ", ".join(mail.recipients),
            attempt,
            delay,
            error,
        )
        await self.outbox.record(mail.id, MailStatus.PENDING, error, time.time() + delay)
