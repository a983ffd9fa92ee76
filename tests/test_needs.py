"""Needs: own agency only, visibility of drafts, life cycle under the round lock, priority
reviews, duplicates, the 3W summary, and nothing lost while a round closes."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.api import IfMatch, etag_for
from app.audit.models import AuditEntry
from app.audit.service import snapshot
from app.auth.models import Agency, Role, User
from app.catalogue.models import Item, Location
from app.db import make_engine, upgrade_database, utcnow
from app.errors import Conflict
from app.needs import service as needs_service
from app.needs.models import Need, NeedStatus, Priority, PriorityReview
from app.needs.schemas import DUPLICATE_WINDOW_DAYS, NeedCreate
from app.rounds.models import Round, RoundStatus
from app.rounds.service import lock_round, transition
from app.runs.models import Run, RunStatus
from solver.problem import MAX_UNITS
from tests.conftest import DatabaseFactory
from tests.factories import (
    make_agency,
    make_item,
    make_location,
    make_need,
    make_round,
    make_user,
    make_user_and_token,
)

pytestmark = pytest.mark.integration

Headers = Callable[[str], dict[str, str]]

NEEDS = "/api/v1/needs"
NEED_BY = (utcnow() + dt.timedelta(days=30)).date()


@dataclass
class Member:
    user: User
    headers: dict[str, str]


@dataclass
class World:
    round: Round
    iom: Agency
    unhcr: Agency
    iom_team: Member
    iom_team2: Member
    iom_chief: Member
    unhcr_team: Member
    specialist: Member
    coordinator: Member
    admin: Member
    mask: Item
    gloves: Item
    tent: Item
    darien: Location
    chiriqui: Location
    members: dict[str, Member] = field(default_factory=dict)

    @property
    def needs_url(self) -> str:
        return f"/api/v1/rounds/{self.round.id}/needs"


@pytest.fixture
def world(session: Session, auth_headers: Headers) -> World:
    iom, unhcr, paho = make_agency(session), make_agency(session), make_agency(session)

    def member(*roles: Role, agency: Agency | None = None) -> Member:
        user, token = make_user_and_token(session, *roles, agency=agency)
        return Member(user, auth_headers(token))

    return World(
        round=make_round(session),
        iom=iom,
        unhcr=unhcr,
        iom_team=member(Role.local_team, agency=iom),
        iom_team2=member(Role.local_team, agency=iom),
        iom_chief=member(Role.chief_of_mission, agency=iom),
        unhcr_team=member(Role.local_team, agency=unhcr),
        specialist=member(Role.technical_specialist, agency=paho),
        coordinator=member(Role.coordinator),
        admin=member(Role.admin),
        mask=make_item(session, category="PPE"),
        gloves=make_item(session, category="PPE"),
        tent=make_item(session, category="Shelter"),
        darien=make_location(session, name="Lajas Blancas", region="Darién"),
        chiriqui=make_location(session, name="Paso Canoas", region="Chiriquí"),
    )


def _body(world: World, **overrides: Any) -> dict[str, Any]:
    return {
        "item_id": world.mask.id,
        "location_id": world.darien.id,
        "quantity": 5000,
        "need_by": NEED_BY.isoformat(),
        "priority": "normal",
        "justification": "",
    } | overrides


def _create(client: TestClient, world: World, member: Member, **overrides: Any) -> Any:
    response = client.post(world.needs_url, json=_body(world, **overrides), headers=member.headers)
    assert response.status_code == 201, response.text
    return response


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def _errors(response: Any) -> dict[str, str]:
    return {e["path"]: e["reason"] for e in _problem(response, 422)["errors"]}


def _count(session: Session, model: type[Any]) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model)) or 0


def _audit(session: Session, action: str, entity_id: int) -> list[AuditEntry]:
    return list(
        session.scalars(
            sa.select(AuditEntry)
            .where(AuditEntry.action == action, AuditEntry.entity_id == str(entity_id))
            .order_by(AuditEntry.seq)
        )
    )


def _settle(session: Session) -> None:
    """Keep what the test changed by hand across a failing request.

    A request that fails rolls the shared session back to its last commit
    (the test's own savepoint), which would quietly undo a mere flush.
    """
    session.commit()


def _with(member: Member, response: Any) -> dict[str, str]:
    return {**member.headers, "If-Match": response.headers["ETag"]}


def _ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.text
    return [n["id"] for n in response.json()["items"]]


# ------------------------------------------------------------------------ create


def test_a_local_team_creates_a_draft_for_its_own_agency(
    client: TestClient, session: Session, world: World
) -> None:
    response = _create(client, world, world.iom_team, priority="high", justification=" flood ")
    body = response.json()
    assert body["agency_id"] == world.iom.id
    assert body["round_id"] == world.round.id
    assert body["status"] == "draft" and body["submitted_at"] is None
    assert body["priority"] == body["effective_priority"] == "high"
    assert body["confirmed_priority"] is None
    assert body["justification"] == "flood"
    assert body["created_by_id"] == world.iom_team.user.id
    assert body["duplicates"] == []
    need = session.get_one(Need, body["id"])
    assert response.headers["ETag"] == etag_for(need)
    assert response.headers["Location"] == f"{NEEDS}/{need.id}"
    [entry] = _audit(session, "need.create", need.id)
    assert entry.actor_id == world.iom_team.user.id
    assert entry.before is None and entry.after["quantity"] == 5000


def test_a_created_need_is_stored_as_answered_and_audited(
    client: TestClient, session: Session, world: World
) -> None:
    # The row is inserted with every column given and put in the session as if flushed:
    # what the database holds must be what the answer and the audit entry say.
    body = _create(
        client, world, world.iom_team, submit=True, priority="high", justification="flood"
    ).json()
    need = session.get_one(Need, body["id"], populate_existing=True)
    stored = snapshot(need)
    assert stored["status"] == "submitted" and stored["version"] == 1
    assert stored["created_at"] == stored["updated_at"] == stored["submitted_at"]
    [entry] = _audit(session, "need.create", need.id)
    assert entry.after == stored
    for key in stored.keys() & body.keys():
        if key.endswith("_at") and body[key] is not None:  # "Z", where the log has +00:00
            assert dt.datetime.fromisoformat(body[key]) == getattr(need, key), key
        else:
            assert body[key] == stored[key], key


def test_submit_true_creates_it_submitted(client: TestClient, world: World) -> None:
    body = _create(client, world, world.iom_team, submit=True).json()
    assert body["status"] == "submitted" and body["submitted_at"] is not None


def test_the_agency_comes_from_the_user_never_from_the_body(
    client: TestClient, session: Session, world: World
) -> None:
    before = _count(session, Need)
    response = client.post(
        world.needs_url,
        json=_body(
            world, agency_id=world.unhcr.id, status="submitted", confirmed_priority="critical"
        ),
        headers=world.iom_team.headers,
    )
    assert set(_errors(response)) == {"$.agency_id", "$.status", "$.confirmed_priority"}
    assert _count(session, Need) == before


@pytest.mark.parametrize(
    "who", ["iom_chief", "specialist", "coordinator", "admin"], ids=lambda w: w
)
def test_only_local_teams_create_needs(
    client: TestClient, session: Session, world: World, who: str
) -> None:
    before = _count(session, Need)
    member: Member = getattr(world, who)
    _problem(client.post(world.needs_url, json=_body(world), headers=member.headers), 403)
    assert _count(session, Need) == before


def test_a_need_needs_an_open_existing_round(
    client: TestClient, session: Session, world: World
) -> None:
    closed = make_round(session, status=RoundStatus.closed)
    response = client.post(
        f"/api/v1/rounds/{closed.id}/needs", json=_body(world), headers=world.iom_team.headers
    )
    assert "closed" in _problem(response, 409)["detail"]
    response = client.post(
        "/api/v1/rounds/999999/needs", json=_body(world), headers=world.iom_team.headers
    )
    _problem(response, 404)
    _problem(client.post(world.needs_url, json=_body(world)), 401)


def test_every_problem_is_listed_at_once_and_nothing_is_created(
    client: TestClient, session: Session, world: World
) -> None:
    before = _count(session, Need), _count(session, AuditEntry)
    response = client.post(
        world.needs_url,
        json={
            "item_id": "no-such-item",
            "location_id": "no-such-place",
            "quantity": 0,
            "need_by": "2020-01-01",
            "priority": "critical",
            "justification": "   ",
            "submit": "yes",
            "extra": 1,
        },
        headers=world.iom_team.headers,
    )
    errors = _errors(response)
    assert errors == {
        "$.item_id": "no item 'no-such-item'",
        "$.location_id": "no location 'no-such-place'",
        "$.quantity": errors["$.quantity"],
        "$.need_by": "must not be in the past",
        "$.justification": "is required for a critical need",
        "$.submit": errors["$.submit"],
        # In words a field officer reads (issue 14), not the validation library's.
        "$.extra": "is not a field here: remove it (check its spelling)",
    }
    assert errors["$.quantity"] == "must be at least 1"
    assert (_count(session, Need), _count(session, AuditEntry)) == before


@pytest.mark.parametrize(
    ("quantity", "why"),
    [
        # The service's one wording (app.errors.plain_reason), not Pydantic's.
        (-5, "must be at least 1"),
        (2.5, "enter a whole number"),
        ("500", "enter a whole number"),
        (True, "enter a whole number"),
        (None, "enter a whole number"),
        (10**12, f"must be at most {MAX_UNITS:,}"),
    ],
)
def test_quantity_is_a_positive_whole_number(
    client: TestClient, world: World, quantity: Any, why: str
) -> None:
    response = client.post(
        world.needs_url, json=_body(world, quantity=quantity), headers=world.iom_team.headers
    )
    assert why in _errors(response)["$.quantity"]


def test_a_quantity_written_10_0_is_the_integer_10(client: TestClient, world: World) -> None:
    # JSON Schema's integer (the OpenAPI's type) has 10.0 as an integer; so does the API.
    response = _create(client, world, world.iom_team, quantity=10.0)
    assert response.json()["quantity"] == 10


def test_missing_fields_and_bad_values_are_listed(client: TestClient, world: World) -> None:
    response = client.post(world.needs_url, json={}, headers=world.iom_team.headers)
    assert _errors(response) == {
        "$.item_id": "is required",
        "$.location_id": "is required",
        "$.quantity": "is required",
        "$.need_by": "is required",
        "$.priority": "is required",
    }
    response = client.post(
        world.needs_url,
        json=_body(world, priority="urgent", need_by="next week", item_id=7),
        headers=world.iom_team.headers,
    )
    assert set(_errors(response)) == {"$.priority", "$.need_by", "$.item_id"}
    # Parsed by app.api.bodies (as every body is), which says what is wrong with the text.
    for raw, reason in (
        (b"[1, 2]", "the body must be a JSON object"),
        (b"{not json", "malformed JSON: Expecting property name enclosed in double quotes"),
        (b"", "a JSON body is required"),
    ):
        response = client.post(
            world.needs_url,
            content=raw,
            headers={**world.iom_team.headers, "Content-Type": "application/json"},
        )
        assert _errors(response)["$"].startswith(reason), raw


@pytest.mark.parametrize("priority", ["critical", "high"])
def test_critical_and_high_need_a_justification(
    client: TestClient, world: World, priority: str
) -> None:
    response = client.post(
        world.needs_url, json=_body(world, priority=priority), headers=world.iom_team.headers
    )
    assert _errors(response) == {"$.justification": f"is required for a {priority} need"}
    _create(client, world, world.iom_team, priority=priority, justification="outbreak")
    _create(client, world, world.iom_team, priority="normal", justification="")


def test_a_retired_item_or_location_takes_no_new_need(
    client: TestClient, session: Session, world: World
) -> None:
    world.tent.active = False
    world.chiriqui.active = False
    _settle(session)
    response = client.post(
        world.needs_url,
        json=_body(world, item_id=world.tent.id, location_id=world.chiriqui.id),
        headers=world.iom_team.headers,
    )
    assert _errors(response) == {
        "$.item_id": f"item {world.tent.id!r} is retired",
        "$.location_id": f"location {world.chiriqui.id!r} is retired",
    }


def test_a_retried_create_creates_one_need(
    client: TestClient, session: Session, world: World
) -> None:
    headers = {**world.iom_team.headers, "Idempotency-Key": "need-abc"}
    first = client.post(world.needs_url, json=_body(world, submit=True), headers=headers)
    assert first.status_code == 201
    before = _count(session, Need)
    again = client.post(world.needs_url, json=_body(world, submit=True), headers=headers)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Location"] == first.headers["Location"]
    assert _count(session, Need) == before
    other = client.post(world.needs_url, json=_body(world, quantity=1), headers=headers)
    _problem(other, 422)
    # A failed create stores nothing: the same key then works for a valid request.
    headers = {**world.iom_team.headers, "Idempotency-Key": "need-def"}
    _problem(client.post(world.needs_url, json=_body(world, quantity=0), headers=headers), 422)
    assert client.post(world.needs_url, json=_body(world), headers=headers).status_code == 201


def test_the_service_takes_a_typed_body_too(session: Session, world: World) -> None:
    data = NeedCreate(
        item_id=world.tent.id,
        location_id=world.chiriqui.id,
        quantity=40,
        need_by=NEED_BY,
        priority=Priority.normal,
        submit=True,
    )
    need = needs_service.create(session, world.iom_team.user, world.round.id, data)
    assert need.status == NeedStatus.submitted and need.agency_id == world.iom.id


# -------------------------------------------------------------------- visibility


def test_drafts_are_visible_only_to_their_agency(
    client: TestClient, session: Session, world: World
) -> None:
    draft = _create(client, world, world.iom_team).json()
    url = f"{NEEDS}/{draft['id']}"
    for member in (world.iom_team, world.iom_team2, world.iom_chief):
        assert client.get(url, headers=member.headers).status_code == 200
    for member in (world.unhcr_team, world.specialist, world.coordinator, world.admin):
        _problem(client.get(url, headers=member.headers), 404)
        assert draft["id"] not in _ids(client.get(NEEDS, headers=member.headers))
        _problem(client.get(f"{url}/priority-reviews", headers=member.headers), 404)
    # Not even its existence leaks through a write.
    response = client.patch(
        url, json={"quantity": 1}, headers={**world.unhcr_team.headers, "If-Match": "*"}
    )
    _problem(response, 404)
    response = client.post(f"{url}/withdraw", headers={**world.unhcr_team.headers, "If-Match": "*"})
    _problem(response, 404)
    assert session.get_one(Need, draft["id"]).status == NeedStatus.draft


def test_submitted_needs_are_visible_to_every_member(client: TestClient, world: World) -> None:
    need = _create(client, world, world.iom_team, submit=True).json()
    for member in (
        world.unhcr_team,
        world.specialist,
        world.coordinator,
        world.admin,
        world.iom_chief,
    ):
        response = client.get(f"{NEEDS}/{need['id']}", headers=member.headers)
        assert response.status_code == 200 and response.json()["agency_id"] == world.iom.id
        assert need["id"] in _ids(
            client.get(NEEDS, params={"round_id": world.round.id}, headers=member.headers)
        )


def test_a_withdrawn_draft_stays_private_a_withdrawn_submission_stays_public(
    client: TestClient, world: World
) -> None:
    draft = _create(client, world, world.iom_team)
    submitted = _create(client, world, world.iom_team, submit=True)
    for response in (draft, submitted):
        withdrawn = client.post(
            f"{response.headers['Location']}/withdraw", headers=_with(world.iom_team, response)
        )
        assert withdrawn.json()["status"] == "withdrawn"
    seen = _ids(client.get(world.needs_url, headers=world.unhcr_team.headers))
    assert submitted.json()["id"] in seen and draft.json()["id"] not in seen


def test_other_agencies_see_but_may_not_change_a_submitted_need(
    client: TestClient, session: Session, world: World
) -> None:
    created = _create(client, world, world.iom_team, submit=True)
    url = created.headers["Location"]
    for member in (world.unhcr_team, world.iom_chief, world.specialist, world.coordinator):
        headers = {**member.headers, "If-Match": created.headers["ETag"]}
        _problem(client.patch(url, json={"quantity": 1}, headers=headers), 403)
        _problem(client.post(f"{url}/withdraw", headers=headers), 403)
    assert session.get_one(Need, created.json()["id"]).quantity == 5000
    # A colleague of the same agency's local team may.
    response = client.patch(url, json={"quantity": 7}, headers=_with(world.iom_team2, created))
    assert response.status_code == 200 and response.json()["quantity"] == 7


def test_list_filters_and_pages(client: TestClient, session: Session, world: World) -> None:
    a = _create(client, world, world.iom_team, submit=True).json()["id"]
    b = _create(
        client, world, world.iom_team, item_id=world.tent.id, priority="high", justification="x"
    ).json()["id"]
    c = _create(client, world, world.unhcr_team, location_id=world.chiriqui.id, submit=True).json()[
        "id"
    ]
    other_round = make_round(session)
    d = make_need(session, round_=other_round, agency=world.iom, status=NeedStatus.submitted).id
    headers = world.iom_team.headers

    def ids(**params: Any) -> set[int]:
        return set(_ids(client.get(NEEDS, params={"limit": 500, **params}, headers=headers)))

    assert ids(round_id=world.round.id) == {a, b, c}
    assert d in ids(round_id=other_round.id)
    assert ids(round_id=world.round.id, agency_id=world.iom.id) == {a, b}
    assert ids(round_id=world.round.id, item_id=world.tent.id) == {b}
    assert ids(round_id=world.round.id, location_id=world.chiriqui.id) == {c}
    assert ids(round_id=world.round.id, status="draft") == {b}
    assert ids(round_id=world.round.id, priority="high") == {b}
    assert ids(round_id=world.round.id, effective_priority="normal") == {a, c}
    # The round's own list takes the same filters.
    response = client.get(world.needs_url, params={"status": "submitted"}, headers=headers)
    assert set(_ids(response)) == {a, c}
    _problem(client.get("/api/v1/rounds/999999/needs", headers=headers), 404)

    page = client.get(world.needs_url, params={"limit": 2}, headers=headers).json()
    assert [n["id"] for n in page["items"]] == [a, b]
    assert page["total"] == 3 and page["next_offset"] == 2
    page = client.get(world.needs_url, params={"limit": 2, "offset": 2}, headers=headers).json()
    assert [n["id"] for n in page["items"]] == [c] and page["next_offset"] is None
    _problem(client.get(NEEDS, params={"limit": 501}, headers=headers), 422)
    _problem(client.get(NEEDS, params={"status": "lost"}, headers=headers), 422)


# -------------------------------------------------------------------- life cycle


def test_edit_submit_withdraw(client: TestClient, session: Session, world: World) -> None:
    created = _create(client, world, world.iom_team)
    url = created.headers["Location"]
    edited = client.patch(
        url,
        json={"quantity": 6500, "priority": "high", "justification": "school term"},
        headers=_with(world.iom_team, created),
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["quantity"] == 6500 and edited.json()["status"] == "draft"
    assert edited.headers["ETag"] != created.headers["ETag"]

    submitted = client.post(f"{url}/submit", headers=_with(world.iom_team, edited))
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["status"] == "submitted"
    # A retry of the submit, even with the old ETag, is a harmless no-op.
    again = client.post(f"{url}/submit", headers=_with(world.iom_team, edited))
    assert again.status_code == 200 and again.headers["ETag"] == submitted.headers["ETag"]

    # Still editable once submitted, and stays submitted.
    edited = client.patch(url, json={"quantity": 6000}, headers=_with(world.iom_team, submitted))
    assert edited.json()["status"] == "submitted" and edited.json()["quantity"] == 6000

    withdrawn = client.post(f"{url}/withdraw", headers=_with(world.iom_team, edited))
    assert withdrawn.json()["status"] == "withdrawn"
    assert withdrawn.json()["withdrawn_at"] is not None
    headers = _with(world.iom_team, withdrawn)
    _problem(client.patch(url, json={"quantity": 1}, headers=headers), 409)
    _problem(client.post(f"{url}/submit", headers=headers), 409)
    assert client.post(f"{url}/withdraw", headers=headers).status_code == 200

    need_id = created.json()["id"]
    update, *_ = _audit(session, "need.update", need_id)
    assert update.before["quantity"] == 5000 and update.after["quantity"] == 6500
    assert update.before["priority"] == "normal" and update.after["priority"] == "high"
    [submit] = _audit(session, "need.submit", need_id)
    assert submit.before["status"] == "draft" and submit.after["status"] == "submitted"
    [withdraw] = _audit(session, "need.withdraw", need_id)
    assert withdraw.before["status"] == "submitted" and withdraw.after["status"] == "withdrawn"


def test_writes_need_a_fresh_if_match(client: TestClient, session: Session, world: World) -> None:
    created = _create(client, world, world.iom_team)
    url = created.headers["Location"]
    headers = world.iom_team.headers
    _problem(client.patch(url, json={"quantity": 1}, headers=headers), 428)
    _problem(client.post(f"{url}/submit", headers=headers), 428)
    _problem(client.post(f"{url}/withdraw", headers=headers), 428)
    client.patch(url, json={"quantity": 2}, headers=_with(world.iom_team, created))
    stale = _with(world.iom_team, created)
    _problem(client.patch(url, json={"quantity": 3}, headers=stale), 412)
    _problem(client.post(f"{url}/submit", headers=stale), 412)
    _problem(client.post(f"{url}/withdraw", headers=stale), 412)
    need = session.get_one(Need, created.json()["id"])
    assert need.quantity == 2 and need.status == NeedStatus.draft


def test_an_edit_is_judged_on_the_need_as_it_would_be(
    client: TestClient, session: Session, world: World
) -> None:
    created = _create(client, world, world.iom_team)
    url = created.headers["Location"]
    headers = _with(world.iom_team, created)
    # Raising the priority without a justification on file: refused.
    response = client.patch(url, json={"priority": "critical"}, headers=headers)
    assert _errors(response) == {"$.justification": "is required for a critical need"}
    response = client.patch(
        url,
        json={
            "quantity": -1,
            "item_id": "gone",
            "need_by": "2001-01-01",
            "priority": None,
            "agency_id": world.unhcr.id,
            "status": "submitted",
        },
        headers=headers,
    )
    assert set(_errors(response)) == {
        "$.quantity",
        "$.item_id",
        "$.need_by",
        "$.priority",
        "$.agency_id",
        "$.status",
    }
    need = session.get_one(Need, created.json()["id"])
    assert need.priority == Priority.normal and need.quantity == 5000
    assert _audit(session, "need.update", need.id) == []
    # With the justification given in the same edit it is fine; then clearing it is not.
    ok = client.patch(
        url, json={"priority": "critical", "justification": "cholera"}, headers=headers
    )
    assert ok.status_code == 200, ok.text
    response = client.patch(url, json={"justification": ""}, headers=_with(world.iom_team, ok))
    assert _errors(response) == {"$.justification": "is required for a critical need"}


def test_a_need_keeps_its_item_once_the_item_is_retired(
    client: TestClient, session: Session, world: World
) -> None:
    created = _create(client, world, world.iom_team)
    world.mask.active = False
    _settle(session)
    response = client.patch(
        created.headers["Location"],
        json={"item_id": world.mask.id, "quantity": 10},
        headers=_with(world.iom_team, created),
    )
    assert response.status_code == 200, response.text
    # ... but a draft on it can no longer be submitted.
    response = client.post(
        f"{created.headers['Location']}/submit", headers=_with(world.iom_team, response)
    )
    assert _errors(response) == {"$.item_id": f"item {world.mask.id!r} is retired"}


def test_a_draft_whose_date_passed_cannot_be_submitted(
    client: TestClient, session: Session, world: World
) -> None:
    need = make_need(
        session,
        round_=world.round,
        agency=world.iom,
        item=world.mask,
        location=world.darien,
        need_by=utcnow().date() - dt.timedelta(days=1),
        status=NeedStatus.draft,
    )
    _settle(session)
    response = client.post(
        f"{NEEDS}/{need.id}/submit", headers={**world.iom_team.headers, "If-Match": etag_for(need)}
    )
    assert "$.need_by" in _errors(response)
    assert need.status == NeedStatus.draft


@pytest.mark.parametrize("status", [RoundStatus.closed, RoundStatus.optimised])
def test_nothing_changes_once_the_round_is_closed(
    client: TestClient, session: Session, world: World, status: RoundStatus
) -> None:
    draft = _create(client, world, world.iom_team)
    submitted = _create(client, world, world.iom_team, submit=True)
    world.round.status = status
    _settle(session)
    for response in (draft, submitted):
        url = response.headers["Location"]
        headers = {**world.iom_team.headers, "If-Match": "*"}
        _problem(client.patch(url, json={"quantity": 1}, headers=headers), 409)
        _problem(client.post(f"{url}/withdraw", headers=headers), 409)
    _problem(client.post(f"{draft.headers['Location']}/submit", headers=headers), 409)
    _problem(client.post(world.needs_url, json=_body(world), headers=world.iom_team.headers), 409)
    assert session.get_one(Need, draft.json()["id"]).status == NeedStatus.draft
    assert session.get_one(Need, submitted.json()["id"]).quantity == 5000


def test_submitted_needs_is_what_a_snapshot_takes(session: Session, world: World) -> None:
    def need(status: NeedStatus, **kwargs: Any) -> Need:
        return make_need(session, round_=world.round, agency=world.iom, status=status, **kwargs)

    a = need(NeedStatus.submitted, priority=Priority.high)
    need(NeedStatus.draft)
    need(NeedStatus.withdrawn)
    b = need(NeedStatus.submitted)
    b.confirmed_priority = Priority.critical
    make_need(session, status=NeedStatus.submitted)  # another round
    session.flush()
    got = needs_service.submitted_needs(session, world.round.id)
    assert [n.id for n in got] == [a.id, b.id]
    assert [n.effective_priority for n in got] == [Priority.high, Priority.critical]


# -------------------------------------------------------------- priority reviews


def test_a_specialist_confirms_a_priority_with_evidence(
    client: TestClient, session: Session, world: World
) -> None:
    created = _create(
        client, world, world.iom_team, submit=True, priority="high", justification="outbreak"
    )
    url = f"{created.headers['Location']}/priority-reviews"
    review = {
        "priority": "critical",
        "evidence": "suspected measles cases up 40% in 4 weeks",
        "source": "MINSA bulletin week 46",
    }
    response = client.post(url, json=review, headers=world.specialist.headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["priority"] == "critical" and body["evidence"] == review["evidence"]
    assert body["reviewer"]["id"] == world.specialist.user.id
    assert body["reviewer"]["agency_id"] == world.specialist.user.agency_id

    need = client.get(created.headers["Location"], headers=world.unhcr_team.headers).json()
    assert need["priority"] == "high"
    assert need["confirmed_priority"] == need["effective_priority"] == "critical"
    # The agency's ETag moved: its next edit must read the confirmed priority first.
    _problem(
        client.patch(
            created.headers["Location"],
            json={"quantity": 1},
            headers=_with(world.iom_team, created),
        ),
        412,
    )

    second = {"priority": "normal", "evidence": "cases back to baseline", "source": "MINSA 48"}
    assert client.post(url, json=second, headers=world.specialist.headers).status_code == 201
    listed = client.get(url, headers=world.iom_team.headers).json()
    assert [r["priority"] for r in listed["items"]] == ["critical", "normal"]
    assert listed["items"][0]["reviewer"]["name"] == world.specialist.user.name
    assert session.get_one(Need, need["id"]).effective_priority == Priority.normal

    confirms = _audit(session, "need.confirm_priority", need["id"])
    assert [(e.before["confirmed_priority"], e.after["confirmed_priority"]) for e in confirms] == [
        (None, "critical"),
        ("critical", "normal"),
    ]
    assert all(e.actor_id == world.specialist.user.id for e in confirms)
    [review_entry] = _audit(session, "priority_review.create", listed["items"][0]["id"])
    assert review_entry.after["source"] == "MINSA bulletin week 46"


def test_a_review_needs_a_specialist_evidence_and_source(
    client: TestClient, session: Session, world: World
) -> None:
    created = _create(client, world, world.iom_team, submit=True)
    url = f"{created.headers['Location']}/priority-reviews"
    good = {"priority": "high", "evidence": "x", "source": "y"}
    for member in (world.iom_team, world.iom_chief, world.coordinator, world.admin):
        _problem(client.post(url, json=good, headers=member.headers), 403)
    response = client.post(
        url,
        json={"priority": "urgent", "evidence": "  ", "source": "", "need_id": 3},
        headers=world.specialist.headers,
    )
    assert set(_errors(response)) == {"$.priority", "$.evidence", "$.source", "$.need_id"}
    response = client.post(url, json={"priority": "high"}, headers=world.specialist.headers)
    assert set(_errors(response)) == {"$.evidence", "$.source"}
    assert _count(session, PriorityReview) == 0
    assert session.get_one(Need, created.json()["id"]).confirmed_priority is None


def test_only_submitted_needs_of_an_open_round_are_reviewed(
    client: TestClient, session: Session, world: World
) -> None:
    good = {"priority": "high", "evidence": "x", "source": "y"}
    # A draft is invisible to a specialist of another agency.
    draft = _create(client, world, world.iom_team)
    url = f"{draft.headers['Location']}/priority-reviews"
    _problem(client.post(url, json=good, headers=world.specialist.headers), 404)
    # ... and refused for one of its own agency.
    _, token = make_user_and_token(session, Role.technical_specialist, agency=world.iom)
    headers = {"Authorization": f"Bearer {token}"}
    _problem(client.post(url, json=good, headers=headers), 409)

    submitted = _create(client, world, world.iom_team, submit=True)
    url = f"{submitted.headers['Location']}/priority-reviews"
    world.round.status = RoundStatus.closed
    _settle(session)
    assert "frozen" in _problem(client.post(url, json=good, headers=headers), 409)["detail"]
    assert _count(session, PriorityReview) == 0


def test_a_retried_review_is_recorded_once(
    client: TestClient, session: Session, world: World
) -> None:
    created = _create(client, world, world.iom_team, submit=True)
    url = f"{created.headers['Location']}/priority-reviews"
    headers = {**world.specialist.headers, "Idempotency-Key": "review-1"}
    body = {"priority": "high", "evidence": "x", "source": "y"}
    first = client.post(url, json=body, headers=headers)
    again = client.post(url, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert _count(session, PriorityReview) == 1


# -------------------------------------------------------------------- duplicates


def test_overlapping_submissions_of_two_agencies_flag_each_other(
    client: TestClient, world: World
) -> None:
    iom = _create(client, world, world.iom_team, submit=True).json()
    near = (NEED_BY + dt.timedelta(days=DUPLICATE_WINDOW_DAYS)).isoformat()
    unhcr = _create(
        client, world, world.unhcr_team, submit=True, need_by=near, quantity=3000
    ).json()
    assert unhcr["duplicates"] == [
        {
            "id": iom["id"],
            "agency_id": world.iom.id,
            "quantity": 5000,
            "need_by": NEED_BY.isoformat(),
        }
    ]
    for member in (world.iom_team, world.unhcr_team, world.coordinator):
        seen = client.get(f"{NEEDS}/{iom['id']}", headers=member.headers).json()
        assert seen["duplicates"] == [
            {"id": unhcr["id"], "agency_id": world.unhcr.id, "quantity": 3000, "need_by": near}
        ]
    listed = client.get(world.needs_url, headers=world.iom_team.headers).json()["items"]
    assert {n["id"]: [d["id"] for d in n["duplicates"]] for n in listed} == {
        iom["id"]: [unhcr["id"]],
        unhcr["id"]: [iom["id"]],
    }


def test_what_is_not_a_duplicate(client: TestClient, world: World) -> None:
    base = _create(client, world, world.iom_team, submit=True).json()
    far = (NEED_BY + dt.timedelta(days=DUPLICATE_WINDOW_DAYS + 1)).isoformat()
    _create(client, world, world.unhcr_team, submit=True, need_by=far)  # dates too far apart
    _create(client, world, world.unhcr_team, submit=True, location_id=world.chiriqui.id)
    _create(client, world, world.unhcr_team, submit=True, item_id=world.gloves.id)
    _create(client, world, world.iom_team2, submit=True)  # same agency
    _create(client, world, world.unhcr_team)  # a draft
    withdrawn = _create(client, world, world.unhcr_team, submit=True)
    client.post(
        f"{withdrawn.headers['Location']}/withdraw", headers=_with(world.unhcr_team, withdrawn)
    )
    seen = client.get(f"{NEEDS}/{base['id']}", headers=world.iom_team.headers).json()
    assert seen["duplicates"] == []
    pairs = client.get(
        f"/api/v1/rounds/{world.round.id}/duplicates", headers=world.iom_team.headers
    ).json()
    assert pairs["items"] == [] and pairs["total"] == 0


def test_a_draft_is_checked_when_it_is_submitted(client: TestClient, world: World) -> None:
    iom = _create(client, world, world.iom_team, submit=True).json()
    draft = _create(client, world, world.unhcr_team)
    assert draft.json()["duplicates"] == []
    assert (
        client.get(f"{NEEDS}/{iom['id']}", headers=world.iom_team.headers).json()["duplicates"]
        == []
    )
    submitted = client.post(
        f"{draft.headers['Location']}/submit", headers=_with(world.unhcr_team, draft)
    )
    assert [d["id"] for d in submitted.json()["duplicates"]] == [iom["id"]]


def test_the_rounds_duplicate_pairs(client: TestClient, session: Session, world: World) -> None:
    a = _create(client, world, world.iom_team, submit=True).json()
    b = _create(client, world, world.unhcr_team, submit=True, quantity=10).json()
    third = make_agency(session)
    _, token = make_user_and_token(session, Role.local_team, agency=third)
    c = client.post(
        world.needs_url,
        json=_body(
            world, submit=True, quantity=20, need_by=(NEED_BY + dt.timedelta(3)).isoformat()
        ),
        headers={"Authorization": f"Bearer {token}"},
    ).json()
    url = f"/api/v1/rounds/{world.round.id}/duplicates"
    pairs = client.get(url, headers=world.iom_chief.headers).json()
    assert pairs["total"] == 3
    assert [[n["id"] for n in p["needs"]] for p in pairs["items"]] == [
        [a["id"], b["id"]],
        [a["id"], c["id"]],
        [b["id"], c["id"]],
    ]
    assert [p["days_apart"] for p in pairs["items"]] == [0, 3, 3]
    assert all(p["item_id"] == world.mask.id for p in pairs["items"])
    only = client.get(url, params={"agency_id": third.id}, headers=world.iom_chief.headers)
    assert only.json()["total"] == 2
    page = client.get(url, params={"limit": 1, "offset": 1}, headers=world.iom_chief.headers)
    assert page.json()["next_offset"] == 2 and len(page.json()["items"]) == 1
    other_place = client.get(
        url, params={"location_id": world.chiriqui.id}, headers=world.iom_chief.headers
    )
    assert other_place.json()["total"] == 0
    _problem(client.get("/api/v1/rounds/999999/duplicates", headers=world.iom_chief.headers), 404)


# --------------------------------------------------------------------------- 3W


def _three_w(client: TestClient, world: World, member: Member) -> dict[str, Any]:
    response = client.get(f"/api/v1/rounds/{world.round.id}/3w", headers=member.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _rows(body: dict[str, Any]) -> dict[tuple[str, str, str], tuple[int, int, int]]:
    return {
        (r["agency_id"], r["location_id"], r["item_category"]): (
            r["needs"],
            r["quantity_needed"],
            r["quantity_awarded"],
        )
        for r in body["rows"]
    }


def test_three_w_before_and_after_the_round_is_optimised(
    client: TestClient, session: Session, world: World
) -> None:
    a = _create(client, world, world.iom_team, submit=True, quantity=100).json()
    b = _create(client, world, world.iom_team, submit=True, item_id=world.gloves.id, quantity=50)
    _create(client, world, world.iom_team, quantity=999)  # a draft counts for nothing
    c = _create(
        client,
        world,
        world.unhcr_team,
        submit=True,
        item_id=world.tent.id,
        quantity=7,
        location_id=world.chiriqui.id,
    ).json()
    iom, unhcr = world.iom.id, world.unhcr.id
    mask_row = (iom, world.darien.id, "PPE")
    tent_row = (unhcr, world.chiriqui.id, "Shelter")

    everything = _three_w(client, world, world.coordinator)
    assert everything["scope"] == "all" and everything["run_id"] is None
    assert _rows(everything) == {mask_row: (2, 150, 0), tent_row: (1, 7, 0)}
    row = next(r for r in everything["rows"] if r["agency_id"] == iom)
    assert row["location_name"] == "Lajas Blancas" and row["region"] == "Darién"
    assert _rows(_three_w(client, world, world.admin)) == _rows(everything)

    own = _three_w(client, world, world.iom_chief)
    assert own["scope"] == "own_agency" and _rows(own) == {mask_row: (2, 150, 0)}
    assert _rows(_three_w(client, world, world.unhcr_team)) == {tent_row: (1, 7, 0)}
    outsider, token = make_user_and_token(
        session, Role.technical_specialist, agency=make_agency(session)
    )
    nobody = Member(outsider, {"Authorization": f"Bearer {token}"})
    assert _three_w(client, world, nobody)["rows"] == []

    # The round closes and a run's plan awards part of it.
    problem = {
        "needs": [
            {
                "id": f"n-{a['id']}",
                "agency": iom,
                "item": world.mask.id,
                "location": world.darien.id,
            },
            {
                "id": f"n-{b.json()['id']}",
                "agency": iom,
                "item": world.gloves.id,
                "location": world.darien.id,
            },
            {
                "id": f"n-{c['id']}",
                "agency": unhcr,
                "item": world.tent.id,
                "location": world.chiriqui.id,
            },
        ]
    }

    def run(number: int, status: RunStatus, awards: list[tuple[int, int]]) -> Run:
        made = Run(
            round_id=world.round.id,
            number=number,
            status=status,
            problem=problem,
            plan={"awards": [{"need": f"n-{n}", "quantity": q} for n, q in awards]},
            triggered_by_id=world.coordinator.user.id,
        )
        session.add(made)
        session.flush()
        return made

    transition(session, world.round, RoundStatus.closed, world.coordinator.user)
    run(1, RunStatus.succeeded, [(a["id"], 10)])
    latest = run(2, RunStatus.succeeded, [(a["id"], 60), (a["id"], 40), (c["id"], 5)])
    run(3, RunStatus.failed, [(a["id"], 1)])
    # Closed, not optimised yet: agencies still see only their own rows.
    assert _three_w(client, world, world.unhcr_team)["scope"] == "own_agency"

    transition(session, world.round, RoundStatus.optimised, world.coordinator.user)
    for member in (world.unhcr_team, world.iom_chief, world.specialist, world.coordinator):
        body = _three_w(client, world, member)
        assert body["scope"] == "all"
        assert body["run_id"] == latest.id and body["run_number"] == 2
        assert _rows(body) == {mask_row: (2, 150, 100), tent_row: (1, 7, 5)}


def test_three_w_prefers_the_binding_run(
    client: TestClient, session: Session, world: World
) -> None:
    a = _create(client, world, world.iom_team, submit=True, quantity=100).json()
    problem = {
        "needs": [
            {"id": "x", "agency": world.iom.id, "item": world.mask.id, "location": world.darien.id}
        ]
    }
    for number, quantity, binding in ((1, 30, True), (2, 90, False)):
        session.add(
            Run(
                round_id=world.round.id,
                number=number,
                status=RunStatus.succeeded,
                problem=problem,
                plan={"awards": [{"need": "x", "quantity": quantity}]},
                triggered_by_id=world.coordinator.user.id,
                binding=binding,
            )
        )
    world.round.status = RoundStatus.approved
    _settle(session)
    body = _three_w(client, world, world.unhcr_team)
    assert body["run_number"] == 1
    assert _rows(body) == {(world.iom.id, world.darien.id, "PPE"): (1, a["quantity"], 30)}


def test_openapi_documents_the_need_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    create = paths["/api/v1/rounds/{round_id}/needs"]["post"]
    content = create["requestBody"]["content"]["application/json"]
    assert content["examples"] and content["schema"]["required"]
    assert {"401", "403", "404", "409", "422"} <= set(create["responses"])
    patch = paths["/api/v1/needs/{need_id}"]["patch"]
    assert patch["requestBody"]["content"]["application/json"]["examples"]
    assert {"412", "428"} <= set(patch["responses"])
    for path in (
        "/api/v1/needs",
        "/api/v1/needs/{need_id}/submit",
        "/api/v1/needs/{need_id}/withdraw",
        "/api/v1/needs/{need_id}/priority-reviews",
        "/api/v1/rounds/{round_id}/duplicates",
        "/api/v1/rounds/{round_id}/3w",
    ):
        for operation in paths[path].values():
            assert operation["summary"] and operation["responses"]


# ------------------------------------------------------- nothing lost at closing


@pytest.fixture
def committed_db(database_factory: DatabaseFactory) -> Iterator[sessionmaker[Session]]:
    """A database of its own whose commits are real, for writers in several threads."""
    url = database_factory.create()
    upgrade_database(url)
    engine = make_engine(url)
    try:
        yield sessionmaker(bind=engine, expire_on_commit=False)
    finally:
        engine.dispose()


@pytest.mark.slow
def test_every_need_is_in_the_snapshot_or_refused_while_the_round_closes(
    committed_db: sessionmaker[Session],
) -> None:
    with committed_db() as s:
        agencies = [make_agency(s) for _ in range(4)]
        teams = [make_user(s, Role.local_team, agency=a).id for a in agencies]
        coordinator = make_user(s, Role.coordinator).id
        item, location = make_item(s).id, make_location(s).id
        round_id = make_round(s).id
        s.commit()

    enough_before_close = threading.Barrier(len(teams) + 1)
    lock = threading.Lock()
    created: dict[int, int] = {}  # need id -> the quantity its last successful write left
    withdrawn: set[int] = set()
    refused_after: list[str] = []
    snapshot: dict[int, int] = {}
    failures: list[BaseException] = []

    def writer(team_id: int) -> None:
        try:
            refusals, written = 0, 0
            while refusals < 3:
                try:
                    with committed_db() as s:
                        actor = s.get_one(User, team_id)
                        body = {
                            "item_id": item,
                            "location_id": location,
                            "quantity": written + 1,
                            "need_by": NEED_BY.isoformat(),
                            "priority": "normal",
                            "submit": written % 2 == 0,
                        }
                        need = needs_service.create(s, actor, round_id, body)
                        with lock:
                            created[need.id] = need.quantity
                        need = needs_service.update(
                            s, actor, need, {"quantity": need.quantity + 1000}, IfMatch(("*",))
                        )
                        with lock:
                            created[need.id] = need.quantity
                        if need.status == NeedStatus.draft:
                            need = needs_service.submit(s, actor, need, IfMatch(("*",)))
                        elif written % 3 == 0:
                            need = needs_service.withdraw(s, actor, need, IfMatch(("*",)))
                            with lock:
                                withdrawn.add(need.id)
                    written += 1
                    if written == 5:
                        enough_before_close.wait(timeout=60)
                except Conflict as exc:
                    refusals += 1
                    with lock:
                        refused_after.append(exc.detail)
        except BaseException as exc:  # surfaced in the main thread
            failures.append(exc)
            enough_before_close.abort()

    def closer() -> None:
        try:
            enough_before_close.wait(timeout=60)
            with committed_db() as s:
                round_ = lock_round(s, round_id)
                transition(s, round_, RoundStatus.closed, s.get_one(User, coordinator))
                frozen = needs_service.submitted_needs(s, round_id)
                snapshot.update({n.id: n.quantity for n in frozen})
                s.commit()
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in teams]
    threads.append(threading.Thread(target=closer))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures
    assert all(t.is_alive() is False for t in threads)
    assert len(refused_after) == 3 * len(teams)
    assert all("closed" in detail for detail in refused_after)

    with committed_db() as s:
        stored = {n.id: n for n in s.scalars(sa.select(Need).where(Need.round_id == round_id))}
        # Never lost: every create that returned is stored; nothing else is.
        assert set(stored) == set(created)
        # Never half-written: each need is as its last successful write left it.
        assert {i: n.quantity for i, n in stored.items()} == created
        # The snapshot is exactly the submitted needs, with the quantities they end with:
        # nothing changed after the close read them.
        submitted = {i: n.quantity for i, n in stored.items() if n.status == NeedStatus.submitted}
        assert snapshot == submitted
        assert not (set(snapshot) & withdrawn)
        assert all(n.status != NeedStatus.draft for n in stored.values() if n.id in snapshot)
        assert len(snapshot) >= len(teams) * 2  # the writers were well under way
        assert s.get_one(Round, round_id).status == RoundStatus.closed


def test_a_need_write_waits_for_the_close_and_is_then_refused(
    committed_db: sessionmaker[Session],
) -> None:
    with committed_db() as s:
        agency = make_agency(s)
        team = make_user(s, Role.local_team, agency=agency).id
        coordinator = make_user(s, Role.coordinator).id
        item, location = make_item(s).id, make_location(s).id
        round_id = make_round(s).id
        s.commit()
    body = {
        "item_id": item,
        "location_id": location,
        "quantity": 5,
        "need_by": NEED_BY.isoformat(),
        "priority": "normal",
        "submit": True,
    }
    outcome: list[BaseException | Need] = []
    ready, go, done = threading.Event(), threading.Event(), threading.Event()

    def write() -> None:
        try:
            with committed_db() as s:
                actor = s.get_one(User, team)
                s.commit()  # authenticated, as a request is, before the write begins
                ready.set()
                assert go.wait(timeout=10)
                outcome.append(needs_service.create(s, actor, round_id, body))
        except BaseException as exc:
            outcome.append(exc)
        finally:
            done.set()

    writer = threading.Thread(target=write)
    writer.start()
    assert ready.wait(timeout=10)
    with committed_db() as closing:
        round_ = lock_round(closing, round_id)
        transition(closing, round_, RoundStatus.closed, closing.get_one(User, coordinator))
        go.set()
        # The writer is held at the round lock while the close is under way ...
        assert not done.wait(timeout=0.5)
        assert needs_service.submitted_needs(closing, round_id) == []
        closing.commit()
    # ... and once the close commits it reads "closed" and writes nothing.
    writer.join(timeout=30)
    [result] = outcome
    assert isinstance(result, Conflict) and "closed" in result.detail
    with committed_db() as s:
        assert s.scalars(sa.select(Need).where(Need.round_id == round_id)).all() == []
