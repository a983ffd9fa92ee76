"""Would any group of agencies do better on its own? The plan's `fairness` block.

Contract v2, "Fairness: coalitions and the least core". Each agency's
objective share `y[a]` is its allocated money plus its own penalties in the
pooled plan (late, unmet, and its part of each broken rule's penalty, by its
awarded units in the rule's scope); a coalition S's excess is `sum of y over S - v(S)`, what S would
save by leaving. The split is stable when no excess is above its tolerance.

The least core is the split of the pooled money cost whose largest excess is
smallest (`epsilon`): a linear programme over the coalition values. Where many
splits reach it, the one closest to the usage split (least total absolute
difference) is taken, so that the least core moves money only where a
coalition's claim requires it. The Shapley value is a yardstick beside it.

Everything here takes the coalition values as given, so they may come from
this process, a pool, or jobs on other machines.
"""

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import combinations
from math import factorial
from typing import Any

import pulp

from solver.allocation import largest_remainder, usage_shares
from solver.coalitions import Coalition, CoalitionChecks, CoalitionValue
from solver.highs import THREADS
from solver.pairs import reference_prices
from solver.pricing import PlanFigures, dec, to_cents
from solver.problem import Allocation, Problem

# A coalition may claim a cent of rounding on top of the solver's gap.
CENT_TOLERANCE = Decimal("0.01")


def own_penalties(problem: Problem, figures: PlanFigures) -> dict[str, Decimal]:
    """Each agency's own late and unmet penalties in the pooled plan, in Decimal."""
    settings = problem.settings
    prices = reference_prices(problem)
    penalties: dict[str, Decimal] = {a.id: Decimal(0) for a in problem.agencies}
    for award in figures.awards:
        need = problem.needs[award.need]
        weight = dec(settings.priority_weights.of(need.priority))
        rate = dec(settings.late_penalty_rate) * dec(prices[need.item]) * weight
        penalties[need.agency] += rate * award.late_days * award.quantity
    for n, missing in figures.unmet.items():
        need = problem.needs[n]
        weight = dec(settings.priority_weights.of(need.priority))
        rate = dec(settings.unmet_penalty_rate) * dec(prices[need.item]) * weight
        penalties[need.agency] += rate * missing
    for agency, part in rule_penalty_parts(problem, figures).items():
        penalties[agency] += part
    return penalties


def rule_penalty_parts(problem: Problem, figures: PlanFigures) -> dict[str, Decimal]:
    """Each rule's penalty split by the agencies' awarded units in the rule's scope.

    A broken rule always has units in scope (every kind counts awarded suppliers
    or units), so every penalty finds its payers.
    """
    parts: dict[str, Decimal] = defaultdict(Decimal)
    for outcome in figures.rules:
        if not outcome.penalty:
            continue
        rule = problem.rules[outcome.rule]
        units: dict[str, int] = defaultdict(int)
        for award in figures.awards:
            need = problem.needs[award.need]
            if rule.in_scope(need.item, need.location):
                units[need.agency] += award.quantity
        in_scope = sum(units.values())
        if in_scope == 0:
            raise ArithmeticError(f"rule {rule.id} is broken with no award in its scope")
        for agency, quantity in units.items():
            parts[agency] += outcome.penalty * quantity / in_scope
    return parts


def tolerance(value: CoalitionValue, relative_gap: float) -> Decimal:
    """How far above 0 an excess may be and still count as none (the contract's tolerance)."""
    avoidable = abs(value.objective - value.unavoidable_penalty)
    return dec(relative_gap) * max(Decimal(1), avoidable) + CENT_TOLERANCE


@dataclass(frozen=True)
class LeastCore:
    shares: dict[str, Decimal]  # money, whole cents, summing to the pooled money cost
    epsilon: float  # the smallest largest excess any split reaches
    # Whether even the least core leaves some coalition above its tolerance.
    core_empty: bool


def least_core(
    agencies: Sequence[str],
    money_total: Decimal,
    penalties: Mapping[str, Decimal],
    values: Mapping[Coalition, CoalitionValue],
    checked: Sequence[Coalition],
    anchor: Mapping[str, Decimal],
    relative_gap: float,
) -> LeastCore:
    """Money shares `m[a] >= 0` summing to `money_total` that minimise the largest excess.

    `anchor` (the usage split) chooses among the splits that reach it.
    """
    if not checked:
        # One agency: it pays everything, and there is no coalition to compare with.
        only = {a: money_total for a in agencies}
        return LeastCore(largest_remainder(only, money_total), 0.0, False)
    claims = {s: values[s].objective - sum(penalties[a] for a in s) for s in checked}
    epsilon, shares = _smallest_largest_excess(agencies, money_total, claims, anchor)
    # The core within the tolerance is empty when even shifting every claim by its
    # tolerance leaves a positive largest excess.
    shifted = {s: claims[s] + tolerance(values[s], relative_gap) for s in checked}
    beyond, _ = _smallest_largest_excess(agencies, money_total, shifted, None)
    exact = {a: max(Decimal(0), dec(shares[a])) for a in agencies}
    return LeastCore(largest_remainder(exact, money_total), round(epsilon, 6), beyond > 1e-6)


def _smallest_largest_excess(
    agencies: Sequence[str],
    money_total: Decimal,
    claims: Mapping[Coalition, Decimal],
    anchor: Mapping[str, Decimal] | None,
) -> tuple[float, dict[str, float]]:
    """min epsilon s.t. sum_{a in S} m[a] - claims[S] <= epsilon, m >= 0, sum m = total.

    With `anchor`, a second pass keeps epsilon and minimises sum |m[a] - anchor[a]|.
    """
    lp = pulp.LpProblem("least_core", pulp.LpMinimize)
    share = {a: lp.add_variable(f"share_{i}", 0) for i, a in enumerate(agencies)}
    epsilon = lp.add_variable("epsilon")
    lp += (
        pulp.LpAffineExpression.from_list([(share[a], 1.0) for a in agencies])
        == float(money_total),
        "money_total",
    )
    for j, (coalition, claim) in enumerate(claims.items()):
        terms = [*((share[a], 1.0) for a in coalition), (epsilon, -1.0)]
        lp += (pulp.LpAffineExpression.from_list(terms) <= float(claim), f"excess_{j}")
    lp.setObjective(pulp.LpAffineExpression.from_list([(epsilon, 1.0)]))
    if not _solve(lp):
        # Never: epsilon is free, so every split with m >= 0 is a solution.
        raise ArithmeticError("the least-core programme found no split")
    best = float(epsilon.varValue or 0.0)
    found = {a: float(share[a].varValue or 0.0) for a in agencies}
    if anchor is None:
        return best, found

    # Keep the least core (within HiGHS's tolerances), then stay near the anchor.
    scale = max([1.0, abs(best), *(abs(float(c)) for c in claims.values())])
    epsilon.upBound = best + 1e-9 * scale + 1e-6
    distance = {a: lp.add_variable(f"distance_{i}", 0) for i, a in enumerate(agencies)}
    for i, a in enumerate(agencies):
        target = float(anchor.get(a, Decimal(0)))
        lp += (
            pulp.LpAffineExpression.from_list([(distance[a], 1.0), (share[a], -1.0)]) >= -target,
            f"above_anchor_{i}",
        )
        lp += (
            pulp.LpAffineExpression.from_list([(distance[a], 1.0), (share[a], 1.0)]) >= target,
            f"below_anchor_{i}",
        )
    lp.setObjective(pulp.LpAffineExpression.from_list([(d, 1.0) for d in distance.values()]))
    # Should HiGHS's tolerances make the second pass infeasible, the first pass's split stands.
    if _solve(lp):
        found = {a: float(share[a].varValue or 0.0) for a in agencies}
    return best, found


def _solve(lp: pulp.LpProblem) -> bool:
    stats = lp.solve(pulp.HiGHS(msg=False, threads=THREADS))
    return bool(stats.status_str == "Optimal" and stats.has_solution)


def shapley(
    agencies: Sequence[str],
    values: Mapping[Coalition, CoalitionValue],
    grand: Decimal,
) -> dict[str, Decimal]:
    """phi[a] = sum over S without a of |S|! (k-|S|-1)! / k! (v(S + a) - v(S)), v(empty) = 0.

    Needs every subset's value: the coalitions must have been exhaustive.
    """
    k = len(agencies)
    value = {frozenset(s): v.objective for s, v in values.items()}
    value[frozenset()] = Decimal(0)
    value[frozenset(agencies)] = grand
    weights = [
        Decimal(factorial(s) * factorial(k - s - 1)) / Decimal(factorial(k)) for s in range(k)
    ]
    phi: dict[str, Decimal] = {}
    for a in agencies:
        others = [b for b in agencies if b != a]
        total = Decimal(0)
        for size in range(k):
            for subset in combinations(others, size):
                s = frozenset(subset)
                total += weights[size] * (value[s | {a}] - value[s])
        phi[a] = total
    return phi


def fairness_block(
    problem: Problem,
    agencies: Sequence[str],
    allocated: Mapping[str, Decimal],
    penalties: Mapping[str, Decimal],
    values: Mapping[Coalition, CoalitionValue],
    checked: Sequence[Coalition],
    exhaustive: bool,
    grand: Decimal,
    core: LeastCore,
    epsilon: float | None,
) -> dict[str, Any]:
    """The plan's `fairness` block for the split `allocated` (money, whole cents)."""
    share = {a: allocated[a] + penalties[a] for a in agencies}
    gap = problem.settings.relative_gap
    largest: tuple[Decimal, Coalition] | None = None
    stable = True
    for coalition in checked:
        excess = sum((share[a] for a in coalition), Decimal(0)) - values[coalition].objective
        if excess > tolerance(values[coalition], gap):
            stable = False
        if largest is None or excess > largest[0]:
            largest = (excess, coalition)
    phi = shapley(agencies, values, grand) if exhaustive else None
    lines = []
    for agency in problem.agencies:
        has_needs = agency.id in share
        lines.append(
            {
                "agency": agency.id,
                "objective_share": float(share[agency.id]) if has_needs else 0.0,
                "shapley": None if phi is None else (float(phi[agency.id]) if has_needs else 0.0),
            }
        )
    return {
        "coalitions": len(checked),
        "exhaustive": exhaustive,
        "stable": stable,
        "max_excess": 0.0 if largest is None else float(largest[0]),
        "coalition": None if largest is None else list(largest[1]),
        "epsilon": epsilon,
        # Beyond the contract: whether no split at all is stable (the least core's verdict).
        "core_empty": core.core_empty,
        "agencies": lines,
    }


def verdict(fairness: Mapping[str, Any], currency: str = "") -> str:
    """One line for a reader: stable, or which agencies would save how much on their own."""
    if fairness.get("stable"):
        return "stable: no group of agencies would do better on its own"
    members = list(fairness.get("coalition") or [])
    who = members[0] if len(members) == 1 else ", ".join(members[:-1]) + " and " + members[-1]
    amount = f"{currency} {fairness.get('max_excess', 0.0):,.2f}".strip()
    own = "its" if len(members) == 1 else "their"
    saving = f"{who} would save {amount} on {own} own"
    if fairness.get("core_empty"):
        return f"the core is empty: {saving}"
    return f"not stable: {saving} (a least_core allocation would keep them)"


def assess_fairness(
    problem: Problem,
    figures: PlanFigures,
    agencies: Sequence[str],
    allocated: Mapping[str, Decimal],
    checks: CoalitionChecks,
) -> tuple[dict[str, Decimal], dict[str, Any]]:
    """The money split (the least core's when asked for, else `allocated`) and the block."""
    money_total = to_cents(figures.money_cost)
    penalties = own_penalties(problem, figures)
    usage = usage_shares(problem, figures)
    anchor = {a: usage.get(a, Decimal(0)) for a in agencies}
    core = least_core(
        agencies,
        money_total,
        penalties,
        checks.values,
        checks.checked,
        anchor,
        problem.settings.relative_gap,
    )
    epsilon = None
    if problem.settings.allocation is Allocation.LEAST_CORE:
        allocated, epsilon = core.shares, core.epsilon
    block = fairness_block(
        problem,
        agencies,
        allocated,
        penalties,
        checks.values,
        checks.checked,
        checks.exhaustive,
        figures.objective,
        core,
        epsilon,
    )
    return dict(allocated), block
