"""The migrate command on a real PostgreSQL, and the models agreeing with the migrations."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect
from sqlalchemy.exc import ProgrammingError
from sqlmodel import SQLModel

from user_service import models
from user_service.config import Settings
from user_service.main import create_app
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


def test_the_app_role_may_read_and_write_rows_but_not_change_the_schema(
    create_database_with_roles: Callable[[str], Any], keys_dir: Path
) -> None:
    """Least privilege: migrate as the owner (granting DML to the app role), serve as the app."""
    roles = create_database_with_roles("users_lp")
    MIGRATIONS.upgrade_head(
        Settings(database_url=roles.owner_url, db_app_role=roles.app_role, keys_dir=keys_dir)
    )
    app_settings = Settings(
        database_url=roles.app_url,
        keys_dir=keys_dir,
        argon2_time_cost=1,
        argon2_memory_cost=8 * 1024,
    )
    with TestClient(create_app(app_settings)) as client:
        body = {"name": "Ada", "email": "ada@example.com", "password": "correct horse"}
        assert client.post("/users", json=body).status_code == 201
        form = {"username": "ada@example.com", "password": "correct horse"}
        assert client.post("/token", data=form).status_code == 200

    engine = create_engine(roles.app_url)
    try:
        for statement in (
            "DROP TABLE users",
            "ALTER TABLE users ADD COLUMN x int",
            "CREATE TABLE intruder (id int)",
            "TRUNCATE users",
            "UPDATE user_service_alembic_version SET version_num = '0001'",
        ):
            with (
                engine.connect() as conn,
                pytest.raises(ProgrammingError, match=r"permission|owner"),
            ):
                conn.exec_driver_sql(statement)
        with engine.connect() as conn:
            is_super = conn.exec_driver_sql(
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
            )
            assert is_super.scalar_one() is False
    finally:
        engine.dispose()
