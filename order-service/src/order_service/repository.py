"""The only module that runs SQL: orders and their items, read and written in one session.

Callers own the transaction (``with session.begin():``); these functions never commit. Every read
is scoped to one buyer: there is no query here that returns another buyer's order.

Every statement is Core, built once at import with bind parameters: SQLAlchemy then neither
builds nor keys nor compiles it again per request (its cache key is memoised on the statement),
and rows are read without the ORM's identity map. The rows are handed back as the table models
(``Order``, ``OrderItem``), built from the row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Update, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from order_service.models import IDEMPOTENCY_CONSTRAINT, Order, OrderItem
from service_kit.db import unique_violation
from service_kit.timestamps import utc_now

_orders = Order.__table__  # type: ignore[attr-defined]
_order_items = OrderItem.__table__  # type: ignore[attr-defined]
_INSERT_ORDER = insert(_orders).returning(_orders.c.id)
_INSERT_ITEMS = insert(_order_items)  # executemany: one multi-row INSERT (insertmanyvalues)
_GET_ORDER = select(_orders).where(
    _orders.c.id == bindparam("order_id"), _orders.c.user_id == bindparam("user_id")
)
_GET_BY_KEY = select(_orders).where(
    _orders.c.user_id == bindparam("user_id"),
    _orders.c.idempotency_key == bindparam("key"),
    _orders.c.created_at >= bindparam("not_before"),
)
_ITEMS_OF = (
    select(_order_items)
    .where(_order_items.c.order_id.in_(bindparam("order_ids", expanding=True)))
    .order_by(_order_items.c.order_id, _order_items.c.position)
)
_LIST = (
    select(_orders)
    .where(_orders.c.user_id == bindparam("user_id"))
    .order_by(_orders.c.id)
    .limit(bindparam("limit"))
    .offset(bindparam("offset"))
)
_COUNT = select(func.count()).select_from(_orders).where(_orders.c.user_id == bindparam("user_id"))


def _purge(*, with_key: bool) -> Update:
    """Release the keys of up to ``:limit`` orders placed before ``:before``, oldest first (and
    ``:key`` if ``with_key``). ``idempotency_key IS NOT NULL`` in both WHERE clauses lets the
    partial index ix_orders_keyed_created_at serve the whole statement."""
    keyed_before = (
        _orders.c.idempotency_key.is_not(None),
        _orders.c.created_at < bindparam("before"),
    )
    batch = (
        select(_orders.c.id)
        .where(*keyed_before)
        .order_by(_orders.c.created_at)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    expired = _orders.c.id.in_(batch)
    if with_key:  # one statement, one round trip
        expired = or_(expired, _orders.c.idempotency_key == bindparam("key"))
    return (
        update(_orders)
        .where(*keyed_before, expired)
        .values(idempotency_key=None, request_hash=None)
    )


_PURGE, _PURGE_WITH_KEY = _purge(with_key=False), _purge(with_key=True)


class IdempotencyKeyTakenError(Exception):
    """Another order holds this idempotency key (the unique constraint said so)."""


@dataclass(frozen=True, slots=True)
class PricedLine:
    product_id: str
    quantity: int
    unit_price: int
    line_total: int


@dataclass(frozen=True, slots=True)
class OrderRows:
    order: Order
    items: list[OrderItem]


def add_order(
    *,
    session: Session,
    user_id: int,
    currency: str,
    lines: Sequence[PricedLine],
    total: int,
    buyer_name: str,
    buyer_email: str,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
) -> OrderRows:
    """Two Core statements: ``INSERT ... RETURNING id`` for the order, one multi-row INSERT for
    its items, prebuilt: the ORM's unit of work (identity map, two flushes, a RETURNING per item)
    would do the same writes at a much higher CPU cost per order."""
    created_at = utc_now()
    try:
        order_id = session.execute(
            _INSERT_ORDER,
            {
                "user_id": user_id,
                "currency": currency,
                "total": total,
                "created_at": created_at,
                "idempotency_key": idempotency_key,
                "request_hash": request_hash,
                "buyer_name": buyer_name,
                "buyer_email": buyer_email,
            },
        ).scalar_one()  # the unique constraint on the key decides a race, here
    except IntegrityError as exc:
        if idempotency_key is not None and unique_violation(exc, IDEMPOTENCY_CONSTRAINT):
            raise IdempotencyKeyTakenError from exc
        raise
    order = Order(
        id=order_id,
        user_id=user_id,
        currency=currency,
        total=total,
        created_at=created_at,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        buyer_name=buyer_name,
        buyer_email=buyer_email,
    )
    items = [
        OrderItem(
            order_id=order_id,
            position=position,
            product_id=line.product_id,
            quantity=line.quantity,
            unit_price=line.unit_price,
            line_total=line.line_total,
        )
        for position, line in enumerate(lines)
    ]
    session.execute(
        _INSERT_ITEMS,
        [
            {
                "order_id": order_id,
                "position": item.position,
                "product_id": item.product_id,
                "quantity": item.quantity,
                "unit_price": item.unit_price,
                "line_total": item.line_total,
            }
            for item in items
        ],
    )
    return OrderRows(order=order, items=items)


def get_order(*, session: Session, order_id: int, user_id: int) -> OrderRows | None:
    """The order with this id if ``user_id`` placed it, else None (whether it exists or not)."""
    row = session.execute(_GET_ORDER, {"order_id": order_id, "user_id": user_id}).first()
    return None if row is None else _with_items(session, [Order(**row._mapping)])[0]


def get_order_by_idempotency_key(
    *, session: Session, user_id: int, key: str, not_before: datetime
) -> OrderRows | None:
    """The buyer's order holding ``key``, if it was placed at or after ``not_before`` (else
    expired)."""
    row = session.execute(
        _GET_BY_KEY, {"user_id": user_id, "key": key, "not_before": not_before}
    ).first()
    return None if row is None else _with_items(session, [Order(**row._mapping)])[0]


def release_expired_keys(*, session: Session, before: datetime, key: str | None, limit: int) -> int:
    """Forget the idempotency keys (and request hashes) of orders placed before ``before``:
    ``key`` itself if it is one of them (so it can be used again), and up to ``limit`` others,
    oldest first. The orders stay. Rows another transaction is purging are skipped, not waited
    for (SKIP LOCKED). Returns how many were purged.
    """
    if key is None:
        result = session.execute(_PURGE, {"before": before, "limit": limit})
    else:
        result = session.execute(_PURGE_WITH_KEY, {"before": before, "limit": limit, "key": key})
    return int(getattr(result, "rowcount", 0) or 0)


def list_orders(
    *, session: Session, user_id: int, limit: int, offset: int
) -> tuple[list[OrderRows], int]:
    rows = session.execute(_LIST, {"user_id": user_id, "limit": limit, "offset": offset})
    orders = [Order(**row._mapping) for row in rows]
    total = session.execute(_COUNT, {"user_id": user_id}).scalar_one()
    return _with_items(session, orders), int(total)


def _with_items(session: Session, orders: list[Order]) -> list[OrderRows]:
    """Items of many orders in one query (no N+1)."""
    by_order: dict[int, list[OrderItem]] = {order.id: [] for order in orders if order.id}
    if by_order:
        for row in session.execute(_ITEMS_OF, {"order_ids": list(by_order)}):
            by_order[row.order_id].append(OrderItem(**row._mapping))
    return [OrderRows(order=order, items=by_order.get(order.id or 0, [])) for order in orders]
