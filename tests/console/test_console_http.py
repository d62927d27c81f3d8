"""The web console over real HTTP against a running gateway: sign-in and its cookie, sign-out, the bound on
failed sign-ins, CSRF, read-only keys, hostile input, and a fax sent through the console's send route that
arrives (the ``running`` gateway faxes itself over 127.0.0.1)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.helpers.console import COOKIE, set_cookie_attributes, signed_in
from tests.helpers.dialects import SAMPLE
from tests.helpers.gateway import EDIT, READ_ONLY, RECEIVER, SENDER, Running

pytestmark = pytest.mark.asyncio


async def test_a_key_signs_in_with_a_strict_http_only_cookie_and_every_page_has_the_csp(
    running: Running,
) -> None:
    async with httpx.AsyncClient(base_url=running.base_url) as client:
        assert (await client.get("/console/")).headers["location"] == "/console/sign-in"
        assert (await client.get("/console/api/faxes?direction=inbound")).status_code == 401
        # A "next" the request names is never followed: always to the inbox.
        answer = await client.post("/console/sign-in?next=https://evil.example/", data={"key": EDIT})
        assert answer.status_code == 303 and answer.headers["location"] == "/console/"
        attributes = set_cookie_attributes(answer)
        assert {"httponly", "samesite=strict", "path=/console/"} <= attributes
        assert "secure" not in attributes  # plain http here; https requests get Secure
        page = await client.get("/console/")
        assert page.status_code == 200 and "console.js" in page.text
        csp = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        session = (await client.get("/console/api/session")).json()
        assert session["tenant"] == "acme" and session["can_send"] is True and SENDER in session["numbers"]


async def test_a_tampered_or_foreign_cookie_is_no_session(running: Running) -> None:
    async with signed_in(running, EDIT) as (client, _):
        cookie = client.cookies[COOKIE]
        body, _, mac = cookie.partition(".")
        for forged in (body + "x." + mac, body + "." + mac[:-2] + "AA", "garbage", "." * 5000):
            client.cookies.set(COOKIE, forged, path="/console/")
            assert (await client.get("/console/api/session")).status_code == 401, forged[:40]


async def test_sign_out_ends_the_session_even_for_a_copy_of_its_cookie(running: Running) -> None:
    async with signed_in(running, EDIT) as (client, csrf):
        copy = client.cookies[COOKIE]
        refused = await client.post("/console/sign-out", data={"csrf": "wrong"})
        assert refused.status_code == 403  # signing out is a state change too
        answer = await client.post("/console/sign-out", data={"csrf": csrf})
        assert answer.status_code == 303 and answer.headers["location"] == "/console/sign-in"
        client.cookies.set(COOKIE, copy, path="/console/")
        assert (await client.get("/console/api/session")).status_code == 401


async def test_failed_sign_ins_are_bounded_per_client(running: Running) -> None:
    async with httpx.AsyncClient(base_url=running.base_url) as client:
        for _ in range(running.gateway.config.console.max_failed_sign_ins):
            answer = await client.post("/console/sign-in", data={"key": "guess"})
            assert answer.headers["location"] == "/console/sign-in?error=key"
        # Now even the right key waits: guessing cannot go on at full speed.
        answer = await client.post("/console/sign-in", data={"key": EDIT})
        assert answer.headers["location"] == "/console/sign-in?error=wait"
        assert COOKIE not in answer.cookies


async def test_sending_needs_the_csrf_token_and_our_origin(running: Running) -> None:
    form = {"from": SENDER, "to": RECEIVER}
    files = {"file": ("sample.pdf", SAMPLE.read_bytes(), "application/pdf")}
    async with signed_in(running, EDIT) as (client, csrf):
        for headers in (
            {},
            {"X-CSRF-Token": "nope"},
            {"X-CSRF-Token": csrf, "Origin": "https://evil.example"},
        ):
            answer = await client.post("/console/api/faxes", data=form, files=files, headers=headers)
            assert answer.status_code == 403, (headers, answer.text)
        assert (await running.client.get("/v1/faxes")).json()["total"] == 0


async def test_a_read_only_key_views_but_cannot_send(running: Running) -> None:
    async with signed_in(running, READ_ONLY) as (client, csrf):
        assert (await client.get("/console/api/session")).json()["can_send"] is False
        answer = await client.post(
            "/console/api/faxes",
            data={"from": SENDER, "to": RECEIVER},
            files={"file": ("sample.pdf", SAMPLE.read_bytes(), "application/pdf")},
            headers={"X-CSRF-Token": csrf},
        )
        assert answer.status_code == 403 and "not send" in answer.json()["description"]
        assert (await client.get("/console/api/faxes?direction=outbound")).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/console/api/faxes?direction=<script>",
        "/console/api/faxes",
        "/console/api/faxes/%3Cscript%3E",
        "/console/api/faxes/fx/pages/abc",
        "/console/api/faxes/fx/pages/99999999999999999999999",
        "/console/api/faxes/fx/attempts/-1/diagnostics",
        "/console/static/..%2F__init__.py",
        "/console/static/sign-in.html",
        "/console/fax?id=%3Cscript%3Ealert(1)%3C/script%3E",
    ],
)
async def test_hostile_requests_get_a_clear_answer_that_echoes_no_markup(running: Running, path: str) -> None:
    async with signed_in(running, EDIT) as (client, _):
        answer = await client.get(path)
    assert answer.status_code < 500, answer.text
    assert answer.headers["x-content-type-options"] == "nosniff"
    if answer.headers["content-type"].startswith("text/html"):
        assert "<script>" not in answer.text  # the views are static: nothing of the URL is put into a page
    else:  # errors quote the input, in JSON, which the console shows as text
        assert answer.headers["content-type"] in ("application/json", "text/javascript", "text/css")


async def test_a_bad_send_form_is_a_clear_400(running: Running) -> None:
    async with signed_in(running, EDIT) as (client, csrf):
        for form, files in (
            ({"from": SENDER, "to": RECEIVER}, None),  # no document
            ({"from": SENDER, "to": ""}, {"file": ("a.pdf", SAMPLE.read_bytes())}),
            ({"from": SENDER, "to": RECEIVER}, {"file": ("a.exe", b"MZ\x90\x00 not a document")}),
        ):
            answer = await client.post(
                "/console/api/faxes", data=form, files=files, headers={"X-CSRF-Token": csrf}
            )
            assert 400 <= answer.status_code < 500, answer.text
            assert answer.json()["description"]


async def test_a_fax_sent_from_the_console_arrives(running: Running) -> None:
    async with signed_in(running, EDIT) as (client, csrf):
        answer = await client.post(
            "/console/api/faxes",
            data={"from": SENDER, "to": RECEIVER, "subject": "Hello", "cover": "<b>not bold</b>"},
            files={"file": ("sample.pdf", SAMPLE.read_bytes(), "application/pdf")},
            headers={"X-CSRF-Token": csrf},
        )
        assert answer.status_code == 201, answer.text
        [fax_id] = answer.json()["ids"]
        sent = await running.final(fax_id)
        assert sent["status"] == "success" and sent["pages"]["transferred"] == 3  # a cover page and two
        inbound = await client.get("/console/api/faxes?direction=inbound")
        [received] = inbound.json()["faxes"]
        async with asyncio.timeout(30):
            while received["status"] != "success":
                await asyncio.sleep(0.05)
                received = (await client.get(f"/console/api/faxes/{received['id']}")).json()
        page = await client.get(f"/console/api/faxes/{received['id']}/pages/3")
        assert page.status_code == 200 and page.content.startswith(b"\x89PNG")
        diagnostics = await client.get(f"/console/api/faxes/{fax_id}/attempts/1/diagnostics")
        assert diagnostics.status_code == 200 and diagnostics.json()["attempt"] == 1
