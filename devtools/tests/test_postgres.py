"""devtools.postgres: the embedded server (kept and throw-away), databases with roles, the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from conftest import PostgresServer
from devtools.postgres import Postgres, embedded

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def scalar(url: str, sql: str) -> object:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar()
    finally:
        engine.dispose()


@pytest.fixture
def server(postgres_server: PostgresServer) -> Iterator[Postgres]:
    """The session's server; the databases and roles a test makes here are dropped after it."""
    yield postgres_server.server
    name = "devtools_shop"
    postgres_server.server.drop(databases=[name], roles=[f"{name}_owner", f"{name}_app"])


def test_a_kept_server_keeps_its_data_across_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "postgres"
    with embedded(data) as pg:
        url = pg.create_database("kept").url
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t AS SELECT 42 AS answer"))
        engine.dispose()
        assert scalar(pg.admin_url, "SHOW fsync") == "on"  # a user's data: durable
        first_pid = pg.pid
    assert not (data / "postmaster.pid").exists()  # stopped

    with embedded(data) as pg:
        assert pg.pid != first_pid
        assert scalar(pg.create_database("kept").url, "SELECT answer FROM t") == 42


def test_a_throwaway_server_runs_without_durability_and_is_deleted_at_the_end() -> None:
    with embedded(settings={"max_connections": "150"}) as pg:
        socket_dir = Path(str(make_url(pg.admin_url).query["host"]))
        assert scalar(pg.admin_url, "SHOW fsync") == "off"
        assert scalar(pg.admin_url, "SHOW max_connections") == "150"  # applied by a restart
        assert scalar(pg.admin_url, "SHOW listen_addresses") == ""  # the Unix socket only
    assert not socket_dir.exists()


def test_create_database_with_roles_owns_it_by_one_role_and_lets_only_another_connect(
    server: Postgres,
) -> None:
    shop = server.create_database("devtools_shop", roles=True)
    again = server.create_database("devtools_shop", roles=True)  # idempotent: make run, twice

    assert again == shop
    assert scalar(shop.owner_url, "SELECT current_user") == "devtools_shop_owner"
    assert scalar(shop.url, "SELECT current_user") == shop.app_role == "devtools_shop_app"
    assert scalar(shop.url, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user") is False
    owner = "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'devtools_shop'"
    assert scalar(server.admin_url, owner) == "devtools_shop_owner"
    public = "SELECT has_database_privilege('public', 'devtools_shop', 'CONNECT')"
    assert scalar(server.admin_url, public) is False


def test_cli_prints_database_urls_then_stops_the_server_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "devtools.postgres", "--data", str(tmp_path / "pg"), "--roles",
         "--database", "users", "--database", "orders"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    exports: dict[str, str] = {}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line == "# postgres ready\n":
                break
            key, _, value = line.removeprefix("export ").rstrip("\n").partition("=")
            exports[key] = value.strip("'")
        else:
            pytest.fail(f"exited before ready: {proc.stderr.read() if proc.stderr else ''}")

        assert set(exports) == {
            "POSTGRES_URL", "USERS_URL", "USERS_OWNER_URL", "ORDERS_URL", "ORDERS_OWNER_URL",
        }  # fmt: skip
        assert scalar(exports["USERS_URL"], "SELECT current_user") == "users_app"
        assert scalar(exports["ORDERS_OWNER_URL"], "SELECT current_database()") == "orders"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)

    assert proc.returncode == 0, stderr
    assert not (tmp_path / "pg" / "postmaster.pid").exists()
    assert (tmp_path / "pg" / "PG_VERSION").exists()  # kept


def test_cli_stops_the_server_when_the_script_that_started_it_is_gone(tmp_path: Path) -> None:
    """A killed script (or one whose cleanup was cut short) must not leave a server behind."""
    env_file = tmp_path / "env"
    script = (
        f"{sys.executable} -m devtools.postgres --data {tmp_path / 'pg'} >{env_file} 2>&1 &\n"
        f"until grep -q '# postgres ready' {env_file}; do sleep 0.1; done\n"
    )
    subprocess.run(["bash", "-c", script], cwd=REPO, check=True, timeout=120)  # then it exits
    pid_file = tmp_path / "pg" / "postmaster.pid"
    for _ in range(150):
        if not pid_file.exists():
            break
        time.sleep(0.1)
    assert not pid_file.exists(), "the server outlived the script that started it"
