"""Solving a pooling model with HiGHS: limits, progress, cancellation, status.

HiGHS's own statuses are mapped once, here, to what a plan can say. Whether a
plan is `optimal` or `feasible` is decided later from the gap of the figures
actually reported (see `plan.py`), never taken on trust from the solver.
"""

import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import highspy
import pulp

from solver.model import PoolingModel


def _swallow_banner() -> None:
    """Create the process's first Highs object with C-level stdout muted.

    HiGHS prints its banner to file descriptor 1 from the first constructor,
    whatever the options say; a CLI whose stdout is piped must not get it.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 1)
            highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


_swallow_banner()

# Threads per HiGHS run: one. poolbuy runs solves side by side where that pays (the
# baselines, the coalitions, the jobs on every worker); on these MIPs HiGHS's own
# second thread bought no wall time and cost half as much CPU again (30 coalition
# solves of the medium example: 15.1 s at 147% of a core with HiGHS's default, 15.8 s
# at 100% with one), and two worker processes each running two HiGHS threads on two
# cores each took 1.6x as long as one alone (one thread each: 1.03x).
# HiGHS fixes a thread's scheduler at that thread's first run and refuses (kError) a
# later run in it that asks for another count: every run in the process asks for this.
THREADS = 1


class PlanStatus(StrEnum):
    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    ERROR = "error"


@dataclass(frozen=True)
class SolveProgress:
    """One report on a solve under way, for logs, progress bars and job records."""

    stage: str  # "pooled", "standalone" or "coalitions"
    agency: str | None
    seconds: float
    objective: float | None
    bound: float | None
    gap: float | None
    done: bool = False
    # For "coalitions": how many of the coalitions to check have their value.
    completed: int | None = None
    total: int | None = None


ProgressCallback = Callable[[SolveProgress], None]


class SolveCancelled(Exception):
    """The caller's cancel token was set; no plan is made from a cancelled run."""


class CancelToken(Protocol):
    def is_set(self) -> bool: ...


@dataclass
class SolveOutcome:
    has_solution: bool
    bound: float | None
    seconds: float
    nodes: int
    stopped_by: str  # "optimal", "time_limit", "cancelled", "empty", or HiGHS's status text
    infeasible: bool = False


_STOPPED_EARLY = {
    highspy.HighsModelStatus.kTimeLimit: "time_limit",
    highspy.HighsModelStatus.kInterrupt: "cancelled",
    highspy.HighsModelStatus.kObjectiveBound: "objective_bound",
    highspy.HighsModelStatus.kObjectiveTarget: "objective_target",
    highspy.HighsModelStatus.kIterationLimit: "iteration_limit",
    highspy.HighsModelStatus.kSolutionLimit: "solution_limit",
    highspy.HighsModelStatus.kMemoryLimit: "memory_limit",
}

EARLY_STOPS = frozenset(_STOPPED_EARLY.values())

_PROGRESS_EVENTS = (
    highspy.cb.HighsCallbackType.kCallbackMipImprovingSolution,
    highspy.cb.HighsCallbackType.kCallbackMipLogging,
)
_CANCEL_EVENT = highspy.cb.HighsCallbackType.kCallbackMipInterrupt


def gap_of(objective: float, bound: float, unavoidable: float = 0.0) -> float:
    """The contract's gap on the avoidable objective:
    (objective - bound) / max(1, |objective - unavoidable penalty|)."""
    return max(0.0, objective - bound) / max(1.0, abs(objective - unavoidable))


def stopped_by(highs: highspy.Highs) -> str:
    """How a HiGHS run ended, in our words: "optimal", "infeasible", one of
    `EARLY_STOPS`, or HiGHS's own status text for anything else (an error)."""
    status = highs.getModelStatus()
    if status == highspy.HighsModelStatus.kOptimal:
        return "optimal"
    if status == highspy.HighsModelStatus.kInfeasible:
        return "infeasible"
    if status in _STOPPED_EARLY:
        return _STOPPED_EARLY[status]
    return str(highs.modelStatusToString(status))


def run_highs(
    model: PoolingModel,
    *,
    time_limit: float,
    relative_gap: float,
    stage: str = "pooled",
    agency: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    warm_start: bool = False,
) -> SolveOutcome:
    """Solve in place (values land on the model's variables) and say how it ended.

    With `warm_start`, the values already on the variables are HiGHS's first incumbent.
    """
    started = time.perf_counter()
    if not model.award and not model.unmet:
        return SolveOutcome(True, None, 0.0, 0, "empty")

    def on_event(kind: Any, _message: str, out: Any, data_in: Any, _user: Any) -> None:
        if kind == _CANCEL_EVENT:
            if cancel is not None and cancel.is_set():
                data_in.user_interrupt = True
            return
        if progress is None:
            return
        # The model's objective leaves the unavoidable penalty out; reports hold it.
        primal, dual = out.mip_primal_bound, out.mip_dual_bound
        objective = primal + model.unavoidable if math.isfinite(primal) else None
        bound = dual + model.unavoidable if math.isfinite(dual) else None
        gap = None
        if objective is not None and bound is not None:
            gap = gap_of(objective, bound, model.unavoidable)
        progress(SolveProgress(stage, agency, out.running_time, objective, bound, gap))

    events = [*(_PROGRESS_EVENTS if progress else ()), *([_CANCEL_EVENT] if cancel else [])]
    solver = pulp.HiGHS(
        msg=False,
        timeLimit=time_limit,
        gapRel=relative_gap,
        # Each event takes the GIL back from HiGHS: listen only to what is asked for.
        callbackTuple=(on_event, None) if events else None,
        callbacksToActivate=events or None,
        warmStart=warm_start,
        threads=THREADS,
        **model.highs_options,
    )
    stats = model.lp.solve(solver)
    highs: Any = model.lp.solverModel
    stop = stopped_by(highs)
    info = highs.getInfo()
    seconds = time.perf_counter() - started
    nodes = int(max(0, info.mip_node_count))
    bound = None
    if model.integer and stats.best_bound is not None:
        bound = stats.best_bound + model.unavoidable
    if stop == "optimal":
        return SolveOutcome(True, bound, seconds, nodes, stop)
    if stop == "infeasible":
        return SolveOutcome(False, None, seconds, nodes, stop, infeasible=True)
    if stop in EARLY_STOPS:
        return SolveOutcome(stats.has_solution, bound, seconds, nodes, stop)
    return SolveOutcome(False, None, seconds, nodes, stop)
