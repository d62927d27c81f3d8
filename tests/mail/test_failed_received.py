"""A received fax cut off mid-call (the sending side hangs up after the first page: a real call through the
gateway, cancelled while it is up) is mailed with the page that came and why it failed, as ``email_failed``
(default true) asks; with ``email_failed = false`` it is not mailed at all."""

from __future__ import annotations

import asyncio
import dataclasses
import io
from pathlib import Path

import pypdfium2
import pytest
from faxgw.gateway.domain import FaxStatus
from faxgw.gateway.service import NewFax

from tests.helpers.gateway import RECEIVER, SENDER, gateway_config
from tests.helpers.mail import INBOX, SAMPLE, MailSink, mail_config, started

TENANT = "acme"


@pytest.mark.parametrize("email_failed", [True, False])
async def test_a_fax_cut_off_mid_call_is_mailed_with_its_reason(
    tmp_path: Path, sink: MailSink, certificate: tuple[Path, Path], email_failed: bool
) -> None:
    config = mail_config(gateway_config(tmp_path / "var"), sink, certificate)
    config = dataclasses.replace(
        config, routes=tuple(dataclasses.replace(r, email_failed=email_failed) for r in config.routes)
    )
    async with started(config, certificate[1]) as gateway:
        service = gateway.running.gateway
        pdf = await service.save_file(TENANT, SAMPLE.name, SAMPLE.read_bytes())
        # Four pages: the call is cut after the first, long before the last.
        [sent] = await service.submit(TENANT, NewFax([SENDER], [RECEIVER], [pdf.id, pdf.id]))
        inbound_id = await gateway.running.inbound()
        async with asyncio.timeout(60):
            while (await service.fax(TENANT, inbound_id)).pages_transferred < 1:
                await asyncio.sleep(0.02)
        await service.cancel(TENANT, sent.id)  # hangs the call up
        received = await gateway.running.final(inbound_id)
        assert received["status"] not in ("success", FaxStatus.SUCCESS.value), received
        cut = await service.fax(TENANT, inbound_id)
        assert 1 <= cut.pages_transferred < 4 and cut.error_description
        if not email_failed:
            await asyncio.sleep(1.0)  # the mail, had it been stored, is sent at once (retry_delay 0.2 s)
            assert await service.mail_outbox.for_fax(inbound_id) == [] and sink.mails == []
            return
        [mail] = await sink.wait(1)
    assert mail.recipients == [INBOX]
    message = mail.message
    assert (
        message["Subject"]
        == f"Fax from {cut.from_number} to {RECEIVER} ({cut.pages_transferred} pages, {cut.status})"
    )
    body = message.get_body(("plain",))
    assert body is not None and f"Status: {cut.status} {cut.error_description}" in body.get_content()
    [attachment] = list(message.iter_attachments())  # the pages that came
    assert len(pypdfium2.PdfDocument(io.BytesIO(attachment.get_content()))) == cut.pages_transferred
