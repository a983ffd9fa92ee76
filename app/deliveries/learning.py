"""The next round learns: each offer's realised lead time, proposed by the group's rule,
confirmed or overridden by a technical specialist, used by the round's snapshot.

The rule (``DeliveryPolicy``): the ``lead_time_percentile``-th percentile of the
offer's last ``lead_time_window`` deliveries, when at least
``lead_time_min_deliveries`` are on record, rounded up to whole days. A delivery's
realised lead time is the offer's share of its order-to-receipt days
(``figures.offer_lead_days``). A proposal is made only where the figure differs from
the offer's promised ``lead_time_days``.

Decisions, as for priorities: only a technical specialist decides, citing evidence and
its source, and only while the round is open (under its lock, so a decision and the
close are ordered: a decision made is in the snapshot, a late one is refused). The
snapshot uses ``decided_days`` for every decided adjustment of its round and nothing
for a bare proposal. The plan's run lists them (``adjustments_of_round``).

The close (``app.rounds.flows``) hands ``decided_lead_times`` to the snapshot.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from app.audit.service import record, snapshot
from app.auth.models import Role, User
from app.catalogue.models import Offer
from app.db import utcnow
from app.deliveries import figures
from app.deliveries.figures import facts
from app.deliveries.models import AdjustmentStatus, LeadTimeAdjustment, OrderLine
from app.deliveries.policy import policy, rule_text
from app.deliveries.schemas import LeadTimeReviewCreate
from app.errors import FieldIssue, Forbidden, InvalidInput, NotFound
from app.rounds.service import ensure_open, lock_round

if TYPE_CHECKING:
    from app.api.etags import IfMatch

DECIDED = (AdjustmentStatus.confirmed, AdjustmentStatus.overridden)
OFFER_PREFIX = "o-"


def realised_lead_times(
    session: Session, offer_ids: Iterable[int] | None = None
) -> dict[int, list[int]]:
    """Each offer's realised lead times (days), oldest delivery first (ties by receipt)."""
    stmt = (
        sa.select(OrderLine)
        .where(OrderLine.offer_id.is_not(None))
        .options(selectinload(OrderLine.order), selectinload(OrderLine.receipts))
    )
    if offer_ids is not None:
        stmt = stmt.where(OrderLine.offer_id.in_(sorted(set(offer_ids))))
    dated: dict[int, list[tuple[Any, int, int]]] = defaultdict(list)
    for line in session.scalars(stmt):
        assert line.offer_id is not None
        known = facts(line)
        for receipt, (day, days) in zip(
            figures.deliveries(known), figures.offer_lead_days(known), strict=True
        ):
            dated[line.offer_id].append((day, receipt.id, days))
    return {offer: [d for *_, d in sorted(rows)] for offer, rows in dated.items()}


def rule_figure(
    sample: list[int], percentile: int, window: int, minimum: int
) -> tuple[int, list[int]] | None:
    """(proposed days, the deliveries read) by the rule, or None with too few deliveries."""
    last = sample[-window:]
    if len(last) < minimum:
        return None
    value = figures.percentile(last, percentile)
    assert value is not None
    return math.ceil(value - 1e-9), last


def propose(session: Session, actor: User, round_id: int) -> list[LeadTimeAdjustment]:
    """The rule's proposal for each offer with enough deliveries, for an open round.

    A proposal not yet decided is refreshed with the latest deliveries (or dropped when
    the rule no longer differs from the promise); a decided one is left as decided.
    Committed; returns the round's adjustments.
    """
    if not actor.has_role(Role.technical_specialist, Role.coordinator):
        raise Forbidden("technical specialists and coordinators ask for the rule's proposals")
    try:
        round_ = lock_round(session, round_id)
        ensure_open(round_, "its offers' lead times are frozen in its snapshot")
        rules = policy(session)
        rule = rule_text(rules)
        existing = {a.offer_id: a for a in _of_round(session, round_id)}
        samples = realised_lead_times(session)
        offers = {
            o.id: o for o in session.scalars(sa.select(Offer).where(Offer.id.in_(sorted(samples))))
        }
        for offer_id, sample in sorted(samples.items()):
            offer = offers.get(offer_id)
            found = rule_figure(
                sample,
                rules.lead_time_percentile,
                rules.lead_time_window,
                rules.lead_time_min_deliveries,
            )
            current = existing.get(offer_id)
            if current is not None and current.status in DECIDED:
                continue
            if offer is None or found is None or found[0] == offer.lead_time_days:
                if current is not None:
                    record(
                        session,
                        actor,
                        "lead_time_adjustment.withdraw",
                        "lead_time_adjustment",
                        current.id,
                        snapshot(current),
                        None,
                    )
                    session.delete(current)
                continue
            days, read = found
            before = snapshot(current) if current is not None else None
            adjustment = current or LeadTimeAdjustment(round_id=round_id, offer_id=offer_id)
            adjustment.promised_days = offer.lead_time_days
            adjustment.proposed_days = days
            adjustment.sample = read
            adjustment.rule = rule
            session.add(adjustment)
            session.flush()
            after = snapshot(adjustment)
            if after != before:
                record(
                    session,
                    actor,
                    "lead_time_adjustment.propose",
                    "lead_time_adjustment",
                    adjustment.id,
                    before,
                    after,
                )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return _of_round(session, round_id)


def _of_round(session: Session, round_id: int) -> list[LeadTimeAdjustment]:
    return list(
        session.scalars(adjustments_query(round_id).execution_options(populate_existing=True))
    )


def adjustments_query(
    round_id: int, *, status: AdjustmentStatus | None = None
) -> sa.Select[LeadTimeAdjustment]:
    stmt = (
        sa.select(LeadTimeAdjustment)
        .where(LeadTimeAdjustment.round_id == round_id)
        .order_by(LeadTimeAdjustment.offer_id)
    )
    if status is not None:
        stmt = stmt.where(LeadTimeAdjustment.status == status)
    return stmt


def get(session: Session, adjustment_id: int) -> LeadTimeAdjustment:
    adjustment = session.get(LeadTimeAdjustment, adjustment_id)
    if adjustment is None:
        raise NotFound(f"lead-time adjustment {adjustment_id}")
    return adjustment


def review(
    session: Session,
    actor: User,
    adjustment_id: int,
    data: LeadTimeReviewCreate,
    if_match: IfMatch,
) -> LeadTimeAdjustment:
    """A specialist confirms the rule's figure or overrides it, citing evidence."""
    if not actor.has_role(Role.technical_specialist):
        raise Forbidden("only a technical specialist confirms or overrides a lead time")
    try:
        adjustment = get(session, adjustment_id)
        round_ = lock_round(session, adjustment.round_id)
        session.refresh(adjustment)
        ensure_open(round_, "its offers' lead times are frozen in its snapshot")
        if_match.check(adjustment)
        if data.decision == "override" and data.days is None:
            raise InvalidInput([FieldIssue("$.days", "is required to override")])
        if (
            data.decision == "confirm"
            and data.days is not None
            and data.days != adjustment.proposed_days
        ):
            raise InvalidInput(
                [
                    FieldIssue(
                        "$.days",
                        f"a confirmation takes the rule's {adjustment.proposed_days}; "
                        "override to set another",
                    )
                ]
            )
        before = snapshot(adjustment)
        confirm = data.decision == "confirm"
        adjustment.status = AdjustmentStatus.confirmed if confirm else AdjustmentStatus.overridden
        adjustment.decided_days = adjustment.proposed_days if confirm else data.days
        adjustment.evidence = data.evidence.strip()
        adjustment.source = data.source.strip()
        adjustment.decided_by_id = actor.id
        adjustment.decided_at = utcnow()
        session.flush()
        action = "lead_time_adjustment.confirm" if confirm else "lead_time_adjustment.override"
        record(
            session,
            actor,
            action,
            "lead_time_adjustment",
            adjustment.id,
            before,
            snapshot(adjustment),
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return adjustment


def decided_lead_times(session: Session, round_id: int) -> dict[str, int]:
    """Offer id in a problem document (``"o-12"``) -> the decided lead time, for the
    round's snapshot; a bare proposal is not in it. Call it with the round locked for
    its close, so no decision moves meanwhile."""
    return {
        f"{OFFER_PREFIX}{a.offer_id}": a.decided_days
        for a in session.scalars(
            adjustments_query(round_id).where(LeadTimeAdjustment.status.in_(DECIDED))
        )
        if a.decided_days is not None
    }


# ------------------------------------------------------------------- shown to people


@dataclass(frozen=True)
class AdjustmentEvidence:
    """An adjustment with what a specialist weighs it by: the offer (supplier, item), the
    realised figures the rule read, and who decided. The figures are the stored sample's,
    so they are the ones the proposal was made from."""

    adjustment: LeadTimeAdjustment
    supplier_id: str
    supplier_name: str
    item_id: str
    item_name: str
    offer_reference: str | None
    deliveries: int
    shortest_days: int | None
    longest_days: int | None
    median_days: float | None
    p90_days: float | None
    decided_by_name: str | None

    @property
    def words(self) -> str:
        """The evidence in one sentence (a confirmation cites it when nothing is added)."""
        a = self.adjustment
        return (
            f"{self.deliveries} realised deliveries of {self.supplier_name} took "
            f"{self.shortest_days} to {self.longest_days} days (median "
            f"{_days(self.median_days)}, 90th percentile {_days(self.p90_days)}); the rule "
            f"({a.rule}) gives {a.proposed_days} days against {a.promised_days} promised."
        )


def _days(value: float | None) -> str:
    if value is None:
        return "none"
    return f"{value:g}" if value.is_integer() else f"{value:.1f}"


RECEIPTS_SOURCE = "poolbuy receipts (the supplier record)"


def evidence_of(
    session: Session, adjustments: Iterable[LeadTimeAdjustment]
) -> list[AdjustmentEvidence]:
    rows = list(adjustments)
    offers = {
        o.id: o
        for o in session.scalars(
            sa.select(Offer)
            .where(Offer.id.in_(sorted({a.offer_id for a in rows})))
            .options(selectinload(Offer.supplier), selectinload(Offer.item))
        )
    }
    shown = []
    for a in rows:
        offer = offers[a.offer_id]
        sample = [int(d) for d in a.sample]
        shown.append(
            AdjustmentEvidence(
                adjustment=a,
                supplier_id=offer.supplier_id,
                supplier_name=offer.supplier.name or offer.supplier_id,
                item_id=offer.item_id,
                item_name=offer.item.name or offer.item_id,
                offer_reference=offer.reference,
                deliveries=len(sample),
                shortest_days=min(sample) if sample else None,
                longest_days=max(sample) if sample else None,
                median_days=figures.percentile(sample, 50),
                p90_days=figures.percentile(sample, 90),
                decided_by_name=a.decided_by.name if a.decided_by is not None else None,
            )
        )
    return shown


def round_evidence(session: Session, round_id: int) -> list[AdjustmentEvidence]:
    """Every adjustment of a round (proposed and decided), with its evidence."""
    return evidence_of(session, _of_round(session, round_id))


def plan_lead_times(session: Session, round_id: int) -> list[AdjustmentEvidence]:
    """The decided adjustments of a run's round: the lead times its snapshot took from
    realised deliveries instead of the promise (decisions end when the round closes)."""
    return evidence_of(
        session,
        session.scalars(adjustments_query(round_id).where(LeadTimeAdjustment.status.in_(DECIDED))),
    )
