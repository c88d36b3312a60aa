"""``<service> wait-for-db`` and ``migrate`` (deploy steps) and ``serve`` (uvicorn; ``--reload``
in development, so dev and production run the same server), for every service.

A service's console script is one call::

    def main(argv: list[str] | None = None) -> int:
        return run(argv, settings=Settings, migrations=MIGRATIONS,
                   app="user_service.main:create_app")

A service adds its own commands (``commands=[Command(...)]``) and a check that must pass before
it serves (``preflight``: returns what is wrong, printed with exit status 2). Invalid settings
are reported by name and rule, never with their value (a database URL holds a password).

``wait-for-db`` is a pod's first init container (the chart and k8s/): it connects the way the
service does (the settings' URL, the engine's connect and response deadlines), so a database it
finds up is one ``migrate`` and ``serve`` can reach, and its wait is bounded by ``--timeout``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from service_kit.db import make_engine
from service_kit.log import configure_logging
from service_kit.metrics import multiprocess_dir
from service_kit.migrations import Migrations
from service_kit.server import BoundedHttpToolsProtocol
from service_kit.settings import Port, ServiceSettings

logger = logging.getLogger(__name__)


def migrate(settings: ServiceSettings, migrations: Migrations) -> None:
    """Bring the database schema to the newest revision; safe to run again."""
    head = migrations.upgrade_head(settings)
    logger.info(
        "database migrated", extra={"revision": head, "database": settings.safe_database_url}
    )


def wait_for_database(
    settings: ServiceSettings,
    *,
    timeout: float,
    interval: float = 2.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str | None:
    """Try ``SELECT 1`` until it answers (None) or ``timeout`` seconds have passed (the last
    reason). Each try is bounded by the engine's connect and response deadlines."""
    engine = make_engine(settings)
    password = make_url(settings.database_url).password
    deadline = clock() + timeout
    try:
        while True:
            try:
                with engine.connect() as connection:
                    connection.exec_driver_sql("SELECT 1")
                return None
            except DBAPIError as exc:
                # the driver's own words (libpq's: host, port, role), first line only
                lines = str(exc.orig).strip().splitlines() or [type(exc.orig).__name__]
                reason = lines[0] if not password else lines[0].replace(str(password), "***")
            remaining = deadline - clock()
            if remaining <= 0:
                return reason
            logger.info("waiting for the database", extra={"reason": reason})
            sleep(min(interval, remaining))
    finally:
        engine.dispose()


def serve(settings: ServiceSettings, app: str, *, reload: bool = False) -> None:
    """Serve ``app`` (``module:factory``) with uvicorn, as the settings say; ``reload`` restarts
    it when a ``*.py`` under the working directory changes (uvicorn's default), for development."""
    # Several workers: each writes its metrics to files that any worker's /metrics aggregates.
    several = settings.workers > 1
    with multiprocess_dir(settings.service_name) if several else contextlib.nullcontext():
        uvicorn.run(
            app,
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level=settings.log_level.lower(),
            log_config=None,  # configure_logging owns the handlers: JSON lines
            access_log=False,  # the request middleware logs each request with its id
            loop="uvloop",
            # httptools, with the request-head bounds uvicorn lacks (service_kit.server)
            http=functools.partial(  # type: ignore[arg-type]
                BoundedHttpToolsProtocol,
                max_header_bytes=settings.max_header_bytes,
                header_timeout=settings.header_timeout,
            ),
            ws="none",  # HTTP only: an Upgrade request is served as plain HTTP, never switched
            # X-Forwarded-* only from the configured proxies (uvicorn trusts 127.0.0.1 unless
            # told otherwise: any local process could name any client address)
            proxy_headers=bool(settings.trusted_proxies),
            forwarded_allow_ips=settings.trusted_proxies,
            timeout_graceful_shutdown=int(settings.shutdown_timeout),
            server_header=False,
            reload=reload,
        )


@dataclass(frozen=True)
class Command:
    """A service's own command: ``run(args, settings)`` returns the exit status; ``settings`` is
    None when ``needs_settings`` is False (the command runs whatever the environment holds)."""

    name: str
    help: str
    run: Callable[[argparse.Namespace, ServiceSettings | None], int]
    arguments: Callable[[argparse.ArgumentParser], object] | None = None
    needs_settings: bool = True


def _seconds(value: str) -> float:
    seconds = float(value)
    if not 0 <= seconds <= 3600:
        raise argparse.ArgumentTypeError("must be between 0 and 3600 seconds")
    return seconds


_PORT = TypeAdapter(Port)


def _port(value: str) -> int:
    """``--port``, held to the settings' own ``Port`` bounds."""
    try:
        return _PORT.validate_strings(value)
    except ValidationError as exc:
        raise argparse.ArgumentTypeError(exc.errors()[0]["msg"].lower()) from None


def settings_errors(exc: ValidationError) -> str:
    """One line per invalid setting: its name and the rule, never the value (it may be a secret)."""
    return "\n".join(
        f"  {'.'.join(map(str, error['loc'])) or 'settings'}: {error['msg']}"
        for error in exc.errors(include_input=False, include_url=False)
    )


def run(
    argv: list[str] | None,
    *,
    settings: type[ServiceSettings],
    migrations: Migrations,
    app: str,
    commands: Sequence[Command] = (),
    preflight: Callable[[ServiceSettings], str | None] | None = None,
) -> int:
    """Parse the command, read the settings (exit 2 with the reasons when invalid), run it."""
    name = settings.service_name
    parser = argparse.ArgumentParser(prog=name, description=f"{name}: deploy steps and the server.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    wait = subparsers.add_parser(
        "wait-for-db", help="wait until the database answers (exit 1: not in time)"
    )
    wait.add_argument(
        "--timeout", type=_seconds, default=180.0, help="give up after this many seconds (180)"
    )
    subparsers.add_parser("migrate", help="apply the database migrations (alembic upgrade head)")
    server = subparsers.add_parser("serve", help="serve the HTTP API with uvicorn")
    # An image's defaults (0.0.0.0:8000 in a container): the environment, a chart's, wins.
    server.add_argument("--host", help=f"listen address unless {settings.env_name('host')} is set")
    server.add_argument(
        "--port", type=_port, help=f"listen port unless {settings.env_name('port')} is set"
    )
    server.add_argument(
        "--reload", action="store_true", help="restart on a source change (development only)"
    )
    own = {command.name: command for command in commands}
    for command in commands:
        sub = subparsers.add_parser(command.name, help=command.help)
        if command.arguments is not None:
            command.arguments(sub)
    args = parser.parse_args(argv)
    if args.command in own and not own[args.command].needs_settings:
        return own[args.command].run(args, None)
    try:
        loaded = settings()
        if args.command == "serve" and (listen := _unset_listen_flags(args, loaded)):
            loaded = settings(**listen)
    except ValidationError as exc:
        prefix = settings.env_name("")
        print(f"{name}: invalid settings ({prefix}*):\n{settings_errors(exc)}", file=sys.stderr)
        return 2
    configure_logging(loaded.log_level)
    if args.command in own:
        return own[args.command].run(args, loaded)
    if args.command == "wait-for-db":
        if (reason := wait_for_database(loaded, timeout=args.timeout)) is not None:
            print(
                f"{name}: the database {loaded.safe_database_url} did not answer within "
                f"{args.timeout:g} s: {reason}",
                file=sys.stderr,
            )
            return 1
        logger.info("database is up", extra={"database": loaded.safe_database_url})
        return 0
    if args.command == "migrate":
        migrate(loaded, migrations)
        return 0
    if preflight is not None and (problem := preflight(loaded)) is not None:
        print(f"{name}: {problem}", file=sys.stderr)
        return 2
    serve(loaded, app, reload=args.reload)
    return 0


def _unset_listen_flags(args: argparse.Namespace, loaded: ServiceSettings) -> dict[str, Any]:
    """``serve --host/--port`` for the settings the environment left at their defaults."""
    flags = {"host": args.host, "port": args.port}
    return {
        name: value
        for name, value in flags.items()
        if value is not None and name not in loaded.model_fields_set
    }
