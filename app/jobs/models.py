"""Jobs: every optimisation the service runs in the background, and the sweeper's lease.

A job is the execution record of one solve: a round's run (``kind = run``) or
one scenario of a run (``kind = scenario``, frontier points included). The
run or scenario holds the result; the job holds how the solve went: its state,
attempts, lease, progress and cancellation flag. What a kind does with its
result is its domain's handler (``app.jobs.registry``); this module imports no
domain: the run and scenario columns (kept as migration 0002 made them) name
their tables, not their models.

Every write to a job is a conditional ``UPDATE`` (``app.jobs.service``), never
an ORM flush: workers on several machines race for the same row, and the
``WHERE`` clause (state, claim token) is what makes a claim or a completion
happen once. ``version`` is bumped by each of them, so the ETag moves.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.db import Base, UtcDateTime, json_column, str_enum, utcnow


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
    # A batch of a run's coalitions (fairness): values stored by their domain's handler.
    coalitions = "coalitions"


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

    created_by: Mapped[User] = relationship()


class SchedulerLease(Base):
    """Which process sweeps (fires schedules, re-dispatches jobs) for now: one at a time."""

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(sa.String(200))
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
