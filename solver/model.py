"""The pooling MILP of contract v2 (v1 plus packs, fees, groups, rules, budgets), in PuLP.

Awards are continuous where they can be: once the tier, pack, route and rule
decisions are fixed, what is left is a bipartite flow (needs to offers) with
whole-number bounds, so its optimal vertices are whole. `awards.py` restores
that property should HiGHS hand back a non-vertex point. Rows that are no flow
(a budget's prices, a share rule's fractions, a supplier taking part in a
min-suppliers rule, an offer in two capacity groups) would let a vertex split a
unit; the awards those rows hold are integer columns instead (`whole_awards`).
Big-M terms use the tightest bound each constraint allows (a need's quantity,
an offer's reachable capacity) because those decide how strong the relaxation
is, and so how fast the search closes.

Each family of variables or constraints has one `add_` function; names are
deterministic (indices of the document's lists) and double as the contract for
reading values back. Every column is registered with the item it belongs to
(`column_item`), except the routes' binaries, which items share: `items.py`
splits the model along items with that map, and the ties between items that a
row makes (a capacity group over several items' offers, a budget) are recorded
in `ties`.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal

import pulp

from solver.pairs import PoolingData
from solver.problem import RuleKind
from solver.tiers import TierRange, needs_choice, reachable_tiers

Terms = list[tuple[pulp.LpVariable, float]]
# HiGHS's default is 1e-6: an award of 2.9999995 units read as 3 could overspend a budget
# that the model kept.
BUDGET_INTEGRALITY_TOLERANCE = 1e-9


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
    # Units bought beyond the awards to fill the last pack: one per offer without a
    # tier choice, one per (offer, tier) with one; and the packs themselves.
    surplus: dict[tuple[int, int | None], pulp.LpVariable] = field(default_factory=dict)
    packs: dict[int, pulp.LpVariable] = field(default_factory=dict)
    # Rules: whether a supplier takes part (count kinds), whether anything in scope is
    # awarded at all (min_suppliers), and each rule's violation.
    supplier_used: dict[tuple[int, int], pulp.LpVariable] = field(default_factory=dict)
    rule_awarded: dict[int, pulp.LpVariable] = field(default_factory=dict)
    violation: dict[int, pulp.LpVariable] = field(default_factory=dict)
    # Pairs whose award must be an integer column (see the module's docstring).
    whole_awards: set[int] = field(default_factory=set)
    objective_terms: Terms = field(default_factory=list)
    # Column name -> the item it belongs to; route binaries are not in it.
    column_item: dict[str, str] = field(default_factory=dict)
    # Sets of items that one row ties together (a capacity group, a budget).
    ties: list[frozenset[str]] = field(default_factory=list)
    # Options for HiGHS that a family needs (see add_budgets).
    highs_options: dict[str, float] = field(default_factory=dict)
    # Penalty of the needs nothing can serve: a constant kept out of the objective,
    # so that HiGHS measures its gap on the avoidable objective, as the contract does.
    unavoidable: float = 0.0

    @property
    def binaries(self) -> list[pulp.LpVariable]:
        """Every integer column that is a decision, not an award."""
        return [
            *self.tier_chosen.values(),
            *self.route_used.values(),
            *self.packs.values(),
            *self.supplier_used.values(),
            *self.rule_awarded.values(),
        ]

    @property
    def integer(self) -> bool:
        """Whether the model is a MIP (has any integer column)."""
        return bool(self.binaries or self.whole_awards)

    def column(
        self,
        name: str,
        item: str,
        low: float = 0,
        up: float | None = None,
        cat: Literal["Continuous", "Integer"] = "Continuous",
    ) -> pulp.LpVariable:
        """A new column of `item`'s part of the model."""
        variable = self.lp.add_variable(name, low, up, cat=cat)
        self.column_item[name] = item
        return variable

    def offer_quantity(self, offer: int, pairs: list[int]) -> Terms:
        """Terms of the ordered quantity Q[o]: the awards and the surplus of the last pack."""
        terms = [(self.award[p], 1.0) for p in pairs]
        for tier in (None, *(r.tier for r in self.tier_ranges[offer])):
            surplus = self.surplus.get((offer, tier))
            if surplus is not None:
                terms.append((surplus, 1.0))
        return terms


def build_model(data: PoolingData) -> PoolingModel:
    model = PoolingModel(data, pulp.LpProblem("pooling", pulp.LpMinimize))
    add_offer_ranges(model)
    add_whole_awards(model)
    add_awards(model)
    add_unmet(model)
    add_demand(model)
    add_surplus(model)
    add_tiers(model)
    add_packs(model)
    add_route_fixed_costs(model)
    add_capacity_groups(model)
    add_rules(model)
    add_budgets(model)
    # Needs nothing can serve stay out of the model, and so does their penalty: the
    # contract measures the gap on the avoidable objective, and so does HiGHS then.
    model.unavoidable = data.unavoidable_penalty
    model.lp.setObjective(pulp.LpAffineExpression.from_list(model.objective_terms))
    return model


def landed_price(model: PoolingModel, offer: int, unit_price: float) -> float:
    """A unit's goods price with the offer's fee on it."""
    return unit_price * (1.0 + model.data.problem.offers[offer].fee_rate)


def add_offer_ranges(model: PoolingModel) -> None:
    data = model.data
    for offer, offer_pairs in data.pairs_of_offer.items():
        ranges = reachable_tiers(data.problem.offers[offer], data.reachable_demand(offer))
        if ranges:
            model.tier_ranges[offer] = ranges
            model.pairs.extend(offer_pairs)
    model.pairs.sort()


def add_whole_awards(model: PoolingModel) -> None:
    """The awards held by rows that are no flow: integer columns, so that units stay whole."""
    data = model.data
    problem = data.problem
    budgeted = {a.id for a in problem.agencies if a.budget is not None}
    offer_index = {o.id: i for i, o in enumerate(problem.offers)}
    groups_of_offer: dict[int, int] = defaultdict(int)
    for group in problem.capacity_groups:
        for offer_id in group.offers:
            groups_of_offer[offer_index[offer_id]] += 1
    # Rules whose rows are fractions (shares) or lower bounds (taking part).
    scoped = [
        r
        for r in problem.rules
        if r.kind.counts_suppliers is False
        or (r.kind is RuleKind.MIN_SUPPLIERS and (r.limit or 0) > 1)
    ]
    for p in model.pairs:
        pair = data.pairs[p]
        need = problem.needs[pair.need]
        if (
            need.agency in budgeted
            or groups_of_offer[pair.offer] > 1
            or any(rule.in_scope(need.item, need.location) for rule in scoped)
        ):
            model.whole_awards.add(p)


def add_awards(model: PoolingModel) -> None:
    data = model.data
    needs = data.problem.needs
    for p in model.pairs:
        pair = data.pairs[p]
        ranges = model.tier_ranges[pair.offer]
        upper = min(needs[pair.need].quantity, ranges[-1].highest)
        cat: Literal["Continuous", "Integer"] = (
            "Integer" if p in model.whole_awards else "Continuous"
        )
        x = model.column(
            f"award_{pair.need}_{pair.offer}", needs[pair.need].item, 0, upper, cat=cat
        )
        model.award[p] = x
        cost = pair.unit_cost
        if not needs_choice(ranges):
            # One price for any order: the purchase cost is linear in the award.
            cost += landed_price(model, pair.offer, ranges[0].unit_price)
        if cost:
            model.objective_terms.append((x, cost))


def add_unmet(model: PoolingModel) -> None:
    data = model.data
    for n in data.needs:
        if n in data.unreachable:
            continue
        need = data.problem.needs[n]
        u = model.column(f"unmet_{n}", need.item, 0, need.quantity)
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


def _pairs_by_offer(model: PoolingModel) -> dict[int, list[int]]:
    pairs_of: dict[int, list[int]] = defaultdict(list)
    for p in model.pairs:
        pairs_of[model.data.pairs[p].offer].append(p)
    return pairs_of


def add_surplus(model: PoolingModel) -> None:
    """Units of the last pack beyond the awards (0 to pack size - 1), bought and paid.

    With a tier choice, one part per tier, so that the tier's price is on it and
    its band counts it; offers sold by the unit have none.
    """
    problem = model.data.problem
    for offer in sorted(_pairs_by_offer(model)):
        pack = problem.offers[offer].pack_size
        if pack == 1:
            continue
        ranges = model.tier_ranges[offer]
        item = problem.offers[offer].item
        parts: list[int | None] = [r.tier for r in ranges] if needs_choice(ranges) else [None]
        for r, tier in zip(ranges, parts, strict=False):
            name = f"surplus_{offer}" if tier is None else f"surplus_in_tier_{offer}_{tier}"
            s = model.column(name, item, 0, pack - 1)
            model.surplus[offer, tier] = s
            model.objective_terms.append((s, landed_price(model, offer, r.unit_price)))


def add_packs(model: PoolingModel) -> None:
    """Q[o] = pack_size * packs[o]: whole packs, the fewest that hold the awards."""
    problem = model.data.problem
    for offer, offer_pairs in sorted(_pairs_by_offer(model).items()):
        pack = problem.offers[offer].pack_size
        if pack == 1:
            continue
        top = model.tier_ranges[offer][-1].highest // pack
        n = model.column(f"packs_{offer}", problem.offers[offer].item, 0, top, cat="Integer")
        model.packs[offer] = n
        model.lp += (
            pulp.LpAffineExpression.from_list(
                [*model.offer_quantity(offer, offer_pairs), (n, -float(pack))]
            )
            == 0,
            f"packs_{offer}",
        )


def add_tiers(model: PoolingModel) -> None:
    """Pooled order Q[o] within capacity, above the minimum order, priced by its tier."""
    for offer, offer_pairs in _pairs_by_offer(model).items():
        ranges = model.tier_ranges[offer]
        if needs_choice(ranges):
            add_tier_choice(model, offer, offer_pairs, ranges)
            continue
        order = model.offer_quantity(offer, offer_pairs)
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
    chosen: Terms = []
    parts_of_award: dict[int, Terms] = defaultdict(list)
    item = model.data.problem.offers[offer].item
    for r in ranges:
        z = model.column(f"tier_chosen_{offer}_{r.tier}", item, 0, 1, cat="Integer")
        model.tier_chosen[offer, r.tier] = z
        chosen.append((z, 1.0))
        price = landed_price(model, offer, r.unit_price)
        in_tier: Terms = []
        for p in offer_pairs:
            need = model.data.pairs[p].need
            top = min(model.award[p].upBound, r.highest)
            w = model.column(f"award_in_tier_{need}_{offer}_{r.tier}", item, 0, top)
            model.tier_quantity[p, r.tier] = w
            model.objective_terms.append((w, price))
            in_tier.append((w, 1.0))
            parts_of_award[p].append((w, -1.0))
            model.lp += (
                pulp.LpAffineExpression.from_list([(w, 1.0), (z, -top)]) <= 0,
                f"tier_link_{need}_{offer}_{r.tier}",
            )
        surplus = model.surplus.get((offer, r.tier))
        if surplus is not None:
            in_tier.append((surplus, 1.0))
            model.lp += (
                pulp.LpAffineExpression.from_list([(surplus, 1.0), (z, -surplus.upBound)]) <= 0,
                f"surplus_link_{offer}_{r.tier}",
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
            y = model.lp.add_variable(f"route_used_{r}", 0, 1, cat="Integer")
            model.route_used[r] = y
            model.objective_terms.append((y, routes[r].fixed_cost))
        # One row per (need, route) rather than per route: sum <= quantity * y
        # is as tight as a per-award link and needs fewer rows.
        bound = min(data.problem.needs[n].quantity, sum(x.upBound for x in awards))
        model.lp += (
            pulp.LpAffineExpression.from_list([(x, 1.0) for x in awards] + [(y, -bound)]) <= 0,
            f"route_link_{n}_{r}",
        )


def add_capacity_groups(model: PoolingModel) -> None:
    """The offers of a group together order at most its capacity."""
    problem = model.data.problem
    offer_index = {o.id: i for i, o in enumerate(problem.offers)}
    pairs_of = _pairs_by_offer(model)
    for g, group in enumerate(problem.capacity_groups):
        offers = [offer_index[o] for o in group.offers if offer_index[o] in pairs_of]
        most = sum(model.tier_ranges[o][-1].highest for o in offers)
        if most <= group.capacity:
            continue  # can never bind
        terms = [t for o in offers for t in model.offer_quantity(o, pairs_of[o])]
        model.lp += (
            pulp.LpAffineExpression.from_list(terms) <= group.capacity,
            f"group_capacity_{g}",
        )
        model.ties.append(frozenset(problem.offers[o].item for o in offers))


def add_rules(model: PoolingModel) -> None:
    """Soft award rules: each one's violation, priced at its penalty in the objective.

    A rule that no plan could break (fewer suppliers in scope than a maximum, a
    share of 1, a supplier with nothing in scope) gets no row.
    """
    data = model.data
    problem = data.problem
    supplier_index = {s.id: i for i, s in enumerate(problem.suppliers)}
    for r, rule in enumerate(problem.rules):
        scope = [
            p
            for p in model.pairs
            if rule.in_scope(
                problem.needs[data.pairs[p].need].item,
                problem.needs[data.pairs[p].need].location,
            )
        ]
        by_supplier: dict[int, list[int]] = defaultdict(list)
        for p in scope:
            by_supplier[supplier_index[problem.offers[data.pairs[p].offer].supplier]].append(p)
        if rule.kind is RuleKind.MAX_SUPPLIERS:
            add_max_suppliers(model, r, by_supplier)
        elif rule.kind is RuleKind.MIN_SUPPLIERS:
            add_min_suppliers(model, r, by_supplier)
        else:
            add_share_rule(model, r, scope, by_supplier)


def _violation(model: PoolingModel, r: int, most: float) -> pulp.LpVariable:
    rule = model.data.problem.rules[r]
    v = model.column(f"rule_violation_{r}", rule.item, 0, most)
    model.violation[r] = v
    model.objective_terms.append((v, rule.penalty))
    return v


def _supplier_used(model: PoolingModel, r: int, s: int) -> pulp.LpVariable:
    item = model.data.problem.rules[r].item
    t = model.column(f"supplier_used_{r}_{s}", item, 0, 1, cat="Integer")
    model.supplier_used[r, s] = t
    return t


def add_max_suppliers(model: PoolingModel, r: int, by_supplier: dict[int, list[int]]) -> None:
    """count = suppliers with an award in scope; violation >= count - limit."""
    limit = model.data.problem.rules[r].limit or 0
    if len(by_supplier) <= limit:
        return
    needs = model.data.problem.needs
    used: Terms = []
    for s, pairs in sorted(by_supplier.items()):
        t = _supplier_used(model, r, s)
        used.append((t, 1.0))
        # One link per (need, supplier), as for routes: as tight, fewer rows.
        by_need: dict[int, list[pulp.LpVariable]] = defaultdict(list)
        for p in pairs:
            by_need[model.data.pairs[p].need].append(model.award[p])
        for n, awards in sorted(by_need.items()):
            bound = min(needs[n].quantity, sum(x.upBound for x in awards))
            model.lp += (
                pulp.LpAffineExpression.from_list([(x, 1.0) for x in awards] + [(t, -bound)]) <= 0,
                f"supplier_link_{r}_{n}_{s}",
            )
    v = _violation(model, r, len(by_supplier) - limit)
    model.lp += (
        pulp.LpAffineExpression.from_list([*used, (v, -1.0)]) <= limit,
        f"rule_count_{r}",
    )


def add_min_suppliers(model: PoolingModel, r: int, by_supplier: dict[int, list[int]]) -> None:
    """violation >= limit - count, only when anything in scope is awarded at all."""
    rule = model.data.problem.rules[r]
    limit = rule.limit or 0
    if limit <= 1 or not by_supplier:
        return  # one supplier taking part already meets it; none breaks nothing
    awarded: Terms = []
    counted: Terms = []
    for s, pairs in sorted(by_supplier.items()):
        t = _supplier_used(model, r, s)
        counted.append((t, 1.0))
        # Takes part only with an award (whole units: at least one).
        terms = [(model.award[p], 1.0) for p in pairs]
        awarded += terms
        model.lp += (
            pulp.LpAffineExpression.from_list([*terms, (t, -1.0)]) >= 0,
            f"supplier_takes_part_{r}_{s}",
        )
    any_awarded = model.column(f"rule_awarded_{r}", rule.item, 0, 1, cat="Integer")
    model.rule_awarded[r] = any_awarded
    most = sum(x.upBound for x, _ in awarded)
    model.lp += (
        pulp.LpAffineExpression.from_list([*awarded, (any_awarded, -most)]) <= 0,
        f"rule_awarded_{r}",
    )
    v = _violation(model, r, limit - 1)
    model.lp += (
        pulp.LpAffineExpression.from_list([*counted, (v, 1.0), (any_awarded, -float(limit))]) >= 0,
        f"rule_count_{r}",
    )


def add_share_rule(
    model: PoolingModel, r: int, scope: list[int], by_supplier: dict[int, list[int]]
) -> None:
    """max_share: violation >= A_s - share * A; min_share: violation >= share * A - A_s."""
    problem = model.data.problem
    rule = problem.rules[r]
    share = rule.share or 0.0
    supplier = {s.id: i for i, s in enumerate(problem.suppliers)}[rule.supplier or ""]
    own = set(by_supplier.get(supplier, ()))
    if rule.kind is RuleKind.MAX_SHARE and (not own or share >= 1):
        return
    if rule.kind is RuleKind.MIN_SHARE and len(own) == len(scope):
        return
    sign = 1.0 if rule.kind is RuleKind.MAX_SHARE else -1.0
    # A_s - share * A = (1 - share) * (units of s) - share * (units of the others).
    terms = [(model.award[p], sign * ((1.0 - share) if p in own else -share)) for p in scope]
    most = sum(x.upBound for x in (model.award[p] for p in scope))
    v = _violation(model, r, most)
    model.lp += (
        pulp.LpAffineExpression.from_list([*terms, (v, -1.0)]) <= 0,
        f"rule_share_{r}",
    )


def add_budgets(model: PoolingModel) -> None:
    """An agency's direct spend (goods with fees, and unit shipping) within its budget."""
    data = model.data
    problem = data.problem
    pairs_of_agency: dict[str, list[int]] = defaultdict(list)
    for p in model.pairs:
        pairs_of_agency[problem.needs[data.pairs[p].need].agency].append(p)
    for a, agency in enumerate(problem.agencies):
        if agency.budget is None or agency.id not in pairs_of_agency:
            continue
        terms: Terms = []
        dearest = 0.0
        for p in pairs_of_agency[agency.id]:
            pair = data.pairs[p]
            shipping = problem.routes[pair.route].unit_cost
            ranges = model.tier_ranges[pair.offer]
            prices = [landed_price(model, pair.offer, t.unit_price) for t in ranges]
            if needs_choice(ranges):
                terms.append((model.award[p], shipping))
                terms += [
                    (model.tier_quantity[p, t.tier], price)
                    for t, price in zip(ranges, prices, strict=True)
                ]
            else:
                terms.append((model.award[p], prices[0] + shipping))
            dearest += (max(prices) + shipping) * (model.award[p].upBound or 0)
        if dearest <= agency.budget:
            continue  # can never bind
        # The cap itself: a plan may spend the budget to the cent. Awards are read as
        # whole within HiGHS's integrality tolerance, which is tightened for budgets
        # (`highs_options`) so that the spend recomputed from them still fits.
        model.lp += (pulp.LpAffineExpression.from_list(terms) <= agency.budget, f"budget_{a}")
        model.highs_options["mip_feasibility_tolerance"] = BUDGET_INTEGRALITY_TOLERANCE
        model.ties.append(
            frozenset(problem.needs[data.pairs[p].need].item for p in pairs_of_agency[agency.id])
        )
