"""Web pages through the app (TestClient): sign-in, CSRF, each role's pages, field errors,
the bulk upload that imports nothing from a file with a bad row, the plan page's figures.

``build_group`` (also used by ``tests/test_exchange_routes.py``) is a small pooling
group: two agencies with needs for masks (that pool into a cheaper tier) and a water
tank nobody can deliver, a third agency with no needs, and a user of every role.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy.orm import Session

from app.audit.models import AuditEntry
from app.auth.models import Agency, Role, User
from app.catalogue.models import Item, Location, Offer, Route
from app.db import utcnow
from app.needs.models import Need, NeedStatus, Priority
from app.rounds.models import Round, RoundStatus
from app.settings import Settings
from app.web import session as web_session
from tests.factories import (
    make_agency,
    make_item,
    make_location,
    make_need,
    make_offer,
    make_round,
    make_route,
    make_supplier,
    make_token,
    make_user,
)

pytestmark = pytest.mark.integration

NEED_BY = (utcnow() + dt.timedelta(days=30)).date()


@dataclass
class Group:
    round: Round
    agencies: dict[str, Agency]
    users: dict[str, User]
    tokens: dict[str, str]
    items: dict[str, Item]
    locations: dict[str, Location]
    needs: dict[str, Need] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def build_group(session: Session) -> Group:
    a, b, c = make_agency(session), make_agency(session), make_agency(session)
    mask = make_item(session, name="Respirator N95", category="PPE", unspsc_code="42131606")
    tank = make_item(session, name="Water tank 1000 l", unit="tank", category="WASH")
    make_item(session, name="Surgical gown", category="PPE", unspsc_code="42131702")
    l1 = make_location(session, name="Lajas Blancas reception station", region="Darién")
    l2 = make_location(session, name="Bajo Chiquito", region="Darién")
    s1, s2 = make_supplier(session, name="Suministros Istmo"), make_supplier(session)
    make_offer(session, supplier=s1, item=mask, tiers=[(0, "1.20"), (10_000, "1.00")])
    make_offer(session, supplier=s2, item=tank, tiers=[(0, "300")])
    make_route(session, supplier=s1, location=l1, fixed_cost="500", unit_cost="0.01")
    make_route(session, supplier=s1, location=l2, fixed_cost="800", unit_cost="0.02")
    make_route(session, supplier=s2, location=l1, fixed_cost="100", unit_cost="1")

    coordinator_agency = make_agency(session)
    users = {
        "local_a": make_user(session, Role.local_team, agency=a, name="Ana Local"),
        "local_b": make_user(session, Role.local_team, agency=b, name="Beto Local"),
        "chief_a": make_user(session, Role.chief_of_mission, agency=a, name="Carla Chief"),
        "chief_b": make_user(session, Role.chief_of_mission, agency=b, name="Dario Chief"),
        "specialist": make_user(session, Role.technical_specialist, agency=c, name="Dr. Spec"),
        "coordinator": make_user(
            session, Role.coordinator, agency=coordinator_agency, name="Isa Coordinator"
        ),
        "admin": make_user(session, Role.admin, name="Admin"),
    }
    tokens = {who: make_token(session, user) for who, user in users.items()}
    round_ = make_round(session, created_by=users["coordinator"], name="December round")
    needs = {
        "mask_a": make_need(
            session,
            round_=round_,
            agency=a,
            item=mask,
            location=l1,
            quantity=4000,
            need_by=NEED_BY,
            created_by=users["local_a"],
        ),
        "mask_b": make_need(
            session,
            round_=round_,
            agency=b,
            item=mask,
            location=l1,
            quantity=7000,
            need_by=NEED_BY,
            created_by=users["local_b"],
        ),
        "tank_a": make_need(
            session,
            round_=round_,
            agency=a,
            item=tank,
            location=l2,
            quantity=3,
            need_by=NEED_BY,
            priority=Priority.high,
            justification="new arrivals",
            created_by=users["local_a"],
        ),
        "draft_b": make_need(
            session,
            round_=round_,
            agency=b,
            item=tank,
            location=l1,
            quantity=2,
            need_by=NEED_BY,
            status=NeedStatus.draft,
            created_by=users["local_b"],
        ),
    }
    # Committed (to the test's savepoint; the test still rolls everything back): a
    # request that fails rolls its session back, which must not take the group with it.
    session.commit()
    return Group(
        round=round_,
        agencies={"a": a, "b": b, "c": c},
        users=users,
        tokens=tokens,
        items={"mask": mask, "tank": tank},
        locations={"l1": l1, "l2": l2},
        needs=needs,
    )


@pytest.fixture
def group(session: Session) -> Group:
    return build_group(session)


CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
ETAG_RE = re.compile(r'name="etag" value="([^"]*)"')


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def sign_in(client: TestClient, token: str) -> TestClient:
    page = client.get("/sign-in")
    assert page.status_code == 200
    answer = client.post(
        "/sign-in",
        data={"csrf_token": csrf_of(page.text), "token": token, "next": "/rounds"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/rounds"
    return client


def as_(client: TestClient, group: Group, who: str) -> TestClient:
    return sign_in(client, group.tokens[who])


def post_form(client: TestClient, page_url: str, action: str, data: dict[str, Any], **kw: Any):
    """POST a form the way a browser would: with the CSRF token of the page it is on."""
    page = client.get(page_url)
    assert page.status_code == 200, page.text
    return client.post(action, data={"csrf_token": csrf_of(page.text), **data}, **kw)


def text_of(page: str) -> str:
    """The page's text, tags dropped and spaces squeezed: what a person reads."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


# --------------------------------------------------------------------------- sign-in


def test_pages_need_sign_in(client: TestClient, group: Group) -> None:
    answer = client.get(f"/rounds/{group.round.id}", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/sign-in?next=/rounds/{group.round.id}"


def test_sign_in_sets_a_safe_session_cookie_and_shows_the_user(
    client: TestClient, group: Group
) -> None:
    page = client.get("/sign-in")
    answer = client.post(
        "/sign-in",
        data={"csrf_token": csrf_of(page.text), "token": group.tokens["local_a"], "next": "/"},
        follow_redirects=False,
    )
    cookie = next(
        h for h in answer.headers.get_list("set-cookie") if h.startswith("poolbuy_session=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie or "SameSite=Lax" in cookie
    # The cookie does not show the token in the clear to anyone who decodes it? It is
    # signed, not encrypted; what matters is that a changed cookie is refused.
    rounds = client.get("/rounds")
    assert rounds.status_code == 200
    assert "Ana Local" in rounds.text
    assert "December round" in rounds.text
    assert rounds.headers["content-security-policy"].startswith("default-src 'none'")
    assert "script-src 'self'" in rounds.headers["content-security-policy"]
    assert rounds.headers["cache-control"] == "no-store"


def test_a_wrong_token_is_refused_next_to_the_field(client: TestClient, group: Group) -> None:
    page = client.get("/sign-in")
    answer = client.post(
        "/sign-in", data={"csrf_token": csrf_of(page.text), "token": "pb_nope", "next": "/"}
    )
    assert answer.status_code == 401
    assert 'id="token-error"' in answer.text
    assert "malformed token" in answer.text
    assert 'aria-invalid="true"' in answer.text


def test_a_tampered_cookie_is_no_session(client: TestClient, group: Group) -> None:
    as_(client, group, "local_a")
    value = client.cookies["poolbuy_session"]
    body, mac = value.split(".")
    client.cookies.set("poolbuy_session", body[:-2] + "AA." + mac)
    assert client.get("/rounds", follow_redirects=False).status_code == 303


def test_a_revoked_token_ends_the_web_session(
    client: TestClient, group: Group, session: Session
) -> None:
    from app.auth.models import ApiToken

    as_(client, group, "local_a")
    token = session.scalar(sa.select(ApiToken).where(ApiToken.user_id == group.users["local_a"].id))
    assert token is not None
    token.revoked_at = utcnow()
    session.commit()  # kept across the failing requests below
    answer = client.get("/rounds", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/sign-in")
    notice = client.get(answer.headers["location"])
    assert "Your session ended: token revoked" in notice.text


def test_sign_out_clears_the_session(client: TestClient, group: Group) -> None:
    as_(client, group, "local_a")
    answer = post_form(client, "/rounds", "/sign-out", {}, follow_redirects=False)
    assert answer.status_code == 303
    assert client.get("/rounds", follow_redirects=False).status_code == 303


def test_open_redirects_are_refused(client: TestClient, group: Group) -> None:
    page = client.get("/sign-in")
    answer = client.post(
        "/sign-in",
        data={
            "csrf_token": csrf_of(page.text),
            "token": group.tokens["local_a"],
            "next": "//evil.example/x",
        },
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/rounds"


def test_secure_cookie_outside_development() -> None:
    assert web_session.secure_cookies(Settings(environment="production", secret_key="x" * 32))
    assert not web_session.secure_cookies(Settings(environment="development"))


# ------------------------------------------------------------------------------ CSRF


def test_a_form_without_its_csrf_token_changes_nothing(
    client: TestClient, group: Group, session: Session
) -> None:
    as_(client, group, "local_a")
    before = session.scalar(sa.select(sa.func.count()).select_from(Need))
    data = {
        "item_id": group.items["mask"].id,
        "location_id": group.locations["l1"].id,
        "quantity": "10",
        "need_by": NEED_BY.isoformat(),
        "priority": "normal",
        "action": "submit",
    }
    url = f"/rounds/{group.round.id}/needs/new"
    for token in (None, "forged", csrf_of(client.get("/sign-in").text) + "x"):
        sent = data if token is None else {**data, "csrf_token": token}
        answer = client.post(url, data=sent)
        assert answer.status_code == 403
        assert "The form has expired" in answer.text
    assert session.scalar(sa.select(sa.func.count()).select_from(Need)) == before


def test_the_csrf_token_is_bound_to_the_session(client: TestClient, group: Group) -> None:
    """A token taken from another person's session does not work in this one."""
    other = TestClient(client.app)
    as_(other, group, "local_b")
    foreign = csrf_of(other.get("/rounds").text)
    as_(client, group, "local_a")
    answer = client.post("/sign-out", data={"csrf_token": foreign})
    assert answer.status_code == 403


# -------------------------------------------------------------------- local team


def test_local_team_round_page_shows_own_needs_drafts_and_duplicates(
    client: TestClient, group: Group
) -> None:
    as_(client, group, "local_b")
    page = client.get(f"/rounds/{group.round.id}")
    assert page.status_code == 200
    html = page.text
    assert f'id="need-{group.needs["draft_b"].id}"' in html  # its own draft
    assert f'id="need-{group.needs["mask_a"].id}"' not in html  # not another agency's row
    # The duplication flag names the other agency's need.
    a = group.agencies["a"].id
    assert f"{a} need #{group.needs['mask_a'].id}" in text_of(html)
    assert "Add a need" in html and "Upload needs from a spreadsheet" in html


def test_another_agency_draft_stays_hidden(client: TestClient, group: Group) -> None:
    as_(client, group, "local_a")
    answer = client.get(f"/needs/{group.needs['draft_b'].id}/edit")
    assert answer.status_code == 404


def test_need_form_lists_items_and_searches_unspsc(client: TestClient, group: Group) -> None:
    as_(client, group, "local_a")
    url = f"/rounds/{group.round.id}/needs/new"
    everything = client.get(url).text
    assert "Respirator N95" in everything and "Water tank 1000 l" in everything
    by_class = client.get(url, params={"q": "42131600"}).text
    assert "Respirator N95" in by_class
    assert "Water tank 1000 l" not in by_class
    by_code = client.get(url, params={"q": "42131606"}).text
    assert "Respirator N95" in by_code and "Surgical gown" not in by_code


def test_need_with_mistakes_shows_every_error_next_to_its_field(
    client: TestClient, group: Group, session: Session
) -> None:
    as_(client, group, "local_a")
    before = session.scalar(sa.select(sa.func.count()).select_from(Need))
    url = f"/rounds/{group.round.id}/needs/new"
    answer = post_form(
        client,
        url,
        url,
        {
            "item_id": group.items["mask"].id,
            "location_id": "",
            "quantity": "ten",
            "need_by": "2020-01-01",
            "priority": "critical",
            "justification": "",
            "action": "submit",
        },
    )
    assert answer.status_code == 422
    html = answer.text
    for name in ("location_id", "quantity", "need_by", "justification"):
        assert f'id="{name}-error"' in html, name
    assert "enter a whole number" in html
    assert "must not be in the past" in html
    assert "is required for a critical need" in html
    assert 'id="error-summary"' in html
    # What was typed is kept, so only the mistakes need retyping.
    assert 'value="ten"' in html
    assert f'<option value="{group.items["mask"].id}" selected>' in html
    assert session.scalar(sa.select(sa.func.count()).select_from(Need)) == before


def test_need_fixed_is_submitted_and_audited(
    client: TestClient, group: Group, session: Session
) -> None:
    as_(client, group, "local_a")
    url = f"/rounds/{group.round.id}/needs/new"
    answer = post_form(
        client,
        url,
        url,
        {
            "item_id": group.items["mask"].id,
            "location_id": group.locations["l1"].id,
            "quantity": "1,500",
            "need_by": NEED_BY.isoformat(),
            "priority": "normal",
            "justification": "",
            "action": "submit",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    need = session.scalars(sa.select(Need).order_by(Need.id.desc())).first()
    assert need is not None
    assert (need.quantity, need.status, need.agency_id) == (
        1500,
        NeedStatus.submitted,
        group.agencies["a"].id,
    )
    assert session.scalar(
        sa.select(AuditEntry).where(
            AuditEntry.action == "need.create", AuditEntry.entity_id == str(need.id)
        )
    )
    page = client.get(answer.headers["location"].split("#")[0])
    assert f"Need #{need.id} submitted." in page.text


def test_edit_submit_and_withdraw_a_need(client: TestClient, group: Group) -> None:
    as_(client, group, "local_b")
    draft = group.needs["draft_b"]
    edit_url = f"/needs/{draft.id}/edit"
    form = client.get(edit_url).text
    etag = ETAG_RE.search(form)
    assert etag is not None
    answer = client.post(
        edit_url,
        data={
            "csrf_token": csrf_of(form),
            "etag": html.unescape(etag.group(1)),
            "item_id": draft.item_id,
            "location_id": draft.location_id,
            "quantity": "5",
            "need_by": NEED_BY.isoformat(),
            "priority": "normal",
            "justification": "",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    assert draft.quantity == 5

    # A stale form (the ETag read before that change) is refused, nothing changed.
    stale = client.post(
        edit_url,
        data={
            "csrf_token": csrf_of(form),
            "etag": html.unescape(etag.group(1)),
            "item_id": draft.item_id,
            "location_id": draft.location_id,
            "quantity": "9",
            "need_by": NEED_BY.isoformat(),
            "priority": "normal",
        },
    )
    assert stale.status_code == 412
    assert "Someone changed this need" in stale.text
    assert draft.quantity == 5

    round_page = client.get(f"/rounds/{group.round.id}").text
    fresh = re.search(
        rf'action="/needs/{draft.id}/submit".*?name="etag" value="([^"]*)"', round_page, re.S
    )
    assert fresh is not None
    done = client.post(
        f"/needs/{draft.id}/submit",
        data={"csrf_token": csrf_of(round_page), "etag": html.unescape(fresh.group(1))},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert draft.status == NeedStatus.submitted


def test_other_roles_cannot_use_the_need_form(client: TestClient, group: Group) -> None:
    as_(client, group, "chief_a")
    answer = client.get(f"/rounds/{group.round.id}/needs/new")
    assert answer.status_code == 403
    assert "only a local team member may do this" in answer.text


def _xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "needs"
    sheet.append(["item", "location", "quantity", "need_by", "priority", "justification"])
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_upload_with_a_bad_row_lists_it_and_imports_nothing(
    client: TestClient, group: Group, session: Session
) -> None:
    as_(client, group, "local_a")
    mask, l1 = group.items["mask"].id, group.locations["l1"].id
    body = _xlsx(
        [
            [mask, l1, 100, NEED_BY, "normal", ""],
            [mask, l1, -5, NEED_BY, "normal", ""],
            [mask, "nowhere", 10, NEED_BY, "critical", ""],
        ]
    )
    before = session.scalar(sa.select(sa.func.count()).select_from(Need))
    url = f"/rounds/{group.round.id}/needs/upload"
    page = client.get(url)
    answer = client.post(
        url,
        data={"csrf_token": csrf_of(page.text), "layout": "template", "submit": "yes"},
        files={"file": ("needs.xlsx", body, "application/octet-stream")},
    )
    assert answer.status_code == 422
    readable = text_of(answer.text)
    assert "needs.xlsx was not imported" in readable
    assert "row 3, quantity" in readable
    assert "row 4, location" in readable and "no location 'nowhere'" in readable
    assert "row 4, justification" in readable
    assert "row 2" not in readable.replace("row 2,", "")  # the good row is not blamed
    assert session.scalar(sa.select(sa.func.count()).select_from(Need)) == before


def test_upload_of_a_good_file_imports_every_row(
    client: TestClient, group: Group, session: Session
) -> None:
    as_(client, group, "local_a")
    mask, l1 = group.items["mask"].id, group.locations["l1"].id
    body = _xlsx([[mask, l1, 100, NEED_BY, "normal", ""], [mask, l1, 200, NEED_BY, "high", "x"]])
    url = f"/rounds/{group.round.id}/needs/upload"
    answer = client.post(
        url,
        data={"csrf_token": csrf_of(client.get(url).text), "layout": "template"},
        files={"file": ("needs.xlsx", body)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    new = session.scalars(
        sa.select(Need).where(Need.quantity.in_([100, 200])).order_by(Need.id)
    ).all()
    assert [(n.quantity, n.status) for n in new] == [
        (100, NeedStatus.draft),
        (200, NeedStatus.draft),
    ]
    assert "2 needs imported from needs.xlsx and saved as drafts" in client.get("/rounds").text


def test_template_downloads(client: TestClient, group: Group) -> None:
    as_(client, group, "local_a")
    xlsx = client.get("/files/templates/needs.xlsx")
    assert xlsx.status_code == 200
    assert xlsx.content[:2] == b"PK"
    assert "attachment" in xlsx.headers["content-disposition"]
    csv = client.get("/files/templates/needs.csv")
    assert csv.text.lstrip("\ufeff").startswith("item,location,quantity")


# ----------------------------------------------------------- specialist and coordinator


def test_specialist_sees_catalogue_with_tiers_and_reviews_a_priority(
    client: TestClient, group: Group, session: Session
) -> None:
    as_(client, group, "specialist")
    offers = client.get("/catalogue/offers").text
    assert "10,000+ : 1.0000" in offers and "0+ : 1.2000" in offers
    items = client.get("/catalogue/items", params={"q": "4213"}).text
    assert "Respirator N95" in items and "Water tank" not in items
    assert "Suministros Istmo" in client.get("/catalogue/suppliers").text
    assert group.locations["l2"].id in client.get("/catalogue/routes").text

    need = group.needs["tank_a"]
    reviews = client.get(f"/rounds/{group.round.id}/reviews")
    assert f"/needs/{need.id}/review" in reviews.text
    url = f"/needs/{need.id}/review"
    missing = post_form(client, url, url, {"priority": "critical", "evidence": "", "source": ""})
    assert missing.status_code == 422
    assert 'id="evidence-error"' in missing.text and 'id="source-error"' in missing.text
    done = post_form(
        client,
        url,
        url,
        {"priority": "critical", "evidence": "cases up 40%", "source": "MINSA week 46"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert need.confirmed_priority == Priority.critical


def test_coordinator_opens_a_round_with_field_errors_first(
    client: TestClient, group: Group, session: Session
) -> None:
    as_(client, group, "coordinator")
    bad = post_form(client, "/rounds", "/rounds", {"name": "", "deadline": "2001-01-01T10:00"})
    assert bad.status_code == 422
    assert 'id="name-error"' in bad.text and 'id="deadline-error"' in bad.text
    assert "must be in the future" in bad.text
    deadline = (utcnow() + dt.timedelta(days=10)).strftime("%Y-%m-%dT%H:%M")
    good = post_form(
        client,
        "/rounds",
        "/rounds",
        {"name": "January round", "deadline": deadline, "currency": "USD"},
        follow_redirects=False,
    )
    assert good.status_code == 303
    created = session.scalar(sa.select(Round).where(Round.name == "January round"))
    assert created is not None and created.status == RoundStatus.open


def test_only_coordinators_close_a_round(client: TestClient, group: Group) -> None:
    as_(client, group, "local_a")
    page = client.get(f"/rounds/{group.round.id}")
    assert "Close the round and run it" not in page.text
    answer = client.post(f"/rounds/{group.round.id}/close", data={"csrf_token": csrf_of(page.text)})
    assert answer.status_code == 403
    assert group.round.status == RoundStatus.open


def close_through_the_page(client: TestClient, group: Group) -> int:
    as_(client, group, "coordinator")
    url = f"/rounds/{group.round.id}"
    answer = post_form(
        client, f"{url}/close", f"{url}/close", {"confirm": "yes"}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    match = re.fullmatch(r"/runs/(\d+)", answer.headers["location"])
    assert match, answer.headers["location"]
    return int(match.group(1))


def test_coordinator_closes_and_follows_the_run(client: TestClient, group: Group) -> None:
    run_id = close_through_the_page(client, group)
    page = client.get(f"/runs/{run_id}")
    assert page.status_code == 200
    assert 'id="run-progress"' in page.text
    fragment = client.get(f"/runs/{run_id}/progress")
    assert fragment.status_code == 200
    assert "data-finished=" in fragment.text
    api = client.get(f"/api/v1/runs/{run_id}", headers=group.headers("coordinator")).json()
    assert f'data-status="{api["status"]}"' in fragment.text
    if api["status"] == "succeeded":
        assert f"/runs/{run_id}/plan" in page.text
        assert 'data-finished="true"' in fragment.text
    else:
        # Still solving in the background: the page polls and offers a plain refresh link.
        assert f'data-poll="/runs/{run_id}/progress"' in page.text
        assert ">Refresh</a>" in page.text


def _wait_for_plan(client: TestClient, group: Group, run_id: int) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + 60
    while True:
        run = client.get(f"/api/v1/runs/{run_id}", headers=group.headers("coordinator")).json()
        if run["status"] in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
            return run
        time.sleep(0.2)


def _figure(html: str, agency: str, field: str) -> str:
    match = re.search(
        rf'<tr data-agency="{re.escape(agency)}">.*?data-field="{field}">([^<]*)<', html, re.S
    )
    assert match, (agency, field)
    return match.group(1).strip()


def test_plan_page_shows_the_api_figures_and_charts(client: TestClient, group: Group) -> None:
    run_id = close_through_the_page(client, group)
    run = _wait_for_plan(client, group, run_id)
    assert run["status"] == "succeeded", run
    statements = client.get(
        f"/api/v1/runs/{run_id}/cost-statements", headers=group.headers("coordinator")
    ).json()["items"]
    as_(client, group, "local_b")  # any member agency, once the round is optimised
    page = client.get(f"/runs/{run_id}/plan")
    assert page.status_code == 200
    html = page.text
    for line in statements:
        for field_name in ("allocated_cost", "standalone_cost", "savings"):
            value = f"{line[field_name]:,.2f}".replace("-", "\u2212")
            assert _figure(html, line["agency"], field_name) == value
        assert _figure(html, line["agency"], "savings_pct") == f"{line['savings_pct']:.1f} %"
    baseline = run["plan"]["baseline"]
    assert f"{baseline['pooled_money_cost']:,.2f}" in html
    # Charts, drawn on the server as SVG, with a text alternative.
    # Savings per agency; with fairness checked (a round's default), shares beside
    # stand-alone values and the excess of the worst coalitions too.
    assert html.count('class="chart bar-chart"') == 3
    assert "worst coalitions" in html.lower()
    assert "What pooling saves each agency" in html
    assert 'class="chart matrix-chart"' in html
    assert "<desc" in html
    # Orders per supplier, unmet needs with their reason.
    orders = client.get(
        f"/api/v1/runs/{run_id}/purchase-orders", headers=group.headers("coordinator")
    ).json()["items"]
    for order in orders:
        assert f"{order['total_cost']:,.2f}" in html
    assert "no route" in html
    # No frontier data in a plain run: no frontier chart.
    assert "line-chart" not in html


def test_chief_approves_and_the_round_becomes_approved(
    client: TestClient, group: Group, session: Session
) -> None:
    run_id = close_through_the_page(client, group)
    assert _wait_for_plan(client, group, run_id)["status"] == "succeeded"
    url = f"/runs/{run_id}/plan"

    as_(client, group, "chief_a")
    no_reason = post_form(client, url, f"/runs/{run_id}/decision", {"decision": "rejected"})
    assert no_reason.status_code == 422
    assert 'id="reason-error"' in no_reason.text
    assert "a rejection needs a reason" in no_reason.text
    approved = post_form(
        client, url, f"/runs/{run_id}/decision", {"decision": "approved"}, follow_redirects=False
    )
    assert approved.status_code == 303
    page = client.get(url).text
    assert "You decided for" in text_of(page)

    as_(client, group, "chief_b")
    post_form(client, url, f"/runs/{run_id}/decision", {"decision": "approved"})
    session.refresh(group.round)
    assert group.round.status == RoundStatus.approved
    final = client.get(url).text
    assert "this plan is binding" in final
    assert f"/files/rounds/{group.round.id}/ocds.json" in final
    package = client.get(f"/files/rounds/{group.round.id}/ocds.json")
    assert package.status_code == 200 and package.json()["version"] == "1.1"


def test_plan_downloads_through_the_session(client: TestClient, group: Group) -> None:
    run_id = close_through_the_page(client, group)
    assert _wait_for_plan(client, group, run_id)["status"] == "succeeded"
    assert client.get(f"/files/runs/{run_id}/plan.xlsx").content[:2] == b"PK"
    assert client.get(f"/files/runs/{run_id}/plan-csv.zip").content[:2] == b"PK"
    hxl = client.get(f"/files/runs/{run_id}/plan.hxl.csv").text.splitlines()
    assert hxl[1].startswith("#org+code")
    # OCDS before approval: refused, as in the API.
    assert client.get(f"/files/rounds/{group.round.id}/ocds.json").status_code == 409


def test_errors_are_pages_not_json(client: TestClient, group: Group) -> None:
    as_(client, group, "local_a")
    missing = client.get("/rounds/999999")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "round 999999 was not found" in missing.text


# ------------------------------------------------------------------- accessibility


def test_pages_have_landmarks_labels_and_a_viewport(client: TestClient, group: Group) -> None:
    as_(client, group, "local_a")
    for url in (
        "/rounds",
        f"/rounds/{group.round.id}",
        f"/rounds/{group.round.id}/needs/new",
        f"/rounds/{group.round.id}/needs/upload",
        "/catalogue/items",
    ):
        html = client.get(url).text
        assert '<html lang="en">' in html, url
        assert 'name="viewport"' in html, url
        assert "<main" in html and "<header" in html and "<nav" in html, url
        assert 'class="skip-link"' in html, url
        # Every form control has a label (by id) or is hidden.
        ids = set(re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', html))
        labelled = set(re.findall(r'<label for="([^"]+)"', html))
        assert ids <= labelled, (url, ids - labelled)


def test_coordinator_tries_scenarios_and_sees_the_frontier(
    client: TestClient, group: Group
) -> None:
    run_id = close_through_the_page(client, group)
    assert _wait_for_plan(client, group, run_id)["status"] == "succeeded"
    url = f"/runs/{run_id}"
    page = client.get(url).text
    assert "Try another setting" in page and "Solve the frontier" in page

    nameless = post_form(client, url, f"{url}/scenarios", {"name": "", "late_penalty_factor": "x"})
    assert nameless.status_code == 422
    assert 'id="name-error"' in nameless.text
    assert 'id="late_penalty_factor-error"' in nameless.text

    made = post_form(
        client,
        url,
        f"{url}/scenarios",
        {"name": "lateness ten times", "late_penalty_factor": "10"},
        follow_redirects=False,
    )
    assert made.status_code == 303, made.text
    scenarios = client.get(
        f"/api/v1/runs/{run_id}/scenarios", headers=group.headers("coordinator")
    ).json()["items"]
    assert [s["name"] for s in scenarios] == ["lateness ten times"]
    assert "lateness ten times" in client.get(url).text

    assert "line-chart" not in client.get(f"{url}/plan").text
    frontier = post_form(client, url, f"{url}/frontier", {}, follow_redirects=False)
    assert frontier.status_code == 303
    api = client.get(f"/api/v1/runs/{run_id}/frontier", headers=group.headers("coordinator"))
    points = [p for p in api.json()["points"] if p["money_cost"] is not None]
    assert len(points) >= 2
    plan = client.get(f"{url}/plan").text
    assert 'class="chart line-chart"' in plan
    for point in points:
        assert f"{point['money_cost']:,.2f}" in plan

    as_(client, group, "local_a")
    member_view = client.get(url).text
    assert "Try another setting" not in member_view  # coordinators plan scenarios


def test_failed_sign_ins_count_against_the_client_as_on_the_api(
    session: Session, group: Group
) -> None:
    from collections.abc import Iterator

    from app.db import get_session, serve_session
    from app.main import create_app

    app = create_app(Settings(auth_failure_limit=2, auth_failure_window_seconds=60))

    def _session() -> Iterator[Session]:
        yield from serve_session(session)

    app.dependency_overrides[get_session] = _session
    browser = TestClient(app)
    page = browser.get("/sign-in")
    statuses = [
        browser.post(
            "/sign-in",
            data={"csrf_token": csrf_of(page.text), "token": "pb_" + "x" * 43, "next": "/"},
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [401, 401, 429]
    # The API's own counter is the same one: that token is refused there too, while a
    # valid token from the same address is not.
    api = browser.get("/api/v1/rounds", headers={"Authorization": "Bearer pb_" + "x" * 43})
    assert api.status_code == 429
    assert browser.get("/api/v1/rounds", headers=group.headers("local_a")).status_code == 200


# ----------------------------------------------------------- catalogue, row by row


def _offer_of(session: Session, item: Item) -> Offer:
    """The group's first offer of ``item`` (a test may add more: PostgreSQL returns rows
    without an ORDER BY in no set order)."""
    offer = session.scalar(
        sa.select(Offer).where(Offer.item_id == item.id).order_by(Offer.id).limit(1)
    )
    assert offer is not None
    return offer


def _error_of(page: str, field: str) -> str:
    match = re.search(
        rf'<p class="field-error" id="{re.escape(field)}-error">(.*?)</p>', page, re.S
    )
    assert match, f"no error shown next to {field}"
    return text_of(match.group(1)).strip()


def _tiers(offer: Offer) -> list[tuple[int, Decimal]]:
    return [(t.min_quantity, t.unit_price) for t in offer.price_tiers]


def test_specialist_adds_an_offer_after_fixing_every_mistake(
    client: TestClient, group: Group, session: Session
) -> None:
    as_(client, group, "specialist")
    supplier = _offer_of(session, group.items["mask"]).supplier
    tank = group.items["tank"]
    offers = session.scalar(sa.select(sa.func.count()).select_from(Offer))
    url = "/catalogue/offers/new"
    form: dict[str, Any] = {
        "supplier_id": supplier.id,
        "item_id": tank.id,
        "reference": "Q-2026-77",
        "tier_rows": "5",
        "tier_min_quantity_0": "0",
        "tier_unit_price_0": "310",
        # Row 2 left blank; row 3's price rises: tiers are volume discounts.
        "tier_min_quantity_2": "10",
        "tier_unit_price_2": "320",
        "capacity": "lots",
        "min_order_quantity": "",
        "lead_time_days": "12",
        "valid_from": "2026-01-01",
        "valid_to": "2025-12-31",
        "owner_agency_id": "",
        "eligibility": "listed",
        "eligible_agencies": [group.agencies["a"].id],
    }
    wrong = post_form(client, url, url, form)
    assert wrong.status_code == 422
    assert "must not be above the previous tier" in _error_of(wrong.text, "tier_unit_price_2")
    assert _error_of(wrong.text, "capacity") == "enter a whole number"
    assert "on or after valid from (2026-01-01)" in _error_of(wrong.text, "valid_to")
    # The summary links to each field; what was typed is kept.
    assert 'href="#tier_unit_price_2">Tier 3 unit price:' in wrong.text
    # In the words of the form, and in its order.
    assert "the previous tier's unit price (310" in _error_of(wrong.text, "tier_unit_price_2")
    summary = re.findall(r'<a href="#([a-z_0-9]+)">', wrong.text)
    assert summary == ["tier_unit_price_2", "capacity", "valid_to"], summary
    assert 'value="lots"' in wrong.text and 'value="320"' in wrong.text
    assert session.scalar(sa.select(sa.func.count()).select_from(Offer)) == offers

    form |= {"tier_unit_price_2": "290", "capacity": "1,200", "valid_to": ""}
    done = post_form(client, url, url, form, follow_redirects=False)
    assert done.status_code == 303, done.text
    offer = session.scalars(sa.select(Offer).order_by(Offer.id.desc())).first()
    assert offer is not None and offer.item_id == tank.id
    assert _tiers(offer) == [(0, Decimal(310)), (10, Decimal(290))]
    assert (offer.capacity, offer.min_order_quantity, offer.valid_to) == (1200, 0, None)
    assert offer.eligible_agency_ids == [group.agencies["a"].id]
    assert done.headers["location"].endswith(f"#offer-{offer.id}")
    assert session.scalar(
        sa.select(AuditEntry).where(
            AuditEntry.action == "offer.create", AuditEntry.entity_id == str(offer.id)
        )
    )
    listing = client.get(done.headers["location"].split("#")[0]).text
    assert f"Offer #{offer.id} added." in listing and "10+ : 290.0000" in listing


def _edit_form(client: TestClient, url: str) -> tuple[str, str]:
    page = client.get(url)
    assert page.status_code == 200, page.text
    etag = ETAG_RE.search(page.text)
    assert etag
    return csrf_of(page.text), html.unescape(etag.group(1))


def test_specialist_changes_an_offer_and_a_stale_form_changes_nothing(
    client: TestClient, group: Group, session: Session
) -> None:
    as_(client, group, "specialist")
    offer = _offer_of(session, group.items["mask"])
    url = f"/catalogue/offers/{offer.id}/edit"
    page = client.get(url).text
    # The tiers as they are, in rows, and one empty row more.
    assert 'id="tier_min_quantity_1" name="tier_min_quantity_1" value="10000"' in page
    assert 'id="tier_unit_price_0" name="tier_unit_price_0" value="1.2"' in page
    csrf, etag = _edit_form(client, url)
    form = {
        "csrf_token": csrf,
        "etag": etag,
        "reference": "",
        "tier_rows": "5",
        "tier_min_quantity_0": "0",
        "tier_unit_price_0": "1.15",
        "tier_min_quantity_1": "20000",
        "tier_unit_price_1": "0.95",
        "capacity": "60000",
        "min_order_quantity": "0",
        "lead_time_days": "10",
        "valid_from": offer.valid_from.isoformat(),
        "valid_to": "",
        "owner_agency_id": "",
        "eligibility": "every",
    }
    saved = client.post(url, data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    session.refresh(offer)
    assert _tiers(offer) == [(0, Decimal("1.15")), (20000, Decimal("0.95"))]
    assert offer.capacity == 60000

    # The same form sent again carries the ETag of the offer before the change.
    stale = client.post(url, data=form | {"capacity": "1"})
    assert stale.status_code == 412
    assert "Someone changed this offer after you opened it" in stale.text
    session.refresh(offer)
    assert offer.capacity == 60000


def test_specialist_sets_an_offers_pack_and_fee_and_a_percentage_typed_as_a_fee_is_refused(
    client: TestClient, group: Group, session: Session
) -> None:
    as_(client, group, "specialist")
    offer = _offer_of(session, group.items["mask"])
    url = f"/catalogue/offers/{offer.id}/edit"
    csrf, etag = _edit_form(client, url)
    form = {
        "csrf_token": csrf,
        "etag": etag,
        "tier_rows": "5",
        **{
            f"tier_{field}_{j}": str(getattr(tier, field))
            for j, tier in enumerate(offer.price_tiers)
            for field in ("min_quantity", "unit_price")
        },
        "capacity": str(offer.capacity),
        "min_order_quantity": str(offer.min_order_quantity),
        "lead_time_days": str(offer.lead_time_days),
        "valid_from": offer.valid_from.isoformat(),
        "eligibility": "every",
        "pack_size": "20",
        "fee_rate": "4.5",  # meant as 4.5%
    }
    wrong = client.post(url, data=form)
    assert wrong.status_code == 422
    assert _error_of(wrong.text, "fee_rate") == "must be a fraction below 1: 4.5% is written 0.045"
    session.refresh(offer)
    assert (offer.pack_size, offer.fee_rate) == (1, 0)

    saved = client.post(url, data=form | {"fee_rate": "0.045"}, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    session.refresh(offer)
    assert (offer.pack_size, offer.fee_rate) == (20, Decimal("0.045"))
    page = client.get(url).text
    assert 'name="pack_size" value="20"' in page and 'name="fee_rate" value="0.045"' in page


def test_an_agencys_agreement_is_changed_by_its_own_specialists_only(
    client: TestClient, group: Group, session: Session
) -> None:
    a, c = group.agencies["a"], group.agencies["c"]
    mask = group.items["mask"]
    theirs = make_offer(session, item=mask, owner=a)
    session.commit()
    as_(client, group, "specialist")  # a specialist of agency c
    assert client.get(f"/catalogue/offers/{theirs.id}/edit").status_code == 403
    listing = client.get("/catalogue/offers").text
    assert f"/catalogue/offers/{theirs.id}/edit" not in listing
    assert f"/catalogue/offers/{_offer_of(session, mask).id}/edit" in listing

    new = client.get("/catalogue/offers/new").text
    owners = re.search(r'<select id="owner_agency_id".*?</select>', new, re.S)
    assert owners
    assert re.findall(r'value="([^"]*)"', owners.group(0)) == ["", c.id]
    # A form sent anyway for agency a's agreement is refused next to the field.
    refused = post_form(
        client,
        "/catalogue/offers/new",
        "/catalogue/offers/new",
        {
            "supplier_id": theirs.supplier_id,
            "item_id": mask.id,
            "tier_min_quantity_0": "0",
            "tier_unit_price_0": "1",
            "capacity": "10",
            "lead_time_days": "1",
            "valid_from": "2026-01-01",
            "owner_agency_id": a.id,
            "eligibility": "every",
        },
    )
    assert refused.status_code == 403
    assert "long-term agreement" in _error_of(refused.text, "owner_agency_id")

    as_(client, group, "admin")
    assert client.get(f"/catalogue/offers/{theirs.id}/edit").status_code == 200


def test_items_suppliers_locations_and_routes_are_kept_from_the_web(
    client: TestClient, group: Group, session: Session
) -> None:
    as_(client, group, "specialist")
    new_item = "/catalogue/items/new"
    item = {
        "id": "gloves nitrile",
        "name": "Nitrile gloves",
        "unit": "",
        "category": "PPE",
        "unspsc_code": "4213",
    }
    wrong = post_form(client, new_item, new_item, item)
    assert wrong.status_code == 422
    assert "letters, digits" in _error_of(wrong.text, "id")
    assert _error_of(wrong.text, "unit") == "is required"
    assert "8 digits" in _error_of(wrong.text, "unspsc_code")
    item |= {"id": "ppe-gloves-nitrile", "unit": "box of 100", "unspsc_code": "42132203"}
    assert post_form(client, new_item, new_item, item, follow_redirects=False).status_code == 303
    gloves = session.get(Item, "ppe-gloves-nitrile")
    assert gloves is not None and gloves.unspsc_code == "42132203" and gloves.active
    taken = post_form(client, new_item, new_item, item)
    assert taken.status_code == 409
    assert "already exists" in _error_of(taken.text, "id")

    # Retire it and drop its code: an unticked box and an empty field.
    url = "/catalogue/items/ppe-gloves-nitrile/edit"
    csrf, etag = _edit_form(client, url)
    retired = client.post(
        url,
        data={
            "csrf_token": csrf,
            "etag": etag,
            "name": "Nitrile gloves",
            "unit": "box of 100",
            "category": "PPE",
            "unspsc_code": "",
        },
        follow_redirects=False,
    )
    assert retired.status_code == 303, retired.text
    session.refresh(gloves)
    assert (gloves.active, gloves.unspsc_code) == (False, None)

    # Needs count the masks in their unit: it cannot change under them.
    mask = group.items["mask"]
    url = f"/catalogue/items/{mask.id}/edit"
    csrf, etag = _edit_form(client, url)
    unit = client.post(
        url,
        data={
            "csrf_token": csrf,
            "etag": etag,
            "name": mask.name,
            "unit": "box of 20",
            "category": mask.category,
            "unspsc_code": mask.unspsc_code or "",
            "active": "on",
        },
    )
    assert unit.status_code == 409
    assert "create a new item for the new unit" in _error_of(unit.text, "unit")

    new_supplier = "/catalogue/suppliers/new"
    supplier = post_form(
        client,
        new_supplier,
        new_supplier,
        {"id": "sup-new", "name": "Nuevo", "country": "pa", "contact_email": "ventas"},
    )
    assert supplier.status_code == 422
    assert _error_of(supplier.text, "country") == "enter two capital letters, e.g. PA"
    assert "e-mail address" in _error_of(supplier.text, "contact_email")

    new_location = "/catalogue/locations/new"
    location = post_form(
        client,
        new_location,
        new_location,
        {"id": "pa-new", "name": "Nueva", "region": "Darién", "latitude": "8.2", "longitude": ""},
    )
    assert location.status_code == 422
    assert "give latitude and longitude together" in text_of(location.text)
    location = post_form(
        client,
        new_location,
        new_location,
        {
            "id": "pa-new",
            "name": "Nueva",
            "region": "Darién",
            "latitude": "8.2",
            "longitude": "-77.7",
        },
        follow_redirects=False,
    )
    assert location.status_code == 303
    assert "Nueva" in client.get("/catalogue/locations", params={"q": "pa-new"}).text

    # One route per supplier and location: the second is refused where it is chosen.
    route = session.scalar(
        sa.select(Route).where(Route.location_id == group.locations["l1"].id).limit(1)
    )
    assert route is not None
    new_route = "/catalogue/routes/new"
    twice = post_form(
        client,
        new_route,
        new_route,
        {
            "supplier_id": route.supplier_id,
            "location_id": route.location_id,
            "fixed_cost": "",
            "unit_cost": "",
            "transit_days": "3",
        },
    )
    assert twice.status_code == 409
    assert "already exists" in _error_of(twice.text, "location_id")
    # The existing route is linked, by name, not cited by its API address.
    assert f'href="/catalogue/routes/{route.id}/edit"' in twice.text
    assert "/api/v1/" not in _error_of(twice.text, "location_id")
    url = f"/catalogue/routes/{route.id}/edit"
    csrf, etag = _edit_form(client, url)
    changed = client.post(
        url,
        data={
            "csrf_token": csrf,
            "etag": etag,
            "fixed_cost": "650.5",
            "unit_cost": "",
            "transit_days": "4",
        },
        follow_redirects=False,
    )
    assert changed.status_code == 303, changed.text
    session.refresh(route)
    assert (route.fixed_cost, route.unit_cost, route.transit_days) == (Decimal("650.5"), 0, 4)


def test_only_catalogue_managers_see_and_use_the_catalogue_forms(
    client: TestClient, group: Group
) -> None:
    as_(client, group, "local_a")
    for kind in ("items", "locations", "suppliers", "offers", "routes"):
        page = client.get(f"/catalogue/{kind}")
        assert page.status_code == 200
        assert f"/catalogue/{kind}/new" not in page.text and "/edit" not in page.text, kind
        assert client.get(f"/catalogue/{kind}/new").status_code == 403
    assert client.get(f"/catalogue/items/{group.items['mask'].id}/edit").status_code == 403

    as_(client, group, "specialist")
    for kind in ("items", "locations", "suppliers", "offers", "routes"):
        page = client.get(f"/catalogue/{kind}/new").text
        ids = set(re.findall(r'<(?:input|select|textarea)[^>]*\bid="([^"]+)"', page))
        labelled = set(re.findall(r'<label for="([^"]+)"', page))
        assert ids <= labelled, (kind, ids - labelled)
    assert client.get("/catalogue/offers/99999999999/edit").status_code == 404
    assert client.get("/catalogue/items?page=99999999999999999999").status_code == 400


# ------------------------------------------------------------------------- scenarios


def test_scenario_page_sets_the_result_beside_the_run(client: TestClient, group: Group) -> None:
    run_id = close_through_the_page(client, group)
    run = _wait_for_plan(client, group, run_id)
    assert run["status"] == "succeeded", run
    url = f"/runs/{run_id}"
    made = post_form(
        client,
        url,
        f"{url}/scenarios",
        {"name": "lateness ten times", "late_penalty_factor": "10"},
        follow_redirects=False,
    )
    assert made.status_code == 303
    api = client.get(f"/api/v1/runs/{run_id}/scenarios", headers=group.headers("coordinator"))
    [listed] = api.json()["items"]
    scenario = client.get(
        f"/api/v1/scenarios/{listed['id']}", headers=group.headers("coordinator")
    ).json()
    assert scenario["state"] == "succeeded", scenario
    assert f'href="/scenarios/{scenario["id"]}"' in client.get(url).text

    page = client.get(f"/scenarios/{scenario['id']}")
    assert page.status_code == 200
    settings = text_of(
        re.search(r'<table id="scenario-settings">.*?</table>', page.text, re.S).group(0)
    )  # type: ignore[union-attr]
    rate = scenario["settings"]["late_penalty_rate"]
    assert f"Lateness weight (late penalty rate) {rate / 10:g} {rate:g}" in settings
    money_row = re.search(r'<tr data-figure="money_cost">.*?</tr>', page.text, re.S)
    assert money_row
    cells = re.findall(r'<td class="num">([^<]*)</td>', money_row.group(0))
    assert cells[:2] == [f"{run['money_cost']:,.2f}", f"{scenario['money_cost']:,.2f}"]
    assert 'id="scenario-agencies"' in page.text and 'id="scenario-orders"' in page.text

    # It has finished: nothing to stop, and the coordinator is told so.
    stop = post_form(
        client,
        f"/scenarios/{scenario['id']}",
        f"/scenarios/{scenario['id']}/cancel",
        {},
        follow_redirects=False,
    )
    assert stop.status_code == 303
    assert "already finished" in client.get(stop.headers["location"]).text

    as_(client, group, "local_b")
    member = client.get(f"/scenarios/{scenario['id']}")
    assert member.status_code == 200 and "Stop this scenario" not in member.text
    assert (
        client.post(
            f"/scenarios/{scenario['id']}/cancel", data={"csrf_token": csrf_of(member.text)}
        ).status_code
        == 403
    )


def test_a_closed_round_offers_no_form_that_cannot_work(client: TestClient, group: Group) -> None:
    as_(client, group, "local_a")
    before = client.get(f"/rounds/{group.round.id}").text
    # Names, not codes, for the needs' items and locations.
    assert "Respirator N95" in before and "Lajas Blancas reception station" in before
    assert "/edit" in before and "Withdraw" in before

    run_id = close_through_the_page(client, group)
    assert _wait_for_plan(client, group, run_id)["status"] == "succeeded"
    as_(client, group, "local_a")
    need = group.needs["mask_a"]
    edit = client.get(f"/needs/{need.id}/edit").text
    assert "can no longer be changed" in edit
    assert "Save changes" not in edit and 'name="item_id"' not in edit
    new = client.get(f"/rounds/{group.round.id}/needs/new").text
    assert "can no longer be added" in new and "Submit the need" not in new
    upload = client.get(f"/rounds/{group.round.id}/needs/upload").text
    assert "takes no more needs" in upload and 'type="file"' not in upload
    after = client.get(f"/rounds/{group.round.id}").text
    assert "/edit" not in after and "Withdraw" not in after and ">Actions<" not in after
    assert f'href="/runs/{run_id}/plan"' in after

    as_(client, group, "chief_a")
    plan = client.get(f"/runs/{run_id}/plan").text
    assert f"{group.agencies['a'].id}'s decision is awaited" in plan
    assert 'href="#approval"' in plan


def test_coordinator_stops_a_queued_run_from_its_page(
    client: TestClient, group: Group, session: Session
) -> None:
    from app.jobs import service as jobs_service
    from app.jobs.models import Job, JobKind, JobState
    from app.runs.models import Run
    from solver.examples import generate_problem

    coordinator = group.users["coordinator"]
    group.round.status = RoundStatus.closed
    run = Run(
        round_id=group.round.id,
        number=1,
        problem=generate_problem(size="small", seed=0),
        triggered_by_id=coordinator.id,
        progress={"state": "queued"},
    )
    session.add(run)
    session.flush()
    job = jobs_service.create(
        session, coordinator, JobKind.run, run_id=run.id, time_limit_seconds=60
    )
    session.commit()

    as_(client, group, "local_a")
    assert "Stop this run" not in client.get(f"/runs/{run.id}").text
    as_(client, group, "coordinator")
    url = f"/runs/{run.id}"
    assert "Stop this run" in client.get(url).text
    stopped = post_form(client, url, f"{url}/cancel", {}, follow_redirects=False)
    assert stopped.status_code == 303
    assert session.get(Job, job.id, populate_existing=True).state == JobState.cancelled  # type: ignore[union-attr]
    page = client.get(url).text
    assert "Run #1 is being stopped." in page and "Stop this run" not in page
    again = post_form(client, url, f"{url}/cancel", {}, follow_redirects=False)
    assert "already finished" in client.get(again.headers["location"]).text
