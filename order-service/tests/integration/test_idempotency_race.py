"""Two identical requests racing on one Idempotency-Key create exactly one order (PostgreSQL)."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from order_service import service
from order_service.models import Order, OrderCreate, OrderItem
from order_service.user_directory import UserRef
from service_kit.db import make_session_factory
from service_kit.tokens import Principal

pytestmark = pytest.mark.integration

ADA = UserRef(id=1, name="Ada", email="ada@example.com")
BODY = {
    "currency": "EUR",
    "items": [{"product_id": "SKU-1", "quantity": 3, "unit_price": 700}],
}


def _count(engine: Engine, model: type[Any]) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


@pytest.mark.parametrize("round_", range(5))
def test_racing_inserts_with_one_key_store_one_order_and_the_loser_replays_it(
    db_engine: Engine, round_: int
) -> None:
    data = OrderCreate.model_validate(BODY)
    fingerprint = service.request_fingerprint(data)
    barrier = threading.Barrier(2)

    orders = service.Orders(sessions=make_session_factory(db_engine), directory=_BothAsk())

    def place() -> service.PlacedOrder:
        barrier.wait(timeout=10)
        return orders.store_order(
            user=ADA, data=data, idempotency_key="race", fingerprint=fingerprint
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = [f.result(timeout=30) for f in [pool.submit(place), pool.submit(place)]]

    assert {r.order.id for r in results} == {results[0].order.id}
    assert sorted(r.replayed for r in results) == [False, True]
    assert _count(db_engine, Order) == 1
    assert _count(db_engine, OrderItem) == 1


class _BothAsk:
    """A user directory that lets both requests past the lookup together, then says yes."""

    def __init__(self) -> None:
        self.calls = 0
        self.both_asked = asyncio.Event()

    async def get_user(self, user_id: int, *, token: str) -> UserRef | None:
        self.calls += 1
        if self.calls == 2:
            self.both_asked.set()
        await asyncio.wait_for(self.both_asked.wait(), timeout=10)
        return UserRef(id=user_id, name="Ada", email="ada@example.com")


@pytest.mark.anyio
async def test_two_identical_requests_racing_through_place_order_create_one_order(
    db_engine: Engine,
) -> None:
    data = OrderCreate.model_validate(BODY)
    directory = _BothAsk()

    orders = service.Orders(sessions=make_session_factory(db_engine), directory=directory)

    async def place() -> service.PlacedOrder:
        return await orders.place_order(
            buyer=Principal(
                subject="1", roles=frozenset(), token_id="j", expires_at=2**40, token="t"
            ),
            data=data,
            idempotency_key="same-key",
        )

    first, second = await asyncio.gather(place(), place())

    assert directory.calls == 2  # both passed the replay check before either stored
    assert first.order == second.order
    assert sorted([first.replayed, second.replayed]) == [False, True]
    assert _count(db_engine, Order) == 1


def test_two_buyers_may_use_the_same_idempotency_key(db_engine: Engine) -> None:
    """Keys are scoped to the buyer: the same key from another buyer is a new order."""
    data = OrderCreate.model_validate(BODY)
    fingerprint = service.request_fingerprint(data)
    orders = service.Orders(sessions=make_session_factory(db_engine), directory=_BothAsk())
    placed = [
        orders.store_order(user=user, data=data, idempotency_key="k", fingerprint=fingerprint)
        for user in (ADA, UserRef(id=2, name="Bob", email="bob@example.com"))
    ]
    assert [p.replayed for p in placed] == [False, False]
    assert [p.order.user_id for p in placed] == [1, 2]
    assert _count(db_engine, Order) == 2
