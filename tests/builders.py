"""Terse builders of problem documents (shared/contract/problem-v1.md) for hand-made tests.

    doc = problem(
        needs=[need("n-a", agency="A", quantity=60), need("n-b", agency="B", quantity=50)],
        offers=[offer("o-1", tiers=[(0, 2.00), (100, 1.50)])],
        routes=[route("S1", "L")],
    )

Defaults: as_of 2026-12-01, currency USD, one item "mask", one location "L", one supplier
"S1"; a need is due 2026-12-31 at normal priority; an offer has unlimited capacity (10**6),
no minimum order, no lead time and no `eligible_agencies` field; a route is free and instant.
With the contract's default 5 order-processing days every delivery lands on 2026-12-06.

`problem` lists every agency, item, location and supplier the needs, offers and routes name,
unless given explicitly; settings are left out unless given. The result is a plain dict, so
tests can break it on purpose before handing it to `solve` or `validate`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

AS_OF = "2026-12-01"
NEED_BY = "2026-12-31"
UNLIMITED = 1_000_000

# Marker for "leave the field out of the document", distinct from None (JSON null).
ABSENT: Any = object()


def need(
    id: str,
    *,
    agency: str = "A",
    item: str = "mask",
    location: str = "L",
    quantity: Any = 10,
    need_by: str = NEED_BY,
    priority: str = "normal",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "id": id,
        "agency": agency,
        "item": item,
        "location": location,
        "quantity": quantity,
        "need_by": need_by,
        "priority": priority,
        **extra,
    }


def offer(
    id: str,
    *,
    supplier: str = "S1",
    item: str = "mask",
    tiers: Sequence[tuple[Any, Any]] = ((0, 1.0),),
    capacity: Any = UNLIMITED,
    moq: Any = 0,
    lead: Any = 0,
    eligible: Any = ABSENT,
    **extra: Any,
) -> dict[str, Any]:
    """`tiers` as (min_quantity, unit_price) pairs; `eligible` ABSENT leaves the field out."""
    document: dict[str, Any] = {
        "id": id,
        "supplier": supplier,
        "item": item,
        "price_tiers": [{"min_quantity": m, "unit_price": p} for m, p in tiers],
        "capacity": capacity,
        "min_order_quantity": moq,
        "lead_time_days": lead,
    }
    if eligible is not ABSENT:
        document["eligible_agencies"] = eligible
    document.update(extra)
    return document


def route(
    supplier: str = "S1",
    location: str = "L",
    *,
    fixed: Any = 0.0,
    unit: Any = 0.0,
    transit: Any = 0,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "supplier": supplier,
        "location": location,
        "fixed_cost": fixed,
        "unit_cost": unit,
        "transit_days": transit,
        **extra,
    }


def _ids_named(entries: Iterable[Mapping[str, Any]], *keys: str) -> list[str]:
    seen: dict[str, None] = {}
    for entry in entries:
        for key in keys:
            value = entry.get(key)
            values = value if isinstance(value, list) else [value]
            for v in values:
                if isinstance(v, str):
                    seen.setdefault(v, None)
    return list(seen)


def _entities(ids: Iterable[str]) -> list[dict[str, Any]]:
    return [{"id": i, "name": i} for i in ids]


def problem(
    needs: Sequence[dict[str, Any]] = (),
    offers: Sequence[dict[str, Any]] = (),
    routes: Sequence[dict[str, Any]] = (),
    *,
    agencies: Sequence[str] | None = None,
    items: Sequence[str] | None = None,
    locations: Sequence[str] | None = None,
    suppliers: Sequence[str] | None = None,
    settings: Any = ABSENT,
    as_of: str = AS_OF,
    currency: str = "USD",
) -> dict[str, Any]:
    if agencies is None:
        agencies = _ids_named([*needs, *offers], "agency", "eligible_agencies")
    if items is None:
        items = _ids_named([*needs, *offers], "item")
    if locations is None:
        locations = _ids_named([*needs, *routes], "location")
    if suppliers is None:
        suppliers = _ids_named([*offers, *routes], "supplier")
    document: dict[str, Any] = {
        "as_of": as_of,
        "currency": currency,
        "agencies": _entities(agencies),
        "items": [{"id": i, "name": i, "unit": "each", "category": "test"} for i in items],
        "locations": _entities(locations),
        "suppliers": _entities(suppliers),
        "needs": [dict(n) for n in needs],
        "offers": [dict(o) for o in offers],
        "routes": [dict(r) for r in routes],
    }
    if settings is not ABSENT:
        document["settings"] = settings
    return document


def by(entries: Iterable[Mapping[str, Any]], *keys: str) -> dict[Any, Mapping[str, Any]]:
    """Index a plan list by one key (or a tuple of keys): order within lists is free."""
    index: dict[Any, Mapping[str, Any]] = {}
    for entry in entries:
        key = entry[keys[0]] if len(keys) == 1 else tuple(entry[k] for k in keys)
        assert key not in index, f"two entries for {key!r}"
        index[key] = entry
    return index
