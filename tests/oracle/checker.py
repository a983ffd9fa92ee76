"""Recompute every figure of a plan from the problem document and the plan's awards alone.

Each helper transcribes one rule of shared/contract/problem-v1.md as extended by
problem-v2.md (exclusions, packs and surplus, fees, capacity groups, the four soft rules,
budgets on direct spend, the gap on the avoidable objective, fairness). The brute force in
brute_force.py reuses the model helpers (settings, reference prices, usable pairs, tiers,
packs), so the two oracles read the contract the same way, and the plan's own figures are
never trusted beyond its awards (and, for the split of cost, its stand-alone money costs and
the coalition values, which the contract only lets one recompute by solving).

Readings of points the contract leaves open, chosen as literally as possible:

* A null entry inside a partial ``priority_weights`` takes its default, like a null setting.
* "Money figures" are purchase, shipping and money cost, fees, order goods, fee and cost,
  shipment costs, allocated and stand-alone costs, direct spend, savings. They must be given
  to the cent. Penalties are "not money", so penalties and the objective are compared
  unrounded (relative tolerance ``tol``).
* ``savings_pct`` is not said to be rounded; it is compared with a tolerance that covers the
  cent rounding of its inputs and a rounding to two decimals.
* ``relative_gap`` and ``status`` are checked against the plan's own ``objective``, ``bound``
  and (recomputed) unavoidable penalty: the bound cannot be recomputed without solving.
* A plan without any version-2 field (no ``unavoidable_penalty``) answering a document that
  uses no version-2 feature is read as a version-1 plan: its gap is v1's,
  ``(objective - bound) / max(1, |objective|)``, and no v2 field is asked for.
* When a need has no usable pair, ``no_offer`` is the only right reason if no offer sells its
  item; otherwise ``not_eligible`` is right when no offer of the item lets the agency buy
  (eligibility list or excluded supplier), ``no_route`` when no offer of the item has a route
  to the location, and either one when each offer fails on one of the two. When a need has a
  usable pair, its unmet units are due to capacity, minimum order, cost, a budget or a rule:
  ``capacity``, ``min_order`` and ``too_costly`` always fit (which of them is right is a
  judgement the contract does not pin down); ``budget`` only when the agency's direct spend
  is within 1% of its budget; ``rule`` only when a rule's scope holds the need.
* ``proportional`` allocation splits the exact pooled money cost in proportion to the
  stand-alone costs the plan reports (to the cent), as those are the only ones available.
* Every rule and every capacity group is listed once in the plan's ``rules`` and
  ``capacity_groups``. A rule's ``penalty`` in the plan is ``penalty * violation``.
* Fairness is checked against coalition values handed to ``check_plan`` (the brute force
  computes them); without them only what the awards determine is checked (objective shares,
  the coalitions' count, exhaustiveness).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import combinations
from typing import Any

Problem = Mapping[str, Any]
Plan = Mapping[str, Any]
AwardKey = tuple[str, str]  # (need id, offer id)
RouteKey = tuple[str, str]  # (supplier id, location id)
Coalition = frozenset[str]

DEFAULT_SETTINGS: dict[str, Any] = {
    "order_processing_days": 5,
    "late_penalty_rate": 0.01,
    "unmet_penalty_rate": 10.0,
    "priority_weights": {"critical": 10, "high": 3, "normal": 1},
    "time_limit_seconds": 60,
    "relative_gap": 0.0001,
    "allocation": "usage",
    "fairness": "none",
}
UNMET_REASONS = frozenset(
    {
        "no_offer",
        "no_route",
        "not_eligible",
        "capacity",
        "min_order",
        "too_costly",
        "budget",
        "rule",
    }
)
REASONS_WITH_A_USABLE_PAIR = frozenset({"capacity", "min_order", "too_costly"})
RULE_KINDS = ("max_suppliers", "min_suppliers", "max_share", "min_share")
# A figure rounded to the cent is within half a cent of the exact value; the brief allows a
# full cent so that float noise in the solver's rounding is never reported.
MONEY_TOL = 0.01 + 1e-9
# Beyond this many agencies with needs the contract checks only singles, pairs and
# complements of singles.
EXHAUSTIVE_AGENCIES = 12


def exact(value: float | int) -> Fraction:
    """The decimal a JSON number spells, exactly (1.2 is 6/5, not the nearest double)."""
    return Fraction(str(value))


def effective_settings(problem: Problem) -> dict[str, Any]:
    merged = dict(DEFAULT_SETTINGS)
    for key, value in (problem.get("settings") or {}).items():
        if value is None:
            continue
        if key == "priority_weights":
            weights = dict(DEFAULT_SETTINGS["priority_weights"])
            weights.update({name: w for name, w in value.items() if w is not None})
            value = weights
        merged[key] = value
    return merged


def first_tier(offer: Mapping[str, Any]) -> Mapping[str, Any]:
    return min(offer["price_tiers"], key=lambda tier: tier["min_quantity"])


def tier_reached(offer: Mapping[str, Any], quantity: float) -> Mapping[str, Any] | None:
    """The all-units tier pricing an ordered quantity; None below the first tier."""
    reached = [tier for tier in offer["price_tiers"] if tier["min_quantity"] <= quantity]
    return max(reached, key=lambda tier: tier["min_quantity"], default=None)


def is_eligible(offer: Mapping[str, Any], agency: str) -> bool:
    eligible = offer.get("eligible_agencies")
    return eligible is None or agency in eligible


def pack_size(offer: Mapping[str, Any]) -> int:
    return offer.get("pack_size") or 1


def fee_rate(offer: Mapping[str, Any]) -> Fraction:
    return exact(offer.get("fee_rate") or 0)


def fewest_packs(offer: Mapping[str, Any], awarded: int) -> int:
    """Packs of the smallest order holding ``awarded`` units (no pack bought beyond them)."""
    return -(-awarded // pack_size(offer))


def uses_version_2(problem: Problem) -> bool:
    """Whether the document uses any field version 2 adds."""
    if problem.get("capacity_groups") or problem.get("rules"):
        return True
    if any(
        a.get("budget") is not None or a.get("excluded_suppliers")
        for a in problem.get("agencies") or []
    ):
        return True
    if any(pack_size(o) != 1 or o.get("fee_rate") for o in problem.get("offers") or []):
        return True
    settings = problem.get("settings") or {}
    return settings.get("allocation") == "least_core" or settings.get("fairness") not in (
        None,
        "none",
    )


def coalitions_to_check(agencies: Iterable[str]) -> tuple[list[Coalition], bool]:
    """The coalitions the contract names for these agencies with needs, and exhaustiveness."""
    members = sorted(set(agencies))
    k = len(members)
    if k <= EXHAUSTIVE_AGENCIES:
        found = [frozenset(c) for size in range(1, k) for c in combinations(members, size)]
        return found, True
    grand = frozenset(members)
    named = {frozenset([a]) for a in members}
    named |= {frozenset(pair) for pair in combinations(members, 2)}
    named |= {grand - {a} for a in members}
    return sorted(named, key=lambda c: (len(c), sorted(c))), False


@dataclass(frozen=True)
class Delivery:
    date: dt.date
    late_days: int


class Model:
    """The problem document read once, with the contract's derived quantities."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.settings = effective_settings(problem)
        self.as_of = dt.date.fromisoformat(problem["as_of"])
        self.agencies: dict[str, Mapping[str, Any]] = {a["id"]: a for a in problem["agencies"]}
        self.needs: dict[str, Mapping[str, Any]] = {n["id"]: n for n in problem["needs"]}
        self.offers: dict[str, Mapping[str, Any]] = {o["id"]: o for o in problem["offers"]}
        self.routes: dict[RouteKey, Mapping[str, Any]] = {
            (r["supplier"], r["location"]): r for r in problem.get("routes") or []
        }
        self.groups: dict[str, Mapping[str, Any]] = {
            g["id"]: g for g in problem.get("capacity_groups") or []
        }
        self.rules: dict[str, Mapping[str, Any]] = {r["id"]: r for r in problem.get("rules") or []}
        self.reference_price: dict[str, float] = {
            item["id"]: max(
                (
                    first_tier(offer)["unit_price"]
                    for offer in problem["offers"]
                    if offer["item"] == item["id"]
                ),
                default=0.0,
            )
            for item in problem["items"]
        }

    # -- agencies ------------------------------------------------------------------------

    def budget(self, agency: str) -> float | None:
        return self.agencies.get(agency, {}).get("budget")

    def excludes(self, agency: str, supplier: str) -> bool:
        return supplier in (self.agencies.get(agency, {}).get("excluded_suppliers") or [])

    def may_buy(self, offer: Mapping[str, Any], agency: str) -> bool:
        """Eligibility and exclusions: what ``not_eligible`` is about."""
        return is_eligible(offer, agency) and not self.excludes(agency, offer["supplier"])

    # -- pairs ---------------------------------------------------------------------------

    def route_of(self, need_id: str, offer_id: str) -> RouteKey:
        return (self.offers[offer_id]["supplier"], self.needs[need_id]["location"])

    def unusable_because(self, need_id: str, offer_id: str) -> list[str]:
        need, offer = self.needs[need_id], self.offers[offer_id]
        reasons = []
        if offer["item"] != need["item"]:
            reasons.append(f"offer sells {offer['item']}, need is for {need['item']}")
        if not is_eligible(offer, need["agency"]):
            reasons.append(f"agency {need['agency']} is not eligible")
        if self.excludes(need["agency"], offer["supplier"]):
            reasons.append(f"agency {need['agency']} excludes supplier {offer['supplier']}")
        if self.route_of(need_id, offer_id) not in self.routes:
            reasons.append("no route from {} to {}".format(*self.route_of(need_id, offer_id)))
        return reasons

    def is_usable(self, need_id: str, offer_id: str) -> bool:
        return not self.unusable_because(need_id, offer_id)

    def usable_offers(self, need_id: str) -> list[str]:
        return [offer_id for offer_id in self.offers if self.is_usable(need_id, offer_id)]

    def delivery(self, need_id: str, offer_id: str) -> Delivery | None:
        """Delivery date and late days along the pair's route; None without a route."""
        route = self.routes.get(self.route_of(need_id, offer_id))
        if route is None:
            return None
        days = (
            self.settings["order_processing_days"]
            + self.offers[offer_id]["lead_time_days"]
            + route["transit_days"]
        )
        date = self.as_of + dt.timedelta(days=days)
        need_by = dt.date.fromisoformat(self.needs[need_id]["need_by"])
        return Delivery(date, max(0, (date - need_by).days))

    def in_scope(self, rule: Mapping[str, Any], need_id: str) -> bool:
        need = self.needs[need_id]
        location = rule.get("location")
        return need["item"] == rule["item"] and (location is None or need["location"] == location)

    # -- penalties -----------------------------------------------------------------------

    def weight(self, need_id: str) -> float:
        return self.settings["priority_weights"][self.needs[need_id]["priority"]]

    def late_penalty_per_unit_day(self, need_id: str) -> float:
        need = self.needs[need_id]
        return (
            self.settings["late_penalty_rate"]
            * self.reference_price[need["item"]]
            * self.weight(need_id)
        )

    def unmet_penalty_per_unit(self, need_id: str) -> float:
        need = self.needs[need_id]
        return (
            self.settings["unmet_penalty_rate"]
            * self.reference_price[need["item"]]
            * self.weight(need_id)
        )

    def unavoidable_penalty(self, agencies: Iterable[str] | None = None) -> float:
        """The unmet penalty of the needs (of ``agencies``, default all) no pair can serve."""
        chosen = None if agencies is None else set(agencies)
        return sum(
            self.unmet_penalty_per_unit(n) * need["quantity"]
            for n, need in self.needs.items()
            if (chosen is None or need["agency"] in chosen) and not self.usable_offers(n)
        )


@dataclass
class RuleOutcome:
    count: int | None
    share: float | None
    violation: float
    penalty: float
    units_by_agency: dict[str, int]  # awarded units in scope, for the split of the penalty


@dataclass
class Figures:
    """Every pooled figure implied by a set of awards."""

    awards: dict[AwardKey, int]
    awarded: dict[str, int]  # sum_n x[n,o], offers with awards
    pooled: dict[str, int]  # Q[o] = pack_size * packs, offers with awards
    packs: dict[str, int]
    goods: dict[str, Fraction]  # unit_price(tier of Q) * Q
    fee: dict[str, Fraction]
    flows: dict[RouteKey, int]  # F[s,l], routes with F > 0 (awarded units only)
    delivered: dict[str, int]  # sum_o x[n,o], every need
    unmet: dict[str, int]  # d(n) - delivered, every need (negative when over-awarded)
    shipping: Fraction
    late_penalty: float
    late_unit_days: int
    unmet_penalty: float
    rules: dict[str, RuleOutcome]
    group_quantity: dict[str, int]
    direct_spend: dict[str, Fraction]  # agencies with awards
    late_by_agency: dict[str, float] = field(default_factory=dict)
    unmet_by_agency: dict[str, float] = field(default_factory=dict)

    @property
    def fees(self) -> Fraction:
        return sum(self.fee.values(), Fraction(0))

    @property
    def purchase(self) -> Fraction:
        return sum(self.goods.values(), Fraction(0)) + self.fees

    @property
    def money(self) -> Fraction:
        return self.purchase + self.shipping

    @property
    def rule_penalty(self) -> float:
        return sum(outcome.penalty for outcome in self.rules.values())

    @property
    def objective(self) -> float:
        return float(self.money) + self.late_penalty + self.unmet_penalty + self.rule_penalty

    def surplus(self, offer_id: str) -> int:
        return self.pooled[offer_id] - self.awarded[offer_id]


def pooled_unit_price(model: Model, offer_id: str, quantity: int) -> float:
    # Below the first tier the plan is infeasible (reported separately); pricing it at the
    # first tier keeps the other figures comparable.
    tier = tier_reached(model.offers[offer_id], quantity) or first_tier(model.offers[offer_id])
    return tier["unit_price"]


def rule_outcome(
    model: Model, rule: Mapping[str, Any], awards: Mapping[AwardKey, int]
) -> RuleOutcome:
    """Count or share, violation and penalty of one soft rule under these awards."""
    in_scope = [
        (need_id, offer_id, units)
        for (need_id, offer_id), units in awards.items()
        if units > 0 and model.in_scope(rule, need_id)
    ]
    units_by_agency: dict[str, int] = defaultdict(int)
    for need_id, _, units in in_scope:
        units_by_agency[model.needs[need_id]["agency"]] += units
    kind = rule["kind"]
    count: int | None = None
    share: float | None = None
    if kind in ("max_suppliers", "min_suppliers"):
        count = len({model.offers[o]["supplier"] for _, o, _ in in_scope})
        if kind == "max_suppliers":
            violation = Fraction(max(0, count - rule["limit"]))
        else:
            violation = Fraction(max(0, rule["limit"] - count) if count >= 1 else 0)
    else:
        total = sum(units for _, _, units in in_scope)
        own = sum(
            units for _, o, units in in_scope if model.offers[o]["supplier"] == rule["supplier"]
        )
        share = own / total if total else None
        limit = exact(rule["share"]) * total
        violation = max(Fraction(0), own - limit if kind == "max_share" else limit - own)
    return RuleOutcome(
        count,
        share,
        float(violation),
        float(exact(rule["penalty"]) * violation),
        dict(units_by_agency),
    )


def recompute(model: Model, awards: Mapping[AwardKey, int]) -> Figures:
    awarded: dict[str, int] = defaultdict(int)
    flows: dict[RouteKey, int] = defaultdict(int)
    delivered: dict[str, int] = dict.fromkeys(model.needs, 0)
    late_penalty = 0.0
    late_unit_days = 0
    late_by_agency: dict[str, float] = defaultdict(float)
    for (need_id, offer_id), quantity in awards.items():
        awarded[offer_id] += quantity
        flows[model.route_of(need_id, offer_id)] += quantity
        delivered[need_id] += quantity
        delivery = model.delivery(need_id, offer_id)
        if delivery is not None:
            late_unit_days += quantity * delivery.late_days
            late = model.late_penalty_per_unit_day(need_id) * delivery.late_days * quantity
            late_penalty += late
            late_by_agency[model.needs[need_id]["agency"]] += late
    awarded = {o: q for o, q in awarded.items() if q > 0}
    packs = {o: fewest_packs(model.offers[o], q) for o, q in awarded.items()}
    pooled = {o: p * pack_size(model.offers[o]) for o, p in packs.items()}
    goods = {o: exact(pooled_unit_price(model, o, q)) * q for o, q in pooled.items()}
    fee = {o: fee_rate(model.offers[o]) * goods[o] for o in pooled}
    unmet = {n: need["quantity"] - delivered[n] for n, need in model.needs.items()}
    shipping = Fraction(0)
    for key, flow in flows.items():
        route = model.routes.get(key)
        if route is not None and flow > 0:
            shipping += exact(route["fixed_cost"]) + exact(route["unit_cost"]) * flow
    unmet_by_agency: dict[str, float] = defaultdict(float)
    for need_id, units in unmet.items():
        unmet_by_agency[model.needs[need_id]["agency"]] += model.unmet_penalty_per_unit(
            need_id
        ) * max(0, units)
    direct: dict[str, Fraction] = defaultdict(Fraction)
    for (need_id, offer_id), quantity in awards.items():
        offer = model.offers[offer_id]
        price = exact(pooled_unit_price(model, offer_id, pooled[offer_id]))
        route = model.routes.get(model.route_of(need_id, offer_id))
        unit_cost = exact(route["unit_cost"]) if route is not None else Fraction(0)
        direct[model.needs[need_id]["agency"]] += quantity * (
            price * (1 + fee_rate(offer)) + unit_cost
        )
    return Figures(
        awards=dict(awards),
        awarded=awarded,
        pooled=pooled,
        packs=packs,
        goods=goods,
        fee=fee,
        flows={k: f for k, f in flows.items() if f > 0},
        delivered=delivered,
        unmet=unmet,
        shipping=shipping,
        late_penalty=late_penalty,
        late_unit_days=late_unit_days,
        unmet_penalty=sum(unmet_by_agency.values()),
        rules={rule_id: rule_outcome(model, rule, awards) for rule_id, rule in model.rules.items()},
        group_quantity={
            g: sum(pooled.get(o, 0) for o in group["offers"]) for g, group in model.groups.items()
        },
        direct_spend=dict(direct),
        late_by_agency=dict(late_by_agency),
        unmet_by_agency=dict(unmet_by_agency),
    )


def feasibility_violations(model: Model, figures: Figures) -> list[str]:
    """Every hard constraint the awards break (whole units are checked by the reader)."""
    violations = []
    for (need_id, offer_id), quantity in figures.awards.items():
        why = model.unusable_because(need_id, offer_id)
        if why:
            violations.append(f"award ({need_id}, {offer_id}) is not usable: {'; '.join(why)}")
        if quantity < 1:
            violations.append(f"award ({need_id}, {offer_id}) has quantity {quantity} < 1")
    for need_id, unmet in figures.unmet.items():
        if unmet < 0:
            violations.append(
                f"need {need_id}: awards total {figures.delivered[need_id]} > quantity "
                f"{model.needs[need_id]['quantity']}"
            )
    for offer_id, quantity in figures.pooled.items():
        offer = model.offers[offer_id]
        if quantity > offer["capacity"]:
            violations.append(
                f"offer {offer_id}: ordered {quantity} > capacity {offer['capacity']}"
            )
        if quantity < offer["min_order_quantity"]:
            violations.append(
                f"offer {offer_id}: ordered {quantity} < min_order_quantity "
                f"{offer['min_order_quantity']}"
            )
        if tier_reached(offer, quantity) is None:
            violations.append(
                f"offer {offer_id}: ordered {quantity} < first tier min_quantity "
                f"{first_tier(offer)['min_quantity']}"
            )
    for group_id, quantity in figures.group_quantity.items():
        capacity = model.groups[group_id]["capacity"]
        if quantity > capacity:
            violations.append(f"capacity group {group_id}: ordered {quantity} > {capacity}")
    for agency, spend in figures.direct_spend.items():
        budget = model.budget(agency)
        # A millionth of a unit of money: float noise in a solver's row, never a real breach.
        if budget is not None and spend > exact(budget) + Fraction(1, 10**6):
            violations.append(f"agency {agency}: direct spend {float(spend):.6f} > budget {budget}")
    return violations


def budget_binds(model: Model, figures: Figures, agency: str) -> bool:
    """The contract's test for reason ``budget``: direct spend within 1% of the budget."""
    budget = model.budget(agency)
    if budget is None:
        return False
    return figures.direct_spend.get(agency, Fraction(0)) >= exact(budget) * Fraction(99, 100)


def possible_unmet_reasons(model: Model, figures: Figures, need_id: str) -> frozenset[str]:
    need = model.needs[need_id]
    selling = [o for o in model.offers.values() if o["item"] == need["item"]]
    if not selling:
        return frozenset({"no_offer"})
    if model.usable_offers(need_id):
        reasons = set(REASONS_WITH_A_USABLE_PAIR)
        if budget_binds(model, figures, need["agency"]):
            reasons.add("budget")
        if any(model.in_scope(rule, need_id) for rule in model.rules.values()):
            reasons.add("rule")
        return frozenset(reasons)
    reasons = set()
    if not any(model.may_buy(offer, need["agency"]) for offer in selling):
        reasons.add("not_eligible")
    if not any((offer["supplier"], need["location"]) in model.routes for offer in selling):
        reasons.add("no_route")
    return frozenset(reasons or {"not_eligible", "no_route"})


def usage_shares(model: Model, figures: Figures) -> dict[str, Fraction]:
    """Each agency's exact money cost under the contract's usage rule (v2: fees on its goods,
    a share of each route's fixed cost and of each offer's surplus by its units)."""
    shares: dict[str, Fraction] = defaultdict(Fraction)
    for (need_id, offer_id), quantity in figures.awards.items():
        agency = model.needs[need_id]["agency"]
        offer = model.offers[offer_id]
        price = exact(pooled_unit_price(model, offer_id, figures.pooled[offer_id]))
        with_fee = price * (1 + fee_rate(offer))
        shares[agency] += with_fee * quantity
        surplus = figures.surplus(offer_id)
        if surplus:
            shares[agency] += with_fee * surplus * Fraction(quantity, figures.awarded[offer_id])
        key = model.route_of(need_id, offer_id)
        route = model.routes.get(key)
        if route is not None:
            shares[agency] += exact(route["unit_cost"]) * quantity
            shares[agency] += exact(route["fixed_cost"]) * Fraction(quantity, figures.flows[key])
    return shares


def rule_penalty_shares(figures: Figures) -> dict[str, float]:
    """Each rule's penalty split in proportion to the agencies' awarded units in its scope."""
    shares: dict[str, float] = defaultdict(float)
    for outcome in figures.rules.values():
        total = sum(outcome.units_by_agency.values())
        if outcome.penalty and total:
            for agency, units in outcome.units_by_agency.items():
                shares[agency] += outcome.penalty * units / total
    return shares


def objective_shares(
    model: Model, figures: Figures, allocated: Mapping[str, float]
) -> dict[str, float]:
    """y[a]: allocated money (as rounded) + own late and unmet penalties + rule penalty part."""
    rules = rule_penalty_shares(figures)
    return {
        a: allocated.get(a, 0.0)
        + figures.late_by_agency.get(a, 0.0)
        + figures.unmet_by_agency.get(a, 0.0)
        + rules.get(a, 0.0)
        for a in model.agencies
    }


def least_core_epsilon(
    money_cost: float,
    penalties: Mapping[str, float],
    values: Mapping[Coalition, float],
) -> float:
    """The least-core value: min eps such that some m >= 0 with sum m = money_cost keeps
    sum_{a in S} (m[a] + penalties[a]) - v(S) <= eps for every coalition S given.

    Solved with HiGHS's LP directly (an LP of k + 1 columns, one row per coalition)."""
    import highspy
    import numpy as np

    agencies = sorted(penalties)
    k = len(agencies)
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    # As the solver runs HiGHS: one thread (HiGHS refuses a run whose thread count
    # differs from the first run's in the same thread).
    h.setOptionValue("threads", 1)
    inf = highspy.kHighsInf
    # Columns: m[a] for each agency, then eps (free).
    h.addVars(k + 1, np.array([0.0] * k + [-inf]), np.array([inf] * (k + 1)))
    h.changeColCost(k, 1.0)
    h.addRow(money_cost, money_cost, k, np.arange(k, dtype=np.int32), np.ones(k))
    for coalition, value in values.items():
        members = [agencies.index(a) for a in sorted(coalition)]
        constant = sum(penalties[a] for a in coalition) - value
        h.addRow(
            -inf,
            -constant,
            len(members) + 1,
            np.array([*members, k], dtype=np.int32),
            np.array([1.0] * len(members) + [-1.0]),
        )
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise AssertionError(f"least-core LP: {h.modelStatusToString(h.getModelStatus())}")
    return float(h.getInfo().objective_function_value)


def shapley_values(agencies: list[str], values: Mapping[Coalition, float]) -> dict[str, float]:
    """phi[a] = sum over S without a of |S|! (k-|S|-1)! / k! (v(S + a) - v(S)), v(empty) = 0;
    ``values`` must hold every non-empty subset, the grand coalition included."""
    k = len(agencies)
    phi = {}
    for a in agencies:
        others = [b for b in agencies if b != a]
        total = 0.0
        for size in range(k):
            weight = math.factorial(size) * math.factorial(k - size - 1) / math.factorial(k)
            for subset in combinations(others, size):
                s = frozenset(subset)
                total += weight * (values[s | {a}] - (values[s] if s else 0.0))
        phi[a] = total
    return phi


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _cents(value: float) -> int:
    return round(value * 100)


class _PlanChecker:
    def __init__(
        self,
        problem: Problem,
        plan: Plan,
        tol: float,
        coalition_values: Mapping[Coalition, float] | None,
    ) -> None:
        self.model = Model(problem)
        self.plan = plan
        self.tol = tol
        self.coalition_values = coalition_values
        self.violations: list[str] = []
        # A version-1 plan (see the module's docstring) is held to version 1 only.
        self.v2 = "unavoidable_penalty" in plan or uses_version_2(problem)
        self.unavoidable = self.model.unavoidable_penalty()

    def run(self) -> list[str]:
        awards = self.read_awards()
        figures = recompute(self.model, awards)
        self.violations += feasibility_violations(self.model, figures)
        self.check_award_fields(figures)
        self.check_orders(figures)
        self.check_shipments(figures)
        self.check_unmet(figures)
        self.check_totals(figures)
        self.check_gap_and_status()
        self.check_agencies(figures)
        self.check_baseline()
        if self.v2:
            self.check_rules(figures)
            self.check_capacity_groups(figures)
            self.check_fairness(figures)
        return self.violations

    # -- comparison helpers ----------------------------------------------------------------

    def report(self, message: str) -> None:
        self.violations.append(message)

    def number(self, where: str, value: Any) -> float | None:
        if not _is_number(value):
            self.report(f"{where}: {value!r} is not a number")
            return None
        return value

    def whole(self, where: str, value: Any) -> int | None:
        number = self.number(where, value)
        if number is None:
            return None
        if abs(number - round(number)) > 1e-9:
            self.report(f"{where}: {number} is not a whole number")
            return None
        return round(number)

    def field(self, entry: Any, key: str, where: str) -> Any:
        if not isinstance(entry, Mapping) or key not in entry:
            self.report(f"{where}: missing {key!r}")
            return None
        return entry[key]

    def to_the_cent(self, where: str, value: float) -> None:
        if abs(value * 100 - round(value * 100)) > 1e-6:
            self.report(f"{where}: {value} is not given to the cent")

    def money(self, where: str, got: Any, expected: Fraction | float, slack: float = 0.0) -> None:
        value = self.number(where, got)
        if value is None:
            return
        self.to_the_cent(where, value)
        if abs(value - float(expected)) > MONEY_TOL + slack:
            self.report(f"{where}: {value} != {float(expected):.6f}")

    def close(self, where: str, got: Any, expected: float, slack: float = 0.0) -> None:
        value = self.number(where, got)
        if value is not None and abs(value - expected) > self.tol * max(1.0, abs(expected)) + slack:
            self.report(f"{where}: {value} != {expected!r}")

    def same_copy(self, where: str, got: Any, expected: float) -> None:
        """A figure copied from the problem document: equal up to float noise."""
        value = self.number(where, got)
        if value is not None and abs(value - expected) > 1e-9 * max(1.0, abs(expected)):
            self.report(f"{where}: {value} != {expected}")

    def equal(self, where: str, got: Any, expected: Any) -> None:
        if got != expected:
            self.report(f"{where}: {got!r} != {expected!r}")

    def entries(self, key: str) -> list[Any]:
        value = self.plan.get(key)
        if not isinstance(value, list):
            self.report(f"{key}: {value!r} is not a list")
            return []
        return value

    # -- pooled plan -----------------------------------------------------------------------

    def read_awards(self) -> dict[AwardKey, int]:
        awards: dict[AwardKey, int] = {}
        self.award_entries: list[tuple[str, Mapping[str, Any], AwardKey]] = []
        for i, entry in enumerate(self.entries("awards")):
            where = f"awards[{i}]"
            need_id = self.field(entry, "need", where)
            offer_id = self.field(entry, "offer", where)
            quantity = self.whole(f"{where}.quantity", self.field(entry, "quantity", where))
            if need_id not in self.model.needs:
                self.report(f"{where}: unknown need {need_id!r}")
                continue
            if offer_id not in self.model.offers:
                self.report(f"{where}: unknown offer {offer_id!r}")
                continue
            key = (need_id, offer_id)
            if key in awards:
                self.report(f"{where}: second award for ({need_id}, {offer_id})")
                continue
            if quantity is None:
                continue
            if quantity < 1:
                self.report(f"{where}: quantity {quantity} < 1")
                continue
            awards[key] = quantity
            self.award_entries.append((where, entry, key))
        return awards

    def check_award_fields(self, figures: Figures) -> None:
        for where, entry, (need_id, offer_id) in self.award_entries:
            offer = self.model.offers[offer_id]
            self.equal(f"{where}.supplier", entry.get("supplier"), offer["supplier"])
            tier = tier_reached(offer, figures.pooled[offer_id])
            if tier is not None:
                self.same_copy(f"{where}.unit_price", entry.get("unit_price"), tier["unit_price"])
            delivery = self.model.delivery(need_id, offer_id)
            if delivery is not None:
                self.equal(
                    f"{where}.delivery_date", entry.get("delivery_date"), delivery.date.isoformat()
                )
                late = self.whole(f"{where}.late_days", entry.get("late_days"))
                if late is not None:
                    self.equal(f"{where}.late_days", late, delivery.late_days)

    def check_orders(self, figures: Figures) -> None:
        seen: set[str] = set()
        for i, entry in enumerate(self.entries("orders")):
            where = f"orders[{i}]"
            offer_id = self.field(entry, "offer", where)
            if offer_id not in self.model.offers:
                self.report(f"{where}: unknown offer {offer_id!r}")
                continue
            if offer_id in seen:
                self.report(f"{where}: second order for offer {offer_id}")
                continue
            seen.add(offer_id)
            pooled = figures.pooled.get(offer_id, 0)
            if pooled == 0:
                self.report(f"{where}: order for offer {offer_id}, which has no awards")
                continue
            offer = self.model.offers[offer_id]
            self.equal(f"{where}.supplier", entry.get("supplier"), offer["supplier"])
            self.equal(f"{where}.item", entry.get("item"), offer["item"])
            self.equal(f"{where}.quantity", entry.get("quantity"), pooled)
            tier = tier_reached(offer, pooled)
            if tier is not None:
                self.equal(
                    f"{where}.tier_min_quantity",
                    entry.get("tier_min_quantity"),
                    tier["min_quantity"],
                )
                self.same_copy(f"{where}.unit_price", entry.get("unit_price"), tier["unit_price"])
            self.money(
                f"{where}.cost", entry.get("cost"), figures.goods[offer_id] + figures.fee[offer_id]
            )
            if self.v2:
                self.check_order_v2(where, entry, figures, offer_id)
        for offer_id in figures.pooled.keys() - seen:
            self.report(f"orders: none for offer {offer_id} (pooled {figures.pooled[offer_id]})")

    def check_order_v2(
        self, where: str, entry: Mapping[str, Any], figures: Figures, offer_id: str
    ) -> None:
        """Packs (the fewest that hold the awards), surplus, goods and fee in whole cents."""
        self.equal(f"{where}.packs", entry.get("packs"), figures.packs[offer_id])
        self.equal(f"{where}.surplus", entry.get("surplus"), figures.surplus(offer_id))
        self.money(f"{where}.goods_cost", entry.get("goods_cost"), figures.goods[offer_id])
        self.money(f"{where}.fee", entry.get("fee"), figures.fee[offer_id])
        parts = [entry.get(key) for key in ("goods_cost", "fee", "cost")]
        if all(_is_number(p) for p in parts):
            goods, fee, cost = (_cents(p) for p in parts)
            if goods + fee != cost:
                self.report(f"{where}: cost {parts[2]} != goods_cost {parts[0]} + fee {parts[1]}")

    def check_shipments(self, figures: Figures) -> None:
        seen: set[RouteKey] = set()
        for i, entry in enumerate(self.entries("shipments")):
            where = f"shipments[{i}]"
            key = (self.field(entry, "supplier", where), self.field(entry, "location", where))
            route = self.model.routes.get(key)
            if route is None:
                self.report(f"{where}: no route {key}")
                continue
            if key in seen:
                self.report(f"{where}: second shipment on route {key}")
                continue
            seen.add(key)
            flow = figures.flows.get(key, 0)
            if flow == 0:
                self.report(f"{where}: shipment on route {key}, which carries nothing")
                continue
            self.equal(f"{where}.quantity", entry.get("quantity"), flow)
            self.same_copy(f"{where}.fixed_cost", entry.get("fixed_cost"), route["fixed_cost"])
            self.same_copy(f"{where}.unit_cost", entry.get("unit_cost"), route["unit_cost"])
            expected = exact(route["fixed_cost"]) + exact(route["unit_cost"]) * flow
            self.money(f"{where}.cost", entry.get("cost"), expected)
        for key in figures.flows.keys() - seen:
            if key in self.model.routes:
                self.report(f"shipments: none on route {key} (flow {figures.flows[key]})")

    def check_unmet(self, figures: Figures) -> None:
        seen: set[str] = set()
        for i, entry in enumerate(self.entries("unmet")):
            where = f"unmet[{i}]"
            need_id = self.field(entry, "need", where)
            if need_id not in self.model.needs:
                self.report(f"{where}: unknown need {need_id!r}")
                continue
            if need_id in seen:
                self.report(f"{where}: need {need_id} listed twice")
                continue
            seen.add(need_id)
            expected = figures.unmet[need_id]
            if expected <= 0:
                self.report(f"{where}: need {need_id} has no unmet units")
            else:
                quantity = self.whole(f"{where}.quantity", entry.get("quantity"))
                if quantity is not None:
                    self.equal(f"{where}.quantity", quantity, expected)
            reason = entry.get("reason")
            if reason not in UNMET_REASONS:
                self.report(f"{where}: reason {reason!r} is not one of {sorted(UNMET_REASONS)}")
            else:
                fitting = possible_unmet_reasons(self.model, figures, need_id)
                if reason not in fitting:
                    self.report(
                        f"{where}: reason {reason!r} for need {need_id}, "
                        f"expected one of {sorted(fitting)}"
                    )
            detail = entry.get("detail")
            if not isinstance(detail, str) or not detail.strip():
                self.report(f"{where}: detail {detail!r} is not a sentence")
        for need_id, unmet in figures.unmet.items():
            if unmet > 0 and need_id not in seen:
                self.report(f"unmet: need {need_id} has {unmet} unmet units but is not listed")

    def check_totals(self, figures: Figures) -> None:
        plan = self.plan
        self.money("purchase_cost", plan.get("purchase_cost"), figures.purchase)
        self.money("shipping_cost", plan.get("shipping_cost"), figures.shipping)
        self.money("money_cost", plan.get("money_cost"), figures.money)
        self.close("late_penalty", plan.get("late_penalty"), figures.late_penalty)
        self.close("unmet_penalty", plan.get("unmet_penalty"), figures.unmet_penalty)
        self.close("objective", plan.get("objective"), figures.objective)
        if self.v2:
            self.money("fees", plan.get("fees"), figures.fees)
            self.close("rule_penalty", plan.get("rule_penalty"), figures.rule_penalty)
            self.close("unavoidable_penalty", plan.get("unavoidable_penalty"), self.unavoidable)
        self.equal(
            "late_unit_days",
            self.whole("late_unit_days", plan.get("late_unit_days")),
            figures.late_unit_days,
        )
        self.equal(
            "unmet_units",
            self.whole("unmet_units", plan.get("unmet_units")),
            sum(max(0, u) for u in figures.unmet.values()),
        )

    def check_gap_and_status(self) -> None:
        objective = self.number("objective", self.plan.get("objective"))
        bound = self.number("bound", self.plan.get("bound"))
        gap = self.number("relative_gap", self.plan.get("relative_gap"))
        status = self.plan.get("status")
        if status not in {"optimal", "feasible"}:
            # A valid version-1 document always has a solution (everything unmet).
            self.report(f"status: {status!r}, expected 'optimal' or 'feasible'")
        if objective is None or bound is None or gap is None:
            return
        if bound > objective + self.tol * max(1.0, abs(objective)):
            self.report(f"bound {bound} > objective {objective} in a minimisation")
        # Version 2 measures the gap on the avoidable objective.
        avoidable = objective - self.unavoidable if self.v2 else objective
        expected_gap = (objective - bound) / max(1.0, abs(avoidable))
        if abs(gap - expected_gap) > self.tol:
            formula = "|objective - unavoidable_penalty|" if self.v2 else "|objective|"
            self.report(
                f"relative_gap: {gap} != (objective - bound) / max(1, {formula}) = {expected_gap}"
            )
        limit = self.model.settings["relative_gap"]
        if abs(gap - limit) > 1e-12:  # on the limit itself either status is defensible
            expected_status = "optimal" if gap <= limit else "feasible"
            if status in {"optimal", "feasible"}:
                self.equal(f"status (gap {gap}, limit {limit})", status, expected_status)

    # -- stand-alone baseline and split of cost ------------------------------------------

    def check_agencies(self, figures: Figures) -> None:
        with_needs = {need["agency"] for need in self.model.needs.values()}
        rows: dict[str, Mapping[str, Any]] = {}
        for i, entry in enumerate(self.entries("agencies")):
            where = f"agencies[{i}]"
            agency = self.field(entry, "agency", where)
            if agency not in with_needs:
                self.report(f"{where}: agency {agency!r} has no needs")
            elif agency in rows:
                self.report(f"{where}: agency {agency} listed twice")
            else:
                rows[agency] = entry
        for agency in sorted(with_needs - rows.keys()):
            self.report(f"agencies: agency {agency} has needs but is not listed")

        for agency, row in rows.items():
            where = f"agencies[{agency}]"
            standalone = self.number(f"{where}.standalone_cost", row.get("standalone_cost"))
            allocated = self.number(f"{where}.allocated_cost", row.get("allocated_cost"))
            objective = self.number(
                f"{where}.standalone_objective", row.get("standalone_objective")
            )
            if standalone is None or allocated is None:
                continue
            self.to_the_cent(f"{where}.standalone_cost", standalone)
            self.to_the_cent(f"{where}.allocated_cost", allocated)
            if standalone < 0:
                self.report(f"{where}.standalone_cost {standalone} < 0")
            if objective is not None and standalone > objective + MONEY_TOL:
                # Penalties are never negative, so an objective includes its money cost.
                self.report(
                    f"{where}: standalone_cost {standalone} > standalone_objective {objective}"
                )
            self.check_savings(where, row, standalone, allocated)
            if self.v2:
                self.check_budget_row(where, agency, row, figures)
        if set(rows) == with_needs:
            self.check_allocation(figures, rows)

    def check_budget_row(
        self, where: str, agency: str, row: Mapping[str, Any], figures: Figures
    ) -> None:
        spend = figures.direct_spend.get(agency, Fraction(0))
        self.money(f"{where}.direct_spend", row.get("direct_spend"), spend)
        self.equal(f"{where}.budget", row.get("budget"), self.model.budget(agency))

    def check_savings(
        self, where: str, row: Mapping[str, Any], standalone: float, allocated: float
    ) -> None:
        savings = self.number(f"{where}.savings", row.get("savings"))
        if savings is not None:
            self.money(f"{where}.savings", savings, exact(standalone) - exact(allocated))
            self.check_pct(f"{where}.savings_pct", row.get("savings_pct"), savings, standalone)

    def check_pct(self, where: str, got: Any, savings: float, base: float) -> None:
        pct = self.number(where, got)
        if pct is None:
            return
        expected = 100 * savings / base if base != 0 else 0.0
        # Both inputs are rounded to the cent: allow what that rounding can move the ratio,
        # plus a rounding of the percent itself to two decimals.
        slack = 0.005 + self.tol
        if base != 0:
            slack += 100 * 0.015 / abs(base) * (1 + abs(expected) / 100)
        if abs(pct - expected) > slack:
            self.report(f"{where}: {pct} != 100 * savings / standalone_cost = {expected}")

    def check_allocation(self, figures: Figures, rows: Mapping[str, Mapping[str, Any]]) -> None:
        money_cost = self.plan.get("money_cost")
        if not _is_number(money_cost) or any(
            not _is_number(row.get("allocated_cost")) or not _is_number(row.get("standalone_cost"))
            for row in rows.values()
        ):
            return
        standalone = {agency: exact(row["standalone_cost"]) for agency, row in rows.items()}
        total_standalone = sum(standalone.values(), Fraction(0))
        mode = self.model.settings["allocation"]
        allocated = {agency: _cents(row["allocated_cost"]) for agency, row in rows.items()}
        if sum(allocated.values()) != _cents(money_cost):
            self.report(
                f"agencies: allocated costs sum to {sum(allocated.values()) / 100:.2f}, "
                f"money_cost is {money_cost}"
            )
        if mode == "least_core":
            # Any least-core split is right: check_fairness holds it to epsilon.
            for agency, cents in allocated.items():
                if cents < 0:
                    self.report(f"agencies[{agency}].allocated_cost {cents / 100:.2f} < 0")
            return
        if mode == "proportional" and total_standalone > 0:
            shares = {a: figures.money * standalone[a] / total_standalone for a in rows}
        else:
            usage = usage_shares(self.model, figures)
            shares = {a: usage.get(a, Fraction(0)) for a in rows}
        # Largest remainder: every share is rounded down or up by less than a cent, and no
        # share is rounded up while another with a larger remainder is rounded down.
        exact_cents = {a: shares[a] * 100 for a in rows}
        for agency, cents in allocated.items():
            share = exact_cents[agency]
            if not math.floor(share) <= cents <= math.floor(share) + 1:
                self.report(
                    f"agencies[{agency}].allocated_cost: {cents / 100:.2f}, its {mode} share "
                    f"is {float(share) / 100:.6f}"
                )
        eps = Fraction(1, 10**6)
        rounded_up = [a for a in rows if allocated[a] > exact_cents[a] + eps]
        rounded_down = [a for a in rows if allocated[a] < exact_cents[a] - eps]
        for up in rounded_up:
            for down in rounded_down:
                up_rest = exact_cents[up] - math.floor(exact_cents[up])
                down_rest = exact_cents[down] - math.floor(exact_cents[down])
                if down_rest > up_rest + eps:
                    self.report(
                        f"agencies: {up} rounded up (remainder {float(up_rest):.6f} cent) "
                        f"while {down} rounded down (remainder {float(down_rest):.6f} cent)"
                    )

    def check_baseline(self) -> None:
        baseline = self.plan.get("baseline")
        if not isinstance(baseline, Mapping):
            self.report(f"baseline: {baseline!r} is not an object")
            return
        rows = [row for row in self.plan.get("agencies") or [] if isinstance(row, Mapping)]
        costs = [row.get("standalone_cost") for row in rows]
        objectives = [row.get("standalone_objective") for row in rows]
        standalone = self.number(
            "baseline.standalone_money_cost", baseline.get("standalone_money_cost")
        )
        pooled = self.number("baseline.pooled_money_cost", baseline.get("pooled_money_cost"))
        if standalone is not None and all(_is_number(c) for c in costs):
            # A sum of cent-rounded costs may differ from the rounded sum by half a cent each.
            self.money(
                "baseline.standalone_money_cost",
                standalone,
                sum(exact(c) for c in costs),
                slack=0.005 * len(costs),
            )
        if all(_is_number(o) for o in objectives):
            self.close(
                "baseline.standalone_objective",
                baseline.get("standalone_objective"),
                sum(objectives),
                slack=1e-9,
            )
        if pooled is not None and _is_number(self.plan.get("money_cost")):
            self.money("baseline.pooled_money_cost", pooled, exact(self.plan["money_cost"]))
        if standalone is None or pooled is None:
            return
        savings = self.number("baseline.savings", baseline.get("savings"))
        if savings is not None:
            self.money("baseline.savings", savings, exact(standalone) - exact(pooled))
            self.check_pct("baseline.savings_pct", baseline.get("savings_pct"), savings, standalone)

    # -- version 2: rules, capacity groups, fairness ----------------------------------------

    def check_rules(self, figures: Figures) -> None:
        seen: set[str] = set()
        for i, entry in enumerate(self.entries("rules")):
            where = f"rules[{i}]"
            rule_id = self.field(entry, "rule", where)
            if rule_id not in self.model.rules:
                self.report(f"{where}: unknown rule {rule_id!r}")
                continue
            if rule_id in seen:
                self.report(f"{where}: rule {rule_id} listed twice")
                continue
            seen.add(rule_id)
            outcome = figures.rules[rule_id]
            self.equal(f"{where}.count", entry.get("count"), outcome.count)
            if outcome.share is None:
                self.equal(f"{where}.share", entry.get("share"), None)
            else:
                self.close(f"{where}.share", entry.get("share"), outcome.share)
            self.close(f"{where}.violation", entry.get("violation"), outcome.violation)
            self.close(f"{where}.penalty", entry.get("penalty"), outcome.penalty)
        for rule_id in sorted(self.model.rules.keys() - seen):
            self.report(f"rules: rule {rule_id} is not listed")

    def check_capacity_groups(self, figures: Figures) -> None:
        seen: set[str] = set()
        for i, entry in enumerate(self.entries("capacity_groups")):
            where = f"capacity_groups[{i}]"
            group_id = self.field(entry, "group", where)
            if group_id not in self.model.groups:
                self.report(f"{where}: unknown group {group_id!r}")
                continue
            if group_id in seen:
                self.report(f"{where}: group {group_id} listed twice")
                continue
            seen.add(group_id)
            self.equal(f"{where}.quantity", entry.get("quantity"), figures.group_quantity[group_id])
            self.equal(
                f"{where}.capacity", entry.get("capacity"), self.model.groups[group_id]["capacity"]
            )
        for group_id in sorted(self.model.groups.keys() - seen):
            self.report(f"capacity_groups: group {group_id} is not listed")

    def value_slack(self, agencies: Iterable[str], value: float) -> float:
        """How far a solver's v(S) may sit above the exact optimum: the run's gap on S's
        avoidable objective, and float noise."""
        avoidable = value - self.model.unavoidable_penalty(agencies)
        return max(self.tol, self.model.settings["relative_gap"]) * max(1.0, abs(avoidable))

    def check_fairness(self, figures: Figures) -> None:
        settings = self.model.settings
        asked = settings["fairness"] == "core" or settings["allocation"] == "least_core"
        block = self.plan.get("fairness")
        if not asked:
            if block is not None:
                self.report("fairness: present although neither fairness nor least_core was asked")
            return
        if not isinstance(block, Mapping):
            self.report(f"fairness: {block!r} is not an object")
            return
        with_needs = sorted({need["agency"] for need in self.model.needs.values()})
        coalitions, exhaustive = coalitions_to_check(with_needs)
        self.equal("fairness.coalitions", block.get("coalitions"), len(coalitions))
        self.equal("fairness.exhaustive", block.get("exhaustive"), exhaustive)
        rows = {
            row.get("agency"): row
            for row in self.plan.get("agencies") or []
            if isinstance(row, Mapping)
        }
        if not all(_is_number(rows.get(a, {}).get("allocated_cost")) for a in with_needs):
            return  # reported by check_agencies
        allocated = {a: float(rows[a]["allocated_cost"]) for a in with_needs}
        shares = objective_shares(self.model, figures, allocated)
        reported = {}
        for i, entry in enumerate(block.get("agencies") or []):
            agency = self.field(entry, "agency", f"fairness.agencies[{i}]")
            if agency not in self.model.agencies:
                self.report(f"fairness.agencies[{i}]: unknown agency {agency!r}")
                continue
            reported[agency] = entry
            self.close(
                f"fairness.agencies[{agency}].objective_share",
                entry.get("objective_share"),
                shares[agency],
                slack=1e-6,
            )
        for agency in with_needs:
            if agency not in reported:
                self.report(f"fairness.agencies: agency {agency} is not listed")
        objective = self.plan.get("objective")
        if _is_number(objective):
            # The shares use the allocated money as rounded to the cent: their sum is the
            # objective with the money cost rounded, within a cent of it.
            self.close(
                "fairness: the objective shares' sum",
                sum(shares.values()),
                objective,
                slack=MONEY_TOL,
            )
        if settings["allocation"] != "least_core" and block.get("epsilon") is not None:
            self.report(f"fairness.epsilon: {block.get('epsilon')!r}, null unless least_core")
        values = self.coalition_values
        if values is None or not coalitions:
            return
        self.check_excess_and_stability(block, shares, coalitions, values)
        penalties = {a: shares[a] - allocated[a] for a in with_needs}
        slack = max(self.value_slack(c, values[c]) for c in coalitions) + 0.01 * len(with_needs)
        if settings["allocation"] == "least_core":
            epsilon = least_core_epsilon(
                float(figures.money), penalties, {c: values[c] for c in coalitions}
            )
            got = self.number("fairness.epsilon", block.get("epsilon"))
            if got is not None and abs(got - epsilon) > slack + self.tol * max(1.0, abs(epsilon)):
                self.report(f"fairness.epsilon: {got} != least-core value {epsilon}")
            largest = max(sum(shares[a] for a in c) - values[c] for c in coalitions)
            if largest > epsilon + slack:
                self.report(
                    f"fairness: the least-core split leaves an excess of {largest}, "
                    f"above epsilon {epsilon}"
                )
        grand = frozenset(with_needs)
        full = {**values}
        full.setdefault(grand, figures.objective)
        for agency in with_needs:
            full.setdefault(frozenset([agency]), float(rows[agency].get("standalone_objective", 0)))
        for agency, entry in reported.items():
            where = f"fairness.agencies[{agency}].shapley"
            if not exhaustive:
                self.equal(where, entry.get("shapley"), None)
            elif agency in with_needs and all(c in full for c in coalitions):
                phi = shapley_values(with_needs, full)[agency]
                self.close(where, entry.get("shapley"), phi, slack=2 * slack)

    def check_excess_and_stability(
        self,
        block: Mapping[str, Any],
        shares: Mapping[str, float],
        coalitions: list[Coalition],
        values: Mapping[Coalition, float],
    ) -> None:
        excess = {c: sum(shares[a] for a in c) - values[c] for c in coalitions}
        slack = {c: self.value_slack(c, values[c]) + 1e-6 for c in coalitions}
        largest = max(excess.values())
        got = self.number("fairness.max_excess", block.get("max_excess"))
        if got is not None and abs(got - largest) > max(slack.values()):
            self.report(f"fairness.max_excess: {got} != {largest}")
        named = block.get("coalition")
        if not isinstance(named, list) or frozenset(named) not in excess:
            self.report(f"fairness.coalition: {named!r} is not one of the coalitions checked")
        elif excess[frozenset(named)] < largest - 2 * max(slack.values()):
            self.report(
                f"fairness.coalition: {named} has excess {excess[frozenset(named)]}, "
                f"the largest is {largest}"
            )
        gap = self.model.settings["relative_gap"]
        margin = {
            c: excess[c]
            - (gap * max(1.0, abs(values[c] - self.model.unavoidable_penalty(c))) + 0.01)
            for c in coalitions
        }
        stable = block.get("stable")
        if any(m > slack[c] for c, m in margin.items()) and stable is not False:
            self.report(f"fairness.stable: {stable!r}, but an excess is above its tolerance")
        if all(m < -slack[c] for c, m in margin.items()) and stable is not True:
            self.report(f"fairness.stable: {stable!r}, but every excess is within its tolerance")


def check_plan(
    problem: Problem,
    plan: Plan,
    *,
    tol: float = 1e-6,
    coalition_values: Mapping[Coalition, float] | None = None,
) -> list[str]:
    """Violations of the contract by ``plan`` as an answer to ``problem`` (empty: consistent).

    Only the awards are taken from the plan; every other figure is recomputed from them and
    the problem document and compared with what the plan reports. ``coalition_values`` (the
    exact v(S) of the coalitions the contract names, e.g. from the brute force) let the
    fairness block be checked too: excess, stability, epsilon and Shapley values.
    """
    return _PlanChecker(problem, plan, tol, coalition_values).run()
