"""The API's error boundary: every failure reaches the client as ``{"error": code, "description": text}``.

That body is the seed's ``Error`` schema (Fax.Plus, "Send a fax": ``additionalProperties: false``), so a
client written against the provider reads our errors unchanged. ``error`` is a stable code to branch on;
``description`` is for the human reading the log and names the field and the problem.

Request errors never use the ``failed_`` prefix: in the seed that prefix marks how a *fax* ended
(``failed_invalid_number_format``, ``failed_mimetype_not_supported``), and a client that switches on fax
statuses must not mistake "your request was refused" for "your fax failed". Where the seed has a request
code we use it as is (``too_many_files``, ``too_many_destinations``); otherwise the fax status minus its
prefix (``invalid_number_format``, ``mimetype_not_supported``) or the HTTP meaning (``not_found``).
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

log = logging.getLogger("gateway.api")

#: A description lists at most this many problems: enough to fix a request in one go, bounded for 4000 bad
#: numbers.
MAX_PROBLEMS = 5
#: Client input quoted in a description is cut to this many characters.
MAX_QUOTED_CHARS = 40


class ApiErrorCode(enum.StrEnum):
    """The ``error`` values the API answers with. See ``STATUS`` for the HTTP status of each."""

    #: The body or a parameter is not what the endpoint takes (generic validation, malformed JSON).
    INVALID_REQUEST = "invalid_request"
    #: A fax number (``to`` or the ``from`` pool) does not match the seed's E.164 pattern.
    INVALID_NUMBER_FORMAT = "invalid_number_format"
    #: Seed: "400 Bad Request with an error code of too_many_files when more than 10 files are provided".
    TOO_MANY_FILES = "too_many_files"
    #: Seed: "... too_many_destinations when the to list contains more than 4000 destinations".
    TOO_MANY_DESTINATIONS = "too_many_destinations"
    UNAUTHORIZED = "unauthorized"
    #: Authenticated, but the token lacks the scope the endpoint needs.
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    #: The resource is in a state that forbids the request (cancelling a fax that was already sent).
    CONFLICT = "conflict"
    #: Seed: "413 Payload Too Large when the total size of all files in a fax exceeds 150 MB".
    PAYLOAD_TOO_LARGE = "payload_too_large"
    #: A file we cannot fax, or a request body that is not JSON (seed wording: failed_mimetype_not_supported).
    MIMETYPE_NOT_SUPPORTED = "mimetype_not_supported"
    #: Only ever from the catch-all handler: the seed's example for its ServerError response.
    INTERNAL_SERVER_ERROR = "internal_server_error"


STATUS: Mapping[ApiErrorCode, int] = {
    ApiErrorCode.INVALID_REQUEST: 400,
    ApiErrorCode.INVALID_NUMBER_FORMAT: 400,
    ApiErrorCode.TOO_MANY_FILES: 400,
    ApiErrorCode.TOO_MANY_DESTINATIONS: 400,
    ApiErrorCode.UNAUTHORIZED: 401,
    ApiErrorCode.FORBIDDEN: 403,
    ApiErrorCode.NOT_FOUND: 404,
    ApiErrorCode.METHOD_NOT_ALLOWED: 405,
    ApiErrorCode.CONFLICT: 409,
    ApiErrorCode.PAYLOAD_TOO_LARGE: 413,
    ApiErrorCode.MIMETYPE_NOT_SUPPORTED: 415,
    ApiErrorCode.INTERNAL_SERVER_ERROR: 500,
}

#: When a request has several problems, the code is that of the most specific one: the seed's limit codes
#: first (splitting the request is the fix, whatever else is wrong), then bad numbers, then the rest.
_PRECEDENCE = (
    ApiErrorCode.TOO_MANY_FILES,
    ApiErrorCode.TOO_MANY_DESTINATIONS,
    ApiErrorCode.INVALID_NUMBER_FORMAT,
)
#: Validation error types (pydantic's, or the ones models.py raises) whose wording we replace.
#: Starlette's body limit (``max_body_size``) raises a 413 with this detail.
_BODY_LIMIT = "Content Too Large"
_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "required",
}


class ApiError(Exception):
    """An error meant for the client: raise it anywhere below a route and ``install_error_handlers`` answers.

    ``code`` is usually an ``ApiErrorCode``; dialects may pass their own strings. ``where`` names the part
    of the request at fault (``("media_url",)``, ``("filter", "created_at")``), for the dialects whose error
    says it apart from the text (Telnyx's ``source.pointer``, Dropbox's ``error_path``).
    """

    def __init__(
        self,
        status: int,
        code: str,
        description: str,
        headers: Mapping[str, str] | None = None,
        *,
        where: Sequence[str] = (),
    ) -> None:
        super().__init__(status, code, description)
        self.status = status
        self.code = str(code)
        self.description = description
        self.headers = dict(headers or {})
        self.where = tuple(where)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.description}"

    def to_response(self) -> JSONResponse:
        # Descriptions quote client input, and JSON may carry lone surrogates ("\\ud800"): echoed raw they
        # would make the error response itself fail to encode.
        return JSONResponse(
            {"error": printable(self.code), "description": printable(self.description)},
            status_code=self.status,
            headers=self.headers or None,
        )

    @classmethod
    def of(cls, code: ApiErrorCode, description: str, headers: Mapping[str, str] | None = None) -> ApiError:
        return cls(STATUS[code], code, description, headers)

    @classmethod
    def invalid_request(cls, description: str) -> ApiError:
        return cls.of(ApiErrorCode.INVALID_REQUEST, description)

    @classmethod
    def invalid_number_format(cls, field: str, value: str) -> ApiError:
        return cls.of(
            ApiErrorCode.INVALID_NUMBER_FORMAT, f"{field}: {quote(value)} is not an E.164 fax number"
        )

    @classmethod
    def too_many_files(cls, count: int, limit: int) -> ApiError:
        return cls.of(ApiErrorCode.TOO_MANY_FILES, f"files: {count} files, at most {limit} per fax")

    @classmethod
    def too_many_destinations(cls, count: int, limit: int) -> ApiError:
        return cls.of(
            ApiErrorCode.TOO_MANY_DESTINATIONS,
            f"to: {count} destinations, at most {limit} per request; split them into several faxes",
        )

    @classmethod
    def payload_too_large(cls, size: int | None, limit: int) -> ApiError:
        what = "the files" if size is None else f"{size} bytes of files"
        return cls.of(ApiErrorCode.PAYLOAD_TOO_LARGE, f"{what} exceed the {limit} bytes a fax may carry")

    @classmethod
    def unsupported_media_type(cls, description: str) -> ApiError:
        return cls.of(ApiErrorCode.MIMETYPE_NOT_SUPPORTED, description)

    @classmethod
    def unauthorized(
        cls, description: str = "missing or invalid access token", *, challenge: str = "Bearer"
    ) -> ApiError:
        # RFC 9110 11.6.1 (RFC 6750 3 for bearer tokens): a 401 names the scheme the client should use.
        return cls.of(ApiErrorCode.UNAUTHORIZED, description, {"WWW-Authenticate": challenge})

    @classmethod
    def forbidden(cls, scope: str, *, challenge: str = "Bearer") -> ApiError:
        # RFC 6750 3.1: a bearer token gets insufficient_scope, with the scope that would do.
        headers = {"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'}
        return cls.of(
            ApiErrorCode.FORBIDDEN,
            f"the access token lacks the scope {scope}",
            headers if challenge == "Bearer" else None,
        )

    @classmethod
    def not_found(cls, what: str, identifier: str) -> ApiError:
        return cls.of(ApiErrorCode.NOT_FOUND, f"no {what} with id {quote(identifier)}")

    @classmethod
    def conflict(cls, description: str) -> ApiError:
        return cls.of(ApiErrorCode.CONFLICT, description)

    @classmethod
    def internal_server_error(cls) -> ApiError:
        return cls.of(
            ApiErrorCode.INTERNAL_SERVER_ERROR,
            "an unexpected error happened; the gateway's log has the details",
        )


class ErrorBody(BaseModel):
    """The body of every error of the native API and Fax.Plus: the seed's ``Error``."""

    model_config = ConfigDict(extra="forbid", title="Error")

    error: str
    description: str


def error_responses(model: type[BaseModel], *statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for a route: each of ``statuses`` answered with ``model``, a dialect's error."""
    return {status: {"model": model, "description": HTTPStatus(status).phrase} for status in statuses}


def content(status: int, *media_types: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for a route that answers ``status`` with a body of one of ``media_types``
    (a download: a PDF, an image, an event stream)."""
    return {status: {"content": {media_type: {} for media_type in media_types}}}


def native_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` of a route in the native shape (native, Fax.Plus): 401 and 403 (every route
    needs a key with a scope) and ``statuses``."""
    return error_responses(ErrorBody, 401, 403, *statuses)


def quote(value: Any) -> str:
    """Client input fit to put in a description: quoted, and cut short."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > MAX_QUOTED_CHARS:
        text = text[:MAX_QUOTED_CHARS] + "..."
    return repr(text) if isinstance(value, str) else text


def printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def field_name(loc: Sequence[str | int]) -> str:
    """``("body", "to", 3)`` -> ``to[3]``; ``("query", "limit")`` -> ``limit (query)``."""
    where, *path = loc or ("body",)
    if where not in ("body", "query", "path", "header", "cookie"):
        where, path = "body", list(loc)
    name = ""
    for part in path:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += ("." if name else "") + str(part)[:MAX_QUOTED_CHARS]
    if where == "body":
        return name or "request body"
    return f"{name} ({where})"


def first_location(errors: Sequence[Mapping[str, Any]]) -> list[str]:
    """Where the first problem is, without its ``body``/``query`` part: ``["options", "retry"]``, ``[]``.
    For the dialects that name one field in their error (Telnyx's pointer, Dropbox's ``error_path``)."""
    loc = tuple(errors[0].get("loc", ())) if errors else ()
    return [str(part) for part in loc[1:] if part is not None]


def from_validation_errors(errors: Sequence[Mapping[str, Any]]) -> ApiError:
    """One ``ApiError`` for a list of pydantic/FastAPI validation errors (``exc.errors()``).

    The code is the most specific one among the errors (see ``_PRECEDENCE``); models.py raises errors whose
    ``type`` is an ``ApiErrorCode`` value to choose it. The description lists the problems, field first.
    """
    if any(_not_json(error) for error in errors):
        # FastAPI hands a body that is not declared JSON to the model as bytes: the Content-Type was wrong.
        return ApiError.unsupported_media_type(
            "the request body must be JSON (Content-Type: application/json)"
        )
    codes = [_code_of(error) for error in errors]
    code = next((wanted for wanted in _PRECEDENCE if wanted in codes), ApiErrorCode.INVALID_REQUEST)
    # The error that chose the code comes first in the description.
    ordered = sorted(zip(codes, errors, strict=True), key=lambda pair: pair[0] != code)
    problems = [_describe(error) for _, error in ordered[:MAX_PROBLEMS]]
    if len(errors) > MAX_PROBLEMS:
        problems.append(f"and {len(errors) - MAX_PROBLEMS} more")
    return ApiError.of(code, "; ".join(problems) or "invalid request")


def _code_of(error: Mapping[str, Any]) -> ApiErrorCode:
    try:
        return ApiErrorCode(error.get("type", ""))
    except ValueError:
        return ApiErrorCode.INVALID_REQUEST


def _not_json(error: Mapping[str, Any]) -> bool:
    return tuple(error.get("loc", ())) == ("body",) and isinstance(error.get("input"), bytes | bytearray)


def _describe(error: Mapping[str, Any]) -> str:
    kind = error.get("type", "")
    loc = tuple(error.get("loc", ()))
    if kind == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "malformed")
        # gateway.api.inputs names no character for a problem of the whole value (too deep, a lone surrogate).
        where = f" at character {loc[1]}" if len(loc) > 1 and loc[1] is not None else ""
        return f"request body is not valid JSON: {reason}{where}"
    if kind == "missing" and loc == ("body",):
        return "request body is required"
    message = _MESSAGES.get(kind) or str(error.get("msg", "invalid"))
    # pydantic prefixes the text of a plain ValueError; the field name says enough.
    message = message.removeprefix("Value error, ")
    return f"{field_name(loc)}: {message}"


def http_error(request: Request, exc: StarletteHTTPException) -> ApiError:
    """Starlette's own HTTP errors (unknown path, wrong method, body limit) and HTTPExceptions from routes."""
    status = exc.status_code
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    # A detail that only repeats the status phrase (Starlette's default) says nothing we cannot say better.
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail not in (phrase, _BODY_LIMIT) else None
    headers = dict(exc.headers or {})
    route = f"{request.method} {request.url.path}"
    if status == 404 and detail is None and "endpoint" not in request.scope:
        detail = f"no such endpoint: {route}"  # the router matched nothing
    elif status == 405:
        # RFC 9110 15.5.6: Allow lists the methods of the resource. Starlette names those of the one route
        # it matched, and GET and DELETE of /v1/faxes/{fax_id} are two routes.
        headers["Allow"] = ", ".join(_methods_at(request)) or headers.get("Allow", "")
        detail = detail or f"{route} is not allowed; allowed: {headers['Allow'] or 'none'}"
    elif status == 413 and detail is None:
        detail = "the request body is too large"
    description = detail or phrase.lower()
    try:
        code: str = next(code for code, code_status in STATUS.items() if code_status == status)
    except StopIteration:
        code = re.sub(r"[^a-z0-9]+", "_", phrase.lower()).strip("_")  # 429 -> too_many_requests
    return ApiError(status, code, description, headers)


def _methods_at(request: Request) -> list[str]:
    """The methods the app's OpenAPI document gives the requested path: from the document, not the router,
    as FastAPI keeps included routers' routes out of reach. Where several paths match (``/v3/fax/list``
    and ``/v3/fax/{fax_id}``), the one with fewest parameters names the resource."""
    matches: dict[int, set[str]] = {}
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern, _, convertors = compile_path(template)
        if pattern.fullmatch(request.url.path):
            matches.setdefault(len(convertors), set()).update(method.upper() for method in operations)
    return sorted(matches[min(matches)]) if matches else []


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return exc.to_response()


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return from_validation_errors(exc.errors()).to_response()


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return http_error(request, exc).to_response()


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Middleware sits outside the handlers above: what it raises on purpose still gets its own answer.
    if isinstance(exc, ApiError):
        return exc.to_response()
    if isinstance(exc, StarletteHTTPException):
        return http_error(request, exc).to_response()
    # The traceback goes to our log only. Starlette re-raises afterwards so the server may log it too.
    log.exception("unhandled error in %s %s", request.method, request.url.path)
    return ApiError.internal_server_error().to_response()


def install_error_handlers(app: FastAPI) -> None:
    """Make every error ``app`` can answer with an ``{"error", "description"}`` JSON body.

    Refuses an app in debug mode: Starlette would answer its 500s with a traceback page.
    """
    if app.debug:
        raise ValueError("debug mode sends tracebacks to clients; the API never runs with debug=True")
    _document_errors(app)
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    # Exception goes to ServerErrorMiddleware, which sits outside every middleware: nothing escapes it.
    app.add_exception_handler(Exception, _on_unexpected)


#: What FastAPI documents for every route that validates a parameter or a body, whatever it really answers.
_FASTAPI_422 = "#/components/schemas/HTTPValidationError"


def _document_errors(app: FastAPI) -> None:
    """Make ``app``'s OpenAPI say what the handlers above answer: a route's errors are the ones it declares
    (``error_responses``), not the 422 that FastAPI adds to each: a request that fails validation gets a
    400 here (Telnyx's routes, which answer 422, declare theirs)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()  # FastAPI keeps it in app.openapi_schema: changed in place
        for operation in (op for path in schema.get("paths", {}).values() for op in path.values()):
            responses = operation.get("responses", {})
            content = responses.get("422", {}).get("content", {}).get("application/json", {})
            if content.get("schema", {}).get("$ref") == _FASTAPI_422:
                del responses["422"]
        if _FASTAPI_422 not in str(schema.get("paths")):
            for name in ("HTTPValidationError", "ValidationError"):
                schema.get("components", {}).get("schemas", {}).pop(name, None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
