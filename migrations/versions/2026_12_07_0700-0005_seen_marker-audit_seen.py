"""Each user's "what changed since you last looked" marker: the last audit entry seen.

Revision ID: 0005_seen_marker
Revises: 0004_sourcing
Create Date: 2026-12-07 07:00:00+00:00

One row per user who has opened ``/changes``; none for those who never did. A new table,
so nothing existing changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_seen_marker"
down_revision: str | Sequence[str] | None = "0004_sourcing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_seen",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("last_entry_id", sa.Integer(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"], name=op.f("fk_audit_seen_user_id_user")),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_audit_seen")),
    )


def downgrade() -> None:
    op.drop_table("audit_seen")
