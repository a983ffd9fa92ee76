"""One solve: data in, model built, solved, awards read back, figures priced.

Used for the pooled plan and for each agency's stand-alone baseline alike, so
that both answer exactly the same model.
"""

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from solver.awards import Award, read_awards
from solver.highs import (
    EARLY_STOPS,
    CancelToken,
    PlanStatus,
    ProgressCallback,
    SolveOutcome,
    gap_of,
)
from solver.items import solve_model
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
    # Proven lower bound on the plan's objective; None when the model has no
    # binaries and the LP optimum is exact.
    bound: float | None
    variables: int
    constraints: int
    # Seconds spent in each stage: indexing, building, solving, reading back.
    stages: dict[str, float] = field(default_factory=dict)

    def assess(self, target_gap: float) -> tuple[PlanStatus, float, float]:
        """Status, bound and gap of the plan's own objective (recomputed from awards).

        Whether a plan is optimal is decided here from the reported figures,
        never taken on trust from the solver's status.
        """
        objective = float(self.figures.objective)
        unavoidable = float(self.figures.unavoidable_penalty)
        outcome = self.outcome
        if outcome.infeasible:
            return PlanStatus.INFEASIBLE, objective, 0.0
        if not outcome.has_solution and outcome.stopped_by not in EARLY_STOPS:
            return PlanStatus.ERROR, 0.0, gap_of(objective, 0.0, unavoidable)
        if self.bound is not None:
            # A bound a hair above the recomputed objective is rounding in the solver.
            bound = min(self.bound, objective)
        elif outcome.stopped_by in ("optimal", "empty"):
            # No binaries: the LP optimum is exact.
            bound = objective
        else:
            # Every cost is non-negative and no plan avoids the unavoidable penalty.
            bound = min(unavoidable, objective)
        gap = gap_of(objective, bound, unavoidable)
        if gap <= target_gap + _GAP_SLACK:
            return PlanStatus.OPTIMAL, bound, gap
        return PlanStatus.FEASIBLE, bound, gap


# Float noise in HiGHS's bound must not turn an optimal plan into a merely
# feasible one; this is far below any gap a user would set.
_GAP_SLACK = 1e-9


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
    outcome = solve_model(
        model,
        time_limit=problem.settings.time_limit_seconds,
        relative_gap=problem.settings.relative_gap,
        stage=stage,
        agency=agency_list[0] if agency_list and len(agency_list) == 1 else None,
        progress=progress,
        cancel=cancel,
    )
    lap("solve")
    awards = read_awards(model, outcome.has_solution)
    figures = price_awards(problem, awards, data.needs, unreachable=data.unreachable)
    lap("read_back")
    return SolveResult(
        data,
        awards,
        figures,
        outcome,
        outcome.bound,
        model.lp.numVariables(),
        model.lp.numConstraints(),
        stages,
    )
