"""Real faxes between our own SIP endpoints over 127.0.0.1: separate processes through the CLI, and
in-process calls for the cases a CLI cannot provoke (a BYE in mid-page, session refreshes mid-fax)."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
from pathlib import Path

import pytest
from faxgw.gateway.documents import convert, page_differences
from faxgw.sip.call import IncomingCall
from faxgw.sip.fax import PageDone
from faxgw.sip.fax_call import FaxCallOptions, T38Policy

from tests.helpers.pages import make_document
from tests.helpers.sip import FAXGW, LOCALHOST, ROOT, Pair


@pytest.mark.slow  # real-time faxes between two processes, 5-26 s each
@pytest.mark.parametrize(
    ("sender_flags", "receiver_flags", "t38", "pages"),
    [
        (["--auto", "--unpaced"], ["--auto", "--unpaced"], True, 2),  # the receiver re-INVITEs to T.38
        (["--t38", "--unpaced"], ["--t38", "--unpaced"], True, 2),  # both do: glare, 491, back-off
        (["--auto"], ["--auto"], True, 1),  # real T.38 pacing
        (["--audio"], ["--audio"], False, 1),  # G.711 passthrough, real time
    ],
    ids=["t38-receiver-offers", "t38-glare", "t38-paced", "g711"],
)
def test_fax_between_two_processes(
    tmp_path: Path, receiver, sender_flags: list[str], receiver_flags: list[str], t38: bool, pages: int
) -> None:
    sent = tmp_path / "sent.tif"
    if pages == 2:
        convert([ROOT / "samples" / "sample.pdf"], sent)
    else:
        make_document(sent, pages)
    process, port = receiver(*receiver_flags)

    send = subprocess.run(
        [
            FAXGW,
            "send",
            sent,
            "--to",
            f"sip:555@{LOCALHOST}:{port}",
            "--json",
            "--ident",
            "+1 555 0100",
            *sender_flags,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert send.returncode == 0, send.stdout + send.stderr
    sender = json.loads(send.stdout)
    assert (sender["status"], sender["pages"], sender["pages_expected"]) == ("success", pages, pages)
    assert (sender["t38"], sender["sip_code"], sender["remote_ident"]) == (t38, 200, "+1 555 0199")

    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    got = json.loads(stdout.strip().splitlines()[-1])
    assert (got["status"], got["pages"], got["t38"], got["remote_ident"]) == (
        "success",
        pages,
        t38,
        "+1 555 0100",
    )
    assert page_differences(sent, Path(got["tiff"])) == [0] * pages
    assert Path(got["pdf"]).read_bytes().startswith(b"%PDF")


@pytest.mark.slow  # real-time paced T.38, ~16 s
async def test_bye_in_mid_page_is_partially_sent(tmp_path: Path) -> None:
    make_document(tmp_path / "tx.tif", 3)
    async with Pair(tmp_path, FaxCallOptions(t38=T38Policy.AUTO)) as pair:
        calls: list[IncomingCall] = []
        pair.on_receiver_call = calls.append

        def hang_up_during_page_2(event: object) -> None:
            if isinstance(event, PageDone) and event.page == 1:
                # With real pacing the sender hears the MCF for page 1 about 1.2 s after this, and page 2
                # takes about 4 s: two seconds in, page 1 is confirmed and page 2 is half way.
                asyncio.get_running_loop().call_later(2.0, lambda: asyncio.ensure_future(calls[0].hangup()))

        pair.on_receiver_event = hang_up_during_page_2
        sent = await pair.send(tmp_path / "tx.tif")
        received = await pair.received
    assert (sent.status, sent.pages, sent.pages_expected) == ("partial", 1, 3)
    assert sent.hangup_cause == "remote_bye" and sent.t30_code != 0
    assert (received.status, received.pages, received.hangup_cause) == ("partial", 1, "local_bye")


@pytest.mark.slow  # real-time paced T.38, ~10 s
async def test_a_sender_cancelled_mid_fax_hangs_up(tmp_path: Path) -> None:
    """Whoever ran the sending fax gave it up (its gateway stopped, or another node took the fax): the
    call ends with a BYE at once, not when the receiver's timers give up on the missing pages."""
    make_document(tmp_path / "tx.tif", 3)
    async with Pair(tmp_path, FaxCallOptions(t38=T38Policy.AUTO)) as pair:
        page_one: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def on_event(event: object) -> None:
            if isinstance(event, PageDone) and event.page == 1 and not page_one.done():
                page_one.set_result(None)

        pair.on_receiver_event = on_event
        sending = asyncio.ensure_future(pair.send(tmp_path / "tx.tif"))
        await page_one
        sending.cancel()
        cancelled = asyncio.get_running_loop().time()
        received = await asyncio.wait_for(pair.received, 5)
        ended = asyncio.get_running_loop().time() - cancelled
        with pytest.raises(asyncio.CancelledError):
            await sending
    assert (received.status, received.pages, received.hangup_cause) == ("partial", 1, "remote_bye")
    assert ended < 1.0


@pytest.mark.slow  # real-time paced T.38, ~17 s
async def test_session_refreshes_do_not_disturb_a_running_t38_fax(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pages = make_document(tmp_path / "tx.tif", 1)
    assert pages
    # RFC 4028 allows no less than 90 s; a 4 s interval (refresh every 2 s) is for this test only.
    config = {"session_expires": 4, "min_se": 2}
    caplog.set_level(logging.INFO, logger="sip.call")
    async with Pair(tmp_path, FaxCallOptions(t38=T38Policy.AUTO), config) as pair:
        sent = await pair.send(tmp_path / "tx.tif")
        received = await pair.received
    refreshes = [record for record in caplog.records if "session refreshed" in record.getMessage()]
    assert len(refreshes) >= 4, "each refresh is logged by both ends; expected at least two refreshes"
    assert sent.status == received.status == "success"
    assert sent.t38 and received.t38
    assert page_differences(tmp_path / "tx.tif", tmp_path / "rx.tif") == [0]
    # The diagnostics' SIP ladder tells the refreshes from the switch to T.38 (the same SDP again).
    ladder = [step.message for step in sent.diagnostics.sip]
    assert ladder.count("re-INVITE (T.38)") == 1, ladder
    assert ladder.count("re-INVITE (session refresh)") >= 2, ladder
