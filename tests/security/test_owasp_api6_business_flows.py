"""OWASP API6:2023 Unrestricted Access to Sensitive Business Flows.

The flows that move money: a plan becomes binding only through other people's
approvals (four-eyes: whoever triggered a run cannot approve it), one decision per
agency, no second run while one is queued or running, no change after binding.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.auth.models import Role
from app.runs.models import Run, RunStatus
from tests.factories import make_token, make_user
from tests.security.helpers import bearer
from tests.security.world import build_world

pytestmark = pytest.mark.integration


def test_who_triggered_a_run_cannot_approve_it(session: Session, client: TestClient) -> None:
    world = build_world(session, client)
    # A chief of A who is also a coordinator: may run the round, may approve A's share,
    # but never both on the same run.
    both = make_user(session, Role.coordinator, Role.chief_of_mission, agency=world.a)
    token = make_token(session, both)
    rerun = client.post(f"/api/v1/rounds/{world.ids['done']}/runs", headers=bearer(token))
    assert rerun.status_code == 201, rerun.text
    url = f"/api/v1/runs/{rerun.json()['id']}/approvals"
    refused = client.post(url, json={"decision": "approved"}, headers=bearer(token))
    assert refused.status_code == 403, refused.text
    other_chief = client.post(
        url, json={"decision": "approved"}, headers=world.headers("chief_of_mission/own")
    )
    assert other_chief.status_code == 201, other_chief.text


def test_an_agency_decides_once(session: Session, client: TestClient) -> None:
    world = build_world(session, client)
    url = f"/api/v1/runs/{world.ids['run']}/approvals"
    chief = world.headers("chief_of_mission/own")
    assert client.post(url, json={"decision": "approved"}, headers=chief).status_code == 201
    again = client.post(
        url, json={"decision": "rejected", "reason": "changed my mind"}, headers=chief
    )
    assert again.status_code == 409


def test_a_second_run_while_one_is_active_is_refused(session: Session, client: TestClient) -> None:
    world = build_world(session, client)
    for status in (RunStatus.queued, RunStatus.running):
        run = session.get(Run, world.ids["run"], populate_existing=True)
        assert run is not None
        run.status = status
        session.commit()
        response = client.post(
            f"/api/v1/rounds/{world.ids['done']}/runs", headers=world.headers("coordinator")
        )
        assert response.status_code == 409, (status, response.text)
        assert "wait for it to finish" in response.json()["detail"]


def test_a_round_closes_once_and_a_binding_plan_is_final(
    session: Session, client: TestClient
) -> None:
    world = build_world(session, client)
    coordinator = world.headers("coordinator")
    again = client.post(f"/api/v1/rounds/{world.ids['done']}/close", headers=coordinator)
    assert again.status_code == 409
    approved = client.post(
        f"/api/v1/runs/{world.ids['run']}/approvals",
        json={"decision": "approved"},
        headers=world.headers("chief_of_mission/own"),
    )
    assert approved.status_code == 201
    run = session.get(Run, world.ids["run"], populate_existing=True)
    assert run is not None and run.binding
    rerun = client.post(f"/api/v1/rounds/{world.ids['done']}/runs", headers=coordinator)
    assert rerun.status_code == 409
    need = client.post(
        f"/api/v1/rounds/{world.ids['done']}/needs",
        json={
            "item_id": world.ids["item"],
            "location_id": world.ids["location"],
            "quantity": 1,
            "need_by": "2099-01-01",
            "priority": "normal",
        },
        headers=world.headers("local_team/own"),
    )
    assert need.status_code == 409
