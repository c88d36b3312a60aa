"""``order-service migrate`` (a deploy step) and ``order-service serve`` (uvicorn)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys

import uvicorn
from pydantic import ValidationError

from order_service.config import Settings, get_settings
from order_service.log import configure_logging
from order_service.metrics import multiprocess_dir
from order_service.migrations import upgrade_head

logger = logging.getLogger("order_service.cli")


def migrate(settings: Settings) -> None:
    """Bring the database schema to the newest revision; safe to run again."""
    head = upgrade_head(settings)
    logger.info(
        "database migrated", extra={"revision": head, "database": settings.safe_database_url}
    )


def serve(settings: Settings) -> None:
    # Several workers: each writes its metrics to files that any worker's /metrics aggregates.
    several = settings.workers > 1
    with multiprocess_dir("order-service") if several else contextlib.nullcontext():
        uvicorn.run(
            "order_service.main:create_app",
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


def settings_errors(exc: ValidationError) -> str:
    """One line per invalid setting: its name and the rule, never the value (it may be a secret)."""
    return "\n".join(
        f"  {'.'.join(map(str, error['loc'])) or 'settings'}: {error['msg']}"
        for error in exc.errors(include_input=False, include_url=False)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="order-service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply the database migrations (alembic upgrade head)")
    commands.add_parser("serve", help="serve the HTTP API with uvicorn")
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as exc:
        print(
            f"order-service: invalid settings (ORDER_SERVICE_*):\n{settings_errors(exc)}",
            file=sys.stderr,
        )
        return 2
    configure_logging(settings.log_level)
    if args.command == "migrate":
        migrate(settings)
    else:
        serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
