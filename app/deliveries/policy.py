"""The group's delivery policy: grace before overdue, over-delivery tolerance, lead-time rule."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from app.audit.service import record, snapshot
from app.auth.models import User
from app.deliveries.models import DeliveryPolicy
from app.deliveries.schemas import DeliveryPolicyUpdate

if TYPE_CHECKING:
    from app.api.etags import IfMatch

POLICY_URL = "/api/v1/delivery-policy"


def policy(session: Session) -> DeliveryPolicy:
    """The group's delivery policy (the migration writes its one row)."""
    row = session.get(DeliveryPolicy, 1)
    if row is None:
        row = DeliveryPolicy(id=1)
        session.add(row)
        session.flush()
    return row


def update_policy(
    session: Session, actor: User, data: DeliveryPolicyUpdate, if_match: IfMatch
) -> DeliveryPolicy:
    """Change the policy (coordinators); If-Match against its ETag."""
    row = policy(session)
    if_match.check(row)
    before = snapshot(row)
    for field, value in data.model_dump(exclude_none=True).items():
        setattr(row, field, value)
    session.flush()
    after = snapshot(row)
    if after != before:
        record(session, actor, "delivery_policy.update", "delivery_policy", 1, before, after)
    session.commit()
    return row


def max_acceptable(quantity: int, tolerance_pct: Decimal) -> int:
    """The most units a line of ``quantity`` may accept: ordered plus the tolerance."""
    return math.floor(quantity * (1 + tolerance_pct / 100))


def rule_text(row: DeliveryPolicy) -> str:
    return (
        f"{row.lead_time_percentile}th percentile of the last {row.lead_time_window} "
        f"deliveries, when at least {row.lead_time_min_deliveries}"
    )
