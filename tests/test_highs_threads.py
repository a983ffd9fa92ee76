"""Every HiGHS run a solve makes asks for the same thread count, ``solver.highs.THREADS``.

HiGHS fixes a thread's scheduler at that thread's first run and refuses (kError, no
plan) a later run in the same thread that asks for another count; one forgotten
option on a rarely taken path would fail every later solve of that worker thread.
"""

from __future__ import annotations

import threading
from typing import Any

import highspy
import pytest

from solver import solve
from solver.examples import generate_problem
from solver.highs import THREADS


@pytest.fixture
def highs_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The thread count each HiGHS run of this process asked for, in order."""
    asked: list[int] = []
    lock = threading.Lock()
    run = highspy.Highs.run

    def counted(self: Any) -> Any:
        with lock:
            asked.append(self.getOptions().threads)
        return run(self)

    monkeypatch.setattr(highspy.Highs, "run", counted)
    return asked


@pytest.mark.parametrize(
    ("size", "sourcing", "allocation"),
    [
        # Solved whole; its baselines, every coalition, the least-core LP.
        ("tiny", True, "least_core"),
        # Solved item by item: the LP relaxation, each block's MIP, the awards' re-solve.
        ("medium", False, "usage"),
    ],
)
def test_every_highs_run_of_a_solve_asks_for_one_thread_count(
    highs_runs: list[int], size: str, sourcing: bool, allocation: str
) -> None:
    document = generate_problem(size, seed=3, sourcing=sourcing)
    document["settings"] = {**document.get("settings", {}), "allocation": allocation}
    # Threads, not processes: the count of every run is seen here.
    plan = solve(document, processes=False)
    assert plan["status"] in {"optimal", "feasible"}
    if allocation == "least_core":
        assert plan["fairness"]["coalitions"] > len(plan["agencies"])
    assert len(highs_runs) > len(plan["agencies"])
    assert set(highs_runs) == {THREADS}
