"""Issued purchase orders, order lines, receipts, the delivery policy, lead-time adjustments.

Revision ID: 0003_deliveries
Revises: 0003_need_set_aside
Create Date: 2026-12-07 03:00:00+00:00

Only new tables. Types spelled out as in 0001 and 0002 (portable VARCHAR+CHECK enums,
plain JSON, NUMERIC(18, 6) money, TIMESTAMP WITH TIME ZONE instants).
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_deliveries"
down_revision: str | Sequence[str] | None = "0003_need_set_aside"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _instant(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _enum(name: str, *values: str, nullable: bool = False) -> sa.Column:
    kind = sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)
    return sa.Column(name, kind, nullable=nullable)


def _fk(column: str, table: str, target: str) -> sa.ForeignKeyConstraint:
    name = op.f(f"fk_{table}_{column}_{target.split('.')[0]}")
    return sa.ForeignKeyConstraint([column], [target], name=name)


def upgrade() -> None:
    op.create_table(
        "purchase_order",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("supplier_id", sa.String(64), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        _instant("issued_at"),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("issued_by_id", sa.Integer(), nullable=False),
        _fk("round_id", "purchase_order", "round.id"),
        _fk("run_id", "purchase_order", "run.id"),
        _fk("supplier_id", "purchase_order", "supplier.id"),
        _fk("issued_by_id", "purchase_order", "user.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purchase_order")),
        sa.UniqueConstraint(
            "run_id", "supplier_id", name=op.f("uq_purchase_order_run_id_supplier_id")
        ),
    )
    op.create_index(op.f("ix_purchase_order_round_id"), "purchase_order", ["round_id"])
    op.create_index(op.f("ix_purchase_order_supplier_id"), "purchase_order", ["supplier_id"])

    op.create_table(
        "order_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("need_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.String(16), nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("location_id", sa.String(64), nullable=False),
        sa.Column("offer_ref", sa.String(64), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=True),
        sa.Column("route_id", sa.Integer(), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.Numeric(18, 6), nullable=False),
        sa.Column("need_by", sa.Date(), nullable=True),
        sa.Column("promised_on", sa.Date(), nullable=False),
        sa.Column("lead_time_days", sa.Integer(), nullable=False),
        sa.Column("transit_days", sa.Integer(), nullable=False),
        sa.Column("processing_days", sa.Integer(), nullable=False),
        _instant("closed_short_at", nullable=True),
        sa.Column("closed_short_reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        _instant("created_at"),
        _instant("updated_at"),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_order_line_quantity_positive")),
        _fk("order_id", "order_line", "purchase_order.id"),
        _fk("need_id", "order_line", "need.id"),
        _fk("agency_id", "order_line", "agency.id"),
        _fk("item_id", "order_line", "item.id"),
        _fk("location_id", "order_line", "location.id"),
        _fk("offer_id", "order_line", "offer.id"),
        _fk("route_id", "order_line", "route.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_line")),
        sa.UniqueConstraint(
            "order_id",
            "need_id",
            "offer_ref",
            name=op.f("uq_order_line_order_id_need_id_offer_ref"),
        ),
    )
    op.create_index(op.f("ix_order_line_order_id"), "order_line", ["order_id"])
    op.create_index(op.f("ix_order_line_need_id"), "order_line", ["need_id"])
    op.create_index(op.f("ix_order_line_offer_id"), "order_line", ["offer_id"])
    op.create_index(
        "ix_order_line_agency_id_location_id", "order_line", ["agency_id", "location_id"]
    )

    op.create_table(
        "receipt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.String(64), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("quantity_received", sa.Integer(), nullable=False),
        sa.Column("quantity_rejected", sa.Integer(), nullable=False),
        _enum("rejection_reason", "damaged", "expired", "wrong_specification", nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("corrects_id", sa.Integer(), nullable=True),
        sa.Column("recorded_by_id", sa.Integer(), nullable=False),
        _instant("created_at"),
        sa.CheckConstraint("quantity_received >= 0", name=op.f("ck_receipt_received_non_negative")),
        sa.CheckConstraint(
            "quantity_rejected >= 0 AND quantity_rejected <= quantity_received",
            name=op.f("ck_receipt_rejected_within_received"),
        ),
        sa.CheckConstraint(
            "(quantity_rejected = 0) = (rejection_reason IS NULL)",
            name=op.f("ck_receipt_rejection_has_reason"),
        ),
        _fk("line_id", "receipt", "order_line.id"),
        _fk("location_id", "receipt", "location.id"),
        _fk("corrects_id", "receipt", "receipt.id"),
        _fk("recorded_by_id", "receipt", "user.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipt")),
        sa.UniqueConstraint("corrects_id", name=op.f("uq_receipt_corrects_id")),
    )
    op.create_index(op.f("ix_receipt_line_id"), "receipt", ["line_id"])

    policy = op.create_table(
        "delivery_policy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("grace_days", sa.Integer(), nullable=False),
        sa.Column("tolerance_pct", sa.Numeric(6, 2), nullable=False),
        sa.Column("lead_time_percentile", sa.Integer(), nullable=False),
        sa.Column("lead_time_window", sa.Integer(), nullable=False),
        sa.Column("lead_time_min_deliveries", sa.Integer(), nullable=False),
        _instant("updated_at"),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_delivery_policy_single_row")),
        sa.CheckConstraint("grace_days >= 0", name=op.f("ck_delivery_policy_grace_non_negative")),
        sa.CheckConstraint(
            "tolerance_pct >= 0", name=op.f("ck_delivery_policy_tolerance_non_negative")
        ),
        sa.CheckConstraint(
            "lead_time_percentile > 0 AND lead_time_percentile <= 100",
            name=op.f("ck_delivery_policy_percentile_range"),
        ),
        sa.CheckConstraint(
            "lead_time_window >= 1", name=op.f("ck_delivery_policy_window_positive")
        ),
        sa.CheckConstraint(
            "lead_time_min_deliveries >= 1",
            name=op.f("ck_delivery_policy_min_deliveries_positive"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_policy")),
    )
    op.bulk_insert(
        policy,
        [
            {
                "id": 1,
                "grace_days": 3,
                "tolerance_pct": 5,
                "lead_time_percentile": 75,
                "lead_time_window": 10,
                "lead_time_min_deliveries": 3,
                "updated_at": dt.datetime(2026, 12, 7, tzinfo=dt.UTC),
                "version": 1,
            }
        ],
    )

    op.create_table(
        "lead_time_adjustment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("promised_days", sa.Integer(), nullable=False),
        sa.Column("proposed_days", sa.Integer(), nullable=False),
        sa.Column("sample", sa.JSON(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        _enum("status", "proposed", "confirmed", "overridden"),
        sa.Column("decided_days", sa.Integer(), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        _instant("decided_at", nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        _instant("created_at"),
        _instant("updated_at"),
        sa.CheckConstraint(
            "promised_days >= 0", name=op.f("ck_lead_time_adjustment_promised_non_negative")
        ),
        sa.CheckConstraint(
            "proposed_days >= 0", name=op.f("ck_lead_time_adjustment_proposed_non_negative")
        ),
        sa.CheckConstraint(
            "(status = 'proposed') = (decided_days IS NULL)",
            name=op.f("ck_lead_time_adjustment_decision_matches_status"),
        ),
        _fk("round_id", "lead_time_adjustment", "round.id"),
        _fk("offer_id", "lead_time_adjustment", "offer.id"),
        _fk("decided_by_id", "lead_time_adjustment", "user.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_time_adjustment")),
        sa.UniqueConstraint(
            "round_id", "offer_id", name=op.f("uq_lead_time_adjustment_round_id_offer_id")
        ),
    )
    op.create_index(op.f("ix_lead_time_adjustment_round_id"), "lead_time_adjustment", ["round_id"])


def downgrade() -> None:
    op.drop_table("lead_time_adjustment")
    op.drop_table("delivery_policy")
    op.drop_table("receipt")
    op.drop_table("order_line")
    op.drop_table("purchase_order")
