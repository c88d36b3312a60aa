"""``<service> migrate`` (a deploy step) and ``<service> serve`` (uvicorn), for every service.

A service's console script is one call::

    def main(argv: list[str] | None = None) -> int:
        return run(argv, settings=Settings, migrations=MIGRATIONS,
                   app="user_service.main:create_app")

A service adds its own commands (``commands=[Command(...)]``) and a check that must pass before
it serves (``preflight``: returns what is wrong, printed with exit status 2). Invalid settings
are reported by name and rule, never with their value (a database URL holds a password).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import uvicorn
from pydantic import ValidationError

from service_kit.log import configure_logging
from service_kit.metrics import multiprocess_dir
from service_kit.migrations import Migrations
from service_kit.server import BoundedHttpToolsProtocol
from service_kit.settings import ServiceSettings

logger = logging.getLogger(__name__)


def migrate(settings: ServiceSettings, migrations: Migrations) -> None:
    """Bring the database schema to the newest revision; safe to run again."""
    head = migrations.upgrade_head(settings)
    logger.info(
        "database migrated", extra={"revision": head, "database": settings.safe_database_url}
    )


def serve(settings: ServiceSettings, app: str) -> None:
    """Serve ``app`` (``module:factory``) with uvicorn, as the settings say."""
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
    parser = argparse.ArgumentParser(prog=name, description=f"{name}: migrate or serve.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    subparsers.add_parser("migrate", help="apply the database migrations (alembic upgrade head)")
    subparsers.add_parser("serve", help="serve the HTTP API with uvicorn")
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
    except ValidationError as exc:
        prefix = settings.env_name("")
        print(f"{name}: invalid settings ({prefix}*):\n{settings_errors(exc)}", file=sys.stderr)
        return 2
    configure_logging(loaded.log_level)
    if args.command in own:
        return own[args.command].run(args, loaded)
    if args.command == "migrate":
        migrate(loaded, migrations)
        return 0
    if preflight is not None and (problem := preflight(loaded)) is not None:
        print(f"{name}: {problem}", file=sys.stderr)
        return 2
    serve(loaded, app)
    return 0
