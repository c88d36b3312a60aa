"""The circuit breaker on its own: states, cool-down and the single half-open probe."""

from __future__ import annotations

from typing import Any

import pytest

from order_service.clients.breaker import BreakerState, CircuitBreaker
from order_service.errors import CircuitOpenError

pytestmark = pytest.mark.unit


def _breaker(clock: Any, threshold: int = 3, reset: float = 5.0) -> CircuitBreaker:
    return CircuitBreaker(failure_threshold=threshold, reset_timeout=reset, clock=clock)


def _fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        breaker.acquire().failure()


def test_breaker_stays_closed_below_threshold(clock: Any) -> None:
    breaker = _breaker(clock)
    _fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED
    breaker.acquire().success()


def test_breaker_opens_after_threshold_consecutive_failures(clock: Any) -> None:
    breaker = _breaker(clock)
    _fail(breaker, 3)
    assert breaker.state is BreakerState.OPEN
    clock.advance(2.0)
    with pytest.raises(CircuitOpenError) as info:
        breaker.acquire()
    assert info.value.retry_after == pytest.approx(3.0)


def test_success_resets_the_consecutive_failure_count(clock: Any) -> None:
    breaker = _breaker(clock)
    _fail(breaker, 2)
    breaker.acquire().success()
    _fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED


def test_breaker_lets_one_probe_through_after_cool_down_and_closes_on_success(
    clock: Any,
) -> None:
    breaker = _breaker(clock)
    _fail(breaker, 3)
    clock.advance(5.0)
    probe = breaker.acquire()
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(CircuitOpenError):
        breaker.acquire()  # a second caller while the probe is in flight fails fast
    probe.success()
    assert breaker.state is BreakerState.CLOSED
    breaker.acquire().success()


def test_failed_probe_reopens_the_breaker_for_a_full_cool_down(clock: Any) -> None:
    breaker = _breaker(clock)
    _fail(breaker, 3)
    clock.advance(6.0)
    breaker.acquire().failure()
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpenError) as info:
        breaker.acquire()
    assert info.value.retry_after == pytest.approx(5.0)


def test_abandoned_probe_frees_the_slot_for_the_next_caller(clock: Any) -> None:
    breaker = _breaker(clock)
    _fail(breaker, 3)
    clock.advance(5.0)
    breaker.acquire().release()
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.acquire().success()
    assert breaker.state is BreakerState.CLOSED


def test_late_results_of_calls_started_before_opening_do_not_change_an_open_breaker(
    clock: Any,
) -> None:
    breaker = _breaker(clock)
    slow = breaker.acquire()
    _fail(breaker, 3)
    slow.success()
    assert breaker.state is BreakerState.OPEN


def test_breaker_rejects_nonsense_settings(clock: Any) -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(failure_threshold=0, reset_timeout=1.0, clock=clock)
    with pytest.raises(ValueError, match="reset_timeout"):
        CircuitBreaker(failure_threshold=1, reset_timeout=0.0, clock=clock)
