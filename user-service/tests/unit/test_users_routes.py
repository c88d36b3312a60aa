"""The routes hand the ``Users`` use cases what the request brings, and nothing else: the
request's id reaches them in its context variable (FastAPI dependency overrides; no database)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service_kit.log import current_request_id
from user_service.api.deps import get_users
from user_service.config import Settings
from user_service.main import create_app
from user_service.models import AccessToken, UserCreate, UserPublic

pytestmark = pytest.mark.unit

ADA = UserPublic(
    id=3, name="Ada", email="ada@example.com", created_at=datetime(2026, 1, 1, tzinfo=UTC)
)


class RecordingUsers:
    """Stands for ``service.Users``: records each call and the request id it ran under."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _record(self, name: str, **arguments: Any) -> None:
        self.calls.append((name, {**arguments, "request_id": current_request_id()}))

    def admit(self, client: str | None) -> None:
        self._record("admit", client=client)

    async def register(self, *, data: UserCreate) -> UserPublic:
        self._record("register", email=data.email)
        return ADA

    async def issue_token(self, *, email: str, password: str) -> AccessToken:
        self._record("issue_token", email=email, password=password)
        return AccessToken(access_token="t", expires_in=60)


@pytest.fixture
def users() -> RecordingUsers:
    return RecordingUsers()


@pytest.fixture
def routes(users: RecordingUsers, keys_dir: Path) -> Iterator[TestClient]:
    settings = Settings(database_url="postgresql://users@127.0.0.1:9/users", keys_dir=keys_dir)
    app = create_app(settings)
    app.dependency_overrides[get_users] = lambda: users
    with TestClient(app, client=("203.0.113.7", 4000)) as client:
        yield client
    app.state.engine.dispose()


def test_post_users_admits_the_client_then_hands_register_the_body(
    routes: TestClient, users: RecordingUsers
) -> None:
    body = {"name": "Ada", "email": "Ada@Example.com", "password": "x" * 9}
    response = routes.post("/users", json=body, headers={"X-Request-ID": "req-1"})
    assert response.status_code == 201
    assert response.headers["Location"] == "/users/3"
    assert users.calls == [
        ("admit", {"client": "203.0.113.7", "request_id": "req-1"}),
        ("register", {"email": "ada@example.com", "request_id": "req-1"}),
    ]


def test_post_token_hands_issue_token_the_form_and_forbids_caching(
    routes: TestClient, users: RecordingUsers
) -> None:
    form = {"username": "ada@example.com", "password": "pw"}
    response = routes.post("/token", data=form, headers={"X-Request-ID": "req-2"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert users.calls[-1] == (
        "issue_token",
        {"email": "ada@example.com", "password": "pw", "request_id": "req-2"},
    )
