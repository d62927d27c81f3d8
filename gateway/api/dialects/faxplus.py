"""The Fax.Plus v3 dialect (see ../shared/seeds): ``/v3/accounts/{user_id}/...`` over our ``Gateway``.

Made so that the official Python SDK (``faxplus-api``, package ``faxplus``), unmodified, works against the
gateway. The one setting it needs is the host, *including* ``/v3`` (the SDK's default is
``https://restapi.fax.plus/v3`` and its paths start at ``/accounts``); the token goes in ``access_token``
(the SDK sends it as ``Authorization: Bearer ...``)::

    from faxplus import ApiClient, FilesApi, OutboxApi, FaxesApi
    from faxplus.configuration import Configuration

    conf = Configuration()
    conf.host = "http://127.0.0.1:8080/v3"
    conf.access_token = "token-edit"
    client = ApiClient(configuration=conf)
    path = FilesApi(client).upload_file("self", fax_file="letter.pdf").path

Routes, as the SDK calls them:

* ``POST /accounts/{user_id}/files`` (multipart field ``fax_file``) -> ``{"path": file id}``; that "path" is
  what ``PayloadOutbox.files`` takes.
* ``POST /accounts/{user_id}/outbox`` (``PayloadOutbox``, validated as the native ``SendFaxRequest``) -> one
  fax per destination; ``{"ids": {destination: fax id}}`` when ``return_ids``.
* ``GET /accounts/{user_id}/outbox[/{id}]``, ``PUT`` (its comment's text) and ``DELETE .../outbox/{id}``:
  outbound faxes not finished yet. Our ``queued`` is the SDK's ``submitted`` (``scheduled_for_sending``
  while ``send_time`` is ahead), ``processing`` is ``converting``, ``sending`` is ``sending``.
* ``GET /accounts/{user_id}/faxes[/{id}]``, ``PUT`` (``comment``, ``is_read``: ``Gateway.amend``) and
  ``DELETE .../faxes/{id}``: finished faxes, both directions (``category`` ``sent``/``inbox``), and inbound
  ones still arriving. Our final statuses are already Fax.Plus's; one the SDK's ``FaxStatus`` enum lacks
  (most ``failed_fs_<n>``) reads ``failed``, with the real code first in ``description``, since the SDK
  raises on an enum value it does not know. An inbound fax still arriving (the seed's ``in_progress``, also
  not in the SDK's enum) reads ``partially_received``, ``in_progress`` first in ``description``.
* ``GET /accounts/{user_id}/files/{fax_id}?format=pdf|tiff``, ``.../thumbnail/{fax_id}``,
  ``.../report/{fax_id}``: the fax's document, first page and confirmation report (``faxplus_files``).
* ``GET /accounts/{user_id}/numbers[/{number}]``: the config's numbers of the key's tenant; ``PUT`` and
  ``DELETE`` answer 403 (they are the operator's). ``/accounts``, ``/accounts/{user_id}``, member details
  and ``/shop/...``: 403 ``forbidden``, saying why.
* ``POST /hooks`` (``Webhook``: ``target`` an http/https URL, ``event`` ``fax_sent`` or ``fax_received``)
  -> 201 ``{"id": hook id}``; ``GET /hooks?event=`` -> ``{"data": [Webhook]}``; ``DELETE /hooks/{hook_id}``
  -> 204. A key sees and deletes its own tenant's hooks only. A ``target`` whose host is or resolves to an
  internal address is refused (400 ``invalid_request``) unless the config's ``webhook_allow`` has it. A hook
  gets Fax.Plus's ``{"hook", "data"}`` callback for every fax of the tenant, whichever API sent it:
  ``fax_sent`` at an outbound fax's final outcome, ``fax_received`` when an inbound fax has arrived
  (``faxplus_webhooks``).

``user_id`` is ``self`` (or the key's own tenant id); any other id answers 404 ``not_found``. Errors have
the seed's shape ``{"error": ..., "description": ...}`` (``gateway.api.errors``).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, File, Query, Response, UploadFile
from faxgw.gateway.api.auth import BEARER_KEYS, Editor, Reader
from faxgw.gateway.api.dialect import CurrentGateway, Dialect, Webhooks, dialect_fields, error_route
from faxgw.gateway.api.dialects import faxplus_files as files
from faxgw.gateway.api.dialects import faxplus_webhooks as hooks
from faxgw.gateway.api.errors import (
    ApiError,
    ApiErrorCode,
    content,
    native_errors,
)
from faxgw.gateway.api.inputs import MAX_OFFSET
from faxgw.gateway.api.models import MAX_TOTAL_UPLOAD_BYTES, CommentText, SendFaxRequest
from faxgw.gateway.api.requests import deleted, owned_fax, refused, save_upload, submit_request
from faxgw.gateway.domain import PENDING, FaxStatus
from faxgw.gateway.service import ApiKey, FaxOrder, FaxQuery, FaxRecord, Gateway, NotFound, Refused, Renderer
from pydantic import BaseModel, ConfigDict

#: The dialect's name: where ``Gateway.amend`` keeps its fields of a fax (``is_read``).
DIALECT_NAME = "faxplus"

#: Our statuses among the values of the SDK's ``FaxStatus`` enum (faxplus-api 3.0.5), which are the same
#: strings: any other would make it raise. (Its ``insufficient_credit`` is none of ours.)
SDK_FAX_STATUSES = frozenset(
    {
        FaxStatus.SUCCESS,
        FaxStatus.PARTIALLY_SENT,
        FaxStatus.PARTIALLY_RECEIVED,
        FaxStatus.FAILED,
        FaxStatus.FAILED_INTERNAL_PROCESS_ERROR,
        FaxStatus.FAILED_USER_BUSY,
        FaxStatus.FAILED_NO_ANSWER,
        FaxStatus.FAILED_UNALLOCATED_NUMBER,
        FaxStatus.FAILED_OFFICE_CONVERTER_ISSUE,
        FaxStatus.FAILED_SEPARATE_FILE_PAGES_ISSUE,
        FaxStatus.FAILED_RENDER_HEADER_ISSUE,
        FaxStatus.FAILED_INVALID_NUMBER_FORMAT,
        FaxStatus.FAILED_MIMETYPE_NOT_SUPPORTED,
        FaxStatus.FAILED_DESTINATION_NOT_SUPPORTED,
        FaxStatus.FAILED_IMAGE_PREPARATION,
        FaxStatus.FAILED_TO_SEND,
        FaxStatus.FAILED_NORMAL_TEMPORARY_FAILURE,
        FaxStatus.FAILED_UNKNOWN_CONVERTER_ISSUE,
        FaxStatus.FAILED_NORMAL_CLEARING,
        FaxStatus.FAILED_CONVERT_TO_TIFF_ISSUE,
        FaxStatus.t30_failure(49),
        FaxStatus.t30_failure(2),
    }
)
#: Our pending outbound statuses -> the SDK's ``OutboxStatus``.
OUTBOX_STATUSES: dict[FaxStatus, str] = {
    FaxStatus.QUEUED: "submitted",
    FaxStatus.PROCESSING: "converting",
    FaxStatus.SENDING: "sending",
}
#: ``list_faxes``'s ``sort_by``: the SDK's documented values (date, from, to, comment, pages), and the
#: Fax object's time fields.
SORT_BY: dict[str, FaxOrder] = {
    "date": FaxOrder.CREATED,
    "submit_time": FaxOrder.CREATED,
    "start_time": FaxOrder.CREATED,
    "last_update": FaxOrder.UPDATED,
    "from": FaxOrder.FROM,
    "to": FaxOrder.TO,
    "comment": FaxOrder.COMMENT,
    "pages": FaxOrder.PAGES,
}
SortBy = Literal["date", "submit_time", "start_time", "last_update", "from", "to", "comment", "pages"]
#: Faxes that ``/faxes`` shows: finished ones, and inbound ones still arriving (the seed's ``in_progress``:
#: "you can retrieve some pages via the API"). Outbound ones not finished are the outbox's.
_NOT_ARCHIVED = PENDING - {FaxStatus.IN_PROGRESS}


def fax_time(epoch: float | None, *, zone: bool = False) -> str | None:
    """Fax.Plus's ``YYYY-MM-DD HH:MM:SS`` (UTC), with ``+0000`` for the fields that carry a zone."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S" + (" %z" if zone else ""))


def _parse_time(value: str | None, name: str) -> float | None:
    if value is None:
        return None
    for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, pattern).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    raise ApiError.invalid_request(f"{name} (query): expected YYYY-MM-DD HH:MM:SS")


def _retry(fax: FaxRecord) -> dict[str, int]:
    # As given, up to the seed's 180 s. (The SDK 3.0.5 stops RetryOptions.delay and Fax.retry_delay at 30 s,
    # client side: only a client other than the SDK can give more, and the SDK cannot read that fax back.)
    retry = (fax.request.get("options") or {}).get("retry") or {}
    return {"count": int(retry.get("count", 0)), "delay": int(retry.get("delay", 0))}


def _comment(fax: FaxRecord) -> dict[str, Any]:
    comment = fax.request.get("comment") or {}
    return {"tags": list(comment.get("tags") or []), "text": comment.get("text") or ""}


def _is_outbox(fax: FaxRecord) -> bool:
    return fax.direction == "outbound" and fax.status in OUTBOX_STATUSES


def _is_archived(fax: FaxRecord) -> bool:
    return fax.status not in _NOT_ARCHIVED


def outbox_object(fax: FaxRecord) -> dict[str, Any]:
    """A pending outbound fax as the SDK's ``Outbox``."""
    status = OUTBOX_STATUSES[fax.status]
    if status == "submitted" and fax.send_at and fax.send_at > datetime.now(UTC).timestamp():
        status = "scheduled_for_sending"
    options = fax.request.get("options") or {}
    retry = _retry(fax)
    body: dict[str, Any] = {
        "id": fax.id,
        "uid": fax.tenant_id,
        "status": status,
        "src": fax.from_number,
        "designated_src": ",".join(fax.request.get("from_pool") or [fax.from_number]),
        "to": [fax.to_number],
        "files": list(fax.file_ids),
        "comment": _comment(fax),
        "options": {"enhancement": bool(options.get("enhancement", True)), "retry": retry},
        "should_enhance": bool(options.get("enhancement", True)),
        "page_count": fax.pages_total or 0,
        "submit_time": fax_time(fax.created_at),
        "send_time": fax_time(fax.send_at or fax.created_at, zone=True),
        "last_updated_status_time": fax_time(fax.updated_at),
        "extra_info": {},
        "retry": retry,
    }
    if fax.request.get("cover_page"):
        body["cover_page"] = fax.request["cover_page"]
    return body


def _sdk_status(fax: FaxRecord) -> tuple[str, str]:
    """The fax's status among the SDK's ``FaxStatus`` values, and its description (the real status first
    when that is not the SDK's)."""
    description = fax.error_description or ""
    if fax.status is FaxStatus.IN_PROGRESS:
        # The seed's in_progress, which the SDK's enum lacks: the pages so far are there, as in
        # partially_received; the description says the call goes on.
        return (
            FaxStatus.PARTIALLY_RECEIVED,
            f"{fax.status}: being received, {fax.pages_transferred} pages so far",
        )
    if fax.status in SDK_FAX_STATUSES:
        return fax.status, description
    return FaxStatus.FAILED, f"{fax.status}: {description}" if description else fax.status


async def _file_name(gateway: Gateway, fax: FaxRecord) -> str:
    """The uploaded files' names (a sent fax), else the document's."""
    names = [file.name for file in await gateway.files(fax.tenant_id, fax.file_ids) if file.name]
    return ", ".join(names) if names else f"{fax.id}.{'pdf' if fax.direction == 'inbound' else 'tiff'}"


async def fax_object(gateway: Gateway, fax: FaxRecord) -> dict[str, Any]:
    """A fax (either direction), finished or being received, as the SDK's ``Fax``."""
    status, description = _sdk_status(fax)
    attempts = await gateway.attempts(fax.id)
    started = min((a.started_at for a in attempts), default=None)
    duration = sum(max(0, int((a.ended_at or a.started_at) - a.started_at)) for a in attempts)
    retry = _retry(fax)
    body: dict[str, Any] = {
        "id": fax.id,
        "owner_id": fax.tenant_id,
        "direction": "outgoing" if fax.direction == "outbound" else "incoming",
        "from": fax.from_number,
        "to": fax.to_number,
        "status": status,
        "pages": fax.pages_transferred,
        "comment": _comment(fax)["text"],
        "cost": 0,
        "cost_details": {"multiplier": 1, "notification_cost": 0},
        "duration": duration,
        "file": fax.id,
        "file_name": await _file_name(gateway, fax),
        "header": fax.remote_station_id or "",
        "is_read": bool(dialect_fields(fax, DIALECT_NAME).get("is_read", False)),
        "is_spam": False,
        "submit_time": fax_time(fax.created_at),
        "start_time": fax_time(started if started is not None else fax.created_at),
        "last_update": fax_time(fax.updated_at),
    }
    if description and status != FaxStatus.SUCCESS:
        body["description"] = description
    if fax.direction == "outbound":
        body["max_retry"], body["retry_delay"] = retry["count"], retry["delay"]
        if fax.send_at:
            body["scheduled_time"] = fax_time(fax.send_at)
        if fax.request.get("cover_page"):
            body["cover_page"] = fax.request["cover_page"]
    return body


class OutboxModification(BaseModel):
    """``PUT .../outbox/{id}``: the SDK's ``PayloadOutboxModification``."""

    model_config = ConfigDict(extra="forbid")
    comment: CommentText


class FaxModification(BaseModel):
    """``PUT .../faxes/{id}``: the SDK's ``PayloadFaxModification`` (either field may be left out)."""

    model_config = ConfigDict(extra="forbid")
    comment: CommentText | None = None
    is_read: bool | None = None


# Errors are the native API's (the seed's Error schema).
router = APIRouter(
    prefix="/v3",
    tags=["faxplus"],
    route_class=error_route(ApiError.to_response),
    dependencies=BEARER_KEYS.security(),
)


def tenant(key: ApiKey, user_id: str) -> str:
    if user_id not in ("self", key.tenant_id):
        raise ApiError.not_found("account", user_id)
    return key.tenant_id


async def owned(
    gateway: Gateway, key: ApiKey, user_id: str, fax_id: str, kind: Literal["outbox", "fax"]
) -> FaxRecord:
    try:
        fax = await gateway.fax(tenant(key, user_id), fax_id)
    except NotFound:
        fax = None
    if fax is None or not (_is_outbox(fax) if kind == "outbox" else _is_archived(fax)):
        raise ApiError.not_found("outbox fax" if kind == "outbox" else "fax", fax_id)
    return fax


@router.post("/hooks", status_code=201, responses=native_errors(400, 413, 415))
async def create_webhook(gateway: CurrentGateway, body: hooks.HookRequest, key: Editor) -> dict[str, str]:
    target = hooks.checked_target(body.target)
    try:
        await gateway.check_webhook_url(target, "target")
    except Refused as error:
        raise refused(error) from None
    return {"id": (await gateway.subscribe(key.tenant_id, hooks.FORMAT, target, [body.event])).id}


@router.get("/hooks", responses=native_errors(400))
async def get_webhooks(
    gateway: CurrentGateway, key: Reader, event: hooks.HookEvent | None = None
) -> dict[str, Any]:
    return {
        "data": [
            hooks.hook_object(hook, name)
            for hook in await gateway.subscriptions(key.tenant_id, hooks.FORMAT)
            for name in hook.events
            if event is None or name == event
        ]
    }


@router.delete("/hooks/{hook_id}", status_code=204, responses=native_errors(404))
async def delete_webhook(gateway: CurrentGateway, hook_id: str, key: Editor) -> Response:
    # Only the tenant's Fax.Plus hooks: its other subscriptions (Dropbox's callback) are not hooks.
    if not await gateway.unsubscribe(key.tenant_id, hooks.FORMAT, hook_id):
        raise ApiError.not_found("hook", hook_id)
    return Response(status_code=204)


@router.post("/accounts/{user_id}/files", status_code=200, responses=native_errors(400, 404, 413, 415))
async def upload_file(
    gateway: CurrentGateway,
    user_id: str,
    key: Editor,
    fax_file: UploadFile = File(...),  # noqa: B008
    format: Literal["pdf", "tiff"] | None = None,
) -> dict[str, str]:
    tenant_id = tenant(key, user_id)
    data = await fax_file.read(MAX_TOTAL_UPLOAD_BYTES + 1)
    return {"path": (await save_upload(gateway, tenant_id, fax_file.filename, data)).id}


@router.post("/accounts/{user_id}/outbox", status_code=201, responses=native_errors(400, 404, 413, 415))
async def send_fax(
    gateway: CurrentGateway, user_id: str, body: SendFaxRequest, key: Editor
) -> dict[str, Any]:
    tenant_id = tenant(key, user_id)
    if body.from_fax is not None and body.from_fax.user_id not in ("self", tenant_id):
        raise ApiError.not_found("account", body.from_fax.user_id)
    faxes = await submit_request(gateway, tenant_id, body)
    return {"ids": {fax.to_number: fax.id for fax in faxes}} if body.return_ids else {}


@router.get("/accounts/{user_id}/outbox", responses=native_errors(404))
async def list_outbox_faxes(gateway: CurrentGateway, user_id: str, key: Reader) -> dict[str, Any]:
    # Fax.Plus pages no outbox: every fax not sent yet, newest first.
    query = FaxQuery("outbound", statuses=OUTBOX_STATUSES, limit=None)
    pending, _ = await gateway.list_faxes(tenant(key, user_id), query)
    return {"records": [outbox_object(fax) for fax in pending]}


@router.get("/accounts/{user_id}/outbox/{outbox_fax_id}", responses=native_errors(404))
async def get_outbox_fax(
    gateway: CurrentGateway, user_id: str, outbox_fax_id: str, key: Reader
) -> dict[str, Any]:
    return outbox_object(await owned(gateway, key, user_id, outbox_fax_id, "outbox"))


@router.delete(
    "/accounts/{user_id}/outbox/{outbox_fax_id}", status_code=204, responses=native_errors(404, 409)
)
async def delete_outbox_fax(
    gateway: CurrentGateway, user_id: str, outbox_fax_id: str, key: Editor
) -> Response:
    return await deleted(gateway, await owned(gateway, key, user_id, outbox_fax_id, "outbox"))


@router.get("/accounts/{user_id}/faxes", responses=native_errors(400, 404))
async def list_faxes(
    gateway: CurrentGateway,
    user_id: str,
    key: Reader,
    category: Literal["inbox", "sent", "spam"] | None = None,
    after: str | None = None,
    before: str | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
    sort_by: SortBy = "date",
    order: Literal["asc", "desc"] = "desc",
) -> dict[str, Any]:
    tenant_id = tenant(key, user_id)
    if category == "spam":
        return {"data": {"records": []}}
    query = FaxQuery(
        {"inbox": "inbound", "sent": "outbound"}.get(category or ""),
        exclude_statuses=_NOT_ARCHIVED,
        created_gte=_parse_time(after, "after"),
        created_lt=_parse_time(before, "before"),
        order=SORT_BY[sort_by],
        descending=order == "desc",
        limit=limit,
        offset=offset,
    )
    faxes, _ = await gateway.list_faxes(tenant_id, query)
    return {"data": {"records": [await fax_object(gateway, fax) for fax in faxes]}}


@router.put("/accounts/{user_id}/outbox/{outbox_fax_id}", status_code=204, responses=native_errors(400, 404))
async def update_outbox_fax(
    gateway: CurrentGateway, user_id: str, outbox_fax_id: str, body: OutboxModification, key: Editor
) -> Response:
    fax = await owned(gateway, key, user_id, outbox_fax_id, "outbox")
    await _amend(gateway, fax, body.comment, None)
    return Response(status_code=204)


@router.put("/accounts/{user_id}/faxes/{fax_id}", status_code=204, responses=native_errors(400, 404))
async def update_fax(
    gateway: CurrentGateway, user_id: str, fax_id: str, body: FaxModification, key: Editor
) -> Response:
    fax = await owned(gateway, key, user_id, fax_id, "fax")
    await _amend(gateway, fax, body.comment, body.is_read)
    return Response(status_code=204)


async def _amend(gateway: Gateway, fax: FaxRecord, comment: str | None, is_read: bool | None) -> None:
    # Fax.Plus's comment here is its text: the tags given at sending stay.
    text = None if comment is None else {**_comment(fax), "text": comment}
    fields = {} if is_read is None else {"is_read": is_read}
    try:
        await gateway.amend(fax.tenant_id, fax.id, comment=text, dialect=DIALECT_NAME, fields=fields)
    except NotFound:  # deleted meanwhile
        raise ApiError.not_found("fax", fax.id) from None


@router.get("/accounts/{user_id}/faxes/{fax_id}", responses=native_errors(404))
async def get_fax(gateway: CurrentGateway, user_id: str, fax_id: str, key: Reader) -> dict[str, Any]:
    return await fax_object(gateway, await owned(gateway, key, user_id, fax_id, "fax"))


@router.delete("/accounts/{user_id}/faxes/{fax_id}", status_code=204, responses=native_errors(404, 409))
async def delete_fax(gateway: CurrentGateway, user_id: str, fax_id: str, key: Editor) -> Response:
    return await deleted(gateway, await owned(gateway, key, user_id, fax_id, "fax"))


@router.get(
    "/accounts/{user_id}/files/{fax_id}",
    response_class=Response,
    responses=content(200, "application/pdf", "image/tiff") | native_errors(400, 404),
)
async def get_file(
    gateway: CurrentGateway, user_id: str, fax_id: str, key: Reader, format: Literal["pdf", "tiff"] = "pdf"
) -> Response:
    tenant(key, user_id)
    return await files.fax_file(await owned_fax(gateway, key, fax_id), format)


@router.get(
    "/accounts/{user_id}/report/{fax_id}",
    response_class=Response,
    responses=content(200, "application/pdf") | native_errors(404),
)
async def get_fax_report(gateway: CurrentGateway, user_id: str, fax_id: str, key: Reader) -> Response:
    fax = await owned(gateway, key, user_id, fax_id, "fax")
    view = await fax_object(gateway, fax)
    pdf = await asyncio.to_thread(files.report_pdf, view, fax)
    headers = {"Content-Disposition": f'attachment; filename="{fax.id}-report.pdf"'}
    return Response(pdf, media_type="application/pdf", headers=headers)


@router.get(
    "/accounts/{user_id}/thumbnail/{fax_id}",
    response_class=Response,
    responses=content(200, "image/png") | native_errors(404),
)
async def get_fax_thumbnail(gateway: CurrentGateway, user_id: str, fax_id: str, key: Reader) -> Response:
    tenant(key, user_id)
    return await files.thumbnail(await owned_fax(gateway, key, fax_id))


def _number_object(number: str, tenant_id: str) -> dict[str, Any]:
    """One of the tenant's numbers (the config's ``numbers``) as the SDK's ``Number``. The operator
    configured it: no purchase or expiry date exists, so those read empty."""
    return {
        "id": number,
        "number": number,
        "owner_id": tenant_id,
        "assigned_to": [tenant_id],
        "status": "active",
        "is_canceled": False,
        "acquired_date": "",
        "expiration_date": "",
        "notifications": [],
    }


def _tenant_numbers(gateway: Gateway, tenant_id: str) -> list[str]:
    return [
        entry.number for entry in gateway.config.numbers if gateway.config.owner(entry.number) == tenant_id
    ]


def _own_number(gateway: Gateway, key: ApiKey, user_id: str, number: str) -> str:
    tenant_id = tenant(key, user_id)
    if number not in _tenant_numbers(gateway, tenant_id):
        raise ApiError.not_found("number", number)
    return tenant_id


@router.get("/accounts/{user_id}/numbers", responses=native_errors(404))
async def list_numbers(gateway: CurrentGateway, user_id: str, key: Reader) -> dict[str, Any]:
    tenant_id = tenant(key, user_id)
    return {"numbers": [_number_object(n, tenant_id) for n in _tenant_numbers(gateway, tenant_id)]}


@router.get("/accounts/{user_id}/numbers/{number}", responses=native_errors(404))
async def get_number(gateway: CurrentGateway, user_id: str, number: str, key: Reader) -> dict[str, Any]:
    return _number_object(number, _own_number(gateway, key, user_id, number))


@router.put("/accounts/{user_id}/numbers/{number}", responses=native_errors(403, 404))
@router.delete("/accounts/{user_id}/numbers/{number}", responses=native_errors(403, 404))
async def change_number(gateway: CurrentGateway, user_id: str, number: str, key: Editor) -> Response:
    """``update_number`` and ``revoke_number``: the numbers are the gateway operator's configuration."""
    _own_number(gateway, key, user_id, number)
    raise ApiError.of(
        ApiErrorCode.FORBIDDEN,
        f"number {number} is set in the gateway's configuration ([[numbers]]): only its operator can "
        "assign or revoke it",
    )


#: AccountsApi and ShopApi: Fax.Plus's accounts, credit and number shop have no counterpart here.
_NOT_HERE = (
    "this fax gateway has no Fax.Plus accounts, members, credit or number shop: its tenants, keys and "
    "numbers are set in its configuration by its operator (NumbersApi lists a tenant's numbers)"
)


# Not in the OpenAPI document: nothing is offered there, and what answers is the same refusal everywhere.
@router.api_route("/accounts", methods=["GET"], include_in_schema=False)
@router.api_route("/accounts/{user_id}", methods=["GET", "PUT"], include_in_schema=False)
@router.api_route(
    "/accounts/self/member-details/{member_user_id}", methods=["GET", "PUT"], include_in_schema=False
)
@router.api_route("/shop/{path:path}", methods=["GET", "POST"], include_in_schema=False)
async def not_here(key: Reader) -> Response:
    """AccountsApi and ShopApi: 403 ``forbidden`` in Fax.Plus's error shape, saying why (as for the
    numbers, which are the operator's to assign)."""
    raise ApiError.of(ApiErrorCode.FORBIDDEN, _NOT_HERE)


def _webhooks(gateway: Gateway) -> Renderer:
    async def view(fax: FaxRecord) -> dict[str, Any]:
        return await fax_object(gateway, fax)

    return hooks.renderer(view, fax_time)


DIALECT = Dialect(DIALECT_NAME, router, BEARER_KEYS, ApiError.to_response, Webhooks(hooks.FORMAT, _webhooks))
