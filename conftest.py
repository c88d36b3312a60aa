"""Repository-wide pytest fixtures: a real PostgreSQL for every test that needs one.

When ``TEST_DATABASE_URL`` is set (a server where that role may ``CREATE DATABASE``), tests use it.
Otherwise the session starts its own throw-away PostgreSQL (``devtools.pgtemp.LocalPostgres``:
the local ``initdb``/``pg_ctl``, about a second). A missing binary, or a server that will not
start, ends the run loudly (exit code 3); it never skips.

OTEL_* variables of the shell are removed for every test (tests that trace set up their own).

Service test suites build on ``postgres_server``: ``create_database(name)`` returns the URL of a
new, empty database that is dropped at the end of the session.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from devtools.pgtemp import LocalPostgres, PgTempError


@dataclass(frozen=True)
class Roles:
    """A database with an owner (migrations) and a DML-only app role (the service)."""

    owner_url: str
    app_url: str
    app_role: str


@dataclass
class PostgresServer:
    """A server the tests may create databases on."""

    admin_url: str
    _created: list[str] = field(default_factory=list)
    _roles: list[str] = field(default_factory=list)

    def create_database(self, prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        self._created.append(name)
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def create_database_with_roles(self, prefix: str) -> Roles:
        """A new database owned by a new role, and a second role that may only connect: the
        least-privilege setup of docs/design.md (migrate as the owner, serve as the app role)."""
        suffix = uuid.uuid4().hex[:8]
        name, owner, app = (
            f"{prefix}_{suffix}",
            f"{prefix}_owner_{suffix}",
            f"{prefix}_app_{suffix}",
        )
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            for role in (owner, app):
                conn.execute(text(f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{role}'"))
            conn.execute(text(f'CREATE DATABASE "{name}" OWNER "{owner}"'))
            conn.execute(text(f'REVOKE ALL ON DATABASE "{name}" FROM PUBLIC'))
            conn.execute(text(f'GRANT CONNECT ON DATABASE "{name}" TO "{app}"'))
        engine.dispose()
        self._created.append(name)
        self._roles += [owner, app]
        url = make_url(self.admin_url).set(database=name)

        def as_role(role: str) -> str:
            return url.set(username=role, password=role).render_as_string(hide_password=False)

        return Roles(owner_url=as_role(owner), app_url=as_role(app), app_role=app)

    def drop_all(self) -> None:
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            for name in self._created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            for role in self._roles:
                conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL: ``TEST_DATABASE_URL`` when given, else a local throw-away one."""
    given = os.environ.get("TEST_DATABASE_URL")
    local: LocalPostgres | None = None
    if given:
        url = make_url(given)
        if url.drivername in {"postgres", "postgresql"}:
            url = url.set(drivername="postgresql+psycopg2")
        admin_url = url.render_as_string(hide_password=False)
    else:
        local = LocalPostgres(prefix="pytest-pg-")
        try:
            admin_url = local.start()
        except PgTempError as exc:
            pytest.exit(f"no test PostgreSQL: {exc}", returncode=3)
    server = PostgresServer(admin_url=admin_url)
    try:
        yield server
    finally:
        if local is not None:
            local.stop()
        else:
            server.drop_all()


@pytest.fixture(scope="session")
def create_database_with_roles(postgres_server: PostgresServer) -> Callable[[str], Roles]:
    """Factory: ``create_database_with_roles("users")`` -> owner URL, app URL, app role."""
    return postgres_server.create_database_with_roles


@pytest.fixture(scope="session")
def create_database(postgres_server: PostgresServer) -> Callable[[str], str]:
    """Factory: ``create_database("users")`` returns the URL of a new empty database."""
    return postgres_server.create_database


@pytest.fixture(scope="session", autouse=True)
def _no_opentelemetry_from_the_shell() -> Iterator[None]:
    """A developer's OTEL_* variables (an endpoint set for their own work) must not make every app
    the tests build export traces: tests that trace build their own in-memory pipeline. Session
    scope, so apps built by session fixtures do not see them either."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.startswith("OTEL_")]:
            patch.delenv(name)
        yield
