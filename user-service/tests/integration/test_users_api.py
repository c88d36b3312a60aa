"""The users API through the app, on PostgreSQL: every status code of docs/design.md.

Who may read what is in test_identity_api.py; here every read is made with a token allowed to.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from user_service.api.deps import get_users

if TYPE_CHECKING:
    from conftest import Identity  # the fixture's class (user-service/tests/conftest.py)

PASSWORD = "correct horse battery staple"
PROBLEM = "application/problem+json"
CREATED_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def _create(
    client: TestClient, name: str = "Ada", email: str = "ada@example.com"
) -> dict[str, Any]:
    response = client.post("/users", json={"name": name, "email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def admin(identity: Identity) -> dict[str, str]:
    return identity.admin_headers()


def _assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    assert {"title", "detail", "instance"} <= body.keys()
    assert "Traceback" not in response.text
    assert "psycopg2" not in response.text
    return body


def test_create_user_returns_201_with_location_and_user(client: TestClient) -> None:
    response = client.post(
        "/users", json={"name": "Ada", "email": "ada@example.com", "password": PASSWORD}
    )
    assert response.status_code == 201
    body = response.json()
    assert body == {
        "id": 1,
        "name": "Ada",
        "email": "ada@example.com",
        "created_at": body["created_at"],
    }
    assert CREATED_AT.match(body["created_at"])
    assert response.headers["location"] == "/users/1"


def test_create_user_stores_normalised_email_and_name(
    client: TestClient, identity: Identity
) -> None:
    created = _create(client, name="  Grace Hopper  ", email="Grace.HOPPER@Example.com")
    fetched = client.get(
        f"/users/{created['id']}", headers=identity.headers("grace.hopper@example.com")
    ).json()
    assert fetched == created
    assert (fetched["name"], fetched["email"]) == ("Grace Hopper", "grace.hopper@example.com")


def test_create_user_returns_409_when_email_taken_in_any_case(
    client: TestClient, admin: dict[str, str]
) -> None:
    _create(client, email="ada@example.com")
    response = client.post(
        "/users", json={"name": "Other", "email": "ADA@example.COM", "password": PASSWORD}
    )
    _assert_problem(response, 409, "email-taken")
    assert client.get("/users", headers=admin).json()["total"] == 2  # Ada and the admin


def test_create_user_returns_422_for_unknown_field(client: TestClient) -> None:
    response = client.post(
        "/users",
        json={"name": "A", "email": "a@example.com", "password": PASSWORD, "role": "admin"},
    )
    body = _assert_problem(response, 422, "validation")
    assert body["errors"] == [
        {
            "loc": ["body", "role"],
            "msg": "Extra inputs are not permitted",
            "type": "extra_forbidden",
        }
    ]


def test_create_user_returns_422_for_malformed_json(client: TestClient) -> None:
    response = client.post(
        "/users", content=b'{"name": "A", "email":', headers={"content-type": "application/json"}
    )
    body = _assert_problem(response, 422, "validation")
    assert body["errors"][0]["type"] == "json_invalid"


@pytest.mark.parametrize(
    "payload",
    [
        {"name": 42, "email": "a@example.com"},
        {"name": "A", "email": ["a@example.com"]},
        {"name": None, "email": "a@example.com"},
        {"name": "A"},
        {},
        [],
        "a string",
        {"name": "A", "email": "not-an-email"},
        {"name": "   ", "email": "a@example.com"},
        {"name": "x" * 10_000, "email": "a@example.com"},
        {"name": "A", "email": "a" * 5_000 + "@example.com"},
        {"name": "line\nbreak", "email": "a@example.com"},
        {"name": "A", "email": "a@example.com"},
        {"name": "A", "email": "a@example.com", "password": "short"},
        {"name": "A", "email": "a@example.com", "password": "x" * 129},
        {"name": "A", "email": "a@example.com", "password": 12345678},
    ],
)
def test_create_user_returns_422_for_invalid_body(client: TestClient, payload: object) -> None:
    if (
        isinstance(payload, dict)
        and "email" in payload
        and "password" not in payload
        and (payload.get("name") != "A" or payload.get("email") != "a@example.com")
    ):
        payload = {**payload, "password": PASSWORD}  # only the field under test is wrong
    response = client.post("/users", json=payload)
    body = _assert_problem(response, 422, "validation")
    assert body["errors"]
    assert all(set(error) == {"loc", "msg", "type"} for error in body["errors"])
    assert "x" * 129 not in response.text  # a refused password is never echoed


def test_create_user_returns_413_when_declared_body_exceeds_64_kib(client: TestClient) -> None:
    payload = b'{"name": "' + b"x" * 70_000 + b'", "email": "a@example.com"}'
    response = client.post("/users", content=payload, headers={"content-type": "application/json"})
    _assert_problem(response, 413, "content-too-large")


def test_create_user_returns_413_when_streamed_body_exceeds_64_kib(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(20):
            yield b"x" * 4096
        yield b'", "email": "a@example.com"}'

    response = client.post("/users", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    _assert_problem(response, 413, "content-too-large")


def test_get_user_returns_200_with_the_user(client: TestClient, identity: Identity) -> None:
    created = _create(client)
    response = client.get(f"/users/{created['id']}", headers=identity.headers())
    assert response.status_code == 200
    assert response.json() == created


def test_get_user_returns_404_problem_when_missing_to_an_admin(
    client: TestClient, admin: dict[str, str]
) -> None:
    body = _assert_problem(client.get("/users/999", headers=admin), 404, "user-not-found")
    assert body["instance"] == "/users/999"


@pytest.mark.parametrize("user_id", ["abc", "0", "-1", "1.5", str(2**31), str(10**30)])
def test_get_user_returns_422_for_invalid_id(
    client: TestClient, admin: dict[str, str], user_id: str
) -> None:
    _assert_problem(client.get(f"/users/{user_id}", headers=admin), 422, "validation")


def test_list_users_shows_the_admin_alone_with_default_page(
    client: TestClient, admin: dict[str, str]
) -> None:
    response = client.get("/users", headers=admin)
    assert response.status_code == 200
    body = response.json()
    assert [user["email"] for user in body["items"]] == ["admin@example.com"]
    assert (body["total"], body["limit"], body["offset"]) == (1, 50, 0)


def test_list_users_pages_in_id_order_with_total(client: TestClient, admin: dict[str, str]) -> None:
    created = [_create(client, name=f"U{i}", email=f"u{i}@example.com") for i in range(5)]
    page = client.get("/users", params={"limit": 2, "offset": 2}, headers=admin).json()
    assert page == {"items": created[1:3], "total": 6, "limit": 2, "offset": 2}
    last = client.get("/users", params={"limit": 100, "offset": 5}, headers=admin).json()
    assert [user["id"] for user in last["items"]] == [created[4]["id"]]
    assert client.get("/users", params={"offset": 10}, headers=admin).json()["items"] == []


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "x"}, {"offset": 10**30}]
)
def test_list_users_returns_422_for_out_of_bounds_paging(
    client: TestClient, admin: dict[str, str], params: dict[str, object]
) -> None:
    _assert_problem(client.get("/users", params=params, headers=admin), 422, "validation")


def test_unknown_route_and_wrong_method_are_problems(client: TestClient) -> None:
    _assert_problem(client.get("/nope"), 404, "not-found")
    _assert_problem(client.delete("/users/1"), 405, "method-not-allowed")


def test_unexpected_error_returns_500_problem_without_details(
    app: FastAPI, identity: Identity
) -> None:
    _create(identity.client)
    headers = {**identity.headers(), "X-Request-ID": "req-500"}

    def broken_users() -> None:
        raise RuntimeError("password=hunter2 in the internals")

    app.dependency_overrides[get_users] = broken_users
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/users/1", headers=headers)
    body = _assert_problem(response, 500, "internal")
    assert body["request_id"] == "req-500"
    assert "hunter2" not in response.text
