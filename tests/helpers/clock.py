"""A clock for code that takes one (``now=``): tests move its time themselves."""


class FakeClock:
    """Unix time that moves only when a test says so."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
