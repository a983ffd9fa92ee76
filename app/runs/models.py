"""Runs of a round (a frozen problem document and the plan solved from it) and approvals.

A run's place in its round is ``number`` (1, 2, ...): the column ``version`` is
taken by the row's ETag counter, as on every mutable table.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import Agency, User
from app.db import Base, Money, Timestamped, UtcDateTime, Versioned, json_column, str_enum, utcnow
from app.rounds.models import Round


class RunStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class PlanStatus(StrEnum):
    """The plan document's own ``status`` (contract v1)."""

    optimal = "optimal"
    feasible = "feasible"
    infeasible = "infeasible"
    error = "error"


class Decision(StrEnum):
    approved = "approved"
    rejected = "rejected"


class Run(Versioned, Timestamped, Base):
    __tablename__ = "run"
    __table_args__ = (
        sa.UniqueConstraint("round_id", "number"),
        sa.CheckConstraint("number >= 1", name="number_positive"),
        # At most one binding (approved) run per round, enforced by the database.
        sa.Index(
            "uq_run_round_id_binding",
            "round_id",
            unique=True,
            sqlite_where=sa.text("binding"),
            postgresql_where=sa.text("binding"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("round.id"))
    number: Mapped[int]
    status: Mapped[RunStatus] = mapped_column(
        str_enum(RunStatus, "status"), default=RunStatus.queued
    )
    # The frozen contract-v1 problem document; never changed once written.
    problem: Mapped[dict[str, Any]] = mapped_column(json_column())
    plan: Mapped[dict[str, Any] | None] = mapped_column(json_column())
    plan_status: Mapped[PlanStatus | None] = mapped_column(str_enum(PlanStatus, "plan_status"))
    objective: Mapped[float | None] = mapped_column(sa.Float)
    money_cost: Mapped[Decimal | None] = mapped_column(Money)
    solver_stats: Mapped[dict[str, Any] | None] = mapped_column(json_column())
    progress: Mapped[dict[str, Any] | None] = mapped_column(json_column())
    triggered_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"))
    error: Mapped[str | None] = mapped_column(sa.Text)
    started_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # True for the one approved run of a round; that run is immutable from then on.
    binding: Mapped[bool] = mapped_column(default=False)
    approved_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)

    round: Mapped[Round] = relationship()
    triggered_by: Mapped[User] = relationship()
    approvals: Mapped[list[Approval]] = relationship(
        back_populates="run", order_by="Approval.id", lazy="selectin"
    )


class Approval(Base):
    """A chief of mission's decision on their agency's share of a run. One per agency."""

    __tablename__ = "approval"
    __table_args__ = (
        sa.UniqueConstraint("run_id", "agency_id"),
        sa.CheckConstraint(
            "decision <> 'rejected' OR reason IS NOT NULL", name="rejection_has_reason"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("run.id"))
    agency_id: Mapped[str] = mapped_column(sa.ForeignKey("agency.id"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"))
    decision: Mapped[Decision] = mapped_column(str_enum(Decision, "decision"))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    run: Mapped[Run] = relationship(back_populates="approvals")
    agency: Mapped[Agency] = relationship()
    user: Mapped[User] = relationship()


class CoalitionStatus(StrEnum):
    pending = "pending"  # its batch job has not stored it yet
    done = "done"  # solved for this run (by its batch job, or by the run's job: singles)
    reused = "reused"  # copied from an earlier run of the round with the same sub-problem


class StoredCoalition(Base):
    """One coalition's value v(S) for a run with fairness checked (``app.runs.coalitions``).

    ``coalition`` is the members' agency ids, sorted, as a JSON list: one row per
    (run, coalition), so a batch delivered twice stores nothing twice.
    ``sub_problem`` hashes the document cut down to the coalition's needs: an
    equal hash in a later run of the round means the same value.
    """

    __tablename__ = "coalition_value"
    __table_args__ = (sa.UniqueConstraint("run_id", "coalition"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("run.id"), index=True)
    coalition: Mapped[str] = mapped_column(sa.Text)
    size: Mapped[int]
    status: Mapped[CoalitionStatus] = mapped_column(str_enum(CoalitionStatus, "status"))
    sub_problem: Mapped[str] = mapped_column(sa.String(64), index=True)
    # The batch job that solves it (null for the singles the run's own job solved).
    job_id: Mapped[int | None] = mapped_column(sa.ForeignKey("job.id"), index=True)
    value: Mapped[dict[str, Any] | None] = mapped_column(json_column())
    stored_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
