"""A throw-away PostgreSQL from the local server binaries, for tests, the bench and scripts.

One implementation of a fiddly thing, used by the root ``conftest.py``, ``bench/`` and
``scripts/e2e-local.sh`` (through the CLI below):

* ``find_pg_bindir()`` finds ``initdb``/``pg_ctl``: ``PG_BINDIR``, else ``pg_config --bindir``,
  else the newest ``/usr/lib/postgresql/<version>/bin``.
* ``LocalPostgres`` creates a cluster in a new temporary directory, as the ``postgres`` system
  user when running as root (PostgreSQL refuses to run as root), listening on 127.0.0.1 on a free
  port with its Unix socket in that directory, trust authentication and no durability (fsync
  off: the data is thrown away). ``stop()`` stops the server and deletes the directory.

Errors::

    PgTempError
     +-- PostgresUnavailableError   no server binaries (or no ``postgres`` user when root)
     +-- PostgresCommandError       initdb / pg_ctl / createdb failed; carries the server log tail

CLI, for shell scripts: ``python -m devtools.pgtemp --database users --database orders`` starts a
server, creates those databases and prints, on one write::

    export PGTEMP_URL=postgresql+psycopg2://postgres@127.0.0.1:PORT/postgres
    export PGTEMP_DIR=/tmp/pgtemp-...
    export USERS_URL=postgresql+psycopg2://postgres@127.0.0.1:PORT/users
    export ORDERS_URL=...
    # pgtemp ready

then stays in the foreground until SIGTERM, SIGINT or SIGHUP, when it stops the server and
deletes its directory. Redirect stdout to a file, wait for the ``# pgtemp ready`` line, source it.

With ``--roles`` each database is owned by a role ``<name>_owner`` and a second role
``<name>_app`` may only connect (the least-privilege setup of docs/design.md: migrations run as the
owner and grant the app role DML); then ``NAME_URL`` is the app role's URL, and
``NAME_OWNER_URL`` the owner's.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import types
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_ROOT = Path("/usr/lib/postgresql")
DEFAULT_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
}
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_START_ATTEMPTS = 3  # a free port can be taken between choosing it and the server binding it


class PgTempError(RuntimeError):
    """The throw-away PostgreSQL could not be provided; the message says why."""


class PostgresUnavailableError(PgTempError):
    """No PostgreSQL server binaries here (or no ``postgres`` user to run them as root)."""


class PostgresCommandError(PgTempError):
    """A PostgreSQL command failed; the message has its output and the server log tail."""


def find_pg_bindir(
    *, environ: Mapping[str, str] | None = None, install_root: Path = INSTALL_ROOT
) -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``.

    ``PG_BINDIR`` wins and must be right (a wrong one is an error, not a fallback); then
    ``pg_config --bindir`` (found on ``PATH``); then ``install_root/<version>/bin``, newest first.
    """
    env = os.environ if environ is None else environ
    if given := env.get("PG_BINDIR"):
        if _has_server_binaries(Path(given)):
            return Path(given)
        raise PostgresUnavailableError(f"PG_BINDIR={given} has no initdb and pg_ctl")
    candidates: list[Path] = []
    if pg_config := shutil.which("pg_config", path=env.get("PATH", os.defpath)):
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0:
            candidates.append(Path(out.stdout.strip()))
    candidates += sorted(install_root.glob("*/bin"), key=_version_key, reverse=True)
    for path in candidates:
        if _has_server_binaries(path):
            return path
    raise PostgresUnavailableError(
        "PostgreSQL server binaries (initdb, pg_ctl) not found. Install them (Debian/Ubuntu: "
        "apt-get install postgresql), or set PG_BINDIR to their directory; the test suite also "
        "accepts TEST_DATABASE_URL, a server where the role may CREATE DATABASE."
    )


def _has_server_binaries(path: Path) -> bool:
    return all(os.access(path / tool, os.X_OK) for tool in ("initdb", "pg_ctl"))


def _version_key(bindir: Path) -> tuple[int, ...]:
    """``/usr/lib/postgresql/9.6/bin`` -> (9, 6): numeric, so 16 sorts above 9.6."""
    return tuple(int(part) for part in re.findall(r"\d+", bindir.parent.name))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _conf_value(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass
class LocalPostgres(contextlib.AbstractContextManager["LocalPostgres"]):
    """A PostgreSQL cluster in its own temporary directory; ``with`` starts and stops it.

    ``settings`` are added to (and override) ``DEFAULT_SETTINGS``; ``keep_log`` is where to copy
    the server log when stopping (the directory, log included, is deleted).
    """

    bindir: Path | None = None
    settings: Mapping[str, str] = field(default_factory=dict)
    prefix: str = "pgtemp-"
    keep_log: Path | None = None
    port: int = 0
    root: Path | None = None
    _running: bool = False

    @property
    def admin_url(self) -> str:
        return self.url("postgres")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def log_path(self) -> Path:
        if self.root is None:
            raise PgTempError("not started")
        return self.root / "server.log"

    def start(self) -> str:
        """Create and start the cluster; return its admin URL (role and database ``postgres``)."""
        if self.root is not None:
            raise PgTempError(f"already started in {self.root}")
        bindir = self.bindir = self.bindir or find_pg_bindir()
        owner = _server_owner()
        self.root = Path(tempfile.mkdtemp(prefix=self.prefix))
        try:
            if owner is not None:
                os.chown(self.root, owner.pw_uid, owner.pw_gid)
            data = self.root / "data"
            self._run(
                str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync", as_server=True,
            )  # fmt: skip
            settings = {
                **DEFAULT_SETTINGS,
                **self.settings,
                "listen_addresses": "127.0.0.1",
                "unix_socket_directories": str(self.root),
            }
            # Settings go to the file, not to pg_ctl -o: pg_ctl hands -o to a shell.
            with (data / "postgresql.conf").open("a") as conf:
                conf.write("\n# devtools.pgtemp\n")
                conf.writelines(f"{key} = {_conf_value(v)}\n" for key, v in settings.items())
            for attempt in range(1, _START_ATTEMPTS + 1):
                self.port = free_port()
                try:
                    self._run(
                        str(bindir / "pg_ctl"), "-D", str(data), "-l", str(self.log_path),
                        "-o", f"-p {self.port}", "-w", "-t", "30", "start", as_server=True,
                    )  # fmt: skip
                    break
                except PostgresCommandError:
                    if attempt == _START_ATTEMPTS or "already in use" not in self._log_tail():
                        raise
            self._running = True
        except BaseException:
            self.stop()
            raise
        return self.admin_url

    def create_database(self, prefix: str, *, exact: bool = False) -> str:
        """Create a database and return its URL: ``prefix_<8 hex>``, or ``prefix`` if ``exact``."""
        if not self._running:
            raise PgTempError("the server is not running; call start() first")
        name = prefix if exact else f"{prefix}_{uuid.uuid4().hex[:8]}"
        if not _NAME.fullmatch(name):
            raise ValueError(f"database name {name!r}: use lower-case letters, digits and _")
        assert self.bindir is not None
        self._run(
            str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
            "-U", "postgres", name, as_server=False,
        )  # fmt: skip
        return self.url(name)

    def create_database_with_roles(self, name: str) -> tuple[str, str]:
        """Database ``name`` owned by a new role ``<name>_owner``, which only ``<name>_app`` (a
        second new role) may also connect to; returns the (owner URL, app URL)."""
        if not _NAME.fullmatch(name):
            raise ValueError(f"database name {name!r}: use lower-case letters, digits and _")
        owner, app = f"{name}_owner", f"{name}_app"
        self._psql(
            f'CREATE ROLE "{owner}" LOGIN',
            f'CREATE ROLE "{app}" LOGIN',
            f'CREATE DATABASE "{name}" OWNER "{owner}"',
            f'REVOKE ALL ON DATABASE "{name}" FROM PUBLIC',
            f'GRANT CONNECT ON DATABASE "{name}" TO "{app}"',
        )
        base = f"postgresql+psycopg2://{{}}@127.0.0.1:{self.port}/{name}"
        return base.format(owner), base.format(app)

    def _psql(self, *statements: str) -> None:
        """Run each statement on its own (CREATE DATABASE refuses a transaction block)."""
        if not self._running:
            raise PgTempError("the server is not running; call start() first")
        assert self.bindir is not None
        commands = [arg for sql in statements for arg in ("-c", sql)]
        self._run(
            str(self.bindir / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
            "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-q", *commands, as_server=False,
        )  # fmt: skip

    def stop(self) -> None:
        """Stop the server (fast, then immediate) and delete its directory. Safe to call twice.

        If the server will not stop, the directory is kept (deleting a running cluster's files
        leaves a server nobody can stop) and ``PostgresCommandError`` says where it is.
        """
        if self.root is None:
            return
        data = self.root / "data"
        if self.bindir is not None and (data / "postmaster.pid").exists():
            try:
                self._run(str(self.bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop")
            except PostgresCommandError:
                self._run(str(self.bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        self._running = False
        if self.keep_log is not None and self.log_path.exists():
            with contextlib.suppress(OSError):
                shutil.copyfile(self.log_path, self.keep_log)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> LocalPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        self.stop()

    def _log_tail(self, chars: int = 2000) -> str:
        with contextlib.suppress(OSError, PgTempError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""

    def _run(self, *args: str, as_server: bool = True) -> None:
        cmd = list(args)
        if as_server and _server_owner() is not None:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        # Our flags, not the caller's PG* variables, say where to connect.
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:
            raise PostgresCommandError(
                f"{shlex.join(args)} failed (exit {result.returncode}):\n{result.stdout}"
                f"{result.stderr}\n--- server log ({self.root}) ---\n{self._log_tail()}"
            )


def _server_owner() -> pwd.struct_passwd | None:
    """The ``postgres`` user when running as root (the server refuses root), else None."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailableError(
            "running as root, and there is no 'postgres' system user to run the server as "
            "(apt-get install postgresql creates it), or run as a non-root user"
        ) from None


def _database_name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise argparse.ArgumentTypeError("use lower-case letters, digits and _ (e.g. users)")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.pgtemp",
        description="Run a throw-away PostgreSQL on 127.0.0.1 until SIGTERM/SIGINT; print "
        "'export NAME_URL=...' lines for the databases it created, then '# pgtemp ready'.",
    )
    parser.add_argument(
        "--database",
        action="append",
        default=[],
        type=_database_name,
        metavar="NAME",
        help="create this database and print NAME_URL (upper case); repeatable",
    )
    parser.add_argument("--keep-log", type=Path, help="copy the server log here when stopping")
    parser.add_argument(
        "--roles",
        action="store_true",
        help="own each database by NAME_owner, let NAME_app connect; print NAME_URL (app) and "
        "NAME_OWNER_URL",
    )
    args = parser.parse_args(argv)

    stopping = threading.Event()

    def request_stop(signum: int, frame: types.FrameType | None) -> None:
        stopping.set()

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, request_stop)
    pg = LocalPostgres(keep_log=args.keep_log)
    try:
        exports = {"PGTEMP_URL": pg.start(), "PGTEMP_DIR": str(pg.root)}
        for name in args.database:
            if args.roles:
                owner_url, app_url = pg.create_database_with_roles(name)
                exports[f"{name.upper()}_URL"] = app_url
                exports[f"{name.upper()}_OWNER_URL"] = owner_url
            else:
                exports[f"{name.upper()}_URL"] = pg.create_database(name, exact=True)
        lines = [f"export {key}={shlex.quote(value)}\n" for key, value in exports.items()]
        sys.stdout.write("".join(lines) + "# pgtemp ready\n")
        sys.stdout.flush()
        print(f"pgtemp: PostgreSQL on 127.0.0.1:{pg.port} (pid {os.getpid()})", file=sys.stderr)
        stopping.wait()
    except PgTempError as exc:
        print(f"pgtemp: error: {exc}", file=sys.stderr)
        return 3
    finally:
        pg.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
