"""The problem document of contract v2 (v1 plus optional sourcing fields) as typed data.

A v1 document is a v2 document: every v2 field is optional and, absent, means what
v1 says (no budget, no exclusion, packs of one, no fee, no group, no rule).

These models check types and ranges, field by field. Rules that span fields or
entities (references, duplicate ids, tier order) live in `validation.py`, which
runs them even where a model rejected something else, so that every problem in
a document is reported at once.
"""

import math
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field


class Priority(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    NORMAL = "normal"


class Allocation(StrEnum):
    USAGE = "usage"
    PROPORTIONAL = "proportional"
    LEAST_CORE = "least_core"


class Fairness(StrEnum):
    NONE = "none"
    CORE = "core"


class RuleKind(StrEnum):
    MAX_SUPPLIERS = "max_suppliers"
    MIN_SUPPLIERS = "min_suppliers"
    MAX_SHARE = "max_share"
    MIN_SHARE = "min_share"

    @property
    def counts_suppliers(self) -> bool:
        return self in (RuleKind.MAX_SUPPLIERS, RuleKind.MIN_SUPPLIERS)


def _no_text_or_bool_number(value: Any) -> Any:
    # Pydantic's lax mode would read "5000" or true as numbers; an exchange format
    # used by outside tools should not guess.
    if isinstance(value, bool | str):
        raise ValueError("must be a number, not a string or boolean")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def _iso_date(value: Any) -> Any:
    if not isinstance(value, str | date):
        raise ValueError("must be an ISO date string such as 2026-12-01")
    return value


def _plausible_date(value: date) -> date:
    # Delivery dates add up to decades of days; a year near 9999 would overflow.
    if not 1900 <= value.year <= 9000:
        raise ValueError("must be a date between the years 1900 and 9000")
    return value


# Upper limits keep every coefficient of the model finite and within what HiGHS
# handles without numerical trouble (it treats 1e20 as infinity); they are far
# above anything a procurement round asks for.
MAX_UNITS = 100_000_000
MAX_DAYS = 3_650
MAX_MONEY = 10_000_000.0
MAX_RATE = 1_000.0
# A budget is a right-hand side, not a coefficient: it may be far larger than a price.
MAX_BUDGET = 1e12

Id = Annotated[str, Field(min_length=1, max_length=200)]
_Number = BeforeValidator(_no_text_or_bool_number)
WholeNumber = Annotated[int, _Number, Field(ge=0, le=MAX_UNITS)]
PositiveWholeNumber = Annotated[int, _Number, Field(gt=0, le=MAX_UNITS)]
Days = Annotated[int, _Number, Field(ge=0, le=MAX_DAYS)]
Money = Annotated[float, _Number, Field(ge=0, le=MAX_MONEY)]
Rate = Annotated[float, _Number, Field(ge=0, le=MAX_RATE)]
Budget = Annotated[float, _Number, Field(ge=0, le=MAX_BUDGET)]
Penalty = Annotated[float, _Number, Field(gt=0, le=MAX_MONEY)]
Share = Annotated[float, _Number, Field(gt=0, le=1)]
IsoDate = Annotated[date, BeforeValidator(_iso_date), AfterValidator(_plausible_date)]


def _empty_for_null(value: Any) -> Any:
    return () if value is None else value


class _Entity(BaseModel):
    # Unknown fields are ignored: later minor versions of the contract may add
    # optional fields, and a v1 service must still accept those documents.
    model_config = ConfigDict(frozen=True, extra="ignore")


class Agency(_Entity):
    id: Id
    name: str = ""
    # Cap on the agency's direct spend (its awards' goods, fees and unit shipping).
    budget: Budget | None = None
    excluded_suppliers: Annotated[tuple[Id, ...], BeforeValidator(_empty_for_null)] = ()


class Item(_Entity):
    id: Id
    name: str = ""
    unit: str = ""
    category: str = ""


class Location(_Entity):
    id: Id
    name: str = ""


class Supplier(_Entity):
    id: Id
    name: str = ""


class Need(_Entity):
    id: Id
    agency: Id
    item: Id
    location: Id
    quantity: PositiveWholeNumber
    need_by: IsoDate
    priority: Priority


class PriceTier(_Entity):
    min_quantity: WholeNumber
    unit_price: Money


class Offer(_Entity):
    id: Id
    supplier: Id
    item: Id
    # At least one tier: checked in validation.py, where an empty list is told
    # apart from a list whose every tier was rejected on its own.
    price_tiers: tuple[PriceTier, ...]
    capacity: WholeNumber
    min_order_quantity: WholeNumber = 0
    lead_time_days: Days
    eligible_agencies: tuple[Id, ...] | None = None
    pack_size: Annotated[int, _Number, Field(ge=1, le=MAX_UNITS)] = 1
    fee_rate: Rate = 0.0

    def serves(self, agency: str) -> bool:
        return self.eligible_agencies is None or agency in self.eligible_agencies


class Route(_Entity):
    supplier: Id
    location: Id
    fixed_cost: Money
    unit_cost: Money
    transit_days: Days


class CapacityGroup(_Entity):
    """Capacity shared by several offers (one factory line, one warehouse)."""

    id: Id
    offers: tuple[Id, ...]
    capacity: WholeNumber


class Rule(_Entity):
    """A soft award rule on one item (and location): breaking it costs `penalty` per unit
    of violation. Which of `limit`, `share` and `supplier` a kind needs is checked in
    validation.py, beside the other rules that span fields."""

    id: Id
    kind: RuleKind
    item: Id
    location: Id | None = None
    supplier: Id | None = None
    limit: WholeNumber | None = None
    share: Share | None = None
    penalty: Penalty

    def in_scope(self, item: str, location: str) -> bool:
        return item == self.item and (self.location is None or location == self.location)


DEFAULT_PRIORITY_WEIGHTS: dict[Priority, float] = {
    Priority.CRITICAL: 10.0,
    Priority.HIGH: 3.0,
    Priority.NORMAL: 1.0,
}


def _defaults_for_nulls(value: Any) -> Any:
    # The contract: "a null setting takes its default"; dropping the key lets the
    # field default apply. A null settings object is every setting left null.
    if value is None:
        return {}
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if v is not None}
    return value


class PriorityWeights(_Entity):
    critical: Rate = DEFAULT_PRIORITY_WEIGHTS[Priority.CRITICAL]
    high: Rate = DEFAULT_PRIORITY_WEIGHTS[Priority.HIGH]
    normal: Rate = DEFAULT_PRIORITY_WEIGHTS[Priority.NORMAL]

    def of(self, priority: Priority) -> float:
        return float(getattr(self, priority.value))


class Settings(_Entity):
    order_processing_days: Days = 5
    late_penalty_rate: Rate = 0.01
    unmet_penalty_rate: Rate = 10.0
    priority_weights: Annotated[PriorityWeights, BeforeValidator(_defaults_for_nulls)] = Field(
        default_factory=PriorityWeights
    )
    time_limit_seconds: Annotated[float, _Number, Field(gt=0, le=86_400)] = 60.0
    relative_gap: Annotated[float, _Number, Field(ge=0, le=1)] = 0.0001
    allocation: Allocation = Allocation.USAGE
    fairness: Fairness = Fairness.NONE


class Problem(_Entity):
    # "version": 2 may be given and changes nothing; a version this service does not
    # know is refused rather than read as if it were one it does.
    version: Literal[1, 2] | None = None
    as_of: IsoDate
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    agencies: tuple[Agency, ...] = ()
    items: tuple[Item, ...] = ()
    locations: tuple[Location, ...] = ()
    suppliers: tuple[Supplier, ...] = ()
    needs: tuple[Need, ...] = ()
    offers: tuple[Offer, ...] = ()
    routes: tuple[Route, ...] = ()
    capacity_groups: tuple[CapacityGroup, ...] = ()
    rules: tuple[Rule, ...] = ()
    settings: Annotated[Settings, BeforeValidator(_defaults_for_nulls)] = Field(
        default_factory=Settings
    )

    def with_settings(self, **changes: Any) -> "Problem":
        """A copy with some settings replaced (CLI and API overrides, scenarios)."""
        merged = self.settings.model_dump() | {k: v for k, v in changes.items() if v is not None}
        return self.model_copy(update={"settings": Settings.model_validate(merged)})
