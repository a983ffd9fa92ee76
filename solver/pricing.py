"""The plan's figures, computed from the problem and the awards alone.

This is the same arithmetic an outside checker does: nothing here reads the
solver's variables, so a plan's figures are right whenever its awards are.
Money is summed in Decimal, from each input number's shortest decimal form, so
that cents come out as a person would compute them. Packs follow from the awards
too: an order is the fewest whole packs that hold its awards.
"""

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from solver.awards import Award
from solver.pairs import delivery_date, late_days, reference_prices
from solver.problem import Problem, Rule, RuleKind
from solver.tiers import packs_for, tier_for_quantity

CENT = Decimal("0.01")


def dec(value: float | int) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def to_cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


class AwardsInfeasible(ValueError):
    """The awards break a rule of the model: a solver fault, never a user error."""


@dataclass(frozen=True)
class PricedAward:
    need: int
    offer: int
    route: int
    quantity: int
    unit_price: Decimal
    delivery_date: date
    late_days: int


@dataclass(frozen=True)
class Order:
    offer: int
    quantity: int  # ordered: packs * pack size
    tier: int
    unit_price: Decimal
    packs: int
    surplus: int  # ordered beyond the awards, to fill the last pack
    goods: Decimal
    fee: Decimal

    @property
    def cost(self) -> Decimal:
        return self.goods + self.fee


@dataclass(frozen=True)
class RuleOutcome:
    rule: int
    count: int | None  # suppliers taking part (count kinds)
    share: Decimal | None  # A_s / A (share kinds; None when A is 0)
    violation: Decimal
    penalty: Decimal


@dataclass(frozen=True)
class Shipment:
    route: int
    quantity: int
    cost: Decimal


@dataclass
class PlanFigures:
    awards: list[PricedAward] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    shipments: list[Shipment] = field(default_factory=list)
    unmet: dict[int, int] = field(default_factory=dict)
    purchase_cost: Decimal = Decimal(0)
    shipping_cost: Decimal = Decimal(0)
    late_penalty: Decimal = Decimal(0)
    late_unit_days: int = 0
    unmet_penalty: Decimal = Decimal(0)
    # Part of unmet_penalty: the needs nothing can serve (no plan avoids it).
    unavoidable_penalty: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)  # part of purchase_cost
    rules: list[RuleOutcome] = field(default_factory=list)
    # Units ordered in each capacity group (index into problem.capacity_groups).
    group_quantity: dict[int, int] = field(default_factory=dict)
    # Each agency's awards at their landed unit cost: goods, fee, unit shipping.
    direct_spend: dict[str, Decimal] = field(default_factory=dict)

    @property
    def money_cost(self) -> Decimal:
        return self.purchase_cost + self.shipping_cost

    @property
    def rule_penalty(self) -> Decimal:
        return sum((r.penalty for r in self.rules), Decimal(0))

    @property
    def objective(self) -> Decimal:
        return self.money_cost + self.late_penalty + self.unmet_penalty + self.rule_penalty


def price_awards(
    problem: Problem,
    awards: list[Award],
    needs: list[int] | None = None,
    unreachable: Collection[int] = (),
) -> PlanFigures:
    """Figures of the plan made of `awards` for `needs` (every need when None).

    `unreachable`: the needs nothing can serve, whose penalty is unavoidable.
    """
    chosen = range(len(problem.needs)) if needs is None else needs
    settings = problem.settings
    prices = reference_prices(problem)
    route_of = {(r.supplier, r.location): i for i, r in enumerate(problem.routes)}
    excluded = {a.id: set(a.excluded_suppliers) for a in problem.agencies}
    figures = PlanFigures()

    awarded_of_offer: dict[int, int] = defaultdict(int)
    for award in awards:
        awarded_of_offer[award.offer] += award.quantity
    ordered: dict[int, int] = {}
    for offer_index, units in sorted(awarded_of_offer.items()):
        offer = problem.offers[offer_index]
        packs = packs_for(units, offer.pack_size)
        quantity = packs * offer.pack_size
        tier = tier_for_quantity(offer, quantity)
        if tier is None or quantity > offer.capacity or quantity < offer.min_order_quantity:
            raise AwardsInfeasible(f"order of {quantity} breaks the rules of offer {offer.id}")
        ordered[offer_index] = quantity
        price = dec(offer.price_tiers[tier].unit_price)
        goods = price * quantity
        fee = dec(offer.fee_rate) * goods
        order = Order(offer_index, quantity, tier, price, packs, quantity - units, goods, fee)
        figures.orders.append(order)
        figures.purchase_cost += order.cost
        figures.fees += fee

    offer_index_of = {o.id: i for i, o in enumerate(problem.offers)}
    for g, group in enumerate(problem.capacity_groups):
        quantity = sum(ordered.get(offer_index_of[o], 0) for o in group.offers)
        if quantity > group.capacity:
            raise AwardsInfeasible(f"orders of {quantity} exceed capacity group {group.id}")
        figures.group_quantity[g] = quantity

    shipped: dict[int, int] = defaultdict(int)
    awarded: dict[int, int] = defaultdict(int)
    for award in awards:
        need, offer = problem.needs[award.need], problem.offers[award.offer]
        route_index = route_of.get((offer.supplier, need.location))
        if (
            route_index is None
            or offer.item != need.item
            or not offer.serves(need.agency)
            or offer.supplier in excluded.get(need.agency, ())
        ):
            raise AwardsInfeasible(f"offer {offer.id} cannot serve need {need.id}")
        arrives = delivery_date(problem, offer, problem.routes[route_index])
        late = late_days(need, arrives)
        tier = tier_for_quantity(offer, ordered[award.offer])
        assert tier is not None
        unit_price = dec(offer.price_tiers[tier].unit_price)
        figures.awards.append(
            PricedAward(
                award.need,
                award.offer,
                route_index,
                award.quantity,
                unit_price,
                arrives,
                late,
            )
        )
        landed = unit_price * (1 + dec(offer.fee_rate)) + dec(problem.routes[route_index].unit_cost)
        figures.direct_spend[need.agency] = (
            figures.direct_spend.get(need.agency, Decimal(0)) + landed * award.quantity
        )
        shipped[route_index] += award.quantity
        awarded[award.need] += award.quantity
        weight = dec(settings.priority_weights.of(need.priority))
        rate = dec(settings.late_penalty_rate) * dec(prices[need.item]) * weight
        figures.late_penalty += rate * late * award.quantity
        figures.late_unit_days += late * award.quantity

    for route_index, quantity in sorted(shipped.items()):
        route = problem.routes[route_index]
        cost = dec(route.fixed_cost) + dec(route.unit_cost) * quantity
        figures.shipments.append(Shipment(route_index, quantity, cost))
        figures.shipping_cost += cost

    for n in chosen:
        need = problem.needs[n]
        missing = need.quantity - awarded.get(n, 0)
        if missing < 0:
            raise AwardsInfeasible(f"need {need.id} is awarded more than its quantity")
        if missing:
            figures.unmet[n] = missing
            weight = dec(settings.priority_weights.of(need.priority))
            rate = dec(settings.unmet_penalty_rate) * dec(prices[need.item]) * weight
            figures.unmet_penalty += rate * missing
            if n in unreachable:
                figures.unavoidable_penalty += rate * missing

    for agency in problem.agencies:
        spend = figures.direct_spend.get(agency.id, Decimal(0))
        if agency.budget is not None and spend > dec(agency.budget):
            raise AwardsInfeasible(f"direct spend {spend} of {agency.id} exceeds its budget")
    figures.rules = [
        rule_outcome(problem, r, rule, figures.awards) for r, rule in enumerate(problem.rules)
    ]
    return figures


def rule_outcome(problem: Problem, r: int, rule: Rule, awards: list[PricedAward]) -> RuleOutcome:
    """A rule's count or share, its violation and its penalty, from the awards in scope."""
    in_scope = [
        a
        for a in awards
        if rule.in_scope(problem.needs[a.need].item, problem.needs[a.need].location)
    ]
    penalty = dec(rule.penalty)
    if rule.kind.counts_suppliers:
        count = len({problem.offers[a.offer].supplier for a in in_scope})
        limit = rule.limit or 0
        if rule.kind is RuleKind.MAX_SUPPLIERS:
            broken = max(0, count - limit)
        else:
            broken = max(0, limit - count) if count >= 1 else 0
        return RuleOutcome(r, count, None, Decimal(broken), penalty * broken)
    total = sum(a.quantity for a in in_scope)
    own = sum(a.quantity for a in in_scope if problem.offers[a.offer].supplier == rule.supplier)
    share = dec(rule.share or 0.0)
    if rule.kind is RuleKind.MAX_SHARE:
        violation = max(Decimal(0), own - share * total)
    else:
        violation = max(Decimal(0), share * total - own)
    observed = Decimal(own) / Decimal(total) if total else None
    return RuleOutcome(r, None, observed, violation, penalty * violation)
