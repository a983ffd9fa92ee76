"""Deliveries: orders issued at approval, receipts (tolerance, agency, location, append-only),
line states, the supplier record and lead times recomputed from the raw receipts, and the
next round's snapshot taking a lead time only once a specialist confirmed it."""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.audit.models import AuditEntry
from app.audit.service import verify_chain
from app.auth.models import Role
from app.catalogue.models import Item, Location
from app.deliveries import figures, learning
from app.deliveries.models import (
    AdjustmentStatus,
    LeadTimeAdjustment,
    OrderLine,
    PurchaseOrder,
    Receipt,
)
from app.deliveries.service import today
from app.runs.models import Run
from app.runs.snapshot import build_document
from app.settings import get_settings
from tests.factories import make_need, make_round, make_user_and_token
from tests.test_exchange_ocds import (
    problems,
    validator,  # noqa: F401  (the OCDS schema, a fixture)
)
from tests.test_runs import World, build_world, close

pytestmark = pytest.mark.integration

Headers = Callable[[str], dict[str, str]]


def approved_world(
    session: Session, client: TestClient, auth_headers: Headers
) -> tuple[World, dict[str, Any]]:
    world = build_world(session)
    run = close(client, world, auth_headers).json()
    for name in ("a", "b", "c"):
        response = client.post(
            f"/api/v1/runs/{run['id']}/approvals",
            json={"decision": "approved"},
            headers=auth_headers(world.tokens[f"{name}_chief"]),
        )
        assert response.status_code == 201, response.text
    return world, run


def lines_of(client: TestClient, auth_headers: Headers, token: str, **params: Any) -> list[dict]:
    response = client.get("/api/v1/order-lines", params=params, headers=auth_headers(token))
    assert response.status_code == 200, response.text
    return response.json()["items"]


def receive(client: TestClient, auth_headers: Headers, token: str, line: dict, **body: Any) -> Any:
    payload = {
        "location_id": line["location_id"],
        "received_on": body.pop("received_on", today(get_settings()).isoformat()),
        **body,
    }
    return client.post(
        f"/api/v1/order-lines/{line['id']}/receipts", json=payload, headers=auth_headers(token)
    )


def team_of(world: World, agency_id: str) -> str:
    name = next(k for k, a in world.agencies.items() if a.id == agency_id)
    return world.tokens[f"{name}_team"]


# ------------------------------------------------------------------------ issuing


def test_approval_issues_one_order_per_supplier_with_lines_traced_to_needs(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, run = approved_world(session, client, auth_headers)
    stored = session.get(Run, run["id"])
    assert stored is not None and stored.binding and stored.plan is not None
    orders = client.get(
        "/api/v1/purchase-orders",
        params={"round_id": world.round.id},
        headers=auth_headers(world.tokens["b_team"]),
    ).json()["items"]
    awards = stored.plan["awards"]
    needs = {n["id"]: n for n in stored.problem["needs"]}
    assert {o["supplier_id"] for o in orders} == {a["supplier"] for a in awards}
    lines = [line for o in orders for line in o["lines"]]
    # One line per award: the need it serves, its units, price and promised (plan) date.
    expected = sorted(
        (
            int(a["need"].removeprefix("n-")),
            needs[a["need"]]["agency"],
            a["offer"],
            a["quantity"],
            a["delivery_date"],
            Decimal(str(a["unit_price"])),
        )
        for a in awards
    )
    got = sorted(
        (
            line["need_id"],
            line["agency_id"],
            line["offer_ref"],
            line["quantity"],
            line["promised_on"],
            Decimal(line["unit_price"]),
        )
        for line in lines
    )
    assert got == expected
    assert all(line["state"] in ("open", "overdue") for line in lines)
    actions = session.scalars(
        sa.select(AuditEntry.action).where(AuditEntry.entity_type == "purchase_order")
    ).all()
    assert list(actions) == ["purchase_order.issue"] * len(orders)


def test_no_orders_before_approval(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world = build_world(session)
    close(client, world, auth_headers)
    assert session.scalar(sa.select(sa.func.count(PurchaseOrder.id))) == 0


# ---------------------------------------------------------------------- receipts


def test_partial_then_rest_turns_the_line_partly_delivered_then_delivered(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, _ = approved_world(session, client, auth_headers)
    line = lines_of(client, auth_headers, world.tokens["coordinator"])[0]
    token = team_of(world, line["agency_id"])
    part = line["quantity"] // 3
    first = receive(client, auth_headers, token, line, quantity_received=part)
    assert first.status_code == 201, first.text
    assert first.headers["Location"].endswith(f"/receipts/{first.json()['id']}")
    after = client.get(f"/api/v1/order-lines/{line['id']}", headers=auth_headers(token)).json()
    if after["state"] != "overdue":  # the plan's date may be behind the clock already
        assert after["state"] == "partly_delivered"
    assert after["quantity_accepted"] == part
    assert after["quantity_remaining"] == line["quantity"] - part
    rest = receive(client, auth_headers, token, line, quantity_received=line["quantity"] - part)
    assert rest.status_code == 201, rest.text
    done = client.get(f"/api/v1/order-lines/{line['id']}", headers=auth_headers(token)).json()
    assert done["state"] == "delivered" and done["quantity_remaining"] == 0


def test_receipts_cannot_exceed_ordered_plus_the_tolerance(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, _ = approved_world(session, client, auth_headers)
    line = max(
        lines_of(client, auth_headers, world.tokens["coordinator"]), key=lambda x: x["quantity"]
    )
    token = team_of(world, line["agency_id"])
    ceiling = math.floor(line["quantity"] * 1.05)  # the default policy: 5 %
    assert line["max_acceptable"] == ceiling
    over = receive(client, auth_headers, token, line, quantity_received=ceiling + 1)
    assert over.status_code == 422
    assert [e["path"] for e in over.json()["errors"]] == ["$.quantity_received"]
    assert str(ceiling) in over.json()["errors"][0]["reason"]
    # Rejected units do not count against it: they go back.
    mixed = receive(
        client,
        auth_headers,
        token,
        line,
        quantity_received=ceiling + 10,
        quantity_rejected=10,
        rejection_reason="damaged",
    )
    assert mixed.status_code == 201, mixed.text
    one_more = receive(client, auth_headers, token, line, quantity_received=1)
    assert one_more.status_code == 422
    assert session.scalar(sa.select(sa.func.count(Receipt.id))) == 1


def test_another_agency_cannot_record_and_the_location_must_be_the_lines(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, _ = approved_world(session, client, auth_headers)
    line = lines_of(client, auth_headers, world.tokens["coordinator"])[0]
    other = next(k for k, a in world.agencies.items() if a.id != line["agency_id"])
    refused = receive(
        client, auth_headers, world.tokens[f"{other}_team"], line, quantity_received=1
    )
    assert refused.status_code == 403
    own = team_of(world, line["agency_id"])
    elsewhere = next(
        c for k, c in world.codes.items() if k in ("lajas", "vicente") and c != line["location_id"]
    )
    wrong = receive(
        client,
        auth_headers,
        own,
        line,
        location_id=elsewhere,
        quantity_received=5,
        quantity_rejected=6,
        received_on=(today(get_settings()) + dt.timedelta(days=1)).isoformat(),
    )
    assert wrong.status_code == 422
    # Every problem at once: place, day, rejection above received, and its missing reason.
    assert sorted(e["path"] for e in wrong.json()["errors"]) == [
        "$.location_id",
        "$.quantity_rejected",
        "$.received_on",
        "$.rejection_reason",
    ]
    assert session.scalar(sa.select(sa.func.count(Receipt.id))) == 0


def test_receipts_are_append_only_and_a_correction_is_a_new_entry(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, _ = approved_world(session, client, auth_headers)
    line = lines_of(client, auth_headers, world.tokens["coordinator"])[0]
    token = team_of(world, line["agency_id"])
    first = receive(client, auth_headers, token, line, quantity_received=7).json()
    url = f"/api/v1/order-lines/{line['id']}/receipts"
    for method in ("put", "patch", "delete"):
        assert client.request(
            method, f"{url}/{first['id']}", headers=auth_headers(token)
        ).status_code in (404, 405)
    fixed = receive(client, auth_headers, token, line, quantity_received=4, corrects_id=first["id"])
    assert fixed.status_code == 201, fixed.text
    again = receive(client, auth_headers, token, line, quantity_received=3, corrects_id=first["id"])
    assert again.status_code == 422 and again.json()["errors"][0]["path"] == "$.corrects_id"
    listed = client.get(url, headers=auth_headers(token)).json()["items"]
    assert [(r["id"], r["corrected_by_id"]) for r in listed] == [
        (first["id"], fixed.json()["id"]),
        (fixed.json()["id"], None),
    ]
    read = client.get(f"/api/v1/order-lines/{line['id']}", headers=auth_headers(token)).json()
    assert read["quantity_accepted"] == 4
    stored = session.get(Receipt, first["id"])
    assert stored is not None
    stored.quantity_received = 99
    with pytest.raises(ValueError, match="append-only"):
        session.flush()
    session.rollback()
    assert [
        a
        for a in session.scalars(
            sa.select(AuditEntry.action)
            .where(AuditEntry.entity_type == "receipt")
            .order_by(AuditEntry.seq)
        )
    ] == ["receipt.create", "receipt.correct"]
    assert verify_chain(session).ok


def test_close_short_needs_if_match_and_ends_new_receipts(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, _ = approved_world(session, client, auth_headers)
    line = lines_of(client, auth_headers, world.tokens["coordinator"])[0]
    token = team_of(world, line["agency_id"])
    receive(client, auth_headers, token, line, quantity_received=1)
    url = f"/api/v1/order-lines/{line['id']}"
    body = {"reason": "supplier out of stock until March"}
    assert (
        client.post(f"{url}/close-short", json=body, headers=auth_headers(token)).status_code == 428
    )
    etag = client.get(url, headers=auth_headers(token)).headers["ETag"]
    closed = client.post(
        f"{url}/close-short", json=body, headers={**auth_headers(token), "If-Match": etag}
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["state"] == "closed_short"
    late = receive(client, auth_headers, token, line, quantity_received=1)
    assert late.status_code == 422 and late.json()["errors"][0]["path"] == "$"


# ------------------------------------------------------------------------ import


def _csv(rows: list[list[Any]]) -> bytes:
    head = (
        "line_id,location,received_on,quantity_received,quantity_rejected,rejection_reason,notes\n"
    )
    return (head + "".join(",".join(str(c) for c in row) + "\n" for row in rows)).encode()


def test_an_import_reports_every_bad_row_and_writes_nothing(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, _ = approved_world(session, client, auth_headers)
    lines = lines_of(client, auth_headers, world.tokens["coordinator"])
    agency = lines[0]["agency_id"]
    own = [x for x in lines if x["agency_id"] == agency]
    foreign = next(x for x in lines if x["agency_id"] != agency)
    day = today(get_settings()).isoformat()
    good = [own[0]["id"], own[0]["location_id"], day, 1, 0, "", "ok"]
    rows = [
        good,
        [own[0]["id"], own[0]["location_id"], day, own[0]["quantity"] * 2, 0, "", "too many"],
        [foreign["id"], foreign["location_id"], day, 1, 0, "", "not ours"],
        [own[0]["id"], own[0]["location_id"], day, 3, 1, "", "no reason"],
        [999999, own[0]["location_id"], day, 1, 0, "", "no such line"],
    ]
    token = team_of(world, agency)
    response = client.post(
        "/api/v1/receipts/import",
        files={"file": ("receipts.csv", io.BytesIO(_csv(rows)), "text/csv")},
        headers=auth_headers(token),
    )
    assert response.status_code == 422, response.text
    paths = [e["path"] for e in response.json()["errors"]]
    assert paths == [
        "row 3, quantity_received",
        "row 4, line_id",
        "row 5, rejection_reason",
        "row 6, line_id",
    ]
    assert session.scalar(sa.select(sa.func.count(Receipt.id))) == 0
    ok = client.post(
        "/api/v1/receipts/import",
        files={"file": ("receipts.csv", io.BytesIO(_csv([good, good])), "text/csv")},
        headers=auth_headers(token),
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["created"] == 2


# ------------------------------------------- figures recomputed from the raw receipts


def _backdate(session: Session, days: int) -> None:
    for order in session.scalars(sa.select(PurchaseOrder)):
        order.issued_on = order.issued_on - dt.timedelta(days=days)
    for line in session.scalars(sa.select(OrderLine)):
        line.promised_on = line.promised_on - dt.timedelta(days=days)
    session.flush()


def _independent(session: Session, supplier: str, grace: int, day: dt.date) -> dict[str, Any]:
    """OTIF and order-to-receipt days straight from the tables, corrections applied."""
    rows = session.execute(
        sa.select(OrderLine, PurchaseOrder.issued_on)
        .join(PurchaseOrder)
        .where(PurchaseOrder.supplier_id == supplier)
    ).all()
    hits = due = 0
    days: list[int] = []
    rejected = received = 0
    for line, issued_on in rows:
        receipts = session.scalars(sa.select(Receipt).where(Receipt.line_id == line.id)).all()
        replaced = {r.corrects_id for r in receipts}
        counted = [r for r in receipts if r.id not in replaced]
        total = sum(r.quantity_received - r.quantity_rejected for r in counted)
        deadline = line.promised_on + dt.timedelta(days=grace)
        if total >= line.quantity or day > deadline:
            due += 1
            in_time = sum(
                r.quantity_received - r.quantity_rejected
                for r in counted
                if r.received_on <= deadline
            )
            hits += in_time >= line.quantity
        days += [(r.received_on - issued_on).days for r in counted if r.quantity_received > 0]
        rejected += sum(r.quantity_rejected for r in counted)
        received += sum(r.quantity_received for r in counted)
    return {
        "otif": (hits, due),
        "median": float(np.percentile(days, 50)) if days else None,
        "p90": float(np.percentile(days, 90)) if days else None,
        "rejected": (rejected, received),
    }


def test_supplier_record_matches_an_independent_count_of_the_receipts(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, _ = approved_world(session, client, auth_headers)
    _backdate(session, 40)
    session.commit()
    lines = lines_of(client, auth_headers, world.tokens["coordinator"])
    day = today(get_settings())
    for i, line in enumerate(lines):
        token = team_of(world, line["agency_id"])
        promised = dt.date.fromisoformat(line["promised_on"])
        first_day = min(day, promised + dt.timedelta(days=i * 2 - 2))
        half = line["quantity"] // 2
        receive(
            client,
            auth_headers,
            token,
            line,
            quantity_received=half,
            received_on=first_day.isoformat(),
        )
        if i % 3 != 2:  # a third of the lines stay short
            rest = line["quantity"] - half
            receive(
                client,
                auth_headers,
                token,
                line,
                quantity_received=rest + 1,
                quantity_rejected=1,
                rejection_reason="expired",
                received_on=min(day, first_day + dt.timedelta(days=i)).isoformat(),
            )
    records = client.get("/api/v1/supplier-records", headers=auth_headers(world.tokens["d_team"]))
    assert records.status_code == 200
    assert records.json()["items"]
    for rec in records.json()["items"]:
        truth = _independent(session, rec["supplier_id"], 3, day)
        overall = rec["overall"]
        assert (overall["lines_on_time_in_full"], overall["lines_due"]) == truth["otif"]
        assert overall["lead_time_median_days"] == pytest.approx(truth["median"])
        assert overall["lead_time_p90_days"] == pytest.approx(truth["p90"])
        assert (overall["units_rejected"], overall["units_received"]) == truth["rejected"]
    csv = client.get(
        "/api/v1/supplier-records/export",
        params={"format": "csv", "sheet": "offers"},
        headers=auth_headers(world.tokens["d_team"]),
    )
    assert csv.status_code == 200 and csv.text.lstrip("\ufeff").startswith("supplier,offer,item")
    xlsx = client.get(
        "/api/v1/supplier-records/export", headers=auth_headers(world.tokens["a_team"])
    )
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


def test_percentile_is_numpys_linear_interpolation() -> None:
    for sample in ([5], [3, 9], [1, 2, 3, 4, 10], [7, 7, 2, 30, 11, 4, 4, 9]):
        for pct in (0, 10, 50, 75, 90, 100):
            assert figures.percentile(sample, pct) == pytest.approx(np.percentile(sample, pct))


# ---------------------------------------------------------------- the next round


def test_the_next_snapshot_uses_an_adjusted_lead_time_only_once_confirmed(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, _ = approved_world(session, client, auth_headers)
    _backdate(session, 60)
    session.commit()
    day = today(get_settings())
    lines = lines_of(client, auth_headers, world.tokens["coordinator"])
    by_offer: dict[int, list[dict]] = {}
    for line in lines:
        by_offer.setdefault(line["offer_id"], []).append(line)
    offer_id, group = max(by_offer.items(), key=lambda kv: len(kv[1]))
    stored = [session.get(OrderLine, x["id"]) for x in group]
    # Each line delivered in three parts, 30, 32 and 34 days after its order.
    for line, row in zip(group, stored, strict=True):
        assert row is not None
        token = team_of(world, line["agency_id"])
        issued = dt.date.fromisoformat(line["issued_on"])
        for k, part in enumerate((1, 1, 1)):
            got = receive(
                client,
                auth_headers,
                token,
                line,
                quantity_received=part,
                received_on=(issued + dt.timedelta(days=30 + 2 * k)).isoformat(),
            )
            assert got.status_code == 201, got.text
    own = stored[0].processing_days + stored[0].transit_days  # type: ignore[union-attr]
    realised = sorted(30 + 2 * k - own for k in range(3) for _ in group)
    expected = math.ceil(np.percentile(realised[-10:], 75))

    coordinator = world.users["coordinator"]
    next_round = make_round(session, created_by=coordinator)
    next_round.as_of = day
    for name in ("a", "b"):
        make_need(
            session,
            round_=next_round,
            agency=world.agencies[name],
            item=session.get(Item, group[0]["item_id"]),
            location=session.get(Location, group[0]["location_id"]),
            quantity=100,
        )
    specialist, specialist_token = make_user_and_token(
        session, Role.technical_specialist, agency=world.agencies["a"]
    )
    session.commit()
    proposed = client.post(
        f"/api/v1/rounds/{next_round.id}/lead-time-adjustments",
        headers=auth_headers(world.tokens["coordinator"]),
    )
    assert proposed.status_code == 200, proposed.text
    adjustment = next(a for a in proposed.json() if a["offer_id"] == offer_id)
    assert adjustment["proposed_days"] == expected and adjustment["status"] == "proposed"
    promised = adjustment["promised_days"]

    def snapshot_days() -> int:
        document = build_document(
            session, next_round, day, lead_times=learning.decided_lead_times(session, next_round.id)
        )
        return next(o["lead_time_days"] for o in document["offers"] if o["id"] == f"o-{offer_id}")

    # A proposal alone changes nothing.
    assert snapshot_days() == promised
    url = f"/api/v1/lead-time-adjustments/{adjustment['id']}"
    etag = client.get(url, headers=auth_headers(specialist_token)).headers["ETag"]
    body = {
        "decision": "confirm",
        "evidence": "9 deliveries in 2 rounds",
        "source": "poolbuy receipts",
    }
    refused = client.post(
        f"{url}/review",
        json=body,
        headers={**auth_headers(world.tokens["a_team"]), "If-Match": etag},
    )
    assert refused.status_code == 403
    confirmed = client.post(
        f"{url}/review", json=body, headers={**auth_headers(specialist_token), "If-Match": etag}
    )
    assert confirmed.status_code == 200, confirmed.text
    assert snapshot_days() == expected
    entry = session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "lead_time_adjustment.confirm")
    ).one()
    assert entry.actor_id == specialist.id

    run = close(
        client, World(next_round, world.agencies, {}, world.tokens, world.users), auth_headers
    )
    assert run.status_code == 201, run.text
    shown = client.get(
        f"/api/v1/runs/{run.json()['id']}/lead-time-adjustments",
        headers=auth_headers(world.tokens["coordinator"]),
    ).json()
    assert [(a["offer_id"], a["promised_days"], a["decided_days"]) for a in shown] == [
        (offer_id, promised, expected)
    ]
    stored_adj = session.get(LeadTimeAdjustment, adjustment["id"])
    assert stored_adj is not None and stored_adj.status == AdjustmentStatus.confirmed
    assert learning.DECIDED


# ---------------------------------------------------------------------- results


def test_results_per_round_and_agency_follow_the_plan_and_the_receipts(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, run = approved_world(session, client, auth_headers)
    lines = lines_of(client, auth_headers, world.tokens["coordinator"])
    shorted = lines[0]
    token = team_of(world, shorted["agency_id"])
    receive(client, auth_headers, token, shorted, quantity_received=shorted["quantity"] // 2)
    for line in lines[1:]:
        receive(
            client,
            auth_headers,
            team_of(world, line["agency_id"]),
            line,
            quantity_received=line["quantity"],
        )
    response = client.get(
        "/api/v1/results",
        params={"round_id": world.round.id},
        headers=auth_headers(world.tokens["d_team"]),
    )
    assert response.status_code == 200, response.text
    rows = {r["agency_id"]: r for r in response.json()["items"]}
    stored = session.get(Run, run["id"])
    assert stored is not None and stored.plan is not None
    for line in stored.plan["agencies"]:
        agency = line["agency"]
        needed = sum(n["quantity"] for n in stored.problem["needs"] if n["agency"] == agency)
        accepted = sum(
            (r.quantity_received - r.quantity_rejected)
            for r in session.scalars(
                sa.select(Receipt).join(OrderLine).where(OrderLine.agency_id == agency)
            )
        )
        row = rows[agency]
        assert row["planned_savings"] == pytest.approx(line["savings"], abs=0.01)
        assert row["units_needed"] == needed and row["units_accepted"] == accepted
        assert row["fill_rate"] == pytest.approx(accepted / needed, abs=1e-6)
        if agency != shorted["agency_id"]:
            assert row["realised_savings"] == pytest.approx(line["savings"], abs=0.01)
    short_row = rows[shorted["agency_id"]]
    assert (
        short_row["realised_savings"] < short_row["planned_savings"]
        or short_row["planned_savings"] <= 0
    )
    total = rows["all"]
    assert total["units_accepted"] == sum(
        r["units_accepted"] for a, r in rows.items() if a != "all"
    )
    csv = client.get(
        "/api/v1/results/export", params={"format": "csv"}, headers=auth_headers(token)
    )
    assert csv.status_code == 200 and "planned_savings" in csv.text.splitlines()[0]
    page = client.get("/results", headers=auth_headers(token))
    assert page.status_code in (200, 303)


# ------------------------------------------------------------------------ OCDS


def test_the_ocds_export_gains_the_implementation_and_stays_valid(
    session: Session, client: TestClient, auth_headers: Headers, request: pytest.FixtureRequest
) -> None:
    schema = request.getfixturevalue("validator")
    world, _ = approved_world(session, client, auth_headers)
    lines = lines_of(client, auth_headers, world.tokens["coordinator"])
    full, part = lines[0], lines[-1]
    receive(
        client,
        auth_headers,
        team_of(world, full["agency_id"]),
        full,
        quantity_received=full["quantity"],
    )
    half = receive(
        client, auth_headers, team_of(world, part["agency_id"]), part, quantity_received=1
    )
    assert half.status_code == 201
    response = client.get(
        f"/api/v1/rounds/{world.round.id}/ocds", headers=auth_headers(world.tokens["coordinator"])
    )
    assert response.status_code == 200, response.text
    package = response.json()
    assert problems(schema, package) == []
    release = package["releases"][0]
    assert "implementation" in release["tag"]
    milestones = {
        m["id"]: m for c in release["contracts"] for m in c["implementation"]["milestones"]
    }
    assert len(milestones) == len(lines)
    assert milestones[f"line-{full['id']}"]["status"] == "met"
    assert "dateMet" in milestones[f"line-{full['id']}"]
    transactions = [t for c in release["contracts"] for t in c["implementation"]["transactions"]]
    assert sorted(t["value"]["amount"] for t in transactions) == sorted(
        [
            round(float(Decimal(full["unit_price"]) * full["quantity"]), 6),
            round(float(Decimal(part["unit_price"])), 6),
        ]
    )
