"""The catalogue: items, locations, suppliers, offers with their price tiers, routes.

Every function that changes something checks it, records an audit entry with the
before and after, and commits. Functions that take an ``actor`` accept None for
operators' tools (the demo loader, the CLI); the audit then names "system".

Other domains, when a round closes::

    from app.catalogue.service import catalogue_document_parts

    parts = catalogue_document_parts(session, as_of, item_ids={n.item_id for n in needs},
                                     agency_ids=[a["id"] for a in agencies])
    document = {"as_of": ..., "currency": ..., "agencies": agencies, "needs": needs, **parts}

Who may change what: technical specialists and admins manage the catalogue (the
routes check the role). An offer that is one agency's long-term agreement
(``owner_agency_id``) is that agency's to change: a specialist of another agency
gets 403 on it (everyone may still read it and buy through it if eligible).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import QueryableAttribute, Session, selectinload

from app.audit.service import record, snapshot
from app.auth.models import Agency, Role, User
from app.catalogue.models import (
    Item,
    Location,
    Offer,
    OfferEligibility,
    PriceTier,
    Route,
    Supplier,
)
from app.catalogue.schemas import (
    ItemCreate,
    ItemRead,
    ItemUpdate,
    LocationCreate,
    LocationRead,
    LocationUpdate,
    OfferCreate,
    OfferRead,
    OfferUpdate,
    RouteCreate,
    RouteRead,
    RouteUpdate,
    SupplierCreate,
    SupplierRead,
    SupplierUpdate,
)
from app.db import MONEY_SCALE, references_to, touch
from app.errors import Conflict, FieldIssue, Forbidden, InvalidInput, NotFound
from solver.validation import tier_order_issues

if TYPE_CHECKING:
    from app.api.etags import IfMatch
    from app.api.idempotency import Idempotency

API_PREFIX = "/api/v1"
MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)

# The catalogue rows a problem document names an offer by.
OFFER_ID_PREFIX = "o-"


def item_url(item: Item) -> str:
    return f"{API_PREFIX}/items/{item.id}"


def location_url(location: Location) -> str:
    return f"{API_PREFIX}/locations/{location.id}"


def supplier_url(supplier: Supplier) -> str:
    return f"{API_PREFIX}/suppliers/{supplier.id}"


def offer_url(offer: Offer) -> str:
    return f"{API_PREFIX}/offers/{offer.id}"


def route_url(route: Route | int) -> str:
    return f"{API_PREFIX}/routes/{route if isinstance(route, int) else route.id}"


# ------------------------------------------------------------------ shared helpers


def _contains(q: str, *columns: QueryableAttribute[str]) -> sa.ColumnElement[bool]:
    """Case-insensitive substring match of ``q`` on any of ``columns``.

    lower() on both sides rather than ILIKE so it reads the same on both databases;
    autoescape so '%' and '_' in a search are literal.
    """
    needle = q.strip().lower()
    return sa.or_(*(sa.func.lower(c).contains(needle, autoescape=True) for c in columns))


def money_text(value: Decimal) -> str:
    """A money figure as the audit keeps it: exactly as stored, six decimals."""
    return str(value.quantize(MONEY_QUANTUM))


def audit_snapshot(row: Any) -> dict[str, Any]:
    # A figure set in this session ("1.2") and one read back ("1.200000") must read
    # the same in the log, or every before/after pair would show a false change.
    values = snapshot(row)
    for key in values:
        if isinstance(value := getattr(row, key), Decimal):
            values[key] = money_text(value)
    return values


def flush_or_conflict(session: Session, message: str) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        # Another request made the same row, or referenced this one, between our
        # check and our write. The request's session is rolled back by get_session.
        raise Conflict(message) from exc


def _uses(counts: Mapping[str, int]) -> str:
    """ "3 needs and 1 offer" from {"need": 3, "offer": 1}, skipping zeros."""
    parts = [f"{n} {noun}{'s' if n != 1 else ''}" for noun, n in counts.items() if n]
    return " and ".join(parts)


def _apply(row: Any, changes: Mapping[str, Any]) -> bool:
    """Set the attributes that differ; True when anything did."""
    changed = False
    for key, value in changes.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    return changed


def _commit_change(
    session: Session,
    actor: User | None,
    row: Any,
    entity_type: str,
    entity_id: str | int,
    before: dict[str, Any],
) -> None:
    session.flush()
    after = audit_snapshot(row)
    record(session, actor, f"{entity_type}.update", entity_type, entity_id, before, after)
    session.commit()


def _delete(
    session: Session,
    actor: User | None,
    row: Any,
    entity_type: str,
    entity_id: str | int,
    before: dict[str, Any],
    in_use: str,
) -> None:
    session.delete(row)
    flush_or_conflict(session, in_use)
    record(session, actor, f"{entity_type}.delete", entity_type, entity_id, before, None)
    session.commit()


def reference_issues(
    session: Session, model: type[Any], value: Any, path: str, noun: str
) -> list[FieldIssue]:
    """A problem with a reference to a catalogue row that new rows may use."""
    if not isinstance(value, str):
        return []
    row = session.get(model, value)
    if row is None:
        return [FieldIssue(path, f"no {noun} {value!r}")]
    if not row.active:
        return [FieldIssue(path, f"{noun} {value!r} is retired (active is false)")]
    return []


# --------------------------------------------------------------------------- items


def _create_catalogue_row(
    session: Session,
    actor: User | None,
    row: Item | Location | Supplier,
    read: type[ItemRead] | type[LocationRead] | type[SupplierRead],
    url: str,
    idem: Idempotency | None,
) -> None:
    """Add a row keyed by its own id: 409 if the id is taken, audited, idempotent."""
    entity = type(row).__tablename__
    exists = f"{entity} {row.id} already exists"
    if session.get(type(row), row.id) is not None:
        raise Conflict(exists)
    session.add(row)
    flush_or_conflict(session, exists)
    record(session, actor, f"{entity}.create", entity, row.id, None, audit_snapshot(row))
    if idem is not None:
        idem.save(201, read.model_validate(row), row=row, location=url)
    session.commit()


def get_item(session: Session, item_id: str) -> Item:
    item = session.get(Item, item_id)
    if item is None:
        raise NotFound(f"item {item_id}")
    return item


def items_query(
    *,
    category: str | None = None,
    q: str | None = None,
    unspsc: str | None = None,
    active: bool | None = None,
) -> sa.Select[Item]:
    """Items by id. ``unspsc`` is a prefix of digits; a full code ending in 00 pairs
    (a segment, family or class code) matches every item under it."""
    stmt = sa.select(Item).order_by(Item.id)
    if category is not None:
        stmt = stmt.where(Item.category == category)
    if q:
        stmt = stmt.where(_contains(q, Item.id, Item.name))
    if unspsc:
        prefix = unspsc
        if len(prefix) == 8:
            while prefix.endswith("00") and len(prefix) > 2:
                prefix = prefix[:-2]
        stmt = stmt.where(Item.unspsc_code.startswith(prefix, autoescape=True))
    if active is not None:
        stmt = stmt.where(Item.active.is_(active))
    return stmt


def create_item(
    session: Session, actor: User | None, data: ItemCreate, idem: Idempotency | None = None
) -> Item:
    item = Item(**data.model_dump(), active=True)
    _create_catalogue_row(session, actor, item, ItemRead, item_url(item), idem)
    return item


def update_item(
    session: Session, actor: User | None, item: Item, data: ItemUpdate, if_match: IfMatch
) -> Item:
    if_match.check(item)
    changes = data.model_dump(exclude_unset=True)
    if "unit" in changes and changes["unit"] != item.unit:
        uses = references_to(session, Item.__table__, item.id)
        if any(uses.values()):
            # Existing quantities were counted in the old unit; changing it would
            # silently change what every one of them means.
            raise Conflict(
                f"{_uses(uses)} count item {item.id} in {item.unit!r}; "
                "create a new item for the new unit and retire this one"
            )
    before = audit_snapshot(item)
    if _apply(item, changes):
        _commit_change(session, actor, item, "item", item.id, before)
    return item


def delete_item(session: Session, actor: User | None, item: Item, if_match: IfMatch) -> None:
    if_match.check(item)
    in_use = f"item {item.id} is in use; set active to false to retire it instead"
    uses = references_to(session, Item.__table__, item.id)
    if any(uses.values()):
        raise Conflict(f"item {item.id} is used by {_uses(uses)}; set active to false instead")
    _delete(session, actor, item, "item", item.id, audit_snapshot(item), in_use)


def names_by_id(
    session: Session, model: type[Item] | type[Location] | type[Supplier], ids: Collection[str]
) -> dict[str, str]:
    """Names of the items, locations or suppliers with these ids (pages show names)."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    rows = session.execute(sa.select(model.id, model.name).where(model.id.in_(wanted)))
    return {row_id: name for row_id, name in rows}


# ----------------------------------------------------------------------- locations


def get_location(session: Session, location_id: str) -> Location:
    location = session.get(Location, location_id)
    if location is None:
        raise NotFound(f"location {location_id}")
    return location


def locations_query(
    *, region: str | None = None, q: str | None = None, active: bool | None = None
) -> sa.Select[Location]:
    stmt = sa.select(Location).order_by(Location.id)
    if region is not None:
        stmt = stmt.where(Location.region == region)
    if q:
        stmt = stmt.where(_contains(q, Location.id, Location.name))
    if active is not None:
        stmt = stmt.where(Location.active.is_(active))
    return stmt


def create_location(
    session: Session, actor: User | None, data: LocationCreate, idem: Idempotency | None = None
) -> Location:
    location = Location(**data.model_dump(), active=True)
    _create_catalogue_row(session, actor, location, LocationRead, location_url(location), idem)
    return location


def update_location(
    session: Session,
    actor: User | None,
    location: Location,
    data: LocationUpdate,
    if_match: IfMatch,
) -> Location:
    if_match.check(location)
    changes = data.model_dump(exclude_unset=True)
    latitude = changes.get("latitude", location.latitude)
    longitude = changes.get("longitude", location.longitude)
    if (latitude is None) != (longitude is None):
        path = "$.latitude" if "latitude" in changes else "$.longitude"
        raise InvalidInput([FieldIssue(path, "give latitude and longitude together, or neither")])
    before = audit_snapshot(location)
    if _apply(location, changes):
        _commit_change(session, actor, location, "location", location.id, before)
    return location


def delete_location(
    session: Session, actor: User | None, location: Location, if_match: IfMatch
) -> None:
    if_match.check(location)
    uses = references_to(session, Location.__table__, location.id)
    if any(uses.values()):
        raise Conflict(
            f"location {location.id} is used by {_uses(uses)}; set active to false instead"
        )
    in_use = f"location {location.id} is in use; set active to false to retire it instead"
    _delete(session, actor, location, "location", location.id, audit_snapshot(location), in_use)


# ----------------------------------------------------------------------- suppliers


def get_supplier(session: Session, supplier_id: str) -> Supplier:
    supplier = session.get(Supplier, supplier_id)
    if supplier is None:
        raise NotFound(f"supplier {supplier_id}")
    return supplier


def suppliers_query(
    *, q: str | None = None, country: str | None = None, active: bool | None = None
) -> sa.Select[Supplier]:
    stmt = sa.select(Supplier).order_by(Supplier.id)
    if q:
        stmt = stmt.where(_contains(q, Supplier.id, Supplier.name))
    if country is not None:
        stmt = stmt.where(Supplier.country == country)
    if active is not None:
        stmt = stmt.where(Supplier.active.is_(active))
    return stmt


def create_supplier(
    session: Session, actor: User | None, data: SupplierCreate, idem: Idempotency | None = None
) -> Supplier:
    supplier = Supplier(**data.model_dump(), active=True)
    _create_catalogue_row(session, actor, supplier, SupplierRead, supplier_url(supplier), idem)
    return supplier


def update_supplier(
    session: Session,
    actor: User | None,
    supplier: Supplier,
    data: SupplierUpdate,
    if_match: IfMatch,
) -> Supplier:
    if_match.check(supplier)
    before = audit_snapshot(supplier)
    if _apply(supplier, data.model_dump(exclude_unset=True)):
        _commit_change(session, actor, supplier, "supplier", supplier.id, before)
    return supplier


def delete_supplier(
    session: Session, actor: User | None, supplier: Supplier, if_match: IfMatch
) -> None:
    if_match.check(supplier)
    uses = references_to(session, Supplier.__table__, supplier.id)
    if any(uses.values()):
        raise Conflict(
            f"supplier {supplier.id} is used by {_uses(uses)}; set active to false instead"
        )
    in_use = f"supplier {supplier.id} is in use; set active to false to retire it instead"
    _delete(session, actor, supplier, "supplier", supplier.id, audit_snapshot(supplier), in_use)


# -------------------------------------------------------------------------- offers


def get_offer(session: Session, offer_id: int) -> Offer:
    offer = session.get(Offer, offer_id)
    if offer is None:
        raise NotFound(f"offer {offer_id}")
    return offer


def offers_query(
    *,
    item_id: str | None = None,
    supplier_id: str | None = None,
    valid_on: dt.date | None = None,
    eligible_for: str | None = None,
    owner_agency_id: str | None = None,
) -> sa.Select[Offer]:
    stmt = sa.select(Offer).order_by(Offer.id)
    if item_id is not None:
        stmt = stmt.where(Offer.item_id == item_id)
    if supplier_id is not None:
        stmt = stmt.where(Offer.supplier_id == supplier_id)
    if valid_on is not None:
        stmt = stmt.where(*_valid_on(valid_on))
    if eligible_for is not None:
        stmt = stmt.where(
            sa.or_(
                Offer.eligibility_restricted.is_(False),
                Offer.eligibility.any(OfferEligibility.agency_id == eligible_for),
            )
        )
    if owner_agency_id is not None:
        stmt = stmt.where(Offer.owner_agency_id == owner_agency_id)
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
    if idem is not None:
        idem.save(201, OfferRead.model_validate(offer), row=offer, location=offer_url(offer))
    session.commit()
    return offer


def update_offer(
    session: Session, actor: User | None, offer: Offer, data: OfferUpdate, if_match: IfMatch
) -> Offer:
    require_may_manage_offer(actor, offer.owner_agency_id)
    if_match.check(offer)
    changes = data.model_dump(exclude_unset=True)
    issues = offer_issues(session, changes, current=offer)
    if issues:
        raise InvalidInput(issues)
    if "owner_agency_id" in changes:
        require_may_manage_offer(actor, changes["owner_agency_id"])
    before = offer_snapshot(offer)
    tiers = changes.pop("price_tiers", None)
    eligible_given = "eligible_agencies" in changes
    eligible = changes.pop("eligible_agencies", None)
    changed = _apply(offer, changes)
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
        session.commit()
    return offer


def delete_offer(session: Session, actor: User | None, offer: Offer, if_match: IfMatch) -> None:
    # Runs keep their own frozen copy of the offers they used, so nothing in the
    # database refers to an offer: it can always go.
    require_may_manage_offer(actor, offer.owner_agency_id)
    if_match.check(offer)
    before = offer_snapshot(offer)
    _delete(session, actor, offer, "offer", offer.id, before, f"offer {offer.id} is in use")


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


# -------------------------------------------------------------------------- routes


def get_route(session: Session, route_id: int) -> Route:
    route = session.get(Route, route_id)
    if route is None:
        raise NotFound(f"route {route_id}")
    return route


def routes_query(
    *, supplier_id: str | None = None, location_id: str | None = None
) -> sa.Select[Route]:
    stmt = sa.select(Route).order_by(Route.id)
    if supplier_id is not None:
        stmt = stmt.where(Route.supplier_id == supplier_id)
    if location_id is not None:
        stmt = stmt.where(Route.location_id == location_id)
    return stmt


def route_issues(session: Session, data: Mapping[str, Any]) -> list[FieldIssue]:
    """References of a new route; tolerant of a body the schema refused."""
    return [
        *reference_issues(session, Supplier, data.get("supplier_id"), "$.supplier_id", "supplier"),
        *reference_issues(session, Location, data.get("location_id"), "$.location_id", "location"),
    ]


def route_between(session: Session, supplier_id: Any, location_id: Any) -> Route | None:
    """The route from this supplier to this location, if there is one (there is at most one)."""
    if not isinstance(supplier_id, str) or not isinstance(location_id, str):
        return None
    return session.scalar(
        sa.select(Route).where(Route.supplier_id == supplier_id, Route.location_id == location_id)
    )


def add_routes(session: Session, actor: User | None, routes: Sequence[RouteCreate]) -> list[Route]:
    """The core of creating routes, checked already (``route_issues``, no route between the
    same places): added, flushed (409 when another request made one meanwhile), audited;
    no commit. One request's create and a spreadsheet import both call it."""
    rows = [Route(**data.model_dump()) for data in routes]
    session.add_all(rows)
    flush_or_conflict(session, "a route between the same places was just made")
    for route in rows:
        record(session, actor, "route.create", "route", route.id, None, audit_snapshot(route))
    return rows


def create_route(
    session: Session, actor: User | None, data: RouteCreate, idem: Idempotency | None = None
) -> Route:
    issues = route_issues(session, data.model_dump())
    if issues:
        raise InvalidInput(issues)
    existing = route_between(session, data.supplier_id, data.location_id)
    if existing is not None:
        raise Conflict(
            f"a route from {data.supplier_id} to {data.location_id} already exists "
            f"({route_url(existing)}); update that one"
        )
    (route,) = add_routes(session, actor, [data])
    if idem is not None:
        idem.save(201, RouteRead.model_validate(route), row=route, location=route_url(route))
    session.commit()
    return route


def update_route(
    session: Session, actor: User | None, route: Route, data: RouteUpdate, if_match: IfMatch
) -> Route:
    if_match.check(route)
    before = audit_snapshot(route)
    if _apply(route, data.model_dump(exclude_unset=True)):
        _commit_change(session, actor, route, "route", route.id, before)
    return route


def delete_route(session: Session, actor: User | None, route: Route, if_match: IfMatch) -> None:
    if_match.check(route)
    before = audit_snapshot(route)
    _delete(session, actor, route, "route", route.id, before, f"route {route.id} is in use")


# ------------------------------------------------------- problem document (contract v1)


def _money_figure(value: Decimal) -> float:
    # Stored decimals have at most 6 places; as floats they print back the same.
    return float(value)


def offer_document(offer: Offer, agency_ids: Collection[str] | None = None) -> dict[str, Any]:
    eligible = offer.eligible_agency_ids
    if eligible is not None and agency_ids is not None:
        present = set(agency_ids)
        eligible = [a for a in eligible if a in present]
    return {
        "id": f"{OFFER_ID_PREFIX}{offer.id}",
        "supplier": offer.supplier_id,
        "item": offer.item_id,
        "price_tiers": [
            {"min_quantity": t.min_quantity, "unit_price": _money_figure(t.unit_price)}
            for t in offer.price_tiers
        ],
        "capacity": offer.capacity,
        "min_order_quantity": offer.min_order_quantity,
        "lead_time_days": offer.lead_time_days,
        "eligible_agencies": eligible,
        # Contract v2; with 1 and 0 the document means what v1 says.
        "pack_size": offer.pack_size,
        "fee_rate": _money_figure(offer.fee_rate),
    }


def catalogue_document_parts(
    session: Session,
    day: dt.date,
    item_ids: Collection[str] | None = None,
    *,
    agency_ids: Collection[str] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The catalogue half of a contract-v1 problem document as of ``day``.

    ``items``: those named in ``item_ids`` (every item when None); ``offers``: the
    offers of those items valid on ``day`` (``offers_valid_on``); ``suppliers``:
    the suppliers of those offers; ``routes``: every route from those suppliers;
    ``locations``: every location, so any need's location resolves. Each list is
    in a fixed order (by id), so the same catalogue gives the same document.

    ``eligible_agencies`` names agencies, and a document must define every agency
    it names: give ``agency_ids`` (the agencies the document will list) and
    eligibility is cut to them. Leaving an absent agency out changes nothing, as
    it has no needs to serve; a list cut to nothing stays ``[]``, never null.
    Without ``agency_ids`` the caller must list every agency named.
    """
    wanted = None if item_ids is None else set(item_ids)
    item_stmt = sa.select(Item).order_by(Item.id)
    if wanted is not None:
        item_stmt = item_stmt.where(Item.id.in_(sorted(wanted)))
    items = list(session.scalars(item_stmt))
    offers = offers_valid_on(session, day, item_ids=wanted)
    supplier_ids = sorted({o.supplier_id for o in offers})
    suppliers = list(
        session.scalars(
            sa.select(Supplier).where(Supplier.id.in_(supplier_ids)).order_by(Supplier.id)
        )
    )
    routes = list(
        session.scalars(
            sa.select(Route)
            .where(Route.supplier_id.in_(supplier_ids))
            .order_by(Route.supplier_id, Route.location_id)
        )
    )
    locations = list(session.scalars(sa.select(Location).order_by(Location.id)))
    return {
        "items": [
            {"id": i.id, "name": i.name, "unit": i.unit, "category": i.category} for i in items
        ],
        "locations": [{"id": loc.id, "name": loc.name} for loc in locations],
        "suppliers": [{"id": s.id, "name": s.name} for s in suppliers],
        "offers": [offer_document(o, agency_ids) for o in offers],
        "routes": [
            {
                "supplier": r.supplier_id,
                "location": r.location_id,
                "fixed_cost": _money_figure(r.fixed_cost),
                "unit_cost": _money_figure(r.unit_cost),
                "transit_days": r.transit_days,
            }
            for r in routes
        ],
    }
