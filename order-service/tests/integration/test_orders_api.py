"""The HTTP API on a real PostgreSQL, with user-service faked at the transport level."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from order_service.config import Settings

pytestmark = pytest.mark.integration

Body = Callable[..., dict[str, Any]]
PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert "Traceback" not in response.text
    return body


def count_orders(client: TestClient) -> int:
    total: int = client.get("/orders").json()["total"]
    return total


def test_post_order_returns_201_with_location_and_computed_totals(
    client: TestClient, fake_user_service: Any, order_body: Body
) -> None:
    fake_user_service.known.add(1)
    response = client.post("/orders", json=order_body())
    assert response.status_code == 201, response.text
    order = response.json()
    assert response.headers["Location"] == f"/orders/{order['id']}"
    assert "Idempotent-Replayed" not in response.headers
    assert order["user_id"] == 1
    assert order["currency"] == "EUR"
    assert [i["line_total"] for i in order["items"]] == [2500, 99]
    assert order["total"] == 2599
    assert order["created_at"].endswith("Z")
    assert order["buyer"] == {"name": "Ada", "email": "ada1@example.com"}
    assert set(order) == {"id", "user_id", "buyer", "currency", "items", "total", "created_at"}
    assert client.get(response.headers["Location"]).json() == order


def test_post_order_returns_422_unknown_user_and_stores_nothing(
    client: TestClient, fake_user_service: Any, order_body: Body, bearer: Any
) -> None:
    """A valid token whose user user-service no longer has (deleted since it logged in)."""
    response = client.post("/orders", json=order_body(), headers=bearer(99))
    body = assert_problem(response, 422, "unknown-user")
    assert "99" in body["detail"]
    assert count_orders(client) == 0  # (user 1's orders; user 99 has none either)
    assert len(fake_user_service.requests) == 1


def test_post_order_accepts_the_largest_user_id_the_contract_allows(
    client: TestClient, fake_user_service: Any, order_body: Body, bearer: Any
) -> None:
    fake_user_service.known.add(2**31 - 1)
    response = client.post("/orders", json=order_body(), headers=bearer(2**31 - 1))
    assert response.status_code == 201, response.text
    assert fake_user_service.requests[0].url.path == f"/users/{2**31 - 1}"


def test_post_order_returns_422_unknown_user_once_when_user_service_refuses_the_id(
    client: TestClient, fake_user_service: Any, order_body: Body
) -> None:
    """A refusal is final: 422 at once, never a 503 the client would retry forever."""
    fake_user_service.handler = lambda request: httpx.Response(
        422,
        json={"type": "/problems/validation", "status": 422},
        headers={"Content-Type": "application/problem+json"},
    )
    response = client.post("/orders", json=order_body())
    assert_problem(response, 422, "unknown-user")
    assert len(fake_user_service.requests) == 1
    assert count_orders(client) == 0


def test_post_order_returns_503_with_retry_after_when_user_service_keeps_failing(
    client: TestClient, fake_user_service: Any, order_body: Body, settings: Settings
) -> None:
    fake_user_service.handler = lambda request: httpx.Response(503)
    response = client.post("/orders", json=order_body())
    assert_problem(response, 503, "user-service-unavailable")
    assert int(response.headers["Retry-After"]) >= 1
    assert len(fake_user_service.requests) == settings.user_service.max_attempts
    assert count_orders(client) == 0


def test_post_order_returns_503_when_user_service_is_unreachable(
    client: TestClient, fake_user_service: Any, order_body: Body
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    fake_user_service.handler = refuse
    response = client.post("/orders", json=order_body())
    body = assert_problem(response, 503, "user-service-unavailable")
    assert "refused" not in response.text  # exception text never reaches a client
    assert body["detail"]
    assert count_orders(client) == 0


def test_open_breaker_answers_503_without_calling_user_service_then_recovers(
    client: TestClient, fake_user_service: Any, order_body: Body, clock: Any
) -> None:
    fake_user_service.handler = lambda request: httpx.Response(500)
    for _ in range(3):  # the fixture's failure threshold
        assert client.post("/orders", json=order_body()).status_code == 503
    sent = len(fake_user_service.requests)

    response = client.post("/orders", json=order_body())
    assert_problem(response, 503, "user-service-unavailable")
    assert response.headers["Retry-After"] == "5"
    assert len(fake_user_service.requests) == sent

    fake_user_service.handler = None
    fake_user_service.known.add(1)
    clock.advance(5.0)
    assert client.post("/orders", json=order_body()).status_code == 201
    assert client.post("/orders", json=order_body()).status_code == 201


def test_the_request_id_is_passed_on_to_user_service(
    client: TestClient, fake_user_service: Any, order_body: Body
) -> None:
    fake_user_service.known.add(1)
    response = client.post("/orders", json=order_body(), headers={"X-Request-ID": "trace-me-1"})
    assert response.headers["X-Request-ID"] == "trace-me-1"
    assert fake_user_service.requests[0].headers["X-Request-ID"] == "trace-me-1"


@pytest.mark.parametrize(
    "overrides",
    [
        {"total": 1},
        {"currency": "eur"},
        {"items": []},
        {"items": [{"product_id": "A", "quantity": 0, "unit_price": 1}]},
        {"items": [{"product_id": "A", "quantity": 1, "unit_price": 1, "line_total": 9}]},
        {"user_id": "one"},
        {"user_id": 2**31},
    ],
    ids=[
        "total-given", "currency", "no-items", "quantity", "line-total-given", "user-id",
        "user-id-above-the-contract-bound",
    ],
)  # fmt: skip
def test_post_order_returns_422_validation_for_a_bad_body_without_asking_user_service(
    client: TestClient, fake_user_service: Any, order_body: Body, overrides: dict[str, Any]
) -> None:
    body = assert_problem(client.post("/orders", json=order_body(**overrides)), 422, "validation")
    assert body["errors"]
    assert fake_user_service.requests == []


def test_post_order_returns_422_for_malformed_json(client: TestClient) -> None:
    response = client.post(
        "/orders", content=b'{"user_id": 1,', headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 422, "validation")


def test_post_order_returns_413_for_a_body_over_64_kib(client: TestClient) -> None:
    response = client.post(
        "/orders", content=b"{" + b" " * 70_000 + b"}", headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 413, "content-too-large")


@contextlib.contextmanager
def _statements(client: TestClient) -> Iterator[list[str]]:
    """The SQL the app runs inside the block."""
    engine: Engine = client.app.state.engine  # type: ignore[attr-defined]
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _replay_lookups(statements: list[str]) -> list[str]:
    return [s for s in statements if s.startswith("SELECT") and "idempotency_key =" in s]


def test_post_order_without_idempotency_key_stores_without_looking_for_a_replay(
    client: TestClient, fake_user_service: Any, order_body: Body
) -> None:
    fake_user_service.known.add(1)
    with _statements(client) as statements:
        assert client.post("/orders", json=order_body()).status_code == 201
    assert _replay_lookups(statements) == []
    assert any(s.startswith("INSERT INTO orders") for s in statements)


def test_post_order_with_a_new_idempotency_key_looks_for_a_replay_once(
    client: TestClient, fake_user_service: Any, order_body: Body
) -> None:
    """The one SELECT that lets a known key replay without asking user-service."""
    fake_user_service.known.add(1)
    with _statements(client) as statements:
        response = client.post("/orders", json=order_body(), headers={"Idempotency-Key": "k-1"})
    assert response.status_code == 201
    assert len(_replay_lookups(statements)) == 1


def test_a_replay_with_the_same_key_and_body_returns_the_original_order(
    client: TestClient, fake_user_service: Any, order_body: Body
) -> None:
    fake_user_service.known.add(1)
    headers = {"Idempotency-Key": "order-attempt-1"}
    first = client.post("/orders", json=order_body(), headers=headers)
    assert first.status_code == 201

    fake_user_service.handler = lambda request: httpx.Response(503)  # replay must not need it
    replay = client.post("/orders", json=order_body(), headers=headers)
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.headers["Location"] == first.headers["Location"]
    assert replay.json() == first.json()
    assert len(fake_user_service.requests) == 1
    assert count_orders(client) == 1


def test_a_replay_matches_on_content_not_on_json_formatting(
    client: TestClient, fake_user_service: Any, order_body: Body
) -> None:
    fake_user_service.known.add(1)
    headers = {"Idempotency-Key": "k", "Content-Type": "application/json"}
    first = client.post("/orders", json=order_body(), headers=headers)
    body = order_body()
    reordered = (
        '{"items": [{"unit_price": 1250, "quantity": 2, "product_id": "SKU-1"},'
        ' {"unit_price": 99, "quantity": 1, "product_id": "SKU-2"}],'
        f' "currency": "{body["currency"]}"}}'
    )
    replay = client.post("/orders", content=reordered.encode(), headers=headers)
    assert replay.status_code == 201
    assert replay.json()["id"] == first.json()["id"]


def test_the_same_key_with_a_different_body_returns_422_and_stores_nothing(
    client: TestClient, fake_user_service: Any, order_body: Body
) -> None:
    fake_user_service.known.add(1)
    headers = {"Idempotency-Key": "order-attempt-1"}
    assert client.post("/orders", json=order_body(), headers=headers).status_code == 201
    response = client.post("/orders", json=order_body(currency="USD"), headers=headers)
    assert_problem(response, 422, "idempotency-key-reused")
    assert count_orders(client) == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there"], ids=["empty", "too-long", "control"])
def test_an_invalid_idempotency_key_returns_422_validation(
    client: TestClient, fake_user_service: Any, order_body: Body, key: str
) -> None:
    fake_user_service.known.add(1)
    response = client.post("/orders", json=order_body(), headers={"Idempotency-Key": key})
    assert_problem(response, 422, "validation")


def test_get_order_returns_404_for_an_unknown_id(client: TestClient) -> None:
    assert_problem(client.get("/orders/12345"), 404, "order-not-found")


@pytest.mark.parametrize("order_id", ["0", "abc", str(2**31)])
def test_get_order_returns_422_for_an_invalid_id(client: TestClient, order_id: str) -> None:
    assert_problem(client.get(f"/orders/{order_id}"), 422, "validation")


def test_list_orders_shows_only_the_callers_orders_paginated_in_id_order(
    client: TestClient, fake_user_service: Any, order_body: Body, bearer: Any
) -> None:
    fake_user_service.known.update({1, 2})
    ids = [
        client.post("/orders", json=order_body(), headers=bearer(u)).json()["id"]
        for u in (1, 2, 1, 1)
    ]

    page = client.get("/orders", params={"limit": 2, "offset": 1}).json()
    assert page["total"] == 3
    assert (page["limit"], page["offset"]) == (2, 1)
    assert [o["id"] for o in page["items"]] == [ids[2], ids[3]]
    assert all(len(o["items"]) == 2 for o in page["items"])

    everything = client.get("/orders", params={"user_id": 2}).json()  # no way to ask for others'
    assert [o["id"] for o in everything["items"]] == [ids[0], ids[2], ids[3]]
    assert [o["id"] for o in client.get("/orders", headers=bearer(2)).json()["items"]] == [ids[1]]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"offset": -1}])
def test_list_orders_returns_422_for_bad_paging(client: TestClient, params: dict[str, Any]) -> None:
    assert_problem(client.get("/orders", params=params), 422, "validation")


def test_health_endpoints_answer_ok(client: TestClient) -> None:
    assert client.get("/health/live").json() == {"status": "ok"}
    assert client.get("/health/ready").json() == {"status": "ok"}


def test_readiness_does_not_depend_on_user_service(
    client: TestClient, fake_user_service: Any
) -> None:
    fake_user_service.handler = lambda request: httpx.Response(503)
    assert client.get("/health/ready").status_code == 200
    assert fake_user_service.requests == []


def test_database_outage_answers_503_on_readiness_and_orders(
    outage_client: TestClient, fake_user_service: Any, order_body: Body
) -> None:
    fake_user_service.known.add(1)
    assert outage_client.get("/health/live").status_code == 200
    assert_problem(outage_client.get("/health/ready"), 503, "database-unavailable")
    assert_problem(outage_client.post("/orders", json=order_body()), 503, "database-unavailable")
    assert_problem(outage_client.get("/orders/1"), 503, "database-unavailable")
