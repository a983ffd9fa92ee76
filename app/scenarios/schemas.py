"""Request and response bodies of the scenario and frontier routes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from app.jobs.models import JobState
from app.runs.models import PlanStatus
from app.runs.schemas import RunSettingsOverride
from app.scenarios.models import ScenarioKind
from app.sourcing.whatif import SourcingChanges

# ------------------------------------------------------------------------ scenarios

# 0 is allowed: it ignores lateness (a cost-only plan), as ``late_penalty_rate`` 0 does.
Factor = Annotated[float, Field(ge=0, le=1000, strict=True, allow_inf_nan=False)]


class ScenarioCreate(BaseModel):
    """A what-if of a run: its problem solved again with other settings, as a job of its own."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "cost only", "settings": {"late_penalty_rate": 0}},
                {"name": "lateness weighs ten times more", "late_penalty_factor": 10},
                {"name": "orders processed in 2 days", "settings": {"order_processing_days": 2}},
                {"name": "without the two-supplier rule", "sourcing": {"drop_rule": "r-3"}},
            ]
        },
    )

    # Stripped first (below), so it must hold more than blanks.
    name: Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]
    settings: RunSettingsOverride | None = Field(
        default=None, description="contract-v1 settings merged onto the run's own"
    )
    late_penalty_factor: Factor | None = Field(
        default=None,
        description="multiplies the late penalty rate (after `settings`): 10 weighs lateness "
        "ten times more, 0 ignores it",
    )
    sourcing: SourcingChanges | None = Field(
        default=None,
        description="drop or change one rule, change one agency's budget (contract v2); "
        "the allocation rule is `settings.allocation`",
    )

    @field_validator("name", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value


_SCENARIO_EXAMPLE: dict[str, Any] = {
    "id": 31,
    "run_id": 7,
    "kind": "scenario",
    "name": "cost only",
    "overrides": {"settings": {"late_penalty_rate": 0}},
    "late_penalty_rate": 0.0,
    "state": "succeeded",
    "plan_status": "optimal",
    "objective": 184210.5,
    "money_cost": 184210.5,
    "late_unit_days": 20480,
    "unmet_units": 0,
    "relative_gap": 0.0,
    "error": None,
    "job_id": 44,
    "created_at": "2026-12-01T14:05:00Z",
}


class ScenarioSummary(BaseModel):
    model_config = ConfigDict(
        from_attributes=True, json_schema_extra={"examples": [_SCENARIO_EXAMPLE]}
    )

    id: int
    run_id: int
    kind: ScenarioKind
    name: str
    overrides: dict[str, Any] = Field(description="what was asked for")
    late_penalty_rate: float = Field(description="the lateness weight it was solved with")
    state: JobState = Field(description="its job's state")
    plan_status: PlanStatus | None
    objective: float | None
    money_cost: float | None = Field(description="purchase + shipping")
    late_unit_days: int | None = Field(description="units times days late, unweighted")
    unmet_units: int | None
    relative_gap: float | None
    error: str | None
    job_id: int
    created_at: dt.datetime


class ScenarioRead(ScenarioSummary):
    settings: dict[str, Any] = Field(description="the contract-v1 settings it was solved with")
    plan: dict[str, Any] | None = Field(description="the plan document, contract v1")
    progress: dict[str, Any] | None


# ------------------------------------------------------------------------- frontier

Rate = Annotated[float, Field(ge=0, le=1e6, strict=True, allow_inf_nan=False)]


def _distinct(values: list[float]) -> list[float]:
    if len(set(values)) != len(values):
        raise ValueError("each lateness weight once")
    return sorted(values)


class FrontierCreate(BaseModel):
    """The lateness weights to solve the run at; points already solved are kept."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"late_penalty_rates": [0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5]},
            ]
        },
    )

    late_penalty_rates: Annotated[
        list[Rate],
        # uniqueItems: the schema says what _distinct enforces.
        Field(min_length=2, max_length=25, json_schema_extra={"uniqueItems": True}),
        AfterValidator(_distinct),
    ] = Field(
        default_factory=lambda: [0.0, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25],
        description="contract-v1 late_penalty_rate values (per unit-day, as a fraction of the "
        "item's reference price)",
    )


class FrontierPoint(BaseModel):
    late_penalty_rate: float
    scenario_id: int
    state: JobState
    money_cost: float | None
    late_unit_days: int | None
    unmet_units: int | None
    objective: float | None
    plan_status: PlanStatus | None
    relative_gap: float | None
    efficient: bool | None = Field(
        description="no other solved point costs no more money and is no later (null while "
        "not solved)"
    )


class FrontierRead(BaseModel):
    """Money cost against late unit-days as lateness weighs more: the trade-off, as data."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "run_id": 7,
                    "currency": "USD",
                    "complete": True,
                    "points": [
                        {
                            "late_penalty_rate": 0.0,
                            "scenario_id": 51,
                            "state": "succeeded",
                            "money_cost": 184210.5,
                            "late_unit_days": 20480,
                            "unmet_units": 0,
                            "objective": 184210.5,
                            "plan_status": "optimal",
                            "relative_gap": 0.0,
                            "efficient": True,
                        },
                        {
                            "late_penalty_rate": 0.1,
                            "scenario_id": 52,
                            "state": "succeeded",
                            "money_cost": 191388.9,
                            "late_unit_days": 1200,
                            "unmet_units": 0,
                            "objective": 193012.0,
                            "plan_status": "optimal",
                            "relative_gap": 0.0,
                            "efficient": True,
                        },
                    ],
                }
            ]
        }
    )

    run_id: int
    currency: str
    complete: bool = Field(description="every point's job has ended")
    points: list[FrontierPoint] = Field(description="by lateness weight, lowest first")
