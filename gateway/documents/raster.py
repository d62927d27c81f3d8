"""From a grayscale picture to a fax page: paper choice, scaling to the fax grid, and the 1-bit conversion."""

from __future__ import annotations

from dataclasses import dataclass

from faxgw.sip.fax import PAGE_WIDTH, Resolution
from PIL import Image

#: Fax pixels are always 204 per inch across (T.4 2.2); only the number of rows per inch varies.
FAX_X_DPI = 204
#: The 1728-pixel scan line is 215 mm: a little wider than A4, a little narrower than Letter.
PAGE_WIDTH_IN = PAGE_WIDTH / FAX_X_DPI
#: Keep a picture placed at its printed size this far from the page edge when there is room.
MARGIN_IN = 0.25
#: Mid tones, as opposed to paper white and ink black.
_MID_TONES = range(64, 192)
#: Text and line art are nearly all paper or ink: their only mid tones are anti-aliased edges, a few
#: percent of the picture. Photos, scans of photos and gray fills have far more; thresholding would turn
#: them into black blobs or erase them, so those are dithered instead.
_PHOTO_MID_TONE_SHARE = 0.10


@dataclass(frozen=True)
class Paper:
    name: str
    width_in: float
    height_in: float

    def rows(self, resolution: Resolution) -> int:
        """Page length in fax rows at this resolution (A4 fine: 297 mm at 196 rows per inch = 2292)."""
        return round(self.height_in * resolution.dpi[1])


A4 = Paper("A4", 210 / 25.4, 297 / 25.4)
LETTER = Paper("Letter", 8.5, 11.0)
#: Pages we draw ourselves (text, cover page) have no paper of their own; A4 is what most of the world uses.
DRAWN_PAPER = A4
#: ...and are drawn on square pixels at the fax's horizontal density, then scaled to the fax rows.
DRAW_DPI = FAX_X_DPI


def closest_paper(width: float, height: float) -> Paper:
    """The paper whose proportions are nearest to a page's, whichever way round the page is."""
    aspect = max(width, height) / min(width, height)
    return min((A4, LETTER), key=lambda paper: abs(paper.height_in / paper.width_in - aspect))


def place_on_page(
    picture: Image.Image, dpi: tuple[float, float] | None, resolution: Resolution
) -> Image.Image:
    """Put a grayscale ("L") picture on a white fax page, returned as "L" for ``to_bilevel``.

    A picture whose printed size is known (``dpi``) and fits the page keeps that size, at the top left like
    a printer would put it. Anything else is scaled to fill the page, turned to portrait first when it is
    landscape (Ghostscript turns PDF pages the same way) and centred. The paper is A4 or Letter, whichever
    shape is closer to the picture's.
    """
    width_px, height_px = picture.size
    # Without a dpi only the proportions are known; pixels are taken as square.
    x_dpi, y_dpi = dpi or (1.0, 1.0)
    width_in, height_in = width_px / x_dpi, height_px / y_dpi
    paper = closest_paper(width_in, height_in)
    rows = paper.rows(resolution)
    printed_size_fits = dpi is not None and width_in <= PAGE_WIDTH_IN and height_in <= paper.height_in
    if not printed_size_fits:
        if width_in > height_in:
            picture = picture.transpose(Image.Transpose.ROTATE_90)
            width_in, height_in = height_in, width_in
        scale = min(PAGE_WIDTH_IN / width_in, paper.height_in / height_in)
        width_in, height_in = width_in * scale, height_in * scale

    size = (
        min(PAGE_WIDTH, max(1, round(width_in * FAX_X_DPI))),
        min(rows, max(1, round(height_in * resolution.dpi[1]))),
    )
    if printed_size_fits:
        margin_x, margin_y = round(MARGIN_IN * FAX_X_DPI), round(MARGIN_IN * resolution.dpi[1])
        offset = (min(margin_x, PAGE_WIDTH - size[0]), min(margin_y, rows - size[1]))
    else:
        offset = ((PAGE_WIDTH - size[0]) // 2, (rows - size[1]) // 2)
    page = Image.new("L", (PAGE_WIDTH, rows), 255)
    page.paste(picture.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0), offset)
    return page


def looks_like_photo(picture: Image.Image) -> bool:
    """Whether a grayscale picture has continuous tones (dither) rather than ink on paper (threshold)."""
    histogram = picture.histogram()
    mid_tones = sum(histogram[level] for level in _MID_TONES)
    return mid_tones > _PHOTO_MID_TONE_SHARE * picture.width * picture.height


def to_bilevel(page: Image.Image, *, dither: bool) -> Image.Image:
    """A grayscale page as a fax page (mode "1"): Floyd-Steinberg for photos, a 50% threshold for ink."""
    return page.convert("1", dither=Image.Dither.FLOYDSTEINBERG if dither else Image.Dither.NONE)


def drawn_page_to_fax(page: Image.Image, resolution: Resolution) -> Image.Image:
    """A page we drew in grayscale at DRAW_DPI on DRAWN_PAPER (text, cover) as a thresholded fax page."""
    return to_bilevel(place_on_page(page, (DRAW_DPI, DRAW_DPI), resolution), dither=False)
