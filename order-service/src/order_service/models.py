"""The order resource: one model family per table, plus what clients send and see.

``OrderCreate``/``OrderItemCreate`` hold the input rules (bounds, no unknown fields, no totals:
the service computes them; no buyer: the buyer is the bearer token's subject);
``Order``/``OrderItem`` are the tables; ``OrderPublic`` is all a client ever sees (the
idempotency key and request hash stay inside), with ``buyer``: the name and email user-service
had for the buyer when the order was placed (a receipt's snapshot; null for orders placed before
snapshots existed).

Money is integer minor units in BIGINT columns: 100 items x 10,000 x 10^9 fits easily.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, StringConstraints
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel

from service_kit.deps import MAX_ID
from service_kit.timestamps import UtcTimestamp, utc_now

CURRENCY_PATTERN = r"^[A-Z]{3}$"
PRODUCT_ID_MAX = 64
PRODUCT_ID_PATTERN = r"^[^\x00-\x1f\x7f]+$"  # no control characters
QUANTITY_MAX = 10_000
UNIT_PRICE_MAX = 10**9
ITEMS_MAX = 100
IDEMPOTENCY_KEY_MAX = 255
# The largest id user-service accepts: the kit's bound on every id (32-bit integer columns),
# held by the contract: the pact asks user-service about this very id and expects an answer
# (404), not a refusal, so a narrower provider fails its verification and a wider bound here
# changes the pact. An id above it could never be a user: 422 at validation.
USER_ID_MAX = MAX_ID


class OrderItemBase(SQLModel):
    product_id: str = Field(max_length=PRODUCT_ID_MAX)
    quantity: int
    unit_price: int


class OrderItemCreate(OrderItemBase):
    # Strict, as every request body (docs/design.md, "Input strictness"): "2" or 2.0 for a
    # quantity is a client bug to report, not a value to coerce.
    model_config = ConfigDict(extra="forbid", strict=True)  # type: ignore[assignment]

    product_id: Annotated[str, StringConstraints(pattern=PRODUCT_ID_PATTERN)] = Field(
        min_length=1, max_length=PRODUCT_ID_MAX
    )
    quantity: int = Field(ge=1, le=QUANTITY_MAX)
    unit_price: int = Field(ge=0, le=UNIT_PRICE_MAX)


class OrderCreate(SQLModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # type: ignore[assignment]

    currency: Annotated[str, StringConstraints(pattern=CURRENCY_PATTERN)]
    items: list[OrderItemCreate] = Field(min_length=1, max_length=ITEMS_MAX)


BUYER_NAME_MAX = 100
BUYER_EMAIL_MAX = 320
IDEMPOTENCY_CONSTRAINT = "uq_orders_user_id_idempotency_key"


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (
        # an idempotency key is the buyer's own: two buyers may pick the same one
        UniqueConstraint("user_id", "idempotency_key", name=IDEMPOTENCY_CONSTRAINT),
        # the purge of expired keys scans only orders that still hold one, oldest first
        Index(
            "ix_orders_keyed_created_at",
            "created_at",
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    currency: str = Field(sa_column=Column(String(3), nullable=False))
    total: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = Field(
        default_factory=utc_now, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    idempotency_key: str | None = Field(
        default=None, sa_column=Column(String(IDEMPOTENCY_KEY_MAX), nullable=True)
    )
    request_hash: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    buyer_name: str | None = Field(
        default=None, sa_column=Column(String(BUYER_NAME_MAX), nullable=True)
    )
    buyer_email: str | None = Field(
        default=None, sa_column=Column(String(BUYER_EMAIL_MAX), nullable=True)
    )


class OrderItem(SQLModel, table=True):
    __tablename__ = "order_items"
    __table_args__ = (UniqueConstraint("order_id", "position", name="uq_order_items_position"),)

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    position: int = Field(sa_column=Column(Integer, nullable=False))
    product_id: str = Field(sa_column=Column(String(PRODUCT_ID_MAX), nullable=False))
    quantity: int = Field(sa_column=Column(Integer, nullable=False))
    unit_price: int = Field(sa_column=Column(BigInteger, nullable=False))
    line_total: int = Field(sa_column=Column(BigInteger, nullable=False))


class OrderItemPublic(OrderItemBase):
    line_total: int


class Buyer(SQLModel):
    name: str | None
    email: str | None


class OrderPublic(SQLModel):
    id: int
    user_id: int
    buyer: Buyer
    currency: str
    items: list[OrderItemPublic]
    total: int
    created_at: UtcTimestamp

    @classmethod
    def from_rows(cls, order: Order, items: list[OrderItem]) -> OrderPublic:
        assert order.id is not None, "an order is public only once stored"
        return cls(
            id=order.id,
            user_id=order.user_id,
            buyer=Buyer(name=order.buyer_name, email=order.buyer_email),
            currency=order.currency,
            total=order.total,
            created_at=order.created_at,
            items=[
                OrderItemPublic(
                    product_id=item.product_id,
                    quantity=item.quantity,
                    unit_price=item.unit_price,
                    line_total=item.line_total,
                )
                for item in sorted(items, key=lambda item: item.position)
            ],
        )


class OrderPage(SQLModel):
    items: list[OrderPublic]
    total: int
    limit: int
    offset: int
