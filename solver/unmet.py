"""Why a need is left (partly) unmet, in the contract's codes and in plain words.

Needs nothing can serve were explained when the pairs were built. For the rest
the plan itself says what stood in the way: every offer that could serve the
need is full, itself or through its capacity group (capacity), or the only ones
with room have a minimum order that the demand still open cannot reach
(min_order); the agency's budget is all but spent (budget: direct spend within
1% of it); a rule on the item would charge its penalty for serving more (rule:
a maximum already reached, a share at its bound, a minimum of suppliers that one
supplier alone would break); otherwise buying was possible and the model judged
the unmet penalty cheaper (too_costly).
"""

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from solver.pairs import PoolingData, Unreachable
from solver.pricing import PlanFigures, RuleOutcome, dec
from solver.problem import Need, Priority, Problem, RuleKind

# "Its direct spend is within 1% of its budget" (contract v2).
BUDGET_BINDS = Decimal("0.99")

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
    room = _room(problem, figures)
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
            states[o] = _OfferState(ordered.get(o, 0), not room[o], minimum)
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
        elif (budget := _budget_binds(data, figures, n)) is not None:
            reasons[n] = Unreachable("budget", budget)
        elif (rule := _rule_in_the_way(problem, figures, need)) is not None:
            reasons[n] = Unreachable("rule", rule)
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


def _room(problem: Problem, figures: PlanFigures) -> dict[int, bool]:
    """Whether an offer could take one unit more: room in its last pack, or for
    another pack within its own capacity and every group it is in."""
    ordered = {order.offer: order for order in figures.orders}
    index = {o.id: i for i, o in enumerate(problem.offers)}
    groups_of: dict[int, list[int]] = defaultdict(list)
    for g, group in enumerate(problem.capacity_groups):
        for offer_id in group.offers:
            groups_of[index[offer_id]].append(g)
    room: dict[int, bool] = {}
    for o, offer in enumerate(problem.offers):
        order = ordered.get(o)
        if order is not None and order.surplus > 0:
            room[o] = True
            continue
        quantity = order.quantity if order is not None else 0
        room[o] = quantity + offer.pack_size <= offer.capacity and all(
            figures.group_quantity.get(g, 0) + offer.pack_size
            <= problem.capacity_groups[g].capacity
            for g in groups_of[o]
        )
    return room


def _budget_binds(data: PoolingData, figures: PlanFigures, n: int) -> str | None:
    problem = data.problem
    need = problem.needs[n]
    agency = next(a for a in problem.agencies if a.id == need.agency)
    if agency.budget is None:
        return None
    budget = dec(agency.budget)
    spend = figures.direct_spend.get(agency.id, Decimal(0))
    if spend < BUDGET_BINDS * budget:
        return None
    # The cheapest landed unit (goods, fee, unit shipping) among the offers that serve it.
    ordered = {order.offer: order.tier for order in figures.orders}
    unit = min(
        dec(problem.offers[pair.offer].price_tiers[ordered.get(pair.offer, 0)].unit_price)
        * (1 + dec(problem.offers[pair.offer].fee_rate))
        + dec(problem.routes[pair.route].unit_cost)
        for pair in (data.pairs[p] for p in data.pairs_of_need[n])
    )
    missing = figures.unmet[n]
    more = max(Decimal(0), unit * missing - (budget - spend))
    return (
        f"{agency.id}'s budget of {budget:.2f} binds: its direct spend is {spend:.2f}; "
        f"about {more:.2f} more budget would buy the {missing} {need.item} still needed "
        f"(at {unit:.2f} a unit landed); raise the budget or move funds from another need"
    )


def _rule_in_the_way(problem: Problem, figures: PlanFigures, need: Need) -> str | None:
    """The first rule on the need's item whose penalty serving it more would incur."""
    for outcome in figures.rules:
        rule = problem.rules[outcome.rule]
        if rule.in_scope(need.item, need.location) and _rule_binds(problem, outcome):
            where = f" at {rule.location}" if rule.location else ""
            penalty = f"{rule.penalty:g}"
            if rule.kind is RuleKind.MAX_SUPPLIERS:
                what = (
                    f"rule {rule.id} allows at most {rule.limit} suppliers of {need.item}{where} "
                    f"and {outcome.count} take part; another would cost its penalty of "
                    f"{penalty}; raise the limit or ask the suppliers chosen for more"
                )
            elif rule.kind is RuleKind.MIN_SUPPLIERS:
                what = (
                    f"rule {rule.id} asks for at least {rule.limit} suppliers of {need.item}"
                    f"{where}, and buying from fewer costs its penalty of {penalty} per "
                    "supplier missing; add offers from more suppliers or lower the limit"
                )
            elif rule.kind is RuleKind.MAX_SHARE:
                what = (
                    f"rule {rule.id} caps {rule.supplier}'s share of {need.item}{where} at "
                    f"{rule.share:.0%}, reached; more from {rule.supplier} costs {penalty} per "
                    "unit over the cap; raise the share or find another supplier"
                )
            else:
                what = (
                    f"rule {rule.id} reserves {rule.share:.0%} of {need.item}{where} for "
                    f"{rule.supplier}; buying more from others costs {penalty} per unit "
                    f"below that share; ask {rule.supplier} for more or lower the share"
                )
            return f"{what} (serving it costs more than its unmet penalty)"
    return None


def _rule_binds(problem: Problem, outcome: RuleOutcome) -> bool:
    rule = problem.rules[outcome.rule]
    limit = rule.limit or 0
    if rule.kind is RuleKind.MAX_SUPPLIERS:
        return (outcome.count or 0) >= limit
    if rule.kind is RuleKind.MIN_SUPPLIERS:
        return outcome.count == 0 and limit >= 2
    if outcome.share is None:
        return False  # nothing in scope is bought: no share to hold to yet
    share = dec(rule.share or 0.0)
    if rule.kind is RuleKind.MAX_SHARE:
        return outcome.share >= share
    return outcome.share <= share


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
