"""Plan export: the XLSX reads back with openpyxl to the plan's own figures; CSV likewise.

The plan is a real one: an example problem solved by the solver.
"""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from openpyxl import load_workbook

from app.exchange.plan_export import SHEETS, plan_csv, plan_csv_zip, plan_sheets, plan_xlsx
from solver import solve
from solver.examples import generate_problem

pytestmark = pytest.mark.unit

HOSTILE = [
    '=HYPERLINK("http://evil.example","click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
]


@pytest.fixture(scope="module")
def solved() -> tuple[dict[str, Any], dict[str, Any]]:
    problem = generate_problem("small", 1)
    plan = solve(problem)
    assert plan["orders"] and plan["awards"] and plan["unmet"] and plan["agencies"]
    return problem, plan


@pytest.fixture(scope="module")
def workbook(solved: tuple[dict[str, Any], dict[str, Any]]) -> Any:
    problem, plan = solved
    return load_workbook(io.BytesIO(plan_xlsx(problem, plan, info={"round": "Q4", "run": 7})))


def records(sheet: Any) -> Iterator[dict[str, Any]]:
    rows = sheet.iter_rows(values_only=True)
    header = next(rows)
    for row in rows:
        yield dict(zip(header, row, strict=True))


def day(value: Any) -> dt.date:
    assert isinstance(value, dt.datetime), value  # a date cell, not text
    return value.date()


def test_sheets(workbook: Any) -> None:
    assert workbook.sheetnames == list(SHEETS)


def test_every_order_reads_back(workbook: Any, solved: tuple[Any, Any]) -> None:
    _, plan = solved
    read = {r["offer"]: r for r in records(workbook["orders"])}
    assert len(read) == len(plan["orders"])
    for order in plan["orders"]:
        row = read[order["offer"]]
        assert row["supplier"] == order["supplier"] and row["item"] == order["item"]
        assert row["quantity"] == order["quantity"] and isinstance(row["quantity"], int)
        assert row["tier_min_quantity"] == order["tier_min_quantity"]
        assert row["unit_price"] == pytest.approx(order["unit_price"], abs=1e-9)
        assert row["cost"] == pytest.approx(order["cost"], abs=0.001)
        assert round(row["cost"], 2) == round(order["cost"], 2)
        assert row["currency"] == "USD"


def test_every_award_reads_back(workbook: Any, solved: tuple[Any, Any]) -> None:
    problem, plan = solved
    needs = {n["id"]: n for n in problem["needs"]}
    read = {(r["need"], r["offer"]): r for r in records(workbook["awards"])}
    assert len(read) == len(plan["awards"])
    for award in plan["awards"]:
        row = read[(award["need"], award["offer"])]
        need = needs[award["need"]]
        assert (row["agency"], row["item"], row["location"]) == (
            need["agency"],
            need["item"],
            need["location"],
        )
        assert row["supplier"] == award["supplier"]
        assert row["quantity"] == award["quantity"]
        assert row["unit_price"] == pytest.approx(award["unit_price"], abs=1e-9)
        assert row["value"] == pytest.approx(round(award["quantity"] * award["unit_price"], 2))
        assert day(row["delivery_date"]) == dt.date.fromisoformat(award["delivery_date"])
        assert day(row["need_by"]) == dt.date.fromisoformat(need["need_by"])
        assert row["late_days"] == award["late_days"]


def test_every_agency_line_reads_back(workbook: Any, solved: tuple[Any, Any]) -> None:
    _, plan = solved
    read = {r["agency"]: r for r in records(workbook["agencies"])}
    assert set(read) == {a["agency"] for a in plan["agencies"]}
    for line in plan["agencies"]:
        row = read[line["agency"]]
        for key in ("allocated_cost", "standalone_cost", "savings"):
            assert round(row[key], 2) == round(line[key], 2), key
        assert row["savings_pct"] == pytest.approx(line["savings_pct"])
        assert row["agency_name"]
    # Allocated costs add up to the pooled money cost, as the plan says.
    total = sum(round(r["allocated_cost"] * 100) for r in read.values())
    assert total == round(plan["money_cost"] * 100)


def test_every_unmet_line_reads_back(workbook: Any, solved: tuple[Any, Any]) -> None:
    problem, plan = solved
    needs = {n["id"]: n for n in problem["needs"]}
    read = {r["need"]: r for r in records(workbook["unmet"])}
    assert set(read) == {u["need"] for u in plan["unmet"]}
    for line in plan["unmet"]:
        row = read[line["need"]]
        assert row["unmet_quantity"] == line["quantity"]
        assert row["need_quantity"] == needs[line["need"]]["quantity"]
        assert (row["reason"], row["detail"]) == (line["reason"], line["detail"])
        assert day(row["need_by"]) == dt.date.fromisoformat(needs[line["need"]]["need_by"])


def test_shipments_and_summary(workbook: Any, solved: tuple[Any, Any]) -> None:
    _, plan = solved
    shipments = list(records(workbook["shipments"]))
    assert len(shipments) == len(plan["shipments"])
    assert sum(round(s["cost"] * 100) for s in shipments) == round(plan["shipping_cost"] * 100)
    summary = {r["field"]: r["value"] for r in records(workbook["summary"])}
    assert summary["round"] == "Q4" and summary["run"] == 7
    assert summary["status"] == plan["status"]
    assert day(summary["as_of"]) == dt.date(2026, 12, 1)
    for key in ("purchase_cost", "shipping_cost", "money_cost"):
        assert round(summary[key], 2) == round(plan[key], 2)
    assert summary["unmet_units"] == plan["unmet_units"]
    assert round(summary["savings"], 2) == round(plan["baseline"]["savings"], 2)
    # The orders add up to the purchase cost.
    orders = sum(round(r["cost"] * 100) for r in records(workbook["orders"]))
    assert orders == round(plan["purchase_cost"] * 100)


def test_numbers_are_numbers_and_dates_are_dates(workbook: Any) -> None:
    header = [c.value for c in workbook["awards"][1]]
    row = {h: c for h, c in zip(header, workbook["awards"][2], strict=True)}
    assert row["quantity"].data_type == "n"
    assert row["value"].data_type == "n" and row["value"].number_format == "#,##0.00"
    assert row["unit_price"].number_format == "#,##0.00####"
    assert row["delivery_date"].is_date and row["delivery_date"].number_format == "yyyy-mm-dd"
    for sheet in workbook:
        for line in sheet.iter_rows():
            for cell in line:
                assert cell.data_type != "f", (sheet.title, cell.coordinate)


@pytest.fixture(scope="module")
def hostile(solved: tuple[Any, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    problem, plan = copy.deepcopy(solved)
    for entries in (
        problem["suppliers"],
        problem["items"],
        problem["locations"],
        problem["agencies"],
    ):
        for i, entry in enumerate(entries):
            entry["name"] = HOSTILE[i % len(HOSTILE)]
    for i, line in enumerate(plan["unmet"]):
        line["detail"] = HOSTILE[i % len(HOSTILE)]
    # A saving can be negative: a number, never mistaken for a formula.
    plan["agencies"][0]["savings"] = -12.5
    return problem, plan


def test_xlsx_never_runs_cell_text(hostile: tuple[Any, Any]) -> None:
    problem, plan = hostile
    book = load_workbook(io.BytesIO(plan_xlsx(problem, plan, info={"note": "=1+1"})))
    seen = 0
    for sheet in book:
        for line in sheet.iter_rows():
            for cell in line:
                assert cell.data_type != "f"
                if isinstance(cell.value, str) and cell.value.startswith(("=", "+", "-", "@")):
                    # Kept verbatim, stored as text, shown as text (quote prefix).
                    assert cell.data_type == "s" and cell.quotePrefix, cell.coordinate
                    seen += 1
    assert seen > 20
    names = {r["supplier_name"] for r in records(book["orders"])}
    assert names <= set(HOSTILE)
    savings = {r["agency"]: r["savings"] for r in records(book["agencies"])}
    assert savings[plan["agencies"][0]["agency"]] == -12.5


def test_csv_escapes_cell_text_but_not_numbers(hostile: tuple[Any, Any]) -> None:
    problem, plan = hostile
    for sheet in ("orders", "awards", "agencies", "unmet", "shipments"):
        text = plan_csv(problem, plan, sheet).decode("utf-8-sig")
        for row in csv.reader(io.StringIO(text)):
            for value in row:
                if value[:1] in ("=", "+", "@"):
                    pytest.fail(f"{sheet}: unescaped {value!r}")
                if value.startswith("-"):
                    float(value)  # only numbers may start with a minus
    agencies = plan_csv(problem, plan, "agencies").decode("utf-8-sig")
    assert ",-12.50," in agencies
    assert "'=HYPERLINK" in agencies


def test_csv_zip_has_one_file_per_sheet_with_the_same_figures(solved: tuple[Any, Any]) -> None:
    problem, plan = solved
    archive = zipfile.ZipFile(io.BytesIO(plan_csv_zip(problem, plan)))
    assert archive.namelist() == [f"plan-{s}.csv" for s in SHEETS]
    body = archive.read("plan-orders.csv")
    assert body.startswith(b"\xef\xbb\xbf")  # so Excel shows accents
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    by_offer = {r["offer"]: r for r in rows}
    for order in plan["orders"]:
        row = by_offer[order["offer"]]
        assert int(row["quantity"]) == order["quantity"]
        assert row["cost"] == f"{order['cost']:.2f}"
    awards = list(csv.DictReader(io.StringIO(archive.read("plan-awards.csv").decode("utf-8-sig"))))
    assert len(awards) == len(plan["awards"])
    assert all(dt.date.fromisoformat(a["delivery_date"]) for a in awards)


def test_sheets_are_sorted_and_typed(solved: tuple[Any, Any]) -> None:
    problem, plan = solved
    sheets = plan_sheets(problem, plan)
    awards = sheets["awards"]
    needs = [row[0] for row in awards.rows]
    assert needs == sorted(needs, key=lambda n: int(n.split("-")[1]))
    assert sheets["summary"].value_kinds is not None


def test_unknown_csv_sheet(solved: tuple[Any, Any]) -> None:
    with pytest.raises(ValueError, match="unknown sheet"):
        plan_csv(*solved, "nope")


def test_an_empty_plan_exports(solved: tuple[Any, Any]) -> None:
    problem, plan = solved
    empty = {**plan, "orders": [], "awards": [], "unmet": [], "shipments": [], "agencies": []}
    book = load_workbook(io.BytesIO(plan_xlsx(problem, empty)))
    assert book["orders"].max_row == 1
    assert plan_csv(problem, empty, "awards").decode("utf-8-sig").count("\n") == 1
