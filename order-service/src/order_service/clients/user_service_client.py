"""The user-service client: order-service's ``UserDirectory`` over HTTP, and the only part of
order-service that knows user-service is on the network.

Three parts, each with one job: the transport (clients/transport.py: one request, and what its
answer means), the policy (clients/policy.py: the breaker, retries and the deadline) and the
instrumentation (clients/telemetry.py: metrics, spans, logs). The policy they follow is written
once, in docs/design.md, "order-service's calls to user-service"; the settings are
``config.UserServiceClientSettings`` and ``config.BreakerSettings``.
"""

from __future__ import annotations

import httpx

from order_service.clients.breaker import CircuitBreaker
from order_service.clients.policy import Clock, LookupPolicy, Observer, SystemClock
from order_service.clients.telemetry import LookupTelemetry
from order_service.clients.transport import UserServiceTransport
from order_service.config import Settings, UserServiceClientSettings
from order_service.user_directory import UserRef
from service_kit.tracing import Tracing


class UserServiceClient:
    """``transport``, ``clock`` and ``tracing`` are for tests (httpx.MockTransport, a fake clock,
    spans in memory); the app builds it with ``from_settings``."""

    def __init__(
        self,
        settings: UserServiceClientSettings,
        *,
        breaker: CircuitBreaker | None = None,
        tracing: Tracing | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
    ) -> None:
        clock = clock or SystemClock()
        tracing = tracing or Tracing(None)
        self.settings = settings
        self.breaker = breaker or CircuitBreaker(clock=clock)
        self._transport = UserServiceTransport(settings, transport=transport, wall_clock=clock.wall)
        self._policy = LookupPolicy(settings, self.breaker, clock)
        self._telemetry = LookupTelemetry(tracing.tracer(__name__), self.breaker)
        tracing.instrument_client(self._transport.http)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, tracing: Tracing | None = None
    ) -> UserServiceClient:
        breaker = CircuitBreaker(
            failure_threshold=settings.breaker.failure_threshold,
            reset_timeout=settings.breaker.reset_timeout,
        )
        return cls(settings.user_service, breaker=breaker, tracing=tracing)

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def fetch_jwks(self) -> dict[str, object]:
        """user-service's JWKS document (one attempt); raises UserServiceUnavailableError."""
        return await self._transport.fetch_jwks()

    async def get_user(self, user_id: int, *, token: str) -> UserRef | None:
        """The user, None when user-service has no such user, ``TokenRefusedError`` when it
        refuses the caller's token, or UserServiceUnavailableError."""

        async def attempt(budget: float) -> UserRef | None:
            return await self._transport.get_user(user_id, token=token, budget=budget)

        async def lookup(observer: Observer) -> UserRef | None:
            return await self._policy.run(attempt, observer)

        return await self._telemetry.observe(user_id, lookup)
