"""Shared fixtures of order-service's tests: a fake clock, and a user-service faked at the
transport level (httpx.MockTransport) behind the real client.

Database fixtures (integration tests) are below the unit ones; they build on the root
conftest's ``create_database``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from order_service.api.deps import get_user_directory
from order_service.clients.breaker import CircuitBreaker
from order_service.clients.user_service_client import UserServiceClient
from order_service.config import Settings
from order_service.main import create_app
from order_service.migrations import MIGRATIONS
from service_kit.db import make_engine

Handler = Callable[[httpx.Request], httpx.Response]


WALL_CLOCK_START = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)


@dataclass
class FakeClock:
    """A monotonic clock that only moves when told; its sleep() records and advances.

    ``wall()`` is the matching wall clock (for HTTP dates), moving with it.
    """

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
            "wall_clock": clock.wall,
            "breaker": CircuitBreaker(
                failure_threshold=threshold, reset_timeout=reset, clock=clock
            ),
        }
        options.update(overrides)
        return UserServiceClient(base_url="http://user-service.test", **options)

    return make


# --- integration: a real PostgreSQL, migrated by the `migrate` code path -----------------------


@pytest.fixture(scope="session")
def database_url(create_database: Callable[[str], str]) -> str:
    url = create_database("order_service")
    MIGRATIONS.upgrade_head(Settings(database_url=url))
    return url


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        db_pool_size=10,
        db_max_overflow=10,
        user_service_url="http://user-service.test",
    )


@pytest.fixture(scope="session")
def _session_engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture
def db_engine(_session_engine: Engine) -> Engine:
    """The migrated database, emptied before the test (ids restart at 1)."""
    with _session_engine.begin() as conn:
        conn.execute(text("TRUNCATE TABLE order_items, orders RESTART IDENTITY CASCADE"))
    return _session_engine


@pytest.fixture
def user_service_client(
    fake_user_service: FakeUserService, make_client: Callable[..., UserServiceClient]
) -> Iterator[UserServiceClient]:
    """The real client over the fake user-service (fake clock: retries never sleep)."""
    client = make_client(fake_user_service, failure_threshold=3, reset_timeout=5.0)
    yield client
    asyncio.run(client.aclose())


@contextlib.contextmanager
def _serving(settings: Settings, directory: UserServiceClient) -> Iterator[TestClient]:
    application = create_app(settings)
    application.dependency_overrides[get_user_directory] = lambda: directory
    with TestClient(application, raise_server_exceptions=False) as test_client:
        yield test_client
    application.state.engine.dispose()


@pytest.fixture
def client(
    settings: Settings, db_engine: Engine, user_service_client: UserServiceClient
) -> Iterator[TestClient]:
    """The app on the test database, with user-service faked at the transport level."""
    with _serving(settings, user_service_client) as test_client:
        yield test_client


@pytest.fixture
def serving(
    db_engine: Engine, user_service_client: UserServiceClient
) -> Callable[[Settings], contextlib.AbstractContextManager[TestClient]]:
    """``with serving(settings) as client``: the app with other settings, on the test database."""
    return lambda settings: _serving(settings, user_service_client)


@pytest.fixture
def closed_port_settings() -> Settings:
    """Settings pointing at a port where nothing listens: a database outage."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return Settings(
        database_url=f"postgresql://postgres@127.0.0.1:{port}/orders", db_connect_timeout=1
    )


@pytest.fixture
def outage_client(
    closed_port_settings: Settings, user_service_client: UserServiceClient
) -> Iterator[TestClient]:
    """The app with its database down and user-service (faked) up."""
    with _serving(closed_port_settings, user_service_client) as test_client:
        yield test_client


@pytest.fixture
def order_body() -> Callable[..., dict[str, Any]]:
    def make(**overrides: Any) -> dict[str, Any]:
        data: dict[str, Any] = {
            "user_id": 1,
            "currency": "EUR",
            "items": [
                {"product_id": "SKU-1", "quantity": 2, "unit_price": 1250},
                {"product_id": "SKU-2", "quantity": 1, "unit_price": 99},
            ],
        }
        data.update(overrides)
        return data

    return make
