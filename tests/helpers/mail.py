"""E-mail in tests: a real SMTP server the gateway mails to (aiosmtpd, STARTTLS + AUTH, on 127.0.0.1), a real
gateway with its SMTP listener, and the mail a scanner would send."""

from __future__ import annotations

import asyncio
import dataclasses
import email
import email.policy
import smtplib
import socket
import ssl
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from faxgw.gateway.config import Config, RouteConfig
from faxgw.gateway.demo import free_port
from faxgw.gateway.mail import Mail
from faxgw.gateway.mailconfig import MailAccount, MailConfig
from faxgw.gateway.smtp import SmtpListener, listening

from tests.helpers.gateway import RECEIVER, SENDER, Running, start_running

RELAY_USER, RELAY_PASSWORD = "gateway", "relay-secret"
FAX_USER, FAX_PASSWORD = "alice-fax", "alice-secret"
ALICE = "alice@example.com"
INBOX = "inbox@example.com"
DOMAIN = "fax.example.com"


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage


class MailSink:
    """aiosmtpd in its own thread: requires STARTTLS, then AUTH as RELAY_USER; keeps what it is given.
    ``security`` "tls": TLS from the first byte (as on port 465), then AUTH; "none": STARTTLS offered, but
    neither it nor AUTH required (a local relay)."""

    def __init__(
        self, certificate: tuple[Path, Path], port: int | None = None, *, security: str = "starttls"
    ) -> None:
        key, cert = certificate
        self.cert = cert  # what a client trusts for STARTTLS
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        self.port = port or free_port(socket.SOCK_STREAM)
        self.mails: list[Received] = []
        self.refuse: str | None = None  # an RCPT reply to give instead of accepting
        self._lock = threading.Lock()
        self.encrypted: list[bool] = []  # per mail: whether its connection was TLS when DATA came
        self.controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            ssl_context=context if security == "tls" else None,
            tls_context=None if security == "tls" else context,
            require_starttls=security == "starttls",
            auth_required=security != "none",
            # aiosmtpd counts only STARTTLS as TLS; a connection that is TLS throughout is so as well.
            auth_require_tls=security == "starttls",
            authenticator=self._authenticate,
        )

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            RELAY_USER.encode(),
            RELAY_PASSWORD.encode(),
        )
        return AuthResult(success=ok)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.refuse is not None:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.mails.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
            self.encrypted.append(server.transport.get_extra_info("ssl_object") is not None)
        return "250 OK"

    async def wait(self, count: int, timeout: float = 60) -> list[Received]:
        async with asyncio.timeout(timeout):
            while True:
                with self._lock:
                    if len(self.mails) >= count:
                        return list(self.mails)
                await asyncio.sleep(0.05)


def mail_config(config: Config, sink: MailSink, certificate: tuple[Path, Path], **changes: Any) -> Config:
    """``config`` with [mail]: sending to ``sink`` (trusting the test certificate), listening with
    STARTTLS on a free port for alice's account; RECEIVER's route mails its faxes to INBOX."""
    key, cert = certificate
    mail = MailConfig(
        smtp_host="127.0.0.1",
        smtp_port=sink.port,
        smtp_username=RELAY_USER,
        smtp_password=RELAY_PASSWORD,
        smtp_ca_file=cert,
        sender="faxgw@gateway.example.com",
        retry_delay=0.2,
        listen_host="127.0.0.1",
        listen_port=free_port(socket.SOCK_STREAM),
        domain=DOMAIN,
        tls_cert=cert,
        tls_key=key,
        accounts=(MailAccount("acme", FAX_USER, FAX_PASSWORD, (ALICE,), fax_from=SENDER),),
    )
    mail = dataclasses.replace(mail, **changes)
    return dataclasses.replace(config, mail=mail, routes=(RouteConfig(RECEIVER, "acme", email_to=(INBOX,)),))


@dataclass
class MailGateway:
    running: Running
    listener: SmtpListener
    cert: Path

    def client(self) -> smtplib.SMTP:
        """A connection to the gateway's listener, after EHLO (blocking: use it in a thread)."""
        client = smtplib.SMTP("127.0.0.1", self.listener.port, timeout=30)
        client.ehlo("client.example.com")
        return client

    def secure_client(self) -> smtplib.SMTP:
        """After STARTTLS (the test certificate trusted) and EHLO again."""
        client = self.client()
        client.starttls(context=ssl.create_default_context(cafile=self.cert))
        client.ehlo("client.example.com")
        return client

    def logged_in(self) -> smtplib.SMTP:
        client = self.secure_client()
        client.login(FAX_USER, FAX_PASSWORD)
        return client


@asynccontextmanager
async def started(config: Config, cert: Path) -> AsyncIterator[MailGateway]:
    """The gateway of ``config`` with its REST API and SMTP listener, for the ``async with``."""
    async for running in start_running(config):
        async with listening(running.gateway) as listener:
            assert listener is not None
            yield MailGateway(running, listener, cert)


SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "sample.pdf"  # two pages


def fax_mail(*, subject: str = "Order 1184", text: str = "Please ship.", to: str = RECEIVER) -> EmailMessage:
    message = EmailMessage()
    message["From"] = ALICE
    message["To"] = f"{to}@{DOMAIN}"
    message["Subject"] = subject
    message["Message-ID"] = "<order-1184@example.com>"
    message.set_content(text)
    message.add_attachment(SAMPLE.read_bytes(), maintype="application", subtype="pdf", filename="order.pdf")
    return message


def a_mail(mail_id: str = "ev1:fax") -> Mail:
    """An outbox mail to INBOX (of fax fx1), as the gateway stores one for an event."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "faxgw@example.com", INBOX, "a fax"
    message.set_content("pages attached")
    return Mail(mail_id, "fx1", "fax", "faxgw@example.com", (INBOX,), message.as_bytes())
