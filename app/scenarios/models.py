"""Scenarios: a run's problem solved again with other settings, as a job of its own."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.db import Base, Money, Timestamped, Versioned, json_column, str_enum
from app.jobs.models import Job, JobState
from app.runs.models import PlanStatus, Run


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
    job: Mapped[Job] = relationship(uselist=False, lazy="joined")

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
