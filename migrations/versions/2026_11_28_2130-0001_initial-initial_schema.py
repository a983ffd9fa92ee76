"""Initial schema: agencies and users, catalogue, rounds and needs, runs, audit, idempotency.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-28 21:30:00+00:00

Portable to SQLite and PostgreSQL: enums are VARCHAR(32) with a CHECK, JSON is
plain JSON, money is NUMERIC(18, 6), instants are TIMESTAMP WITH TIME ZONE
(naive UTC on SQLite). The types are spelled out here rather than imported from
the app, so this file keeps meaning the same thing when the app changes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS_HASH = "0" * 64


def _instant(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _money(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.Numeric(18, 6), nullable=nullable)


def _enum(name: str, *values: str, nullable: bool = False) -> sa.Column:
    kind = sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)
    return sa.Column(name, kind, nullable=nullable)


def _json(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.JSON(none_as_null=True), nullable=nullable)


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


PRIORITIES = ("critical", "high", "normal")


def upgrade() -> None:
    # --- agencies, users, roles, tokens
    op.create_table(
        "agency",
        sa.Column("id", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        *_versioned(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agency")),
    )
    op.create_table(
        "user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("agency_id", sa.String(16), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        *_versioned(),
        _fk("agency_id", "user", "agency.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user")),
        sa.UniqueConstraint("email", name=op.f("uq_user_email")),
    )
    op.create_index(op.f("ix_user_agency_id"), "user", ["agency_id"])
    op.create_table(
        "user_role",
        sa.Column("user_id", sa.Integer(), nullable=False),
        _enum(
            "role", "local_team", "technical_specialist", "chief_of_mission", "coordinator", "admin"
        ),
        _fk("user_id", "user_role", "user.id", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "role", name=op.f("pk_user_role")),
    )
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(12), nullable=False),
        _instant("created_at"),
        _instant("expires_at"),
        _instant("revoked_at", nullable=True),
        _instant("last_used_at", nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        _fk("user_id", "api_token", "user.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_token_token_hash")),
    )
    op.create_index(op.f("ix_api_token_user_id"), "api_token", ["user_id"])

    # --- catalogue
    op.create_table(
        "item",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("unit", sa.String(32), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("unspsc_code", sa.String(8), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        *_versioned(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item")),
    )
    op.create_index(op.f("ix_item_category"), "item", ["category"])
    op.create_table(
        "location",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("region", sa.String(100), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        *_versioned(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_location")),
    )
    op.create_table(
        "supplier",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("contact_email", sa.String(254), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        *_versioned(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplier")),
    )
    op.create_table(
        "offer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("supplier_id", sa.String(64), nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("reference", sa.String(100), nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("min_order_quantity", sa.Integer(), nullable=False),
        sa.Column("lead_time_days", sa.Integer(), nullable=False),
        sa.Column("eligibility_restricted", sa.Boolean(), nullable=False),
        sa.Column("owner_agency_id", sa.String(16), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        *_versioned(),
        sa.CheckConstraint("capacity >= 0", name=op.f("ck_offer_capacity_non_negative")),
        sa.CheckConstraint("min_order_quantity >= 0", name=op.f("ck_offer_moq_non_negative")),
        sa.CheckConstraint("lead_time_days >= 0", name=op.f("ck_offer_lead_time_non_negative")),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to >= valid_from", name=op.f("ck_offer_validity_order")
        ),
        _fk("supplier_id", "offer", "supplier.id"),
        _fk("item_id", "offer", "item.id"),
        _fk("owner_agency_id", "offer", "agency.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offer")),
    )
    op.create_index(op.f("ix_offer_supplier_id"), "offer", ["supplier_id"])
    op.create_index(op.f("ix_offer_item_id"), "offer", ["item_id"])
    op.create_index(op.f("ix_offer_owner_agency_id"), "offer", ["owner_agency_id"])
    op.create_table(
        "price_tier",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("min_quantity", sa.Integer(), nullable=False),
        _money("unit_price"),
        sa.CheckConstraint(
            "min_quantity >= 0", name=op.f("ck_price_tier_min_quantity_non_negative")
        ),
        sa.CheckConstraint("unit_price >= 0", name=op.f("ck_price_tier_unit_price_non_negative")),
        _fk("offer_id", "price_tier", "offer.id", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_tier")),
        sa.UniqueConstraint(
            "offer_id", "min_quantity", name=op.f("uq_price_tier_offer_id_min_quantity")
        ),
    )
    op.create_table(
        "offer_eligibility",
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.String(16), nullable=False),
        _fk("offer_id", "offer_eligibility", "offer.id", ondelete="CASCADE"),
        _fk("agency_id", "offer_eligibility", "agency.id"),
        sa.PrimaryKeyConstraint("offer_id", "agency_id", name=op.f("pk_offer_eligibility")),
    )
    op.create_table(
        "route",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("supplier_id", sa.String(64), nullable=False),
        sa.Column("location_id", sa.String(64), nullable=False),
        _money("fixed_cost"),
        _money("unit_cost"),
        sa.Column("transit_days", sa.Integer(), nullable=False),
        *_versioned(),
        sa.CheckConstraint("fixed_cost >= 0", name=op.f("ck_route_fixed_cost_non_negative")),
        sa.CheckConstraint("unit_cost >= 0", name=op.f("ck_route_unit_cost_non_negative")),
        sa.CheckConstraint("transit_days >= 0", name=op.f("ck_route_transit_days_non_negative")),
        _fk("supplier_id", "route", "supplier.id"),
        _fk("location_id", "route", "location.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_route")),
        sa.UniqueConstraint(
            "supplier_id", "location_id", name=op.f("uq_route_supplier_id_location_id")
        ),
    )
    op.create_index(op.f("ix_route_location_id"), "route", ["location_id"])

    # --- rounds and needs
    op.create_table(
        "round",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        _enum("status", "open", "closed", "optimised", "approved", "rejected"),
        _instant("deadline"),
        sa.Column("as_of", sa.Date(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        _json("settings"),
        sa.Column("schedule_cron", sa.String(100), nullable=True),
        sa.Column("schedule_timezone", sa.String(64), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        _instant("closed_at", nullable=True),
        *_versioned(),
        _fk("created_by_id", "round", "user.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_round")),
    )
    op.create_index(op.f("ix_round_status"), "round", ["status"])
    op.create_table(
        "need",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.String(16), nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("location_id", sa.String(64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("need_by", sa.Date(), nullable=False),
        _enum("priority", *PRIORITIES),
        sa.Column("justification", sa.Text(), nullable=False),
        _enum("confirmed_priority", *PRIORITIES, nullable=True),
        _enum("status", "draft", "submitted", "withdrawn"),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        _instant("submitted_at", nullable=True),
        _instant("withdrawn_at", nullable=True),
        *_versioned(),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_need_quantity_positive")),
        _fk("round_id", "need", "round.id"),
        _fk("agency_id", "need", "agency.id"),
        _fk("item_id", "need", "item.id"),
        _fk("location_id", "need", "location.id"),
        _fk("created_by_id", "need", "user.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_need")),
    )
    op.create_index(
        "ix_need_round_id_item_id_location_id", "need", ["round_id", "item_id", "location_id"]
    )
    op.create_index("ix_need_round_id_agency_id", "need", ["round_id", "agency_id"])
    op.create_table(
        "priority_review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("need_id", sa.Integer(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=False),
        _enum("priority", *PRIORITIES),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        _instant("created_at"),
        _fk("need_id", "priority_review", "need.id"),
        _fk("reviewer_id", "priority_review", "user.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_priority_review")),
    )
    op.create_index(op.f("ix_priority_review_need_id"), "priority_review", ["need_id"])

    # --- runs and approvals
    op.create_table(
        "run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        _enum("status", "queued", "running", "succeeded", "failed", "cancelled"),
        _json("problem"),
        _json("plan", nullable=True),
        _enum("plan_status", "optimal", "feasible", "infeasible", "error", nullable=True),
        sa.Column("objective", sa.Float(), nullable=True),
        _money("money_cost", nullable=True),
        _json("solver_stats", nullable=True),
        _json("progress", nullable=True),
        sa.Column("triggered_by_id", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _instant("started_at", nullable=True),
        _instant("finished_at", nullable=True),
        sa.Column("binding", sa.Boolean(), nullable=False),
        _instant("approved_at", nullable=True),
        *_versioned(),
        sa.CheckConstraint("number >= 1", name=op.f("ck_run_number_positive")),
        _fk("round_id", "run", "round.id"),
        _fk("triggered_by_id", "run", "user.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run")),
        sa.UniqueConstraint("round_id", "number", name=op.f("uq_run_round_id_number")),
    )
    # One binding run per round; a partial index is the portable way to say it.
    op.create_index(
        "uq_run_round_id_binding",
        "run",
        ["round_id"],
        unique=True,
        sqlite_where=sa.text("binding"),
        postgresql_where=sa.text("binding"),
    )
    op.create_table(
        "approval",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.String(16), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        _enum("decision", "approved", "rejected"),
        sa.Column("reason", sa.Text(), nullable=True),
        _instant("created_at"),
        sa.CheckConstraint(
            "decision <> 'rejected' OR reason IS NOT NULL",
            name=op.f("ck_approval_rejection_has_reason"),
        ),
        _fk("run_id", "approval", "run.id"),
        _fk("agency_id", "approval", "agency.id"),
        _fk("user_id", "approval", "user.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approval")),
        sa.UniqueConstraint("run_id", "agency_id", name=op.f("uq_approval_run_id_agency_id")),
    )

    # --- audit log
    op.create_table(
        "audit_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        _instant("occurred_at"),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sa.String(254), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("entity_type", sa.String(64), nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=False),
        _json("before", nullable=True),
        _json("after", nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        _fk("actor_id", "audit_entry", "user.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entry")),
        sa.UniqueConstraint("seq", name=op.f("uq_audit_entry_seq")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_audit_entry_prev_hash")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_entry_hash")),
    )
    op.create_index(op.f("ix_audit_entry_occurred_at"), "audit_entry", ["occurred_at"])
    op.create_index(op.f("ix_audit_entry_actor_id"), "audit_entry", ["actor_id"])
    op.create_index(
        "ix_audit_entry_entity_type_entity_id", "audit_entry", ["entity_type", "entity_id"]
    )
    chain_head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_chain_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    # Writers lock this row to append; it must exist before the first entry.
    op.bulk_insert(chain_head, [{"id": 1, "seq": 0, "hash": GENESIS_HASH}])

    # --- idempotent create requests
    op.create_table(
        "idempotency_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("method", sa.String(8), nullable=False),
        sa.Column("path", sa.String(2000), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=False),
        _json("response_body", nullable=True),
        _json("response_headers", nullable=True),
        _instant("created_at"),
        _fk("user_id", "idempotency_key", "user.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_key")),
        sa.UniqueConstraint("user_id", "key", name=op.f("uq_idempotency_key_user_id_key")),
    )
    op.create_index(op.f("ix_idempotency_key_created_at"), "idempotency_key", ["created_at"])


def downgrade() -> None:
    # Children before parents; dropping a table drops its indexes and constraints.
    for table in (
        "idempotency_key",
        "audit_chain_head",
        "audit_entry",
        "approval",
        "run",
        "priority_review",
        "need",
        "round",
        "route",
        "offer_eligibility",
        "price_tier",
        "offer",
        "supplier",
        "location",
        "item",
        "api_token",
        "user_role",
        "user",
        "agency",
    ):
        op.drop_table(table)
