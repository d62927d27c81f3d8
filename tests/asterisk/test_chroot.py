"""scripts/asterisk-chroot gives a real Asterisk 22 with SpanDSP fax that answers AMI and stops cleanly."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import pytest

from tests.helpers.asterisk import (
    AMI_SECRET,
    AMI_USER,
    TIMINGS,
    ensure,
    free_port,
    process_running,
    prototype_configs,
)

pytestmark = pytest.mark.slow


def ami_login(port: int, username: str, secret: str) -> tuple[str, dict[str, str]]:
    """Log in to AMI over a plain socket: (the greeting line, the headers of the Login response)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        stream = sock.makefile("rb")
        greeting = stream.readline().decode().strip()
        sock.sendall(
            f"Action: Login\r\nActionID: login-1\r\nUsername: {username}\r\nSecret: {secret}\r\n\r\n".encode()
        )
        headers: dict[str, str] = {}
        while line := stream.readline().decode().strip():
            key, _, value = line.partition(":")
            headers[key.strip()] = value.strip()
        if headers.get("Response") == "Success":
            sock.sendall(b"Action: Logoff\r\n\r\n")
    return greeting, headers


def test_ensure_again_keeps_the_ready_chroot(asterisk_root: Path) -> None:
    again = ensure()
    TIMINGS.append(f"ensure (second call): {again.how} in {again.seconds:.2f} s")
    print(TIMINGS[-1])
    assert again.returncode == 0, again.stderr
    assert again.root == asterisk_root
    assert again.how == "already present"
    assert again.seconds < 10
    assert (asterisk_root / "etc" / "faxgw-asterisk-chroot").read_text().startswith("built ")


def test_asterisk_22_boots_with_spandsp_fax_and_answers_ami(asterisk) -> None:
    ami_port, sip_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
    instance = asterisk(prototype_configs(ami_port=ami_port, sip_port=sip_port))
    TIMINGS.append(f"boot to 'core waitfullybooted': {instance.boot_seconds:.2f} s")
    print(TIMINGS[-1])
    assert instance.running()

    version = instance.cli("core show version")
    assert re.match(r"Asterisk 22\.\d+", version), version

    modules = instance.cli("module show like res_fax")
    assert re.search(r"^res_fax\.so\s.*\bRunning\b", modules, re.M), modules
    assert re.search(r"^res_fax_spandsp\.so\s.*\bRunning\b", modules, re.M), modules

    # our configuration is the one in force: SIP on our port, its log in our directory on the host
    assert f"127.0.0.1:{sip_port}" in instance.cli("pjsip show transports")
    assert (instance.log_dir / "messages.log").is_file()
    assert (instance.run_dir / "asterisk.ctl").exists()

    greeting, response = ami_login(ami_port, AMI_USER, AMI_SECRET)
    assert greeting.startswith("Asterisk Call Manager/"), greeting
    assert response.get("Response") == "Success", response
    assert response.get("ActionID") == "login-1", response
    _, refused = ami_login(ami_port, AMI_USER, "not-the-secret")
    assert refused.get("Response") == "Error", refused

    pid = instance.pid
    instance.stop()
    deadline = time.monotonic() + 10
    while process_running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not process_running(pid), f"asterisk pid {pid} still runs after stop"
    assert not (instance.run_dir / "asterisk.ctl").exists()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", ami_port), timeout=2).close()
