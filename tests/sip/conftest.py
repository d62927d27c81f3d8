"""Fixtures for SIP tests: faxgw receive as a subprocess, free ports, a one-page fax document (SIPp as
an independent peer is in tests/conftest.py: the gateway's tests use it too)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.clock import FakeClock
from tests.helpers.pages import make_document


@pytest.fixture
def receiver(fax_receiver: Callable[..., tuple[subprocess.Popen, int]]) -> Callable:
    """Here ``receiver`` is ``faxgw receive`` (tests/conftest.py's ``fax_receiver``), not a webhook one."""
    return fax_receiver


@pytest.fixture
def document(tmp_path: Path) -> Path:
    path = tmp_path / "one-page.tif"
    make_document(path, 1)
    return path


@pytest.fixture
def clock() -> FakeClock:
    """Time for digest nonces and admission rates, moved by the test."""
    return FakeClock()
