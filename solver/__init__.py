"""poolbuy's optimisation core: a pure function from a problem document to a plan.

No web, database or app imports here; `tests/test_solver_purity.py` holds us to it.
"""

from solver.highs import PlanStatus, SolveCancelled, SolveProgress
from solver.problem import Problem
from solver.solve import solve
from solver.validation import Issue, ProblemInvalid, validate

__all__ = [
    "Issue",
    "PlanStatus",
    "Problem",
    "ProblemInvalid",
    "SolveCancelled",
    "SolveProgress",
    "solve",
    "validate",
]
