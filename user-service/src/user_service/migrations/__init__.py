"""Alembic migrations, shipped inside the package and applied by ``user-service migrate``."""

from __future__ import annotations

from pathlib import Path

from service_kit.migrations import Migrations

MIGRATIONS = Migrations(
    directory=Path(__file__).parent,
    version_table="user_service_alembic_version",
    lock_id=0x7573_6572,  # "user"
)
