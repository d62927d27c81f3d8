"""The Asterisk engine's status (and /metrics over it) against a real Asterisk 22 (sid chroot): told at
once from what the engine knows, never waiting on AMI, and saying what it leaves out."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from faxgw.gateway.config import AsteriskConfig, EngineKind
from faxgw.gateway.peers import TrunkConfig

from tests.helpers.asterisk import PLACEHOLDER, AsteriskInstance, free_port, start_asterisk
from tests.helpers.gateway import gateway_config, start_running
from tests.helpers.metrics import scrape

pytestmark = pytest.mark.slow


async def test_the_status_comes_at_once_and_says_what_it_leaves_out(
    asterisk: Callable[[Mapping[str, str]], AsteriskInstance], tmp_path: Path
) -> None:
    config = dataclasses.replace(
        gateway_config(tmp_path / "var"),
        engine=EngineKind.ASTERISK,
        trunk=None,
        trunks=(TrunkConfig("t", (f"127.0.0.2:{free_port()}",)),),
        asterisk=AsteriskConfig(root=Path(PLACEHOLDER), ami_port=free_port(), ami_secret="ami-test-secret"),
    )
    async for running in start_running(start_asterisk(asterisk, config)):
        status = await asyncio.wait_for(running.gateway.engine_status(), 0.5)
        metrics = await scrape(running.base_url)
    assert status.calls == () and status.trunks == () and status.devices == ()
    assert "trunks and devices are not reported" in status.note
    assert metrics.series("faxgw_trunk_up") == {} and metrics.value("faxgw_registered_devices") == 0
