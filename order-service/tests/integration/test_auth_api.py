"""Every /orders route needs a bearer token from user-service, verified here; a buyer sees only
their own orders. user-service is faked at the transport level (JWKS and user lookups)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

pytestmark = pytest.mark.integration

Body = Callable[..., dict[str, Any]]
Bearer = Callable[..., dict[str, str]]
ROUTES = [("POST", "/orders"), ("GET", "/orders"), ("GET", "/orders/1")]


def _problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{slug}"
    return body


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_orders_route_without_a_token_is_401_with_a_bearer_challenge(
    client: TestClient, order_body: Body, method: str, path: str
) -> None:
    for header in (None, "Basic YTpi", "Bearer"):
        headers = {"Authorization": header} if header else {}
        client.headers.pop("Authorization", None)
        response = client.request(method, path, json=order_body(), headers=headers)
        _problem(response, 401, "authentication-required")
        assert response.headers["www-authenticate"] == 'Bearer realm="order-service"'


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) - 120},
        {"nbf": int(time.time()) + 600},
        {"iss": "evil"},
        {"aud": "another-api"},
        {"sub": "not-a-number"},
    ],
    ids=["expired", "not-yet-valid", "wrong-iss", "wrong-aud", "non-numeric-sub"],
)
def test_a_refused_token_is_401_invalid_token_and_user_service_is_not_asked(
    client: TestClient, fake_user_service: Any, order_body: Body, issuer: Any, claims: Any
) -> None:
    fake_user_service.known.add(1)
    headers = {"Authorization": f"Bearer {issuer.token(1, **claims)}"}
    response = client.post("/orders", json=order_body(), headers=headers)
    _problem(response, 401, "invalid-token")
    assert response.headers["www-authenticate"].startswith(
        'Bearer realm="order-service", error="invalid_token"'
    )
    assert fake_user_service.requests == []


def test_a_token_from_a_key_not_in_the_jwks_is_refused(
    client: TestClient, fake_user_service: Any, order_body: Body, issuer: Any
) -> None:
    fake_user_service.known.add(1)
    forged = issuer.token(1, kid="not-published")
    response = client.get("/orders", headers={"Authorization": f"Bearer {forged}"})
    _problem(response, 401, "invalid-token")
    same_kid = Ed25519PrivateKey.generate()
    import jwt

    claims = jwt.decode(issuer.token(1), options={"verify_signature": False})
    foreign = jwt.encode(claims, same_kid, algorithm="EdDSA", headers={"kid": issuer.kid})
    _problem(
        client.get("/orders", headers={"Authorization": f"Bearer {foreign}"}), 401, "invalid-token"
    )


def test_the_buyer_is_the_token_subject_and_the_order_snapshots_name_and_email(
    client: TestClient, fake_user_service: Any, order_body: Body, bearer: Bearer
) -> None:
    fake_user_service.known.add(7)
    response = client.post("/orders", json=order_body(), headers=bearer(7))
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["user_id"] == 7
    assert order["buyer"] == {"name": "Ada", "email": "ada7@example.com"}
    assert fake_user_service.requests[-1].url.path == "/users/7"


def test_the_callers_own_token_is_relayed_to_user_service(
    client: TestClient, fake_user_service: Any, order_body: Body, issuer: Any
) -> None:
    fake_user_service.known.add(3)
    token = issuer.token(3)
    client.post("/orders", json=order_body(), headers={"Authorization": f"Bearer {token}"})
    assert fake_user_service.requests[-1].headers["Authorization"] == f"Bearer {token}"


def test_the_snapshot_keeps_what_user_service_said_at_order_time(
    client: TestClient, fake_user_service: Any, order_body: Body
) -> None:
    fake_user_service.known.add(1)
    order = client.post("/orders", json=order_body()).json()
    fake_user_service.handler = lambda request: httpx.Response(
        200, json={"id": 1, "name": "Ada Byron", "email": "ada@new.example.com"}
    )
    assert client.get(f"/orders/{order['id']}").json()["buyer"] == {
        "name": "Ada",
        "email": "ada1@example.com",
    }


def test_another_buyers_order_is_404_like_a_missing_one(
    client: TestClient, fake_user_service: Any, order_body: Body, bearer: Bearer
) -> None:
    fake_user_service.known.update({1, 2})
    mine = client.post("/orders", json=order_body()).json()
    theirs = client.post("/orders", json=order_body(), headers=bearer(2)).json()
    assert client.get(f"/orders/{mine['id']}").status_code == 200
    body = _problem(client.get(f"/orders/{theirs['id']}"), 404, "order-not-found")
    missing = _problem(client.get("/orders/999999"), 404, "order-not-found")
    assert body["title"] == missing["title"]
    assert [o["id"] for o in client.get("/orders").json()["items"]] == [mine["id"]]


def test_idempotency_keys_are_scoped_to_the_buyer(
    client: TestClient, fake_user_service: Any, order_body: Body, bearer: Bearer
) -> None:
    fake_user_service.known.update({1, 2})
    key = {"Idempotency-Key": "my-first-order"}
    first = client.post("/orders", json=order_body(), headers=key)
    other = client.post("/orders", json=order_body(), headers={**key, **bearer(2)})
    replay = client.post("/orders", json=order_body(), headers=key)
    assert (first.status_code, other.status_code, replay.status_code) == (201, 201, 201)
    assert other.json()["id"] != first.json()["id"]
    assert "Idempotent-Replayed" not in other.headers
    assert replay.json()["id"] == first.json()["id"]
    # someone else's key never replays their order to me, even with their body
    assert other.json()["user_id"] == 2


def test_user_service_refusing_the_relayed_token_is_401_and_nothing_is_stored(
    client: TestClient, fake_user_service: Any, order_body: Body
) -> None:
    fake_user_service.known.add(1)
    fake_user_service.refuse_tokens = True
    response = client.post("/orders", json=order_body())
    _problem(response, 401, "invalid-token")
    assert response.headers["www-authenticate"] == (
        'Bearer realm="order-service", error="invalid_token", '
        'error_description="the user service does not accept it"'
    )
    assert client.get("/orders").json()["total"] == 0


def test_a_404_that_is_not_user_not_found_is_not_taken_for_an_unknown_user(
    client: TestClient, fake_user_service: Any, order_body: Body
) -> None:
    """A wrong base path (a router's 404) says nothing about the buyer: 503, not 422."""
    fake_user_service.handler = lambda request: httpx.Response(
        404, json={"type": "/problems/not-found", "status": 404},
        headers={"Content-Type": "application/problem+json"},
    )  # fmt: skip
    _problem(client.post("/orders", json=order_body()), 503, "user-service-unavailable")
    fake_user_service.handler = lambda request: httpx.Response(404, text="<html>nginx</html>")
    _problem(client.post("/orders", json=order_body()), 503, "user-service-unavailable")


def test_the_jwks_is_fetched_once_for_many_requests(
    client: TestClient, fake_user_service: Any, order_body: Body, bearer: Bearer
) -> None:
    fake_user_service.known.update({1, 2})
    for user in (1, 2, 1, 2):
        assert client.get("/orders", headers=bearer(user)).status_code == 200
    assert fake_user_service.jwks_requests == 1


def test_an_unknown_kid_refetches_the_jwks_at_most_once_per_interval(
    client: TestClient, fake_user_service: Any, issuer: Any, clock: Any
) -> None:
    assert client.get("/orders").status_code == 200
    for _ in range(5):
        forged = issuer.token(1, kid="rotated-in")
        assert (
            client.get("/orders", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
        )
    assert fake_user_service.jwks_requests <= 2


def test_known_keys_keep_working_while_user_service_is_down(
    client: TestClient, fake_user_service: Any, order_body: Body
) -> None:
    fake_user_service.known.add(1)
    created = client.post("/orders", json=order_body()).json()
    fake_user_service.down = True
    assert client.get(f"/orders/{created['id']}").status_code == 200
    assert client.get("/orders").json()["total"] == 1


def test_a_key_that_cannot_be_fetched_is_503_not_401(
    client: TestClient, fake_user_service: Any
) -> None:
    """user-service down before any key was fetched: the token may be good, we cannot tell."""
    fake_user_service.down = True
    response = client.get("/orders")
    _problem(response, 503, "token-issuer-unavailable")
    assert "retry-after" in response.headers


def test_the_openapi_document_declares_bearer_auth_on_every_orders_route(
    client: TestClient,
) -> None:
    schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, methods in schema["paths"].items():
        if path.startswith("/orders"):
            assert all(op.get("security") for op in methods.values()), path
