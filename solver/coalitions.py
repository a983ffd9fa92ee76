"""Coalitions of agencies and what each would get on its own: the values v(S).

`v(S)` is the optimal objective of the model with only the needs of S's
agencies (contract v2, "Fairness"); the stand-alone baselines are the
one-agency coalitions. Three functions make one value, so that a coalition can
be solved anywhere (here, in a process pool, or as a job on another machine):
`coalition_problem` cuts the document down to some needs, `coalition_value`
solves it, and `CoalitionValue.combine` adds up the values of independent parts.

Reuse. Needs are tied together only by what the model shares between them: an
offer (capacity, minimum order, tiers, packs), a route with a fixed cost, a
capacity group, a rule's scope (its item, at its location if given), an
agency's budget. The needs of the whole
problem fall into connected components of those ties, computed once; a
coalition's value is the sum of its values on each component, restricted to
its members. Components touched by the same agencies are bundled (any
coalition meets them all in the same members), so a part is keyed by
(bundle, members present) and each distinct part is solved once however many
coalitions hold it.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from itertools import combinations

from solver.highs import CancelToken, PlanStatus, SolveCancelled
from solver.pairs import build_pooling_data
from solver.pipeline import solve_needs
from solver.problem import Allocation, Fairness, Problem

# Above this many agencies with needs the contract checks singles, pairs and
# complements of singles only (2^12 - 2 = 4,094 coalitions at most otherwise).
MAX_EXHAUSTIVE = 12

Coalition = tuple[str, ...]


def coalitions_to_check(agencies: Sequence[str]) -> tuple[list[Coalition], bool]:
    """The coalitions the contract names for `agencies` (those with needs), and
    whether they are every non-empty proper subset.

    Members keep the order of `agencies`; coalitions come by size, then in the
    order `combinations` gives, so the list is reproducible.
    """
    k = len(agencies)
    if k <= MAX_EXHAUSTIVE:
        found = [c for size in range(1, k) for c in combinations(agencies, size)]
        return found, True
    singles: list[Coalition] = [(a,) for a in agencies]
    pairs = list(combinations(agencies, 2))
    complements = [tuple(b for b in agencies if b != a) for a in agencies]
    return [*singles, *pairs, *complements], False


@dataclass(frozen=True)
class CoalitionValue:
    """The optimum of the model for some needs: a coalition's, or a part of one."""

    members: Coalition
    objective: Decimal
    money_cost: Decimal
    # Unmet penalty of the needs nothing can serve (contract v2's unavoidable penalty).
    unavoidable_penalty: Decimal
    # Proven lower bound on `objective` (clamped to it).
    bound: float
    status: PlanStatus
    stopped_by: str
    seconds: float

    @property
    def gap(self) -> float:
        """Contract v2's gap, on the avoidable objective."""
        objective = float(self.objective)
        avoidable = abs(objective - float(self.unavoidable_penalty))
        return max(0.0, objective - self.bound) / max(1.0, avoidable)

    @staticmethod
    def combine(
        members: Coalition, parts: Sequence["CoalitionValue"], target_gap: float
    ) -> "CoalitionValue":
        """The value of `members` made of independent parts: sums, status from the sum's gap."""
        total = CoalitionValue(
            members,
            sum((p.objective for p in parts), Decimal(0)),
            sum((p.money_cost for p in parts), Decimal(0)),
            sum((p.unavoidable_penalty for p in parts), Decimal(0)),
            sum(p.bound for p in parts),
            PlanStatus.OPTIMAL,
            "optimal",
            sum(p.seconds for p in parts),
        )
        unfinished = [p for p in parts if p.status is not PlanStatus.OPTIMAL]
        if unfinished:
            worst = unfinished[0]
            status = PlanStatus.ERROR if worst.status is PlanStatus.ERROR else PlanStatus.FEASIBLE
            return replace(total, status=status, stopped_by=worst.stopped_by)
        if total.gap > target_gap + _GAP_SLACK:
            return replace(total, status=PlanStatus.FEASIBLE)
        return total


# As in pipeline.py: float noise in a bound must not make an optimal value feasible.
_GAP_SLACK = 1e-9


def coalition_problem(
    problem: Problem, members: Iterable[str], needs: Iterable[int] | None = None
) -> Problem:
    """The document with only the needs of `members` (and among `needs`, when given).

    Everything else is kept: every offer at full capacity, every route, group,
    rule and budget, so that the reference prices, and so the penalties, are
    the whole problem's, and the rules and budgets apply to the members' awards
    only, as the contract's stand-alone plans do.
    """
    chosen = set(members)
    among = None if needs is None else set(needs)
    kept = tuple(
        need
        for n, need in enumerate(problem.needs)
        if need.agency in chosen and (among is None or n in among)
    )
    return problem.model_copy(update={"needs": kept})


def coalition_value(
    problem: Problem, members: Coalition, cancel: CancelToken | None = None
) -> CoalitionValue:
    """Solve `problem` (a `coalition_problem`) and return its value for `members`."""
    result = solve_needs(problem, stage="coalition", cancel=cancel)
    if cancel is not None and cancel.is_set():
        raise SolveCancelled(f"the solve of coalition {', '.join(members)} was cancelled")
    status, bound, _gap = result.assess(problem.settings.relative_gap)
    return CoalitionValue(
        members,
        result.figures.objective,
        result.figures.money_cost,
        result.figures.unavoidable_penalty,
        bound,
        status,
        result.outcome.stopped_by,
        result.outcome.seconds,
    )


# --- independent parts ------------------------------------------------------------


@dataclass(frozen=True)
class Bundle:
    """Needs that no need outside them affects, touched by exactly `agencies`."""

    agencies: frozenset[str]
    needs: tuple[int, ...]


@dataclass(frozen=True)
class Part:
    """What one coalition asks of one bundle: the needs of the members present in it."""

    bundle: int
    members: Coalition
    needs: tuple[int, ...]

    @property
    def key(self) -> tuple[int, Coalition]:
        return self.bundle, self.members


def independent_bundles(problem: Problem) -> list[Bundle]:
    """The problem's needs in connected components of what ties them, bundled by agencies."""
    data = build_pooling_data(problem)
    links = _Links()
    for pair in data.pairs:
        links.join(("need", pair.need), ("offer", pair.offer))
        # A route with no fixed cost is a price per unit: it ties nothing.
        if problem.routes[pair.route].fixed_cost > 0:
            links.join(("need", pair.need), ("route", pair.route))
    offer_index = {offer.id: o for o, offer in enumerate(problem.offers)}
    for g, group in enumerate(problem.capacity_groups):
        for offer_id in group.offers:
            links.join(("offer", offer_index[offer_id]), ("group", g))
    budgeted = {agency.id for agency in problem.agencies if agency.budget is not None}
    for n, need in enumerate(problem.needs):
        for r, rule in enumerate(problem.rules):
            if rule.in_scope(need.item, need.location):
                links.join(("need", n), ("rule", r))
        if need.agency in budgeted:
            links.join(("need", n), ("budget", need.agency))
    by_root: dict[object, list[int]] = defaultdict(list)
    for n in range(len(problem.needs)):
        by_root[links.root(("need", n))].append(n)
    by_agencies: dict[frozenset[str], list[int]] = defaultdict(list)
    for needs in by_root.values():
        agencies = frozenset(problem.needs[n].agency for n in needs)
        by_agencies[agencies].extend(needs)
    bundles = [Bundle(agencies, tuple(sorted(needs))) for agencies, needs in by_agencies.items()]
    bundles.sort(key=lambda b: b.needs[0])
    return bundles


class _Links:
    """Union-find over hashable nodes (needs, offers, routes, ...)."""

    def __init__(self) -> None:
        self.parent: dict[object, object] = {}

    def root(self, node: object) -> object:
        parent = self.parent.setdefault(node, node)
        while parent != node:
            grand = self.parent[parent]
            self.parent[node] = grand
            node, parent = parent, self.parent.setdefault(grand, grand)
        return node

    def join(self, a: object, b: object) -> None:
        ra, rb = self.root(a), self.root(b)
        if ra != rb:
            self.parent[ra] = rb


def parts_of(problem: Problem, bundles: Sequence[Bundle], coalition: Coalition) -> list[Part]:
    """The parts whose values add up to `coalition`'s value."""
    parts = []
    for b, bundle in enumerate(bundles):
        present = tuple(a for a in coalition if a in bundle.agencies)
        if present:
            needs = tuple(n for n in bundle.needs if problem.needs[n].agency in present)
            parts.append(Part(b, present, needs))
    return parts


def plan_parts(
    problem: Problem, coalitions: Sequence[Coalition]
) -> tuple[dict[Coalition, list[Part]], dict[tuple[int, Coalition], Part]]:
    """Each coalition's parts, and the distinct parts to solve, in the order first needed."""
    bundles = independent_bundles(problem)
    parts = {c: parts_of(problem, bundles, c) for c in coalitions}
    distinct: dict[tuple[int, Coalition], Part] = {}
    for coalition_parts in parts.values():
        for part in coalition_parts:
            distinct.setdefault(part.key, part)
    return parts, distinct


@dataclass(frozen=True)
class CoalitionChecks:
    """The coalitions the contract names for a plan, and their values (singles included)."""

    checked: list[Coalition]
    exhaustive: bool
    values: dict[Coalition, CoalitionValue]


def fairness_asked(problem: Problem) -> bool:
    settings = problem.settings
    return settings.fairness is Fairness.CORE or settings.allocation is Allocation.LEAST_CORE


def coalitions_to_solve(problem: Problem, agencies: Sequence[str]) -> list[Coalition]:
    """The baselines (one-agency coalitions), and every coalition to check when asked."""
    singles: list[Coalition] = [(a,) for a in agencies]
    if not fairness_asked(problem):
        return singles
    checked, _exhaustive = coalitions_to_check(agencies)
    return [*singles, *(c for c in checked if len(c) > 1)]
