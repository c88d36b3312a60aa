"""A clock for tests: it moves only when told, so rules about time are tested without sleeping.

It has the shape of the clocks the code under test takes: called, it gives monotonic seconds;
``wall()`` gives the matching wall-clock time (for HTTP dates); ``sleep()`` records and advances.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

WALL_CLOCK_START = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


@dataclass
class FakeClock:
    """Monotonic seconds from ``now``; every ``sleep()`` is kept in ``sleeps``."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return WALL_CLOCK_START + timedelta(seconds=self.now - 1000.0)

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
