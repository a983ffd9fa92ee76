"""An issued purchase order stores its number (``PO-<round>-<nn>``) when it is issued, and
every reader of an issued order reads the stored number: the deliveries API, the run's
purchase orders, the plan page, the PDF and the OCDS export. The migration that adds it
backfills the orders issued before."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.auth.models import Role
from app.db import alembic_config, make_engine, upgrade_database
from app.deliveries.models import PurchaseOrder
from app.runs import outputs
from app.runs.models import Run
from tests.factories import make_round, make_supplier, make_user
from tests.test_deliveries import approved_world
from tests.test_web import sign_in

pytestmark = pytest.mark.integration

Headers = Callable[[str], dict[str, str]]


def _orders(session: Session, run_id: int) -> list[PurchaseOrder]:
    return list(
        session.scalars(
            sa.select(PurchaseOrder)
            .where(PurchaseOrder.run_id == run_id)
            .order_by(PurchaseOrder.supplier_id)
        )
    )


def test_an_issued_order_stores_the_number_the_plan_gave_it(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, run = approved_world(session, client, auth_headers)
    stored = session.get(Run, run["id"])
    assert stored is not None
    orders = _orders(session, stored.id)
    assert len(orders) >= 2
    for order in orders:
        assert order.number == outputs.order_number(
            stored.problem, stored.round_id, order.supplier_id
        )
    assert len({o.number for o in orders}) == len(orders)
    listed = client.get(
        "/api/v1/purchase-orders",
        params={"round_id": stored.round_id},
        headers=auth_headers(world.tokens["a_team"]),
    )
    assert listed.status_code == 200
    assert sorted(o["number"] for o in listed.json()["items"]) == sorted(o.number for o in orders)


def test_every_reader_of_an_issued_order_reads_the_stored_number(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, run = approved_world(session, client, auth_headers)
    orders = _orders(session, run["id"])
    order = orders[0]
    computed = order.number
    # As if the order had been issued under a number today's computation no longer gives.
    order.number = f"PO-{order.round_id}-77"
    session.commit()
    coordinator = auth_headers(world.tokens["coordinator"])

    one = client.get(f"/api/v1/purchase-orders/{order.id}", headers=coordinator)
    assert one.status_code == 200 and one.json()["number"] == order.number

    plan_orders = client.get(f"/api/v1/runs/{run['id']}/purchase-orders", headers=coordinator)
    assert plan_orders.status_code == 200
    by_supplier = {o["supplier"]: o["number"] for o in plan_orders.json()["items"]}
    assert by_supplier[order.supplier_id] == order.number
    # The other orders keep theirs.
    assert {by_supplier[o.supplier_id] for o in orders[1:]} == {o.number for o in orders[1:]}

    sign_in(client, world.tokens["coordinator"])
    plan_page = client.get(f"/runs/{run['id']}/plan")
    assert plan_page.status_code == 200
    assert f"/files/runs/{run['id']}/orders/{order.number}.pdf" in plan_page.text
    assert f"/orders/{computed}.pdf" not in plan_page.text
    pdf = client.get(f"/files/runs/{run['id']}/orders/{order.number}.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert order.number.encode() in pdf.content or b"77" in pdf.content
    assert client.get(f"/files/runs/{run['id']}/orders/{computed}.pdf").status_code == 404

    package = client.get(f"/api/v1/rounds/{order.round_id}/ocds", headers=coordinator)
    assert package.status_code == 200, package.text[:300]
    descriptions = {
        m.get("description")
        for c in package.json()["releases"][0]["contracts"]
        for m in c.get("implementation", {}).get("milestones", [])
        if c["id"].endswith(f"-{order.supplier_id}")
    }
    assert descriptions == {f"Purchase order {order.number}"}


@pytest.fixture
def own_database(database_factory: Any) -> Iterator[tuple[str, sa.Engine]]:
    url = database_factory.create()
    upgrade_database(url)
    engine = make_engine(url, poolclass=sa.NullPool)
    yield url, engine
    engine.dispose()


def test_the_migration_backfills_the_numbers_of_orders_issued_before(
    own_database: tuple[str, sa.Engine],
) -> None:
    url, engine = own_database
    with Session(engine, expire_on_commit=False) as session:
        coordinator = make_user(session, Role.coordinator)
        suppliers = [make_supplier(session) for _ in range(4)]
        ids = sorted(s.id for s in suppliers)
        runs = []
        for _ in range(2):
            round_ = make_round(session, created_by=coordinator)
            run = Run(
                round_id=round_.id,
                number=1,
                problem={"suppliers": [{"id": i} for i in reversed(ids)]},
                triggered_by_id=coordinator.id,
                binding=True,
            )
            session.add(run)
            session.flush()
            runs.append(run)
        expected = {}
        for run, chosen in zip(runs, (ids[1::2], ids[:3]), strict=True):
            for supplier in chosen:
                order = PurchaseOrder(
                    number=f"PO-{run.round_id}-tmp-{supplier}",
                    round_id=run.round_id,
                    run_id=run.id,
                    supplier_id=supplier,
                    currency="USD",
                    issued_on=dt.date(2026, 11, 2),
                    issued_by_id=coordinator.id,
                )
                session.add(order)
                session.flush()
                expected[order.id] = f"PO-{run.round_id}-{ids.index(supplier) + 1:02d}"
        session.commit()

    with engine.connect() as conn:
        command.downgrade(alembic_config(connection=conn), "0004_sourcing")
        conn.commit()
    columns = {c["name"] for c in sa.inspect(engine).get_columns("purchase_order")}
    assert "number" not in columns
    upgrade_database(url)
    with engine.connect() as conn:
        backfilled = dict(
            conn.execute(sa.text("SELECT id, number FROM purchase_order")).tuples().all()
        )
    assert backfilled == expected
    assert all(re.fullmatch(r"PO-\d+-\d\d", n) for n in backfilled.values())
