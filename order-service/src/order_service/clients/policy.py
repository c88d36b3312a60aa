"""The user-service client's policy: whether to ask at all, how often, and for how long.

Written with tenacity, on hynek/stamina's rules (docs/design.md, "order-service's calls to
user-service", is the one statement of them): only what the transport calls ``RetryableError`` is
retried (transport errors, timeouts, 429/502/503/504), never a 4xx; exponential backoff with full
jitter, or the server's ``Retry-After`` when it is at most ``retry_after_max`` (a longer one ends
the lookup with that hint); bounded by ``max_attempts`` and by a total ``deadline`` that also cuts
each attempt's timeouts, and no retry starts that could not finish in time. The circuit breaker
(clients/breaker.py) wraps the whole lookup; its half-open probe is one request, never retried.

Time comes from a ``Clock``, so tests wait on a fake one instead of sleeping. What happens is
reported to an ``Observer`` (clients/telemetry.py records it as metrics, spans and logs).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Literal, Protocol, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type
from tenacity.wait import wait_random_exponential

from order_service.clients.breaker import BreakerState, CircuitBreaker
from order_service.clients.transport import NoVerdictError, RetryableError
from order_service.config import UserServiceClientSettings
from order_service.errors import CircuitOpenError, TokenRefusedError, UserServiceUnavailableError

T = TypeVar("T")
Decision = Literal["allow", "probe", "reject"]


class Clock(Protocol):
    """Monotonic seconds when called; ``wall()`` for HTTP dates; ``sleep()`` to wait."""

    def __call__(self) -> float: ...

    def wall(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def __call__(self) -> float:
        return time.monotonic()

    def wall(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class Observer(Protocol):
    """What one lookup reports while the policy runs it."""

    def decided(self, decision: Decision) -> None:
        """The breaker let the lookup through (``allow``), as its probe, or refused it."""

    def attempt(self, number: int) -> None:
        """Attempt ``number`` (from 1) starts."""

    def retrying(self, *, attempt: int, reason: str, wait: float) -> None:
        """Attempt ``attempt`` failed for ``reason``; the next starts in ``wait`` seconds."""


class LookupPolicy:
    def __init__(
        self, settings: UserServiceClientSettings, breaker: CircuitBreaker, clock: Clock
    ) -> None:
        self._settings = settings
        self._breaker = breaker
        self._clock = clock
        self._backoff = wait_random_exponential(
            multiplier=settings.backoff_initial, max=settings.backoff_max
        )

    async def run(self, attempt: Callable[[float], Awaitable[T]], observer: Observer) -> T:
        """``attempt(budget)`` under the breaker, retried; raises ``UserServiceUnavailableError``
        (``CircuitOpenError`` when refused without a request), or what ``attempt`` raised for an
        answer (``TokenRefusedError``)."""
        try:
            permit = self._breaker.acquire()  # CircuitOpenError: fail fast, nothing sent
        except CircuitOpenError:
            observer.decided("reject")
            raise
        observer.decided("probe" if permit.probe else "allow")
        try:
            result = await self._retried(attempt, observer, attempts=1 if permit.probe else None)
        except TokenRefusedError:
            permit.release()  # says nothing about user-service's health
            raise
        except NoVerdictError as exc:
            permit.release()
            raise UserServiceUnavailableError(str(exc)) from None
        except UserServiceUnavailableError as exc:
            permit.failure()
            # If this failure opened the breaker, the caller should come back after its cool-down.
            exc.retry_after = max(exc.retry_after, self._breaker.remaining_cool_down())
            raise
        except BaseException:
            permit.release()  # cancelled, or our bug: no verdict either
            raise
        permit.success()
        return result

    async def _retried(
        self, attempt: Callable[[float], Awaitable[T]], observer: Observer, *, attempts: int | None
    ) -> T:
        settings, clock = self._settings, self._clock
        started = clock()
        attempts = attempts or settings.max_attempts

        def remaining() -> float:
            return settings.deadline - (clock() - started)

        def hint(state: RetryCallState) -> float | None:
            error = state.outcome.exception() if state.outcome else None
            return error.retry_after if isinstance(error, RetryableError) else None

        def stop(state: RetryCallState) -> bool:
            if state.attempt_number >= attempts:
                return True
            server_hint = hint(state)
            if server_hint is not None and server_hint > settings.retry_after_max:
                return True
            if state.upcoming_sleep >= remaining():
                return True  # the next attempt could not finish before the deadline
            # Other lookups opened the breaker meanwhile: stop hammering.
            return self._breaker.state is BreakerState.OPEN

        def wait(state: RetryCallState) -> float:
            server_hint = hint(state)
            return server_hint if server_hint is not None else float(self._backoff(state))

        def before_sleep(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            observer.retrying(
                attempt=state.attempt_number,
                reason=str(error),
                wait=round(state.upcoming_sleep, 3),
            )

        retrying = AsyncRetrying(
            retry=retry_if_exception_type(RetryableError),
            stop=stop,
            wait=wait,
            sleep=clock.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            async for try_ in retrying:
                with try_:
                    observer.attempt(try_.retry_state.attempt_number)
                    return await attempt(remaining())
        except RetryableError as exc:
            raise UserServiceUnavailableError(
                f"user-service lookup failed: {exc}", retry_after=exc.retry_after or 1.0
            ) from None
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover
