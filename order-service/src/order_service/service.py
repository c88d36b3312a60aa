"""Business rules of orders: price them, check the buyer, store once (idempotently).

The buyer is the caller: ``Buyer`` is the verified bearer token's subject (and the token itself,
which is relayed to user-service so it answers for that user only). Every read is the buyer's own;
another buyer's order is "not found", never "forbidden", so ids reveal nothing.

Each function is a unit of work: it opens it with ``with sessions.begin() as session:`` (or
``sessions.read()`` when it only reads: autocommit, no BEGIN/COMMIT round trips) and returns
public models (docs/design.md, "One idiom each"). Routes call the async ``place_order``;
it awaits the user directory (network) and runs each unit of database work in the threadpool, so
no database connection is held while user-service is being asked: one trip without an
``Idempotency-Key`` (the insert), two with one (the replay check, then the insert).

Idempotency: the key is stored with the order under a unique constraint, with a SHA-256 of the
canonical request. A known key is answered from the database before user-service is asked (so a
client retrying through a user-service outage still gets its order back): that needs the one
SELECT before the insert, and only requests that carry a key pay for it. A race between two
identical requests is decided by the constraint, and the loser reads the winner's row. Keys are
scoped to the buyer: the constraint is on (user_id, key), so two buyers never collide.

Keys are remembered for a window (``IDEMPOTENCY_KEY_WINDOW``, 24 h by default, as Stripe does):
an older key is not a replay but a new request, and may name a new order. Expired keys are
purged on write: every insert first releases its own key if it expired, then up to
``PURGE_BATCH`` other expired keys, oldest first, in the same transaction. Purge-on-write rather
than a scheduled job: nothing more to deploy or forget (Helm, kustomize and ``make run`` alike),
and since each insert adds at most one key and releases up to ``PURGE_BATCH``, expired keys
never pile up while orders come in; a partial index keeps the scan to the keyed rows. Expiry
itself never depends on the purge: a lookup ignores keys older than the window. The orders are
never deleted: only the key and its request hash are forgotten.

Traces: the insert is a ``store order`` span (its SQL statements beneath it), from the tracer the
route passes in (the API's no-op tracer when tracing is off).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from opentelemetry.trace import NoOpTracer, Tracer
from starlette.concurrency import run_in_threadpool

from order_service import repository
from order_service.errors import IdempotencyKeyReusedError, OrderNotFoundError, UnknownUserError
from order_service.models import OrderCreate, OrderItemCreate, OrderPage, OrderPublic
from order_service.repository import OrderRows, PricedLine
from order_service.user_directory import UserDirectory, UserRef
from service_kit.db import Sessions
from service_kit.timestamps import utc_now

DEFAULT_KEY_WINDOW = timedelta(hours=24)
PURGE_BATCH = 100  # expired keys released per insert, at most

_NO_TRACER = NoOpTracer()


@dataclass(frozen=True, slots=True)
class Buyer:
    """The caller: its user id (the token's subject) and the token, to relay to user-service."""

    user_id: int
    token: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    order: OrderPublic
    replayed: bool


def price_items(items: Sequence[OrderItemCreate]) -> tuple[list[PricedLine], int]:
    """Line totals and the order total, in integer minor units (never taken from the client)."""
    lines = [
        PricedLine(
            product_id=item.product_id,
            quantity=item.quantity,
            unit_price=item.unit_price,
            line_total=item.quantity * item.unit_price,
        )
        for item in items
    ]
    return lines, sum(line.line_total for line in lines)


def request_fingerprint(data: OrderCreate) -> str:
    """SHA-256 of the canonical request: same order, same hash, however the JSON was written.

    Fields at their default value are left out, so an additive change of the schema (a new
    optional field) leaves the fingerprint of every request that does not use it as it was: a
    retry across such a deploy is a replay, not a 422.
    """
    canonical = json.dumps(
        data.model_dump(mode="json", exclude_defaults=True),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


async def place_order(
    *,
    sessions: Sessions,
    directory: UserDirectory,
    buyer: Buyer,
    data: OrderCreate,
    idempotency_key: str | None = None,
    key_window: timedelta = DEFAULT_KEY_WINDOW,
    request_id: str | None = None,
    tracer: Tracer = _NO_TRACER,
) -> PlacedOrder:
    fingerprint = request_fingerprint(data) if idempotency_key is not None else None
    if idempotency_key is not None and fingerprint is not None:
        replay = await run_in_threadpool(
            find_replay,
            sessions=sessions,
            user_id=buyer.user_id,
            key=idempotency_key,
            fingerprint=fingerprint,
            key_window=key_window,
        )
        if replay is not None:
            return replay

    user = await directory.get_user(buyer.user_id, token=buyer.token, request_id=request_id)
    if user is None:
        raise UnknownUserError(buyer.user_id)

    with tracer.start_as_current_span(
        "store order",
        attributes={
            "order.items": len(data.items),
            "order.idempotent": idempotency_key is not None,
        },
    ) as span:
        placed = await run_in_threadpool(
            store_order,
            sessions=sessions,
            user=user,
            data=data,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            key_window=key_window,
        )
        span.set_attributes({"order.id": placed.order.id, "order.replayed": placed.replayed})
        return placed


def store_order(
    *,
    sessions: Sessions,
    user: UserRef,
    data: OrderCreate,
    idempotency_key: str | None,
    fingerprint: str | None,
    key_window: timedelta = DEFAULT_KEY_WINDOW,
) -> PlacedOrder:
    """Purge expired keys, insert the order, its items and the buyer's snapshot, in one
    transaction; on a key collision, replay the winner."""
    lines, total = price_items(data.items)
    try:
        with sessions.begin() as session:
            repository.release_expired_keys(
                session=session,
                before=utc_now() - key_window,
                key=idempotency_key,
                limit=PURGE_BATCH,
            )
            rows = repository.add_order(
                session=session,
                user_id=user.id,
                currency=data.currency,
                lines=lines,
                total=total,
                buyer_name=user.name,
                buyer_email=user.email,
                idempotency_key=idempotency_key,
                request_hash=fingerprint,
            )
            return PlacedOrder(order=_public(rows), replayed=False)
    except repository.IdempotencyKeyTakenError:
        if idempotency_key is None or fingerprint is None:
            raise
    replay = find_replay(
        sessions=sessions,
        user_id=user.id,
        key=idempotency_key,
        fingerprint=fingerprint,
        key_window=key_window,
    )
    if replay is None:  # pragma: no cover - the winner's row exists once its insert blocked ours
        raise RuntimeError("idempotency key taken but no order holds it")
    return replay


def find_replay(
    *,
    sessions: Sessions,
    user_id: int,
    key: str,
    fingerprint: str,
    key_window: timedelta = DEFAULT_KEY_WINDOW,
) -> PlacedOrder | None:
    """The buyer's order stored under ``key`` within the window; ``IdempotencyKeyReusedError``
    if its body differed."""
    with sessions.read() as session:
        rows = repository.get_order_by_idempotency_key(
            session=session, user_id=user_id, key=key, not_before=utc_now() - key_window
        )
        if rows is None:
            return None
        if rows.order.request_hash != fingerprint:
            raise IdempotencyKeyReusedError()
        return PlacedOrder(order=_public(rows), replayed=True)


def get_order(*, sessions: Sessions, order_id: int, user_id: int) -> OrderPublic:
    """The buyer's order; another buyer's is ``OrderNotFoundError`` like a missing one."""
    with sessions.read() as session:
        rows = repository.get_order(session=session, order_id=order_id, user_id=user_id)
        if rows is None:
            raise OrderNotFoundError(order_id)
        return _public(rows)


def list_orders(*, sessions: Sessions, user_id: int, limit: int, offset: int) -> OrderPage:
    with sessions.read() as session:
        rows, total = repository.list_orders(
            session=session, user_id=user_id, limit=limit, offset=offset
        )
        return OrderPage(items=[_public(r) for r in rows], total=total, limit=limit, offset=offset)


def _public(rows: OrderRows) -> OrderPublic:
    return OrderPublic.from_rows(rows.order, rows.items)
