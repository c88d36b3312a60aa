"""Business rules of orders: price them, check the buyer, store once (idempotently).

The buyer is the caller: the verified bearer token's ``Principal``, whose subject is the buyer's
user id and whose token is relayed to user-service so it answers for that user only. Every read
is the buyer's own; another buyer's order is "not found", never "forbidden", so ids reveal
nothing.

``Orders`` holds the use cases, built once at startup with their collaborators; routes call its
async methods with what the request brings. Each unit of work opens with ``with
sessions.begin() as session:`` (or ``sessions.read()`` when it only reads: autocommit, no
BEGIN/COMMIT round trips), runs in the threadpool and returns public models (docs/design.md, "One
idiom each"). ``place_order`` awaits the user directory (network) between its units of work, so
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

Traces: the insert is a ``store order`` span (its SQL statements beneath it), from the tracer
``Orders`` was built with (the API's no-op tracer when tracing is off); the request's trace
context and id travel in context variables, never as arguments.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
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
from service_kit.tokens import Principal

DEFAULT_KEY_WINDOW = timedelta(hours=24)
PURGE_BATCH = 100  # expired keys released per insert, at most

_NO_TRACER = NoOpTracer()


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


class Orders:
    """The use cases of orders, built once at startup (main.py) with what they need: the
    session factory, the user directory, the idempotency key window and the tracer of the
    ``store order`` span. Routes get it through ``api.deps.OrdersDep``."""

    def __init__(
        self,
        *,
        sessions: Sessions,
        directory: UserDirectory,
        key_window: timedelta = DEFAULT_KEY_WINDOW,
        tracer: Tracer = _NO_TRACER,
    ) -> None:
        self.sessions = sessions
        self.directory = directory
        self.key_window = key_window
        self._tracer = tracer

    async def place_order(
        self, *, buyer: Principal, data: OrderCreate, idempotency_key: str | None = None
    ) -> PlacedOrder:
        fingerprint = request_fingerprint(data) if idempotency_key is not None else None
        if idempotency_key is not None and fingerprint is not None:
            replay = await run_in_threadpool(
                self.find_replay,
                user_id=buyer.user_id,
                key=idempotency_key,
                fingerprint=fingerprint,
            )
            if replay is not None:
                return replay

        user = await self.directory.get_user(buyer.user_id, token=buyer.token)
        if user is None:
            raise UnknownUserError(buyer.user_id)

        with self._tracer.start_as_current_span(
            "store order",
            attributes={
                "order.items": len(data.items),
                "order.idempotent": idempotency_key is not None,
            },
        ) as span:
            placed = await run_in_threadpool(
                self.store_order,
                user=user,
                data=data,
                idempotency_key=idempotency_key,
                fingerprint=fingerprint,
            )
            span.set_attributes({"order.id": placed.order.id, "order.replayed": placed.replayed})
            return placed

    async def get_order(self, *, buyer: Principal, order_id: int) -> OrderPublic:
        """The buyer's order; another buyer's is ``OrderNotFoundError`` like a missing one."""
        return await run_in_threadpool(self._read_order, user_id=buyer.user_id, order_id=order_id)

    async def list_orders(self, *, buyer: Principal, limit: int, offset: int) -> OrderPage:
        return await run_in_threadpool(
            self._read_page, user_id=buyer.user_id, limit=limit, offset=offset
        )

    def store_order(
        self,
        *,
        user: UserRef,
        data: OrderCreate,
        idempotency_key: str | None,
        fingerprint: str | None,
    ) -> PlacedOrder:
        """Purge expired keys, insert the order, its items and the buyer's snapshot, in one
        transaction; on a key collision, replay the winner."""
        lines, total = price_items(data.items)
        try:
            with self.sessions.begin() as session:
                repository.release_expired_keys(
                    session=session,
                    before=utc_now() - self.key_window,
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
        replay = self.find_replay(user_id=user.id, key=idempotency_key, fingerprint=fingerprint)
        if replay is None:  # pragma: no cover - the winner's row exists once it blocked ours
            raise RuntimeError("idempotency key taken but no order holds it")
        return replay

    def find_replay(self, *, user_id: int, key: str, fingerprint: str) -> PlacedOrder | None:
        """The buyer's order stored under ``key`` within the window;
        ``IdempotencyKeyReusedError`` if its body differed."""
        with self.sessions.read() as session:
            rows = repository.get_order_by_idempotency_key(
                session=session, user_id=user_id, key=key, not_before=utc_now() - self.key_window
            )
            if rows is None:
                return None
            if rows.order.request_hash != fingerprint:
                raise IdempotencyKeyReusedError()
            return PlacedOrder(order=_public(rows), replayed=True)

    def _read_order(self, *, user_id: int, order_id: int) -> OrderPublic:
        with self.sessions.read() as session:
            rows = repository.get_order(session=session, order_id=order_id, user_id=user_id)
            if rows is None:
                raise OrderNotFoundError(order_id)
            return _public(rows)

    def _read_page(self, *, user_id: int, limit: int, offset: int) -> OrderPage:
        with self.sessions.read() as session:
            rows, total = repository.list_orders(
                session=session, user_id=user_id, limit=limit, offset=offset
            )
            return OrderPage(
                items=[_public(r) for r in rows], total=total, limit=limit, offset=offset
            )


def _public(rows: OrderRows) -> OrderPublic:
    return OrderPublic.from_rows(rows.order, rows.items)
