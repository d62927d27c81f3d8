"""The SMTP listener that turns mail into faxes (``[mail]`` listen_port), on aiosmtpd in the gateway's own
event loop, submitting through the service exactly as the REST API does.

Who may fax: a ``[[mail.accounts]]`` entry, logged in with SMTP AUTH (RFC 4954; only after STARTTLS,
RFC 3207, unless ``plaintext_auth`` on a loopback address), sending from an address on its allow-list.
Recipients are ``NUMBER@domain``, one fax each. Every refusal is an SMTP reply that says why:

- 530 5.7.0: not authenticated (aiosmtpd, before MAIL); 535 5.7.8: bad credentials
- 550 5.7.1: sender not on the account's allow-list, or a destination the tenant may not dial
- 550 5.1.2: recipient not at the fax domain; 553 5.1.3: recipient not a fax number
- 452 4.5.3: too many recipients (RFC 5321 4.5.3.1.10); 552: message over SIZE (RFC 1870)
- 554 5.6.0: no attachment, or not readable MIME; 554 5.6.1: an attachment that cannot be faxed
- 421 4.7.0: too many connections; 421 4.4.2: session over its time

Each session is bounded: its duration (``session_timeout``), its commands (``COMMAND_LIMIT``), its size.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from faxgw.gateway.documents.errors import ConversionError
from faxgw.gateway.mail.compose import EMAIL_FIELDS
from faxgw.gateway.mailconfig import MailAccount, MailConfig, fax_number
from faxgw.gateway.service import Gateway, NewFax, NotFound, Refused
from faxgw.gateway.smtp.intake import FaxMail, Refusal, read

log = logging.getLogger("gateway.smtp")
#: Commands one session may give (each kind): a mail needs a handful; a client looping is cut off.
COMMAND_LIMIT = 50
#: Cover page fields are bounded (gateway.documents.cover.MAX_FIELD_CHARS).
COVER_FIELD = 200


class _Session(SMTP):
    """aiosmtpd's SMTP session, counted against ``max_connections`` and cut at ``session_timeout``."""

    def __init__(self, listener: SmtpListener, **options: Any) -> None:
        super().__init__(listener, **options)
        self._listener = listener
        self._admitted = False
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._admitted or self.transport is not None:  # the same session after STARTTLS
            super().connection_made(transport)
            return
        listener = self._listener
        if len(listener.sessions) >= listener.config.max_connections:
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(b"421 4.7.0 Too many connections, try again later\r\n")
            transport.close()
            return
        self._admitted = True
        listener.sessions.add(self)
        self._deadline = asyncio.get_running_loop().call_later(
            listener.config.session_timeout, self._overtime
        )
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if not self._admitted:
            return  # refused in connection_made: aiosmtpd never saw it
        self._admitted = False
        self._listener.sessions.discard(self)
        if self._deadline is not None:
            self._deadline.cancel()
        super().connection_lost(error)

    def _overtime(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            assert isinstance(self.transport, asyncio.WriteTransport)
            self.transport.write(b"421 4.4.2 Session too long, closing\r\n")
            self.transport.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class SmtpListener:
    """aiosmtpd's handler and authenticator: checks each step and submits the faxes."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.config: MailConfig = gateway.config.mail
        self.sessions: set[_Session] = set()
        self._server: asyncio.Server | None = None
        self._tls: ssl.SSLContext | None = None
        if self.config.tls_cert is not None:
            self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._tls.load_cert_chain(self.config.tls_cert, self.config.tls_key)

    async def start(self) -> None:
        config = self.config
        self._server = await asyncio.get_running_loop().create_server(
            lambda: _Session(
                self,
                data_size_limit=config.max_message_size,
                hostname=config.domain,
                tls_context=self._tls,
                require_starttls=self._tls is not None,
                auth_required=True,
                auth_require_tls=not config.plaintext_auth,
                authenticator=self.authenticate,
                command_call_limit=COMMAND_LIMIT,
                timeout=min(300.0, config.session_timeout),  # idle time between commands
            ),
            config.listen_host,
            config.listen_port,
        )
        log.info("SMTP listener on %s:%s for *@%s", config.listen_host, config.listen_port, config.domain)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for session in list(self.sessions):
            session.close()
        await self._server.wait_closed()

    # -- aiosmtpd's hooks
    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        """RFC 4954 AUTH PLAIN/LOGIN against ``[[mail.accounts]]`` (constant-time password check)."""
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        account = self.config.account(auth_data.login.decode("utf-8", "replace"))
        password = auth_data.password
        if account is None or not hmac.compare_digest(password, account.password.encode()):
            log.warning("SMTP AUTH refused for %r from %s", auth_data.login[:64], session.peer)
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=account)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        account = session.auth_data
        if not isinstance(account, MailAccount):
            return "530 5.7.0 Authentication required"
        if not address or not account.allows(address):
            log.warning("SMTP: %s may not fax from <%s>", account.username, address)
            return f"550 5.7.1 Sender <{address}> is not allowed to send faxes with this account"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        account = session.auth_data
        assert isinstance(account, MailAccount)  # MAIL came first, and needed it
        if len(envelope.rcpt_tos) >= self.config.max_recipients:
            return f"452 4.5.3 Too many recipients: at most {self.config.max_recipients} per message"
        local, _, domain = address.rpartition("@")
        if domain.lower() != self.config.domain.lower():
            return f"550 5.1.2 <{address}>: faxes go to NUMBER@{self.config.domain}"
        number = fax_number(local)
        if number is None:
            return f"553 5.1.3 <{address}>: {local!r} is not a fax number (digits, optionally after +)"
        try:
            await self.gateway.check_destinations(account.tenant, [number])
        except Refused as error:
            return f"550 5.7.1 <{address}>: {error}"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        account = session.auth_data
        assert isinstance(account, MailAccount) and isinstance(envelope.content, bytes)
        try:
            return await self._fax(account, envelope.mail_from or "", envelope.rcpt_tos, envelope.content)
        except Refusal as refusal:
            log.warning("SMTP: mail from <%s> refused: %s", envelope.mail_from, refusal.reply)
            return refusal.reply
        except Exception:  # ours, not the sender's: it may try again
            log.exception("SMTP: mail from <%s> not taken", envelope.mail_from)
            return "451 4.3.0 The gateway could not take the mail now; try again later"

    async def _fax(self, account: MailAccount, sender: str, recipients: list[str], content: bytes) -> str:
        mail = await asyncio.to_thread(read, content)  # up to max_message_size of MIME: off the event loop
        numbers = list(dict.fromkeys(fax_number(r.rpartition("@")[0]) or "" for r in recipients))
        file_ids: list[str] = []
        try:
            return await self._submit(account, sender, numbers, mail, file_ids)
        except BaseException:
            # A mail is faxed whole or not at all: nothing of a refused one stays on the gateway.
            for file_id in file_ids:
                await self.gateway.delete_file(account.tenant, file_id)
            raise

    async def _submit(
        self, account: MailAccount, sender: str, numbers: list[str], mail: FaxMail, file_ids: list[str]
    ) -> str:
        """Keeps the attachments (their ids added to ``file_ids`` as each is kept), then the faxes."""
        for attachment in mail.attachments:
            try:
                saved = await self.gateway.save_file(account.tenant, attachment.name, attachment.data)
            except ConversionError as error:
                raise Refusal(f"554 5.6.1 Attachment {attachment.name!r} cannot be faxed: {error}") from None
            file_ids.append(saved.id)
        cover = None
        if account.cover_page and (mail.subject or mail.text):
            cover = {
                "name_to": ", ".join(numbers)[:COVER_FIELD],
                "name_from": sender[:COVER_FIELD],
                "subject": mail.subject[:COVER_FIELD],
                "message": mail.text,
            }
        # A mail cannot say how often to try: the tenant's retries, as for its devices' faxes.
        tenant = next(tenant for tenant in self.gateway.config.tenants if tenant.id == account.tenant)
        request = NewFax(
            from_numbers=[account.fax_from],
            to=numbers,
            file_ids=file_ids,
            cover_page=cover,
            options={"retry": {"count": tenant.retries, "delay": tenant.retry_delay}},
            dialect_fields={
                EMAIL_FIELDS: {"reply_to": sender, "message_id": mail.message_id, "subject": mail.subject}
            },
        )
        try:
            faxes = await self.gateway.submit(account.tenant, request)
        except (Refused, NotFound) as error:
            raise Refusal(f"550 5.7.1 {error}") from None
        log.info("SMTP: mail from <%s> queued as %s", sender, ", ".join(fax.id for fax in faxes))
        return f"250 2.0.0 Queued as {' '.join(fax.id for fax in faxes)}"


@asynccontextmanager
async def listening(gateway: Gateway) -> AsyncIterator[SmtpListener | None]:
    """The listener for the length of the ``async with`` (None: no ``listen_port`` configured)."""
    if gateway.config.mail.listen_port is None:
        yield None
        return
    listener = SmtpListener(gateway)
    await listener.start()
    try:
        yield listener
    finally:
        await listener.stop()
