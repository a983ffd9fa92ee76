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
        return SolverSettings.model_validate(_drop_nulls(self.settings or {})).model_dump(
            mode="json"
        )
