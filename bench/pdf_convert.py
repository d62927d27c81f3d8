"""PDF -> fax pages: our converter against plain Ghostscript and a pypdfium2 + Pillow pipeline.

All three render the same generated 100-page text PDF at fine resolution (204x196 dpi, 1728 px wide)
in the same run. Plain ``gs -sDEVICE=tiffg4`` is the floor (it only renders); ours also checks the
PDF with pdfium, chooses A4/Letter per page, writes one validated TIFF-F. The pypdfium2 pipeline is
the alternative DESIGN.md asked us to measure before choosing Ghostscript.

    .venv/bin/python bench/pdf_convert.py [--pages 100] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pypdfium2
from faxgw.gateway.documents import convert
from faxgw.sip.fax import PAGE_WIDTH, Resolution, write_tiff_f
from PIL import Image

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
            "gs",
            "-q",
            "-dNOPAUSE",
            "-dBATCH",
            "-dSAFER",
            "-sDEVICE=pdfwrite",
            "-sPAPERSIZE=a4",
            f"-sOutputFile={path}",
            str(source),
        ],
        check=True,
    )


def plain_ghostscript(pdf: Path, out: Path) -> None:
    subprocess.run(
        [
            "gs",
            "-q",
            "-dNOPAUSE",
            "-dBATCH",
            "-dSAFER",
            "-sDEVICE=tiffg4",
            "-r204x196",
            f"-g{PAGE_WIDTH}x{A4_FINE_ROWS}",
            "-dFIXEDMEDIA",
            "-dPDFFitPage",
            f"-sOutputFile={out}",
            str(pdf),
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


def timed(run: Callable[[Path, Path], None], pdf: Path, out: Path, repeat: int) -> float:
    """Wall time (the work spans processes: gs runs in a child)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run(pdf, out)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def black_share(tiff: Path) -> float:
    with Image.open(tiff) as image:
        image.seek(0)
        page = image.convert("L")
        return sum(1 for value in page.get_flattened_data() if value < 128) / (page.width * page.height)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        pdf = work / "text.pdf"
        make_pdf(pdf, args.pages)
        results = {}
        for name, run in (
            ("gs -sDEVICE=tiffg4", plain_ghostscript),
            ("faxgw convert", ours),
            ("pypdfium2 + Pillow", pdfium_pipeline),
        ):
            out = work / f"{name.split()[0]}.tif"
            seconds = timed(run, pdf, out, args.repeat)
            results[name] = seconds
            print(
                f"{name:<22}{seconds:>8.2f} s{args.pages / seconds:>9.0f} pages/s"
                f"   ink on page 1: {100 * black_share(out):.2f} %"
            )
        floor = results["gs -sDEVICE=tiffg4"]
        print(
            f"\nratio faxgw / plain gs: {results['faxgw convert'] / floor:.2f}"
            f"   ratio pypdfium2 pipeline / plain gs: {results['pypdfium2 + Pillow'] / floor:.2f}"
        )


if __name__ == "__main__":
    main()
