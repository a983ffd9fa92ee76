"""Rows that tie items (budgets, capacity groups) priced into the items' models at their LP
duals (solver/items.py, `price_ties`): the items' optima plus the constant are a bound
between the LP relaxation and the optimum, and the solve's plan keeps every budget."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from bench.yardstick import with_v2_features
from solver import validate
from solver.awards import read_awards
from solver.examples import generate_problem
from solver.highs import run_highs
from solver.items import (
    _Reporter,
    in_blocks,
    item_models,
    items_of_columns,
    nothing_bought,
    price_ties,
    relax,
    route_shares,
    solve_items,
    solve_model,
)
from solver.model import PoolingModel, build_model
from solver.pairs import build_pooling_data
from solver.pricing import price_awards

pytestmark = pytest.mark.unit


def _document() -> dict:
    return with_v2_features(generate_problem("small", seed=0), 0)


def _model() -> PoolingModel:
    return build_model(build_pooling_data(validate(_document())))


def test_priced_ties_give_a_bound_between_the_lp_and_the_optimum() -> None:
    whole = _model()
    assert run_highs(whole, time_limit=120, relative_gap=0.0).stopped_by == "optimal"
    optimum = float(whole.lp.objective.value()) + whole.unavoidable

    model = _model()
    assert model.ties  # the budgets tie the agencies' items
    variables = model.lp.exported_variables()
    loose = in_blocks(items_of_columns(model, variables, join_ties=False), 1)
    arrays, relaxation = relax(model, variables, 60)
    assert relaxation is not None
    priced, constant = price_ties(arrays, loose, relaxation.row_duals)
    assert constant < 0  # a budget binds in the LP: its dual moved into the objective
    assert not np.array_equal(priced.cost, arrays.cost)
    shares = route_shares(arrays, loose, relaxation.row_duals)
    models = list(item_models(priced, loose, shares))
    report = _Reporter(None, "pooled", None, 0.0, model.unavoidable)
    results, stopped = solve_items(models, float("inf"), None, report, 0.0)
    assert stopped == "optimal" and all(r.bound is not None for r in results)
    bound = sum(r.bound or 0.0 for r in results) + arrays.offset + model.unavoidable + constant
    lp = relaxation.objective + model.unavoidable
    scale = max(1.0, abs(optimum))
    assert lp - 1e-6 * scale <= bound <= optimum + 1e-6 * scale
    assert len(nothing_bought(model, variables)) == len(variables)


def test_the_items_plan_keeps_every_budget_and_is_within_the_gap() -> None:
    document = _document()
    problem = validate(document)
    whole = _model()
    run_highs(whole, time_limit=120, relative_gap=0.0)
    optimum = float(whole.lp.objective.value()) + whole.unavoidable

    model = _model()
    outcome = solve_model(model, time_limit=120, relative_gap=1e-4, columns_per_block=1)
    objective = float(model.lp.objective.value()) + model.unavoidable
    assert outcome.bound is not None
    assert outcome.bound <= optimum + 1e-6 * abs(optimum) <= objective + 2e-6 * abs(optimum)
    assert (objective - outcome.bound) / max(1.0, objective - model.unavoidable) <= 1e-4 + 1e-9
    figures = price_awards(problem, read_awards(model, outcome.has_solution))
    for agency in problem.agencies:
        if agency.budget is not None and agency.id in figures.direct_spend:
            assert figures.direct_spend[agency.id] <= Decimal(repr(agency.budget))
