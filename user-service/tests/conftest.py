"""Shared fixtures of the user-service tests.

Integration tests get one PostgreSQL database per session (from the root conftest's
``create_database``), migrated through the same code path as ``user-service migrate``;
each test that asks for ``db_engine`` (or ``client``) starts from empty tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from service_kit.db import make_engine
from user_service.config import Settings
from user_service.main import create_app
from user_service.migrations import MIGRATIONS


@pytest.fixture(scope="session")
def database_url(create_database: Callable[[str], str]) -> str:
    url = create_database("user_service")
    MIGRATIONS.upgrade_head(Settings(database_url=url))
    return url


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, db_pool_size=10, db_max_overflow=10)


@pytest.fixture(scope="session")
def _session_engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    yield engine
    engine.dispose()


@pytest.fixture
def db_engine(_session_engine: Engine) -> Engine:
    """The migrated database, emptied before the test (ids restart at 1)."""
    with _session_engine.begin() as conn:
        conn.execute(text("TRUNCATE TABLE users RESTART IDENTITY CASCADE"))
    return _session_engine


@pytest.fixture
def app(settings: Settings, db_engine: Engine) -> Iterator[FastAPI]:
    application = create_app(settings)
    yield application
    application.state.engine.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def closed_port_settings() -> Settings:
    """Settings pointing at a port where nothing listens: a database outage."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return Settings(database_url=f"postgresql://postgres@127.0.0.1:{port}/users")
