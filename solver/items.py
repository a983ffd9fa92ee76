"""Solving the pooled model item by item, with routes priced from the LP relaxation.

An item's needs compete only for that item's offers: capacity, minimum orders,
packs, price tiers and award rules all belong to one offer or one item. What ties
items together is the routes they share, whose fixed cost is paid once whatever
moves along them (and, where a document has them, a capacity group over several
items' offers or an agency's budget: items tied by such a row are solved as one,
see `items_of_columns`). Give each item its own copy of every route it uses, priced at a share of
the route's fixed cost, and the model falls apart into one small MIP per item,
which HiGHS solves exactly in milliseconds.

Because the shares of each route add up to its fixed cost, the items' optima
add up to a lower bound on the pooled optimum (a Lagrangian relaxation of
"every copy of a route is the route itself"). Opening each route wherever some
item ships along it turns the items' solutions into a plan. Shares are the LP
relaxation's dual prices of each item's route links, which makes the bound at
least the LP's; the all-units tiers, which are where the LP is weak, are solved
exactly inside each item. On the generated instances plan and bound are then
within the target gap and the whole MILP is never searched (measured in
`docs/performance.md`). When they are not that close, HiGHS searches the whole
model from that plan and the better of the two bounds is kept.
"""

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import highspy
import numpy as np
import pulp

from solver.awards import WHOLE_TOLERANCE
from solver.highs import (
    EARLY_STOPS,
    THREADS,
    CancelToken,
    ProgressCallback,
    SolveOutcome,
    SolveProgress,
    gap_of,
    run_highs,
    stopped_by,
)
from solver.model import PoolingModel

Vector = np.ndarray

# An item's MIP is tiny; HiGHS's feasibility jump heuristic costs more than the
# search it would save there (a third of the time on the large instance).
_ITEM_OPTIONS: dict[str, bool | float] = {
    "output_flag": False,
    "threads": THREADS,
    "mip_rel_gap": 0.0,
    "mip_heuristic_run_feasibility_jump": False,
}
_PROGRESS_EVERY_SECONDS = 1.0
# Small items are solved several at a time: HiGHS spends milliseconds on any
# MIP, however small, which dominates an agency's stand-alone solve (hundreds of
# items of a few needs each). Measured on the large instance, blocks of up to
# 500 columns halve the time of the stand-alone solves and cut the pooled one by
# a fifth; much larger blocks make HiGHS branch across items and cost more.
_COLUMNS_PER_BLOCK = 500


@dataclass
class ModelArrays:
    """The model as HiGHS holds it: columns, rows by row, objective constant."""

    cost: Vector
    lower: Vector
    upper: Vector
    integer: Vector  # bool per column
    row_lower: Vector
    row_upper: Vector
    start: Vector  # row r's entries are start[r]:start[r + 1] of column, value
    column: Vector
    value: Vector
    offset: float

    @property
    def row_of_entry(self) -> Vector:
        return np.repeat(np.arange(len(self.row_lower)), np.diff(self.start))


@dataclass
class Relaxation:
    objective: float
    columns: Vector
    row_duals: Vector


@dataclass
class ItemModel:
    """One item's sub-model: its own columns, then its copies of shared routes."""

    columns: Vector  # indices into the whole model's columns
    routes: Vector  # the route columns copied into this item (after `columns`)
    lp: highspy.HighsLp


@dataclass
class ItemResult:
    columns: Vector
    routes: Vector
    values: Vector | None
    bound: float | None
    nodes: int


def solve_model(
    model: PoolingModel,
    *,
    time_limit: float,
    relative_gap: float,
    stage: str = "pooled",
    agency: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    columns_per_block: int = _COLUMNS_PER_BLOCK,
) -> SolveOutcome:
    """Solve in place like `run_highs`: item by item where the model splits, else whole."""
    started = time.perf_counter()
    variables = model.lp.exported_variables()
    items = items_of_columns(model, variables)
    # Rows that tie items (a capacity group, a budget) are left out of the items' models:
    # dropping a row relaxes the model, so the items' bound stays a bound. Their plan may
    # break such a row; it then only guides a search that keeps them (`keep_ties`).
    loose = items_of_columns(model, variables, join_ties=False) if model.ties else items
    item_of_column = in_blocks(loose, columns_per_block)
    splits = len(np.unique(item_of_column[item_of_column >= 0])) >= 2
    relaxation = None
    if model.integer and splits:
        arrays, relaxation = relax(model, variables, time_limit)
        refuse_unplaced_rows(arrays, items)
    if relaxation is None:
        # Without binaries the LP is the model; a single item gains nothing by
        # splitting; an LP relaxation that did not finish leaves no prices.
        return run_highs(
            model,
            time_limit=max(0.0, time_limit - (time.perf_counter() - started)),
            relative_gap=relative_gap,
            stage=stage,
            agency=agency,
            progress=progress,
            cancel=cancel,
        )
    # The LP's objective leaves out the unavoidable penalty (see model.py); plans and
    # bounds here hold it, as the contract's do.
    offset = arrays.offset + model.unavoidable
    report = _Reporter(progress, stage, agency, started, model.unavoidable)
    report(None, relaxation.objective + model.unavoidable)

    route_columns = np.flatnonzero(item_of_column < 0)
    shares = route_shares(arrays, item_of_column, relaxation.row_duals)
    priced, tie_constant = price_ties(arrays, item_of_column, relaxation.row_duals)
    models = list(item_models(priced, item_of_column, shares))
    deadline = started + time_limit
    bound = relaxation.objective + model.unavoidable
    results, stopped = solve_items(models, deadline, cancel, report, bound)
    nothing = nothing_bought(model, variables)
    values = assemble(nothing, arrays, route_columns, results)
    if stopped == "optimal" and all(r.bound is not None for r in results):
        # Each item's bound is its own optimum or better; a route priced to an
        # item at its share is never dearer than the route itself.
        bound = max(bound, sum(r.bound or 0.0 for r in results) + offset + tie_constant)

    def plan_of(results: list[ItemResult]) -> Vector:
        return assemble(nothing, arrays, route_columns, results)

    def close_enough(cost: float) -> bool:
        # A margin under the target, so that cents rounding in the plan's
        # recomputed figures cannot push the gap back over it.
        return gap_of(cost + offset, bound, model.unavoidable) <= 0.9 * relative_gap

    broken = bool(model.ties) and breaks_rows(arrays, values)
    if broken or (
        model.ties and stopped == "optimal" and not close_enough(float(arrays.cost @ values))
    ):
        # The items' plan broke a tie, or keeps them all but leaves budget unspent
        # (their prices are the LP's, their awards whole): search within its decisions.
        tied = keep_ties(
            model, variables, values, deadline, relative_gap, cancel, nothing, warm=not broken
        )
        if broken or arrays.cost @ tied < arrays.cost @ values:
            values = tied
        # None of the items' solutions is the plan's any more.
        results = []
        if stopped == "optimal":
            stopped = "tied"
    elif stopped == "optimal" and not model.ties and not close_enough(float(arrays.cost @ values)):
        improved, stopped = improve_routes(
            models,
            results,
            arrays,
            relaxation,
            route_columns,
            plan_of,
            close_enough,
            deadline,
            cancel,
            report,
            bound,
        )
        candidate = assemble(nothing, arrays, route_columns, improved)
        if arrays.cost @ candidate < arrays.cost @ values:
            values, results = candidate, improved
    objective = float(arrays.cost @ values) + offset
    for variable, value in zip(variables, values, strict=True):
        variable.varValue = float(value)
    nodes = sum(r.nodes for r in results)
    report(objective, bound)
    if stopped != "cancelled" and gap_of(objective, bound, model.unavoidable) <= relative_gap:
        return SolveOutcome(True, bound, time.perf_counter() - started, nodes, "optimal")
    if stopped not in ("optimal", "tied"):
        return SolveOutcome(True, bound, time.perf_counter() - started, nodes, stopped)

    # Not close enough: search the whole model, starting from the items' plan.
    # Its own bound starts lower than the items' one; reports keep the better,
    # and count seconds from the start of this solve, not of HiGHS's search.
    searched_from = time.perf_counter() - started

    def floored(event: SolveProgress) -> None:
        if progress is not None:
            best = bound if event.bound is None else max(bound, event.bound)
            gap = (
                None
                if event.objective is None
                else gap_of(event.objective, best, model.unavoidable)
            )
            seconds = searched_from + event.seconds
            progress(replace(event, bound=best, gap=gap, seconds=seconds))

    whole = run_highs(
        model,
        time_limit=max(0.0, time_limit - (time.perf_counter() - started)),
        relative_gap=relative_gap,
        stage=stage,
        agency=agency,
        progress=floored if progress is not None else None,
        cancel=cancel,
        warm_start=True,
    )
    if not whole.has_solution:
        for variable, value in zip(variables, values, strict=True):
            variable.varValue = float(value)
    best_bound = bound if whole.bound is None else max(bound, whole.bound)
    return SolveOutcome(
        True,
        best_bound,
        time.perf_counter() - started,
        nodes + whole.nodes,
        whole.stopped_by,
    )


class UnplacedPart(ValueError):
    """A column or row the item-by-item split cannot place: a fault in the model's
    bookkeeping, refused rather than guessed at."""


def items_of_columns(
    model: PoolingModel, variables: list[pulp.LpVariable], *, join_ties: bool = True
) -> Vector:
    """The item (as a number) each column belongs to; -1 for a route's binary.

    Items that one row ties together (`model.ties`: a capacity group over several
    items' offers, a budget) count as one unless `join_ties` is false. A column
    that is neither an item's nor a route's binary is refused.
    """
    parent: dict[str, str] = {}

    def root(item: str) -> str:
        while parent.setdefault(item, item) != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    for tie in model.ties if join_ties else ():
        first, *others = sorted(tie)
        for other in others:
            parent[root(other)] = root(first)
    routes = {y.name for y in model.route_used.values()}
    item_number: dict[str, int] = {}
    numbers = np.empty(len(variables), dtype=np.int64)
    for j, variable in enumerate(variables):
        item = model.column_item.get(variable.name)
        if item is not None:
            numbers[j] = item_number.setdefault(root(item), len(item_number))
        elif variable.name in routes:
            numbers[j] = -1
        else:
            raise UnplacedPart(f"column {variable.name} is neither an item's nor a route's")
    return numbers


def refuse_unplaced_rows(arrays: "ModelArrays", item_of_column: Vector) -> None:
    """Every row must hold columns of exactly one item (besides route binaries)."""
    item_of_entry = item_of_column[arrays.column]
    own = item_of_entry >= 0
    rows = arrays.row_of_entry[own]
    count = len(arrays.row_lower)
    low = np.full(count, np.iinfo(np.int64).max)
    high = np.full(count, -1)
    np.minimum.at(low, rows, item_of_entry[own])
    np.maximum.at(high, rows, item_of_entry[own])
    unplaced = np.flatnonzero((high < 0) | (low != high))
    if len(unplaced):
        raise UnplacedPart(
            f"{len(unplaced)} row(s) hold no item's column or several items' (row {unplaced[0]})"
        )


def in_blocks(item_of_column: Vector, columns_per_block: int = _COLUMNS_PER_BLOCK) -> Vector:
    """Consecutive items packed into blocks of at most `columns_per_block` columns.

    A block is solved as one MIP, with one copy of each route its items use;
    every argument made for an item holds for a block. An item bigger than a
    block has a block of its own.
    """
    own = item_of_column >= 0
    sizes = np.bincount(item_of_column[own])
    block_of_item = np.zeros(len(sizes), dtype=np.int64)
    block, filled = 0, 0
    for item, size in enumerate(sizes.tolist()):
        if filled and filled + size > columns_per_block:
            block, filled = block + 1, 0
        block_of_item[item] = block
        filled += size
    blocks = np.full(len(item_of_column), -1, dtype=np.int64)
    blocks[own] = block_of_item[item_of_column[own]]
    return blocks


def relax(
    model: PoolingModel, variables: list[pulp.LpVariable], time_limit: float
) -> tuple[ModelArrays, Relaxation | None]:
    """Hand the model to HiGHS without integrality and solve that LP."""
    solver = pulp.HiGHS(mip=False, msg=False, timeLimit=time_limit, threads=THREADS)
    solver.createAndConfigureSolver(model.lp)
    solver.buildSolverModel(model.lp)
    highs: Any = model.lp.solverModel
    arrays = model_arrays(highs, variables)
    highs.run()
    if stopped_by(highs) != "optimal":
        return arrays, None
    solution = highs.getSolution()
    return arrays, Relaxation(
        highs.getInfo().objective_function_value,
        np.asarray(solution.col_value),
        np.asarray(solution.row_dual),
    )


def model_arrays(highs: highspy.Highs, variables: list[pulp.LpVariable]) -> ModelArrays:
    lp = highs.getLp()
    matrix = lp.a_matrix_
    start, index, value = (
        np.asarray(matrix.start_),
        np.asarray(matrix.index_),
        np.asarray(matrix.value_),
    )
    if matrix.format_ != highspy.MatrixFormat.kRowwise:
        # Column-wise: entry k is in column j for start[j] <= k < start[j + 1].
        column_of_entry = np.repeat(np.arange(lp.num_col_), np.diff(start))
        by_row = np.argsort(index, kind="stable")
        start = np.concatenate(([0], np.cumsum(np.bincount(index, minlength=lp.num_row_))))
        index, value = column_of_entry[by_row], value[by_row]
    return ModelArrays(
        cost=np.asarray(lp.col_cost_),
        lower=np.asarray(lp.col_lower_),
        upper=np.asarray(lp.col_upper_),
        integer=np.fromiter((v.cat == pulp.LpInteger for v in variables), dtype=bool),
        row_lower=np.asarray(lp.row_lower_),
        row_upper=np.asarray(lp.row_upper_),
        start=start,
        column=index,
        value=value,
        offset=float(lp.offset_),
    )


def item_of_rows(arrays: ModelArrays, item_of_column: Vector) -> Vector:
    """The item of each row (besides route binaries); -1 for a row that ties several
    items (`refuse_unplaced_rows` has checked that the model recorded such ties)."""
    item_of_entry = item_of_column[arrays.column]
    own = item_of_entry >= 0
    count = len(arrays.row_lower)
    low = np.full(count, np.iinfo(np.int64).max)
    high = np.full(count, -1)
    np.minimum.at(low, arrays.row_of_entry[own], item_of_entry[own])
    np.maximum.at(high, arrays.row_of_entry[own], item_of_entry[own])
    return np.where(low == high, high, -1)


def breaks_rows(arrays: ModelArrays, values: Vector) -> bool:
    """Whether `values` break a row (beyond HiGHS's feasibility tolerance)."""
    activity = np.bincount(
        arrays.row_of_entry,
        weights=arrays.value * values[arrays.column],
        minlength=len(arrays.row_lower),
    )
    return bool(
        np.any(activity > arrays.row_upper + 1e-6) or np.any(activity < arrays.row_lower - 1e-6)
    )


# Share of the time left that the search within the items' decisions may take.
_TIED_SEARCH_SHARE = 1 / 3
# When the items' plan keeps every row already, the search within its decisions starts
# from it and is where the plan improves (medium v2 with budgets, docs/performance.md):
# the whole model's search after it rarely moves within the time left.
_POLISH_SEARCH_SHARE = 2 / 3


def keep_ties(
    model: PoolingModel,
    variables: list[pulp.LpVariable],
    values: Vector,
    deadline: float,
    relative_gap: float,
    cancel: CancelToken | None,
    nothing: Vector,
    *,
    warm: bool = False,
) -> Vector:
    """A plan that keeps every row, searched within the tiers and routes the items chose.

    The items' plan may break a row that ties items (a budget, a capacity group).
    With every tier and route it left unused closed, HiGHS searches the whole model,
    a much smaller one after presolve, for a plan that keeps them all; the whole
    search then starts from it. Buying nothing, always a plan, is the fallback.
    """
    chosen = {v.name: value for v, value in zip(variables, values, strict=True)}
    closed = [
        z for z in [*model.tier_chosen.values(), *model.route_used.values()] if chosen[z.name] < 0.5
    ]
    for z in closed:
        z.upBound = 0
    if warm:
        # A plan that keeps every row: HiGHS's first incumbent.
        for variable, value in zip(variables, values, strict=True):
            variable.varValue = float(value)
    try:
        outcome = run_highs(
            model,
            time_limit=max(
                0.0,
                (deadline - time.perf_counter())
                * (_POLISH_SEARCH_SHARE if warm else _TIED_SEARCH_SHARE),
            ),
            relative_gap=relative_gap,
            cancel=cancel,
            warm_start=warm,
        )
    finally:
        for z in closed:
            z.upBound = 1
    if not outcome.has_solution:
        return nothing
    return np.fromiter((v.varValue or 0.0 for v in variables), dtype=float, count=len(variables))


def route_shares(
    arrays: ModelArrays, item_of_column: Vector, row_duals: Vector
) -> dict[tuple[int, int], float]:
    """Each item's share of each route's fixed cost, the shares of a route summing to it.

    An item's share is what its route links are worth in the LP relaxation (the
    coefficient of the route's binary times the row's dual price), scaled so the
    shares add up to the fixed cost; a route the relaxation does not value is
    split evenly.
    """
    row_item = item_of_rows(arrays, item_of_column)
    entry_rows = arrays.row_of_entry
    on_route = item_of_column[arrays.column] < 0
    worth: dict[tuple[int, int], float] = {}
    for row, route, value in zip(
        entry_rows[on_route].tolist(),
        arrays.column[on_route].tolist(),
        arrays.value[on_route].tolist(),
        strict=True,
    ):
        key = (route, int(row_item[row]))
        worth[key] = worth.get(key, 0.0) + abs(value * row_duals[row])
    items_of_route: dict[int, list[int]] = {}
    for route, item in worth:
        items_of_route.setdefault(route, []).append(item)
    shares: dict[tuple[int, int], float] = {}
    for route, items in items_of_route.items():
        fixed_cost = float(arrays.cost[route])
        total = sum(worth[route, item] for item in items)
        for item in items:
            part = worth[route, item] / total if total > 0 else 1.0 / len(items)
            shares[route, item] = fixed_cost * part
    return shares


def price_ties(
    arrays: ModelArrays, item_of_column: Vector, row_duals: Vector
) -> tuple[ModelArrays, float]:
    """The model with each row that ties items (a budget, a capacity group) moved into
    the objective at its LP dual price, and the constant that move leaves.

    A Lagrangian relaxation of the rows the items' models leave out: with `y` a tie
    row's dual (HiGHS's sign: at most 0 on a binding upper side, at least 0 on a lower
    one), each column's cost becomes `c - y * a` and the objective gains `y * rhs`;
    for any plan keeping the row the added term `-y * (a x - rhs)` is at most 0, so the
    items' optima plus the constant stay a lower bound, at least the LP's. Priced so,
    the items buy what the budget affords instead of everything, and their plan is
    close to one that keeps the rows.
    """
    tie_rows = item_of_rows(arrays, item_of_column) < 0
    duals = np.where(tie_rows, row_duals, 0.0)
    rhs = np.where(duals < 0, arrays.row_upper, arrays.row_lower)
    duals = np.where(np.isfinite(rhs), duals, 0.0)
    if not duals.any():
        return arrays, 0.0
    weights = arrays.value * duals[arrays.row_of_entry]
    shift = np.bincount(arrays.column, weights=weights, minlength=len(arrays.cost))
    # Only the items' own columns: a route binary's cost is shared out separately.
    shift[item_of_column < 0] = 0.0
    constant = float(np.sum(duals[duals != 0] * rhs[duals != 0]))
    return replace(arrays, cost=arrays.cost - shift), constant


def item_models(
    arrays: ModelArrays, item_of_column: Vector, shares: dict[tuple[int, int], float]
) -> Iterator[ItemModel]:
    row_item = item_of_rows(arrays, item_of_column)
    entry_item = row_item[arrays.row_of_entry]
    # Entries are in row order; a stable sort by item keeps each item's rows in order.
    by_item = np.argsort(entry_item, kind="stable")
    entry_item = entry_item[by_item]
    items = np.unique(item_of_column[item_of_column >= 0])
    first = np.searchsorted(entry_item, items, side="left")
    last = np.searchsorted(entry_item, items, side="right")
    columns_by_item = np.argsort(item_of_column, kind="stable")
    sorted_items = item_of_column[columns_by_item]
    for item, begin, end in zip(items.tolist(), first.tolist(), last.tolist(), strict=True):
        entries = by_item[begin:end]
        rows, local_row = np.unique(arrays.row_of_entry[entries], return_inverse=True)
        own = columns_by_item[
            np.searchsorted(sorted_items, item, "left") : np.searchsorted(
                sorted_items, item, "right"
            )
        ]
        entry_columns = arrays.column[entries]
        routes = np.unique(entry_columns[item_of_column[entry_columns] < 0])
        columns = np.concatenate((own, routes))
        order = np.argsort(columns)
        local_column = order[np.searchsorted(columns[order], entry_columns)]
        yield ItemModel(
            own,
            routes,
            _highs_lp(arrays, item, own, routes, rows, local_row, local_column, entries, shares),
        )


def _highs_lp(
    arrays: ModelArrays,
    item: int,
    own: Vector,
    routes: Vector,
    rows: Vector,
    local_row: Vector,
    local_column: Vector,
    entries: Vector,
    shares: dict[tuple[int, int], float],
) -> highspy.HighsLp:
    lp = highspy.HighsLp()
    lp.num_col_ = len(own) + len(routes)
    lp.num_row_ = len(rows)
    route_costs = [shares.get((int(r), item), 0.0) for r in routes]
    lp.col_cost_ = np.concatenate((arrays.cost[own], route_costs))
    lp.col_lower_ = np.concatenate((arrays.lower[own], np.zeros(len(routes))))
    lp.col_upper_ = np.concatenate((arrays.upper[own], np.ones(len(routes))))
    lp.row_lower_ = arrays.row_lower[rows]
    lp.row_upper_ = arrays.row_upper[rows]
    matrix = highspy.HighsSparseMatrix()
    matrix.format_ = highspy.MatrixFormat.kRowwise
    matrix.num_col_ = lp.num_col_
    matrix.num_row_ = lp.num_row_
    matrix.start_ = np.concatenate(([0], np.cumsum(np.bincount(local_row, minlength=len(rows)))))
    matrix.index_ = local_column
    matrix.value_ = arrays.value[entries]
    lp.a_matrix_ = matrix
    integer = np.concatenate((arrays.integer[own], np.ones(len(routes), dtype=bool)))
    lp.integrality_ = [
        highspy.HighsVarType.kInteger if whole else highspy.HighsVarType.kContinuous
        for whole in integer.tolist()
    ]
    return lp


def solve_items(
    models: list[ItemModel],
    deadline: float,
    cancel: CancelToken | None,
    report: "_Reporter",
    bound: float,
) -> tuple[list[ItemResult], str]:
    """Solve each item in turn until done, cancelled or out of time; and say which."""
    results: list[ItemResult] = []
    for item_model in models:
        if cancel is not None and cancel.is_set():
            return results, "cancelled"
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            return results, "time_limit"
        results.append(solve_item(item_model, remaining))
        report.now_and_then(bound)
    return results, "optimal"


def improve_routes(
    models: list[ItemModel],
    results: list[ItemResult],
    arrays: ModelArrays,
    relaxation: Relaxation,
    route_columns: Vector,
    plan_of: Callable[[list[ItemResult]], Vector],
    close_enough: Callable[[float], bool],
    deadline: float,
    cancel: CancelToken | None,
    report: "_Reporter",
    bound: float,
) -> tuple[list[ItemResult], str]:
    """Better route decisions for the plan, until its cost is close enough to the bound.

    Items chose routes at their shares of the fixed costs. Once the routes are
    open, an item may do better shipping along one another item opened (free to
    it now). And a route opened at a cheap share, which the LP relaxation would
    rather keep closed, may not pay for itself once its users are asked to do
    without it. Each step only accepts items' solutions that cost less.
    """
    results = list(results)

    def open_routes(plan: Vector) -> Vector:
        # Open where something ships: a copy an item kept open for free opens nothing.
        opened = np.zeros(len(plan), dtype=bool)
        opened[route_columns] = plan[route_columns] > 0.5
        return opened

    opened = open_routes(plan_of(results))

    def price(item: ItemModel, closed: int = -1, open_new: bool = True) -> None:
        usable = opened[item.routes] & (item.routes != closed)
        own = len(item.columns)
        cost = np.asarray(item.lp.col_cost_).copy()
        cost[own:] = np.where(usable, 0.0, arrays.cost[item.routes])
        upper = np.asarray(item.lp.col_upper_).copy()
        upper[own:] = np.where(usable | open_new, 1.0, 0.0)
        upper[own:][item.routes == closed] = 0.0
        item.lp.col_cost_ = cost
        item.lp.col_upper_ = upper

    again = [i for i, m in enumerate(models) if _can_use_others_routes(m, results[i], opened)]
    for i in again:
        price(models[i])
    second, stopped = solve_items([models[i] for i in again], deadline, cancel, report, bound)
    # Cut short by time, the second pass still improves the items it did.
    for i, result in zip(again, second, strict=False):
        results[i] = result
    plan = plan_of(results)
    cost = float(arrays.cost @ plan)
    if stopped != "optimal" or close_enough(cost):
        return results, stopped

    opened = open_routes(plan)
    users_of: dict[int, list[int]] = {}
    for i, item in enumerate(models):
        for route in item.routes.tolist():
            users_of.setdefault(route, []).append(i)
    doubtful = [r for r in route_columns.tolist() if opened[r] and relaxation.columns[r] < 0.5]
    doubtful.sort(key=lambda r: (relaxation.columns[r], -arrays.cost[r]))
    for route in doubtful:
        users = [i for i in users_of[route] if _ships_on(models[i], results[i], route)]
        for i in users:
            # Only along routes open already: the change in cost is then the items' own.
            price(models[i], closed=route, open_new=False)
        without, stopped = solve_items([models[i] for i in users], deadline, cancel, report, bound)
        if stopped != "optimal":
            return results, stopped
        extra = sum(
            _own_cost(arrays, models[i], new) - _own_cost(arrays, models[i], results[i])
            for i, new in zip(users, without, strict=True)
        )
        if extra < arrays.cost[route]:
            opened[route] = False
            cost += extra - arrays.cost[route]
            for i, new in zip(users, without, strict=True):
                results[i] = new
            if close_enough(cost):
                break
    return results, "optimal"


def _route_values(item: ItemModel, result: ItemResult) -> Vector:
    if result.values is None:
        return np.zeros(len(item.routes))
    return result.values[len(item.columns) :]


def _can_use_others_routes(item: ItemModel, result: ItemResult, opened: Vector) -> bool:
    return bool((opened[item.routes] & ~(_route_values(item, result) > 0.5)).any())


def _ships_on(item: ItemModel, result: ItemResult, route: int) -> bool:
    where = np.searchsorted(item.routes, route)
    return bool(
        where < len(item.routes)
        and item.routes[where] == route
        and _route_values(item, result)[where] > 0.5
    )


def _own_cost(arrays: ModelArrays, item: ItemModel, result: ItemResult) -> float:
    """What the item's own columns cost (routes apart); buying nothing when unsolved."""
    if result.values is None:
        return math.inf
    return float(arrays.cost[item.columns] @ result.values[: len(item.columns)])


def solve_item(item: ItemModel, time_limit: float) -> ItemResult:
    highs = highspy.Highs()
    for option, value in _ITEM_OPTIONS.items():
        highs.setOptionValue(option, value)
    highs.setOptionValue("time_limit", time_limit)
    highs.passModel(item.lp)
    highs.run()
    stop = stopped_by(highs)
    info = highs.getInfo()
    objective = info.objective_function_value
    has_values = stop == "optimal" or (stop in EARLY_STOPS and math.isfinite(objective))
    values = np.asarray(highs.getSolution().col_value) if has_values else None
    integer = np.flatnonzero(
        np.asarray(item.lp.integrality_, dtype=object) == highspy.HighsVarType.kInteger
    )
    dual = info.mip_dual_bound if len(integer) else -math.inf
    bound: float | None = None
    if math.isfinite(dual):
        bound = dual
    elif stop == "optimal":
        # An item without binaries is an LP: its optimum is its bound.
        bound = objective
    nodes = max(0, info.mip_node_count)
    if values is not None and len(integer) and not _whole(values):
        values = _vertex_with_decisions_fixed(highs, integer, values)
    return ItemResult(item.columns, item.routes, values, bound, nodes)


def _whole(values: Vector) -> bool:
    return bool(np.all(np.abs(values - np.round(values)) <= WHOLE_TOLERANCE))


def _vertex_with_decisions_fixed(highs: highspy.Highs, integer: Vector, values: Vector) -> Vector:
    """Whole awards for an item whose MIP point is not a vertex (see `awards.py`).

    With its tier and route decisions fixed, what is left of an item is a flow
    with whole data; simplex returns a vertex of it, whole and no dearer.
    """
    decided = np.round(values[integer])
    highs.changeColsBounds(len(integer), integer, decided, decided)
    highs.changeColsIntegrality(
        len(integer), integer, np.full(len(integer), highspy.HighsVarType.kContinuous)
    )
    highs.setOptionValue("solver", "simplex")
    highs.run()
    if stopped_by(highs) != "optimal":
        return values  # awards.py re-solves the whole flow instead
    return np.asarray(highs.getSolution().col_value)


def nothing_bought(model: PoolingModel, variables: list[pulp.LpVariable]) -> Vector:
    """The solution that buys nothing: every need unmet, which the model always allows."""
    unmet = {u.name: u.upBound or 0.0 for u in model.unmet.values()}
    return np.fromiter((unmet.get(v.name, 0.0) for v in variables), dtype=float)


def assemble(
    start: Vector, arrays: ModelArrays, route_columns: Vector, results: list[ItemResult]
) -> Vector:
    """The items' solutions side by side, each route open where anything moves on it.

    Items left unsolved (time ran out) keep `start`'s values.
    """
    values = start.copy()
    for result in results:
        if result.values is not None:
            values[result.columns] = result.values[: len(result.columns)]
    # A route must be open where a row holding it is broken with the route closed
    # (its links: units moved <= quantity * open).
    values[route_columns] = 0.0
    activity = np.bincount(
        arrays.row_of_entry,
        weights=arrays.value * values[arrays.column],
        minlength=len(arrays.row_lower),
    )
    broken = activity > arrays.row_upper + 1e-9
    on_route = np.isin(arrays.column, route_columns)
    needed = arrays.column[on_route & broken[arrays.row_of_entry]]
    values[np.unique(needed)] = 1.0
    return values


class _Reporter:
    def __init__(
        self,
        progress: ProgressCallback | None,
        stage: str,
        agency: str | None,
        started: float,
        unavoidable: float,
    ) -> None:
        self.progress, self.stage, self.agency, self.started = progress, stage, agency, started
        self.unavoidable = unavoidable
        self.last = started

    def __call__(self, objective: float | None, bound: float) -> None:
        if self.progress is None:
            return
        self.last = time.perf_counter()
        gap = None if objective is None else gap_of(objective, bound, self.unavoidable)
        self.progress(
            SolveProgress(self.stage, self.agency, self.last - self.started, objective, bound, gap)
        )

    def now_and_then(self, bound: float) -> None:
        if time.perf_counter() - self.last >= _PROGRESS_EVERY_SECONDS:
            self(None, bound)
