"""``faxgw serve`` as a process of its own, as an operator starts it: its config file, the process, and
the wait until its API answers (for tests that kill it and start it again)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from faxgw.gateway.demo import free_port

from tests.helpers.gateway import EDIT, SENDER

FAXGW = Path(sys.executable).parent / "faxgw"


def write_config(path: Path, data_dir: Path, api_port: int, trunk_port: int) -> None:
    path.write_text(f"""
data_dir = "{data_dir}"
api_port = {api_port}
sip_port = {free_port(socket.SOCK_DGRAM)}
trunk = "127.0.0.1:{trunk_port}"
node = "restart-test"
[[numbers]]
number = "{SENDER}"
[[tenants]]
id = "acme"
keys = {{ "{EDIT}" = ["read", "edit"] }}
""")


def start_gateway(config: Path, log: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [FAXGW, "serve", "--config", config], stdout=log.open("a"), stderr=subprocess.STDOUT
    )
    return process


def wait_api(client: httpx.Client, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            client.get("/v1/faxes")
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise TimeoutError("the gateway API did not come up")
