"""Deciding whether bytes are text, and which characters they spell."""

from __future__ import annotations

import codecs
import re

#: Unicode's control characters (category Cc) except those a text file may contain: tab, line feed,
#: form feed (new page), carriage return.
_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
#: Random bytes decoded as a single-byte charset are ~10% control characters; real text has nearly none.
_MAX_CONTROL_SHARE = 0.05
#: Tried in order when there is no byte order mark. cp1252 is what "ANSI" files from Windows are, and
#: latin-1 (which decodes anything) catches the five bytes cp1252 leaves undefined.
_FALLBACK_ENCODINGS = ("utf-8", "cp1252", "latin-1")


def decode_text(data: bytes, *, complete: bool = True) -> str | None:
    """The text in ``data``, or None when it does not look like text.

    ``complete=False`` is for a sample cut from a longer file: a multi-byte character split at the end of
    the sample is not held against it.
    """
    if data.startswith(codecs.BOM_UTF8):
        encodings: tuple[str, ...] = ("utf-8-sig",)
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings = ("utf-16",)
    elif b"\0" in data:
        return None
    else:
        encodings = _FALLBACK_ENCODINGS
    for encoding in encodings:
        try:
            text = codecs.getincrementaldecoder(encoding)().decode(data, final=complete)
        except UnicodeDecodeError:
            continue
        return text if _mostly_printable(text) else None
    return None


def _mostly_printable(text: str) -> bool:
    return len(_CONTROLS.findall(text)) <= _MAX_CONTROL_SHARE * len(text)
