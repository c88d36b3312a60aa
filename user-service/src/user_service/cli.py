"""``user-service migrate`` (a deploy step), ``serve`` (uvicorn), and identity administration:
``generate-key DIR`` (a new signing key), ``grant-admin EMAIL`` / ``revoke-admin EMAIL`` (the
admin role is granted here only, never over HTTP)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from pathlib import Path

import uvicorn
from pydantic import ValidationError

from user_service import service
from user_service.config import Settings, get_settings
from user_service.db import make_engine, make_session_factory
from user_service.log import configure_logging
from user_service.metrics import multiprocess_dir
from user_service.migrations import upgrade_head
from user_service.models import Role
from user_service.signing import KeyRing, SigningKeyError, generate_key

logger = logging.getLogger("user_service.cli")


def migrate(settings: Settings) -> None:
    """Bring the database schema to the newest revision; safe to run again."""
    head = upgrade_head(settings)
    logger.info(
        "database migrated", extra={"revision": head, "database": settings.safe_database_url}
    )


def serve(settings: Settings) -> int:
    try:
        KeyRing.from_directory(settings.keys_dir)  # fail here, clearly, not in every worker
    except SigningKeyError as exc:
        print(f"user-service: {exc}", file=sys.stderr)
        return 2
    # Several workers: each writes its metrics to files that any worker's /metrics aggregates.
    several = settings.workers > 1
    with multiprocess_dir("user-service") if several else contextlib.nullcontext():
        uvicorn.run(
            "user_service.main:create_app",
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
    return 0


def set_role(settings: Settings, email: str, role: Role) -> int:
    engine = make_engine(settings)
    try:
        with make_session_factory(engine)() as session:
            changed = service.set_role(session=session, email=email, role=role)
    finally:
        engine.dispose()
    if not changed:
        print(f"user-service: no user has the email {email!r}", file=sys.stderr)
        return 1
    print(f"{email}: role {role.value} (effective in tokens issued from now on)")
    return 0


def new_key(directory: Path, kid: str | None) -> int:
    try:
        path = generate_key(directory, kid=kid)
    except (SigningKeyError, FileExistsError) as exc:
        print(f"user-service: {exc}", file=sys.stderr)
        return 1
    print(f"new signing key {path} (kid {path.stem}); the newest key signs once the service starts")
    return 0


def settings_errors(exc: ValidationError) -> str:
    """One line per invalid setting: its name and the rule, never the value (it may be a secret)."""
    return "\n".join(
        f"  {'.'.join(map(str, error['loc'])) or 'settings'}: {error['msg']}"
        for error in exc.errors(include_input=False, include_url=False)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="user-service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply the database migrations (alembic upgrade head)")
    commands.add_parser("serve", help="serve the HTTP API with uvicorn")
    keygen = commands.add_parser("generate-key", help="write a new Ed25519 signing key")
    keygen.add_argument("directory", type=Path, help="the key directory (USER_SERVICE_KEYS_DIR)")
    keygen.add_argument("--kid", help="key id (default: the UTC time, so it sorts last)")
    keygen.add_argument(
        "--if-empty", action="store_true", help="do nothing when DIR already holds a key"
    )
    for name, verb in (("grant-admin", "grant"), ("revoke-admin", "revoke")):
        command = commands.add_parser(name, help=f"{verb} the admin role (by email)")
        command.add_argument("email")
    args = parser.parse_args(argv)
    if args.command == "generate-key":  # needs no settings
        if args.if_empty and any(args.directory.glob("*.pem")):
            return 0
        return new_key(args.directory, args.kid)
    try:
        settings = get_settings()
    except ValidationError as exc:
        print(
            f"user-service: invalid settings (USER_SERVICE_*):\n{settings_errors(exc)}",
            file=sys.stderr,
        )
        return 2
    configure_logging(settings.log_level)
    if args.command == "migrate":
        migrate(settings)
        return 0
    if args.command in ("grant-admin", "revoke-admin"):
        role = Role.ADMIN if args.command == "grant-admin" else Role.USER
        return set_role(settings, args.email, role)
    return serve(settings)


if __name__ == "__main__":
    sys.exit(main())
