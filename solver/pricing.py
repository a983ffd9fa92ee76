"""The plan's figures, computed from the problem and the awards alone.

This is the same arithmetic an outside checker does: nothing here reads the
solver's variables, so a plan's figures are right whenever its awards are.
Money is summed in Decimal, from each input number's shortest decimal form, so
that cents come out as a person would compute them.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from solver.awards import Award
from solver.pairs import delivery_date, late_days, reference_prices
from solver.problem import Problem
from solver.tiers import tier_for_quantity

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
    quantity: int
    tier: int
    unit_price: Decimal
    cost: Decimal


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

    @property
    def money_cost(self) -> Decimal:
        return self.purchase_cost + self.shipping_cost

    @property
    def objective(self) -> Decimal:
        return self.money_cost + self.late_penalty + self.unmet_penalty


def price_awards(
    problem: Problem, awards: list[Award], needs: list[int] | None = None
) -> PlanFigures:
    """Figures of the plan made of `awards` for `needs` (every need when None)."""
    chosen = range(len(problem.needs)) if needs is None else needs
    settings = problem.settings
    prices = reference_prices(problem)
    route_of = {(r.supplier, r.location): i for i, r in enumerate(problem.routes)}
    figures = PlanFigures()

    ordered: dict[int, int] = defaultdict(int)
    for award in awards:
        ordered[award.offer] += award.quantity
    for offer_index, quantity in sorted(ordered.items()):
        offer = problem.offers[offer_index]
        tier = tier_for_quantity(offer, quantity)
        if tier is None or quantity > offer.capacity or quantity < offer.min_order_quantity:
            raise AwardsInfeasible(f"order of {quantity} breaks the rules of offer {offer.id}")
        price = dec(offer.price_tiers[tier].unit_price)
        figures.orders.append(Order(offer_index, quantity, tier, price, price * quantity))
        figures.purchase_cost += price * quantity

    shipped: dict[int, int] = defaultdict(int)
    awarded: dict[int, int] = defaultdict(int)
    for award in awards:
        need, offer = problem.needs[award.need], problem.offers[award.offer]
        route_index = route_of.get((offer.supplier, need.location))
        if route_index is None or offer.item != need.item or not offer.serves(need.agency):
            raise AwardsInfeasible(f"offer {offer.id} cannot serve need {need.id}")
        arrives = delivery_date(problem, offer, problem.routes[route_index])
        late = late_days(need, arrives)
        tier = tier_for_quantity(offer, ordered[award.offer])
        assert tier is not None
        figures.awards.append(
            PricedAward(
                award.need,
                award.offer,
                route_index,
                award.quantity,
                dec(offer.price_tiers[tier].unit_price),
                arrives,
                late,
            )
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
    return figures
