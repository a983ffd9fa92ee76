"""Plan out: the contract's plan document from the priced figures."""

from decimal import Decimal
from typing import Any

from solver.allocation import allocate
from solver.baseline import Standalone
from solver.coalitions import CoalitionChecks
from solver.fairness import assess_fairness
from solver.pipeline import SolveResult
from solver.pricing import Order, to_cents
from solver.problem import Problem
from solver.unmet import explain_unmet


def money(value: Decimal) -> float:
    return float(to_cents(value))


def percent(part: Decimal, whole: Decimal) -> float:
    return 0.0 if whole == 0 else round(float(100 * part / whole), 4)


def order_line(problem: Problem, order: Order) -> dict[str, Any]:
    """One order: packs and surplus, goods and fee each to the cent, cost their sum."""
    offer = problem.offers[order.offer]
    goods, fee = to_cents(order.goods), to_cents(order.fee)
    return {
        "offer": offer.id,
        "supplier": offer.supplier,
        "item": offer.item,
        "quantity": order.quantity,
        "tier_min_quantity": offer.price_tiers[order.tier].min_quantity,
        "unit_price": float(order.unit_price),
        "packs": order.packs,
        "surplus": order.surplus,
        "goods_cost": float(goods),
        "fee": float(fee),
        "cost": float(goods + fee),
    }


def agencies_with_needs(problem: Problem) -> list[str]:
    listed = {need.agency for need in problem.needs}
    return [agency.id for agency in problem.agencies if agency.id in listed]


def build_plan(
    problem: Problem,
    result: SolveResult,
    standalone: dict[str, Standalone],
    checks: CoalitionChecks | None = None,
) -> dict[str, Any]:
    """The plan document; the caller adds the solver's timings once they are known."""
    figures = result.figures
    status, bound, gap = result.assess(problem.settings.relative_gap)
    agencies = agencies_with_needs(problem)
    alone_cost = {a: standalone[a].money_cost for a in agencies}
    allocated = allocate(problem, figures, agencies, alone_cost)
    fairness = None
    if checks is not None:
        allocated, fairness = assess_fairness(problem, figures, agencies, allocated, checks)
    reasons = explain_unmet(result.data, figures, searched_out=not result.outcome.has_solution)
    needs, offers, routes = problem.needs, problem.offers, problem.routes

    budget_of = {agency.id: agency.budget for agency in problem.agencies}
    agency_lines = []
    for a in agencies:
        alone = to_cents(alone_cost[a])
        saved = alone - allocated[a]
        agency_lines.append(
            {
                "agency": a,
                "allocated_cost": float(allocated[a]),
                "standalone_cost": float(alone),
                "standalone_objective": float(standalone[a].objective),
                "savings": float(saved),
                "savings_pct": percent(saved, alone),
                "standalone_status": standalone[a].status.value,
                "direct_spend": money(figures.direct_spend.get(a, Decimal(0))),
                "budget": budget_of[a],
            }
        )
    alone_total = sum((to_cents(c) for c in alone_cost.values()), Decimal(0))
    pooled_total = to_cents(figures.money_cost)

    plan: dict[str, Any] = {
        "status": status.value,
        "objective": float(figures.objective),
        "bound": bound,
        "relative_gap": gap,
        "purchase_cost": money(figures.purchase_cost),
        "shipping_cost": money(figures.shipping_cost),
        "money_cost": money(figures.money_cost),
        "late_penalty": float(figures.late_penalty),
        "late_unit_days": figures.late_unit_days,
        "unmet_penalty": float(figures.unmet_penalty),
        "unmet_units": sum(figures.unmet.values()),
        "unavoidable_penalty": float(figures.unavoidable_penalty),
        "fees": money(figures.fees),
        "rule_penalty": float(figures.rule_penalty),
        "awards": [
            {
                "need": needs[a.need].id,
                "offer": offers[a.offer].id,
                "supplier": offers[a.offer].supplier,
                "quantity": a.quantity,
                "unit_price": float(a.unit_price),
                "delivery_date": a.delivery_date.isoformat(),
                "late_days": a.late_days,
            }
            for a in figures.awards
        ],
        "orders": [order_line(problem, o) for o in figures.orders],
        "rules": [
            {
                "rule": problem.rules[r.rule].id,
                "count": r.count,
                "share": None if r.share is None else float(r.share),
                "violation": float(r.violation),
                "penalty": float(r.penalty),
            }
            for r in figures.rules
        ],
        "capacity_groups": [
            {"group": group.id, "quantity": figures.group_quantity[g], "capacity": group.capacity}
            for g, group in enumerate(problem.capacity_groups)
        ],
        "shipments": [
            {
                "supplier": routes[s.route].supplier,
                "location": routes[s.route].location,
                "quantity": s.quantity,
                "fixed_cost": routes[s.route].fixed_cost,
                "unit_cost": routes[s.route].unit_cost,
                "cost": money(s.cost),
            }
            for s in figures.shipments
        ],
        "unmet": [
            {
                "need": needs[n].id,
                "quantity": missing,
                "reason": reasons[n].reason,
                "detail": reasons[n].detail,
            }
            for n, missing in figures.unmet.items()
        ],
        "agencies": agency_lines,
        "baseline": {
            "standalone_money_cost": float(alone_total),
            "standalone_objective": float(
                sum((standalone[a].objective for a in agencies), Decimal(0))
            ),
            "pooled_money_cost": float(pooled_total),
            "savings": float(alone_total - pooled_total),
            "savings_pct": percent(alone_total - pooled_total, alone_total),
        },
        "solver": {
            "name": "HiGHS",
            "variables": result.variables,
            "constraints": result.constraints,
            "nodes": result.outcome.nodes,
            "stopped_by": result.outcome.stopped_by,
        },
    }
    if fairness is not None:
        plan["fairness"] = fairness
    return plan
