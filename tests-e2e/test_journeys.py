"""What a client of the pair meets: users and orders created, read back, refused and replayed."""

from __future__ import annotations

import random

from e2e_support.api import PROBLEM_JSON, Shop, describe


def test_user_and_order_created_are_read_back_from_both_services(shop: Shop) -> None:
    user = shop.create_user(name="  Ada Lovelace ")
    assert user["name"] == "Ada Lovelace"

    fetched_user = shop.users.get(f"/users/{user['id']}")
    assert fetched_user.status_code == 200, describe(fetched_user)
    assert fetched_user.json() == user

    created = shop.post_order(shop.order_body(user["id"], quantity=3))
    assert created.status_code == 201, describe(created)
    order = created.json()
    assert created.headers["location"].endswith(f"/orders/{order['id']}")
    assert order["user_id"] == user["id"]
    assert order["total"] == 3 * 1250
    assert order["items"][0]["line_total"] == 3 * 1250

    fetched_order = shop.orders.get(f"/orders/{order['id']}")
    assert fetched_order.status_code == 200, describe(fetched_order)
    assert fetched_order.json() == order
    assert [o["id"] for o in shop.orders_of(user["id"])] == [order["id"]]


def test_order_for_unknown_user_is_refused_with_422_and_nothing_is_stored(shop: Shop) -> None:
    unknown_user_id = 2_000_000_000 + random.randrange(100_000_000)

    response = shop.post_order(shop.order_body(unknown_user_id), key=shop.new_key())

    assert response.status_code == 422, describe(response)
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.json()["type"] == "/problems/unknown-user"
    assert shop.orders_of(unknown_user_id) == []


def test_retry_with_same_idempotency_key_creates_one_order(shop: Shop) -> None:
    user = shop.create_user()
    body = shop.order_body(user["id"])
    key = shop.new_key()

    first = shop.post_order(body, key=key)
    retry = shop.post_order(body, key=key)

    assert first.status_code == 201, describe(first)
    assert retry.status_code == 201, describe(retry)
    assert retry.headers.get("idempotent-replayed") == "true"
    assert retry.json() == first.json()
    assert [o["id"] for o in shop.orders_of(user["id"])] == [first.json()["id"]]


def test_creating_user_with_taken_email_answers_409_whatever_its_case(shop: Shop) -> None:
    email = shop.unique_email()
    first = shop.users.post("/users", json={"name": "First", "email": email})
    assert first.status_code == 201, describe(first)

    second = shop.users.post("/users", json={"name": "Second", "email": email.upper()})

    assert second.status_code == 409, describe(second)
    assert second.headers["content-type"].startswith(PROBLEM_JSON)
    assert second.json()["type"] == "/problems/email-taken"
