"""The data-exchange API: uploads (all rows or none, every bad row as problem details),
templates, the plan as XLSX and CSV read back to the API's figures, OCDS validated
against the committed schema, HXL round trips."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4
from sqlalchemy.orm import Session

from app.audit.models import AuditEntry
from app.catalogue.models import Offer, Route
from app.needs.models import Need, NeedStatus
from app.rounds.models import RoundStatus
from app.runs.models import Run, RunStatus
from tests.factories import make_location, make_round, make_supplier
from tests.test_web import NEED_BY, Group, build_group

pytestmark = pytest.mark.integration

SCHEMAS = Path(__file__).parent / "data" / "ocds"
API = "/api/v1"


@pytest.fixture
def group(session: Session) -> Group:
    return build_group(session)


def needs_csv(rows: list[list[Any]], header: str | None = None) -> bytes:
    out = io.StringIO()
    out.write((header or "item,location,quantity,need_by,priority,justification") + "\n")
    writer = csv.writer(out)
    for row in rows:
        writer.writerow(row)
    return out.getvalue().encode()


def upload(
    client: TestClient,
    url: str,
    headers: dict[str, str],
    body: bytes,
    name: str = "needs.csv",
    **params: Any,
) -> Any:
    return client.post(url, headers=headers, files={"file": (name, body)}, params=params)


def count(session: Session, model: Any) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


# ---------------------------------------------------------------------- needs import


def test_needs_import_creates_every_row_in_one_go(
    client: TestClient, group: Group, session: Session
) -> None:
    mask, l1 = group.items["mask"].id, group.locations["l1"].id
    body = needs_csv(
        [
            [mask, l1, 10, NEED_BY.isoformat(), "normal", ""],
            [mask, l1, 20, NEED_BY.isoformat(), "critical", "outbreak"],
        ]
    )
    url = f"{API}/rounds/{group.round.id}/needs/import"
    answer = upload(client, url, group.headers("local_a"), body, submit="true")
    assert answer.status_code == 201, answer.text
    result = answer.json()
    assert result["kind"] == "needs" and result["created"] == 2
    needs = [session.get(Need, i) for i in result["ids"]]
    assert [(n.quantity, n.status, n.agency_id) for n in needs if n] == [
        (10, NeedStatus.submitted, group.agencies["a"].id),
        (20, NeedStatus.submitted, group.agencies["a"].id),
    ]
    audited = session.scalars(
        sa.select(AuditEntry.entity_id).where(AuditEntry.action == "need.create")
    ).all()
    assert {str(i) for i in result["ids"]} <= set(audited)
    assert answer.headers["location"].startswith(f"{API}/needs?round_id={group.round.id}")


def test_needs_import_with_bad_rows_reports_each_and_imports_nothing(
    client: TestClient, group: Group, session: Session
) -> None:
    mask, l1 = group.items["mask"].id, group.locations["l1"].id
    body = needs_csv(
        [
            [mask, l1, 10, NEED_BY.isoformat(), "normal", ""],
            [mask, l1, "lots", NEED_BY.isoformat(), "normal", ""],
            ["no-such-item", l1, 5, "2020-01-01", "urgent", ""],
            [mask, l1, 30, NEED_BY.isoformat(), "high", ""],
        ]
    )
    before = count(session, Need)
    answer = upload(
        client, f"{API}/rounds/{group.round.id}/needs/import", group.headers("local_a"), body
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["title"] == "Invalid input"
    assert "no needs were imported" in problem["detail"]
    paths = {e["path"] for e in problem["errors"]}
    assert {
        "row 3, quantity",
        "row 4, item",
        "row 4, need_by",
        "row 4, priority",
        "row 5, justification",
    } <= paths
    assert not any(p.startswith("row 2") for p in paths)
    assert count(session, Need) == before


def test_needs_import_refused_by_the_service_rules_is_reported_by_row(
    client: TestClient, group: Group, session: Session
) -> None:
    """A retired item passes the parser (it exists) but not the needs service's rules."""
    tank = group.items["tank"]
    tank.active = False
    session.commit()  # kept across the failing requests below
    body = needs_csv(
        [
            [group.items["mask"].id, group.locations["l1"].id, 10, NEED_BY.isoformat(), "normal"],
            [tank.id, group.locations["l1"].id, 1, NEED_BY.isoformat(), "normal"],
        ],
        header="item,location,quantity,need_by,priority",
    )
    before = count(session, Need)
    answer = upload(
        client, f"{API}/rounds/{group.round.id}/needs/import", group.headers("local_a"), body
    )
    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {"path": "row 3, item", "reason": f"item {tank.id!r} is retired"}
    ]
    assert count(session, Need) == before


def test_needs_import_access_and_round_state(
    client: TestClient, group: Group, session: Session
) -> None:
    body = needs_csv(
        [[group.items["mask"].id, group.locations["l1"].id, 1, NEED_BY.isoformat(), "normal", ""]]
    )
    url = f"{API}/rounds/{group.round.id}/needs/import"
    assert client.post(url, files={"file": ("n.csv", body)}).status_code == 401
    for who in ("chief_a", "specialist", "coordinator"):
        assert upload(client, url, group.headers(who), body).status_code == 403, who
    missing = upload(client, f"{API}/rounds/999999/needs/import", group.headers("local_a"), body)
    assert missing.status_code == 404
    group.round.status = RoundStatus.closed
    session.commit()  # kept across the failing requests below
    closed = upload(client, url, group.headers("local_a"), body)
    assert closed.status_code == 409


def test_needs_import_is_idempotent_whatever_the_multipart_boundary(
    client: TestClient, group: Group, session: Session
) -> None:
    body = needs_csv(
        [[group.items["mask"].id, group.locations["l1"].id, 7, NEED_BY.isoformat(), "normal", ""]]
    )
    url = f"{API}/rounds/{group.round.id}/needs/import"
    headers = {**group.headers("local_a"), "Idempotency-Key": "upload-1"}
    first = upload(client, url, headers, body)
    before = count(session, Need)
    # httpx draws a new boundary for every request: the bytes on the wire differ.
    again = upload(client, url, headers, body)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert count(session, Need) == before
    other = upload(client, url, headers, body.replace(b",7,", b",8,"))
    assert other.status_code == 422


def test_an_unreadable_file_is_one_file_problem(client: TestClient, group: Group) -> None:
    answer = upload(
        client,
        f"{API}/rounds/{group.round.id}/needs/import",
        group.headers("local_a"),
        b"%PDF-1.4 ...",
        name="needs.pdf",
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["path"] == "file"


# ------------------------------------------------------------- offers and routes import


OFFERS_HEADER = (
    "offer_id,supplier,item,capacity,min_order_quantity,lead_time_days,eligible_agencies,"
    "valid_from,valid_to,tier1_min_quantity,tier1_unit_price,tier2_min_quantity,tier2_unit_price"
)


def test_offers_import_with_tiers(client: TestClient, group: Group, session: Session) -> None:
    supplier = make_supplier(session)
    mask = group.items["mask"].id
    a = group.agencies["a"].id
    body = (
        f"{OFFERS_HEADER}\n"
        f"LTA-1,{supplier.id},{mask},50000,100,7,{a},2026-11-01,2027-10-31,0,1.10,20000,0.95\n"
        f"Q-2,{supplier.id},{mask},9000,,5,,2026-11-01,,0,1.30,,\n"
    ).encode()
    answer = upload(client, f"{API}/offers/import", group.headers("specialist"), body, "o.csv")
    assert answer.status_code == 201, answer.text
    offers = [session.get(Offer, i) for i in answer.json()["ids"]]
    first, second = offers
    assert first is not None and second is not None
    assert [(t.min_quantity, float(t.unit_price)) for t in first.price_tiers] == [
        (0, 1.10),
        (20000, 0.95),
    ]
    assert first.eligible_agency_ids == [a]
    assert second.eligible_agency_ids is None and second.valid_to is None

    # The same file again: every row is already there, nothing is doubled; as for a
    # single create of an offer that exists, that is a conflict, each row listed.
    before = count(session, Offer)
    again = upload(client, f"{API}/offers/import", group.headers("specialist"), body, "o.csv")
    assert again.status_code == 409
    assert {e["path"] for e in again.json()["errors"]} == {"row 2, offer_id", "row 3, offer_id"}
    assert count(session, Offer) == before

    bad = (
        f"{OFFERS_HEADER}\n"
        f"X-1,{supplier.id},{mask},100,,5,,2026-11-01,,0,1.00,50,1.20\n"
        f"X-2,nobody,{mask},100,,5,,2026-11-01,,0,1.00,,\n"
    ).encode()
    refused = upload(client, f"{API}/offers/import", group.headers("specialist"), bad, "o.csv")
    assert refused.status_code == 422
    paths = {e["path"] for e in refused.json()["errors"]}
    assert {"row 2, tier2_unit_price", "row 3, supplier"} <= paths
    assert count(session, Offer) == before
    assert (
        upload(client, f"{API}/offers/import", group.headers("local_a"), body, "o.csv").status_code
        == 403
    )


def test_routes_import_refuses_an_existing_pair_at_its_row(
    client: TestClient, group: Group, session: Session
) -> None:
    supplier = make_supplier(session)
    l3 = make_location(session)
    existing = session.scalars(sa.select(Route)).first()
    assert existing is not None
    body = (
        "supplier,location,fixed_cost,unit_cost,transit_days\n"
        f"{supplier.id},{l3.id},250,0.05,2\n"
        f"{existing.supplier_id},{existing.location_id},1,1,1\n"
    ).encode()
    before = count(session, Route)
    answer = upload(client, f"{API}/routes/import", group.headers("specialist"), body, "r.csv")
    # Only a row already stored: a conflict, as creating that route alone would be.
    assert answer.status_code == 409
    assert [e["path"] for e in answer.json()["errors"]] == ["row 3, location"]
    assert count(session, Route) == before
    # With a bad row as well, the file is bad input (422), not a conflict.
    mixed = body + f"{supplier.id},nowhere,1,1,1\n".encode()
    answer = upload(client, f"{API}/routes/import", group.headers("specialist"), mixed, "r.csv")
    assert answer.status_code == 422
    assert "row 4, location" in [e["path"] for e in answer.json()["errors"]]
    assert count(session, Route) == before
    good = body.split(b"\n")[0] + b"\n" + body.split(b"\n")[1] + b"\n"
    created = upload(client, f"{API}/routes/import", group.headers("specialist"), good, "r.csv")
    assert created.status_code == 201
    route = session.get(Route, created.json()["ids"][0])
    assert route is not None and (route.transit_days, float(route.fixed_cost)) == (2, 250.0)


@pytest.mark.parametrize("kind", ["needs", "offers", "routes"])
def test_templates(client: TestClient, group: Group, kind: str) -> None:
    headers = group.headers("local_a")
    xlsx = client.get(f"{API}/templates/{kind}", headers=headers)
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(xlsx.content))
    assert kind in book.sheetnames
    assert f"poolbuy-{kind}-template.xlsx" in xlsx.headers["content-disposition"]
    text = client.get(f"{API}/templates/{kind}", params={"format": "csv"}, headers=headers)
    assert text.headers["content-type"].startswith("text/csv")
    assert client.get(f"{API}/templates/{kind}").status_code == 401


# ------------------------------------------------------------------------ plan exports


def close_and_solve(client: TestClient, group: Group) -> dict[str, Any]:
    import time

    closed = client.post(
        f"{API}/rounds/{group.round.id}/close", headers=group.headers("coordinator")
    )
    assert closed.status_code in (200, 201, 202), closed.text
    run_id = closed.json()["id"]
    deadline = time.monotonic() + 60
    while True:
        run = client.get(f"{API}/runs/{run_id}", headers=group.headers("coordinator")).json()
        if run["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert run["status"] == "succeeded", run
    return run


def _sheet(book: Any, name: str) -> list[dict[str, Any]]:
    rows = list(book[name].iter_rows(values_only=True))
    header = rows[0]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


def test_plan_xlsx_reads_back_to_the_api_figures(client: TestClient, group: Group) -> None:
    run = close_and_solve(client, group)
    headers = group.headers("local_a")
    answer = client.get(f"{API}/runs/{run['id']}/plan.xlsx", headers=headers)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = load_workbook(io.BytesIO(answer.content))
    assert {"orders", "awards", "agencies", "unmet"} <= set(book.sheetnames)
    plan = run["plan"]

    statements = client.get(f"{API}/runs/{run['id']}/cost-statements", headers=headers).json()
    by_agency = {s["agency"]: s for s in statements["items"]}
    agencies = _sheet(book, "agencies")
    assert {r["agency"] for r in agencies} == set(by_agency)
    for row in agencies:
        line = by_agency[row["agency"]]
        for field in ("allocated_cost", "standalone_cost", "savings"):
            assert round(float(row[field]), 2) == round(line[field], 2), (row, field)

    orders = _sheet(book, "orders")
    assert sorted(
        (r["offer"], r["quantity"], round(float(r["cost"]), 2)) for r in orders
    ) == sorted((o["offer"], o["quantity"], round(o["cost"], 2)) for o in plan["orders"])
    awards = _sheet(book, "awards")
    assert sum(r["quantity"] for r in awards) == sum(a["quantity"] for a in plan["awards"])
    unmet = _sheet(book, "unmet")
    assert sorted((r["need"], r["unmet_quantity"], r["reason"]) for r in unmet) == sorted(
        (u["need"], u["quantity"], u["reason"]) for u in plan["unmet"]
    )
    assert any(u["reason"] == "no_route" for u in plan["unmet"])


def test_plan_csv_downloads(client: TestClient, group: Group) -> None:
    run = close_and_solve(client, group)
    headers = group.headers("coordinator")
    archive = client.get(f"{API}/runs/{run['id']}/plan-csv.zip", headers=headers)
    assert archive.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
    assert any(n.endswith("-agencies.csv") for n in names)
    assert any(n.endswith("-orders.csv") for n in names)
    one = client.get(f"{API}/runs/{run['id']}/plan/agencies.csv", headers=headers)
    rows = list(csv.DictReader(io.StringIO(one.content.decode("utf-8-sig"))))
    plan_agencies = {a["agency"]: a for a in run["plan"]["agencies"]}
    assert {r["agency"] for r in rows} == set(plan_agencies)
    for row in rows:
        expected = plan_agencies[row["agency"]]["allocated_cost"]
        assert round(float(row["allocated_cost"]), 2) == round(expected, 2)
    assert client.get(f"{API}/runs/{run['id']}/plan/nope.csv", headers=headers).status_code == 422


def test_plan_exports_need_a_plan_and_the_full_view(
    client: TestClient, group: Group, session: Session
) -> None:
    group.round.status = RoundStatus.closed
    run = Run(
        round_id=group.round.id,
        number=1,
        status=RunStatus.failed,
        problem={"needs": []},
        triggered_by_id=group.users["coordinator"].id,
        error="the solver failed",
    )
    session.add(run)
    session.commit()  # kept across the failing requests below
    url = f"{API}/runs/{run.id}/plan.xlsx"
    assert client.get(url, headers=group.headers("coordinator")).status_code == 409
    # Before the round is optimised a member agency sees only its own share: no export.
    assert client.get(url, headers=group.headers("local_a")).status_code == 403
    assert (
        client.get(f"{API}/runs/999999/plan.xlsx", headers=group.headers("coordinator")).status_code
        == 404
    )
    assert client.get(url).status_code == 401


# ------------------------------------------------------------------------------ OCDS


def _validator() -> jsonschema.Draft4Validator:
    package = json.loads((SCHEMAS / "release-package-schema.json").read_text())
    release = json.loads((SCHEMAS / "release-schema.json").read_text())
    registry: Registry = Registry().with_resource(
        release["id"], Resource.from_contents(release, default_specification=DRAFT4)
    )
    return jsonschema.Draft4Validator(package, registry=registry)


def test_ocds_only_for_an_approved_round_and_valid_against_the_schema(
    client: TestClient, group: Group
) -> None:
    url = f"{API}/rounds/{group.round.id}/ocds"
    assert client.get(url, headers=group.headers("coordinator")).status_code == 409
    run = close_and_solve(client, group)
    refused = client.get(url, headers=group.headers("local_a"))
    assert refused.status_code == 409
    assert "approved" in refused.json()["detail"]
    for chief in ("chief_a", "chief_b"):
        decided = client.post(
            f"{API}/runs/{run['id']}/approvals",
            headers=group.headers(chief),
            json={"decision": "approved"},
        )
        assert decided.status_code == 201, decided.text
    answer = client.get(url, headers=group.headers("local_a"))
    assert answer.status_code == 200
    package = answer.json()
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in _validator().iter_errors(package)]
    assert errors == []
    release = package["releases"][0]
    assert release["ocid"] == f"ocds-poolbuy-{group.round.id}"
    buyers = {p["id"] for p in release["parties"] if "buyer" in p["roles"]}
    assert buyers == {f"agency-{group.agencies['a'].id}", f"agency-{group.agencies['b'].id}"}
    suppliers_with_orders = {o["supplier"] for o in run["plan"]["orders"]}
    assert len(release["awards"]) == len(suppliers_with_orders)
    codes = {
        c["id"]
        for i in release["tender"]["items"]
        for c in [i.get("classification", {})]
        if c.get("scheme") == "UNSPSC"
    }
    assert "42131606" in codes


# ------------------------------------------------------------------------------- HXL


def test_needs_hxl_round_trips_through_the_api(
    client: TestClient, group: Group, session: Session
) -> None:
    a = group.agencies["a"].id
    headers = group.headers("local_a")
    exported = client.get(
        f"{API}/rounds/{group.round.id}/needs.hxl.csv", headers=headers, params={"agency_id": a}
    )
    assert exported.status_code == 200
    lines = exported.text.splitlines()
    assert lines[1].startswith("#org+code")
    for tag in ("#sector", "#loc+code", "#date+needed", "#item+code", "#severity+priority"):
        assert tag in lines[1]

    target = make_round(session, created_by=group.users["coordinator"], name="Next round")
    imported = upload(
        client,
        f"{API}/rounds/{target.id}/needs/import-hxl",
        headers,
        exported.content,
        "needs-hxl.csv",
        submit="true",
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["created"] == 2

    again = client.get(
        f"{API}/rounds/{target.id}/needs.hxl.csv", headers=headers, params={"agency_id": a}
    )

    def rows(text: str) -> list[dict[str, str]]:
        reader = list(csv.reader(io.StringIO(text)))
        tags = reader[1]
        return sorted(
            ({t: v for t, v in zip(tags, r, strict=True) if t != "#meta+id"} for r in reader[2:]),
            key=lambda r: sorted(r.items()),
        )

    assert rows(again.text) == rows(exported.text)


def test_hxl_import_refuses_another_agency_rows(client: TestClient, group: Group) -> None:
    b = group.agencies["b"].id
    exported = client.get(
        f"{API}/rounds/{group.round.id}/needs.hxl.csv",
        headers=group.headers("local_b"),
        params={"agency_id": b},
    )
    answer = upload(
        client,
        f"{API}/rounds/{group.round.id}/needs/import-hxl",
        group.headers("local_a"),
        exported.content,
        "b.csv",
    )
    assert answer.status_code == 422
    assert all(e["path"].endswith("#org+code") for e in answer.json()["errors"])


def test_plan_hxl(client: TestClient, group: Group) -> None:
    run = close_and_solve(client, group)
    answer = client.get(f"{API}/runs/{run['id']}/plan.hxl.csv", headers=group.headers("local_b"))
    assert answer.status_code == 200
    reader = list(csv.reader(io.StringIO(answer.text)))
    tags = reader[1]
    assert "#org+code" in tags and "#status" in tags
    status = tags.index("#status")
    assert {r[status] for r in reader[2:]} == {"awarded", "unmet"}


def test_openapi_documents_the_exchange_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/rounds/{round_id}/needs/import",
        "/api/v1/offers/import",
        "/api/v1/runs/{run_id}/plan.xlsx",
        "/api/v1/rounds/{round_id}/ocds",
        "/api/v1/rounds/{round_id}/needs.hxl.csv",
    ):
        operation = next(iter(paths[path].values()))
        assert operation["summary"], path
        assert "401" in operation["responses"], path
