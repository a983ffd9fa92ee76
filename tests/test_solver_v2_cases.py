"""Tiny hand-made instances, one per family that shared/contract/problem-v2.md adds.

Same ground as tests/test_solver_cases.py (its builders, its `run`, which holds every plan to
the contract's list rules): deliveries land on 2026-12-06, needs are due 2026-12-31 at normal
priority, routes are free unless stated, and the unmet penalty of a unit is 10 times the
item's reference price (its dearest first-tier price) times the priority weight (normal 1,
critical 10). Each test works out the optimal plan by hand and asserts it exactly.
"""

from __future__ import annotations

from typing import Any

import pytest

from solver import solve
from solver.examples import generate_problem
from tests.builders import need, offer, problem, route
from tests.test_solver_cases import project, run, unmet_of

pytestmark = pytest.mark.unit

ORDER_KEYS = ("offer", "quantity", "packs", "surplus", "goods_cost", "fee", "cost")


def awards_of(plan: dict[str, Any]) -> set[tuple[str, str, int]]:
    return {(a["need"], a["offer"], a["quantity"]) for a in plan["awards"]}


def rule_line(plan: dict[str, Any], rule: str) -> dict[str, Any]:
    return next(r for r in plan["rules"] if r["rule"] == rule)


def agency_line(plan: dict[str, Any], agency: str) -> dict[str, Any]:
    return next(a for a in plan["agencies"] if a["agency"] == agency)


def test_a_pack_surplus_beats_a_second_supplier() -> None:
    # 95 masks pooled (A 60, B 35). S1 sells packs of 50 at 1.00 a unit; S2 sells by the unit
    # at 1.00 over a route with a fixed cost of 10. Two packs: 100.00 with 5 units surplus.
    # One pack and 45 from S2: 50 + 45 + 10 = 105; all from S2: 105. Two packs win.
    document = problem(
        needs=[need("n-a", agency="A", quantity=60), need("n-b", agency="B", quantity=35)],
        offers=[offer("o-1", tiers=[(0, 1.00)], pack_size=50), offer("o-2", supplier="S2")],
        routes=[route("S1", "L"), route("S2", "L", fixed=10.0)],
    )
    plan = run(document)
    assert plan["status"] == "optimal"
    assert awards_of(plan) == {("n-a", "o-1", 60), ("n-b", "o-1", 35)}
    assert project(plan["orders"], ORDER_KEYS) == [
        {"offer": "o-1", "quantity": 100, "packs": 2, "surplus": 5, "goods_cost": 100.0,
         "fee": 0.0, "cost": 100.0}
    ]  # fmt: skip
    assert plan["shipments"][0]["quantity"] == 95  # surplus is bought, not shipped
    assert plan["money_cost"] == 100.0 and plan["objective"] == pytest.approx(100.0)
    # Usage: own units plus the surplus's 5.00 by units on the offer, 60/95 and 35/95:
    # 63.1578... and 36.8421..., largest remainder to A.
    assert agency_line(plan, "A")["allocated_cost"] == 63.16
    assert agency_line(plan, "B")["allocated_cost"] == 36.84
    # Alone, B buys 35 from S2 (45.00 < one pack, 50.00); A 60 for 70.00 either way.
    assert agency_line(plan, "B")["standalone_cost"] == 45.0
    assert agency_line(plan, "A")["standalone_cost"] == 70.0


def test_a_fee_flips_the_choice_of_offer() -> None:
    # 100 masks. S1 at 0.98 with an 8.5% fee lands at 1.0633; S2 at 1.00 with 4% lands at
    # 1.04. Without fees S1 would win; with them S2: goods 100.00, fee 4.00.
    document = problem(
        needs=[need("n-1", quantity=100)],
        offers=[
            offer("o-1", tiers=[(0, 0.98)], fee_rate=0.085),
            offer("o-2", supplier="S2", tiers=[(0, 1.00)], fee_rate=0.04),
        ],
        routes=[route("S1", "L"), route("S2", "L")],
    )
    plan = run(document)
    assert awards_of(plan) == {("n-1", "o-2", 100)}
    assert project(plan["orders"], ORDER_KEYS) == [
        {"offer": "o-2", "quantity": 100, "packs": 100, "surplus": 0, "goods_cost": 100.0,
         "fee": 4.0, "cost": 104.0}
    ]  # fmt: skip
    assert plan["fees"] == 4.0
    assert plan["purchase_cost"] == 104.0 and plan["money_cost"] == 104.0
    assert agency_line(plan, "A")["allocated_cost"] == 104.0
    assert agency_line(plan, "A")["direct_spend"] == 104.0
    without_fees = run({**document, "offers": [{**o, "fee_rate": 0} for o in document["offers"]]})
    assert awards_of(without_fees) == {("n-1", "o-1", 100)}


def test_a_group_capacity_forces_a_split() -> None:
    # S1's masks and gloves (1.00 each) share one line of 120 units. S2 sells masks at 2.00
    # and gloves at 1.50. Each unit S1 makes saves 1.00 on a mask, 0.50 on a glove: 100 masks
    # and 20 gloves from S1, the other 60 gloves from S2: 100 + 20 + 90 = 210.
    document = problem(
        needs=[need("n-m", quantity=100), need("n-g", item="glove", quantity=80)],
        offers=[
            offer("o-m1", tiers=[(0, 1.00)]),
            offer("o-g1", item="glove", tiers=[(0, 1.00)]),
            offer("o-m2", supplier="S2", tiers=[(0, 2.00)]),
            offer("o-g2", supplier="S2", item="glove", tiers=[(0, 1.50)]),
        ],
        routes=[route("S1", "L"), route("S2", "L")],
    )
    document["capacity_groups"] = [{"id": "line-1", "offers": ["o-m1", "o-g1"], "capacity": 120}]
    plan = run(document)
    assert awards_of(plan) == {("n-m", "o-m1", 100), ("n-g", "o-g1", 20), ("n-g", "o-g2", 60)}
    assert plan["capacity_groups"] == [{"group": "line-1", "quantity": 120, "capacity": 120}]
    assert plan["money_cost"] == 210.0 and plan["unmet"] == []


def _three_suppliers(penalty: float) -> dict[str, Any]:
    # 300 masks; S1, S2, S3 can deliver 100 each at 1.00. At most two suppliers, or `penalty`.
    document = problem(
        needs=[need("n-1", quantity=300)],
        offers=[
            offer(f"o-{s}", supplier=f"S{s}", tiers=[(0, 1.00)], capacity=100) for s in (1, 2, 3)
        ],
        routes=[route(f"S{s}", "L") for s in (1, 2, 3)],
    )
    document["rules"] = [
        {"id": "r-1", "kind": "max_suppliers", "item": "mask", "limit": 2, "penalty": penalty}
    ]
    return document


def test_a_max_suppliers_rule_is_broken_when_its_penalty_is_cheaper_than_unmet() -> None:
    # Three suppliers: 300 + a penalty of 50 = 350; two: 200 + 100 unmet at 10 = 1,200.
    plan = run(_three_suppliers(50.0))
    assert {a["offer"] for a in plan["awards"]} == {"o-1", "o-2", "o-3"}
    assert plan["unmet"] == []
    assert rule_line(plan, "r-1") == {
        "rule": "r-1", "count": 3, "share": None, "violation": 1.0, "penalty": 50.0
    }  # fmt: skip
    assert plan["rule_penalty"] == 50.0
    assert plan["money_cost"] == 300.0 and plan["objective"] == pytest.approx(350.0)


def test_a_max_suppliers_rule_dearer_than_unmet_leaves_units_unmet_for_the_rule() -> None:
    # A penalty of 2,000 is above the 1,000 the 100 units left unmet cost: two suppliers.
    plan = run(_three_suppliers(2000.0))
    assert len({a["supplier"] for a in plan["awards"]}) == 2
    assert rule_line(plan, "r-1")["violation"] == 0.0
    assert unmet_of(plan) == {"n-1": (100, "rule")}
    assert "r-1" in plan["unmet"][0]["detail"] and "at most 2" in plan["unmet"][0]["detail"]
    assert plan["objective"] == pytest.approx(200.0 + 1000.0)


def test_a_min_share_rule_keeps_an_incumbent() -> None:
    # 100 masks; the incumbent S1 at 1.10, a newcomer S2 at 1.00. S1 keeps 30% or 0.50 a unit
    # short: each unit moved to S1 costs 0.10 and saves 0.50, so S1 gets exactly 30.
    document = problem(
        needs=[need("n-1", quantity=100)],
        offers=[offer("o-1", tiers=[(0, 1.10)]), offer("o-2", supplier="S2", tiers=[(0, 1.00)])],
        routes=[route("S1", "L"), route("S2", "L")],
    )
    document["rules"] = [
        {"id": "lta", "kind": "min_share", "item": "mask", "supplier": "S1", "share": 0.3,
         "penalty": 0.5}
    ]  # fmt: skip
    plan = run(document)
    assert awards_of(plan) == {("n-1", "o-1", 30), ("n-1", "o-2", 70)}
    assert rule_line(plan, "lta") == {
        "rule": "lta", "count": None, "share": 0.3, "violation": 0.0, "penalty": 0.0
    }  # fmt: skip
    assert plan["money_cost"] == 103.0 and plan["objective"] == pytest.approx(103.0)


def test_a_budget_leaves_a_normal_priority_need_unmet_for_the_budget() -> None:
    # Agency A has 505.00 for masks at 10.00: 50 units. Its critical need (40, a unit unmet
    # costs 1,000) comes first, then 10 of its normal need (a unit unmet costs 100); 90 are
    # left unmet for the budget. B, without a budget, gets all it needs.
    document = problem(
        needs=[
            need("n-crit", agency="A", quantity=40, priority="critical"),
            need("n-norm", agency="A", quantity=100),
            need("n-b", agency="B", quantity=20),
        ],
        offers=[offer("o-1", tiers=[(0, 10.0)])],
        routes=[route("S1", "L")],
    )
    document["agencies"] = [{"id": "A", "budget": 505.0}, {"id": "B"}]
    plan = run(document)
    assert awards_of(plan) == {("n-crit", "o-1", 40), ("n-norm", "o-1", 10), ("n-b", "o-1", 20)}
    assert unmet_of(plan) == {"n-norm": (90, "budget")}
    detail = plan["unmet"][0]["detail"]
    assert "A's budget of 505.00" in detail and "500.00" in detail
    # 90 more units at 10.00 need 900.00, of which 5.00 are left: 895.00 more.
    assert "895.00" in detail
    a = agency_line(plan, "A")
    assert a["direct_spend"] == 500.0 and a["budget"] == 505.0
    assert agency_line(plan, "B")["budget"] is None
    assert plan["objective"] == pytest.approx(700.0 + 90 * 100.0)


def test_an_excluded_supplier_is_not_used_by_the_agency_that_excludes_it() -> None:
    # A excludes S1 (masks at 1.00) and buys from S2 at 1.20; B buys from S1. A's gloves are
    # sold by S1 only: not_eligible, by the exclusion alone.
    document = problem(
        needs=[
            need("n-a", agency="A", quantity=100),
            need("n-b", agency="B", quantity=50),
            need("n-g", agency="A", item="glove", quantity=5),
        ],
        offers=[
            offer("o-1", tiers=[(0, 1.00)]),
            offer("o-2", supplier="S2", tiers=[(0, 1.20)]),
            offer("o-g", item="glove", tiers=[(0, 2.00)]),
        ],
        routes=[route("S1", "L"), route("S2", "L")],
    )
    document["agencies"] = [{"id": "A", "excluded_suppliers": ["S1"]}, {"id": "B"}]
    plan = run(document)
    assert awards_of(plan) == {("n-a", "o-2", 100), ("n-b", "o-1", 50)}
    assert unmet_of(plan) == {"n-g": (5, "not_eligible")}
    assert "excludes" in plan["unmet"][0]["detail"]
    # No plan can serve the gloves: their penalty (5 x 20) is the unavoidable part.
    assert plan["unavoidable_penalty"] == pytest.approx(100.0)
    assert plan["money_cost"] == 170.0


def test_a_stand_alone_plan_keeps_the_agencys_budget() -> None:
    # Alone, A's budget still caps it: the same 50 units.
    document = problem(
        needs=[need("n-a", agency="A", quantity=60), need("n-b", agency="B", quantity=10)],
        offers=[offer("o-1", tiers=[(0, 10.0)])],
        routes=[route("S1", "L")],
    )
    document["agencies"] = [{"id": "A", "budget": 505.0}, {"id": "B"}]
    plan = run(document)
    a = agency_line(plan, "A")
    # 50 units (500.00) and 10 unmet at 100 each.
    assert a["standalone_cost"] == 500.0
    assert a["standalone_objective"] == pytest.approx(500.0 + 10 * 100.0)


@pytest.mark.parametrize(
    ("size", "seed", "before"),
    [
        # Objectives of commit c3146ec (contract v1 only), every one optimal within 1e-4.
        ("tiny", 0, 44745.55),
        ("tiny", 1, 68095.2832),
        ("tiny", 2, 29170.2276),
        ("tiny", 3, 75014.26),
        ("small", 0, 561748.6969),
        ("small", 1, 408099.2735),
        ("small", 2, 306181.7106),
        ("small", 3, 374043.9538),
    ],
)
def test_a_v1_example_reaches_the_same_optimum_as_before(
    size: str, seed: int, before: float
) -> None:
    plan = solve(generate_problem(size, seed))
    assert plan["status"] == "optimal"
    # Both within 1e-4 of the one optimum: never worse than before by more than that gap.
    assert plan["objective"] == pytest.approx(before, rel=1e-4)
    assert plan["rule_penalty"] == 0.0 and plan["fees"] == 0.0
    assert all(o["surplus"] == 0 for o in plan["orders"])


def _two_suppliers(rule: dict[str, Any], second_price: float) -> dict[str, Any]:
    document = problem(
        needs=[need("n-1", quantity=100)],
        offers=[
            offer("o-1", tiers=[(0, 1.00)]),
            offer("o-2", supplier="S2", tiers=[(0, second_price)]),
        ],
        routes=[route("S1", "L"), route("S2", "L")],
    )
    document["rules"] = [{"id": "r", "item": "mask", **rule}]
    return document


def test_a_min_suppliers_rule_takes_one_unit_from_a_second_supplier() -> None:
    # S1 at 1.00, S2 at 1.20, at least 2 suppliers or 10: one unit from S2 costs 0.20 more.
    plan = run(_two_suppliers({"kind": "min_suppliers", "limit": 2, "penalty": 10}, 1.20))
    assert awards_of(plan) == {("n-1", "o-1", 99), ("n-1", "o-2", 1)}
    assert rule_line(plan, "r")["count"] == 2 and rule_line(plan, "r")["violation"] == 0.0
    assert plan["objective"] == pytest.approx(100.20)
    # A penalty of 0.10 is cheaper than that unit: one supplier, the rule broken once.
    cheap = run(_two_suppliers({"kind": "min_suppliers", "limit": 2, "penalty": 0.1}, 1.20))
    assert awards_of(cheap) == {("n-1", "o-1", 100)}
    assert rule_line(cheap, "r") == {
        "rule": "r", "count": 1, "share": None, "violation": 1.0, "penalty": 0.1
    }  # fmt: skip
    assert cheap["objective"] == pytest.approx(100.10)


def test_a_max_share_rule_caps_the_cheapest_supplier() -> None:
    # S1 at 1.00 may have 60% or pay 1.00 a unit over it; S2 costs 1.30: S1 60, S2 40.
    rule = {"kind": "max_share", "supplier": "S1", "share": 0.6, "penalty": 1.0}
    plan = run(_two_suppliers(rule, 1.30))
    assert awards_of(plan) == {("n-1", "o-1", 60), ("n-1", "o-2", 40)}
    assert rule_line(plan, "r")["share"] == pytest.approx(0.6)
    assert plan["money_cost"] == 112.0 and plan["rule_penalty"] == 0.0


def test_a_budget_over_two_items_may_be_spent_to_the_cent() -> None:
    # A (budget 3.00) needs 3 masks and 3 tents, B 3 masks, all at 1.00 and free to ship. A
    # buys 3 of its 6 units for exactly 3.00: pooled 3 + 3 + 3 unmet x 10 = 36; alone, A
    # 3 + 30 = 33. (Found by the oracle branch: a safety margin under the cap bought only 2.)
    document = problem(
        needs=[
            need("n-m", agency="A", quantity=3),
            need("n-t", agency="A", item="tent", quantity=3),
            need("n-b", agency="B", quantity=3),
        ],
        offers=[offer("o-m", tiers=[(0, 1.00)]), offer("o-t", item="tent", tiers=[(0, 1.00)])],
        routes=[route("S1", "L")],
    )
    document["agencies"] = [{"id": "A", "budget": 3.0}, {"id": "B"}]
    plan = run(document)
    assert plan["status"] == "optimal"
    assert plan["objective"] == pytest.approx(36.0) and plan["bound"] == pytest.approx(36.0)
    assert agency_line(plan, "A")["direct_spend"] == 3.0
    assert sum(a["quantity"] for a in plan["awards"] if a["need"] != "n-b") == 3
    assert agency_line(plan, "A")["standalone_objective"] == pytest.approx(33.0)
    assert agency_line(plan, "B")["standalone_objective"] == pytest.approx(3.0)


def test_offers_closed_by_exclusion_and_eligibility_leave_the_need_not_eligible() -> None:
    # A excludes S1, whose offer has no route to L either; S2 reaches L but its offer is open
    # to nobody. Every offer is closed to A: not_eligible, not no_route.
    document = problem(
        needs=[need("n-1")],
        offers=[offer("o-1"), offer("o-2", supplier="S2", eligible=[])],
        routes=[route("S2", "L")],
        suppliers=["S1", "S2"],
    )
    document["agencies"] = [{"id": "A", "excluded_suppliers": ["S1"]}]
    plan = run(document)
    assert unmet_of(plan) == {"n-1": (10, "not_eligible")}
    assert "S1" in plan["unmet"][0]["detail"]
