"""Rounds: open and change them (coordinators), read them (everyone), the lock and life cycle."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.api import etag_for
from app.audit.models import AuditEntry
from app.auth.models import Role, User
from app.db import utcnow
from app.errors import Conflict, NotFound
from app.rounds.models import Round, RoundStatus
from app.rounds.service import ALLOWED_TRANSITIONS, lock_round, transition
from app.runs.snapshot import build_document
from solver.problem import Settings as SolverSettings
from tests.factories import make_agency, make_round, make_user, make_user_and_token

pytestmark = pytest.mark.integration

Headers = Callable[[str], dict[str, str]]

ROUNDS = "/api/v1/rounds"


def _future(days: int = 10) -> str:
    return (utcnow() + dt.timedelta(days=days)).isoformat()


def _body(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Darién PPE, December",
        "deadline": _future(),
        "as_of": "2026-12-07",
        "currency": "USD",
        "settings": {"late_penalty_rate": 0.02, "priority_weights": {"critical": 20}},
    } | overrides


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def _paths(response: Any) -> set[str]:
    return {e["path"] for e in _problem(response, 422)["errors"]}


def _rounds(session: Session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(Round)) or 0


def _audit(session: Session, action: str, entity_id: int) -> list[AuditEntry]:
    return list(
        session.scalars(
            sa.select(AuditEntry)
            .where(AuditEntry.action == action, AuditEntry.entity_id == str(entity_id))
            .order_by(AuditEntry.seq)
        )
    )


@pytest.fixture
def coordinator(session: Session, auth_headers: Headers) -> tuple[User, dict[str, str]]:
    user, token = make_user_and_token(session, Role.coordinator)
    return user, auth_headers(token)


# ------------------------------------------------------------------------ create


def test_a_coordinator_opens_a_round(
    client: TestClient, session: Session, coordinator: tuple[User, dict[str, str]]
) -> None:
    user, headers = coordinator
    response = client.post(ROUNDS, json=_body(), headers=headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "open"
    assert body["created_by_id"] == user.id
    assert body["as_of"] == "2026-12-07"
    assert body["closed_at"] is None
    # Stored: only what was set; shown with defaults as effective_settings.
    assert body["settings"] == {"late_penalty_rate": 0.02, "priority_weights": {"critical": 20.0}}
    assert body["effective_settings"]["priority_weights"] == {
        "critical": 20.0,
        "high": 3.0,
        "normal": 1.0,
    }
    assert body["effective_settings"]["unmet_penalty_rate"] == 10.0
    assert response.headers["Location"] == f"{ROUNDS}/{body['id']}"
    round_ = session.get_one(Round, body["id"])
    assert response.headers["ETag"] == etag_for(round_)
    # What is stored is what the solver takes.
    SolverSettings.model_validate(round_.settings)
    [entry] = _audit(session, "round.create", round_.id)
    assert entry.actor_id == user.id
    assert entry.before is None and entry.after["name"] == "Darién PPE, December"


def test_an_admin_may_open_a_round(
    client: TestClient, session: Session, auth_headers: Headers
) -> None:
    _, token = make_user_and_token(session, Role.admin)
    response = client.post(ROUNDS, json=_body(settings={}), headers=auth_headers(token))
    assert response.status_code == 201, response.text
    assert response.json()["settings"] == {}
    assert response.json()["currency"] == "USD"


@pytest.mark.parametrize(
    "role", [Role.local_team, Role.technical_specialist, Role.chief_of_mission]
)
def test_other_roles_may_not_open_a_round(
    client: TestClient, session: Session, auth_headers: Headers, role: Role
) -> None:
    _, token = make_user_and_token(session, role)
    before = _rounds(session)
    _problem(client.post(ROUNDS, json=_body(), headers=auth_headers(token)), 403)
    assert _rounds(session) == before


def test_no_token_is_401(client: TestClient) -> None:
    _problem(client.post(ROUNDS, json=_body()), 401)
    _problem(client.get(ROUNDS), 401)
    _problem(client.get(f"{ROUNDS}/1"), 401)


def test_every_bad_field_is_listed_and_nothing_is_created(
    client: TestClient, session: Session, coordinator: tuple[User, dict[str, str]]
) -> None:
    _, headers = coordinator
    before = _rounds(session)
    body = {
        "name": "   ",
        "deadline": "2020-01-01T00:00:00Z",
        "as_of": "someday",
        "currency": "usd",
        "status": "approved",
        "settings": {
            "late_penalty_rate": -1,
            "unmet_penalty_rate": "10",
            "order_processing_days": 2.5,
            "time_limit_seconds": 0,
            "relative_gap": True,
            "allocation": "equal",
            "priority_weights": {"urgent": 5, "high": -3},
            "late_penalty_rat": 0.1,
        },
    }
    paths = _paths(client.post(ROUNDS, json=body, headers=headers))
    assert paths == {
        "$.name",
        "$.deadline",
        "$.as_of",
        "$.currency",
        "$.status",
        "$.settings.late_penalty_rate",
        "$.settings.unmet_penalty_rate",
        "$.settings.order_processing_days",
        "$.settings.time_limit_seconds",
        "$.settings.relative_gap",
        "$.settings.allocation",
        "$.settings.priority_weights.urgent",
        "$.settings.priority_weights.high",
        "$.settings.late_penalty_rat",
    }
    assert _rounds(session) == before


@pytest.mark.parametrize(
    ("deadline", "reason"),
    [
        ("2030-01-01T00:00:00", "timezone"),  # naive: which midnight?
        ("2020-01-01T00:00:00+00:00", "future"),
        ("tomorrow", "datetime"),
    ],
)
def test_the_deadline_is_aware_and_in_the_future(
    client: TestClient,
    coordinator: tuple[User, dict[str, str]],
    deadline: str,
    reason: str,
) -> None:
    _, headers = coordinator
    response = client.post(ROUNDS, json=_body(deadline=deadline), headers=headers)
    [error] = _problem(response, 422)["errors"]
    assert error["path"] == "$.deadline"
    assert reason in error["reason"].lower()


def test_missing_fields_are_listed(
    client: TestClient, coordinator: tuple[User, dict[str, str]]
) -> None:
    assert _paths(client.post(ROUNDS, json={}, headers=coordinator[1])) == {"$.name", "$.deadline"}


def test_a_null_setting_takes_its_default(
    client: TestClient, coordinator: tuple[User, dict[str, str]]
) -> None:
    settings = {"late_penalty_rate": None, "priority_weights": {"high": None, "normal": 2}}
    response = client.post(ROUNDS, json=_body(settings=settings), headers=coordinator[1])
    assert response.status_code == 201, response.text
    assert response.json()["settings"] == {"priority_weights": {"normal": 2.0}}
    assert response.json()["effective_settings"]["late_penalty_rate"] == 0.01


@pytest.mark.parametrize("fairness", [None, "none", "core"])
def test_effective_settings_are_the_settings_a_run_of_the_round_uses(
    client: TestClient, session: Session, coordinator: tuple[User, dict[str, str]], fairness: Any
) -> None:
    """A round checks fairness unless its coordinator turned it off; the API says so."""
    settings = {} if fairness is None else {"fairness": fairness}
    response = client.post(ROUNDS, json=_body(settings=settings), headers=coordinator[1])
    assert response.status_code == 201, response.text
    shown = response.json()["effective_settings"]
    assert shown["fairness"] == (fairness or "core")
    round_ = session.get_one(Round, response.json()["id"])
    frozen = build_document(session, round_, dt.date(2026, 12, 7))["settings"]
    assert frozen == shown


def test_a_retried_create_opens_one_round(
    client: TestClient, session: Session, coordinator: tuple[User, dict[str, str]]
) -> None:
    headers = {**coordinator[1], "Idempotency-Key": "round-dec-1"}
    body = _body()
    first = client.post(ROUNDS, json=body, headers=headers)
    before = _rounds(session)
    again = client.post(ROUNDS, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Location"] == first.headers["Location"]
    assert _rounds(session) == before
    other = client.post(ROUNDS, json=_body(name="Other"), headers=headers)
    assert _problem(other, 422)["title"] == "Idempotency key reused"


# -------------------------------------------------------------------------- read


def test_everyone_lists_and_reads_rounds(
    client: TestClient, session: Session, auth_headers: Headers
) -> None:
    open_ = make_round(session)
    closed = make_round(session, status=RoundStatus.closed)
    _, token = make_user_and_token(session, Role.local_team)
    headers = auth_headers(token)

    response = client.get(ROUNDS, params={"status": "closed", "limit": 500}, headers=headers)
    assert response.status_code == 200, response.text
    ids = [r["id"] for r in response.json()["items"]]
    assert closed.id in ids and open_.id not in ids
    assert all(r["status"] == "closed" for r in response.json()["items"])

    response = client.get(f"{ROUNDS}/{open_.id}", headers=headers)
    assert response.status_code == 200
    assert response.json()["name"] == open_.name
    assert response.headers["ETag"] == etag_for(open_)
    _problem(client.get(f"{ROUNDS}/999999", headers=headers), 404)


def test_rounds_list_newest_first_in_capped_pages(
    client: TestClient, session: Session, auth_headers: Headers
) -> None:
    made = [make_round(session) for _ in range(3)]
    _, token = make_user_and_token(session, Role.chief_of_mission)
    headers = auth_headers(token)
    first = client.get(ROUNDS, params={"limit": 2}, headers=headers).json()
    assert len(first["items"]) == 2 and first["next_offset"] == 2
    assert [r["id"] for r in first["items"]] == [made[2].id, made[1].id]
    assert first["total"] >= 3
    _problem(client.get(ROUNDS, params={"limit": 100_000}, headers=headers), 422)
    _problem(client.get(ROUNDS, params={"status": "paused"}, headers=headers), 422)


# ------------------------------------------------------------------------ update


def test_a_coordinator_changes_an_open_round(
    client: TestClient, session: Session, coordinator: tuple[User, dict[str, str]]
) -> None:
    user, headers = coordinator
    created = client.post(ROUNDS, json=_body(), headers=headers)
    url = created.headers["Location"]
    new_deadline = _future(20)
    response = client.patch(
        url,
        json={
            "name": "Renamed",
            "deadline": new_deadline,
            "as_of": None,
            "settings": {"unmet_penalty_rate": 12},
        },
        headers={**headers, "If-Match": created.headers["ETag"]},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["name"] == "Renamed"
    assert body["as_of"] is None
    assert body["currency"] == "USD"
    # Settings are replaced whole.
    assert body["settings"] == {"unmet_penalty_rate": 12.0}
    assert response.headers["ETag"] != created.headers["ETag"]
    [entry] = _audit(session, "round.update", body["id"])
    assert entry.before["name"] == "Darién PPE, December" and entry.after["name"] == "Renamed"
    assert entry.before["as_of"] == "2026-12-07" and entry.after["as_of"] is None
    assert entry.actor_id == user.id


def test_an_update_needs_a_fresh_if_match(
    client: TestClient, session: Session, coordinator: tuple[User, dict[str, str]]
) -> None:
    _, headers = coordinator
    created = client.post(ROUNDS, json=_body(), headers=headers)
    url = created.headers["Location"]
    _problem(client.patch(url, json={"name": "X"}, headers=headers), 428)
    ok = client.patch(
        url, json={"name": "X"}, headers={**headers, "If-Match": created.headers["ETag"]}
    )
    assert ok.status_code == 200
    stale = client.patch(
        url, json={"name": "Y"}, headers={**headers, "If-Match": created.headers["ETag"]}
    )
    _problem(stale, 412)
    assert session.get_one(Round, created.json()["id"]).name == "X"


def test_an_update_lists_every_bad_field_and_changes_nothing(
    client: TestClient, session: Session, coordinator: tuple[User, dict[str, str]]
) -> None:
    _, headers = coordinator
    created = client.post(ROUNDS, json=_body(), headers=headers)
    response = client.patch(
        created.headers["Location"],
        json={
            "name": None,
            "deadline": "2001-01-01T00:00:00Z",
            "currency": None,
            "settings": {"allocation": "x"},
            "status": "closed",
            "created_by_id": 1,
        },
        headers={**headers, "If-Match": created.headers["ETag"]},
    )
    assert _paths(response) == {
        "$.name",
        "$.deadline",
        "$.currency",
        "$.settings.allocation",
        "$.status",
        "$.created_by_id",
    }
    round_ = session.get_one(Round, created.json()["id"])
    assert round_.name == "Darién PPE, December" and round_.status == RoundStatus.open


def test_a_closed_round_cannot_be_changed(
    client: TestClient, session: Session, coordinator: tuple[User, dict[str, str]]
) -> None:
    round_ = make_round(session, status=RoundStatus.closed)
    response = client.patch(
        f"{ROUNDS}/{round_.id}",
        json={"name": "Late"},
        headers={**coordinator[1], "If-Match": etag_for(round_)},
    )
    assert "closed" in _problem(response, 409)["detail"]


def test_only_coordinators_and_admins_change_rounds(
    client: TestClient, session: Session, auth_headers: Headers
) -> None:
    round_ = make_round(session)
    agency = make_agency(session)
    for role in (Role.local_team, Role.chief_of_mission, Role.technical_specialist):
        _, token = make_user_and_token(session, role, agency=agency)
        response = client.patch(
            f"{ROUNDS}/{round_.id}",
            json={"name": "Mine"},
            headers={**auth_headers(token), "If-Match": etag_for(round_)},
        )
        _problem(response, 403)
    _, token = make_user_and_token(session, Role.admin)
    response = client.patch(
        f"{ROUNDS}/{round_.id}",
        json={"name": "Admin's"},
        headers={**auth_headers(token), "If-Match": etag_for(round_)},
    )
    assert response.status_code == 200, response.text
    response = client.patch(
        f"{ROUNDS}/999999",
        json={"name": "Nobody's"},
        headers={**auth_headers(token), "If-Match": "*"},
    )
    _problem(response, 404)


# -------------------------------------------------------------- lock, life cycle


def test_the_life_cycle_runs_open_closed_optimised_approved(session: Session) -> None:
    actor = make_user(session, Role.coordinator)
    round_ = make_round(session)
    etags = [etag_for(round_)]
    for status in (RoundStatus.closed, RoundStatus.optimised, RoundStatus.approved):
        moved = transition(session, lock_round(session, round_.id), status, actor)
        assert moved is round_ and round_.status == status
        etags.append(etag_for(round_))
    assert len(set(etags)) == 4
    assert round_.closed_at is not None and round_.closed_at <= utcnow()
    actions = [
        e.action
        for e in session.scalars(
            sa.select(AuditEntry)
            .where(AuditEntry.entity_type == "round", AuditEntry.entity_id == str(round_.id))
            .order_by(AuditEntry.seq)
        )
    ]
    assert actions == ["round.close", "round.optimise", "round.approve"]
    close = _audit(session, "round.close", round_.id)[0]
    assert close.before["status"] == "open" and close.after["status"] == "closed"
    assert close.before["closed_at"] is None and close.after["closed_at"] is not None
    assert close.actor_id == actor.id


def test_a_rejected_round_can_be_run_again_and_a_rerun_moves_the_etag(session: Session) -> None:
    round_ = make_round(session, status=RoundStatus.optimised)
    before = etag_for(round_)
    transition(session, round_, RoundStatus.optimised, "scheduler")
    assert round_.status == RoundStatus.optimised and etag_for(round_) != before
    transition(session, round_, RoundStatus.rejected, "cli")
    transition(session, round_, RoundStatus.optimised, None)
    assert round_.status == RoundStatus.optimised
    names = [e.actor_name for e in _audit(session, "round.optimise", round_.id)]
    assert names == ["scheduler", "system"]


@pytest.mark.parametrize("start", list(RoundStatus))
def test_forbidden_moves_are_409_and_change_nothing(session: Session, start: RoundStatus) -> None:
    round_ = make_round(session, status=start)
    version = round_.version
    for target in RoundStatus:
        if target in ALLOWED_TRANSITIONS[start]:
            continue
        with pytest.raises(Conflict) as caught:
            transition(session, round_, target, "test")
        assert caught.value.status == 409
        assert round_.status == start and round_.version == version
    assert _audit(session, "round.close", round_.id) == []


def test_the_allowed_moves_are_exactly_the_life_cycle() -> None:
    allowed = {(a, b) for a, targets in ALLOWED_TRANSITIONS.items() for b in targets}
    s = RoundStatus
    assert allowed == {
        (s.open, s.closed),
        (s.closed, s.optimised),
        (s.optimised, s.optimised),
        (s.optimised, s.approved),
        (s.optimised, s.rejected),
        (s.rejected, s.optimised),
    }


def test_transition_reads_the_committed_status_not_a_stale_copy(session: Session) -> None:
    round_ = make_round(session)
    # Someone else closed it behind this session's back (a plain UPDATE bypasses
    # the identity map, as another transaction's commit would).
    session.execute(
        sa.update(Round)
        .where(Round.id == round_.id)
        .values(status=RoundStatus.closed, version=Round.version + 1),
        execution_options={"synchronize_session": False},
    )
    assert round_.status == RoundStatus.open  # the stale copy
    with pytest.raises(Conflict):
        transition(session, round_, RoundStatus.closed, "test")
    assert lock_round(session, round_.id).status == RoundStatus.closed


def test_lock_round_of_a_missing_round_is_404(session: Session) -> None:
    with pytest.raises(NotFound):
        lock_round(session, 987654)


def test_openapi_documents_the_round_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    create = paths["/api/v1/rounds"]["post"]
    assert create["summary"]
    assert {"401", "403", "422"} <= set(create["responses"])
    assert create["requestBody"]["content"]["application/json"]["schema"]
    patch = paths["/api/v1/rounds/{round_id}"]["patch"]
    assert {"409", "412", "428"} <= set(patch["responses"])
