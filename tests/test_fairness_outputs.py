"""Fairness where people read it: the CLI summary's verdict, progress lines, a job's record."""

from __future__ import annotations

import io

import pytest

from app.cli import format_progress, print_summary
from app.jobs.progress import ProgressRecorder
from solver import SolveProgress, solve
from tests.test_solver_fairness import trucks_of_two, volume_discount

pytestmark = pytest.mark.unit


def _summary(plan: dict) -> str:
    out = io.StringIO()
    print_summary(plan, currency="USD", stream=out)
    return out.getvalue()


def test_summary_says_the_core_is_empty_and_who_would_leave() -> None:
    text = _summary(solve(trucks_of_two("least_core")))
    assert "Fairness: the core is empty: A and B would save USD 20.00 on their own" in text


def test_summary_says_stable() -> None:
    text = _summary(solve(volume_discount("usage")))
    assert "Fairness: stable: no group of agencies would do better on its own" in text


def test_summary_is_silent_without_fairness() -> None:
    assert "Fairness" not in _summary(solve(volume_discount("usage", fairness="none")))


def _count(completed: int, total: int) -> SolveProgress:
    return SolveProgress(
        "coalitions", None, 1.0, None, None, None, completed == total, completed, total
    )


def test_progress_line_counts_coalitions() -> None:
    assert format_progress(_count(112, 254), 3.0) == "[   3.0s] 112 of 254 coalitions"


def test_job_progress_keeps_the_latest_count() -> None:
    recorder = ProgressRecorder()
    recorder(_count(3, 14))
    recorder(_count(14, 14))
    state = recorder.snapshot()
    assert state["coalitions"] == {"completed": 14, "total": 14, "done": True}
    assert state["standalone"] == {}
