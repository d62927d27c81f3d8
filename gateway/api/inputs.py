"""Client input the API parses itself, parsed so that no value can make it fail: JSON bodies, integers
written as text, and the bounds of paging parameters.

* ``loads`` reads every JSON request body: the routes that FastAPI reads (``JsonRoute``) and the ones the
  dialects read by hand (Telnyx's ``POST /v2/faxes``, Dropbox's ``/v3/fax/send`` and its ``file_urls``).
  Python's ``json.loads`` takes what RFC 8259 does not (lone surrogates, ``NaN``) and fails with other
  exceptions than ``JSONDecodeError`` (``RecursionError`` on deep nesting, ``ValueError`` on a 5,000-digit
  number, ``UnicodeDecodeError``): each of these became a 500. Here every one is a ``JsonBodyError``, a
  ``JSONDecodeError``, which FastAPI and the dialects already answer as malformed JSON.
* ``decimal`` reads an integer written as text: ASCII digits only (``"²".isdigit()`` is true, and
  ``int("²")`` raises).
* ``url_problem`` says what is wrong with a URL a client gives (``urllib.parse`` raises ValueError on
  ``http://[::1``, ``http://a:b/``, ...), by the rules of ``gateway.netpolicy``, which connects to it.
* ``MAX_OFFSET`` and ``MAX_PAGE`` bound paging parameters: SQLite's integers have 64 bits, and an offset
  past them raised ``OverflowError`` in the store.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
from fastapi import Request, Response
from fastapi.routing import APIRoute
from faxgw.gateway import netpolicy

#: Nesting a request body may have (a send request needs 3: body, options, retry). Deeper than this is an
#: attack on whatever walks the value next, and Python's decoder itself stops near 1,000 with RecursionError.
MAX_DEPTH = 32
#: The highest ``offset`` of a listing: far more faxes than a gateway keeps, and far inside 64-bit integers.
MAX_OFFSET = 10**9
#: The highest page number (page sizes are at most 500, so (page - 1) * size stays within MAX_OFFSET's range).
MAX_PAGE = 10**6
#: ``decimal`` takes at most this many digits (an int64 has 19).
MAX_DIGITS = 18

_DIGITS = re.compile(rf"[0-9]{{1,{MAX_DIGITS}}}")


class JsonBodyError(json.JSONDecodeError):
    """A body that is not JSON the API takes. A ``JSONDecodeError`` so that everything that answers
    malformed JSON answers this too; ``pos`` is None where no one character is to blame."""

    def __init__(self, reason: str, pos: int | None = None) -> None:
        ValueError.__init__(self, reason)
        self.msg, self.doc, self.pos = reason, "", pos  # type: ignore[assignment]
        self.lineno = self.colno = None  # type: ignore[assignment]


def _constant(name: str) -> float:
    raise JsonBodyError(f"{name} is not a JSON value (RFC 8259 6)")


def loads(raw: bytes | str) -> Any:
    """``raw`` as JSON: UTF-8 (RFC 8259 8.1), at most ``MAX_DEPTH`` deep, every string Unicode text.

    Raises ``JsonBodyError`` (a ``JSONDecodeError``) for anything else.
    """
    if isinstance(raw, bytes | bytearray):
        try:
            raw = raw.decode("utf-8")  # strict: refuses UTF-8-encoded surrogates too
        except UnicodeDecodeError as error:
            raise JsonBodyError("not UTF-8", error.start) from None
    try:
        value = json.loads(raw, parse_constant=_constant)
    except JsonBodyError:
        raise
    except json.JSONDecodeError as error:
        raise JsonBodyError(error.msg, error.pos) from None
    except RecursionError:
        raise JsonBodyError(f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as error:  # a number of more digits than int() takes (sys.get_int_max_str_digits)
        raise JsonBodyError(str(error).partition(":")[0]) from None
    # A lone surrogate can only come from a \u escape (the text was strict UTF-8), and a value is at most as
    # deep as the brackets that open in it: most bodies need no walk.
    if "\\u" in raw or raw.count("[") + raw.count("{") > MAX_DEPTH:
        _check(value)
    return value


def _check(value: Any) -> None:
    """Depth and text of a decoded value, walked without recursion (the value may be ~1,000 deep)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            lone = lone_surrogate(item)
            if lone is not None:
                raise JsonBodyError(f"a string holds a lone surrogate ({lone})")
            continue
        if isinstance(item, dict):
            children = [*item, *item.values()]
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            raise JsonBodyError(f"nested deeper than {MAX_DEPTH} levels")
        pending.extend((child, depth + 1) for child in children)


def lone_surrogate(value: str) -> str | None:
    """The first lone surrogate in ``value``, escaped (``\\ud800``), or None if ``value`` is Unicode text.

    JSON's ``\\uXXXX`` escapes can write half of a surrogate pair: not a character, and not encodable in
    UTF-8, so every later step (store, log, response) would fail on it.
    """
    if value.isascii():
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        return f"\\u{ord(value[error.start]):04x}"
    return None


def url_problem(text: str) -> str | None:
    """Why ``text`` is not an http(s) URL with a host and a real port ("is not a valid URL", "uses ftp, not
    http or https"), or None."""
    try:
        return netpolicy.url_problem(httpx.URL(text))
    except (httpx.InvalidURL, TypeError):
        return "is not a valid URL"


def decimal(text: str) -> int | None:
    """``text`` as a non-negative integer if it is 1 to ``MAX_DIGITS`` ASCII digits, else None."""
    return int(text) if _DIGITS.fullmatch(text) else None


class _JsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


class JsonRoute(APIRoute):
    """A route whose JSON body FastAPI reads with ``loads`` (FastAPI reads it with ``request.json()``)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            return await handler(_JsonRequest(request.scope, request.receive))

        return handle
