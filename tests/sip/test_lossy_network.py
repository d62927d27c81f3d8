"""Faxes across a network that loses 2 % of UDP datagrams: T.38, which UDPTL redundancy carries through,
and G.711 with ECM, which RFC 2198 redundancy carries through (without it, a lost packet in a V.21
frame or a training fails most such faxes: bench/lossy_networks.py measures both).

Both endpoints run as ``faxgw`` processes inside a network namespace this test creates, where an
nftables rule drops one UDP datagram in fifty at random (SIP, UDPTL, everything). Needs root, iproute2
and nftables (CI has all three); elsewhere it skips and says why.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from faxgw.gateway.documents import convert, page_differences

from tests.helpers.sip import ROOT, start_receiver

FAXGW = Path(sys.executable).parent / "faxgw"
RULES = """
table inet faxgw_loss {
    chain input {
        type filter hook input priority 0;
        meta l4proto udp numgen random mod 50 0 counter drop
    }
}
"""


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create a network namespace"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"needs {tool} (Debian packages iproute2, nftables)"
    return None


@pytest.fixture
def lossy_namespace() -> Iterator[str]:
    reason = _missing()
    if reason:
        pytest.skip(f"lossy network test: {reason}")
    name = f"faxgw-loss-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "netns", "exec", name, "nft", "-f", "-"], input=RULES, text=True, check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def dropped(namespace: str) -> int:
    rules = subprocess.run(
        ["ip", "netns", "exec", namespace, "nft", "list", "ruleset"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"counter packets (\d+)", rules)
    assert match, rules
    return int(match.group(1))


@pytest.mark.slow  # a real-time fax through a lossy network, ~40 s each
@pytest.mark.parametrize(
    ("flags", "t38"), [([], True), (["--audio", "--ecm"], False)], ids=["t38", "g711-ecm-red"]
)
def test_fax_survives_two_percent_loss(
    tmp_path: Path, lossy_namespace: str, flags: list[str], t38: bool
) -> None:
    sent = tmp_path / "sent.tif"
    convert([ROOT / "samples" / "sample.pdf"], sent)
    inside = ["ip", "netns", "exec", lossy_namespace]
    receiver = start_receiver(
        [
            *inside,
            FAXGW,
            "receive",
            "--listen",
            "127.0.0.1:5060",
            "--out",
            tmp_path / "received",
            "--count",
            "1",
            "--json",
            *flags,
        ]
    )
    try:
        send = subprocess.run(
            [*inside, FAXGW, "send", sent, "--to", "sip:555@127.0.0.1:5060", "--json", *flags],
            capture_output=True,
            text=True,
            timeout=180,
            cwd=ROOT,
        )
        stdout, receiver_log = receiver.communicate(timeout=60)
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.communicate()
    assert send.returncode == 0, send.stdout + send.stderr
    sender = json.loads(send.stdout)
    got = json.loads(stdout.strip().splitlines()[-1])
    assert (sender["status"], sender["pages"], sender["t38"]) == ("success", 2, t38)
    assert (got["status"], got["pages"]) == ("success", 2), receiver_log
    assert page_differences(sent, Path(got["tiff"])) == [0, 0]
    # The network really lost packets: hundreds of datagrams crossed it, about one in fifty was dropped.
    assert dropped(lossy_namespace) >= 5
    # ... and redundancy (UDPTL's, or RFC 2198's for G.711) made lost packets good (the sender of a T.38
    # fax receives a few dozen datagrams, so look at both ends together).
    media = [figures for end in (sender, got) for figures in end["diagnostics"]["media"]]
    assert sum(figures["recovered"] for figures in media) > 0, media
