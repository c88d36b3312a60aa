"""What a client of the pair meets: users and orders created, read back, refused and replayed;
and who may see what: each buyer their own user record and orders, nobody else's."""

from __future__ import annotations

import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from e2e_support.api import PASSWORD, PROBLEM_JSON, Shop, describe


def test_user_and_order_created_are_read_back_from_both_services(shop: Shop) -> None:
    user = shop.create_user(name="  Ada Lovelace ")
    assert user["name"] == "Ada Lovelace"

    fetched_user = shop.users.get(f"/users/{user['id']}", headers=shop.auth(user["id"]))
    assert fetched_user.status_code == 200, describe(fetched_user)
    assert fetched_user.json() == user

    created = shop.post_order(shop.order_body(user["id"], quantity=3))
    assert created.status_code == 201, describe(created)
    order = created.json()
    assert created.headers["location"].endswith(f"/orders/{order['id']}")
    assert order["user_id"] == user["id"]
    assert order["buyer"] == {"name": "Ada Lovelace", "email": user["email"]}
    assert order["total"] == 3 * 1250
    assert order["items"][0]["line_total"] == 3 * 1250

    fetched_order = shop.orders.get(f"/orders/{order['id']}", headers=shop.auth(user["id"]))
    assert fetched_order.status_code == 200, describe(fetched_order)
    assert fetched_order.json() == order
    assert [o["id"] for o in shop.orders_of(user["id"])] == [order["id"]]


def test_order_without_a_token_is_refused_with_401_and_a_bearer_challenge(shop: Shop) -> None:
    body = {k: v for k, v in shop.order_body(1).items() if k != "user_id"}

    response = shop.orders.post("/orders", json=body)

    assert response.status_code == 401, describe(response)
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_token_from_a_key_not_in_the_jwks_is_refused_by_both_services(shop: Shop) -> None:
    user = shop.create_user()
    kid = shop.users.get("/.well-known/jwks.json").json()["keys"][0]["kid"]
    now = int(time.time())
    claims = {"iss": "user-service", "aud": "shop", "sub": str(user["id"]), "iat": now,
              "exp": now + 300, "jti": uuid.uuid4().hex, "roles": ["admin"]}  # fmt: skip
    forged = jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA",
                        headers={"kid": kid})  # fmt: skip
    headers = {"Authorization": f"Bearer {forged}"}

    for response in (
        shop.users.get("/users", headers=headers),
        shop.orders.get("/orders", headers=headers),
    ):
        assert response.status_code == 401, describe(response)
        assert response.json()["type"] == "/problems/invalid-token"


def test_one_user_cannot_see_another_users_record_or_orders(shop: Shop) -> None:
    ada, bob = shop.create_user(name="Ada"), shop.create_user(name="Bob")
    created = shop.post_order(shop.order_body(ada["id"]))
    assert created.status_code == 201, describe(created)
    order_id = created.json()["id"]

    record = shop.users.get(f"/users/{ada['id']}", headers=shop.auth(bob["id"]))
    assert record.status_code == 403, describe(record)
    listing = shop.users.get("/users", headers=shop.auth(bob["id"]))
    assert listing.status_code == 403, describe(listing)
    order = shop.orders.get(f"/orders/{order_id}", headers=shop.auth(bob["id"]))
    assert order.status_code == 404, describe(order)
    assert shop.orders_of(bob["id"]) == []
    assert [o["id"] for o in shop.orders_of(ada["id"])] == [order_id]
    me = shop.users.get("/users/me", headers=shop.auth(bob["id"]))
    assert me.json()["id"] == bob["id"]


def test_wrong_password_and_unknown_email_get_the_same_401(shop: Shop) -> None:
    user = shop.create_user()
    wrong = shop.users.post("/token", data={"username": user["email"], "password": "x" * 12})
    unknown = shop.users.post(
        "/token", data={"username": shop.unique_email(), "password": PASSWORD}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["type"] == unknown.json()["type"] == "/problems/invalid-credentials"


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
    first = shop.users.post("/users", json={"name": "First", "email": email, "password": PASSWORD})
    assert first.status_code == 201, describe(first)

    second = shop.users.post(
        "/users", json={"name": "Second", "email": email.upper(), "password": PASSWORD}
    )

    assert second.status_code == 409, describe(second)
    assert second.headers["content-type"].startswith(PROBLEM_JSON)
    assert second.json()["type"] == "/problems/email-taken"
