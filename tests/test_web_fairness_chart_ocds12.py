"""The plan page's chart of the excess of the worst coalitions (contract v2's fairness).

The chart's bars are the plan's own figures: the coalition its ``fairness`` block
names, with ``max_excess``, and each agency alone, whose excess is its objective
share minus its stand-alone objective. No fairness block, no chart.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.runs.coalitions import stored_objectives
from app.runs.models import Run, StoredCoalition
from app.web.charts import NEGATIVE, POSITIVE
from app.web.deps import templates
from app.web.pages.plan_sourcing import sourcing_context, worst_coalitions
from solver import solve
from tests.test_exchange_ocds import _hand_problem
from tests.test_runs import closed_world
from tests.test_web import sign_in, text_of

EXCESS_TITLE = "Excess of the worst coalitions"


def _three_agencies() -> dict[str, Any]:
    problem = _hand_problem()
    problem["agencies"].append({"id": "WFP", "name": "WFP"})
    problem["needs"].append(
        {
            "id": "n-4",
            "agency": "WFP",
            "item": "mask",
            "location": "L2",
            "quantity": 40,
            "need_by": "2027-01-31",
            "priority": "normal",
        }
    )
    problem["settings"] = {"fairness": "core"}
    return problem


def _excess_svg(markup: str) -> str:
    """The excess chart's <svg> element in a page or fragment."""
    for svg in re.findall(r"<svg.*?</svg>", markup, re.S):
        if EXCESS_TITLE in svg:
            return str(svg)
    raise AssertionError("no excess chart")


def _bars(svg: str) -> list[tuple[str, str, str]]:
    """(label, value as written, colour) of each bar, top to bottom."""
    return [
        (label, value, colour)
        for colour, label, value in re.findall(
            r'<rect [^>]*fill="([^"]+)"[^>]*><title>(.*?): (\S+) [A-Z]{3}</title></rect>', svg
        )
    ]


def _render(context: dict[str, Any], currency: str = "USD") -> str:
    return templates.env.get_template("_plan_sourcing.html").render(**context, currency=currency)


@pytest.fixture(scope="module")
def solved() -> tuple[dict[str, Any], dict[str, Any]]:
    problem = _three_agencies()
    return problem, solve(problem)


@pytest.mark.unit
def test_the_bars_are_the_plans_excesses_largest_first(solved: tuple[Any, Any]) -> None:
    problem, plan = solved
    fairness = plan["fairness"]
    assert fairness["exhaustive"] and fairness["coalitions"] == 6
    shares = {f["agency"]: f["objective_share"] for f in fairness["agencies"]}
    alone = {a["agency"]: a["standalone_objective"] for a in plan["agencies"]}
    expected = {(a,): round(shares[a] - alone[a], 2) for a in shares}
    expected[tuple(fairness["coalition"])] = fairness["max_excess"]
    worst = worst_coalitions(problem, plan)
    assert {c.members: c.excess for c in worst} == pytest.approx(expected)
    assert [c.excess for c in worst] == sorted((c.excess for c in worst), reverse=True)
    # The plan's largest excess is the first bar (no agency alone is worse).
    assert worst[0].excess == fairness["max_excess"]

    svg = _excess_svg(_render(sourcing_context(problem, plan, full=True, agency=None)))
    assert 'role="img"' in svg and "<desc " in svg
    bars = _bars(svg)
    assert [(label, value) for label, value, _ in bars] == [
        (c.label, f"{c.excess:,.2f}".replace("-", "\u2212")) for c in worst
    ]
    # Every excess here is below zero (the plan is stable): shown to the left, as gains.
    assert fairness["stable"] and all(c.excess < 0 for c in worst)
    assert {colour for _, _, colour in bars} == {POSITIVE}


@pytest.mark.unit
def test_a_positive_a_zero_and_a_complement_are_shown_as_such(solved: tuple[Any, Any]) -> None:
    problem, solved_plan = solved
    plan = copy.deepcopy(solved_plan)
    # As a plan whose split favours WFP: IOM and UNHCR together would save 12.5 alone,
    # and IOM's share equals its value alone.
    plan["fairness"].update(stable=False, coalition=["IOM", "UNHCR"], max_excess=12.5)
    iom = next(a for a in plan["agencies"] if a["agency"] == "IOM")
    share = next(f for f in plan["fairness"]["agencies"] if f["agency"] == "IOM")
    iom["standalone_objective"] = share["objective_share"]
    worst = worst_coalitions(problem, plan)
    assert [(c.members, c.excess) for c in worst][:2] == [(("IOM", "UNHCR"), 12.5), (("IOM",), 0.0)]
    # A coalition of all agencies but one is named by the one left out.
    assert worst[0].label == "all but WFP"

    page = _render(sourcing_context(problem, plan, full=True, agency=None))
    bars = _bars(_excess_svg(page))
    assert bars[0] == ("all but WFP", "12.50", NEGATIVE)
    assert bars[1] == ("IOM", "0.00", POSITIVE)
    table = page[page.index('id="worst-coalitions"') :]
    row = re.search(r'data-coalition="IOM,UNHCR">.*?data-field="excess">([^<]*)<', table, re.S)
    assert row is not None and row.group(1) == "12.50"
    assert "Not stable: IOM and UNHCR would do better on their own, by 12.50" in text_of(page)


@pytest.mark.unit
def test_no_chart_without_a_fairness_block_or_a_coalition(solved: tuple[Any, Any]) -> None:
    problem, solved_plan = solved
    plan = {k: v for k, v in solved_plan.items() if k != "fairness"}
    context = sourcing_context(problem, plan, full=True, agency=None)
    assert worst_coalitions(problem, plan) == [] and "excess_svg" not in context
    assert EXCESS_TITLE not in _render(context)
    # One agency with needs: no coalition to check.
    alone = copy.deepcopy(solved_plan)
    alone["fairness"].update(coalitions=0, coalition=None, max_excess=0.0)
    assert worst_coalitions(problem, alone) == []
    # An agency's own view of the plan does not show the group's coalitions.
    own = sourcing_context(problem, solved_plan, full=False, agency="IOM")
    assert "excess_svg" not in own


@pytest.mark.integration
def test_the_plan_page_charts_the_worst_coalitions_of_a_round_with_fairness(
    session: Session, client: TestClient, auth_headers: Any
) -> None:
    world, body = closed_world(session, client, auth_headers)
    run = session.get_one(Run, body["id"], populate_existing=True)
    assert run.plan is not None and run.plan.get("fairness"), "rounds check fairness by default"
    page = sign_in(client, world.tokens["coordinator"]).get(f"/runs/{run.id}/plan")
    assert page.status_code == 200, page.text
    bars = _bars(_excess_svg(page.text))
    # The page ranks every coalition the run stored a value for.
    worst = worst_coalitions(run.problem, run.plan, values=stored_objectives(session, run.id))
    assert len(bars) == len(worst) >= 1
    assert [b[0] for b in bars] == [c.label for c in worst]
    assert bars[0][1] == f"{run.plan['fairness']['max_excess']:,.2f}".replace("-", "\u2212")
    # The same figures in a table beside the chart.
    assert page.text.count("data-coalition=") == len(worst)
    # Beside the chart of each agency's objective share and its value alone.
    assert "objective share in the pool" in page.text


@pytest.mark.integration
def test_with_the_runs_stored_coalition_values_every_coalition_is_ranked(
    session: Session, client: TestClient, auth_headers: Any
) -> None:
    _, body = closed_world(session, client, auth_headers)
    run = session.get_one(Run, body["id"], populate_existing=True)
    assert run.plan is not None
    fairness = run.plan["fairness"]
    stored = session.scalars(sa.select(StoredCoalition).where(StoredCoalition.run_id == run.id))
    values = {
        tuple(json.loads(row.coalition)): float(row.value["objective"])
        for row in stored
        if row.value is not None
    }
    assert len(values) == fairness["coalitions"]
    shares = {f["agency"]: f["objective_share"] for f in fairness["agencies"]}
    expected = sorted(
        (round(sum(shares[a] for a in members) - v, 2) for members, v in values.items()),
        reverse=True,
    )
    worst = worst_coalitions(run.problem, run.plan, values=values)
    assert [c.excess for c in worst] == pytest.approx(expected[:5], abs=0.011)
    # The largest is the plan's own max_excess, for the coalition the plan names.
    assert worst[0].excess == fairness["max_excess"]
    assert sorted(worst[0].members) == sorted(fairness["coalition"])
    context = sourcing_context(
        run.problem, run.plan, full=True, agency=None, coalition_values=values
    )
    bars = _bars(_excess_svg(_render(context)))
    assert [label for label, _, _ in bars] == [c.label for c in worst]
