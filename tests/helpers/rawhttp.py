"""HTTP/1.1 by hand over a real socket: a request head sent on its own, a body streamed after it until the
server answers or cuts the connection, and what the server wrote back."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes
    closed: bool  # the server closed the connection after answering
    sent: int  # body bytes the client got out before the answer (or the cut)

    def json(self) -> Any:
        return json.loads(self.body)


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunked(data: bytes, total: int) -> Iterable[bytes]:
    """``data`` again and again in chunked transfer coding, ``total`` bytes in all, never the last chunk."""
    framed = b"%x\r\n%s\r\n" % (len(data), data)
    for _ in range(total // len(data)):
        yield framed


def repeated(data: bytes, total: int) -> Iterable[bytes]:
    for _ in range(total // len(data)):
        yield data


async def exchange(port: int, request_head: bytes, body: Iterable[bytes] = (), timeout: float = 10) -> Answer:
    """Send the head, then the body while no answer has come; the answer, or TimeoutError."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request_head)
        answer = asyncio.ensure_future(read_answer(reader))
        sent = 0
        try:
            for data in body:
                if answer.done():
                    break
                writer.write(data)
                await writer.drain()  # raises once the server has cut the connection
                sent += len(data)
        except ConnectionError:
            pass
        async with asyncio.timeout(timeout):
            status, headers, content = await answer
        try:
            async with asyncio.timeout(1):
                closed = await reader.read(1) == b""
        except ConnectionError:
            closed = True
        except TimeoutError:
            closed = False
        return Answer(status, headers, content, closed, sent)
    finally:
        writer.close()


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    raw = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = raw.decode("latin-1").rstrip("\r\n").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body


def bytes_open_under(directory: Path) -> int:
    """The size of the files this process has open under ``directory`` (unnamed O_TMPFILE ones too)."""
    total = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith(str(directory)):
                total += os.stat(f"/proc/self/fd/{fd}").st_size
        except OSError:
            pass  # closed meanwhile
    return total
