"""Recompute every figure of a plan from the problem document and the plan's awards alone.

Each helper transcribes one rule of shared/contract/problem-v1.md. The brute force in
brute_force.py reuses the model helpers (settings, reference prices, usable pairs, tiers), so
the two oracles read the contract the same way, and the plan's own figures are never trusted
beyond its awards (and, for the split of cost, its stand-alone money costs, which the contract
only lets one recompute by solving).

Readings of points the contract leaves open, chosen as literally as possible:

* A null entry inside a partial ``priority_weights`` takes its default, like a null setting.
* "Money figures" are purchase, shipping and money cost, order and shipment costs, allocated
  and stand-alone costs, savings. They must be given to the cent. Penalties are "not money",
  so penalties and the objective are compared unrounded (relative tolerance ``tol``).
* ``savings_pct`` is not said to be rounded; it is compared with a tolerance that covers the
  cent rounding of its inputs and a rounding to two decimals.
* ``relative_gap`` and ``status`` are checked against the plan's own ``objective`` and
  ``bound``: the bound cannot be recomputed without solving.
* When a need has no usable pair, ``no_offer`` is the only right reason if no offer sells its
  item; otherwise ``not_eligible`` is right when no offer of the item lets the agency buy,
  ``no_route`` when no offer of the item has a route to the location, and either one when
  each offer fails on one of the two. When a need has a usable pair, its unmet units are due
  to capacity, minimum order or cost, so only ``capacity``, ``min_order``, ``too_costly`` fit;
  which of those three is right is a judgement the contract does not pin down.
* ``proportional`` allocation splits the exact pooled money cost in proportion to the
  stand-alone costs the plan reports (to the cent), as those are the only ones available.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

Problem = Mapping[str, Any]
Plan = Mapping[str, Any]
AwardKey = tuple[str, str]  # (need id, offer id)
RouteKey = tuple[str, str]  # (supplier id, location id)

DEFAULT_SETTINGS: dict[str, Any] = {
    "order_processing_days": 5,
    "late_penalty_rate": 0.01,
    "unmet_penalty_rate": 10.0,
    "priority_weights": {"critical": 10, "high": 3, "normal": 1},
    "time_limit_seconds": 60,
    "relative_gap": 0.0001,
    "allocation": "usage",
}
UNMET_REASONS = frozenset(
    {"no_offer", "no_route", "not_eligible", "capacity", "min_order", "too_costly"}
)
REASONS_WITH_A_USABLE_PAIR = frozenset({"capacity", "min_order", "too_costly"})
# A figure rounded to the cent is within half a cent of the exact value; the brief allows a
# full cent so that float noise in the solver's rounding is never reported.
MONEY_TOL = 0.01 + 1e-9


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
    """The all-units tier pricing a pooled quantity; None below the first tier."""
    reached = [tier for tier in offer["price_tiers"] if tier["min_quantity"] <= quantity]
    return max(reached, key=lambda tier: tier["min_quantity"], default=None)


def is_eligible(offer: Mapping[str, Any], agency: str) -> bool:
    eligible = offer.get("eligible_agencies")
    return eligible is None or agency in eligible


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
        self.needs: dict[str, Mapping[str, Any]] = {n["id"]: n for n in problem["needs"]}
        self.offers: dict[str, Mapping[str, Any]] = {o["id"]: o for o in problem["offers"]}
        self.routes: dict[RouteKey, Mapping[str, Any]] = {
            (r["supplier"], r["location"]): r for r in problem.get("routes") or []
        }
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


@dataclass
class Figures:
    """Every pooled figure implied by a set of awards."""

    awards: dict[AwardKey, int]
    pooled: dict[str, int]  # Q[o], offers with Q > 0
    flows: dict[RouteKey, int]  # F[s,l], routes with F > 0
    delivered: dict[str, int]  # sum_o x[n,o], every need
    unmet: dict[str, int]  # d(n) - delivered, every need (negative when over-awarded)
    purchase: Fraction
    shipping: Fraction
    late_penalty: float
    late_unit_days: int
    unmet_penalty: float

    @property
    def money(self) -> Fraction:
        return self.purchase + self.shipping

    @property
    def objective(self) -> float:
        return float(self.money) + self.late_penalty + self.unmet_penalty


def pooled_unit_price(model: Model, offer_id: str, quantity: int) -> float:
    # Below the first tier the plan is infeasible (reported separately); pricing it at the
    # first tier keeps the other figures comparable.
    tier = tier_reached(model.offers[offer_id], quantity) or first_tier(model.offers[offer_id])
    return tier["unit_price"]


def recompute(model: Model, awards: Mapping[AwardKey, int]) -> Figures:
    pooled: dict[str, int] = defaultdict(int)
    flows: dict[RouteKey, int] = defaultdict(int)
    delivered: dict[str, int] = dict.fromkeys(model.needs, 0)
    late_penalty = 0.0
    late_unit_days = 0
    for (need_id, offer_id), quantity in awards.items():
        pooled[offer_id] += quantity
        flows[model.route_of(need_id, offer_id)] += quantity
        delivered[need_id] += quantity
        delivery = model.delivery(need_id, offer_id)
        if delivery is not None:
            late_unit_days += quantity * delivery.late_days
            late_penalty += model.late_penalty_per_unit_day(need_id) * delivery.late_days * quantity
    unmet = {n: need["quantity"] - delivered[n] for n, need in model.needs.items()}
    purchase = sum(
        (exact(pooled_unit_price(model, o, q)) * q for o, q in pooled.items() if q > 0),
        Fraction(0),
    )
    shipping = Fraction(0)
    for key, flow in flows.items():
        route = model.routes.get(key)
        if route is not None and flow > 0:
            shipping += exact(route["fixed_cost"]) + exact(route["unit_cost"]) * flow
    unmet_penalty = sum(model.unmet_penalty_per_unit(n) * max(0, u) for n, u in unmet.items())
    return Figures(
        awards=dict(awards),
        pooled={o: q for o, q in pooled.items() if q > 0},
        flows={k: f for k, f in flows.items() if f > 0},
        delivered=delivered,
        unmet=unmet,
        purchase=purchase,
        shipping=shipping,
        late_penalty=late_penalty,
        late_unit_days=late_unit_days,
        unmet_penalty=float(unmet_penalty),
    )


def feasibility_violations(model: Model, figures: Figures) -> list[str]:
    """Every model constraint the awards break (whole units are checked by the reader)."""
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
            violations.append(f"offer {offer_id}: pooled {quantity} > capacity {offer['capacity']}")
        if quantity < offer["min_order_quantity"]:
            violations.append(
                f"offer {offer_id}: pooled {quantity} < min_order_quantity "
                f"{offer['min_order_quantity']}"
            )
        if tier_reached(offer, quantity) is None:
            violations.append(
                f"offer {offer_id}: pooled {quantity} < first tier min_quantity "
                f"{first_tier(offer)['min_quantity']}"
            )
    return violations


def possible_unmet_reasons(model: Model, need_id: str) -> frozenset[str]:
    need = model.needs[need_id]
    selling = [o for o in model.offers.values() if o["item"] == need["item"]]
    if not selling:
        return frozenset({"no_offer"})
    if model.usable_offers(need_id):
        return REASONS_WITH_A_USABLE_PAIR
    reasons = set()
    if not any(is_eligible(offer, need["agency"]) for offer in selling):
        reasons.add("not_eligible")
    if not any((offer["supplier"], need["location"]) in model.routes for offer in selling):
        reasons.add("no_route")
    return frozenset(reasons or {"not_eligible", "no_route"})


def usage_shares(model: Model, figures: Figures) -> dict[str, Fraction]:
    """Each agency's exact money cost under the contract's usage rule."""
    shares: dict[str, Fraction] = defaultdict(Fraction)
    for (need_id, offer_id), quantity in figures.awards.items():
        agency = model.needs[need_id]["agency"]
        price = exact(pooled_unit_price(model, offer_id, figures.pooled[offer_id]))
        shares[agency] += price * quantity
        key = model.route_of(need_id, offer_id)
        route = model.routes.get(key)
        if route is not None:
            shares[agency] += exact(route["unit_cost"]) * quantity
            shares[agency] += exact(route["fixed_cost"]) * Fraction(quantity, figures.flows[key])
    return shares


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _cents(value: float) -> int:
    return round(value * 100)


class _PlanChecker:
    def __init__(self, problem: Problem, plan: Plan, tol: float) -> None:
        self.model = Model(problem)
        self.plan = plan
        self.tol = tol
        self.violations: list[str] = []

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
                self.money(f"{where}.cost", entry.get("cost"), exact(tier["unit_price"]) * pooled)
        for offer_id in figures.pooled.keys() - seen:
            self.report(f"orders: none for offer {offer_id} (pooled {figures.pooled[offer_id]})")

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
                fitting = possible_unmet_reasons(self.model, need_id)
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
        expected_gap = (objective - bound) / max(1.0, abs(objective))
        if abs(gap - expected_gap) > self.tol:
            self.report(
                f"relative_gap: {gap} != (objective - bound) / max(1, |objective|) = {expected_gap}"
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
        if set(rows) == with_needs:
            self.check_allocation(figures, rows)

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
        if mode == "proportional" and total_standalone > 0:
            shares = {a: figures.money * standalone[a] / total_standalone for a in rows}
        else:
            usage = usage_shares(self.model, figures)
            shares = {a: usage.get(a, Fraction(0)) for a in rows}
        allocated = {agency: _cents(row["allocated_cost"]) for agency, row in rows.items()}
        if sum(allocated.values()) != _cents(money_cost):
            self.report(
                f"agencies: allocated costs sum to {sum(allocated.values()) / 100:.2f}, "
                f"money_cost is {money_cost}"
            )
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


def check_plan(problem: Problem, plan: Plan, *, tol: float = 1e-6) -> list[str]:
    """Violations of the contract by ``plan`` as an answer to ``problem`` (empty: consistent).

    Only the awards are taken from the plan; every other figure is recomputed from them and
    the problem document and compared with what the plan reports.
    """
    return _PlanChecker(problem, plan, tol).run()
