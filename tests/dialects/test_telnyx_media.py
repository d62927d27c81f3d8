"""Telnyx's Media Storage API (``client.media``) through the official SDK, unmodified: upload, list,
retrieve, update, download, delete, and a fax sent by the ``media_name`` an upload gave."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import telnyx
from PIL import Image

from tests.helpers.dialects import SAMPLE, call, serving_directory, telnyx_client, telnyx_until_final
from tests.helpers.gateway import OTHER, RECEIVER, SENDER, Running


def _png(directory: Path) -> Path:
    path = directory / "page.png"
    Image.new("L", (850, 1100), 255).save(path)
    return path


async def test_a_named_media_is_uploaded_listed_sent_updated_downloaded_and_deleted(
    running: Running, samples_server: str, tmp_path: Path
) -> None:
    client = telnyx_client(running)
    uploaded = (
        await call(client.media.upload, media_url=f"{samples_server}/{SAMPLE.name}", media_name="invoice-1")
    ).data
    assert (uploaded.media_name, uploaded.content_type, uploaded.expires_at) == (
        "invoice-1",
        "application/pdf",
        None,
    )
    assert uploaded.created_at and uploaded.updated_at
    assert (await call(client.media.retrieve, "invoice-1")).data == uploaded
    assert [m.media_name for m in (await call(client.media.list)).data or []] == ["invoice-1"]
    pngs = await call(client.media.list, filter={"content_type": ["image/png"]})
    assert pngs.data == [] and pngs.meta is not None and pngs.meta.total_results == 0
    pdfs = await call(client.media.list, filter={"content_type": ["image/png", "application/pdf"]})
    assert [m.media_name for m in pdfs.data or []] == ["invoice-1"]
    listed = await running.client.get("/v2/media", params={"filter[content_type][]": ["application/pdf"]})
    assert [m["media_name"] for m in listed.json()["data"]] == ["invoice-1"]  # Telnyx's own form
    downloaded = await call(client.media.download, "invoice-1")
    assert downloaded.read() == SAMPLE.read_bytes()

    fax = (
        await call(client.faxes.create, connection_id="c", from_=SENDER, to=RECEIVER, media_name="invoice-1")
    ).data
    assert fax.media_name == "invoice-1"
    assert (await telnyx_until_final(client, fax.id)).status == "delivered"

    with pytest.raises(telnyx.UnprocessableEntityError) as taken:
        await call(client.media.upload, media_url=f"{samples_server}/{SAMPLE.name}", media_name="invoice-1")
    assert taken.value.body["errors"][0]["source"]["pointer"] == "/media_name"

    png = _png(tmp_path)
    with serving_directory(tmp_path) as url:
        updated = (await call(client.media.update, "invoice-1", media_url=f"{url}/{png.name}")).data
    assert (updated.media_name, updated.content_type) == ("invoice-1", "image/png")
    assert (await call(client.media.download, "invoice-1")).read() == png.read_bytes()
    assert [m.content_type for m in (await call(client.media.list)).data or []] == ["image/png"]

    assert await call(client.media.delete, "invoice-1") is None
    for method in (client.media.retrieve, client.media.download, client.media.delete):
        with pytest.raises(telnyx.NotFoundError) as gone:
            await call(method, "invoice-1")
        assert gone.value.body["errors"][0]["code"] == "10005"
    assert (await call(client.media.list)).data == []


async def test_an_unnamed_upload_gets_a_uuid_and_other_tenants_do_not_see_it(
    running: Running, samples_server: str
) -> None:
    client = telnyx_client(running)
    media = (await call(client.media.upload, media_url=f"{samples_server}/{SAMPLE.name}")).data
    assert media.media_name is not None and uuid.UUID(media.media_name)
    fax = (
        await call(
            client.faxes.create, connection_id="c", from_=SENDER, to=RECEIVER, media_name=media.media_name
        )
    ).data
    assert fax.media_name == media.media_name
    stranger = telnyx_client(running, OTHER)
    assert (await call(stranger.media.list)).data == []
    with pytest.raises(telnyx.NotFoundError):
        await call(stranger.media.retrieve, media.media_name)
    with pytest.raises(telnyx.NotFoundError):
        await call(stranger.media.delete, media.media_name)
    assert (await call(client.media.retrieve, media.media_name)).data == media


async def test_a_multipart_upload_and_what_is_refused(
    running: Running, samples_server: str, tmp_path: Path
) -> None:
    # The SDK's upload sends JSON only; Telnyx's API also takes the document itself as multipart "media".
    response = await running.client.post(
        "/v2/media",
        data={"media_name": "scan"},
        files={"media": ("scan.pdf", SAMPLE.read_bytes(), "application/pdf")},
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["media_name"] == "scan"
    client = telnyx_client(running)
    assert (await call(client.media.download, "scan")).read() == SAMPLE.read_bytes()

    with pytest.raises(telnyx.UnprocessableEntityError) as ttl:
        await call(client.media.upload, media_url=f"{samples_server}/{SAMPLE.name}", ttl_secs=3600)
    (error,) = ttl.value.body["errors"]
    assert error["source"]["pointer"] == "/ttl_secs" and "kept until deleted" in error["detail"]
    (tmp_path / "noise.bin").write_bytes(bytes(range(256)) * 4)
    with serving_directory(tmp_path) as url, pytest.raises(telnyx.UnprocessableEntityError) as noise:
        await call(client.media.upload, media_url=f"{url}/noise.bin")
    assert noise.value.body["errors"][0]["code"] == "file_format_invalid"
    with pytest.raises(telnyx.UnprocessableEntityError) as slash:
        await call(client.media.upload, media_url=f"{samples_server}/{SAMPLE.name}", media_name="a/b")
    assert slash.value.body["errors"][0]["source"]["pointer"] == "/media_name"
    with pytest.raises(telnyx.NotFoundError):
        await call(client.media.update, "missing", media_url=f"{samples_server}/{SAMPLE.name}")
    assert [m.media_name for m in (await call(client.media.list)).data or []] == ["scan"]
