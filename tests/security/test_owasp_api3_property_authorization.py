"""OWASP API3:2023 Broken Object Property Level Authorization (mass assignment, exposure).

A client sets only the properties its role may set: a need posted or patched with its
agency, status, confirmed priority, author or a price is refused with 422 naming each
property, and nothing is created or changed. Responses never carry token hashes, and
the audit log keeps them out too.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.auth.models import ApiToken
from app.needs.models import Need
from tests.security.world import build_world

pytestmark = pytest.mark.integration

FORBIDDEN_NEED_FIELDS = {
    "agency_id": "OTHER",
    "agency": "OTHER",
    "status": "submitted",
    "confirmed_priority": "critical",
    "effective_priority": "critical",
    "created_by_id": 1,
    "round_id": 999,
    "id": 1,
    "version": 7,
    "unit_price": 0.01,
    "submitted_at": "2026-01-01T00:00:00Z",
}


def _need_body(world: object) -> dict[str, object]:
    ids = world.ids  # type: ignore[attr-defined]
    return {
        "item_id": ids["item"],
        "location_id": ids["location"],
        "quantity": 10,
        "need_by": "2099-01-01",
        "priority": "normal",
    }


def test_a_need_posted_with_properties_it_may_not_set_is_refused(
    session: Session, client: TestClient
) -> None:
    world = build_world(session, client)
    url = f"/api/v1/rounds/{world.ids['open']}/needs"
    headers = world.headers("local_team/own")
    before = session.scalar(sa.select(sa.func.count()).select_from(Need))
    response = client.post(
        url, json={**_need_body(world), **FORBIDDEN_NEED_FIELDS}, headers=headers
    )
    assert response.status_code == 422, response.text
    paths = {issue["path"] for issue in response.json()["errors"]}
    assert paths == {f"$.{name}" for name in FORBIDDEN_NEED_FIELDS}
    assert session.scalar(sa.select(sa.func.count()).select_from(Need)) == before
    for name, value in FORBIDDEN_NEED_FIELDS.items():
        one = client.post(url, json={**_need_body(world), name: value}, headers=headers)
        assert one.status_code == 422, (name, one.text)
    created = client.post(url, json=_need_body(world), headers=headers)
    assert created.status_code == 201
    assert created.json()["agency_id"] == world.a.id
    assert created.json()["status"] == "draft"
    assert created.json()["confirmed_priority"] is None


def test_a_need_patched_with_properties_it_may_not_set_is_refused(
    session: Session, client: TestClient
) -> None:
    world = build_world(session, client)
    url = f"/api/v1/needs/{world.ids['draft_a']}"
    for name, value in FORBIDDEN_NEED_FIELDS.items():
        headers = world.headers("local_team/own") | {"If-Match": world.etag("draft_a")}
        response = client.patch(url, json={name: value}, headers=headers)
        assert response.status_code == 422, (name, response.text)
    need = session.get(Need, world.ids["draft_a"], populate_existing=True)
    assert need is not None
    assert (need.agency_id, need.status.value, need.confirmed_priority) == (
        world.a.id,
        "draft",
        None,
    )


@pytest.mark.parametrize(
    "url,body",
    [
        ("/api/v1/rounds", {"name": "R", "deadline": "2099-01-01T00:00:00Z", "status": "approved"}),
        ("/api/v1/rounds", {"name": "R", "deadline": "2099-01-01T00:00:00Z", "created_by_id": 1}),
        ("/api/v1/tokens", {"name": "t", "user_id": 1}),
        ("/api/v1/tokens", {"name": "t", "token_hash": "0" * 64}),
    ],
)
def test_other_creates_refuse_properties_the_caller_may_not_set(
    url: str, body: dict[str, object], session: Session, client: TestClient
) -> None:
    world = build_world(session, client)
    response = client.post(url, json=body, headers=world.headers("coordinator"))
    assert response.status_code == 422, response.text


def test_a_chief_cannot_approve_for_another_agency_by_naming_it(
    session: Session, client: TestClient
) -> None:
    world = build_world(session, client)
    response = client.post(
        f"/api/v1/runs/{world.ids['run']}/approvals",
        json={"decision": "approved", "agency_id": world.b.id},
        headers=world.headers("chief_of_mission/own"),
    )
    assert response.status_code == 422


def test_no_response_and_no_audit_entry_carries_a_token_hash(
    session: Session, client: TestClient
) -> None:
    world = build_world(session, client)
    created = client.post("/api/v1/tokens", json={"name": "x"}, headers=world.headers("admin"))
    assert set(created.json()) >= {"token", "prefix"} and "token_hash" not in created.json()
    hashes = list(session.scalars(sa.select(ApiToken.token_hash)))
    for url in (
        "/api/v1/tokens",
        "/api/v1/audit?limit=500",
        "/api/v1/me",
        f"/api/v1/users/{world.ids['user']}",
        "/api/v1/users?limit=500",
    ):
        text = client.get(url, headers=world.headers("admin")).text
        assert "token_hash" not in text, url
        assert not [h for h in hashes if h in text], url
