"""A call whose peer vanishes always ends, and its fax always settles (issue 17).

The peer is a real ``faxgw send`` or ``faxgw receive`` process, killed with SIGKILL at a moment of its fax
(no BYE, no more media: a machine that died). The gateway (native engine, SpanDSP, SQLite, real sockets on
127.0.0.1) must end the call itself (``media_timeout`` of silence, T.30's own timers, or the BYE grace) and
settle the fax with the pages that arrived, within a bound, with its channel and call slots free again.
Without the media timeout a fax cut mid-page stayed ``in_progress`` for good: T.30 runs no timer there.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from faxgw.gateway.config import ConfigError, load_config
from faxgw.gateway.domain import EventType, FaxStatus
from faxgw.gateway.store import FaxQuery, FaxRecord

from tests.helpers.dialects import SAMPLE
from tests.helpers.gateway import RECEIVER, Running, gateway_config, start_running
from tests.helpers.hostile import audio_sdp
from tests.helpers.rawsip import RawSip
from tests.helpers.sip import LOCALHOST, free_port
from tests.helpers.vanishing import Moment, VanishingPeer

#: The shortest the gateway takes (T.38 is silent between T.30 signals, T2 = 6 s); its default is 45 s,
#: longer than T.30's longest silence (T1, 35 s).
MEDIA_TIMEOUT = 10.0
#: How long after the kill a fax may take to settle: the silence, then T.30's phase E and the job layer.
BOUND = MEDIA_TIMEOUT + 8

#: The moments of a fax at which the sender dies, as its progress lines show them (2-page sample).
SENDER_MOMENTS = [
    Moment("before the first page", "calling", 2.0),  # the call is up; T.30 in phase B or training
    Moment("just trained", "negotiated"),
    Moment("mid-page", "negotiated", 1.5),
    Moment("between pages", "page 1 sent"),
    Moment("after the last page", "page 2 sent"),
    Moment("before its BYE", "T.30 done"),
]
#: Pages the gateway has for each moment, and the statuses the fax may settle in with them ("failed":
#: failed or any failed_fs_<T.30 code>, which says where T.30 was cut).
RECEIVED = {
    "before the first page": (0, {"failed"}),
    "just trained": (0, {"failed"}),
    "mid-page": (0, {"failed"}),
    "between pages": (1, {"partially_received"}),
    # The document was whole (EOP confirmed): success, or partial if the sender's DCN never came.
    "after the last page": (2, {"success", "partially_received"}),
    "before its BYE": (2, {"success"}),
}


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    config = dataclasses.replace(gateway_config(tmp_path / "var"), media_timeout=MEDIA_TIMEOUT)
    async for started in start_running(config):
        yield started


async def _settled(
    running: Running, fax_id: str | None = None, direction: str = "inbound", timeout: float = BOUND
) -> FaxRecord:
    """The fax (or the tenant's only fax that way) once it is final, within ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while True:
            faxes, _ = await running.gateway.store.query_faxes("acme", FaxQuery(direction=direction))
            fax = next((f for f in faxes if fax_id in (None, f.id)), None)
            if fax is not None and not fax.status.pending:
                return fax
            await asyncio.sleep(0.1)


async def _nothing_held(running: Running) -> None:
    """Every channel back, no call slot of the cluster left (the number's, the destination's, the trunk's)."""
    assert running.gateway.channels.free == running.gateway.config.channels
    rows = await running.gateway.store.database.run(
        lambda db: db.execute("SELECT name, holder FROM call_slots").fetchall()
    )
    assert [dict(row) for row in rows] == []


@pytest.mark.parametrize("mode", ["t38", "audio"])
@pytest.mark.parametrize("moment", SENDER_MOMENTS, ids=lambda moment: moment.name.replace(" ", "_"))
async def test_a_sender_that_dies_leaves_a_settled_fax_with_its_pages(
    running: Running, mode: str, moment: Moment
) -> None:
    port = running.gateway.config.sip_port
    to = f"sip:{RECEIVER}@127.0.0.1:{port}"
    async with VanishingPeer("send", SAMPLE, "--to", to, f"--{mode}") as sender:
        await sender.kill_at(moment)
        killed = time.monotonic()
        fax = await _settled(running)
    took = time.monotonic() - killed
    pages, statuses = RECEIVED[moment.name]
    assert (fax.pages_transferred, fax.pages_total) == (pages, pages), (fax, sender.lines)
    status = "failed" if fax.status.value.startswith("failed") else fax.status.value
    assert status in statuses, (fax.status, fax.error_description, sender.lines)
    assert fax.completed_at is not None and fax.lease_owner is None
    assert took < BOUND, took
    await _nothing_held(running)
    # The settled fax told its watchers: the last event is final, and the call is its attempt. The
    # status is written first, the attempt and the event follow (three store calls): a moment under load.
    events = [event.type for event in await running.events_once_final(fax.id)]
    assert events[-1] in (EventType.RECEIVED, EventType.FAILED), events
    [attempt] = await running.gateway.attempts(fax.id)
    if moment.name in ("just trained", "mid-page"):  # only silence could end these calls
        assert attempt.hangup_cause == "local_bye", attempt
        assert attempt.diagnostics["hung_up_by"] == "us"


@pytest.mark.parametrize("mode", ["t38", "audio"])
async def test_a_receiver_that_dies_mid_fax_leaves_a_settled_outbound_fax(tmp_path: Path, mode: str) -> None:
    receiver_port = free_port()
    config = dataclasses.replace(
        gateway_config(tmp_path / "var"),
        media_timeout=MEDIA_TIMEOUT,
        trunk=f"127.0.0.1:{receiver_port}",
        unpaced_t38=False,  # T.38 at the pace of a real line: a page takes seconds, as in audio
    )
    listen = ["--listen", f"127.0.0.1:{receiver_port}", "--out", tmp_path / "received", "--count", "1"]
    async with VanishingPeer("receive", *listen, f"--{mode}") as receiver:
        await receiver.wait_for("listening on sip:")
        gateway = start_running(config)
        async with contextlib.aclosing(gateway):
            async for running in gateway:
                fax_id = await running.submit(await running.upload(SAMPLE), "+15550177")
                # Once the receiver has confirmed page 1: its MCF goes out after it prints the line, and
                # takes a second or more (V.21 preamble and frame).
                await receiver.kill_at(Moment("mid second page", "page 1 received", 3.0))
                fax = await _settled(running, fax_id, "outbound")
                assert fax.pages_transferred == 1, (fax, receiver.lines)
                assert fax.status == FaxStatus.PARTIALLY_SENT, (fax.status, fax.error_description)
                await _nothing_held(running)


def test_media_timeout_is_read_and_refused_below_t38s_silences(tmp_path: Path) -> None:
    path = tmp_path / "faxgw.toml"
    assert load_config(None, environ={}).media_timeout == 45.0
    path.write_text("media_timeout = 20.0\n")
    assert load_config(path, environ={}).media_timeout == 20.0
    assert load_config(path, environ={"FAXGW_MEDIA_TIMEOUT": "12"}).media_timeout == 12.0
    path.write_text("media_timeout = 5.0\n")
    with pytest.raises(ConfigError, match="media_timeout must be at least 10 seconds"):
        load_config(path, environ={})


async def test_a_caller_gone_before_the_answer_leaves_a_settled_fax(running: Running) -> None:
    """The sender dies between its INVITE and our answer: the 200 is never ACKed. RFC 3261 13.3.1.4: the
    call ends after 64*T1 (32 s), and the fax the INVITE made settles, failed, its channel back."""
    raw = RawSip(LOCALHOST)
    try:
        target = (LOCALHOST, running.gateway.config.sip_port)
        sdp = {"Content-Type": "application/sdp"}
        raw.request("INVITE", target, user=RECEIVER, body=audio_sdp(9), headers=sdp)
        assert (await raw.final(5.0)).status == 200  # answered; no ACK ever comes
        fax = await _settled(running, timeout=32 + 5)
    finally:
        raw.close()
    assert fax.status.value.startswith("failed") and fax.pages_transferred == 0, fax
    [attempt] = await running.gateway.attempts(fax.id)
    assert attempt.hangup_cause == "no_ack", attempt
    await _nothing_held(running)
