"""The cover sheet: a "FAX" heading, To/From/Subject/Date/Pages, the four classic check boxes, the message.

Drawn like text (grayscale, then thresholded; a photo logo is dithered) as page 1 of the fax. A message
too long for the sheet continues on further cover pages rather than being cut.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from faxgw.gateway.documents.detect import IMAGE_KINDS, detect, unsupported
from faxgw.gateway.documents.fonts import Font, dejavu, points_to_pixels
from faxgw.gateway.documents.images import read_picture
from faxgw.gateway.documents.raster import (
    DRAW_DPI,
    DRAWN_PAPER,
    drawn_page_to_fax,
    looks_like_photo,
    to_bilevel,
)
from faxgw.sip.fax import PAGE_WIDTH, Resolution
from PIL import Image, ImageDraw, ImageOps

#: Check boxes in the order they are printed, with their printed labels.
COVER_FLAGS = {
    "urgent": "Urgent",
    "for_review": "For review",
    "please_reply": "Please reply",
    "confidential": "Confidential",
}
#: To, From and Subject are one-liners on a cover sheet; a few wrapped lines are fine, a novel is a mistake.
MAX_FIELD_CHARS = 200


@dataclass(frozen=True)
class CoverPage:
    name_to: str
    name_from: str
    subject: str = ""
    message: str = ""
    flags: frozenset[str] = frozenset()
    logo: Path | None = None

    def __post_init__(self) -> None:
        if not self.name_to.strip() or not self.name_from.strip():
            raise ValueError("a cover page needs both name_to and name_from")
        for field, value in (
            ("name_to", self.name_to),
            ("name_from", self.name_from),
            ("subject", self.subject),
        ):
            if len(value) > MAX_FIELD_CHARS:
                raise ValueError(f"cover page {field} is longer than {MAX_FIELD_CHARS} characters")
        # Callers may pass any collection of flags and a str logo; store the types the fields promise.
        object.__setattr__(self, "flags", frozenset(self.flags))
        if self.logo is not None:
            object.__setattr__(self, "logo", Path(self.logo))
        unknown = self.flags - COVER_FLAGS.keys()
        if unknown:
            raise ValueError(
                f"unknown cover page flag(s) {', '.join(sorted(unknown))}: use {', '.join(COVER_FLAGS)}"
            )


def render_cover(
    cover: CoverPage, document_pages: int, resolution: Resolution, *, sent_at: datetime | None = None
) -> list[Image.Image]:
    """The cover sheet as fax pages: one, or more when the message does not fit on the first.

    ``document_pages`` (the pages after the cover) and ``sent_at`` (default: now) fill the Pages and Date
    fields.
    """
    first = _Sheet()
    first.heading("FAX", _read_logo(cover.logo) if cover.logo else None)
    first.field("To:", cover.name_to)
    first.field("From:", cover.name_from)
    first.field("Subject:", cover.subject)
    first.field("Date:", (sent_at or datetime.now()).astimezone().strftime("%Y-%m-%d %H:%M %Z"))
    pages_value_at = first.field("Pages:", "")  # filled in once the number of cover pages is known
    first.rule()
    first.checkboxes(cover.flags)
    first.rule()
    message = first.wrap(cover.message)
    rest = message[first.lines(message) :]

    more = []
    while rest:
        sheet = _Sheet()
        sheet.heading("Message (continued)", None)
        sheet.rule()
        rest = rest[sheet.lines(rest) :]
        more.append(sheet)
    total = 1 + len(more) + document_pages
    first.write(pages_value_at, f"{total} including this cover page", first.value_font)
    return [drawn_page_to_fax(sheet.page, resolution) for sheet in (first, *more)]


def _read_logo(path: Path) -> Image.Image:
    kind = detect(path)
    if kind not in IMAGE_KINDS:
        raise unsupported("the cover page logo must be an image")
    return read_picture(path, kind)


def _pixels(points: float) -> int:
    return points_to_pixels(points, DRAW_DPI)


class _Sheet:
    """One cover page being drawn top to bottom; ``y`` is where the next element goes."""

    margin = round(0.6 * DRAW_DPI)
    logo_box = (round(2.5 * DRAW_DPI), round(1.0 * DRAW_DPI))
    gap = _pixels(8)

    def __init__(self) -> None:
        self.page = Image.new("L", (PAGE_WIDTH, round(DRAWN_PAPER.height_in * DRAW_DPI)), 255)
        self.draw = ImageDraw.Draw(self.page)
        self.heading_font = dejavu("Sans-Bold", _pixels(36))
        self.label_font = dejavu("Sans-Bold", _pixels(12))
        self.value_font = dejavu("Sans", _pixels(12))
        self.body_font = dejavu("Sans", _pixels(11))
        self.width = PAGE_WIDTH - 2 * self.margin
        self.label_width = round(self.label_font.getlength("Subject:")) + self.gap
        self.y = self.margin

    def heading(self, title: str, logo: Image.Image | None) -> None:
        height = _line_height(self.heading_font)
        if logo is not None:
            logo = ImageOps.contain(logo, self.logo_box, Image.Resampling.LANCZOS)
            # Made bilevel here, by its own kind: a photo logo would go black under the page's threshold.
            logo = to_bilevel(logo, dither=looks_like_photo(logo)).convert("L")
            self.page.paste(logo, (PAGE_WIDTH - self.margin - logo.width, self.y))
            height = max(height, logo.height)
        self.write((self.margin, self.y), title, self.heading_font)
        self.y += height + self.gap

    def field(self, label: str, value: str) -> tuple[int, int]:
        """A label and its wrapped value; returns where the value starts."""
        value_at = (self.margin + self.label_width, self.y)
        self.write((self.margin, self.y), label, self.label_font)
        for line in wrap_to_width(value, self.value_font, self.width - self.label_width):
            self.write((value_at[0], self.y), line, self.value_font)
            self.y += _line_height(self.value_font)
        self.y += self.gap // 2
        return value_at

    def checkboxes(self, checked: frozenset[str]) -> None:
        box = _pixels(12)
        column = self.width // len(COVER_FLAGS)
        for index, (flag, label) in enumerate(COVER_FLAGS.items()):
            left = self.margin + index * column
            self.draw.rectangle((left, self.y, left + box, self.y + box), outline=0, width=4)
            if flag in checked:
                inset = 8
                corners = (left + inset, self.y + inset, left + box - inset, self.y + box - inset)
                self.draw.line(corners, fill=0, width=7)
                self.draw.line((corners[0], corners[3], corners[2], corners[1]), fill=0, width=7)
            self.write((left + box + self.gap, self.y), label, self.body_font)
        self.y += max(box, _line_height(self.body_font)) + self.gap

    def rule(self) -> None:
        self.draw.line((self.margin, self.y, PAGE_WIDTH - self.margin, self.y), fill=0, width=4)
        self.y += self.gap

    def wrap(self, text: str) -> list[str]:
        return wrap_to_width(text, self.body_font, self.width) if text.strip() else []

    def lines(self, lines: list[str]) -> int:
        """Draw as many message lines as fit; returns how many did."""
        height = _line_height(self.body_font)
        room = max(0, (self.page.height - self.margin - self.y) // height)
        for line in lines[:room]:
            self.write((self.margin, self.y), line, self.body_font)
            self.y += height
        return min(room, len(lines))

    def write(self, at: tuple[int, int], text: str, font: Font) -> None:
        self.draw.text(at, text, font=font, fill=0)


def _line_height(font: Font) -> int:
    ascent, descent = font.getmetrics()
    return math.ceil((ascent + descent) * 1.15)


def wrap_to_width(text: str, font: Font, width: int) -> list[str]:
    """Greedy word wrap measured in pixels; a word longer than a line is broken where it must be."""
    lines = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if font.getlength(candidate) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = word
            while font.getlength(line) > width:
                cut = _longest_fitting_prefix(line, font, width)
                lines.append(line[:cut])
                line = line[cut:]
        lines.append(line)
    return lines


def _longest_fitting_prefix(word: str, font: Font, width: int) -> int:
    cut = 1
    while cut < len(word) and font.getlength(word[: cut + 1]) <= width:
        cut += 1
    return cut
