"""Request and response bodies of the needs routes: needs, priority reviews, duplicates, 3W.

``NeedCreate`` and ``NeedUpdate`` check each field on its own. The rules that
need the database or the need as stored (the item and location exist, a
critical or high need carries a justification) are in ``app.needs.service``,
which runs them together with these so that one 422 lists every problem.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, field_validator

from app.api.params import IsoDate, WholeNumber
from app.db import utcnow
from app.needs.models import NeedStatus, Priority
from app.rounds.models import RoundStatus
from solver import problem

# Two agencies' submitted needs for the same item and location are flagged as
# possible duplicates when their need-by dates are at most this many days apart.
# A need has one date, so "overlapping" is read as "served by the same pooled
# delivery": the contract's default order processing (5 days) plus a typical
# lead time and transit (about 10) is two weeks, and a round's orders go out
# together, so needs due within 14 days of each other would arrive on the same
# trucks. Wider windows flag the routine monthly replenishments of neighbouring
# agencies that are not duplicates; narrower ones miss a need entered for the
# same distribution with a week's slack.
DUPLICATE_WINDOW_DAYS = 14

# What a round's problem document takes (contract v1): a need the round accepts must
# be one the round can solve, or its snapshot breaks and the round cannot close.
MAX_QUANTITY = problem.MAX_UNITS
LATEST_NEED_BY = dt.date(problem.LATEST_YEAR, 12, 31)
MAX_TEXT = 4000

PRIORITIES_NEEDING_JUSTIFICATION = frozenset({Priority.critical, Priority.high})


_KEEP: Any = None


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _not_in_the_past(value: dt.date) -> dt.date:
    if value < utcnow().date():
        raise ValueError("must not be in the past")
    if value > LATEST_NEED_BY:
        raise ValueError(f"must be no later than {LATEST_NEED_BY.isoformat()}")
    return value


# Text that must say something: blanks are stripped, so a blank-only text is empty.
SAYS_SOMETHING = r"\S"

Code = Annotated[str, Field(min_length=1, max_length=64, pattern=SAYS_SOMETHING)]
Quantity = Annotated[
    WholeNumber,
    Field(gt=0, le=MAX_QUANTITY, description="whole units of the item's unit, > 0"),
]
NeedBy = Annotated[
    IsoDate,
    AfterValidator(_not_in_the_past),
    Field(
        description="the day the units must be at the location (ISO date, not in the past, "
        f"at the latest {LATEST_NEED_BY.isoformat()})"
    ),
]
Justification = Annotated[
    str,
    Field(
        max_length=MAX_TEXT,
        description="why the need and its priority; required for critical and high",
    ),
]

_NEED_EXAMPLE: dict[str, Any] = {
    "item_id": "ppe-mask-n95",
    "location_id": "pa-darien-lajas-blancas",
    "quantity": 5000,
    "need_by": "2026-12-20",
    "priority": "critical",
    "justification": "respiratory outbreak among new arrivals; clinic stock covers 3 days",
}


# The justification rule as JSON Schema, so clients (and the contract fuzzing) see it:
# a critical or high need carries a justification that is not blank.
_JUSTIFIED: dict[str, Any] = {
    "if": {
        "properties": {
            "priority": {"enum": sorted(p.value for p in PRIORITIES_NEEDING_JUSTIFICATION)}
        },
        "required": ["priority"],
    },
    "then": {
        "properties": {"justification": {"pattern": SAYS_SOMETHING}},
        "required": ["justification"],
    },
}


class NeedCreate(BaseModel):
    """A need of the caller's own agency; the agency is taken from the caller, never sent."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [_NEED_EXAMPLE, {**_NEED_EXAMPLE, "submit": True}],
            **_JUSTIFIED,
        },
    )

    item_id: Code
    location_id: Code
    quantity: Quantity
    need_by: NeedBy
    priority: Priority
    justification: Justification = ""
    submit: StrictBool = Field(
        default=False, description="true: create it submitted at once, not as a draft"
    )

    _strip_text = field_validator("item_id", "location_id", "justification", mode="before")(_strip)


class NeedUpdate(BaseModel):
    """Fields left out stay as they are; the need keeps its status (draft or submitted).

    A priority a specialist confirmed stays in force whatever the agency asks
    afterwards: a new ``priority`` here changes what was asked, and a new
    review is what changes the priority runs use.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"quantity": 6500},
                {"priority": "high", "justification": "school term starts 15 January"},
            ]
        },
    )

    # Left out = kept; null is refused (below), so the schema does not offer it either.
    item_id: Code = _KEEP
    location_id: Code = _KEEP
    quantity: Quantity = _KEEP
    need_by: NeedBy = _KEEP
    priority: Priority = _KEEP
    justification: Justification = _KEEP

    _strip_text = field_validator("item_id", "location_id", "justification", mode="before")(_strip)

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null; leave the field out to keep it")
        return value


class DuplicateRef(BaseModel):
    """Another agency's submitted need that may cover the same demand."""

    id: int
    agency_id: str
    quantity: int
    need_by: dt.date


class NeedRead(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    **_NEED_EXAMPLE,
                    "id": 12,
                    "round_id": 4,
                    "agency_id": "IOM",
                    "confirmed_priority": None,
                    "effective_priority": "critical",
                    "status": "submitted",
                    "created_by_id": 9,
                    "submitted_at": "2026-11-28T21:40:00Z",
                    "withdrawn_at": None,
                    "created_at": "2026-11-28T21:35:00Z",
                    "updated_at": "2026-11-28T21:40:00Z",
                    "duplicates": [
                        {"id": 15, "agency_id": "UNHCR", "quantity": 3000, "need_by": "2026-12-24"}
                    ],
                }
            ]
        },
    )

    id: int
    round_id: int
    agency_id: str
    item_id: str
    location_id: str
    quantity: int
    need_by: dt.date
    priority: Priority = Field(description="the priority the agency asked for")
    justification: str
    confirmed_priority: Priority | None = Field(
        description="set by a technical specialist's review; null until reviewed"
    )
    effective_priority: Priority = Field(
        description="the priority runs use: the confirmed one once reviewed, else the asked one"
    )
    status: NeedStatus
    created_by_id: int
    submitted_at: dt.datetime | None
    withdrawn_at: dt.datetime | None
    set_aside_at: dt.datetime | None = Field(
        default=None, description="when a coordinator set it aside (status set_aside)"
    )
    set_aside_by_id: int | None = Field(default=None, description="the coordinator who did")
    set_aside_reason: str | None = Field(
        default=None,
        description="why it is out of the round; correct it and submit it again while the "
        "round is open",
    )
    created_at: dt.datetime
    updated_at: dt.datetime
    duplicates: list[DuplicateRef] = Field(
        default_factory=list,
        description=(
            "possible duplicates: other agencies' submitted needs in the same round for the "
            "same item and location whose need_by is at most "
            f"{DUPLICATE_WINDOW_DAYS} days from this one's (served by the same pooled "
            "delivery). Only a submitted need is checked; a draft or withdrawn need shows []."
        ),
    )


class DuplicatePair(BaseModel):
    """Two agencies' submitted needs flagged as possible duplicates of each other."""

    item_id: str
    location_id: str
    days_apart: int = Field(
        description=f"between the need_by dates, at most {DUPLICATE_WINDOW_DAYS}"
    )
    needs: list[DuplicateRef] = Field(description="the two needs, lower id first")


class PriorityReviewCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "priority": "critical",
                    "evidence": "suspected measles cases up 40% in 4 weeks at Lajas Blancas",
                    "source": "MINSA epidemiological bulletin, week 46",
                }
            ]
        },
    )

    priority: Priority = Field(description="the priority the evidence supports")
    evidence: str = Field(
        min_length=1, max_length=MAX_TEXT, pattern=SAYS_SOMETHING, description="the figure or fact"
    )
    source: str = Field(
        min_length=1, max_length=MAX_TEXT, pattern=SAYS_SOMETHING, description="where it comes from"
    )

    _strip_text = field_validator("evidence", "source", mode="before")(_strip)


class NeedSetAside(BaseModel):
    """Why a coordinator takes a submitted need out of the round."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "reason": "need_by 9999-12-31 cannot be planned; correct the date and "
                    "submit it again"
                }
            ]
        },
    )

    reason: str = Field(
        min_length=1,
        max_length=MAX_TEXT,
        pattern=SAYS_SOMETHING,
        description="shown to the agency on the need, and kept in the audit log",
    )

    _strip_text = field_validator("reason", mode="before")(_strip)


class ReviewerRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    email: str
    agency_id: str | None


class PriorityReviewRead(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 3,
                    "need_id": 12,
                    "priority": "critical",
                    "evidence": "suspected measles cases up 40% in 4 weeks at Lajas Blancas",
                    "source": "MINSA epidemiological bulletin, week 46",
                    "created_at": "2026-11-29T14:02:00Z",
                    "reviewer": {
                        "id": 5,
                        "name": "Dr. Luis Pérez",
                        "email": "lperez@paho.org",
                        "agency_id": "WHO-PAHO",
                    },
                }
            ]
        },
    )

    id: int
    need_id: int
    priority: Priority
    evidence: str
    source: str
    created_at: dt.datetime
    reviewer: ReviewerRead


class ThreeWRow(BaseModel):
    """Who (agency) needs what (item category) where (location), and what was awarded."""

    agency_id: str
    location_id: str
    location_name: str
    region: str | None
    item_category: str
    needs: int = Field(description="submitted needs in this row")
    quantity_needed: int = Field(description="units of the submitted needs")
    quantity_awarded: int = Field(
        description="units awarded by the plan the summary uses; 0 while there is none"
    )


class ThreeWRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "round_id": 4,
                    "round_status": "optimised",
                    "run_id": 7,
                    "run_number": 2,
                    "scope": "all",
                    "rows": [
                        {
                            "agency_id": "IOM",
                            "location_id": "pa-darien-lajas-blancas",
                            "location_name": "Lajas Blancas reception station",
                            "region": "Darién",
                            "item_category": "PPE",
                            "needs": 2,
                            "quantity_needed": 8000,
                            "quantity_awarded": 7500,
                        }
                    ],
                }
            ]
        },
    )

    round_id: int
    round_status: RoundStatus
    run_id: int | None = Field(
        description="the run whose plan gives quantity_awarded: the approved run, else the "
        "latest succeeded one; null when there is none"
    )
    run_number: int | None
    scope: Literal["all", "own_agency"] = Field(
        description="all agencies' rows, or only the caller's agency's (before the round is "
        "optimised, agencies see only their own)"
    )
    rows: list[ThreeWRow]
