"""OWASP API1:2023 Broken Object Level Authorization, across agencies.

The route-by-route rules (every route that takes an id, own vs other agency) are in
``test_access_matrix.py``; here: that the matrix aims every id-taking route at an
object, and that ids cannot be probed: another agency's draft answers exactly as an id
that never existed, on every route that takes a need id.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.security.test_access_matrix import ROUTES, WEB_ROUTES
from tests.security.world import DRAFT_MARKER, build_world

pytestmark = pytest.mark.integration

NEED_ROUTES = [
    ("GET", "/api/v1/needs/{id}"),
    ("PATCH", "/api/v1/needs/{id}"),
    ("POST", "/api/v1/needs/{id}/submit"),
    ("POST", "/api/v1/needs/{id}/withdraw"),
    ("POST", "/api/v1/needs/{id}/priority-reviews"),
    ("GET", "/api/v1/needs/{id}/priority-reviews"),
]


def test_every_route_with_an_id_is_aimed_at_an_object() -> None:
    for key, call in {**ROUTES, **WEB_ROUTES}.items():
        if re.search(r"\{\w+_id\}|\{kind\}", key):
            assert (
                re.search(r"\{\w+\}", call.path)
                or "/templates/" in call.path
                or ("/catalogue/" in call.path)
            ), f"{key} is called without an object: {call.path}"


@pytest.mark.parametrize("method,template", NEED_ROUTES)
def test_another_agencys_draft_is_indistinguishable_from_no_need(
    method: str, template: str, session: Session, client: TestClient
) -> None:
    world = build_world(session, client)
    other = world.headers("local_team/other") | {"If-Match": "*"}
    draft = world.ids["draft_a"]
    absent = max(world.ids[k] for k in ("draft_a", "submitted_a", "draft_b", "submitted_b"))
    absent += 10_000

    seen = client.request(method, template.format(id=draft), headers=other, json={})
    never = client.request(method, template.format(id=absent), headers=other, json={})

    assert seen.status_code == never.status_code == 404
    # The same answer but for the number itself: nothing tells the draft exists.
    assert seen.json()["detail"].replace(str(draft), "N") == never.json()["detail"].replace(
        str(absent), "N"
    )
    assert DRAFT_MARKER not in seen.text


def test_lists_never_show_another_agencys_draft(session: Session, client: TestClient) -> None:
    world = build_world(session, client)
    for caller in ("local_team/other", "chief_of_mission/other", "coordinator", "admin"):
        for url in (
            "/api/v1/needs?limit=500",
            f"/api/v1/needs?round_id={world.ids['open']}&agency_id={world.a.id}",
            f"/api/v1/rounds/{world.ids['open']}/needs?status=draft",
            f"/api/v1/rounds/{world.ids['open']}/needs.hxl.csv?status=draft",
            f"/api/v1/rounds/{world.ids['open']}/duplicates",
            f"/api/v1/rounds/{world.ids['open']}/3w",
        ):
            response = client.get(url, headers=world.headers(caller))
            assert response.status_code == 200, (caller, url, response.text)
            assert DRAFT_MARKER not in response.text, (caller, url)
            if url.startswith("/api/v1/needs") or "/needs?" in url:
                ids = {n["id"] for n in response.json()["items"]}
                assert world.ids["draft_a"] not in ids, (caller, url)
    own = client.get("/api/v1/needs?status=draft", headers=world.headers("local_team/own"))
    assert world.ids["draft_a"] in {n["id"] for n in own.json()["items"]}


def test_a_chief_approves_only_their_own_agencys_share(
    session: Session, client: TestClient
) -> None:
    world = build_world(session, client)
    url = f"/api/v1/runs/{world.ids['run']}/approvals"
    # The body names no agency: the share is the caller's; B has none in this run.
    refused = client.post(
        url, json={"decision": "approved"}, headers=world.headers("chief_of_mission/other")
    )
    assert refused.status_code == 403
    smuggled = client.post(
        url,
        json={"decision": "approved", "agency_id": world.a.id},
        headers=world.headers("chief_of_mission/other"),
    )
    assert smuggled.status_code in (403, 422)
    assert client.get(url, headers=world.headers("coordinator")).json()["total"] == 0
