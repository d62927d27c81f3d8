"""The cover page: fields checked, comes first, shows flags and a logo, long messages continue."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from faxgw.gateway.documents import CoverPage, convert
from faxgw.gateway.documents.cover import render_cover
from faxgw.sip.fax import Resolution
from PIL import Image, ImageChops, ImageDraw

from tests.helpers.documents import A4_POINTS, A4_ROWS, fax_pages, ink, make_pdf, raises_code


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"name_to": "", "name_from": "Bob"}, "name_to and name_from"),
        ({"name_to": "Alice", "name_from": "   "}, "name_to and name_from"),
        ({"name_to": "Alice", "name_from": "Bob", "flags": frozenset({"urgent", "spam"})}, "spam"),
        ({"name_to": "Alice", "name_from": "Bob", "subject": "x" * 201}, "subject"),
    ],
)
def test_cover_fields_are_checked(fields: dict, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        CoverPage(**fields)


def test_flags_may_be_any_collection() -> None:
    cover = CoverPage("Alice", "Bob", flags=["urgent", "confidential"])  # type: ignore[arg-type]
    assert cover.flags == frozenset({"urgent", "confidential"})


def test_cover_is_page_one(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "doc.pdf", [A4_POINTS] * 2)
    cover = CoverPage("Alice Example", "Bob Sender", subject="Invoice 42", message="Please see attached.")

    document = convert([pdf], tmp_path / "out.tif", cover=cover)

    pages = fax_pages(document.path)
    assert document.pages == len(pages) == 3
    assert pages[0].size == (1728, A4_ROWS[Resolution.FINE])
    # The heading and fields are in the top third; the document's own black square is not on page 1.
    assert ink(pages[0], (0, 0, 1, 0.3)) > 0.01
    assert ink(pages[0], (0.13, 0.12, 0.27, 0.18)) < 0.5
    assert ink(pages[1], (0.13, 0.12, 0.27, 0.18)) > 0.95


def test_cover_only_fax(tmp_path: Path) -> None:
    document = convert([], tmp_path / "out.tif", cover=CoverPage("Alice", "Bob", message="Call me."))
    assert document.pages == 1


def test_nothing_at_all_is_a_caller_mistake(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nothing to convert"):
        convert([], tmp_path / "out.tif")


def test_checked_flags_add_marks_inside_their_boxes() -> None:
    sent_at = datetime(2025, 1, 2, 3, 4, tzinfo=UTC)
    (unchecked,) = render_cover(CoverPage("Alice", "Bob"), 1, Resolution.FINE, sent_at=sent_at)
    urgent = CoverPage("Alice", "Bob", flags=frozenset({"urgent"}))
    (checked,) = render_cover(urgent, 1, Resolution.FINE, sent_at=sent_at)
    left, top, right, bottom = ImageChops.logical_xor(unchecked, checked).getbbox()
    # Only the first box (Urgent) changed, and only by a small mark (a 12 pt box is ~34 x 33 pixels).
    assert right - left < 40 and bottom - top < 40
    assert left < 1728 // 4


def test_logo_goes_top_right(tmp_path: Path) -> None:
    logo = Image.new("RGBA", (300, 120), (0, 0, 0, 0))
    ImageDraw.Draw(logo).ellipse((0, 0, 299, 119), fill=(20, 20, 120, 255))
    path = tmp_path / "logo.png"
    logo.save(path)
    (page,) = render_cover(CoverPage("Alice", "Bob", logo=path), 1, Resolution.FINE)
    (without,) = render_cover(CoverPage("Alice", "Bob"), 1, Resolution.FINE)
    top_right = (0.65, 0.0, 0.95, 0.12)
    assert ink(page, top_right) > 0.3
    assert ink(without, top_right) == 0


def test_logo_that_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "logo.png"
    path.write_text("not really a picture")
    with raises_code("failed_mimetype_not_supported") as caught:
        convert([], tmp_path / "out.tif", cover=CoverPage("Alice", "Bob", logo=str(path)))  # type: ignore[arg-type]
    assert caught.value.filename == "logo.png"


def test_long_message_continues_on_more_cover_pages(tmp_path: Path) -> None:
    message = "\n".join(
        f"Paragraph {number}: the quick brown fox jumps over the lazy dog." for number in range(60)
    )
    pdf = make_pdf(tmp_path / "doc.pdf", [A4_POINTS])
    document = convert([pdf], tmp_path / "out.tif", cover=CoverPage("Alice", "Bob", message=message))
    pages = fax_pages(document.path)
    assert len(pages) == 3  # cover, its continuation, the document
    assert ink(pages[1], (0, 0.2, 1, 0.6)) > 0.005  # message lines on the continuation page
    assert ink(pages[2], (0.13, 0.12, 0.27, 0.18)) > 0.95
