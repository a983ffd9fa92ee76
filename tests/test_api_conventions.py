"""Shared API conventions: capped pages, ETag/If-Match (412/428), Idempotency-Key, OpenAPI."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.api import etag_for
from app.api.idempotency import request_fingerprint
from app.api.models import IdempotencyKey
from app.audit.models import AuditEntry
from app.auth.models import Agency, Role, User
from app.catalogue.models import PriceTier, Route
from app.db import utcnow
from app.settings import Settings, get_settings
from tests.factories import make_agency, make_offer, make_route, make_user, make_user_and_token

pytestmark = pytest.mark.integration

Headers = Callable[[str], dict[str, str]]


@pytest.fixture
def admin_headers(session: Session, auth_headers: Headers) -> dict[str, str]:
    _, token = make_user_and_token(session, Role.admin)
    return auth_headers(token)


@pytest.fixture
def small_pages(app: FastAPI) -> Iterator[Settings]:
    settings = Settings(default_page_size=2, max_page_size=3)
    app.dependency_overrides[get_settings] = lambda: settings
    yield settings
    app.dependency_overrides.pop(get_settings, None)


# -------------------------------------------------------------------- pagination


@pytest.mark.usefixtures("small_pages")
def test_pages_default_cap_and_walk(
    client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    for code in ("PA", "PB", "PC", "PD", "PE"):
        make_agency(session, code)
    total = session.scalar(sa.select(sa.func.count()).select_from(Agency))

    first = client.get("/api/v1/agencies", headers=admin_headers).json()
    assert first["limit"] == 2 and len(first["items"]) == 2
    assert first["total"] == total and first["next_offset"] == 2

    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = client.get(
            "/api/v1/agencies", params={"limit": 3, "offset": offset}, headers=admin_headers
        ).json()
        seen += [a["id"] for a in page["items"]]
        offset = page["next_offset"]
    assert len(seen) == len(set(seen)) == total


@pytest.mark.usefixtures("small_pages")
def test_a_limit_above_the_cap_is_refused(
    client: TestClient, admin_headers: dict[str, str]
) -> None:
    response = client.get("/api/v1/agencies", params={"limit": 4}, headers=admin_headers)
    assert response.status_code == 422
    assert response.json()["errors"] == [{"path": "$.limit", "reason": "must be at most 3"}]
    for bad in ({"limit": 0}, {"offset": -1}):
        assert client.get("/api/v1/agencies", params=bad, headers=admin_headers).status_code == 422


# ------------------------------------------------------------------------- ETags


def test_etag_follows_the_version(session: Session) -> None:
    agency = make_agency(session)
    tag = etag_for(agency)
    assert tag.startswith('"') and tag.endswith('"')
    assert etag_for(agency) == tag
    agency.name = "Renamed"
    session.flush()
    assert agency.version == 2 and etag_for(agency) != tag
    # Same id and version on another table is another tag.
    assert etag_for(make_agency(session)) != tag


def test_child_rows_move_the_parents_etag(session: Session) -> None:
    offer = make_offer(session, eligible=None)
    tag = etag_for(offer)
    offer.eligible_agency_ids = [make_agency(session).id]
    session.flush()
    assert offer.eligibility_restricted and etag_for(offer) != tag
    tag = etag_for(offer)
    offer.eligible_agency_ids = []  # restricted to nobody, not "everybody"
    session.flush()
    assert offer.eligible_agency_ids == [] and etag_for(offer) != tag
    offer.eligible_agency_ids = None
    session.flush()
    assert offer.eligible_agency_ids is None


def _user_url_and_etag(
    client: TestClient, session: Session, headers: dict[str, str]
) -> tuple[str, str]:
    target = make_user(session, Role.coordinator)
    url = f"/api/v1/users/{target.id}"
    response = client.get(url, headers=headers)
    assert response.status_code == 200
    return url, response.headers["etag"]


def test_an_update_without_if_match_is_428(
    client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    url, _ = _user_url_and_etag(client, session, admin_headers)
    response = client.patch(url, json={"name": "New"}, headers=admin_headers)
    assert response.status_code == 428
    assert response.headers["content-type"].startswith("application/problem+json")


def test_a_stale_if_match_is_412_and_changes_nothing(
    client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    url, etag = _user_url_and_etag(client, session, admin_headers)
    first = client.patch(url, json={"name": "First"}, headers={**admin_headers, "If-Match": etag})
    assert first.status_code == 200
    # A second writer still holding the old ETag loses.
    second = client.patch(url, json={"name": "Second"}, headers={**admin_headers, "If-Match": etag})
    assert second.status_code == 412
    assert client.get(url, headers=admin_headers).json()["name"] == "First"
    # Weak tags never match (strong comparison); "*" matches whatever is there.
    weak = client.patch(
        url, json={"name": "W"}, headers={**admin_headers, "If-Match": f"W/{first.headers['etag']}"}
    )
    assert weak.status_code == 412
    star = client.patch(url, json={"name": "Star"}, headers={**admin_headers, "If-Match": "*"})
    assert star.status_code == 200
    # One of several listed tags is enough.
    listed = client.patch(
        url,
        json={"name": "Listed"},
        headers={**admin_headers, "If-Match": f'"nope", {star.headers["etag"]}'},
    )
    assert listed.status_code == 200


def test_a_write_that_races_past_the_check_is_412(
    client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    url, etag = _user_url_and_etag(client, session, admin_headers)
    user_id = int(url.rsplit("/", 1)[1])
    # Another transaction commits between our read and our write: the row's
    # version moves under the session's feet (the ORM still holds the old one).
    session.execute(
        sa.text("UPDATE \"user\" SET name = 'Other', version = version + 1 WHERE id = :id"),
        {"id": user_id},
    )
    response = client.patch(url, json={"name": "Mine"}, headers={**admin_headers, "If-Match": etag})
    assert response.status_code == 412
    assert session.get_one(User, user_id, populate_existing=True).name != "Mine"


# ------------------------------------------------------------------- idempotency


def test_a_retried_create_creates_once(
    client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    headers = {**admin_headers, "Idempotency-Key": "create-wfp-1"}
    body = {"id": "IDEMP", "name": "Idempotent agency"}
    first = client.post("/api/v1/agencies", json=body, headers=headers)
    assert first.status_code == 201, first.text
    # Same request again, keys in another order: the stored answer, nothing new.
    retry = client.post("/api/v1/agencies", json=dict(reversed(body.items())), headers=headers)
    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.headers["location"] == first.headers["location"]
    assert retry.headers["etag"] == first.headers["etag"]
    assert (
        session.scalar(sa.select(sa.func.count()).select_from(Agency).where(Agency.id == "IDEMP"))
        == 1
    )
    audited = session.scalar(
        sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.entity_id == "IDEMP")
    )
    assert audited == 1


def test_a_key_reused_for_another_request_is_422(
    client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    headers = {**admin_headers, "Idempotency-Key": "k-2"}
    assert (
        client.post("/api/v1/agencies", json={"id": "KA", "name": "A"}, headers=headers).status_code
        == 201
    )
    response = client.post("/api/v1/agencies", json={"id": "KB", "name": "B"}, headers=headers)
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["detail"]
    assert session.get(Agency, "KB") is None
    # Another path is another request too.
    other = client.post(
        "/api/v1/users", json={"email": "k@x.org", "name": "K", "roles": []}, headers=headers
    )
    assert other.status_code == 422


def test_keys_belong_to_their_user(
    client: TestClient, session: Session, admin_headers: dict[str, str], auth_headers: Headers
) -> None:
    _, other_admin = make_user_and_token(session, Role.admin)
    key = {"Idempotency-Key": "shared-key"}
    mine = client.post(
        "/api/v1/agencies", json={"id": "MINE", "name": "M"}, headers={**admin_headers, **key}
    )
    theirs = client.post(
        "/api/v1/agencies",
        json={"id": "THEIRS", "name": "T"},
        headers={**auth_headers(other_admin), **key},
    )
    assert mine.status_code == theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers


def test_a_failed_create_stores_no_response(
    client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    make_agency(session, "TAKEN")
    headers = {**admin_headers, "Idempotency-Key": "k-fail"}
    assert (
        client.post(
            "/api/v1/agencies", json={"id": "TAKEN", "name": "x"}, headers=headers
        ).status_code
        == 409
    )
    assert session.scalar(sa.select(IdempotencyKey).where(IdempotencyKey.key == "k-fail")) is None
    # The key is free again for a corrected request.
    assert (
        client.post(
            "/api/v1/agencies", json={"id": "FREE", "name": "x"}, headers=headers
        ).status_code
        == 201
    )


def test_without_a_key_posts_are_ordinary(
    client: TestClient, session: Session, admin_headers: dict[str, str]
) -> None:
    assert (
        client.post(
            "/api/v1/agencies", json={"id": "NOKEY", "name": "x"}, headers=admin_headers
        ).status_code
        == 201
    )
    assert (
        client.post(
            "/api/v1/agencies", json={"id": "NOKEY", "name": "x"}, headers=admin_headers
        ).status_code
        == 409
    )
    assert session.scalar(sa.select(sa.func.count()).select_from(IdempotencyKey)) == 0


def test_an_unusable_key_is_422(client: TestClient, admin_headers: dict[str, str]) -> None:
    response = client.post(
        "/api/v1/agencies",
        json={"id": "LONG", "name": "x"},
        headers={**admin_headers, "Idempotency-Key": "k" * 256},
    )
    assert response.status_code == 422


def test_the_fingerprint_ignores_json_layout_only() -> None:
    a = request_fingerprint("POST", "/api/v1/x", "", b'{"a": 1, "b": [1, 2]}')
    assert a == request_fingerprint("post", "/api/v1/x", "", b'{"b":[1,2],"a":1}')
    assert a != request_fingerprint("POST", "/api/v1/x", "", b'{"a": 1, "b": [2, 1]}')
    assert a != request_fingerprint("POST", "/api/v1/y", "", b'{"a": 1, "b": [1, 2]}')


# ------------------------------------------------------------ types on both databases


def test_money_reads_back_as_the_same_decimal(session: Session) -> None:
    offer = make_offer(session, tiers=[(0, "1.2345"), (1000, "0.1"), (5000, "123456789.123456")])
    route = make_route(session, fixed_cost="0.07", unit_cost="0.000001")
    session.expire_all()
    tiers = session.scalars(
        sa.select(PriceTier).where(PriceTier.offer_id == offer.id).order_by(PriceTier.min_quantity)
    ).all()
    assert [t.unit_price for t in tiers] == [
        Decimal("1.234500"),
        Decimal("0.100000"),
        Decimal("123456789.123456"),
    ]
    assert all(isinstance(t.unit_price, Decimal) for t in tiers)
    reread = session.get_one(Route, route.id)
    assert (reread.fixed_cost, reread.unit_cost) == (Decimal("0.070000"), Decimal("0.000001"))


def test_instants_come_back_aware_in_utc(session: Session) -> None:
    agency = make_agency(session)
    session.expire_all()
    created = session.get_one(Agency, agency.id).created_at
    assert created.utcoffset() == dt.timedelta(0)
    assert abs((utcnow() - created).total_seconds()) < 60


# ----------------------------------------------------------------------- OpenAPI


def test_openapi_documents_the_routes_errors_and_examples(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    paths = document["paths"]
    for path in (
        "/api/v1/me",
        "/api/v1/tokens",
        "/api/v1/agencies",
        "/api/v1/users",
        "/api/v1/audit",
    ):
        assert path in paths, path
    create_user = paths["/api/v1/users"]["post"]
    assert "application/problem+json" in create_user["responses"]["422"]["content"]
    assert "401" in create_user["responses"]
    parameters = {p["name"] for p in create_user["parameters"]}
    assert "Idempotency-Key" in parameters
    assert "If-Match" in {
        p["name"] for p in paths["/api/v1/users/{user_id}"]["patch"]["parameters"]
    }
    assert document["components"]["schemas"]["UserCreate"]["examples"]
