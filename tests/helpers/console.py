"""Signing in to the web console of a running gateway (tests/helpers/gateway.py), as a browser would."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.remote.webdriver import WebDriver

from tests.helpers.gateway import Running

COOKIE = "faxgw_console"


@asynccontextmanager
async def signed_in(running: Running, token: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A client signed in to the console with ``token`` (no API key header of its own), and its CSRF token,
    for the length of the ``async with``."""
    async with httpx.AsyncClient(base_url=running.base_url, timeout=30) as client:
        yield await _sign_in(client, token)


async def _sign_in(client: httpx.AsyncClient, token: str) -> tuple[httpx.AsyncClient, str]:
    answer = await client.post("/console/sign-in", data={"key": token})
    assert answer.status_code == 303 and answer.headers["location"] == "/console/", answer.text
    session = await client.get("/console/api/session")
    assert session.status_code == 200, session.text
    return client, session.json()["csrf"]


def set_cookie_attributes(response: httpx.Response) -> set[str]:
    """The attributes of the response's console cookie, lowercased (``httponly``, ``samesite=strict``...)."""
    header = next(h for h in response.headers.get_list("set-cookie") if h.startswith(COOKIE + "="))
    return {re.sub(r"\s+", "", part).lower() for part in header.split(";")[1:]}


def chromium_missing() -> str | None:
    """Why a headless Chromium cannot be driven here (None: it can)."""
    for program, package in (("chromium", "chromium"), ("chromedriver", "chromium-driver")):
        if shutil.which(program) is None:
            return f"needs {program} (Debian package {package}; CI installs it)"
    return None


def chromium() -> WebDriver:
    """A real headless Chromium through its own chromedriver (no driver is downloaded)."""
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=ChromeService(shutil.which("chromedriver")))
