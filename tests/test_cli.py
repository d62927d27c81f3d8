"""The ``faxgw`` command as a user runs it: a separate process, real files, real SpanDSP."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from faxgw.gateway.documents import validate_fax_tiff

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "sample.pdf"


#: The console script pip installed next to this Python: the command exactly as users run it.
FAXGW = Path(sys.executable).parent / "faxgw"


def faxgw(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FAXGW, *map(str, args)], capture_output=True, text=True, timeout=120, cwd=ROOT)


@pytest.mark.parametrize("mode", ["audio", "t38", "gateway"])
def test_loopback_json(tmp_path: Path, mode: str) -> None:
    result = faxgw("loopback", SAMPLE, "--mode", mode, "--out", tmp_path, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["completion_code"] == 0 and report["completion_text"] == "OK"
    assert report["pages_sent"] == report["pages_received"] == report["pages_identical"] == 2
    assert report["mode"] == mode and report["ecm"] is True and report["bit_rate"] == 14400
    assert Path(report["received_pdf"]).read_bytes().startswith(b"%PDF")
    assert validate_fax_tiff(Path(report["received_tiff"])) == 2


def test_loopback_progress_without_ecm(tmp_path: Path) -> None:
    result = faxgw("loopback", SAMPLE, "--no-ecm", "--mode", "audio", "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no ECM" in result.stdout
    assert "page 1: identical" in result.stdout and "page 2: identical" in result.stdout
    assert (tmp_path / "preview" / "page-2.png").is_file()


def test_loopback_refuses_bad_input_before_any_call(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 4)
    result = faxgw("loopback", junk, "--out", tmp_path / "out", "--json")
    assert result.returncode == 2
    error = json.loads(result.stdout)
    assert error["error"] == "failed_mimetype_not_supported" and error["file"] == "junk.bin"
    assert not (tmp_path / "out" / "received.tif").exists()


def test_convert_with_cover_page(tmp_path: Path) -> None:
    out = tmp_path / "fax.tif"
    result = faxgw(
        "convert",
        SAMPLE,
        "-o",
        out,
        "--cover-to",
        "Dr. Smith",
        "--cover-from",
        "ACME",
        "--subject",
        "Order",
        "--cover-flag",
        "urgent",
        "--resolution",
        "standard",
    )
    assert result.returncode == 0, result.stderr
    assert "3 pages, standard (204x98 dpi)" in result.stdout
    assert validate_fax_tiff(out) == 3


def test_convert_cover_needs_both_names(tmp_path: Path) -> None:
    result = faxgw("convert", SAMPLE, "-o", tmp_path / "fax.tif", "--cover-to", "Dr. Smith")
    assert result.returncode == 2
    assert "error: invalid_argument" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow  # a real fax over SIP through the REST API, ~2.5 s
def test_demo_is_a_real_fax_end_to_end(tmp_path: Path) -> None:
    """The README's main command: REST API -> jobs -> SIP with T.38 -> inbound DID -> received PDF."""
    result = faxgw("demo", "--data-dir", tmp_path / "demo")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "page 2 received" in result.stdout
    pdf = Path(result.stdout.strip().splitlines()[-1].removeprefix("received PDF: "))
    assert pdf.read_bytes().startswith(b"%PDF")
    assert '"status": "success"' in result.stdout and '"t38": true' in result.stdout


def faxgw_on_terminal(*args: str | Path) -> tuple[int, str, str]:
    """Run ``faxgw`` with stderr on a pseudo-terminal (as a user at a terminal has it) and stdout on a pipe:
    its exit code, stdout, and what the terminal showed."""
    main, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a new pty is 0x0
    process = subprocess.Popen([FAXGW, *map(str, args)], stdout=subprocess.PIPE, stderr=terminal, cwd=ROOT)
    os.close(terminal)
    shown = bytearray()
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: every process holding the terminal is gone
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    stdout, _ = process.communicate(timeout=120)
    return process.returncode, stdout.decode(), shown.decode(errors="replace")


def test_a_terminal_gets_a_progress_bar_of_pages(tmp_path: Path) -> None:
    code, stdout, shown = faxgw_on_terminal("loopback", SAMPLE, "--mode", "t38", "--out", tmp_path)
    assert code == 0, shown
    # tqdm redraws one line with carriage returns: the count of pages goes 0/2, 1/2, 2/2.
    assert "\r" in shown and "0/2" in shown and "1/2" in shown and "2/2" in shown, shown
    assert "[receiver] T.30 done: OK (code 0), 2 page(s)" in shown, shown
    assert "page 1 received" not in stdout  # the bar instead of the lines, not both


def test_conversion_counts_its_files_on_a_terminal(tmp_path: Path) -> None:
    code, stdout, shown = faxgw_on_terminal("convert", SAMPLE, SAMPLE, "-o", tmp_path / "out.tif")
    assert code == 0, shown
    assert "2/2" in shown and "converting" in shown, shown
    assert "4 pages" in stdout


def test_off_a_terminal_progress_is_plain_lines() -> None:
    result = faxgw(
        "loopback", SAMPLE, "--mode", "audio", "--out", Path("/tmp") / f"faxgw-lines-{os.getpid()}"
    )
    assert result.returncode == 0, result.stderr
    assert "[receiver] page 2 received" in result.stdout
    assert "\r" not in result.stdout + result.stderr and "\x1b" not in result.stdout + result.stderr
