"""Request and response bodies of capacity groups, award rules, exclusions and budgets.

Field-level rules live here; the rules across fields and rows (a group's offers are
its supplier's; a rule's fields match its kind; references exist) live in
``service`` so they are listed together with these, for every caller.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field

from app.catalogue.schemas import (
    _KEEP,
    INT32_MAX,
    AgencyCode,
    Code,
    MoneyIn,
    MoneyOut,
    Name,
    PositiveMoneyIn,
    Quantity,
    RequestBody,
    RowRead,
    Share,
    _text,
    _whole_number,
)
from app.sourcing.rules import RuleKind

MAX_TEXT = 4000
MAX_GROUP_OFFERS = 500

# Text that must say something once blanks are stripped.
Text = Annotated[str, _text(MAX_TEXT)]
OfferId = Annotated[int, BeforeValidator(_whole_number), Field(ge=1, le=INT32_MAX)]
Limit = Annotated[
    int,
    BeforeValidator(_whole_number),
    Field(ge=0, le=1000, description="suppliers: at most (max_suppliers) or at least (min_)"),
]
Penalty = Annotated[
    PositiveMoneyIn,
    Field(
        description="objective units per supplier over/under the limit (count kinds) "
        "or per unit over/under the share (share kinds)",
    ),
]

# ----------------------------------------------------------------- capacity groups


class CapacityGroupCreate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "supplier_id": "sup-001",
                    "name": "Colón plant, masks and gowns",
                    "capacity": 20000,
                    "offer_ids": [12, 17],
                }
            ]
        },
    )

    supplier_id: Code
    name: Name
    capacity: Quantity = Field(description="most units the group's offers deliver together")
    offer_ids: list[OfferId] = Field(
        min_length=1, max_length=MAX_GROUP_OFFERS, description="offers of this supplier"
    )


class CapacityGroupUpdate(RequestBody):
    """Fields left out stay as they are; ``offer_ids`` replaces the members at once."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"capacity": 25000}]})

    name: Name = _KEEP
    capacity: Quantity = _KEEP
    offer_ids: list[OfferId] = Field(default=_KEEP, min_length=1, max_length=MAX_GROUP_OFFERS)


class CapacityGroupRead(RowRead):
    id: int
    supplier_id: str
    name: str
    capacity: int
    offer_ids: list[int]
    created_at: dt.datetime
    updated_at: dt.datetime


# --------------------------------------------------------------------- award rules


_RULE_EXAMPLE: dict[str, Any] = {
    "kind": "min_suppliers",
    "item_id": "test-rdt-covid",
    "location_id": "pa-darien-lajas-blancas",
    "limit": 2,
    "penalty": 2000,
    "reason": "supply risk: at least two suppliers for rapid tests",
}


class AwardRuleCreate(RequestBody):
    """``limit`` for the count kinds, ``supplier_id`` and ``share`` for the share kinds."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                _RULE_EXAMPLE,
                {
                    "kind": "min_share",
                    "item_id": "food-parcel",
                    "supplier_id": "sup-001",
                    "share": 0.3,
                    "penalty": 4,
                    "reason": "UNHCR's long-term agreement commits 30% of parcels to sup-001",
                },
            ]
        },
    )

    kind: RuleKind
    item_id: Code
    location_id: Code | None = Field(default=None, description="null: every location")
    supplier_id: Code | None = Field(default=None, description="the share kinds' supplier")
    limit: Limit | None = None
    share: Share | None = None
    penalty: Penalty
    reason: Text = Field(description="why the group keeps the rule")


class AwardRuleUpdate(RequestBody):
    """Fields left out stay as they are. Kind and item make the rule: not editable."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"limit": 3, "reason": "a third supplier qualified"}]},
    )

    location_id: Code | None = None
    supplier_id: Code | None = None
    limit: Limit | None = None
    share: Share | None = None
    penalty: Penalty = _KEEP
    reason: Text = _KEEP


class AwardRuleRead(RowRead):
    model_config = ConfigDict(json_schema_extra={"examples": [{"id": 3, **_RULE_EXAMPLE}]})

    id: int
    kind: RuleKind
    item_id: str
    location_id: str | None
    supplier_id: str | None
    limit: int | None
    share: MoneyOut | None
    penalty: MoneyOut
    reason: str
    created_at: dt.datetime
    updated_at: dt.datetime


# ---------------------------------------------------------------- supplier exclusions


class ExclusionCreate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "agency_id": "UNHCR",
                    "supplier_id": "sup-009",
                    "evidence": "failed the 2026 integrity due diligence (sanctions list match)",
                    "source": "UNHCR vendor review committee, minute 2026/41",
                }
            ]
        },
    )

    agency_id: AgencyCode = Field(description="the agency whose vetting excludes the supplier")
    supplier_id: Code
    evidence: Text = Field(description="the finding")
    source: Text = Field(description="where it is recorded")


class ExclusionRead(RowRead):
    id: int
    agency_id: str
    supplier_id: str
    evidence: str
    source: str
    created_by_id: int
    created_at: dt.datetime
    updated_at: dt.datetime


# ------------------------------------------------------------------------- budgets


class BudgetCreate(RequestBody):
    """The agency is the chief of mission's own: it is never in the body."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"amount": 250000, "note": "CERF allocation 26-RR-PAN-001, PPE line"}]
        },
    )

    amount: MoneyIn = Field(description="cap on the agency's direct spend in the round")
    note: Text | None = None


class BudgetUpdate(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"amount": 180000}]})

    amount: MoneyIn = _KEEP
    note: Text | None = None


class BudgetRead(RowRead):
    id: int
    round_id: int
    agency_id: str
    amount: MoneyOut
    note: str | None
    set_by_id: int
    set_at: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime
