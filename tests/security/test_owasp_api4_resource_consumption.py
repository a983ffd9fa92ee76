"""OWASP API4:2023 Unrestricted Resource Consumption.

Every door has a limit, each a setting: the request body (413), the page size (422 past
it, and the OpenAPI says the maximum), the rows of an upload (422), the solver's time
limit (capped whatever a round or document asks), and requests per token (429 with
``Retry-After``). Each test sets its limit small on an app of its own.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.runs.models import Run
from tests.security.helpers import client_with
from tests.security.world import build_world

pytestmark = pytest.mark.integration


def test_a_body_over_the_limit_is_413_before_anything_reads_it(
    session: Session, client: TestClient
) -> None:
    world = build_world(session, client)
    small = client_with(session, max_body_bytes=2_000)
    url = f"/api/v1/rounds/{world.ids['open']}/needs"
    headers = world.headers("local_team/own")
    body = {
        "item_id": "x",
        "location_id": "y",
        "quantity": 1,
        "need_by": "2099-01-01",
        "priority": "normal",
        "justification": "j" * 5_000,
    }
    response = small.post(url, json=body, headers=headers)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    upload = small.post(
        f"/api/v1/rounds/{world.ids['open']}/needs/import",
        files={"file": ("big.csv", b"x" * 5_000, "text/csv")},
        headers=headers,
    )
    assert upload.status_code == 413


def test_a_page_larger_than_the_cap_is_refused_and_the_cap_is_documented(
    session: Session, client: TestClient
) -> None:
    world = build_world(session, client)
    capped = client_with(session, max_page_size=20)
    headers = world.headers("coordinator")
    assert capped.get("/api/v1/needs?limit=20", headers=headers).status_code == 200
    refused = capped.get("/api/v1/needs?limit=21", headers=headers)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["path"] == "$.limit"
    assert capped.get("/api/v1/needs?offset=99999999999", headers=headers).status_code == 422
    document = capped.get("/openapi.json").json()
    limit = next(
        p for p in document["paths"]["/api/v1/needs"]["get"]["parameters"] if p["name"] == "limit"
    )
    assert limit["schema"]["anyOf"][0]["maximum"] == 20


def test_an_upload_with_more_rows_than_allowed_imports_nothing(
    session: Session, client: TestClient
) -> None:
    world = build_world(session, client)
    few = client_with(session, upload_max_rows=3)
    rows = "".join(
        f"{world.ids['item']},{world.ids['location']},5,2099-01-01,normal,\n" for _ in range(5)
    )
    csv = "item,location,quantity,need_by,priority,justification\n" + rows
    response = few.post(
        f"/api/v1/rounds/{world.ids['open']}/needs/import",
        files={"file": ("many.csv", csv.encode(), "text/csv")},
        headers=world.headers("local_team/own"),
    )
    assert response.status_code == 422, response.text
    assert "3" in response.text


def test_the_solver_time_limit_is_capped_whatever_the_round_asks(
    session: Session, client: TestClient
) -> None:
    world = build_world(session, client)
    capped = client_with(session, max_solve_seconds=2)
    round_url = f"/api/v1/rounds/{world.ids['open']}"
    headers = world.headers("coordinator")
    etag = capped.get(round_url, headers=headers).headers["etag"]
    changed = capped.patch(
        round_url,
        json={"settings": {"time_limit_seconds": 86_400}},
        headers=headers | {"If-Match": etag},
    )
    assert changed.status_code == 200, changed.text
    closed = capped.post(f"{round_url}/close", headers=headers)
    assert closed.status_code == 201, closed.text
    run = session.get(Run, closed.json()["id"])
    assert run is not None
    assert run.problem["settings"]["time_limit_seconds"] <= 2
    rerun = capped.post(
        f"{round_url}/runs", json={"settings": {"time_limit_seconds": 86_400}}, headers=headers
    )
    assert rerun.status_code == 201, rerun.text
    again = session.get(Run, rerun.json()["id"])
    assert again is not None and again.problem["settings"]["time_limit_seconds"] <= 2


def test_requests_per_token_are_limited_with_retry_after(
    session: Session, client: TestClient
) -> None:
    world = build_world(session, client)
    limited = client_with(session, token_rate_limit=3, token_rate_window_seconds=60)
    mine = world.headers("local_team/own")
    for _ in range(3):
        assert limited.get("/api/v1/me", headers=mine).status_code == 200
    refused = limited.get("/api/v1/rounds", headers=mine)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.json()["status"] == 429
    # Another token, even of the same agency, has its own allowance.
    assert (
        limited.get("/api/v1/me", headers=world.headers("chief_of_mission/own")).status_code == 200
    )


def test_the_limits_are_on_by_default_and_off_when_set_to_zero() -> None:
    from app.settings import Settings

    defaults = Settings()
    assert defaults.auth_failure_limit > 0 and defaults.token_rate_limit > 0
    assert defaults.max_body_bytes > 0 and defaults.upload_max_rows > 0
    assert defaults.max_solve_seconds <= 3600
