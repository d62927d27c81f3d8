"""Kill the gateway in the middle of a fax and start it again: the fax is settled from what was
recorded (pages confirmed so far), resumed where it stopped, and no page is sent twice."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from faxgw.gateway.demo import free_port

from tests.helpers.gateway import EDIT, SENDER
from tests.helpers.pages import make_document
from tests.helpers.serve_process import FAXGW, start_gateway, wait_api, write_config

DESTINATION = "+15550300"


@pytest.mark.slow  # a real-time fax killed and resumed, ~45 s
def test_killed_mid_fax_is_settled_and_resumed(tmp_path: Path) -> None:
    make_document(tmp_path / "three.tif", 3)
    trunk_port = free_port(socket.SOCK_DGRAM)
    # The far end: a plain faxgw receiver for two calls (the cut one, the resumed one), real T.38 pacing.
    receiver = subprocess.Popen(
        [
            FAXGW,
            "receive",
            "--listen",
            f"127.0.0.1:{trunk_port}",
            "--out",
            tmp_path / "received",
            "--count",
            "2",
            "--json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert receiver.stderr is not None and "listening" in receiver.stderr.readline()
    api_port = free_port(socket.SOCK_STREAM)
    config = tmp_path / "gateway.toml"
    write_config(config, tmp_path / "var", api_port, trunk_port)
    log = tmp_path / "gateway.log"
    gateway = start_gateway(config, log)
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{api_port}", headers={"Authorization": f"Bearer {EDIT}"}, timeout=30
        ) as client:
            wait_api(client)
            file_id = client.post(
                "/v1/files", files={"file": ("three.tif", (tmp_path / "three.tif").read_bytes())}
            ).json()["id"]
            fax_id = client.post(
                "/v1/faxes",
                json={
                    "from": SENDER,
                    "to": [DESTINATION],
                    "files": [file_id],
                    "return_ids": True,
                    "options": {"retry": {"count": 1, "delay": 0}, "partially_sent_retry": True},
                },
            ).json()["ids"][DESTINATION]
            with client.stream("GET", f"/v1/faxes/{fax_id}/events") as events:
                for line in events.iter_lines():
                    if line.startswith("data: ") and json.loads(line[6:])["type"] == "page.sent":
                        break  # page 1 is confirmed; page 2 is on its way
            os.kill(gateway.pid, signal.SIGKILL)
            gateway.wait()

            gateway = start_gateway(config, log)
            wait_api(client)
            deadline = time.monotonic() + 120
            while (fax := client.get(f"/v1/faxes/{fax_id}").json())["status"] not in (
                "success",
                "partially_sent",
            ):
                assert time.monotonic() < deadline, fax
                time.sleep(0.2)
    finally:
        gateway.send_signal(signal.SIGINT)
        try:
            gateway.wait(timeout=10)
        except subprocess.TimeoutExpired:
            gateway.kill()
        if receiver.poll() is None:
            receiver.kill()
        receiver.communicate()

    attempts = [(a["n"], a["status"], a["pages_sent"]) for a in fax["attempts"]]
    # Attempt 1 was cut by the crash after page 1; attempt 2 resumed at page 2 and sent 2 and 3 only.
    assert attempts == [(1, "failed_internal_process_error", 1), (2, "success", 2)], (
        attempts,
        log.read_text(),
    )
    assert fax["status"] == "success" and fax["pages"] == {"total": 3, "transferred": 3}
