"""Two past rounds of the demo group, approved and delivered, so the delivery loop shows.

Each past round is the demo document as of a past day (``ROUND_AGES``: about two months
and one month ago), with its quantities scaled so the rounds differ. It goes through
the services as the group's week would: needs submitted by each agency's local team,
the round closed (the snapshot solved in the same call), every chief of mission
approving, which issues the purchase orders; then each local team records what arrived
through ``app.deliveries.service.record_receipt``, the core operation the API uses.

The services stamp rows with today's clock, so history is then dated back by the
round's age, and only what the clock decides: the needs' submission, the round's
deadline and close, and the orders' issue (the day the round's ``as_of`` names). The
frozen documents and plans are not touched: they were made for the past ``as_of``.

Deliveries follow a fixed pattern (no randomness: every load gives the same record):
the slowest supplier delivers late, every sixth line comes short and is closed short,
one delivery has units rejected as damaged, every fourth line comes in two parts,
the rest on time. Then the rule proposes lead-time adjustments for the open round.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.api import IfMatch
from app.auth.models import User
from app.bootstrap import register_all
from app.deliveries import learning
from app.deliveries.models import OrderLine, PurchaseOrder
from app.deliveries.policy import policy
from app.deliveries.schemas import CloseShortCreate
from app.deliveries.service import close_short, record_receipt
from app.needs import service as needs_service
from app.needs.models import Need, Priority
from app.needs.schemas import NeedCreate
from app.rounds import flows
from app.rounds import service as rounds_service
from app.rounds.models import Round
from app.rounds.schemas import RoundCreate, RoundSettings
from app.runs import service as runs_service
from app.runs.models import Decision, Run
from app.runs.schemas import ApprovalCreate

# (name, age in days, quantity scale): the past rounds, oldest first.
ROUND_AGES: tuple[tuple[str, int, float], ...] = (
    ("Panama COVID-19 response, October pooling round", 63, 0.8),
    ("Panama COVID-19 response, November pooling round", 35, 1.1),
)
# The supplier that runs late in the demo's record, by this many days.
LATE_BY_DAYS = 6


def past_round_names() -> list[str]:
    return [name for name, _, _ in ROUND_AGES]


def load_history(
    session: Session,
    people: Mapping[tuple[str, str | None], User],
    coordinator: User,
    document_for: Any,
    now: dt.datetime,
) -> int:
    """Create the past rounds that are missing; returns how many were created.

    ``people[(role, agency)]`` are the demo users; ``document_for(as_of)`` the demo
    document for that day.
    """
    register_all()  # the past rounds are solved here, by the run kind's handler
    created = 0
    for name, age, scale in ROUND_AGES:
        if session.scalar(sa.select(Round.id).where(Round.name == name)) is not None:
            continue
        as_of = now.date() - dt.timedelta(days=age)
        _past_round(session, people, coordinator, document_for(as_of), name, as_of, scale, now)
        created += 1
    return created


def _past_round(
    session: Session,
    people: Mapping[tuple[str, str | None], User],
    coordinator: User,
    document: Mapping[str, Any],
    name: str,
    as_of: dt.date,
    scale: float,
    now: dt.datetime,
) -> None:
    round_ = rounds_service.create(
        session,
        coordinator,
        RoundCreate(
            name=name,
            deadline=now + dt.timedelta(hours=1),
            as_of=as_of,
            currency=document["currency"],
            settings=RoundSettings.model_validate(document.get("settings") or {}),
        ),
    )
    need_by_of: dict[int, dt.date] = {}
    for need in document["needs"]:
        created = needs_service.create(
            session,
            people["local_team", need["agency"]],
            round_.id,
            NeedCreate(
                item_id=need["item"],
                location_id=need["location"],
                quantity=max(1, round(need["quantity"] * scale)),
                # Today's rule for a new need; the need's own date is set below.
                need_by=now.date() + dt.timedelta(days=1),
                priority=Priority(need["priority"]),
                justification="replenishment of the month's distributions",
                submit=True,
            ),
        )
        need_by_of[created.id] = dt.date.fromisoformat(need["need_by"])
    submitted = dt.datetime.combine(as_of, dt.time(14), tzinfo=dt.UTC) - dt.timedelta(days=5)
    for need in session.scalars(sa.select(Need).where(Need.round_id == round_.id)):
        need.need_by = need_by_of[need.id]
        need.submitted_at = submitted
    session.commit()

    run = flows.close_round(session, coordinator, round_.id)
    for agency in sorted(runs_service.required_agencies(run)):
        flows.decide(
            session,
            people["chief_of_mission", agency],
            run.id,
            ApprovalCreate(decision=Decision.approved),
        )
    placed = dt.datetime.combine(as_of, dt.time(15), tzinfo=dt.UTC)
    round_ = session.get(Round, round_.id, populate_existing=True) or round_
    round_.deadline = round_.closed_at = placed - dt.timedelta(hours=1)
    stored = session.get(Run, run.id)
    assert stored is not None
    stored.approved_at = placed
    for order in session.scalars(sa.select(PurchaseOrder).where(PurchaseOrder.run_id == run.id)):
        order.issued_at, order.issued_on = placed, as_of
    session.commit()
    _deliver(session, people, run.id, now.date(), with_rejection=name == ROUND_AGES[0][0])


def _deliver(
    session: Session,
    people: Mapping[tuple[str, str | None], User],
    run_id: int,
    today: dt.date,
    *,
    with_rejection: bool,
) -> None:
    lines = list(
        session.scalars(
            sa.select(OrderLine)
            .join(PurchaseOrder)
            .where(PurchaseOrder.run_id == run_id)
            .order_by(OrderLine.id)
        )
    )
    # The slow supplier: the one with the most lines of the demo's first past round.
    first = session.scalar(
        sa.select(PurchaseOrder.supplier_id)
        .join(OrderLine)
        .join(Round, Round.id == PurchaseOrder.round_id)
        .where(Round.name == ROUND_AGES[0][0])
        .group_by(PurchaseOrder.supplier_id)
        .order_by(sa.func.count().desc(), PurchaseOrder.supplier_id)
        .limit(1)
    )
    slow = first
    rules = policy(session)
    for i, line in enumerate(lines):
        team = people["local_team", line.agency_id]
        late = LATE_BY_DAYS if line.order.supplier_id == slow else (0 if i % 3 else -1)
        arrived = min(today, line.promised_on + dt.timedelta(days=late))
        parts: list[tuple[dt.date, int, int]] = []
        if i % 6 == 5:  # comes short: 70 % of it, and the rest never
            parts.append((arrived, max(1, line.quantity * 7 // 10), 0))
        elif i % 4 == 1 and line.quantity > 1:  # in two parts, the second a few days later
            half = line.quantity // 2
            parts += [
                (arrived, half, 0),
                (min(today, arrived + dt.timedelta(days=2)), line.quantity - half, 0),
            ]
        else:
            parts.append((arrived, line.quantity, 0))
        if i == 2 and with_rejection:  # one delivery with damaged units, replaced later
            day, units, _ = parts[0]
            damaged = max(1, units // 10)
            parts[0] = (day, units, damaged)
            parts.append((min(today, day + dt.timedelta(days=4)), damaged, 0))
        for day, units, damaged in parts:
            record_receipt(
                session,
                team,
                line,
                {
                    "location_id": line.location_id,
                    "received_on": day,
                    "quantity_received": units,
                    "quantity_rejected": damaged,
                    "rejection_reason": "damaged" if damaged else None,
                    "notes": "cartons crushed in transit" if damaged else "",
                },
                rules=rules,
                day=today,
            )
        session.commit()
        if i % 6 == 5:
            close_short(
                session,
                team,
                line.id,
                CloseShortCreate(reason="the supplier ran out of stock; the rest is not coming"),
                IfMatch(("*",)),
            )


def propose_for(session: Session, specialist: User, round_id: int) -> int:
    """The rule's lead-time proposals for the open round; returns how many there are."""
    return len(learning.propose(session, specialist, round_id))
