"""The web console's settings ([console]): whether the gateway serves it, how long a sign-in lasts; and the
password hashes of console users (``[[tenants]] users``)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ConsoleConfig:
    #: Serve the console at /console/ on the API's port.
    enabled: bool = True
    #: Seconds a sign-in lasts; then the tenant signs in again.
    session_lifetime: float = 8 * 3600.0
    #: The key session cookies are signed with (HMAC-SHA256). None: a random one, kept in
    #: data_dir/console.secret, so that sessions outlive a restart. Nodes sharing one domain need the same.
    secret: str | None = None
    #: Failed sign-ins one client address may make per ``sign_in_window`` seconds; then 429 until it passes.
    max_failed_sign_ins: int = 5
    sign_in_window: float = 300.0


# Console users' passwords ([[tenants]] users = {alice = "<hash>"}) are stored as scrypt hashes (RFC 7914):
# "scrypt$<N>$<r>$<p>$<salt>$<key>", salt and key in unpadded base64. N = 2**14, r = 8 costs 16 MB and some
# 50 ms per check: slow for a guesser, and failed sign-ins are bounded besides.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MAX_SCRYPT_N = 2**16  # a hash that asks for more memory than this would let one sign-in take 64 MB+
_SCRYPT_MAXMEM = 256 * 1024 * 1024


def hash_password(password: str, salt: bytes | None = None) -> str:
    """The stored form of ``password``: ``python3 -c 'from faxgw.gateway.consoleconfig import hash_password;
    print(hash_password(input()))'``."""
    salt = salt if salt is not None else os.urandom(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return "$".join(("scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(key)))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _parts(hashed: str) -> tuple[int, int, int, bytes, bytes] | None:
    """The parameters of a stored hash; None if it is not one of ours or asks for too much."""
    fields = hashed.split("$")
    if len(fields) != 6 or fields[0] != "scrypt":
        return None
    try:
        n, r, p = int(fields[1]), int(fields[2]), int(fields[3])
        salt, key = (base64.b64decode(f + "=" * (-len(f) % 4), validate=True) for f in fields[4:])
    except (ValueError, binascii.Error):
        return None
    if not (1 < n <= MAX_SCRYPT_N and n & (n - 1) == 0 and 1 <= r <= 16 and 1 <= p <= 4 and len(key) >= 16):
        return None
    return n, r, p, salt, key


def password_hash_ok(hashed: str) -> bool:
    return _parts(hashed) is not None


def check_password(password: str, hashed: str) -> bool:
    """Does ``password`` match the stored ``hashed``? (False for a malformed hash.) Takes ~50 ms: call it off
    the event loop."""
    parts = _parts(hashed)
    if parts is None:
        return False
    n, r, p, salt, key = parts
    given = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(key), maxmem=_SCRYPT_MAXMEM)
    return hmac.compare_digest(given, key)
