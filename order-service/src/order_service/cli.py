"""``order-service migrate`` (a deploy step) and ``order-service serve`` (uvicorn)."""

from __future__ import annotations

import sys

from order_service.config import Settings
from order_service.migrations import MIGRATIONS
from service_kit.cli import run


def main(argv: list[str] | None = None) -> int:
    return run(argv, settings=Settings, migrations=MIGRATIONS, app="order_service.main:create_app")


if __name__ == "__main__":
    sys.exit(main())
