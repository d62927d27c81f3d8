"""``faxgw receive`` at the SIP edge: it listens on TCP as well as UDP; ``--allow`` limits who may call."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

from faxgw.sip.fax_call import FaxCallOptions, FaxOutcome, send_fax
from faxgw.sip.ua import UaConfig, UserAgent

from tests.helpers.sip import FAXGW, LOCALHOST

FAST = FaxCallOptions(paced=False)


async def fax(host: str, target: str, document: Path, **config: object) -> FaxOutcome:
    ua = UserAgent(UaConfig(host=host, **config))  # type: ignore[arg-type]
    await ua.start()
    try:
        return await send_fax(ua, target, document, options=FAST)
    finally:
        ua.close()


def received(process: subprocess.Popen) -> dict:
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    return json.loads(stdout.strip().splitlines()[-1])


async def test_receive_takes_a_fax_over_tcp(receiver, document: Path) -> None:
    process, port = receiver("--unpaced")
    outcome = await fax(LOCALHOST, f"sip:555@{LOCALHOST}:{port};transport=tcp", document, tcp=True)
    assert (outcome.status, outcome.t38) == ("success", True)
    assert received(process)["status"] == "success"


async def test_receive_allow_refuses_other_callers(receiver, document: Path) -> None:
    process, port = receiver("--unpaced", "--allow", "127.0.0.1/32")
    stranger = await fax("127.0.0.2", f"sip:555@{LOCALHOST}:{port}", document)
    assert (stranger.status, stranger.sip_code) == ("rejected", 403)
    allowed = await fax(LOCALHOST, f"sip:555@{LOCALHOST}:{port}", document)
    assert allowed.status == "success"
    assert received(process)["status"] == "success"  # --count 1: the stranger's call was not counted


def test_receive_refuses_a_bad_network() -> None:
    result = subprocess.run(
        [FAXGW, "receive", "--out", "/nonexistent", "--allow", "10.0.0.0/33"], capture_output=True, text=True
    )
    assert result.returncode == 2 and "is not an IP network" in result.stderr


def test_receive_says_when_its_tcp_port_is_taken(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind((LOCALHOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [FAXGW, "receive", "--listen", f"{LOCALHOST}:{port}", "--out", tmp_path],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: cannot listen on {LOCALHOST}:{port}")
    assert "Traceback" not in result.stderr
