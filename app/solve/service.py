"""Solving one problem document: parse, validate, cap the limits, solve.

Shared by the API and the CLI. Everything here is synchronous CPU work; the API calls it
from a worker thread, never on the event loop.
"""

import json
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from app.errors import FieldIssue, InvalidInput, field_issues
from solver import ProblemInvalid, SolveProgress, solve, validate
from solver.problem import Problem


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity, JSON does not; other tools would choke on them.
    raise ValueError(f"{name} is not valid JSON")


def parse_document(raw: bytes | str) -> Any:
    """The JSON value in `raw`, or InvalidInput saying where the JSON is broken."""
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        reason = f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except UnicodeDecodeError:
        reason = "malformed JSON: the body is not UTF-8 text"
    except RecursionError:
        reason = "malformed JSON: nested too deeply"
    except ValueError as exc:
        reason = f"malformed JSON: {exc}"
    raise InvalidInput([FieldIssue("$", reason)])


def contract_issues(document: Any, exc: ProblemInvalid) -> list[FieldIssue]:
    """The problems ``validate`` found in ``document``, in the service's one wording.

    The solver words the schema's problems as Pydantic does (it imports nothing of the
    service); those are worded again here from the schema's own errors
    (``app.errors.field_issues``). The solver's rules across fields keep its words.
    """
    solver_words = [FieldIssue(e.path, e.reason) for e in exc.errors]
    if not isinstance(document, Mapping):
        return solver_words  # "must be a JSON object": the solver's check, not the schema's
    try:
        Problem.model_validate(document)
        worded: list[FieldIssue] = []
    except ValidationError as schema:
        worded = field_issues(schema.errors(include_url=False))
    schema_paths = {i.path for i in worded}
    rules = [i for i in solver_words if i.path not in schema_paths]
    return worded + rules


def effective_time_limit(requested: float, ceiling: float | None) -> float:
    """The time limit a solve gets: what was asked for, never above the ceiling."""
    return requested if ceiling is None else min(requested, ceiling)


def solve_document(
    document: Any,
    *,
    time_limit_seconds: float | None = None,
    relative_gap: float | None = None,
    max_time_limit_seconds: float | None = None,
    workers: int | None = None,
    progress: Callable[[SolveProgress], None] | None = None,
) -> dict[str, Any]:
    """Solve a problem document and return the plan document.

    `time_limit_seconds` and `relative_gap` override the document's settings;
    `max_time_limit_seconds` caps whichever time limit applies. Raises InvalidInput listing
    every problem when the document breaks the contract.
    """
    try:
        problem = validate(document)
    except ProblemInvalid as exc:
        raise InvalidInput(contract_issues(document, exc)) from None
    requested = time_limit_seconds or problem.settings.time_limit_seconds
    # The validated problem, not the document: validating a large document twice costs.
    return solve(
        problem,
        time_limit_seconds=effective_time_limit(requested, max_time_limit_seconds),
        relative_gap=relative_gap,
        progress=progress,
        workers=workers,
    )


def solve_body(
    raw: bytes, *, max_time_limit_seconds: float | None, workers: int | None
) -> dict[str, Any]:
    """Parse a request body and solve it (the API's whole job, in one thread)."""
    return solve_document(
        parse_document(raw), max_time_limit_seconds=max_time_limit_seconds, workers=workers
    )
