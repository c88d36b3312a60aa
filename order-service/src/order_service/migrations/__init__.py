"""Alembic migrations, shipped inside the package and applied by ``order-service migrate``.

The version table has a service-specific name so user-service and order-service can share
one database (as the local quick start may) without overwriting each other's revision.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from order_service.config import Settings
from order_service.db import make_engine

VERSION_TABLE = "order_service_alembic_version"
MIGRATIONS_DIR = Path(__file__).parent


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def upgrade_head(settings: Settings) -> str | None:
    """Apply every pending revision in one transaction; returns the head revision."""
    engine = make_engine(settings)
    try:
        with engine.begin() as connection:
            config = alembic_config(connection)
            command.upgrade(config, "head")
        return command_head(config)
    finally:
        engine.dispose()


def command_head(config: Config) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(config).get_current_head()
