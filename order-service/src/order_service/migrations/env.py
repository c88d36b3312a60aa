"""Alembic environment: runs on the connection ``upgrade_head`` passes in, or (for the
``alembic`` CLI used by developers) on one built from the service's settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection
from sqlmodel import SQLModel

from order_service import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from order_service.config import get_settings
from order_service.db import make_engine
from order_service.migrations import VERSION_TABLE

# Two `migrate` runs racing (two deploys, or a Job retried) queue on this lock (PostgreSQL).
_ADVISORY_LOCK_ID = 0x6F72_6472  # "ordr"

target_metadata = SQLModel.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_ADVISORY_LOCK_ID})")
        context.run_migrations()


def _main() -> None:
    if context.is_offline_mode():
        context.configure(
            url=get_settings().database_url,
            target_metadata=target_metadata,
            version_table=VERSION_TABLE,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(get_settings())
    try:
        with engine.begin() as own_connection:
            _run(own_connection)
    finally:
        engine.dispose()


_main()
