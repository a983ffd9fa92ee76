"""A need the round accepts is one the round can solve; one that still blocks a close is
named by the close and can be set aside by a coordinator, with a reason its agency reads.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.db import utcnow
from app.needs.models import Need, NeedStatus
from app.needs.schemas import LATEST_NEED_BY, MAX_QUANTITY
from app.runs.models import Run
from solver.problem import LATEST_YEAR, MAX_UNITS
from tests.factories import make_need
from tests.security.world import World, build_world

pytestmark = pytest.mark.integration

REASON = "need_by 9999-12-31 cannot be planned; correct the date and submit it again"


@pytest.fixture
def world(session: Session, client: TestClient) -> World:
    return build_world(session, client)


def _need(world: World, **fields: Any) -> dict[str, Any]:
    body = {
        "item_id": world.ids["item"],
        "location_id": world.ids["location"],
        "quantity": 10,
        "need_by": (utcnow().date() + dt.timedelta(days=20)).isoformat(),
        "priority": "normal",
        "submit": True,
    }
    return body | fields


def test_the_bounds_are_the_solvers() -> None:
    assert dt.date(LATEST_YEAR, 12, 31) == LATEST_NEED_BY
    assert MAX_QUANTITY == MAX_UNITS


def test_a_need_the_round_cannot_solve_is_refused_at_submission(
    world: World, client: TestClient
) -> None:
    url = f"/api/v1/rounds/{world.ids['open']}/needs"
    headers = world.headers("local_team/own")
    refused = client.post(
        url, json=_need(world, need_by="9999-12-31", quantity=MAX_UNITS + 1), headers=headers
    )
    assert refused.status_code == 422, refused.text
    assert {e["path"] for e in refused.json()["errors"]} == {"$.need_by", "$.quantity"}
    latest = client.post(
        url, json=_need(world, need_by=LATEST_NEED_BY.isoformat()), headers=headers
    )
    assert latest.status_code == 201, latest.text
    later = LATEST_NEED_BY + dt.timedelta(days=1)
    changed = client.patch(
        f"/api/v1/needs/{latest.json()['id']}",
        json={"need_by": later.isoformat()},
        headers={**headers, "If-Match": latest.headers["ETag"]},
    )
    assert changed.status_code == 422, changed.text
    # The bulk import takes the same rule (its fast path included).
    table = (
        "item,location,quantity,need_by,priority,justification\n"
        f"{world.ids['item']},{world.ids['location']},5,9999-12-31,normal,\n"
    )
    imported = client.post(
        f"{url}/import", files={"file": ("n.csv", table.encode(), "text/csv")}, headers=headers
    )
    assert imported.status_code == 422, imported.text


def _blocking_need(session: Session, world: World) -> Need:
    # Stored before submissions were bounded (or by a path that does not check).
    need = make_need(
        session,
        round_=world.rows["open"],
        agency=world.a,
        item=world.rows["item"],
        location=world.rows["location"],
        created_by=world.users["local_team/own"],
        need_by=dt.date(9999, 12, 31),
    )
    session.commit()
    return need


def test_the_close_names_the_need_and_a_coordinator_sets_it_aside(
    session: Session, world: World, client: TestClient
) -> None:
    need = _blocking_need(session, world)
    close = f"/api/v1/rounds/{world.ids['open']}/close"
    blocked = client.post(close, headers=world.headers("coordinator"))
    assert blocked.status_code == 409, blocked.text
    problem = blocked.json()
    assert f"Blocked by need {need.id}" in problem["detail"]
    assert any(
        e["path"].endswith(".need_by")
        and e["reason"].startswith(f"need {need.id} of {world.a.id}:")
        for e in problem["errors"]
    ), problem

    url = f"/api/v1/needs/{need.id}/set-aside"
    read = client.get(f"/api/v1/needs/{need.id}", headers=world.headers("coordinator"))
    etag = {"If-Match": read.headers["ETag"]}
    for caller in ("local_team/own", "technical_specialist/own", "chief_of_mission/own"):
        forbidden = client.post(
            url, json={"reason": REASON}, headers={**world.headers(caller), **etag}
        )
        assert forbidden.status_code == 403, (caller, forbidden.text)
    no_reason = client.post(
        url, json={"reason": " "}, headers={**world.headers("coordinator"), **etag}
    )
    assert no_reason.status_code == 422
    unconditional = client.post(url, json={"reason": REASON}, headers=world.headers("coordinator"))
    assert unconditional.status_code == 428

    done = client.post(
        url, json={"reason": REASON}, headers={**world.headers("coordinator"), **etag}
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "set_aside"
    assert done.json()["set_aside_reason"] == REASON
    assert done.json()["set_aside_by_id"] == world.users["coordinator"].id

    # The agency is told: on its need, and in the need's audit trail.
    seen = client.get(f"/api/v1/needs/{need.id}", headers=world.headers("local_team/own")).json()
    assert (seen["status"], seen["set_aside_reason"]) == ("set_aside", REASON)
    trail = client.get(
        f"/api/v1/audit?entity_type=need&entity_id={need.id}", headers=world.headers("coordinator")
    ).json()["items"]
    entry = next(e for e in trail if e["action"] == "need.set_aside")
    assert entry["after"]["set_aside_reason"] == REASON
    assert entry["before"]["status"] == "submitted"

    closed = client.post(close, headers=world.headers("coordinator"))
    assert closed.status_code == 201, closed.text
    run = session.get(Run, closed.json()["id"])
    assert run is not None and run.problem is not None
    refs = {line["id"] for line in run.problem["needs"]}
    assert f"n-{need.id}" not in refs and f"n-{world.ids['submitted_a']}" in refs


def test_a_need_set_aside_can_be_corrected_and_submitted_again(
    session: Session, world: World, client: TestClient
) -> None:
    need = _blocking_need(session, world)
    coordinator = world.headers("coordinator")
    etag = client.get(f"/api/v1/needs/{need.id}", headers=coordinator).headers["ETag"]
    aside = client.post(
        f"/api/v1/needs/{need.id}/set-aside",
        json={"reason": REASON},
        headers={**coordinator, "If-Match": etag},
    )
    assert aside.status_code == 200, aside.text
    team = world.headers("local_team/own")
    fixed = client.patch(
        f"/api/v1/needs/{need.id}",
        json={"need_by": (utcnow().date() + dt.timedelta(days=30)).isoformat()},
        headers={**team, "If-Match": aside.headers["ETag"]},
    )
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["status"] == "set_aside"
    again = client.post(
        f"/api/v1/needs/{need.id}/submit", headers={**team, "If-Match": fixed.headers["ETag"]}
    )
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "submitted"
    assert again.json()["set_aside_reason"] is None
    session.expire_all()
    assert session.get(Need, need.id).status == NeedStatus.submitted  # type: ignore[union-attr]


def test_only_a_submitted_need_of_an_open_round_is_set_aside(
    world: World, client: TestClient
) -> None:
    coordinator = world.headers("coordinator")
    for name, status in (("draft_a", 409), ("done_need", 409)):
        etag = client.get(f"/api/v1/needs/{world.ids[name]}", headers=coordinator)
        if etag.status_code == 404:  # a draft is not visible to the coordinator
            continue
        response = client.post(
            f"/api/v1/needs/{world.ids[name]}/set-aside",
            json={"reason": REASON},
            headers={**coordinator, "If-Match": etag.headers["ETag"]},
        )
        assert response.status_code == status, (name, response.text)
