"""Buyers: a snapshot of the buyer's name and email on each order; idempotency keys per buyer.

Orders placed before this revision keep NULL snapshots. The idempotency key's uniqueness moves
from the whole table to (user_id, idempotency_key): a key is the buyer's own.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("buyer_name", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("buyer_email", sa.String(length=320), nullable=True))
        batch.drop_constraint("uq_orders_idempotency_key", type_="unique")
        batch.create_unique_constraint(
            "uq_orders_user_id_idempotency_key", ["user_id", "idempotency_key"]
        )


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_constraint("uq_orders_user_id_idempotency_key", type_="unique")
        batch.create_unique_constraint("uq_orders_idempotency_key", ["idempotency_key"])
        batch.drop_column("buyer_email")
        batch.drop_column("buyer_name")
