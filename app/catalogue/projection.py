"""The catalogue half of a contract problem document (``/work/shared/contract``).

Other domains, when a round closes::

    from app.catalogue.projection import catalogue_document_parts

    parts = catalogue_document_parts(session, as_of, item_ids={n.item_id for n in needs},
                                     agency_ids=[a["id"] for a in agencies])
    document = {"as_of": ..., "currency": ..., "agencies": agencies, "needs": needs, **parts}
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.catalogue.models import Item, Location, Offer, Route, Supplier
from app.catalogue.offers import offers_valid_on

# The catalogue rows a problem document names an offer by.
OFFER_ID_PREFIX = "o-"


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
