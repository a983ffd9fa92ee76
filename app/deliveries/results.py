"""Round-over-round results, per round and agency: what pooling planned and what it delivered.

For every approved round (its binding run) and every agency with needs in it:

* **planned savings**: the plan's own figure (stand-alone cost minus allocated cost);
* **realised savings**: the planned savings times the share of the agency's ordered
  value that was accepted (received minus rejected, at the prices on the order lines):
  what pooling saved on what actually came;
* **fill rate**: units accepted / units needed;
* **OTIF**: the agency's order lines on time in full over those due (``figures``);
* **response time**: days from a need's submission to the day its last order line was
  delivered in full (needs delivered in full only); median and p90;
* **unmet units by reason**: the plan's unmet reasons, plus ``not_delivered`` (ordered
  units not accepted on lines closed short or overdue).

The ``all`` row of a round sums the agencies' (savings, units, lines) and recomputes
its rates and response times over all of them.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session, selectinload

from app.deliveries import figures
from app.deliveries.figures import facts
from app.deliveries.models import LineState, OrderLine, PurchaseOrder
from app.deliveries.policy import policy
from app.deliveries.service import today
from app.exchange import plan_export
from app.needs.models import Need
from app.rounds.models import Round, RoundStatus
from app.runs.models import Run
from app.settings import Settings

ALL = "all"
NOT_DELIVERED = "not_delivered"


class RoundResult(BaseModel):
    round_id: int
    round_name: str
    as_of: dt.date | None
    agency_id: str = Field(description="an agency, or 'all' for the round as a whole")
    currency: str
    planned_savings: float
    realised_savings: float
    units_needed: int
    units_ordered: int
    units_accepted: int
    fill_rate: float | None
    lines_due: int
    lines_on_time_in_full: int
    otif_rate: float | None
    response_median_days: float | None
    response_p90_days: float | None
    unmet_units: dict[str, int] = Field(description="units left unmet, by reason")


def _approved_runs(session: Session, round_id: int | None) -> list[tuple[Round, Run]]:
    stmt = (
        sa.select(Round, Run)
        .join(Run, Run.round_id == Round.id)
        .where(Round.status == RoundStatus.approved, Run.binding.is_(True))
        .order_by(Round.as_of, Round.id)
    )
    if round_id is not None:
        stmt = stmt.where(Round.id == round_id)
    return [(row[0], row[1]) for row in session.execute(stmt).all()]


def results(
    session: Session,
    settings: Settings,
    *,
    round_id: int | None = None,
    agency_id: str | None = None,
) -> list[RoundResult]:
    rules = policy(session)
    day = today(settings)
    rows: list[RoundResult] = []
    for round_, run in _approved_runs(session, round_id):
        lines = list(
            session.scalars(
                sa.select(OrderLine)
                .join(PurchaseOrder)
                .where(PurchaseOrder.run_id == run.id)
                .options(selectinload(OrderLine.order), selectinload(OrderLine.receipts))
                .order_by(OrderLine.id)
            )
        )
        submitted = {
            row[0]: row[1]
            for row in session.execute(
                sa.select(Need.id, Need.submitted_at).where(Need.round_id == round_.id)
            ).all()
        }
        per_agency = _per_agency(run, lines, submitted, rules.grace_days, day)
        agencies = sorted(per_agency)
        for agency in [*agencies, ALL]:
            if agency_id is not None and agency != agency_id:
                continue
            part = _sum(per_agency.values()) if agency == ALL else per_agency[agency]
            rows.append(_row(round_, run, agency, part))
    return rows


def _empty_part() -> dict[str, Any]:
    """An agency's (or all agencies') figures before any need, award or line is counted."""
    return {
        "planned": 0.0,
        "ordered_value": Decimal(0),
        "accepted_value": Decimal(0),
        "needed": 0,
        "ordered": 0,
        "accepted": 0,
        "due": 0,
        "otif": 0,
        "responses": [],
        "unmet": defaultdict(int),
    }


def _per_agency(
    run: Run,
    lines: list[OrderLine],
    submitted: dict[int, dt.datetime | None],
    grace: int,
    day: dt.date,
) -> dict[str, dict[str, Any]]:
    problem, plan = run.problem, run.plan or {}
    parts: dict[str, dict[str, Any]] = defaultdict(_empty_part)
    agency_of = {n["id"]: n["agency"] for n in problem.get("needs", [])}
    for need in problem.get("needs", []):
        parts[need["agency"]]["needed"] += need["quantity"]
    for line in plan.get("agencies", []):
        parts[line["agency"]]["planned"] += float(line["savings"])
    for unmet in plan.get("unmet", []):
        parts[agency_of.get(unmet["need"], "")]["unmet"][unmet["reason"]] += unmet["quantity"]
    by_need: dict[int, list[tuple[OrderLine, figures.LineFacts]]] = defaultdict(list)
    for line in lines:
        known = facts(line)
        by_need[line.need_id].append((line, known))
        part = parts[line.agency_id]
        accepted = min(figures.accepted(known), line.quantity)
        part["ordered"] += line.quantity
        part["accepted"] += accepted
        part["ordered_value"] += line.unit_price * line.quantity
        part["accepted_value"] += line.unit_price * accepted
        state = figures.state(known, day, grace)
        if figures.is_due(known, day, grace):
            part["due"] += 1
            part["otif"] += figures.on_time_in_full(known, grace)
        if state in (LineState.closed_short, LineState.overdue):
            part["unmet"][NOT_DELIVERED] += line.quantity - accepted
    for need_id, group in by_need.items():
        start = submitted.get(need_id)
        if start is None or any(figures.accepted(f) < line.quantity for line, f in group):
            continue
        done = max(max(r.received_on for r in figures.effective(f.receipts)) for _, f in group)
        parts[group[0][0].agency_id]["responses"].append((done - start.date()).days)
    return dict(parts)


def _sum(parts: Any) -> dict[str, Any]:
    total = _empty_part()
    for part in parts:
        for key in (
            "planned",
            "ordered_value",
            "accepted_value",
            "needed",
            "ordered",
            "accepted",
            "due",
            "otif",
        ):
            total[key] += part[key]
        total["responses"] += part["responses"]
        for reason, units in part["unmet"].items():
            total["unmet"][reason] += units
    return total


def _row(round_: Round, run: Run, agency: str, part: dict[str, Any]) -> RoundResult:
    share = part["accepted_value"] / part["ordered_value"] if part["ordered_value"] else Decimal(0)
    return RoundResult(
        round_id=round_.id,
        round_name=round_.name,
        as_of=run.problem.get("as_of") and dt.date.fromisoformat(run.problem["as_of"]),
        agency_id=agency,
        currency=round_.currency,
        planned_savings=round(part["planned"], 2),
        realised_savings=round(part["planned"] * float(share), 2),
        units_needed=part["needed"],
        units_ordered=part["ordered"],
        units_accepted=part["accepted"],
        fill_rate=figures.ratio(part["accepted"], part["needed"]),
        lines_due=part["due"],
        lines_on_time_in_full=part["otif"],
        otif_rate=figures.ratio(part["otif"], part["due"]),
        response_median_days=figures.percentile(part["responses"], 50),
        response_p90_days=figures.percentile(part["responses"], 90),
        unmet_units=dict(sorted(part["unmet"].items())),
    )


def result_sheet(rows: list[RoundResult]) -> plan_export.Sheet:
    reasons = sorted({r for row in rows for r in row.unmet_units})
    columns: list[tuple[str, plan_export.ValueKind]] = [
        ("round_id", "int"),
        ("round", "text"),
        ("as_of", "date"),
        ("agency", "text"),
        ("currency", "text"),
        ("planned_savings", "money"),
        ("realised_savings", "money"),
        ("units_needed", "int"),
        ("units_ordered", "int"),
        ("units_accepted", "int"),
        ("fill_rate", "number"),
        ("lines_due", "int"),
        ("lines_on_time_in_full", "int"),
        ("otif_rate", "number"),
        ("response_median_days", "number"),
        ("response_p90_days", "number"),
        *((f"unmet_{reason}", "int") for reason in reasons),
    ]
    return plan_export.make_sheet(
        "results",
        columns,
        [
            [
                r.round_id,
                r.round_name,
                r.as_of,
                r.agency_id,
                r.currency,
                r.planned_savings,
                r.realised_savings,
                r.units_needed,
                r.units_ordered,
                r.units_accepted,
                r.fill_rate,
                r.lines_due,
                r.lines_on_time_in_full,
                r.otif_rate,
                r.response_median_days,
                r.response_p90_days,
                *(r.unmet_units.get(reason, 0) for reason in reasons),
            ]
            for r in rows
        ],
    )
