"""Capacity groups and supplier exclusions kept in the catalogue's pages, as award rules are.

Each page writes through the API's own schema, cross-row checks and service (one core
operation per write): what it saves the API then reads, audited; a form with mistakes
lists them all, each next to its field, and writes nothing. An exclusion is recorded and
lifted for an agency by that agency's specialists or an admin, refused in the API's words.
"""

from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.audit.models import AuditEntry
from app.catalogue.models import Offer
from app.sourcing.models import CapacityGroup, SupplierExclusion
from tests.factories import make_capacity_group, make_exclusion, make_offer, make_supplier
from tests.test_web import Group, as_, build_group, csrf_of, text_of
from tests.test_web_sourcing_pages import _etag, post_with_etag

pytestmark = pytest.mark.integration


@pytest.fixture
def group(session: Session) -> Group:
    return build_group(session)


def _count(session: Session, model: type) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def _audits(session: Session, action: str, entity_id: int) -> list[AuditEntry]:
    stmt = sa.select(AuditEntry).where(
        AuditEntry.action == action, AuditEntry.entity_id == str(entity_id)
    )
    return list(session.scalars(stmt))


def _offers_of(session: Session, supplier_id: str) -> list[Offer]:
    return list(session.scalars(sa.select(Offer).where(Offer.supplier_id == supplier_id)))


def _error(page: str, field: str) -> str:
    """The text of the error shown next to ``field`` ('' when there is none)."""
    match = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', page, re.S)
    return text_of(match.group(1)).strip() if match else ""


def _ticked(page: str) -> set[int]:
    return {
        int(v)
        for v in re.findall(r'name="offer_ids" value="(\d+)" checked', page.replace("\n", ""))
    }


def _sourcing_group(session: Session, group: Group) -> tuple[list[Offer], Offer]:
    """Two offers of the first supplier (mask and tank) and the other supplier's tank."""
    mask_offer = session.scalar(sa.select(Offer).where(Offer.item_id == group.items["mask"].id))
    tank_offer = session.scalar(sa.select(Offer).where(Offer.item_id == group.items["tank"].id))
    assert mask_offer is not None and tank_offer is not None
    second = make_offer(session, supplier=mask_offer.supplier, item=group.items["tank"])
    session.commit()
    return [mask_offer, second], tank_offer


# ------------------------------------------------------------------- who sees what


@pytest.mark.parametrize("who", ["local_a", "chief_a", "coordinator", "specialist", "admin"])
def test_everyone_reads_groups_and_exclusions_and_only_specialists_and_admins_get_the_forms(
    client: TestClient, group: Group, session: Session, who: str
) -> None:
    offers, _other = _sourcing_group(session, group)
    capacity = make_capacity_group(session, offers=offers, name="Colón plant", capacity=9000)
    excluded = make_supplier(session, name="Vetted Out SA")
    exclusion = make_exclusion(
        session, agency=group.agencies["c"], supplier=excluded, created_by=group.users["specialist"]
    )
    session.commit()
    as_(client, group, who)
    may = who in ("specialist", "admin")

    groups = client.get("/catalogue/groups")
    assert groups.status_code == 200
    shown = text_of(groups.text)
    assert "Capacity groups" in shown and "Supplier exclusions" in shown  # the tabs
    assert "Colón plant" in shown and "9,000" in shown and "Suministros Istmo" in shown
    assert f"#{offers[0].id} Respirator N95" in shown and f"#{offers[1].id} Water tank" in shown
    assert (f"/catalogue/groups/{capacity.id}/edit" in groups.text) is may
    assert ('href="/catalogue/groups/new"' in groups.text) is may

    exclusions = client.get("/catalogue/exclusions")
    assert exclusions.status_code == 200
    shown = text_of(exclusions.text)
    assert "Vetted Out SA" in shown and "failed due diligence" in shown
    assert "vendor review committee" in shown and "Dr. Spec" in shown
    assert ('href="/catalogue/exclusions/new"' in exclusions.text) is may
    # Lifted by the agency's own specialist (c's) or an admin only.
    lift = f'action="/catalogue/exclusions/{exclusion.id}/delete"'
    assert (lift in exclusions.text) is may

    for url in (
        "/catalogue/groups/new",
        f"/catalogue/groups/{capacity.id}/edit",
        "/catalogue/exclusions/new",
    ):
        page = client.get(url)
        assert page.status_code == (200 if may else 403), url
        assert page.headers["content-type"].startswith("text/html")


def test_a_local_team_member_may_not_post_a_group_or_an_exclusion(
    client: TestClient, group: Group, session: Session
) -> None:
    offers, _other = _sourcing_group(session, group)
    capacity = make_capacity_group(session, offers=offers)
    session.commit()
    as_(client, group, "local_a")
    csrf = csrf_of(client.get("/rounds").text)
    body = {
        "csrf_token": csrf,
        "supplier_id": offers[0].supplier_id,
        "name": "Plant",
        "capacity": "10",
        "offer_ids": str(offers[0].id),
    }
    assert client.post("/catalogue/groups/new", data=body).status_code == 403
    assert client.post(f"/catalogue/groups/{capacity.id}/delete", data=body).status_code == 403
    excluded = {
        "csrf_token": csrf,
        "agency_id": group.agencies["a"].id,
        "supplier_id": offers[0].supplier_id,
        "evidence": "x",
        "source": "y",
    }
    assert client.post("/catalogue/exclusions/new", data=excluded).status_code == 403
    assert _count(session, CapacityGroup) == 1
    assert _count(session, SupplierExclusion) == 0


def test_an_exclusion_cannot_be_changed_only_lifted(client: TestClient, group: Group) -> None:
    as_(client, group, "specialist")
    # Refused as any kind the catalogue does not change (``/catalogue/nothing/1/edit``).
    for kind in ("exclusions", "nothing"):
        page = client.get(f"/catalogue/{kind}/1/edit", headers={"accept": "text/html"})
        assert page.status_code == 400, kind
        assert "Change exclusion" not in page.text


# ----------------------------------------------------------------- capacity groups


def test_a_group_with_mistakes_lists_them_all_and_writes_nothing_then_saves_and_audits(
    client: TestClient, group: Group, session: Session
) -> None:
    offers, other = _sourcing_group(session, group)
    supplier_id = offers[0].supplier_id
    as_(client, group, "specialist")
    # The supplier first; then its offers, and only its, to tick.
    first = client.get("/catalogue/groups/new")
    assert first.status_code == 200
    assert 'method="get" action="/catalogue/groups/new"' in first.text
    assert 'name="offer_ids"' not in first.text
    url = f"/catalogue/groups/new?supplier_id={supplier_id}"
    form = client.get(url).text
    listed = {int(v) for v in re.findall(r'name="offer_ids" value="(\d+)"', form)}
    assert listed == {o.id for o in offers}
    before = _count(session, CapacityGroup)

    mistaken = {
        "supplier_id": supplier_id,
        "name": "  ",
        "capacity": "-5",
        "offer_ids": [str(offers[0].id), str(other.id)],  # the other supplier's tank
    }
    answer = post_with_etag(client, url, "/catalogue/groups/new", mistaken)
    assert answer.status_code == 422, answer.text
    page = answer.text
    assert "There are problems; nothing was saved" in text_of(page)
    assert _error(page, "capacity") == "must be 0 or more"
    assert _error(page, "name")
    assert f"offer {other.id} is {other.supplier_id}'s, not {supplier_id}'s" in _error(
        page, "offer_ids"
    )
    # Typed and ticked as sent, the other supplier's offer listed where its problem is said.
    assert 'value="-5"' in page
    assert _ticked(page) == {offers[0].id, other.id}
    assert _count(session, CapacityGroup) == before

    # Nothing ticked is one more problem, worded for the form.
    none = post_with_etag(
        client, url, "/catalogue/groups/new", {**mistaken, "capacity": "10", "offer_ids": []}
    )
    assert none.status_code == 422
    assert "tick at least one offer of the supplier" in _error(none.text, "offer_ids")

    fixed = {
        **mistaken,
        "name": "Colón plant, 2026 output",
        "capacity": "12,000",
        "offer_ids": [str(o.id) for o in offers],
    }
    answer = post_with_etag(
        client,
        url,
        "/catalogue/groups/new",
        fixed,
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    stored = session.scalars(sa.select(CapacityGroup).order_by(CapacityGroup.id.desc())).first()
    assert stored is not None and _count(session, CapacityGroup) == before + 1
    assert answer.headers["location"].endswith(f"#capacity-group-{stored.id}")
    assert len(_audits(session, "capacity_group.create", stored.id)) == 1
    listed_page = text_of(client.get(answer.headers["location"]).text)
    assert f"Capacity group #{stored.id} added." in listed_page
    # The API reads what the page wrote.
    api = client.get(f"/api/v1/capacity-groups/{stored.id}", headers=group.headers("coordinator"))
    assert api.status_code == 200
    assert api.json()["name"] == "Colón plant, 2026 output"
    assert api.json()["capacity"] == 12000
    assert api.json()["supplier_id"] == supplier_id
    assert sorted(api.json()["offer_ids"]) == sorted(o.id for o in offers)


def test_a_group_is_changed_a_stale_form_refused_and_then_deleted(
    client: TestClient, group: Group, session: Session
) -> None:
    offers, other = _sourcing_group(session, group)
    capacity = make_capacity_group(session, offers=offers[:1], capacity=5000)
    session.commit()
    group_id = capacity.id
    as_(client, group, "specialist")
    url = f"/catalogue/groups/{group_id}/edit"
    form = client.get(url).text
    # The supplier is shown, not chosen again; its offers are listed, the member ticked.
    assert 'id="group-supplier"' in form and 'name="supplier_id"' not in form
    assert _ticked(form) == {offers[0].id}
    assert str(other.id) not in re.findall(r'name="offer_ids" value="(\d+)"', form)
    etag = _etag(form, url)
    base = {"csrf_token": csrf_of(form), "etag": etag, "name": capacity.name}

    wrong = client.post(url, data={**base, "capacity": "lots", "offer_ids": [str(other.id)]})
    assert wrong.status_code == 422
    assert _error(wrong.text, "capacity") and "not" in _error(wrong.text, "offer_ids")
    session.refresh(capacity)
    assert capacity.capacity == 5000 and capacity.offer_ids == [offers[0].id]

    changed = {**base, "capacity": "7500", "offer_ids": [str(o.id) for o in offers]}
    answer = client.post(url, data=changed, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    session.refresh(capacity)
    assert capacity.capacity == 7500
    assert capacity.offer_ids == sorted(o.id for o in offers)
    [entry] = _audits(session, "capacity_group.update", group_id)
    assert entry.before is not None and entry.before["offer_ids"] == [offers[0].id]

    # The same form again, with the ETag it was shown with: someone saved meanwhile.
    stale = client.post(url, data={**changed, "capacity": "1"})
    assert stale.status_code == 412
    assert "Someone changed this capacity group" in stale.text
    session.refresh(capacity)
    assert capacity.capacity == 7500

    form = client.get(url).text
    delete = f"/catalogue/groups/{group_id}/delete"
    assert f'action="{delete}"' in form
    refused = client.post(delete, data={"csrf_token": csrf_of(form), "etag": etag})
    assert refused.status_code == 412
    assert session.get(CapacityGroup, group_id) is not None
    answer = client.post(
        delete,
        data={"csrf_token": csrf_of(form), "etag": _etag(form, delete)},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    session.expire_all()
    assert session.get(CapacityGroup, group_id) is None
    assert len(_audits(session, "capacity_group.delete", group_id)) == 1
    gone = client.get(f"/api/v1/capacity-groups/{group_id}", headers=group.headers("specialist"))
    assert gone.status_code == 404


def test_another_agencys_agreement_joins_a_group_only_by_its_own_specialists(
    client: TestClient, group: Group, session: Session
) -> None:
    supplier = make_supplier(session)
    agreement = make_offer(
        session, supplier=supplier, item=group.items["mask"], owner=group.agencies["a"]
    )
    session.commit()
    as_(client, group, "specialist")  # agency c's
    url = f"/catalogue/groups/new?supplier_id={supplier.id}"
    body = {"supplier_id": supplier.id, "name": "Plant", "capacity": "10"}
    answer = post_with_etag(
        client,
        url,
        "/catalogue/groups/new",
        {**body, "offer_ids": [str(agreement.id)]},
    )
    assert answer.status_code == 403
    api = client.post(
        "/api/v1/capacity-groups",
        json={**body, "capacity": 10, "offer_ids": [agreement.id]},
        headers=group.headers("specialist"),
    )
    assert api.status_code == 403
    assert _error(answer.text, "offer_ids") == api.json()["detail"]
    assert _count(session, CapacityGroup) == 0


# ------------------------------------------------------------- supplier exclusions


def test_a_specialist_records_an_exclusion_for_their_agency_and_lifts_it(
    client: TestClient, group: Group, session: Session
) -> None:
    supplier = make_supplier(session, name="Vetted Out SA")
    session.commit()
    own = group.agencies["c"].id  # the specialist's agency
    as_(client, group, "specialist")
    form = client.get("/catalogue/exclusions/new").text
    # Only the agency the specialist vets for is offered, and chosen already.
    offered = re.findall(
        r'<option value="([^"]*)"[^>]*>[^<]*\(('
        + "|".join(re.escape(a.id) for a in group.agencies.values())
        + r")\)</option>",
        form,
    )
    assert [code for _value, code in offered] == [own]
    assert f'<option value="{own}" selected>' in form

    body = {
        "agency_id": own,
        "supplier_id": supplier.id,
        "evidence": "failed the 2026 integrity due diligence",
        "source": "vendor review committee, minute 2026/41",
    }
    answer = post_with_etag(
        client,
        "/catalogue/exclusions/new",
        "/catalogue/exclusions/new",
        body,
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    exclusion = session.scalar(sa.select(SupplierExclusion))
    assert exclusion is not None
    assert (exclusion.agency_id, exclusion.supplier_id) == (own, supplier.id)
    assert exclusion.created_by_id == group.users["specialist"].id
    assert len(_audits(session, "supplier_exclusion.create", exclusion.id)) == 1
    assert answer.headers["location"].endswith(f"#exclusion-{exclusion.id}")
    listed = client.get("/catalogue/exclusions")
    shown = text_of(listed.text)
    assert "failed the 2026 integrity due diligence" in shown
    assert "minute 2026/41" in shown and "Vetted Out SA" in shown and "Dr. Spec" in shown
    api = client.get(
        f"/api/v1/supplier-exclusions/{exclusion.id}", headers=group.headers("local_a")
    )
    assert api.json()["evidence"] == "failed the 2026 integrity due diligence"

    # Recorded twice: the service's conflict, next to the supplier.
    again = post_with_etag(client, "/catalogue/exclusions/new", "/catalogue/exclusions/new", body)
    assert again.status_code == 409
    assert _error(again.text, "supplier_id") == f"{own} already excludes {supplier.id}"
    assert _count(session, SupplierExclusion) == 1

    # Lifted from the list, with the ETag the list was shown with.
    exclusion_id = exclusion.id
    lift = f"/catalogue/exclusions/{exclusion_id}/delete"
    stale = client.post(
        lift, data={"csrf_token": csrf_of(listed.text), "etag": "old"}, follow_redirects=False
    )
    assert stale.status_code == 303  # back to the list, told why
    assert "was not lifted" in text_of(client.get("/catalogue/exclusions").text)
    assert _count(session, SupplierExclusion) == 1
    listed = client.get("/catalogue/exclusions")
    answer = client.post(
        lift,
        data={"csrf_token": csrf_of(listed.text), "etag": _etag(listed.text, lift)},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    session.expire_all()
    assert session.get(SupplierExclusion, exclusion_id) is None
    assert len(_audits(session, "supplier_exclusion.delete", exclusion_id)) == 1
    after = text_of(client.get(answer.headers["location"]).text)
    assert f"Exclusion #{exclusion_id} lifted." in after
    assert "No supplier exclusions match." in after


def test_a_bad_exclusion_lists_every_problem_and_writes_nothing(
    client: TestClient, group: Group, session: Session
) -> None:
    as_(client, group, "admin")
    answer = post_with_etag(
        client,
        "/catalogue/exclusions/new",
        "/catalogue/exclusions/new",
        {"agency_id": "NOPE", "supplier_id": "no-such-supplier", "evidence": " ", "source": ""},
    )
    assert answer.status_code == 422
    page = answer.text
    assert "There are problems; nothing was saved" in text_of(page)
    assert "NOPE" in _error(page, "agency_id")
    assert "no-such-supplier" in _error(page, "supplier_id")
    assert _error(page, "evidence") and _error(page, "source")
    start = page.index('id="error-summary"')
    summary = html.unescape(page[start : page.index("</ul>", start)])
    for label in ("Agency", "Supplier", "Evidence", "Source"):
        assert f"{label}:" in summary, label
    assert _count(session, SupplierExclusion) == 0


def test_an_exclusion_for_another_agency_is_refused_as_the_api_refuses_it(
    client: TestClient, group: Group, session: Session
) -> None:
    supplier = make_supplier(session)
    theirs = make_exclusion(
        session, agency=group.agencies["a"], supplier=supplier, created_by=group.users["admin"]
    )
    other = make_supplier(session)
    session.commit()
    as_(client, group, "specialist")  # agency c's, recording for agency a
    body = {
        "agency_id": group.agencies["a"].id,
        "supplier_id": other.id,
        "evidence": "sanctions list match",
        "source": "committee minute 41",
    }
    answer = post_with_etag(client, "/catalogue/exclusions/new", "/catalogue/exclusions/new", body)
    api = client.post("/api/v1/supplier-exclusions", json=body, headers=group.headers("specialist"))
    assert answer.status_code == api.status_code == 403
    assert _error(answer.text, "agency_id") == api.json()["detail"]
    assert _count(session, SupplierExclusion) == 1

    # Nor lifted: no button for it, and a post is refused in the service's words.
    listed = client.get("/catalogue/exclusions").text
    lift = f"/catalogue/exclusions/{theirs.id}/delete"
    assert f'action="{lift}"' not in listed
    refused = client.post(lift, data={"csrf_token": csrf_of(listed), "etag": "*"})
    assert refused.status_code == 403
    assert api.json()["detail"] in text_of(refused.text)
    assert session.get(SupplierExclusion, theirs.id) is not None

    # An admin lifts any agency's.
    as_(client, group, "admin")
    listed = client.get("/catalogue/exclusions").text
    answer = client.post(
        lift,
        data={"csrf_token": csrf_of(listed), "etag": _etag(listed, lift)},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    session.expire_all()
    assert session.get(SupplierExclusion, theirs.id) is None
