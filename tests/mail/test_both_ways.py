"""E-mail to fax and fax to e-mail end to end, over real SMTP and real SIP on 127.0.0.1: alice mails a PDF
to the gateway's listener (smtplib, STARTTLS, AUTH); the gateway faxes it to RECEIVER, one of its own
numbers; the received fax is mailed as a PDF to the route's address, and alice gets the outcome, both
through a real SMTP server (aiosmtpd, STARTTLS, AUTH)."""

from __future__ import annotations

import asyncio
import dataclasses
import io
from email.policy import SMTP
from pathlib import Path

import pypdfium2

from tests.helpers.gateway import RECEIVER, gateway_config
from tests.helpers.mail import ALICE, DOMAIN, INBOX, MailGateway, MailSink, fax_mail, mail_config, started


def pdf_pages(data: bytes) -> int:
    return len(pypdfium2.PdfDocument(io.BytesIO(data)))


async def test_a_mailed_pdf_is_faxed_and_the_received_fax_is_mailed(
    mail_gateway: MailGateway, sink: MailSink
) -> None:
    def send() -> tuple[int, bytes]:
        with mail_gateway.logged_in() as client:
            client.mail(ALICE)
            client.rcpt(f"{RECEIVER}@{DOMAIN}")
            return client.data(fax_mail().as_bytes(policy=SMTP))

    code, reply = await asyncio.to_thread(send)
    assert code == 250, reply
    fax_id = reply.decode().split()[-1]
    assert fax_id.startswith("fx")

    running = mail_gateway.running
    outbound = await running.final(fax_id)
    # The mail's subject and text made a cover page in front of the PDF's two pages.
    assert (outbound["status"], outbound["pages"]["transferred"]) == ("success", 3)
    assert outbound["from"] != "" and outbound["to"] == RECEIVER
    inbound = await running.final(await running.inbound())
    assert inbound["status"] == "success"

    mails = await sink.wait(2)
    by_recipient = {tuple(mail.recipients): mail for mail in mails}
    assert set(by_recipient) == {(INBOX,), (ALICE,)}

    received = by_recipient[(INBOX,)].message
    assert received["Subject"] == f"Fax from {inbound['from']} to {RECEIVER} (3 pages, success)"
    [attachment] = list(received.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"{inbound['id']}.pdf"
    assert pdf_pages(attachment.get_content()) == 3

    outcome = by_recipient[(ALICE,)].message
    assert outcome["Subject"] == f"Fax to {RECEIVER} sent: success"
    assert outcome["In-Reply-To"] == "<order-1184@example.com>"
    body = outcome.get_body(("plain",))
    assert body is not None
    assert "Pages: 3 of 3" in body.get_content() and fax_id in body.get_content()


async def test_the_sender_hears_why_a_fax_failed(
    tmp_path: Path, sink: MailSink, certificate: tuple[Path, Path]
) -> None:
    config = mail_config(gateway_config(tmp_path / "var"), sink, certificate)
    # No retries for acme's faxes (a mail cannot ask for any: the tenant's setting is used).
    config = dataclasses.replace(
        config, tenants=tuple(dataclasses.replace(t, retries=0) for t in config.tenants)
    )
    nobody = "+15550999"  # the trunk (this gateway) routes it nowhere: the call is refused

    async with started(config, certificate[1]) as gateway:

        def send() -> dict:
            with gateway.logged_in() as client:
                return client.sendmail(
                    ALICE, [f"{nobody}@{DOMAIN}"], fax_mail(to=nobody).as_bytes(policy=SMTP)
                )

        assert await asyncio.to_thread(send) == {}  # every recipient taken
        [mail] = await sink.wait(1)
        fax = (await gateway.running.client.get("/v1/faxes")).json()["faxes"][0]
    assert fax["status"].startswith("failed") and mail.recipients == [ALICE]
    assert mail.message["Subject"] == f"Fax to {nobody} NOT sent: {fax['status']}"
    body = mail.message.get_body(("plain",))
    assert body is not None and "Reason: " in body.get_content()
