"""Sortable, paginated tables (``app.web.tables``), the audit log page and each user's
"what changed since you last looked", through the app as a browser uses them."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.audit.models import AuditEntry
from app.auth.models import Role
from tests.factories import make_offer, make_round, make_supplier, make_token, make_user
from tests.test_web import NEED_BY, Group, as_, build_group, sign_in, text_of

pytestmark = pytest.mark.integration


@pytest.fixture
def group(session: Session) -> Group:
    return build_group(session)


def order_of(page: str, names: list[str]) -> list[str]:
    """``names`` in the order the page shows them."""
    text = text_of(page)
    found = {name: text.find(name) for name in names}
    assert all(at >= 0 for at in found.values()), found
    return sorted(names, key=found.__getitem__)


def sorted_heading(page: str) -> list[tuple[str, str]]:
    """(aria-sort, link) of every heading that says it is sorted."""
    return re.findall(
        r'<th scope="col"[^>]*aria-sort="(\w+)">\s*<a class="sort-link" href="([^"]+)"', page
    )


def new_need(client: TestClient, group: Group, who: str, quantity: int = 25) -> int:
    answer = client.post(
        f"/api/v1/rounds/{group.round.id}/needs",
        json={
            "item_id": group.items["mask"].id,
            "location_id": group.locations["l1"].id,
            "quantity": quantity,
            "need_by": NEED_BY.isoformat(),
            "priority": "normal",
            "submit": True,
        },
        headers=group.headers(who),
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


# ------------------------------------------------------------------------- sorting


def test_rounds_sort_by_a_heading_both_ways(
    client: TestClient, group: Group, session: Session
) -> None:
    for name in ("Bravo round", "Alpha round", "Charlie round"):
        make_round(session, created_by=group.users["coordinator"], name=name)
    session.commit()
    names = ["Alpha round", "Bravo round", "Charlie round"]
    as_(client, group, "local_a")

    ascending = client.get("/rounds?sort=name&dir=asc")
    assert ascending.status_code == 200
    assert order_of(ascending.text, names) == names
    [(state, link)] = sorted_heading(ascending.text)
    assert state == "ascending" and "dir=desc" in link and "sort=name" in link

    descending = client.get("/rounds?sort=name&dir=desc")
    assert order_of(descending.text, names) == names[::-1]
    assert sorted_heading(descending.text)[0][0] == "descending"

    # The default is newest first, and says so.
    newest = client.get("/rounds")
    assert order_of(newest.text, names) == ["Charlie round", "Alpha round", "Bravo round"]
    assert "newest first" in newest.text and not sorted_heading(newest.text)


def test_heading_links_keep_the_filters_and_go_back_to_page_one(
    client: TestClient, group: Group
) -> None:
    as_(client, group, "local_a")
    page = client.get("/rounds?status=open&page=1&per_page=5&sort=name")
    links = re.findall(r'class="sort-link" href="([^"]+)"', page.text)
    assert len(links) == 4
    for link in links:
        assert (
            "status=open" in link
            and "per_page=5" in link
            and "page=1" not in link.replace("per_page", "")
        )


def test_offers_sort_by_their_supplier_name_in_the_database(
    client: TestClient, group: Group, session: Session, engine: sa.Engine
) -> None:
    zeta, alfa = make_supplier(session, name="Zeta Medical"), make_supplier(session, name="Alfa SA")
    make_offer(session, supplier=zeta, item=group.items["mask"], tiers=[(0, "1")])
    make_offer(session, supplier=alfa, item=group.items["tank"], tiers=[(0, "2")])
    session.commit()
    as_(client, group, "specialist")
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        page = client.get("/catalogue/offers?sort=supplier&dir=asc&per_page=2")
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    assert page.status_code == 200
    # Two per page, by the supplier's name: Alfa first; Zeta is not on this page.
    assert "Alfa SA" in page.text and "Zeta Medical" not in page.text
    listed = [s for s in statements if "FROM offer" in s and "LIMIT" in s]
    assert listed and "ORDER BY" in listed[0], statements
    back = client.get("/catalogue/offers?sort=supplier&dir=desc")
    assert order_of(back.text, ["Alfa SA", "Zeta Medical"]) == ["Zeta Medical", "Alfa SA"]


def test_a_teams_needs_on_its_round_sort_by_quantity(client: TestClient, group: Group) -> None:
    as_(client, group, "local_a")
    page = client.get(f"/rounds/{group.round.id}?sort=quantity&dir=desc")
    rows = re.findall(r'<tr id="need-(\d+)"', page.text)
    a_needs = {group.needs["mask_a"].id: 4000, group.needs["tank_a"].id: 3}
    assert [int(r) for r in rows] == sorted(a_needs, key=a_needs.__getitem__, reverse=True)
    up = client.get(f"/rounds/{group.round.id}?sort=quantity&dir=asc")
    assert [int(r) for r in re.findall(r'<tr id="need-(\d+)"', up.text)] == [
        group.needs["tank_a"].id,
        group.needs["mask_a"].id,
    ]


def test_reviews_sort_by_priority_in_force_by_rank_not_alphabet(
    client: TestClient, group: Group
) -> None:
    as_(client, group, "specialist")
    page = client.get(f"/rounds/{group.round.id}/reviews?sort=in_force&dir=asc")
    assert page.status_code == 200
    rows = [int(r) for r in re.findall(r'href="/needs/(\d+)/review"', page.text)]
    # high (tank_a) before normal (the masks), though "high" > "normal" is false by letters
    # only by accident: critical < high < normal is the order of urgency.
    assert rows[0] == group.needs["tank_a"].id


# ---------------------------------------------------------------------- pagination


def test_pages_are_bounded_and_a_page_past_the_end_shows_the_last(
    client: TestClient, group: Group
) -> None:
    as_(client, group, "local_a")
    first = client.get("/catalogue/items?per_page=1&sort=name")
    assert first.status_code == 200
    assert "1\u20131 of 3 items, page 1 of 3" in text_of(first.text)
    assert 'rel="next"' in first.text and 'rel="prev"' not in first.text
    assert order_of(first.text, ["Respirator N95"]) and "Surgical gown" not in first.text

    last = client.get("/catalogue/items?per_page=1&sort=name&page=3")
    assert "3\u20133 of 3 items, page 3 of 3" in text_of(last.text)
    assert "Water tank 1000 l" in last.text and 'rel="next"' not in last.text

    beyond = client.get("/catalogue/items?per_page=1&sort=name&page=40")
    assert beyond.status_code == 200
    assert "page 3 of 3" in text_of(beyond.text) and "Water tank 1000 l" in beyond.text

    for query in ("page=0", "page=-1", "page=two", "per_page=0", "per_page=100000", "page=1.5"):
        refused = client.get(f"/catalogue/items?{query}")
        assert refused.status_code == 400, query
        assert "must be a whole number from 1" in text_of(refused.text), query


def test_an_unknown_sort_column_or_direction_is_refused_in_words(
    client: TestClient, group: Group
) -> None:
    as_(client, group, "local_a")
    for url in ("/rounds?sort=colour", "/catalogue/routes?sort=drop%20table", "/audit?sort=x"):
        refused = client.get(url)
        if url.startswith("/audit"):
            assert refused.status_code == 403  # the role is checked before the table
            continue
        assert refused.status_code == 400, url
        words = text_of(refused.text)
        assert "This list cannot be shown that way" in words
        assert "cannot be sorted by" in words and "It can be sorted by:" in words
    routes = text_of(client.get("/catalogue/routes?sort=nope").text)
    assert "supplier, location, fixed cost, cost per unit, transit days" in routes
    sideways = client.get("/rounds?sort=name&dir=sideways")
    assert sideways.status_code == 400 and "“sideways” is neither" in text_of(sideways.text)


# ---------------------------------------------------------------------- audit log


def actions_of(page: str) -> list[str]:
    """The actions of the log's rows, in the order shown."""
    return re.findall(r'<td data-label="Action"><code>([\w.]+)</code>', page)


@pytest.mark.parametrize("who", ["local_a", "chief_a", "specialist"])
def test_the_audit_log_is_refused_to_other_roles(
    client: TestClient, group: Group, who: str
) -> None:
    as_(client, group, who)
    assert client.get("/audit").status_code == 403
    assert client.get("/audit/verify").status_code == 403
    assert 'href="/audit"' not in client.get("/rounds").text


def test_the_audit_log_lists_filters_and_checks_the_chain(
    client: TestClient, group: Group, session: Session
) -> None:
    need_id = new_need(client, group, "local_a", quantity=321)
    client.post(
        "/api/v1/rounds",
        json={"name": "January round", "deadline": "2099-01-01T12:00:00Z"},
        headers=group.headers("coordinator"),
    )
    as_(client, group, "coordinator")
    page = client.get("/audit")
    assert page.status_code == 200
    words = text_of(page.text)
    assert 'href="/audit/verify"' in page.text
    checked = text_of(client.get("/audit/verify").text)
    assert "Hash chain: intact" in checked
    entries = session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
    assert f"All {entries} entries were checked" in checked
    # Newest first: the round, then the need; each links to its page.
    actions = actions_of(page.text)
    assert actions.index("round.create") < actions.index("need.create")
    assert f'href="/needs/{need_id}/review"' in page.text
    assert "quantity 321" in words
    assert "UTC\u221205:00" in words  # the group's zone, Panama

    # As the filter form sends it: "anyone" and "any" empty.
    needs_only = actions_of(client.get("/audit?entity_type=need&actor=&action=").text)
    assert "need.create" in needs_only and "round.create" not in needs_only
    by_local = actions_of(client.get(f"/audit?actor={group.users['local_a'].id}").text)
    assert "need.create" in by_local and "round.create" not in by_local
    by_action = actions_of(client.get("/audit?action=round.create").text)
    assert set(by_action) == {"round.create"}
    assert client.get("/audit?actor=someone").status_code == 400
    actions = actions_of(client.get("/audit?sort=when&dir=asc").text)
    assert actions.index("need.create") < actions.index("round.create")


def test_a_broken_chain_is_shown(client: TestClient, group: Group, session: Session) -> None:
    new_need(client, group, "local_a")
    entry = session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq.desc())).first()
    assert entry is not None
    session.execute(
        sa.update(AuditEntry).where(AuditEntry.id == entry.id).values(actor_name="mallory")
    )
    session.commit()
    as_(client, group, "admin")
    words = text_of(client.get("/audit/verify").text)
    assert "Hash chain: BROKEN" in words and f"at entry {entry.seq}" in words


# ------------------------------------------------------------------ what changed


def test_changes_show_a_new_need_by_another_user_then_empty_after_the_visit(
    client: TestClient, group: Group, session: Session
) -> None:
    as_(client, group, "coordinator")
    client.get("/changes")  # the first visit: everything so far is seen
    assert "count-badge" not in client.get("/rounds").text

    need_id = new_need(client, group, "local_a", quantity=777)
    badge = re.search(r'<span class="count-badge">(\d+)</span>', client.get("/rounds").text)
    assert badge and badge.group(1) == "1"
    changes = client.get("/changes")
    assert changes.status_code == 200
    words = text_of(changes.text)
    assert f"need {need_id}" in words and "quantity 777" in words
    assert group.users["local_a"].email in words

    again = client.get("/changes")
    assert "Nothing has changed since you last looked." in text_of(again.text)
    assert "count-badge" not in again.text


def test_changes_leave_out_ones_own_and_other_agencies_needs(
    client: TestClient, group: Group, session: Session
) -> None:
    colleague = make_user(session, Role.local_team, agency=group.agencies["a"], name="Ana Two")
    colleague_token = make_token(session, colleague)
    session.commit()
    need_id = new_need(client, group, "local_a", quantity=555)
    client.post(
        "/api/v1/rounds",
        json={"name": "February round", "deadline": "2099-02-01T12:00:00Z"},
        headers=group.headers("coordinator"),
    )

    as_(client, group, "local_b")  # another agency: the round, not A's need
    other = text_of(client.get("/changes").text)
    assert "February round" in other and f"need {need_id}" not in other

    as_(client, group, "local_a")  # who made it: not told of their own change
    own = text_of(client.get("/changes").text)
    assert "February round" in own and f"need {need_id}" not in own

    sign_in(client, colleague_token)  # a colleague of the same agency: told
    colleague_sees = text_of(client.get("/changes").text)
    assert f"need {need_id}" in colleague_sees and "quantity 555" in colleague_sees


def test_the_second_page_of_a_visit_lists_the_same_window(client: TestClient, group: Group) -> None:
    as_(client, group, "coordinator")
    client.get("/changes")
    first_id = new_need(client, group, "local_a", quantity=11)
    second_id = new_need(client, group, "local_b", quantity=22)
    page_one = client.get("/changes?per_page=1")
    assert f"need {second_id}" in text_of(page_one.text)
    link = re.search(r'href="([^"]+)" rel="next"', page_one.text)
    assert link, page_one.text
    page_two = client.get(link.group(1).replace("&amp;", "&"))
    assert f"need {first_id}" in text_of(page_two.text)
    assert "Nothing has changed" in text_of(client.get("/changes").text)


def test_a_change_reads_as_words_without_bookkeeping() -> None:
    from app.web.changes import describe

    class Entry:
        def __init__(self, before: Any, after: Any) -> None:
            self.before, self.after = before, after

    update = Entry(
        {"quantity": 4000, "status": "draft", "version": 1, "updated_at": "x"},
        {"quantity": 5000, "status": "submitted", "version": 2, "updated_at": "y"},
    )
    assert describe(update) == "quantity 4000 → 5000; status draft → submitted"
    created = Entry(None, {"id": 3, "status": "queued", "name": "R", "problem_sha256": "ab12"})
    assert describe(created) == "created: name R; status queued"
    assert describe(Entry({"name": "R"}, None)) == "removed"
    many = Entry({f"f{i}": 0 for i in range(6)}, {f"f{i}": 1 for i in range(6)})
    assert describe(many).endswith("; and 2 more")
    assert describe(Entry({"active": True}, {"active": False})) == "active yes → no"
