"""Stand-alone baselines: what each agency would pay and get buying alone.

The pooled solve runs in the caller's thread (it reports progress and can be
cancelled); the agencies' solves run beside it in worker threads, one per spare
core. Threads suffice because highspy releases the GIL while HiGHS runs, and
unlike processes they need no pickling, no start-up imports and no
`__main__` guard in the caller's script. Whatever the workers have not started
when the pooled solve ends, the caller takes back and runs itself, so no core
waits idle.
"""

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal

from solver.highs import (
    CancelToken,
    PlanStatus,
    ProgressCallback,
    SolveCancelled,
    SolveProgress,
)
from solver.pipeline import SolveResult, solve_needs
from solver.problem import Problem


@dataclass(frozen=True)
class Standalone:
    agency: str
    money_cost: Decimal
    objective: Decimal
    status: PlanStatus
    gap: float
    stopped_by: str
    seconds: float


def solve_standalone(
    problem: Problem, agency: str, cancel: CancelToken | None = None
) -> Standalone:
    result = solve_needs(problem, [agency], stage="standalone", cancel=cancel)
    if cancel is not None and cancel.is_set():
        raise SolveCancelled(f"the stand-alone solve of {agency} was cancelled")
    status, _bound, gap = result.assess(problem.settings.relative_gap)
    return Standalone(
        agency,
        result.figures.money_cost,
        result.figures.objective,
        status,
        gap,
        result.outcome.stopped_by,
        result.outcome.seconds,
    )


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not every platform has affinity
        return os.cpu_count() or 1


def solve_with_baselines(
    problem: Problem,
    agencies: list[str],
    pooled: Callable[[], SolveResult],
    *,
    workers: int | None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> tuple[SolveResult, dict[str, Standalone]]:
    """Run `pooled` here and every agency's stand-alone solve beside it."""
    cores = workers if workers and workers > 0 else available_cores()
    standalone: dict[str, Standalone] = {}

    def finished(result: Standalone) -> None:
        standalone[result.agency] = result
        if progress is not None:
            progress(
                SolveProgress(
                    "standalone",
                    result.agency,
                    result.seconds,
                    float(result.objective),
                    None,
                    result.gap,
                    done=True,
                )
            )

    def run_here(agency: str) -> None:
        finished(solve_standalone(problem, agency, cancel))

    if cores < 2 or len(agencies) == 0:
        pooled_result = pooled()
        for agency in agencies:
            run_here(agency)
        return pooled_result, standalone

    with ThreadPoolExecutor(cores - 1, thread_name_prefix="poolbuy-standalone") as pool:
        futures: dict[str, Future[Standalone]] = {
            agency: pool.submit(solve_standalone, problem, agency, cancel) for agency in agencies
        }
        pooled_result = pooled()
        for agency, future in futures.items():
            if future.cancel():
                run_here(agency)
            else:
                finished(future.result())
    return pooled_result, standalone
