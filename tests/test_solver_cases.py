"""Tiny hand-made instances, one per constraint family of shared/contract/problem-v1.md.

Each test states its instance, works out the optimal plan by hand in comments, and asserts
that exact plan: awards, orders, shipments, unmet lines with their reason, money cost,
penalties, objective and, where pooling matters, each agency's allocated and stand-alone
cost. Every plan is also held to the contract's list rules (`check_plan`).

Common ground (see tests/builders.py): as_of 2026-12-01; default settings unless stated
(order_processing_days 5, late_penalty_rate 0.01, unmet_penalty_rate 10, weights critical
10 / high 3 / normal 1); offers have no lead time and routes no transit time unless stated,
so a delivery lands on 2026-12-01 + 5 = 2026-12-06; needs are due 2026-12-31 at normal
priority unless stated. Money figures are compared exactly (they are given to the cent);
penalties and the objective, which are not money, with a relative tolerance.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from solver import solve
from solver.examples import generate_problem
from tests.builders import ABSENT, by, need, offer, problem, route

pytestmark = pytest.mark.unit

REASONS = {
    "no_offer",
    "no_route",
    "not_eligible",
    "capacity",
    "min_order",
    "too_costly",
    "budget",
    "rule",
}
AWARD_KEYS = ("need", "offer", "supplier", "quantity", "unit_price", "delivery_date", "late_days")
ORDER_KEYS = ("offer", "supplier", "item", "quantity", "tier_min_quantity", "unit_price", "cost")
SHIPMENT_KEYS = ("supplier", "location", "quantity", "fixed_cost", "unit_cost", "cost")
AGENCY_KEYS = (
    "agency",
    "allocated_cost",
    "standalone_cost",
    "standalone_objective",
    "savings",
    "savings_pct",
)


# --------------------------------------------------------------------------- helpers


def cents(value: float) -> Decimal:
    return Decimal(repr(value))


def check_plan(document: dict[str, Any], plan: dict[str, Any]) -> None:
    """The contract's list rules and the identities between a plan's own figures."""
    # (o) whole awards of at least one unit, at most one per (need, offer).
    pairs = Counter((a["need"], a["offer"]) for a in plan["awards"])
    assert all(count == 1 for count in pairs.values()), pairs
    for award in plan["awards"]:
        assert isinstance(award["quantity"], int) and not isinstance(award["quantity"], bool)
        assert award["quantity"] >= 1
        assert isinstance(award["late_days"], int) and award["late_days"] >= 0
    # Every need with unmet units appears once, with a contract reason and a sentence.
    unmet = Counter(u["need"] for u in plan["unmet"])
    assert all(count == 1 for count in unmet.values()), unmet
    for line in plan["unmet"]:
        assert line["reason"] in REASONS
        assert isinstance(line["detail"], str) and line["detail"].strip()
        assert isinstance(line["quantity"], int) and line["quantity"] >= 1
    # Demand: awarded + unmet = quantity, for every need.
    awarded = Counter[str]()
    for award in plan["awards"]:
        awarded[award["need"]] += award["quantity"]
    missing = {u["need"]: u["quantity"] for u in plan["unmet"]}
    for n in document.get("needs", []):
        assert awarded[n["id"]] + missing.get(n["id"], 0) == n["quantity"], n["id"]
    # (n) `agencies` lists exactly the agencies with needs.
    with_needs = {n["agency"] for n in document.get("needs", [])}
    listed = [a["agency"] for a in plan["agencies"]]
    assert sorted(listed) == sorted(with_needs)
    # Totals agree with the lines, to the cent.
    assert plan["unmet_units"] == sum(missing.values())
    assert plan["late_unit_days"] == sum(a["quantity"] * a["late_days"] for a in plan["awards"])
    assert cents(plan["money_cost"]) == cents(plan["purchase_cost"]) + cents(plan["shipping_cost"])
    assert plan["objective"] == pytest.approx(
        plan["money_cost"] + plan["late_penalty"] + plan["unmet_penalty"] + plan["rule_penalty"],
        rel=1e-9,
        abs=1e-9,
    )
    if plan["agencies"]:
        allocated = sum(cents(a["allocated_cost"]) for a in plan["agencies"])
        assert allocated == cents(plan["money_cost"])
    for line in plan["agencies"]:
        assert cents(line["savings"]) == cents(line["standalone_cost"]) - cents(
            line["allocated_cost"]
        )
    # Status agrees with the reported gap, measured on the avoidable objective (v2).
    gap = plan["relative_gap"]
    avoidable = plan["objective"] - plan["unavoidable_penalty"]
    assert gap == pytest.approx(
        (plan["objective"] - plan["bound"]) / max(1.0, abs(avoidable)), abs=1e-9
    )


def run(document: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    plan = solve(document, **overrides)
    check_plan(document, plan)
    return plan


def alone(document: dict[str, Any], agency: str) -> dict[str, Any]:
    """The same document with only `agency`'s needs: its stand-alone problem."""
    return {**document, "needs": [n for n in document["needs"] if n["agency"] == agency]}


def project(entries: list[dict[str, Any]], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """Contract fields only (extra fields are allowed), in a fixed order (order is free)."""
    rows = [{k: e[k] for k in keys} for e in entries]
    return sorted(rows, key=lambda r: tuple(str(r[k]) for k in keys))


def unmet_of(plan: dict[str, Any]) -> dict[str, tuple[int, str]]:
    return {u["need"]: (u["quantity"], u["reason"]) for u in plan["unmet"]}


def award(
    need_id: str,
    offer_id: str,
    quantity: int,
    unit_price: float,
    *,
    supplier: str = "S1",
    delivery: str = "2026-12-06",
    late: int = 0,
) -> dict[str, Any]:
    return {
        "need": need_id,
        "offer": offer_id,
        "supplier": supplier,
        "quantity": quantity,
        "unit_price": unit_price,
        "delivery_date": delivery,
        "late_days": late,
    }


def order(
    offer_id: str,
    quantity: int,
    tier: int,
    unit_price: float,
    cost: float,
    *,
    supplier: str = "S1",
    item: str = "mask",
) -> dict[str, Any]:
    return {
        "offer": offer_id,
        "supplier": supplier,
        "item": item,
        "quantity": quantity,
        "tier_min_quantity": tier,
        "unit_price": unit_price,
        "cost": cost,
    }


def shipment(
    quantity: int,
    cost: float,
    *,
    supplier: str = "S1",
    location: str = "L",
    fixed: float = 0.0,
    unit: float = 0.0,
) -> dict[str, Any]:
    return {
        "supplier": supplier,
        "location": location,
        "quantity": quantity,
        "fixed_cost": fixed,
        "unit_cost": unit,
        "cost": cost,
    }


def assert_figures(
    plan: dict[str, Any],
    *,
    purchase: float,
    shipping: float,
    late_penalty: float = 0.0,
    late_unit_days: int = 0,
    unmet_penalty: float = 0.0,
    unmet_units: int = 0,
    objective: float,
) -> None:
    assert plan["status"] == "optimal"
    assert plan["purchase_cost"] == purchase
    assert plan["shipping_cost"] == shipping
    assert cents(plan["money_cost"]) == cents(purchase) + cents(shipping)
    assert plan["late_penalty"] == pytest.approx(late_penalty, rel=1e-9, abs=1e-9)
    assert plan["late_unit_days"] == late_unit_days
    assert plan["unmet_penalty"] == pytest.approx(unmet_penalty, rel=1e-9, abs=1e-9)
    assert plan["unmet_units"] == unmet_units
    assert plan["objective"] == pytest.approx(objective, rel=1e-9, abs=1e-9)


def agency_line(
    agency: str,
    allocated: float,
    standalone: float,
    standalone_objective: float,
    savings: float,
    savings_pct: float,
) -> dict[str, Any]:
    return {
        "agency": agency,
        "allocated_cost": allocated,
        "standalone_cost": standalone,
        "standalone_objective": pytest.approx(standalone_objective, rel=1e-9, abs=1e-9),
        "savings": savings,
        "savings_pct": pytest.approx(savings_pct, abs=1e-3),
    }


# --------------------------------------------------------------------------- (a) tiers


def test_tier_reached_only_by_pooling_two_agencies() -> None:
    # Offer o-1: 2.00 a unit below 100 units, 1.50 from 100 (all units). Route S1->L: fixed
    # 10.00 plus 0.01 a unit. A needs 60, B needs 50; p(mask) = 2.00, so leaving a unit
    # unmet costs 10 * 2.00 = 20.00, far above buying.
    #
    # Pooled: Q = 110 >= 100 -> 110 * 1.50 = 165.00; shipping 10 + 110 * 0.01 = 11.10;
    #   money 176.10 = objective (on time, nothing unmet).
    # A alone: 60 * 2.00 = 120.00 + 10 + 0.60 = 130.60.  B alone: 100.00 + 10 + 0.50 = 110.50.
    # Usage split: A = 60 * 1.50 + 60 * 0.01 + 10 * 60/110 = 90.60 + 5.4545.. = 96.0545..
    #              B = 50 * 1.50 + 50 * 0.01 + 10 * 50/110 = 75.50 + 4.5454.. = 80.0454..
    #   floors 96.05 + 80.04 = 176.09; the cent left goes to the larger remainder
    #   (B .00545 > A .00454): A 96.05, B 80.05.
    # Savings: A 130.60 - 96.05 = 34.55 (26.4548 %), B 110.50 - 80.05 = 30.45 (27.5566 %).
    # Baseline: 241.10 alone vs 176.10 pooled -> 65.00 saved (26.9598 %).
    doc = problem(
        needs=[need("n-a", agency="A", quantity=60), need("n-b", agency="B", quantity=50)],
        offers=[offer("o-1", tiers=[(0, 2.00), (100, 1.50)])],
        routes=[route("S1", "L", fixed=10.0, unit=0.01)],
    )
    plan = run(doc)
    assert_figures(plan, purchase=165.0, shipping=11.1, objective=176.1)
    assert project(plan["awards"], AWARD_KEYS) == [
        award("n-a", "o-1", 60, 1.5),
        award("n-b", "o-1", 50, 1.5),
    ]
    assert project(plan["orders"], ORDER_KEYS) == [order("o-1", 110, 100, 1.5, 165.0)]
    assert project(plan["shipments"], SHIPMENT_KEYS) == [shipment(110, 11.1, fixed=10.0, unit=0.01)]
    assert plan["unmet"] == []
    assert project(plan["agencies"], AGENCY_KEYS) == [
        agency_line("A", 96.05, 130.6, 130.6, 34.55, 26.4548),
        agency_line("B", 80.05, 110.5, 110.5, 30.45, 27.5566),
    ]
    baseline = plan["baseline"]
    assert baseline["standalone_money_cost"] == 241.1
    assert baseline["standalone_objective"] == pytest.approx(241.1)
    assert baseline["pooled_money_cost"] == 176.1
    assert baseline["savings"] == 65.0
    assert baseline["savings_pct"] == pytest.approx(26.9598, abs=1e-3)

    # The stand-alone plans pay the higher tier.
    plan_a = run(alone(doc, "A"))
    assert project(plan_a["orders"], ORDER_KEYS) == [order("o-1", 60, 0, 2.0, 120.0)]
    assert plan_a["money_cost"] == 130.6


def test_tier_threshold_reached_exactly_takes_the_lower_price() -> None:
    # A 50 + B 50 = 100 = the tier's min_quantity: all 100 units at 1.50 = 150.00 (no route
    # cost). Alone each pays 50 * 2.00 = 100.00; usage split 75.00 each; 25.00 (25 %) saved.
    doc = problem(
        needs=[need("n-a", agency="A", quantity=50), need("n-b", agency="B", quantity=50)],
        offers=[offer("o-1", tiers=[(0, 2.00), (100, 1.50)])],
        routes=[route()],
    )
    plan = run(doc)
    assert_figures(plan, purchase=150.0, shipping=0.0, objective=150.0)
    assert project(plan["orders"], ORDER_KEYS) == [order("o-1", 100, 100, 1.5, 150.0)]
    assert project(plan["agencies"], AGENCY_KEYS) == [
        agency_line("A", 75.0, 100.0, 100.0, 25.0, 25.0),
        agency_line("B", 75.0, 100.0, 100.0, 25.0, 25.0),
    ]


# --------------------------------------------------------------------------- (b) MOQ


def test_minimum_order_met_only_by_the_pooled_demand() -> None:
    # Offer o-1 at 1.00 with a minimum order of 100; A needs 60, B needs 50; free route.
    # p(mask) = 1.00: an unmet unit costs 10 * 1.00 * 1 = 10.00.
    # Pooled: 110 >= 100 -> bought, 110.00; objective 110.00.
    # A alone: 60 < 100 -> nothing can be bought: 60 unmet (min_order), penalty 600.00,
    #   money 0.00. B alone: 50 unmet, penalty 500.00.
    # Usage split: A 60.00, B 50.00. Savings = stand-alone money - allocated = -60.00 and
    #   -50.00 (the contract's definition: money only; they get goods they could not buy),
    #   savings_pct 0 as the stand-alone cost is 0.
    doc = problem(
        needs=[need("n-a", agency="A", quantity=60), need("n-b", agency="B", quantity=50)],
        offers=[offer("o-1", moq=100)],
        routes=[route()],
    )
    plan = run(doc)
    assert_figures(plan, purchase=110.0, shipping=0.0, objective=110.0)
    assert project(plan["awards"], AWARD_KEYS) == [
        award("n-a", "o-1", 60, 1.0),
        award("n-b", "o-1", 50, 1.0),
    ]
    assert project(plan["orders"], ORDER_KEYS) == [order("o-1", 110, 0, 1.0, 110.0)]
    assert project(plan["shipments"], SHIPMENT_KEYS) == [shipment(110, 0.0)]
    assert project(plan["agencies"], AGENCY_KEYS) == [
        agency_line("A", 60.0, 0.0, 600.0, -60.0, 0.0),
        agency_line("B", 50.0, 0.0, 500.0, -50.0, 0.0),
    ]
    assert plan["baseline"]["standalone_money_cost"] == 0.0
    assert plan["baseline"]["standalone_objective"] == pytest.approx(1100.0)
    assert plan["baseline"]["savings"] == -110.0
    assert plan["baseline"]["savings_pct"] == 0.0

    plan_a = run(alone(doc, "A"))
    assert_figures(
        plan_a, purchase=0.0, shipping=0.0, unmet_penalty=600.0, unmet_units=60, objective=600.0
    )
    assert plan_a["awards"] == [] and plan_a["orders"] == [] and plan_a["shipments"] == []
    assert unmet_of(plan_a) == {"n-a": (60, "min_order")}
    plan_b = run(alone(doc, "B"))
    assert unmet_of(plan_b) == {"n-b": (50, "min_order")}
    assert plan_b["objective"] == pytest.approx(500.0)


def test_minimum_order_out_of_reach_even_pooled() -> None:
    # Same, minimum order 200: 60 + 50 = 110 < 200, so both needs stay unmet (min_order);
    # penalty (60 + 50) * 10.00 = 1100.00.
    doc = problem(
        needs=[need("n-a", agency="A", quantity=60), need("n-b", agency="B", quantity=50)],
        offers=[offer("o-1", moq=200)],
        routes=[route()],
    )
    plan = run(doc)
    assert_figures(
        plan, purchase=0.0, shipping=0.0, unmet_penalty=1100.0, unmet_units=110, objective=1100.0
    )
    assert unmet_of(plan) == {"n-a": (60, "min_order"), "n-b": (50, "min_order")}


# --------------------------------------------------------------------------- (c) routes


@pytest.mark.parametrize(
    ("fixed", "glove_offer", "glove_price", "purchase", "shipments"),
    [
        # Fixed 50 a route. All at S1: 100 * 1.00 + 100 * 1.00 = 200.00 + one route 50.00 =
        # 250.00. Gloves from S2: 100.00 + 90.00 = 190.00 + two routes 100.00 = 290.00.
        # Consolidating on S1 wins despite S2's cheaper gloves.
        (50.0, "o-s1-glove", 1.0, 200.0, [shipment(200, 50.0, fixed=50.0)]),
        # Fixed 5 a route: S1 only 200.00 + 5.00 = 205.00; split 190.00 + 10.00 = 200.00.
        # Now the cheaper unit price wins.
        (
            5.0,
            "o-s2-glove",
            0.9,
            190.0,
            [shipment(100, 5.0, fixed=5.0), shipment(100, 5.0, supplier="S2", fixed=5.0)],
        ),
    ],
)
def test_route_fixed_cost_makes_consolidation_win(
    fixed: float,
    glove_offer: str,
    glove_price: float,
    purchase: float,
    shipments: list[dict[str, Any]],
) -> None:
    # One agency at L needs 100 masks and 100 gloves. S1 sells both at 1.00; S2 sells gloves
    # at 0.90. p(glove) = max(1.00, 0.90) = 1.00; unmet costs 10.00 a unit: everything is
    # bought.
    doc = problem(
        needs=[need("n-mask", quantity=100), need("n-glove", item="glove", quantity=100)],
        offers=[
            offer("o-s1-mask"),
            offer("o-s1-glove", item="glove"),
            offer("o-s2-glove", supplier="S2", item="glove", tiers=[(0, 0.90)]),
        ],
        routes=[route("S1", "L", fixed=fixed), route("S2", "L", fixed=fixed)],
    )
    plan = run(doc)
    shipping = sum(s["cost"] for s in shipments)
    assert_figures(plan, purchase=purchase, shipping=shipping, objective=purchase + shipping)
    glove_supplier = "S1" if glove_offer.startswith("o-s1") else "S2"
    assert project(plan["awards"], AWARD_KEYS) == project(
        [
            award("n-mask", "o-s1-mask", 100, 1.0),
            award("n-glove", glove_offer, 100, glove_price, supplier=glove_supplier),
        ],
        AWARD_KEYS,
    )
    assert project(plan["shipments"], SHIPMENT_KEYS) == project(shipments, SHIPMENT_KEYS)
    assert project(plan["agencies"], AGENCY_KEYS) == [
        agency_line("A", purchase + shipping, purchase + shipping, purchase + shipping, 0.0, 0.0)
    ]


# --------------------------------------------------------------------------- (d) capacity


def test_capacity_forces_a_split_across_two_offers() -> None:
    # Need 100. o-1 (S1) 1.00 but only 60 units; o-2 (S2) 1.20, capacity 100. Free routes.
    # p(mask) = 1.20, unmet costs 12.00 a unit. Best: 60 from o-1 (60.00) and the other 40
    # from o-2 (48.00): 108.00.
    doc = problem(
        needs=[need("n-1", quantity=100)],
        offers=[
            offer("o-1", capacity=60),
            offer("o-2", supplier="S2", tiers=[(0, 1.20)], capacity=100),
        ],
        routes=[route("S1", "L"), route("S2", "L")],
    )
    plan = run(doc)
    assert_figures(plan, purchase=108.0, shipping=0.0, objective=108.0)
    assert project(plan["awards"], AWARD_KEYS) == [
        award("n-1", "o-1", 60, 1.0),
        award("n-1", "o-2", 40, 1.2, supplier="S2"),
    ]
    assert project(plan["orders"], ORDER_KEYS) == [
        order("o-1", 60, 0, 1.0, 60.0),
        order("o-2", 40, 0, 1.2, 48.0, supplier="S2"),
    ]
    assert project(plan["shipments"], SHIPMENT_KEYS) == [
        shipment(60, 0.0),
        shipment(40, 0.0, supplier="S2"),
    ]


def test_capacity_leaves_the_lower_priority_need_unmet() -> None:
    # One offer, 1.00, capacity 80. A's need is critical (50), B's normal (50). p = 1.00:
    # an unmet critical unit costs 10 * 1.00 * 10 = 100.00, a normal one 10.00. The 80
    # units go to the critical 50 and 30 of the normal need; 20 normal units stay unmet
    # (capacity): penalty 200.00. Money 80.00; objective 280.00.
    # Alone each buys its 50 (50.00, capacity 80 is theirs alone).
    # Usage split: A 50.00, B 30.00; savings A 0.00 (0 %), B 20.00 (40 %).
    # Baseline 100.00 vs 80.00 -> 20.00 (20 %).
    doc = problem(
        needs=[
            need("n-crit", agency="A", quantity=50, priority="critical"),
            need("n-norm", agency="B", quantity=50, priority="normal"),
        ],
        offers=[offer("o-1", capacity=80)],
        routes=[route()],
    )
    plan = run(doc)
    assert_figures(
        plan, purchase=80.0, shipping=0.0, unmet_penalty=200.0, unmet_units=20, objective=280.0
    )
    assert project(plan["awards"], AWARD_KEYS) == [
        award("n-crit", "o-1", 50, 1.0),
        award("n-norm", "o-1", 30, 1.0),
    ]
    assert project(plan["orders"], ORDER_KEYS) == [order("o-1", 80, 0, 1.0, 80.0)]
    assert unmet_of(plan) == {"n-norm": (20, "capacity")}
    assert project(plan["agencies"], AGENCY_KEYS) == [
        agency_line("A", 50.0, 50.0, 50.0, 0.0, 0.0),
        agency_line("B", 30.0, 50.0, 50.0, 20.0, 40.0),
    ]
    assert plan["baseline"]["savings"] == 20.0
    assert plan["baseline"]["savings_pct"] == pytest.approx(20.0, abs=1e-3)


def test_minimum_order_above_capacity_is_not_reported_too_costly() -> None:
    # o-1 sells at 1.00 but takes orders of at least 100 and can deliver only 50: no order
    # of o-1 is possible at all. The need of 200 is unmet (penalty 10 * 1.00 * 200 =
    # 2000.00). Buying would cost 1.00 a unit against a 10.00 penalty, so the contract's
    # `too_costly` ("penalty cheaper than buying") is false; what stands in the way is the
    # offer's capacity against its minimum order: `capacity` or `min_order`.
    doc = problem(
        needs=[need("n-1", quantity=200)],
        offers=[offer("o-1", capacity=50, moq=100)],
        routes=[route()],
    )
    plan = run(doc)
    assert_figures(
        plan, purchase=0.0, shipping=0.0, unmet_penalty=2000.0, unmet_units=200, objective=2000.0
    )
    ((quantity, reason),) = unmet_of(plan).values()
    assert quantity == 200
    assert reason in {"capacity", "min_order"}, plan["unmet"]


def test_first_tier_above_capacity_is_not_reported_too_costly() -> None:
    # The same with the minimum expressed as a first tier from 100 units and capacity 50.
    doc = problem(
        needs=[need("n-1", quantity=200)],
        offers=[offer("o-1", capacity=50, tiers=[(100, 1.0)])],
        routes=[route()],
    )
    plan = run(doc)
    assert plan["objective"] == pytest.approx(2000.0)
    ((quantity, reason),) = unmet_of(plan).values()
    assert quantity == 200
    assert reason in {"capacity", "min_order"}, plan["unmet"]


# --------------------------------------------------------------------------- (e) lateness

# o-late (S1): 0.90, lead time 10, route transit 0 -> 2026-12-01 + 5 + 10 = 2026-12-16.
# o-on (S2): 1.00, lead time 0, route transit 4 -> 2026-12-01 + 5 + 4 = 2026-12-10.
# The need (10 units) is due 2026-12-10: o-on arrives on the day (on time, 0 days late),
# o-late 6 days late. p(mask) = max(0.90, 1.00) = 1.00.


def _late_doc(priority: str, settings: Any = ABSENT) -> dict[str, Any]:
    return problem(
        needs=[need("n-1", quantity=10, need_by="2026-12-10", priority=priority)],
        offers=[
            offer("o-late", tiers=[(0, 0.90)], lead=10),
            offer("o-on", supplier="S2", tiers=[(0, 1.00)], lead=0),
        ],
        routes=[route("S1", "L", transit=0), route("S2", "L", transit=4)],
        settings=settings,
    )


@pytest.mark.parametrize(
    ("priority", "settings"),
    [
        # late_penalty_rate 0.05: 0.05 * 1.00 * 1 * 6 = 0.30 a unit -> 0.90 + 0.30 = 1.20
        # > 1.00: the on-time offer wins.
        ("normal", {"late_penalty_rate": 0.05}),
        # Default rate 0.01 but critical (weight 10): 0.01 * 1.00 * 10 * 6 = 0.60 a unit ->
        # 1.50 > 1.00: on time wins.
        ("critical", ABSENT),
    ],
)
def test_late_penalty_makes_the_on_time_offer_win(priority: str, settings: Any) -> None:
    # 10 * 1.00 = 10.00, delivered 2026-12-10 = need_by: on time, no late penalty.
    plan = run(_late_doc(priority, settings))
    assert_figures(plan, purchase=10.0, shipping=0.0, objective=10.0)
    assert project(plan["awards"], AWARD_KEYS) == [
        award("n-1", "o-on", 10, 1.0, supplier="S2", delivery="2026-12-10", late=0)
    ]


def test_price_gap_makes_the_late_offer_win() -> None:
    # Default rate 0.01, normal: 0.01 * 1.00 * 1 * 6 = 0.06 a unit -> 0.96 < 1.00: the late
    # offer wins. Money 10 * 0.90 = 9.00; late unit-days 10 * 6 = 60; late penalty
    # 60 * 0.01 = 0.60; objective 9.60.
    plan = run(_late_doc("normal"))
    assert_figures(
        plan, purchase=9.0, shipping=0.0, late_penalty=0.6, late_unit_days=60, objective=9.6
    )
    assert project(plan["awards"], AWARD_KEYS) == [
        award("n-1", "o-late", 10, 0.9, delivery="2026-12-16", late=6)
    ]
    assert project(plan["orders"], ORDER_KEYS) == [order("o-late", 10, 0, 0.9, 9.0)]


def test_one_day_before_delivery_is_one_day_late() -> None:
    # Only o-on, need due 2026-12-09: delivered 2026-12-10, 1 day late. Late penalty
    # 0.01 * 1.00 * 1 * 1 * 10 = 0.10; objective 10.10.
    doc = problem(
        needs=[need("n-1", quantity=10, need_by="2026-12-09")],
        offers=[offer("o-on", supplier="S2")],
        routes=[route("S2", "L", transit=4)],
    )
    plan = run(doc)
    assert_figures(
        plan, purchase=10.0, shipping=0.0, late_penalty=0.1, late_unit_days=10, objective=10.1
    )
    assert project(plan["awards"], AWARD_KEYS) == [
        award("n-1", "o-on", 10, 1.0, supplier="S2", delivery="2026-12-10", late=1)
    ]


# --------------------------------------------------------------------------- (f) eligibility


@pytest.mark.parametrize(
    ("eligible", "served", "unmet"),
    [
        # Only B may buy: B's 10 bought (10.00); A's 10 unmet, not_eligible, 10 * 10.00 = 100.
        (["B"], ["n-b"], ["n-a"]),
        # [] means nobody: both unmet, not_eligible.
        ([], [], ["n-a", "n-b"]),
        # null and absent mean everybody: both bought.
        (None, ["n-a", "n-b"], []),
        (ABSENT, ["n-a", "n-b"], []),
    ],
)
def test_eligible_agencies(eligible: Any, served: list[str], unmet: list[str]) -> None:
    # One offer at 1.00 (p = 1.00), free route; A and B need 10 each.
    doc = problem(
        needs=[need("n-a", agency="A", quantity=10), need("n-b", agency="B", quantity=10)],
        offers=[offer("o-1", eligible=eligible)],
        routes=[route()],
        agencies=["A", "B"],
    )
    plan = run(doc)
    bought = 10.0 * len(served)
    penalty = 100.0 * len(unmet)
    assert_figures(
        plan,
        purchase=bought,
        shipping=0.0,
        unmet_penalty=penalty,
        unmet_units=10 * len(unmet),
        objective=bought + penalty,
    )
    assert project(plan["awards"], AWARD_KEYS) == [award(n, "o-1", 10, 1.0) for n in served]
    assert unmet_of(plan) == {n: (10, "not_eligible") for n in unmet}


def test_ineligible_agency_buys_through_the_dearer_open_offer() -> None:
    # o-b (1.00) is reserved for B; o-all (1.50) is open to all. p = 1.50. B buys 10 through
    # o-b (10.00), A through o-all (15.00). Money 25.00. Usage: A 15.00, B 10.00 = alone.
    doc = problem(
        needs=[need("n-a", agency="A", quantity=10), need("n-b", agency="B", quantity=10)],
        offers=[offer("o-b", eligible=["B"]), offer("o-all", tiers=[(0, 1.50)], eligible=None)],
        routes=[route()],
    )
    plan = run(doc)
    assert_figures(plan, purchase=25.0, shipping=0.0, objective=25.0)
    assert project(plan["awards"], AWARD_KEYS) == [
        award("n-a", "o-all", 10, 1.5),
        award("n-b", "o-b", 10, 1.0),
    ]
    assert project(plan["agencies"], AGENCY_KEYS) == [
        agency_line("A", 15.0, 15.0, 15.0, 0.0, 0.0),
        agency_line("B", 10.0, 10.0, 10.0, 0.0, 0.0),
    ]


# --------------------------------------------------------------------------- (g) reachability


def test_no_route_and_no_offer() -> None:
    # n-ok: 10 masks at L, bought through o-1 (1.00; route S1->L): 10.00.
    # n-far: 5 masks at L2, where no route from S1 goes: no_route; p(mask) = 1.00 ->
    #   penalty 10 * 1.00 * 5 = 50.00.
    # n-glove: 3 gloves, which no offer sells: no_offer; p(glove) = 0 -> penalty 0.
    # Objective 10.00 + 50.00 = 60.00; 8 units unmet.
    doc = problem(
        needs=[
            need("n-ok", quantity=10),
            need("n-far", location="L2", quantity=5),
            need("n-glove", item="glove", quantity=3),
        ],
        offers=[offer("o-1")],
        routes=[route("S1", "L")],
    )
    plan = run(doc)
    assert_figures(
        plan, purchase=10.0, shipping=0.0, unmet_penalty=50.0, unmet_units=8, objective=60.0
    )
    assert project(plan["awards"], AWARD_KEYS) == [award("n-ok", "o-1", 10, 1.0)]
    assert unmet_of(plan) == {"n-far": (5, "no_route"), "n-glove": (3, "no_offer")}
    assert project(plan["agencies"], AGENCY_KEYS) == [agency_line("A", 10.0, 10.0, 60.0, 0.0, 0.0)]


# --------------------------------------------------------------------------- (h) too_costly


def test_too_costly_when_the_unmet_penalty_is_cheaper_than_buying() -> None:
    # unmet_penalty_rate 0.5: a unit unmet costs 0.5 * 1.00 * 1 = 0.50 < 1.00 to buy.
    # 10 units unmet (too_costly): penalty 5.00 = objective; nothing bought.
    doc = problem(
        needs=[need("n-1", quantity=10)],
        offers=[offer("o-1")],
        routes=[route()],
        settings={"unmet_penalty_rate": 0.5},
    )
    plan = run(doc)
    assert_figures(
        plan, purchase=0.0, shipping=0.0, unmet_penalty=5.0, unmet_units=10, objective=5.0
    )
    assert plan["awards"] == [] and plan["orders"] == [] and plan["shipments"] == []
    assert unmet_of(plan) == {"n-1": (10, "too_costly")}
    assert project(plan["agencies"], AGENCY_KEYS) == [agency_line("A", 0.0, 0.0, 5.0, 0.0, 0.0)]


def test_too_costly_because_of_the_route_fixed_cost() -> None:
    # Default rate: unmet costs 10.00 a unit, 100.00 for 10; buying costs 10.00 + a route
    # fixed cost of 1000.00. Left unmet (too_costly); objective 100.00.
    doc = problem(
        needs=[need("n-1", quantity=10)],
        offers=[offer("o-1")],
        routes=[route(fixed=1000.0)],
    )
    plan = run(doc)
    assert_figures(
        plan, purchase=0.0, shipping=0.0, unmet_penalty=100.0, unmet_units=10, objective=100.0
    )
    assert unmet_of(plan) == {"n-1": (10, "too_costly")}


def test_reference_price_is_the_highest_first_tier_price_of_any_offer() -> None:
    # o-3 (S3) has no route to L, yet sells masks: p(mask) = max(1.00, 3.00) = 3.00 (its
    # first tier, not its 0.10 volume tier). With unmet_penalty_rate 0.5 an unmet unit costs
    # 0.5 * 3.00 = 1.50 > 1.00, so the 10 units are bought through o-1: objective 10.00.
    # (With p = 1.00 they would have been left unmet at 0.50 a unit.)
    doc = problem(
        needs=[need("n-1", quantity=10)],
        offers=[offer("o-1"), offer("o-3", supplier="S3", tiers=[(0, 3.00), (5, 0.10)])],
        routes=[route("S1", "L")],
        settings={"unmet_penalty_rate": 0.5},
    )
    plan = run(doc)
    assert_figures(plan, purchase=10.0, shipping=0.0, objective=10.0)
    assert project(plan["awards"], AWARD_KEYS) == [award("n-1", "o-1", 10, 1.0)]


# --------------------------------------------------------------------------- (i) first tier


def test_first_tier_above_zero_acts_as_a_minimum_order() -> None:
    # o-1 has one tier from 50 units at 1.00 (no min_order_quantity). A and B need 30 each.
    # Pooled: 60 >= 50 -> 60 * 1.00 = 60.00, tier_min_quantity 50. Usage A 30.00, B 30.00.
    # Alone: 30 < 50 cannot be ordered: 30 unmet (min_order), penalty 10 * 1.00 * 30 =
    # 300.00, money 0; savings -30.00 each (0 %).
    doc = problem(
        needs=[need("n-a", agency="A", quantity=30), need("n-b", agency="B", quantity=30)],
        offers=[offer("o-1", tiers=[(50, 1.00)])],
        routes=[route()],
    )
    plan = run(doc)
    assert_figures(plan, purchase=60.0, shipping=0.0, objective=60.0)
    assert project(plan["orders"], ORDER_KEYS) == [order("o-1", 60, 50, 1.0, 60.0)]
    assert project(plan["agencies"], AGENCY_KEYS) == [
        agency_line("A", 30.0, 0.0, 300.0, -30.0, 0.0),
        agency_line("B", 30.0, 0.0, 300.0, -30.0, 0.0),
    ]
    plan_a = run(alone(doc, "A"))
    assert plan_a["objective"] == pytest.approx(300.0)
    assert unmet_of(plan_a) == {"n-a": (30, "min_order")}

    # 30 + 10 = 40 < 50: nothing can be ordered even pooled; 400.00 of penalties.
    short = problem(
        needs=[need("n-a", agency="A", quantity=30), need("n-b", agency="B", quantity=10)],
        offers=[offer("o-1", tiers=[(50, 1.00)])],
        routes=[route()],
    )
    plan = run(short)
    assert plan["objective"] == pytest.approx(400.0)
    assert unmet_of(plan) == {"n-a": (30, "min_order"), "n-b": (10, "min_order")}


# --------------------------------------------------------------------------- (j) proportional


def test_proportional_allocation_and_largest_remainder() -> None:
    # Tiers 1.00 / from 150 units 0.60; route fixed 1.00. A needs 50, B 100.
    # Alone: A 50.00 + 1.00 = 51.00; B 100.00 + 1.00 = 101.00 (sum 152.00).
    # Pooled: 150 * 0.60 = 90.00 + 1.00 = 91.00.
    # Proportional: A 91 * 51/152 = 30.5328..; B 91 * 101/152 = 60.4671..
    #   floors 30.53 + 60.46 = 90.99; the cent left to the larger remainder (B .0071 > A
    #   .0029): A 30.53, B 60.47 (usage would have given 30.33 / 60.67).
    # Savings: A 51.00 - 30.53 = 20.47 (40.1373 %), B 101.00 - 60.47 = 40.53 (40.1287 %).
    doc = problem(
        needs=[need("n-a", agency="A", quantity=50), need("n-b", agency="B", quantity=100)],
        offers=[offer("o-1", tiers=[(0, 1.00), (150, 0.60)])],
        routes=[route(fixed=1.0)],
        settings={"allocation": "proportional"},
    )
    plan = run(doc)
    assert_figures(plan, purchase=90.0, shipping=1.0, objective=91.0)
    assert project(plan["orders"], ORDER_KEYS) == [order("o-1", 150, 150, 0.6, 90.0)]
    assert project(plan["agencies"], AGENCY_KEYS) == [
        agency_line("A", 30.53, 51.0, 51.0, 20.47, 40.1373),
        agency_line("B", 60.47, 101.0, 101.0, 40.53, 40.1287),
    ]


def test_proportional_split_in_thirds_of_a_cent_adds_up() -> None:
    # Three agencies need 50 each: alone each pays 50.00 + 1.00 = 51.00; pooled 150 * 0.60 +
    # 1.00 = 91.00. Equal stand-alone costs: each share 91/3 = 30.3333..; floors 3 * 30.33
    # = 90.99; the one cent left goes to one of them (equal remainders): 30.34, 30.33, 30.33,
    # summing to 91.00 exactly.
    doc = problem(
        needs=[need(f"n-{a}", agency=a, quantity=50) for a in ("A", "B", "C")],
        offers=[offer("o-1", tiers=[(0, 1.00), (150, 0.60)])],
        routes=[route(fixed=1.0)],
        settings={"allocation": "proportional"},
    )
    plan = run(doc)
    assert plan["money_cost"] == 91.0
    shares = sorted(a["allocated_cost"] for a in plan["agencies"])
    assert shares == [30.33, 30.33, 30.34]
    assert sum(cents(s) for s in shares) == Decimal("91.00")
    assert all(a["standalone_cost"] == 51.0 for a in plan["agencies"])


def test_proportional_falls_back_to_usage_when_stand_alone_costs_are_zero() -> None:
    # The minimum-order case: alone nobody can buy (stand-alone money 0 each), so the pooled
    # 110.00 is split by usage: A 60.00, B 50.00.
    doc = problem(
        needs=[need("n-a", agency="A", quantity=60), need("n-b", agency="B", quantity=50)],
        offers=[offer("o-1", moq=100)],
        routes=[route()],
        settings={"allocation": "proportional"},
    )
    plan = run(doc)
    assert {a["agency"]: a["allocated_cost"] for a in plan["agencies"]} == {"A": 60.0, "B": 50.0}


# --------------------------------------------------------------------------- (k) settings

# One served need: 10 masks due 2026-12-04 from o-1 (2.00, lead 0, transit 0); three needs
# at L2 (no route), one unit each, critical / high / normal. p(mask) = 2.00.
# With the defaults: delivery 2026-12-01 + 5 = 2026-12-06, 2 days late; late penalty
# 0.01 * 2.00 * 1 * 2 * 10 = 0.40; money 20.00; unmet 10 * 2.00 * (10 + 3 + 1) = 280.00;
# objective 300.40. Allocation usage: A pays 20.00.


def _settings_doc(settings: Any) -> dict[str, Any]:
    return problem(
        needs=[
            need("n-served", quantity=10, need_by="2026-12-04"),
            need("n-crit", location="L2", quantity=1, priority="critical"),
            need("n-high", location="L2", quantity=1, priority="high"),
            need("n-norm", location="L2", quantity=1, priority="normal"),
        ],
        offers=[offer("o-1", tiers=[(0, 2.00)])],
        routes=[route("S1", "L")],
        settings=settings,
    )


@pytest.mark.parametrize(
    "settings",
    [
        ABSENT,
        {},
        {
            "order_processing_days": None,
            "late_penalty_rate": None,
            "unmet_penalty_rate": None,
            "priority_weights": None,
            "time_limit_seconds": None,
            "relative_gap": None,
            "allocation": None,
        },
        {"priority_weights": {}},
        {"priority_weights": {"critical": None, "high": None, "normal": None}},
    ],
    ids=["absent", "empty", "all-null", "empty-weights", "null-weights"],
)
def test_settings_defaults(settings: Any) -> None:
    plan = run(_settings_doc(settings))
    assert_figures(
        plan,
        purchase=20.0,
        shipping=0.0,
        late_penalty=0.4,
        late_unit_days=20,
        unmet_penalty=280.0,
        unmet_units=3,
        objective=300.4,
    )
    assert project(plan["awards"], AWARD_KEYS) == [
        award("n-served", "o-1", 10, 2.0, delivery="2026-12-06", late=2)
    ]
    assert unmet_of(plan) == {
        "n-crit": (1, "no_route"),
        "n-high": (1, "no_route"),
        "n-norm": (1, "no_route"),
    }


def test_partial_priority_weights_merge_with_the_defaults() -> None:
    # high set to 5, critical and normal keep 10 and 1: unmet 2.00 * 10 * (10 + 5 + 1) =
    # 320.00. order_processing_days 1: delivery 2026-12-02, on time. Objective 340.00.
    plan = run(_settings_doc({"priority_weights": {"high": 5}, "order_processing_days": 1}))
    assert_figures(
        plan, purchase=20.0, shipping=0.0, unmet_penalty=320.0, unmet_units=3, objective=340.0
    )
    assert project(plan["awards"], AWARD_KEYS) == [
        award("n-served", "o-1", 10, 2.0, delivery="2026-12-02", late=0)
    ]


def test_weights_and_rates_set_explicitly() -> None:
    # unmet_penalty_rate 1, late_penalty_rate 0.1, weights 2/2/2, processing 5 (default):
    # late 0.1 * 2.00 * 2 * 2 days * 10 units = 8.00 (buying at 2.80 a unit still beats an
    # unmet unit at 1 * 2.00 * 2 = 4.00); unmet 1 * 2.00 * 2 * 3 = 12.00; objective
    # 20.00 + 8.00 + 12.00 = 40.00.
    settings = {
        "unmet_penalty_rate": 1,
        "late_penalty_rate": 0.1,
        "priority_weights": {"critical": 2, "high": 2, "normal": 2},
    }
    plan = run(_settings_doc(settings))
    assert_figures(
        plan,
        purchase=20.0,
        shipping=0.0,
        late_penalty=8.0,
        late_unit_days=20,
        unmet_penalty=12.0,
        unmet_units=3,
        objective=40.0,
    )


# --------------------------------------------------------------------------- (l) empty


@pytest.mark.parametrize(
    "document",
    [
        problem(),
        problem(offers=[offer("o-1")], routes=[route()], agencies=["A", "B"]),
    ],
    ids=["nothing", "catalogue-without-needs"],
)
def test_empty_problem_gives_an_optimal_empty_plan(document: dict[str, Any]) -> None:
    plan = run(document)
    assert plan["status"] == "optimal"
    for key in (
        "objective",
        "relative_gap",
        "purchase_cost",
        "shipping_cost",
        "money_cost",
        "late_penalty",
        "unmet_penalty",
    ):
        assert plan[key] == 0.0, key
    assert plan["late_unit_days"] == 0 and plan["unmet_units"] == 0
    for key in ("awards", "orders", "shipments", "unmet", "agencies"):
        assert plan[key] == [], key
    assert plan["baseline"] == {
        "standalone_money_cost": 0.0,
        "standalone_objective": 0.0,
        "pooled_money_cost": 0.0,
        "savings": 0.0,
        "savings_pct": 0.0,
    }


# --------------------------------------------------------------------------- (m) limits


def _tier_doc(settings: Any = ABSENT) -> dict[str, Any]:
    # The instance of (a): optimum 176.10 (binaries for the tier and the route).
    return problem(
        needs=[need("n-a", agency="A", quantity=60), need("n-b", agency="B", quantity=50)],
        offers=[offer("o-1", tiers=[(0, 2.00), (100, 1.50)])],
        routes=[route("S1", "L", fixed=10.0, unit=0.01)],
        settings=settings,
    )


def test_relative_gap_override_status_matches_the_reported_gap() -> None:
    plan = run(_tier_doc(), relative_gap=0.5)
    assert plan["relative_gap"] >= 0.0
    assert plan["bound"] <= plan["objective"] + 1e-9
    assert (plan["status"] == "optimal") == (plan["relative_gap"] <= 0.5)
    # No plan beats the optimum 176.10; an `optimal` one is within 50 % of its bound <= 176.10:
    # objective - bound <= 0.5 * objective, so objective <= 2 * 176.10.
    assert plan["objective"] >= 176.1 - 1e-6
    if plan["status"] == "optimal":
        assert plan["objective"] <= 2 * 176.1 + 1e-6


def test_time_limit_override_is_honoured() -> None:
    # The document allows 60 s; a near-zero override stops the pooled search before it
    # proves anything, so the plan cannot be `optimal` at the default 1e-4 gap.
    plan = run(_tier_doc(), time_limit_seconds=1e-9)
    assert plan["status"] == "feasible"
    assert plan["relative_gap"] > 1e-4
    # And the other way round: the document's tiny limit is overridden by a generous one.
    plan = run(_tier_doc({"time_limit_seconds": 1e-9}), time_limit_seconds=60)
    assert plan["status"] == "optimal"
    assert plan["objective"] == pytest.approx(176.1)


def test_relative_gap_override_decides_the_status() -> None:
    # A plan stopped by the time limit with gap g is `optimal` once the allowed gap is >= g
    # (the contract: optimal when the gap is within relative_gap), `feasible` below it.
    stopped = run(_tier_doc(), time_limit_seconds=1e-9)
    gap = stopped["relative_gap"]
    assert gap > 0
    relaxed = run(_tier_doc(), time_limit_seconds=1e-9, relative_gap=gap)
    assert relaxed["relative_gap"] == pytest.approx(gap)
    assert relaxed["status"] == "optimal"
    strict = run(_tier_doc({"relative_gap": 1.0}), time_limit_seconds=1e-9, relative_gap=gap / 2)
    assert strict["status"] == "feasible"


def test_stand_alone_stopped_by_the_time_limit_is_not_reported_optimal() -> None:
    # The contract applies the time limit to each stand-alone solve too. On the seeded small
    # demo, a near-zero limit stops most agencies' solves before any plan is found; each
    # agency's stand-alone line then describes "leave everything unmet", which is far from
    # that agency's optimum. Such a line must not call itself optimal (the plan's own
    # `status` rule: optimal only when the gap to a proven bound is within relative_gap).
    document = generate_problem("small", 0)
    full = {a["agency"]: a for a in solve(document)["agencies"]}
    stopped = run(document, time_limit_seconds=1e-9)
    wrong = [
        (a["agency"], a["standalone_objective"], full[a["agency"]]["standalone_objective"])
        for a in stopped["agencies"]
        if a.get("standalone_status") == "optimal"
        and a["standalone_objective"]
        > full[a["agency"]]["standalone_objective"] * (1 + 1e-4) + 1e-6
    ]
    assert wrong == [], (
        "stand-alone lines marked optimal although their objective (2nd) is far above the "
        f"agency's optimum (3rd): {wrong}"
    )


# --------------------------------------------------------------------------- (n) agencies


def test_agencies_lists_exactly_the_agencies_with_needs() -> None:
    # Agencies A, B, C; only A and C have needs; B is named in an offer's eligibility list
    # only. The plan lists A and C (10.00 each), not B.
    doc = problem(
        needs=[need("n-a", agency="A"), need("n-c", agency="C")],
        offers=[offer("o-1", eligible=["A", "B", "C"])],
        routes=[route()],
        agencies=["A", "B", "C"],
    )
    plan = run(doc)
    assert sorted(a["agency"] for a in plan["agencies"]) == ["A", "C"]
    assert project(plan["agencies"], AGENCY_KEYS) == [
        agency_line("A", 10.0, 10.0, 10.0, 0.0, 0.0),
        agency_line("C", 10.0, 10.0, 10.0, 0.0, 0.0),
    ]


# --------------------------------------------------------------------------- (o) awards


def test_awards_are_whole_and_one_per_need_and_offer() -> None:
    # Two needs of one agency at L for the same item, two offers with capacities that force
    # both needs to spread: 7 + 8 = 15 units against o-1 (1.00, capacity 9) and o-2 (1.10,
    # capacity 9). Cheapest: 9 from o-1 (9.00), 6 from o-2 (6.60) = 15.60. Which need gets
    # which units is free; every award is a whole number >= 1, one per (need, offer).
    doc = problem(
        needs=[need("n-1", quantity=7), need("n-2", quantity=8)],
        offers=[
            offer("o-1", capacity=9),
            offer("o-2", supplier="S2", tiers=[(0, 1.10)], capacity=9),
        ],
        routes=[route("S1", "L"), route("S2", "L")],
    )
    plan = run(doc)
    assert_figures(plan, purchase=15.6, shipping=0.0, objective=15.6)
    assert project(plan["orders"], ORDER_KEYS) == [
        order("o-1", 9, 0, 1.0, 9.0),
        order("o-2", 6, 0, 1.1, 6.6, supplier="S2"),
    ]
    for line in plan["awards"]:
        assert type(line["quantity"]) is int and line["quantity"] >= 1
    assert len(by(plan["awards"], "need", "offer")) == len(plan["awards"])


def test_whole_floats_in_the_document_give_whole_awards() -> None:
    # Quantities written 10.0 are whole numbers: the award is the integer 10, 10.00 money.
    doc = problem(
        needs=[need("n-1", quantity=10.0)],
        offers=[offer("o-1", capacity=100.0, moq=0.0, lead=0.0)],
        routes=[route(transit=0.0)],
    )
    plan = run(doc)
    assert_figures(plan, purchase=10.0, shipping=0.0, objective=10.0)
    (line,) = plan["awards"]
    assert type(line["quantity"]) is int and line["quantity"] == 10
