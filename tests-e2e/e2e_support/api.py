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


class Shop:
    """The journeys' vocabulary: users and orders, built on the two service clients."""

    def __init__(self, users: ServiceClient, orders: ServiceClient, run_id: str) -> None:
        self.users = users
        self.orders = orders
        self.run_id = run_id
        self._seq = 0

    def unique_email(self) -> str:
        """An email no earlier run used, so the suite can run again on the same databases."""
        self._seq += 1
        return f"e2e-{self.run_id}-{self._seq}@example.com"

    def create_user(self, name: str = "E2E Buyer") -> dict[str, Any]:
        response = self.users.post("/users", json={"name": name, "email": self.unique_email()})
        assert response.status_code == 201, describe(response)
        body: dict[str, Any] = response.json()
        return body

    @staticmethod
    def order_body(user_id: int, product_id: str = "sku-1", quantity: int = 2) -> dict[str, Any]:
        return {
            "user_id": user_id,
            "currency": "EUR",
            "items": [{"product_id": product_id, "quantity": quantity, "unit_price": 1250}],
        }

    def post_order(
        self, body: dict[str, Any], key: str | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        headers = {**({"Idempotency-Key": key} if key else {}), **(headers or {})}
        return self.orders.post("/orders", json=body, headers=headers)

    def orders_of(self, user_id: int) -> list[dict[str, Any]]:
        """Every order of a user, all pages."""
        items: list[dict[str, Any]] = []
        while True:
            response = self.orders.get(
                "/orders", params={"user_id": user_id, "limit": 100, "offset": len(items)}
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
