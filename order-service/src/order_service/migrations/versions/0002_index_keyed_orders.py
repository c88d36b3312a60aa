"""Index the orders that hold an idempotency key by age, for the purge of expired keys."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

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
