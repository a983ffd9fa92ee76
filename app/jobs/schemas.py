"""Request and response bodies of the jobs, scenarios, frontier and schedule routes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
)

from app.api.params import IsoAwareDateTime
from app.jobs.models import JobKind, JobState, ScenarioKind
from app.jobs.schedules import check_cron, zone
from app.runs.models import PlanStatus
from app.runs.schemas import RunSettingsOverride

# ----------------------------------------------------------------------------- jobs

_JOB_EXAMPLE: dict[str, Any] = {
    "id": 12,
    "kind": "run",
    "run_id": 7,
    "scenario_id": None,
    "state": "running",
    "attempts": 1,
    "time_limit_seconds": 60.0,
    "cancel_requested": False,
    "worker": "worker-2:4121:77",
    "lease_until": "2026-12-01T14:00:32Z",
    "error": None,
    "created_at": "2026-12-01T14:00:00Z",
    "started_at": "2026-12-01T14:00:01Z",
    "finished_at": None,
}


class JobSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_JOB_EXAMPLE]})

    id: int
    kind: JobKind = Field(description="run: a round's run; scenario: a scenario or frontier point")
    run_id: int
    scenario_id: int | None
    state: JobState
    attempts: int = Field(description="workers that took it; 2 or more means one was lost")
    time_limit_seconds: float = Field(description="per solve (pooled and each stand-alone)")
    cancel_requested: bool
    worker: str | None = Field(description="host:process:thread holding (or that last held) it")
    lease_until: dt.datetime | None = Field(
        description="while running: when the job is taken from a worker that stopped beating"
    )
    error: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class JobRead(JobSummary):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_JOB_EXAMPLE,
                    "progress": {
                        "state": "running",
                        "attempt": 1,
                        "elapsed_seconds": 4.2,
                        "pooled": {
                            "seconds": 4.1,
                            "incumbent": 191520.4,
                            "bound": 190870.0,
                            "gap": 0.0034,
                            "done": False,
                        },
                        "standalone": {
                            "IOM": {
                                "seconds": 1.2,
                                "incumbent": 20512.0,
                                "bound": 20512.0,
                                "gap": 0.0,
                                "done": True,
                            }
                        },
                        "history": [
                            {
                                "seconds": 1.0,
                                "incumbent": 201340.0,
                                "bound": 185000.0,
                                "gap": 0.0811,
                            }
                        ],
                    },
                }
            ]
        }
    )

    progress: dict[str, Any] | None = Field(
        description="the solver's incumbent, bound and gap: latest of the pooled solve and of "
        "each agency's stand-alone baseline, and the pooled solve's history over time"
    )


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


# ------------------------------------------------------------------------ schedules


def _zone(value: str) -> str:
    zone(value)
    return value


# The forms the schema states. A zone's name is Area/Location (or a plain name such as
# UTC); which names exist is the IANA database's, which changes with its releases, so the
# schema gives the form and the service checks the name (422 for one that is unknown).
ZONE_NAME = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9][A-Za-z0-9_+-]*){0,2}$"


def _cron_field(value: str, names: str = "") -> str:
    item = rf"(\*|{value}(-{value})?)(/[1-9][0-9]?)?"
    if names:
        item = rf"({item}|{names}(-{names})?)"
    return rf"{item}(,{item})*"


# Five fields of numbers, ranges, lists and steps (* or a range, then /step), with
# three-letter English names for months and weekdays. What the grammar cannot rule out
# is checked by the service: a range that runs backwards (5-1), a day no listed month has
# (30 2). Only what this pattern allows is taken.
CRON = (
    "^"
    + " ".join(
        (
            _cron_field("[0-5]?[0-9]"),
            _cron_field("([01]?[0-9]|2[0-3])"),
            _cron_field("(0?[1-9]|[12][0-9]|3[01])"),
            _cron_field("(0?[1-9]|1[0-2])", "(JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC)"),
            _cron_field("[0-7]", "(SUN|MON|TUE|WED|THU|FRI|SAT)"),
        )
    )
    + "$"
)


def _cron(value: str | None) -> str | None:
    return None if value is None else check_cron(value)


class ScheduleSet(BaseModel):
    """A round's schedule: it closes by itself at its deadline; with a cron, it recurs."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"cron": "0 17 * * 5", "timezone": "America/Panama"},
                {"timezone": "America/Panama", "deadline": "2026-12-05T17:00:00-05:00"},
            ]
        },
    )

    timezone: Annotated[
        str,
        Field(
            max_length=64,
            pattern=ZONE_NAME,
            examples=["America/Panama"],
            description="an IANA time zone name",
        ),
        AfterValidator(_zone),
    ]
    cron: Annotated[
        str | None,
        Field(
            default=None,
            max_length=100,
            pattern=CRON,
            description="minute hour day-of-month month day-of-week, in `timezone`; each time "
            "is a window's deadline. Null: close once, at the deadline, and do not recur",
        ),
        AfterValidator(_cron),
    ] = None
    deadline: IsoAwareDateTime | None = Field(
        default=None,
        description="this window's deadline; default: the cron's next time (without a cron, "
        "the round's own deadline)",
    )


class FiringRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    round_id: int
    deadline: dt.datetime
    fired_at: dt.datetime
    fired_by: str
    run_id: int | None = Field(description="the run the close queued")
    next_round_id: int | None = Field(description="the next window a recurring round opened")
    error: str | None = Field(description="why the round could not be closed")


class ScheduleRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "round_id": 4,
                    "scheduled": True,
                    "timezone": "America/Panama",
                    "cron": "0 17 * * 5",
                    "deadline": "2026-12-04T22:00:00Z",
                    "upcoming_deadlines": ["2026-12-04T22:00:00Z", "2026-12-11T22:00:00Z"],
                    "firing": None,
                    "previous_round_id": 3,
                }
            ]
        }
    )

    round_id: int
    scheduled: bool = Field(description="the round closes by itself at its deadline")
    timezone: str | None
    cron: str | None
    deadline: dt.datetime
    upcoming_deadlines: list[dt.datetime] = Field(
        description="this window's deadline and the next windows' (recurring rounds)"
    )
    firing: FiringRead | None = Field(description="set once the schedule closed the round")
    previous_round_id: int | None = Field(description="the window this round follows")
