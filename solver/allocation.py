"""Each agency's fair share of the pooled money cost.

`usage`: an agency pays its own units at the price the pooled order reached,
with the offer's fee on them, its own unit shipping, a share of each route's
fixed cost in proportion to its units on the route, and a share of each offer's
surplus (the rest of its last pack, goods and fee) in proportion to its units
on the offer. `proportional`: the pooled cost split in proportion to
what each agency would have paid alone. Shares are rounded to the cent by the
largest-remainder method so that they add up to the rounded total exactly.
"""

from collections import defaultdict
from decimal import ROUND_FLOOR, Decimal

from solver.pricing import CENT, PlanFigures, dec, to_cents
from solver.problem import Allocation, Problem


def usage_shares(problem: Problem, figures: PlanFigures) -> dict[str, Decimal]:
    on_route: dict[int, int] = defaultdict(int)
    on_offer: dict[int, int] = defaultdict(int)
    for award in figures.awards:
        on_route[award.route] += award.quantity
        on_offer[award.offer] += award.quantity
    surplus_cost = {
        o.offer: o.unit_price * o.surplus * (1 + dec(problem.offers[o.offer].fee_rate))
        for o in figures.orders
        if o.surplus
    }
    shares: dict[str, Decimal] = defaultdict(Decimal)
    for award in figures.awards:
        route = problem.routes[award.route]
        agency = problem.needs[award.need].agency
        fee = dec(problem.offers[award.offer].fee_rate)
        shares[agency] += (award.unit_price * (1 + fee) + dec(route.unit_cost)) * award.quantity
        shares[agency] += dec(route.fixed_cost) * award.quantity / on_route[award.route]
        if award.offer in surplus_cost:
            shares[agency] += surplus_cost[award.offer] * award.quantity / on_offer[award.offer]
    return shares


def allocate(
    problem: Problem,
    figures: PlanFigures,
    agencies: list[str],
    standalone_cost: dict[str, Decimal],
) -> dict[str, Decimal]:
    """Cent-exact shares of the pooled money cost for `agencies`.

    `least_core` is the fairness module's; until it picks the split, usage's is used.
    """
    alone_total = sum((standalone_cost[a] for a in agencies), Decimal(0))
    if problem.settings.allocation is Allocation.PROPORTIONAL and alone_total > 0:
        shares = {a: figures.money_cost * standalone_cost[a] / alone_total for a in agencies}
    else:
        usage = usage_shares(problem, figures)
        shares = {a: usage.get(a, Decimal(0)) for a in agencies}
    return largest_remainder(shares, to_cents(figures.money_cost))


def largest_remainder(shares: dict[str, Decimal], total: Decimal) -> dict[str, Decimal]:
    """Round shares down to the cent, then hand the cents left to the largest remainders."""
    floors = {a: s.quantize(CENT, rounding=ROUND_FLOOR) for a, s in shares.items()}
    cents_left = int((total - sum(floors.values(), Decimal(0))) / CENT)
    # Ties go to the agency listed first, so the split is reproducible.
    order = sorted(shares, key=lambda a: (-(shares[a] - floors[a]), list(shares).index(a)))
    for a in order[: max(0, cents_left)]:
        floors[a] += CENT
    return floors
