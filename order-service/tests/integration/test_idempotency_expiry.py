"""Idempotency keys expire after a window (24 h by default) and are purged, as clients expect.

Stripe and the IETF Idempotency-Key draft: a key is remembered for a documented time; a retry
within it replays, a request after it is new. The orders themselves are never touched: expiry
only releases the key (and its request hash).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from order_service.config import Settings

pytestmark = pytest.mark.integration

Body = Callable[..., dict[str, Any]]
Place = Callable[..., httpx.Response]


@pytest.fixture(autouse=True)
def _user_1_exists(fake_user_service: Any) -> None:
    """The client orders as user 1 (its token's subject): user-service knows them."""
    fake_user_service.known.add(1)


@pytest.fixture
def place(order_body: Body) -> Place:
    """``place(client, key, **overrides)``: POST /orders with that Idempotency-Key."""

    def post(client: TestClient, key: str, **overrides: Any) -> httpx.Response:
        return client.post(
            "/orders", json=order_body(**overrides), headers={"Idempotency-Key": key}
        )

    return post


def age_orders(engine: Engine, by: timedelta, *, ids: list[int] | None = None) -> None:
    """Move orders' created_at into the past, as if they had been placed ``by`` ago."""
    where = "WHERE id = ANY(:ids)" if ids is not None else ""
    with engine.begin() as conn:
        conn.execute(
            text(f"UPDATE orders SET created_at = created_at - :by {where}"),  # noqa: S608
            {"by": by, "ids": ids},
        )


def keys_held(engine: Engine) -> dict[int, str | None]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, idempotency_key FROM orders ORDER BY id"))
        return {row.id: row.idempotency_key for row in rows}


def test_the_window_is_24_hours_by_default() -> None:
    assert Settings().idempotency_key_window == timedelta(hours=24)


def test_a_retry_inside_the_window_replays(
    client: TestClient, db_engine: Engine, place: Place
) -> None:
    first = place(client, "k-1")
    age_orders(db_engine, timedelta(hours=23, minutes=59))
    again = place(client, "k-1")
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]


def test_a_key_past_the_window_is_a_new_request_and_the_old_order_stays(
    client: TestClient, db_engine: Engine, place: Place
) -> None:
    first = place(client, "k-2")
    age_orders(db_engine, timedelta(hours=24, seconds=1))

    again = place(client, "k-2")

    assert again.status_code == 201, again.text
    assert "Idempotent-Replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]
    assert client.get(f"/orders/{first.json()['id']}").status_code == 200
    assert keys_held(db_engine) == {first.json()["id"]: None, again.json()["id"]: "k-2"}
    replay = place(client, "k-2")
    assert replay.json()["id"] == again.json()["id"], "the key now names the new order"


def test_an_expired_key_may_come_back_with_another_body(
    client: TestClient, db_engine: Engine, place: Place
) -> None:
    place(client, "k-3")
    age_orders(db_engine, timedelta(days=2))
    other = place(client, "k-3", currency="USD")
    assert other.status_code == 201, other.text


def test_every_write_purges_expired_keys(
    client: TestClient, db_engine: Engine, place: Place
) -> None:
    old = [place(client, f"old-{i}") for i in range(5)]
    age_orders(db_engine, timedelta(hours=25), ids=[r.json()["id"] for r in old[:4]])

    fresh = place(client, "fresh")

    held = keys_held(db_engine)
    assert [held[r.json()["id"]] for r in old] == [None, None, None, None, "old-4"]
    assert held[fresh.json()["id"]] == "fresh"


def test_the_window_is_a_setting(
    settings: Settings,
    db_engine: Engine,
    place: Place,
    serving: Callable[..., Any],
) -> None:
    with serving(settings.model_copy(update={"idempotency_key_window": timedelta(hours=1)})) as c:
        first = place(c, "k-4")
        age_orders(db_engine, timedelta(hours=1, seconds=1))
        again = place(c, "k-4")
    assert again.json()["id"] != first.json()["id"]
