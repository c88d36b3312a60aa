"""The embedded SQLite fallback of local runs: migrations and serialisation work there too.

Only the fallback itself is tested on SQLite; the data layer's tests run on PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from user_service.config import Settings
from user_service.main import create_app
from user_service.migrations import MIGRATIONS

PW = {"password": "correct horse battery staple"}


def test_migrate_and_serve_on_sqlite_create_its_directory(tmp_path: Path, keys_dir: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/nested/dir/users.db", keys_dir=keys_dir)
    MIGRATIONS.upgrade_head(settings)
    MIGRATIONS.upgrade_head(settings)  # idempotent
    assert (tmp_path / "nested" / "dir" / "users.db").exists()

    app = create_app(settings)
    with TestClient(app) as client:
        created = client.post("/users", json={"name": "Ada", "email": "ADA@example.com", **PW})
        duplicate = client.post("/users", json={"name": "Bob", "email": "ada@EXAMPLE.com", **PW})
        token = client.post("/token", data={"username": "ada@example.com", **PW}).json()
        fetched = client.get(
            "/users/1", headers={"Authorization": f"Bearer {token['access_token']}"}
        )
    assert created.status_code == 201
    assert duplicate.status_code == 409
    assert fetched.json() == created.json()
    assert created.json()["created_at"].endswith("Z")
