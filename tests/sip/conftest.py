"""Fixtures for SIP tests: faxgw receive as a subprocess, free ports, a one-page fax document (SIPp as
an independent peer is in tests/conftest.py: the gateway's tests use it too)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.clock import FakeClock
from tests.helpers.pages import make_document
from tests.helpers.sip import FAXGW, LOCALHOST, free_port, start_receiver


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator:
    """Start ``faxgw receive`` for one fax; stopped by PID if the test leaves it running."""
    started: list[subprocess.Popen] = []

    def start(*flags: str) -> tuple[subprocess.Popen, int]:
        port = free_port()
        out = tmp_path / "received"
        process = start_receiver(
            [
                FAXGW,
                "receive",
                "--listen",
                f"{LOCALHOST}:{port}",
                "--out",
                out,
                "--count",
                "1",
                "--json",
                "--ident",
                "+1 555 0199",
                *flags,
            ]
        )
        started.append(process)
        return process, port

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()


@pytest.fixture
def document(tmp_path: Path) -> Path:
    path = tmp_path / "one-page.tif"
    make_document(path, 1)
    return path


@pytest.fixture
def clock() -> FakeClock:
    """Time for digest nonces and admission rates, moved by the test."""
    return FakeClock()
