"""Fax ids as Telnyx shows them: UUIDs (the seed's ``format: uuid``), reversibly made from ours.

A gateway id is ``fx_`` and 20 hex digits (``gateway.store.new_id``): 80 bits. They go into a UUID of
version 8 (RFC 9562 5.8, "custom"): its 48-bit ``custom_a`` holds the first 12 digits, its 12-bit
``custom_b`` the next 3 and the low 20 bits of its 62-bit ``custom_c`` the last 5; the rest of
``custom_c`` is a fixed tag, so that a UUID we did not make does not decode to some fax of ours. The
store's ids do not change: the dialect encodes the ids it shows and decodes the ids it is given.
"""

from __future__ import annotations

import re
import uuid

PREFIX = "fx_"
GATEWAY_ID = re.compile(r"^fx_([0-9a-f]{20})$")
#: The 42 high bits of ``custom_c`` in every UUID of ours ("fax" in ASCII, then zeros).
TAG = 0x666178 << 20
_VERSION, _VARIANT = 8, 0b10


def to_uuid(fax_id: str) -> str:
    """The UUID of a gateway id; an id of another form (a fax stored before ids had it) as it is."""
    match = GATEWAY_ID.match(fax_id)
    if match is None:
        return fax_id
    bits = int(match.group(1), 16)
    custom_a, custom_b, low = bits >> 32, (bits >> 20) & 0xFFF, bits & 0xFFFFF
    value = (custom_a << 80) | (_VERSION << 76) | (custom_b << 64) | (_VARIANT << 62) | TAG | low
    return str(uuid.UUID(int=value))


def from_uuid(shown: str) -> str | None:
    """The gateway id a UUID of ``to_uuid`` stands for; None for any other UUID. A string that is not a
    UUID is taken as a gateway id (clients that know our ids from the native API use them as they are)."""
    try:
        value = uuid.UUID(shown).int
    except ValueError:
        return shown
    if (
        (value >> 76) & 0xF != _VERSION
        or (value >> 62) & 0b11 != _VARIANT
        or value & ~0xFFFFF & ((1 << 62) - 1) != TAG
    ):
        return None
    bits = ((value >> 80) << 32) | (((value >> 64) & 0xFFF) << 20) | (value & 0xFFFFF)
    return f"{PREFIX}{bits:020x}"
