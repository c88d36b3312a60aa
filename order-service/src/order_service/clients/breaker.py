"""A small circuit breaker for asyncio callers, used by the user-service client.

closed --(failure_threshold consecutive failures)--> open --(reset_timeout)--> half-open
half-open: exactly one probe is let through; its success closes, its failure reopens.

Hand-rolled on purpose (about 100 lines): purgatory reads ``time.time()`` directly (no injectable
clock) and lets every caller through while half-open; pybreaker is synchronous (its async support
is Tornado-only) with a wall clock; aiobreaker has had no release since 2021. None exposes the
remaining cool-down, which order-service returns as ``Retry-After``.

State changes happen synchronously between awaits, so one event loop needs no lock.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from order_service.errors import CircuitOpenError

logger = logging.getLogger(__name__)


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(slots=True)
class Permit:
    """Leave to make one call; report its outcome exactly once."""

    _breaker: CircuitBreaker
    _generation: int
    probe: bool
    _done: bool = False

    def success(self) -> None:
        if not self._done:
            self._done = True
            self._breaker._on_success(self)

    def failure(self) -> None:
        if not self._done:
            self._done = True
            self._breaker._on_failure(self)

    def release(self) -> None:
        """The call ended with no verdict on the dependency's health (cancelled, our bug)."""
        if not self._done:
            self._done = True
            self._breaker._on_release(self)


class CircuitBreaker:
    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        reset_timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        name: str = "user-service",
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if reset_timeout <= 0:
            raise ValueError("reset_timeout must be positive")
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.name = name
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self._generation = 0  # bumped when the breaker opens: late results of older calls are moot

    @property
    def state(self) -> BreakerState:
        return self._state

    def remaining_cool_down(self) -> float:
        """Seconds until a probe may be sent (0 when closed or due)."""
        if self._state is BreakerState.CLOSED:
            return 0.0
        return max(0.0, self._opened_at + self.reset_timeout - self._clock())

    def acquire(self) -> Permit:
        """A permit to call, or CircuitOpenError (with the remaining cool-down) to fail fast."""
        if self._state is BreakerState.OPEN:
            remaining = self.remaining_cool_down()
            if remaining > 0:
                raise CircuitOpenError(retry_after=remaining)
            self._state = BreakerState.HALF_OPEN
            logger.info("circuit breaker half-open", extra={"breaker": self.name})
        if self._state is BreakerState.HALF_OPEN:
            if self._probing:
                raise CircuitOpenError(retry_after=0.0)
            self._probing = True
            return Permit(self, self._generation, probe=True)
        return Permit(self, self._generation, probe=False)

    def _on_success(self, permit: Permit) -> None:
        if permit.probe:
            self._probing = False
            self._state = BreakerState.CLOSED
            self._failures = 0
            logger.info("circuit breaker closed", extra={"breaker": self.name})
        elif self._state is BreakerState.CLOSED and permit._generation == self._generation:
            self._failures = 0

    def _on_failure(self, permit: Permit) -> None:
        if permit.probe:
            self._probing = False
            self._open()
        elif self._state is BreakerState.CLOSED and permit._generation == self._generation:
            self._failures += 1
            if self._failures >= self.failure_threshold:
                self._open()

    def _on_release(self, permit: Permit) -> None:
        if permit.probe:
            self._probing = False

    def _open(self) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = self._clock()
        self._failures = 0
        self._generation += 1
        logger.warning(
            "circuit breaker opened",
            extra={"breaker": self.name, "cool_down_seconds": self.reset_timeout},
        )
