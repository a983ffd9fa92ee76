"""Request and response bodies of the runs, approvals and outputs routes."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.api.params import WholeNumber
from app.runs.models import Decision, PlanStatus, RunStatus

# Strict numbers: "5" or true are not read as numbers (the contract refuses them too);
# 5.0 is a whole number, as JSON Schema's integer has it.
WholeDays = Annotated[WholeNumber | None, Field(default=None, ge=0)]
Rate = Annotated[float | None, Field(default=None, ge=0, strict=True, allow_inf_nan=False)]


class PriorityWeightsOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    critical: Rate = None
    high: Rate = None
    normal: Rate = None


class RunSettingsOverride(BaseModel):
    """Contract-v1 settings to change for this run; fields left out keep the snapshot's."""

    model_config = ConfigDict(extra="forbid")

    order_processing_days: WholeDays = None
    late_penalty_rate: Rate = None
    unmet_penalty_rate: Rate = None
    priority_weights: PriorityWeightsOverride | None = Field(
        default=None, description="merged key by key with the snapshot's weights"
    )
    time_limit_seconds: Annotated[
        float | None, Field(default=None, gt=0, strict=True, allow_inf_nan=False)
    ] = Field(default=None, description="capped by the service's maximum solve time")
    relative_gap: Rate = None
    allocation: Literal["usage", "proportional"] | None = None


class RunCreate(BaseModel):
    """A re-run of the round's frozen snapshot, optionally with other settings."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {},
                {
                    "settings": {
                        "unmet_penalty_rate": 20.0,
                        "priority_weights": {"critical": 25},
                        "allocation": "proportional",
                    }
                },
            ]
        },
    )

    settings: RunSettingsOverride | None = None


class ApprovalState(BaseModel):
    """Where a run stands in its approval: who must decide, who has."""

    required: list[str] = Field(
        description="agencies whose chief of mission must approve: those with awards in the "
        "plan (those with needs, when nothing was awarded)"
    )
    approved: list[str]
    rejected: list[str]
    pending: list[str]
    complete: bool = Field(description="every required agency approved: the run is binding")


_RUN_EXAMPLE: dict[str, Any] = {
    "id": 7,
    "round_id": 3,
    "number": 1,
    "status": "succeeded",
    "plan_status": "optimal",
    "objective": 15650.0,
    "money_cost": 15650.0,
    "binding": False,
    "approved_at": None,
    "triggered_by_id": 4,
    "error": None,
    "created_at": "2026-12-01T14:00:00Z",
    "started_at": "2026-12-01T14:00:00Z",
    "finished_at": "2026-12-01T14:00:02Z",
}


class RunSummary(BaseModel):
    """A run without its documents (lists)."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_RUN_EXAMPLE]})

    id: int
    round_id: int
    number: int = Field(description="1 for the run made when the round closed, then 2, 3, ...")
    status: RunStatus
    plan_status: PlanStatus | None
    objective: float | None
    money_cost: float | None = Field(description="purchase + shipping of the pooled plan")
    binding: bool = Field(description="the approved run of the round; immutable")
    approved_at: dt.datetime | None
    triggered_by_id: int
    error: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class RunJob(BaseModel):
    """How the run's solve goes: its job (``GET /jobs/{id}`` has the rest)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    state: RunStatus = Field(description="queued, running, succeeded, failed or cancelled")
    attempts: int = Field(description="workers that took it; 2 or more: one was lost")
    time_limit_seconds: float = Field(description="per solve (pooled and each stand-alone)")
    cancel_requested: bool
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


class RunRead(RunSummary):
    """A run with its frozen problem document and its plan.

    ``scope`` is ``own_agency`` when the reader's agency may not yet see the
    whole run (the round is not optimised): the documents then hold only that
    agency's needs and their outcome, and pooled figures are left out.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    **_RUN_EXAMPLE,
                    "scope": "full",
                    "problem": {"as_of": "2026-12-01", "currency": "USD", "needs": ["..."]},
                    "plan": {"status": "optimal", "money_cost": 15650.0, "awards": ["..."]},
                    "solver_stats": {"name": "HiGHS", "seconds": 0.4, "variables": 12},
                    "progress": {
                        "state": "done",
                        "pooled": {
                            "seconds": 0.4,
                            "incumbent": 15650.0,
                            "bound": 15650.0,
                            "gap": 0.0,
                            "done": True,
                        },
                        "history": [
                            {"seconds": 0.2, "incumbent": 15700.0, "bound": 15400.0, "gap": 0.0191}
                        ],
                    },
                    "job": {
                        "id": 12,
                        "state": "succeeded",
                        "attempts": 1,
                        "time_limit_seconds": 60.0,
                        "cancel_requested": False,
                        "created_at": "2026-12-01T14:00:00Z",
                        "started_at": "2026-12-01T14:00:00Z",
                        "finished_at": "2026-12-01T14:00:02Z",
                    },
                    "approval": {
                        "required": ["IOM", "UNICEF"],
                        "approved": ["IOM"],
                        "rejected": [],
                        "pending": ["UNICEF"],
                        "complete": False,
                    },
                }
            ]
        }
    )

    scope: Literal["full", "own_agency"]
    problem: dict[str, Any] = Field(description="the frozen problem document, contract v1")
    plan: dict[str, Any] | None = Field(description="the plan document, contract v1")
    solver_stats: dict[str, Any] | None
    progress: dict[str, Any] | None = Field(
        description="the solve's state and, to readers who see the whole run, the incumbent, "
        "bound and gap: the latest of the pooled solve and each stand-alone baseline, and the "
        "pooled solve's history over time"
    )
    job: RunJob | None = Field(default=None, description="the job solving the run")
    approval: ApprovalState | None = Field(description="null until the run has a plan")


class ApprovalCreate(BaseModel):
    """Your agency's decision on a run; the agency is yours, never chosen here."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"decision": "approved"},
                {
                    "decision": "rejected",
                    "reason": "the critical measles-vaccine need at Lajas Blancas is left unmet",
                },
            ],
            # _rejection_has_reason as JSON Schema: a rejection says why, not in blanks.
            "if": {"properties": {"decision": {"const": "rejected"}}, "required": ["decision"]},
            "then": {
                "properties": {"reason": {"type": "string", "pattern": r"\S"}},
                "required": ["reason"],
            },
        },
    )

    decision: Decision
    reason: str | None = Field(
        default=None, max_length=2000, description="required for a rejection"
    )

    @model_validator(mode="after")
    def _rejection_has_reason(self) -> ApprovalCreate:
        if self.reason is not None:
            self.reason = self.reason.strip() or None
        if self.decision == Decision.rejected and self.reason is None:
            raise ValueError("a rejection needs a reason")
        return self


class ApprovalRead(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 1,
                    "run_id": 7,
                    "agency_id": "IOM",
                    "user_id": 12,
                    "decision": "approved",
                    "reason": None,
                    "created_at": "2026-12-02T09:00:00Z",
                }
            ]
        },
    )

    id: int
    run_id: int
    agency_id: str
    user_id: int
    decision: Decision
    reason: str | None
    created_at: dt.datetime


# ----------------------------------------------------------------------- outputs


class AwardLine(BaseModel):
    """The part of an order line bought for one agency's need."""

    need_id: int | None = Field(description="the need's id in this service")
    need: str = Field(description="the need's id in the problem document")
    agency: str
    location: str
    quantity: int
    need_by: dt.date | None
    delivery_date: dt.date
    late_days: int


class LateAward(AwardLine):
    """An award that arrives after its need-by date: what a chief must see before approving."""

    item: str
    priority: str
    supplier: str


class PurchaseOrderLine(BaseModel):
    offer: str
    offer_id: int | None
    item: str
    item_name: str
    unit: str
    quantity: int
    tier_min_quantity: int = Field(description="the price tier the pooled quantity reached")
    unit_price: float
    cost: float
    awards: list[AwardLine]


class Delivery(BaseModel):
    location: str
    location_name: str
    quantity: int
    fixed_cost: float
    unit_cost: float
    cost: float


class PurchaseOrder(BaseModel):
    """One supplier's consolidated order in a run's plan."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "number": "PO-12-01",
                    "supplier": "sup-001",
                    "supplier_name": "Suministros Médicos Istmo",
                    "currency": "USD",
                    "goods_cost": 15000.0,
                    "shipping_cost": 650.0,
                    "total_cost": 15650.0,
                    "lines": [
                        {
                            "offer": "o-1",
                            "offer_id": 1,
                            "item": "ppe-mask-n95",
                            "item_name": "Respirator N95",
                            "unit": "each",
                            "quantity": 15000,
                            "tier_min_quantity": 10000,
                            "unit_price": 1.0,
                            "cost": 15000.0,
                            "awards": [
                                {
                                    "need_id": 1,
                                    "need": "n-1",
                                    "agency": "IOM",
                                    "location": "pa-darien-lajas-blancas",
                                    "quantity": 5000,
                                    "need_by": "2026-12-20",
                                    "delivery_date": "2026-12-19",
                                    "late_days": 0,
                                }
                            ],
                        }
                    ],
                    "deliveries": [
                        {
                            "location": "pa-darien-lajas-blancas",
                            "location_name": "Lajas Blancas reception station",
                            "quantity": 15000,
                            "fixed_cost": 500.0,
                            "unit_cost": 0.01,
                            "cost": 650.0,
                        }
                    ],
                }
            ]
        }
    )

    number: str = Field(
        description="the purchase order's number, PO-<round id>-<nn>: nn is the supplier's "
        "place among the round's frozen suppliers, so every run of a round gives a supplier "
        "the same number"
    )
    supplier: str
    supplier_name: str
    currency: str
    goods_cost: float = Field(description="sum of the lines' costs")
    shipping_cost: float = Field(description="sum of the deliveries' costs")
    total_cost: float
    lines: list[PurchaseOrderLine]
    deliveries: list[Delivery]


class CostStatement(BaseModel):
    """What one agency pays in the pooled plan against buying alone."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "agency": "IOM",
                    "agency_name": "International Organization for Migration",
                    "currency": "USD",
                    "allocated_cost": 5216.67,
                    "standalone_cost": 6560.0,
                    "savings": 1343.33,
                    "savings_pct": 20.4776,
                    "standalone_status": "optimal",
                    "requested_units": 5000,
                    "awarded_units": 5000,
                    "unmet_units": 0,
                }
            ]
        }
    )

    agency: str
    agency_name: str
    currency: str
    allocated_cost: float
    standalone_cost: float
    savings: float = Field(
        description="standalone_cost - allocated_cost; negative when pooling costs more"
    )
    savings_pct: float
    standalone_status: str | None
    requested_units: int
    awarded_units: int
    unmet_units: int


class UnmetNeed(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "need_id": 3,
                    "need": "n-3",
                    "agency": "UNICEF",
                    "item": "wash-tank-1000l",
                    "location": "pa-darien-san-vicente",
                    "priority": "high",
                    "need_by": "2026-12-15",
                    "requested_quantity": 20,
                    "quantity": 20,
                    "reason": "no_route",
                    "detail": "no supplier of wash-tank-1000l delivers to pa-darien-san-vicente",
                }
            ]
        }
    )

    need_id: int | None
    need: str
    agency: str
    item: str
    location: str
    priority: str
    need_by: dt.date | None
    requested_quantity: int
    quantity: int = Field(description="units left unmet")
    reason: str = Field(
        description="no_offer | no_route | not_eligible | capacity | min_order | too_costly"
    )
    detail: str
