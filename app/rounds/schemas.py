"""Request and response bodies of the rounds routes.

A round's ``settings`` are contract-v1 ``settings`` (see
/work/shared/contract/problem-v1.md): validated by the solver's own ``Settings``
model, so a round never stores settings its runs would refuse, plus two rules
the solver leaves lax because documents from other tools may carry them: an
unknown key is refused (a typo such as ``late_penalty_rat`` would otherwise be
ignored silently), and so is an unknown priority weight.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    computed_field,
    field_validator,
    model_validator,
)

from app.api.params import IsoAwareDateTime, IsoDate
from app.db import utcnow
from app.rounds.cron import check_cron, zone
from app.rounds.models import RoundStatus
from solver.problem import PriorityWeights as SolverPriorityWeights
from solver.problem import Settings as SolverSettings

CURRENCY = r"^[A-Z]{3}$"


def _drop_nulls(value: Any) -> Any:
    # Contract v1: "a null setting takes its default". Dropping the key leaves it
    # unset, so the stored settings keep only what the coordinator chose.
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if v is not None}
    return value


# What a round's runs use where the round's settings are silent, beyond the contract's
# own defaults: a pooling round is checked for a coalition that would do better alone.
ROUND_DEFAULT_SETTINGS: Mapping[str, Any] = {"fairness": "core"}


def effective_round_settings(stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """The settings a round's run uses: those set, the round's defaults, the contract's.

    The one reading of a round's settings for its readers (the API's
    ``effective_settings``, the round page); the snapshot merges the same defaults.
    """
    merged = {**ROUND_DEFAULT_SETTINGS, **_drop_nulls(dict(stored or {}))}
    settings: dict[str, Any] = SolverSettings.model_validate(merged).model_dump(mode="json")
    return settings


class RoundPriorityWeights(SolverPriorityWeights):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _nulls_take_defaults(cls, value: Any) -> Any:
        return _drop_nulls(value)


class RoundSettings(SolverSettings):
    """Contract-v1 settings; every field optional, a null takes its default."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "late_penalty_rate": 0.02,
                    "priority_weights": {"critical": 20},
                    "allocation": "proportional",
                }
            ]
        },
    )

    priority_weights: RoundPriorityWeights = Field(default_factory=RoundPriorityWeights)

    @model_validator(mode="before")
    @classmethod
    def _nulls_take_defaults(cls, value: Any) -> Any:
        return _drop_nulls(value)


def _in_the_future(value: dt.datetime) -> dt.datetime:
    if value <= utcnow():
        raise ValueError("must be in the future")
    return value


Deadline = Annotated[
    IsoAwareDateTime,
    AfterValidator(_in_the_future),
    Field(description="when needs stop being accepted; ISO 8601 with a time zone, in the future"),
]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Currency = Annotated[str, Field(pattern=CURRENCY, description="ISO 4217 code, e.g. USD")]


# Update bodies: a field left out stays as it is (the service reads ``exclude_unset``).
_KEEP: Any = None


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


_ROUND_EXAMPLE: dict[str, Any] = {
    "name": "Darién PPE and WASH, December 2026",
    "deadline": "2026-12-05T23:00:00-05:00",
    "as_of": "2026-12-07",
    "currency": "USD",
    "settings": {"late_penalty_rate": 0.02, "priority_weights": {"critical": 20}},
}


class RoundCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_ROUND_EXAMPLE]})

    name: Name
    deadline: Deadline
    as_of: IsoDate | None = Field(
        default=None,
        description="the day pooled orders are placed from (the problem's as_of); "
        "null = the day the round closes",
    )
    currency: Currency = "USD"
    settings: RoundSettings = Field(default_factory=RoundSettings)

    _strip_name = field_validator("name", mode="before")(_strip)


class RoundUpdate(BaseModel):
    """Fields left out stay as they are. ``settings`` replaces the round's settings whole."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"deadline": "2026-12-08T23:00:00-05:00"},
                {"settings": {"unmet_penalty_rate": 12.0}},
            ]
        },
    )

    # Left out = kept; null is refused (below), so the schema does not offer it either.
    name: Name = _KEEP
    deadline: Deadline = _KEEP
    as_of: IsoDate | None = Field(default=None, description="null resets it to the closing day")
    currency: Currency = _KEEP
    settings: RoundSettings = _KEEP

    _strip_name = field_validator("name", mode="before")(_strip)

    @field_validator("name", "deadline", "currency", "settings", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Only as_of may be cleared; for the others null would mean nothing sensible.
        if value is None:
            raise ValueError("may not be null; leave the field out to keep it")
        return value


class RoundRead(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    **_ROUND_EXAMPLE,
                    "id": 4,
                    "status": "open",
                    "deadline": "2026-12-06T04:00:00Z",
                    "effective_settings": {
                        "order_processing_days": 5,
                        "late_penalty_rate": 0.02,
                        "unmet_penalty_rate": 10.0,
                        "priority_weights": {"critical": 20.0, "high": 3.0, "normal": 1.0},
                        "time_limit_seconds": 60.0,
                        "relative_gap": 0.0001,
                        "allocation": "usage",
                        "fairness": "core",
                    },
                    "created_by_id": 2,
                    "closed_at": None,
                    "created_at": "2026-11-28T21:30:00Z",
                    "updated_at": "2026-11-28T21:30:00Z",
                }
            ]
        },
    )

    id: int
    name: str
    status: RoundStatus
    deadline: dt.datetime
    as_of: dt.date | None
    currency: str
    settings: dict[str, Any] = Field(description="the settings the coordinator set")
    created_by_id: int
    closed_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @computed_field(description="the settings a run uses: those set, defaults for the rest")
    def effective_settings(self) -> dict[str, Any]:
        return effective_round_settings(self.settings)


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
