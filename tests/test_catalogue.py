"""Catalogue: items, locations, suppliers, offers with tiers, routes; and the catalogue half
of a round's problem document."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.audit.models import AuditEntry
from app.auth.models import Agency, Role, User
from app.catalogue.models import Item, Offer, PriceTier, Route, Supplier
from app.catalogue.service import catalogue_document_parts, offers_valid_on
from app.settings import Settings, get_settings
from solver import ProblemInvalid, solve, validate
from tests.factories import (
    make_agency,
    make_item,
    make_location,
    make_need,
    make_offer,
    make_route,
    make_supplier,
    make_user_and_token,
)

pytestmark = pytest.mark.integration

API = "/api/v1"
Headers = Callable[[str], dict[str, str]]


# ------------------------------------------------------------------------ helpers


@pytest.fixture
def iom(session: Session) -> Agency:
    return make_agency(session, "IOM")


@pytest.fixture
def unhcr(session: Session) -> Agency:
    return make_agency(session, "UNHCR")


@pytest.fixture
def specialist_user(session: Session, iom: Agency) -> tuple[User, str]:
    return make_user_and_token(session, Role.technical_specialist, agency=iom)


@pytest.fixture
def specialist(specialist_user: tuple[User, str], auth_headers: Headers) -> dict[str, str]:
    return auth_headers(specialist_user[1])


@pytest.fixture
def unhcr_specialist(session: Session, unhcr: Agency, auth_headers: Headers) -> dict[str, str]:
    return auth_headers(make_user_and_token(session, Role.technical_specialist, agency=unhcr)[1])


@pytest.fixture
def admin(session: Session, auth_headers: Headers) -> dict[str, str]:
    return auth_headers(make_user_and_token(session, Role.admin)[1])


def _keep(session: Session) -> None:
    """Commit the test's setup (the test's outer transaction still rolls it all back).

    A request that fails rolls the session back to its last commit, which would
    take uncommitted factory rows with it and confuse the requests after it.
    """
    session.commit()


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    return body


def _paths(response: httpx.Response) -> set[str]:
    return {e["path"] for e in _problem(response, 422)["errors"]}


def _etag(client: TestClient, url: str, headers: dict[str, str]) -> str:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return response.headers["etag"]


def _audit(session: Session, entity_type: str, entity_id: object) -> list[AuditEntry]:
    return list(
        session.scalars(
            sa.select(AuditEntry)
            .where(AuditEntry.entity_type == entity_type, AuditEntry.entity_id == str(entity_id))
            .order_by(AuditEntry.seq)
        )
    )


def _count(session: Session, model: type[Any]) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def _offer_body(**overrides: Any) -> dict[str, Any]:
    return {
        "supplier_id": "sup-001",
        "item_id": "ppe-mask-n95",
        "price_tiers": [
            {"min_quantity": 0, "unit_price": 1.20},
            {"min_quantity": 10000, "unit_price": 1.00},
        ],
        "capacity": 50000,
        "min_order_quantity": 1000,
        "lead_time_days": 10,
        "valid_from": "2026-01-01",
        "valid_to": "2026-12-31",
        **overrides,
    }


@pytest.fixture
def mask_and_supplier(session: Session) -> tuple[Item, Supplier]:
    return make_item(session, "ppe-mask-n95", name="Respirator N95"), make_supplier(
        session, "sup-001"
    )


# -------------------------------------------------------------------------- items


def test_create_read_an_item_with_etag_location_and_audit(
    client: TestClient, session: Session, specialist: dict[str, str], specialist_user: Any
) -> None:
    body = {
        "id": "ppe-mask-n95",
        "name": " Respirator N95 ",
        "unit": "each",
        "category": "PPE",
        "unspsc_code": "42131606",
    }
    response = client.post(f"{API}/items", json=body, headers=specialist)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["name"] == "Respirator N95"  # trimmed
    assert created["unspsc_code"] == "42131606" and created["active"] is True
    assert response.headers["location"] == f"{API}/items/ppe-mask-n95"
    read = client.get(response.headers["location"], headers=specialist)
    assert read.json() == created
    assert read.headers["etag"] == response.headers["etag"]

    [entry] = _audit(session, "item", "ppe-mask-n95")
    assert entry.action == "item.create" and entry.actor_id == specialist_user[0].id
    assert entry.before is None and entry.after["unspsc_code"] == "42131606"


def test_an_invalid_item_lists_every_problem_and_creates_nothing(
    client: TestClient, session: Session, specialist: dict[str, str]
) -> None:
    before = _count(session, Item)
    response = client.post(
        f"{API}/items",
        json={
            "id": "bad id/with slash",
            "name": "  ",
            "category": "x" * 65,
            "unspsc_code": "4213160",
            "active": False,
            "version": 7,
        },
        headers=specialist,
    )
    assert _paths(response) == {
        "$.id",
        "$.name",
        "$.unit",
        "$.category",
        "$.unspsc_code",
        "$.active",
        "$.version",
    }
    assert _count(session, Item) == before


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("4213160", "8 digits"),
        ("421316061", "8 digits"),
        ("4213160a", "8 digits"),
        ("09131606", "segment"),
        ("42001300", "under a 00 level"),
        ("42130006", "under a 00 level"),
    ],
)
def test_unspsc_codes_are_checked(
    client: TestClient, specialist: dict[str, str], code: str, reason: str
) -> None:
    body = {"id": "x", "name": "x", "unit": "each", "category": "PPE", "unspsc_code": code}
    errors = _problem(client.post(f"{API}/items", json=body, headers=specialist), 422)["errors"]
    assert [e["path"] for e in errors] == ["$.unspsc_code"]
    assert reason in errors[0]["reason"]


@pytest.mark.parametrize("code", ["42131606", "42131600", "42130000", "42000000", None])
def test_valid_unspsc_codes_are_accepted(
    client: TestClient, specialist: dict[str, str], code: str | None
) -> None:
    body = {"id": "x", "name": "x", "unit": "each", "category": "PPE", "unspsc_code": code}
    assert client.post(f"{API}/items", json=body, headers=specialist).status_code == 201


def test_a_taken_item_id_is_409(
    client: TestClient, session: Session, specialist: dict[str, str]
) -> None:
    make_item(session, "ppe-mask-n95")
    body = {"id": "ppe-mask-n95", "name": "Other", "unit": "each", "category": "PPE"}
    _problem(client.post(f"{API}/items", json=body, headers=specialist), 409)


def test_item_filters(client: TestClient, session: Session, specialist: dict[str, str]) -> None:
    make_item(session, "ppe-mask-n95", name="Respirator N95", unspsc_code="42131606")
    make_item(session, "ppe-gloves", name="Nitrile gloves", unspsc_code="42132203")
    make_item(session, "wash-soap", name="Jabón de barra", category="WASH", unspsc_code="53131608")
    retired = make_item(session, "ppe-gown", name="Isolation gown", unspsc_code="42131600")
    retired.active = False
    make_item(session, "misc-50%_off", name="Odd", category="MISC")
    session.flush()

    def ids(**params: Any) -> list[str]:
        response = client.get(f"{API}/items", params=params, headers=specialist)
        assert response.status_code == 200, response.text
        return sorted(i["id"] for i in response.json()["items"])

    assert ids(category="PPE") == ["ppe-gloves", "ppe-gown", "ppe-mask-n95"]
    assert ids(q="N95") == ["ppe-mask-n95"]
    assert ids(q="JABÓN".lower()) == ["wash-soap"]
    assert ids(q="GLOVES") == ["ppe-gloves"]  # case-insensitive, over the name
    assert ids(q="wash-") == ["wash-soap"]  # over the id
    assert ids(q="50%_") == ["misc-50%_off"]  # % and _ are literal
    assert ids(q="%") == ["misc-50%_off"]
    assert ids(unspsc="4213") == ["ppe-gloves", "ppe-gown", "ppe-mask-n95"]
    assert ids(unspsc="421316") == ["ppe-gown", "ppe-mask-n95"]
    assert ids(unspsc="42131606") == ["ppe-mask-n95"]
    # A family or class code stands for everything under it.
    assert ids(unspsc="42130000") == ["ppe-gloves", "ppe-gown", "ppe-mask-n95"]
    assert ids(unspsc="42131600") == ["ppe-gown", "ppe-mask-n95"]
    assert ids(unspsc="53") == ["wash-soap"]
    assert ids(active=False) == ["ppe-gown"]
    assert ids(category="PPE", active=True, q="n") == ["ppe-gloves", "ppe-mask-n95"]
    for bad in ("42a", "", "123456789"):
        assert (
            client.get(f"{API}/items", params={"unspsc": bad}, headers=specialist).status_code
            == 422
        )


def test_update_an_item_needs_a_fresh_etag_and_is_audited(
    client: TestClient, session: Session, specialist: dict[str, str]
) -> None:
    make_item(session, "ppe-mask-n95", unspsc_code="42131606")
    url = f"{API}/items/ppe-mask-n95"
    tag = _etag(client, url, specialist)

    _problem(client.patch(url, json={"name": "N95"}, headers=specialist), 428)
    response = client.patch(
        url, json={"name": "N95", "unspsc_code": None}, headers={**specialist, "If-Match": tag}
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "N95" and response.json()["unspsc_code"] is None
    assert response.headers["etag"] != tag
    stale = client.patch(url, json={"name": "Other"}, headers={**specialist, "If-Match": tag})
    _problem(stale, 412)
    assert client.get(url, headers=specialist).json()["name"] == "N95"

    update = _audit(session, "item", "ppe-mask-n95")[-1]
    assert update.action == "item.update"
    assert update.before["unspsc_code"] == "42131606" and update.after["unspsc_code"] is None
    assert update.before["name"] == "ppe-mask-n95" and update.after["name"] == "N95"


def test_an_item_update_refuses_nulls_for_required_fields_and_extra_fields(
    client: TestClient, session: Session, specialist: dict[str, str]
) -> None:
    make_item(session, "ppe-mask-n95")
    url = f"{API}/items/ppe-mask-n95"
    tag = _etag(client, url, specialist)
    response = client.patch(
        url,
        json={"name": None, "category": None, "active": None, "id": "renamed"},
        headers={**specialist, "If-Match": tag},
    )
    assert _paths(response) == {"$.name", "$.category", "$.active", "$.id"}
    assert client.get(url, headers=specialist).headers["etag"] == tag


def test_an_empty_update_changes_nothing_and_records_nothing(
    client: TestClient, session: Session, specialist: dict[str, str]
) -> None:
    make_item(session, "ppe-mask-n95", name="Same")
    url = f"{API}/items/ppe-mask-n95"
    tag = _etag(client, url, specialist)
    response = client.patch(url, json={"name": "Same"}, headers={**specialist, "If-Match": tag})
    assert response.status_code == 200 and response.headers["etag"] == tag
    assert _audit(session, "item", "ppe-mask-n95") == []


def test_the_unit_of_an_item_in_use_cannot_change(
    client: TestClient, session: Session, specialist: dict[str, str]
) -> None:
    item = make_item(session, "ppe-mask-n95")
    free = make_item(session, "ppe-gloves")
    make_need(session, item=item)
    _keep(session)
    url = f"{API}/items/ppe-mask-n95"
    response = client.patch(
        url,
        json={"unit": "box of 50"},
        headers={**specialist, "If-Match": _etag(client, url, specialist)},
    )
    assert "1 need" in _problem(response, 409)["detail"]
    free_url = f"{API}/items/{free.id}"
    response = client.patch(
        free_url,
        json={"unit": "box of 100"},
        headers={**specialist, "If-Match": _etag(client, free_url, specialist)},
    )
    assert response.status_code == 200 and response.json()["unit"] == "box of 100"


def test_deleting_an_item_in_use_is_409_and_a_free_one_goes(
    client: TestClient, session: Session, specialist: dict[str, str]
) -> None:
    needed = make_item(session, "needed")
    offered = make_item(session, "offered")
    free = make_item(session, "free")
    make_need(session, item=needed)
    make_offer(session, item=offered)
    _keep(session)
    for item, uses in ((needed, "1 need"), (offered, "1 offer")):
        url = f"{API}/items/{item.id}"
        tag = _etag(client, url, specialist)
        assert (
            uses
            in _problem(client.delete(url, headers={**specialist, "If-Match": tag}), 409)["detail"]
        )
        assert client.get(url, headers=specialist).status_code == 200

    url = f"{API}/items/{free.id}"
    tag = _etag(client, url, specialist)
    _problem(client.delete(url, headers=specialist), 428)
    _problem(client.delete(url, headers={**specialist, "If-Match": '"stale"'}), 412)
    response = client.delete(url, headers={**specialist, "If-Match": tag})
    assert response.status_code == 204
    _problem(client.get(url, headers=specialist), 404)
    deletion = _audit(session, "item", "free")[-1]
    assert deletion.action == "item.delete"
    assert deletion.before["id"] == "free" and deletion.after is None


def test_unknown_rows_are_404(client: TestClient, specialist: dict[str, str]) -> None:
    for url in ("items/nope", "locations/nope", "suppliers/nope", "offers/999999", "routes/999"):
        _problem(client.get(f"{API}/{url}", headers=specialist), 404)
        _problem(
            client.patch(f"{API}/{url}", json={}, headers={**specialist, "If-Match": "*"}), 404
        )
        _problem(client.delete(f"{API}/{url}", headers={**specialist, "If-Match": "*"}), 404)


# ----------------------------------------------------------------- idempotency


def test_a_retried_create_with_the_same_key_creates_once(
    client: TestClient, session: Session, specialist: dict[str, str]
) -> None:
    headers = {**specialist, "Idempotency-Key": "create-mask-1"}
    body = {"id": "ppe-mask-n95", "name": "N95", "unit": "each", "category": "PPE"}
    first = client.post(f"{API}/items", json=body, headers=headers)
    again = client.post(f"{API}/items", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["location"] == first.headers["location"]
    assert len(_audit(session, "item", "ppe-mask-n95")) == 1
    other = client.post(f"{API}/items", json={**body, "name": "Other"}, headers=headers)
    _problem(other, 422)


def test_a_retried_offer_and_route_create_replay(
    client: TestClient,
    session: Session,
    specialist: dict[str, str],
    mask_and_supplier: Any,
) -> None:
    make_location(session, "pa-lajas")
    cases = [
        ("offers", _offer_body(), Offer),
        ("routes", {"supplier_id": "sup-001", "location_id": "pa-lajas", "transit_days": 2}, Route),
    ]
    for path, body, model in cases:
        headers = {**specialist, "Idempotency-Key": f"retry-{path}"}
        before = _count(session, model)
        first = client.post(f"{API}/{path}", json=body, headers=headers)
        again = client.post(f"{API}/{path}", json=body, headers=headers)
        assert first.status_code == again.status_code == 201, first.text
        assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
        assert _count(session, model) == before + 1


# --------------------------------------------------------------- access control


_CREATE_BODIES: dict[str, dict[str, Any]] = {
    "items": {"id": "new-item", "name": "New", "unit": "each", "category": "PPE"},
    "locations": {"id": "new-location", "name": "New"},
    "suppliers": {"id": "new-supplier", "name": "New"},
    "offers": _offer_body(),
    "routes": {"supplier_id": "sup-001", "location_id": "pa-lajas", "transit_days": 2},
}


@pytest.fixture
def one_of_each(session: Session, mask_and_supplier: Any) -> dict[str, str]:
    """A URL of one row of each kind."""
    item, supplier = mask_and_supplier
    location = make_location(session, "pa-lajas")
    other = make_location(session, "pa-other")
    offer = make_offer(session, supplier=supplier, item=item)
    route = make_route(session, supplier=supplier, location=other)
    _keep(session)
    return {
        "items": f"{API}/items/{item.id}",
        "locations": f"{API}/locations/{location.id}",
        "suppliers": f"{API}/suppliers/{supplier.id}",
        "offers": f"{API}/offers/{offer.id}",
        "routes": f"{API}/routes/{route.id}",
    }


@pytest.mark.parametrize("role", [Role.local_team, Role.chief_of_mission, Role.coordinator])
@pytest.mark.parametrize("kind", list(_CREATE_BODIES))
def test_other_roles_read_but_never_change_the_catalogue(
    client: TestClient,
    session: Session,
    auth_headers: Headers,
    one_of_each: dict[str, str],
    iom: Agency,
    role: Role,
    kind: str,
) -> None:
    _, token = make_user_and_token(session, role, agency=iom)
    headers = auth_headers(token)
    url = one_of_each[kind]
    assert client.get(f"{API}/{kind}", headers=headers).status_code == 200
    tag = _etag(client, url, headers)
    before = _count(session, AuditEntry)
    _problem(client.post(f"{API}/{kind}", json=_CREATE_BODIES[kind], headers=headers), 403)
    _problem(client.patch(url, json={}, headers={**headers, "If-Match": tag}), 403)
    _problem(client.delete(url, headers={**headers, "If-Match": tag}), 403)
    assert client.get(url, headers=headers).headers["etag"] == tag
    assert _count(session, AuditEntry) == before


@pytest.mark.parametrize("kind", list(_CREATE_BODIES))
def test_specialists_and_admins_manage_every_kind(
    client: TestClient,
    specialist: dict[str, str],
    admin: dict[str, str],
    one_of_each: dict[str, str],
    kind: str,
) -> None:
    for headers in (specialist, admin):
        created = client.post(f"{API}/{kind}", json=_CREATE_BODIES[kind], headers=headers)
        assert created.status_code == 201, created.text
        url = created.headers["location"]
        response = client.patch(
            url, json={}, headers={**headers, "If-Match": _etag(client, url, headers)}
        )
        assert response.status_code == 200, response.text
        response = client.delete(url, headers={**headers, "If-Match": _etag(client, url, headers)})
        assert response.status_code == 204, response.text


@pytest.mark.parametrize("kind", list(_CREATE_BODIES))
def test_no_token_is_401(client: TestClient, one_of_each: dict[str, str], kind: str) -> None:
    _problem(client.get(f"{API}/{kind}"), 401)
    # Before any lookup: an unknown id tells a caller without a token nothing either.
    _problem(client.get(f"{API}/{kind}/0"), 401)
    _problem(client.get(one_of_each[kind]), 401)
    _problem(client.post(f"{API}/{kind}", json=_CREATE_BODIES[kind]), 401)
    _problem(client.patch(one_of_each[kind], json={}, headers={"If-Match": "*"}), 401)
    _problem(client.delete(one_of_each[kind], headers={"If-Match": "*"}), 401)


# ---------------------------------------------------------- locations, suppliers


def test_locations_coordinates_come_in_pairs(
    client: TestClient, session: Session, specialist: dict[str, str]
) -> None:
    body = {"id": "pa-lajas", "name": "Lajas Blancas", "latitude": 8.26}
    assert _paths(client.post(f"{API}/locations", json=body, headers=specialist)) == {"$"}
    body = {"id": "pa-lajas", "name": "Lajas Blancas", "latitude": 91, "longitude": -181}
    assert _paths(client.post(f"{API}/locations", json=body, headers=specialist)) == {
        "$.latitude",
        "$.longitude",
    }
    body = {"id": "pa-lajas", "name": "Lajas", "region": "Darién"}
    created = client.post(f"{API}/locations", json=body, headers=specialist)
    assert created.status_code == 201, created.text
    url = created.headers["location"]
    response = client.patch(
        url, json={"latitude": 8.26}, headers={**specialist, "If-Match": created.headers["etag"]}
    )
    assert _paths(response) == {"$.latitude"}
    response = client.patch(
        url,
        json={"latitude": 8.26, "longitude": -77.73},
        headers={**specialist, "If-Match": created.headers["etag"]},
    )
    assert response.status_code == 200 and response.json()["longitude"] == -77.73


def test_location_filters_and_deletes(
    client: TestClient, session: Session, specialist: dict[str, str]
) -> None:
    routed = make_location(session, "pa-lajas", name="Lajas Blancas", region="Darién")
    needed = make_location(session, "pa-san-vicente", name="San Vicente", region="Darién")
    make_location(session, "pa-chiriqui", name="Los Planes", region="Chiriquí")
    make_route(session, location=routed)
    make_need(session, location=needed)
    _keep(session)
    listing = client.get(f"{API}/locations", params={"region": "Darién"}, headers=specialist)
    assert [x["id"] for x in listing.json()["items"]] == ["pa-lajas", "pa-san-vicente"]
    listing = client.get(f"{API}/locations", params={"q": "blancas"}, headers=specialist)
    assert [x["id"] for x in listing.json()["items"]] == ["pa-lajas"]
    for location, uses in ((routed, "1 route"), (needed, "1 need")):
        url = f"{API}/locations/{location.id}"
        response = client.delete(url, headers={**specialist, "If-Match": "*"})
        assert uses in _problem(response, 409)["detail"]
    response = client.delete(
        f"{API}/locations/pa-chiriqui", headers={**specialist, "If-Match": "*"}
    )
    assert response.status_code == 204


def test_suppliers_validate_filter_and_refuse_deletion_in_use(
    client: TestClient, session: Session, specialist: dict[str, str]
) -> None:
    body = {"id": "sup-9", "name": "X", "country": "pan", "contact_email": "nope", "extra": 1}
    assert _paths(client.post(f"{API}/suppliers", json=body, headers=specialist)) == {
        "$.country",
        "$.contact_email",
        "$.extra",
    }
    offering = make_supplier(session, "sup-001", name="Distribuidora Médica")
    routing = make_supplier(session, "sup-002")
    make_offer(session, supplier=offering)
    make_route(session, supplier=routing)
    _keep(session)
    listing = client.get(f"{API}/suppliers", params={"q": "médica"}, headers=specialist)
    assert [x["id"] for x in listing.json()["items"]] == ["sup-001"]
    listing = client.get(f"{API}/suppliers", params={"country": "PA"}, headers=specialist)
    assert {x["id"] for x in listing.json()["items"]} == {"sup-001", "sup-002"}
    for supplier, uses in ((offering, "1 offer"), (routing, "1 route")):
        response = client.delete(
            f"{API}/suppliers/{supplier.id}", headers={**specialist, "If-Match": "*"}
        )
        assert uses in _problem(response, 409)["detail"]


# -------------------------------------------------------------------------- offers


def test_create_an_offer_with_tiers_eligibility_and_an_owner(
    client: TestClient,
    session: Session,
    specialist: dict[str, str],
    mask_and_supplier: Any,
    iom: Agency,
    unhcr: Agency,
) -> None:
    body = _offer_body(
        eligible_agencies=["UNHCR", "IOM"], owner_agency_id="IOM", reference="LTA-IOM-14"
    )
    response = client.post(f"{API}/offers", json=body, headers=specialist)
    assert response.status_code == 201, response.text
    offer = response.json()
    assert offer["price_tiers"] == [
        {"min_quantity": 0, "unit_price": 1.2},
        {"min_quantity": 10000, "unit_price": 1.0},
    ]
    assert offer["eligible_agencies"] == ["IOM", "UNHCR"]
    assert offer["owner_agency_id"] == "IOM" and offer["reference"] == "LTA-IOM-14"
    assert offer["valid_to"] == "2026-12-31"
    assert response.headers["location"] == f"{API}/offers/{offer['id']}"
    stored = session.get(Offer, offer["id"])
    assert stored is not None
    assert [(t.min_quantity, t.unit_price) for t in stored.price_tiers] == [
        (0, Decimal("1.2")),
        (10000, Decimal("1.0")),
    ]
    [entry] = _audit(session, "offer", offer["id"])
    assert entry.action == "offer.create"
    assert entry.after["price_tiers"] == [
        {"min_quantity": 0, "unit_price": "1.200000"},
        {"min_quantity": 10000, "unit_price": "1.000000"},
    ]
    assert entry.after["eligible_agencies"] == ["IOM", "UNHCR"]


def test_money_can_be_sent_as_a_decimal_string(
    client: TestClient, specialist: dict[str, str], mask_and_supplier: Any
) -> None:
    body = _offer_body(price_tiers=[{"min_quantity": 0, "unit_price": "0.125"}])
    response = client.post(f"{API}/offers", json=body, headers=specialist)
    assert response.status_code == 201, response.text
    assert response.json()["price_tiers"] == [{"min_quantity": 0, "unit_price": 0.125}]


@pytest.mark.parametrize(("eligible", "expected"), [(None, None), ([], []), (["IOM"], ["IOM"])])
def test_eligibility_null_means_everyone_and_empty_means_no_one(
    client: TestClient,
    session: Session,
    specialist: dict[str, str],
    mask_and_supplier: Any,
    iom: Agency,
    eligible: list[str] | None,
    expected: list[str] | None,
) -> None:
    body = _offer_body(eligible_agencies=eligible)
    response = client.post(f"{API}/offers", json=body, headers=specialist)
    assert response.status_code == 201, response.text
    assert response.json()["eligible_agencies"] == expected
    offer = session.get(Offer, response.json()["id"])
    assert offer is not None and offer.eligible_agency_ids == expected


def test_an_invalid_offer_lists_every_problem_and_creates_nothing(
    client: TestClient, session: Session, specialist: dict[str, str], iom: Agency
) -> None:
    before = (_count(session, Offer), _count(session, PriceTier), _count(session, AuditEntry))
    body = {
        "supplier_id": "sup-404",
        "item_id": "item-404",
        "price_tiers": [
            {"min_quantity": 0, "unit_price": 1.2},
            {"min_quantity": 0, "unit_price": 1.3},  # same quantity, higher price
            {"min_quantity": -5, "unit_price": 1.0},
            {"min_quantity": "500", "unit_price": 0.9},  # a string
            {"min_quantity": 700.5, "unit_price": 0.8},  # not whole
            {"min_quantity": 800, "unit_price": -1},
            {"min_quantity": 900, "unit_price": 0.1234567},  # too many decimals
            {"min_quantity": 1000},
        ],
        "capacity": -1,
        "min_order_quantity": True,
        "lead_time_days": 100000,
        "eligible_agencies": ["IOM", "NOPE", "IOM", "lower"],
        "owner_agency_id": "WFP",
        "valid_from": "2026-06-01",
        "valid_to": "2026-05-31",
        "status": "approved",
    }
    response = client.post(f"{API}/offers", json=body, headers=specialist)
    errors = _problem(response, 422)["errors"]
    paths = {e["path"] for e in errors}
    assert paths == {
        "$.supplier_id",
        "$.item_id",
        "$.price_tiers[1].min_quantity",
        "$.price_tiers[1].unit_price",
        "$.price_tiers[2].min_quantity",
        "$.price_tiers[3].min_quantity",
        "$.price_tiers[4].min_quantity",
        "$.price_tiers[5].unit_price",
        "$.price_tiers[6].unit_price",
        "$.price_tiers[7].unit_price",
        "$.capacity",
        "$.min_order_quantity",
        "$.lead_time_days",
        "$.eligible_agencies[1]",
        "$.eligible_agencies[2]",
        "$.eligible_agencies[3]",
        "$.owner_agency_id",
        "$.valid_to",
        "$.status",
    }
    reasons = {(e["path"], e["reason"]) for e in errors}
    assert ("$.supplier_id", "no supplier 'sup-404'") in reasons
    assert ("$.eligible_agencies[2]", "agency 'IOM' listed twice") in reasons
    assert ("$.valid_to", "must be on or after valid_from (2026-06-01)") in reasons
    assert (
        "$.price_tiers[1].min_quantity",
        "must be greater than the previous tier's min_quantity (0)",
    ) in reasons
    assert any("volume discounts" in r for p, r in reasons if p == "$.price_tiers[1].unit_price")
    assert (
        _count(session, Offer),
        _count(session, PriceTier),
        _count(session, AuditEntry),
    ) == before


def test_offer_tier_rules_alone(
    client: TestClient, specialist: dict[str, str], mask_and_supplier: Any
) -> None:
    tiers = [
        {"min_quantity": 100, "unit_price": 2},
        {"min_quantity": 50, "unit_price": 1},
        {"min_quantity": 200, "unit_price": 3},
    ]
    response = client.post(f"{API}/offers", json=_offer_body(price_tiers=tiers), headers=specialist)
    assert _paths(response) == {"$.price_tiers[1].min_quantity", "$.price_tiers[2].unit_price"}
    response = client.post(f"{API}/offers", json=_offer_body(price_tiers=[]), headers=specialist)
    assert _paths(response) == {"$.price_tiers"}
    # Equal prices are fine (non-increasing), and a first tier above 0 is a minimum order.
    tiers = [{"min_quantity": 100, "unit_price": 1}, {"min_quantity": 200, "unit_price": 1}]
    response = client.post(f"{API}/offers", json=_offer_body(price_tiers=tiers), headers=specialist)
    assert response.status_code == 201, response.text


def test_offers_of_retired_suppliers_or_items_are_refused(
    client: TestClient, session: Session, specialist: dict[str, str], mask_and_supplier: Any
) -> None:
    item, supplier = mask_and_supplier
    item.active = supplier.active = False
    session.flush()
    response = client.post(f"{API}/offers", json=_offer_body(), headers=specialist)
    assert _paths(response) == {"$.supplier_id", "$.item_id"}


def test_offer_bodies_must_be_json(
    client: TestClient, specialist: dict[str, str], mask_and_supplier: Any
) -> None:
    response = client.post(
        f"{API}/offers",
        content=json.dumps(_offer_body()),
        headers={**specialist, "Content-Type": "text/plain"},
    )
    _problem(response, 415)
    response = client.post(
        f"{API}/offers",
        content=b"{not json",
        headers={**specialist, "Content-Type": "application/json"},
    )
    assert _paths(response) == {"$"}
    response = client.post(f"{API}/offers", json=[1, 2], headers=specialist)
    _problem(response, 422)


def test_only_the_owner_agency_manages_its_agreement(
    client: TestClient,
    session: Session,
    specialist: dict[str, str],
    unhcr_specialist: dict[str, str],
    admin: dict[str, str],
    mask_and_supplier: Any,
    iom: Agency,
    unhcr: Agency,
) -> None:
    _keep(session)
    # Recording another agency's agreement is not a specialist's to do.
    body = _offer_body(owner_agency_id="UNHCR")
    _problem(client.post(f"{API}/offers", json=body, headers=specialist), 403)
    created = client.post(f"{API}/offers", json=body, headers=unhcr_specialist)
    assert created.status_code == 201, created.text
    url = created.headers["location"]
    tag = created.headers["etag"]

    # Everyone reads it; IOM's specialist cannot change or delete it, even with a bad body.
    assert client.get(url, headers=specialist).status_code == 200
    _problem(client.patch(url, json={"capacity": 1}, headers={**specialist, "If-Match": tag}), 403)
    _problem(client.patch(url, json={"capacity": -1}, headers={**specialist, "If-Match": tag}), 403)
    _problem(client.delete(url, headers={**specialist, "If-Match": tag}), 403)
    # An admin may (a capacity still above the minimum order); the owner's specialist may
    # give it up.
    response = client.patch(url, json={"capacity": 1000}, headers={**admin, "If-Match": tag})
    assert response.status_code == 200
    tag = response.headers["etag"]
    response = client.patch(
        url, json={"owner_agency_id": None}, headers={**unhcr_specialist, "If-Match": tag}
    )
    assert response.status_code == 200 and response.json()["owner_agency_id"] is None
    tag = response.headers["etag"]
    # A group offer (no owner) is anyone's to manage, but not to claim for another agency.
    response = client.patch(
        url, json={"owner_agency_id": "UNHCR"}, headers={**specialist, "If-Match": tag}
    )
    _problem(response, 403)
    response = client.patch(
        url, json={"owner_agency_id": "IOM"}, headers={**specialist, "If-Match": tag}
    )
    assert response.status_code == 200 and response.json()["owner_agency_id"] == "IOM"
    assert (
        client.get(f"{API}/offers", params={"owner_agency_id": "IOM"}, headers=admin).json()[
            "total"
        ]
        == 1
    )


def test_updating_an_offer_replaces_its_tiers_and_moves_the_etag(
    client: TestClient,
    session: Session,
    specialist: dict[str, str],
    mask_and_supplier: Any,
    iom: Agency,
) -> None:
    item, supplier = mask_and_supplier
    offer = make_offer(session, item=item, supplier=supplier, tiers=[(0, "1.20"), (100, "1.00")])
    _keep(session)
    url = f"{API}/offers/{offer.id}"
    tag = _etag(client, url, specialist)
    tiers = [
        {"min_quantity": 0, "unit_price": 1.10},
        {"min_quantity": 50, "unit_price": 1.05},
        {"min_quantity": 100, "unit_price": 0.90},
    ]
    response = client.patch(
        url, json={"price_tiers": tiers}, headers={**specialist, "If-Match": tag}
    )
    assert response.status_code == 200, response.text
    assert response.json()["price_tiers"] == tiers
    assert response.headers["etag"] != tag
    stored = session.scalars(
        sa.select(PriceTier).where(PriceTier.offer_id == offer.id).order_by(PriceTier.min_quantity)
    ).all()
    assert [(t.min_quantity, t.unit_price) for t in stored] == [
        (0, Decimal("1.1")),
        (50, Decimal("1.05")),
        (100, Decimal("0.9")),
    ]
    entry = _audit(session, "offer", offer.id)[-1]
    assert entry.action == "offer.update"
    assert [t["unit_price"] for t in entry.before["price_tiers"]] == ["1.200000", "1.000000"]
    assert [t["min_quantity"] for t in entry.after["price_tiers"]] == [0, 50, 100]

    # Fewer tiers, then the same again (nothing changes, nothing recorded).
    tag = response.headers["etag"]
    one = [{"min_quantity": 0, "unit_price": 2}]
    response = client.patch(url, json={"price_tiers": one}, headers={**specialist, "If-Match": tag})
    assert response.json()["price_tiers"] == [{"min_quantity": 0, "unit_price": 2.0}]
    tag = response.headers["etag"]
    entries = len(_audit(session, "offer", offer.id))
    response = client.patch(url, json={"price_tiers": one}, headers={**specialist, "If-Match": tag})
    assert response.headers["etag"] == tag and len(_audit(session, "offer", offer.id)) == entries
    assert _count(session, PriceTier) == 1


def test_offer_update_rules(
    client: TestClient,
    session: Session,
    specialist: dict[str, str],
    mask_and_supplier: Any,
    iom: Agency,
) -> None:
    item, supplier = mask_and_supplier
    offer = make_offer(
        session,
        item=item,
        supplier=supplier,
        valid_from=dt.date(2026, 1, 1),
        valid_to=dt.date(2026, 6, 30),
    )
    _keep(session)
    url = f"{API}/offers/{offer.id}"

    def patch(body: dict[str, Any]) -> httpx.Response:
        return client.patch(
            url, json=body, headers={**specialist, "If-Match": _etag(client, url, specialist)}
        )

    # Checked against what is stored: the dates that are not sent still count.
    assert _paths(patch({"valid_to": "2025-12-31"})) == {"$.valid_to"}
    assert _paths(patch({"valid_from": "2026-07-01"})) == {"$.valid_from"}
    assert _paths(patch({"supplier_id": "sup-002", "item_id": "x"})) == {
        "$.supplier_id",
        "$.item_id",
    }
    assert _paths(patch({"capacity": None, "price_tiers": None, "valid_from": None})) == {
        "$.capacity",
        "$.price_tiers",
        "$.valid_from",
    }
    assert _paths(patch({"capacity": -1, "eligible_agencies": ["NOPE"]})) == {
        "$.capacity",
        "$.eligible_agencies[0]",
    }
    response = patch({"valid_to": None, "eligible_agencies": [], "lead_time_days": 3})
    assert response.status_code == 200, response.text
    assert response.json()["valid_to"] is None
    assert response.json()["eligible_agencies"] == []
    response = patch({"eligible_agencies": None})
    assert response.json()["eligible_agencies"] is None
    actions = [e.action for e in _audit(session, "offer", offer.id)]
    assert actions == ["offer.update", "offer.update"]


def test_offer_filters(
    client: TestClient, session: Session, specialist: dict[str, str], iom: Agency, unhcr: Agency
) -> None:
    mask, gloves = make_item(session, "mask"), make_item(session, "gloves")
    one, two = make_supplier(session, "sup-1"), make_supplier(session, "sup-2")
    everyone = make_offer(session, item=mask, supplier=one, eligible=None)
    iom_only = make_offer(session, item=mask, supplier=two, eligible=["IOM"], owner=iom)
    nobody = make_offer(session, item=gloves, supplier=one, eligible=[])
    expired = make_offer(
        session,
        item=gloves,
        supplier=two,
        valid_from=dt.date(2025, 1, 1),
        valid_to=dt.date(2025, 12, 31),
    )
    _keep(session)

    def ids(**params: Any) -> list[int]:
        response = client.get(f"{API}/offers", params=params, headers=specialist)
        assert response.status_code == 200, response.text
        return sorted(o["id"] for o in response.json()["items"])

    assert ids(item_id="mask") == sorted([everyone.id, iom_only.id])
    assert ids(supplier_id="sup-1") == sorted([everyone.id, nobody.id])
    assert ids(valid_on="2025-12-31") == [expired.id]
    assert ids(valid_on="2026-03-01") == sorted([everyone.id, iom_only.id, nobody.id])
    assert ids(eligible_for="UNHCR") == sorted([everyone.id, expired.id])
    assert ids(eligible_for="IOM") == sorted([everyone.id, iom_only.id, expired.id])
    assert ids(owner_agency_id="IOM") == [iom_only.id]
    assert ids(item_id="mask", eligible_for="UNHCR", valid_on="2026-03-01") == [everyone.id]
    bad = client.get(f"{API}/offers", params={"valid_on": "soon"}, headers=specialist)
    assert _paths(bad) == {"$.valid_on"}


def test_deleting_an_offer_takes_its_tiers_and_is_audited(
    client: TestClient, session: Session, specialist: dict[str, str], iom: Agency
) -> None:
    offer = make_offer(session, tiers=[(0, "2"), (10, "1")], eligible=["IOM"])
    url = f"{API}/offers/{offer.id}"
    offer_id = offer.id
    response = client.delete(
        url, headers={**specialist, "If-Match": _etag(client, url, specialist)}
    )
    assert response.status_code == 204
    assert session.scalar(sa.select(sa.func.count()).where(PriceTier.offer_id == offer_id)) == 0
    entry = _audit(session, "offer", offer_id)[-1]
    assert entry.action == "offer.delete" and entry.after is None
    assert entry.before["eligible_agencies"] == ["IOM"] and len(entry.before["price_tiers"]) == 2


# -------------------------------------------------------------------------- routes


def test_routes_create_duplicate_update_delete(
    client: TestClient, session: Session, specialist: dict[str, str]
) -> None:
    make_supplier(session, "sup-001")
    make_location(session, "pa-lajas")
    _keep(session)
    body = {
        "supplier_id": "sup-001",
        "location_id": "pa-lajas",
        "fixed_cost": "500.50",
        "unit_cost": 0.01,
        "transit_days": 3,
    }
    created = client.post(f"{API}/routes", json=body, headers=specialist)
    assert created.status_code == 201, created.text
    route = created.json()
    assert route["fixed_cost"] == 500.5 and route["unit_cost"] == 0.01
    assert (
        "already exists"
        in _problem(
            client.post(f"{API}/routes", json={**body, "transit_days": 9}, headers=specialist), 409
        )["detail"]
    )

    url = created.headers["location"]
    response = client.patch(
        url,
        json={"fixed_cost": 650, "transit_days": 4},
        headers={**specialist, "If-Match": created.headers["etag"]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["fixed_cost"] == 650.0 and response.json()["transit_days"] == 4
    _problem(
        client.patch(
            url,
            json={"supplier_id": "sup-002", "unit_cost": -1, "transit_days": -1},
            headers={**specialist, "If-Match": response.headers["etag"]},
        ),
        422,
    )
    entries = _audit(session, "route", route["id"])
    assert [e.action for e in entries] == ["route.create", "route.update"]
    assert entries[1].before["fixed_cost"] == "500.500000"
    assert entries[1].after["fixed_cost"] == "650.000000"
    response = client.delete(url, headers={**specialist, "If-Match": response.headers["etag"]})
    assert response.status_code == 204
    listing = client.get(f"{API}/routes", params={"supplier_id": "sup-001"}, headers=specialist)
    assert listing.json()["total"] == 0


def test_an_invalid_route_lists_every_problem(
    client: TestClient, session: Session, specialist: dict[str, str]
) -> None:
    body = {
        "supplier_id": "sup-404",
        "location_id": "loc-404",
        "fixed_cost": -1,
        "unit_cost": "abc",
        "transit_days": 1.5,
    }
    assert _paths(client.post(f"{API}/routes", json=body, headers=specialist)) == {
        "$.supplier_id",
        "$.location_id",
        "$.fixed_cost",
        "$.unit_cost",
        "$.transit_days",
    }
    assert _count(session, Route) == 0


def test_route_filters(client: TestClient, session: Session, specialist: dict[str, str]) -> None:
    one, two = make_supplier(session), make_supplier(session)
    here, there = make_location(session), make_location(session)
    a = make_route(session, supplier=one, location=here)
    b = make_route(session, supplier=one, location=there)
    c = make_route(session, supplier=two, location=here)
    _keep(session)

    def ids(**params: Any) -> list[int]:
        return sorted(
            r["id"]
            for r in client.get(f"{API}/routes", params=params, headers=specialist).json()["items"]
        )

    assert ids(supplier_id=one.id) == sorted([a.id, b.id])
    assert ids(location_id=here.id) == sorted([a.id, c.id])
    assert ids(supplier_id=two.id, location_id=here.id) == [c.id]


# ---------------------------------------------------------------------- pagination


@pytest.fixture
def small_pages(app: FastAPI) -> Any:
    settings = Settings(default_page_size=2, max_page_size=3)
    app.dependency_overrides[get_settings] = lambda: settings
    yield settings
    app.dependency_overrides.pop(get_settings, None)


@pytest.mark.usefixtures("small_pages")
def test_catalogue_lists_are_paginated_and_capped(
    client: TestClient, session: Session, specialist: dict[str, str]
) -> None:
    for n in range(5):
        make_item(session, f"page-item-{n}")
    first = client.get(f"{API}/items", params={"q": "page-item"}, headers=specialist).json()
    assert len(first["items"]) == 2 and first["total"] == 5 and first["next_offset"] == 2
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = client.get(
            f"{API}/items",
            params={"q": "page-item", "limit": 3, "offset": offset},
            headers=specialist,
        ).json()
        seen += [i["id"] for i in page["items"]]
        offset = page["next_offset"]
    assert sorted(seen) == [f"page-item-{n}" for n in range(5)]
    for kind in _CREATE_BODIES:
        response = client.get(f"{API}/{kind}", params={"limit": 4}, headers=specialist)
        assert _paths(response) == {"$.limit"}


# --------------------------------------------------------------------- OpenAPI


def test_openapi_documents_every_catalogue_route(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    components = document["components"]["schemas"]
    for path in ("/items", "/locations", "/suppliers", "/offers", "/routes"):
        for url in (f"{API}{path}", f"{API}{path}/{{{path[1:-1]}_id}}"):
            for method, operation in document["paths"][url].items():
                assert operation.get("summary"), (url, method)
                assert "401" in operation["responses"], (url, method)
                if method in ("post", "patch"):
                    media = operation["requestBody"]["content"]["application/json"]
                    ref = media["schema"]["$ref"].rsplit("/", 1)[-1]
                    assert ref in components, ref
                    has_example = media.get("examples") or components[ref].get("examples")
                    assert has_example, (url, method)
                if method in ("patch", "delete"):
                    assert {"412", "428"} <= set(operation["responses"]), (url, method)


# ----------------------------------------------------- the problem document's half


def _catalogue_for_a_round(session: Session) -> dict[str, Any]:
    iom, unhcr, who = (make_agency(session, c) for c in ("IOM", "UNHCR", "WHO-PAHO"))
    mask = make_item(session, "ppe-mask-n95", name="Respirator N95", category="PPE")
    tent = make_item(session, "shelter-tent", name="Family tent", category="Shelter")
    make_item(session, "wash-soap", name="Soap", category="WASH")
    lajas = make_location(session, "pa-lajas", name="Lajas Blancas")
    vicente = make_location(session, "pa-san-vicente", name="San Vicente")
    sup1 = make_supplier(session, "sup-001", name="Distribuidora Médica")
    sup2 = make_supplier(session, "sup-002", name="Carpas del Istmo")
    retired = make_supplier(session, "sup-003", name="Retired")
    unused = make_supplier(session, "sup-004", name="No valid offers")
    retired.active = False
    day = dt.date(2026, 12, 1)
    offers = {
        "open": make_offer(
            session,
            supplier=sup1,
            item=mask,
            tiers=[(0, "1.20"), (10_000, "1.00")],
            capacity=50_000,
            min_order_quantity=1000,
            lead_time_days=10,
        ),
        "lta": make_offer(
            session,
            supplier=sup2,
            item=mask,
            tiers=[(500, "1.10")],
            capacity=8000,
            eligible=["IOM", "WHO-PAHO"],
            owner=iom,
            valid_from=day,
            valid_to=day,
        ),
        "nobody": make_offer(session, supplier=sup2, item=tent, tiers=[(0, "95.5")], eligible=[]),
        "expired": make_offer(
            session, supplier=sup1, item=tent, valid_to=day - dt.timedelta(days=1)
        ),
        "future": make_offer(
            session, supplier=sup1, item=tent, valid_from=day + dt.timedelta(days=1)
        ),
        "retired": make_offer(session, supplier=retired, item=mask),
        "unused": make_offer(session, supplier=unused, item=tent, valid_to=dt.date(2026, 1, 31)),
    }
    make_route(session, supplier=sup1, location=lajas, fixed_cost="500", unit_cost="0.01")
    make_route(session, supplier=sup2, location=lajas, fixed_cost="250.25", transit_days=5)
    make_route(session, supplier=sup2, location=vicente, fixed_cost="0", unit_cost="0.5")
    make_route(session, supplier=retired, location=vicente)
    make_route(session, supplier=unused, location=lajas)
    return {"day": day, "offers": offers, "agencies": [iom, unhcr, who]}


def _document(session: Session, parts: dict[str, Any], day: dt.date) -> dict[str, Any]:
    agencies = [{"id": a.id, "name": a.name} for a in session.scalars(sa.select(Agency))]
    return {
        "as_of": day.isoformat(),
        "currency": "USD",
        "agencies": agencies,
        "needs": [
            {
                "id": "n-1",
                "agency": "IOM",
                "item": "ppe-mask-n95",
                "location": "pa-lajas",
                "quantity": 12_000,
                "need_by": "2026-12-31",
                "priority": "critical",
            },
            {
                "id": "n-2",
                "agency": "UNHCR",
                "item": "ppe-mask-n95",
                "location": "pa-lajas",
                "quantity": 3000,
                "need_by": "2026-12-20",
                "priority": "normal",
            },
            {
                "id": "n-3",
                "agency": "UNHCR",
                "item": "shelter-tent",
                "location": "pa-san-vicente",
                "quantity": 40,
                "need_by": "2026-12-20",
                "priority": "high",
            },
        ],
        **parts,
    }


def test_offers_valid_on_a_day(session: Session) -> None:
    built = _catalogue_for_a_round(session)
    offers = built["offers"]
    valid = offers_valid_on(session, built["day"])
    assert [o.id for o in valid] == sorted(
        offers[k].id for k in ("open", "lta", "nobody")
    )  # bounds are inclusive; a retired supplier's offers are out
    assert all(o.price_tiers for o in valid)
    next_day = offers_valid_on(session, built["day"] + dt.timedelta(days=1))
    assert {o.id for o in next_day} == {offers[k].id for k in ("open", "nobody", "future")}
    only_tents = offers_valid_on(session, built["day"], item_ids=["shelter-tent"])
    assert [o.id for o in only_tents] == [offers["nobody"].id]


def test_document_parts_are_contract_v1_and_pass_the_solver(session: Session) -> None:
    built = _catalogue_for_a_round(session)
    offers, day = built["offers"], built["day"]
    parts = catalogue_document_parts(session, day)

    assert set(parts) == {"items", "locations", "suppliers", "offers", "routes"}
    assert parts["items"] == [
        {"id": "ppe-mask-n95", "name": "Respirator N95", "unit": "each", "category": "PPE"},
        {"id": "shelter-tent", "name": "Family tent", "unit": "each", "category": "Shelter"},
        {"id": "wash-soap", "name": "Soap", "unit": "each", "category": "WASH"},
    ]
    assert parts["locations"] == [
        {"id": "pa-lajas", "name": "Lajas Blancas"},
        {"id": "pa-san-vicente", "name": "San Vicente"},
    ]
    # Only suppliers with an offer valid that day, and only their routes.
    assert parts["suppliers"] == [
        {"id": "sup-001", "name": "Distribuidora Médica"},
        {"id": "sup-002", "name": "Carpas del Istmo"},
    ]
    assert parts["routes"] == [
        {
            "supplier": "sup-001",
            "location": "pa-lajas",
            "fixed_cost": 500.0,
            "unit_cost": 0.01,
            "transit_days": 3,
        },
        {
            "supplier": "sup-002",
            "location": "pa-lajas",
            "fixed_cost": 250.25,
            "unit_cost": 0.01,
            "transit_days": 5,
        },
        {
            "supplier": "sup-002",
            "location": "pa-san-vicente",
            "fixed_cost": 0.0,
            "unit_cost": 0.5,
            "transit_days": 3,
        },
    ]
    assert parts["offers"] == [
        {
            "id": f"o-{offers['open'].id}",
            "supplier": "sup-001",
            "item": "ppe-mask-n95",
            "price_tiers": [
                {"min_quantity": 0, "unit_price": 1.2},
                {"min_quantity": 10000, "unit_price": 1.0},
            ],
            "capacity": 50000,
            "min_order_quantity": 1000,
            "lead_time_days": 10,
            "eligible_agencies": None,
            "pack_size": 1,
            "fee_rate": 0.0,
        },
        {
            "id": f"o-{offers['lta'].id}",
            "supplier": "sup-002",
            "item": "ppe-mask-n95",
            "price_tiers": [{"min_quantity": 500, "unit_price": 1.1}],
            "capacity": 8000,
            "min_order_quantity": 0,
            "lead_time_days": 10,
            "eligible_agencies": ["IOM", "WHO-PAHO"],
            "pack_size": 1,
            "fee_rate": 0.0,
        },
        {
            "id": f"o-{offers['nobody'].id}",
            "supplier": "sup-002",
            "item": "shelter-tent",
            "price_tiers": [{"min_quantity": 0, "unit_price": 95.5}],
            "capacity": 50000,
            "min_order_quantity": 0,
            "lead_time_days": 10,
            "eligible_agencies": [],
            "pack_size": 1,
            "fee_rate": 0.0,
        },
    ]
    # JSON numbers, not strings or Decimals: the document survives a JSON round trip as is.
    for route in parts["routes"]:
        assert type(route["fixed_cost"]) is float and type(route["transit_days"]) is int
    for offer in parts["offers"]:
        assert all(type(t["unit_price"]) is float for t in offer["price_tiers"])
    document = _document(session, parts, day)
    assert json.loads(json.dumps(document)) == document

    validate(document)
    plan = solve(document)
    assert plan["status"] == "optimal"
    # The tent offer is open to no agency; the masks are bought.
    assert {u["need"]: u["reason"] for u in plan["unmet"]} == {"n-3": "not_eligible"}


def test_document_parts_for_some_items_and_agencies(session: Session) -> None:
    built = _catalogue_for_a_round(session)
    offers, day = built["offers"], built["day"]
    parts = catalogue_document_parts(session, day, ["ppe-mask-n95"], agency_ids=["UNHCR"])
    assert [i["id"] for i in parts["items"]] == ["ppe-mask-n95"]
    assert [o["id"] for o in parts["offers"]] == [f"o-{offers['open'].id}", f"o-{offers['lta'].id}"]
    # Cut to the agencies the document lists: no agency left means no one, never everyone.
    assert [o["eligible_agencies"] for o in parts["offers"]] == [None, []]
    document = {
        "as_of": day.isoformat(),
        "currency": "USD",
        "agencies": [{"id": "UNHCR", "name": "UNHCR"}],
        "needs": [
            {
                "id": "n-1",
                "agency": "UNHCR",
                "item": "ppe-mask-n95",
                "location": "pa-lajas",
                "quantity": 100,
                "need_by": "2026-12-31",
                "priority": "normal",
            }
        ],
        **parts,
    }
    validate(document)
    # Without the cut, the document must list every agency the offers name.
    uncut = catalogue_document_parts(session, day, ["ppe-mask-n95"])
    with pytest.raises(ProblemInvalid) as raised:
        validate({**document, **uncut})
    assert {i.path for i in raised.value.errors} == {
        f"$.offers[1].eligible_agencies[{j}]" for j in (0, 1)
    }
    assert catalogue_document_parts(session, day, [])["offers"] == []
