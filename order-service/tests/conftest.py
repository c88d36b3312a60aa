"""Shared fixtures of order-service's tests: a token issuer standing for user-service's keys,
and a user-service faked at the transport level (httpx.MockTransport) behind the real client,
on the root conftest's fake ``clock``.

The ``client`` sends a bearer token for user 1 by default (``bearer(user_id)`` makes others);
tokens are verified by the app as in production, against the fake user-service's JWKS.

Database fixtures (integration tests) are below the unit ones; they build on the root
conftest's ``migrated_database`` and ``db_engine`` (which empties the ``db_tables`` named here).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from devtools.clock import FakeClock
from order_service.clients.breaker import CircuitBreaker
from order_service.clients.user_service_client import UserServiceClient
from order_service.config import Settings, UserServiceClientSettings
from order_service.main import create_app
from order_service.migrations import MIGRATIONS
from service_kit.tokens import public_jwk
from service_kit.tracing import Tracing

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


ISSUER, AUDIENCE = "user-service", "shop"


@dataclass
class Issuer:
    """Stands for user-service's signing keys: a JWKS document and tokens signed to match."""

    keys: dict[str, Ed25519PrivateKey] = field(
        default_factory=lambda: {"test-kid-1": Ed25519PrivateKey.generate()}
    )

    @property
    def kid(self) -> str:
        return sorted(self.keys)[-1]

    def jwks(self) -> dict[str, Any]:
        return {"keys": [public_jwk(kid, key.public_key()) for kid, key in self.keys.items()]}

    def token(self, subject: int | str = 1, *, kid: str | None = None, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": str(subject), "iat": now, "nbf": now,
                   "exp": now + 900, "jti": uuid.uuid4().hex, "roles": []}  # fmt: skip
        payload.update(claims)
        kid = kid or self.kid
        key = self.keys.get(kid) or Ed25519PrivateKey.generate()  # unknown kid: a foreign key
        return jwt.encode(payload, key, algorithm="EdDSA", headers={"kid": kid})

    def bearer(self, subject: int | str = 1, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(subject, **claims)}"}


@pytest.fixture(scope="session")
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture
def bearer(issuer: Issuer) -> Callable[..., dict[str, str]]:
    """``bearer(user_id)``: an Authorization header with a valid token for that user."""
    return issuer.bearer


PROBLEM_JSON = {"Content-Type": "application/problem+json"}


@dataclass
class FakeUserService:
    """Answers GET /users/{id} from a set of known ids (for the token's own user only, like
    user-service), and the JWKS; ``handler`` replaces the user lookups when set."""

    issuer: Issuer = field(default_factory=Issuer)
    known: set[int] = field(default_factory=set)
    handler: Handler | None = None
    requests: list[httpx.Request] = field(default_factory=list)
    jwks_requests: int = 0
    refuse_tokens: bool = False
    down: bool = False  # every request, JWKS included, fails to connect

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path == "/.well-known/jwks.json":
            self.jwks_requests += 1
            return httpx.Response(200, json=self.issuer.jwks())
        self.requests.append(request)
        if self.handler is not None:
            return self.handler(request)
        user_id = int(request.url.path.rsplit("/", 1)[-1])
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.refuse_tokens or not token:
            return httpx.Response(
                401, json={"type": "/problems/invalid-token", "status": 401}, headers=PROBLEM_JSON
            )
        if jwt.decode(token, options={"verify_signature": False})["sub"] != str(user_id):
            return httpx.Response(
                403, json={"type": "/problems/forbidden", "status": 403}, headers=PROBLEM_JSON
            )
        if user_id in self.known:
            return httpx.Response(200, json=_user_body(user_id))
        return httpx.Response(
            404, json={"type": "/problems/user-not-found", "status": 404}, headers=PROBLEM_JSON
        )


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
def fake_user_service(issuer: Issuer) -> FakeUserService:
    return FakeUserService(issuer=issuer)


@pytest.fixture
def make_client(clock: FakeClock) -> Callable[..., UserServiceClient]:
    """Factory: a real UserServiceClient over MockTransport(handler), on the fake clock;
    ``settings`` overrides UserServiceClientSettings' fields."""

    def make(
        handler: Handler,
        *,
        failure_threshold: int = 5,
        reset_timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        tracing: Tracing | None = None,
        **settings: Any,
    ) -> UserServiceClient:
        return UserServiceClient(
            UserServiceClientSettings(url="http://user-service.test", **settings),
            breaker=CircuitBreaker(
                failure_threshold=failure_threshold, reset_timeout=reset_timeout, clock=clock
            ),
            tracing=tracing,
            transport=transport or httpx.MockTransport(handler),
            clock=clock,
        )

    return make


# --- integration: a real PostgreSQL, migrated by the `migrate` code path -----------------------


@pytest.fixture(scope="session")
def database_url(migrated_database: Callable[..., str]) -> str:
    return migrated_database("order_service", MIGRATIONS, Settings)


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        db_pool_size=10,
        db_max_overflow=10,
        user_service=UserServiceClientSettings(url="http://user-service.test"),
    )


@pytest.fixture(scope="session")
def db_tables() -> list[str]:
    """What the root conftest's ``db_engine`` empties before each test."""
    return ["order_items", "orders"]


@pytest.fixture
def user_service_client(
    fake_user_service: FakeUserService, make_client: Callable[..., UserServiceClient]
) -> Iterator[UserServiceClient]:
    """The real client over the fake user-service (fake clock: retries never sleep)."""
    client = make_client(fake_user_service, failure_threshold=3, reset_timeout=5.0)
    yield client
    asyncio.run(client.aclose())


@contextlib.contextmanager
def _serving(
    settings: Settings, directory: UserServiceClient, headers: dict[str, str] | None = None
) -> Iterator[TestClient]:
    application = create_app(settings, user_service=directory)
    with TestClient(application, raise_server_exceptions=False, headers=headers) as test_client:
        yield test_client
    application.state.engine.dispose()


@pytest.fixture
def client(
    settings: Settings, db_engine: Engine, user_service_client: UserServiceClient, issuer: Issuer
) -> Iterator[TestClient]:
    """The app on the test database, with user-service faked at the transport level; every
    request carries a bearer token for user 1 unless the test sends its own header."""
    with _serving(settings, user_service_client, issuer.bearer(1)) as test_client:
        yield test_client


@pytest.fixture
def serving(
    db_engine: Engine, user_service_client: UserServiceClient, issuer: Issuer
) -> Callable[[Settings], contextlib.AbstractContextManager[TestClient]]:
    """``with serving(settings) as client``: the app with other settings, on the test database,
    sending a bearer token for user 1."""
    return lambda settings: _serving(settings, user_service_client, issuer.bearer(1))


@pytest.fixture
def closed_port_settings(unused_port_url: str) -> Settings:
    """Settings pointing at a port where nothing listens: a database outage."""
    return Settings(database_url=unused_port_url, db_connect_timeout=1)


@pytest.fixture
def outage_client(
    closed_port_settings: Settings, user_service_client: UserServiceClient, issuer: Issuer
) -> Iterator[TestClient]:
    """The app with its database down and user-service (faked) up."""
    with _serving(closed_port_settings, user_service_client, issuer.bearer(1)) as test_client:
        yield test_client


@pytest.fixture
def order_body() -> Callable[..., dict[str, Any]]:
    def make(**overrides: Any) -> dict[str, Any]:
        data: dict[str, Any] = {
            "currency": "EUR",
            "items": [
                {"product_id": "SKU-1", "quantity": 2, "unit_price": 1250},
                {"product_id": "SKU-2", "quantity": 1, "unit_price": 99},
            ],
        }
        data.update(overrides)
        return data

    return make
