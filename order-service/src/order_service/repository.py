"""The only module that runs SQL: orders and their items, read and written in one session.

Callers own the transaction (``with session.begin():``); these functions only flush. Every read
is scoped to one buyer: there is no query here that returns another buyer's order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from order_service.models import IDEMPOTENCY_CONSTRAINT, Order, OrderItem
from service_kit.timestamps import utc_now

_orders = Order.__table__  # type: ignore[attr-defined]
_order_items = OrderItem.__table__  # type: ignore[attr-defined]
_INSERT_ORDER = insert(_orders).returning(_orders.c.id)


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
    its items. The ORM's unit of work (identity map, two flushes, a RETURNING per item) did the
    same writes at twice the CPU (docs/performance.md)."""
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
        if idempotency_key is not None and _is_idempotency_conflict(exc):
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
        insert(_order_items).values(
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
            ]
        )
    )
    return OrderRows(order=order, items=items)


def get_order(*, session: Session, order_id: int, user_id: int) -> OrderRows | None:
    """The order with this id if ``user_id`` placed it, else None (whether it exists or not)."""
    order = session.exec(
        select(Order).where(Order.id == order_id, Order.user_id == user_id)
    ).first()
    return None if order is None else _with_items(session, [order])[0]


def get_order_by_idempotency_key(
    *, session: Session, user_id: int, key: str, not_before: datetime
) -> OrderRows | None:
    """The buyer's order holding ``key``, if it was placed at or after ``not_before`` (else
    expired)."""
    order = session.exec(
        select(Order).where(
            Order.user_id == user_id,
            Order.idempotency_key == key,
            col(Order.created_at) >= not_before,
        )
    ).first()
    return None if order is None else _with_items(session, [order])[0]


def release_expired_keys(*, session: Session, before: datetime, key: str | None, limit: int) -> int:
    """Forget the idempotency keys (and request hashes) of orders placed before ``before``:
    ``key`` itself if it is one of them (so it can be used again), and up to ``limit`` others,
    oldest first. The orders stay. Rows another transaction is purging are skipped, not waited
    for (PostgreSQL's SKIP LOCKED; SQLite has one writer anyway). Returns how many were purged.
    """
    batch = (
        select(Order.id)
        .where(col(Order.idempotency_key).is_not(None), col(Order.created_at) < before)
        .order_by(col(Order.created_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    expired: ColumnElement[bool] = col(Order.id).in_(batch)
    if key is not None:  # one statement, one round trip
        expired = or_(expired, col(Order.idempotency_key) == key)
    # ``idempotency_key IS NOT NULL`` lets the partial index ix_orders_keyed_created_at serve
    # the whole statement: without it PostgreSQL scanned every order on every insert. On the
    # table (Core): the ORM's session synchronisation has nothing to synchronise here.
    result = session.execute(
        update(_orders)
        .where(
            _orders.c.idempotency_key.is_not(None),
            _orders.c.created_at < before,
            expired,
        )
        .values(idempotency_key=None, request_hash=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def list_orders(
    *, session: Session, user_id: int, limit: int, offset: int
) -> tuple[list[OrderRows], int]:
    query = select(Order).where(Order.user_id == user_id)
    count = select(func.count()).select_from(Order).where(col(Order.user_id) == user_id)
    orders = list(session.exec(query.order_by(col(Order.id)).limit(limit).offset(offset)))
    total = session.exec(count).one()
    return _with_items(session, orders), int(total)


def _with_items(session: Session, orders: list[Order]) -> list[OrderRows]:
    """Items of many orders in one query (no N+1)."""
    ids = [order.id for order in orders]
    by_order: dict[int, list[OrderItem]] = {order_id: [] for order_id in ids if order_id}
    if by_order:
        rows = session.exec(
            select(OrderItem)
            .where(col(OrderItem.order_id).in_(list(by_order)))
            .order_by(col(OrderItem.order_id), col(OrderItem.position))
        )
        for item in rows:
            by_order[item.order_id].append(item)
    return [OrderRows(order=order, items=by_order.get(order.id or 0, [])) for order in orders]


def _is_idempotency_conflict(exc: IntegrityError) -> bool:
    diag = getattr(exc.orig, "diag", None)  # psycopg2 names the constraint
    if diag is not None and getattr(diag, "constraint_name", None):
        return bool(diag.constraint_name == IDEMPOTENCY_CONSTRAINT)
    return "orders.idempotency_key" in str(exc.orig)  # SQLite names the columns
