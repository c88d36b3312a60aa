"""``user-service migrate`` (a deploy step), ``serve`` (uvicorn, once a signing key is there), and
identity administration: ``generate-key DIR`` (a new signing key), ``grant-admin EMAIL`` /
``revoke-admin EMAIL`` (the admin role is granted here only, never over HTTP)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from service_kit.cli import Command, run
from service_kit.db import make_engine, make_session_factory
from service_kit.settings import ServiceSettings
from user_service import service
from user_service.config import Settings
from user_service.migrations import MIGRATIONS
from user_service.models import Role
from user_service.signing import KeyRing, SigningKeyError, generate_key


def signing_key_problem(settings: ServiceSettings) -> str | None:
    """Before serving: a usable signing key, or what is wrong (checked once, not per worker)."""
    assert isinstance(settings, Settings)
    try:
        KeyRing.from_directory(settings.keys_dir)
    except SigningKeyError as exc:
        return str(exc)
    return None


def set_role(settings: Settings, email: str, role: Role) -> int:
    engine = make_engine(settings)
    try:
        changed = service.set_role(sessions=make_session_factory(engine), email=email, role=role)
    except ValueError as exc:
        print(f"user-service: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    if not changed:
        print(f"user-service: no user has the email {email!r}", file=sys.stderr)
        return 1
    print(f"{email}: role {role.value} (in the tokens issued from now on)")
    return 0


def _role_command(name: str, role: Role) -> Command:
    def run_it(args: argparse.Namespace, settings: ServiceSettings | None) -> int:
        assert isinstance(settings, Settings)
        return set_role(settings, args.email, role)

    verb = "grant" if role is Role.ADMIN else "revoke"
    return Command(
        name=name,
        help=f"{verb} the admin role (by email)",
        run=run_it,
        arguments=lambda parser: parser.add_argument("email"),
    )


def _generate_key(args: argparse.Namespace, settings: ServiceSettings | None) -> int:
    directory: Path = args.directory
    if args.if_empty and any(directory.glob("*.pem")):
        return 0
    try:
        path = generate_key(directory, kid=args.kid)
    except (SigningKeyError, FileExistsError) as exc:
        print(f"user-service: {exc}", file=sys.stderr)
        return 1
    print(f"new signing key {path} (kid {path.stem}); the newest key signs once the service starts")
    return 0


def _generate_key_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", type=Path, help="the key directory (USER_SERVICE_KEYS_DIR)")
    parser.add_argument("--kid", help="key id (default: the UTC time, so it sorts last)")
    parser.add_argument(
        "--if-empty", action="store_true", help="do nothing when DIR already holds a key"
    )


COMMANDS = [
    Command(
        name="generate-key",
        help="write a new Ed25519 signing key",
        run=_generate_key,
        arguments=_generate_key_arguments,
        needs_settings=False,
    ),
    _role_command("grant-admin", Role.ADMIN),
    _role_command("revoke-admin", Role.USER),
]


def main(argv: list[str] | None = None) -> int:
    return run(
        argv,
        settings=Settings,
        migrations=MIGRATIONS,
        app="user_service.main:create_app",
        commands=COMMANDS,
        preflight=signing_key_problem,
    )


if __name__ == "__main__":
    sys.exit(main())
