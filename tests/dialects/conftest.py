"""The dialect tests' shared fixtures: a running gateway that faxes itself, and the real HTTP receiver
that webhooks are sent to."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.gateway.conftest import Running, gateway_config, start_running
from tests.webhooks.conftest import receiver  # noqa: F401  (re-exported as a fixture)


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    """The gateway with the test config: an outbound fax to RECEIVER comes back in for tenant acme."""
    async for started in start_running(gateway_config(tmp_path / "var")):
        yield started
