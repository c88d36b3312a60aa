"""Health endpoints, and what clients see while the database is down."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from user_service.config import Settings
from user_service.main import create_app


def test_liveness_and_readiness_are_ok_with_the_database_up(client: TestClient) -> None:
    assert client.get("/health/live").json() == {"status": "ok"}
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.fixture
def outage_client(closed_port_settings: Settings) -> Iterator[TestClient]:
    app = create_app(closed_port_settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/users", None),
        ("GET", "/users/1", None),
        ("POST", "/users", {"name": "Ada", "email": "ada@example.com", "password": "p" * 8}),
        ("GET", "/health/ready", None),
    ],
)
def test_database_outage_gives_503_problem_without_internals(
    outage_client: TestClient,
    mint: Callable[..., dict[str, str]],
    method: str,
    path: str,
    body: object,
) -> None:
    response = outage_client.request(method, path, json=body, headers=mint())
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "/problems/database-unavailable"
    assert problem["request_id"] == response.headers["x-request-id"]
    for leak in ("Traceback", "psycopg2", "Connection refused", "127.0.0.1", "SELECT"):
        assert leak not in response.text


def test_login_during_an_outage_gives_503_not_401(outage_client: TestClient) -> None:
    response = outage_client.post("/token", data={"username": "a@example.com", "password": "p"})
    assert response.status_code == 503
    assert response.json()["type"] == "/problems/database-unavailable"


def test_liveness_never_touches_the_database(outage_client: TestClient) -> None:
    response = outage_client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
