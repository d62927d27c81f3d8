"""External converters: a hang is cut off with its whole process tree, a crash becomes a short reason."""

from __future__ import annotations

import os
import time

from faxgw.gateway.documents.tools import CONVERTER_NICE, run_tool
from faxgw.gateway.domain import FaxStatus

from tests.helpers.documents import raises_code


def test_a_hanging_tool_is_stopped_at_its_deadline() -> None:
    started = time.monotonic()
    # The grandchild keeps the output pipe open: only killing the whole group ends the wait.
    with raises_code("failed_office_converter_issue") as caught:
        run_tool(
            ["sh", "-c", "sleep 60 & sleep 60"], timeout=1, error_code=FaxStatus.FAILED_OFFICE_CONVERTER_ISSUE
        )
    assert time.monotonic() - started < 10
    assert caught.value.message == "sh took longer than 1 s"


def test_a_failing_tool_reports_its_own_words() -> None:
    script = "echo 'banner line'; echo '**** Error: page 3 is broken' >&2; exit 3"
    with raises_code("failed_separate_file_pages_issue") as caught:
        run_tool(["sh", "-c", script], timeout=10, error_code=FaxStatus.FAILED_SEPARATE_FILE_PAGES_ISSUE)
    assert caught.value.message == "sh failed (exit 3): Error: page 3 is broken"


def test_a_tool_runs_below_the_gateways_priority() -> None:
    """A conversion busy on every core must leave the media process (and the API) their turn."""
    own = os.getpriority(os.PRIO_PROCESS, 0)
    # The shell is lowered as soon as it starts; `nice`, started after the pause, reports what it inherited.
    output = run_tool(
        ["sh", "-c", "sleep 0.5; nice"], timeout=10, error_code=FaxStatus.FAILED_SEPARATE_FILE_PAGES_ISSUE
    )
    assert int(output) == max(CONVERTER_NICE, own) > 0
