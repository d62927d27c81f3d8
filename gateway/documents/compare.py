"""How far a received fax is from the one sent: differing pixels per page."""

from __future__ import annotations

from pathlib import Path

from faxgw.gateway.documents.errors import ConversionError
from faxgw.gateway.domain import FaxStatus
from faxgw.sip.fax import open_tiff
from PIL import ImageChops

#: In a mode "1" histogram, white pixels are counted in the last bin.
_SET = 255


def page_differences(sent: Path, received: Path) -> list[int | None]:
    """For each page of ``sent``: how many pixels differ on the same page of ``received`` (0: identical).

    None for a page that did not arrive or arrived with another size (a change of resolution or length).
    """
    try:
        with open_tiff(sent) as want, open_tiff(received) as got:
            differences: list[int | None] = []
            for index in range(want.n_frames):
                want.seek(index)
                if index >= got.n_frames:
                    differences.append(None)
                    continue
                got.seek(index)
                if want.size != got.size:
                    differences.append(None)
                    continue
                xor = ImageChops.logical_xor(want.convert("1"), got.convert("1"))
                differences.append(xor.histogram()[_SET])
            return differences
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ConversionError(
            FaxStatus.FAILED_IMAGE_PREPARATION, f"cannot compare the faxes: {exc}"
        ) from None
