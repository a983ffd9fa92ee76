"""POST /api/v1/solve with a contract-v2 document: the plan carries every v2 figure."""

from typing import Any

import pytest

from app.solve.schemas import PLAN_SCHEMA
from solver.examples import generate_problem
from tests.test_api_solve import SOLVE, client_for, conforms

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_v2_document_is_solved_with_its_v2_figures() -> None:
    document: dict[str, Any] = generate_problem("small", 0, sourcing=True)
    async with client_for() as client:
        response = await client.post(SOLVE, json=document)

    assert response.status_code == 200, response.text
    plan = response.json()
    assert conforms(plan, PLAN_SCHEMA) == []
    assert plan["status"] in ("optimal", "feasible")
    assert {r["rule"] for r in plan["rules"]} == {r["id"] for r in document["rules"]}
    assert plan["fees"] > 0
    budget = next(a for a in plan["agencies"] if a["budget"] is not None)
    assert budget["direct_spend"] <= budget["budget"]
    assert "budget" in {u["reason"] for u in plan["unmet"]}


async def test_a_fairness_plan_conforms_to_the_documented_schema() -> None:
    document: dict[str, Any] = generate_problem("tiny", 0)
    document["settings"] = {**document.get("settings", {}), "allocation": "least_core"}
    async with client_for() as client:
        response = await client.post(SOLVE, json=document)

    assert response.status_code == 200, response.text
    plan = response.json()
    assert conforms(plan, PLAN_SCHEMA) == []
    fairness = plan["fairness"]
    agencies = {n["agency"] for n in document["needs"]}
    assert fairness["coalitions"] == 2 ** len(agencies) - 2
    assert fairness["epsilon"] is not None
    assert {a["agency"] for a in fairness["agencies"]} == {a["id"] for a in document["agencies"]}
