"""The two services as their users meet them: a thin client over their HTTP API (docs/design.md).

Base URLs are looked up on every request, so a re-established port-forward (new local port) is
picked up without rebuilding the client.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx

PROBLEM_JSON = "application/problem+json"


class ServiceClient:
    """Requests to one service; ``base_url`` is a callable so the address may change."""

    def __init__(self, name: str, base_url: Callable[[], str], timeout: float = 10.0) -> None:
        self.name = name
        self._base_url = base_url
        self._client = httpx.Client(timeout=timeout)

    @property
    def url(self) -> str:
        return self._base_url()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._client.request(method, self._base_url().rstrip("/") + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def close(self) -> None:
        self._client.close()


PASSWORD = "e2e correct horse battery staple"


class Shop:
    """The journeys' vocabulary: users and orders, built on the two service clients.

    Users are registered with a password and logged in (``POST /token``) as they are created;
    the Shop keeps each one's access token. An order body names its buyer (``order_body(user_id)``)
    only for the Shop: ``post_order`` and ``orders_of`` send the request as that buyer, with their
    bearer token and without the id in the JSON (order-service takes the buyer from the token).
    """

    def __init__(self, users: ServiceClient, orders: ServiceClient, run_id: str) -> None:
        self.users = users
        self.orders = orders
        self.run_id = run_id
        self._seq = 0
        self._tokens: dict[int, str] = {}

    def unique_email(self) -> str:
        """An email no earlier run used, so the suite can run again on the same databases."""
        self._seq += 1
        return f"e2e-{self.run_id}-{self._seq}@example.com"

    def create_user(self, name: str = "E2E Buyer") -> dict[str, Any]:
        """Register a new user and log in; the token is kept for ``auth(user["id"])``."""
        email = self.unique_email()
        response = self.users.post(
            "/users", json={"name": name, "email": email, "password": PASSWORD}
        )
        assert response.status_code == 201, describe(response)
        body: dict[str, Any] = response.json()
        self._tokens[body["id"]] = self.login(email)
        return body

    def login(self, email: str, password: str = PASSWORD) -> str:
        response = self.users.post("/token", data={"username": email, "password": password})
        assert response.status_code == 200, describe(response)
        token: str = response.json()["access_token"]
        return token

    def auth(self, user_id: int) -> dict[str, str]:
        """The Authorization header of a user this Shop created."""
        return {"Authorization": f"Bearer {self._tokens[user_id]}"}

    @staticmethod
    def order_body(user_id: int, product_id: str = "sku-1", quantity: int = 2) -> dict[str, Any]:
        """An order of ``user_id``'s (the id names the buyer for ``post_order``)."""
        return {
            "user_id": user_id,
            "currency": "EUR",
            "items": [{"product_id": product_id, "quantity": quantity, "unit_price": 1250}],
        }

    def post_order(
        self, body: dict[str, Any], key: str | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """POST /orders as the body's buyer: their token, the rest of the body as JSON."""
        payload = {k: v for k, v in body.items() if k != "user_id"}
        headers = {
            **self.auth(body["user_id"]),
            **({"Idempotency-Key": key} if key else {}),
            **(headers or {}),
        }
        return self.orders.post("/orders", json=payload, headers=headers)

    def orders_of(self, user_id: int) -> list[dict[str, Any]]:
        """Every order of a user (as that user sees them), all pages."""
        items: list[dict[str, Any]] = []
        while True:
            response = self.orders.get(
                "/orders",
                params={"limit": 100, "offset": len(items)},
                headers=self.auth(user_id),
            )
            assert response.status_code == 200, describe(response)
            page = response.json()
            items += page["items"]
            if not page["items"] or len(items) >= page["total"]:
                return items

    @staticmethod
    def new_key() -> str:
        return f"e2e-{uuid.uuid4()}"


def describe(response: httpx.Response) -> str:
    """One line for an assertion message: method, URL, status and body."""
    request = response.request
    return f"{request.method} {request.url} -> {response.status_code}: {response.text[:500]}"
