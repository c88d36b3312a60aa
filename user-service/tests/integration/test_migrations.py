"""The migrate command on a real PostgreSQL, and the models agreeing with the migrations."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlmodel import SQLModel

from user_service import models
from user_service.migrations import MIGRATIONS

VERSION_TABLE = MIGRATIONS.version_table

# SQLModel.metadata is process-wide: when order-service's tests run in the same session its
# tables are registered there too. Compare only the tables this service's models define.
OWN_TABLES = {
    obj.__table__.name
    for obj in vars(models).values()
    if isinstance(obj, type) and issubclass(obj, SQLModel) and hasattr(obj, "__table__")
}


def _own_tables_only(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    return type_ != "table" or name in OWN_TABLES


def _run_migrate(url: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "user-service"
    assert script.exists(), f"console script missing: {script} (pip install -e user-service)"
    env = {**os.environ, "USER_SERVICE_DATABASE_URL": url}
    return subprocess.run(
        [str(script), "migrate"], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_migrate_command_upgrades_an_empty_database_and_is_idempotent(
    create_database: Callable[[str], str],
) -> None:
    url = create_database("user_service_migrate")
    first = _run_migrate(url)
    assert first.returncode == 0, first.stderr + first.stdout
    second = _run_migrate(url)
    assert second.returncode == 0, second.stderr + second.stdout

    engine = create_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert tables == {"users", VERSION_TABLE}
        assert VERSION_TABLE == "user_service_alembic_version"
        with engine.connect() as conn:
            versions = conn.exec_driver_sql(
                "SELECT version_num FROM user_service_alembic_version"
            ).all()
        assert len(versions) == 1
    finally:
        engine.dispose()


def test_models_match_the_migrated_schema(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"version_table": VERSION_TABLE, "include_object": _own_tables_only}
            )
            diff = compare_metadata(context, SQLModel.metadata)
    finally:
        engine.dispose()
    assert {"users"} == OWN_TABLES
    assert diff == []
