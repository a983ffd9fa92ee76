"""Reading whole-unit awards back from a solved model.

Awards are continuous in the model (see `model.py`). A basic optimal solution is
whole; a point HiGHS's heuristics hand back may not be. In that case the tier
and route decisions are kept and the flow is re-solved by simplex, whose
vertex is whole and costs no more than the point it replaces.
"""

from dataclasses import dataclass

import pulp

from solver.highs import THREADS
from solver.model import PoolingModel

# Values this close to a whole number are that number (HiGHS's feasibility
# tolerance is 1e-7; rounding within it cannot break a constraint by a unit).
WHOLE_TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True)
class Award:
    """Units of one need bought through one offer."""

    need: int
    offer: int
    quantity: int


def read_awards(model: PoolingModel, has_solution: bool) -> list[Award]:
    """The awards of the solution on `model`; none (every need unmet) without one."""
    if not has_solution or not model.award:
        return []
    if not _all_whole(model):
        _resolve_flow_with_fixed_decisions(model)
    awards = []
    for p, x in model.award.items():
        quantity = round(x.varValue or 0.0)
        if quantity >= 1:
            pair = model.data.pairs[p]
            awards.append(Award(pair.need, pair.offer, quantity))
    return awards


def _all_whole(model: PoolingModel) -> bool:
    return all(
        abs((x.varValue or 0.0) - round(x.varValue or 0.0)) <= WHOLE_TOLERANCE
        for x in model.award.values()
    )


def _resolve_flow_with_fixed_decisions(model: PoolingModel) -> None:
    # Integer awards (held by rows that are no flow) are decisions here too.
    whole = [model.award[p] for p in sorted(model.whole_awards)]
    for z in [*model.binaries, *whole]:
        decided = float(round(z.varValue or 0.0))
        z.lowBound = decided
        z.upBound = decided
    stats = model.lp.solve(pulp.HiGHS(mip=False, msg=False, solver="simplex", threads=THREADS))
    if not stats.has_solution or not _all_whole(model):
        raise ArithmeticError("the flow re-solve did not return whole awards")
