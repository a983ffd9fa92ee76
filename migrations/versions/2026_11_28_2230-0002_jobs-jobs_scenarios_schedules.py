"""Jobs, scenarios, schedule firings and the scheduler lease (background optimisation).

Revision ID: 0002_jobs
Revises: 0001_initial
Create Date: 2026-11-28 22:30:00+00:00

Only new tables: the runs, rounds and everything else of 0001 are unchanged. The
types are spelled out as in 0001 (portable VARCHAR+CHECK enums, plain JSON,
NUMERIC(18, 6) money, TIMESTAMP WITH TIME ZONE instants).
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_jobs"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
PLAN_STATUSES = ("optimal", "feasible", "infeasible", "error")


def _instant(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _enum(name: str, *values: str, nullable: bool = False) -> sa.Column:
    kind = sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)
    return sa.Column(name, kind, nullable=nullable)


def _json(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.JSON(none_as_null=True), nullable=nullable)


def _fk(column: str, table: str, target: str) -> sa.ForeignKeyConstraint:
    name = op.f(f"fk_{table}_{column}_{target.split('.')[0]}")
    return sa.ForeignKeyConstraint([column], [target], name=name)


def upgrade() -> None:
    op.create_table(
        "scenario",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        _enum("kind", "scenario", "frontier"),
        sa.Column("name", sa.String(200), nullable=False),
        _json("overrides"),
        _json("settings"),
        sa.Column("late_penalty_rate", sa.Float(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        _json("plan", nullable=True),
        _enum("plan_status", *PLAN_STATUSES, nullable=True),
        sa.Column("objective", sa.Float(), nullable=True),
        sa.Column("money_cost", sa.Numeric(18, 6), nullable=True),
        sa.Column("late_unit_days", sa.BigInteger(), nullable=True),
        sa.Column("unmet_units", sa.BigInteger(), nullable=True),
        sa.Column("relative_gap", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        _instant("created_at"),
        _instant("updated_at"),
        _fk("run_id", "scenario", "run.id"),
        _fk("created_by_id", "scenario", "user.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scenario")),
    )
    op.create_index(op.f("ix_scenario_run_id"), "scenario", ["run_id"])
    op.create_index(
        "uq_scenario_run_id_frontier_rate",
        "scenario",
        ["run_id", "late_penalty_rate"],
        unique=True,
        sqlite_where=sa.text("kind = 'frontier'"),
        postgresql_where=sa.text("kind = 'frontier'"),
    )

    op.create_table(
        "job",
        sa.Column("id", sa.Integer(), nullable=False),
        _enum("kind", "run", "scenario"),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("scenario_id", sa.Integer(), nullable=True),
        _enum("state", *JOB_STATES),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("time_limit_seconds", sa.Float(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("claim_token", sa.String(64), nullable=True),
        sa.Column("worker", sa.String(200), nullable=True),
        _instant("lease_until", nullable=True),
        _instant("heartbeat_at", nullable=True),
        _instant("dispatched_at", nullable=True),
        _json("progress", nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        _instant("created_at"),
        _instant("started_at", nullable=True),
        _instant("finished_at", nullable=True),
        _instant("updated_at"),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "(kind = 'scenario') = (scenario_id IS NOT NULL)",
            name=op.f("ck_job_scenario_matches_kind"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_job_attempts_not_negative")),
        sa.CheckConstraint("time_limit_seconds > 0", name=op.f("ck_job_time_limit_positive")),
        _fk("run_id", "job", "run.id"),
        _fk("scenario_id", "job", "scenario.id"),
        _fk("created_by_id", "job", "user.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job")),
        sa.UniqueConstraint("scenario_id", name=op.f("uq_job_scenario_id")),
    )
    op.create_index(op.f("ix_job_run_id"), "job", ["run_id"])
    op.create_index(op.f("ix_job_state"), "job", ["state"])
    # One job per run; scenarios of the run have jobs of their own.
    op.create_index(
        "uq_job_run_id_run",
        "job",
        ["run_id"],
        unique=True,
        sqlite_where=sa.text("kind = 'run'"),
        postgresql_where=sa.text("kind = 'run'"),
    )

    op.create_table(
        "schedule_firing",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        _instant("deadline"),
        _instant("fired_at"),
        sa.Column("fired_by", sa.String(200), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("next_round_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _fk("round_id", "schedule_firing", "round.id"),
        _fk("run_id", "schedule_firing", "run.id"),
        _fk("next_round_id", "schedule_firing", "round.id"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_firing")),
        # Exactly one firing per scheduled round, whoever fires it.
        sa.UniqueConstraint("round_id", name=op.f("uq_schedule_firing_round_id")),
        sa.UniqueConstraint("next_round_id", name=op.f("uq_schedule_firing_next_round_id")),
    )

    lease = op.create_table(
        "scheduler_lease",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(200), nullable=True),
        _instant("expires_at"),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduler_lease")),
    )
    # The row sweepers race for; it must exist before the first one starts.
    op.bulk_insert(
        lease,
        # Long expired: the first sweeper to come takes it.
        [{"name": "scheduler", "holder": None, "expires_at": dt.datetime(2000, 1, 1)}],
    )


def downgrade() -> None:
    op.drop_table("scheduler_lease")
    op.drop_table("schedule_firing")
    op.drop_index("uq_job_run_id_run", table_name="job")
    op.drop_index(op.f("ix_job_state"), table_name="job")
    op.drop_index(op.f("ix_job_run_id"), table_name="job")
    op.drop_table("job")
    op.drop_index("uq_scenario_run_id_frontier_rate", table_name="scenario")
    op.drop_index(op.f("ix_scenario_run_id"), table_name="scenario")
    op.drop_table("scenario")
