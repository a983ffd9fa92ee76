"""The pooling MILP of contract v1, built with PuLP.

Awards are continuous: once the tier and route binaries are fixed, what is left
is a bipartite flow (needs to offers) with whole-number bounds, so its optimal
vertices are whole. `awards.py` restores that property should HiGHS hand back a
non-vertex point. Big-M terms use the tightest bound each constraint allows
(a need's quantity, an offer's reachable capacity) because those decide how
strong the relaxation is, and so how fast the search closes.

Each family of variables or constraints has one `add_` function; names are
deterministic (indices of the document's lists) and double as the contract for
reading values back.
"""

from collections import defaultdict
from dataclasses import dataclass, field

import pulp

from solver.pairs import PoolingData
from solver.tiers import TierRange, needs_choice, reachable_tiers


@dataclass
class PoolingModel:
    data: PoolingData
    lp: pulp.LpProblem
    # Pairs (indices into data.pairs) whose offer can take an order at all.
    pairs: list[int] = field(default_factory=list)
    award: dict[int, pulp.LpVariable] = field(default_factory=dict)
    unmet: dict[int, pulp.LpVariable] = field(default_factory=dict)
    tier_ranges: dict[int, list[TierRange]] = field(default_factory=dict)
    # The part of an award (pair index) priced by a tier, for offers with a choice.
    tier_quantity: dict[tuple[int, int], pulp.LpVariable] = field(default_factory=dict)
    tier_chosen: dict[tuple[int, int], pulp.LpVariable] = field(default_factory=dict)
    route_used: dict[int, pulp.LpVariable] = field(default_factory=dict)
    objective_terms: list[tuple[pulp.LpVariable, float]] = field(default_factory=list)

    @property
    def binaries(self) -> list[pulp.LpVariable]:
        return [*self.tier_chosen.values(), *self.route_used.values()]


def build_model(data: PoolingData) -> PoolingModel:
    model = PoolingModel(data, pulp.LpProblem("pooling", pulp.LpMinimize))
    add_offer_ranges(model)
    add_awards(model)
    add_unmet(model)
    add_demand(model)
    add_tiers(model)
    add_route_fixed_costs(model)
    # Needs nothing can serve stay out of the model, but their penalty stays in its
    # objective: HiGHS then measures its gap on the plan's whole objective, as
    # the contract defines it, and stops no later than it must.
    unserved = sum(
        data.unmet_unit_penalty[n] * data.problem.needs[n].quantity for n in data.unreachable
    )
    model.lp.setObjective(
        pulp.LpAffineExpression.from_list(model.objective_terms, constant=unserved)
    )
    return model


def add_offer_ranges(model: PoolingModel) -> None:
    data = model.data
    for offer, offer_pairs in data.pairs_of_offer.items():
        ranges = reachable_tiers(data.problem.offers[offer], data.reachable_demand(offer))
        if ranges:
            model.tier_ranges[offer] = ranges
            model.pairs.extend(offer_pairs)
    model.pairs.sort()


def add_awards(model: PoolingModel) -> None:
    data = model.data
    needs = data.problem.needs
    for p in model.pairs:
        pair = data.pairs[p]
        ranges = model.tier_ranges[pair.offer]
        upper = min(needs[pair.need].quantity, ranges[-1].highest)
        x = model.lp.add_variable(f"award_{pair.need}_{pair.offer}", 0, upper)
        model.award[p] = x
        cost = pair.unit_cost
        if not needs_choice(ranges):
            # One price for any order: the purchase cost is linear in the award.
            cost += ranges[0].unit_price
        if cost:
            model.objective_terms.append((x, cost))


def add_unmet(model: PoolingModel) -> None:
    data = model.data
    for n in data.needs:
        if n in data.unreachable:
            continue
        u = model.lp.add_variable(f"unmet_{n}", 0, data.problem.needs[n].quantity)
        model.unmet[n] = u
        if data.unmet_unit_penalty[n]:
            model.objective_terms.append((u, data.unmet_unit_penalty[n]))


def add_demand(model: PoolingModel) -> None:
    awards_of_need: dict[int, list[tuple[pulp.LpVariable, float]]] = defaultdict(list)
    for p, x in model.award.items():
        awards_of_need[model.data.pairs[p].need].append((x, 1.0))
    for n, u in model.unmet.items():
        terms = [*awards_of_need.get(n, []), (u, 1.0)]
        quantity = model.data.problem.needs[n].quantity
        model.lp += (pulp.LpAffineExpression.from_list(terms) == quantity, f"demand_{n}")


def add_tiers(model: PoolingModel) -> None:
    """Pooled order Q[o] within capacity, above the minimum order, priced by its tier."""
    awards_of_offer: dict[int, list[int]] = defaultdict(list)
    for p in model.pairs:
        awards_of_offer[model.data.pairs[p].offer].append(p)
    for offer, offer_pairs in awards_of_offer.items():
        ranges = model.tier_ranges[offer]
        if needs_choice(ranges):
            add_tier_choice(model, offer, offer_pairs, ranges)
            continue
        order = [(model.award[p], 1.0) for p in offer_pairs]
        if ranges[0].highest < sum(x.upBound for x, _ in order):
            model.lp += (
                pulp.LpAffineExpression.from_list(order) <= ranges[0].highest,
                f"capacity_{offer}",
            )


def add_tier_choice(
    model: PoolingModel, offer: int, offer_pairs: list[int], ranges: list[TierRange]
) -> None:
    """One tier (or none) per offer, with each award split by the tier that prices it.

    Splitting awards by tier, each part bounded by its need's quantity times the
    tier's binary, is what keeps the relaxation from buying a little at the
    deepest discount: measured on the generated instances it closes the large
    size where the aggregate form (one quantity per tier) stalls at a 0.6% gap.
    """
    chosen: list[tuple[pulp.LpVariable, float]] = []
    parts_of_award: dict[int, list[tuple[pulp.LpVariable, float]]] = defaultdict(list)
    for r in ranges:
        z = model.lp.add_variable(f"tier_chosen_{offer}_{r.tier}", cat="Binary")
        model.tier_chosen[offer, r.tier] = z
        chosen.append((z, 1.0))
        in_tier: list[tuple[pulp.LpVariable, float]] = []
        for p in offer_pairs:
            need = model.data.pairs[p].need
            top = min(model.award[p].upBound, r.highest)
            w = model.lp.add_variable(f"award_in_tier_{need}_{offer}_{r.tier}", 0, top)
            model.tier_quantity[p, r.tier] = w
            model.objective_terms.append((w, r.unit_price))
            in_tier.append((w, 1.0))
            parts_of_award[p].append((w, -1.0))
            model.lp += (
                pulp.LpAffineExpression.from_list([(w, 1.0), (z, -top)]) <= 0,
                f"tier_link_{need}_{offer}_{r.tier}",
            )
        model.lp += (
            pulp.LpAffineExpression.from_list([*in_tier, (z, -r.lowest)]) >= 0,
            f"tier_low_{offer}_{r.tier}",
        )
        model.lp += (
            pulp.LpAffineExpression.from_list([*in_tier, (z, -r.highest)]) <= 0,
            f"tier_high_{offer}_{r.tier}",
        )
    model.lp += (pulp.LpAffineExpression.from_list(chosen) <= 1, f"one_tier_{offer}")
    for p in offer_pairs:
        model.lp += (
            pulp.LpAffineExpression.from_list([(model.award[p], 1.0), *parts_of_award[p]]) == 0,
            f"award_split_{model.data.pairs[p].need}_{offer}",
        )


def add_route_fixed_costs(model: PoolingModel) -> None:
    """A route's fixed cost is paid once if anything moves along it."""
    data = model.data
    routes = data.problem.routes
    by_need_route: dict[tuple[int, int], list[pulp.LpVariable]] = defaultdict(list)
    for p in model.pairs:
        pair = data.pairs[p]
        if routes[pair.route].fixed_cost > 0:
            by_need_route[pair.need, pair.route].append(model.award[p])
    for (n, r), awards in sorted(by_need_route.items()):
        y = model.route_used.get(r)
        if y is None:
            y = model.lp.add_variable(f"route_used_{r}", cat="Binary")
            model.route_used[r] = y
            model.objective_terms.append((y, routes[r].fixed_cost))
        # One row per (need, route) rather than per route: sum <= quantity * y
        # is as tight as a per-award link and needs fewer rows.
        bound = min(data.problem.needs[n].quantity, sum(x.upBound for x in awards))
        model.lp += (
            pulp.LpAffineExpression.from_list([(x, 1.0) for x in awards] + [(y, -bound)]) <= 0,
            f"route_link_{n}_{r}",
        )
