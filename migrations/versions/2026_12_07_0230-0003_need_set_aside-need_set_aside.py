"""A need a coordinator set aside: its status, who, when and why.

Revision ID: 0003_need_set_aside
Revises: 0002_jobs
Create Date: 2026-12-07 02:30:00+00:00

A submitted need that keeps a round from closing (its snapshot would break the
contract) can be set aside by a coordinator with a reason; it leaves the round's
snapshot, and its agency sees why on the need. The status CHECK gains ``set_aside``
(portable VARCHAR+CHECK enum, swapped on both databases; batch mode rebuilds the table
on SQLite).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_need_set_aside"
down_revision: str | Sequence[str] | None = "0002_jobs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BEFORE = ("draft", "submitted", "withdrawn")
AFTER = (*BEFORE, "set_aside")


def _status_check(values: Sequence[str]) -> str:
    return "status IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    with op.batch_alter_table("need") as batch:
        batch.drop_constraint(op.f("ck_need_status"), type_="check")
        batch.create_check_constraint("status", _status_check(AFTER))
        batch.add_column(sa.Column("set_aside_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("set_aside_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("set_aside_reason", sa.Text(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_need_set_aside_by_id_user"), "user", ["set_aside_by_id"], ["id"]
        )


def downgrade() -> None:
    op.execute("UPDATE need SET status = 'withdrawn' WHERE status = 'set_aside'")
    with op.batch_alter_table("need") as batch:
        batch.drop_constraint(op.f("fk_need_set_aside_by_id_user"), type_="foreignkey")
        batch.drop_column("set_aside_reason")
        batch.drop_column("set_aside_by_id")
        batch.drop_column("set_aside_at")
        batch.drop_constraint(op.f("ck_need_status"), type_="check")
        batch.create_check_constraint("status", _status_check(BEFORE))
