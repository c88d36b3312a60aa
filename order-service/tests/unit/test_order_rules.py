"""Order input rules and pricing: validation bounds, computed totals, the request fingerprint."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import Field, ValidationError

from order_service.errors import CircuitOpenError, UserServiceUnavailableError
from order_service.models import ITEMS_MAX, OrderCreate, OrderItemCreate
from order_service.service import price_items, request_fingerprint

pytestmark = pytest.mark.unit

Body = Callable[..., dict[str, Any]]


def item(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"product_id": "SKU-1", "quantity": 1, "unit_price": 100}
    data.update(overrides)
    return data


def test_price_items_computes_line_totals_and_the_order_total(order_body: Body) -> None:
    lines, total = price_items(OrderCreate.model_validate(order_body()).items)
    assert [line.line_total for line in lines] == [2500, 99]
    assert total == 2599


def test_price_items_handles_the_largest_order_without_overflow(order_body: Body) -> None:
    items = [item(quantity=10_000, unit_price=10**9) for _ in range(100)]
    lines, total = price_items(OrderCreate.model_validate(order_body(items=items)).items)
    assert total == 100 * 10_000 * 10**9
    assert lines[0].line_total == 10_000 * 10**9


def test_order_create_accepts_a_valid_body(order_body: Body) -> None:
    order = OrderCreate.model_validate(order_body())
    assert order.currency == "EUR"
    assert order.items[1].product_id == "SKU-2"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"total": 1}, "total"),
        ({"extra": True}, "extra"),
        # the buyer is the bearer token's subject, never a field of the body
        ({"user_id": 1}, "user_id"),
        ({"currency": "eur"}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": "E1R"}, "currency"),
        ({"items": []}, "items"),
        ({"items": [item()] * 101}, "items"),
        ({"items": [item(quantity=0)]}, "quantity"),
        ({"items": [item(quantity=10_001)]}, "quantity"),
        ({"items": [item(unit_price=-1)]}, "unit_price"),
        ({"items": [item(unit_price=10**9 + 1)]}, "unit_price"),
        ({"items": [item(product_id="")]}, "product_id"),
        ({"items": [item(product_id="x" * 65)]}, "product_id"),
        ({"items": [item(product_id="a\nb")]}, "product_id"),
        ({"items": [item(line_total=5)]}, "line_total"),
        ({"items": [item(unit_price=1.5)]}, "unit_price"),
        # Numbers are numbers: a string or a boolean is a client bug, not something to coerce.
        ({"items": [item(quantity="2")]}, "quantity"),
        ({"items": [item(unit_price=100.0)]}, "unit_price"),
    ],
)
def test_order_create_rejects_out_of_bounds_or_unknown_fields(
    overrides: dict[str, Any], field: str, order_body: Body
) -> None:
    with pytest.raises(ValidationError, match=field):
        OrderCreate.model_validate(order_body(**overrides))


def test_order_create_rejects_a_missing_items_list(order_body: Body) -> None:
    data = order_body()
    del data["items"]
    with pytest.raises(ValidationError, match="items"):
        OrderCreate.model_validate(data)


def test_fingerprint_ignores_key_order_and_formatting() -> None:
    first = OrderCreate.model_validate_json(
        '{"currency": "EUR", "items": [{"product_id": "A", "quantity": 1, "unit_price": 5}]}'
    )
    second = OrderCreate.model_validate_json(
        '{"items":[{"unit_price":5,"quantity":1,"product_id":"A"}],"currency":"EUR"}'
    )
    assert request_fingerprint(first) == request_fingerprint(second)
    assert len(request_fingerprint(first)) == 64


def test_fingerprint_differs_when_the_order_differs(order_body: Body) -> None:
    base = OrderCreate.model_validate(order_body())
    assert request_fingerprint(base) != request_fingerprint(
        OrderCreate.model_validate(order_body(currency="USD"))
    )
    assert request_fingerprint(base) != request_fingerprint(
        OrderCreate.model_validate(order_body(items=list(reversed(order_body()["items"]))))
    )


class ItemWithGiftWrap(OrderItemCreate):
    """An item as a later release may define it: one more optional field."""

    gift_wrap: bool = False


class OrderWithNote(OrderCreate):
    """The order as a later release may define it: optional fields added, nothing else."""

    note: str | None = None
    items: list[ItemWithGiftWrap] = Field(min_length=1, max_length=ITEMS_MAX)


def test_fingerprint_survives_an_additive_change_of_the_order_schema(order_body: Body) -> None:
    """A retry across a deploy that adds an optional field is a replay, not a 422."""
    before = OrderCreate.model_validate(order_body())
    after = OrderWithNote.model_validate(order_body())
    assert request_fingerprint(after) == request_fingerprint(before)


def test_fingerprint_of_a_new_field_with_its_default_value_is_the_old_one(order_body: Body) -> None:
    before = OrderCreate.model_validate(order_body())
    sent_default = OrderWithNote.model_validate(
        order_body(note=None, items=[{**i, "gift_wrap": False} for i in order_body()["items"]])
    )
    assert request_fingerprint(sent_default) == request_fingerprint(before)


def test_fingerprint_differs_when_a_new_field_is_used(order_body: Body) -> None:
    before = OrderCreate.model_validate(order_body())
    assert request_fingerprint(OrderWithNote.model_validate(order_body(note="ring twice"))) != (
        request_fingerprint(before)
    )


@pytest.mark.parametrize(
    ("error", "retry_after"),
    [
        (UserServiceUnavailableError("timeout"), "1"),
        (UserServiceUnavailableError("timeout", retry_after=2.5), "3"),
        (CircuitOpenError(retry_after=0.0), "1"),
        (CircuitOpenError(retry_after=4.2), "5"),
    ],
)
def test_user_service_unavailable_sends_retry_after_rounded_up_to_whole_seconds(
    error: UserServiceUnavailableError, retry_after: str
) -> None:
    assert error.headers() == {"Retry-After": retry_after}
    assert error.status == 503
