"""Webhook signatures: an HMAC-SHA256 over the timestamp and the exact body bytes (the Stripe scheme).

The timestamp is inside the signed text, so a captured request cannot be replayed once it is stale,
and the body is signed as sent, so a receiver must verify the raw bytes before parsing any JSON.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

SIGNATURE_HEADER = "X-Faxgw-Signature"
TIMESTAMP_HEADER = "X-Faxgw-Timestamp"
EVENT_ID_HEADER = "X-Faxgw-Event-Id"

#: The scheme named in the signature header; a new scheme gets a new name (v2=...) alongside it.
SCHEME = "v1"
#: How far a receiver lets the signed timestamp drift from its own clock, either way, by default.
DEFAULT_TOLERANCE = 300


def signature(body: bytes, secret: str, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}.{body}"`` keyed with the secret."""
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    """The headers that let a receiver check who sent ``body`` and when."""
    return {
        SIGNATURE_HEADER: f"t={timestamp},{SCHEME}={signature(body, secret, timestamp)}",
        TIMESTAMP_HEADER: str(timestamp),
    }


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # HTTP header names are case-insensitive; a receiver may hand us a plain dict of lowercased names.
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    for key, candidate in headers.items():
        if key.lower() == wanted:
            return candidate
    return None


def parse_signature_header(value: str) -> tuple[int, list[str]] | None:
    """``t=<ts>,v1=<hex>[,v1=<hex>...]`` -> (ts, the v1 signatures); None if malformed.

    Several v1 entries are allowed so that a sender can sign with an old and a new secret while a
    receiver rotates; unknown schemes are ignored.
    """
    timestamp: int | None = None
    signatures: list[str] = []
    for item in value.split(","):
        name, sep, setting = item.strip().partition("=")
        if not sep:
            return None
        if name == "t":
            if not (setting.isascii() and setting.isdigit()) or timestamp is not None:
                return None
            timestamp = int(setting)
        elif name == SCHEME:
            signatures.append(setting)
    if timestamp is None or not signatures:
        return None
    return timestamp, signatures


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """True when ``body`` was signed with ``secret`` no more than ``tolerance`` seconds from ``now``.

    Never raises on bad input: a missing or malformed header is simply not a valid signature.
    """
    value = _header(headers, SIGNATURE_HEADER)
    if value is None:
        return False
    parsed = parse_signature_header(value)
    if parsed is None:
        return False
    timestamp, candidates = parsed
    # The separate timestamp header is a convenience for receivers; if present it must agree.
    stated = _header(headers, TIMESTAMP_HEADER)
    if stated is not None and stated.strip() != str(timestamp):
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = signature(body, secret, timestamp).encode()
    # compare_digest on every candidate, without stopping early, keeps the comparison constant-time;
    # bytes, because compare_digest refuses non-ASCII str and a header may hold anything.
    matches = [
        hmac.compare_digest(expected, candidate.strip().encode("utf-8", "replace"))
        for candidate in candidates
    ]
    return any(matches)
