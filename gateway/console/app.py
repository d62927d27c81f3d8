"""The console as an ASGI app of its own, mounted at /console/ on the API's app (``gateway.console``).

Pages are static HTML shipped in the package (``static/``): they load ``console.js``, which asks the JSON
routes under ``api/`` for what to show and builds the DOM with ``textContent`` (nothing the gateway stores is
ever parsed as HTML). Those routes call the native API's own functions (``gateway.api.native``) with the
session's key, so the console shows exactly what ``/v1`` answers and is refused what ``/v1`` refuses: a
read-only key can look but not send. Every response carries a Content-Security-Policy that allows no inline
script and no framing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import secrets
from importlib import resources
from typing import Annotated, Literal
from urllib.parse import urlsplit

import pydantic
from fastapi import APIRouter, Depends, FastAPI, Form, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse
from faxgw.gateway.api import native
from faxgw.gateway.api.errors import ApiError, ApiErrorCode
from faxgw.gateway.api.models import MAX_TOTAL_UPLOAD_BYTES, SendFaxRequest
from faxgw.gateway.api.requests import save_upload, submit_request
from faxgw.gateway.config import Config
from faxgw.gateway.console.session import COOKIE, SECRET_FILE, Session, Sessions, SignInLimit
from faxgw.gateway.console.session import load_or_create_secret as load_secret
from faxgw.gateway.consoleconfig import check_password, hash_password
from faxgw.gateway.service import ApiKey, Gateway
from starlette.datastructures import UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: What a page may load: its own scripts, styles and images, nothing inline, never inside a frame.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),  # frame-ancestors for browsers that predate CSP 2
]
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html; charset=utf-8"}
#: The files under static/ that are served; any other name is a 404 (never a path joined from the URL).
STATIC_FILES = ("console.js", "console.css")
MAX_COVER_TEXT = 4000
#: What a sign-in as an unknown user is checked against, so that it takes as long as a wrong password.
UNKNOWN_USER = hash_password(secrets.token_urlsafe(16))


def _static(name: str) -> bytes:
    return resources.files("faxgw.gateway.console").joinpath("static", name).read_bytes()


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every response of the console (and ``no-store`` to all but its assets)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cached = scope["path"].endswith(STATIC_FILES)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", [])) + SECURITY_HEADERS
                if not cached:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


@dataclasses.dataclass
class Console:
    """What the console's routes share: the gateway, its sessions and the bound on failed sign-ins."""

    gateway: Gateway
    sessions: Sessions
    limit: SignInLimit
    lifetime: float

    def session_of(self, request: Request) -> Session | None:
        return self.sessions.read(request.cookies.get(COOKIE))

    def editable(self, request: Request, session: Session, token: str | None) -> None:
        """A state-changing request: from our origin, with the session's CSRF token."""
        same_origin(request)
        if not self.sessions.csrf_ok(session, token):
            raise ApiError.of(ApiErrorCode.FORBIDDEN, "missing or wrong CSRF token; reload the page")


def console_of(request: Request) -> Console:
    return request.app.state.console


def signed_in(request: Request) -> Session:
    session = console_of(request).session_of(request)
    if session is None:
        raise ApiError.of(ApiErrorCode.UNAUTHORIZED, "not signed in; sign in again")
    return session


def same_origin(request: Request) -> None:
    """A form or script of ours: browsers name the page's origin on every POST (Fetch standard); a POST
    that names another is refused (no cross-site sign-in or send, whatever the cookie's SameSite)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
        raise ApiError.of(ApiErrorCode.FORBIDDEN, "cross-site request refused")


Current = Annotated[Console, Depends(console_of)]
Signed = Annotated[Session, Depends(signed_in)]
router = APIRouter(include_in_schema=False)


def _page(name: str) -> Response:
    return Response(_static(name), media_type=STATIC_TYPES[".html"])


@router.get("/static/{name}")
async def static(name: str) -> Response:
    if name not in STATIC_FILES:
        raise ApiError.not_found("file", name)
    return Response(_static(name), media_type=STATIC_TYPES["." + name.rpartition(".")[2]])


@router.get("/sign-in")
async def sign_in_page() -> Response:
    return _page("sign-in.html")


@router.post("/sign-in")
async def sign_in(
    console: Current,
    request: Request,
    key: Annotated[str, Form(max_length=512)] = "",
    tenant: Annotated[str, Form(max_length=128)] = "",
    user: Annotated[str, Form(max_length=128)] = "",
    password: Annotated[str, Form(max_length=512)] = "",
) -> Response:
    """With an API key of the tenant, or as a user of the tenant (``[[tenants]] users``)."""
    same_origin(request)
    client = _client(request)
    if console.limit.blocked(client):
        return RedirectResponse("/console/sign-in?error=wait", status_code=303)
    if user:
        api_key = await asyncio.to_thread(_user_key, console.gateway.config, tenant, user, password)
    else:
        api_key = await console.gateway.authenticate(key.strip()) if key.strip() else None
    if api_key is None:
        console.limit.failed(client)
        return RedirectResponse("/console/sign-in?error=key", status_code=303)
    _, cookie = console.sessions.new(api_key)
    # Always to the inbox: a sign-in never redirects to a place the request names (no open redirect).
    response = RedirectResponse("/console/", status_code=303)
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=int(console.lifetime),
        path="/console/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/sign-out")
async def sign_out(
    console: Current, request: Request, csrf: Annotated[str, Form(max_length=128)] = ""
) -> Response:
    session = console.session_of(request)
    if session is not None:
        console.editable(request, session, csrf)
        console.sessions.sign_out(session)
    response = RedirectResponse("/console/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path="/console/")
    return response


@router.get("/api/session")
async def whoami(console: Current, session: Signed) -> dict:
    config = console.gateway.config
    return {
        "tenant": session.tenant_id,
        "can_send": "edit" in session.scopes,
        "csrf": console.sessions.csrf(session),
        "numbers": [n.number for n in config.numbers if config.owner(n.number) == session.tenant_id],
        "expires": session.expires,
    }


@router.get("/api/faxes")
async def faxes(console: Current, session: Signed, direction: Literal["inbound", "outbound"]) -> Response:
    listed = await native.list_faxes(console.gateway, session.key, direction, None, 50, 0)
    return JSONResponse(listed.model_dump(mode="json", by_alias=True))


@router.get("/api/faxes/{fax_id}")
async def fax(console: Current, session: Signed, fax_id: str) -> Response:
    found = await native.get_fax(console.gateway, session.key, fax_id)
    return JSONResponse(found.model_dump(mode="json", by_alias=True))


@router.get("/api/faxes/{fax_id}/attempts/{number}/diagnostics")
async def diagnostics(console: Current, session: Signed, fax_id: str, number: int) -> Response:
    found = await native.diagnostics(console.gateway, session.key, fax_id, number)
    return JSONResponse(found.model_dump(mode="json"))


@router.get("/api/faxes/{fax_id}/pages/{number}")
async def page_image(console: Current, session: Signed, fax_id: str, number: int) -> Response:
    return await native.page(console.gateway, session.key, fax_id, number)


@router.get("/api/faxes/{fax_id}/events")
async def events(
    console: Current,
    session: Signed,
    fax_id: str,
    request: Request,
    last_event_id: Annotated[str | None, Header(max_length=128)] = None,
) -> StreamingResponse:
    """The native API's event stream of the fax, for the browser's EventSource (which sends the cookie)."""
    return await native.events(console.gateway, session.key, fax_id, request, last_event_id)


@router.get("/api/status")
async def status(console: Current, session: Signed) -> dict:
    """The trunks (up or down, each host's qualify time), the tenant's own devices (registered or not) and
    how many calls are up. Other tenants' devices and calls are not the tenant's to see."""
    config = console.gateway.config
    engine = await console.gateway.engine_status()
    mine = {device.username for device in config.devices if config.device_tenant(device) == session.tenant_id}
    return {
        "trunks": [dataclasses.asdict(trunk) for trunk in engine.trunks],
        "devices": [dataclasses.asdict(device) for device in engine.devices if device.username in mine],
        "calls": len(engine.calls),
        "note": engine.note,
    }


@router.post("/api/faxes", status_code=201)
async def send(
    console: Current, request: Request, session: Signed, x_csrf_token: Annotated[str | None, Header()] = None
) -> dict:
    # Checked before a byte of the upload is read: the form is parsed here, not by FastAPI before the route.
    console.editable(request, session, x_csrf_token)
    if "edit" not in session.scopes:
        raise ApiError.of(ApiErrorCode.FORBIDDEN, "this key may view faxes, not send them")
    async with request.form(max_files=1, max_fields=8, max_part_size=64 * 1024) as form:
        upload = form.get("file")
        fields = {name: value for name, value in form.items() if isinstance(value, str)}
        if not isinstance(upload, UploadFile):
            raise ApiError.of(ApiErrorCode.INVALID_REQUEST, "file: choose a document to fax")
        data = await upload.read(MAX_TOTAL_UPLOAD_BYTES + 1)
        name = upload.filename
    body = _send_request(fields, session.tenant_id)
    gateway = console.gateway
    record = await save_upload(gateway, session.tenant_id, name, data)
    faxes = await submit_request(gateway, session.tenant_id, body.model_copy(update={"files": [record.id]}))
    return {"ids": [fax.id for fax in faxes]}


@router.get("/")
@router.get("/outbox")
@router.get("/send")
@router.get("/fax")
@router.get("/status")
async def view(console: Current, request: Request) -> Response:
    """A view of the console (console.js picks which by the path); the sign-in page without a session."""
    if console.session_of(request) is None:
        return RedirectResponse("/console/sign-in", status_code=303)
    return _page("console.html")


def create_console(gateway: Gateway) -> FastAPI:
    config = gateway.config.console
    secret = config.secret.encode() if config.secret else load_secret(gateway.config.data_dir / SECRET_FILE)
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.console = Console(
        gateway,
        Sessions(secret, config.session_lifetime),
        SignInLimit(config.max_failed_sign_ins, config.sign_in_window),
        config.session_lifetime,
    )
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _bad_request)  # type: ignore[arg-type]
    app.include_router(router)
    return app


async def _api_error(request: Request, error: ApiError) -> Response:
    return error.to_response()


async def _bad_request(request: Request, error: RequestValidationError) -> Response:
    return ApiError.of(ApiErrorCode.INVALID_REQUEST, "the request is not what this route takes").to_response()


def _send_request(fields: dict[str, str], tenant: str) -> SendFaxRequest:
    """The send form as the native API's request (its checks are the API's own)."""
    to = [number.strip() for number in fields.get("to", "").replace(",", "\n").splitlines() if number.strip()]
    request: dict = {"from": fields.get("from", ""), "to": to, "files": ["pending"]}
    message = fields.get("cover", "").strip()
    if message:
        request["cover_page"] = {
            "name_to": ", ".join(to)[:60] or "-",
            "name_from": tenant,
            "subject": fields.get("subject", "").strip() or "Fax",
            "message": message[:MAX_COVER_TEXT],
        }
    try:
        return SendFaxRequest.model_validate(request)
    except pydantic.ValidationError as error:
        where = ", ".join(".".join(str(p) for p in e["loc"]) + ": " + e["msg"] for e in error.errors())
        raise ApiError.of(ApiErrorCode.INVALID_REQUEST, where) from None


def _user_key(config: Config, tenant_id: str, user: str, password: str) -> ApiKey | None:
    """The session key of a user of the tenant whose password matches (a user may view and send); None
    otherwise. An unknown tenant or user costs the same hash as a wrong password: the time tells nothing."""
    tenant = next((t for t in config.tenants if t.id == tenant_id), None)
    hashed = tenant.users.get(user) if tenant is not None else None
    if not check_password(password, hashed or UNKNOWN_USER) or hashed is None:
        return None
    return ApiKey(f"user:{user}", tenant_id, frozenset({"read", "edit"}), 0.0)


def _client(request: Request) -> str:
    """The client's address, by /64 for IPv6 (one host holds a whole /64)."""
    host = request.client.host if request.client else "?"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    return str(ipaddress.ip_network(f"{address}/64", strict=False)) if address.version == 6 else host
