"""``faxgw serve`` starts the SMTP listener with the gateway and stops it with SIGTERM: a real process,
a real SMTP session (AUTH offered in clear only because the listener is on loopback with plaintext_auth)."""

from __future__ import annotations

import signal
import smtplib
import socket
import subprocess
import time
from pathlib import Path

from faxgw.gateway.demo import free_port

from tests.helpers.sip import FAXGW


def test_serve_runs_the_listener(tmp_path: Path) -> None:
    smtp_port = free_port(socket.SOCK_STREAM)
    config = tmp_path / "faxgw.toml"
    config.write_text(f"""
data_dir = "{tmp_path / "var"}"
api_port = {free_port(socket.SOCK_STREAM)}
sip_port = {free_port(socket.SOCK_DGRAM)}
[[tenants]]
id = "acme"
[mail]
listen_port = {smtp_port}
plaintext_auth = true
domain = "fax.example.com"
[[mail.accounts]]
tenant = "acme"
username = "scanner"
password = "secret"
senders = ["scanner@example.com"]
""")
    log = tmp_path / "serve.log"
    process = subprocess.Popen(
        [FAXGW, "serve", "--config", config], stdout=log.open("w"), stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                client = smtplib.SMTP("127.0.0.1", smtp_port, timeout=10)
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        with client:
            client.ehlo("scanner.example.com")
            assert client.has_extn("auth") and int(client.esmtp_features["size"]) == 20 * 1024 * 1024
            client.login("scanner", "secret")
            assert client.mail("stranger@example.com")[0] == 550
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log.read_text()
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", smtp_port)) != 0  # the listener went with it
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
