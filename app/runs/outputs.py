"""What a plan means for the people who act on it: orders, cost statements, unmet needs.

Pure functions of a run's two documents (problem and plan), so the figures
here are the plan's own figures regrouped, never recomputed differently.
``agency`` narrows a result to one agency's share (a reader who may see only
their own agency's outcome).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from app.runs.schemas import (
    AwardLine,
    CostStatement,
    Delivery,
    LateAward,
    PurchaseOrder,
    PurchaseOrderLine,
    UnmetNeed,
)
from app.runs.snapshot import need_id_of

Document = Mapping[str, Any]


def _by_id(document: Document, key: str) -> dict[str, Mapping[str, Any]]:
    return {entry["id"]: entry for entry in document.get(key, [])}


def _cents(values: list[float]) -> float:
    # Summed as decimals: a float sum of cents drifts (0.1 + 0.2).
    return float(sum((Decimal(str(v)) for v in values), Decimal(0)))


def _offer_id(ref: str) -> int | None:
    tail = ref.rsplit("-", 1)[-1]
    return int(tail) if ref.startswith("o-") and tail.isdigit() else None


def _award_fields(award: Mapping[str, Any], need: Mapping[str, Any]) -> dict[str, Any]:
    """An award of the plan with its need's agency, location and need-by date."""
    return {
        "need_id": need_id_of(award["need"]),
        "need": award["need"],
        "agency": need.get("agency", ""),
        "location": need.get("location", ""),
        "quantity": award["quantity"],
        "need_by": need.get("need_by"),
        "delivery_date": award["delivery_date"],
        "late_days": award["late_days"],
    }


def order_number(problem: Document, round_id: int, supplier: str) -> str:
    """``PO-<round>-<nn>``: nn is the supplier's place (from 01) among the problem's suppliers,
    sorted by id. The problem is the round's frozen snapshot, which every run of the round
    shares, so a supplier keeps its number across re-runs and scenarios."""
    ids = sorted(s["id"] for s in problem.get("suppliers", []))
    if supplier not in ids:
        raise ValueError(f"supplier {supplier!r} is not in the problem")
    return f"PO-{round_id}-{ids.index(supplier) + 1:02d}"


def purchase_orders(problem: Document, plan: Document, *, round_id: int) -> list[PurchaseOrder]:
    """One consolidated order per supplier, its lines per offer, each line's awards per need;
    each order numbered by ``order_number``."""
    needs = _by_id(problem, "needs")
    items = _by_id(problem, "items")
    suppliers = _by_id(problem, "suppliers")
    locations = _by_id(problem, "locations")

    awards_of: dict[str, list[AwardLine]] = defaultdict(list)
    for award in plan.get("awards", []):
        need = needs.get(award["need"], {})
        awards_of[award["offer"]].append(AwardLine(**_award_fields(award, need)))

    lines_of: dict[str, list[PurchaseOrderLine]] = defaultdict(list)
    for order in plan.get("orders", []):
        item = items.get(order["item"], {})
        lines_of[order["supplier"]].append(
            PurchaseOrderLine(
                offer=order["offer"],
                offer_id=_offer_id(order["offer"]),
                item=order["item"],
                item_name=item.get("name", ""),
                unit=item.get("unit", ""),
                quantity=order["quantity"],
                tier_min_quantity=order["tier_min_quantity"],
                unit_price=order["unit_price"],
                cost=order["cost"],
                awards=sorted(awards_of.get(order["offer"], []), key=lambda a: a.need),
            )
        )

    deliveries_of: dict[str, list[Delivery]] = defaultdict(list)
    for shipment in plan.get("shipments", []):
        deliveries_of[shipment["supplier"]].append(
            Delivery(
                location=shipment["location"],
                location_name=locations.get(shipment["location"], {}).get("name", ""),
                quantity=shipment["quantity"],
                fixed_cost=shipment["fixed_cost"],
                unit_cost=shipment["unit_cost"],
                cost=shipment["cost"],
            )
        )

    orders = []
    for supplier in sorted(set(lines_of) | set(deliveries_of)):
        lines = sorted(lines_of.get(supplier, []), key=lambda line: (line.item, line.offer))
        deliveries = sorted(deliveries_of.get(supplier, []), key=lambda d: d.location)
        goods = _cents([line.cost for line in lines])
        shipping = _cents([d.cost for d in deliveries])
        orders.append(
            PurchaseOrder(
                number=order_number(problem, round_id, supplier),
                supplier=supplier,
                supplier_name=suppliers.get(supplier, {}).get("name", ""),
                currency=problem.get("currency", ""),
                goods_cost=goods,
                shipping_cost=shipping,
                total_cost=_cents([goods, shipping]),
                lines=lines,
                deliveries=deliveries,
            )
        )
    return orders


def late_awards(problem: Document, plan: Document, agency: str | None = None) -> list[LateAward]:
    """The awards delivered after their need's need-by date, latest first (then by need)."""
    needs = _by_id(problem, "needs")
    offers = _by_id(problem, "offers")
    result = []
    for award in plan.get("awards", []):
        need = needs.get(award["need"], {})
        if award["late_days"] <= 0 or (agency is not None and need.get("agency") != agency):
            continue
        result.append(
            LateAward(
                **_award_fields(award, need),
                item=need.get("item", ""),
                priority=need.get("priority", ""),
                supplier=offers.get(award["offer"], {}).get("supplier", ""),
            )
        )
    return sorted(result, key=lambda a: (-a.late_days, a.agency, a.need_id or 0, a.need))


def cost_statements(
    problem: Document, plan: Document, agency: str | None = None
) -> list[CostStatement]:
    """Each agency's allocated and stand-alone cost and what pooling saved it."""
    needs = problem.get("needs", [])
    names = {a["id"]: a.get("name", "") for a in problem.get("agencies", [])}
    agency_of = {n["id"]: n["agency"] for n in needs}
    requested: dict[str, int] = defaultdict(int)
    for need in needs:
        requested[need["agency"]] += need["quantity"]
    awarded: dict[str, int] = defaultdict(int)
    for award in plan.get("awards", []):
        awarded[agency_of.get(award["need"], "")] += award["quantity"]
    unmet: dict[str, int] = defaultdict(int)
    for line in plan.get("unmet", []):
        unmet[agency_of.get(line["need"], "")] += line["quantity"]

    return [
        CostStatement(
            agency=line["agency"],
            agency_name=names.get(line["agency"], ""),
            currency=problem.get("currency", ""),
            allocated_cost=line["allocated_cost"],
            standalone_cost=line["standalone_cost"],
            savings=line["savings"],
            savings_pct=line["savings_pct"],
            standalone_status=line.get("standalone_status"),
            requested_units=requested[line["agency"]],
            awarded_units=awarded[line["agency"]],
            unmet_units=unmet[line["agency"]],
        )
        for line in sorted(plan.get("agencies", []), key=lambda line: line["agency"])
        if agency is None or line["agency"] == agency
    ]


def unmet_needs(
    problem: Document,
    plan: Document,
    *,
    agency: str | None = None,
    reason: str | None = None,
) -> list[UnmetNeed]:
    """Needs the plan leaves (partly) unmet, with the reason code and a sentence."""
    needs = _by_id(problem, "needs")
    result = []
    for line in plan.get("unmet", []):
        need = needs.get(line["need"], {})
        if agency is not None and need.get("agency") != agency:
            continue
        if reason is not None and line["reason"] != reason:
            continue
        result.append(
            UnmetNeed(
                need_id=need_id_of(line["need"]),
                need=line["need"],
                agency=need.get("agency", ""),
                item=need.get("item", ""),
                location=need.get("location", ""),
                priority=need.get("priority", ""),
                need_by=need.get("need_by"),
                requested_quantity=need.get("quantity", line["quantity"]),
                quantity=line["quantity"],
                reason=line["reason"],
                detail=line["detail"],
            )
        )
    return sorted(result, key=lambda u: (u.agency, u.need_id or 0, u.need))


def agencies_with_awards(problem: Document, plan: Document) -> set[str]:
    agency_of = {n["id"]: n["agency"] for n in problem.get("needs", [])}
    return {agency_of[a["need"]] for a in plan.get("awards", []) if a["need"] in agency_of}


def agencies_with_needs(problem: Document) -> set[str]:
    return {n["agency"] for n in problem.get("needs", [])}


def own_share(problem: Document, plan: Document | None, agency: str) -> tuple[dict, dict | None]:
    """The documents cut down to one agency's needs and their outcome.

    Pooled figures (orders, shipments, totals, baseline) are left out: they
    would tell the reader about other agencies' needs before the round is
    open to every member.
    """
    own = {n["id"] for n in problem.get("needs", []) if n["agency"] == agency}
    problem_part = {
        **problem,
        "agencies": [a for a in problem.get("agencies", []) if a["id"] == agency],
        "needs": [n for n in problem.get("needs", []) if n["id"] in own],
    }
    if plan is None:
        return problem_part, None
    plan_part = {
        "status": plan.get("status"),
        "awards": [a for a in plan.get("awards", []) if a["need"] in own],
        "unmet": [u for u in plan.get("unmet", []) if u["need"] in own],
        "agencies": [a for a in plan.get("agencies", []) if a["agency"] == agency],
    }
    return problem_part, plan_part
