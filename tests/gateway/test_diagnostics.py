"""Each call of a fax explains itself: ``GET /v1/faxes/{id}/attempts/{n}/diagnostics`` and ``faxgw
diagnose``, on a real fax through a whole gateway (native engine, SpanDSP, SQLite, faxing itself over
127.0.0.1): the sending attempt and the received fax's one call."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from faxgw.gateway.diagnosticsconfig import DiagnosticsConfig
from faxgw.gateway.engines import CallResult, CallStatus
from faxgw.gateway.jobs.delivery import summary
from faxgw.gateway.peers import TrunkConfig
from faxgw.sip.fax_terms import T38Policy

from tests.helpers.dialects import SAMPLE
from tests.helpers.gateway import OTHER, RECEIVER, Running, gateway_config, start_running
from tests.helpers.sip import LOCALHOST, Sipp


async def _sent_and_received(running: Running) -> tuple[str, str]:
    fax_id = await running.submit(await running.upload(SAMPLE), RECEIVER)
    inbound_id = await running.inbound()
    assert (await running.final(fax_id))["status"] == "success"
    assert (await running.final(inbound_id))["status"] == "success"
    return fax_id, inbound_id


async def test_both_ends_of_a_fax_tell_their_call(running: Running) -> None:
    fax_id, inbound_id = await _sent_and_received(running)
    sent = (await running.client.get(f"/v1/faxes/{fax_id}/attempts/1/diagnostics")).json()
    received = (await running.client.get(f"/v1/faxes/{inbound_id}/attempts/1/diagnostics")).json()
    assert (sent["fax_id"], sent["attempt"], received["attempt"]) == (fax_id, 1, 1)
    # One call, seen from both ends: the same Call-ID; the sender ends it after T.30's DCN (T.30 5.3.2).
    assert sent["call_id"] and sent["call_id"] == received["call_id"]
    assert (sent["hung_up_by"], received["hung_up_by"]) == ("us", "peer")
    assert "succeeded" in sent["summary"] and "succeeded" in received["summary"], (sent, received)
    assert (sent["sip_code"], sent["t30_code"]) == (200, 0)


async def test_an_attempt_that_is_not_there_or_not_yours_is_404(running: Running) -> None:
    fax_id, _ = await _sent_and_received(running)
    missing = await running.client.get(f"/v1/faxes/{fax_id}/attempts/2/diagnostics")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found", missing.text
    async with running.as_key(OTHER) as other:
        foreign = await other.get(f"/v1/faxes/{fax_id}/attempts/1/diagnostics")
    assert foreign.status_code == 404, foreign.text


async def test_faxgw_diagnose_reads_the_store(running: Running) -> None:
    fax_id, _ = await _sent_and_received(running)
    environment = {**os.environ, "FAXGW_DATA_DIR": str(running.gateway.config.data_dir)}

    async def diagnose(*arguments: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "faxgw.gateway.cli", "diagnose", *arguments]
        return await asyncio.to_thread(
            subprocess.run, command, env=environment, capture_output=True, text=True, timeout=60
        )

    told = await diagnose(fax_id)
    assert told.returncode == 0, told.stderr
    assert f"{fax_id}: outbound" in told.stdout and "attempt 1: success" in told.stdout, told.stdout
    assert "hung up by the gateway" in told.stdout, told.stdout
    # One timeline of SIP and T.30, then the media figures.
    lines = told.stdout.splitlines()
    assert any(line.endswith("SIP  -> INVITE (audio)") for line in lines), told.stdout
    assert any("T.30 -> DCS V.17 14400 bit/s" in line for line in lines), told.stdout
    assert any(line.strip().startswith("rtp: ") and "0 lost" in line for line in lines), told.stdout
    as_json = await diagnose(fax_id, "--json")
    [attempt] = json.loads(as_json.stdout)
    assert (attempt["attempt"], attempt["hung_up_by"]) == (1, "us")
    unknown = await diagnose("fx_00000000000000000000")
    assert unknown.returncode == 1 and "no fax with id 'fx_00000000000000000000'" in unknown.stderr
    no_such_attempt = await diagnose(fax_id, "--attempt", "5")
    assert no_such_attempt.returncode == 1 and "has no attempt 5 (it has 1)" in no_such_attempt.stderr


def _names(steps: list[dict]) -> list[tuple[str, bool]]:
    return [(step["name"], step["sent"]) for step in steps]


def _in_order(wanted: list, steps: list) -> bool:
    """``wanted`` is a subsequence of ``steps`` (each in turn, later than the one before)."""
    remaining = iter(steps)
    return all(any(step == want for step in remaining) for want in wanted)


async def test_the_call_is_told_frame_by_frame_message_by_message(running: Running) -> None:
    fax_id, inbound_id = await _sent_and_received(running)
    sent = (await running.client.get(f"/v1/faxes/{fax_id}/attempts/1/diagnostics")).json()
    received = (await running.client.get(f"/v1/faxes/{inbound_id}/attempts/1/diagnostics")).json()
    # T.30 as SpanDSP saw it at each end: the same frames, each sent by one end and received by the other.
    exchange = ["DIS", "DCS", "CFR", "MCF", "DCN"]
    by_sender = [False, True, False, False, True]  # the answering station sends DIS, CFR and MCF
    assert _in_order(list(zip(exchange, by_sender, strict=True)), _names(sent["t30"])), sent["t30"]
    assert _in_order([(n, not s) for n, s in zip(exchange, by_sender, strict=True)], _names(received["t30"]))
    dcs = next(step for step in sent["t30"] if step["name"] == "DCS")
    assert dcs["detail"].startswith("V.17 14400 bit/s"), dcs
    assert [step["at"] for step in sent["t30"]] == sorted(step["at"] for step in sent["t30"])
    # The SIP ladder: one end's sent is the other's received, though both ends are this gateway's one
    # user agent (the same Call-ID and socket: told apart by the dialog's tags).
    ladder = [(step["message"], step["sent"]) for step in sent["sip"]]
    assert ladder[0] == ("INVITE (audio)", True) and ("200 OK (audio)", False) in ladder, ladder
    reinvite = next(step for step in ladder if step[0] == "re-INVITE (T.38)")
    assert ("200 OK (T.38)", not reinvite[1]) in ladder and ("BYE", True) in ladder, ladder
    mirrored = [(step["message"], not step["sent"]) for step in received["sip"]]
    assert [step for step in mirrored if step[0] != "100 Trying"] == [
        step for step in ladder if step[0] != "100 Trying"
    ]
    for end in (sent, received):
        media = {stream["kind"]: stream for stream in end["media"]}
        assert media.keys() == {"rtp", "udptl"}, end["media"]
        for stream in media.values():
            assert stream["packets_sent"] > 0 and stream["packets_received"] > 0, stream
            assert (stream["lost"], stream["late"]) == (0, 0), stream  # loopback loses nothing
        assert media["rtp"]["jitter_ms"] is not None
        assert end["pcap"] is False  # captures are off by default, and only for failed calls


@pytest.mark.slow  # SIPp in real time: a call of ~2 s
async def test_a_refused_t38_offer_shows_in_the_summary_and_the_ladder(sipp: Sipp, tmp_path: Path) -> None:
    peer = await sipp.start("uas_t38_refused_each_call.xml", calls=1)
    config = dataclasses.replace(
        gateway_config(tmp_path / "var"), diagnostics=DiagnosticsConfig(pcap_failed_calls=True)
    )
    trunk = TrunkConfig("a", hosts=(f"{LOCALHOST}:{peer.port}",), t38=T38Policy.T38, keepalive=0)
    async for running in start_running(dataclasses.replace(config, trunk=None, trunks=(trunk,))):
        fax_id = await running.submit(await running.upload(SAMPLE), RECEIVER, retries=0)
        assert (await running.final(fax_id, timeout=60))["status"] != "success"
        told = (await running.client.get(f"/v1/faxes/{fax_id}/attempts/1/diagnostics")).json()
        [attempt] = await running.gateway.store.attempts(fax_id)
    assert await peer.finished() == 0, peer.errors()
    assert told["summary"].startswith("T.38 refused with 488 on trunk a; G.711 failed"), told["summary"]
    ladder = [(step["message"], step["sent"]) for step in told["sip"]]
    assert _in_order(
        [
            ("INVITE (audio)", True),
            ("200 OK (audio)", False),
            ("ACK", True),
            ("re-INVITE (T.38)", True),
            ("488 Not Acceptable Here", False),
            ("ACK", True),
            ("BYE", False),
            ("200 OK (BYE)", True),
        ],
        ladder,
    ), ladder
    assert told["hung_up_by"] == "peer"
    assert all(step["name"] != "CFR" for step in told["t30"])  # no fax machine: no training got through
    # The failed call left a capture of its own packets: SIP both ways, and our RTP toward SIPp.
    assert told["pcap"] is True
    capture = Path(attempt.diagnostics["pcap"])
    assert capture.parent == tmp_path / "var" / "pcap" and capture.name.endswith(".pcap")
    payloads = [(source, destination, data) for source, destination, data in read_pcap(capture)]
    sip = [data for _, _, data in payloads if data[:3] in (b"INV", b"SIP", b"ACK", b"BYE")]
    assert sip[0].startswith(b"INVITE sip:") and any(b" 488 Not Acceptable Here" in m[:40] for m in sip)
    rtp = [data for _, _, data in payloads if data[:1] == b"\x80" and len(data) == 172]  # G.711, 20 ms each
    assert len(rtp) > 10, len(payloads)


def read_pcap(path: Path) -> list[tuple[tuple[str, int], tuple[str, int], bytes]]:
    """The UDP datagrams of a classic pcap file of raw IPv4 packets: (source, destination, payload)."""
    data = path.read_bytes()
    magic, _, _, _, _, _, link = struct.unpack_from("<IHHiIII", data)
    assert (magic, link) == (0xA1B2C3D4, 101)  # LINKTYPE_RAW
    packets, offset = [], 24
    while offset < len(data):
        _, _, kept, _ = struct.unpack_from("<IIII", data, offset)
        packet = data[offset + 16 : offset + 16 + kept]
        offset += 16 + kept
        assert packet[0] >> 4 == 4 and packet[9] == 17, packet[:20]  # IPv4, UDP
        header = (packet[0] & 0x0F) * 4
        source = (socket.inet_ntoa(packet[12:16]), int.from_bytes(packet[header : header + 2]))
        destination = (socket.inet_ntoa(packet[16:20]), int.from_bytes(packet[header + 2 : header + 4]))
        packets.append((source, destination, packet[header + 8 :]))
    return packets


def test_the_summary_tells_what_t30_had_to_do() -> None:
    result = CallResult(
        status=CallStatus.SUCCESS,
        sip_code=200,
        hangup_cause="local_bye",
        t30_code=0,
        t30_text="OK",
        pages=1,
        pages_expected=1,
        t38=False,
        bit_rate=9600,
        ecm=True,
        remote_ident="",
        call_id="c",
        t38_refused=488,
    )
    told = summary(dataclasses.replace(result, t30_story="training failed twice at 14400, then 9600"), ())
    assert told == "T.38 refused with 488; G.711 training failed twice at 14400, then 9600 succeeded"
    assert summary(result, ()) == "T.38 refused with 488; G.711 at 9600 succeeded"
