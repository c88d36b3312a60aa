"""``<service> migrate`` (a deploy step) and ``<service> serve`` (uvicorn), for every service.

A service's console script is one call::

    def main(argv: list[str] | None = None) -> int:
        return run(argv, settings=Settings, migrations=MIGRATIONS,
                   app="user_service.main:create_app")
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys

import uvicorn
from pydantic import ValidationError

from service_kit.log import configure_logging
from service_kit.metrics import multiprocess_dir
from service_kit.migrations import Migrations
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
            http="httptools",
            timeout_graceful_shutdown=int(settings.shutdown_timeout),
            server_header=False,
        )


def run(
    argv: list[str] | None,
    *,
    settings: type[ServiceSettings],
    migrations: Migrations,
    app: str,
) -> int:
    """Parse the command, read the settings (exit 2 with the reasons when invalid), run it."""
    name = settings.service_name
    parser = argparse.ArgumentParser(prog=name, description=f"{name}: migrate or serve.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply the database migrations (alembic upgrade head)")
    commands.add_parser("serve", help="serve the HTTP API with uvicorn")
    args = parser.parse_args(argv)
    try:
        loaded = settings()
    except ValidationError as exc:
        print(f"{name}: invalid settings ({settings.env_name('')}*):\n{exc}", file=sys.stderr)
        return 2
    configure_logging(loaded.log_level)
    if args.command == "migrate":
        migrate(loaded, migrations)
    else:
        serve(loaded, app)
    return 0
