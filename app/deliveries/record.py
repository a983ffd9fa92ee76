"""The supplier record: OTIF, realised lead time, rejection rate and prices paid.

Per supplier, and within it per offer and per route (supplier to location), over
every issued order line. Visible to every member agency: the group chooses its
suppliers on this evidence together. Figures are those of ``app.deliveries.figures``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from app.catalogue.models import Supplier
from app.deliveries import figures
from app.deliveries.figures import facts
from app.deliveries.models import OrderLine, PurchaseOrder
from app.deliveries.policy import policy
from app.deliveries.schemas import Figures, OfferFigures, PricePaid, RouteFigures, SupplierRecord
from app.deliveries.service import today
from app.exchange import plan_export
from app.settings import Settings

Known = tuple[OrderLine, figures.LineFacts]


def figures_of(lines: Iterable[figures.LineFacts], day: dt.date, grace_days: int) -> Figures:
    listed = list(lines)
    hits, due = figures.otif(listed, day, grace_days)
    days = [d for line in listed for d in figures.order_to_receipt_days(line)]
    rejected, received = figures.rejection(listed)
    return Figures(
        lines=len(listed),
        lines_due=due,
        lines_on_time_in_full=hits,
        otif_rate=figures.ratio(hits, due),
        deliveries=len(days),
        lead_time_median_days=figures.percentile(days, 50),
        lead_time_p90_days=figures.percentile(days, 90),
        units_received=received,
        units_rejected=rejected,
        rejection_rate=figures.ratio(rejected, received),
    )


def _groups[K: Hashable](
    known: Iterable[Known], key: Callable[[OrderLine], K]
) -> dict[K, list[Known]]:
    groups: dict[K, list[Known]] = defaultdict(list)
    for pair in known:
        groups[key(pair[0])].append(pair)
    return groups


def _known(session: Session, supplier_ids: Iterable[str] | None = None) -> list[Known]:
    stmt = (
        sa.select(OrderLine)
        .join(PurchaseOrder)
        .options(selectinload(OrderLine.order), selectinload(OrderLine.receipts))
        .order_by(OrderLine.id)
    )
    if supplier_ids is not None:
        stmt = stmt.where(PurchaseOrder.supplier_id.in_(sorted(set(supplier_ids))))
    return [(line, facts(line)) for line in session.scalars(stmt)]


def _record(
    supplier: Supplier | None, supplier_id: str, known: list[Known], day: dt.date, grace: int
) -> SupplierRecord:
    def of(group: list[Known]) -> dict[str, Any]:
        return figures_of((f for _, f in group), day, grace).model_dump()

    offers = [
        OfferFigures(
            offer_ref=ref, offer_id=group[0][0].offer_id, item_id=group[0][0].item_id, **of(group)
        )
        for ref, group in sorted(_groups(known, lambda line: line.offer_ref).items())
    ]
    routes = [
        RouteFigures(location_id=location, route_id=group[0][0].route_id, **of(group))
        for location, group in sorted(_groups(known, lambda line: line.location_id).items())
    ]
    prices = []
    for (round_id, item_id), group in sorted(
        _groups(known, lambda line: (line.order.round_id, line.item_id)).items()
    ):
        ordered = sum(line.quantity for line, _ in group)
        value = sum((line.unit_price * line.quantity for line, _ in group), Decimal(0))
        prices.append(
            PricePaid(
                round_id=round_id,
                item_id=item_id,
                unit_price=(value / ordered).quantize(Decimal("0.000001")),
                units_ordered=ordered,
                units_accepted=sum(figures.accepted(f) for _, f in group),
            )
        )
    return SupplierRecord(
        supplier_id=supplier_id,
        supplier_name=supplier.name if supplier is not None else supplier_id,
        overall=Figures(**of(known)),
        offers=offers,
        routes=routes,
        prices=prices,
    )


def supplier_records(
    session: Session, settings: Settings, supplier_ids: Iterable[str] | None = None
) -> list[SupplierRecord]:
    """The record of every supplier with issued orders (or of those named), by id."""
    rules = policy(session)
    day = today(settings)
    known = _known(session, supplier_ids)
    by_supplier = _groups(known, lambda line: line.order.supplier_id)
    names = {
        s.id: s
        for s in session.scalars(sa.select(Supplier).where(Supplier.id.in_(sorted(by_supplier))))
    }
    return [
        _record(names.get(sid), sid, group, day, rules.grace_days)
        for sid, group in sorted(by_supplier.items())
    ]


_FIGURE_COLUMNS: tuple[tuple[str, plan_export.ValueKind], ...] = (
    ("lines", "int"),
    ("lines_due", "int"),
    ("lines_on_time_in_full", "int"),
    ("otif_rate", "percent"),
    ("deliveries", "int"),
    ("lead_time_median_days", "number"),
    ("lead_time_p90_days", "number"),
    ("units_received", "int"),
    ("units_rejected", "int"),
    ("rejection_rate", "percent"),
)


def _figure_cells(f: Figures) -> list[Any]:
    values = f.model_dump()
    return [values[name] for name, _ in _FIGURE_COLUMNS]


def record_sheets(records: list[SupplierRecord]) -> list[plan_export.Sheet]:
    """The records as four tables: suppliers, offers, routes, prices."""
    return [
        plan_export.make_sheet(
            "suppliers",
            (("supplier", "text"), ("supplier_name", "text"), *_FIGURE_COLUMNS),
            [[r.supplier_id, r.supplier_name, *_figure_cells(r.overall)] for r in records],
        ),
        plan_export.make_sheet(
            "offers",
            (("supplier", "text"), ("offer", "text"), ("item", "text"), *_FIGURE_COLUMNS),
            [
                [r.supplier_id, o.offer_ref, o.item_id, *_figure_cells(o)]
                for r in records
                for o in r.offers
            ],
        ),
        plan_export.make_sheet(
            "routes",
            (("supplier", "text"), ("location", "text"), *_FIGURE_COLUMNS),
            [[r.supplier_id, o.location_id, *_figure_cells(o)] for r in records for o in r.routes],
        ),
        plan_export.make_sheet(
            "prices",
            (
                ("supplier", "text"),
                ("round_id", "int"),
                ("item", "text"),
                ("unit_price", "price"),
                ("units_ordered", "int"),
                ("units_accepted", "int"),
            ),
            [
                [
                    r.supplier_id,
                    p.round_id,
                    p.item_id,
                    p.unit_price,
                    p.units_ordered,
                    p.units_accepted,
                ]
                for r in records
                for p in r.prices
            ],
        ),
    ]
