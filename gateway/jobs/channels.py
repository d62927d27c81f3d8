"""The gateway's channels: how many calls it carries at once, inbound and outbound together (``channels``).

An outbound attempt holds a channel from the moment its fax is claimed until the attempt ends; an
inbound call from the moment it is accepted until it is settled. Beyond the limit inbound calls are
refused (503 with Retry-After) and due faxes wait in the queue.
"""

from __future__ import annotations

#: Seconds a refused caller is asked to wait (RFC 3261 20.33): about one fax page at 9600 bit/s.
BUSY_RETRY_AFTER = 30


class Channels:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.busy = 0

    @property
    def free(self) -> int:
        return max(self.limit - self.busy, 0)

    def take(self, count: int = 1) -> bool:
        """Hold ``count`` channels if that many are free (a bridged call holds two), else none."""
        if self.free < count:
            return False
        self.busy += count
        return True

    def release(self, count: int = 1) -> None:
        self.busy -= count
