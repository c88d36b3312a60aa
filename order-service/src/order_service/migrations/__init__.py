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
    """Apply every pending revision in one transaction; returns the head revision.

    Run as the role that owns the schema. With ``db_app_role`` set (PostgreSQL), the same
    transaction grants that role DML on every table and sequence and nothing else: the app
    connects as it and can neither change the schema nor read another service's tables.
    """
    engine = make_engine(settings)
    try:
        with engine.begin() as connection:
            config = alembic_config(connection)
            command.upgrade(config, "head")
            if settings.db_app_role and connection.dialect.name == "postgresql":
                grant_dml(connection, settings.db_app_role)
        return command_head(config)
    finally:
        engine.dispose()


def grant_dml(connection: Connection, role: str) -> None:
    """SELECT/INSERT/UPDATE/DELETE on the tables, USAGE on the sequences, to ``role``."""
    quoted = connection.dialect.identifier_preparer.quote(role)
    for statement in (
        f"GRANT USAGE ON SCHEMA public TO {quoted}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}",
        f"REVOKE ALL ON TABLE {VERSION_TABLE} FROM {quoted}",  # the schema's history is not its
    ):
        connection.exec_driver_sql(statement)


def command_head(config: Config) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(config).get_current_head()
