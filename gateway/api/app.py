"""The native REST API (``/v1``): files, faxes, downloads, page images while a fax arrives, and
Server-Sent Events. It talks to ``gateway.service.Gateway`` only; OpenAPI is at ``/openapi.json``."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, File, Header, Query, Request, Response, Security, UploadFile
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.security import HTTPBearer
from faxgw.gateway.api.dialects import dropbox, faxplus, telnyx
from faxgw.gateway.api.documents import fax_document
from faxgw.gateway.api.errors import ApiError, ErrorBody, error_responses, install_error_handlers
from faxgw.gateway.api.inputs import MAX_OFFSET, JsonRoute
from faxgw.gateway.api.limits import RequestLimits
from faxgw.gateway.api.models import (
    MAX_TOTAL_UPLOAD_BYTES,
    FaxAttempt,
    FaxError,
    FaxList,
    FaxObject,
    FileObject,
    PageCount,
    SendFaxRequest,
    SendFaxResponse,
)
from faxgw.gateway.api.requests import save_upload, submit_request
from faxgw.gateway.jobs import status as st
from faxgw.gateway.service import Conflict, Gateway, NotFound
from faxgw.gateway.store import ApiKey, FaxRecord
from PIL import Image

#: Events after which a fax's event stream ends.
FINAL_EVENTS = {"delivered", "failed", "received"}


def _time(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch is not None else None


def fax_object(gateway: Gateway, fax: FaxRecord) -> FaxObject:
    status = fax.status
    if (
        status == st.QUEUED
        and fax.send_at
        and fax.send_at > datetime.now(UTC).timestamp()
        and not fax.attempts_made
    ):
        status = "scheduled"
    attempts = [
        FaxAttempt(
            n=a.number,
            started_at=_time(a.started_at),
            ended_at=_time(a.ended_at),
            status=a.status or st.SENDING,
            sip_code=a.sip_code,
            hangup_cause=a.hangup_cause,
            t30_code=a.t30_code,
            t30_text=a.t30_text,
            pages_sent=a.pages_sent,
            call_id=a.call_id,
        )
        for a in gateway.store.attempts(fax.id)
    ]
    return FaxObject.model_validate(
        {
            "id": fax.id,
            "direction": fax.direction,
            "from": fax.from_number,
            "to": fax.to_number,
            "status": status,
            "error": FaxError(code=fax.error_code, description=fax.error_description or "")
            if fax.error_code and status != st.SUCCESS
            else None,
            "pages": PageCount(total=fax.pages_total, transferred=fax.pages_transferred),
            "files": fax.file_ids,
            "remote_station_id": fax.remote_station_id,
            "t38": fax.t38,
            "bit_rate": fax.bit_rate,
            "ecm": fax.ecm,
            "resolution": fax.resolution,
            "attempts": attempts,
            "comment": fax.request.get("comment") or {},
            "send_at": _time(fax.send_at),
            "created_at": _time(fax.created_at),
            "updated_at": _time(fax.updated_at),
            "completed_at": _time(fax.completed_at),
        }
    )


class _BearerKey(HTTPBearer):
    """Bearer authentication as OpenAPI shows it. The route gets the header as sent: ``_key_with`` checks
    it and answers a missing or bad key with the API's own 401, not FastAPI's."""

    async def __call__(self, request: Request) -> str | None:  # type: ignore[override]
        return request.headers.get("authorization")


BEARER = _BearerKey(
    scheme_name="bearer",
    auto_error=False,
    description="An API key of the gateway: `Authorization: Bearer <key>`",
)


def _key_with(scope: str) -> Callable[..., ApiKey]:
    """A dependency: the request's bearer key, which must exist and carry ``scope``."""

    def authenticated(
        request: Request, authorization: Annotated[str | None, Security(BEARER)] = None
    ) -> ApiKey:
        scheme, _, token = (authorization or "").partition(" ")
        gateway: Gateway = request.app.state.gateway
        key = gateway.authenticate(token.strip()) if scheme.lower() == "bearer" and token else None
        if key is None:
            raise ApiError.unauthorized()
        if scope not in key.scopes:
            raise ApiError.forbidden(scope)
        return key

    return authenticated


# Module level: FastAPI resolves these annotations by name.
Reader = Annotated[ApiKey, Depends(_key_with("read"))]
Editor = Annotated[ApiKey, Depends(_key_with("edit"))]


def native_errors(*statuses: int) -> dict[int | str, dict]:
    """The errors a native route answers besides 401 and 403 (every route needs a key with a scope)."""
    return error_responses(ErrorBody, 401, 403, *statuses)


def create_app(gateway: Gateway) -> FastAPI:
    docs = gateway.config.api_docs
    app = FastAPI(
        title="faxgw",
        version="0.1.0",
        summary="SIP/T.38 fax gateway",
        openapi_url="/openapi.json",  # always: the dialects' clients and Schemathesis read it
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
    )
    app.router.route_class = JsonRoute  # before any route: FastAPI reads their JSON bodies with inputs.loads
    app.state.gateway = gateway
    install_error_handlers(app)
    app.add_middleware(RequestLimits)  # a key, then a bounded body, before any route reads
    for dialect in (faxplus, telnyx, dropbox):
        app.include_router(dialect.router(gateway))

    def owned(key: ApiKey, fax_id: str) -> FaxRecord:
        try:
            return gateway.fax(key.tenant_id, fax_id)
        except NotFound:
            raise ApiError.not_found("fax", fax_id) from None

    @app.post(
        "/v1/files",
        status_code=201,
        response_model=FileObject,
        response_model_by_alias=True,
        responses=native_errors(400, 413, 415),
    )
    async def upload(key: Editor, file: Annotated[UploadFile, File()]) -> FileObject:
        record = save_upload(
            gateway, key.tenant_id, file.filename, await file.read(MAX_TOTAL_UPLOAD_BYTES + 1)
        )
        return FileObject(
            id=record.id,
            name=record.name,
            size=record.size,
            mime_type=record.mime_type,
            created_at=_time(record.created_at),
        )

    @app.post(
        "/v1/faxes",
        status_code=201,
        response_model=SendFaxResponse,
        response_model_exclude_none=True,
        responses=native_errors(400, 404, 413, 415),
    )
    async def send(key: Editor, body: SendFaxRequest) -> SendFaxResponse:
        faxes = await submit_request(gateway, key.tenant_id, body)
        return SendFaxResponse(ids={fax.to_number: fax.id for fax in faxes} if body.return_ids else None)

    @app.get(
        "/v1/faxes/{fax_id}",
        response_model=FaxObject,
        response_model_by_alias=True,
        responses=native_errors(404),
    )
    async def get_fax(key: Reader, fax_id: str) -> FaxObject:
        return fax_object(gateway, owned(key, fax_id))

    @app.get("/v1/faxes", response_model=FaxList, response_model_by_alias=True, responses=native_errors(400))
    async def list_faxes(
        key: Reader,
        direction: Literal["outbound", "inbound"] | None = None,
        status: str | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> FaxList:
        faxes, total = gateway.store.list_faxes(
            key.tenant_id, direction=direction, status=status, limit=limit, offset=offset
        )
        return FaxList(
            faxes=[fax_object(gateway, fax) for fax in faxes], total=total, limit=limit, offset=offset
        )

    @app.delete("/v1/faxes/{fax_id}", status_code=204, responses=native_errors(404, 409))
    async def delete_fax(key: Editor, fax_id: str) -> Response:
        owned(key, fax_id)
        try:
            gateway.delete(key.tenant_id, fax_id)
        except Conflict as error:
            raise ApiError.conflict(str(error)) from None
        return Response(status_code=204)

    @app.get(
        "/v1/faxes/{fax_id}/file",
        response_class=FileResponse,
        responses={200: {"content": {"application/pdf": {}, "image/tiff": {}}}} | native_errors(400, 404),
    )
    async def download(key: Reader, fax_id: str, format: Literal["pdf", "tiff"] = "pdf") -> FileResponse:
        fax = owned(key, fax_id)
        return fax_document(fax, format)

    @app.get(
        "/v1/faxes/{fax_id}/pages/{number}",
        response_class=Response,
        responses={200: {"content": {"image/png": {}}}} | native_errors(400, 404),
    )
    async def page(key: Reader, fax_id: str, number: int) -> Response:
        """One page as PNG - for a fax still arriving, as soon as that page is complete."""
        fax = owned(key, fax_id)
        if not fax.document or number < 1 or number > fax.pages_transferred:
            raise ApiError.not_found("page", f"{fax_id}/{number}")
        return Response(
            await asyncio.to_thread(_page_png, Path(fax.document), number), media_type="image/png"
        )

    @app.get("/v1/webhook-keys", responses=native_errors())
    async def webhook_keys(key: Reader) -> dict:
        """The public key that checks this gateway's Telnyx-style webhook signatures (Ed25519, base64)."""
        return {"telnyx_public_key": gateway.telnyx_public_key}

    @app.get("/v1/faxes/{fax_id}/webhooks", responses=native_errors(404))
    async def webhook_log(key: Reader, fax_id: str) -> dict:
        """The delivery log: every attempt at every webhook of this fax."""
        owned(key, fax_id)
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
                for a in gateway.webhooks_log(fax_id)
            ]
        }

    @app.get(
        "/v1/faxes/{fax_id}/events",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}} | native_errors(404),
    )
    async def events(
        key: Reader, fax_id: str, request: Request, last_event_id: Annotated[str | None, Header()] = None
    ) -> StreamingResponse:
        fax = owned(key, fax_id)
        return StreamingResponse(
            _event_stream(gateway, fax, request, last_event_id),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )

    return app


def _page_png(tiff: Path, number: int) -> bytes:
    with Image.open(tiff) as image:
        image.seek(number - 1)
        out = io.BytesIO()
        image.convert("1").save(out, "PNG", dpi=image.info.get("dpi", (204, 196)))
        return out.getvalue()


async def _event_stream(
    gateway: Gateway, fax: FaxRecord, request: Request, last_event_id: str | None
) -> AsyncIterator[bytes]:
    """Stored events first (after ``Last-Event-ID``), then live ones, until the fax is final."""
    queue = gateway.events.listen(fax.id)
    try:
        stored = gateway.store.events(fax.id)
        if last_event_id:
            seen = next((event.seq for event in stored if event.id == last_event_id), 0)
            stored = [event for event in stored if event.seq > seen]
        last_seq = 0
        pending = list(stored)
        while True:
            for event in pending:
                if event.seq <= last_seq:
                    continue
                last_seq = event.seq
                data = json.dumps({"type": event.type, "created": event.created_at, **event.payload})
                yield f"id: {event.id}\nevent: {event.type}\ndata: {data}\n\n".encode()
                if event.type in FINAL_EVENTS:
                    return
            if await request.is_disconnected():
                return
            try:
                pending = [await asyncio.wait_for(queue.get(), 15)]
            except TimeoutError:
                pending = []
                yield b": keep-alive\n\n"
    finally:
        gateway.events.unlisten(fax.id, queue)
