"""Solving item by item (solver/items.py) against HiGHS on the whole model.

The hypothesis properties (test_solver_properties.py) compare every plan with a
brute force on tiny instances, where the item path runs whenever an instance has
two items. Here: generated instances too big to enumerate, where the whole
model solved by HiGHS to a zero gap is the reference, and the pieces of the
method that a wrong step would break (the bound, the blocks, the fallback).
"""

import math
import threading
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import solver.items as items_module
from solver import validate
from solver.awards import read_awards
from solver.examples import generate_problem
from solver.highs import SolveProgress, run_highs
from solver.items import (
    UnplacedPart,
    in_blocks,
    items_of_columns,
    refuse_unplaced_rows,
    relax,
    solve_model,
)
from solver.model import PoolingModel, build_model
from solver.pairs import build_pooling_data
from solver.pricing import price_awards
from tests.oracle.brute_force import brute_force_optimum
from tests.strategies import problems
from tests.test_solver_properties import EXAMPLES

pytestmark = pytest.mark.unit
PROPERTY = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def model_of(document: dict) -> PoolingModel:
    return build_model(build_pooling_data(validate(document)))


def objective_on(model: PoolingModel) -> float:
    """The plan's objective: the model's, plus the penalty it leaves out (no plan avoids)."""
    return float(model.lp.objective.value()) + model.unavoidable


def whole_optimum(document: dict) -> tuple[float, float]:
    model = model_of(document)
    outcome = run_highs(model, time_limit=120, relative_gap=0.0)
    assert outcome.stopped_by == "optimal" and outcome.bound is not None
    return objective_on(model), outcome.bound


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_items_plan_and_bound_bracket_the_whole_models_optimum(seed: int) -> None:
    document = generate_problem("small", seed=seed)
    optimum, _ = whole_optimum(document)
    model = model_of(document)
    outcome = solve_model(model, time_limit=120, relative_gap=1e-4, columns_per_block=1)
    objective = objective_on(model)
    assert outcome.stopped_by == "optimal"
    assert outcome.bound is not None
    # The bound is a true lower bound, and the plan is within the gap of the optimum.
    assert outcome.bound <= optimum + 1e-6 * abs(optimum)
    assert objective >= optimum - 1e-6 * abs(optimum)
    assert (objective - outcome.bound) / objective <= 1e-4 + 1e-9


def test_bound_is_never_weaker_than_the_lp_relaxation() -> None:
    document = generate_problem("small", seed=4)
    model = model_of(document)
    variables = model.lp.exported_variables()
    _, relaxation = relax(model, variables, time_limit=60)
    assert relaxation is not None
    outcome = solve_model(
        model_of(document), time_limit=120, relative_gap=1e-4, columns_per_block=1
    )
    assert outcome.bound is not None
    assert outcome.bound >= relaxation.objective - 1e-6 * abs(relaxation.objective)


def test_a_zero_gap_is_met_by_searching_the_whole_model_from_the_items_plan() -> None:
    document = generate_problem("small", seed=5)
    optimum, _ = whole_optimum(document)
    events: list[SolveProgress] = []
    model = model_of(document)
    outcome = solve_model(
        model, time_limit=120, relative_gap=0.0, progress=events.append, columns_per_block=1
    )
    assert outcome.stopped_by == "optimal"
    assert objective_on(model) == pytest.approx(optimum, rel=1e-7)
    # Reports never let the proven bound fall back, whichever search proved it,
    # and their clock never runs backwards.
    bounds = [e.bound for e in events if e.bound is not None]
    assert bounds and bounds == sorted(bounds)
    seconds = [e.seconds for e in events]
    assert seconds == sorted(seconds)


def test_every_column_but_the_routes_belongs_to_one_item() -> None:
    document = generate_problem("small", seed=0)
    model = model_of(document)
    variables = model.lp.exported_variables()
    item_of = items_of_columns(model, variables)
    route_names = {y.name for y in model.route_used.values()}
    assert {v.name for v, i in zip(variables, item_of, strict=True) if i < 0} == route_names
    assert len(set(item_of[item_of >= 0].tolist())) == len(
        {validate(document).needs[n].item for n in model.unmet}
        | {validate(document).offers[o].item for o, _ in model.tier_chosen}
    )


def test_items_are_packed_into_blocks_in_order_and_never_split() -> None:
    #                       item: 0  0  1  1  1  -  2  3  3  3  3  3
    item_of = np.array([0, 0, 1, 1, 1, -1, 2, 3, 3, 3, 3, 3])
    blocks = in_blocks(item_of, columns_per_block=5)
    # Items 0 (2 columns) and 1 (3) fill a block; 2 (1) cannot join 3 (5), which
    # alone fills one; the route column stays outside every block.
    assert blocks.tolist() == [0, 0, 0, 0, 0, -1, 1, 2, 2, 2, 2, 2]
    assert in_blocks(item_of, columns_per_block=1).tolist() == [0, 0, 1, 1, 1, -1, 2, 3, 3, 3, 3, 3]


def test_stopped_before_an_item_the_plan_buys_nothing_for_it() -> None:
    document = generate_problem("small", seed=0)
    model = model_of(document)
    cancel = threading.Event()
    cancel.set()
    outcome = solve_model(
        model, time_limit=60, relative_gap=1e-4, cancel=cancel, columns_per_block=1
    )
    assert outcome.stopped_by == "cancelled"
    # Buying nothing is always a plan: every need unmet, no order, no route.
    assert outcome.has_solution
    for n, u in model.unmet.items():
        assert u.varValue == pytest.approx(validate(document).needs[n].quantity)
    bought = [*model.award.values(), *model.binaries]
    assert all(math.isclose(x.varValue or 0.0, 0.0, abs_tol=1e-9) for x in bought)


@PROPERTY
@given(problems())
def test_item_by_item_finds_the_brute_force_optimum(problem: dict[str, Any]) -> None:
    """Every item alone (the method at its finest split) on random tiny instances."""
    validated = validate(problem)
    data = build_pooling_data(validated)
    model = build_model(data)
    settings_ = validated.settings
    outcome = solve_model(
        model,
        time_limit=60,
        relative_gap=settings_.relative_gap,
        columns_per_block=1,
    )
    awards = read_awards(model, outcome.has_solution)
    objective = float(price_awards(validated, awards, data.needs).objective)
    optimum = brute_force_optimum(problem)
    scale = max(1.0, abs(optimum))
    assert objective >= optimum - 1e-6 * scale
    assert objective <= optimum + max(1e-6, settings_.relative_gap) * max(1.0, abs(objective))
    if outcome.bound is not None:
        assert outcome.bound <= optimum + 1e-6 * scale


def test_a_column_that_is_no_items_nor_a_routes_is_refused() -> None:
    model = model_of(generate_problem("tiny", seed=0))
    stray = model.lp.add_variable("stray", 0, 1)
    model.lp += (stray + next(iter(model.unmet.values())) <= 10**6, "stray_row")
    with pytest.raises(UnplacedPart, match="stray"):
        items_of_columns(model, model.lp.exported_variables())


def test_a_row_across_two_items_the_model_did_not_record_is_refused() -> None:
    model = model_of(generate_problem("small", seed=0))
    first = next(iter(model.unmet.values()))
    second = next(
        u
        for u in model.unmet.values()
        if model.column_item[u.name] != model.column_item[first.name]
    )
    model.lp += (first + second <= 10**6, "untold_tie")
    variables = model.lp.exported_variables()
    arrays, _ = relax(model, variables, time_limit=60)
    with pytest.raises(UnplacedPart, match="several items"):
        refuse_unplaced_rows(arrays, items_of_columns(model, variables))


def test_items_tied_by_a_capacity_group_are_one() -> None:
    document = generate_problem("small", seed=0)
    by_item: dict[str, str] = {}
    for o in document["offers"]:
        by_item.setdefault(o["item"], o["id"])
    tied = list(by_item.values())[:2]
    document["capacity_groups"] = [{"id": "line", "offers": tied, "capacity": 10}]
    model = model_of(document)
    variables = model.lp.exported_variables()
    numbers = items_of_columns(model, variables)
    items = {
        model.column_item[v.name]: int(i) for v, i in zip(variables, numbers, strict=True) if i >= 0
    }
    offers = {o["id"]: o["item"] for o in document["offers"]}
    assert items[offers[tied[0]]] == items[offers[tied[1]]]
    # And the split still solves it: every row is placed.
    outcome = solve_model(model, time_limit=60, relative_gap=1e-4, columns_per_block=1)
    assert outcome.stopped_by == "optimal"


def test_items_whose_plan_breaks_a_budget_are_searched_again_within_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A budget ties every item of the agency; the items, solved without it, overspend, and
    # the search within their tiers and routes finds a plan that keeps it. The bound from
    # the items without the budget is still a bound.
    document = generate_problem("small", seed=0, sourcing=True)
    optimum, _ = whole_optimum(document)
    model = model_of(document)
    searched: list[bool] = []
    real_keep_ties = items_module.keep_ties

    def keep_ties(*args: Any, **kwargs: Any) -> Any:
        searched.append(True)
        return real_keep_ties(*args, **kwargs)

    monkeypatch.setattr(items_module, "keep_ties", keep_ties)
    outcome = solve_model(model, time_limit=120, relative_gap=1e-4, columns_per_block=1)
    assert searched, "the items' plan kept the budget: this case no longer tests the search"
    assert model.ties
    objective = objective_on(model)
    assert outcome.bound is not None and outcome.bound <= optimum + 1e-6 * abs(optimum)
    assert objective >= optimum - 1e-6 * abs(optimum)
    assert (objective - outcome.bound) / (objective - model.unavoidable) <= 1e-4 + 1e-9
    awards = read_awards(model, outcome.has_solution)
    figures = price_awards(validate(document), awards)  # refuses a plan over budget
    iom = next(a for a in validate(document).agencies if a.id == "IOM")
    assert iom.budget is not None and figures.direct_spend["IOM"] <= Decimal(repr(iom.budget))
