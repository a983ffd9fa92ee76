"""Supplier offers: price tiers, capacity, minimum order, eligibility, validity.

An offer that is one agency's long-term agreement (``owner_agency_id``) is that
agency's to change: a specialist of another agency gets 403 on it (everyone may
still read it and buy through it if eligible).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from app.audit.service import record
from app.auth.models import Agency, Role, User
from app.catalogue.common import (
    API_PREFIX,
    apply_changes,
    audit_snapshot,
    by_id_where,
    commit_created,
    delete_row,
    flush_or_conflict,
    get_or_404,
    money_text,
    reference_issues,
    update_checked,
)
from app.catalogue.models import Item, Offer, OfferEligibility, PriceTier, Supplier
from app.catalogue.schemas import OfferCreate, OfferRead, OfferUpdate
from app.db import touch
from app.errors import FieldIssue, Forbidden, InvalidInput
from solver.validation import tier_order_issues

if TYPE_CHECKING:
    from app.api.etags import IfMatch
    from app.api.idempotency import Idempotency


def offer_url(offer: Offer) -> str:
    return f"{API_PREFIX}/offers/{offer.id}"


def get_offer(session: Session, offer_id: int) -> Offer:
    return get_or_404(session, Offer, offer_id)


def offers_query(
    *,
    item_id: str | None = None,
    supplier_id: str | None = None,
    valid_on: dt.date | None = None,
    eligible_for: str | None = None,
    owner_agency_id: str | None = None,
) -> sa.Select[Offer]:
    stmt = by_id_where(
        Offer, item_id=item_id, supplier_id=supplier_id, owner_agency_id=owner_agency_id
    )
    if valid_on is not None:
        stmt = stmt.where(*_valid_on(valid_on))
    if eligible_for is not None:
        stmt = stmt.where(
            sa.or_(
                Offer.eligibility_restricted.is_(False),
                Offer.eligibility.any(OfferEligibility.agency_id == eligible_for),
            )
        )
    return stmt


def _valid_on(day: dt.date) -> tuple[sa.ColumnElement[bool], ...]:
    return (
        Offer.valid_from <= day,
        sa.or_(Offer.valid_to.is_(None), Offer.valid_to >= day),
    )


def may_manage_offer(actor: User | None, owner_agency_id: str | None) -> bool:
    """An agency's agreement is its own specialists' (and admins') to change."""
    return (
        actor is None
        or owner_agency_id is None
        or actor.has_role(Role.admin)
        or actor.agency_id == owner_agency_id
    )


def require_may_manage_offer(actor: User | None, owner_agency_id: str | None) -> None:
    if not may_manage_offer(actor, owner_agency_id):
        raise Forbidden(
            f"this offer is {owner_agency_id}'s long-term agreement; only its technical "
            "specialists or an admin may change it"
        )


def _whole(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _money(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _day(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def tier_issues(tiers: Any, base: str = "$.price_tiers") -> list[FieldIssue]:
    """Every tier out of order: contract v1's rule (``solver.validation.tier_order_issues``),
    on raw or parsed tiers.

    Values that are not numbers are skipped here (the schema reports them), so this
    can run on a body that failed validation and add its problems to the list.
    """

    def read(field: str, value: Any) -> Any:
        return _whole(value) if field == "min_quantity" else _money(value)

    return [
        FieldIssue(f"{base}[{j}].{field}", reason)
        for j, field, reason in tier_order_issues(tiers, read=read)
    ]


def offer_issues(
    session: Session, data: Mapping[str, Any], current: Offer | None = None
) -> list[FieldIssue]:
    """Rules across fields and rows for an offer body (``current`` set: an update).

    Reads ``data`` tolerantly, so the routes can run it on a body the schema refused
    and report everything at once.
    """
    issues: list[FieldIssue] = []
    if current is None:
        issues += [
            *reference_issues(
                session, Supplier, data.get("supplier_id"), "$.supplier_id", "supplier"
            ),
            *reference_issues(session, Item, data.get("item_id"), "$.item_id", "item"),
        ]
    owner = data.get("owner_agency_id")
    if isinstance(owner, str) and session.get(Agency, owner) is None:
        issues.append(FieldIssue("$.owner_agency_id", f"no agency {owner!r}"))
    eligible = data.get("eligible_agencies")
    if isinstance(eligible, list):
        named = [a for a in eligible if isinstance(a, str)]
        known = set(session.scalars(sa.select(Agency.id).where(Agency.id.in_(named))))
        seen: set[str] = set()
        for j, agency in enumerate(eligible):
            if not isinstance(agency, str):
                continue
            if agency not in known:
                issues.append(FieldIssue(f"$.eligible_agencies[{j}]", f"no agency {agency!r}"))
            elif agency in seen:
                issues.append(
                    FieldIssue(f"$.eligible_agencies[{j}]", f"agency {agency!r} listed twice")
                )
            seen.add(agency)
    issues += tier_issues(data.get("price_tiers"))
    valid_from = _day(data["valid_from"]) if "valid_from" in data else None
    valid_to = _day(data["valid_to"]) if "valid_to" in data else None
    if current is not None:
        valid_from = valid_from if "valid_from" in data else current.valid_from
        valid_to = valid_to if "valid_to" in data else current.valid_to
    if valid_from is not None and valid_to is not None and valid_to < valid_from:
        if "valid_to" in data:
            issues.append(
                FieldIssue("$.valid_to", f"must be on or after valid_from ({valid_from})")
            )
        else:
            issues.append(FieldIssue("$.valid_from", f"must be on or before valid_to ({valid_to})"))
    issues += _order_size_issues(data, current)
    return issues


def _order_size_issues(data: Mapping[str, Any], current: Offer | None) -> list[FieldIssue]:
    """A minimum order above the capacity can never be placed: the offer could never be
    used, and the optimiser would silently skip it."""
    minimum = _whole(data.get("min_order_quantity"))
    capacity = _whole(data.get("capacity"))
    if current is not None:
        minimum = minimum if "min_order_quantity" in data else current.min_order_quantity
        capacity = capacity if "capacity" in data else current.capacity
    if minimum is None or capacity is None or minimum <= capacity:
        return []
    path = "$.min_order_quantity" if "min_order_quantity" in data else "$.capacity"
    return [
        FieldIssue(
            path,
            f"the minimum order ({minimum:,}) is above the capacity ({capacity:,}): no order "
            "could ever be placed; lower the minimum order or raise the capacity",
        )
    ]


def offer_snapshot(offer: Offer) -> dict[str, Any]:
    """The offer with its tiers and eligible agencies, for the audit's before/after."""
    return {
        **audit_snapshot(offer),
        "price_tiers": [
            {"min_quantity": t.min_quantity, "unit_price": money_text(t.unit_price)}
            for t in offer.price_tiers
        ],
        "eligible_agencies": offer.eligible_agency_ids,
    }


def _tier_rows(offer: Offer, tiers: list[Mapping[str, Any]]) -> bool:
    """Make the offer's tiers exactly ``tiers``; True when they changed.

    Rows are kept by ``min_quantity`` and their price updated: deleting a tier and
    inserting one at the same quantity in one flush would trip the unique key,
    since the unit of work inserts before it deletes.
    """
    wanted = [(int(t["min_quantity"]), Decimal(str(t["unit_price"]))) for t in tiers]
    if wanted == [(t.min_quantity, t.unit_price) for t in offer.price_tiers]:
        return False
    existing = {t.min_quantity: t for t in offer.price_tiers}
    rows = []
    for quantity, price in wanted:
        row = existing.get(quantity) or PriceTier(min_quantity=quantity)
        row.unit_price = price
        rows.append(row)
    offer.price_tiers = rows
    touch(offer)
    return True


def add_offers(session: Session, actor: User | None, offers: Sequence[OfferCreate]) -> list[Offer]:
    """The core of creating offers, checked already (``offer_issues``, who may): built,
    added, flushed (409 when a row they name was just removed), audited; no commit.

    One request's create and a spreadsheet import both call it, then commit once.
    """
    rows = []
    for data in offers:
        offer = Offer(
            supplier_id=data.supplier_id,
            item_id=data.item_id,
            reference=data.reference,
            capacity=data.capacity,
            min_order_quantity=data.min_order_quantity,
            lead_time_days=data.lead_time_days,
            pack_size=data.pack_size,
            fee_rate=data.fee_rate,
            owner_agency_id=data.owner_agency_id,
            valid_from=data.valid_from,
            valid_to=data.valid_to,
            price_tiers=[
                PriceTier(min_quantity=t.min_quantity, unit_price=t.unit_price)
                for t in data.price_tiers
            ],
        )
        offer.eligible_agency_ids = data.eligible_agencies
        rows.append(offer)
    session.add_all(rows)
    flush_or_conflict(session, "a supplier, item or agency of this offer was just removed")
    for offer in rows:
        record(session, actor, "offer.create", "offer", offer.id, None, offer_snapshot(offer))
    return rows


def create_offer(
    session: Session, actor: User | None, data: OfferCreate, idem: Idempotency | None = None
) -> Offer:
    issues = offer_issues(session, data.model_dump())
    if issues:
        raise InvalidInput(issues)
    require_may_manage_offer(actor, data.owner_agency_id)
    (offer,) = add_offers(session, actor, [data])
    commit_created(session, idem, OfferRead, offer, offer_url(offer))
    return offer


def change_offer(
    session: Session, actor: User | None, offer: Offer, changes: dict[str, Any]
) -> bool:
    """Core of changing an offer the actor may manage: every rule checked (422), 403 on
    giving it to an agency not the actor's; set, flushed, audited; no commit.
    ``price_tiers`` replaces all tiers at once. True when anything changed."""
    issues = offer_issues(session, changes, current=offer)
    if issues:
        raise InvalidInput(issues)
    if "owner_agency_id" in changes:
        require_may_manage_offer(actor, changes["owner_agency_id"])
    before = offer_snapshot(offer)
    tiers = changes.pop("price_tiers", None)
    eligible_given = "eligible_agencies" in changes
    eligible = changes.pop("eligible_agencies", None)
    changed = apply_changes(offer, changes)
    if tiers is not None:
        changed = _tier_rows(offer, tiers) or changed
    if eligible_given:
        wanted = sorted(eligible) if eligible is not None else None
        if wanted != offer.eligible_agency_ids:
            offer.eligible_agency_ids = wanted
            changed = True
    if changed:
        flush_or_conflict(session, "an agency named by this offer was just removed")
        record(session, actor, "offer.update", "offer", offer.id, before, offer_snapshot(offer))
    return changed


def update_offer(
    session: Session, actor: User | None, offer: Offer, data: OfferUpdate, if_match: IfMatch
) -> Offer:
    require_may_manage_offer(actor, offer.owner_agency_id)
    return update_checked(session, actor, offer, data, if_match, change_offer)


def delete_offer(session: Session, actor: User | None, offer: Offer, if_match: IfMatch) -> None:
    # Runs keep their own frozen copy of the offers they used, so nothing in the
    # database refers to an offer: it can always go.
    require_may_manage_offer(actor, offer.owner_agency_id)
    if_match.check(offer)
    before = offer_snapshot(offer)
    delete_row(session, actor, offer, before, f"offer {offer.id} is in use")


def offers_valid_on(
    session: Session, day: dt.date, *, item_ids: Collection[str] | None = None
) -> list[Offer]:
    """Offers open for orders on ``day``, tiers and eligibility loaded, by id.

    A retired supplier's offers are left out: retiring a supplier is how the group
    stops buying from it. A retired item's offers stay, for the needs already
    recorded against it.
    """
    stmt = (
        sa.select(Offer)
        .join(Offer.supplier)
        .where(Supplier.active.is_(True), *_valid_on(day))
        .options(selectinload(Offer.price_tiers), selectinload(Offer.eligibility))
        .order_by(Offer.id)
    )
    if item_ids is not None:
        stmt = stmt.where(Offer.item_id.in_(list(item_ids)))
    return list(session.scalars(stmt))
