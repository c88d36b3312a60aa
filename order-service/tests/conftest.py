"""Shared fixtures of order-service's tests: a fake clock, and a user-service faked at the
transport level (httpx.MockTransport) behind the real client.

Database fixtures (integration tests) are below the unit ones; they build on the root
conftest's ``create_database``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from order_service.clients.breaker import CircuitBreaker
from order_service.clients.user_service import UserServiceClient

Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeClock:
    """A monotonic clock that only moves when told; its sleep() records and advances."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@dataclass
class FakeUserService:
    """Answers GET /users/{id} from a set of known ids; ``handler`` replaces it when set."""

    known: set[int] = field(default_factory=set)
    handler: Handler | None = None
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.handler is not None:
            return self.handler(request)
        user_id = int(request.url.path.rsplit("/", 1)[-1])
        if user_id in self.known:
            return httpx.Response(200, json=_user_body(user_id))
        return httpx.Response(404, json={"type": "/problems/user-not-found", "status": 404})


def _user_body(user_id: int) -> dict[str, Any]:
    return {
        "id": user_id,
        "name": "Ada",
        "email": f"ada{user_id}@example.com",
        "created_at": "2026-11-24T01:02:03.456789Z",
    }


@pytest.fixture
def user_body() -> Callable[[int], dict[str, Any]]:
    return _user_body


@pytest.fixture
def fake_user_service() -> FakeUserService:
    return FakeUserService()


@pytest.fixture
def make_client(clock: FakeClock) -> Callable[..., UserServiceClient]:
    """Factory: a real UserServiceClient over MockTransport(handler), on the fake clock."""

    def make(handler: Handler, **overrides: Any) -> UserServiceClient:
        threshold = overrides.pop("failure_threshold", 5)
        reset = overrides.pop("reset_timeout", 5.0)
        options: dict[str, Any] = {
            "transport": httpx.MockTransport(handler),
            "sleep": clock.sleep,
            "clock": clock,
            "breaker": CircuitBreaker(
                failure_threshold=threshold, reset_timeout=reset, clock=clock
            ),
        }
        options.update(overrides)
        return UserServiceClient(base_url="http://user-service.test", **options)

    return make
