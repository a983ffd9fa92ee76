"""Two agencies, a user of every role, and objects of agency A to aim at: the security tests' world.

``build_world(session, client, auth_headers)`` makes, with ``tests.factories`` and the
real app:

* agencies ``A`` and ``B``; for each a local team member, a technical specialist and a
  chief of mission; a coordinator and an admin acting for no agency;
* a catalogue row of each kind in use, and a spare one of each nobody uses (to delete);
* sourcing: a capacity group of the offer, an award rule on the item, A's exclusion of
  the supplier, and A's budget in the open round;
* ``open``: an open round with a draft and a submitted need of each agency;
* ``done``: a round with a submitted need of A only, closed by the coordinator through
  the API, so it holds run #1 (solved, the round ``optimised``).

A caller is ``anonymous``, ``coordinator``, ``admin`` or ``<role>/own`` (a user of A,
the agency the targeted objects belong to) or ``<role>/other`` (a user of B).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.api.etags import etag_for
from app.auth.models import Agency, ApiToken, Role, User
from app.catalogue.models import Item, Location, Offer, Route, Supplier
from app.db import utcnow
from app.deliveries.models import LeadTimeAdjustment, OrderLine, PurchaseOrder
from app.deliveries.policy import policy
from app.deliveries.service import today
from app.jobs.models import Job
from app.needs.models import Need, NeedStatus
from app.rounds.models import Round
from app.runs.models import Run
from app.scenarios.models import Scenario
from app.settings import get_settings
from tests.factories import (
    make_agency,
    make_award_rule,
    make_budget,
    make_capacity_group,
    make_exclusion,
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

Headers = Callable[[str], dict[str, str]]

# The justification of agency A's draft: a response to one of B's users that holds it
# shows a draft B may not see.
DRAFT_MARKER = "DRAFT-OF-AGENCY-A-NOT-FOR-B"

AGENCY_ROLES = (Role.local_team, Role.technical_specialist, Role.chief_of_mission)
CALLERS: tuple[str, ...] = (
    "anonymous",
    *(f"{role.value}/{side}" for role in AGENCY_ROLES for side in ("own", "other")),
    "coordinator",
    "admin",
)


@dataclass
class World:
    session: Session
    a: Agency
    b: Agency
    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    rows: dict[str, Any] = field(default_factory=dict)

    def headers(self, caller: str) -> dict[str, str]:
        if caller == "anonymous":
            return {}
        return {"Authorization": f"Bearer {self.tokens[caller]}"}

    ids: dict[str, Any] = field(default_factory=dict)

    def etag(self, name: str) -> str:
        # Read anew: an earlier caller's request may have changed or deleted the row and
        # been undone behind the session's back.
        row = self.session.get(type(self.rows[name]), self.ids[name], populate_existing=True)
        assert row is not None, name
        return etag_for(row)

    @property
    def token_hashes(self) -> list[str]:
        return list(self.session.scalars(sa.select(ApiToken.token_hash)))


def build_world(session: Session, client: TestClient) -> World:
    a, b = make_agency(session), make_agency(session)
    world = World(session, a, b)
    world.rows["agency_a"] = a
    for role in AGENCY_ROLES:
        for side, agency in (("own", a), ("other", b)):
            world.users[f"{role.value}/{side}"] = make_user(session, role, agency=agency)
    world.users["coordinator"] = make_user(session, Role.coordinator)
    world.users["admin"] = make_user(session, Role.admin)
    for caller, user in world.users.items():
        world.tokens[caller] = make_token(session, user)
    # A token of A's local team member that the matrix revokes (DELETE /tokens/{id}).
    make_token(session, world.users["local_team/own"], name="spare")
    world.rows["token"] = session.scalar(
        sa.select(ApiToken).where(
            ApiToken.user_id == world.users["local_team/own"].id, ApiToken.name == "spare"
        )
    )
    world.rows["user"] = world.users["local_team/own"]

    item, location, supplier = make_item(session), make_location(session), make_supplier(session)
    world.rows |= {
        "item": item,
        "location": location,
        "supplier": supplier,
        "offer": make_offer(session, supplier=supplier, item=item, valid_from=dt.date(2026, 1, 1)),
        "route": make_route(session, supplier=supplier, location=location),
        "spare_item": make_item(session),
        "spare_location": make_location(session),
        "spare_supplier": make_supplier(session),
    }
    world.rows["spare_offer"] = make_offer(session)
    world.rows["spare_route"] = make_route(session)
    world.rows |= {
        "group": make_capacity_group(session, offers=[world.rows["offer"]]),
        "rule": make_award_rule(session, item=item),
        # A's vetting excluded a supplier of its own: the one in use must stay open to A,
        # whose approved round (``ordered``, below) buys from it.
        "exclusion": make_exclusion(
            session,
            agency=a,
            supplier=make_supplier(session),
            created_by=world.users["technical_specialist/own"],
        ),
    }

    coordinator = world.users["coordinator"]
    open_round = make_round(session, created_by=coordinator)
    world.rows["open"] = open_round
    world.rows["budget"] = make_budget(
        session, round_=open_round, agency=a, set_by=world.users["chief_of_mission/own"]
    )
    for side, agency in (("a", a), ("b", b)):
        for status in (NeedStatus.draft, NeedStatus.submitted):
            world.rows[f"{status.value}_{side}"] = make_need(
                session,
                round_=open_round,
                agency=agency,
                item=item,
                location=location,
                created_by=world.users[f"local_team/{'own' if side == 'a' else 'other'}"],
                status=status,
                need_by=utcnow().date() + dt.timedelta(days=30),
                justification=DRAFT_MARKER
                if (side, status) == ("a", NeedStatus.draft)
                else "monthly replenishment",
            )

    done = make_round(session, created_by=coordinator)
    world.rows["done"] = done
    world.rows["done_need"] = make_need(
        session,
        round_=done,
        agency=a,
        item=item,
        location=location,
        created_by=world.users["local_team/own"],
        quantity=100,
        need_by=utcnow().date() + dt.timedelta(days=40),
    )
    session.commit()
    response = client.post(f"/api/v1/rounds/{done.id}/close", headers=world.headers("coordinator"))
    assert response.status_code == 201, response.text
    run = session.get(Run, response.json()["id"])
    assert run is not None and run.plan is not None, response.text
    world.rows["run"] = run
    world.rows["job"] = session.scalar(sa.select(Job).where(Job.run_id == run.id))
    response = client.post(
        f"/api/v1/runs/{run.id}/scenarios",
        json={"name": "cost only", "settings": {"late_penalty_rate": 0}},
        headers=world.headers("coordinator"),
    )
    assert response.status_code == 201, response.text
    world.rows["scenario"] = session.get(Scenario, response.json()["id"])
    _ordered(session, client, world, item, location)
    world.ids = {name: row.id for name, row in world.rows.items()}
    world.ids["today"] = today(get_settings()).isoformat()
    session.commit()
    return world


def _ordered(
    session: Session, client: TestClient, world: World, item: Item, location: Location
) -> None:
    """``ordered``: a round of A's need, closed and approved, so its order is issued
    (``purchase_order``, ``line``); ``adjustment``: a lead-time proposal in ``open``."""
    coordinator = world.users["coordinator"]
    ordered = make_round(session, created_by=coordinator)
    make_need(
        session,
        round_=ordered,
        agency=world.a,
        item=item,
        location=location,
        created_by=world.users["local_team/own"],
        quantity=50,
        need_by=utcnow().date() + dt.timedelta(days=40),
    )
    session.commit()
    closed = client.post(f"/api/v1/rounds/{ordered.id}/close", headers=world.headers("coordinator"))
    assert closed.status_code == 201, closed.text
    approved = client.post(
        f"/api/v1/runs/{closed.json()['id']}/approvals",
        json={"decision": "approved"},
        headers=world.headers("chief_of_mission/own"),
    )
    assert approved.status_code == 201, approved.text
    line = session.scalar(
        sa.select(OrderLine).join(PurchaseOrder).where(PurchaseOrder.round_id == ordered.id)
    )
    assert line is not None
    world.rows |= {"ordered": ordered, "line": line, "purchase_order": line.order}
    world.rows["policy"] = policy(session)
    offer = world.rows["offer"]
    adjustment = LeadTimeAdjustment(
        round_id=world.rows["open"].id,
        offer_id=offer.id,
        promised_days=offer.lead_time_days,
        proposed_days=offer.lead_time_days + 4,
        sample=[offer.lead_time_days + 4] * 3,
        rule="75th percentile of the last 10 deliveries, when at least 3",
    )
    session.add(adjustment)
    session.flush()
    world.rows["adjustment"] = adjustment




@contextmanager
def undone(session: Session) -> Iterator[None]:
    """Whatever a request inside does, committed or not, is undone afterwards.

    The test's session joins the connection's outer transaction through a savepoint;
    a savepoint of the connection's own, opened while the session has no transaction,
    encloses every savepoint the session makes (and commits) during the request.
    """
    session.commit()
    connection = session.get_bind()
    assert isinstance(connection, sa.Connection)
    savepoint = connection.begin_nested()
    try:
        yield
    finally:
        session.rollback()
        savepoint.rollback()
        session.expire_all()


def model_of(name: str) -> type:
    return {
        "item": Item,
        "location": Location,
        "supplier": Supplier,
        "offer": Offer,
        "route": Route,
        "open": Round,
        "done": Round,
        "need": Need,
    }[name]
