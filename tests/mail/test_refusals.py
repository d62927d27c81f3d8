"""The listener refuses what it must not fax, each with the SMTP reply that says why, and fax nothing: no
STARTTLS or no AUTH, bad credentials, a sender off the allow-list, a recipient at another domain or not a
number, too many recipients, no attachment, an attachment that cannot be faxed, too much data, hostile
MIME, too many connections, a session that lasts too long."""

from __future__ import annotations

import asyncio
import smtplib
import socket
import sqlite3
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path
from typing import TypeVar

import pytest

from tests.helpers.gateway import RECEIVER, gateway_config
from tests.helpers.mail import (
    ALICE,
    DOMAIN,
    FAX_PASSWORD,
    FAX_USER,
    MailGateway,
    MailSink,
    fax_mail,
    mail_config,
    started,
)

T = TypeVar("T")
TO = f"{RECEIVER}@{DOMAIN}"


async def blocking(work: Callable[[], T]) -> T:
    return await asyncio.to_thread(work)


async def nothing_faxed(gateway: MailGateway) -> None:
    listed = (await gateway.running.client.get("/v1/faxes")).json()
    assert listed["faxes"] == []


def wire(message: EmailMessage) -> bytes:
    return message.as_bytes(policy=SMTP)


async def test_auth_needs_starttls_and_mail_needs_auth(mail_gateway: MailGateway) -> None:
    def plain() -> tuple[tuple[int, bytes], tuple[int, bytes]]:
        with mail_gateway.client() as client:
            assert not client.has_extn("auth")  # not offered in clear
            return client.docmd("AUTH", "PLAIN AGFsaWNlLWZheABhbGljZS1zZWNyZXQ="), client.docmd(
                "MAIL", f"FROM:<{ALICE}>"
            )

    auth, mail = await blocking(plain)
    assert auth[0] == 530 and mail[0] == 530

    def unauthenticated() -> tuple[int, bytes]:
        with mail_gateway.secure_client() as client:
            assert client.has_extn("auth")
            return client.docmd("MAIL", f"FROM:<{ALICE}>")

    code, text = await blocking(unauthenticated)
    assert code == 530 and b"5.7.0" in text

    def wrong_password() -> int:
        with mail_gateway.secure_client() as client:
            with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
                client.login(FAX_USER, FAX_PASSWORD + "x")
            return refused.value.smtp_code

    assert await blocking(wrong_password) == 535
    await nothing_faxed(mail_gateway)


async def test_unknown_sender_and_bad_recipients(mail_gateway: MailGateway) -> None:
    def session() -> dict[str, tuple[int, bytes]]:
        with mail_gateway.logged_in() as client:
            replies = {"stranger": client.mail("mallory@evil.example")}
            client.rset()
            client.mail(ALICE)
            replies["domain"] = client.rcpt(f"{RECEIVER}@elsewhere.example")
            replies["number"] = client.rcpt(f"sales@{DOMAIN}")
            replies["empty"] = client.rcpt(f"@{DOMAIN}")
            return replies

    replies = await blocking(session)
    assert replies["stranger"][0] == 550 and b"5.7.1" in replies["stranger"][1]
    assert b"not allowed" in replies["stranger"][1]
    assert replies["domain"][0] == 550 and DOMAIN.encode() in replies["domain"][1]
    assert replies["number"][0] == 553 and b"not a fax number" in replies["number"][1]
    assert replies["empty"][0] == 553
    await nothing_faxed(mail_gateway)


async def test_too_many_recipients(tmp_path: Path, sink: MailSink, certificate: tuple[Path, Path]) -> None:
    config = mail_config(gateway_config(tmp_path / "var"), sink, certificate, max_recipients=2)
    async with started(config, certificate[1]) as gateway:

        def session() -> list[int]:
            with gateway.logged_in() as client:
                client.mail(ALICE)
                return [client.rcpt(f"1555010{n}@{DOMAIN}")[0] for n in range(3)]

        assert await blocking(session) == [250, 250, 452]


async def test_mail_that_cannot_be_faxed(mail_gateway: MailGateway) -> None:
    no_attachment = EmailMessage()
    no_attachment["Subject"] = "just words"
    no_attachment.set_content("There is nothing attached.")
    unsupported = fax_mail()
    unsupported.add_attachment(
        b"\x00\x01binary junk" * 50, maintype="application", subtype="x-junk", filename="a.bin"
    )
    hostile = [
        b"\xff\xfe not mime at all \x00\r\n" * 20,
        b'Content-Type: multipart/mixed; boundary="\r\n\r\n--\r\n--\r\n',
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="=?utf-8?b?!!!?="\r\n\r\n@@@@\r\n--x--\r\n',
        # A header folded over thousands of lines (each line short, the whole far beyond any sane header).
        b"Subject: x\r\n" + b" folded\r\n" * 20000 + b"\r\nbody\r\n",
    ]

    def session() -> list[tuple[int, bytes]]:
        replies = []
        with mail_gateway.logged_in() as client:
            for content in [wire(no_attachment), wire(unsupported), *hostile]:
                client.mail(ALICE)
                client.rcpt(TO)
                replies.append(client.data(content))
            assert client.noop()[0] == 250  # the session is still fine after all that
        return replies

    replies = await blocking(session)
    assert replies[0][0] == 554 and b"No attachment" in replies[0][1]
    assert replies[1][0] == 554 and b"5.6.1" in replies[1][1] and b"a.bin" in replies[1][1]
    for code, text in replies[2:]:
        assert code == 554 and text.startswith(b"5.6."), text
    await nothing_faxed(mail_gateway)


async def test_a_refused_attachment_leaves_nothing_of_its_mail(mail_gateway: MailGateway) -> None:
    """The PDF in front of the attachment that cannot be faxed was kept before that one was refused: its
    file and its row go with the refusal. A later mail is faxed, so the first one's leftovers would show."""
    mail = fax_mail()
    mail.add_attachment(
        b"\x00\x01binary junk" * 50, maintype="application", subtype="x-junk", filename="a.bin"
    )
    config = mail_gateway.running.gateway.config

    def send(message: EmailMessage) -> tuple[int, bytes]:
        with mail_gateway.logged_in() as client:
            client.mail(ALICE)
            client.rcpt(TO)
            return client.data(wire(message))

    code, text = await blocking(lambda: send(mail))
    assert code == 554 and b"a.bin" in text
    with sqlite3.connect(config.database) as db:
        assert db.execute("SELECT COUNT(*) FROM files").fetchone() == (0,)
    kept = config.data_dir / "files"
    assert not kept.exists() or not any(path.is_file() for path in kept.rglob("*"))
    await nothing_faxed(mail_gateway)

    code, _ = await blocking(lambda: send(fax_mail()))  # the same PDF alone is taken: it was not the PDF
    assert code == 250
    with sqlite3.connect(config.database) as db:
        assert db.execute("SELECT COUNT(*) FROM files").fetchone() == (1,)


async def test_size_connections_and_session_time(
    tmp_path: Path, sink: MailSink, certificate: tuple[Path, Path]
) -> None:
    config = mail_config(
        gateway_config(tmp_path / "var"),
        sink,
        certificate,
        max_message_size=4096,
        max_connections=2,
        session_timeout=1.0,
    )
    async with started(config, certificate[1]) as gateway:
        listener = gateway.listener

        def too_big() -> tuple[int, tuple[int, bytes]]:
            with gateway.logged_in() as client:
                size = client.esmtp_features["size"]
                client.mail(ALICE)
                client.rcpt(TO)
                return int(size), client.data(wire(fax_mail()))  # the PDF alone is larger

        size, reply = await blocking(too_big)
        assert size == 4096 and reply[0] == 552

        def crowd() -> bytes:
            first, second = gateway.client(), gateway.client()
            try:
                with socket.create_connection(("127.0.0.1", listener.port), timeout=10) as third:
                    return third.recv(200)
            finally:
                first.close()
                second.close()

        assert (await blocking(crowd)).startswith(b"421 4.7.0")

        def overstay() -> bytes:
            with socket.create_connection(("127.0.0.1", listener.port), timeout=10) as idle:
                received = b""
                while chunk := idle.recv(200):  # the banner, then 421 and the end after a second
                    received += chunk
                return received

        assert b"421 4.4.2" in await blocking(overstay)
        assert len(listener.sessions) == 0
        await nothing_faxed(gateway)
