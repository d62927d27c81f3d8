"""The four families of 500 that generated requests found (issue 10), through the real API of a running
gateway: each is a 4xx in the error shape of the dialect that was called, and the gateway logs no
unhandled error.

1. ``offset``/``page`` past SQLite's 64-bit integers (OverflowError in the store);
2. Unicode digits that pass ``str.isdigit()`` and fail ``int()`` (``"²"``);
3. JSON nested deeper than Python's decoder recurses (RecursionError), and numbers longer than int() takes;
4. lone surrogates in JSON strings (UnicodeEncodeError wherever the text went next).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from faxgw.gateway.api.inputs import MAX_DEPTH, MAX_OFFSET, MAX_PAGE

from tests.helpers.gateway import EDIT, RECEIVER, SENDER, Running

ROOT = Path(__file__).resolve().parents[2]
HUGE = str(2**63)  # one past SQLite's largest integer
JSON = {"content-type": "application/json"}


@pytest.fixture
async def api(running: Running, caplog: pytest.LogCaptureFixture) -> AsyncIterator[Running]:
    caplog.set_level(logging.ERROR, logger="gateway.api")
    yield running
    unhandled = [record for record in caplog.records if record.getMessage().startswith("unhandled error")]
    assert not unhandled, [record.getMessage() for record in unhandled]


@pytest.fixture
async def file_id(api: Running) -> str:
    return await api.upload(ROOT / "samples" / "sample.pdf")


def dropbox(api: Running) -> httpx.AsyncClient:
    """Dropbox Sign's way: the key as the basic-auth user name."""
    return httpx.AsyncClient(base_url=f"{api.base_url}/v3", auth=(EDIT, ""), timeout=30)


def client_of(api: Running, family: str) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    """The family's client: Dropbox's own, or the fixture's (left open) for the others."""
    return dropbox(api) if family == "dropbox" else contextlib.nullcontext(api.client)


def assert_error(response: httpx.Response, family: str, status: int, *words: str) -> str:
    """A 4xx in the family's own shape; returns its text, which must name ``words``."""
    assert response.status_code == status, response.text
    body = response.json()
    if family == "telnyx":
        (error,) = body["errors"]
        assert error["title"] == "Unprocessable Entity" and error["code"], body
        text = error["detail"]
    elif family == "dropbox":
        assert set(body) == {"error"} and body["error"]["error_name"] == "bad_request", body
        text = body["error"]["error_msg"]
    else:  # native and Fax.Plus: the seed's Error
        assert set(body) == {"error", "description"} and body["error"] == "invalid_request", body
        text = body["description"]
    for word in words:
        assert word in text, text
    return text


def nested(depth: int) -> str:
    return '{"a": ' * depth + "1" + "}" * depth


def telnyx_body(file_id: str, **fields: Any) -> dict[str, Any]:
    return {"connection_id": "c", "from": SENDER, "to": RECEIVER, "media_name": file_id, **fields}


# --- 1. offsets and pages past 64 bits ---------------------------------------------------------------------

PAGING = [
    ("native", "/v1/faxes", "offset", MAX_OFFSET),
    ("faxplus", "/v3/accounts/self/faxes", "offset", MAX_OFFSET),
    ("telnyx", "/v2/faxes", "page[number]", MAX_PAGE),
    ("dropbox", "/fax/list", "page", MAX_PAGE),
]


@pytest.mark.parametrize(("family", "path", "name", "highest"), PAGING, ids=[p[0] for p in PAGING])
async def test_paging_past_64_bits_is_a_bad_request(
    api: Running, family: str, path: str, name: str, highest: int
) -> None:
    async with client_of(api, family) as client:
        for value in (HUGE, str(highest + 1), "-1"):
            response = await client.get(path, params={name: value})
            status = 422 if family == "telnyx" else 400
            assert_error(response, family, status, name)
        # The highest one allowed is an empty page, not an error.
        assert (await client.get(path, params={name: str(highest)})).status_code == 200


# --- 2. Unicode digits -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["page[size]", "page[number]"])
# Superscript two, Arabic-Indic twelve, mathematical bold nine: each passes str.isdigit().
@pytest.mark.parametrize("digits", ["\u00b2", "\u0661\u0662", "\U0001d7d7"])
async def test_telnyx_page_in_unicode_digits(api: Running, name: str, digits: str) -> None:
    response = await api.client.get("/v2/faxes", params={name: digits})
    assert_error(response, "telnyx", 422, name)
    assert response.json()["errors"][0]["source"] == {"pointer": f"/{name}"}


async def test_telnyx_black_threshold_in_unicode_digits(api: Running, file_id: str) -> None:
    sent = await api.client.post("/v2/faxes", json=telnyx_body(file_id, black_threshold="²"))
    assert_error(sent, "telnyx", 422, "black_threshold")
    form = {k: v for k, v in telnyx_body("", black_threshold="²").items() if k != "media_name"}
    contents = {"contents": ("sample.pdf", (ROOT / "samples" / "sample.pdf").read_bytes(), "application/pdf")}
    sent = await api.client.post("/v2/faxes", data=form, files=contents)
    assert_error(sent, "telnyx", 422, "black_threshold")
    # ASCII digits in a form field still are a number.
    form["black_threshold"] = "50"
    assert (await api.client.post("/v2/faxes", data=form, files=contents)).status_code == 202


async def test_dropbox_file_index_in_unicode_digits(api: Running) -> None:
    pdf = (ROOT / "samples" / "sample.pdf").read_bytes()
    async with dropbox(api) as client:
        for field in ("files[²]", "files[x]", "files[1"):
            sent = await client.post(
                "/fax/send", data={"recipient": RECEIVER}, files={field: ("a.pdf", pdf, "application/pdf")}
            )
            assert_error(sent, "dropbox", 400, field)
        assert (await client.get("/fax/list")).json()["list_info"]["num_results"] == 0  # nothing was sent


# --- 3. deep nesting and long numbers ----------------------------------------------------------------------

JSON_BODIES = [
    ("native", "/v1/faxes", "POST"),
    ("faxplus", "/v3/accounts/self/outbox", "POST"),
    ("faxplus", "/v3/hooks", "POST"),
    ("telnyx", "/v2/faxes", "POST"),
    ("dropbox", "/fax/send", "POST"),
    ("dropbox", "/account", "PUT"),
]


@pytest.mark.parametrize(
    ("family", "path", "method"), JSON_BODIES, ids=[f"{b[2]} {b[1]}" for b in JSON_BODIES]
)
@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000 + "]" * 100_000,  # past Python's recursion limit: RecursionError
        nested(MAX_DEPTH + 1),  # decodes, but deeper than any request of ours
        '{"a": 1' + "0" * 5000 + "}",  # more digits than int() takes: ValueError
        '{"a": NaN}',  # not JSON (RFC 8259 6)
    ],
    ids=["recursion", "deep", "5000-digits", "nan"],
)
async def test_json_that_python_would_choke_on(
    api: Running, family: str, path: str, method: str, body: str
) -> None:
    async with client_of(api, family) as client:
        response = await client.request(method, path, content=body, headers=JSON)
    status = 422 if family == "telnyx" else 400
    assert_error(response, family, status, "not valid JSON")


async def test_dropbox_file_urls_field_nested_too_deep(api: Running) -> None:
    async with dropbox(api) as client:
        sent = await client.post(
            "/fax/send", data={"recipient": RECEIVER, "file_urls": "[" * 100_000 + "]" * 100_000}
        )
    assert_error(sent, "dropbox", 400, "file_urls")


async def test_nesting_a_request_needs_is_fine(api: Running, file_id: str) -> None:
    body = {"from": SENDER, "to": [RECEIVER], "files": [file_id], "options": {"retry": {"count": 1}}}
    assert (await api.client.post("/v1/faxes", content=json.dumps(body), headers=JSON)).status_code == 201


# --- 4. lone surrogates ------------------------------------------------------------------------------------

SURROGATES = [
    ("faxplus", "POST", "/v3/hooks", '{"target": "http://127.0.0.1/\\ud800", "event": "fax_sent"}'),
    (
        "telnyx",
        "POST",
        "/v2/faxes",
        '{"connection_id": "c", "from": "%s", "to": "%s", "media_name": "\\udfff"}',
    ),
    (
        "telnyx",
        "POST",
        "/v2/faxes",
        '{"connection_id": "c", "from": "%s", "to": "%s", "media_url": "http://127.0.0.1/\\ud800.pdf"}',
    ),
    ("telnyx", "POST", "/v2/faxes", '{"connection_id": "c", "from": "%s", "to": "%s", "\\ud800": 1}'),
    ("dropbox", "PUT", "/account", '{"callback_url": "http://127.0.0.1/\\ud800"}'),
    ("dropbox", "POST", "/fax/send", '{"recipient": "%s", "file_urls": ["http://127.0.0.1/\\udc00"]}'),
    ("native", "POST", "/v1/faxes", '{"from": "%s", "to": ["%s"], "files": ["x"], "webhook_url": "\\ud800"}'),
]


@pytest.mark.parametrize(
    ("family", "method", "path", "body"),
    SURROGATES,
    ids=[
        "faxplus-hook",
        "telnyx-media_name",
        "telnyx-media_url",
        "telnyx-key",
        "dropbox-callback",
        "dropbox-file_urls",
        "native-webhook",
    ],
)
async def test_lone_surrogates(api: Running, family: str, method: str, path: str, body: str) -> None:
    if body.count("%s") == 2:
        body %= (SENDER, RECEIVER)
    elif "%s" in body:
        body %= RECEIVER
    async with client_of(api, family) as client:
        response = await client.request(method, path, content=body, headers=JSON)
    status = 422 if family == "telnyx" else 400
    assert_error(response, family, status, "lone surrogate")
    assert (await api.client.get("/v1/faxes")).json()["total"] == 0  # nothing was queued


async def test_surrogate_pairs_are_text(api: Running, file_id: str) -> None:
    """An escaped pair is one character (U+1F600): fine, and kept."""
    body = '{"from": "%s", "to": ["%s"], "files": ["%s"], "comment": {"text": "\\ud83d\\ude00"}}'
    sent = await api.client.post("/v1/faxes", content=body % (SENDER, RECEIVER, file_id), headers=JSON)
    assert sent.status_code == 201, sent.text
    (fax,) = (await api.client.get("/v1/faxes")).json()["faxes"]
    assert fax["comment"]["text"] == "\U0001f600"


# --- and one more, found by Schemathesis: URLs that urllib.parse cannot take apart -------------------------

BAD_URLS = ["http://[::1", "http://[x]/", "http://host:port/", "http://host:99999/"]


@pytest.mark.parametrize("url", BAD_URLS)
async def test_urls_that_do_not_parse(api: Running, file_id: str, url: str) -> None:
    hook = await api.client.post("/v3/hooks", json={"target": url, "event": "fax_sent"})
    assert_error(hook, "faxplus", 400, "target")
    telnyx = await api.client.post("/v2/faxes", json=telnyx_body(file_id, webhook_url=url))
    assert_error(telnyx, "telnyx", 422, "webhook_url")
    async with dropbox(api) as client:
        account = await client.put("/account", json={"callback_url": url})
        assert_error(account, "dropbox", 400, "callback_url")
        sent = await client.post("/fax/send", json={"recipient": RECEIVER, "file_urls": [url]})
        assert_error(sent, "dropbox", 400, "file_urls")
        assert (await client.get("/account")).json()["account"]["callback_url"] is None
    assert (await api.client.get("/v1/faxes")).json()["total"] == 0  # nothing was queued


async def test_an_empty_time_filter_is_not_no_filter(api: Running) -> None:
    response = await api.client.get("/v2/faxes", params={"filter[created_at][gte]": ""})
    assert_error(response, "telnyx", 422, "filter[created_at][gte]")
