"""Fairness (contract v2, "Fairness: coalitions and the least core") on hand-made cases.

Each case works out every coalition's value by hand, then the least core, the Shapley
value and the verdict, and asserts them exactly. Common ground as in
`tests/test_solver_cases.py` (tests/builders.py): deliveries on time, default penalties
(unmet: 10 x the item's reference price per unit at normal priority), so every coalition
here buys everything and its value is its money cost.
"""

from __future__ import annotations

from typing import Any

import pytest

from solver import solve
from solver.fairness import verdict
from tests.builders import by, need, offer, problem, route

pytestmark = pytest.mark.unit


def _settings(allocation: str, fairness: str = "core") -> dict[str, Any]:
    return {"allocation": allocation, "fairness": fairness}


def trucks_of_two(allocation: str) -> dict[str, Any]:
    """Three agencies, one unit each; two suppliers, each sells at most 2 units at 10
    and delivers for a fixed 60.

    v(A) = 60 + 10 = 70 (unmet would cost 100); v(pair) = 60 + 20 = 80 (one truck);
    v(ABC) = 2 x 60 + 30 = 150 (two trucks; one truck and a unit unmet costs 180).
    The three pairs claim 3 x 80 = 240 < 2 x 150: the core is empty. Least core: every
    pair's excess m_a + m_b - 80 <= eps; summed, 2 x 150 - 240 <= 3 eps, so eps = 20,
    reached only with every pair tight: m = (50, 50, 50).
    """
    return problem(
        needs=[need(f"n-{a}", agency=a, quantity=1) for a in "ABC"],
        offers=[
            offer("o-1", supplier="S1", tiers=[(0, 10.0)], capacity=2),
            offer("o-2", supplier="S2", tiers=[(0, 10.0)], capacity=2),
        ],
        routes=[route("S1", "L", fixed=60.0), route("S2", "L", fixed=60.0)],
        settings=_settings(allocation),
    )


def volume_discount(allocation: str, fairness: str = "core") -> dict[str, Any]:
    """A 60, B 50, C 40 units from one supplier: 10 a unit, 8 from 100 units (all units),
    a fixed 300 to deliver. Agency Z is listed but has no needs.

    v(A) = 300 + 600 = 900, v(B) = 800, v(C) = 700;
    v(AB) = 300 + 110 x 8 = 1180, v(AC) = 300 + 100 x 8 = 1100, v(BC) = 300 + 90 x 10 = 1200;
    v(ABC) = 300 + 150 x 8 = 1500.
    Least core: the pairs' constraints summed give 2 x 1500 - 3480 <= 3 eps, eps = -160,
    reached only with every pair tight: m_A = 1500 - 1200 + 160 = 460, m_B = 1500 - 1100
    + 160 = 560, m_C = 1500 - 1180 + 160 = 480; the singles' excesses (-440, -240, -220)
    stay below it.
    Usage: 150 units at 8 and the 300 by units: A 480 + 120 = 600, B 500, C 400; excesses
    AB 1100 - 1180 = -80, AC -100, BC -300, singles -300 each: stable, largest at AB.
    Shapley (k = 3, weights 1/3, 1/6, 1/3):
    phi_A = 900/3 + ((1180 - 800) + (1100 - 700))/6 + (1500 - 1200)/3 = 300 + 130 + 100 = 530,
    phi_B = 800/3 + ((1180 - 900) + (1200 - 700))/6 + (1500 - 1100)/3 = 530,
    phi_C = 700/3 + ((1100 - 900) + (1200 - 800))/6 + (1500 - 1180)/3 = 440.
    """
    return problem(
        needs=[
            need("n-a", agency="A", quantity=60),
            need("n-b", agency="B", quantity=50),
            need("n-c", agency="C", quantity=40),
        ],
        offers=[offer("o-1", tiers=[(0, 10.0), (100, 8.0)])],
        routes=[route("S1", "L", fixed=300.0)],
        agencies=["A", "B", "C", "Z"],
        settings=_settings(allocation, fairness),
    )


def test_empty_core_least_core_splits_evenly_and_says_so() -> None:
    plan = solve(trucks_of_two("least_core"))
    assert plan["objective"] == pytest.approx(150.0)
    agencies = by(plan["agencies"], "agency")
    for a in "ABC":
        assert agencies[a]["standalone_objective"] == pytest.approx(70.0)
        assert agencies[a]["allocated_cost"] == 50.0
    fairness = plan["fairness"]
    assert fairness["coalitions"] == 6
    assert fairness["exhaustive"] is True
    assert fairness["stable"] is False
    assert fairness["core_empty"] is True
    assert fairness["epsilon"] == pytest.approx(20.0, abs=1e-6)
    assert fairness["max_excess"] == pytest.approx(20.0)
    assert fairness["coalition"] == ["A", "B"]  # all three pairs tie; the first is named
    lines = by(fairness["agencies"], "agency")
    for a in "ABC":
        assert lines[a]["objective_share"] == pytest.approx(50.0)
        assert lines[a]["shapley"] == pytest.approx(50.0)
    assert (
        verdict(fairness, "USD") == "the core is empty: A and B would save USD 20.00 on their own"
    )


def test_empty_core_under_usage_is_unstable_too() -> None:
    plan = solve(trucks_of_two("usage"))
    fairness = plan["fairness"]
    # Usage puts two agencies on one truck (10 + 30 each) and one alone (10 + 60): the
    # lone one and either truck mate pay 110 for what costs them 80 together.
    assert fairness["stable"] is False
    assert fairness["core_empty"] is True
    assert fairness["epsilon"] is None
    assert fairness["max_excess"] == pytest.approx(30.0)
    assert sorted(a["allocated_cost"] for a in plan["agencies"]) == [40.0, 40.0, 70.0]


def test_least_core_split_computed_by_hand() -> None:
    plan = solve(volume_discount("least_core"))
    assert plan["money_cost"] == 1500.0
    agencies = by(plan["agencies"], "agency")
    assert {a: agencies[a]["allocated_cost"] for a in "ABC"} == {"A": 460.0, "B": 560.0, "C": 480.0}
    assert {a: agencies[a]["standalone_objective"] for a in "ABC"} == {
        "A": pytest.approx(900.0),
        "B": pytest.approx(800.0),
        "C": pytest.approx(700.0),
    }
    fairness = plan["fairness"]
    assert fairness["coalitions"] == 6  # Z has no needs: in no coalition
    assert fairness["stable"] is True
    assert fairness["core_empty"] is False
    assert fairness["epsilon"] == pytest.approx(-160.0, abs=1e-6)
    assert fairness["max_excess"] == pytest.approx(-160.0)
    assert fairness["coalition"] == ["A", "B"]
    lines = by(fairness["agencies"], "agency")
    assert {a: lines[a]["objective_share"] for a in "ABCZ"} == {
        "A": pytest.approx(460.0),
        "B": pytest.approx(560.0),
        "C": pytest.approx(480.0),
        "Z": 0.0,
    }
    assert {a: lines[a]["shapley"] for a in "ABCZ"} == {
        "A": pytest.approx(530.0),
        "B": pytest.approx(530.0),
        "C": pytest.approx(440.0),
        "Z": 0.0,
    }
    assert verdict(fairness) == "stable: no group of agencies would do better on its own"


def test_usage_split_checked_against_every_coalition() -> None:
    plan = solve(volume_discount("usage"))
    agencies = by(plan["agencies"], "agency")
    assert {a: agencies[a]["allocated_cost"] for a in "ABC"} == {"A": 600.0, "B": 500.0, "C": 400.0}
    fairness = plan["fairness"]
    assert fairness["stable"] is True
    assert fairness["epsilon"] is None
    assert fairness["max_excess"] == pytest.approx(-80.0)
    assert fairness["coalition"] == ["A", "B"]


def test_least_core_allocation_alone_brings_the_fairness_block() -> None:
    plan = solve(volume_discount("least_core", fairness="none"))
    assert plan["fairness"]["epsilon"] == pytest.approx(-160.0, abs=1e-6)
    assert "fairness" not in solve(volume_discount("usage", fairness="none"))


def test_objective_shares_hold_each_agency_s_own_penalties() -> None:
    """A buys 10 masks at 1 (nothing else); B's 5 gloves have no route: unmet, penalty
    10 x 2 x 5 = 100 (reference price 2), which B bears alone and alone would bear too.
    Shares: A 10, B 0 + 100 = 100, summing to the pooled objective 110."""
    doc = problem(
        needs=[
            need("n-a", agency="A", quantity=10),
            need("n-b", agency="B", item="gloves", location="M", quantity=5),
        ],
        offers=[offer("o-1", tiers=[(0, 1.0)]), offer("o-2", item="gloves", tiers=[(0, 2.0)])],
        routes=[route("S1", "L")],
        settings=_settings("usage"),
    )
    plan = solve(doc)
    assert plan["objective"] == pytest.approx(110.0)
    fairness = plan["fairness"]
    shares = {line["agency"]: line["objective_share"] for line in fairness["agencies"]}
    assert shares == {"A": pytest.approx(10.0), "B": pytest.approx(100.0)}
    assert fairness["stable"] is True
    assert fairness["max_excess"] == pytest.approx(0.0)


def test_one_agency_has_no_coalition_to_check() -> None:
    doc = problem(
        needs=[need("n-a", agency="A", quantity=10)],
        offers=[offer("o-1", tiers=[(0, 1.0)])],
        routes=[route("S1", "L")],
        settings=_settings("least_core"),
    )
    plan = solve(doc)
    fairness = plan["fairness"]
    assert (fairness["coalitions"], fairness["exhaustive"], fairness["stable"]) == (0, True, True)
    assert plan["agencies"][0]["allocated_cost"] == 10.0
    assert fairness["agencies"] == [{"agency": "A", "objective_share": 10.0, "shapley": 10.0}]


def test_a_broken_rule_s_penalty_is_shared_by_units_in_its_scope() -> None:
    """A 60 and B 40 masks from the one supplier at 1, a rule allowing no supplier at all
    (max_suppliers 0, penalty 5): buying breaks it once, 5, far cheaper than the unmet
    penalty. The 5 is A's and B's by units in scope: A 3, B 2. Usage: A 60, B 40."""
    doc = problem(
        needs=[need("n-a", agency="A", quantity=60), need("n-b", agency="B", quantity=40)],
        offers=[offer("o-1", tiers=[(0, 1.0)])],
        routes=[route("S1", "L")],
        settings=_settings("usage"),
    )
    doc["rules"] = [
        {"id": "r-1", "kind": "max_suppliers", "item": "mask", "limit": 0, "penalty": 5.0}
    ]
    plan = solve(doc)
    assert plan["rule_penalty"] == pytest.approx(5.0)
    shares = {line["agency"]: line["objective_share"] for line in plan["fairness"]["agencies"]}
    assert shares == {"A": pytest.approx(63.0), "B": pytest.approx(42.0)}
    assert sum(shares.values()) == pytest.approx(plan["objective"])
