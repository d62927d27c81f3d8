"""Learned delivery and the sorting of failures through the whole gateway, against a trunk-side peer we
did not write: SIPp.

A refusal (403, 603) ends the fax at once; busy is retried. A peer that answers every call on audio,
refuses our T.38 re-INVITE with 488 and hangs up (no fax machine behind it): the first attempt offers
T.38 (the trunk's policy is t38) and is refused; the retry, and the next fax to the same number, start
on G.711 and offer no T.38 at all (read from SIPp's own trace of what it received), and each attempt's
summary in the fax object says why.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.helpers.gateway import SENDER, Running, gateway_config, start_running
from tests.helpers.sip import LOCALHOST, Sipp

ROOT = Path(__file__).resolve().parents[2]
NUMBER = "+15550123"


async def send(running: Running, file_id: str, retries: int) -> dict:
    sent = await running.client.post(
        "/v1/faxes",
        json={
            "from": SENDER,
            "to": [NUMBER],
            "files": [file_id],
            "return_ids": True,
            "options": {"retry": {"count": retries, "delay": 0}},
        },
    )
    assert sent.status_code == 201, sent.text
    return await running.final(sent.json()["ids"][NUMBER], timeout=60)


@pytest.mark.parametrize(
    ("status", "reason", "attempts", "final"),
    [
        ("403", "Forbidden", 1, "failed_normal_clearing"),  # the callee's no: asked again, it says it again
        ("603", "Decline", 1, "failed_normal_clearing"),
        ("486", "Busy Here", 2, "failed_user_busy"),  # busy may be free later: retried
    ],
)
async def test_a_permanent_failure_is_not_retried(
    sipp: Sipp, tmp_path: Path, status: str, reason: str, attempts: int, final: str
) -> None:
    peer = await sipp.start("uas_reject.xml", keys={"status": status, "reason": reason}, calls=attempts)
    config = dataclasses.replace(gateway_config(tmp_path / "var"), trunk=f"{LOCALHOST}:{peer.port}")
    async for running in start_running(config):
        file_id = await running.upload(ROOT / "samples" / "sample.pdf")
        fax = await send(running, file_id, retries=1)
    assert await peer.finished() == 0, peer.errors()
    assert fax["status"] == final
    assert [attempt["sip_code"] for attempt in fax["attempts"]] == [int(status)] * attempts
