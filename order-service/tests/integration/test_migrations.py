"""`order-service migrate`: the tables, the version table and the CLI command, idempotent."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import create_engine, inspect, text

from order_service.cli import main
from order_service.config import Settings, get_settings
from order_service.migrations import MIGRATIONS

pytestmark = pytest.mark.integration


def test_migrate_creates_the_tables_and_its_own_version_table_on_postgresql(
    create_database: Callable[[str], str],
) -> None:
    url = create_database("order_migrate")
    MIGRATIONS.upgrade_head(Settings(database_url=url))
    MIGRATIONS.upgrade_head(Settings(database_url=url))  # a second run is a no-op
    engine = create_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert {"orders", "order_items", "order_service_alembic_version"} <= tables
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM order_service_alembic_version"))
            assert version.scalar_one() == "0003"
        constraints = {c["name"] for c in inspect(engine).get_unique_constraints("orders")}
        assert "uq_orders_user_id_idempotency_key" in constraints
    finally:
        engine.dispose()


def test_migrate_command_migrates_the_database_of_the_environment(
    create_database: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = create_database("order_migrate_cli")
    monkeypatch.setenv("ORDER_SERVICE_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        assert main(["migrate"]) == 0
    finally:
        get_settings.cache_clear()
    engine = create_engine(url)
    try:
        assert {"orders", "order_items"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_cli_refuses_invalid_settings_with_exit_code_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ORDER_SERVICE_USER_SERVICE_URL", "ftp://nope")
    get_settings.cache_clear()
    try:
        assert main(["migrate"]) == 2
    finally:
        get_settings.cache_clear()
    assert "ORDER_SERVICE_" in capsys.readouterr().err
