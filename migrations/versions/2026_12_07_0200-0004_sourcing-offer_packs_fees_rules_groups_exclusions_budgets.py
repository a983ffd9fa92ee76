"""Contract-v2 sourcing data: offers' packs and fees, capacity groups, award rules,
supplier exclusions and agencies' budgets per round.

Revision ID: 0004_sourcing
Revises: 0003_deliveries
Create Date: 2026-12-07 02:00:00+00:00

Two columns on ``offer`` with defaults that mean what contract v1 meant (sold by
the unit, no fee), so existing offers and their runs are unchanged; the rest are
new tables. Types spelled out as in 0001.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_sourcing"
down_revision: str | Sequence[str] | None = "0003_deliveries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

RULE_KINDS = ("max_suppliers", "min_suppliers", "max_share", "min_share")


def _instant(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _money(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.Numeric(18, 6), nullable=nullable)


def _fk(
    column: str, table: str, target: str, ondelete: str | None = None
) -> sa.ForeignKeyConstraint:
    name = op.f(f"fk_{table}_{column}_{target.split('.')[0]}")
    return sa.ForeignKeyConstraint([column], [target], name=name, ondelete=ondelete)


def _versioned() -> list[sa.Column]:
    return [
        sa.Column("version", sa.Integer(), nullable=False),
        _instant("created_at"),
        _instant("updated_at"),
    ]


def upgrade() -> None:
    # Batch mode: SQLite adds CHECK constraints only by copying the table.
    with op.batch_alter_table("offer") as batch:
        batch.add_column(sa.Column("pack_size", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(
            sa.Column("fee_rate", sa.Numeric(18, 6), nullable=False, server_default="0")
        )
        batch.create_check_constraint(op.f("ck_offer_pack_size_positive"), "pack_size >= 1")
        batch.create_check_constraint(op.f("ck_offer_fee_rate_non_negative"), "fee_rate >= 0")

    op.create_table(
        "capacity_group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("supplier_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        *_versioned(),
        sa.CheckConstraint("capacity >= 0", name=op.f("ck_capacity_group_capacity_non_negative")),
        _fk("supplier_id", "capacity_group", "supplier.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_capacity_group")),
    )
    op.create_index(op.f("ix_capacity_group_supplier_id"), "capacity_group", ["supplier_id"])
    op.create_table(
        "capacity_group_offer",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=False),
        _fk("group_id", "capacity_group_offer", "capacity_group.id", ondelete="CASCADE"),
        _fk("offer_id", "capacity_group_offer", "offer.id", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("group_id", "offer_id", name=op.f("pk_capacity_group_offer")),
    )
    op.create_index(op.f("ix_capacity_group_offer_offer_id"), "capacity_group_offer", ["offer_id"])

    op.create_table(
        "award_rule",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(*RULE_KINDS, name="kind", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("location_id", sa.String(64), nullable=True),
        sa.Column("supplier_id", sa.String(64), nullable=True),
        sa.Column("rule_limit", sa.Integer(), nullable=True),
        _money("share", nullable=True),
        _money("penalty"),
        sa.Column("reason", sa.Text(), nullable=False),
        *_versioned(),
        sa.CheckConstraint("penalty > 0", name=op.f("ck_award_rule_penalty_positive")),
        sa.CheckConstraint(
            "(kind IN ('max_suppliers', 'min_suppliers') AND rule_limit IS NOT NULL "
            "AND supplier_id IS NULL AND share IS NULL) OR "
            "(kind IN ('max_share', 'min_share') AND rule_limit IS NULL "
            "AND supplier_id IS NOT NULL AND share IS NOT NULL)",
            name=op.f("ck_award_rule_fields_of_kind"),
        ),
        sa.CheckConstraint(
            "rule_limit IS NULL OR rule_limit >= 0", name=op.f("ck_award_rule_limit_non_negative")
        ),
        sa.CheckConstraint(
            "share IS NULL OR (share > 0 AND share <= 1)", name=op.f("ck_award_rule_share_range")
        ),
        _fk("item_id", "award_rule", "item.id"),
        _fk("location_id", "award_rule", "location.id"),
        _fk("supplier_id", "award_rule", "supplier.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_award_rule")),
    )
    op.create_index(op.f("ix_award_rule_item_id"), "award_rule", ["item_id"])

    op.create_table(
        "supplier_exclusion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.String(16), nullable=False),
        sa.Column("supplier_id", sa.String(64), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        *_versioned(),
        _fk("agency_id", "supplier_exclusion", "agency.id"),
        _fk("supplier_id", "supplier_exclusion", "supplier.id"),
        _fk("created_by_id", "supplier_exclusion", "user.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier_exclusion")),
        sa.UniqueConstraint(
            "agency_id", "supplier_id", name=op.f("uq_supplier_exclusion_agency_id_supplier_id")
        ),
    )
    op.create_index(op.f("ix_supplier_exclusion_agency_id"), "supplier_exclusion", ["agency_id"])
    op.create_index(
        op.f("ix_supplier_exclusion_supplier_id"), "supplier_exclusion", ["supplier_id"]
    )

    op.create_table(
        "agency_budget",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.String(16), nullable=False),
        _money("amount"),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("set_by_id", sa.Integer(), nullable=False),
        _instant("set_at"),
        *_versioned(),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_agency_budget_amount_non_negative")),
        _fk("round_id", "agency_budget", "round.id"),
        _fk("agency_id", "agency_budget", "agency.id"),
        _fk("set_by_id", "agency_budget", "user.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency_budget")),
        sa.UniqueConstraint(
            "round_id", "agency_id", name=op.f("uq_agency_budget_round_id_agency_id")
        ),
    )
    op.create_index(op.f("ix_agency_budget_round_id"), "agency_budget", ["round_id"])


def downgrade() -> None:
    op.drop_table("agency_budget")
    op.drop_table("supplier_exclusion")
    op.drop_table("award_rule")
    op.drop_table("capacity_group_offer")
    op.drop_table("capacity_group")
    with op.batch_alter_table("offer") as batch:
        batch.drop_constraint(op.f("ck_offer_fee_rate_non_negative"), type_="check")
        batch.drop_constraint(op.f("ck_offer_pack_size_positive"), type_="check")
        batch.drop_column("fee_rate")
        batch.drop_column("pack_size")
