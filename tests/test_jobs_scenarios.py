"""Scenarios of a run and its cost-versus-lateness frontier, through the API.

With ``client`` (one rolled-back session) each scenario's job is solved in the
request, so the answers below already carry figures; in production they answer
``queued`` and the workers solve them in parallel (test_scaleout.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.auth.models import Role
from app.jobs.models import Job, JobKind
from app.scenarios.models import Scenario
from app.settings import get_settings
from solver import solve
from tests.factories import make_user_and_token
from tests.test_runs import World, audit_actions, closed_world

pytestmark = pytest.mark.integration

Headers = Callable[[str], dict[str, str]]


def _post(client: TestClient, world: World, run_id: int, body: Any, **headers: str) -> Any:
    return client.post(
        f"/api/v1/runs/{run_id}/scenarios",
        json=body,
        headers={"Authorization": f"Bearer {world.tokens['coordinator']}", **headers},
    )


def test_scenarios_solve_the_frozen_problem_with_other_settings(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, run = closed_world(session, client, auth_headers)
    base = run["problem"]["settings"]

    cost_only = _post(
        client, world, run["id"], {"name": "cost only", "settings": {"late_penalty_rate": 0}}
    )
    assert cost_only.status_code == 201, cost_only.text
    body = cost_only.json()
    assert body["kind"] == "scenario" and body["name"] == "cost only"
    assert body["state"] == "succeeded" and body["plan"]["status"] == "optimal"
    assert body["settings"]["late_penalty_rate"] == 0 and body["late_penalty_rate"] == 0
    assert body["settings"]["unmet_penalty_rate"] == base["unmet_penalty_rate"]
    assert body["money_cost"] == pytest.approx(body["plan"]["money_cost"])
    assert body["late_unit_days"] == body["plan"]["late_unit_days"]
    assert cost_only.headers["Location"] == f"/api/v1/scenarios/{body['id']}"
    # Exactly what the solver gives on the run's document with those settings.
    again = solve({**run["problem"], "settings": body["settings"]})
    assert again["objective"] == pytest.approx(body["objective"])

    late = _post(client, world, run["id"], {"name": "lateness x10", "late_penalty_factor": 10})
    assert late.json()["late_penalty_rate"] == pytest.approx(base["late_penalty_rate"] * 10)
    faster = _post(
        client,
        world,
        run["id"],
        {"name": "orders in 1 day", "settings": {"order_processing_days": 1}},
    )
    assert faster.json()["settings"]["order_processing_days"] == 1
    # Faster processing cannot make anything later.
    assert faster.json()["late_unit_days"] <= run["plan"]["late_unit_days"]

    headers = auth_headers(world.tokens["coordinator"])
    listing = client.get(f"/api/v1/runs/{run['id']}/scenarios", headers=headers).json()
    assert [s["name"] for s in listing["items"]] == ["cost only", "lateness x10", "orders in 1 day"]
    assert "plan" not in listing["items"][0]
    only_done = client.get(
        f"/api/v1/runs/{run['id']}/scenarios",
        params={"state": "succeeded", "kind": "frontier"},
        headers=headers,
    )
    assert only_done.json()["total"] == 0
    read = client.get(f"/api/v1/scenarios/{body['id']}", headers=headers)
    assert read.status_code == 200 and read.headers["ETag"] and read.json()["job_id"]
    jobs = session.scalars(sa.select(Job).where(Job.run_id == run["id"])).all()
    # Beside the run's own batches of coalitions (its round checks fairness).
    kinds = sorted(j.kind for j in jobs if j.kind != JobKind.coalitions)
    assert kinds == [JobKind.run] + [JobKind.scenario] * 3
    assert audit_actions(session, "scenario", body["id"]) == ["scenario.create", "scenario.finish"]


def test_scenario_requests_are_validated_all_at_once(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, run = closed_world(session, client, auth_headers)
    bad = _post(
        client,
        world,
        run["id"],
        {
            "name": " ",
            "late_penalty_factor": -1,
            "settings": {"order_processing_days": -2, "colour": "red"},
            "run_id": 3,
        },
    )
    assert bad.status_code == 422
    paths = {e["path"] for e in bad.json()["errors"]}
    assert paths == {
        "$.name",
        "$.late_penalty_factor",
        "$.settings.order_processing_days",
        "$.settings.colour",
        "$.run_id",
    }
    assert session.scalar(sa.select(sa.func.count()).select_from(Scenario)) == 0


def test_who_may_create_and_read_scenarios(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, run = closed_world(session, client, auth_headers)
    made = _post(client, world, run["id"], {"name": "cost only"}).json()
    _, admin = make_user_and_token(session, Role.admin)
    for who in ("a_team", "a_chief"):
        refused = client.post(
            f"/api/v1/runs/{run['id']}/scenarios",
            json={"name": "mine"},
            headers=auth_headers(world.tokens[who]),
        )
        assert refused.status_code == 403
        # The round is optimised: members see its scenarios as they see the run.
        seen = client.get(
            f"/api/v1/scenarios/{made['id']}", headers=auth_headers(world.tokens[who])
        )
        assert seen.status_code == 200
    assert (
        client.get(f"/api/v1/scenarios/{made['id']}", headers=auth_headers(admin)).status_code
        == 200
    )
    assert client.get(f"/api/v1/scenarios/{made['id']}").status_code == 401
    coordinator = auth_headers(world.tokens["coordinator"])
    assert client.get("/api/v1/scenarios/999999", headers=coordinator).status_code == 404
    missing = client.post("/api/v1/runs/999999/scenarios", json={"name": "x"}, headers=coordinator)
    assert missing.status_code == 404
    ended = client.post(f"/api/v1/scenarios/{made['id']}/cancel", headers=coordinator)
    assert ended.status_code == 409


def test_a_scenario_post_is_idempotent_with_a_key(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, run = closed_world(session, client, auth_headers)
    body = {"name": "cost only", "settings": {"late_penalty_rate": 0}}
    first = _post(client, world, run["id"], body, **{"Idempotency-Key": "s-1"})
    second = _post(client, world, run["id"], body, **{"Idempotency-Key": "s-1"})
    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json() and second.headers["ETag"] == first.headers["ETag"]
    other = _post(client, world, run["id"], {"name": "other"}, **{"Idempotency-Key": "s-1"})
    assert other.status_code == 422
    assert session.scalar(sa.select(sa.func.count()).select_from(Scenario)) == 1


def test_scenarios_per_run_are_capped(
    session: Session, client: TestClient, auth_headers: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    world, run = closed_world(session, client, auth_headers)
    capped = get_settings().model_copy(update={"jobs_max_scenarios_per_run": 1})
    client.app.dependency_overrides[get_settings] = lambda: capped  # type: ignore[attr-defined]
    try:
        assert _post(client, world, run["id"], {"name": "one"}).status_code == 201
        assert _post(client, world, run["id"], {"name": "two"}).status_code == 409
    finally:
        client.app.dependency_overrides.pop(get_settings, None)  # type: ignore[attr-defined]


def test_the_frontier_trades_money_for_lateness(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, run = closed_world(session, client, auth_headers)
    headers = auth_headers(world.tokens["coordinator"])
    rates = [0, 0.001, 0.02, 0.5, 5]
    made = client.post(
        f"/api/v1/runs/{run['id']}/frontier", json={"late_penalty_rates": rates}, headers=headers
    )
    assert made.status_code == 201, made.text
    assert made.headers["Location"] == f"/api/v1/runs/{run['id']}/frontier"
    frontier = client.get(f"/api/v1/runs/{run['id']}/frontier", headers=headers).json()
    assert frontier["complete"] and frontier["currency"] == "USD"
    points = frontier["points"]
    assert [p["late_penalty_rate"] for p in points] == rates
    assert all(p["state"] == "succeeded" and p["plan_status"] == "optimal" for p in points)
    # Weighing lateness more never buys a later plan, and never a cheaper one.
    lates = [p["late_unit_days"] for p in points]
    costs = [p["money_cost"] for p in points]
    assert lates == sorted(lates, reverse=True)
    assert costs == sorted(costs) or all(c == pytest.approx(costs[0]) for c in costs)
    assert any(p["efficient"] for p in points)
    for p in points:
        if p["efficient"] is False:
            assert any(
                q["money_cost"] <= p["money_cost"] and q["late_unit_days"] <= p["late_unit_days"]
                for q in points
                if q is not p
            )

    # Posting again adds only the weights not solved yet.
    more = client.post(
        f"/api/v1/runs/{run['id']}/frontier", json={"late_penalty_rates": [0, 0.1]}, headers=headers
    )
    assert [p["late_penalty_rate"] for p in more.json()["points"]] == sorted([*rates, 0.1])
    for rates_sent, path in (
        ([0.1, 0.1], "$.late_penalty_rates"),
        ([0.1, -1], "$.late_penalty_rates[1]"),
        ([0.1], "$.late_penalty_rates"),
    ):
        bad = client.post(
            f"/api/v1/runs/{run['id']}/frontier",
            json={"late_penalty_rates": rates_sent},
            headers=headers,
        )
        assert bad.status_code == 422
        assert [e["path"] for e in bad.json()["errors"]] == [path]
    refused = client.post(
        f"/api/v1/runs/{run['id']}/frontier", headers=auth_headers(world.tokens["a_chief"])
    )
    assert refused.status_code == 403
