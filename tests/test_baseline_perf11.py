"""Baselines alone: a baseline's independent parts are solved together, in fewer solves,
with the same values (solver/baseline.py, `merge_small_parts`)."""

from __future__ import annotations

from typing import Any

import pytest

from solver.baseline import merge_small_parts, solve_with_coalitions
from solver.coalitions import plan_parts
from solver.examples import generate_problem
from solver.pipeline import solve_needs
from solver.plan import agencies_with_needs
from solver.problem import Problem
from solver.validation import validate

pytestmark = pytest.mark.unit


def test_a_baselines_parts_merge_up_to_the_cap_and_keep_every_need() -> None:
    doc = validate(generate_problem("small", seed=0))
    singles = [(a,) for a in agencies_with_needs(doc)]
    parts, distinct = plan_parts(doc, singles)
    assert len(distinct) > len(singles)  # the small instance splits into parts
    merged, merged_distinct = merge_small_parts(parts)
    assert len(merged_distinct) == len(singles)  # every baseline one solve
    for coalition in singles:
        before = sorted(n for p in parts[coalition] for n in p.needs)
        assert sorted(n for p in merged[coalition] for n in p.needs) == before
    capped, _ = merge_small_parts(parts, max_needs=1)
    assert capped == parts  # no part holds fewer than one need: nothing merged
    keys = [p.key for ps in merged.values() for p in ps]
    assert len(keys) == len(set(keys))


def test_merged_baselines_have_the_values_of_their_whole_solves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import solver.baseline as baseline

    solved: list[Any] = []
    solve_part = baseline._solve_part

    def counted(problem: Problem, part: Any, cancel: Any) -> Any:
        solved.append(part)
        return solve_part(problem, part, cancel)

    monkeypatch.setattr(baseline, "_solve_part", counted)
    doc = validate(generate_problem("small", seed=0))
    singles = [(a,) for a in agencies_with_needs(doc)]
    _, values = solve_with_coalitions(doc, singles, lambda: solve_needs(doc), workers=1)
    assert len(solved) == len(singles)
    gap = doc.settings.relative_gap
    for coalition in singles:
        whole = float(solve_needs(doc, coalition).figures.objective)
        assert float(values[coalition].objective) == pytest.approx(whole, rel=2 * gap, abs=0.01)
