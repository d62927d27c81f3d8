"""How a stored webhook goes on the wire in each envelope: final bytes, content type, signature headers.

The body is built once, when the event happens, and stored (``gateway.webhooks.store``); what belongs to
the moment of sending - the signed timestamp, Telnyx's attempt counter - is added here at every attempt,
so a retry an hour later still carries a fresh signature the receiver accepts.

* ``native``: our own signed JSON (``gateway.webhooks.signing``).
* ``faxplus``: Fax.Plus's ``{"hook", "data"}`` JSON. Fax.Plus documents no signature; ours is added in the
  ``X-Faxgw-*`` headers, which a Fax.Plus receiver ignores and a careful one can check.
* ``telnyx``: Telnyx's ``{"data", "meta"}`` JSON signed with Ed25519 over ``"{timestamp}|{body}"`` in the
  ``telnyx-signature-ed25519`` and ``telnyx-timestamp`` headers, which the ``telnyx`` SDK's
  ``webhooks.unwrap()`` checks with the gateway's public key (``gateway.webhooks.keys``).
* ``dropbox``: Dropbox Sign's callback, the JSON in a multipart/form-data field named ``json``; its
  ``event_hash`` is made when the body is built. Dropbox Sign counts a callback as received only when the
  answer's body says ``Hello API Event Received``, and so do we.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from faxgw.gateway.webhooks.signing import EVENT_ID_HEADER, sign
from faxgw.gateway.webhooks.store import Delivery

USER_AGENT = "faxgw-webhooks/1"
JSON = "application/json"
DROPBOX_ACKNOWLEDGEMENT = b"Hello API Event Received"


class WebhookFormat(Protocol):
    @property
    def acknowledgement(self) -> bytes | None:
        """A 2xx answer counts only if its body contains this (None: any 2xx does)."""
        ...

    def prepare(self, delivery: Delivery, attempt: int, timestamp: int) -> tuple[bytes, dict[str, str]]:
        """The bytes to POST for this attempt (1 for the first) and the headers to send with them."""
        ...


@dataclass(frozen=True)
class SignedJson:
    """The stored JSON as it is, with our HMAC signature headers (native and Fax.Plus)."""

    secret: str
    acknowledgement: bytes | None = None

    def prepare(self, delivery: Delivery, attempt: int, timestamp: int) -> tuple[bytes, dict[str, str]]:
        headers = {
            **sign(delivery.body, self.secret, timestamp),
            EVENT_ID_HEADER: delivery.event_id,
            "Content-Type": JSON,
            "User-Agent": USER_AGENT,
        }
        return delivery.body, headers


@dataclass(frozen=True)
class TelnyxJson:
    """Telnyx's envelope: ``meta`` (attempt, delivered_to) added per attempt, then signed with Ed25519."""

    key: Ed25519PrivateKey
    acknowledgement: bytes | None = None

    def prepare(self, delivery: Delivery, attempt: int, timestamp: int) -> tuple[bytes, dict[str, str]]:
        document = json.loads(delivery.body)
        document["meta"] = {"attempt": attempt, "delivered_to": delivery.url}
        body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
        signature = self.key.sign(f"{timestamp}|".encode() + body)
        headers = {
            "telnyx-signature-ed25519": base64.b64encode(signature).decode(),
            "telnyx-timestamp": str(timestamp),
            "Content-Type": JSON,
            "User-Agent": USER_AGENT,
        }
        return body, headers


@dataclass(frozen=True)
class DropboxForm:
    """Dropbox Sign's callback: the stored JSON as the form field ``json``; needs its acknowledgement."""

    acknowledgement: bytes | None = DROPBOX_ACKNOWLEDGEMENT

    def prepare(self, delivery: Delivery, attempt: int, timestamp: int) -> tuple[bytes, dict[str, str]]:
        boundary = f"faxgw-{secrets.token_hex(16)}"  # random: it must not occur in the body
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="json"\r\n'
            f"Content-Type: application/json\r\n\r\n".encode()
            + delivery.body
            + f"\r\n--{boundary}--\r\n".encode()
        )
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "User-Agent": USER_AGENT}
        return body, headers
