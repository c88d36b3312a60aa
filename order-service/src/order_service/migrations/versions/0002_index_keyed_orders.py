"""Index the orders that hold an idempotency key by age, for the purge of expired keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEYED = sa.text("idempotency_key IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_orders_keyed_created_at",
        "orders",
        ["created_at"],
        postgresql_where=_KEYED,
    )


def downgrade() -> None:
    op.drop_index("ix_orders_keyed_created_at", table_name="orders")
