"""The /orders routes hand the ``Orders`` use cases what the request brings, and nothing else:
the request's id and trace reach them in context variables (FastAPI dependency overrides; no
database, no user-service)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from order_service.api.deps import get_orders, get_principal
from order_service.clients.user_service_client import UserServiceClient
from order_service.config import Settings
from order_service.main import create_app
from order_service.models import Buyer, OrderCreate, OrderPublic
from order_service.service import PlacedOrder
from service_kit.log import current_request_id
from service_kit.tokens import Principal

pytestmark = pytest.mark.unit

BUYER = Principal(subject="7", roles=frozenset(), token_id="j", expires_at=2**40, token="t")
ORDER = OrderPublic(
    id=3,
    user_id=7,
    buyer=Buyer(name="Ada", email="ada@example.com"),
    currency="EUR",
    items=[],
    total=0,
    created_at=datetime(2026, 11, 24, tzinfo=UTC),
)


class RecordingOrders:
    """Stands for ``service.Orders``: records each call and the request id it ran under."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def place_order(
        self, *, buyer: Principal, data: OrderCreate, idempotency_key: str | None = None
    ) -> PlacedOrder:
        self.calls.append(
            {"buyer": buyer, "items": len(data.items), "key": idempotency_key,
             "request_id": current_request_id()}
        )  # fmt: skip
        return PlacedOrder(order=ORDER, replayed=idempotency_key is not None)


@pytest.fixture
def orders() -> RecordingOrders:
    return RecordingOrders()


@pytest.fixture
def routes(
    orders: RecordingOrders, make_client: Callable[..., UserServiceClient]
) -> Iterator[TestClient]:
    """The app with ``orders`` as its use cases and BUYER as the caller."""

    def never(request: httpx.Request) -> httpx.Response:
        raise AssertionError("the routes do not ask user-service themselves")

    settings = Settings(database_url="postgresql://orders@127.0.0.1:9/orders")
    app = create_app(settings, user_service=make_client(never))
    app.dependency_overrides[get_orders] = lambda: orders
    app.dependency_overrides[get_principal] = lambda: BUYER
    with TestClient(app) as client:
        yield client
    app.state.engine.dispose()


def test_post_order_hands_the_use_case_the_buyer_the_body_and_the_key(
    routes: TestClient, orders: RecordingOrders
) -> None:
    body = {"currency": "EUR", "items": [{"product_id": "A", "quantity": 1, "unit_price": 5}]}
    response = routes.post(
        "/orders", json=body, headers={"Idempotency-Key": "k1", "X-Request-ID": "req-1"}
    )
    assert response.status_code == 201
    assert response.headers["Location"] == "/orders/3"
    assert response.headers["Idempotent-Replayed"] == "true"
    assert orders.calls == [{"buyer": BUYER, "items": 1, "key": "k1", "request_id": "req-1"}]
