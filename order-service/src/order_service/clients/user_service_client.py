"""The user-service client: the only module that knows user-service is on the network.

It implements ``order_service.user_directory.UserDirectory`` with one call, ``GET /users/{id}``
with the caller's own bearer token relayed (200 -> ``UserRef`` with the name and email
order-service snapshots; 404 ``/problems/user-not-found`` -> ``None``; 401
``/problems/invalid-token`` -> ``TokenRefusedError``), and turns every other way that call can go
wrong into ``UserServiceUnavailableError`` (with a ``retry_after`` hint) for the domain. A 404 or
401 of another problem ``type`` (a wrong base path, a proxy's page) is not taken for a verdict on
the user: it is "unavailable". It also fetches the issuer's public keys (``fetch_jwks``,
``GET /.well-known/jwks.json``) for ``service_kit.tokens.JwksCache``: one attempt, short timeouts,
no breaker (the cache bounds how often it is called and keeps known keys when it fails).

The policy it follows (timeouts, retries, the deadline, the breaker ``clients.breaker``, the pool
size, metrics, trace spans) is written once, in docs/design.md, "order-service's calls to
user-service".
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Annotated

import httpx
from opentelemetry.trace import Span, SpanKind, StatusCode
from prometheus_client import Counter, Gauge
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type
from tenacity.wait import wait_random_exponential

from order_service.clients.breaker import BreakerState, CircuitBreaker
from order_service.errors import (
    CircuitOpenError,
    TokenRefusedError,
    UserServiceUnavailableError,
)
from order_service.user_directory import UserRef
from service_kit.metrics import REGISTRY
from service_kit.tracing import Tracing

if TYPE_CHECKING:
    from order_service.config import Settings

logger = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
USER_NOT_FOUND = "/problems/user-not-found"
VALIDATION = "/problems/validation"
INVALID_TOKEN = "/problems/invalid-token"  # noqa: S105  (a problem type, not a secret)
JWKS_PATH = "/.well-known/jwks.json"
_USER_AGENT = "order-service"

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


class _UserBody(BaseModel):
    """The part of user-service's ``User`` that order-service reads (and snapshots)."""

    model_config = ConfigDict(extra="ignore")

    id: Annotated[int, Field(strict=True, ge=1)]
    name: Annotated[str, Field(strict=True, min_length=1, max_length=100)]
    email: Annotated[str, Field(strict=True, min_length=3, max_length=320)]


class _ProblemBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str = "about:blank"


def _no_such_user(response: httpx.Response) -> bool:
    """user-service's verdict that the user does not exist: 404 user-not-found, or 422
    validation (an id beyond what it stores); a 404 or 422 of another kind says nothing."""
    kind = _problem_type(response)
    return (response.status_code, kind) in {(404, USER_NOT_FOUND), (422, VALIDATION)}


def _problem_type(response: httpx.Response) -> str | None:
    """The problem ``type`` of an RFC 9457 answer; None when the body is not a problem."""
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return None
    try:
        return _ProblemBody.model_validate_json(response.content).type
    except ValidationError:
        return None


class _RetryableStatusError(Exception):
    def __init__(self, status: int, retry_after: float | None) -> None:
        super().__init__(f"user-service answered {status}")
        self.status = status
        self.retry_after = retry_after


class _AttemptTimeoutError(Exception):
    """An attempt outlived the time the deadline left it."""


class _NoVerdictError(Exception):
    """user-service refused our request (4xx): says nothing about its health."""


_RETRYABLE = (httpx.TransportError, _RetryableStatusError, _AttemptTimeoutError)


class UserServiceClient:
    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float = 0.5,
        read_timeout: float = 2.0,
        max_attempts: int = 4,
        deadline: float = 4.0,
        backoff_initial: float = 0.1,
        backoff_max: float = 1.0,
        retry_after_max: float = 2.0,
        max_connections: int = 10,
        max_keepalive: int = 10,
        breaker: CircuitBreaker | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        tracing: Tracing | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_attempts = max_attempts
        self.deadline = deadline
        self.retry_after_max = retry_after_max
        self.breaker = breaker or CircuitBreaker(clock=clock)
        self._sleep = sleep
        self._clock = clock
        self._wall_clock = wall_clock
        self._backoff = wait_random_exponential(multiplier=backoff_initial, max=backoff_max)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_keepalive
            ),
            headers={"Accept": "application/json", "User-Agent": _USER_AGENT},
            follow_redirects=False,
            trust_env=False,
        )
        tracing = tracing or Tracing(None)
        tracing.instrument_client(self._http)
        self._tracer = tracing.tracer(__name__)
        self._record_breaker_state()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        tracing: Tracing | None = None,
    ) -> UserServiceClient:
        return cls(
            settings.user_service_url,
            connect_timeout=settings.user_service_connect_timeout,
            read_timeout=settings.user_service_read_timeout,
            max_attempts=settings.user_service_max_attempts,
            deadline=settings.user_service_deadline,
            backoff_initial=settings.user_service_backoff_initial,
            backoff_max=settings.user_service_backoff_max,
            retry_after_max=settings.user_service_retry_after_max,
            max_connections=settings.user_service_max_connections,
            max_keepalive=settings.user_service_max_keepalive,
            breaker=CircuitBreaker(
                failure_threshold=settings.breaker_failure_threshold,
                reset_timeout=settings.breaker_reset_timeout,
            ),
            transport=transport,
            tracing=tracing,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def fetch_jwks(self) -> dict[str, object]:
        """user-service's JWKS document (one attempt); raises UserServiceUnavailableError."""
        try:
            response = await self._http.get(JWKS_PATH)
        except httpx.HTTPError as exc:
            raise UserServiceUnavailableError(f"JWKS fetch failed: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise UserServiceUnavailableError(f"JWKS fetch answered {response.status_code}")
        try:
            document = response.json()
        except ValueError:
            raise UserServiceUnavailableError("JWKS fetch answered malformed JSON") from None
        if not isinstance(document, dict):
            raise UserServiceUnavailableError("JWKS document is not an object")
        return document

    async def get_user(
        self, user_id: int, *, token: str, request_id: str | None = None
    ) -> UserRef | None:
        """The user, None when user-service has no such user, ``TokenRefusedError`` when it
        refuses the caller's token, or UserServiceUnavailableError."""
        with self._tracer.start_as_current_span(
            "user-service lookup",
            kind=SpanKind.INTERNAL,
            attributes={"user_service.user_id": user_id},
            record_exception=False,  # the outcome attributes say what happened, without a trace
            set_status_on_exception=False,
        ) as span:
            span.set_attribute("user_service.breaker.state", self.breaker.state.value)
            try:
                permit = self.breaker.acquire()  # CircuitOpenError: fail fast, nothing sent
            except CircuitOpenError:
                _CIRCUIT_OPEN.inc()
                span.set_attributes(
                    {"user_service.breaker.decision": "reject", "user_service.attempts": 0}
                )
                _set_outcome(span, "circuit_open")
                raise
            span.set_attribute(
                "user_service.breaker.decision", "probe" if permit.probe else "allow"
            )
            self._record_breaker_state()  # open -> half-open happens in acquire()
            try:
                user = await self._lookup(
                    user_id, token=token, request_id=request_id, probe=permit.probe, span=span
                )
            except TokenRefusedError:
                permit.release()  # says nothing about user-service's health
                _REFUSED.inc()
                _set_outcome(span, "token_refused")
                raise
            except _NoVerdictError as exc:
                permit.release()
                _UNAVAILABLE.inc()
                _set_outcome(span, "unavailable")
                raise UserServiceUnavailableError(str(exc)) from None
            except UserServiceUnavailableError as exc:
                permit.failure()
                _UNAVAILABLE.inc()
                _set_outcome(span, "unavailable")
                # If this failure opened the breaker, the caller should come back after its
                # cool-down.
                exc.retry_after = max(exc.retry_after, self.breaker.remaining_cool_down())
                raise
            except BaseException:
                permit.release()
                raise
            else:
                permit.success()
                (_NOT_FOUND if user is None else _FOUND).inc()
                _set_outcome(span, "not_found" if user is None else "found")
                return user
            finally:
                self._record_breaker_state()  # after the permit's verdict, which may move it
                span.set_attribute("user_service.breaker.state_after", self.breaker.state.value)

    def _record_breaker_state(self) -> None:
        BREAKER_STATE.set(_STATE_VALUES[self.breaker.state])

    async def _lookup(
        self, user_id: int, *, token: str, request_id: str | None, probe: bool, span: Span
    ) -> UserRef | None:
        started = self._clock()

        def remaining() -> float:
            return self.deadline - (self._clock() - started)

        attempts = 1 if probe else self.max_attempts  # a probe is one request, never retried

        def stop(state: RetryCallState) -> bool:
            error = state.outcome.exception() if state.outcome else None
            if state.attempt_number >= attempts:
                return True
            if (
                isinstance(error, _RetryableStatusError)
                and error.retry_after is not None
                and error.retry_after > self.retry_after_max
            ):
                return True
            if state.upcoming_sleep >= remaining():
                return True  # the next attempt could not finish before the deadline
            # Other lookups opened the breaker meanwhile: stop hammering.
            return self.breaker.state is BreakerState.OPEN

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, _RetryableStatusError) and error.retry_after is not None:
                return error.retry_after
            return float(self._backoff(state))

        def log_retry(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            retry: dict[str, int | float | str] = {
                "attempt": state.attempt_number,
                "reason": _describe(error),
                "wait_seconds": round(state.upcoming_sleep, 3),
            }
            logger.warning(
                "user-service lookup failed, retrying", extra={"user_id": user_id, **retry}
            )
            span.add_event("retry", retry)

        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_RETRYABLE),
            stop=stop,
            wait=wait,
            sleep=self._sleep,
            before_sleep=log_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    span.set_attribute("user_service.attempts", attempt.retry_state.attempt_number)
                    return await self._attempt(user_id, token, request_id, remaining())
        except _RETRYABLE as exc:
            hint = exc.retry_after if isinstance(exc, _RetryableStatusError) else None
            raise UserServiceUnavailableError(
                f"user-service lookup failed: {_describe(exc)}",
                retry_after=hint or 1.0,
            ) from None
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    async def _attempt(
        self, user_id: int, token: str, request_id: str | None, budget: float
    ) -> UserRef | None:
        timeout = httpx.Timeout(
            connect=min(self.connect_timeout, budget),
            read=min(self.read_timeout, budget),
            write=min(self.read_timeout, budget),
            pool=min(self.connect_timeout, budget),
        )
        headers = {"Authorization": f"Bearer {token}"}
        if request_id:
            headers["X-Request-ID"] = request_id
        try:
            # httpx's timeouts are per operation; this caps the attempt as a whole.
            async with asyncio.timeout(budget):
                response = await self._http.get(
                    f"/users/{user_id}", headers=headers, timeout=timeout
                )
        except TimeoutError:
            raise _AttemptTimeoutError("attempt exceeded the deadline") from None

        if response.status_code == 200:
            try:
                body = _UserBody.model_validate_json(response.content)
            except ValidationError:
                raise UserServiceUnavailableError(
                    "user-service sent a malformed user body"
                ) from None
            return UserRef(id=body.id, name=body.name, email=body.email)
        if _no_such_user(response):  # no such user; or an id that cannot be one
            return None
        if response.status_code == 401 and _problem_type(response) == INVALID_TOKEN:
            raise TokenRefusedError()
        if response.status_code in RETRYABLE_STATUSES:
            raise _RetryableStatusError(
                response.status_code, _retry_after(response, now=self._wall_clock())
            )
        if 400 <= response.status_code < 500:
            logger.error("user-service refused the lookup", extra={"status": response.status_code})
            raise _NoVerdictError(f"user-service answered {response.status_code}")
        raise UserServiceUnavailableError(f"user-service answered {response.status_code}")


def _set_outcome(span: Span, outcome: str) -> None:
    """The lookup's outcome (the metric's label); an error status when there was no answer."""
    span.set_attribute("user_service.outcome", outcome)
    if outcome in {"unavailable", "circuit_open"}:
        span.set_status(StatusCode.ERROR, f"user-service {outcome.replace('_', ' ')}")


def _retry_after(response: httpx.Response, *, now: datetime) -> float | None:
    """``Retry-After`` in seconds (delta-seconds, or an HTTP date counted from ``now``), or None
    when absent or garbled."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def _describe(error: BaseException | None) -> str:
    if isinstance(error, _RetryableStatusError):
        return str(error)
    return type(error).__name__ if error else "unknown"
