"""The messages between the gateway process and its media process, and their one wire format.

Each message is a small frozen dataclass; on the wire it is a frame: a 4-octet big-endian length, then
that many octets of UTF-8 JSON naming the message's type and its fields. Decoding checks every field
against the dataclass's type hints, so a frame is either one whole, well-typed message or an
``IpcError`` that says what is wrong with it: never a half-read call or a stray exception.
"""

from __future__ import annotations

import asyncio
import enum
import json
import struct
import types
import typing
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any

from faxgw.gateway.engines.base import (
    Bridge,
    CallResult,
    EngineStatus,
    InboundCall,
    OutboundCall,
    PageTransferred,
    Refusal,
)

#: The largest frame either side sends or takes (a message is a few hundred octets; paths are the
#: longest part, at most PATH_MAX = 4096). Anything longer is a broken peer, not a big message.
MAX_FRAME = 64 * 1024
_LENGTH = struct.Struct(">I")


class IpcError(ValueError):
    """A frame that is not one of our messages."""


# -- gateway -> media process ----------------------------------------------------------------------
@dataclass(frozen=True)
class Send:
    """Place ``call``; the media process answers with ``Page``s, then one ``Sent`` for ``ref``."""

    ref: int
    call: OutboundCall


@dataclass(frozen=True)
class Cancel:
    """Whoever waited for outbound call ``ref`` has gone: end the call."""

    ref: int


@dataclass(frozen=True)
class Accept:
    """Receive arriving call ``ref`` into ``document``."""

    ref: int
    document: Path


@dataclass(frozen=True)
class Refuse:
    ref: int
    refusal: Refusal


@dataclass(frozen=True)
class Relay:
    """Relay arriving call ``ref`` in real time as ``bridge`` says; its end comes back as ``Received``."""

    ref: int
    bridge: Bridge


@dataclass(frozen=True)
class Drain:
    """Take no new arriving call (the engine's ``drain``); the media process answers ``Drained``."""


@dataclass(frozen=True)
class AskStatus:
    """The engine's status, please: the media process answers ``Status`` for ``ref``."""

    ref: int


# -- media process -> gateway ----------------------------------------------------------------------
@dataclass(frozen=True)
class Ready:
    """The user agent listens at ``host``:``port``: calls may come and go."""

    host: str
    port: int


@dataclass(frozen=True)
class StartFailed:
    """The user agent could not start; ``config``: the configuration is at fault (else the system)."""

    error: str
    config: bool


@dataclass(frozen=True)
class Page:
    """A page of call ``ref`` went across (``page.sending`` says whose ref: ours or the gateway's)."""

    ref: int
    page: PageTransferred


@dataclass(frozen=True)
class Sent:
    ref: int
    result: CallResult


@dataclass(frozen=True)
class Offer:
    """A call arrives: the gateway answers ``Accept``, ``Relay`` or ``Refuse`` for ``ref``."""

    ref: int
    call: InboundCall


@dataclass(frozen=True)
class Received:
    """Accepted (or relayed) call ``ref`` has ended."""

    ref: int
    result: CallResult


@dataclass(frozen=True)
class Drained:
    """New calls are refused now, and every ``Offer`` made before this was decided."""


@dataclass(frozen=True)
class Status:
    ref: int
    status: EngineStatus


Message = (
    Send
    | Cancel
    | Accept
    | Refuse
    | Relay
    | Drain
    | AskStatus
    | Ready
    | StartFailed
    | Page
    | Sent
    | Offer
    | Received
    | Drained
    | Status
)
_TYPES: dict[str, type] = {kind.__name__: kind for kind in typing.get_args(Message)}


def encode(message: Message) -> bytes:
    """One frame: length, then the message as JSON."""
    body = json.dumps({"type": type(message).__name__, **_plain(message)}, separators=(",", ":")).encode()
    if len(body) > MAX_FRAME:
        raise IpcError(f"{type(message).__name__} of {len(body)} octets is over {MAX_FRAME}")
    return _LENGTH.pack(len(body)) + body


def decode(body: bytes) -> Message:
    """The message in one frame's body; ``IpcError`` if it is not exactly one of ours."""
    try:
        data = json.loads(body.decode())
    except (ValueError, RecursionError) as error:  # not UTF-8, not JSON, nested too deep, a 5000-digit number
        raise IpcError(f"not UTF-8 JSON: {error!r}") from None
    if not isinstance(data, dict):
        raise IpcError("not a JSON object")
    name = data.pop("type", None)
    kind = _TYPES.get(name) if isinstance(name, str) else None
    if kind is None:
        raise IpcError(f"unknown message type {name!r}")
    message: Message = _value(kind, data, name)
    return message


async def read(reader: asyncio.StreamReader) -> Message | None:
    """The next message, or None when the other side closed between frames."""
    try:
        head = await reader.readexactly(_LENGTH.size)
    except asyncio.IncompleteReadError as error:
        if error.partial:
            raise IpcError("connection closed inside a frame's length") from None
        return None
    (length,) = _LENGTH.unpack(head)
    if not 0 < length <= MAX_FRAME:
        raise IpcError(f"frame length {length} outside 1..{MAX_FRAME}")
    try:
        return decode(await reader.readexactly(length))
    except asyncio.IncompleteReadError:
        raise IpcError(f"connection closed inside a frame of {length} octets") from None


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {item.name: _plain(getattr(value, item.name)) for item in fields(value)}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value


def _value(hint: Any, value: Any, where: str) -> Any:
    """``value`` read as ``hint`` (a dataclass, a scalar, a Path, an enum of strings, a ``tuple[X, ...]``
    of one of these, or an optional of one)."""
    if isinstance(hint, types.UnionType):
        if value is None and type(None) in typing.get_args(hint):
            return None
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    if typing.get_origin(hint) is tuple:
        if not isinstance(value, list):
            raise IpcError(f"{where}: expected an array")
        (item, _) = typing.get_args(hint)
        return tuple(_value(item, entry, f"{where}[{index}]") for index, entry in enumerate(value))
    if isinstance(hint, type) and is_dataclass(hint):
        if not isinstance(value, dict):
            raise IpcError(f"{where}: expected an object")
        hints = typing.get_type_hints(hint)
        names = {item.name for item in fields(hint)}
        if set(value) != names:
            raise IpcError(f"{where}: fields {sorted(value)}, expected {sorted(names)}")
        return hint(**{name: _value(hints[name], value[name], f"{where}.{name}") for name in names})
    wire = str if hint is Path or (isinstance(hint, type) and issubclass(hint, enum.Enum)) else hint
    # Exact types: bool is an int to Python, but true is no page number.
    if type(value) is not wire:
        raise IpcError(f"{where}: expected {wire.__name__}, got {type(value).__name__}")
    try:
        return hint(value)
    except ValueError:  # a string that names no member of the enum
        raise IpcError(f"{where}: {value!r} is not a {hint.__name__}") from None
