"""What the native API and the dialects that share its payload and errors (Fax.Plus) do with an upload, a
send request, a fax of the caller's and a deletion."""

from __future__ import annotations

from fastapi import Response
from faxgw.gateway.api.errors import ApiError, ApiErrorCode
from faxgw.gateway.api.models import MAX_TOTAL_UPLOAD_BYTES, SendFaxRequest
from faxgw.gateway.documents import ConversionError
from faxgw.gateway.service import (
    ApiKey,
    AttemptRecord,
    Conflict,
    FaxRecord,
    FileRecord,
    Gateway,
    NewFax,
    NotFound,
    Refused,
)


async def save_upload(gateway: Gateway, tenant_id: str, name: str | None, data: bytes) -> FileRecord:
    """Keep an uploaded document: at most 150 MB, of a type we can fax (checked from its content)."""
    if len(data) > MAX_TOTAL_UPLOAD_BYTES:
        raise ApiError.payload_too_large(len(data), MAX_TOTAL_UPLOAD_BYTES)
    try:
        return await gateway.save_file(tenant_id, name or "upload", data)
    except ConversionError as error:
        raise ApiError.unsupported_media_type(f"{error.code}: {error.message}") from None


async def submit_request(gateway: Gateway, tenant_id: str, body: SendFaxRequest) -> list[FaxRecord]:
    """Check the files (theirs, 150 MB in all) and queue one fax per destination."""
    records = await gateway.files(tenant_id, body.files)
    files = {record.id: record for record in records}
    missing = next((file_id for file_id in body.files if file_id not in files), None)
    if missing is not None:
        raise ApiError.not_found("file", missing)
    total = sum(files[file_id].size for file_id in body.files)
    if total > MAX_TOTAL_UPLOAD_BYTES:
        raise ApiError.payload_too_large(total, MAX_TOTAL_UPLOAD_BYTES)
    request = NewFax(
        from_numbers=body.from_numbers,
        to=body.to,
        file_ids=body.files,
        resolution=body.resolution,
        cover_page=body.cover_page.model_dump() if body.cover_page else None,
        options=body.options.model_dump(),
        comment=body.comment.model_dump(),
        send_at=body.send_at,
        webhook_url=str(body.webhook_url) if body.webhook_url else None,
        from_fax_id=body.from_fax.fax_id if body.from_fax else None,
    )
    try:
        return await gateway.submit(tenant_id, request, records)
    except NotFound as error:
        raise ApiError.not_found("resource", str(error)) from None
    except Refused as error:
        raise refused(error) from None


def refused(error: Refused) -> ApiError:
    """The native (and Fax.Plus) answer: 403 for what is not the tenant's, 400 for a refused address."""
    code = ApiErrorCode.FORBIDDEN if error.forbidden else ApiErrorCode.INVALID_REQUEST
    return ApiError.of(code, f"{error.field}: {error}")


async def owned_fax(gateway: Gateway, key: ApiKey, fax_id: str) -> FaxRecord:
    """The key's tenant's fax ``fax_id``; 404 if it has none."""
    try:
        return await gateway.fax(key.tenant_id, fax_id)
    except NotFound:
        raise ApiError.not_found("fax", fax_id) from None


async def owned_fax_and_attempts(
    gateway: Gateway, key: ApiKey, fax_id: str
) -> tuple[FaxRecord, list[AttemptRecord]]:
    """``owned_fax`` with its attempts, read together; 404 if the tenant has no such fax."""
    try:
        return await gateway.fax_and_attempts(key.tenant_id, fax_id)
    except NotFound:
        raise ApiError.not_found("fax", fax_id) from None


async def deleted(gateway: Gateway, fax: FaxRecord) -> Response:
    """Cancel or delete ``fax``: 204, or 409 while its call is up."""
    try:
        await gateway.delete(fax.tenant_id, fax.id)
    except Conflict as error:
        raise ApiError.conflict(str(error)) from None
    return Response(status_code=204)
