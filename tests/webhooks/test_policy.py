"""Back-off schedule, which failures are retried, Retry-After."""

from __future__ import annotations

import random
from email.utils import formatdate

import pytest
from faxgw.gateway.webhooks import RetryPolicy, is_retryable
from faxgw.gateway.webhooks.policy import parse_retry_after


def test_default_delays_double_from_five_seconds_up_to_an_hour() -> None:
    policy = RetryPolicy()
    assert [policy.delay(n) for n in range(1, 13)] == [
        5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600,
    ]  # fmt: skip
    assert policy.delay(10_000) == 3600


def test_jitter_only_shortens_delays_within_its_fraction() -> None:
    policy = RetryPolicy(initial_delay=10, jitter=0.25)
    rng = random.Random(7)
    delays = [policy.delay(1, rng) for _ in range(200)]
    assert all(7.5 <= delay <= 10 for delay in delays)
    assert len(set(delays)) > 100
    assert RetryPolicy(initial_delay=10).delay(1, rng) == 10


def test_max_attempts_counts_the_first_attempt() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert [policy.gives_up_after(n) for n in (1, 2, 3)] == [False, False, True]


@pytest.mark.parametrize(
    "options",
    [
        {"initial_delay": -1},
        {"initial_delay": 10, "max_delay": 5},
        {"factor": 0.5},
        {"max_attempts": 0},
        {"timeout": 0},
        {"jitter": 1.5},
    ],
)
def test_nonsense_policies_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**options)


@pytest.mark.parametrize(
    ("status", "retry"),
    [
        (None, True),
        (408, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (599, True),
        (301, False),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (410, False),
        (422, False),
    ],
)
def test_retry_on_passing_trouble_only(status: int | None, retry: bool) -> None:
    assert is_retryable(status) is retry


def test_retry_after_seconds_or_http_date() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now) == 30
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now) == 0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


@pytest.mark.parametrize("text", ["²", "٣"])
def test_retry_after_in_other_digits_is_unreadable(text: str) -> None:
    assert parse_retry_after(text, 0.0) is None
