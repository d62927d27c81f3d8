"""The gateway's Ed25519 key for Telnyx-style webhooks: made once, kept in the data directory.

Telnyx signs its webhooks with a private key and publishes the public key in its portal; receivers check
with it (the ``telnyx`` SDK's ``webhooks.unwrap(..., key=...)``). The gateway plays that part: its public
key is shown by ``GET /v1/webhook-keys`` and ``faxgw serve``'s start-up log. Several gateway nodes share it
by sharing the file.
"""

from __future__ import annotations

import base64
import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

#: The raw 32-byte private key, readable by the gateway's user only.
KEY_FILE = "telnyx-webhook-ed25519.key"


def load_or_create(path: Path) -> Ed25519PrivateKey:
    """The key in ``path``, or a new one written there first (mode 0600, never replaced once made)."""
    try:
        return Ed25519PrivateKey.from_private_bytes(path.read_bytes())
    except FileNotFoundError:
        pass
    except ValueError:
        raise ValueError(f"{path}: not a raw 32-byte Ed25519 private key") from None
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    # Written whole under a name of its own (mkstemp: mode 0600), then linked into place: when several
    # nodes start at once (faxgw serve --workers), one link wins and the others read that key, never a
    # file still being written.
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as file:
        file.write(raw)
    try:
        os.link(file.name, path)
    except FileExistsError:
        return load_or_create(path)
    finally:
        os.unlink(file.name)
    return key


def public_key(key: Ed25519PrivateKey) -> str:
    """The public key as Telnyx's portal shows one: base64 of the raw 32 bytes."""
    return base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
