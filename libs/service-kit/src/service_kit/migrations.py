"""Alembic, the same way in every service: where the scripts are, how they run, one at a time.

A service ships its revisions inside its package and describes them once::

    MIGRATIONS = Migrations(Path(__file__).parent, version_table="user_service_alembic_version",
                            lock_id=0x7573_6572)

Its ``env.py`` is one call, ``MIGRATIONS.run_env(SQLModel.metadata, get_settings)``, and
``<service> migrate`` is ``MIGRATIONS.upgrade_head(settings)``. Each service has its own version
table, so two services can share one database (as the local quick start may) without
overwriting each other's revision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData

from service_kit.db import make_engine
from service_kit.settings import ServiceSettings


@dataclass(frozen=True)
class Migrations:
    directory: Path  # the alembic script directory: env.py, versions/
    version_table: str
    # Two `migrate` runs racing (two deploys, a Job retried) queue on this lock.
    lock_id: int

    def config(self, connection: Connection | None = None) -> Config:
        config = Config()
        config.set_main_option("script_location", str(self.directory))
        config.attributes["connection"] = connection
        return config

    def head(self) -> str | None:
        return ScriptDirectory.from_config(self.config()).get_current_head()

    def upgrade_head(self, settings: ServiceSettings) -> str | None:
        """Apply every pending revision in one transaction; returns the head revision.

        Run as the role that owns the schema. With ``db_app_role`` set, the same
        transaction grants that role DML on every table and sequence and nothing else: the
        service serves as it and can neither change the schema nor rewrite its history.
        """
        engine = make_engine(settings, requests=False)
        try:
            with engine.begin() as connection:
                command.upgrade(self.config(connection), "head")
                if settings.db_app_role:
                    self.grant_dml(connection, settings.db_app_role)
            return self.head()
        finally:
            engine.dispose()

    def grant_dml(self, connection: Connection, role: str) -> None:
        """SELECT/INSERT/UPDATE/DELETE on the tables, USAGE on the sequences, to ``role``;
        nothing on the version table."""
        quote = connection.dialect.identifier_preparer.quote
        for statement in (
            f"GRANT USAGE ON SCHEMA public TO {quote(role)}",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quote(role)}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quote(role)}",
            f"REVOKE ALL ON TABLE {quote(self.version_table)} FROM {quote(role)}",
        ):
            connection.exec_driver_sql(statement)

    def run_env(self, metadata: MetaData, settings: Callable[[], ServiceSettings]) -> None:
        """The body of ``env.py``: on the connection ``upgrade_head`` passes in, or (for the
        ``alembic`` CLI developers use) on one built from the service's settings."""
        if context.is_offline_mode():
            context.configure(
                url=settings().database_url,
                target_metadata=metadata,
                version_table=self.version_table,
                literal_binds=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            return
        connection = context.config.attributes.get("connection")
        if connection is not None:
            self._run(connection, metadata)
            return
        engine = make_engine(settings(), requests=False)
        try:
            with engine.begin() as own_connection:
                self._run(own_connection, metadata)
        finally:
            engine.dispose()

    def _run(self, connection: Connection, metadata: MetaData) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table=self.version_table,
            compare_type=True,
        )
        with context.begin_transaction():
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({self.lock_id})")
            context.run_migrations()
