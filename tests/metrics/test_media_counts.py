"""RTP/UDPTL figures in /metrics: what each call's diagnostics measured (``MediaFigures``), added up by kind
and outcome at the call's end; a real fax the gateway sends itself over T.38 on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest
from faxgw.gateway.metrics import Metrics
from faxgw.sip.diagnostics import MediaFigures

from tests.helpers.gateway import RECEIVER, Running
from tests.helpers.metrics import scrape
from tests.helpers.pages import make_document


def test_each_figure_of_each_stream_is_added_under_its_kind() -> None:
    metrics = Metrics()
    streams = (
        MediaFigures("rtp", packets_received=500, lost=3, late=1),
        MediaFigures("udptl", packets_received=200, lost=4, recovered=3),
    )
    metrics.call_ended("outbound", "success", t38=True, pages=1, media=streams)
    metrics.call_ended("inbound", "success", t38=True, pages=1, media=streams[1:])

    def value(kind: str, outcome: str) -> float | None:
        return metrics.registry.get_sample_value(
            "faxgw_media_packets_total", {"kind": kind, "outcome": outcome}
        )

    assert (value("rtp", "arrived"), value("rtp", "lost"), value("rtp", "late")) == (500, 3, 1)
    assert (value("udptl", "arrived"), value("udptl", "lost"), value("udptl", "recovered")) == (400, 8, 6)


@pytest.mark.slow
async def test_a_real_t38_call_counts_its_udptl_packets(running: Running, tmp_path: Path) -> None:
    document = tmp_path / "doc.tif"
    make_document(document, 1)
    fax_id = await running.submit(await running.upload(document), RECEIVER)
    fax = await running.final(fax_id)
    assert fax["status"] == "success" and fax["t38"] is True, fax
    await running.final(await running.inbound())

    after = await scrape(running.base_url)
    # Both legs of the call received UDPTL (each leg's figures at its end).
    assert after.value("faxgw_media_packets_total", kind="udptl", outcome="arrived") > 0
