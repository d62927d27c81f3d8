"""Telnyx's error shape (the seed's ``Errors``): ``{"errors": [{"code", "title", "detail", "source":
{"pointer"}}]}``, and the one router of the Telnyx dialect whose every route answers in it (``telnyx``'s
faxes, ``telnyx_media``'s Media Storage), the key check's 401 and 403 included; and the readers of
request fields that answer in it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from faxgw.gateway.api.auth import BEARER_KEYS
from faxgw.gateway.api.dialect import error_route
from faxgw.gateway.api.errors import (
    ApiError,
    ApiErrorCode,
    error_responses,
    first_location,
    from_validation_errors,
    printable,
)
from faxgw.gateway.api.inputs import loads
from pydantic import BaseModel, ConfigDict

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


def invalid(problems: Sequence[Mapping[str, Any]]) -> ApiError:
    """Request validation (a query parameter out of range, a JSON body too deep): 422, with the parameter."""
    description = from_validation_errors(problems).description
    return ApiError(422, "422", description, where=first_location(problems))


#: Every route of the Telnyx dialect (``/v2``): a key needed, its errors in Telnyx's shape. One router, not
#: one per module included in another: a dialect's paths are read from its router's own routes
#: (``Dialect.prefixes``, ``telnyx.elsewhere``).
router = APIRouter(
    prefix="/v2",
    tags=["telnyx"],
    route_class=error_route(error_response, invalid),
    dependencies=BEARER_KEYS.security(),
)


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


def telnyx_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` of a Telnyx route: 401, 403 and ``statuses``, all in Telnyx's shape."""
    return error_responses(TelnyxErrors, 401, 403, *statuses)


def too_large(field: str, limit: int) -> ApiError:
    """A document over the seed's limit: 422 ``file_size_limit_exceeded``."""
    return telnyx_error(
        f"The file of '{field}' is larger than {limit // (1024 * 1024)} MB ({limit} bytes).",
        pointer=f"/{field}",
        code="file_size_limit_exceeded",
    )


async def json_object(request: Request) -> dict[str, Any]:
    """The request's JSON body, an object; 422 otherwise."""
    try:
        body = loads(await request.body())
    except json.JSONDecodeError as error:
        raise telnyx_error(f"The request body is not valid JSON: {error.msg}.") from None
    if not isinstance(body, dict):
        raise telnyx_error("The request body must be a JSON object.")
    return body


def string(body: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    """The body's string field ``name`` (None if absent or empty); 422 if required and absent, or not a
    string."""
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise telnyx_error(f"The '{name}' parameter is required.", pointer=f"/{name}")
        return None
    if not isinstance(value, str):
        raise telnyx_error(f"The '{name}' parameter must be a string.", pointer=f"/{name}")
    return value
