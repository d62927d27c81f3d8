"""Fixtures of the e-mail tests: the SMTP server the gateway mails to, and a gateway with its SMTP listener,
both on free ports of 127.0.0.1, both stopped at the end (tests/helpers/mail.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.helpers.gateway import gateway_config
from tests.helpers.mail import MailGateway, MailSink, mail_config, started


@pytest.fixture
def sink(certificate: tuple[Path, Path]) -> Iterator[MailSink]:
    server = MailSink(certificate)
    server.controller.start()
    try:
        yield server
    finally:
        server.controller.stop()


@pytest.fixture
async def mail_gateway(
    tmp_path: Path, sink: MailSink, certificate: tuple[Path, Path]
) -> AsyncIterator[MailGateway]:
    config = mail_config(gateway_config(tmp_path / "var"), sink, certificate)
    async with started(config, certificate[1]) as gateway:
        yield gateway
