"""Telnyx's Media Storage API (``/v2/media``, the SDK's ``client.media``) over the tenant's files, and the
documents a Telnyx request fetches by URL.

A stored media is one of the tenant's files (``Gateway.save_file``), its ``media_name`` the file's name:
the client's own, or a UUID the gateway makes when it gives none. ``POST /v2/faxes`` takes a
``media_name`` (or the id of a file uploaded to our native ``POST /v1/files``). Routes, as the SDK calls
them:

* ``media.upload`` ``POST /media``: JSON with ``media_url`` (fetched at once), or multipart/form-data
  with the document in ``media``; at most 20 MB (Telnyx's limit), else 422 ``file_size_limit_exceeded``.
  A ``media_name`` already in use is 422 (``update`` replaces a media).
* ``media.list`` ``GET /media?filter[content_type][]=...``, ``media.retrieve`` ``GET /media/{name}``,
  ``media.download`` ``GET /media/{name}/download`` (the document itself), ``media.delete`` ``DELETE
  /media/{name}`` (204), ``media.update`` ``PUT /media/{name}`` (new content, by ``media_url`` or a
  multipart ``media``, under the same name).

``ttl_secs`` is refused (422): files here are kept until deleted, so ``expires_at`` is always null.
Files of one name are told apart by age: a name is its newest file, an older file of the same name (two
native uploads of ``a.pdf``) is shown by its id.
"""

from __future__ import annotations

import contextlib
import mimetypes
import re
import uuid
from typing import Annotated, Any

from fastapi import Query, Request, Response
from fastapi.responses import FileResponse
from faxgw.gateway.api.auth import Editor, Reader
from faxgw.gateway.api.dialect import CurrentGateway
from faxgw.gateway.api.dialects.telnyx_errors import (
    json_object,
    router,
    string,
    telnyx_error,
    telnyx_errors,
    too_large,
)
from faxgw.gateway.api.dialects.telnyx_webhooks import iso_time
from faxgw.gateway.api.errors import content
from faxgw.gateway.documents import ConversionError
from faxgw.gateway.documents.detect import Kind
from faxgw.gateway.documents.fetch import FetchError, FetchPolicy, FetchTooLarge, fetch_document
from faxgw.gateway.service import FileRecord, Gateway, NotFound
from starlette.datastructures import UploadFile

#: Telnyx's Media Storage limit ("The maximum allowed size is 20 MB").
MAX_STORED_BYTES = 20 * 1024 * 1024
MEDIA_TIMEOUT = 30.0
#: A name that fits in a URL path segment: no ``/``, no control characters.
MEDIA_NAME = re.compile(r"^[^/\x00-\x1f\x7f]{1,255}$")
CONTENT_TYPE_FILTER = "filter[content_type]"


async def download(url: str, policy: FetchPolicy, limit: int, field: str = "media_url") -> tuple[str, bytes]:
    """The document at ``url`` (at most ``limit`` bytes; see gateway.documents.fetch) and its file name."""
    try:
        return await fetch_document(url, limit=limit, policy=policy, timeout=MEDIA_TIMEOUT)
    except FetchTooLarge:
        raise too_large(field, limit) from None
    except FetchError as error:
        raise telnyx_error(
            f"The '{field}' could not be downloaded: {error}.",
            pointer=f"/{field}",
            code="file_download_failed",
        ) from None


async def save(gateway: Gateway, tenant_id: str, name: str, data: bytes, pointer: str) -> FileRecord:
    """Keep a document as the tenant's file ``name``; 422 ``file_format_invalid`` for one we cannot fax."""
    try:
        return await gateway.save_file(tenant_id, name, data)
    except ConversionError as error:
        raise telnyx_error(
            f"Unsupported file format: {error.message}", pointer=pointer, code="file_format_invalid"
        ) from None


async def find(gateway: Gateway, tenant_id: str, media_name: str) -> FileRecord | None:
    """The tenant's file of ``media_name``: the newest of that name, else the file of that id."""
    named = await gateway.tenant_files(tenant_id, media_name)
    if named:
        return named[-1]
    found = await gateway.files(tenant_id, [media_name])
    return found[0] if found else None


def _content_type(kind: str) -> str:
    return mimetypes.guess_type(f"file.{kind}")[0] or "application/octet-stream"


#: The media types of the documents kept (every ``Kind`` a file may be), for OpenAPI.
DOCUMENT_TYPES = sorted({_content_type(kind.value) for kind in Kind})


def content_type(record: FileRecord) -> str:
    # FileRecord.mime_type is the document's kind as a file extension (gateway.documents.detect.Kind).
    return _content_type(record.mime_type)


def media_object(record: FileRecord, media_name: str) -> dict[str, Any]:
    """The SDK's ``MediaResource``; a file's content never changes, so it was updated when created."""
    created = iso_time(record.created_at)
    return {
        "media_name": media_name,
        "content_type": content_type(record),
        "created_at": created,
        "updated_at": created,
        "expires_at": None,  # kept until deleted
    }


async def _stored(gateway: Gateway, tenant_id: str, media_name: str) -> FileRecord:
    found = await find(gateway, tenant_id, media_name)
    if found is None:
        raise telnyx_error(f"Media {media_name} not found.", status=404, code="10005")
    return found


async def _content(gateway: Gateway, request: Request) -> tuple[dict[str, Any], bytes]:
    """The fields of an upload or update and its document: a multipart ``media``, or ``media_url``'s."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        body: dict[str, Any] = {k: v for k, v in form.items() if not isinstance(v, UploadFile)}
        media = form.get("media")
        if isinstance(media, UploadFile):
            if body.get("media_url"):
                raise telnyx_error("media and media_url can't be submitted together.", pointer="/media")
            data = await media.read(MAX_STORED_BYTES + 1)
            if len(data) > MAX_STORED_BYTES:
                raise too_large("media", MAX_STORED_BYTES)
            _no_ttl(body)
            return body, data
    else:
        body = await json_object(request)
    _no_ttl(body)
    url = string(body, "media_url")
    if url is None:
        raise telnyx_error("One of media_url or media (a multipart file) is required.", pointer="/media_url")
    return body, (await download(url, gateway.config.fetch_policy, MAX_STORED_BYTES))[1]


def _no_ttl(body: dict[str, Any]) -> None:
    if body.get("ttl_secs") is not None:
        raise telnyx_error(
            "ttl_secs is not supported: media stored here are kept until deleted (DELETE /v2/media/{name}).",
            pointer="/ttl_secs",
        )


@router.post("/media", responses=telnyx_errors(413, 422))
async def upload_media(gateway: CurrentGateway, request: Request, key: Editor) -> dict[str, Any]:
    """``media.upload``: a new media of the client's ``media_name``, or of a UUID made here."""
    body, data = await _content(gateway, request)
    name = string(body, "media_name")
    if name is not None:
        if not MEDIA_NAME.match(name):
            raise telnyx_error(
                "The 'media_name' must be 1 to 255 characters, without '/' or control characters.",
                pointer="/media_name",
            )
        if await gateway.tenant_files(key.tenant_id, name):
            raise telnyx_error(
                f"Media {name} already exists: update it (PUT /v2/media/{name}) or delete it first.",
                pointer="/media_name",
            )
    name = name or str(uuid.uuid4())
    record = await save(gateway, key.tenant_id, name, data, "/media")
    return {"data": media_object(record, name)}


@router.get("/media", responses=telnyx_errors(422))
async def list_media(
    gateway: CurrentGateway,
    key: Reader,
    listed: Annotated[list[str] | None, Query(alias=f"{CONTENT_TYPE_FILTER}[]")] = None,
    joined: Annotated[str | None, Query(alias=CONTENT_TYPE_FILTER)] = None,
) -> dict[str, Any]:
    """``media.list``: the tenant's files, oldest first, each under the name that finds it; only those of
    the content types ``filter[content_type][]`` lists (Telnyx's API) or ``filter[content_type]`` joins
    with commas (what the SDK sends)."""
    content_types = [*(listed or ()), *(joined.split(",") if joined else ())]
    records = await gateway.tenant_files(key.tenant_id)
    newest = {record.name: record.id for record in records}
    shown = [
        media_object(record, record.name if newest[record.name] == record.id else record.id)
        for record in records
        if not content_types or content_type(record) in content_types
    ]
    meta = {"page_number": 1, "page_size": len(shown), "total_pages": 1, "total_results": len(shown)}
    return {"data": shown, "meta": meta}


@router.get("/media/{media_name}", responses=telnyx_errors(404))
async def get_media(gateway: CurrentGateway, media_name: str, key: Reader) -> dict[str, Any]:
    return {"data": media_object(await _stored(gateway, key.tenant_id, media_name), media_name)}


@router.put("/media/{media_name}", responses=telnyx_errors(404, 413, 422))
async def update_media(
    gateway: CurrentGateway, media_name: str, request: Request, key: Editor
) -> dict[str, Any]:
    """``media.update``: new content under the same name (the old file is removed once the new is kept)."""
    old = await _stored(gateway, key.tenant_id, media_name)
    _, data = await _content(gateway, request)
    record = await save(gateway, key.tenant_id, media_name, data, "/media")
    await _forget(gateway, key.tenant_id, old)
    return {"data": media_object(record, media_name)}


@router.delete("/media/{media_name}", status_code=204, responses=telnyx_errors(404))
async def delete_media(gateway: CurrentGateway, media_name: str, key: Editor) -> Response:
    await _forget(gateway, key.tenant_id, await _stored(gateway, key.tenant_id, media_name))
    return Response(status_code=204)


@router.get(
    "/media/{media_name}/download",
    response_class=FileResponse,
    responses=content(200, *DOCUMENT_TYPES) | telnyx_errors(404),
)
async def download_media(gateway: CurrentGateway, media_name: str, key: Reader) -> FileResponse:
    record = await _stored(gateway, key.tenant_id, media_name)
    return FileResponse(record.path, media_type=content_type(record), filename=record.name)


async def _forget(gateway: Gateway, tenant_id: str, record: FileRecord) -> None:
    with contextlib.suppress(NotFound):  # deleted meanwhile by another request: gone either way
        await gateway.delete_file(tenant_id, record.id)
