"""Data in: which offer can serve which need, when it arrives, and what a unit costs.

Everything here follows from the problem document alone and is shared by the
model, the plan's figures and the explanations of unmet needs.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from solver.problem import Need, Offer, Problem, Route


@dataclass(frozen=True, slots=True)
class Pair:
    """A usable (need, offer): same item, eligible agency, supplier not excluded by the
    agency, and a route exists."""

    need: int
    offer: int
    route: int
    delivery_date: date
    late_days: int
    # Route unit cost plus the weighted late penalty of one unit: the part of a
    # unit's objective cost that does not depend on the pooled tier.
    unit_cost: float


@dataclass(frozen=True)
class Unreachable:
    """Why nothing in the document can serve a need at all."""

    reason: str
    detail: str


@dataclass
class PoolingData:
    """The problem indexed for one solve: all needs pooled, or one agency's alone."""

    problem: Problem
    needs: list[int]
    pairs: list[Pair]
    reference_price: dict[str, float]
    unmet_unit_penalty: dict[int, float]
    unreachable: dict[int, Unreachable]
    pairs_of_need: dict[int, list[int]] = field(default_factory=dict)
    pairs_of_offer: dict[int, list[int]] = field(default_factory=dict)
    pairs_of_route: dict[int, list[int]] = field(default_factory=dict)

    @property
    def unavoidable_penalty(self) -> float:
        """Unmet penalty of the needs nothing can serve: no plan avoids it."""
        needs = self.problem.needs
        return sum(self.unmet_unit_penalty[n] * needs[n].quantity for n in self.unreachable)

    def reachable_demand(self, offer: int) -> int:
        """Most units the offer could be asked for: the needs it can serve, in full."""
        quantity = self.problem.needs
        return sum(quantity[self.pairs[p].need].quantity for p in self.pairs_of_offer[offer])


def reference_prices(problem: Problem) -> dict[str, float]:
    """p(i): the highest first-tier unit price among the offers selling item i."""
    prices: dict[str, float] = {item.id: 0.0 for item in problem.items}
    for offer in problem.offers:
        prices[offer.item] = max(prices.get(offer.item, 0.0), offer.price_tiers[0].unit_price)
    return prices


def delivery_date(problem: Problem, offer: Offer, route: Route) -> date:
    days = problem.settings.order_processing_days + offer.lead_time_days + route.transit_days
    return problem.as_of + timedelta(days=days)


def late_days(need: Need, delivered: date) -> int:
    return max(0, (delivered - need.need_by).days)


def build_pooling_data(problem: Problem, agencies: Iterable[str] | None = None) -> PoolingData:
    """Index the needs of `agencies` (every agency when None) against every offer."""
    chosen = None if agencies is None else set(agencies)
    settings = problem.settings
    prices = reference_prices(problem)
    route_index = {(r.supplier, r.location): i for i, r in enumerate(problem.routes)}
    offers_of_item: dict[str, list[int]] = defaultdict(list)
    for o, offer in enumerate(problem.offers):
        offers_of_item[offer.item].append(o)
    excluded = excluded_suppliers(problem)

    needs: list[int] = []
    pairs: list[Pair] = []
    unmet_penalty: dict[int, float] = {}
    unreachable: dict[int, Unreachable] = {}
    for n, need in enumerate(problem.needs):
        if chosen is not None and need.agency not in chosen:
            continue
        needs.append(n)
        weight = settings.priority_weights.of(need.priority)
        price = prices.get(need.item, 0.0)
        unmet_penalty[n] = settings.unmet_penalty_rate * price * weight
        late_rate = settings.late_penalty_rate * price * weight
        found = False
        for o in offers_of_item.get(need.item, ()):
            offer = problem.offers[o]
            r = route_index.get((offer.supplier, need.location))
            if r is None or not offer.serves(need.agency):
                continue
            if offer.supplier in excluded.get(need.agency, ()):
                continue
            route = problem.routes[r]
            arrives = delivery_date(problem, offer, route)
            late = late_days(need, arrives)
            pairs.append(Pair(n, o, r, arrives, late, route.unit_cost + late_rate * late))
            found = True
        if not found:
            unreachable[n] = _why_unreachable(
                problem, need, offers_of_item.get(need.item, []), route_index, excluded
            )

    data = PoolingData(problem, needs, pairs, prices, unmet_penalty, unreachable)
    for p, pair in enumerate(pairs):
        data.pairs_of_need.setdefault(pair.need, []).append(p)
        data.pairs_of_offer.setdefault(pair.offer, []).append(p)
        data.pairs_of_route.setdefault(pair.route, []).append(p)
    return data


def excluded_suppliers(problem: Problem) -> dict[str, frozenset[str]]:
    """The suppliers each agency may not buy from (after its own vetting)."""
    return {a.id: frozenset(a.excluded_suppliers) for a in problem.agencies if a.excluded_suppliers}


def _why_unreachable(
    problem: Problem,
    need: Need,
    offers: list[int],
    route_index: dict[tuple[str, str], int],
    excluded: dict[str, frozenset[str]],
) -> Unreachable:
    item, location, agency = need.item, need.location, need.agency
    if not offers:
        return Unreachable("no_offer", f"no supplier offers {item}; add an offer to the catalogue")
    # Usable but for the agency's exclusions: the contract's not_eligible.
    barred = sorted(
        {
            problem.offers[o].supplier
            for o in offers
            if problem.offers[o].serves(agency)
            and (problem.offers[o].supplier, location) in route_index
            and problem.offers[o].supplier in excluded.get(agency, ())
        }
    )
    if barred:
        return Unreachable(
            "not_eligible",
            f"{agency} excludes every supplier that could deliver {item} to {location} "
            f"({', '.join(barred)}); review the exclusion or find another supplier",
        )
    routed = {r.supplier for r in problem.routes if r.location == location}
    # An offer is open to the agency when it serves it and its supplier is not excluded.
    serving = [o for o in offers if problem.offers[o].serves(agency)]
    eligible = [o for o in serving if problem.offers[o].supplier not in excluded.get(agency, ())]
    if not eligible:
        barred_too = sorted({problem.offers[o].supplier for o in serving})
        excluded_part = (
            f" or sold by suppliers {agency} excludes ({', '.join(barred_too)})"
            if barred_too
            else ""
        )
        return Unreachable(
            "not_eligible",
            f"every offer of {item} is reserved for other agencies{excluded_part}; ask an "
            f"offer holder to open its agreement to {agency}",
        )
    if not any(problem.offers[o].supplier in routed for o in eligible):
        suppliers = sorted({problem.offers[o].supplier for o in eligible})
        return Unreachable(
            "no_route",
            f"no route reaches {location} from the suppliers of {item} open to {agency} "
            f"({', '.join(suppliers)}); add a route or deliver to another location",
        )
    # Unreachable by construction only through the three cases above.
    raise AssertionError("need has a usable pair")
