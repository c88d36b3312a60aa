"""Shared fixtures of the user-service tests.

Integration tests get one PostgreSQL database per session (from the root conftest's
``migrated_database``), migrated through the same code path as ``user-service migrate``;
each test that asks for ``db_engine`` (or ``client``) starts from empty tables (the root
conftest's ``db_engine`` empties the ``db_tables`` named here).

Identity: the session signs with the key in the root conftest's ``keys_dir``; ``Identity``
registers users, logs them in and makes admins through the API (and the service layer for the
admin role, as the CLI does). Argon2 runs with its cheapest parameters here (the figures are
in ``make bench``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from service_kit.db import make_session_factory
from user_service import service
from user_service.config import Settings
from user_service.main import create_app
from user_service.migrations import MIGRATIONS
from user_service.models import Role
from user_service.signing import KeyRing

PASSWORD = "correct horse battery staple"
CHEAP_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_cost": 8 * 1024}


@pytest.fixture(scope="session")
def keyring(keys_dir: Path) -> KeyRing:
    return KeyRing.from_directory(keys_dir)


@pytest.fixture(scope="session")
def database_url(migrated_database: Callable[..., str], keys_dir: Path) -> str:
    return migrated_database("user_service", MIGRATIONS, Settings, keys_dir=keys_dir)


@pytest.fixture(scope="session")
def settings(database_url: str, keys_dir: Path) -> Settings:
    return Settings(
        database_url=database_url,
        db_pool_size=10,
        db_max_overflow=10,
        keys_dir=keys_dir,
        # one test client registers and logs in many users: a budget no test reaches (the limit
        # itself is tested with its own settings)
        client_rate=1000.0,
        client_burst=1000,
        **CHEAP_ARGON2,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
def db_tables() -> list[str]:
    """What the root conftest's ``db_engine`` empties before each test."""
    return ["users"]


@pytest.fixture
def app(settings: Settings, db_engine: Engine) -> Iterator[FastAPI]:
    application = create_app(settings)
    yield application
    application.state.engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@dataclass
class Identity:
    """Users as a client makes them: register, log in, send the token."""

    client: TestClient
    engine: Engine

    def register(
        self, name: str = "Ada", email: str = "ada@example.com", password: str = PASSWORD
    ) -> dict[str, Any]:
        response = self.client.post(
            "/users", json={"name": name, "email": email, "password": password}
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def login(self, email: str = "ada@example.com", password: str = PASSWORD) -> str:
        response = self.client.post("/token", data={"username": email, "password": password})
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def headers(self, email: str = "ada@example.com", password: str = PASSWORD) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.login(email, password)}"}

    def admin_headers(self) -> dict[str, str]:
        """A new admin (granted as the CLI does) and its bearer header."""
        self.register(name="Admin", email="admin@example.com")
        sessions = make_session_factory(self.engine)
        assert service.set_role(sessions=sessions, email="admin@example.com", role=Role.ADMIN)
        return self.headers("admin@example.com")


@pytest.fixture
def mint(keyring: KeyRing, settings: Settings) -> Callable[..., dict[str, str]]:
    """``mint(subject="1", roles=["admin"])``: a bearer header signed with the session's key,
    for tests that cannot log in (the database is down)."""

    def make(subject: str = "1", roles: list[str] | None = None) -> dict[str, str]:
        issued = keyring.issue(
            subject=subject,
            roles=["admin"] if roles is None else roles,
            issuer=settings.token_issuer,
            audience=settings.token_audience,
            ttl=300,
        )
        return {"Authorization": f"Bearer {issued.token}"}

    return make


@pytest.fixture
def identity(client: TestClient, db_engine: Engine) -> Identity:
    return Identity(client, db_engine)


@pytest.fixture
def closed_port_settings(unused_port_url: str, keys_dir: Path) -> Settings:
    """Settings pointing at a port where nothing listens: a database outage."""
    return Settings(
        database_url=unused_port_url,
        keys_dir=keys_dir,
        **CHEAP_ARGON2,  # type: ignore[arg-type]
    )
