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
import re
from pathlib import Path

import pytest
from faxgw.gateway.config import Config
from faxgw.gateway.peers import TrunkConfig
from faxgw.sip.fax_terms import T38Policy

from tests.helpers.gateway import Running, gateway_config, start_running
from tests.helpers.sip import LOCALHOST, Sipp, SippPeer

ROOT = Path(__file__).resolve().parents[2]
NUMBER = "+15550123"


def invites_by_call(trace: str) -> dict[str, list[str]]:
    """The INVITEs SIPp received, by Call-ID, in order: each one's whole text."""
    calls: dict[str, list[str]] = {}
    for block in re.split(r"^-{20,}.*$", trace, flags=re.MULTILINE):
        if "message received" not in block:
            continue
        message = block.split("\n\n", 1)[1] if "\n\n" in block else block
        if not message.lstrip().startswith("INVITE "):
            continue
        call_id = re.search(r"^(?:Call-ID|i):\s*(\S+)", message, flags=re.MULTILINE | re.IGNORECASE)
        assert call_id is not None, message
        calls.setdefault(call_id.group(1), []).append(message)
    return calls


def through(peer: SippPeer, config: Config) -> Config:
    """The gateway with one trunk, SIPp, that offers T.38 on every call unless it learns otherwise."""
    trunk = TrunkConfig("a", hosts=(f"{LOCALHOST}:{peer.port}",), t38=T38Policy.T38, keepalive=0)
    return dataclasses.replace(config, trunk=None, trunks=(trunk,))


async def send(running: Running, file_id: str, retries: int) -> dict:
    return await running.final(await running.submit(file_id, NUMBER, retries=retries), timeout=60)


@pytest.mark.slow  # SIPp in real time: three calls of ~2 s
async def test_t38_refused_once_means_g711_for_the_retry_and_the_next_fax(sipp: Sipp, tmp_path: Path) -> None:
    peer = await sipp.start("uas_t38_refused_each_call.xml", calls=3, trace=True)
    async for running in start_running(through(peer, gateway_config(tmp_path / "var"))):
        file_id = await running.upload(ROOT / "samples" / "sample.pdf")
        first = await send(running, file_id, retries=1)
        second = await send(running, file_id, retries=0)
    assert await peer.finished() == 0, peer.errors()

    attempts = [*first["attempts"], *second["attempts"]]
    assert len(attempts) == 3, attempts
    invites = invites_by_call(peer.messages())
    offers = [[("m=image" in invite) for invite in invites[attempt["call_id"]]] for attempt in attempts]
    # The first call: our INVITE (audio), then our T.38 re-INVITE, which SIPp refused. The retry and the
    # next fax: one INVITE each, on audio, and no T.38 offer after it.
    assert offers == [[False, True], [False], [False]]

    summaries = [attempt["summary"] for attempt in attempts]
    assert summaries[0].startswith("T.38 refused with 488 on trunk a; G.711 failed"), summaries
    learned = "G.711 on trunk a as learned (T.38 refused with 488); G.711 failed"
    assert all(later.startswith(learned) for later in summaries[1:]), summaries


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
