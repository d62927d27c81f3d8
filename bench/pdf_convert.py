"""PDF -> fax pages: our converter against plain Ghostscript and a pypdfium2 + Pillow pipeline, and the
time from ``POST /v1/faxes`` with that PDF to the first INVITE.

All three render the same generated 100-page text PDF at fine resolution (204x196 dpi, 1728 px wide)
in the same run. Plain ``gs -sDEVICE=tiffg4`` (one process) is the floor (it only renders); ours also
checks the PDF with pdfium, chooses A4/Letter per page, renders page ranges in one Ghostscript process
per core, writes one checked TIFF-F. This process runs at the converters' nice value (gateway.documents
.tools.CONVERTER_NICE), so plain gs and ours run at the same priority. The pypdfium2 pipeline is the
alternative DESIGN.md asked us to measure before choosing Ghostscript.

First, ``faxgw serve`` (its own process, native engine, embedded SQLite, at this process's priority as
started) gets the PDF uploaded (``/v1/files``) and ``POST /v1/faxes`` naming it; its trunk is a raw UDP
socket on 127.0.0.1 that notes when the INVITE arrives and answers 486 Busy Here. A one-page PDF is
posted in turns with it: the difference is what converting the long one costs before dialling. Printed:
POST -> first INVITE for each, taken --calls times (0: skipped).

    .venv/bin/python bench/pdf_convert.py [--pages 100] [--repeat 3] [--calls 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pypdfium2
from faxgw.gateway.documents import convert
from faxgw.gateway.documents.tools import CONVERTER_NICE
from faxgw.sip.fax import PAGE_WIDTH, Resolution, write_tiff_f
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' free ports
from nodes import serving, wait_up

from tests.helpers.documents import GHOSTSCRIPT, plain_ghostscript
from tests.helpers.sip import free_port

A4_FINE_ROWS = 2292

POSTSCRIPT = """%!PS
/Times-Roman findfont 11 scalefont setfont
1 1 {pages} {{
  /page exch def
  60 14 780 {{ /y exch def
    60 y moveto (Page ) show page 10 string cvs show
    ( - the quick brown fox jumps over the lazy dog, 0123456789, fax gateways love text.) show
  }} for
  showpage
}} for
"""


def make_pdf(path: Path, pages: int) -> None:
    source = path.with_suffix(".ps")
    source.write_text(POSTSCRIPT.format(pages=pages))
    subprocess.run(
        [
            *GHOSTSCRIPT,
            "-sDEVICE=pdfwrite",
            "-sPAPERSIZE=a4",
            f"-sOutputFile={path}",
            str(source),
        ],
        check=True,
    )


def pdfium_pipeline(pdf: Path, out: Path) -> None:
    """Render with pdfium at 196 dpi, stretch to the 1728-dot line, threshold, write TIFF-F."""
    document = pypdfium2.PdfDocument(pdf)
    pages = []
    for index in range(len(document)):
        bitmap = document[index].render(scale=196 / 72, grayscale=True)
        gray = bitmap.to_pil().resize((PAGE_WIDTH, A4_FINE_ROWS), Image.Resampling.BILINEAR)
        pages.append(gray.point(lambda value: 255 if value > 160 else 0, mode="1"))
    document.close()
    write_tiff_f(out, pages, Resolution.FINE)


def ours(pdf: Path, out: Path) -> None:
    convert([pdf], out, resolution=Resolution.FINE)


def timed(run: Callable[[Path, Path], None], pdf: Path, out: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one run, the CPU this process's and its children's (gs runs in children)."""
    cpu = cpu_seconds()
    start = time.perf_counter()
    run(pdf, out)
    return time.perf_counter() - start, cpu_seconds() - cpu


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def black_share(tiff: Path) -> float:
    with Image.open(tiff) as image:
        image.seek(0)
        page = image.convert("L")
        return sum(1 for value in page.get_flattened_data() if value < 128) / (page.width * page.height)


# -- POST /v1/faxes -> first INVITE -----------------------------------------------------------------------
HOST = "127.0.0.1"
TOKEN = "bench-token"
SENDER = "+15550100"


class BusyPeer:
    """A SIP peer on a raw UDP socket: notes when each new INVITE arrives and answers it 486 Busy Here
    (RFC 3261 8.2.6: the response copies Via, From, Call-ID and CSeq, and tags To)."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind((HOST, 0))
        self.port = self.socket.getsockname()[1]
        self.invites: dict[str, float] = {}  # Call-ID -> perf_counter at arrival
        self.arrived = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                data, source = self.socket.recvfrom(65535)
            except OSError:  # closed
                return
            arrival = time.perf_counter()
            head = data.split(b"\r\n\r\n", 1)[0].decode(errors="replace").split("\r\n")
            if not head[0].startswith("INVITE "):
                continue  # the ACK to our 486
            fields = [line for line in head[1:] if line.split(":", 1)[0].strip().lower() in _COPIED]
            call_id = next(
                line.split(":", 1)[1].strip() for line in fields if _name(line) in ("call-id", "i")
            )
            self.invites.setdefault(call_id, arrival)
            self.arrived.set()
            lines = [f"{line};tag=busy" if _name(line) in ("to", "t") else line for line in fields]
            response = "\r\n".join(["SIP/2.0 486 Busy Here", *lines, "Content-Length: 0", "", ""])
            self.socket.sendto(response.encode(), source)

    def close(self) -> None:
        self.socket.close()


_COPIED = {"via", "v", "from", "f", "to", "t", "call-id", "i", "cseq"}


def _name(line: str) -> str:
    return line.split(":", 1)[0].strip().lower()


def write_config(path: Path, trunk_port: int) -> int:
    """A bench gateway's config at ``path`` (SQLite under its folder, its trunk at ``trunk_port``, one
    tenant with the key ``TOKEN`` and the number ``SENDER``); returns the API port."""
    api_port = free_port()
    path.write_text(f"""
data_dir = "{path.parent / "var"}"
sip_port = {free_port()}
api_port = {api_port}
trunk = "{HOST}:{trunk_port}"
[[numbers]]
number = "{SENDER}"
[[tenants]]
id = "bench"
keys = {{ "{TOKEN}" = ["read", "edit"] }}
""")
    return api_port


async def post_to_invite(work: Path, documents: list[Path], calls: int) -> dict[Path, list[float]]:
    """Seconds from sending ``POST /v1/faxes`` (its PDF uploaded before) to its INVITE at the peer, for
    each document ``calls`` times, the documents taken in turns."""
    peer = BusyPeer()
    config = work / "gateway.toml"
    api_port = write_config(config, peer.port)
    seconds: dict[Path, list[float]] = {document: [] for document in documents}
    try:
        with serving(config, 1, work / "serve.log") as server:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            base_url = f"http://{HOST}:{api_port}"
            async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
                await wait_up([client], server, work / "serve.log")
                for number in range(calls * len(documents)):
                    document = documents[number % len(documents)]
                    files = {"file": (document.name, document.read_bytes())}
                    upload = await client.post("/v1/files", files=files)
                    upload.raise_for_status()
                    peer.arrived.clear()
                    before = set(peer.invites)
                    body = {
                        "from": SENDER,
                        "to": [f"+1555020{number:04d}"],
                        "files": [upload.json()["id"]],
                        "options": {"retry": {"count": 0}},
                    }
                    posted = time.perf_counter()
                    (await client.post("/v1/faxes", json=body)).raise_for_status()
                    if not await asyncio.to_thread(peer.arrived.wait, 60):
                        sys.exit(f"no INVITE within 60 s:\n{(work / 'serve.log').read_text()[-3000:]}")
                    (new,) = set(peer.invites) - before
                    seconds[document].append(peer.invites[new] - posted)
    finally:
        peer.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--calls", type=int, default=3, help="POST -> INVITE measured this many times")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        pdf = work / "text.pdf"
        make_pdf(pdf, args.pages)
        if args.calls:  # first, while the gateway (a child of this process) can run at its usual priority
            one_page = work / "one-page.pdf"
            make_pdf(one_page, 1)
            invites = asyncio.run(post_to_invite(work, [one_page, pdf], args.calls))
        # Ours renders at CONVERTER_NICE: plain gs and the pypdfium2 pipeline (this process) run there too.
        os.setpriority(os.PRIO_PROCESS, 0, max(CONVERTER_NICE, os.getpriority(os.PRIO_PROCESS, 0)))
        contenders: dict[str, Callable[[Path, Path], None]] = {
            "gs -sDEVICE=tiffg4": lambda pdf, out: plain_ghostscript(pdf, A4_FINE_ROWS, out),
            "faxgw convert": ours,
            "pypdfium2 + Pillow": pdfium_pipeline,
        }
        # Taken in turns, so that load from elsewhere on the machine falls on each alike.
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
        for _ in range(args.repeat):
            for name, run in contenders.items():
                runs[name].append(timed(run, pdf, work / f"{name.split()[0]}.tif"))
        rates = {}
        for name in contenders:
            wall = statistics.median(seconds for seconds, _ in runs[name])
            cpu = statistics.median(seconds for _, seconds in runs[name])
            rates[name] = args.pages / wall
            print(
                f"{name:<22}{wall:>7.2f} s{rates[name]:>7.0f} pages/s{cpu:>7.2f} s CPU"
                f"   ink on page 1: {100 * black_share(work / f'{name.split()[0]}.tif'):.2f} %"
            )
        floor = rates["gs -sDEVICE=tiffg4"]
        print(
            f"\npages/s against plain gs: faxgw {rates['faxgw convert'] / floor:.2f}"
            f", pypdfium2 pipeline {rates['pypdfium2 + Pillow'] / floor:.2f}"
            f"   ({len(os.sched_getaffinity(0))} cores, load average {os.getloadavg()[0]:.1f})"
        )
        if args.calls:
            print()
            for document, pages in ((one_page, 1), (pdf, args.pages)):
                each = ", ".join(f"{value:.2f}" for value in invites[document])
                print(
                    f"POST /v1/faxes ({pages}-page PDF) -> first INVITE:"
                    f" median {statistics.median(invites[document]):.2f} s   (each: {each} s)"
                )


if __name__ == "__main__":
    main()
