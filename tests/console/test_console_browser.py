"""The web console in a real headless Chromium against a running gateway that faxes itself over 127.0.0.1:
a fax arrives while the inbox is open and its page thumbnails appear one by one; a fax sent from the form
arrives; a hostile fax id is shown as text. Screenshots of the main views go to $FAXGW_SCREENSHOTS (or the
test's tmp_path/screenshots).

T.38 is paced here as toward a real peer (``unpaced_t38=False``): a page takes seconds, so the browser can
be seen showing page 1 before page 2 exists.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.helpers.console import chromium, chromium_missing
from tests.helpers.dialects import SAMPLE
from tests.helpers.gateway import EDIT, RECEIVER, SENDER, Running, gateway_config, start_running

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]

FINAL = {"success", "failed", "partially_received", "cancelled"}


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    why = chromium_missing()
    if why is not None:
        pytest.skip(why)
    driver = chromium()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
async def paced(tmp_path: Path) -> AsyncIterator[Running]:
    config = dataclasses.replace(gateway_config(tmp_path / "var"), unpaced_t38=False)
    async for started in start_running(config):
        yield started


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    directory = Path(os.environ.get("FAXGW_SCREENSHOTS") or tmp_path / "screenshots")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def sign_in(driver: WebDriver, base_url: str, token: str) -> None:
    driver.get(base_url + "/console/")  # no session: the sign-in page
    WebDriverWait(driver, 10).until(lambda d: d.current_url.endswith("/console/sign-in"))
    driver.find_element(By.ID, "key").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "#sign-in button").click()
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "inbox"))
    assert driver.find_element(By.ID, "tenant").text == "acme"


def watch_thumbnails(driver: WebDriver, timeout: float) -> list[tuple[int, str]]:
    """(thumbnails shown, status shown) of the first inbound fax each time either changes, until it is
    final with its thumbnails loaded."""
    seen: list[tuple[int, str]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = driver.execute_script(
                "const row = document.querySelector('#inbox tr.fax');"
                "if (!row) return null;"
                "const images = [...row.querySelectorAll('img.thumb')];"
                "return [images.filter((i) => i.complete && i.naturalWidth > 0).length,"
                " row.querySelector('.status').textContent];"
            )
        except WebDriverException:
            state = None
        if state is not None and (not seen or tuple(state) != seen[-1]):
            seen.append((state[0], state[1]))
            if state[1] in FINAL and state[0] >= 2:
                return seen
        time.sleep(0.05)
    raise AssertionError(f"the fax did not finish on screen: {seen}")


async def test_the_console_in_a_real_browser(paced: Running, browser: WebDriver, screenshots: Path) -> None:
    await asyncio.to_thread(sign_in, browser, paced.base_url, EDIT)

    # A fax comes in while the inbox is open: its pages show one by one, before it has finished.
    fax_id = await paced.submit(await paced.upload(SAMPLE), RECEIVER)
    seen = await asyncio.to_thread(watch_thumbnails, browser, 120)
    counts = [count for count, _ in seen]
    assert 1 in counts and counts.index(1) < counts.index(2), seen
    assert any(count == 1 and status not in FINAL for count, status in seen), seen  # page 1 while arriving
    assert (await paced.final(fax_id))["status"] == "success"
    await asyncio.to_thread(browser.save_screenshot, str(screenshots / "inbox.png"))

    # A fax sent from the form arrives.
    def send_from_the_form() -> str:
        browser.find_element(By.ID, "nav-send").click()
        WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.ID, "send"))
        Select(browser.find_element(By.ID, "from")).select_by_value(SENDER)
        browser.find_element(By.ID, "to").send_keys(RECEIVER)
        browser.find_element(By.ID, "file").send_keys(str(SAMPLE))
        browser.find_element(By.ID, "subject").send_keys("Console test")
        browser.find_element(By.ID, "cover").send_keys("<img src=x id=pwned> stays text")
        browser.find_element(By.ID, "send-button").click()
        WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#result a"))
        browser.save_screenshot(str(screenshots / "send.png"))
        return browser.find_element(By.CSS_SELECTOR, "#result a").text

    sent_id = await asyncio.to_thread(send_from_the_form)
    sent = await paced.final(sent_id, timeout=180)
    assert sent["status"] == "success" and sent["pages"]["transferred"] == 3, sent

    def outbox_and_detail() -> None:
        browser.find_element(By.ID, "nav-outbox").click()
        WebDriverWait(browser, 10).until(lambda d: "success" in d.find_element(By.ID, "fax-" + sent_id).text)
        browser.save_screenshot(str(screenshots / "outbox.png"))
        browser.find_element(By.LINK_TEXT, sent_id).click()
        WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#attempt-1 .summary"))
        WebDriverWait(browser, 10).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#thumbs img")) == 3)
        browser.save_screenshot(str(screenshots / "fax.png"))
        # A hostile id in the URL is shown as text, never parsed as markup.
        browser.get(paced.base_url + "/console/fax?id=%3Cimg%20src%3Dx%20id%3Dpwned%3E")
        WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.ID, "problem"))
        assert browser.find_element(By.TAG_NAME, "h1").text == "Fax <img src=x id=pwned>"
        assert not browser.find_elements(By.ID, "pwned")
        # Trunk status: the test's one trunk is the gateway itself, which answers its OPTIONS.
        browser.find_element(By.ID, "nav-status").click()
        WebDriverWait(browser, 15).until(lambda d: "up" in d.find_element(By.ID, "trunks").text)
        browser.save_screenshot(str(screenshots / "status.png"))

    await asyncio.to_thread(outbox_and_detail)
    for view in ("inbox", "send", "outbox", "fax", "status"):
        assert (screenshots / f"{view}.png").read_bytes().startswith(b"\x89PNG")
