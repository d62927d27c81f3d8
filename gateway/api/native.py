"""The native REST API (``/v1``): files, faxes, downloads, page images while a fax arrives, and
Server-Sent Events. Errors are ``{"error", "description"}`` (``gateway.api.errors``)."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, File, Header, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse, StreamingResponse
from faxgw.gateway.api.auth import BEARER_KEYS, Editor, Reader
from faxgw.gateway.api.diagnostics import AttemptDiagnostics, attempt_diagnostics
from faxgw.gateway.api.dialect import CurrentGateway, Dialect, error_route
from faxgw.gateway.api.documents import fax_document
from faxgw.gateway.api.errors import ApiError, content, native_errors
from faxgw.gateway.api.inputs import MAX_OFFSET
from faxgw.gateway.api.models import (
    MAX_TOTAL_UPLOAD_BYTES,
    FaxAttempt,
    FaxError,
    FaxLeg,
    FaxList,
    FaxObject,
    FaxOrigin,
    FaxStatusValue,
    FileObject,
    PageCount,
    SendFaxRequest,
    SendFaxResponse,
)
from faxgw.gateway.api.requests import (
    deleted,
    owned_fax,
    owned_fax_and_attempts,
    save_upload,
    submit_request,
)
from faxgw.gateway.domain import FINAL_EVENTS, FaxStatus
from faxgw.gateway.service import AttemptRecord, FaxQuery, FaxRecord, Gateway
from PIL import Image


def _time(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _time_or_none(epoch: float | None) -> datetime | None:
    return _time(epoch) if epoch is not None else None


router = APIRouter(
    prefix="/v1",
    tags=["native"],
    route_class=error_route(ApiError.to_response),
    dependencies=BEARER_KEYS.security(),
)


async def fax_object(
    gateway: Gateway, fax: FaxRecord, attempts: Sequence[AttemptRecord] | None = None
) -> FaxObject:
    """The fax as the native API shows it; ``attempts``: its attempts, when they were read with it."""
    if attempts is None:
        attempts = await gateway.attempts(fax.id)
    status = fax.status
    if (
        status == FaxStatus.QUEUED
        and fax.send_at
        and fax.send_at > datetime.now(UTC).timestamp()
        and not fax.attempts_made
    ):
        status = FaxStatus.SCHEDULED
    shown = [
        FaxAttempt(
            n=a.number,
            started_at=_time(a.started_at),
            ended_at=_time_or_none(a.ended_at),
            status=a.status or FaxStatus.SENDING,
            sip_code=a.sip_code,
            hangup_cause=a.hangup_cause,
            t30_code=a.t30_code,
            t30_text=a.t30_text,
            pages_sent=a.pages_sent,
            call_id=a.call_id,
            route=a.route,
            legs=[FaxLeg.model_validate(leg) for leg in a.legs],
            summary=a.summary,
        )
        for a in attempts
    ]
    return FaxObject.model_validate(
        {
            "id": fax.id,
            "direction": fax.direction,
            "from": fax.from_number,
            "to": fax.to_number,
            "status": status,
            "error": FaxError(code=fax.error_code, description=fax.error_description or "")
            if fax.error_code and status != FaxStatus.SUCCESS
            else None,
            "pages": PageCount(total=fax.pages_total, transferred=fax.pages_transferred),
            "files": fax.file_ids,
            "remote_station_id": fax.remote_station_id,
            "t38": fax.t38,
            "bit_rate": fax.bit_rate,
            "ecm": fax.ecm,
            "resolution": fax.resolution,
            "attempts": shown,
            "comment": fax.request.get("comment") or {},
            "send_at": _time_or_none(fax.send_at),
            "created_at": _time(fax.created_at),
            "updated_at": _time(fax.updated_at),
            "completed_at": _time_or_none(fax.completed_at),
            "origin": _origin(fax),
        }
    )


def _origin(fax: FaxRecord) -> FaxOrigin | None:
    """The device a relayed fax came from (what the jobs keep in ``request.origin``, minus its paths)."""
    origin = fax.request.get("origin")
    if not isinstance(origin, dict):
        return None
    return FaxOrigin(
        device=origin["device"], relay=origin["relay"], caller=origin["caller"], call_id=origin["call_id"]
    )


@router.post(
    "/files",
    status_code=201,
    response_model=FileObject,
    response_model_by_alias=True,
    responses=native_errors(400, 413, 415),
)
async def upload(gateway: CurrentGateway, key: Editor, file: Annotated[UploadFile, File()]) -> FileObject:
    data = await file.read(MAX_TOTAL_UPLOAD_BYTES + 1)
    record = await save_upload(gateway, key.tenant_id, file.filename, data)
    return FileObject(
        id=record.id,
        name=record.name,
        size=record.size,
        mime_type=record.mime_type,
        created_at=_time(record.created_at),
    )


@router.post(
    "/faxes",
    status_code=201,
    response_model=SendFaxResponse,
    response_model_exclude_none=True,
    responses=native_errors(400, 404, 413, 415),
)
async def send(gateway: CurrentGateway, key: Editor, body: SendFaxRequest) -> SendFaxResponse:
    faxes = await submit_request(gateway, key.tenant_id, body)
    return SendFaxResponse(ids={fax.to_number: fax.id for fax in faxes} if body.return_ids else None)


@router.get(
    "/faxes/{fax_id}",
    response_model=FaxObject,
    response_model_by_alias=True,
    responses=native_errors(404),
)
async def get_fax(gateway: CurrentGateway, key: Reader, fax_id: str) -> FaxObject:
    return await fax_object(gateway, *await owned_fax_and_attempts(gateway, key, fax_id))


@router.get("/faxes", response_model=FaxList, response_model_by_alias=True, responses=native_errors(400))
async def list_faxes(
    gateway: CurrentGateway,
    key: Reader,
    direction: Literal["outbound", "inbound"] | None = None,
    status: FaxStatusValue | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> FaxList:
    statuses = None if status is None else [FaxStatus(status)]
    query = FaxQuery(direction, statuses=statuses, limit=limit, offset=offset)
    faxes, total = await gateway.list_faxes(key.tenant_id, query)
    objects = [await fax_object(gateway, fax) for fax in faxes]
    return FaxList(faxes=objects, total=total, limit=limit, offset=offset)


@router.delete("/faxes/{fax_id}", status_code=204, responses=native_errors(404, 409))
async def delete_fax(gateway: CurrentGateway, key: Editor, fax_id: str) -> Response:
    return await deleted(gateway, await owned_fax(gateway, key, fax_id))


@router.get(
    "/faxes/{fax_id}/file",
    response_class=FileResponse,
    responses=content(200, "application/pdf", "image/tiff") | native_errors(400, 404),
)
async def download(
    gateway: CurrentGateway, key: Reader, fax_id: str, format: Literal["pdf", "tiff"] = "pdf"
) -> FileResponse:
    return await fax_document(await owned_fax(gateway, key, fax_id), format)


@router.get(
    "/faxes/{fax_id}/pages/{number}",
    response_class=Response,
    responses=content(200, "image/png") | native_errors(400, 404),
)
async def page(gateway: CurrentGateway, key: Reader, fax_id: str, number: int) -> Response:
    """One page as PNG - for a fax still arriving, as soon as that page is complete."""
    fax = await owned_fax(gateway, key, fax_id)
    if not fax.document or number < 1 or number > fax.pages_transferred:
        raise ApiError.not_found("page", f"{fax_id}/{number}")
    return Response(await asyncio.to_thread(_page_png, Path(fax.document), number), media_type="image/png")


@router.get(
    "/faxes/{fax_id}/attempts/{number}/diagnostics",
    response_model=AttemptDiagnostics,
    responses=native_errors(400, 404),
)
async def diagnostics(gateway: CurrentGateway, key: Reader, fax_id: str, number: int) -> AttemptDiagnostics:
    """What attempt ``number`` of the fax did: the T.30 exchange, the SIP ladder, media figures, and why it
    failed or what it had to do, in one sentence. A received fax has one attempt: its call."""
    fax = await owned_fax(gateway, key, fax_id)
    attempt = next((a for a in await gateway.attempts(fax.id) if a.number == number), None)
    if attempt is None:
        raise ApiError.not_found("attempt", f"{fax_id}/{number}")
    return attempt_diagnostics(attempt)


@router.get("/webhook-keys", responses=native_errors())
async def webhook_keys(gateway: CurrentGateway, key: Reader) -> dict:
    """The public key that checks this gateway's Telnyx-style webhook signatures (Ed25519, base64)."""
    return {"telnyx_public_key": gateway.telnyx_public_key}


@router.get("/faxes/{fax_id}/webhooks", responses=native_errors(404))
async def webhook_log(gateway: CurrentGateway, key: Reader, fax_id: str) -> dict:
    """The delivery log: every attempt at every webhook of this fax."""
    await owned_fax(gateway, key, fax_id)
    return {
        "deliveries": [
            {
                "event_id": a.event_id,
                "type": a.event_type,
                "url": a.url,
                "attempt": a.attempt,
                "at": _time(a.attempted_at),
                "status_code": a.status_code,
                "error": a.error,
                "outcome": a.outcome,
            }
            for a in await gateway.webhooks_log(fax_id)
        ]
    }


@router.get(
    "/faxes/{fax_id}/events",
    response_class=StreamingResponse,
    responses=content(200, "text/event-stream") | native_errors(404),
)
async def events(
    gateway: CurrentGateway,
    key: Reader,
    fax_id: str,
    request: Request,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    fax = await owned_fax(gateway, key, fax_id)
    return StreamingResponse(
        _event_stream(gateway, fax, request, last_event_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache"},
    )


def _page_png(tiff: Path, number: int) -> bytes:
    with Image.open(tiff) as image:
        image.seek(number - 1)
        out = io.BytesIO()
        image.convert("1").save(out, "PNG", dpi=image.info.get("dpi", (204, 196)))
        return out.getvalue()


async def _event_stream(
    gateway: Gateway, fax: FaxRecord, request: Request, last_event_id: str | None
) -> AsyncIterator[bytes]:
    """Stored events first (after ``Last-Event-ID``), then live ones from any node, until the fax is final."""
    seen = 0
    if last_event_id:
        seen = next((event.seq for event in await gateway.fax_events(fax.id) if event.id == last_event_id), 0)
    async with gateway.watch(fax.id, seen) as queue:
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), 15)
            except TimeoutError:
                if await request.is_disconnected():
                    return
                yield b": keep-alive\n\n"
                continue
            data = json.dumps({"type": event.type, "created": event.created_at, **event.payload})
            yield f"id: {event.id}\nevent: {event.type}\ndata: {data}\n\n".encode()
            if event.type in FINAL_EVENTS or (queue.empty() and await request.is_disconnected()):
                return


DIALECT = Dialect("native", router, BEARER_KEYS, ApiError.to_response)
