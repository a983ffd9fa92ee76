"""The yardstick: a compact formulation of the pooling contract, written against highspy.

Written from `shared/contract/problem-v1.md` and `problem-v2.md` alone; it shares no code with
`solver/` (that independence is its point: it measures poolbuy's speed, and its optimum is a
second opinion on poolbuy's). One MIP per solve, handed to HiGHS whole:

* awards `x[n,o]` continuous in `[0, d(n)]` for usable pairs (item, eligibility, exclusions,
  route); unmet `u[n] = d(n) - sum_o x[n,o]`;
* per offer, a binary `z[o,t]` and a quantity `q[o,t]` per tier, in the band
  `lo[t] z <= q <= hi[t] z` (lo: the tier's threshold, the minimum order, one pack; hi: the
  next threshold less one, the capacity); `sum_t z <= 1`; the ordered quantity `Q = sum_t q`
  equals the awarded units, or with packs `Q = pack * packs` (packs integer) and
  `0 <= Q - sum_n x <= pack - 1`; purchase cost `sum_t price[t] (1 + fee) q[o,t]`;
* per-pair links `x[n,o] <= d(n) sum_t z[o,t]` and `x[n,o] <= d(n) y[s,l]` to the tier and
  route binaries; route cost `fixed y + unit sum x`;
* capacity groups `sum Q <= capacity`;
* rules: a binary per (rule, supplier) for the count kinds (`x <= d w`, and for
  `min_suppliers` also `w <= sum x` and an "item bought" binary), a continuous violation per
  rule for all four kinds;
* budgets: for an agency with a budget its awards are split by tier (`x[n,o,t] <= d z[o,t]`),
  so that its direct spend `sum x[n,o,t] (price[t] (1 + fee) + unit)` is linear.

Awards stay continuous (whole by construction once the binaries are fixed, a flow) except
where version 2 adds rows that are not flow rows: awards of agencies with a budget, in a
share or minimum-suppliers rule's scope, or on an offer in two capacity groups are integer.
Where HiGHS leaves a continuous award fractional all the same, the result says so. The
unmet penalty of needs no pair can serve is left out of the model (a constant), so HiGHS's
gap is the contract's gap on the avoidable objective.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import highspy
import numpy as np

INF = highspy.kHighsInf
DEFAULTS = {
    "order_processing_days": 5,
    "late_penalty_rate": 0.01,
    "unmet_penalty_rate": 10.0,
    "time_limit_seconds": 60,
    "relative_gap": 0.0001,
}
WEIGHTS = {"critical": 10, "high": 3, "normal": 1}


@dataclass
class Columns:
    lower: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
    integer: list[int] = field(default_factory=list)

    def add(self, lower: float, upper: float, cost: float = 0.0, integer: bool = False) -> int:
        self.lower.append(lower)
        self.upper.append(upper)
        self.cost.append(cost)
        self.integer.append(1 if integer else 0)
        return len(self.lower) - 1


@dataclass
class Rows:
    lower: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    index: list[int] = field(default_factory=list)
    value: list[float] = field(default_factory=list)

    def add(self, terms: Iterable[tuple[int, float]], lower: float, upper: float) -> None:
        self.starts.append(len(self.index))
        for column, coefficient in terms:
            self.index.append(column)
            self.value.append(coefficient)
        self.lower.append(lower)
        self.upper.append(upper)


@dataclass
class CompactResult:
    objective: float  # the model's objective plus the unavoidable penalty
    bound: float
    status: str
    seconds: float
    build_seconds: float
    nodes: int
    columns: int
    rows: int
    fractional_awards: int  # continuous awards HiGHS left fractional (should be 0)
    unavoidable: float  # the unmet penalty of needs no pair can serve, in objective
    lp_bound: float | None = None  # the LP relaxation's bound, when asked for


class CompactModel:
    """The compact MIP of one solve: the needs of ``agencies`` (every need when None).

    Built in one pass per family (``add_awards``, ``add_routes``, ``add_orders``,
    ``add_budgets``, ``add_capacity_groups``, ``add_rules``) into plain column and row lists,
    handed to HiGHS in one ``passModel``.
    """

    def __init__(self, problem: Mapping[str, Any], agencies: Iterable[str] | None = None):
        started = time.perf_counter()
        self.settings = {
            **DEFAULTS,
            **{k: v for k, v in (problem.get("settings") or {}).items() if v is not None},
        }
        self.weights = {
            **WEIGHTS,
            **{
                k: v
                for k, v in (self.settings.get("priority_weights") or {}).items()
                if v is not None
            },
        }
        chosen = None if agencies is None else set(agencies)
        self.needs = [n for n in problem["needs"] if chosen is None or n["agency"] in chosen]
        self.offers = problem["offers"]
        self.routes = {(r["supplier"], r["location"]): r for r in problem.get("routes") or []}
        self.agencies = {a["id"]: a for a in problem["agencies"]}
        self.budgets = {
            a: row["budget"] for a, row in self.agencies.items() if row.get("budget") is not None
        }
        self.as_of = dt.date.fromisoformat(problem["as_of"])
        self.reference: dict[str, float] = defaultdict(float)
        for offer in self.offers:
            first = min(offer["price_tiers"], key=lambda t: t["min_quantity"])
            self.reference[offer["item"]] = max(self.reference[offer["item"]], first["unit_price"])
        self.rules = problem.get("rules") or []
        self.groups = problem.get("capacity_groups") or []

        self.cols, self.rows = Columns(), Rows()
        self.unavoidable = 0.0  # unmet penalty of needs no pair can serve
        self.constant = 0.0  # the objective's constant: every need's full unmet penalty
        self.awards: dict[tuple[int, int], int] = {}  # (need, offer) -> column
        self.ordered: dict[str, int] = {}  # offer id -> column of Q[o]
        self.spend: dict[str, list[tuple[int, float]]] = defaultdict(list)  # direct spend
        self.add_awards()
        self.add_routes()
        self.add_orders()
        self.add_budgets()
        self.add_capacity_groups()
        self.add_rules()
        self.build_seconds = time.perf_counter() - started

    # -- helpers ---------------------------------------------------------------------------

    def unmet_per_unit(self, need: Mapping[str, Any]) -> float:
        return (
            self.settings["unmet_penalty_rate"]
            * self.reference[need["item"]]
            * self.weights[need["priority"]]
        )

    def late_per_unit(self, need: Mapping[str, Any], offer: Mapping[str, Any]) -> float:
        route = self.routes[(offer["supplier"], need["location"])]
        days = self.settings["order_processing_days"] + offer["lead_time_days"]
        delivery = self.as_of + dt.timedelta(days=days + route["transit_days"])
        late = max(0, (delivery - dt.date.fromisoformat(need["need_by"])).days)
        return (
            self.settings["late_penalty_rate"]
            * self.reference[need["item"]]
            * self.weights[need["priority"]]
            * late
        )

    def usable(self, need: Mapping[str, Any], offer: Mapping[str, Any]) -> bool:
        eligible = offer.get("eligible_agencies")
        excluded = self.agencies[need["agency"]].get("excluded_suppliers") or []
        return (
            offer["item"] == need["item"]
            and (eligible is None or need["agency"] in eligible)
            and offer["supplier"] not in excluded
            and (offer["supplier"], need["location"]) in self.routes
        )

    @staticmethod
    def in_scope(rule: Mapping[str, Any], need: Mapping[str, Any]) -> bool:
        return need["item"] == rule["item"] and rule.get("location") in (None, need["location"])

    def integral_award(self, need: Mapping[str, Any], offer: Mapping[str, Any]) -> bool:
        """Awards in rows that are not flow rows once the binaries and packs are fixed: an
        agency's budget, a share or min-suppliers rule's scope, an offer in two capacity
        groups. (Packs fix an offer's throughput to an interval, and a group an offer is the
        only group of adds one node above its offers: both stay a flow.)"""
        return (
            need["agency"] in self.budgets
            or sum(offer["id"] in g["offers"] for g in self.groups) > 1
            or any(self.in_scope(r, need) for r in self.rules if r["kind"] != "max_suppliers")
        )

    # -- families ----------------------------------------------------------------------------

    def add_awards(self) -> None:
        """x[n,o] per usable pair; unmet u = d - sum x, so its penalty is a constant and
        minus the penalty per awarded unit; demand rows sum_o x <= d."""
        by_item: dict[str, list[int]] = defaultdict(list)
        for o, offer in enumerate(self.offers):
            by_item[offer["item"]].append(o)
        for n, need in enumerate(self.needs):
            unmet = self.unmet_per_unit(need)
            usable = [o for o in by_item[need["item"]] if self.usable(need, self.offers[o])]
            if not usable:
                self.unavoidable += unmet * need["quantity"]
                continue
            self.constant += unmet * need["quantity"]
            columns = []
            for o in usable:
                offer = self.offers[o]
                route = self.routes[(offer["supplier"], need["location"])]
                column = self.cols.add(
                    0.0,
                    float(min(need["quantity"], offer["capacity"])),
                    route["unit_cost"] + self.late_per_unit(need, offer) - unmet,
                    self.integral_award(need, offer),
                )
                self.awards[(n, o)] = column
                columns.append(column)
            self.rows.add(((c, 1.0) for c in columns), 0.0, float(need["quantity"]))

    def add_routes(self) -> None:
        """A binary per route with a fixed cost, linked pair by pair: x[n,o] <= d(n) y."""
        by_route: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
        for (n, o), column in self.awards.items():
            by_route[(self.offers[o]["supplier"], self.needs[n]["location"])].append((column, n))
        for key, members in by_route.items():
            fixed = self.routes[key]["fixed_cost"]
            if fixed <= 0:
                continue
            y = self.cols.add(0.0, 1.0, fixed, True)
            for column, n in members:
                self.rows.add(((column, 1.0), (y, -float(self.needs[n]["quantity"]))), -INF, 0.0)

    def add_orders(self) -> None:
        """Per offer: tier bands lo z <= q <= hi z on the ordered quantity, at most one tier,
        packs, per-pair links to the tier binaries, and per-tier awards for budget agencies."""
        by_offer: dict[int, list[tuple[int, int]]] = defaultdict(list)  # (column, need)
        for (n, o), column in self.awards.items():
            by_offer[o].append((column, n))
        cols, rows = self.cols, self.rows
        for o, members in by_offer.items():
            offer = self.offers[o]
            pack = offer.get("pack_size") or 1
            fee = 1.0 + (offer.get("fee_rate") or 0.0)
            tiers = sorted(offer["price_tiers"], key=lambda t: t["min_quantity"])
            awarded_max = sum(self.needs[n]["quantity"] for _, n in members)
            top = min(offer["capacity"], awarded_max + pack - 1)
            bands = []
            for t, tier in enumerate(tiers):
                lo = max(tier["min_quantity"], offer["min_order_quantity"], 1)
                hi = top if t + 1 == len(tiers) else min(top, tiers[t + 1]["min_quantity"] - 1)
                if lo <= hi:
                    bands.append((lo, hi, tier["unit_price"] * fee))
            if not bands:
                for column, _ in members:
                    cols.upper[column] = 0.0
                continue
            z = [cols.add(0.0, 1.0, 0.0, True) for _ in bands]
            q = [cols.add(0.0, float(hi), price) for _, hi, price in bands]
            for zc, qc, (lo, hi, _) in zip(z, q, bands, strict=True):
                rows.add(((qc, 1.0), (zc, -float(lo))), 0.0, INF)
                rows.add(((qc, 1.0), (zc, -float(hi))), -INF, 0.0)
            rows.add(((zc, 1.0) for zc in z), -INF, 1.0)
            total = [(qc, 1.0) for qc in q]
            awarded = [(column, -1.0) for column, _ in members]
            if pack == 1:
                rows.add(total + awarded, 0.0, 0.0)
            else:
                # Q = pack * packs, and the fewest packs: 0 <= Q - sum x <= pack - 1.
                packs = cols.add(0.0, float(top // pack), 0.0, True)
                rows.add([*total, (packs, -float(pack))], 0.0, 0.0)
                rows.add(total + awarded, 0.0, float(pack - 1))
            quantity = cols.add(0.0, float(top))
            rows.add([*total, (quantity, -1.0)], 0.0, 0.0)
            self.ordered[offer["id"]] = quantity
            for column, n in members:
                link = float(min(self.needs[n]["quantity"], offer["capacity"]))
                rows.add([(column, 1.0)] + [(zc, -link) for zc in z], -INF, 0.0)
                self.add_spend(column, self.needs[n], offer, z, bands, link)

    def add_spend(
        self,
        column: int,
        need: Mapping[str, Any],
        offer: Mapping[str, Any],
        z: list[int],
        bands: list[tuple[int, int, float]],
        link: float,
    ) -> None:
        """The award's direct spend, x (price of the tier reached (1 + fee) + unit cost),
        linear through one award part per tier: x[n,o,t] <= d z[o,t], sum_t x[n,o,t] = x."""
        if need["agency"] not in self.budgets:
            return
        unit = self.routes[(offer["supplier"], need["location"])]["unit_cost"]
        spend = self.spend[need["agency"]]
        if len(bands) == 1:
            spend.append((column, bands[0][2] + unit))
            return
        parts = []
        for zc, (_, _, price) in zip(z, bands, strict=True):
            # Whole with x: one tier's binary is 1, so its part is x and the others 0.
            part = self.cols.add(0.0, link)
            self.rows.add(((part, 1.0), (zc, -link)), -INF, 0.0)
            parts.append(part)
            spend.append((part, price + unit))
        self.rows.add([(column, 1.0)] + [(p, -1.0) for p in parts], 0.0, 0.0)

    def add_budgets(self) -> None:
        for agency, terms in self.spend.items():
            self.rows.add(terms, -INF, float(self.budgets[agency]))

    def add_capacity_groups(self) -> None:
        for group in self.groups:
            members = [(self.ordered[o], 1.0) for o in group["offers"] if o in self.ordered]
            if members:
                self.rows.add(members, -INF, float(group["capacity"]))

    def add_rules(self) -> None:
        """A violation column per rule at its penalty; count kinds count suppliers taking
        part through a binary each (x <= d w; for min_suppliers also w <= sum x and an
        "item bought" binary b >= w, violation >= limit b - sum w)."""
        cols, rows = self.cols, self.rows
        for rule in self.rules:
            scoped = [
                (column, n, self.offers[o]["supplier"])
                for (n, o), column in self.awards.items()
                if self.in_scope(rule, self.needs[n])
            ]
            violation = cols.add(0.0, INF, float(rule["penalty"]))
            if rule["kind"] in ("max_suppliers", "min_suppliers"):
                by_supplier: dict[str, list[tuple[int, int]]] = defaultdict(list)
                for column, n, supplier in scoped:
                    by_supplier[supplier].append((column, n))
                w = {}
                for supplier, members in by_supplier.items():
                    w[supplier] = cols.add(0.0, 1.0, 0.0, True)
                    for column, n in members:
                        quantity = float(self.needs[n]["quantity"])
                        rows.add(((column, 1.0), (w[supplier], -quantity)), -INF, 0.0)
                if rule["kind"] == "max_suppliers":
                    terms = [(violation, 1.0)] + [(c, -1.0) for c in w.values()]
                    rows.add(terms, -float(rule["limit"]), INF)
                    continue
                bought = cols.add(0.0, 1.0, 0.0, True)
                for supplier, members in by_supplier.items():
                    rows.add([(w[supplier], 1.0)] + [(c, -1.0) for c, _ in members], -INF, 0.0)
                    rows.add(((bought, 1.0), (w[supplier], -1.0)), 0.0, INF)
                terms = [(violation, 1.0), (bought, -float(rule["limit"]))]
                rows.add(terms + [(c, 1.0) for c in w.values()], 0.0, INF)
                continue
            # max_share: violation >= A_s - share A; min_share: violation >= share A - A_s.
            sign = 1.0 if rule["kind"] == "max_share" else -1.0
            coefficient: dict[int, float] = defaultdict(float)
            for column, _, supplier in scoped:
                coefficient[column] += sign * float(rule["share"])
                if supplier == rule["supplier"]:
                    coefficient[column] -= sign
            rows.add([(violation, 1.0), *coefficient.items()], 0.0, INF)

    def highs(self) -> highspy.Highs:
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        # The solver's thread count: a fair comparison, and HiGHS refuses a second
        # count in the same thread (``solver.highs.THREADS``).
        h.setOptionValue("threads", 1)
        cols, rows = self.cols, self.rows
        lp = highspy.HighsLp()
        lp.num_col_ = len(cols.lower)
        lp.num_row_ = len(rows.lower)
        lp.col_cost_ = np.array(cols.cost)
        lp.col_lower_ = np.array(cols.lower)
        lp.col_upper_ = np.array(cols.upper)
        lp.row_lower_ = np.array(rows.lower)
        lp.row_upper_ = np.array(rows.upper)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
        lp.a_matrix_.start_ = np.array([*rows.starts, len(rows.index)], dtype=np.int32)
        lp.a_matrix_.index_ = np.array(rows.index, dtype=np.int32)
        lp.a_matrix_.value_ = np.array(rows.value)
        lp.integrality_ = [highspy.HighsVarType(i) for i in cols.integer]
        lp.offset_ = self.constant
        h.passModel(lp)
        return h

    def solve(self, *, lp_bound: bool = False) -> CompactResult:
        started = time.perf_counter()
        h = self.highs()
        h.setOptionValue("time_limit", float(self.settings["time_limit_seconds"]))
        h.setOptionValue("mip_rel_gap", float(self.settings["relative_gap"]))
        h.run()
        seconds = time.perf_counter() - started
        info = h.getInfo()
        values = np.array(h.getSolution().col_value)
        continuous = [c for c in self.awards.values() if not self.cols.integer[c]]
        fractional = (
            int(np.sum(np.abs(values[continuous] - np.round(values[continuous])) > 1e-6))
            if continuous
            else 0
        )
        result = CompactResult(
            objective=info.objective_function_value + self.unavoidable,
            bound=info.mip_dual_bound + self.unavoidable,
            status=h.modelStatusToString(h.getModelStatus()),
            seconds=seconds,
            build_seconds=self.build_seconds,
            nodes=int(info.mip_node_count),
            columns=len(self.cols.lower),
            rows=len(self.rows.lower),
            fractional_awards=fractional,
            unavoidable=self.unavoidable,
        )
        if lp_bound:
            relaxed = self.highs()
            relaxed.setOptionValue("solve_relaxation", True)
            relaxed.run()
            result.lp_bound = relaxed.getInfo().objective_function_value + self.unavoidable
        return result


def solve_compact(
    problem: Mapping[str, Any], agencies: Iterable[str] | None = None, *, lp_bound: bool = False
) -> CompactResult:
    return CompactModel(problem, agencies).solve(lp_bound=lp_bound)
