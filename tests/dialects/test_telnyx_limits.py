"""The seed's limits: a ``contents`` upload of 20 MB, a document of 50 MB (``file_size_limit_exceeded``)
and 350 pages (``page_count_limit_exceeded``, the config's ``max_pages``). Big files are made here, at
run time."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import httpx
import pytest
import telnyx
from faxgw.gateway.api.dialects.telnyx import MAX_CONTENTS_BYTES, MAX_MEDIA_BYTES

from tests.helpers.dialects import SAMPLE, call, serving_directory, telnyx_client, telnyx_until_final
from tests.helpers.gateway import RECEIVER, SENDER, Running, gateway_config, start_running

FIELDS = {"connection_id": "c", "from": SENDER, "to": RECEIVER}


def error_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    return error


async def test_contents_over_20_mb_is_file_size_limit_exceeded(running: Running) -> None:
    for size, code in ((MAX_CONTENTS_BYTES + 1, "file_size_limit_exceeded"), (MAX_CONTENTS_BYTES, None)):
        data = (b"\0\xff" * size)[:size]  # not a document: at the limit, it is its format that is refused
        response = await running.client.post(
            "/v2/faxes", data=FIELDS, files={"contents": ("big.pdf", data, "application/pdf")}
        )
        error = error_of(response)
        assert error["source"] == {"pointer": "/contents"}
        assert error["code"] == (code or "file_format_invalid"), error


async def test_media_over_50_mb_is_file_size_limit_exceeded(running: Running, tmp_path: Path) -> None:
    big = tmp_path / "big.pdf"
    big.write_bytes(SAMPLE.read_bytes() + b"\n%" + b"x" * (MAX_MEDIA_BYTES - SAMPLE.stat().st_size))
    assert big.stat().st_size > MAX_MEDIA_BYTES
    client = telnyx_client(running)
    with serving_directory(tmp_path) as url, pytest.raises(telnyx.UnprocessableEntityError) as by_url:
        await call(
            client.faxes.create, connection_id="c", from_=SENDER, to=RECEIVER, media_url=f"{url}/big.pdf"
        )
    (error,) = by_url.value.body["errors"]
    assert (error["code"], error["source"]["pointer"]) == ("file_size_limit_exceeded", "/media_url")

    media = await running.upload(big)  # the native API takes up to 150 MB; a Telnyx fax does not
    with pytest.raises(telnyx.UnprocessableEntityError) as by_name:
        await call(client.faxes.create, connection_id="c", from_=SENDER, to=RECEIVER, media_name=media)
    (error,) = by_name.value.body["errors"]
    assert (error["code"], error["source"]["pointer"]) == ("file_size_limit_exceeded", "/media_name")


async def test_too_many_pages_is_page_count_limit_exceeded(tmp_path: Path) -> None:
    config = dataclasses.replace(gateway_config(tmp_path / "var"), max_pages=1)  # the sample has two
    async for running in start_running(config):
        client = telnyx_client(running)
        media = await running.upload(SAMPLE)
        fax = (
            await call(client.faxes.create, connection_id="c", from_=SENDER, to=RECEIVER, media_name=media)
        ).data
        done = await telnyx_until_final(client, fax.id)
        assert (done.status, done.failure_reason) == ("failed", "page_count_limit_exceeded")
        assert done.internal_failure_reason == "failed_page_count_limit_exceeded"
