"""Telnyx's temporary media links: a URL anyone holding it may GET until it expires, like an S3
pre-signed URL, for a fax's document (``media_url`` of a received fax, ``stored_media_url``,
``preview_url``).

A link is ``{public_url}/v2/signed/faxes/{uuid}.{pdf|tiff}?tenant=&expires=<unix time>&signature=<hex>``:
the signature is HMAC-SHA256 (RFC 2104) over the tenant, the fax id, the format and the expiry, keyed by
a key derived from the config's ``webhook_secret`` (so that no link can be made for another fax, format
or time without the secret). Telnyx's links last 10 minutes (the seed); ``POST
/v2/faxes/{id}/actions/refresh`` renews a fax's links.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Literal
from urllib.parse import urlencode

from fastapi.responses import FileResponse
from faxgw.gateway.api.dialects.telnyx_ids import to_uuid
from faxgw.gateway.api.documents import fax_document
from faxgw.gateway.config import Config
from faxgw.gateway.service import FaxRecord

#: How long a link lasts (the seed: "Link expires after 10 minutes").
LINK_SECONDS = 600
Format = Literal["pdf", "tiff"]
#: Where the links lead (the dialect's route ``signed_media``).
PATH = "/v2/signed/faxes"


def _signature(config: Config, tenant_id: str, fax_id: str, format: str, expires: int) -> str:
    # A key of its own, derived from the one secret (so that a webhook signature is never a link's).
    key = hmac.new(config.webhook_secret.encode(), b"telnyx media links", hashlib.sha256).digest()
    message = f"{tenant_id}\n{fax_id}\n{format}\n{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def link(config: Config, fax: FaxRecord, format: Format, expires: float) -> str:
    """The signed URL of the fax's document in ``format``, good until ``expires`` (a Unix time)."""
    at = int(expires)
    signature = _signature(config, fax.tenant_id, fax.id, format, at)
    query = urlencode({"tenant": fax.tenant_id, "expires": at, "signature": signature})
    return f"{config.base_url}{PATH}/{to_uuid(fax.id)}.{format}?{query}"


def valid(config: Config, tenant_id: str, fax_id: str, format: str, expires: int, signature: str) -> bool:
    """The link's signature is ours and it has not expired."""
    expected = _signature(config, tenant_id, fax_id, format, expires)
    return hmac.compare_digest(expected, signature) and time.time() < expires


async def document(fax: FaxRecord, format: Format) -> FileResponse:
    """The fax's document: what it received, or what it sent (kept as TIFF-F, made a PDF on demand)."""
    return await fax_document(fax, format, name=to_uuid(fax.id))
