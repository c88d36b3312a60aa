"""The user-service client's instrumentation: what each lookup did, as metrics, a span and logs.

- ``user_service_lookups_total{outcome}``: found, not_found, token_refused, unavailable,
  circuit_open (a cancelled lookup has none); every series exists from the start.
- ``user_service_breaker_state``: 0 closed, 1 open, 2 half-open, as the breaker moves.
- a ``user-service lookup`` span around the whole lookup: the breaker's state before and after
  and its decision, the attempts, a ``retry`` event per retry (attempt, reason, wait), the
  outcome; an error status when there was no answer. The client span of each attempt, with the
  ``traceparent`` it sends, is httpx's instrumentation (``service_kit.tracing``), beneath it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer
from prometheus_client import Counter, Gauge

from order_service.clients.breaker import BreakerState, CircuitBreaker
from order_service.clients.policy import Decision, Observer
from order_service.errors import CircuitOpenError, TokenRefusedError, UserServiceUnavailableError
from order_service.user_directory import UserRef
from service_kit.metrics import REGISTRY

logger = logging.getLogger(__name__)

LOOKUPS = Counter(
    "user_service_lookups_total",
    "User lookups in user-service, by outcome.",
    ["outcome"],
    registry=REGISTRY,
)
_FOUND, _NOT_FOUND, _REFUSED, _UNAVAILABLE, _CIRCUIT_OPEN = (
    LOOKUPS.labels(outcome)
    for outcome in ("found", "not_found", "token_refused", "unavailable", "circuit_open")
)
BREAKER_STATE = Gauge(
    "user_service_breaker_state",
    "The user-service circuit breaker: 0 closed, 1 open, 2 half-open.",
    multiprocess_mode="max",
    registry=REGISTRY,
)
_STATE_VALUES = {BreakerState.CLOSED: 0, BreakerState.OPEN: 1, BreakerState.HALF_OPEN: 2}


class LookupTelemetry:
    def __init__(self, tracer: Tracer, breaker: CircuitBreaker) -> None:
        self._tracer = tracer
        self._breaker = breaker
        self.record_breaker_state()

    def record_breaker_state(self) -> None:
        BREAKER_STATE.set(_STATE_VALUES[self._breaker.state])

    async def observe(
        self, user_id: int, lookup: Callable[[Observer], Awaitable[UserRef | None]]
    ) -> UserRef | None:
        """Run ``lookup`` inside its span, and count its outcome."""
        with self._tracer.start_as_current_span(
            "user-service lookup",
            kind=SpanKind.INTERNAL,
            attributes={"user_service.user_id": user_id},
            record_exception=False,  # the outcome attributes say what happened, without a trace
            set_status_on_exception=False,
        ) as span:
            span.set_attribute("user_service.breaker.state", self._breaker.state.value)
            try:
                user = await lookup(_SpanObserver(self, span, user_id))
            except TokenRefusedError:
                _outcome(span, _REFUSED, "token_refused")
                raise
            except CircuitOpenError:
                _outcome(span, _CIRCUIT_OPEN, "circuit_open")
                raise
            except UserServiceUnavailableError:
                _outcome(span, _UNAVAILABLE, "unavailable")
                raise
            else:
                if user is None:
                    _outcome(span, _NOT_FOUND, "not_found")
                else:
                    _outcome(span, _FOUND, "found")
                return user
            finally:
                self.record_breaker_state()  # after the breaker's verdict, which may move it
                span.set_attribute("user_service.breaker.state_after", self._breaker.state.value)


class _SpanObserver:
    def __init__(self, telemetry: LookupTelemetry, span: Span, user_id: int) -> None:
        self._telemetry = telemetry
        self._span = span
        self._user_id = user_id

    def decided(self, decision: Decision) -> None:
        self._span.set_attribute("user_service.breaker.decision", decision)
        if decision == "reject":
            self._span.set_attribute("user_service.attempts", 0)
        else:
            self._telemetry.record_breaker_state()  # open -> half-open happens on the way in

    def attempt(self, number: int) -> None:
        self._span.set_attribute("user_service.attempts", number)

    def retrying(self, *, attempt: int, reason: str, wait: float) -> None:
        retry: dict[str, int | float | str] = {
            "attempt": attempt,
            "reason": reason,
            "wait_seconds": wait,
        }
        logger.warning(
            "user-service lookup failed, retrying", extra={"user_id": self._user_id, **retry}
        )
        self._span.add_event("retry", retry)


def _outcome(span: Span, counter: Counter, outcome: str) -> None:
    """The lookup's outcome (the metric's label); an error status when there was no answer."""
    counter.inc()
    span.set_attribute("user_service.outcome", outcome)
    if outcome in {"unavailable", "circuit_open"}:
        span.set_status(StatusCode.ERROR, f"user-service {outcome.replace('_', ' ')}")
