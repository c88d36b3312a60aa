"""``user-service migrate`` (a deploy step) and ``user-service serve`` (uvicorn)."""

from __future__ import annotations

import sys

from service_kit.cli import run
from user_service.config import Settings
from user_service.migrations import MIGRATIONS


def main(argv: list[str] | None = None) -> int:
    return run(argv, settings=Settings, migrations=MIGRATIONS, app="user_service.main:create_app")


if __name__ == "__main__":
    sys.exit(main())
