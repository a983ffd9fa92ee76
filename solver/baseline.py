"""Stand-alone baselines and coalitions, solved beside the pooled plan.

An agency's stand-alone baseline is the value of its one-agency coalition
(`coalitions.py`); with fairness asked for, every coalition the contract names
is solved the same way. Each coalition is made of independent parts, and each
distinct part is solved once, however many coalitions share it.

The pooled solve runs in the caller's thread (it reports progress and can be
cancelled); the parts run beside it on the spare cores. Whatever the workers
have not started when the pooled solve ends, the caller takes back and runs
itself, from the end of the queue while the workers go on from its start, so
no core waits idle.

Threads or processes. For the baselines alone, threads: highspy releases the
GIL while HiGHS runs, and threads need no pickling, no start-up imports and no
`__main__` guard in the caller's script. Coalitions are many solves whose
model building (PuLP, Python) would contend for the GIL, so a large enough
batch goes to a process pool instead: each worker process is handed the
problem once, then only which needs to solve, and the caller's cancel token
reaches it through an event that a small thread copies it to.
"""

import multiprocessing
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import highspy

from solver.coalitions import (
    Coalition,
    CoalitionValue,
    Part,
    coalition_problem,
    coalition_value,
    plan_parts,
)
from solver.highs import (
    THREADS,
    CancelToken,
    PlanStatus,
    ProgressCallback,
    SolveCancelled,
    SolveProgress,
)
from solver.pipeline import SolveResult
from solver.problem import Problem

# Below this many needs summed over the distinct parts, starting worker
# processes (an import of the solver each, about a second) costs more than the
# GIL contention it saves; threads are used instead.
PROCESS_POOL_MIN_NEEDS = 5_000
# How often the caller's cancel token is copied to the worker processes.
_CANCEL_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Standalone:
    agency: str
    money_cost: Decimal
    objective: Decimal
    status: PlanStatus
    gap: float
    stopped_by: str
    seconds: float

    @staticmethod
    def of(value: CoalitionValue) -> "Standalone":
        (agency,) = value.members
        return Standalone(
            agency,
            value.money_cost,
            value.objective,
            value.status,
            value.gap,
            value.stopped_by,
            value.seconds,
        )


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not every platform has affinity
        return os.cpu_count() or 1


def solve_with_coalitions(
    problem: Problem,
    coalitions: Sequence[Coalition],
    pooled: Callable[[], SolveResult],
    *,
    workers: int | None,
    processes: bool | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> tuple[SolveResult, dict[Coalition, CoalitionValue]]:
    """Run `pooled` here and the value of every coalition beside it.

    `workers` caps the solves running at once (default: one per core);
    `processes` chooses a process pool (True), threads (False) or, when None,
    processes for coalitions beyond the baselines whose batch is large enough to
    repay starting them.
    """
    cores = workers if workers and workers > 0 else available_cores()
    parts, distinct = plan_parts(problem, coalitions)
    if not any(len(c) > 1 for c in coalitions):
        parts, distinct = merge_small_parts(parts)
    tally = _Tally(parts, progress, problem.settings.relative_gap)

    def run_here(part: Part) -> None:
        tally.done(part, _solve_part(problem, part, cancel))

    if cores < 2 or not distinct:
        pooled_result = pooled()
        for part in distinct.values():
            if cancel is not None and cancel.is_set():
                raise SolveCancelled("the coalitions' solves were cancelled")
            run_here(part)
        return pooled_result, tally.values()

    if processes is None:
        # The baselines alone stay in threads, as they always were.
        batch = sum(len(p.needs) for p in distinct.values())
        processes = tally.count_coalitions and batch >= PROCESS_POOL_MIN_NEEDS
    with _Pool(problem, cores - 1, processes, cancel) as executor:
        futures: dict[tuple[int, Coalition], Future[CoalitionValue]] = {}
        for key, part in distinct.items():
            if processes:
                future = executor.submit(_solve_part_in_worker, part)
            else:
                future = executor.submit(_solve_part, problem, part, cancel)
            future.add_done_callback(tally.when_done(part))
            futures[key] = future
        try:
            pooled_result = pooled()
            # Take work back from the end of the queue while the workers go on from
            # its start: from the front, the caller would always find the next part
            # already claimed (a process pool claims one ahead) and wait idle.
            left = list(futures.items())
            while left:
                if cancel is not None and cancel.is_set():
                    raise SolveCancelled("the coalitions' solves were cancelled")
                key, future = left[-1]
                if not future.cancel():
                    break  # the workers have reached this far: the rest is theirs
                left.pop()
                run_here(distinct[key])
            for _key, future in left:
                future.result()
            if cancel is not None and cancel.is_set():
                raise SolveCancelled("the coalitions' solves were cancelled")
        except BaseException:
            for future in futures.values():
                future.cancel()
            raise
    return pooled_result, tally.values()


# Parts of one baseline are solved together up to this many needs: every solve costs
# a model and a HiGHS run whatever its size (milliseconds), which dominated the small
# instance's baselines (18 parts of 1 to 6 needs for 8 agencies). Measured in
# `docs/performance.md`.
MERGED_PART_MAX_NEEDS = 400


def merge_small_parts(
    parts: dict[Coalition, list[Part]], max_needs: int = MERGED_PART_MAX_NEEDS
) -> tuple[dict[Coalition, list[Part]], dict[tuple[int, Coalition], Part]]:
    """Each coalition's consecutive parts merged while they hold at most `max_needs` needs.

    Only for coalitions that share no part (the baselines alone: a part's members are
    its coalition): the parts are independent, so a merged part's value is their sum.
    A merged part is numbered after every bundle, so its key is its own.
    """
    merged: dict[Coalition, list[Part]] = {}
    distinct: dict[tuple[int, Coalition], Part] = {}
    number = 1 + max((p.bundle for ps in parts.values() for p in ps), default=0)
    for coalition, coalition_parts in parts.items():
        runs: list[list[Part]] = []
        for part in coalition_parts:
            if runs and sum(len(p.needs) for p in runs[-1]) + len(part.needs) <= max_needs:
                runs[-1].append(part)
            else:
                runs.append([part])
        merged[coalition] = []
        for run in runs:
            if len(run) == 1:
                part = run[0]
            else:
                needs = tuple(sorted(n for p in run for n in p.needs))
                part, number = Part(number, coalition, needs), number + 1
            merged[coalition].append(part)
            distinct[part.key] = part
    return merged, distinct


def _solve_part(problem: Problem, part: Part, cancel: CancelToken | None) -> CoalitionValue:
    sub = coalition_problem(problem, part.members, part.needs)
    return coalition_value(sub, part.members, cancel)


class _Tally:
    """Part values as they come in, and the coalitions they complete, reported."""

    def __init__(
        self,
        parts: dict[Coalition, list[Part]],
        progress: ProgressCallback | None,
        target_gap: float,
    ) -> None:
        self.parts = parts
        self.progress = progress
        self.target_gap = target_gap
        self.lock = threading.Lock()
        self.started = time.perf_counter()
        self.part_values: dict[tuple[int, Coalition], CoalitionValue] = {}
        self.waiting = {c: len(p) for c, p in parts.items()}
        self.holders: dict[tuple[int, Coalition], list[Coalition]] = defaultdict(list)
        for coalition, coalition_parts in parts.items():
            for part in coalition_parts:
                self.holders[part.key].append(coalition)
        self.completed = sum(1 for n in self.waiting.values() if n == 0)
        # Coalition counts are reported when fairness asked for more than the baselines.
        self.count_coalitions = any(len(c) > 1 for c in parts)

    def when_done(self, part: Part) -> Callable[[Future[CoalitionValue]], None]:
        def record(future: Future[CoalitionValue]) -> None:
            if not future.cancelled() and future.exception() is None:
                self.done(part, future.result())

        return record

    def done(self, part: Part, value: CoalitionValue) -> None:
        finished: list[Coalition] = []
        with self.lock:
            if part.key in self.part_values:
                return
            self.part_values[part.key] = value
            for coalition in self.holders[part.key]:
                self.waiting[coalition] -= 1
                if self.waiting[coalition] == 0:
                    finished.append(coalition)
            self.completed += len(finished)
            completed = self.completed
            values = {c: self._value(c) for c in finished}
        if self.progress is None:
            return
        for coalition, value in values.items():
            if len(coalition) == 1:
                self.progress(
                    SolveProgress(
                        "standalone",
                        coalition[0],
                        value.seconds,
                        float(value.objective),
                        None,
                        value.gap,
                        done=True,
                    )
                )
        if finished and self.count_coalitions:
            total = len(self.parts)
            self.progress(
                SolveProgress(
                    "coalitions",
                    None,
                    time.perf_counter() - self.started,
                    None,
                    None,
                    None,
                    done=completed == total,
                    completed=completed,
                    total=total,
                )
            )

    def _value(self, coalition: Coalition) -> CoalitionValue:
        parts = [self.part_values[p.key] for p in self.parts[coalition]]
        return CoalitionValue.combine(coalition, parts, self.target_gap)

    def values(self) -> dict[Coalition, CoalitionValue]:
        return {c: self._value(c) for c in self.parts}


# --- the process pool ---------------------------------------------------------------

_worker_problem: Problem | None = None
_worker_cancel: Any = None


def _start_worker(problem: Problem, cancel: Any) -> None:
    global _worker_problem, _worker_cancel
    _worker_problem, _worker_cancel = problem, cancel
    # One solve at a time per process, one process per core: HiGHS's thread pool
    # (made once per process, by its first run) gets one thread, not one per core.
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("threads", THREADS)
    highs.run()


def _solve_part_in_worker(part: Part) -> CoalitionValue:
    assert _worker_problem is not None, "worker started without its problem"
    return _solve_part(_worker_problem, part, _worker_cancel)


class _Pool:
    """A thread or process pool of `size`; a process pool gets the problem once per worker."""

    def __init__(
        self, problem: Problem, size: int, processes: bool, cancel: CancelToken | None
    ) -> None:
        self.cancel = cancel
        self.stop = threading.Event()
        self.bridge: threading.Thread | None = None
        self.pool: Executor
        if not processes:
            self.pool = ThreadPoolExecutor(size, thread_name_prefix="poolbuy-coalition")
            return
        # forkserver: workers forked from a clean server, safe whatever threads the
        # caller runs (a job's heartbeat); spawn where there is no forkserver.
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        self.event = context.Event()
        self.pool = ProcessPoolExecutor(
            size, mp_context=context, initializer=_start_worker, initargs=(problem, self.event)
        )
        if cancel is not None:
            self.bridge = threading.Thread(
                target=self._copy_cancel, name="poolbuy-cancel-bridge", daemon=True
            )
            self.bridge.start()

    def _copy_cancel(self) -> None:
        assert self.cancel is not None
        while not self.stop.wait(_CANCEL_POLL_SECONDS):
            if self.cancel.is_set():
                self.event.set()
                return

    def __enter__(self) -> Executor:
        return self.pool

    def __exit__(self, *exc: object) -> None:
        if self.bridge is not None and self.cancel is not None and self.cancel.is_set():
            self.event.set()
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.stop.set()
        if self.bridge is not None:
            self.bridge.join()
