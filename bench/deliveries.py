"""Deliveries at scale: 10,000 receipts imported from one CSV, then the supplier record of
300 suppliers computed.

    bash .ci/uv run --frozen python -m bench.deliveries [--receipts 10000] [--suppliers 300]

A throw-away SQLite database (migrated) gets 300 suppliers, one offer each, an approved
round's purchase orders with ``receipts / 2`` order lines spread over them (one agency,
six locations), then the import (``app.deliveries.service.import_receipts``: every row
through ``record_receipt``, one transaction) and ``supplier_records``. The setup rows
are inserted directly (what is timed is the import and the record, not the setup).
Prints the two times; bounded by its sizes (about a minute on a busy 2-core machine).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from decimal import Decimal

from sqlalchemy.orm import Session

from app.auth.models import Agency, Role, User, UserRole
from app.catalogue.models import Item, Location, Offer, PriceTier, Supplier
from app.db import make_engine, upgrade_database, utcnow
from app.deliveries.models import OrderLine, PurchaseOrder
from app.deliveries.record import supplier_records
from app.deliveries.service import import_receipts, today
from app.exchange.service import Upload
from app.needs.models import Need, NeedStatus, Priority
from app.rounds.models import Round, RoundStatus
from app.runs.models import Run, RunStatus
from app.settings import get_settings


def build(session: Session, suppliers: int, lines: int) -> tuple[User, list[OrderLine]]:
    now = utcnow()
    day = today(get_settings())
    agency = Agency(id="IOM", name="IOM")
    team = User(email="team@bench.poolbuy.org", name="Team", agency_id="IOM")
    team.roles = [UserRole(role=Role.local_team)]
    item = Item(id="item-1", name="Kit", unit="each", category="bench")
    places = [Location(id=f"loc-{i}", name=f"Station {i}") for i in range(6)]
    session.add_all([agency, team, item, *places])
    session.flush()
    round_ = Round(name="bench", deadline=now, status=RoundStatus.approved, created_by_id=team.id)
    session.add(round_)
    session.flush()
    run = Run(
        round_id=round_.id,
        number=1,
        problem={},
        status=RunStatus.succeeded,
        binding=True,
        triggered_by_id=team.id,
    )
    session.add(run)
    session.flush()
    made: list[OrderLine] = []
    for s in range(suppliers):
        supplier = Supplier(id=f"sup-{s:04d}", name=f"Supplier {s}")
        session.add(supplier)
        session.flush()
        offer = Offer(
            supplier=supplier,
            item_id=item.id,
            capacity=10**6,
            lead_time_days=10,
            valid_from=day - dt.timedelta(days=60),
            price_tiers=[PriceTier(min_quantity=0, unit_price=Decimal("1.5"))],
        )
        order = PurchaseOrder(
            round_id=round_.id,
            run_id=run.id,
            supplier_id=supplier.id,
            currency="USD",
            issued_at=now,
            issued_on=day - dt.timedelta(days=40),
            issued_by_id=team.id,
        )
        session.add_all([offer, order])
        session.flush()
        for k in range(lines // suppliers + (1 if s < lines % suppliers else 0)):
            need = Need(
                round_id=round_.id,
                agency_id="IOM",
                item_id=item.id,
                location_id=places[k % 6].id,
                quantity=100,
                need_by=day,
                priority=Priority.normal,
                status=NeedStatus.submitted,
                created_by_id=team.id,
                submitted_at=now,
            )
            session.add(need)
            session.flush()
            line = OrderLine(
                order_id=order.id,
                need_id=need.id,
                agency_id="IOM",
                item_id=item.id,
                location_id=need.location_id,
                offer_ref=f"o-{offer.id}",
                offer_id=offer.id,
                quantity=100,
                unit_price=Decimal("1.5"),
                promised_on=day - dt.timedelta(days=20),
                lead_time_days=10,
                transit_days=3,
                processing_days=5,
            )
            session.add(line)
            made.append(line)
    session.commit()
    return team, made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--receipts", type=int, default=10_000)
    parser.add_argument("--suppliers", type=int, default=300)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="poolbuy-bench-")
    url = f"sqlite:///{os.path.join(folder, 'bench.db')}"
    upgrade_database(url)
    engine = make_engine(url)
    settings = get_settings()
    with Session(engine) as session:
        team, lines = build(session, args.suppliers, args.receipts // 2)
        day = today(settings)
        rows = ["line_id,location,received_on,quantity_received,quantity_rejected,rejection_reason"]
        for i, line in enumerate(lines):
            first = day - dt.timedelta(days=25 - i % 10)
            rows.append(f"{line.id},{line.location_id},{first},60,0,")
            rejected = 2 if i % 20 == 0 else 0
            reason = "damaged" if rejected else ""
            later = first + dt.timedelta(days=3)
            rows.append(f"{line.id},{line.location_id},{later},40,{rejected},{reason}")
        data = ("\n".join(rows) + "\n").encode()
        started = time.perf_counter()
        result = import_receipts(
            session, team, Upload(data, "receipts.csv", "text/csv"), settings=settings
        )
        imported = time.perf_counter() - started
        started = time.perf_counter()
        records = supplier_records(session, settings)
        computed = time.perf_counter() - started
    print(
        f"receipts imported: {result.created} in {imported:.2f} s "
        f"({result.created / imported:,.0f} rows/s)"
    )
    print(f"supplier records: {len(records)} suppliers, {len(lines)} lines in {computed:.2f} s")
    print(f"load average: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
