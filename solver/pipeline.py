"""One solve: data in, model built, solved, awards read back, figures priced.

Used for the pooled plan and for each agency's stand-alone baseline alike, so
that both answer exactly the same model.
"""

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from solver.awards import Award, read_awards
from solver.highs import CancelToken, ProgressCallback, SolveOutcome, run_highs
from solver.model import build_model
from solver.pairs import PoolingData, build_pooling_data
from solver.pricing import PlanFigures, price_awards
from solver.problem import Problem


@dataclass
class SolveResult:
    data: PoolingData
    awards: list[Award]
    figures: PlanFigures
    outcome: SolveOutcome
    # Proven lower bound on the plan's objective (needs outside the model
    # included); None when the model has no binaries and the LP optimum is exact.
    bound: float | None
    variables: int
    constraints: int
    # Seconds spent in each stage: indexing, building, solving, reading back.
    stages: dict[str, float] = field(default_factory=dict)


def solve_needs(
    problem: Problem,
    agencies: Iterable[str] | None = None,
    *,
    stage: str = "pooled",
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> SolveResult:
    """Solve the model for the needs of `agencies` (all needs when None)."""
    agency_list = None if agencies is None else list(agencies)
    clock = time.perf_counter()
    stages: dict[str, float] = {}

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        stages[name] = stages.get(name, 0.0) + now - clock
        clock = now

    data = build_pooling_data(problem, agency_list)
    lap("index")
    model = build_model(data)
    lap("build")
    offset = sum(data.unmet_unit_penalty[n] * problem.needs[n].quantity for n in data.unreachable)
    outcome = run_highs(
        model,
        time_limit=problem.settings.time_limit_seconds,
        relative_gap=problem.settings.relative_gap,
        stage=stage,
        agency=agency_list[0] if agency_list and len(agency_list) == 1 else None,
        offset=offset,
        progress=progress,
        cancel=cancel,
    )
    lap("solve")
    awards = read_awards(model, outcome.has_solution)
    figures = price_awards(problem, awards, data.needs)
    lap("read_back")
    return SolveResult(
        data,
        awards,
        figures,
        outcome,
        None if outcome.bound is None else outcome.bound + offset,
        model.lp.numVariables(),
        model.lp.numConstraints(),
        stages,
    )
