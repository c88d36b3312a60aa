"""Repository-wide pytest fixtures: a real PostgreSQL for every test that needs one, and what
the suites share.

When ``TEST_DATABASE_URL`` is set (a server where that role may ``CREATE DATABASE``), tests use it.
Otherwise the session starts its own throw-away PostgreSQL, the pip-installed one of
``devtools.postgres`` (the same server as `make run`). A server that will not start ends the run
loudly (exit code 3); it never skips.

OTEL_* variables of the shell are removed for every test (tests that trace set up their own).

Service test suites build on ``postgres_server``: ``create_database(name)`` returns the URL of a
new, empty database that is dropped at the end of the session, ``migrated_database(...)`` one
migrated to head. A suite that defines ``settings`` (on its migrated database) and ``db_tables``
gets ``db_engine``: one engine per database, the tables emptied before each test that asks for it.

Shared by the suites as well: ``keys_dir`` (user-service's signing key for the session),
``unused_port_url`` (a database that is down), ``clean_environment(Settings)`` (the shell's
variables hidden from a settings class) and ``clock`` (a ``devtools.clock.FakeClock``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from devtools.clock import FakeClock
from devtools.ports import free_port
from devtools.postgres import Postgres, PostgresError, embedded
from service_kit.db import make_engine
from service_kit.migrations import Migrations
from service_kit.settings import ServiceSettings

MigratedDatabase = Callable[..., str]


@dataclass(frozen=True)
class Roles:
    """A database with an owner (migrations) and a DML-only app role (the service)."""

    owner_url: str
    app_url: str
    app_role: str


@dataclass
class PostgresServer:
    """A server the tests may create databases on; each name gets a unique suffix."""

    server: Postgres
    _created: list[str] = field(default_factory=list)
    _roles: list[str] = field(default_factory=list)

    def create_database(self, prefix: str) -> str:
        database = self.server.create_database(f"{prefix}_{uuid.uuid4().hex[:8]}")
        self._created.append(database.name)
        return database.url

    def create_database_with_roles(self, prefix: str) -> Roles:
        """A new database owned by a new role, and a second role that may only connect: the
        least-privilege setup of docs/design.md (migrate as the owner, serve as the app role)."""
        database = self.server.create_database(f"{prefix}_{uuid.uuid4().hex[:8]}", roles=True)
        assert database.app_role is not None
        self._created.append(database.name)
        self._roles += [f"{database.name}_owner", database.app_role]
        return Roles(owner_url=database.owner_url, app_url=database.url, app_role=database.app_role)

    def drop_all(self) -> None:
        self.server.drop(databases=self._created, roles=self._roles)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL: ``TEST_DATABASE_URL`` when given, else a throw-away one."""
    if given := os.environ.get("TEST_DATABASE_URL"):
        url = make_url(given)
        if url.drivername in {"postgres", "postgresql"}:
            url = url.set(drivername="postgresql+psycopg2")
        server = PostgresServer(Postgres(admin_url=url.render_as_string(hide_password=False)))
        try:
            yield server
        finally:
            server.drop_all()
        return
    try:
        with embedded() as pg:
            yield PostgresServer(pg)
    except PostgresError as exc:
        pytest.exit(f"no test PostgreSQL: {exc}", returncode=3)


@pytest.fixture(scope="session")
def create_database_with_roles(postgres_server: PostgresServer) -> Callable[[str], Roles]:
    """Factory: ``create_database_with_roles("users")`` -> owner URL, app URL, app role."""
    return postgres_server.create_database_with_roles


@pytest.fixture(scope="session")
def create_database(postgres_server: PostgresServer) -> Callable[[str], str]:
    """Factory: ``create_database("users")`` returns the URL of a new empty database."""
    return postgres_server.create_database


@pytest.fixture(scope="session")
def migrated_database(create_database: Callable[[str], str]) -> MigratedDatabase:
    """Factory: ``migrated_database("users", MIGRATIONS, Settings, **fields)`` returns the URL of
    a new database migrated to head the way ``<service> migrate`` does it, with ``Settings`` of
    that URL and ``fields``."""

    def make(
        prefix: str, migrations: Migrations, settings_class: type[ServiceSettings], **fields: Any
    ) -> str:
        url = create_database(prefix)
        migrations.upgrade_head(settings_class(database_url=url, **fields))
        return url

    return make


@pytest.fixture(scope="session")
def _engines() -> Iterator[dict[str, Engine]]:
    """One engine per database for the session. Keyed by URL: a session fixture here would be
    built once, for whichever suite's ``settings`` came first."""
    engines: dict[str, Engine] = {}
    yield engines
    for engine in engines.values():
        engine.dispose()


@pytest.fixture
def db_engine(
    _engines: dict[str, Engine], settings: ServiceSettings, db_tables: Sequence[str]
) -> Engine:
    """The suite's migrated database (its ``settings``), emptied before the test: the suite's
    ``db_tables`` are truncated and their ids restart at 1."""
    engine = _engines.get(settings.database_url)
    if engine is None:
        engine = _engines[settings.database_url] = make_engine(settings)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE TABLE {', '.join(db_tables)} RESTART IDENTITY CASCADE"))
    return engine


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """user-service's signing-key directory for the session, holding one key."""
    from user_service.signing import generate_key  # imported here: the kit's tests need no service

    directory = tmp_path_factory.mktemp("keys")
    generate_key(directory, kid="test-key-1")
    return directory


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when told (``clock.advance(seconds)``, or its ``sleep()``)."""
    return FakeClock()


@pytest.fixture
def unused_port_url() -> str:
    """A PostgreSQL URL where nothing listens: a database outage."""
    return f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Callable[[type[BaseSettings]], None]:
    """``clean_environment(Settings)``: unset every variable of the shell that class would read
    (its ``env_prefix``), for the rest of the test."""

    def clean(settings_class: type[BaseSettings]) -> None:
        prefix = str(settings_class.model_config.get("env_prefix", "")).upper()
        assert prefix, f"{settings_class.__name__} reads variables without a prefix"
        for name in [name for name in os.environ if name.upper().startswith(prefix)]:
            monkeypatch.delenv(name)

    return clean


@pytest.fixture(scope="session", autouse=True)
def _no_opentelemetry_from_the_shell() -> Iterator[None]:
    """A developer's OTEL_* variables (an endpoint set for their own work) must not make every app
    the tests build export traces: tests that trace build their own in-memory pipeline. Session
    scope, so apps built by session fixtures do not see them either."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.startswith("OTEL_")]:
            patch.delenv(name)
        yield
