"""The peer answers like the template's routes, on the services' own (migrated) tables."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from bench.peer_app import Settings, create_app
from order_service.config import Settings as OrderSettings
from order_service.migrations import MIGRATIONS as ORDER_MIGRATIONS
from user_service.config import Settings as UserSettings
from user_service.migrations import MIGRATIONS as USER_MIGRATIONS
from user_service.signing import KeyRing

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def users_url(migrated_database: Callable[..., str], keys_dir: Path) -> str:
    """A users database with an admin (id 1) and two users (ids 2 and 3)."""
    url = migrated_database("peer_users", USER_MIGRATIONS, UserSettings, keys_dir=keys_dir)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (name, email, created_at, role) VALUES "
                "('Admin', 'admin@example.com', now(), 'admin'), "
                "('Ada', 'ada@example.com', now(), 'user'), "
                "('Bob', 'bob@example.com', now(), 'user')"
            )
        )
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def orders_url(migrated_database: Callable[..., str]) -> str:
    return migrated_database("peer_orders", ORDER_MIGRATIONS, OrderSettings)


def _client(url: str, keys_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(database_url=url, keys_dir=keys_dir))) as client:
        yield client


@pytest.fixture(scope="module")
def users(users_url: str, keys_dir: Path) -> Iterator[TestClient]:
    yield from _client(users_url, keys_dir)


@pytest.fixture(scope="module")
def orders(orders_url: str, keys_dir: Path) -> Iterator[TestClient]:
    yield from _client(orders_url, keys_dir)


@pytest.fixture(scope="module")
def bearer(keys_dir: Path) -> Callable[..., dict[str, str]]:
    """Headers with a token user-service would issue (its issuer and audience defaults)."""
    keys = KeyRing.from_directory(keys_dir)

    def make(subject: str, *, issuer: str = "user-service") -> dict[str, str]:
        token = keys.issue(subject=subject, roles=[], issuer=issuer, audience="shop", ttl=600).token
        return {"Authorization": f"Bearer {token}"}

    return make


def test_admin_reads_any_user_as_user_public(
    users: TestClient, bearer: Callable[..., dict[str, str]]
) -> None:
    response = users.get("/users/3", headers=bearer("1"))
    assert response.status_code == 200
    assert set(response.json()) == {"id", "name", "email", "created_at"}
    assert response.json()["email"] == "bob@example.com"


def test_user_reads_itself_but_not_another(
    users: TestClient, bearer: Callable[..., dict[str, str]]
) -> None:
    assert users.get("/users/2", headers=bearer("2")).status_code == 200
    assert users.get("/users/3", headers=bearer("2")).status_code == 403


def test_read_answers_404_for_a_missing_user_and_a_missing_caller(
    users: TestClient, bearer: Callable[..., dict[str, str]]
) -> None:
    assert users.get("/users/999", headers=bearer("1")).status_code == 404
    assert users.get("/users/2", headers=bearer("999")).status_code == 404


def test_read_refuses_a_foreign_token_with_403_and_no_token_with_401(
    users: TestClient, bearer: Callable[..., dict[str, str]]
) -> None:
    assert users.get("/users/2", headers=bearer("1", issuer="elsewhere")).status_code == 403
    assert users.get("/users/2").status_code == 401


def test_a_token_without_a_subject_is_refused_with_403(
    users: TestClient, orders: TestClient, keys_dir: Path
) -> None:
    (pem,) = keys_dir.glob("*.pem")
    key = serialization.load_pem_private_key(pem.read_bytes(), None)
    claims = {"iss": "user-service", "aud": "shop", "exp": 4102444800}
    token = jwt.encode(claims, key, algorithm="EdDSA")  # type: ignore[arg-type]
    body = {"currency": "EUR", "items": [{"product_id": "x", "quantity": 1, "unit_price": 1}]}
    headers = {"Authorization": f"Bearer {token}"}
    assert users.get("/users/2", headers=headers).status_code == 403
    assert orders.post("/orders", json=body, headers=headers).status_code == 403


def test_create_order_stores_the_order_and_its_items_for_the_token_subject(
    orders: TestClient, orders_url: str, bearer: Callable[..., dict[str, str]]
) -> None:
    body = {
        "currency": "EUR",
        "items": [
            {"product_id": "sku-1", "quantity": 2, "unit_price": 1250},
            {"product_id": "sku-gift", "quantity": 1, "unit_price": 0},
        ],
    }
    response = orders.post(
        "/orders", json=body, headers=bearer("7") | {"Idempotency-Key": "ignored"}
    )
    assert response.status_code == 201
    order = response.json()
    assert (order["user_id"], order["total"]) == (7, 2500)
    assert [i["line_total"] for i in order["items"]] == [2500, 0]
    engine = create_engine(orders_url)
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT position, line_total FROM order_items WHERE order_id = :id ORDER BY 1"),
            {"id": order["id"]},
        ).all()
        key = conn.execute(
            text("SELECT idempotency_key FROM orders WHERE id = :id"), {"id": order["id"]}
        ).scalar_one()
    engine.dispose()
    assert [tuple(row) for row in stored] == [(0, 2500), (1, 0)]
    assert key is None


def test_create_order_validates_the_body_with_order_service_rules(
    orders: TestClient, bearer: Callable[..., dict[str, str]]
) -> None:
    body = {"currency": "EUR", "items": [{"product_id": "x", "quantity": "2", "unit_price": 1}]}
    assert orders.post("/orders", json=body, headers=bearer("7")).status_code == 422
