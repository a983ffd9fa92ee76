"""The whole pooling run: a validated problem in, the contract's plan out."""

import time
from collections.abc import Mapping
from typing import Any

from solver.baseline import Standalone, solve_with_coalitions
from solver.coalitions import (
    CoalitionChecks,
    coalitions_to_check,
    coalitions_to_solve,
    fairness_asked,
)
from solver.highs import CancelToken, ProgressCallback, SolveCancelled
from solver.pipeline import SolveResult, solve_needs
from solver.plan import agencies_with_needs, build_plan
from solver.problem import Problem
from solver.validation import validate, with_settings


def solve(
    document: Mapping[str, Any] | Problem,
    *,
    time_limit_seconds: float | None = None,
    relative_gap: float | None = None,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
    cancel: CancelToken | None = None,
    processes: bool | None = None,
) -> dict[str, Any]:
    """Pool every agency's needs against the offers and return the plan document.

    Raises `ProblemInvalid` (listing every problem) for a document that breaks
    the contract, and `SolveCancelled` once `cancel` is set (checked by HiGHS
    as it searches, so a long solve stops within moments). `time_limit_seconds`
    and `relative_gap` override the document's settings; `workers` caps the
    solves running at once (default: one per core). With fairness asked for
    (`settings.fairness` "core" or `allocation` "least_core"), every coalition the
    contract names is solved too; `processes` chooses a process pool for them
    (True), threads (False) or, by default, processes for a large enough batch.
    """
    started = time.perf_counter()
    problem = validate(document)
    problem = with_settings(
        problem, time_limit_seconds=time_limit_seconds, relative_gap=relative_gap
    )
    validated = time.perf_counter()
    agencies = agencies_with_needs(problem)

    def pooled() -> SolveResult:
        result = solve_needs(problem, stage="pooled", progress=progress, cancel=cancel)
        if cancel is not None and cancel.is_set():
            raise SolveCancelled("the pooled solve was cancelled")
        return result

    result, values = solve_with_coalitions(
        problem,
        coalitions_to_solve(problem, agencies),
        pooled,
        workers=workers,
        processes=processes,
        progress=progress,
        cancel=cancel,
    )
    baselines_done = time.perf_counter()
    standalone = {a: Standalone.of(values[(a,)]) for a in agencies}
    checks = None
    if fairness_asked(problem):
        checked, exhaustive = coalitions_to_check(agencies)
        checks = CoalitionChecks(checked, exhaustive, values)
    plan = build_plan(problem, result, standalone, checks)
    finished = time.perf_counter()
    stages = {
        "validate": validated - started,
        **result.stages,
        # Time spent waiting for baselines still running after the pooled solve.
        "baselines_wait": baselines_done - validated - sum(result.stages.values()),
        "plan": finished - baselines_done,
    }
    plan["solver"]["seconds"] = round(finished - started, 3)
    plan["solver"]["stages"] = {k: round(v, 4) for k, v in stages.items()}
    return plan
