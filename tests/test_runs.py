"""Closing a round, its frozen snapshot, runs and re-runs, who sees them.

``World`` (also used by the approvals and outputs tests) is a small pooling
group: three agencies with needs, a fourth without, masks that two suppliers
sell, water tanks nobody can deliver to one location, a coordinator, and a
chief of mission and a local team per agency.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.audit.models import AuditEntry
from app.auth.models import Agency, Role, User
from app.needs.models import Need, NeedStatus, Priority
from app.rounds.models import Round, RoundStatus
from app.runs import jobs as run_jobs
from app.runs.models import Run, RunStatus
from app.settings import Settings, get_settings
from solver import solve, validate
from tests.factories import (
    make_agency,
    make_item,
    make_location,
    make_need,
    make_offer,
    make_round,
    make_route,
    make_supplier,
    make_user_and_token,
)

pytestmark = pytest.mark.integration

Headers = Callable[[str], dict[str, str]]
AS_OF = dt.date(2026, 12, 1)


@dataclass
class World:
    round: Round
    agencies: dict[str, Agency]
    needs: dict[str, Need]
    tokens: dict[str, str]
    users: dict[str, User]
    codes: dict[str, str] = field(default_factory=dict)

    def url(self, tail: str = "") -> str:
        return f"/api/v1/rounds/{self.round.id}{tail}"


def build_world(session: Session) -> World:
    """The group, catalogue and an open round with submitted, draft and withdrawn needs."""
    a, b, c, d = (make_agency(session) for _ in range(4))
    mask = make_item(session, name="Respirator N95")
    tank = make_item(session, name="Water tank 1000 l", category="WASH")
    spare = make_item(session, name="Nobody needs this")
    lajas, vicente, far = (make_location(session) for _ in range(3))

    s1, s2, s3, s4 = (make_supplier(session) for _ in range(4))
    make_offer(session, supplier=s1, item=mask, tiers=[(0, "1.20"), (10_000, "1.00")])
    # Expired: must stay out of the snapshot.
    make_offer(session, supplier=s2, item=mask, tiers=[(0, "0.10")], valid_to=dt.date(2026, 6, 30))
    # Piggyback on a's long-term agreement: eligibility names a and d; d has no needs.
    make_offer(
        session,
        supplier=s3,
        item=mask,
        tiers=[(0, "1.10")],
        capacity=3000,
        eligible=[a.id, d.id],
        owner=a,
    )
    make_offer(session, supplier=s4, item=tank, tiers=[(0, "150")])
    make_offer(session, supplier=s4, item=spare, tiers=[(0, "5")])
    for supplier in (s1, s3):
        for location in (lajas, vicente):
            make_route(session, supplier=supplier, location=location)
    make_route(session, supplier=s1, location=far)  # nobody needs anything at `far`
    make_route(session, supplier=s4, location=lajas)  # but not to vicente

    coordinator, coordinator_token = make_user_and_token(session, Role.coordinator)
    round_ = make_round(session, created_by=coordinator, settings={"late_penalty_rate": 0.02})
    round_.as_of = AS_OF

    needs = {
        "a_mask": make_need(
            session,
            round_=round_,
            agency=a,
            item=mask,
            location=lajas,
            quantity=6000,
            priority=Priority.normal,
        ),
        "b_mask": make_need(
            session, round_=round_, agency=b, item=mask, location=vicente, quantity=5000
        ),
        "c_mask": make_need(
            session, round_=round_, agency=c, item=mask, location=lajas, quantity=1000
        ),
        "c_tank": make_need(
            session,
            round_=round_,
            agency=c,
            item=tank,
            location=vicente,
            quantity=20,
            priority=Priority.high,
        ),
        "b_tank": make_need(
            session, round_=round_, agency=b, item=tank, location=lajas, quantity=10
        ),
        "a_draft": make_need(
            session,
            round_=round_,
            agency=a,
            item=mask,
            location=lajas,
            quantity=999,
            status=NeedStatus.draft,
        ),
        "b_withdrawn": make_need(
            session,
            round_=round_,
            agency=b,
            item=mask,
            location=lajas,
            quantity=777,
            status=NeedStatus.withdrawn,
        ),
    }
    # A specialist confirmed a's need as critical: the snapshot must carry that.
    needs["a_mask"].confirmed_priority = Priority.critical

    users: dict[str, User] = {"coordinator": coordinator}
    tokens = {"coordinator": coordinator_token}
    for name, agency in (("a", a), ("b", b), ("c", c), ("d", d)):
        for role, suffix in ((Role.chief_of_mission, "chief"), (Role.local_team, "team")):
            user, token = make_user_and_token(session, role, agency=agency)
            users[f"{name}_{suffix}"], tokens[f"{name}_{suffix}"] = user, token
    users["admin"], tokens["admin"] = make_user_and_token(session, Role.admin)
    users["nobody"], tokens["nobody"] = make_user_and_token(session, Role.technical_specialist)
    users["nobody"].agency_id = None
    session.flush()
    return World(
        round=round_,
        agencies={"a": a, "b": b, "c": c, "d": d},
        needs=needs,
        tokens=tokens,
        users=users,
        codes={
            "mask": mask.id,
            "tank": tank.id,
            "spare": spare.id,
            "lajas": lajas.id,
            "vicente": vicente.id,
            "far": far.id,
            "s1": s1.id,
            "s2": s2.id,
            "s3": s3.id,
            "s4": s4.id,
        },
    )


def close(client: TestClient, world: World, auth_headers: Headers, **headers: str) -> Any:
    return client.post(
        world.url("/close"), headers={**auth_headers(world.tokens["coordinator"]), **headers}
    )


def closed_world(session: Session, client: TestClient, auth_headers: Headers) -> tuple[World, dict]:
    world = build_world(session)
    response = close(client, world, auth_headers)
    assert response.status_code == 201, response.text
    return world, response.json()


def audit_actions(session: Session, entity_type: str, entity_id: object) -> list[str]:
    return list(
        session.scalars(
            sa.select(AuditEntry.action)
            .where(AuditEntry.entity_type == entity_type, AuditEntry.entity_id == str(entity_id))
            .order_by(AuditEntry.seq)
        )
    )


TIMING = ("seconds", "stages")


def comparable(plan: dict[str, Any]) -> dict[str, Any]:
    """A plan without the solver's timing, the only part that differs between two solves."""
    return {**plan, "solver": {k: v for k, v in plan["solver"].items() if k not in TIMING}}


# ------------------------------------------------------------------------ close


def test_close_freezes_the_snapshot_solves_it_and_optimises_the_round(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, run = closed_world(session, client, auth_headers)

    assert run["number"] == 1 and run["status"] == "succeeded" and run["scope"] == "full"
    assert run["plan_status"] == "optimal" and run["binding"] is False
    session.refresh(world.round)
    assert world.round.status == RoundStatus.optimised and world.round.closed_at is not None

    problem = run["problem"]
    assert problem["as_of"] == "2026-12-01" and problem["currency"] == "USD"
    by_id = {n["id"]: n for n in problem["needs"]}
    submitted = ("a_mask", "b_mask", "c_mask", "c_tank", "b_tank")
    assert set(by_id) == {f"n-{world.needs[k].id}" for k in submitted}
    # The confirmed priority, not the one asked for.
    assert by_id[f"n-{world.needs['a_mask'].id}"]["priority"] == "critical"
    assert by_id[f"n-{world.needs['c_tank'].id}"]["priority"] == "high"
    assert {a["id"] for a in problem["agencies"]} == {world.agencies[k].id for k in "abc"}
    codes = world.codes
    assert {i["id"] for i in problem["items"]} == {codes["mask"], codes["tank"]}
    assert {loc["id"] for loc in problem["locations"]} == {codes["lajas"], codes["vicente"]}
    assert {o["supplier"] for o in problem["offers"]} == {codes["s1"], codes["s3"], codes["s4"]}
    assert {s["id"] for s in problem["suppliers"]} == {codes["s1"], codes["s3"], codes["s4"]}
    assert {(r["supplier"], r["location"]) for r in problem["routes"]} == {
        (codes["s1"], codes["lajas"]),
        (codes["s1"], codes["vicente"]),
        (codes["s3"], codes["lajas"]),
        (codes["s3"], codes["vicente"]),
        (codes["s4"], codes["lajas"]),
    }
    # Eligibility names only agencies the document lists (d has no needs).
    lta = next(o for o in problem["offers"] if o["supplier"] == codes["s3"])
    assert lta["eligible_agencies"] == [world.agencies["a"].id]
    # Settings written out in full: the round's own, the rest the contract's defaults.
    assert problem["settings"]["late_penalty_rate"] == 0.02
    assert problem["settings"]["unmet_penalty_rate"] == 10.0
    validate(problem)

    stored = session.get_one(Run, run["id"], populate_existing=True)
    assert stored.status == RunStatus.succeeded and stored.plan == run["plan"]
    assert stored.problem == problem and stored.triggered_by_id == world.users["coordinator"].id
    assert float(stored.money_cost or 0) == run["plan"]["money_cost"] == run["money_cost"]
    assert stored.solver_stats == run["plan"]["solver"] and stored.objective == run["objective"]
    assert stored.progress is not None and stored.progress["state"] == "done"
    assert stored.started_at is not None and stored.finished_at is not None
    assert audit_actions(session, "run", run["id"]) == ["run.create", "run.start", "run.finish"]
    assert audit_actions(session, "round", world.round.id) == ["round.close", "round.optimise"]


def test_stored_plan_equals_a_fresh_solve_of_the_stored_document(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    _, run = closed_world(session, client, auth_headers)
    stored = session.get_one(Run, run["id"], populate_existing=True)
    assert stored.plan is not None
    assert comparable(solve(stored.problem)) == comparable(stored.plan)
    # The run's own figures come from that plan.
    assert stored.plan_status is not None and stored.plan_status.value == stored.plan["status"]


def test_close_needs_an_open_round_and_a_coordinator(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world = build_world(session)
    for who in ("a_chief", "a_team", "admin"):
        response = client.post(world.url("/close"), headers=auth_headers(world.tokens[who]))
        assert response.status_code == 403, who
    assert client.post(world.url("/close")).status_code == 401
    missing = client.post(
        "/api/v1/rounds/999999/close", headers=auth_headers(world.tokens["coordinator"])
    )
    assert missing.status_code == 404
    assert close(client, world, auth_headers).status_code == 201
    again = close(client, world, auth_headers)
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
    assert session.scalar(sa.select(sa.func.count()).where(Run.round_id == world.round.id)) == 1


def test_a_snapshot_that_breaks_the_contract_is_refused_and_nothing_changes(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world = build_world(session)
    world.round.settings = {"late_penalty_rate": -1, "allocation": "by-lottery"}
    session.flush()
    response = close(client, world, auth_headers)
    assert response.status_code == 409
    body = response.json()
    assert body["title"] == "Snapshot invalid"
    assert {e["path"] for e in body["errors"]} == {
        "$.settings.late_penalty_rate",
        "$.settings.allocation",
    }
    session.refresh(world.round)
    assert world.round.status == RoundStatus.open and world.round.closed_at is None
    assert session.scalar(sa.select(sa.func.count()).where(Run.round_id == world.round.id)) == 0


def test_close_takes_the_closing_day_when_the_round_has_no_as_of(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world = build_world(session)
    world.round.as_of = None
    session.flush()
    run = close(client, world, auth_headers).json()
    session.refresh(world.round)
    assert world.round.closed_at is not None
    assert run["problem"]["as_of"] == world.round.closed_at.date().isoformat()


def test_close_is_idempotent_with_a_key(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world = build_world(session)
    first = close(client, world, auth_headers, **{"Idempotency-Key": "close-1"})
    second = close(client, world, auth_headers, **{"Idempotency-Key": "close-1"})
    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert (
        second.headers["Location"]
        == first.headers["Location"]
        == f"/api/v1/runs/{first.json()['id']}"
    )
    assert second.headers["ETag"] == first.headers["ETag"]
    assert session.scalar(sa.select(sa.func.count()).where(Run.round_id == world.round.id)) == 1


def test_a_failed_solve_is_stored_and_leaves_the_round_closed(
    session: Session, client: TestClient, auth_headers: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = build_world(session)

    def broken(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise RuntimeError("HiGHS crashed")

    monkeypatch.setattr(run_jobs, "solve", broken)
    monkeypatch.setattr(run_jobs, "solve_pooled", broken)  # fairness checked: coalition jobs
    response = close(client, world, auth_headers)
    assert response.status_code == 201
    run = response.json()
    assert run["status"] == "failed" and run["plan"] is None
    assert "HiGHS crashed" in run["error"] and run["progress"]["state"] == "failed"
    session.refresh(world.round)
    assert world.round.status == RoundStatus.closed

    # Outputs need a plan.
    headers = auth_headers(world.tokens["coordinator"])
    assert client.get(f"/api/v1/runs/{run['id']}/unmet", headers=headers).status_code == 409

    # A re-run from the same snapshot recovers.
    monkeypatch.undo()
    rerun = client.post(world.url("/runs"), headers=headers)
    assert rerun.status_code == 201 and rerun.json()["status"] == "succeeded"
    assert rerun.json()["number"] == 2 and rerun.json()["problem"] == run["problem"]
    session.refresh(world.round)
    assert world.round.status == RoundStatus.optimised


# ---------------------------------------------------------------------- re-runs


def test_rerun_makes_run_2_from_the_same_snapshot(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, first = closed_world(session, client, auth_headers)
    # The live data move on after the close; the snapshot must not.
    world.needs["b_mask"].quantity = 1
    world.round.settings = {"late_penalty_rate": 5}
    session.flush()

    response = client.post(world.url("/runs"), headers=auth_headers(world.tokens["coordinator"]))
    assert response.status_code == 201, response.text
    second = response.json()
    assert second["number"] == 2 and second["id"] != first["id"]
    assert second["problem"] == first["problem"]
    assert comparable(second["plan"]) == comparable(first["plan"])
    assert response.headers["Location"] == f"/api/v1/runs/{second['id']}"

    listing = client.get(world.url("/runs"), headers=auth_headers(world.tokens["coordinator"]))
    assert [r["number"] for r in listing.json()["items"]] == [2, 1]
    assert "problem" not in listing.json()["items"][0]


def test_rerun_with_settings_overrides(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, first = closed_world(session, client, auth_headers)
    body = {
        "settings": {
            "unmet_penalty_rate": 0.5,
            "priority_weights": {"critical": 25},
            "time_limit_seconds": 3600,
        }
    }
    response = client.post(
        world.url("/runs"), json=body, headers=auth_headers(world.tokens["coordinator"])
    )
    assert response.status_code == 201, response.text
    second = response.json()
    settings = second["problem"]["settings"]
    assert settings["unmet_penalty_rate"] == 0.5
    assert settings["priority_weights"] == {"critical": 25.0, "high": 3.0, "normal": 1.0}
    assert settings["late_penalty_rate"] == 0.02  # the snapshot's, untouched
    assert settings["time_limit_seconds"] == get_settings().max_solve_seconds  # capped
    assert {k: v for k, v in second["problem"].items() if k != "settings"} == {
        k: v for k, v in first["problem"].items() if k != "settings"
    }
    stored = session.get_one(Run, second["id"], populate_existing=True)
    assert stored.plan is not None
    assert comparable(solve(stored.problem)) == comparable(stored.plan)


def test_rerun_overrides_are_validated_all_at_once_and_nothing_is_created(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, _ = closed_world(session, client, auth_headers)
    body = {
        "settings": {
            "late_penalty_rate": -1,
            "order_processing_days": "5",
            "allocation": "lottery",
            "priority_weights": {"urgent": 4},
            "colour": "red",
        },
        "status": "succeeded",
    }
    response = client.post(
        world.url("/runs"), json=body, headers=auth_headers(world.tokens["coordinator"])
    )
    assert response.status_code == 422
    paths = {e["path"] for e in response.json()["errors"]}
    assert {
        "$.settings.late_penalty_rate",
        "$.settings.order_processing_days",
        "$.settings.allocation",
        "$.settings.priority_weights.urgent",
        "$.settings.colour",
        "$.status",
    } <= paths
    assert session.scalar(sa.select(sa.func.count()).where(Run.round_id == world.round.id)) == 1


def test_rerun_is_refused_while_open_while_running_and_once_approved(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world = build_world(session)
    headers = auth_headers(world.tokens["coordinator"])
    assert client.post(world.url("/runs"), headers=headers).status_code == 409  # open

    run = close(client, world, auth_headers).json()
    stored = session.get_one(Run, run["id"])
    stored.status = RunStatus.running
    session.flush()
    busy = client.post(world.url("/runs"), headers=headers)
    assert busy.status_code == 409 and "running" in busy.json()["detail"]
    stored.status = RunStatus.succeeded
    session.flush()

    for name in ("a", "b", "c"):
        decided = client.post(
            f"/api/v1/runs/{run['id']}/approvals",
            json={"decision": "approved"},
            headers=auth_headers(world.tokens[f"{name}_chief"]),
        )
        assert decided.status_code == 201, decided.text
    session.refresh(world.round)
    assert world.round.status == RoundStatus.approved
    assert client.post(world.url("/runs"), headers=headers).status_code == 409
    assert close(client, world, auth_headers).status_code == 409
    assert session.scalar(sa.select(sa.func.count()).where(Run.round_id == world.round.id)) == 1


def test_rerun_needs_a_coordinator(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, _ = closed_world(session, client, auth_headers)
    for who in ("a_chief", "a_team", "admin"):
        assert (
            client.post(world.url("/runs"), headers=auth_headers(world.tokens[who])).status_code
            == 403
        )


def test_rerun_is_idempotent_with_a_key(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, _ = closed_world(session, client, auth_headers)
    headers = {**auth_headers(world.tokens["coordinator"]), "Idempotency-Key": "rerun-1"}
    first = client.post(world.url("/runs"), json={}, headers=headers)
    second = client.post(world.url("/runs"), json={}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.json()["id"] == first.json()["id"] and second.json()["number"] == 2
    other = client.post(
        world.url("/runs"), json={"settings": {"relative_gap": 0.01}}, headers=headers
    )
    assert other.status_code == 422  # same key, another request
    assert session.scalar(sa.select(sa.func.count()).where(Run.round_id == world.round.id)) == 2


# ------------------------------------------------------------------- visibility


def _fail_first_run(
    session: Session, client: TestClient, auth_headers: Headers, monkeypatch: pytest.MonkeyPatch
) -> tuple[World, dict[str, Any]]:
    """A round left closed (its run failed), so it is not yet open to member agencies."""
    world = build_world(session)
    monkeypatch.setattr(run_jobs, "solve", lambda *a, **k: 1 / 0)
    monkeypatch.setattr(run_jobs, "solve_pooled", lambda *a, **k: 1 / 0)
    run = close(client, world, auth_headers).json()
    monkeypatch.undo()
    return world, run


def test_before_optimised_an_agency_sees_only_its_own_needs(
    session: Session, client: TestClient, auth_headers: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    world, run = _fail_first_run(session, client, auth_headers, monkeypatch)
    url = f"/api/v1/runs/{run['id']}"

    full = client.get(url, headers=auth_headers(world.tokens["coordinator"]))
    assert full.status_code == 200 and full.json()["scope"] == "full"
    assert "ETag" in full.headers
    assert len(full.json()["problem"]["needs"]) == 5

    own = client.get(url, headers=auth_headers(world.tokens["c_team"])).json()
    assert own["scope"] == "own_agency"
    assert {n["agency"] for n in own["problem"]["needs"]} == {world.agencies["c"].id}
    assert len(own["problem"]["needs"]) == 2
    assert own["money_cost"] is None and own["solver_stats"] is None

    nothing = client.get(url, headers=auth_headers(world.tokens["d_chief"])).json()
    assert nothing["scope"] == "own_agency" and nothing["problem"]["needs"] == []

    # A user acting for no agency, without the coordinator role, does not see it at all.
    assert client.get(url, headers=auth_headers(world.tokens["nobody"])).status_code == 404
    assert (
        client.get(world.url("/runs"), headers=auth_headers(world.tokens["nobody"])).status_code
        == 404
    )
    listing = client.get(world.url("/runs"), headers=auth_headers(world.tokens["a_team"])).json()
    assert [r["id"] for r in listing["items"]] == [run["id"]]

    # Consolidated orders are not theirs to see yet; nothing to see without a plan anyway.
    orders = client.get(f"{url}/purchase-orders", headers=auth_headers(world.tokens["a_team"]))
    assert orders.status_code == 403


def test_once_optimised_every_member_agency_sees_runs_in_full(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, run = closed_world(session, client, auth_headers)
    url = f"/api/v1/runs/{run['id']}"
    for who in ("a_team", "d_chief", "c_chief", "admin"):
        response = client.get(url, headers=auth_headers(world.tokens[who]))
        assert response.status_code == 200, who
        assert response.json()["scope"] == "full" and response.json()["plan"] == run["plan"]
    assert client.get(url, headers=auth_headers(world.tokens["nobody"])).status_code == 404
    assert (
        client.get(
            "/api/v1/runs/999999", headers=auth_headers(world.tokens["coordinator"])
        ).status_code
        == 404
    )
    assert client.get(url).status_code == 401


def test_run_list_filters_and_pagination(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, _ = closed_world(session, client, auth_headers)
    headers = auth_headers(world.tokens["coordinator"])
    client.post(world.url("/runs"), headers=headers)
    page = client.get(world.url("/runs"), params={"limit": 1}, headers=headers).json()
    assert page["total"] == 2 and len(page["items"]) == 1 and page["next_offset"] == 1
    assert (
        client.get(world.url("/runs"), params={"status": "failed"}, headers=headers).json()["total"]
        == 0
    )
    assert (
        client.get(world.url("/runs"), params={"binding": "true"}, headers=headers).json()["total"]
        == 0
    )
    too_many = client.get(world.url("/runs"), params={"limit": 10_000}, headers=headers)
    assert too_many.status_code == 422


def test_the_solve_time_limit_is_capped_by_the_service_settings(
    session: Session, client: TestClient, auth_headers: Headers, app: FastAPI
) -> None:
    world = build_world(session)
    world.round.settings = {"time_limit_seconds": 600}
    session.flush()
    capped = Settings(max_solve_seconds=7)
    app.dependency_overrides[get_settings] = lambda: capped
    try:
        run = close(client, world, auth_headers).json()
    finally:
        app.dependency_overrides.pop(get_settings, None)
    assert run["problem"]["settings"]["time_limit_seconds"] == 7


# --------------------------------------------------------------- access matrix

# Who calls: the agency "a" has needs in the round, "d" has none; "nobody" acts for
# no agency and is no coordinator; None sends no token.
CALLERS = [
    "coordinator",
    "admin",
    "a_team",
    "d_team",
    "a_spec",
    "a_chief",
    "d_chief",
    "nobody",
    None,
]

# Status per route once the round is optimised (run #1 succeeded), for each caller.
MATRIX: dict[str, dict[str | None, int]] = {
    "POST close": {"coordinator": 409, None: 401, "*": 403},
    "POST runs": {"coordinator": 201, None: 401, "*": 403},
    "GET runs": {"nobody": 404, None: 401, "*": 200},
    "GET run": {"nobody": 404, None: 401, "*": 200},
    "GET approvals": {"nobody": 404, None: 401, "*": 200},
    "GET purchase-orders": {"nobody": 404, None: 401, "*": 200},
    "GET cost-statements": {"nobody": 404, None: 401, "*": 200},
    "GET unmet": {"nobody": 404, None: 401, "*": 200},
    # Chief of an agency with needs decides; of one without, has nothing to decide.
    "POST approvals": {"a_chief": 201, "d_chief": 403, "nobody": 403, None: 401, "*": 403},
}


@pytest.mark.parametrize("caller", CALLERS)
def test_access_matrix(
    session: Session, client: TestClient, auth_headers: Headers, caller: str | None
) -> None:
    world, run = closed_world(session, client, auth_headers)
    _, world.tokens["a_spec"] = make_user_and_token(
        session, Role.technical_specialist, agency=world.agencies["a"]
    )
    headers = auth_headers(world.tokens[caller]) if caller else {}
    base = f"/api/v1/runs/{run['id']}"
    calls = {
        "GET runs": ("GET", world.url("/runs"), None),
        "GET run": ("GET", base, None),
        "GET approvals": ("GET", f"{base}/approvals", None),
        "GET purchase-orders": ("GET", f"{base}/purchase-orders", None),
        "GET cost-statements": ("GET", f"{base}/cost-statements", None),
        "GET unmet": ("GET", f"{base}/unmet", None),
        "POST close": ("POST", world.url("/close"), None),
        "POST approvals": ("POST", f"{base}/approvals", {"decision": "approved"}),
        "POST runs": ("POST", world.url("/runs"), None),
    }
    for name, (method, url, body) in calls.items():
        expected = MATRIX[name].get(caller, MATRIX[name]["*"])
        response = client.request(method, url, json=body, headers=headers)
        assert response.status_code == expected, (name, caller, response.text)
