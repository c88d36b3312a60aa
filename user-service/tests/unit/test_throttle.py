"""The login throttle: lockout and doubling, and a table no caller can grow or empty early."""

from __future__ import annotations

import tracemalloc

import pytest

from devtools.clock import FakeClock
from user_service.throttle import LoginThrottle, Refusal

pytestmark = pytest.mark.unit


def test_throttle_locks_after_max_failures_and_a_success_clears(clock: FakeClock) -> None:
    throttle = LoginThrottle(max_failures=3, lockout=60, clock=clock)
    for _ in range(2):
        throttle.failure("ada@example.com")
    assert throttle.retry_after("ada@example.com") is None
    throttle.failure("ada@example.com")
    assert throttle.retry_after("ada@example.com") == 60
    assert throttle.retry_after("bob@example.com") is None
    clock.now += 59.5
    assert throttle.retry_after("ada@example.com") == 1
    clock.now += 1
    assert throttle.retry_after("ada@example.com") is None
    throttle.success("ada@example.com")
    for _ in range(2):
        throttle.failure("ada@example.com")
    assert throttle.retry_after("ada@example.com") is None


def test_throttle_doubles_the_lockout_each_round_up_to_the_maximum(clock: FakeClock) -> None:
    throttle = LoginThrottle(max_failures=1, lockout=60, max_lockout=200, clock=clock)
    seen = []
    for _ in range(4):
        throttle.failure("a")
        seen.append(throttle.retry_after("a"))
        clock.now += 250  # the lock is over; the doubling is remembered
    assert seen == [60, 120, 200, 200]


def test_a_locked_name_stays_locked_through_a_flood_of_other_names(clock: FakeClock) -> None:
    throttle = LoginThrottle(max_failures=2, lockout=60, max_lockout=900, max_entries=100,
                             clock=clock)  # fmt: skip
    throttle.failure("ada@example.com")
    throttle.failure("ada@example.com")
    for i in range(10_000):
        name = f"eve{i}@example.com"
        if throttle.check(name) is None:
            throttle.failure(name)
        clock.now += 0.005
    assert throttle.check("ada@example.com") == Refusal(10, locked=True)
    assert len(throttle) == 100


def test_a_full_table_refuses_untracked_names_until_its_oldest_entry_expires(
    clock: FakeClock,
) -> None:
    throttle = LoginThrottle(max_failures=5, lockout=60, max_lockout=100, max_entries=2,
                             clock=clock)  # fmt: skip
    throttle.failure("a")
    clock.now += 10
    throttle.failure("b")
    assert throttle.check("a") is None  # tracked names go on being checked
    assert throttle.check("c") == Refusal(190, locked=False)
    clock.now += 190
    assert throttle.check("c") is None
    assert len(throttle) == 1


def test_a_name_is_forgotten_twice_the_max_lockout_after_its_last_failure(clock: FakeClock) -> None:
    throttle = LoginThrottle(max_failures=1, lockout=60, max_lockout=100, clock=clock)
    throttle.failure("a")
    clock.now += 199
    throttle.check("b")
    assert len(throttle) == 1
    clock.now += 1
    throttle.check("b")
    assert len(throttle) == 0
    throttle.failure("a")
    assert throttle.retry_after("a") == 60  # the doubling starts again


@pytest.mark.parametrize("length", [20, 320])
def test_an_entry_costs_the_same_bytes_whatever_the_names_length(length: int) -> None:
    throttle = LoginThrottle(max_failures=5, max_entries=10_000)
    names = [f"{i:08d}".ljust(length - 12, "x") + "@example.com" for i in range(2000)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for name in names:
        throttle.failure(name)
    per_entry = (tracemalloc.get_traced_memory()[0] - before) / len(names)
    tracemalloc.stop()
    assert per_entry < 300, per_entry
