"""Plain text files as fax pages: DejaVu Sans Mono 10 pt, wrapped, paginated, a form feed starts a page."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

from faxgw.gateway.documents.errors import ConversionError
from faxgw.gateway.documents.fonts import dejavu, points_to_pixels
from faxgw.gateway.documents.pages import spool
from faxgw.gateway.documents.raster import DRAW_DPI, DRAWN_PAPER, drawn_page_to_fax
from faxgw.gateway.documents.textcodec import decode_text
from faxgw.gateway.domain import FaxStatus
from faxgw.sip.fax import PAGE_WIDTH, Resolution
from PIL import Image, ImageDraw

FONT_POINTS = 10
MARGIN_IN = 0.5
TAB_SIZE = 8
#: Control characters other than tab, line breaks and form feed print as nothing.
_UNPRINTABLE = dict.fromkeys([*range(0x00, 0x20), *range(0x7F, 0xA0)])


def render_text(path: Path, resolution: Resolution, workdir: Path) -> list[Path]:
    """The text file as fax page files in ``workdir``."""
    text = decode_text(path.read_bytes())
    if text is None:
        # Detection saw text in the first 64 KiB; the rest of the file is something else.
        raise ConversionError(
            FaxStatus.FAILED_MIMETYPE_NOT_SUPPORTED, "the file is not plain text throughout"
        )
    if not text.strip():
        raise ConversionError(
            FaxStatus.FAILED_SEPARATE_FILE_PAGES_ISSUE, "the text file has nothing to print"
        )
    sheet = TextSheet()
    pages = (sheet.draw(lines) for lines in sheet.paginate(text))
    return spool((drawn_page_to_fax(page, resolution) for page in pages), workdir, resolution)


class TextSheet:
    """The page geometry of monospaced text: how many columns and lines fit, and drawing one page."""

    def __init__(self) -> None:
        self.font = dejavu("SansMono", points_to_pixels(FONT_POINTS, DRAW_DPI))
        ascent, descent = self.font.getmetrics()
        self.line_height = ascent + descent
        self.margin = round(MARGIN_IN * DRAW_DPI)
        self.size = (PAGE_WIDTH, round(DRAWN_PAPER.height_in * DRAW_DPI))
        self.columns = int((self.size[0] - 2 * self.margin) // self.font.getlength("M"))
        self.lines_per_page = (self.size[1] - 2 * self.margin) // self.line_height

    def paginate(self, text: str) -> Iterator[list[str]]:
        """Lines of text, page by page. A form feed ends a page; one at the very end adds no blank page."""
        sections = text.split("\f")
        if len(sections) > 1 and not sections[-1].strip():
            sections.pop()
        for section in sections:
            lines = [wrapped for line in section.splitlines() for wrapped in self._wrap(line)]
            if not lines:
                yield []
            for start in range(0, len(lines), self.lines_per_page):
                yield lines[start : start + self.lines_per_page]

    def draw(self, lines: list[str]) -> Image.Image:
        page = Image.new("L", self.size, 255)
        draw = ImageDraw.Draw(page)
        for number, line in enumerate(lines):
            draw.text((self.margin, self.margin + number * self.line_height), line, font=self.font, fill=0)
        return page

    def _wrap(self, line: str) -> list[str]:
        line = line.expandtabs(TAB_SIZE).translate(_UNPRINTABLE)
        # Indentation survives; a whitespace-only line is a blank line.
        return textwrap.wrap(line, self.columns, break_on_hyphens=False) or [""]
