"""Each call of a fax explains itself: ``GET /v1/faxes/{id}/attempts/{n}/diagnostics`` and ``faxgw
diagnose``, on a real fax through a whole gateway (native engine, SpanDSP, SQLite, faxing itself over
127.0.0.1): the sending attempt and the received fax's one call."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

from tests.helpers.dialects import SAMPLE
from tests.helpers.gateway import OTHER, RECEIVER, Running


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
    as_json = await diagnose(fax_id, "--json")
    [attempt] = json.loads(as_json.stdout)
    assert (attempt["attempt"], attempt["hung_up_by"]) == (1, "us")
    unknown = await diagnose("fx_00000000000000000000")
    assert unknown.returncode == 1 and "no fax with id 'fx_00000000000000000000'" in unknown.stderr
    no_such_attempt = await diagnose(fax_id, "--attempt", "5")
    assert no_such_attempt.returncode == 1 and "has no attempt 5 (it has 1)" in no_such_attempt.stderr
