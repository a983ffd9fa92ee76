"""The pages a chief decides on and a field team trusts (issue 14): lateness shown, the
reader's own share leading the plan, safeguards on irreversible steps, names and plain
words instead of codes.

The group is ``tests.test_web.build_group``'s; a test adds what it needs (a late need, a
draft) before closing the round through its page.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.catalogue.models import Offer
from app.db import utcnow
from app.needs.models import Priority
from tests.factories import make_need
from tests.test_web import (
    Group,
    _wait_for_plan,
    as_,
    build_group,
    close_through_the_page,
    post_form,
    text_of,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def group(session: Session) -> Group:
    return build_group(session)


def _late_need(session: Session, group: Group) -> None:
    """A critical need of agency a due in two days: every offer needs ten days to arrive."""
    group.needs["late_a"] = make_need(
        session,
        round_=group.round,
        agency=group.agencies["a"],
        item=group.items["mask"],
        location=group.locations["l2"],
        quantity=500,
        need_by=(utcnow() + dt.timedelta(days=2)).date(),
        priority=Priority.critical,
        justification="a new arrival point",
        created_by=group.users["local_a"],
    )
    session.commit()


def _solved(client: TestClient, group: Group) -> int:
    run_id = close_through_the_page(client, group)
    assert _wait_for_plan(client, group, run_id)["status"] == "succeeded"
    return run_id


def _section(page: str, element_id: str) -> str:
    match = re.search(rf'<(section|table)[^>]*id="{element_id}".*?</\1>', page, re.S)
    assert match, element_id
    return text_of(match.group(0))


def test_the_plan_says_late_with_days_and_priority(
    client: TestClient, group: Group, session: Session
) -> None:
    _late_need(session, group)
    run_id = close_through_the_page(client, group)
    run = _wait_for_plan(client, group, run_id)
    late = [a for a in run["plan"]["awards"] if a["late_days"] > 0]
    assert late, "the two-day need cannot arrive in time"
    page = client.get(f"/runs/{run_id}/plan").text
    table = _section(page, "late")
    for award in late:
        days = award["late_days"]
        assert f"{days} day{'s' if days != 1 else ''} late" in table
    assert "critical" in table
    assert "Bajo Chiquito" in table  # the location's name, not its code
    assert group.locations["l2"].id not in table


def test_a_chiefs_page_leads_with_its_agencys_share(
    client: TestClient, group: Group, session: Session
) -> None:
    _late_need(session, group)
    run_id = _solved(client, group)
    statements = {
        s["agency"]: s
        for s in client.get(
            f"/api/v1/runs/{run_id}/cost-statements", headers=group.headers("coordinator")
        ).json()["items"]
    }
    a = group.agencies["a"].id
    as_(client, group, "chief_a")
    page = client.get(f"/runs/{run_id}/plan").text
    # The share comes before the group's figures, and links to the decision and the plan.
    assert page.index('id="share-title"') < page.index('id="agencies-title"')
    share = _section(page, "share")
    mine = statements[a]
    assert f"{mine['allocated_cost']:,.2f}" in share
    assert f"{mine['standalone_cost']:,.2f}" in share
    assert f"{abs(mine['savings']):,.2f}" in share
    assert "critical" in share and "late" in share  # its late award, with its priority
    # Its unmet tank, the reason in names: no code of an item or a location.
    assert "Water tank 1000 l" in share and "Bajo Chiquito" in share
    assert group.items["tank"].id not in share and group.locations["l2"].id not in share
    assert 'href="#approval"' in page and 'href="#full-plan"' in page
    # Only its own agency's share: agency b's needs are not in it.
    b_statement = statements[group.agencies["b"].id]
    assert f"{b_statement['allocated_cost']:,.2f}" not in share


def test_no_share_for_a_reader_of_no_agency_in_the_plan(client: TestClient, group: Group) -> None:
    run_id = _solved(client, group)
    page = client.get(f"/runs/{run_id}/plan").text  # the coordinator's agency has no needs
    assert 'id="share"' not in page
    assert 'id="late"' in page


def test_the_lateness_factor_takes_0_and_lists_10_as_asked(
    client: TestClient, group: Group
) -> None:
    run_id = _solved(client, group)
    url = f"/runs/{run_id}"
    page = client.get(url).text
    assert "0 ignores it" in page
    for name, factor in (("cost only", "0"), ("lateness ten times", "10")):
        made = post_form(
            client,
            url,
            f"{url}/scenarios",
            {"name": name, "late_penalty_factor": factor},
            follow_redirects=False,
        )
        assert made.status_code == 303, text_of(made.text)
    rows = {
        s["name"]: s
        for s in client.get(
            f"/api/v1/runs/{run_id}/scenarios", headers=group.headers("coordinator")
        ).json()["items"]
    }
    assert rows["cost only"]["late_penalty_rate"] == 0
    table = _section(client.get(url).text, "scenarios")
    assert "10 \u00d7 the run's" in table
    assert f"rate {rows['lateness ten times']['late_penalty_rate']:g}" in table
    assert "0 \u00d7 the run's" in table


def test_the_run_page_speaks_plainly_and_gives_times_with_their_zone(
    client: TestClient, group: Group
) -> None:
    run_id = _solved(client, group)
    page = text_of(client.get(f"/runs/{run_id}").text)
    assert "objective" not in page
    assert "best plan so far" in page
    # Panama is five hours behind UTC all year: the offset is printed beside each time.
    assert re.search(r"Started \d{4}-\d\d-\d\d \d\d:\d\d UTC\u221205:00", page), page


def test_closing_asks_first_and_names_the_drafts_left_out(
    client: TestClient, group: Group, session: Session
) -> None:
    as_(client, group, "coordinator")
    url = f"/rounds/{group.round.id}"
    assert f'href="{url}/close"' in client.get(url).text
    confirm = client.get(f"{url}/close")
    assert confirm.status_code == 200
    drafts = _section(confirm.text, "drafts")
    draft = group.needs["draft_b"]
    assert f"#{draft.id}" in drafts and "Beto Local" in drafts and "Water tank 1000 l" in drafts
    assert "Close without the 1 draft and run" in text_of(confirm.text)
    # A post without the confirmation closes nothing: it is sent to the confirmation page.
    unconfirmed = post_form(client, f"{url}/close", f"{url}/close", {}, follow_redirects=False)
    assert unconfirmed.status_code == 303
    assert unconfirmed.headers["location"] == f"{url}/close"
    session.refresh(group.round)
    assert group.round.status.value == "open"
    close_through_the_page(client, group)
    session.refresh(group.round)
    assert group.round.status.value != "open"


def test_after_a_rejection_the_round_says_who_rejected_and_why(
    client: TestClient, group: Group, session: Session
) -> None:
    run_id = _solved(client, group)
    as_(client, group, "chief_a")
    plan = f"/runs/{run_id}/plan"
    reason = "the critical tank at Bajo Chiquito is left unmet"
    post_form(client, plan, f"/runs/{run_id}/decision", {"decision": "rejected", "reason": reason})
    session.refresh(group.round)
    assert group.round.status.value == "rejected"
    page = client.get(f"/rounds/{group.round.id}").text
    notice = text_of(page)
    assert "was rejected" in notice
    assert "Carla Chief" in notice and reason in notice
    assert "is ready" not in notice


def test_a_need_due_before_the_rounds_order_date_is_refused(
    client: TestClient, group: Group, session: Session
) -> None:
    order_date = utcnow().date() + dt.timedelta(days=20)
    group.round.as_of = order_date
    session.commit()
    as_(client, group, "local_a")
    url = f"/rounds/{group.round.id}/needs/new"
    form = client.get(url).text
    assert f"orders are placed on {order_date.isoformat()}" in text_of(form)
    too_early = (order_date - dt.timedelta(days=3)).isoformat()
    answer = post_form(
        client,
        url,
        url,
        {
            "item_id": group.items["mask"].id,
            "location_id": group.locations["l1"].id,
            "quantity": "10",
            "need_by": too_early,
            "priority": "normal",
            "justification": "",
            "action": "submit",
        },
    )
    assert answer.status_code == 422
    error = re.search(r'id="need_by-error">(.*?)</p>', answer.text, re.S)
    assert error
    assert f"before the round's order date ({order_date.isoformat()})" in text_of(error.group(1))
    # The API and a change of a need say the same.
    body = {
        "item_id": group.items["mask"].id,
        "location_id": group.locations["l1"].id,
        "quantity": 10,
        "need_by": too_early,
        "priority": "normal",
    }
    api = client.post(
        f"/api/v1/rounds/{group.round.id}/needs", json=body, headers=group.headers("local_a")
    )
    assert api.status_code == 422
    assert "before the round's order date" in api.text
    on_time = client.post(
        f"/api/v1/rounds/{group.round.id}/needs",
        json={**body, "need_by": order_date.isoformat()},
        headers=group.headers("local_a"),
    )
    assert on_time.status_code == 201, on_time.text
    change = client.patch(
        f"/api/v1/needs/{on_time.json()['id']}",
        json={"need_by": too_early},
        headers={**group.headers("local_a"), "If-Match": on_time.headers["etag"]},
    )
    assert change.status_code == 422 and "order date" in change.text


def test_an_unknown_path_is_a_page_for_a_browser_and_json_for_the_api(
    client: TestClient, group: Group
) -> None:
    browser = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    page = client.get("/no/such/page", headers=browser)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Page not found" in page.text and 'href="/rounds"' in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    api = client.get("/api/v1/no-such-thing", headers=browser)
    assert api.status_code == 404 and api.headers["content-type"] == "application/problem+json"
    plain = client.get("/no/such/page")
    assert plain.status_code == 404 and plain.headers["content-type"] == "application/problem+json"


def test_pages_name_roles_in_words_and_count_in_the_right_number(
    client: TestClient, group: Group
) -> None:
    as_(client, group, "local_a")
    refused = client.get(f"/rounds/{group.round.id}/close")
    assert refused.status_code == 403
    assert "only a coordinator may do this" in text_of(refused.text)
    assert "local team member" in text_of(refused.text)  # the header's roles
    assert "local_team" not in text_of(refused.text)
    search = client.get(f"/rounds/{group.round.id}/needs/new?q=Respirator").text
    assert "1 item matches" in text_of(search)


def test_offers_and_routes_are_listed_with_names_and_currency(
    client: TestClient, group: Group
) -> None:
    as_(client, group, "local_a")
    offers = text_of(client.get("/catalogue/offers").text)
    assert "Suministros Istmo" in offers and "Respirator N95" in offers
    assert "Price tiers (USD)" in offers
    routes = text_of(client.get("/catalogue/routes").text)
    assert "Lajas Blancas reception station" in routes and "Suministros Istmo" in routes
    assert "Fixed cost (USD)" in routes


def test_an_offer_whose_minimum_order_exceeds_its_capacity_is_refused(
    client: TestClient, group: Group, session: Session
) -> None:
    as_(client, group, "specialist")
    offer = session.scalars(sa.select(Offer).where(Offer.item_id == group.items["mask"].id)).one()
    url = "/catalogue/offers/new"
    form = {
        "supplier_id": offer.supplier_id,
        "item_id": group.items["tank"].id,
        "tier_min_quantity_0": "0",
        "tier_unit_price_0": "310",
        "capacity": "100",
        "min_order_quantity": "500",
        "lead_time_days": "12",
        "valid_from": "2026-01-01",
    }
    before = session.scalar(sa.select(sa.func.count()).select_from(Offer))
    refused = post_form(client, url, url, form)
    assert refused.status_code == 422
    error = re.search(r'id="min_order_quantity-error">(.*?)</p>', refused.text, re.S)
    assert error and "above the capacity (100)" in text_of(error.group(1))
    assert session.scalar(sa.select(sa.func.count()).select_from(Offer)) == before
    # A change that raises the minimum above the stored capacity is refused too (API).
    etag = client.get(f"/api/v1/offers/{offer.id}", headers=group.headers("specialist"))
    change = client.patch(
        f"/api/v1/offers/{offer.id}",
        json={"min_order_quantity": offer.capacity + 1},
        headers={**group.headers("specialist"), "If-Match": etag.headers["etag"]},
    )
    assert change.status_code == 422 and "above the capacity" in change.text


def test_the_review_list_shows_what_is_left_and_who_reviewed(
    client: TestClient, group: Group
) -> None:
    as_(client, group, "specialist")
    url = f"/rounds/{group.round.id}/reviews"
    submitted = [n for n in group.needs.values() if n.status.value == "submitted"]
    first = text_of(client.get(url).text)
    assert f"{len(submitted)} needs left to review" in first
    need = group.needs["tank_a"]
    post_form(
        client,
        f"/needs/{need.id}/review",
        f"/needs/{need.id}/review",
        {"priority": "critical", "evidence": "cases up 40%", "source": "MINSA week 46"},
    )
    after = client.get(url).text
    assert f"{len(submitted) - 1} need{'s' if len(submitted) != 2 else ''} left to review" in (
        text_of(after)
    )
    row = re.search(rf"<tr>\s*<td data-label=\"Need\">{need.id}</td>.*?</tr>", after, re.S)
    assert row and "Dr. Spec" in text_of(row.group(0))
    left = client.get(url, params={"review": "to_review"}).text
    assert f'/needs/{need.id}/review"' not in left
    assert all(f'/needs/{n.id}/review"' in left for n in submitted if n.id != need.id)
    done = client.get(url, params={"review": "reviewed"}).text
    assert f'/needs/{need.id}/review"' in done


def test_who_what_where_marks_a_critical_need_left_unmet(
    client: TestClient, group: Group, session: Session
) -> None:
    # No supplier of the tank delivers to Bajo Chiquito: this critical need stays unmet.
    make_need(
        session,
        round_=group.round,
        agency=group.agencies["b"],
        item=group.items["tank"],
        location=group.locations["l2"],
        quantity=4,
        need_by=(utcnow() + dt.timedelta(days=30)).date(),
        priority=Priority.critical,
        justification="cholera response",
        created_by=group.users["local_b"],
    )
    session.commit()
    run_id = _solved(client, group)
    page = client.get(f"/runs/{run_id}/plan").text
    assert page.count('class="cell critical-unmet"') == 1
    assert "critical need unmet" in text_of(page)
    assert "Lajas Blancas reception station" in page  # whole, not cut


def test_the_review_filters_any_option_is_no_filter(client: TestClient, group: Group) -> None:
    as_(client, group, "specialist")
    url = f"/rounds/{group.round.id}/reviews"
    answer = client.get(url, params={"priority": "", "review": "to_review"})
    assert answer.status_code == 200
    assert f'/needs/{group.needs["tank_a"].id}/review"' in answer.text
