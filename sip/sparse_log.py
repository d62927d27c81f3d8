"""Logging a flood of alike events (refused connections, requests turned away) once per interval.

At the SIP edge a stranger decides how often an event happens; one line per event would let them fill the
disk. ``SparseLog`` writes the first, then at most one line per interval saying how many were held back.
"""

from __future__ import annotations

import logging
import time


class SparseLog:
    def __init__(self, logger: logging.Logger, interval: float = 10.0) -> None:
        self.logger = logger
        self.interval = interval
        self._last = -interval
        self._held = 0

    def warning(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last < self.interval:
            self._held += 1
            return
        held, self._held, self._last = self._held, 0, now
        self.logger.warning("%s%s", message, f" (and {held} more since the last report)" if held else "")
