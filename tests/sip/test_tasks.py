"""sip.tasks: background tasks kept until they end, failures logged with what they were, cancelled at
close; and the one way to spawn one everywhere in faxgw.gateway and faxgw.sip."""

from __future__ import annotations

import ast
import asyncio
import logging
from pathlib import Path

import pytest
from faxgw.sip.tasks import Tasks

ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger("test.tasks")


async def test_a_failure_is_logged_with_what_it_was(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise ValueError("no such page")

    tasks = Tasks(log, "page writer")
    task = tasks.spawn(broken())
    await asyncio.wait([task])
    await asyncio.sleep(0)  # done callbacks run on the next pass of the loop
    [record] = [r for r in caplog.records if r.name == "test.tasks"]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "page writer failed: ValueError('no such page')"
    assert record.exc_info is not None and record.exc_info[1] is task.exception()


async def test_the_name_can_be_known_only_later(caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> None:
        raise RuntimeError("gone")

    names = ["call (no Call-ID yet)"]
    tasks = Tasks(log, lambda: names[-1])
    task = tasks.spawn(broken())
    names.append("call abc@127.0.0.1")
    await asyncio.wait([task])
    await asyncio.sleep(0)
    assert [r.getMessage() for r in caplog.records] == ["call abc@127.0.0.1 failed: RuntimeError('gone')"]


async def test_a_task_is_kept_until_it_ends_and_its_result_is_its_own(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()

    async def work() -> int:
        await release.wait()
        return 42

    tasks = Tasks(log, "work")
    task = tasks.spawn(work())
    await asyncio.sleep(0)
    assert len(tasks) == 1 and not task.done()
    release.set()
    assert await task == 42
    await asyncio.sleep(0)
    assert len(tasks) == 0
    assert caplog.records == []


async def test_cancel_ends_every_task_and_waits_for_them(caplog: pytest.LogCaptureFixture) -> None:
    ended: list[str] = []

    async def forever(name: str) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0.01)  # clean-up that itself takes a moment
            ended.append(name)

    tasks = Tasks(log, "forever")
    for name in ("a", "b"):
        tasks.spawn(forever(name))
    await asyncio.sleep(0)
    await tasks.cancel()
    assert sorted(ended) == ["a", "b"]
    assert len(tasks) == 0
    assert caplog.records == []  # being cancelled is no failure


async def test_cancel_all_asks_without_waiting() -> None:
    tasks = Tasks(log, "forever")
    task = tasks.spawn(asyncio.Event().wait())
    await asyncio.sleep(0)
    tasks.cancel_all()
    assert not task.done()  # asked: it ends at its next await
    with pytest.raises(asyncio.CancelledError):
        await task


def unsupervised_spawns(source: str) -> list[int]:
    """Lines that start a task other than through sip.tasks: asyncio.ensure_future, create_task."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Attribute) and node.func.attr in ("ensure_future", "create_task"))
            or (isinstance(node.func, ast.Name) and node.func.id in ("ensure_future", "create_task"))
        )
    ]


def test_every_background_task_is_spawned_through_tasks() -> None:
    found = {
        str(path.relative_to(ROOT)): lines
        for folder in ("gateway", "sip")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path != ROOT / "sip" / "tasks.py" and (lines := unsupervised_spawns(path.read_text()))
    }
    assert found == {}


def test_an_unsupervised_spawn_is_found() -> None:
    """The check above can fail: each way of starting a bare task is caught."""
    source = (
        "import asyncio\n"
        "from asyncio import ensure_future\n"
        "asyncio.ensure_future(work())\n"
        "asyncio.get_running_loop().create_task(work())\n"
        "ensure_future(work())\n"
        "tasks.spawn(work())\n"
    )
    assert unsupervised_spawns(source) == [3, 4, 5]
