"""The lead-time review on the web: only technical specialists, a confirmation cites the
realised figures, an override needs its own figure, a reason and a source (every problem
listed at once, values kept), the closed round's snapshot takes the decided figures and
the plan page says which lead times were adjusted, from what to what, why and by whom."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.audit.models import AuditEntry
from app.auth.models import Role, User
from app.catalogue.models import Offer
from app.deliveries.models import AdjustmentStatus, LeadTimeAdjustment
from app.runs.models import Run
from tests.factories import make_user_and_token
from tests.test_runs import World, build_world, close
from tests.test_web import csrf_of, sign_in, text_of

pytestmark = pytest.mark.integration

Headers = Callable[[str], dict[str, str]]
RULE = "75th percentile of the last 10 deliveries, when at least 3"


@dataclass
class Review:
    world: World
    specialist: User
    token: str
    mask: LeadTimeAdjustment  # s1's mask offer
    tank: LeadTimeAdjustment  # s4's tank offer
    spare: LeadTimeAdjustment  # s3's mask offer: left undecided


def _proposal(
    session: Session, offer: Offer, round_id: int, sample: list[int]
) -> LeadTimeAdjustment:
    """A proposal as ``learning.propose`` stores it: the rule's figure over the sample."""
    ordered = sorted(sample)
    rank = (len(ordered) - 1) * 0.75
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    value = ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
    adjustment = LeadTimeAdjustment(
        round_id=round_id,
        offer_id=offer.id,
        promised_days=offer.lead_time_days,
        proposed_days=-int(-value // 1),
        sample=sample,
        rule=RULE,
    )
    session.add(adjustment)
    return adjustment


@pytest.fixture
def review(session: Session) -> Review:
    world = build_world(session)
    session.flush()

    def offer(supplier: str, item: str) -> Offer:
        return session.scalars(
            sa.select(Offer).where(
                Offer.supplier_id == world.codes[supplier], Offer.item_id == world.codes[item]
            )
        ).one()

    mask = _proposal(session, offer("s1", "mask"), world.round.id, [9, 14, 11, 12])
    tank = _proposal(session, offer("s4", "tank"), world.round.id, [20, 25, 30])
    spare = _proposal(session, offer("s3", "mask"), world.round.id, [3, 4, 40])
    specialist, token = make_user_and_token(
        session, Role.technical_specialist, agency=world.agencies["a"], name="Ana Specialist"
    )
    session.commit()
    return Review(world, specialist, token, mask, tank, spare)


def _page(client: TestClient, url: str) -> str:
    page = client.get(url)
    assert page.status_code == 200, page.text[:500]
    return page.text


def _decide(client: TestClient, adjustment: LeadTimeAdjustment, **form: str):
    url = f"/lead-time-adjustments/{adjustment.id}/review"
    page = _page(client, url)
    etag = re.search(r'name="etag" value="([^"]+)"', page)
    assert etag, "the review form carries the adjustment's ETag"
    data = {"csrf_token": csrf_of(page), "etag": html.unescape(etag.group(1)), **form}
    return client.post(url, data=data, follow_redirects=False)


def test_only_technical_specialists_open_and_use_the_review(
    client: TestClient, review: Review
) -> None:
    world = review.world
    urls = (
        f"/rounds/{world.round.id}/lead-times",
        f"/lead-time-adjustments/{review.mask.id}/review",
    )
    for who in ("a_team", "a_chief", "coordinator", "admin"):
        sign_in(client, world.tokens[who])
        for url in urls:
            assert client.get(url).status_code == 403, (who, url)
        assert "Review lead times" not in _page(client, f"/rounds/{world.round.id}")
        csrf = csrf_of(_page(client, "/rounds"))
        refused = client.post(
            f"/lead-time-adjustments/{review.mask.id}/review",
            data={"csrf_token": csrf, "decision": "confirm", "etag": '"1"'},
            follow_redirects=False,
        )
        assert refused.status_code == 403, who
    sign_in(client, review.token)
    round_page = _page(client, f"/rounds/{world.round.id}")
    assert f'href="/rounds/{world.round.id}/lead-times"' in round_page
    listed = text_of(_page(client, urls[0]))
    assert "3 adjustments left to review" in listed
    # The evidence: the realised figures beside the promise.
    shown = text_of(_page(client, urls[1]))
    assert f"Promised {review.mask.promised_days} days" in shown
    assert "Deliveries read 4" in shown and "9\u201314 days; median 11.50" in shown
    assert f"The rule gives {review.mask.proposed_days} days" in shown
    assert RULE in shown and "9, 14, 11, 12" in shown


def test_a_confirmation_takes_the_rules_figure_and_cites_the_figures(
    client: TestClient, session: Session, review: Review
) -> None:
    sign_in(client, review.token)
    answer = _decide(client, review.mask, decision="confirm", days="99", evidence="", source="")
    assert answer.status_code == 303, answer.text[:500]
    assert answer.headers["location"] == f"/rounds/{review.world.round.id}/lead-times"
    session.expire_all()
    mask = session.get(LeadTimeAdjustment, review.mask.id)
    assert mask is not None
    assert mask.status == AdjustmentStatus.confirmed
    # A confirmation is the rule's figure, whatever the days field says.
    assert mask.decided_days == mask.proposed_days == 13
    assert mask.evidence is not None and mask.evidence.startswith("4 realised deliveries")
    assert mask.decided_by_id == review.specialist.id
    entry = session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "lead_time_adjustment.confirm")
    ).one()
    assert entry.actor_id == review.specialist.id and entry.entity_id == str(mask.id)
    listed = text_of(_page(client, f"/rounds/{review.world.round.id}/lead-times"))
    assert "2 adjustments left to review" in listed and "Ana Specialist" in listed


def test_an_override_needs_a_reason_and_every_problem_is_listed_at_once(
    client: TestClient, session: Session, review: Review
) -> None:
    sign_in(client, review.token)
    missing = _decide(client, review.tank, decision="override", days="", evidence="", source="")
    assert missing.status_code == 422
    page = missing.text
    summary = page.split('id="error-summary"', 1)[1].split("</div>", 1)[0]
    for field in ("days", "evidence", "source"):
        assert f'href="#{field}"' in summary, field
        assert f'id="{field}-error"' in page, field
    assert "Reason: is required to override" in text_of(summary)
    assert 'value="override" checked' in page

    no_reason = _decide(
        client, review.tank, decision="override", days="18", evidence="", source="letter"
    )
    assert no_reason.status_code == 422
    page = no_reason.text
    summary = page.split('id="error-summary"', 1)[1].split("</div>", 1)[0]
    assert 'href="#evidence"' in summary and 'href="#days"' not in summary
    # What was typed is kept.
    assert 'name="days" value="18"' in page and 'name="source" value="letter"' in page
    session.expire_all()
    tank = session.get(LeadTimeAdjustment, review.tank.id)
    assert tank is not None and tank.status == AdjustmentStatus.proposed
    assert tank.decided_days is None

    nothing = _decide(client, review.tank, days="18", evidence="x", source="y")
    assert nothing.status_code == 422
    assert 'href="#decision"' in nothing.text
    bad = _decide(client, review.tank, decision="override", days="-3", evidence="x", source="y")
    assert bad.status_code == 422 and 'id="days-error"' in bad.text

    fixed = _decide(
        client,
        review.tank,
        decision="override",
        days="18",
        evidence="the supplier's new warehouse in Colón ships in 18 days",
        source="supplier's letter of 12 November",
    )
    assert fixed.status_code == 303, fixed.text[:500]
    session.expire_all()
    tank = session.get(LeadTimeAdjustment, review.tank.id)
    assert tank is not None and tank.status == AdjustmentStatus.overridden
    assert tank.decided_days == 18 and tank.source == "supplier's letter of 12 November"


def test_a_stale_form_is_refused_and_shows_the_decision_as_it_is(
    client: TestClient, session: Session, review: Review
) -> None:
    sign_in(client, review.token)
    url = f"/lead-time-adjustments/{review.mask.id}/review"
    page = _page(client, url)
    etag = re.search(r'name="etag" value="([^"]+)"', page)
    assert etag
    assert _decide(client, review.mask, decision="confirm").status_code == 303
    stale = client.post(
        url,
        data={
            "csrf_token": csrf_of(page),
            "etag": html.unescape(etag.group(1)),
            "decision": "override",
            "days": "5",
            "evidence": "x",
            "source": "y",
        },
        follow_redirects=False,
    )
    assert stale.status_code == 412
    assert "Someone decided this lead time after you opened it" in stale.text
    session.expire_all()
    mask = session.get(LeadTimeAdjustment, review.mask.id)
    assert mask is not None and mask.status == AdjustmentStatus.confirmed


def test_the_closed_rounds_snapshot_and_plan_use_the_decided_lead_times(
    client: TestClient, session: Session, auth_headers: Headers, review: Review
) -> None:
    sign_in(client, review.token)
    assert _decide(client, review.mask, decision="confirm").status_code == 303
    overridden = _decide(
        client, review.tank, decision="override", days="18", evidence="new depot", source="call"
    )
    assert overridden.status_code == 303
    spare_url = f"/lead-time-adjustments/{review.spare.id}/review"
    opened = _page(client, spare_url)
    etag = re.search(r'name="etag" value="([^"]+)"', opened)
    assert etag
    run = close(client, review.world, auth_headers)
    assert run.status_code == 201, run.text
    stored = session.get(Run, run.json()["id"])
    assert stored is not None
    days = {o["id"]: o["lead_time_days"] for o in stored.problem["offers"]}
    assert days[f"o-{review.mask.offer_id}"] == 13
    assert days[f"o-{review.tank.offer_id}"] == 18
    # A bare proposal changes nothing.
    assert days[f"o-{review.spare.offer_id}"] == review.spare.promised_days

    # Decisions end with the round.
    late = client.post(
        spare_url,
        data={
            "csrf_token": csrf_of(opened),
            "etag": html.unescape(etag.group(1)),
            "decision": "confirm",
        },
        follow_redirects=False,
    )
    assert late.status_code == 409
    assert "Record the decision" not in _page(client, spare_url)
    session.expire_all()
    spare = session.get(LeadTimeAdjustment, review.spare.id)
    assert spare is not None and spare.status == AdjustmentStatus.proposed

    sign_in(client, review.world.tokens["a_team"])
    plan = client.get(f"/runs/{stored.id}/plan")
    assert plan.status_code == 200, plan.text[:500]
    table = plan.text.split('id="plan-lead-times"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr data-offer="(o-\d+)">(.*?)</tr>', table, re.S)
    assert [offer for offer, _ in rows] == sorted(
        [f"o-{review.mask.offer_id}", f"o-{review.tank.offer_id}"], key=lambda o: int(o[2:])
    )
    shown = {offer: text_of(row) for offer, row in rows}
    mask_row = shown[f"o-{review.mask.offer_id}"]
    assert f" {review.mask.promised_days} 13 " in mask_row and "confirmed" in mask_row
    assert "4 deliveries" in mask_row and "Ana Specialist" in mask_row
    tank_row = shown[f"o-{review.tank.offer_id}"]
    assert f" {review.tank.promised_days} 18 " in tank_row
    assert "Overridden (the rule gave 28): new depot" in tank_row and "Source: call" in tank_row
