"""devtools.pgtemp: bindir discovery (unit) and a real server round trip (integration)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from devtools.pgtemp import (
    LocalPostgres,
    PgTempError,
    PostgresUnavailableError,
    find_pg_bindir,
)

REPO = Path(__file__).resolve().parents[2]


def fake_bindir(path: Path) -> Path:
    path.mkdir(parents=True)
    for tool in ("initdb", "pg_ctl"):
        (path / tool).write_text("#!/bin/sh\nexit 1\n")
        (path / tool).chmod(0o755)
    return path


def scalar(url: str, sql: str) -> object:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar_one()
    finally:
        engine.dispose()


@pytest.mark.unit
def test_find_pg_bindir_returns_pg_bindir_when_set(tmp_path: Path) -> None:
    given = fake_bindir(tmp_path / "pg" / "bin")
    fake_bindir(tmp_path / "lib" / "16" / "bin")

    found = find_pg_bindir(
        environ={"PG_BINDIR": str(given), "PATH": ""}, install_root=tmp_path / "lib"
    )

    assert found == given


@pytest.mark.unit
def test_find_pg_bindir_raises_when_pg_bindir_lacks_the_binaries(tmp_path: Path) -> None:
    fake_bindir(tmp_path / "lib" / "16" / "bin")

    with pytest.raises(PostgresUnavailableError, match=r"PG_BINDIR=.* has no initdb"):
        find_pg_bindir(
            environ={"PG_BINDIR": str(tmp_path), "PATH": ""}, install_root=tmp_path / "lib"
        )


@pytest.mark.unit
def test_find_pg_bindir_picks_the_newest_installed_version_numerically(tmp_path: Path) -> None:
    for version in ("9.6", "15", "16"):
        fake_bindir(tmp_path / version / "bin")

    assert find_pg_bindir(environ={"PATH": ""}, install_root=tmp_path) == tmp_path / "16" / "bin"


@pytest.mark.unit
def test_find_pg_bindir_names_the_package_and_test_database_url_when_nothing_found(
    tmp_path: Path,
) -> None:
    with pytest.raises(PostgresUnavailableError, match=r"apt-get install postgresql") as info:
        find_pg_bindir(environ={"PATH": str(tmp_path)}, install_root=tmp_path / "none")

    assert "TEST_DATABASE_URL" in str(info.value)
    assert "PG_BINDIR" in str(info.value)


@pytest.mark.integration
def test_local_postgres_creates_databases_and_deletes_everything_on_stop() -> None:
    pg = LocalPostgres()
    admin_url = pg.start()
    root = pg.root
    try:
        first = pg.create_database("things")
        second = pg.create_database("things")
        exact = pg.create_database("orders", exact=True)

        assert first != second
        assert exact.endswith("/orders")
        assert scalar(first, "SELECT current_database()") == first.rsplit("/", 1)[1]
        assert scalar(admin_url, "SHOW fsync") == "off"
        assert scalar(admin_url, "SHOW listen_addresses") == "127.0.0.1"
    finally:
        pg.stop()

    assert root is not None
    assert not root.exists()
    pg.stop()  # a second stop is harmless


@pytest.mark.integration
def test_local_postgres_raises_with_the_command_output_when_initdb_fails(tmp_path: Path) -> None:
    pg = LocalPostgres(bindir=fake_bindir(tmp_path / "bin"))

    with pytest.raises(PgTempError, match=r"initdb .* failed \(exit"):
        pg.start()

    assert pg.root is None


@pytest.mark.integration
def test_cli_prints_database_urls_then_stops_and_cleans_up_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "devtools.pgtemp", "--database", "users", "--database", "orders"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        exports: dict[str, str] = {}
        for line in proc.stdout:
            if line == "# pgtemp ready\n":
                break
            key, _, value = line.removeprefix("export ").rstrip("\n").partition("=")
            exports[key] = value
        else:
            pytest.fail(f"pgtemp exited before ready: {proc.stderr.read() if proc.stderr else ''}")

        assert set(exports) == {"PGTEMP_URL", "PGTEMP_DIR", "USERS_URL", "ORDERS_URL"}
        assert scalar(exports["USERS_URL"], "SELECT current_database()") == "users"
        assert scalar(exports["ORDERS_URL"], "SELECT current_database()") == "orders"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)

    assert proc.returncode == 0, stderr
    assert not Path(exports["PGTEMP_DIR"]).exists()


def test_create_database_with_roles_owns_it_by_one_role_and_lets_another_connect() -> None:
    with LocalPostgres(prefix="pgtemp-test-") as pg:
        owner_url, app_url = pg.create_database_with_roles("shop")
        assert scalar(owner_url, "SELECT current_user") == "shop_owner"
        assert scalar(app_url, "SELECT current_user") == "shop_app"
        owner = scalar(
            pg.admin_url,
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'shop'",
        )
        assert owner == "shop_owner"
        assert (
            scalar(app_url, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") is False
        )
