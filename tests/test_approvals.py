"""Approvals: each chief of mission for their own agency, four-eyes, rejection, binding run."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.audit.models import AuditEntry
from app.auth.models import Role, User
from app.rounds import flows
from app.rounds.models import Round, RoundStatus
from app.runs.models import Approval, Decision, Run
from app.runs.schemas import ApprovalCreate
from tests.factories import make_token, make_user, make_user_and_token
from tests.test_runs import World, audit_actions, build_world, close, closed_world

pytestmark = pytest.mark.integration

Headers = Callable[[str], dict[str, str]]


def decide(client: TestClient, auth_headers: Headers, token: str, run_id: int, **body: Any) -> Any:
    return client.post(
        f"/api/v1/runs/{run_id}/approvals",
        json={"decision": "approved", **body},
        headers=auth_headers(token),
    )


def round_status(session: Session, world: World) -> RoundStatus:
    session.refresh(world.round)
    return world.round.status


def test_every_agency_with_awards_approves_and_the_run_becomes_binding(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, run = closed_world(session, client, auth_headers)
    ids = {k: world.agencies[k].id for k in "abcd"}
    assert run["approval"] == {
        "required": sorted([ids["a"], ids["b"], ids["c"]]),
        "approved": [],
        "rejected": [],
        "pending": sorted([ids["a"], ids["b"], ids["c"]]),
        "complete": False,
    }

    for i, name in enumerate(("a", "b", "c")):
        response = decide(client, auth_headers, world.tokens[f"{name}_chief"], run["id"])
        assert response.status_code == 201, response.text
        approval = response.json()
        assert approval["agency_id"] == ids[name] and approval["decision"] == "approved"
        assert approval["user_id"] == world.users[f"{name}_chief"].id
        assert response.headers["Location"] == f"/api/v1/runs/{run['id']}/approvals/{ids[name]}"
        expected = RoundStatus.approved if i == 2 else RoundStatus.optimised
        assert round_status(session, world) == expected

    read = client.get(f"/api/v1/runs/{run['id']}", headers=auth_headers(world.tokens["d_chief"]))
    body = read.json()
    assert body["binding"] is True and body["approved_at"] is not None
    assert body["approval"]["complete"] is True and body["approval"]["pending"] == []
    stored = session.get_one(Run, run["id"], populate_existing=True)
    assert stored.binding and stored.approved_at is not None

    listing = client.get(
        f"/api/v1/runs/{run['id']}/approvals", headers=auth_headers(world.tokens["a_team"])
    ).json()
    assert listing["total"] == 3
    one = client.get(
        f"/api/v1/runs/{run['id']}/approvals/{ids['b']}",
        headers=auth_headers(world.tokens["a_team"]),
    )
    assert one.status_code == 200 and one.json()["agency_id"] == ids["b"]
    assert (
        client.get(
            f"/api/v1/runs/{run['id']}/approvals/{ids['d']}",
            headers=auth_headers(world.tokens["a_team"]),
        ).status_code
        == 404
    )

    # Audited: each decision, the run made binding, the round approved.
    approval_ids = session.scalars(sa.select(Approval.id).where(Approval.run_id == run["id"]))
    for approval_id in approval_ids:
        assert audit_actions(session, "approval", approval_id) == ["approval.create"]
    assert audit_actions(session, "run", run["id"])[-1] == "run.bind"
    assert audit_actions(session, "round", world.round.id)[-1] == "round.approve"


def test_the_approved_run_is_immutable(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, run = closed_world(session, client, auth_headers)
    for name in ("a", "b", "c"):
        assert (
            decide(client, auth_headers, world.tokens[f"{name}_chief"], run["id"]).status_code
            == 201
        )
    coordinator = auth_headers(world.tokens["coordinator"])
    assert client.post(world.url("/runs"), headers=coordinator).status_code == 409
    assert close(client, world, auth_headers).status_code == 409
    _, token = make_user_and_token(session, Role.chief_of_mission, agency=world.agencies["a"])
    late = decide(client, auth_headers, token, run["id"], decision="rejected", reason="too late")
    assert late.status_code == 409
    # No route changes or removes a run.
    url = f"/api/v1/runs/{run['id']}"
    for method in ("PATCH", "PUT", "DELETE"):
        assert client.request(method, url, headers=coordinator).status_code == 405
    assert round_status(session, world) == RoundStatus.approved
    stored = session.get_one(Run, run["id"], populate_existing=True)
    assert stored.binding and len(stored.approvals) == 3


def test_four_eyes_the_user_who_triggered_the_run_cannot_approve_it(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world = build_world(session)
    # One person holding both roles closes the round, then tries to approve a's share.
    both = make_user(session, Role.coordinator, Role.chief_of_mission, agency=world.agencies["a"])
    token = make_token(session, both)
    run = client.post(world.url("/close"), headers=auth_headers(token)).json()
    refused = decide(client, auth_headers, token, run["id"])
    assert refused.status_code == 403 and "four-eyes" in refused.json()["detail"]
    # Another chief of the same agency may.
    assert decide(client, auth_headers, world.tokens["a_chief"], run["id"]).status_code == 201
    # The same rule for a re-run: its trigger may not decide on it either.
    rerun = client.post(world.url("/runs"), headers=auth_headers(world.tokens["coordinator"]))
    assert rerun.status_code == 201
    assert decide(client, auth_headers, token, rerun.json()["id"]).status_code == 201


def test_a_chief_decides_only_for_their_own_agency(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, run = closed_world(session, client, auth_headers)
    ids = {k: world.agencies[k].id for k in "abcd"}
    # The agency is the chief's own; naming another is mass assignment, refused.
    forged = decide(client, auth_headers, world.tokens["a_chief"], run["id"], agency_id=ids["b"])
    assert forged.status_code == 422
    assert {e["path"] for e in forged.json()["errors"]} == {"$.agency_id"}
    assert session.scalar(sa.select(sa.func.count()).where(Approval.run_id == run["id"])) == 0

    # A chief whose agency has no needs in the run has nothing to approve.
    assert decide(client, auth_headers, world.tokens["d_chief"], run["id"]).status_code == 403
    # Other roles may not decide at all.
    for who in ("a_team", "coordinator", "admin"):
        assert decide(client, auth_headers, world.tokens[who], run["id"]).status_code == 403, who
    assert (
        client.post(
            f"/api/v1/runs/{run['id']}/approvals", json={"decision": "approved"}
        ).status_code
        == 401
    )
    assert decide(client, auth_headers, world.tokens["b_chief"], 999_999).status_code == 404

    b = decide(client, auth_headers, world.tokens["b_chief"], run["id"])
    assert b.status_code == 201 and b.json()["agency_id"] == ids["b"]


def test_one_decision_per_agency_per_run(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, run = closed_world(session, client, auth_headers)
    assert decide(client, auth_headers, world.tokens["a_chief"], run["id"]).status_code == 201
    again = decide(client, auth_headers, world.tokens["a_chief"], run["id"])
    assert again.status_code == 409
    _, colleague = make_user_and_token(session, Role.chief_of_mission, agency=world.agencies["a"])
    change = decide(client, auth_headers, colleague, run["id"], decision="rejected", reason="no")
    assert change.status_code == 409
    assert session.scalar(sa.select(sa.func.count()).where(Approval.run_id == run["id"])) == 1
    assert round_status(session, world) == RoundStatus.optimised


def test_a_decision_is_idempotent_with_a_key(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, run = closed_world(session, client, auth_headers)
    headers = {**auth_headers(world.tokens["a_chief"]), "Idempotency-Key": "approve-a"}
    url = f"/api/v1/runs/{run['id']}/approvals"
    first = client.post(url, json={"decision": "approved"}, headers=headers)
    second = client.post(url, json={"decision": "approved"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true" and second.json() == first.json()
    assert second.headers["Location"] == first.headers["Location"]
    assert session.scalar(sa.select(sa.func.count()).where(Approval.run_id == run["id"])) == 1


def test_a_rejection_needs_a_reason_and_rejects_the_round(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, run = closed_world(session, client, auth_headers)
    token = world.tokens["c_chief"]
    for body in ({}, {"reason": "   "}, {"reason": None}):
        missing = decide(client, auth_headers, token, run["id"], decision="rejected", **body)
        assert missing.status_code == 422, body
    bad = client.post(
        f"/api/v1/runs/{run['id']}/approvals",
        json={"decision": "maybe"},
        headers=auth_headers(token),
    )
    assert bad.status_code == 422
    assert session.scalar(sa.select(sa.func.count()).where(Approval.run_id == run["id"])) == 0

    assert decide(client, auth_headers, world.tokens["a_chief"], run["id"]).status_code == 201
    reason = "the tanks for San Vicente are left unmet"
    rejected = decide(client, auth_headers, token, run["id"], decision="rejected", reason=reason)
    assert rejected.status_code == 201
    assert rejected.json()["decision"] == "rejected" and rejected.json()["reason"] == reason
    assert round_status(session, world) == RoundStatus.rejected
    assert audit_actions(session, "round", world.round.id)[-1] == "round.reject"
    entry = audit_actions(session, "approval", rejected.json()["id"])
    assert entry == ["approval.create"]

    # The rejected run takes no more decisions; a coordinator re-runs.
    assert decide(client, auth_headers, world.tokens["b_chief"], run["id"]).status_code == 409
    state = client.get(
        f"/api/v1/runs/{run['id']}", headers=auth_headers(world.tokens["b_team"])
    ).json()["approval"]
    assert state["rejected"] == [world.agencies["c"].id]
    assert state["approved"] == [world.agencies["a"].id] and state["complete"] is False


def test_a_rerun_after_a_rejection_reopens_the_round_for_decisions(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, run = closed_world(session, client, auth_headers)
    decide(
        client,
        auth_headers,
        world.tokens["c_chief"],
        run["id"],
        decision="rejected",
        reason="more weight on critical needs",
    )
    assert round_status(session, world) == RoundStatus.rejected

    rerun = client.post(
        world.url("/runs"),
        json={"settings": {"priority_weights": {"critical": 50}}},
        headers=auth_headers(world.tokens["coordinator"]),
    )
    assert rerun.status_code == 201 and rerun.json()["number"] == 2
    assert round_status(session, world) == RoundStatus.optimised
    second = rerun.json()["id"]

    # Run #1 is superseded; its decisions stay on record but count no more.
    stale = decide(client, auth_headers, world.tokens["a_chief"], run["id"])
    assert stale.status_code == 409 and "superseded" in stale.json()["detail"]
    for name in ("a", "b", "c"):
        assert (
            decide(client, auth_headers, world.tokens[f"{name}_chief"], second).status_code == 201
        )
    assert round_status(session, world) == RoundStatus.approved
    runs = {
        r.number: r
        for r in session.scalars(
            sa.select(Run)
            .where(Run.round_id == world.round.id)
            .execution_options(populate_existing=True)
        )
    }
    assert runs[2].binding and not runs[1].binding
    decisions = {(a.run_id, a.decision) for a in session.scalars(sa.select(Approval))}
    assert (run["id"], Decision.rejected) in decisions


def test_decisions_wait_for_a_plan_and_for_the_latest_run(
    session: Session, client: TestClient, auth_headers: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.runs import jobs as run_jobs

    world = build_world(session)
    monkeypatch.setattr(run_jobs, "solve", lambda *a, **k: 1 / 0)
    monkeypatch.setattr(run_jobs, "solve_pooled", lambda *a, **k: 1 / 0)
    failed = close(client, world, auth_headers).json()
    monkeypatch.undo()
    assert failed["status"] == "failed"
    assert decide(client, auth_headers, world.tokens["a_chief"], failed["id"]).status_code == 409

    coordinator = auth_headers(world.tokens["coordinator"])
    second = client.post(world.url("/runs"), headers=coordinator).json()
    third = client.post(world.url("/runs"), headers=coordinator).json()
    # A re-run of an optimised round supersedes the run under review.
    assert decide(client, auth_headers, world.tokens["a_chief"], second["id"]).status_code == 409
    assert decide(client, auth_headers, world.tokens["a_chief"], third["id"]).status_code == 201


def test_simultaneous_last_approvals_make_the_run_binding_exactly_once(
    isolated_engine: sa.Engine,
) -> None:
    # Real commits from several connections: the round lock must serialise the decisions,
    # or two "last" approvals could each miss the other and the run never become binding.
    with Session(isolated_engine, expire_on_commit=False) as session:
        world = build_world(session)
        session.commit()
        run = flows.close_round(session, world.users["coordinator"], world.round.id)
        chiefs = [world.users[f"{name}_chief"].id for name in "abc"]
        run_id, round_id = run.id, world.round.id

    start = threading.Barrier(len(chiefs))
    errors: list[str] = []

    def approve(user_id: int) -> None:
        with Session(isolated_engine, expire_on_commit=False) as session:
            chief = session.get_one(User, user_id)
            # End the read's transaction: on SQLite it holds the write lock from BEGIN.
            session.commit()
            start.wait(30)
            try:
                flows.decide(session, chief, run_id, ApprovalCreate(decision="approved"))
            except Exception as exc:
                errors.append(repr(exc))

    threads = [threading.Thread(target=approve, args=(user_id,)) for user_id in chiefs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors

    with Session(isolated_engine) as session:
        run = session.get_one(Run, run_id)
        assert run.binding and len(run.approvals) == 3
        assert session.get_one(Round, round_id).status == RoundStatus.approved
        binds = session.scalar(
            sa.select(sa.func.count()).where(
                AuditEntry.action == "run.bind", AuditEntry.entity_id == str(run_id)
            )
        )
        assert binds == 1
