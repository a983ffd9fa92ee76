"""An issued purchase order stores its number (``PO-<round>-<nn>``).

Revision ID: 0006_po_number
Revises: 0004_sourcing
Create Date: 2026-12-07 07:00:00+00:00

Until now the number was computed on every read from the run's frozen problem (the
supplier's place among its suppliers, sorted by id). A number printed on a purchase
order must never change, so it is written when the order is issued. Existing orders are
backfilled here with the number the computation gives them today (the same rule as
``app.runs.outputs.order_number``, spelled out so that this file does not move with the
code). Batch mode rebuilds the table on SQLite for the NOT NULL and the UNIQUE.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006_po_number"
down_revision: str | Sequence[str] | None = "0004_sourcing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

purchase_order = sa.table(
    "purchase_order",
    sa.column("id", sa.Integer),
    sa.column("round_id", sa.Integer),
    sa.column("run_id", sa.Integer),
    sa.column("supplier_id", sa.String),
    sa.column("number", sa.String),
)
run = sa.table("run", sa.column("id", sa.Integer), sa.column("problem", sa.JSON))


def _numbers(rows: list[Any], problems: dict[int, Any]) -> dict[int, str]:
    """Order id -> ``PO-<round>-<nn>``: nn is the supplier's place (from 01) among the
    run's problem's suppliers, sorted by id; a supplier the problem lacks (none should)
    comes after them, so no two orders of a round share a number."""
    numbers: dict[int, str] = {}
    by_run: dict[int, list[Any]] = {}
    for row in rows:
        by_run.setdefault(row.run_id, []).append(row)
    for run_id, orders in by_run.items():
        problem = problems.get(run_id) or {}
        ids = sorted(s["id"] for s in problem.get("suppliers", []))
        missing = sorted(o.supplier_id for o in orders if o.supplier_id not in ids)
        places = ids + missing
        for order in orders:
            numbers[order.id] = f"PO-{order.round_id}-{places.index(order.supplier_id) + 1:02d}"
    return numbers


def upgrade() -> None:
    with op.batch_alter_table("purchase_order") as batch:
        batch.add_column(sa.Column("number", sa.String(32), nullable=True))
    bind = op.get_bind()
    rows = list(bind.execute(sa.select(purchase_order)))
    run_ids = sorted({r.run_id for r in rows})
    problems = {
        r.id: r.problem
        for r in bind.execute(sa.select(run.c.id, run.c.problem).where(run.c.id.in_(run_ids)))
    }
    for order_id, number in sorted(_numbers(rows, problems).items()):
        bind.execute(
            purchase_order.update().where(purchase_order.c.id == order_id).values(number=number)
        )
    with op.batch_alter_table("purchase_order") as batch:
        batch.alter_column("number", existing_type=sa.String(32), nullable=False)
        batch.create_unique_constraint(op.f("uq_purchase_order_number"), ["number"])


def downgrade() -> None:
    with op.batch_alter_table("purchase_order") as batch:
        batch.drop_constraint(op.f("uq_purchase_order_number"), type_="unique")
        batch.drop_column("number")
