"""A draining SIP user agent (``UserAgent.drain``), on real sockets: new calls and OPTIONS get 503 with
Retry-After, while the call it already has goes on to its end, re-INVITE to T.38 and BYE included."""

from __future__ import annotations

from pathlib import Path

from faxgw.gateway.documents import page_differences
from faxgw.sip.call import IncomingCall
from faxgw.sip.fax_call import FaxCallOptions, send_fax
from faxgw.sip.fax_terms import T38Policy
from faxgw.sip.ua import DRAINING_RETRY_AFTER, UaConfig, UserAgent

from tests.helpers.pages import make_document
from tests.helpers.sip import LOCALHOST, Pair


async def test_a_draining_user_agent_takes_no_new_call_and_finishes_its_own(tmp_path: Path) -> None:
    make_document(tmp_path / "tx.tif", 2)
    options = FaxCallOptions(t38=T38Policy.AUTO, paced=False)
    async with Pair(tmp_path, options) as pair:
        # The call's INVITE has arrived (its dialog exists) when the callee starts to drain: the answer,
        # the re-INVITE to T.38 and the BYE all come after.
        pair.on_receiver_call = lambda call: pair.callee.drain()
        sent = await pair.send(tmp_path / "tx.tif")
        received = await pair.received
        assert (sent.status, sent.pages, sent.t38) == ("success", 2, True)
        assert (received.status, received.pages, received.hangup_cause) == ("success", 2, "remote_bye")
        assert page_differences(tmp_path / "tx.tif", tmp_path / "rx.tif") == [0, 0]

        host, port = pair.callee.address
        stranger = UserAgent(UaConfig(host=LOCALHOST))
        await stranger.start()
        try:
            probe = await stranger.options(f"sip:{host}:{port}")
            assert (probe.status, probe.headers.get("Retry-After")) == (503, str(DRAINING_RETRY_AFTER))
            offered: list[IncomingCall] = []
            pair.on_receiver_call = offered.append
            refused = await send_fax(stranger, f"sip:555@{host}:{port}", tmp_path / "tx.tif", options=options)
            assert (refused.status, refused.sip_code) == ("rejected", 503)
            assert offered == []  # never handed to the application
        finally:
            stranger.close()
