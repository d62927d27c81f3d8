"""When a failed webhook is tried again, and which failures are worth trying again at all."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime

#: Responses that say "not now" rather than "never": request timeout and rate limiting.
RETRYABLE_4XX = frozenset({408, 429})


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential back-off: ``initial_delay * factor**(n-1)`` after the n-th failure, at most
    ``max_delay``; ``max_attempts`` counts every attempt, the first included; ``timeout`` bounds one attempt.

    ``jitter`` (0 to 1) takes up to that fraction off each delay at random, so that receivers coming back
    from an outage are not hit by every gateway retry at the same instant; 0 keeps delays deterministic.
    """

    initial_delay: float = 5.0
    factor: float = 2.0
    max_delay: float = 3600.0
    max_attempts: int = 10
    timeout: float = 10.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.initial_delay < 0 or self.max_delay < self.initial_delay:
            raise ValueError("need 0 <= initial_delay <= max_delay")
        if self.factor < 1:
            raise ValueError("factor below 1 would shrink the delays")
        if self.max_attempts < 1:
            raise ValueError("max_attempts counts the first attempt: at least 1")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter is a fraction between 0 and 1")

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after the ``failures``-th failed attempt (1 for the first)."""
        if failures < 1:
            raise ValueError("delay() is asked after at least one failure")
        # Cap the exponent as well as the result: factor**n overflows a float long before n gets silly.
        base = self.initial_delay
        for _ in range(failures - 1):
            base *= self.factor
            if base >= self.max_delay:
                break
        base = min(base, self.max_delay)
        if self.jitter:
            base *= 1 - self.jitter * (rng or random).random()
        return base

    def gives_up_after(self, attempts: int) -> bool:
        return attempts >= self.max_attempts


def is_retryable(status_code: int | None) -> bool:
    """Whether a failed attempt is worth repeating.

    ``None`` (no response: connection refused or dropped, timeout) and 408, 429 and 5xx are passing
    trouble. Any other answer that is not 2xx (3xx we do not follow, 400, 401, 403, 404, 410...) says the
    receiver's set-up is wrong; repeating the same request will not fix it, so we give up and log it.
    """
    if status_code is None:
        return True
    return status_code in RETRYABLE_4XX or 500 <= status_code <= 599


def parse_retry_after(value: str | None, now: float) -> float | None:
    """RFC 9110 10.2.3: Retry-After as delay-seconds or an HTTP date; None if absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # "²".isdigit() is true too, and float() refuses it
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)
