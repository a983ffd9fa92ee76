"""Jobs (every optimisation the service runs in the background), scenarios, schedule firings.

A job is the execution record of one solve: a round's run (``kind = run``) or
one scenario of a run (``kind = scenario``, frontier points included). The
run or scenario holds the result; the job holds how the solve went: its state,
attempts, lease, progress and cancellation flag.

Every write to a job is a conditional ``UPDATE`` (``app.jobs.service``), never
an ORM flush: workers on several machines race for the same row, and the
``WHERE`` clause (state, claim token) is what makes a claim or a completion
happen once. ``version`` is bumped by each of them, so the ETag moves.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.db import Base, Money, Timestamped, UtcDateTime, Versioned, json_column, str_enum, utcnow
from app.rounds.models import Round
from app.runs.models import PlanStatus, Run


class JobState(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


FINISHED = frozenset({JobState.succeeded, JobState.failed, JobState.cancelled})


class JobKind(StrEnum):
    run = "run"
    scenario = "scenario"


class ScenarioKind(StrEnum):
    scenario = "scenario"
    # One point of a run's cost-versus-lateness frontier.
    frontier = "frontier"


class Scenario(Versioned, Timestamped, Base):
    """A run's problem solved again with other settings; its figures are kept beside the plan."""

    __tablename__ = "scenario"
    __table_args__ = (
        # A frontier has one point per lateness weight.
        sa.Index(
            "uq_scenario_run_id_frontier_rate",
            "run_id",
            "late_penalty_rate",
            unique=True,
            sqlite_where=sa.text("kind = 'frontier'"),
            postgresql_where=sa.text("kind = 'frontier'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("run.id"), index=True)
    kind: Mapped[ScenarioKind] = mapped_column(str_enum(ScenarioKind, "kind"))
    name: Mapped[str] = mapped_column(sa.String(200))
    # What the coordinator asked for, and the contract-v1 settings it resolved to.
    overrides: Mapped[dict[str, Any]] = mapped_column(json_column())
    settings: Mapped[dict[str, Any]] = mapped_column(json_column())
    late_penalty_rate: Mapped[float] = mapped_column(sa.Float)
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"))
    plan: Mapped[dict[str, Any] | None] = mapped_column(json_column())
    plan_status: Mapped[PlanStatus | None] = mapped_column(str_enum(PlanStatus, "plan_status"))
    objective: Mapped[float | None] = mapped_column(sa.Float)
    money_cost: Mapped[Decimal | None] = mapped_column(Money)
    late_unit_days: Mapped[int | None] = mapped_column(sa.BigInteger)
    unmet_units: Mapped[int | None] = mapped_column(sa.BigInteger)
    relative_gap: Mapped[float | None] = mapped_column(sa.Float)
    error: Mapped[str | None] = mapped_column(sa.Text)

    run: Mapped[Run] = relationship()
    created_by: Mapped[User] = relationship()
    job: Mapped[Job] = relationship(back_populates="scenario", uselist=False, lazy="joined")

    # Read through to the job, so a scenario reads as one resource.
    @property
    def state(self) -> JobState:
        return self.job.state

    @property
    def job_id(self) -> int:
        return self.job.id

    @property
    def progress(self) -> dict[str, Any] | None:
        return self.job.progress


class Job(Base):
    __tablename__ = "job"
    __table_args__ = (
        # One job solves a run; a re-run is a new run, a redelivery the same job again.
        sa.Index(
            "uq_job_run_id_run",
            "run_id",
            unique=True,
            sqlite_where=sa.text("kind = 'run'"),
            postgresql_where=sa.text("kind = 'run'"),
        ),
        sa.CheckConstraint(
            "(kind = 'scenario') = (scenario_id IS NOT NULL)", name="scenario_matches_kind"
        ),
        sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        sa.CheckConstraint("time_limit_seconds > 0", name="time_limit_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[JobKind] = mapped_column(str_enum(JobKind, "kind"))
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("run.id"), index=True)
    scenario_id: Mapped[int | None] = mapped_column(sa.ForeignKey("scenario.id"), unique=True)
    state: Mapped[JobState] = mapped_column(
        str_enum(JobState, "state"), default=JobState.queued, index=True
    )
    # Claims so far: 2 or more means a worker died (or lost its lease) and another took over.
    attempts: Mapped[int] = mapped_column(default=0)
    time_limit_seconds: Mapped[float] = mapped_column(sa.Float)
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    # The fencing token of the current attempt: only its holder may complete the job.
    claim_token: Mapped[str | None] = mapped_column(sa.String(64))
    worker: Mapped[str | None] = mapped_column(sa.String(200))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # When the job was last handed to a backend; null = still to hand over (outbox).
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    progress: Mapped[dict[str, Any] | None] = mapped_column(json_column())
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    # Bumped by every conditional UPDATE (see the module docstring): the ETag.
    version: Mapped[int] = mapped_column(default=1)

    run: Mapped[Run] = relationship()
    scenario: Mapped[Scenario | None] = relationship(back_populates="job")
    created_by: Mapped[User] = relationship()


class ScheduleFiring(Base):
    """A scheduled round closing at its deadline. One per round: the database says so."""

    __tablename__ = "schedule_firing"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("round.id"), unique=True)
    deadline: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    fired_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    fired_by: Mapped[str] = mapped_column(sa.String(200))
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("run.id"))
    # The next window a recurring round opened.
    next_round_id: Mapped[int | None] = mapped_column(sa.ForeignKey("round.id"), unique=True)
    # Why the round could not be closed (its snapshot is invalid): it stays open.
    error: Mapped[str | None] = mapped_column(sa.Text)

    round: Mapped[Round] = relationship(foreign_keys=[round_id])


class SchedulerLease(Base):
    """Which process sweeps (fires schedules, re-dispatches jobs) for now: one at a time."""

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(sa.String(200))
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
