"""The demo's fixed start and the clock a demo is built under."""

from __future__ import annotations

# 2026-01-05T01:00:00Z, 09:00 in Beijing: a fixed start keeps a seed's demo identical.
DEMO_START = 1_767_574_800_000_000
DEMO_SPAN = 180 * 86_400_000_000  # cases are received over half a year
_MINUTE = 60_000_000
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR


class DemoClock:
    """The node's clock while building: moved to each step's scheduled time, ticking 1 ms per
    reading so receipt times strictly increase."""

    def __init__(self, start: int = DEMO_START, tick: int = 1_000):
        self.now = start
        self.tick = tick

    def __call__(self) -> int:
        self.now += self.tick
        return self.now

    def advance_to(self, moment: int) -> None:
        self.now = max(self.now, moment)
