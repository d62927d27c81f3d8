"""A key first, then a bounded body (gateway.api.limits), against the real gateway on a real uvicorn.

Every request is written by hand on a socket: the head alone first, so that a refusal that needs no body
shows as an answer that comes while the body has not been sent."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from itertools import chain
from pathlib import Path

import pytest
from faxgw.gateway.api.limits import MAX_BODY_BYTES, MAX_UPLOAD_BYTES

from tests.helpers.gateway import EDIT, Running
from tests.helpers.rawhttp import Answer, bytes_open_under, chunked, exchange, head, read_answer, repeated

GiB = 1 << 30
BOUNDARY = "faxgwlimits"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
JSON = "application/json"

#: (method, path, content type, family) of every route that takes a body, in each of the four families.
JSON_ROUTES = [
    ("POST", "/v1/faxes", JSON, "native"),
    ("POST", "/v3/accounts/self/outbox", JSON, "faxplus"),
    ("POST", "/v3/hooks", JSON, "faxplus"),
    ("POST", "/v2/faxes", JSON, "telnyx"),
    ("POST", "/v3/fax/send", JSON, "dropbox"),
    ("PUT", "/v3/account", JSON, "dropbox"),
]
UPLOAD_ROUTES = [
    ("POST", "/v1/files", MULTIPART, "native"),
    ("POST", "/v3/accounts/self/files", MULTIPART, "faxplus"),
    ("POST", "/v2/faxes", MULTIPART, "telnyx"),
    ("POST", "/v3/fax/send", MULTIPART, "dropbox"),
]


def port_of(api: Running) -> int:
    return int(api.base_url.rsplit(":", 1)[1])


def file_part_start(field: str = "file") -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="big.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()


def assert_refused(answer: Answer, family: str, status: int) -> None:
    """The family's own error shape, and the connection closed: the rest of the body is never read."""
    assert answer.status == status, answer
    body = answer.json()
    if family == "dropbox":
        assert body["error"]["error_name"] == ("unauthorized" if status == 401 else "bad_request"), body
        assert body["error"]["error_msg"]
    elif family == "telnyx":
        assert body["errors"][0]["code"] == {401: "10009", 413: "payload_too_large"}[status], body
        if status == 413:
            assert str(MAX_BODY_BYTES) in body["errors"][0]["detail"] or str(MAX_UPLOAD_BYTES) in str(body)
    else:  # native and Fax.Plus (the seed's Error schema)
        assert body["error"] == {401: "unauthorized", 413: "payload_too_large"}[status], body
    if status == 401:
        assert answer.headers["www-authenticate"] == ("Basic" if family == "dropbox" else "Bearer")
    assert answer.closed


@contextlib.asynccontextmanager
async def largest_spool(directory: Path) -> AsyncIterator[list[int]]:
    """``[the most bytes seen open under directory]`` while inside (looked at every 20 ms)."""
    seen = [0]

    async def watch() -> None:
        while True:
            seen[0] = max(seen[0], bytes_open_under(directory))
            await asyncio.sleep(0.02)

    watcher = asyncio.ensure_future(watch())
    try:
        yield seen
    finally:
        watcher.cancel()


@pytest.fixture
def spool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """TMPDIR for this test: where Starlette spools uploaded files."""
    directory = tmp_path / "spool"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


@pytest.fixture
async def api(running: Running) -> AsyncIterator[Running]:
    yield running


@pytest.mark.parametrize(("method", "path", "content_type", "family"), JSON_ROUTES + UPLOAD_ROUTES)
@pytest.mark.parametrize("credentials", [None, "Bearer not-a-key", "Basic bm90LWEta2V5Og=="])
async def test_a_body_without_a_valid_key_is_not_read(
    api: Running, method: str, path: str, content_type: str, family: str, credentials: str | None
) -> None:
    """1 GiB announced, not a byte sent: the family's 401 comes at once."""
    headers = {"Content-Type": content_type, "Content-Length": str(GiB)}
    if credentials:
        headers["Authorization"] = credentials
    answer = await exchange(port_of(api), head(method, path, headers), timeout=5)
    assert_refused(answer, family, 401)


@pytest.mark.parametrize("path", ["/v1/files", "/v3/accounts/self/files", "/v3/fax/send"])
async def test_an_upload_without_a_key_is_never_spooled(api: Running, spool: Path, path: str) -> None:
    """A client that streams its upload without waiting: cut off after the 401, and nothing in TMPDIR."""
    async with largest_spool(spool) as seen:
        body = chain([file_part_start()], repeated(b"%PDF" * 16384, 64 << 20))
        headers = {"Content-Type": MULTIPART, "Content-Length": str(GiB)}
        answer = await exchange(port_of(api), head("POST", path, headers), body, timeout=10)
    assert_refused(answer, "dropbox" if path.startswith("/v3/fax") else "native", 401)
    assert answer.sent < 32 << 20  # not read: the server closed while the client was still at it
    assert seen[0] == 0 and bytes_open_under(spool) == 0


@pytest.mark.parametrize(("method", "path", "content_type", "family"), JSON_ROUTES)
async def test_a_json_body_over_a_megabyte_is_refused_by_its_length(
    api: Running, method: str, path: str, content_type: str, family: str
) -> None:
    headers = {
        "Authorization": f"Bearer {EDIT}",
        "Content-Type": JSON,
        "Content-Length": str(MAX_BODY_BYTES + 1),
    }
    answer = await exchange(port_of(api), head(method, path, headers), timeout=5)
    assert_refused(answer, family, 413)


@pytest.mark.parametrize(("method", "path", "content_type", "family"), UPLOAD_ROUTES)
async def test_an_upload_over_150_mb_is_refused_by_its_length(
    api: Running, method: str, path: str, content_type: str, family: str
) -> None:
    headers = {"Authorization": f"Bearer {EDIT}", "Content-Type": MULTIPART, "Content-Length": str(GiB)}
    answer = await exchange(port_of(api), head(method, path, headers), timeout=5)
    assert_refused(answer, family, 413)


async def test_an_upload_may_be_larger_than_a_json_body(api: Running) -> None:
    """2 MB: over the limit of a JSON body, within an upload's (the route reads it and finds no document)."""
    data = b"[" + b"0," * (1 << 20) + b"0]"
    headers = {"Authorization": f"Bearer {EDIT}", "Content-Type": JSON, "Content-Length": str(len(data))}
    answer = await exchange(port_of(api), head("POST", "/v1/faxes", headers), [data])
    assert_refused(answer, "native", 413)
    data = file_part_start() + b"\0" * (2 << 20) + f"\r\n--{BOUNDARY}--\r\n".encode()
    headers = {"Authorization": f"Bearer {EDIT}", "Content-Type": MULTIPART, "Content-Length": str(len(data))}
    answer = await exchange(port_of(api), head("POST", "/v1/files", headers), [data])
    assert answer.status == 415, answer
    assert answer.json()["error"] == "mimetype_not_supported"


@pytest.mark.parametrize(("method", "path", "content_type", "family"), JSON_ROUTES)
async def test_a_streamed_json_body_stops_at_the_limit(
    api: Running, method: str, path: str, content_type: str, family: str
) -> None:
    """Chunked, so no length to refuse by: counted as it is read, refused once over the limit."""
    headers = {"Authorization": f"Bearer {EDIT}", "Content-Type": JSON, "Transfer-Encoding": "chunked"}
    body = chain([b"1\r\n[\r\n"], chunked(b"0," * 32768, 64 << 20))
    answer = await exchange(port_of(api), head(method, path, headers), body)
    assert_refused(answer, family, 413)
    assert answer.sent < 32 << 20


async def test_a_streamed_upload_stops_at_150_mb(api: Running, spool: Path) -> None:
    async with largest_spool(spool) as seen:
        start = file_part_start()
        headers = {
            "Authorization": f"Bearer {EDIT}",
            "Content-Type": MULTIPART,
            "Transfer-Encoding": "chunked",
        }
        body = chain(
            [b"%x\r\n%s\r\n" % (len(start), start)], chunked(b"%PDF" * 65536, MAX_UPLOAD_BYTES + (64 << 20))
        )
        answer = await exchange(port_of(api), head("POST", "/v1/files", headers), body, timeout=60)
    assert_refused(answer, "native", 413)
    assert answer.sent < MAX_UPLOAD_BYTES + (32 << 20)
    assert 0 < seen[0] <= MAX_UPLOAD_BYTES  # spooled up to the limit, not past it
    assert bytes_open_under(spool) == 0  # and let go


async def test_a_refused_body_is_closed_in_stages_not_reset(api: Running) -> None:
    """RFC 9112 9.6: after its refusal the server half-closes and reads, and drops, what the client still
    sends. A socket closed at once answers the body still arriving with a reset, which can destroy the
    answer in the client's buffers before the client has read it (the streamed tests above failed so,
    now and then)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port_of(api))
    try:
        writer.write(head("POST", "/v1/files", {"Content-Type": MULTIPART, "Content-Length": str(GiB)}))
        status, _, _ = await asyncio.wait_for(read_answer(reader), 5)
        assert status == 401
        assert await asyncio.wait_for(reader.read(1), 5) == b""  # the server's half-close
        for _ in range(4):  # the client, still sending its body: taken, not reset
            writer.write(b"%PDF" * 16384)
            await writer.drain()
            await asyncio.sleep(0.05)
    finally:
        writer.close()
