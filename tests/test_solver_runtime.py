"""How a solve behaves while it runs: progress, cancellation, parallel baselines."""

import threading
import time

import pytest

from solver import SolveCancelled, SolveProgress, solve
from solver.examples import generate_problem

pytestmark = pytest.mark.unit


def figures(plan: dict) -> dict:
    return {k: v for k, v in plan.items() if k != "solver"}


def test_progress_reports_the_pooled_search_and_every_baseline() -> None:
    events: list[SolveProgress] = []
    plan = solve(generate_problem("small", seed=1), progress=events.append)

    pooled = [e for e in events if e.stage == "pooled" and e.objective is not None]
    assert pooled, "the pooled search reported nothing"
    # An incumbent only improves; a proven bound only rises.
    objectives = [e.objective for e in pooled]
    assert objectives == sorted(objectives, reverse=True)
    bounds = [e.bound for e in pooled if e.bound is not None]
    assert bounds == sorted(bounds)
    assert objectives[-1] == pytest.approx(plan["objective"], rel=1e-6)

    done = {e.agency for e in events if e.stage == "standalone" and e.done}
    assert done == {a["agency"] for a in plan["agencies"]}


def test_cancelling_stops_a_long_solve_within_moments() -> None:
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    started = time.perf_counter()
    with pytest.raises(SolveCancelled):
        solve(generate_problem("medium", seed=0), cancel=cancel, time_limit_seconds=120)
    # Uncancelled, this solve runs for seconds; HiGHS checks the token as it searches.
    assert time.perf_counter() - started < 5


def test_a_cancel_token_that_is_never_set_changes_nothing() -> None:
    document = generate_problem("small", seed=2)
    assert figures(solve(document, cancel=threading.Event())) == figures(solve(document))


def test_baselines_in_parallel_give_the_same_plan_as_one_at_a_time() -> None:
    document = generate_problem("small", seed=3)
    assert figures(solve(document, workers=1)) == figures(solve(document, workers=4))
