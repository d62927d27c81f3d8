"""Who is calling: the API key a request carries, checked one way for the native API and every dialect.

A key travels as a bearer token (native, Fax.Plus, Telnyx: RFC 6750 2.1) or, Dropbox Sign's way, as the
basic-auth user name with no password (RFC 7617 2). A dialect's ``Keys`` says which it reads; its
``scope(...)`` is the FastAPI dependency a route declares. A missing or unknown key raises
``ApiError.unauthorized`` and a key without the scope ``ApiError.forbidden``: the dialect's error mapping
(``gateway.api.dialect``) words both in its own shape, as it words every other error of its routes.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security, params
from fastapi.security import HTTPBasic, HTTPBearer
from faxgw.gateway.api.errors import ApiError
from faxgw.gateway.service import ApiKey, Gateway


class _BearerKey(HTTPBearer):
    """Bearer authentication as OpenAPI shows it; ``Keys`` reads and checks the header itself, so that a
    missing or bad key gets the dialect's own 401, not FastAPI's."""

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


class _BasicKey(HTTPBasic):
    """Basic authentication as OpenAPI shows it (read by ``Keys`` as well)."""

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


BEARER = _BearerKey(
    scheme_name="bearer",
    auto_error=False,
    description="An API key of the gateway: `Authorization: Bearer <key>`",
)
BASIC = _BasicKey(
    scheme_name="basic",
    auto_error=False,
    description="Dropbox Sign's way: the API key as user name, no password",
)


#: Where a request keeps the keys it was found to carry (token -> key), in its ASGI scope's state.
_KEYS = "faxgw.api_keys"


def gateway_of(request: Request) -> Gateway:
    """The gateway the app serves (``create_app`` keeps it in ``app.state``)."""
    return request.app.state.gateway


def bearer_token(request: Request) -> str:
    """The token of ``Authorization: Bearer <token>``; "" if there is none."""
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def basic_or_bearer_token(request: Request) -> str:
    """The basic-auth user name (Dropbox Sign's way) or the bearer token; "" if neither."""
    scheme, _, credentials = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "basic":
        return bearer_token(request)
    try:
        return base64.b64decode(credentials.strip(), validate=True).decode().partition(":")[0]
    except (binascii.Error, UnicodeDecodeError):
        return ""


@dataclass(frozen=True)
class Keys:
    """How a dialect's requests carry their key."""

    token: Callable[[Request], str]
    #: The ``WWW-Authenticate`` challenge of a 401 (RFC 9110 11.6.1): the scheme the client should use.
    challenge: str
    #: The schemes OpenAPI shows on the dialect's operations (either one will do).
    schemes: tuple[HTTPBearer | HTTPBasic, ...]

    async def key(self, request: Request) -> ApiKey:
        """The request's key, which must exist; raises the 401 otherwise. Looked up once per request: the
        body's bound (``gateway.api.limits``) and the route both ask."""
        token = self.token(request)
        known: dict[str, ApiKey] = request.scope.setdefault("state", {}).setdefault(_KEYS, {})
        key = known.get(token)
        if key is None and token:
            key = await gateway_of(request).authenticate(token)
        if key is None:
            raise ApiError.unauthorized(challenge=self.challenge)
        known[token] = key
        return key

    def scope(self, scope: str) -> Callable[[Request], Awaitable[ApiKey]]:
        """A dependency: the request's key, which must exist and carry ``scope`` (403 otherwise)."""

        async def authorized(request: Request) -> ApiKey:
            key = await self.key(request)
            if scope not in key.scopes:
                raise ApiError.forbidden(scope, challenge=self.challenge)
            return key

        return authorized

    def security(self) -> list[params.Depends]:
        """The router-level dependencies that put the schemes into OpenAPI."""
        return [Security(scheme) for scheme in self.schemes]


BEARER_KEYS = Keys(bearer_token, "Bearer", (BEARER,))
BASIC_KEYS = Keys(basic_or_bearer_token, "Basic", (BASIC, BEARER))

# A route's bearer key with a scope, as its signature names it (``key: Reader``).
Reader = Annotated[ApiKey, Depends(BEARER_KEYS.scope("read"))]
Editor = Annotated[ApiKey, Depends(BEARER_KEYS.scope("edit"))]
