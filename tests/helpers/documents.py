"""Documents for the conversion tests, made on the spot by the real tools (Ghostscript, Pillow, zipfile),
and checks of what convert() produced."""

from __future__ import annotations

import subprocess
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from faxgw.gateway.documents import ConversionError
from faxgw.gateway.domain import FaxStatus
from faxgw.sip.fax import PAGE_WIDTH, Resolution
from PIL import Image, ImageChops, ImageDraw

A4_POINTS = (595, 842)
LETTER_POINTS = (612, 792)
#: Page length in fax rows: 297 mm or 11 in at each resolution's rows per inch.
A4_ROWS = {Resolution.STANDARD: 1146, Resolution.FINE: 2292, Resolution.SUPERFINE: 4572}
LETTER_ROWS = {Resolution.STANDARD: 1078, Resolution.FINE: 2156, Resolution.SUPERFINE: 4301}
# Batch mode, no prompts, no file access beyond what it is given.
GHOSTSCRIPT = ("gs", "-q", "-dNOPAUSE", "-dBATCH", "-dSAFER")


# --- reading what convert() produced -------------------------------------------------------------------


def fax_pages(path: Path, resolution: Resolution = Resolution.FINE) -> list[Image.Image]:
    """The pages of a converted file, after checking each one's TIFF-F tags."""
    pages = []
    with Image.open(path) as tiff:
        for index in range(tiff.n_frames):
            tiff.seek(index)
            tags = tiff.tag_v2
            assert tags[256] == PAGE_WIDTH, f"page {index + 1} width"
            assert tags[262] == 0, f"page {index + 1} is not MinIsWhite"
            assert tags[259] in (3, 4), f"page {index + 1} compression"
            assert (round(float(tags[282])), round(float(tags[283]))) == resolution.dpi
            assert tiff.mode == "1"
            pages.append(tiff.copy())
    return pages


def ink(page: Image.Image, box: tuple[float, float, float, float] = (0, 0, 1, 1)) -> float:
    """Share of black pixels in a region given as fractions of the page (left, top, right, bottom)."""
    left, top, right, bottom = box
    region = page.crop(
        (
            round(left * page.width),
            round(top * page.height),
            round(right * page.width),
            round(bottom * page.height),
        )
    )
    return region.histogram()[0] / (region.width * region.height)


def speckle(page: Image.Image) -> float:
    """Black/white changes along the rows per black pixel: ~1 or more for dithered gray (dots), far below
    for thresholded ink (solid strokes change colour only at their edges)."""
    changes = ImageChops.logical_xor(page, ImageChops.offset(page, 1, 0)).histogram()[255]
    return changes / max(1, page.histogram()[0])


@contextmanager
def raises_code(code: str) -> Iterator[pytest.ExceptionInfo[ConversionError]]:
    """Like pytest.raises(ConversionError), and the error carries this seed error code (as the fax status
    it is: the documents layer says it in the domain's enum)."""
    with pytest.raises(ConversionError) as caught:
        yield caught
    assert isinstance(caught.value.code, FaxStatus) and caught.value.code == code, str(caught.value)


# --- making documents ----------------------------------------------------------------------------------


def make_pdf(path: Path, page_sizes: Sequence[tuple[int, int]], extra_gs_args: Sequence[str] = ()) -> Path:
    """A PDF written by Ghostscript from PostScript: each page framed, labelled, with a black square top left.

    The square spans 10-30% of the width and 10-20% of the height from the top, so tests can look for it.
    """
    program = ["%!PS", "/Helvetica findfont 24 scalefont setfont"]
    for number, (width, height) in enumerate(page_sizes, start=1):
        program += [
            f"<< /PageSize [{width} {height}] >> setpagedevice",
            f"newpath 2 2 moveto {width - 2} 2 lineto {width - 2} {height - 2} lineto 2 {height - 2} lineto",
            "closepath 3 setlinewidth stroke",
            f"{0.1 * width} {0.8 * height} {0.2 * width} {0.1 * height} rectfill",
            f"{0.1 * width} {0.5 * height} moveto (Page {number}: the quick brown fox) show",
            "showpage",
        ]
    source = path.with_suffix(".ps")
    source.write_text("\n".join(program) + "\n")
    subprocess.run(
        [
            *GHOSTSCRIPT,
            "-sDEVICE=pdfwrite",
            *extra_gs_args,
            "-o",
            str(path),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    return path


def line_art(size: tuple[int, int] = (800, 1100)) -> Image.Image:
    """A black-on-white drawing with no gray at all: a frame, a filled block top left, a diagonal."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    width, height = size
    draw.rectangle((5, 5, width - 6, height - 6), outline="black", width=6)
    draw.rectangle((int(0.1 * width), int(0.1 * height), int(0.3 * width), int(0.2 * height)), fill="black")
    draw.line((0, height - 1, width - 1, 0), fill="black", width=5)
    return image


def photo(size: tuple[int, int] = (800, 1100)) -> Image.Image:
    """A photo stand-in: smooth gray ramps in both directions, mostly mid tones."""
    ramp = Image.linear_gradient("L").resize(size)
    other = Image.linear_gradient("L").rotate(90).resize(size)
    return Image.blend(ramp, other, 0.5).convert("RGB")


def drawn_pages(count: int, resolution: Resolution) -> list[Image.Image]:
    """Fax pages, each with a block and a line placed by its number, so swapped pages show."""
    pages = []
    rows = A4_ROWS[resolution]
    for number in range(1, count + 1):
        page = Image.new("1", (PAGE_WIDTH, rows), 255)
        draw = ImageDraw.Draw(page)
        draw.rectangle((100 * number, rows // 10, 100 * number + 400, rows // 5), fill=0)
        draw.line((100, rows // 2, 1600, rows // 2 + 40 * number), fill=0, width=3)
        pages.append(page)
    return pages


def write_docx(path: Path, paragraphs: Sequence[str], page_break_after_first: bool = True) -> Path:
    """A minimal Word 2007 document, by hand: content types, package relationship, the main part."""
    body = []
    for index, text in enumerate(paragraphs):
        body.append(f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>")
        if index == 0 and page_break_after_first and len(paragraphs) > 1:
            body.append('<w:p><w:r><w:br w:type="page"/></w:r></w:p>')
    document = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
        + "".join(body)
        + '<w:sectPr><w:pgSz w:w="11906" w:h="16838"/></w:sectPr></w:body></w:document>'
    )
    _write_ooxml(
        path,
        main_part="word/document.xml",
        main_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
        parts={"word/document.xml": document},
    )
    return path


def write_xlsx(path: Path, rows: Sequence[Sequence[str | int]]) -> Path:
    """A minimal Excel 2007 workbook, by hand: one sheet with inline strings and numbers."""
    cells = []
    for row_number, row in enumerate(rows, start=1):
        row_cells = []
        for column, value in enumerate(row):
            ref = f"{chr(ord('A') + column)}{row_number}"
            if isinstance(value, int):
                row_cells.append(f'<c r="{ref}"><v>{value}</v></c>')
            else:
                row_cells.append(f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>')
        cells.append(f'<row r="{row_number}">{"".join(row_cells)}</row>')
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    relationships = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    _write_ooxml(
        path,
        main_part="xl/workbook.xml",
        main_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        parts={
            "xl/workbook.xml": (
                f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{main}" xmlns:r="{relationships}">'
                '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
            ),
            "xl/_rels/workbook.xml.rels": (
                '<?xml version="1.0" encoding="UTF-8"?>'
                '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                '<Relationship Id="rId1" Target="worksheets/sheet1.xml" '
                f'Type="{relationships}/worksheet"/></Relationships>'
            ),
            "xl/worksheets/sheet1.xml": (
                f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{main}"><sheetData>'
                + "".join(cells)
                + "</sheetData></worksheet>"
            ),
        },
        overrides={
            "/xl/worksheets/sheet1.xml": (
                "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
            )
        },
    )
    return path


def _write_ooxml(
    path: Path, main_part: str, main_type: str, parts: dict[str, str], overrides: dict[str, str] | None = None
) -> None:
    all_overrides = {f"/{main_part}": main_type, **(overrides or {})}
    content_types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        + "".join(
            f'<Override PartName="{name}" ContentType="{kind}"/>' for name, kind in all_overrides.items()
        )
        + "</Types>"
    )
    package_relationships = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Target="' + main_part + '" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/officeDocument"/></Relationships>'
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("[Content_Types].xml", content_types)
        package.writestr("_rels/.rels", package_relationships)
        for name, content in parts.items():
            package.writestr(name, content)


def plain_ghostscript(pdf: Path, rows: int, out: str | Path) -> None:
    """The PDF's pages from one plain Ghostscript pass at the fax grid on paper ``rows`` long, written to
    ``out`` (one multi-page TIFF, or one file per page with a %d pattern): the yardstick our conversion
    is held to, for its pages (tests) and its speed (bench/pdf_convert.py)."""
    subprocess.run(
        [
            *GHOSTSCRIPT,
            "-sDEVICE=tiffg4",
            "-r204x196",
            f"-g{PAGE_WIDTH}x{rows}",
            "-dFIXEDMEDIA",
            "-dPDFFitPage",
            f"-sOutputFile={out}",
            str(pdf),
        ],
        check=True,
        capture_output=True,
    )
