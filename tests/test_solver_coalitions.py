"""Coalition values: which coalitions, their independent parts solved once each, in
parallel or not, with progress and cancellation (solver/coalitions.py, solver/baseline.py).

Every value is held to the plain definition: the optimum of the model with only the
coalition's needs, solved whole (`solve_needs`).
"""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from solver import SolveCancelled, SolveProgress, solve
from solver.baseline import solve_with_coalitions
from solver.coalitions import (
    coalitions_to_check,
    independent_bundles,
    plan_parts,
)
from solver.examples import generate_problem
from solver.pipeline import SolveResult, solve_needs
from solver.problem import Problem
from solver.validation import validate
from tests.builders import need, offer, problem, route

pytestmark = pytest.mark.unit


def test_every_proper_subset_up_to_twelve_agencies() -> None:
    agencies = [f"a{i}" for i in range(8)]
    found, exhaustive = coalitions_to_check(agencies)
    assert exhaustive is True
    assert len(found) == 254 == len(set(found))
    assert all(0 < len(c) < 8 for c in found)
    assert coalitions_to_check(["a"]) == ([], True)
    assert coalitions_to_check(["a", "b"]) == ([("a",), ("b",)], True)


def test_beyond_twelve_singles_pairs_and_complements() -> None:
    agencies = [f"a{i:02}" for i in range(13)]
    found, exhaustive = coalitions_to_check(agencies)
    assert exhaustive is False
    assert len(found) == 13 + 78 + 13 == len(set(found))
    assert {len(c) for c in found} == {1, 2, 12}


def three_markets(settings: Any = None) -> dict[str, Any]:
    """Masks for A and B (a route with a fixed cost ties them), tents for B and C (another
    route), soap for D alone; B's two purchases share nothing, so nothing ties A to C."""
    return problem(
        needs=[
            need("m-a", agency="A", quantity=60),
            need("m-b", agency="B", quantity=50),
            need("t-b", agency="B", item="tent", quantity=12),
            need("t-c", agency="C", item="tent", quantity=10),
            need("s-d", agency="D", item="soap", quantity=30),
        ],
        offers=[
            offer("o-mask", supplier="S1", tiers=[(0, 2.0), (100, 1.5)]),
            offer("o-tent", supplier="S2", item="tent", tiers=[(0, 20.0), (20, 15.0)]),
            offer("o-soap", supplier="S3", item="soap", tiers=[(0, 1.0)]),
        ],
        routes=[route("S1", "L", fixed=50.0), route("S2", "L", fixed=80.0), route("S3", "L")],
        settings={"fairness": "core"} if settings is None else settings,
    )


def _pooled(problem: Problem) -> Any:
    return lambda: solve_needs(problem)


def test_parts_follow_what_ties_needs_and_are_solved_once() -> None:
    doc = validate(three_markets())
    bundles = independent_bundles(doc)
    assert sorted(sorted(b.agencies) for b in bundles) == [["A", "B"], ["B", "C"], ["D"]]
    coalitions, _ = coalitions_to_check(["A", "B", "C", "D"])
    parts, distinct = plan_parts(doc, coalitions)
    # Each bundle is asked for every non-empty subset of its agencies, once.
    assert len(distinct) == 3 + 3 + 1
    assert sum(len(p) for p in parts.values()) > 2 * len(distinct)


def test_values_from_parts_equal_each_coalition_solved_whole() -> None:
    doc = validate(three_markets())
    coalitions, _ = coalitions_to_check(["A", "B", "C", "D"])
    _, values = solve_with_coalitions(doc, coalitions, _pooled(doc), workers=1)
    for coalition in coalitions:
        whole = solve_needs(doc, coalition)
        assert values[coalition].objective == whole.figures.objective, coalition
        assert values[coalition].money_cost == whole.figures.money_cost, coalition


def test_values_from_parts_on_a_generated_round() -> None:
    doc = validate(generate_problem("small", seed=3))
    agencies = [a.id for a in doc.agencies if any(n.agency == a.id for n in doc.needs)]
    coalitions, _ = coalitions_to_check(agencies)
    assert len({b.agencies for b in independent_bundles(doc)}) > 1  # something to split
    sample = random.Random(0).sample(coalitions, 12)
    _, values = solve_with_coalitions(doc, sample, _pooled(doc), workers=1)
    gap = doc.settings.relative_gap
    for coalition in sample:
        whole = float(solve_needs(doc, coalition).figures.objective)
        assert float(values[coalition].objective) == pytest.approx(whole, rel=gap), coalition


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_parallel_equals_sequential(processes: bool) -> None:
    doc = validate(generate_problem("small", seed=1))
    agencies = [a.id for a in doc.agencies if any(n.agency == a.id for n in doc.needs)]
    coalitions = random.Random(1).sample(coalitions_to_check(agencies)[0], 40)
    pooled_alone, sequential = solve_with_coalitions(doc, coalitions, _pooled(doc), workers=1)
    pooled, parallel = solve_with_coalitions(
        doc, coalitions, _pooled(doc), workers=2, processes=processes
    )
    assert pooled.figures.objective == pooled_alone.figures.objective
    assert {c: v.objective for c, v in parallel.items()} == {
        c: v.objective for c, v in sequential.items()
    }


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_progress_counts_every_coalition(processes: bool) -> None:
    events: list[SolveProgress] = []
    lock = threading.Lock()

    def record(event: SolveProgress) -> None:
        with lock:
            events.append(event)

    solve(three_markets(), progress=record, workers=2, processes=processes)
    counts = [e for e in events if e.stage == "coalitions"]
    completed = [e.completed or 0 for e in counts]
    assert completed == sorted(completed) and len(set(completed)) == len(completed)
    assert completed[-1] == 14
    assert {e.total for e in counts} == {14}
    assert [e.done for e in counts] == [False] * (len(counts) - 1) + [True]
    baselines = {e.agency for e in events if e.stage == "standalone" and e.done}
    assert baselines == {"A", "B", "C", "D"}


def test_no_coalition_counts_without_fairness() -> None:
    events: list[SolveProgress] = []
    solve(three_markets(settings={}), progress=events.append, workers=1)
    assert not [e for e in events if e.stage == "coalitions"]
    assert {e.agency for e in events if e.stage == "standalone" and e.done} == set("ABCD")


@pytest.mark.parametrize(
    ("workers", "processes"),
    [(1, False), (2, False), (2, True)],
    ids=["one", "threads", "processes"],
)
def test_cancel_stops_the_coalitions(workers: int, processes: bool) -> None:
    cancel = threading.Event()

    def cancel_at_first_coalition(event: SolveProgress) -> None:
        if event.stage == "coalitions":
            cancel.set()

    with pytest.raises(SolveCancelled):
        solve(
            three_markets(),
            progress=cancel_at_first_coalition,
            cancel=cancel,
            workers=workers,
            processes=processes,
        )
    assert cancel.is_set()


def test_pooled_result_is_the_one_handed_in() -> None:
    doc = validate(three_markets())
    calls: list[SolveResult] = []

    def pooled() -> SolveResult:
        calls.append(solve_needs(doc))
        return calls[-1]

    result, values = solve_with_coalitions(doc, [("A",), ("B",)], pooled, workers=2)
    assert calls == [result]
    assert set(values) == {("A",), ("B",)}


def test_groups_rules_and_budgets_tie_needs_together() -> None:
    doc = three_markets()
    # A capacity group over the mask and tent offers ties A, B and C together.
    grouped = {
        **doc,
        "capacity_groups": [{"id": "g", "offers": ["o-mask", "o-tent"], "capacity": 500}],
    }
    assert sorted(sorted(b.agencies) for b in independent_bundles(validate(grouped))) == [
        ["A", "B", "C"],
        ["D"],
    ]
    # A rule on soap ties nothing new; D's budget ties nothing either (D buys soap only).
    ruled = {
        **doc,
        "rules": [{"id": "r", "kind": "max_suppliers", "item": "soap", "limit": 1, "penalty": 9.0}],
    }
    assert len(independent_bundles(validate(ruled))) == 3
    # B's budget ties B's masks to B's tents, and so A to C.
    budgeted = {**doc, "agencies": [*doc["agencies"]]}
    budgeted["agencies"] = [
        {**a, "budget": 1000.0} if a["id"] == "B" else a for a in budgeted["agencies"]
    ]
    assert sorted(sorted(b.agencies) for b in independent_bundles(validate(budgeted))) == [
        ["A", "B", "C"],
        ["D"],
    ]


def test_values_with_a_binding_budget_equal_whole_solves() -> None:
    doc = three_markets()
    doc["agencies"] = [{**a, "budget": 300.0} if a["id"] == "B" else a for a in doc["agencies"]]
    problem_ = validate(doc)
    coalitions, _ = coalitions_to_check(["A", "B", "C", "D"])
    _, values = solve_with_coalitions(problem_, coalitions, _pooled(problem_), workers=1)
    for coalition in coalitions:
        whole = solve_needs(problem_, coalition)
        assert values[coalition].objective == whole.figures.objective, coalition


def test_the_caller_solves_parts_too_while_a_worker_process_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a process pool the caller takes parts back from the end of the queue once
    the pooled plan is done: some parts are solved here, the first ones by the worker
    (claimed as they were queued), and every value is still there."""
    import solver.baseline as baseline

    here: list[tuple[str, ...]] = []
    solve_part = baseline._solve_part

    def counted(problem: Problem, part: Any, cancel: Any) -> Any:
        here.append(part.members)
        return solve_part(problem, part, cancel)

    monkeypatch.setattr(baseline, "_solve_part", counted)
    doc = validate(three_markets())
    coalitions, _ = coalitions_to_check(["A", "B", "C", "D"])
    _, distinct = plan_parts(doc, coalitions)
    _, values = solve_with_coalitions(doc, coalitions, _pooled(doc), workers=2, processes=True)
    assert 0 < len(here) < len(distinct)
    assert set(values) == set(coalitions)
