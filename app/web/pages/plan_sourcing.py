"""The plan page's contract-v2 part: budgets, fairness, rules, fees and surplus.

Kept apart from ``app.web.pages.runs`` (the plan page's v1 part), which calls
``sourcing_context`` once and includes ``_plan_sourcing.html``. Every figure is
the plan's own; the only arithmetic is a budget's use (direct spend / budget),
an agency's margin against going alone (stand-alone value - objective share) and,
the same figure turned round, a single agency's excess (objective share - value
alone: contract v2's ``v`` of one agency is its stand-alone objective).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from app.web import charts
from app.web.deps import money, page_markup


@dataclass(frozen=True)
class AgencyLine:
    agency: str
    allocated_cost: float
    standalone_cost: float
    direct_spend: float | None
    budget: float | None
    budget_use_pct: float | None
    objective_share: float | None
    standalone_objective: float | None
    # How much better off the agency is in the pool than alone (objective units).
    margin: float | None


@dataclass(frozen=True)
class RuleLine:
    rule: str
    kind: str
    item: str
    scope: str
    asked: str
    got: str
    violation: float
    penalty: float

    @property
    def kept(self) -> bool:
        return self.violation == 0


def _asked(rule: Mapping[str, Any]) -> str:
    if rule.get("limit") is not None:
        return f"{rule['limit']} suppliers"
    return f"{float(rule.get('share') or 0):.0%} to {rule.get('supplier', '')}"


def _got(line: Mapping[str, Any]) -> str:
    if line.get("count") is not None:
        return f"{line['count']} suppliers"
    return "nothing awarded" if line.get("share") is None else f"{float(line['share']):.0%}"


@dataclass(frozen=True)
class CoalitionExcess:
    """A coalition's excess: its members' objective shares minus its value alone."""

    members: tuple[str, ...]
    excess: float
    label: str


# How many of the worst coalitions the plan page charts.
WORST_SHOWN = 5


def _label_width(labels: list[str]) -> int:
    """Room for the longest bar label (up to 9 px a character, capitals, at 13 px)."""
    return min(240, max(96, 9 * max((len(x) for x in labels), default=0) + 16))


def worst_coalitions(
    problem: Mapping[str, Any],
    plan: Mapping[str, Any],
    limit: int = WORST_SHOWN,
    values: Mapping[tuple[str, ...], float] | None = None,
) -> list[CoalitionExcess]:
    """The coalitions with the largest excess, largest first, from the plan's figures.

    The plan's ``fairness`` block names the one with the largest excess
    (``coalition``, ``max_excess``); beside it, every agency alone, whose excess
    is its objective share minus its stand-alone objective (both in the plan).
    ``values``: the run's stored coalition values v(S) (members -> objective),
    when the caller has them: then every coalition's excess, the members'
    objective shares minus v(S). Empty when fairness was not checked or there
    was no coalition to check (one agency with needs). Ties in order of the label."""
    fairness = plan.get("fairness")
    if not fairness or not fairness.get("coalitions"):
        return []
    with_needs = {n["agency"] for n in problem.get("needs", [])}
    shares = {f["agency"]: f.get("objective_share") for f in fairness.get("agencies", [])}
    rank = {a["id"]: i for i, a in enumerate(problem.get("agencies", []))}

    def key(members: Iterable[str]) -> tuple[str, ...]:
        # Members in the problem's order of agencies, however they were listed.
        return tuple(sorted(members, key=lambda a: (rank.get(a, len(rank)), a)))

    excess: dict[tuple[str, ...], float] = {}
    for line in plan.get("agencies", []):
        share, alone = shares.get(line["agency"]), line.get("standalone_objective")
        if line["agency"] in with_needs and share is not None and alone is not None:
            excess[(line["agency"],)] = round(float(share) - float(alone), 2)
    for members, value in (values or {}).items():
        if members and all(shares.get(a) is not None and a in with_needs for a in members):
            total = sum(float(shares[a] or 0) for a in members)
            excess[key(members)] = round(total - float(value), 2)
    worst = key(fairness.get("coalition") or ())
    if worst:  # the plan's own figure for it
        excess[worst] = float(fairness.get("max_excess") or 0)

    def label(members: tuple[str, ...]) -> str:
        others = sorted(with_needs - set(members))
        if len(with_needs) > 2 and len(others) == 1:
            return f"all but {others[0]}"
        return " + ".join(members)

    lines = [CoalitionExcess(m, e, label(m)) for m, e in excess.items()]
    return sorted(lines, key=lambda c: (-c.excess, c.label))[:limit]


def verdict(fairness: Mapping[str, Any] | None, currency: str) -> str | None:
    """The fairness verdict as a sentence, or None when fairness was not checked."""
    if not fairness:
        return None
    checked = f"{fairness['coalitions']} coalitions checked" + (
        "" if fairness.get("exhaustive") else " (singles, pairs and complements only)"
    )
    coalition = " and ".join(fairness.get("coalition") or [])
    if fairness.get("stable"):
        return f"Stable: no group of agencies would do better on its own ({checked})."
    excess = float(fairness.get("max_excess") or 0)
    whose = "their" if " and " in coalition else "its"
    return (
        f"Not stable: {coalition} would do better on {whose} own, by {money(excess)} "
        f"{currency} in objective terms ({checked})."
    )


def sourcing_context(
    problem: Mapping[str, Any],
    plan: Mapping[str, Any],
    *,
    full: bool,
    agency: str | None,
    coalition_values: Mapping[tuple[str, ...], float] | None = None,
) -> dict[str, Any]:
    """What ``_plan_sourcing.html`` shows; group-wide parts only for a full view.

    ``coalition_values``: the run's stored v(S) by members, if the caller read them,
    so the chart of the worst coalitions ranks every coalition checked."""
    currency = str(problem.get("currency", ""))
    shares = {f["agency"]: f for f in (plan.get("fairness") or {}).get("agencies", [])}
    agencies = []
    for g in plan.get("agencies", []):
        if not full and g["agency"] != agency:
            continue
        share = shares.get(g["agency"], {}).get("objective_share")
        alone = g.get("standalone_objective")
        budget, spend = g.get("budget"), g.get("direct_spend")
        agencies.append(
            AgencyLine(
                g["agency"],
                g["allocated_cost"],
                g["standalone_cost"],
                spend,
                budget,
                (100.0 * spend / budget) if budget and spend is not None else None,
                share,
                alone,
                (alone - share) if share is not None and alone is not None else None,
            )
        )
    context: dict[str, Any] = {"v2_agencies": agencies}
    budgets = [a for a in agencies if a.budget_use_pct is not None]
    if budgets:
        context["budget_svg"] = page_markup(
            charts.bar_chart(
                [charts.Bar(a.agency, a.budget_use_pct or 0, money(a.budget)) for a in budgets],
                title="Direct spend as a share of each agency's budget",
                unit="%",
                fmt=lambda v: f"{v:.1f}",
            )
        )
    paired = [a for a in agencies if a.objective_share is not None]
    if paired:
        pairs = [
            bar
            for a in paired
            for bar in (
                charts.Bar(f"{a.agency} pooled", a.objective_share or 0),
                charts.Bar(f"{a.agency} alone", a.standalone_objective or 0),
            )
        ]
        context["share_svg"] = page_markup(
            charts.bar_chart(
                pairs,
                title="Each agency's objective share in the pool beside its value alone",
                unit=currency,
                fmt=lambda v: money(v),
                label_width=_label_width([b.label for b in pairs]),
            )
        )
    if not full:
        return context
    stated = {r["id"]: r for r in problem.get("rules", []) or []}
    rules = [
        RuleLine(
            r["rule"],
            stated.get(r["rule"], {}).get("kind", ""),
            stated.get(r["rule"], {}).get("item", ""),
            stated.get(r["rule"], {}).get("location", "every location"),
            _asked(stated.get(r["rule"], {})),
            _got(r),
            float(r["violation"]),
            float(r["penalty"]),
        )
        for r in plan.get("rules", []) or []
    ]
    context["v2_rules"] = rules
    if rules:
        kept = sum(1 for r in rules if r.kept)
        context["rules_svg"] = page_markup(
            charts.bar_chart(
                [charts.Bar("kept", kept), charts.Bar("broken", len(rules) - kept)],
                title="Award rules the plan kept and broke",
                unit="rules",
                fmt=lambda v: f"{v:.0f}",
            )
        )
    context["v2_surplus"] = [o for o in plan.get("orders", []) if o.get("surplus")]
    context["v2_fees"] = plan.get("fees")
    context["v2_rule_penalty"] = plan.get("rule_penalty")
    context["v2_verdict"] = verdict(plan.get("fairness"), currency)
    worst = worst_coalitions(problem, plan, values=coalition_values)
    context["v2_worst"] = worst
    if worst:
        context["excess_svg"] = page_markup(
            charts.bar_chart(
                [charts.Bar(c.label, c.excess) for c in worst],
                title=(
                    "Excess of the worst coalitions: their objective shares minus their "
                    "value alone (above zero, they would do better on their own)"
                ),
                unit=currency,
                fmt=lambda v: money(v),
                label_width=_label_width([c.label for c in worst]),
                # Orange from a cent of excess up: a coalition that would leave.
                colour_of=lambda v: charts.NEGATIVE if v >= 0.005 else charts.POSITIVE,
            )
        )
    context["v2_fairness"] = plan.get("fairness")
    return context
