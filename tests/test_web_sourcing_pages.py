"""The sourcing pages (issue 12): award rules kept by the technical specialists in the
catalogue, a chief of mission's budget and the coordinator's allocation and fairness on the
round page. Each page writes through the API's own schema and service: what it saves is
what the API then reads, audited; a form with mistakes lists them all and writes nothing.
"""

from __future__ import annotations

import html
from decimal import Decimal

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy.orm import Session

from app.audit.models import AuditEntry
from app.db import utcnow
from app.rounds.models import Round, RoundStatus
from app.runs.snapshot import build_document
from app.sourcing.models import AgencyBudget, AwardRule
from app.sourcing.rules import RuleKind
from tests.factories import make_award_rule, make_budget, make_supplier
from tests.test_web import ETAG_RE, Group, as_, build_group, csrf_of, text_of

pytestmark = pytest.mark.integration


@pytest.fixture
def group(session: Session) -> Group:
    return build_group(session)


def _etag(page: str, action: str) -> str:
    """The hidden ETag of the form posting to ``action``, as a browser sends it."""
    form = page[page.index(f'action="{action}"') :]
    match = ETAG_RE.search(form)
    assert match is not None, action
    return html.unescape(match.group(1))


def post_with_etag(
    client: TestClient, url: str, action: str, data: dict[str, str], **kw: object
) -> Response:
    """POST the form at ``action`` on the page ``url`` as a browser would: its CSRF token
    and the ETag the page was shown with."""
    page = client.get(url).text
    form = page[page.index(f'action="{action}"') :]
    found = ETAG_RE.search(form.split("</form>", 1)[0])
    etag = {"etag": html.unescape(found.group(1))} if found else {}
    sent = {"csrf_token": csrf_of(page), **etag, **data}
    return client.post(action, data=sent, **kw)  # type: ignore[arg-type]


def _count(session: Session, model: type) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def _audits(session: Session, action: str, entity_id: int) -> list[AuditEntry]:
    stmt = sa.select(AuditEntry).where(
        AuditEntry.action == action, AuditEntry.entity_id == str(entity_id)
    )
    return list(session.scalars(stmt))


# ------------------------------------------------------------------------ award rules


@pytest.mark.parametrize("who", ["local_a", "chief_a", "coordinator", "specialist", "admin"])
def test_everyone_reads_the_rules_and_only_specialists_and_admins_get_the_forms(
    client: TestClient, group: Group, session: Session, who: str
) -> None:
    rule = make_award_rule(session, item=group.items["mask"], reason="two suppliers for masks")
    session.commit()
    as_(client, group, who)
    listed = client.get("/catalogue/rules")
    assert listed.status_code == 200
    assert "two suppliers for masks" in listed.text
    assert "Award rules" in listed.text  # the catalogue's tab
    may = who in ("specialist", "admin")
    assert (f"/catalogue/rules/{rule.id}/edit" in listed.text) is may
    assert ('href="/catalogue/rules/new"' in listed.text) is may
    filtered = client.get(f"/catalogue/rules?item_id={group.items['mask'].id}").text
    assert (f'href="/catalogue/rules/new?item_id={group.items["mask"].id}"' in filtered) is may
    for url in ("/catalogue/rules/new", f"/catalogue/rules/{rule.id}/edit"):
        page = client.get(url)
        assert page.status_code == (200 if may else 403), url
        assert page.headers["content-type"].startswith("text/html")


def test_rule_pages_need_a_session_and_an_unknown_rule_is_a_404_page(
    client: TestClient, group: Group
) -> None:
    answer = client.get("/catalogue/rules", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/sign-in")
    as_(client, group, "specialist")
    for url in ("/catalogue/rules/999999/edit", "/catalogue/rules/x1/edit"):
        page = client.get(url, headers={"accept": "text/html"})
        assert page.status_code == 404
        assert "award rule" in page.text


def test_a_rule_with_mistakes_lists_them_all_and_writes_nothing_then_saves_and_audits(
    client: TestClient, group: Group, session: Session
) -> None:
    as_(client, group, "specialist")
    before = _count(session, AwardRule)
    supplier = make_supplier(session)
    session.commit()
    mistaken = {
        "kind": "min_suppliers",
        "item_id": group.items["mask"].id,
        "location_id": "",
        "limit": "",  # a count kind needs its number
        "supplier_id": supplier.id,  # ... and takes no supplier
        "share": "",
        "penalty": "-5",  # the schema refuses it
        "reason": "  ",  # and this
    }
    answer = post_with_etag(client, "/catalogue/rules/new", "/catalogue/rules/new", mistaken)
    assert answer.status_code == 422
    page = answer.text
    # Schema and service problems together, each next to its field.
    assert "a min_suppliers rule needs a number of suppliers" in page and 'id="limit-error"' in page
    assert "counts suppliers: no supplier<" in page and 'id="supplier_id-error"' in page
    assert 'id="penalty-error"' in page and 'id="reason-error"' in page
    assert "There are problems; nothing was saved" in text_of(page)
    assert _count(session, AwardRule) == before
    # What was typed is shown again.
    assert 'value="-5"' in page

    fixed = {
        **mistaken,
        "limit": "2",
        "supplier_id": "",
        "penalty": "2000",
        "reason": "supply risk",
    }
    answer = post_with_etag(
        client, "/catalogue/rules/new", "/catalogue/rules/new", fixed, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    rule = session.scalars(sa.select(AwardRule).order_by(AwardRule.id.desc())).first()
    assert rule is not None and _count(session, AwardRule) == before + 1
    assert (rule.kind, rule.limit, rule.penalty) == (RuleKind.min_suppliers, 2, Decimal("2000"))
    assert rule.location_id is None and rule.supplier_id is None
    assert answer.headers["location"].endswith(f"#rule-{rule.id}")
    assert len(_audits(session, "award_rule.create", rule.id)) == 1
    listed = client.get(answer.headers["location"])
    assert "Rule #" in listed.text and "added" in listed.text
    # The API reads what the page wrote.
    api = client.get(f"/api/v1/award-rules/{rule.id}", headers=group.headers("specialist"))
    assert api.json()["limit"] == 2 and api.json()["reason"] == "supply risk"


def test_a_share_rule_is_changed_and_a_stale_form_is_refused(
    client: TestClient, group: Group, session: Session
) -> None:
    supplier = make_supplier(session)
    rule = make_award_rule(
        session,
        item=group.items["mask"],
        kind=RuleKind.max_share,
        limit=None,
        supplier=supplier,
        share="0.5",
    )
    session.commit()
    as_(client, group, "specialist")
    url = f"/catalogue/rules/{rule.id}/edit"
    form = client.get(url).text
    base = {
        "csrf_token": csrf_of(form),
        "etag": _etag(form, url),
        "location_id": group.locations["l1"].id,
        "limit": "3",  # a share kind has no number of suppliers
        "supplier_id": supplier.id,
        "share": "1.5",  # above 1
        "penalty": "4",
        "reason": "cap one plant's share",
    }
    answer = client.post(url, data=base)
    assert answer.status_code == 422
    assert "has a share, not a number of suppliers" in answer.text
    assert 'id="share-error"' in answer.text
    session.refresh(rule)
    assert rule.share == Decimal("0.5") and rule.location_id is None

    answer = client.post(url, data={**base, "limit": "", "share": "0.4"}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    session.refresh(rule)
    assert rule.share == Decimal("0.4") and rule.location_id == group.locations["l1"].id
    [entry] = _audits(session, "award_rule.update", rule.id)
    assert entry.before is not None and entry.after is not None

    # The same form again, with the ETag it was shown with: someone saved meanwhile.
    stale = client.post(url, data={**base, "limit": "", "share": "0.3"})
    assert stale.status_code == 412
    assert "Someone changed this rule" in stale.text
    session.refresh(rule)
    assert rule.share == Decimal("0.4")


def test_a_rule_is_deleted_from_its_form_with_its_etag(
    client: TestClient, group: Group, session: Session
) -> None:
    rule = make_award_rule(session, item=group.items["mask"])
    session.commit()
    rule_id = rule.id
    as_(client, group, "specialist")
    url = f"/catalogue/rules/{rule_id}/edit"
    form = client.get(url).text
    assert f'action="/catalogue/rules/{rule_id}/delete"' in form
    csrf = csrf_of(form)
    stale = client.post(
        f"/catalogue/rules/{rule_id}/delete", data={"csrf_token": csrf, "etag": "x"}
    )
    assert stale.status_code == 412
    assert session.get(AwardRule, rule_id) is not None
    answer = client.post(
        f"/catalogue/rules/{rule_id}/delete",
        data={"csrf_token": csrf, "etag": _etag(form, f"/catalogue/rules/{rule_id}/delete")},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    session.expire_all()
    assert session.get(AwardRule, rule_id) is None
    assert len(_audits(session, "award_rule.delete", rule_id)) == 1


def test_others_cannot_write_rules(client: TestClient, group: Group, session: Session) -> None:
    rule = make_award_rule(session, item=group.items["mask"])
    session.commit()
    before = _count(session, AwardRule)
    as_(client, group, "coordinator")
    csrf = csrf_of(client.get("/rounds").text)
    body = {"csrf_token": csrf, "kind": "max_suppliers", "item_id": group.items["mask"].id}
    assert client.post("/catalogue/rules/new", data={**body, "limit": "1"}).status_code == 403
    deleted = client.post(f"/catalogue/rules/{rule.id}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 403
    assert _count(session, AwardRule) == before


# ----------------------------------------------------------------------------- budgets


def _round_page(client: TestClient, group: Group) -> str:
    page = client.get(f"/rounds/{group.round.id}")
    assert page.status_code == 200
    return page.text


def test_only_a_chief_of_mission_gets_the_budget_form(client: TestClient, group: Group) -> None:
    for who in ("local_a", "specialist", "coordinator", "admin"):
        as_(client, group, who)
        assert f'action="/rounds/{group.round.id}/budget"' not in _round_page(client, group)
        csrf = csrf_of(client.get("/rounds").text)
        answer = client.post(
            f"/rounds/{group.round.id}/budget", data={"csrf_token": csrf, "amount": "10"}
        )
        assert answer.status_code == 403, who
    as_(client, group, "chief_a")
    page = _round_page(client, group)
    assert f'action="/rounds/{group.round.id}/budget"' in page
    assert "None yet" in text_of(page)


def test_a_chief_sets_the_budget_after_a_mistake_and_the_snapshot_and_api_carry_it(
    client: TestClient, group: Group, session: Session
) -> None:
    as_(client, group, "chief_a")
    url, action = f"/rounds/{group.round.id}", f"/rounds/{group.round.id}/budget"
    answer = post_with_etag(client, url, action, {"amount": "a lot", "note": ""})
    assert answer.status_code == 422
    assert 'id="amount-error"' in answer.text
    assert 'value="a lot"' in answer.text
    assert _count(session, AgencyBudget) == 0

    answer = post_with_etag(
        client, url, action, {"amount": "12500", "note": "CERF PPE line"}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    budget = session.scalar(sa.select(AgencyBudget))
    assert budget is not None
    assert (budget.agency_id, budget.amount) == (group.agencies["a"].id, Decimal("12500"))
    assert len(_audits(session, "agency_budget.create", budget.id)) == 1
    page = text_of(_round_page(client, group))
    assert "Now USD 12,500.00 (CERF PPE line)" in page

    listed = client.get(f"/api/v1{url}/budgets", headers=group.headers("coordinator")).json()
    assert [(b["agency_id"], b["amount"]) for b in listed["items"]] == [
        (group.agencies["a"].id, 12500.0)
    ]
    round_ = session.get(Round, group.round.id)
    assert round_ is not None
    document = build_document(session, round_, utcnow().date())
    budgets = {a["id"]: a.get("budget") for a in document["agencies"]}
    assert budgets[group.agencies["a"].id] == 12500.0
    assert budgets[group.agencies["b"].id] is None

    # Changed: the same form, now a PATCH with the budget's ETag.
    answer = post_with_etag(
        client, url, action, {"amount": "9000", "note": ""}, follow_redirects=False
    )
    assert answer.status_code == 303
    session.refresh(budget)
    assert budget.amount == Decimal("9000") and budget.note is None
    assert len(_audits(session, "agency_budget.update", budget.id)) == 1


def test_a_stale_budget_form_and_a_closed_round_are_refused(
    client: TestClient, group: Group, session: Session
) -> None:
    budget = make_budget(
        session, round_=group.round, agency=group.agencies["a"], set_by=group.users["chief_a"]
    )
    session.commit()
    as_(client, group, "chief_a")
    page = _round_page(client, group)
    csrf = csrf_of(page)
    action = f"/rounds/{group.round.id}/budget"
    stale = client.post(action, data={"csrf_token": csrf, "etag": "old", "amount": "5"})
    assert stale.status_code == 412
    assert "Someone changed your agency's budget" in text_of(stale.text)
    session.refresh(budget)
    assert budget.amount == Decimal("10000")

    round_ = session.get(Round, group.round.id)
    assert round_ is not None
    round_.status = RoundStatus.closed
    session.commit()
    assert f'action="{action}"' not in _round_page(client, group)
    closed = client.post(action, data={"csrf_token": csrf, "amount": "5"})
    assert closed.status_code in (409, 412)
    session.refresh(budget)
    assert budget.amount == Decimal("10000")


# ---------------------------------------------------------------------------- settings


def test_the_coordinator_sets_allocation_and_fairness_keeping_the_other_settings(
    client: TestClient, group: Group, session: Session
) -> None:
    round_ = session.get(Round, group.round.id)
    assert round_ is not None
    round_.settings = {"late_penalty_rate": 0.02, "fairness": "none"}
    session.commit()
    as_(client, group, "coordinator")
    url, action = f"/rounds/{group.round.id}", f"/rounds/{group.round.id}/settings"
    page = _round_page(client, group)
    assert f'action="{action}"' in page
    assert "Fairness checked no" in text_of(page)

    wrong = post_with_etag(client, url, action, {"allocation": "by_lottery", "fairness": "on"})
    assert wrong.status_code == 422
    assert 'id="allocation-error"' in wrong.text
    session.refresh(round_)
    assert round_.settings == {"late_penalty_rate": 0.02, "fairness": "none"}

    answer = post_with_etag(
        client, url, action, {"allocation": "least_core", "fairness": "on"}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    session.refresh(round_)
    assert round_.settings == {
        "late_penalty_rate": 0.02,
        "allocation": "least_core",
        "fairness": "core",
    }
    assert _audits(session, "round.update", round_.id)
    read = client.get(f"/api/v1{url}", headers=group.headers("coordinator")).json()
    assert read["effective_settings"]["allocation"] == "least_core"
    assert read["effective_settings"]["fairness"] == "core"
    assert "Fairness checked yes" in text_of(_round_page(client, group))

    # Unticked: fairness off, said so in the settings (the rounds' default is on).
    post_with_etag(client, url, action, {"allocation": "usage"})
    session.refresh(round_)
    assert round_.settings["fairness"] == "none" and round_.settings["allocation"] == "usage"


def test_only_coordinators_and_admins_set_the_settings_and_a_stale_form_is_refused(
    client: TestClient, group: Group, session: Session
) -> None:
    action = f"/rounds/{group.round.id}/settings"
    for who in ("local_a", "chief_a", "specialist"):
        as_(client, group, who)
        assert f'action="{action}"' not in _round_page(client, group)
        csrf = csrf_of(client.get("/rounds").text)
        answer = client.post(action, data={"csrf_token": csrf, "allocation": "usage"})
        assert answer.status_code == 403, who
    as_(client, group, "admin")
    page = _round_page(client, group)
    stale = client.post(
        action, data={"csrf_token": csrf_of(page), "etag": "old", "allocation": "proportional"}
    )
    assert stale.status_code == 412
    assert "Someone changed this round" in stale.text
    round_ = session.get(Round, group.round.id)
    assert round_ is not None
    session.refresh(round_)
    assert "allocation" not in (round_.settings or {})
