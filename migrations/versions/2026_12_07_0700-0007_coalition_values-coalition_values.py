"""A run's coalition values, stored by the jobs that solve them; a job kind for them.

Revision ID: 0007_coalition_values
Revises: 0006_po_number
Create Date: 2026-12-07 07:00:00+00:00

``coalition_value``: one row per (run, coalition) with fairness checked, its value
once a batch job (``job.kind = 'coalitions'``) stored it, and the hash of the
coalition's sub-problem for a later run of the round to reuse. The job kind's
CHECK gains ``coalitions`` (batch mode: SQLite changes a CHECK by copying the table).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_coalition_values"
down_revision: str | Sequence[str] | None = "0006_po_number"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS_BEFORE = ("run", "scenario")
KINDS_AFTER = ("run", "scenario", "coalitions")


def _kinds(kinds: Sequence[str]) -> str:
    return "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def upgrade() -> None:
    with op.batch_alter_table("job") as batch:
        batch.drop_constraint(op.f("ck_job_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_job_kind"), _kinds(KINDS_AFTER))

    op.create_table(
        "coalition_value",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("coalition", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "done",
                "reused",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("sub_problem", sa.String(64), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("value", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["run.id"], name=op.f("fk_coalition_value_run_id_run")),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"], name=op.f("fk_coalition_value_job_id_job")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coalition_value")),
        sa.UniqueConstraint(
            "run_id", "coalition", name=op.f("uq_coalition_value_run_id_coalition")
        ),
    )
    op.create_index(op.f("ix_coalition_value_run_id"), "coalition_value", ["run_id"])
    op.create_index(op.f("ix_coalition_value_job_id"), "coalition_value", ["job_id"])
    op.create_index(op.f("ix_coalition_value_sub_problem"), "coalition_value", ["sub_problem"])


def downgrade() -> None:
    op.drop_table("coalition_value")
    op.execute(sa.text("DELETE FROM job WHERE kind = 'coalitions'"))
    with op.batch_alter_table("job") as batch:
        batch.drop_constraint(op.f("ck_job_kind"), type_="check")
        batch.create_check_constraint(op.f("ck_job_kind"), _kinds(KINDS_BEFORE))
