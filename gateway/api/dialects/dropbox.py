"""The Dropbox Fax dialect (Dropbox Sign API v3, see ../shared/seeds): ``/v3/fax/...`` over our ``Gateway``.

Made so that the official Python SDK (``dropbox-sign``, package ``dropbox_sign``), unmodified, works against
the gateway. The one setting it needs is the host, *including* ``/v3`` (the SDK's default is
``https://api.hellosign.com/v3`` and its paths start at ``/fax``). Dropbox Sign authenticates with HTTP basic
auth, the API key as user name and no password; our API token goes there (``Authorization: Bearer <token>``
is accepted too)::

    from dropbox_sign import ApiClient, Configuration, FaxApi, FaxSendRequest

    conf = Configuration(host="http://127.0.0.1:8080/v3", username="token-edit")
    with ApiClient(conf) as client:
        fax = FaxApi(client).fax_send(
            FaxSendRequest(recipient="+15550199", sender="+15550100", files=[open("letter.pdf", "rb")])
        ).fax

Routes, as the SDK calls them:

* ``POST /fax/send``: multipart (``recipient``, ``sender``, ``files[0]``, ``files[1]``..., ``file_urls`` as a
  JSON list, ``cover_page_to``/``_from``/``_message``, ``title``, ``test_mode``) or JSON (``file_urls`` only)
  -> ``FaxGetResponse`` ``{"fax": {...}}``. ``recipient`` must be a fax number (not an e-mail address);
  ``sender`` is the caller number (absent: no caller number). ``files`` or ``file_urls``, not both (400
  ``bad_request``, as the API requires). An e-mail ``recipient`` is refused (400 ``bad_request``,
  ``error_path`` ``recipient``): the gateway has no fax-to-email yet. ``test_mode=true`` makes a test fax
  (``NewFax.test``): its documents are converted and checked, its call is simulated and nothing is dialled;
  it goes through the same states and callbacks and reads back ``test_mode: true``. ``file_urls`` are
  fetched by the gateway (http/https only), but never from a host that is or resolves to an internal
  address (loopback, private, link-local, ...) unless the config's ``url_fetch_allow`` has it (see
  gateway.documents.fetch): 400 ``bad_request`` otherwise.
* ``GET /fax/{fax_id}`` -> ``FaxGetResponse``; ``GET /fax/list?page=&page_size=`` -> ``FaxListResponse``
  (newest first, both directions, ``page_size`` 1-100, default 20).
* ``GET /fax/files/{fax_id}``: the fax's pages as one PDF (made from the TIFF-F that was sent or received).
  A fax object's ``files_url`` is that link; so is its ``final_copy_uri`` once the fax is over (null before).
* ``DELETE /fax/{fax_id}`` -> 204 (409 ``conflict`` while its documents are converted or its call is up).
* ``GET /account`` -> ``AccountGetResponse`` ``{"account": {"account_id": <tenant id>, "callback_url", ...}}``
  (read scope; no e-mail address: ``email_address`` is null); ``PUT /account`` (``AccountUpdateRequest``,
  edit scope) sets the account's one ``callback_url`` (http/https; ``""`` or null removes it, absent leaves
  it; ``locale`` is ignored) and answers the same. A callback URL whose host is or resolves to an internal
  address is refused (400 ``bad_request``) unless the config's ``webhook_allow`` has it.
  ``POST /account/verify`` answers ``{}`` (no account here has an e-mail address); ``POST /account/create``
  -> 403 ``forbidden``: accounts are the operator's configuration.
* ``GET /fax_line/list`` -> ``FaxLineListResponse``, ``GET /fax_line?number=`` -> ``FaxLineResponse``: the
  tenant's configured numbers (``dropbox_lines``); ``fax_line/create``, ``DELETE /fax_line``,
  ``fax_line/add_user``, ``fax_line/remove_user`` and ``fax_line/area_codes`` -> 403 ``forbidden``: lines are
  the operator's configuration.

Callbacks (``dropbox_callbacks``): the callback URL gets Dropbox Sign's signed ``fax_sent`` / ``fax_busy`` /
... / ``fax_received`` callbacks for every fax of the tenant, whichever API sent it. Their ``event_hash`` is
keyed with the API key that set the URL, so the gateway keeps *that key in clear* with the callback URL
(every other key is stored only hashed): set it with a key you would give the receiver anyway.

A fax's one transmission carries its ``status_code``: pending -> ``transmitting``, ``success`` ->
``success``, and the failures -> the documented ``error_*`` codes (``STATUS_CODES``). The documented
``error_file`` (a document we could not convert) and ``on_hold`` are not in the SDK's enum (2.0.0), which
raises on any value it does not know - and a ``fax_list`` with one such fax would fail as a whole - so
``error_file`` reads ``error_unknown`` (the documented code stays in ``metadata["status_detail"]``), and
``on_hold`` (an unconfirmed account) never happens here.

Errors have Dropbox Sign's shape, ``{"error": {"error_msg", "error_name"[, "error_path"]}}``, whatever
raised them (our ``ApiError``, the key check's 401 and 403, request validation, Starlette's HTTP errors):
see ``error_response`` and ``gateway.api.dialect.error_route``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from faxgw.gateway.api.auth import BASIC_KEYS
from faxgw.gateway.api.dialect import CurrentGateway, Dialect, Webhooks, dialect_fields, error_route
from faxgw.gateway.api.dialects import dropbox_callbacks, dropbox_lines
from faxgw.gateway.api.dialects.dropbox_callbacks import FORMAT
from faxgw.gateway.api.documents import fax_document
from faxgw.gateway.api.errors import (
    ApiError,
    content,
    error_responses,
    first_location,
    from_validation_errors,
    printable,
)
from faxgw.gateway.api.inputs import MAX_PAGE, decimal, loads, url_problem
from faxgw.gateway.api.models import (
    E164,
    HTTP_URL_PATTERN,
    MAX_FILES,
    MAX_TOTAL_UPLOAD_BYTES,
    MAX_URL_CHARS,
    NO_NUMBER,
    CoverPage,
    FaxNumber,
)
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
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.datastructures import UploadFile

#: The SDK's ``FaxResponseTransmission.status_code`` enum (dropbox-sign 2.0.0): anything else makes it raise.
SDK_STATUS_CODES = frozenset(
    {
        "success",
        "transmitting",
        "error_could_not_fax",
        "error_unknown",
        "error_busy",
        "error_no_answer",
        "error_disconnected",
        "error_bad_destination",
    }
)
#: Our final statuses -> the documented codes (``failed_fs_<n>``, a T.30 failure, is ``error_could_not_fax``).
STATUS_CODES: dict[FaxStatus, str] = {
    FaxStatus.SUCCESS: "success",
    FaxStatus.FAILED_USER_BUSY: "error_busy",
    FaxStatus.FAILED_NO_ANSWER: "error_no_answer",
    FaxStatus.PARTIALLY_SENT: "error_disconnected",  # the call dropped after some pages
    FaxStatus.PARTIALLY_RECEIVED: "error_disconnected",
    FaxStatus.FAILED_NORMAL_TEMPORARY_FAILURE: "error_disconnected",  # unreachable
    FaxStatus.FAILED_NORMAL_CLEARING: "error_disconnected",
    FaxStatus.FAILED_UNALLOCATED_NUMBER: "error_bad_destination",
    FaxStatus.FAILED_INVALID_NUMBER_FORMAT: "error_bad_destination",
    FaxStatus.FAILED_DESTINATION_NOT_SUPPORTED: "error_bad_destination",
    FaxStatus.FAILED_MIMETYPE_NOT_SUPPORTED: "error_file",
    FaxStatus.FAILED_OFFICE_CONVERTER_ISSUE: "error_file",
    FaxStatus.FAILED_SEPARATE_FILE_PAGES_ISSUE: "error_file",
    FaxStatus.FAILED_RENDER_HEADER_ISSUE: "error_file",
    FaxStatus.FAILED_IMAGE_PREPARATION: "error_file",
    FaxStatus.FAILED_UNKNOWN_CONVERTER_ISSUE: "error_file",
    FaxStatus.FAILED_CONVERT_TO_TIFF_ISSUE: "error_file",
}
#: Dropbox Sign's ``error_name`` for an HTTP status (anything else 4xx is ``bad_request``).
ERROR_NAMES = {
    400: "bad_request",
    401: "unauthorized",
    402: "payment_required",
    403: "forbidden",
    404: "not_found",
    405: "method_not_supported",
    409: "conflict",
    410: "deleted",
    429: "exceeded_rate",
}
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 20, 100
_FETCH_TIMEOUT = 30.0
_number = TypeAdapter(FaxNumber)


def status_code(fax: FaxRecord) -> str:
    """The documented code for our status (may be ``error_file``, which the SDK lacks)."""
    if fax.status.pending:
        return "transmitting"
    if fax.status in STATUS_CODES:
        return STATUS_CODES[fax.status]
    if fax.status.t30_code is not None:
        return "error_could_not_fax"
    return "error_unknown"


def error_response(error: ApiError) -> JSONResponse:
    """Any error of a Dropbox route in Dropbox Sign's shape: ``{"error": {"error_msg", "error_name"[,
    "error_path"]}}``, its name from the status."""
    name = ERROR_NAMES.get(error.status, "unknown" if error.status >= 500 else "bad_request")
    body = {"error_msg": printable(error.description), "error_name": name}
    if error.where:
        body["error_path"] = printable(".".join(error.where))
    return JSONResponse({"error": body}, status_code=error.status, headers=error.headers or None)


def _invalid(problems: Sequence[Mapping[str, Any]]) -> ApiError:
    """Request validation: 400, with the field's path."""
    return _bad(from_validation_errors(problems).description, where=first_location(problems))


def _bad(message: str, where: Sequence[str] = ()) -> ApiError:
    return ApiError(400, "bad_request", message, where=where)


def _refused(error: Refused) -> ApiError:
    """403 ``forbidden`` for what is not the account's (a sender number), 400 for a refused address."""
    field = {"from": "sender", "to": "recipient"}.get(error.field, error.field)
    if error.forbidden:
        return ApiError(403, "forbidden", f"{field}: {error}")
    return _bad(f"{field}: {error}")


def _too_large() -> ApiError:
    return ApiError(413, "payload_too_large", f"files exceed {MAX_TOTAL_UPLOAD_BYTES} bytes in total")


class DropboxErrorDetail(BaseModel):
    error_msg: str
    error_name: str
    error_path: str | None = None


class DropboxError(BaseModel):
    """What ``error_response`` answers (Dropbox Sign's ``ErrorResponse``), for OpenAPI."""

    model_config = ConfigDict(title="DropboxError")

    error: DropboxErrorDetail


def dropbox_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` of a Dropbox route: 401, 403 and ``statuses``, all in Dropbox Sign's shape."""
    return error_responses(DropboxError, 401, 403, *statuses)


class SendFaxFields(BaseModel):
    """``POST /fax/send``'s fields as the SDK's ``FaxSendRequest`` sends them, for OpenAPI only: the route
    reads multipart and JSON alike itself (``_send_form``)."""

    model_config = ConfigDict(title="DropboxFaxSendRequest")

    recipient: str = Field(description="The fax number to send to", json_schema_extra={"pattern": E164})
    sender: str | None = Field(
        default=None,
        description="The caller number, one of the account's",
        json_schema_extra={"pattern": E164},
    )
    files: list[bytes] = Field(
        default_factory=list, max_length=MAX_FILES, json_schema_extra={"items": {"format": "binary"}}
    )
    file_urls: str | None = Field(
        default=None, description="A URL, or a JSON list of URLs, of documents to fetch"
    )
    cover_page_to: str | None = None
    cover_page_from: str | None = None
    cover_page_message: str | None = None
    title: str | None = None
    test_mode: bool = False


def _send_body() -> dict[str, Any]:
    """OpenAPI's requestBody of ``POST /fax/send``: multipart (documents, URLs), or JSON (URLs only)."""
    form = SendFaxFields.model_json_schema()
    json_fields = {k: v for k, v in form["properties"].items() if k not in ("files", "file_urls")}
    json_fields["file_urls"] = {"type": "array", "items": {"type": "string"}, "maxItems": MAX_FILES}
    body = {**form, "title": "DropboxFaxSendJsonRequest", "properties": json_fields}
    content = {"multipart/form-data": {"schema": form}, "application/json": {"schema": body}}
    return {"requestBody": {"required": True, "content": content}}


async def fax_response(request: Request, gateway: Gateway, fax: FaxRecord) -> dict[str, Any]:
    """``fax_object`` for an API answer: its files link at the host the client called."""
    return await fax_object(gateway, fax, str(request.url_for("dropbox_fax_files", fax_id=fax.id)))


async def fax_object(gateway: Gateway, fax: FaxRecord, files_url: str) -> dict[str, Any]:
    """Our fax as the SDK's ``FaxResponse`` (every field it requires, none it would reject)."""
    code = status_code(fax)
    metadata: dict[str, Any] = {}
    if code not in SDK_STATUS_CODES:
        metadata["status_detail"] = code
        code = "error_unknown"
    if fax.error_code and fax.status != FaxStatus.SUCCESS:
        metadata["error"] = {"code": fax.error_code, "description": fax.error_description or ""}
    dropbox = dialect_fields(fax, FORMAT)
    original = dropbox.get("original_title") or ""
    if not original:  # a fax another API sent
        original = ", ".join(f.name for f in await gateway.files(fax.tenant_id, fax.file_ids))
    ended = [a.ended_at for a in await gateway.attempts(fax.id) if a.ended_at is not None]
    transmission: dict[str, Any] = {"recipient": fax.to_number, "status_code": code}
    if code == "success" or fax.completed_at:
        sent_at = fax.completed_at or (max(ended) if ended else None)
        if sent_at is not None:
            transmission["sent_at"] = int(sent_at)
    cover = fax.request.get("cover_page") or {}
    body: dict[str, Any] = {
        "fax_id": fax.id,
        "title": dropbox.get("title") or original or fax.id,
        "original_title": original or fax.id,
        "metadata": metadata,
        "created_at": int(fax.created_at),
        "sender": fax.from_number if fax.from_number != NO_NUMBER else "",
        "files_url": files_url,
        "transmissions": [transmission],
        "test_mode": fax.test,
        # Every field of the SDK's model is there: the optional ones null when the fax has none.
        "subject": cover.get("subject") or None,
        "message": cover.get("message") or None,
        # The completed document: the same PDF as files_url, once the fax is over and has pages.
        "final_copy_uri": files_url if fax.document and not fax.status.pending else None,
    }
    return body


class AccountUpdate(BaseModel):
    """``PUT /account``'s body, the SDK's ``AccountUpdateRequest`` (``locale`` is ignored: we keep none)."""

    account_id: str | None = None
    callback_url: str | None = Field(
        default=None, max_length=MAX_URL_CHARS, json_schema_extra={"pattern": f"{HTTP_URL_PATTERN}|^$"}
    )


def _callback_url(url: str) -> str:
    problem = url_problem(url)
    if problem is not None:
        raise _bad(f"callback_url: the URL {problem}")
    return url


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _file_urls(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        try:
            value = loads(value) if value.lstrip().startswith("[") else [value]
        except json.JSONDecodeError:
            raise _bad("file_urls: not a JSON list of URLs") from None
    if not isinstance(value, list) or not all(isinstance(url, str) for url in value):
        raise _bad("file_urls: expected a list of URLs")
    for url in value:
        problem = url_problem(url)
        if problem is not None:
            raise _bad(f"file_urls: {url[:60]!r}: the URL {problem}")
    return value


async def _send_form(request: Request) -> tuple[dict[str, Any], list[tuple[str, bytes]]]:
    """The send request's fields and uploaded files, from multipart/form or JSON."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        try:
            body = loads(await request.body())
        except json.JSONDecodeError as error:
            raise _bad(f"the body is not valid JSON: {error.msg}") from None
        if not isinstance(body, dict):
            raise _bad("the body must be a JSON object")
        return body, []
    if not content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise _bad("send multipart/form-data or application/json")
    form = await request.form(max_files=MAX_FILES + 1, max_fields=100)
    fields: dict[str, Any] = {}
    uploads: list[tuple[int, str, UploadFile]] = []
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            base, bracket, index = name.partition("[")
            if base not in ("files", "file") or (bracket and not index.endswith("]")):
                raise _bad(f"{name[:60]}: unexpected file field")
            # files[0], files[1], ... in that order; files, files[] in the order sent.
            order = decimal(index[:-1]) if index[:-1] else len(uploads)
            if order is None:
                raise _bad(f"{name[:60]}: the index of a file must be a number")
            uploads.append((order, value.filename or "upload", value))
        else:
            fields[name] = value
    files = []
    total = 0
    for _, name, upload in sorted(uploads, key=lambda item: item[0]):
        data = await upload.read(MAX_TOTAL_UPLOAD_BYTES + 1)
        total += len(data)
        if total > MAX_TOTAL_UPLOAD_BYTES:
            raise _too_large()
        files.append((name, data))
    return fields, files


async def _fetch(urls: list[str], already: int, policy: FetchPolicy) -> list[tuple[str, bytes]]:
    fetched = []
    total = already
    for url in urls:
        try:
            name, data = await fetch_document(
                url, limit=MAX_TOTAL_UPLOAD_BYTES - total, policy=policy, timeout=_FETCH_TIMEOUT
            )
        except FetchTooLarge:
            raise _too_large() from None
        except FetchError as error:
            raise _bad(f"file_urls: {error}") from None
        total += len(data)
        fetched.append((name, data))
    return fetched


def _text(fields: dict[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _bad(f"{name}: expected a string")
    return value


Reader = Annotated[ApiKey, Depends(BASIC_KEYS.scope("read"))]
Editor = Annotated[ApiKey, Depends(BASIC_KEYS.scope("edit"))]

router = APIRouter(
    prefix="/v3",
    tags=["dropbox"],
    route_class=error_route(error_response, _invalid),
    dependencies=BASIC_KEYS.security(),
)


async def owned(gateway: Gateway, key: ApiKey, fax_id: str) -> FaxRecord:
    try:
        return await gateway.fax(key.tenant_id, fax_id)
    except NotFound:
        raise ApiError(404, "not_found", f"Fax not found: {fax_id}") from None


async def _send_request(
    gateway: Gateway, tenant_id: str, fields: dict[str, Any], files: list[tuple[str, bytes]]
) -> NewFax:
    """The fax a send request asks for, its documents kept (fetched from ``file_urls`` first)."""
    recipient = _text(fields, "recipient")
    if recipient is None:
        raise _bad("recipient: required", ["recipient"])
    sender = _text(fields, "sender")
    if "@" in recipient:  # Dropbox Fax sends to an e-mail address too: not this gateway (issue 15)
        raise _bad(
            "recipient: e-mail recipients are not supported by this gateway yet; send to a fax number",
            ["recipient"],
        )
    try:
        recipient = _number.validate_python(recipient)
    except ValidationError:
        raise _bad("recipient must be a fax number (E.164)", ["recipient"]) from None
    try:
        sender = _number.validate_python(sender) if sender else NO_NUMBER
    except ValidationError:
        raise _bad("sender must be a fax number (E.164)", ["sender"]) from None
    try:  # before any document is fetched or kept
        gateway.check_senders(tenant_id, [sender])
    except Refused as error:
        raise _refused(error) from None
    urls = _file_urls(fields.get("file_urls"))
    if files and urls:
        raise _bad("files and file_urls: send one or the other, not both", ["file_urls"])
    if not files and not urls:
        raise _bad("files or file_urls: at least one document is required")
    if len(files) + len(urls) > MAX_FILES:
        raise _bad(f"at most {MAX_FILES} files per fax")
    files += await _fetch(urls, sum(len(data) for _, data in files), gateway.config.fetch_policy)
    title = _text(fields, "title")
    cover = None
    cover_to, cover_from = _text(fields, "cover_page_to"), _text(fields, "cover_page_from")
    cover_message = _text(fields, "cover_page_message")
    if cover_to or cover_from or cover_message:
        try:
            cover = CoverPage(
                name_to=cover_to or recipient,
                name_from=cover_from or (sender if sender != NO_NUMBER else "-"),
                subject=title or "Fax",
                message=cover_message or "",
            ).model_dump()
        except ValidationError as error:
            raise _bad(f"cover page: {error.errors()[0]['msg']}") from None
    file_ids = []
    for name, data in files:
        try:
            file_ids.append((await gateway.save_file(tenant_id, name, data)).id)
        except ConversionError as error:
            raise _bad(f"{name}: {error.message}") from None
    original = ", ".join(name for name, _ in files)
    # The Dropbox-only fields the fax object shows back, kept with the fax as it is stored.
    shown = {"title": title or original, "original_title": original}
    return NewFax(
        from_numbers=[sender],
        to=[recipient],
        file_ids=file_ids,
        cover_page=cover,
        dialect_fields={FORMAT: shown},
        test=_flag(fields.get("test_mode", False)),
    )


@router.post("/fax/send", openapi_extra=_send_body(), responses=dropbox_errors(400, 413))
async def fax_send(gateway: CurrentGateway, request: Request, key: Editor) -> dict[str, Any]:
    fields, files = await _send_form(request)
    new = await _send_request(gateway, key.tenant_id, fields, files)
    try:
        [fax] = await gateway.submit(key.tenant_id, new)
    except Refused as error:
        raise _refused(error) from None
    return {"fax": await fax_response(request, gateway, fax)}


@router.get("/fax/list", responses=dropbox_errors(400))
async def fax_list(
    gateway: CurrentGateway,
    request: Request,
    key: Reader,
    page: int = Query(1, ge=1, le=MAX_PAGE),
    page_size: int = Query(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE),
) -> dict[str, Any]:
    query = FaxQuery(limit=page_size, offset=(page - 1) * page_size)
    faxes, total = await gateway.list_faxes(key.tenant_id, query)
    return {
        "faxes": [await fax_response(request, gateway, fax) for fax in faxes],
        "list_info": {
            "num_pages": max(1, math.ceil(total / page_size)),
            "num_results": total,
            "page": page,
            "page_size": page_size,
        },
    }


@router.get(
    "/fax/files/{fax_id}",
    name="dropbox_fax_files",
    response_class=Response,
    responses=content(200, "application/pdf") | dropbox_errors(404, 409),
)
async def fax_files(gateway: CurrentGateway, fax_id: str, key: Reader) -> Response:
    fax = await owned(gateway, key, fax_id)
    tiff = Path(fax.document) if fax.document else None
    if tiff is None or not tiff.exists() or (fax.direction == "inbound" and fax.status.pending):
        raise ApiError(409, "conflict", f"the files of fax {fax_id} are not ready yet")
    return await fax_document(fax, "pdf")


@router.get("/fax/{fax_id}", responses=dropbox_errors(404))
async def fax_get(gateway: CurrentGateway, request: Request, fax_id: str, key: Reader) -> dict[str, Any]:
    return {"fax": await fax_response(request, gateway, await owned(gateway, key, fax_id))}


@router.delete("/fax/{fax_id}", status_code=204, responses=dropbox_errors(404, 409))
async def fax_delete(gateway: CurrentGateway, fax_id: str, key: Editor) -> Response:
    fax = await owned(gateway, key, fax_id)
    try:
        await gateway.delete(fax.tenant_id, fax.id)
    except Conflict as error:
        raise ApiError(409, "conflict", str(error)) from None
    return Response(status_code=204)


def _mine(key: ApiKey, account_id: str | None) -> None:
    # Dropbox Sign shows a team admin its members' accounts; a tenant has no other account to see.
    if account_id is not None and account_id != key.tenant_id:
        raise ApiError(404, "not_found", f"Account not found: {account_id}")


async def _account(gateway: Gateway, key: ApiKey) -> dict[str, Any]:
    """``AccountGetResponse``: what the gateway knows of the key's account (no e-mail, no quotas)."""
    callbacks = await gateway.subscriptions(key.tenant_id, FORMAT)
    body = {
        "account_id": key.tenant_id,
        "email_address": None,
        "callback_url": callbacks[-1].url if callbacks else None,
        "is_locked": False,
    }
    return {"account": body}


@router.get("/account", responses=dropbox_errors(404))
async def account_get(
    gateway: CurrentGateway, key: Reader, account_id: str | None = None, email_address: str | None = None
) -> dict[str, Any]:
    if email_address is not None:
        raise ApiError(404, "not_found", "Account not found: no account here has an e-mail address")
    _mine(key, account_id)
    return await _account(gateway, key)


@router.put("/account", responses=dropbox_errors(400, 404, 413))
async def account_update(
    gateway: CurrentGateway, request: Request, update: AccountUpdate, key: Editor
) -> dict[str, Any]:
    _mine(key, update.account_id)
    if update.callback_url:
        url, secret = _callback_url(update.callback_url), BASIC_KEYS.token(request)
        try:
            await gateway.check_webhook_url(url, "callback_url")
        except Refused as error:
            raise _refused(error) from None
        # The key is kept in clear, as the secret that signs the callbacks (module docstring).
        await gateway.subscribe(key.tenant_id, FORMAT, url, secret=secret, replace=True)
    elif "callback_url" in update.model_fields_set:
        await gateway.unsubscribe(key.tenant_id, FORMAT)
    return await _account(gateway, key)


class AccountVerify(BaseModel):
    """``POST /account/verify``'s body, the SDK's ``AccountVerifyRequest``."""

    email_address: str = Field(max_length=254)  # RFC 5321 4.5.3.1.3: a path is 256 octets with <>


@router.post("/account/verify", responses=dropbox_errors(400))
async def account_verify(verify: AccountVerify, key: Reader) -> dict[str, Any]:
    # Dropbox Sign answers an ``AccountVerifyResponse`` without ``account`` for an address it does not know;
    # no account here has an e-mail address (a tenant is named by its id), so none is known.
    return {}


@router.post("/account/create", responses=dropbox_errors(400))
async def account_create(key: Editor) -> None:
    raise ApiError(
        403,
        "forbidden",
        "accounts are the gateway operator's configuration (its tenants and their API keys): they cannot "
        "be created through the API; ask the operator",
    )


@router.get("/fax_line/list", responses=dropbox_errors(400, 404))
async def fax_line_list(
    gateway: CurrentGateway,
    key: Reader,
    account_id: str | None = None,
    page: int = Query(1, ge=1, le=MAX_PAGE),
    page_size: int = Query(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE),
    show_team_lines: bool = False,  # a tenant is its own team: nothing more to show
) -> dict[str, Any]:
    _mine(key, account_id)
    numbers = dropbox_lines.numbers(gateway.config, key.tenant_id)
    shown = numbers[(page - 1) * page_size : page * page_size]
    return {
        "fax_lines": [dropbox_lines.line(number, key.tenant_id) for number in shown],
        "list_info": {
            "num_pages": max(1, math.ceil(len(numbers) / page_size)),
            "num_results": len(numbers),
            "page": page,
            "page_size": page_size,
        },
    }


@router.get("/fax_line", responses=dropbox_errors(400, 404))
async def fax_line_get(gateway: CurrentGateway, key: Reader, number: str) -> dict[str, Any]:
    if number not in dropbox_lines.numbers(gateway.config, key.tenant_id):
        raise ApiError(404, "not_found", f"Fax line not found: {printable(number[:40])}")
    return {"fax_line": dropbox_lines.line(number, key.tenant_id)}


async def fax_line_refused() -> None:
    """What would buy, release, share or look up lines: refused (``dropbox_lines.REFUSAL``)."""
    raise ApiError(403, "forbidden", dropbox_lines.REFUSAL)


# The SDK's other FaxLineApi calls, each behind the scope it would need (a key without it gets that 403).
for _method, _path, _scope in (
    ("POST", "/fax_line/create", "edit"),
    ("DELETE", "/fax_line", "edit"),
    ("PUT", "/fax_line/add_user", "edit"),
    ("PUT", "/fax_line/remove_user", "edit"),
    ("GET", "/fax_line/area_codes", "read"),
):
    router.add_api_route(
        _path,
        fax_line_refused,
        methods=[_method],
        name=f"fax_line_refused_{_method}_{_path}",
        dependencies=[Depends(BASIC_KEYS.scope(_scope))],
        responses=dropbox_errors(),
    )


def _webhooks(gateway: Gateway) -> Renderer:
    async def callback_fax(fax: FaxRecord) -> dict[str, Any]:
        # No request to take the host from: the configured public address.
        files = router.url_path_for("dropbox_fax_files", fax_id=fax.id)
        return await fax_object(gateway, fax, f"{gateway.config.base_url}{files}")

    return dropbox_callbacks.renderer(callback_fax, status_code)


DIALECT = Dialect("dropbox", router, BASIC_KEYS, error_response, Webhooks(FORMAT, _webhooks))
