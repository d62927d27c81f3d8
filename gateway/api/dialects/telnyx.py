"""The Telnyx v2 fax dialect (see ../shared/seeds): ``/v2/faxes`` over our ``Gateway``.

Made so that the official Python SDK (``telnyx``, 4.x), unmodified, works against the gateway. The one
setting it needs is ``base_url``, *including* ``/v2`` (the SDK's default is ``https://api.telnyx.com/v2``
and its paths start at ``/faxes``; the ``TELNYX_BASE_URL`` environment variable does the same). The API key
is one of ours (the SDK sends it as ``Authorization: Bearer ...``)::

    import telnyx

    client = telnyx.Telnyx(api_key="token-edit", base_url="http://127.0.0.1:8080/v2")
    fax = client.faxes.create(
        connection_id="any", from_="+15550100", to="+15550199", media_url="https://example.com/a.pdf"
    ).data
    client.faxes.retrieve(fax.id).data.status  # "queued" ... "delivered"

Routes, as the SDK calls them:

* ``POST /faxes``: JSON (``SendFaxRequest``) with ``media_url`` (http/https only; fetched at once, here)
  or ``media_name`` (the id ``POST /media`` or our native ``POST /v1/files`` answered), or
  multipart/form-data with the document in ``contents`` (the SDK's ``create`` has no ``contents``
  argument, so multipart is for other clients); at most 20 MB of ``contents``, 50 MB otherwise.
  -> 202 ``{"data": <Fax>}``. A ``media_url``
  whose host is or resolves to an internal address (loopback, private, link-local, ...) is refused, 422
  ``file_download_failed``, unless the config's ``url_fetch_allow`` has it (see gateway.documents.fetch).
  ``from`` must be one of the tenant's numbers (403 otherwise). ``to`` is a number, dialled through the
  trunk, or - only for a tenant with ``sip_uri_destinations`` (403 otherwise) - a ``sip:`` URI whose host
  the ``url_fetch_*`` policy allows (422 otherwise), dialled at the address checked
  (``gateway.jobs.destinations``).
* ``GET /faxes/{id}`` -> ``{"data": <Fax>}``; ``DELETE /faxes/{id}`` -> 204 (422 while its call is up).
  Ids are UUIDs made from ours (``telnyx_ids``). ``POST /faxes/{id}/actions/cancel`` and
  ``.../actions/refresh`` -> ``{"data": {"result": "ok"}}``; the temporary links of a fax's documents
  are ``telnyx_links``'. ``POST /media`` (``media.upload``) keeps the document at ``media_url`` as a file;
  any other path under ``/v2`` answers Telnyx's 401, then 404 or 405 saying what is served.
* ``GET /faxes?page[size]=&page[number]=&filter[direction][eq]=&filter[from][eq]=&filter[to][eq]=
  &filter[created_at][gte|gt|lte|lt]=`` -> ``{"data": [...], "meta": {page_number, page_size,
  total_pages, total_results}}`` (what the SDK's ``DefaultFlatPagination`` pages with).

Statuses: our ``queued`` is ``queued`` (``media.processed`` once the document is converted and the fax waits
for a retry), ``processing`` is ``media.processing``, ``sending`` is ``sending``, ``success`` is
``delivered`` (outbound) or ``received`` (inbound), ``in_progress`` is ``receiving``; every failure,
``partially_sent`` and ``partially_received`` included, is ``failed`` with ``failure_reason`` (Telnyx's
vocabulary) and ``internal_failure_reason`` (our own error code).

Telnyx-only request fields (``connection_id``, ``quality``, ``t38_enabled``, ``monochrome``,
``store_media``, ``store_preview``, ``client_state``, ``webhook_url``, ...) are validated, kept with the fax
and echoed back; ``quality`` ``very_high``/``ultra_*`` sends superfine, anything else fine. ``webhook_url``
gets the fax's events as Telnyx's signed ``fax.*`` webhooks (``telnyx_webhooks``); one whose host is or
resolves to an internal address is refused (422) unless the config's ``webhook_allow`` has it. Every error
has the seed's shape ``{"errors": [{"code", "title", "detail", "source": {"pointer"}}]}``: 422 for a bad
request, 403 for what is not the tenant's, 404 (code ``10005``) for an unknown fax, and the key check's
401 and 403 with Telnyx's codes ``10009`` (authentication failed) and ``10010`` (authorization failed).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.routing import APIRoute
from faxgw.gateway.api.auth import BEARER_KEYS, Editor, Reader
from faxgw.gateway.api.dialect import CurrentGateway, Dialect, Webhooks, dialect_fields, error_route
from faxgw.gateway.api.dialects import telnyx_links, telnyx_webhooks
from faxgw.gateway.api.dialects.telnyx_ids import from_uuid, to_uuid
from faxgw.gateway.api.dialects.telnyx_webhooks import FORMAT, iso_time
from faxgw.gateway.api.errors import (
    ApiError,
    ApiErrorCode,
    content,
    error_responses,
    first_location,
    from_validation_errors,
    printable,
)
from faxgw.gateway.api.inputs import MAX_PAGE, decimal, loads, url_problem
from faxgw.gateway.api.models import OutboxOptions
from faxgw.gateway.config import Config
from faxgw.gateway.documents import ConversionError
from faxgw.gateway.documents.fetch import FetchError, FetchPolicy, FetchTooLarge, fetch_document
from faxgw.gateway.domain import FaxStatus
from faxgw.gateway.service import (
    ApiKey,
    Conflict,
    FaxQuery,
    FaxRecord,
    Gateway,
    NewFax,
    NotFound,
    Refused,
    Renderer,
)
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile

QUALITIES = ("normal", "high", "very_high", "ultra_light", "ultra_dark")
SUPERFINE_QUALITIES = {"very_high", "ultra_light", "ultra_dark"}
#: E.164 (``+`` optional, as the seed's examples always have it) or a SIP URI for ``to``.
NUMBER = re.compile(r"^\+?[0-9]{3,15}$")
SIP_URI = re.compile(r"^sips?:[^\s@]+@[^\s]+$")
#: ``filter[created_at][...]`` in OpenAPI (ISO 8601, read by ``_parse_time``).
DATE_TIME = {"format": "date-time"}
#: Seed: ``page[size]`` 1-250, default 20.
MAX_PAGE_SIZE = 250
DISPLAY_NAME = re.compile(r"^[A-Za-z0-9 \-_~!.+]{1,128}$")
MEDIA_TIMEOUT = 30.0
#: The seed's limits: a ``contents`` upload of at most 20 MB, a document (``media_url``, ``media_name``)
#: of at most 50 MB; bigger ones are refused with ``file_size_limit_exceeded``.
MAX_CONTENTS_BYTES = 20 * 1024 * 1024
MAX_MEDIA_BYTES = 50 * 1024 * 1024

#: The key check's errors (``gateway.api.auth``) as Telnyx words them (its API error codes).
KEY_ERRORS: dict[str, tuple[str, str]] = {
    ApiErrorCode.UNAUTHORIZED: ("10009", "Authentication failed"),
    ApiErrorCode.FORBIDDEN: ("10010", "Authorization failed"),
}
TITLES = {
    403: "Forbidden",
    404: "Resource not found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
}

#: Our error codes in Telnyx's ``failure_reason`` vocabulary; a ``failed_fs_<n>`` is a
#: ``fax_signaling_error``, any other ``destination_unreachable``.
FAILURE_REASONS: dict[FaxStatus, str] = {
    FaxStatus.FAILED_USER_BUSY: "user_busy",
    FaxStatus.FAILED_NO_ANSWER: "receiver_no_answer",
    FaxStatus.FAILED_UNALLOCATED_NUMBER: "receiver_unallocated_number",
    FaxStatus.FAILED_NORMAL_TEMPORARY_FAILURE: "service_unavailable",
    FaxStatus.FAILED_NORMAL_CLEARING: "receiver_decline",
    FaxStatus.FAILED_INTERNAL_PROCESS_ERROR: "sender_call_dropped",
    FaxStatus.PARTIALLY_SENT: "receiver_call_dropped",
    FaxStatus.PARTIALLY_RECEIVED: "sender_call_dropped",
    FaxStatus.FAILED_MIMETYPE_NOT_SUPPORTED: "media_processing_exception",
    FaxStatus.FAILED_OFFICE_CONVERTER_ISSUE: "media_processing_exception",
    FaxStatus.FAILED_UNKNOWN_CONVERTER_ISSUE: "media_processing_exception",
    FaxStatus.FAILED_IMAGE_PREPARATION: "media_processing_exception",
    FaxStatus.FAILED_CONVERT_TO_TIFF_ISSUE: "media_processing_exception",
    FaxStatus.FAILED_PAGE_COUNT_LIMIT_EXCEEDED: "page_count_limit_exceeded",
    FaxStatus.CANCELLED: "sender_canceled",
}


def telnyx_error(detail: str, *, pointer: str | None = None, status: int = 422, code: str = "") -> ApiError:
    """An error of Telnyx's: ``code`` is the status's unless given, ``pointer`` the JSON pointer (RFC 6901)
    to the field at fault."""
    return ApiError(status, code or str(status), detail, where=pointer.split("/")[1:] if pointer else ())


def error_response(error: ApiError) -> JSONResponse:
    """Any error of a Telnyx route in Telnyx's shape: ``{"errors": [{"code", "title", "detail", "source"}]}``;
    the key check's with Telnyx's own codes."""
    code, title = KEY_ERRORS.get(error.code, (error.code, TITLES.get(error.status, "Error")))
    item: dict[str, Any] = {"code": code, "title": title, "detail": printable(error.description)}
    if error.where:
        item["source"] = {"pointer": "/" + "/".join(printable(part) for part in error.where)}
    return JSONResponse({"errors": [item]}, status_code=error.status, headers=error.headers or None)


def _invalid(problems: Sequence[Mapping[str, Any]]) -> ApiError:
    """Request validation (a query parameter out of range, a JSON body too deep): 422, with the parameter."""
    description = from_validation_errors(problems).description
    return ApiError(422, "422", description, where=first_location(problems))


class TelnyxErrorSource(BaseModel):
    pointer: str


class TelnyxErrorItem(BaseModel):
    code: str
    title: str
    detail: str
    source: TelnyxErrorSource | None = None


class TelnyxErrors(BaseModel):
    """What ``error_response`` answers (the seed's ``Errors``), for OpenAPI."""

    model_config = ConfigDict(title="TelnyxErrors")

    errors: list[TelnyxErrorItem]


class SendFaxBody(BaseModel):
    """``POST /faxes``'s JSON body as the seed's ``SendFaxRequest`` has it, for OpenAPI only: the route reads
    the body itself (``_options``), so that every error has Telnyx's shape and multipart takes the same
    fields. Unknown fields are ignored, as Telnyx does."""

    model_config = ConfigDict(title="TelnyxSendFaxRequest", populate_by_name=True)

    connection_id: str
    from_: str = Field(alias="from", pattern=NUMBER.pattern)
    to: str = Field(
        description="An E.164 number, or a SIP URI where the tenant may dial one",
        json_schema_extra={"pattern": f"{NUMBER.pattern}|{SIP_URI.pattern}"},
    )
    media_url: str | None = Field(
        default=None, description="An http(s) URL of the document (or give media_name)"
    )
    media_name: str | None = Field(default=None, description="The id of a file uploaded to POST /v1/files")
    from_display_name: str | None = Field(default=None, pattern=DISPLAY_NAME.pattern)
    quality: Literal[QUALITIES] = "high"  # type: ignore[valid-type]
    t38_enabled: bool = True
    monochrome: bool = False
    black_threshold: int = Field(default=95, ge=1, le=100)
    store_media: bool = False
    store_preview: bool = False
    preview_format: Literal["pdf", "tiff"] = "tiff"
    client_state: str | None = Field(default=None, description="Base-64")
    webhook_url: str | None = None
    webhook_failover_url: str | None = None


def _send_fax_body() -> dict[str, Any]:
    """OpenAPI's requestBody of ``POST /faxes``: JSON, or multipart with the document in ``contents``."""
    fields = SendFaxBody.model_json_schema(by_alias=True)
    multipart = {
        **fields,
        "title": "TelnyxSendFaxMultipartRequest",
        "properties": {
            **{k: v for k, v in fields["properties"].items() if k not in ("media_url", "media_name")},
            "contents": {"type": "string", "format": "binary"},
        },
        "required": [*fields["required"], "contents"],
    }
    content = {"application/json": {"schema": fields}, "multipart/form-data": {"schema": multipart}}
    return {"requestBody": {"required": True, "content": content}}


def telnyx_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` of a Telnyx route: 401, 403 and ``statuses``, all in Telnyx's shape."""
    return error_responses(TelnyxErrors, 401, 403, *statuses)


def refused(error: Refused) -> ApiError:
    """403 for what is not the tenant's (another's ``from`` number), 422 for a refused address."""
    detail = f"The '{error.field}' parameter is refused: {error}."
    return telnyx_error(detail, pointer=f"/{error.field}", status=403 if error.forbidden else 422)


def telnyx_status(fax: FaxRecord) -> str:
    if fax.status == FaxStatus.QUEUED:
        return "media.processed" if fax.document else "queued"
    if fax.status == FaxStatus.PROCESSING:
        return "media.processing"
    if fax.status == FaxStatus.SENDING:
        return "sending"
    if fax.status == FaxStatus.IN_PROGRESS:
        return "receiving"
    if fax.status == FaxStatus.SUCCESS:
        return "delivered" if fax.direction == "outbound" else "received"
    return "failed"


def failure_reason(fax: FaxRecord) -> str | None:
    if telnyx_status(fax) != "failed":
        return None
    code = fax.error_code or fax.status
    if code in FAILURE_REASONS:
        return FAILURE_REASONS[code]
    if code.t30_code is not None:
        return "fax_signaling_error"
    return "destination_unreachable"


def links_expire(fax: FaxRecord) -> float:
    """When the fax's temporary links expire: LINK_SECONDS after it ended (or last changed), or after
    the last ``actions/refresh``."""
    refreshed = dialect_fields(fax, FORMAT).get("links_refreshed_at")
    since = refreshed if refreshed is not None else (fax.completed_at or fax.updated_at)
    return since + telnyx_links.LINK_SECONDS


def _links(fax: FaxRecord, config: Config) -> dict[str, str | None]:
    """``media_url`` of a received fax (its PDF); ``stored_media_url`` (the sent document as PDF) and
    ``preview_url`` (in ``preview_format``) of a sent one that asked for them, once it has a document."""
    extra = dialect_fields(fax, FORMAT)
    found: dict[str, str | None] = {"media_url": extra.get("media_url"), "stored_media_url": None}
    found["preview_url"] = None
    if not fax.document:
        return found
    expires = links_expire(fax)
    if fax.direction == "inbound":
        found["media_url"] = telnyx_links.link(config, fax, "pdf", expires)
    if extra.get("store_media"):
        found["stored_media_url"] = telnyx_links.link(config, fax, "pdf", expires)
    if extra.get("store_preview"):
        preview_format = extra.get("preview_format", "tiff")
        found["preview_url"] = telnyx_links.link(config, fax, preview_format, expires)
    return found


def fax_object(fax: FaxRecord, config: Config) -> dict[str, Any]:
    """The seed's Fax object (all the SDK's ``Fax`` fields we can fill)."""
    extra = dialect_fields(fax, FORMAT)
    failed = telnyx_status(fax) == "failed"
    return {
        "record_type": "fax",
        "id": to_uuid(fax.id),
        "connection_id": extra.get("connection_id"),
        "direction": fax.direction,
        "from": fax.from_number,
        "to": fax.to_number,
        "from_display_name": extra.get("from_display_name"),
        "media_name": extra.get("media_name"),
        **_links(fax, config),
        "quality": extra.get("quality", "high"),
        "status": telnyx_status(fax),
        "failure_reason": failure_reason(fax),
        "internal_failure_reason": (fax.error_code or fax.status) if failed else None,
        "t38_enabled": extra.get("t38_enabled", True) if fax.t38 is None else fax.t38,
        "monochrome": extra.get("monochrome", False),
        "store_media": extra.get("store_media", False),
        "store_preview": extra.get("store_preview", False),
        "client_state": extra.get("client_state"),
        "webhook_url": extra.get("webhook_url"),
        "webhook_failover_url": extra.get("webhook_failover_url"),
        "created_at": iso_time(fax.created_at),
        "updated_at": iso_time(fax.updated_at),
    }


def _string(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise telnyx_error(f"The '{name}' parameter is required.", pointer=f"/{name}")
        return None
    if not isinstance(value, str):
        raise telnyx_error(f"The '{name}' parameter must be a string.", pointer=f"/{name}")
    return value


def _boolean(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, str) and value.lower() in ("true", "false"):  # multipart form fields
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise telnyx_error(f"The '{name}' parameter must be a boolean.", pointer=f"/{name}")
    return value


def _options(body: dict[str, Any]) -> dict[str, Any]:
    """The Telnyx-only fields, validated: kept with the fax and echoed back."""
    connection_id = _string(body, "connection_id", required=True)
    source = _string(body, "from", required=True)
    destination = _string(body, "to", required=True)
    assert source is not None and destination is not None
    if not NUMBER.match(source):
        raise telnyx_error("The 'from' number must be in E.164 format.", pointer="/from")
    if not (NUMBER.match(destination) or SIP_URI.match(destination)):
        raise telnyx_error("The 'to' number must be in E.164 format or a SIP URI.", pointer="/to")
    quality = _string(body, "quality") or "high"
    if quality not in QUALITIES:
        raise telnyx_error(
            f"The 'quality' parameter must be one of {', '.join(QUALITIES)}.", pointer="/quality"
        )
    display_name = _string(body, "from_display_name")
    if display_name is not None and not DISPLAY_NAME.match(display_name):
        raise telnyx_error(
            "The 'from_display_name' parameter must be at most 128 letters, numbers, spaces and -_~!.+",
            pointer="/from_display_name",
        )
    client_state = _string(body, "client_state")
    if client_state is not None:
        try:
            base64.b64decode(client_state, validate=True)
        except (binascii.Error, ValueError):
            raise telnyx_error(
                "The 'client_state' parameter must be a valid Base-64 encoded string.",
                pointer="/client_state",
            ) from None
    threshold = body.get("black_threshold")
    if threshold is not None:
        if isinstance(threshold, str):  # a multipart form field
            threshold = decimal(threshold)
        if isinstance(threshold, bool) or not isinstance(threshold, int) or not 1 <= threshold <= 100:
            raise telnyx_error(
                "The 'black_threshold' parameter must be an integer from 1 to 100.",
                pointer="/black_threshold",
            )
    preview_format = _string(body, "preview_format") or "tiff"
    if preview_format not in ("pdf", "tiff"):
        raise telnyx_error("The 'preview_format' parameter must be pdf or tiff.", pointer="/preview_format")
    for name in ("webhook_url", "webhook_failover_url"):
        url = _string(body, name)
        problem = None if url is None else url_problem(url)
        if problem is not None:
            raise telnyx_error(
                f"The '{name}' parameter must be an http(s) URL: it {problem}.", pointer=f"/{name}"
            )
    return {
        "connection_id": connection_id,
        "from": source,
        "to": destination,
        "from_display_name": display_name,
        "quality": quality,
        "t38_enabled": _boolean(body, "t38_enabled", True),
        "monochrome": _boolean(body, "monochrome", False),
        "black_threshold": threshold if threshold is not None else 95,
        "store_media": _boolean(body, "store_media", False),
        "store_preview": _boolean(body, "store_preview", False),
        "preview_format": preview_format,
        "client_state": client_state,
        "webhook_url": _string(body, "webhook_url"),
        "webhook_failover_url": _string(body, "webhook_failover_url"),
    }


def too_large(field: str, limit: int) -> ApiError:
    """A document over the seed's limit: 422 ``file_size_limit_exceeded``."""
    return telnyx_error(
        f"The file of '{field}' is larger than {limit // (1024 * 1024)} MB ({limit} bytes).",
        pointer=f"/{field}",
        code="file_size_limit_exceeded",
    )


async def _download(url: str, policy: FetchPolicy, field: str = "media_url") -> tuple[str, bytes]:
    """The document at ``url`` (at most MAX_MEDIA_BYTES; see gateway.documents.fetch)."""
    try:
        return await fetch_document(url, limit=MAX_MEDIA_BYTES, policy=policy, timeout=MEDIA_TIMEOUT)
    except FetchTooLarge:
        raise too_large(field, MAX_MEDIA_BYTES) from None
    except FetchError as error:
        raise telnyx_error(
            f"The 'media_url' could not be downloaded: {error}.",
            pointer="/media_url",
            code="file_download_failed",
        ) from None


router = APIRouter(
    prefix="/v2",
    tags=["telnyx"],
    route_class=error_route(error_response, _invalid),
    dependencies=BEARER_KEYS.security(),
)


async def owned(gateway: Gateway, key: ApiKey, fax_id: str) -> FaxRecord:
    """The tenant's fax of the id the client has (``telnyx_ids``); 404 for any other."""
    try:
        return await gateway.fax(key.tenant_id, from_uuid(fax_id) or "")
    except NotFound:
        raise telnyx_error(f"Fax {fax_id} not found.", status=404, code="10005") from None


async def _save(gateway: Gateway, tenant_id: str, name: str, data: bytes, pointer: str) -> str:
    try:
        return (await gateway.save_file(tenant_id, name, data)).id
    except ConversionError as error:
        raise telnyx_error(
            f"Unsupported file format: {error.message}", pointer=pointer, code="file_format_invalid"
        ) from None


async def _vet(gateway: Gateway, tenant_id: str, body: dict[str, Any]) -> None:
    """The request's fields are valid, ``from`` is one of the tenant's numbers, ``to`` is a number or a
    SIP URI the tenant may dial and ``webhook_url`` leads where the gateway posts webhooks."""
    options = _options(body)
    try:
        gateway.check_senders(tenant_id, [options["from"]])
        await gateway.check_destinations(tenant_id, [options["to"]])
        if options["webhook_url"] is not None:
            await gateway.check_webhook_url(options["webhook_url"])
    except Refused as error:
        raise refused(error) from None


async def _read_body(gateway: Gateway, request: Request, tenant_id: str) -> tuple[dict[str, Any], str]:
    """The request's fields and the id of the (saved) document it names."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_part_size=MAX_CONTENTS_BYTES)
        body: dict[str, Any] = {k: v for k, v in form.items() if not isinstance(v, UploadFile)}
        contents = form.get("contents")
        if not isinstance(contents, UploadFile):
            raise telnyx_error("The 'contents' file is required.", pointer="/contents")
        if body.get("media_url") or body.get("media_name"):
            raise telnyx_error(
                "contents and media_name/media_url can't be submitted together.", pointer="/contents"
            )
        data = await contents.read(MAX_CONTENTS_BYTES + 1)
        if len(data) > MAX_CONTENTS_BYTES:
            raise too_large("contents", MAX_CONTENTS_BYTES)
        await _vet(gateway, tenant_id, body)  # refuse a bad request before keeping its file
        return body, await _save(gateway, tenant_id, contents.filename or "contents", data, "/contents")
    body = await _json_object(request)
    media_url, media_name = _string(body, "media_url"), _string(body, "media_name")
    if media_url and media_name:
        raise telnyx_error("media_url and media_name can't be submitted together.", pointer="/media_url")
    if not media_url and not media_name:
        raise telnyx_error("One of media_url, media_name or contents is required.", pointer="/media_url")
    await _vet(gateway, tenant_id, body)  # before media_url is fetched
    if media_name:
        if _boolean(body, "store_media", False):
            raise telnyx_error("store_media does not support media_name.", pointer="/store_media")
        found = await gateway.files(tenant_id, [media_name])
        if not found:
            raise telnyx_error(f"Media {media_name} not found.", pointer="/media_name")
        if found[0].size > MAX_MEDIA_BYTES:
            raise too_large("media_name", MAX_MEDIA_BYTES)
        return body, found[0].id
    assert media_url is not None
    name, data = await _download(media_url, gateway.config.fetch_policy)
    return body, await _save(gateway, tenant_id, name, data, "/media_url")


@router.post(
    "/faxes",
    status_code=202,
    openapi_extra=_send_fax_body(),
    responses=telnyx_errors(400, 413, 422),  # 400: a body that is not the multipart it says
)
async def send_fax(gateway: CurrentGateway, request: Request, key: Editor) -> JSONResponse:
    body, file_id = await _read_body(gateway, request, key.tenant_id)
    extra = _options(body)
    extra["media_url"], extra["media_name"] = body.get("media_url"), body.get("media_name")
    new = NewFax(
        from_numbers=[extra["from"]],
        to=[extra["to"]],
        file_ids=[file_id],
        resolution="superfine" if extra["quality"] in SUPERFINE_QUALITIES else "fine",
        options=OutboxOptions().model_dump(),
        webhook_url=extra["webhook_url"],
        webhook_format=FORMAT,
        dialect_fields={FORMAT: extra},
    )
    try:
        (fax,) = await gateway.submit(key.tenant_id, new)
    except NotFound as error:
        raise telnyx_error(str(error), pointer="/media_name") from None
    except Refused as error:
        raise refused(error) from None
    return JSONResponse({"data": fax_object(fax, gateway.config)}, status_code=202)


@router.get("/faxes/{fax_id}", responses=telnyx_errors(404))
async def get_fax(gateway: CurrentGateway, fax_id: str, key: Reader) -> dict[str, Any]:
    return {"data": fax_object(await owned(gateway, key, fax_id), gateway.config)}


@router.delete("/faxes/{fax_id}", status_code=204, responses=telnyx_errors(404, 422))
async def delete_fax(gateway: CurrentGateway, fax_id: str, key: Editor) -> Response:
    fax = await owned(gateway, key, fax_id)
    try:
        await gateway.delete(fax.tenant_id, fax.id)
    except Conflict as error:
        raise telnyx_error(str(error)) from None
    return Response(status_code=204)


@router.get("/faxes", responses=telnyx_errors(422))
async def list_faxes(
    gateway: CurrentGateway,
    key: Reader,
    size: int = Query(20, alias="page[size]", ge=1, le=MAX_PAGE_SIZE),
    number: int = Query(1, alias="page[number]", ge=1, le=MAX_PAGE),
    direction: Literal["inbound", "outbound"] | None = Query(None, alias="filter[direction][eq]"),
    source: str | None = Query(None, alias="filter[from][eq]"),
    destination: str | None = Query(None, alias="filter[to][eq]"),
    created_gt: str | None = Query(None, alias="filter[created_at][gt]", json_schema_extra=DATE_TIME),
    created_gte: str | None = Query(None, alias="filter[created_at][gte]", json_schema_extra=DATE_TIME),
    created_lt: str | None = Query(None, alias="filter[created_at][lt]", json_schema_extra=DATE_TIME),
    created_lte: str | None = Query(None, alias="filter[created_at][lte]", json_schema_extra=DATE_TIME),
) -> dict[str, Any]:
    query = FaxQuery(
        direction,
        from_number=source,
        to_number=destination,
        created_gt=_parse_time(created_gt, "gt"),
        created_gte=_parse_time(created_gte, "gte"),
        created_lt=_parse_time(created_lt, "lt"),
        created_lte=_parse_time(created_lte, "lte"),
        limit=size,
        offset=(number - 1) * size,
    )
    faxes, total = await gateway.list_faxes(key.tenant_id, query)
    return {
        "data": [fax_object(fax, gateway.config) for fax in faxes],
        "meta": {
            "page_number": number,
            "page_size": size,
            "total_pages": math.ceil(total / size),
            "total_results": total,
        },
    }


def _parse_time(value: str | None, op: str) -> float | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise telnyx_error(
            f"filter[created_at][{op}] must be an ISO 8601 date-time.", pointer="/filter/created_at"
        ) from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


@router.post("/faxes/{fax_id}/actions/cancel", responses=telnyx_errors(404, 422))
async def cancel_fax(gateway: CurrentGateway, fax_id: str, key: Editor) -> dict[str, Any]:
    """Stop an outbound fax that has not ended: it becomes ``failed`` with ``sender_canceled``."""
    fax = await owned(gateway, key, fax_id)
    try:
        await gateway.cancel(fax.tenant_id, fax.id)
    except Conflict as error:
        raise telnyx_error(f"The fax cannot be cancelled: {error}.") from None
    except NotFound:
        raise telnyx_error(f"Fax {fax_id} not found.", status=404, code="10005") from None
    return {"data": {"result": "ok"}}


@router.post("/faxes/{fax_id}/actions/refresh", responses=telnyx_errors(404, 422))
async def refresh_fax(gateway: CurrentGateway, fax_id: str, key: Editor) -> dict[str, Any]:
    """New temporary links (``media_url`` of a received fax, ``stored_media_url``, ``preview_url``),
    good for another LINK_SECONDS."""
    fax = await owned(gateway, key, fax_id)
    if not fax.document:
        raise telnyx_error(f"Fax {fax_id} has no media yet: there is nothing to refresh.")
    try:
        await gateway.amend(fax.tenant_id, fax.id, dialect=FORMAT, fields={"links_refreshed_at": time.time()})
    except NotFound:
        raise telnyx_error(f"Fax {fax_id} not found.", status=404, code="10005") from None
    return {"data": {"result": "ok"}}


@router.get(
    telnyx_links.PATH.removeprefix("/v2") + "/{name}",
    response_class=FileResponse,
    responses=content(200, "application/pdf", "image/tiff") | error_responses(TelnyxErrors, 403, 404, 422),
)
async def signed_media(
    gateway: CurrentGateway, name: str, tenant: str = "", expires: int = 0, signature: str = ""
) -> FileResponse:
    """A temporary link's document (``telnyx_links``): no API key, the link's signature instead."""
    shown, _, format = name.rpartition(".")
    fax_id = from_uuid(shown) if format in ("pdf", "tiff") else None
    if fax_id is None or not telnyx_links.valid(gateway.config, tenant, fax_id, format, expires, signature):
        raise telnyx_error("The link is not valid, or it has expired.", status=403)
    try:
        fax = await gateway.fax(tenant, fax_id)
    except NotFound:
        raise telnyx_error("The fax of this link no longer exists.", status=404, code="10005") from None
    return await telnyx_links.document(fax, "pdf" if format == "pdf" else "tiff")


async def _json_object(request: Request) -> dict[str, Any]:
    """The request's body, which must be a JSON object (a Telnyx 422 otherwise)."""
    try:
        body = loads(await request.body())
    except json.JSONDecodeError as error:
        raise telnyx_error(f"The request body is not valid JSON: {error.msg}.") from None
    if not isinstance(body, dict):
        raise telnyx_error("The request body must be a JSON object.")
    return body


@router.post("/media", responses=telnyx_errors(413, 422))
async def upload_media(gateway: CurrentGateway, request: Request, key: Editor) -> dict[str, Any]:
    """The SDK's ``media.upload``: the document at ``media_url`` (at most 20 MB), kept as one of the
    tenant's files; its ``media_name`` is the file's id, which ``POST /faxes`` takes. A name of the
    client's own is refused (this gateway names its files) rather than silently replaced."""
    body = await _json_object(request)
    url = _string(body, "media_url", required=True)
    assert url is not None
    if _string(body, "media_name") is not None:
        raise telnyx_error(
            "This gateway names stored media itself: omit 'media_name' and use the one it answers.",
            pointer="/media_name",
        )
    name, data = await _download(url, gateway.config.fetch_policy)
    if len(data) > MAX_CONTENTS_BYTES:
        raise too_large("media_url", MAX_CONTENTS_BYTES)
    file_id = await _save(gateway, key.tenant_id, name, data, "/media_url")
    (record,) = await gateway.files(key.tenant_id, [file_id])
    created = iso_time(record.created_at)
    media = {"media_name": record.id, "content_type": record.mime_type, "created_at": created}
    return {"data": {**media, "updated_at": created, "expires_at": None}}


#: What ``elsewhere`` says the gateway serves of Telnyx's API.
OFFERED = (
    "It serves /v2/faxes (create, retrieve, list, delete, actions/cancel, actions/refresh) and "
    "POST /v2/media "
    "(upload); the rest of the Media Storage API (list, retrieve, update, delete, download) is not kept."
)


@router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def elsewhere(request: Request, path: str, key: Reader) -> None:
    """Any other request under ``/v2`` (last of the routes): Telnyx's 401 without a key, then a Telnyx
    404 that says what this gateway serves, or 405 where the path is served but not with that method."""
    allowed = {
        method
        for route in router.routes
        if isinstance(route, APIRoute) and route.endpoint is not elsewhere
        and route.path_regex.match(request.url.path)
        for method in route.methods or ()
    }  # fmt: skip
    if allowed:
        detail = f"{request.method} is not allowed here; allowed: {', '.join(sorted(allowed))}. {OFFERED}"
        raise ApiError(405, "405", detail, {"Allow": ", ".join(sorted(allowed))})
    raise telnyx_error(
        f"{request.method} /v2/{path} is not part of the Telnyx API this gateway offers. {OFFERED}",
        status=404,
        code="10005",
    )


def _webhooks(gateway: Gateway) -> Renderer:
    return telnyx_webhooks.renderer(
        gateway, failure_reason, lambda fax: _links(fax, gateway.config)["media_url"]
    )


DIALECT = Dialect("telnyx", router, BEARER_KEYS, error_response, Webhooks(FORMAT, _webhooks))
