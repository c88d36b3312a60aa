"""Repository-wide pytest fixtures: a real PostgreSQL for every test that needs one.

When ``TEST_DATABASE_URL`` is set (a server where that role may ``CREATE DATABASE``), tests use it.
Otherwise the session starts its own throw-away PostgreSQL from the local server binaries
(``initdb``/``pg_ctl``, about a second), as the ``postgres`` system user when running as root,
because PostgreSQL refuses to run as root. A missing binary fails the run loudly; it never skips.

Service test suites build on ``postgres_server``: ``create_database(name)`` returns the URL of a
new, empty database that is dropped at the end of the session.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url


def _find_pg_bindir() -> Path:
    candidates: list[Path] = []
    if env := os.environ.get("PG_BINDIR"):
        candidates.append(Path(env))
    if pg_config := shutil.which("pg_config"):
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for path in candidates:
        if (path / "initdb").exists() and (path / "pg_ctl").exists():
            return path
    pytest.exit(
        "PostgreSQL server binaries (initdb, pg_ctl) not found. Install them "
        "(Debian: apt-get install postgresql) or set TEST_DATABASE_URL to a server where "
        "the role may CREATE DATABASE.",
        returncode=3,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class _LocalPostgres:
    """A PostgreSQL cluster in a temporary directory, owned by a non-root user."""

    bindir: Path
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pytest-pg-")))
    port: int = field(default_factory=_free_port)

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            pytest.exit(
                f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n"
                f"{result.stderr}\n{tail}",
                returncode=3,
            )

    def start(self) -> str:
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        data = self.root / "data"
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "30",
            "start",
        )
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run(
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.root / "data"),
                "-m",
                "immediate",
                "stop",
            )
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class PostgresServer:
    """A server the tests may create databases on."""

    admin_url: str
    _created: list[str] = field(default_factory=list)

    def create_database(self, prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        self._created.append(name)
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            for name in self._created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL: ``TEST_DATABASE_URL`` when given, else a local throw-away one."""
    given = os.environ.get("TEST_DATABASE_URL")
    local: _LocalPostgres | None = None
    if given:
        url = make_url(given)
        if url.drivername in {"postgres", "postgresql"}:
            url = url.set(drivername="postgresql+psycopg2")
        admin_url = url.render_as_string(hide_password=False)
    else:
        local = _LocalPostgres(bindir=_find_pg_bindir())
        admin_url = local.start()
    server = PostgresServer(admin_url=admin_url)
    try:
        yield server
    finally:
        if local is not None:
            local.stop()
        else:
            server.drop_all()


@pytest.fixture(scope="session")
def create_database(postgres_server: PostgresServer) -> Callable[[str], str]:
    """Factory: ``create_database("users")`` returns the URL of a new empty database."""
    return postgres_server.create_database
