"""Identity: a password hash and a role per user.

Users created before this revision have no password (NULL) and cannot log in; the role defaults
to "user" (admins are made with ``user-service grant-admin``).
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(length=255), nullable=True))
        batch.add_column(
            sa.Column("role", sa.String(length=16), nullable=False, server_default="user")
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("role")
        batch.drop_column("password_hash")
