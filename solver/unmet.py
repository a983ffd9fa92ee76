"""Why a need is left (partly) unmet, in the contract's codes and in plain words.

Needs nothing can serve were explained when the pairs were built. For the rest
the plan itself says what stood in the way: every offer that could serve the
need is full (capacity), or the only ones with room have a minimum order that
the demand still open cannot reach (min_order); otherwise buying was possible
and the model judged the unmet penalty cheaper (too_costly).
"""

from collections import defaultdict
from dataclasses import dataclass

from solver.pairs import PoolingData, Unreachable
from solver.pricing import PlanFigures
from solver.problem import Priority

_RANK = {Priority.CRITICAL: 0, Priority.HIGH: 1, Priority.NORMAL: 2}


@dataclass(frozen=True)
class _OfferState:
    ordered: int
    at_capacity: bool
    minimum: int


def explain_unmet(
    data: PoolingData, figures: PlanFigures, searched_out: bool = False
) -> dict[int, Unreachable]:
    """Reason and sentence for every need left (partly) unmet.

    `searched_out`: the time limit stopped the search with no plan at all, so
    "the penalty is cheaper" would be a guess; the sentence says what happened.
    """
    problem = data.problem
    ordered = {order.offer: order.quantity for order in figures.orders}
    open_demand: dict[int, int] = defaultdict(int)
    for n, missing in figures.unmet.items():
        for p in data.pairs_of_need.get(n, []):
            open_demand[data.pairs[p].offer] += missing

    reasons: dict[int, Unreachable] = {}
    for n in figures.unmet:
        if n in data.unreachable:
            reasons[n] = data.unreachable[n]
            continue
        need = problem.needs[n]
        offers = sorted({data.pairs[p].offer for p in data.pairs_of_need[n]})
        states = {}
        for o in offers:
            offer = problem.offers[o]
            minimum = max(offer.min_order_quantity, offer.price_tiers[0].min_quantity)
            states[o] = _OfferState(ordered.get(o, 0), ordered.get(o, 0) >= offer.capacity, minimum)
        full = [o for o in offers if states[o].at_capacity]
        too_small = [
            o
            for o in offers
            if not states[o].at_capacity
            and states[o].ordered == 0
            and states[o].minimum > min(open_demand[o], problem.offers[o].capacity)
        ]
        if len(full) == len(offers):
            reasons[n] = Unreachable("capacity", _capacity_detail(data, figures, n, full))
        elif len(full) + len(too_small) == len(offers):
            o = too_small[0]
            offer = problem.offers[o]
            if offer.capacity < states[o].minimum:
                why = f"but can deliver only {offer.capacity}; ask the supplier to align them"
            else:
                why = (
                    f"but the demand still open for it is only {open_demand[o]}; "
                    "pooling more needs for it would unlock it"
                )
            reasons[n] = Unreachable(
                "min_order",
                f"offer {offer.id} of {offer.supplier} takes orders of at least "
                f"{states[o].minimum} {need.item} {why}",
            )
        elif searched_out:
            reasons[n] = Unreachable(
                "too_costly",
                "the time limit ended the search before any plan that buys it was found; "
                "raise time_limit_seconds and run again",
            )
        else:
            penalty = data.unmet_unit_penalty[n]
            reasons[n] = Unreachable(
                "too_costly",
                f"buying costs more than the unmet penalty of {penalty:.2f} per unit at "
                f"{need.priority.value} priority; confirm a higher priority, raise the unmet "
                "penalty rate, or find a cheaper offer or route",
            )
    return reasons


def _capacity_detail(data: PoolingData, figures: PlanFigures, n: int, full: list[int]) -> str:
    problem = data.problem
    need = problem.needs[n]
    rank = _RANK[need.priority]
    higher = sum(
        a.quantity
        for a in figures.awards
        if a.offer in full and _RANK[problem.needs[a.need].priority] < rank
    )
    ids = ", ".join(problem.offers[o].id for o in full)
    if higher:
        taken = f"{higher} units went to needs of higher priority"
    else:
        taken = "the units went to needs of the same or higher priority that cost less to serve"
    return (
        f"every eligible offer of {need.item} is at capacity ({ids}); {taken}; "
        "find another supplier or ask for more capacity"
    )
