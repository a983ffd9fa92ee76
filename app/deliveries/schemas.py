"""Request and response bodies of the deliveries routes.

``ReceiptCreate`` checks each field on its own; the rules that need the line (its
location, its agency, the ordered quantity and the tolerance, the issue date, the
receipt a correction names) are in ``app.deliveries.service``, which runs them with
these so that one 422 lists every problem.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.api.params import IsoDate, WholeNumber
from app.catalogue.schemas import Percent
from app.deliveries.models import AdjustmentStatus, LineState, RejectionReason
from app.needs.schemas import MAX_QUANTITY, MAX_TEXT, SAYS_SOMETHING, Code

Units = Annotated[WholeNumber, Field(ge=0, le=MAX_QUANTITY, description="whole units, >= 0")]
Text = Annotated[str, Field(max_length=MAX_TEXT)]
Said = Annotated[str, Field(min_length=1, max_length=MAX_TEXT, pattern=SAYS_SOMETHING)]

_RECEIPT_EXAMPLE: dict[str, Any] = {
    "location_id": "pa-darien-lajas-blancas",
    "received_on": "2026-12-18",
    "quantity_received": 2400,
    "quantity_rejected": 100,
    "rejection_reason": "damaged",
    "notes": "two cartons crushed in the truck; driver signed the note",
}


class ReceiptCreate(BaseModel):
    """A delivery counted at the line's location; or, with ``corrects_id``, the
    corrected figures of an earlier receipt of the same line (which stops counting)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_RECEIPT_EXAMPLE]})

    location_id: Code = Field(description="the reception station the goods arrived at")
    received_on: IsoDate = Field(description="the day the goods arrived (not in the future)")
    quantity_received: Units
    quantity_rejected: Units = 0
    rejection_reason: RejectionReason | None = Field(
        default=None, description="required when units are rejected"
    )
    notes: Text = ""
    corrects_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = Field(
        default=None, description="the receipt these figures correct"
    )


class ReceiptRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    line_id: int
    location_id: str
    received_on: dt.date
    quantity_received: int
    quantity_rejected: int
    quantity_accepted: int
    rejection_reason: RejectionReason | None
    notes: str
    corrects_id: int | None
    corrected_by_id: int | None = Field(
        default=None, description="the receipt that corrects this one (it no longer counts)"
    )
    recorded_by_id: int
    created_at: dt.datetime


class CloseShortCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Said = Field(description="why the rest will not come (e.g. supplier out of stock)")


class OrderLineRead(BaseModel):
    id: int
    order_id: int
    round_id: int
    supplier_id: str
    need_id: int
    agency_id: str
    item_id: str
    location_id: str
    offer_ref: str
    offer_id: int | None
    route_id: int | None
    quantity: int
    unit_price: Decimal
    need_by: dt.date | None
    issued_on: dt.date
    promised_on: dt.date
    overdue_after: dt.date = Field(description="promised date plus the group's grace")
    state: LineState
    quantity_received: int
    quantity_rejected: int
    quantity_accepted: int
    quantity_remaining: int
    max_acceptable: int = Field(description="ordered plus the group's tolerance")
    last_received_on: dt.date | None
    closed_short_at: dt.datetime | None
    closed_short_reason: str | None


class PurchaseOrderRead(BaseModel):
    id: int
    number: str = Field(description="PO-<round id>-<nn>, stored when the order was issued")
    round_id: int
    run_id: int
    supplier_id: str
    currency: str
    issued_at: dt.datetime
    issued_on: dt.date
    lines: list[OrderLineRead]


class DeliveryPolicyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    grace_days: int
    tolerance_pct: Decimal
    lead_time_percentile: int
    lead_time_window: int
    lead_time_min_deliveries: int


class DeliveryPolicyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_days: Annotated[WholeNumber, Field(ge=0, le=365)] | None = None
    tolerance_pct: Percent | None = None
    lead_time_percentile: Annotated[WholeNumber, Field(ge=1, le=100)] | None = None
    lead_time_window: Annotated[WholeNumber, Field(ge=1, le=1000)] | None = None
    lead_time_min_deliveries: Annotated[WholeNumber, Field(ge=1, le=1000)] | None = None


class LeadTimeAdjustmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    round_id: int
    offer_id: int
    promised_days: int
    proposed_days: int
    sample: list[int] = Field(description="the realised lead times the rule read, oldest first")
    rule: str
    status: AdjustmentStatus
    decided_days: int | None
    evidence: str | None
    source: str | None
    decided_by_id: int | None
    decided_at: dt.datetime | None


class LeadTimeReviewCreate(BaseModel):
    """A specialist confirms the rule's figure, or overrides it with their own."""

    model_config = ConfigDict(extra="forbid")

    decision: Literal["confirm", "override"]
    days: Annotated[WholeNumber, Field(ge=0, le=3650)] | None = Field(
        default=None, description="the lead time to use; required to override"
    )
    evidence: Said
    source: Said


class Figures(BaseModel):
    """Delivery figures over a set of order lines (see ``app.deliveries.figures``)."""

    lines: int
    lines_due: int
    lines_on_time_in_full: int
    otif_rate: float | None
    deliveries: int
    lead_time_median_days: float | None
    lead_time_p90_days: float | None
    units_received: int
    units_rejected: int
    rejection_rate: float | None


class OfferFigures(Figures):
    offer_id: int | None
    offer_ref: str
    item_id: str


class RouteFigures(Figures):
    route_id: int | None
    location_id: str


class PricePaid(BaseModel):
    round_id: int
    item_id: str
    unit_price: Decimal = Field(description="ordered-quantity weighted price on the round's orders")
    units_ordered: int
    units_accepted: int


class SupplierRecord(BaseModel):
    supplier_id: str
    supplier_name: str
    overall: Figures
    offers: list[OfferFigures]
    routes: list[RouteFigures]
    prices: list[PricePaid]
