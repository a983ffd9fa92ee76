"""Plain factory functions: each adds rows to the session, flushes, and returns them.

Every argument has a sensible default; pass what the test is about. Codes are
unique per call, so tests never collide with each other or with demo data::

    admin, admin_token = make_user_and_token(session, Role.admin)
    iom = make_agency(session, "IOM")
    chief = make_user(session, Role.chief_of_mission, agency=iom)
    offer = make_offer(session, tiers=[(0, "1.20"), (10_000, "1.00")], eligible=["IOM"])
    need = make_need(session, round_=make_round(session), agency=iom, quantity=500)
"""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from app.auth.models import AGENCY_ROLES, Agency, ApiToken, Role, User, UserRole
from app.auth.service import TOKEN_PREFIX, hash_token
from app.catalogue.models import Item, Location, Offer, PriceTier, Route, Supplier
from app.db import utcnow
from app.needs.models import Need, NeedStatus, Priority
from app.rounds.models import Round, RoundStatus
from app.sourcing.models import (
    AgencyBudget,
    AwardRule,
    CapacityGroup,
    CapacityGroupOffer,
    RuleKind,
    SupplierExclusion,
)

_counter = itertools.count(1)


def _n() -> int:
    return next(_counter)


# ----------------------------------------------------------------- agencies, users


def make_agency(session: Session, id: str | None = None, name: str | None = None) -> Agency:
    code = id or f"AG{_n()}"
    agency = Agency(id=code, name=name or f"Agency {code}")
    session.add(agency)
    session.flush()
    return agency


def make_user(
    session: Session,
    *roles: Role,
    agency: Agency | None = None,
    email: str | None = None,
    name: str | None = None,
    active: bool = True,
) -> User:
    """A user with ``roles``; one with an agency role gets a new agency unless given one."""
    if agency is None and set(roles) & AGENCY_ROLES:
        agency = make_agency(session)
    n = _n()
    user = User(
        email=email or f"user{n}@example.org",
        name=name or f"User {n}",
        agency_id=agency.id if agency else None,
        active=active,
        roles=[UserRole(role=r) for r in roles],
    )
    session.add(user)
    session.flush()
    return user


def make_token(
    session: Session,
    user: User,
    *,
    name: str = "test",
    expires_at: dt.datetime | None = None,
    revoked: bool = False,
) -> str:
    """A token for ``user``; returns the plain token (the row keeps only its hash)."""
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        ApiToken(
            user_id=user.id,
            name=name,
            token_hash=hash_token(plain),
            prefix=plain[:10],
            created_at=now,
            expires_at=expires_at or now + dt.timedelta(days=30),
            revoked_at=now if revoked else None,
        )
    )
    session.flush()
    return plain


def make_user_and_token(
    session: Session, *roles: Role, agency: Agency | None = None, **user_fields: Any
) -> tuple[User, str]:
    user = make_user(session, *roles, agency=agency, **user_fields)
    return user, make_token(session, user)


# ---------------------------------------------------------------------- catalogue


def make_item(
    session: Session,
    id: str | None = None,
    *,
    name: str | None = None,
    unit: str = "each",
    category: str = "PPE",
    unspsc_code: str | None = None,
) -> Item:
    code = id or f"item-{_n()}"
    item = Item(id=code, name=name or code, unit=unit, category=category, unspsc_code=unspsc_code)
    session.add(item)
    session.flush()
    return item


def make_location(
    session: Session, id: str | None = None, *, name: str | None = None, region: str = "Darién"
) -> Location:
    code = id or f"loc-{_n()}"
    location = Location(id=code, name=name or code, region=region)
    session.add(location)
    session.flush()
    return location


def make_supplier(session: Session, id: str | None = None, *, name: str | None = None) -> Supplier:
    code = id or f"sup-{_n()}"
    supplier = Supplier(id=code, name=name or code, country="PA")
    session.add(supplier)
    session.flush()
    return supplier


def make_offer(
    session: Session,
    *,
    supplier: Supplier | None = None,
    item: Item | None = None,
    tiers: list[tuple[int, str | Decimal]] | None = None,
    capacity: int = 50_000,
    min_order_quantity: int = 0,
    lead_time_days: int = 10,
    eligible: list[str] | None = None,
    owner: Agency | None = None,
    valid_from: dt.date = dt.date(2026, 1, 1),
    valid_to: dt.date | None = None,
    pack_size: int = 1,
    fee_rate: str | Decimal = "0",
) -> Offer:
    offer = Offer(
        pack_size=pack_size,
        fee_rate=Decimal(str(fee_rate)),
        supplier=supplier or make_supplier(session),
        item=item or make_item(session),
        capacity=capacity,
        min_order_quantity=min_order_quantity,
        lead_time_days=lead_time_days,
        owner_agency=owner,
        valid_from=valid_from,
        valid_to=valid_to,
        price_tiers=[
            PriceTier(min_quantity=q, unit_price=Decimal(str(p)))
            for q, p in (tiers or [(0, "1.20")])
        ],
    )
    offer.eligible_agency_ids = eligible
    session.add(offer)
    session.flush()
    return offer


def make_route(
    session: Session,
    *,
    supplier: Supplier | None = None,
    location: Location | None = None,
    fixed_cost: str | Decimal = "500",
    unit_cost: str | Decimal = "0.01",
    transit_days: int = 3,
) -> Route:
    route = Route(
        supplier=supplier or make_supplier(session),
        location=location or make_location(session),
        fixed_cost=Decimal(str(fixed_cost)),
        unit_cost=Decimal(str(unit_cost)),
        transit_days=transit_days,
    )
    session.add(route)
    session.flush()
    return route


# ------------------------------------------------------------------------ sourcing


def make_capacity_group(
    session: Session, *, offers: list[Offer], capacity: int = 20_000, name: str | None = None
) -> CapacityGroup:
    group = CapacityGroup(
        supplier_id=offers[0].supplier_id,
        name=name or f"Plant {_n()}",
        capacity=capacity,
        members=[CapacityGroupOffer(offer_id=o.id) for o in offers],
    )
    session.add(group)
    session.flush()
    return group


def make_award_rule(
    session: Session,
    *,
    item: Item,
    kind: RuleKind = RuleKind.max_suppliers,
    limit: int | None = 1,
    supplier: Supplier | None = None,
    share: str | None = None,
    location: Location | None = None,
    penalty: str = "5000",
    reason: str = "supply risk",
) -> AwardRule:
    rule = AwardRule(
        kind=kind,
        item_id=item.id,
        location_id=location.id if location else None,
        supplier_id=supplier.id if supplier else None,
        limit=limit,
        share=Decimal(share) if share is not None else None,
        penalty=Decimal(penalty),
        reason=reason,
    )
    session.add(rule)
    session.flush()
    return rule


def make_exclusion(
    session: Session, *, agency: Agency, supplier: Supplier, created_by: User
) -> SupplierExclusion:
    exclusion = SupplierExclusion(
        agency_id=agency.id,
        supplier_id=supplier.id,
        evidence="failed due diligence",
        source="vendor review committee",
        created_by_id=created_by.id,
    )
    session.add(exclusion)
    session.flush()
    return exclusion


def make_budget(
    session: Session, *, round_: Round, agency: Agency, set_by: User, amount: str = "10000"
) -> AgencyBudget:
    budget = AgencyBudget(
        round_id=round_.id, agency_id=agency.id, amount=Decimal(amount), set_by_id=set_by.id
    )
    session.add(budget)
    session.flush()
    return budget


# ------------------------------------------------------------------ rounds, needs


def make_round(
    session: Session,
    *,
    name: str | None = None,
    status: RoundStatus = RoundStatus.open,
    deadline: dt.datetime | None = None,
    created_by: User | None = None,
    settings: dict[str, Any] | None = None,
) -> Round:
    round_ = Round(
        name=name or f"Round {_n()}",
        status=status,
        deadline=deadline or utcnow() + dt.timedelta(days=14),
        created_by=created_by or make_user(session, Role.coordinator),
        settings=settings or {},
    )
    session.add(round_)
    session.flush()
    return round_


def make_need(
    session: Session,
    *,
    round_: Round | None = None,
    agency: Agency | None = None,
    item: Item | None = None,
    location: Location | None = None,
    created_by: User | None = None,
    quantity: int = 1000,
    need_by: dt.date = dt.date(2026, 12, 20),
    priority: Priority = Priority.normal,
    justification: str = "monthly replenishment",
    status: NeedStatus = NeedStatus.submitted,
) -> Need:
    agency = agency or make_agency(session)
    need = Need(
        round=round_ or make_round(session),
        agency=agency,
        item=item or make_item(session),
        location=location or make_location(session),
        created_by=created_by or make_user(session, Role.local_team, agency=agency),
        quantity=quantity,
        need_by=need_by,
        priority=priority,
        justification=justification,
        status=status,
        submitted_at=utcnow() if status == NeedStatus.submitted else None,
    )
    session.add(need)
    session.flush()
    return need
