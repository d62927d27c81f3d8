"""CPU per fax page for each transport, and how many real-time fax channels one core could carry.

Runs the same 10-page document through ``sip.fax.loopback`` in every mode, with and without ECM,
and, as the peer, the same fax driven by bare calls into the cffi library (no session objects,
no events) - the ratio is what our typed Python layer costs on top of SpanDSP.

    .venv/bin/python bench/fax_cpu.py [--pages 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from faxgw.sip.fax import PAGE_WIDTH, Resolution, write_tiff_f
from faxgw.sip.fax.binding import ffi, lib
from faxgw.sip.fax.loopback import LoopbackMode, run_loopback
from PIL import Image, ImageDraw

A4_FINE_ROWS = 2292


def text_like_page(number: int) -> Image.Image:
    """Dense lines of 'text' blocks: a typical business page, about 40 lines."""
    page = Image.new("1", (PAGE_WIDTH, A4_FINE_ROWS), 255)
    draw = ImageDraw.Draw(page)
    for line in range(40):
        y = 150 + line * 50
        x = 120
        while x < 1550:
            width = 20 + (x * 7 + line * 13 + number) % 90
            draw.rectangle((x, y, x + width, y + 22), fill=0)
            x += width + 18
    return page


def bare_t38(send: Path, receive: Path) -> None:
    """The peer: two T.38 terminals wired with raw lib calls, as a C programmer would.

    Packets from the caller (index 0) queue for the answerer (index 1) and the other way round.
    """
    queues: dict[int, list[bytes]] = {0: [], 1: []}

    @ffi.callback("int(t38_core_state_t *, void *, const uint8_t *, int, int)")
    def on_packet(core, user_data, buf, length, count):
        queues[int(ffi.cast("intptr_t", user_data))].append(ffi.buffer(buf, length)[:])
        return 0

    done = [False, False]

    @ffi.callback("void(t30_state_t *, void *, int)")
    def on_phase_e(t30, user_data, code):
        done[int(ffi.cast("intptr_t", user_data))] = True

    states = [
        lib.t38_terminal_init(ffi.NULL, caller, on_packet, ffi.cast("void *", caller)) for caller in (1, 0)
    ]
    cores = [lib.t38_terminal_get_t38_core_state(s) for s in states]
    for index, state in enumerate(states):
        lib.t38_terminal_set_config(state, lib.T38_TERMINAL_OPTION_NO_PACING)
        t30 = lib.t38_terminal_get_t30_state(state)
        lib.t30_set_ecm_capability(t30, 1)
        lib.t30_set_supported_compressions(
            t30,
            lib.T30_SUPPORT_T4_1D_COMPRESSION
            | lib.T30_SUPPORT_T4_2D_COMPRESSION
            | lib.T30_SUPPORT_T6_COMPRESSION,
        )
        lib.t30_set_phase_e_handler(t30, on_phase_e, ffi.cast("void *", index))
    lib.t30_set_tx_file(lib.t38_terminal_get_t30_state(states[0]), str(send).encode(), -1, -1)
    lib.t30_set_rx_file(lib.t38_terminal_get_t30_state(states[1]), str(receive).encode(), -1)
    sequence = [0, 0]
    while not all(done):
        for state in states:
            lib.t38_terminal_send_timeout(state, 160)
        for index in (0, 1):
            while queues[index]:
                packet = queues[index].pop(0)
                lib.t38_core_rx_ifp_packet(cores[index], packet, len(packet), sequence[index])
                sequence[index] = (sequence[index] + 1) & 0xFFFF
    for state in states:
        lib.t38_terminal_free(state)


def measure(run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        send, receive = work / "send.tif", work / "receive.tif"
        write_tiff_f(send, [text_like_page(n) for n in range(args.pages)], Resolution.FINE)

        print(
            f"{args.pages}-page text document, fine resolution, both ends in this process, median of "
            f"{args.repeat}. T.38 runs paced (real timing) unless marked unpaced."
        )
        print(f"{'mode':<24}{'call s':>8}{'CPU s':>8}{'ms/page':>9}{'x real time':>13}{'channels/core':>15}")
        cases = [(mode, ecm, True) for mode in LoopbackMode for ecm in (True, False)]
        cases.append((LoopbackMode.T38, True, False))
        unpaced_cpu = 0.0
        for mode, ecm, paced in cases:

            def fax(mode=mode, ecm=ecm, paced=paced):
                return run_loopback(send, receive, mode=mode, ecm=ecm, paced=paced)

            result = fax()
            assert result.sender.success, result.sender
            cpu = measure(fax, args.repeat)
            call = result.simulated_seconds
            label = f"{mode.value}{' + ECM' if ecm else ''}{'' if paced else ' unpaced'}"
            # Two endpoints share the CPU time; a real-time channel needs 1 s of call per second.
            channels = f"{2 * call / cpu:>15.0f}" if paced else f"{'n/a':>15}"
            per_page = 1000 * cpu / args.pages
            print(f"{label:<24}{call:>8.1f}{cpu:>8.3f}{per_page:>9.2f}{call / cpu:>13.0f}{channels}")
            unpaced_cpu = cpu

        peer = measure(lambda: bare_t38(send, receive), args.repeat)
        with Image.open(receive) as received:
            assert received.n_frames == args.pages, "the bare peer must deliver every page too"
        print(f"\npeer: the same unpaced T.38 + ECM fax through bare cffi calls: {peer:.3f} s CPU")
        print(f"ratio ours / bare: {unpaced_cpu / peer:.2f} (the cost of sessions, events and safety checks)")


if __name__ == "__main__":
    main()
