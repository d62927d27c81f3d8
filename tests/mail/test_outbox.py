"""No mail is lost: one the SMTP server does not take is kept in the outbox with its error and tried again
later, across a restart of the gateway; a 5xx is final and marked failed, not retried forever."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from faxgw.gateway.demo import free_port
from faxgw.gateway.mail import Mail, MailOutbox, MailSender, MailStatus
from faxgw.gateway.mailconfig import MailConfig
from faxgw.gateway.store import database

from tests.helpers.mail import INBOX, RELAY_PASSWORD, RELAY_USER, MailSink, a_mail


def relay(port: int, cert: Path, **changes: object) -> MailConfig:
    settings: dict = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_username": RELAY_USER,
        "smtp_password": RELAY_PASSWORD,
        "smtp_ca_file": cert,
        "smtp_timeout": 5.0,
        "retry_delay": 0.1,
        **changes,
    }
    return MailConfig(**settings)


@asynccontextmanager
async def sending(
    path: Path, config: MailConfig, url: str | None = None
) -> AsyncIterator[tuple[MailOutbox, MailSender]]:
    """An outbox in the SQLite file ``path`` (PostgreSQL at ``url``) and its sender running, as a gateway
    node has them."""
    db = database(url, path, 2)
    await db.open()
    outbox = MailOutbox(db)
    sender = MailSender(config, outbox)
    task = asyncio.create_task(sender.run())
    try:
        yield outbox, sender
    finally:
        await sender.stop()
        await task
        await db.close()


async def until(outbox: MailOutbox, mail_id: str, check, timeout: float = 20) -> Mail:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while True:
            mail = await outbox.get(mail_id)
            if mail is not None and check(mail):
                return mail
            await asyncio.sleep(0.05)


async def test_kept_retried_and_sent_after_a_restart(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    port = free_port(socket.SOCK_STREAM)  # nothing listens there yet
    config = relay(port, certificate[1])
    async with sending(tmp_path / "db.sqlite", config) as (outbox, sender):
        assert await outbox.add(a_mail())
        assert not await outbox.add(a_mail())  # the same event's mail is stored once
        sender.wake()
        failing = await until(outbox, "ev1:fax", lambda mail: mail.attempts >= 2)
        assert failing.status is MailStatus.PENDING and failing.last_error
        assert "Connect" in failing.last_error or "refused" in failing.last_error.lower()

    sink = MailSink(certificate, port)  # the server is back, and so is the gateway
    sink.controller.start()
    try:
        async with sending(tmp_path / "db.sqlite", config) as (outbox, _):
            sent = await until(outbox, "ev1:fax", lambda mail: mail.status is MailStatus.SENT)
            assert sent.last_error is None
        [received] = await sink.wait(1)
        assert (received.recipients, received.message["Subject"]) == ([INBOX], "a fax")
    finally:
        sink.controller.stop()


async def test_a_permanent_refusal_is_failed_not_retried(tmp_path: Path, sink: MailSink) -> None:
    sink.refuse = "550 5.1.1 no such mailbox"
    config = relay(sink.port, Path(sink.cert), retries=5)
    async with sending(tmp_path / "db.sqlite", config) as (outbox, sender):
        await outbox.add(a_mail())
        sender.wake()
        failed = await until(outbox, "ev1:fax", lambda mail: mail.status is MailStatus.FAILED)
        await asyncio.sleep(0.5)  # retry_delay is 0.1 s: a retry would have happened by now
        assert await outbox.get("ev1:fax") == failed
        assert failed.attempts == 1 and failed.last_error == "550 5.1.1 no such mailbox"


async def test_gives_up_after_its_retries(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    config = relay(free_port(socket.SOCK_STREAM), certificate[1], retries=2, retry_delay=0.05)
    async with sending(tmp_path / "db.sqlite", config) as (outbox, sender):
        await outbox.add(a_mail())
        sender.wake()
        failed = await until(outbox, "ev1:fax", lambda mail: mail.status is MailStatus.FAILED)
        assert failed.attempts == 3  # the first and two retries


async def test_nodes_sharing_postgresql_send_each_mail_once(
    tmp_path: Path, sink: MailSink, postgres_url: str
) -> None:
    config = relay(sink.port, Path(sink.cert))
    async with (
        sending(tmp_path / "a", config, postgres_url) as (outbox, sender_a),
        sending(tmp_path / "b", config, postgres_url) as (_, sender_b),
    ):
        for n in range(6):
            assert await outbox.add(a_mail(f"ev{n}:fax"))
        sender_a.wake()
        sender_b.wake()
        for n in range(6):
            await until(outbox, f"ev{n}:fax", lambda mail: mail.status is MailStatus.SENT)
        await asyncio.sleep(0.3)  # a mail sent twice would have arrived twice by now
    assert len(sink.mails) == 6


# aiosmtpd warns of AUTH without STARTTLS; its connection is TLS from the first byte.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_implicit_tls_sends_over_tls_from_the_first_byte(
    tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    """smtp_security = "tls" (RFC 8314 3.3, port 465): the server speaks TLS at once. STARTTLS against it
    gets no greeting it can read, and is tried again; implicit TLS is sent, encrypted, and AUTH'd."""
    sink = MailSink(certificate, security="tls")
    sink.controller.start()
    try:
        starttls = relay(sink.port, certificate[1], smtp_security="starttls", smtp_timeout=1.0, retries=0)
        async with sending(tmp_path / "a.sqlite", starttls) as (outbox, sender):
            await outbox.add(a_mail())
            sender.wake()
            failed = await until(outbox, "ev1:fax", lambda mail: mail.status is MailStatus.FAILED)
            assert failed.last_error and not sink.mails
        async with sending(tmp_path / "b.sqlite", relay(sink.port, certificate[1], smtp_security="tls")) as (
            outbox,
            sender,
        ):
            await outbox.add(a_mail())
            sender.wake()
            sent = await until(outbox, "ev1:fax", lambda mail: mail.status is MailStatus.SENT)
            assert sent.attempts == 1 and sent.last_error is None
        [received] = await sink.wait(1)
        assert received.recipients == [INBOX] and sink.encrypted == [True]
    finally:
        sink.controller.stop()


async def test_plain_smtp_when_security_is_none(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    """smtp_security = "none" to a relay offering STARTTLS: the mail goes in clear (no upgrade), which the
    sink sees; AUTH is not offered in clear, so none is configured (a local relay)."""
    sink = MailSink(certificate, security="none")
    sink.controller.start()
    try:
        config = MailConfig(smtp_host="127.0.0.1", smtp_port=sink.port, smtp_security="none", retry_delay=0.1)
        async with sending(tmp_path / "db.sqlite", config) as (outbox, sender):
            await outbox.add(a_mail())
            sender.wake()
            await until(outbox, "ev1:fax", lambda mail: mail.status is MailStatus.SENT)
        await sink.wait(1)
        assert sink.encrypted == [False]
    finally:
        sink.controller.stop()
