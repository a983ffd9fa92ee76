"""Validating dependencies of the deliveries routes: the line, order and adjustment a path
names (404 once), and who may act."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from app.api.params import DIGITS, MAX_ID
from app.auth.deps import CurrentUser, require_roles
from app.auth.models import Role, User
from app.db import SessionDep
from app.deliveries import learning, service
from app.deliveries.models import LeadTimeAdjustment, OrderLine, PurchaseOrder


def valid_line_id(
    line_id: Annotated[
        int, DIGITS, Path(ge=1, le=MAX_ID, description="the order line's id", examples=[12])
    ],
    session: SessionDep,
    user: CurrentUser,
) -> OrderLine:
    return service.get_line(session, user, line_id)


def valid_order_id(
    order_id: Annotated[
        int, DIGITS, Path(ge=1, le=MAX_ID, description="the purchase order's id", examples=[3])
    ],
    session: SessionDep,
    user: CurrentUser,
) -> PurchaseOrder:
    return service.get_order(session, user, order_id)


def valid_adjustment_id(
    adjustment_id: Annotated[
        int, DIGITS, Path(ge=1, le=MAX_ID, description="the adjustment's id", examples=[5])
    ],
    session: SessionDep,
    user: CurrentUser,
) -> LeadTimeAdjustment:
    return learning.get(session, adjustment_id)


def member_or_coordinator(user: CurrentUser) -> User:
    """Deliveries are every member agency's to see, and the coordinators'."""
    service.ensure_may_see(user)
    return user


ValidLine = Annotated[OrderLine, Depends(valid_line_id)]
ValidOrder = Annotated[PurchaseOrder, Depends(valid_order_id)]
ValidAdjustment = Annotated[LeadTimeAdjustment, Depends(valid_adjustment_id)]
Member = Annotated[User, Depends(member_or_coordinator)]
LocalTeam = Annotated[User, Depends(require_roles(Role.local_team))]
Specialist = Annotated[User, Depends(require_roles(Role.technical_specialist))]
PolicyManager = Annotated[User, Depends(require_roles(Role.coordinator, Role.admin))]
Proposer = Annotated[User, Depends(require_roles(Role.technical_specialist, Role.coordinator))]
