"""HXL: needs and plans as HXL-tagged CSV; needs back from one, by tag, with every bad row."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import io
import re
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import Workbook

from app.exchange.hxl import (
    NEED_COLUMNS,
    parse_needs_hxl,
    plan_to_hxl,
    problem_needs_to_hxl,
)
from solver import solve
from solver.examples import generate_problem

pytestmark = pytest.mark.unit

# A hashtag spec as HXL 1.1 defines it: a tag, then lower-case attributes.
HASHTAG = re.compile(r"^#[a-z][a-z0-9_]*(\+[a-z][a-z0-9_]*)*$")
CORE_TAGS = {
    "#org",
    "#sector",
    "#loc",
    "#date",
    "#item",
    "#meta",
    "#indicator",
    "#severity",
    "#description",
    "#status",
    "#value",
    "#currency",
}


@pytest.fixture(scope="module")
def problem() -> dict[str, Any]:
    document = generate_problem("small", 1)
    texts = [
        "brote respiratorio en Darién; niños",
        '=HYPERLINK("x") pasted by mistake',
        "- 40% more arrivals",
        "@risk: stock for 3 days",
        'two\nlines, "quoted"',
    ]
    for i, need in enumerate(document["needs"]):
        need["justification"] = texts[i % len(texts)] if i % 3 else ""
        if not need["justification"] and need["priority"] != "normal":
            need["justification"] = "clinic stock covers 3 days"
    return document


def table(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"))))


def hxl(rows: list[list[Any]]) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def test_needs_export_has_a_hashtag_row_under_the_header(problem: dict[str, Any]) -> None:
    rows = table(problem_needs_to_hxl(problem))
    assert rows[0] == [h for h, _ in NEED_COLUMNS]
    assert rows[1] == [t for _, t in NEED_COLUMNS]
    for tag in rows[1]:
        assert HASHTAG.match(tag) and tag.split("+")[0] in CORE_TAGS
    for tag in (
        "#org+code",
        "#sector",
        "#loc+code",
        "#date+needed",
        "#item+name",
        "#item+code",
        "#meta+id",
        "#indicator+num+quantity",
        "#severity+priority",
    ):
        assert tag in rows[1]
    assert len(rows) == 2 + len(problem["needs"])


def test_needs_round_trip(problem: dict[str, Any]) -> None:
    data = problem_needs_to_hxl(problem)
    result = parse_needs_hxl(data, "needs-hxl.csv")
    assert result.errors == []
    got = [
        {
            "id": m["id"],
            "agency": m["agency"],
            "item": r["item_id"],
            "location": r["location_id"],
            "quantity": r["quantity"],
            "need_by": r["need_by"].isoformat(),
            "priority": r["priority"],
            "justification": r["justification"],
        }
        for r, m in zip(result.rows, result.row_meta, strict=True)
    ]
    assert got == problem["needs"]
    assert result.row_numbers == list(range(3, 3 + len(problem["needs"])))


def test_formula_like_text_is_escaped_in_the_export(problem: dict[str, Any]) -> None:
    rows = table(problem_needs_to_hxl(problem))
    justification = rows[1].index("#description+justification")
    for row in rows[2:]:
        assert not row[justification].startswith(("=", "+", "-", "@"))
    assert any(row[justification].startswith("'=HYPERLINK") for row in rows[2:])


def test_columns_are_found_by_tag_not_by_header() -> None:
    rows = [
        ["Número", "Fecha", "Cantidad", "Notes", "Lugar", "Urgencia", "Artículo", "Org"],
        [
            "#meta +id",
            "#Date+Needed",
            "#indicator+num+quantity+units",
            "#meta+comment",
            "#loc+code+name_es",
            "#priority",
            "#item+code",
            "#org+code+lead",
        ],
        [
            "n-7",
            "2099-01-15",
            "250",
            "anything",
            "pa-darien-lajas-blancas",
            "NORMAL",
            "wat-bucket-20l",
            "unicef",
        ],
    ]
    result = parse_needs_hxl(hxl(rows), "x.csv")
    assert result.errors == []
    assert result.rows == [
        {
            "item_id": "wat-bucket-20l",
            "location_id": "pa-darien-lajas-blancas",
            "quantity": 250,
            "need_by": dt.date(2099, 1, 15),
            "priority": "normal",
            "justification": "",
        }
    ]
    assert result.row_meta == [{"agency": "UNICEF", "id": "n-7"}]


def test_the_hashtag_row_may_come_first_or_below_several_headers() -> None:
    data_row = ["ppe-mask-n95", "pa-x", "5", "2099-01-15", "normal"]
    tags = ["#item+code", "#loc+code", "#indicator+num", "#date", "#severity"]
    first = parse_needs_hxl(hxl([tags, data_row]), "x.csv")
    assert first.errors == [] and first.row_numbers == [2]
    below = parse_needs_hxl(hxl([["Title"], ["Item", "Loc"], [], tags, data_row]), "x.csv")
    assert below.errors == [] and below.row_numbers == [5]


def test_a_supplier_column_is_never_read_as_the_agency() -> None:
    rows = [
        [
            "#org+supplier+code",
            "#item+code",
            "#loc+code",
            "#indicator+num+quantity",
            "#date+needed",
            "#severity",
            "#org+code",
        ],
        ["sup-001", "ppe", "pa-x", "5", "2099-01-15", "normal", "IOM"],
    ]
    result = parse_needs_hxl(hxl(rows), "x.csv")
    assert result.row_meta == [{"agency": "IOM"}]


def test_missing_tags_are_named() -> None:
    rows = [
        ["#item+name", "#loc+code", "#indicator+num", "#indicator+num", "#date+needed"],
        ["Mask", "pa-x", "1", "2", "2099-01-01"],
    ]
    result = parse_needs_hxl(hxl(rows), "x.csv")
    assert [(e.row, e.column, e.reason) for e in result.errors] == [
        (1, "#item+code", "no column tagged #item+code"),
        (1, "#indicator+num+quantity", "no column tagged #indicator+num+quantity"),
        (1, "#severity+priority", "no column tagged #severity+priority"),
    ]


def test_no_hashtag_row() -> None:
    rows = [["item", "location"], *[["ppe", "pa-x"]] * 30]
    result = parse_needs_hxl(hxl(rows), "x.csv")
    assert len(result.errors) == 1 and "no HXL hashtag row" in result.errors[0].reason


def test_every_bad_row_is_reported_by_hashtag_and_nothing_imported() -> None:
    tags = [
        "#org+code",
        "#meta+id",
        "#item+code",
        "#loc+code",
        "#indicator+num+quantity",
        "#date+needed",
        "#severity+priority",
        "#description+justification",
    ]
    rows = [
        ["Agency", "Need", "Item", "Location", "Quantity", "Need by", "Priority", "Why"],
        tags,
        ["IOM", "n-1", "ppe", "pa-x", "5", "2099-01-01", "normal", ""],  # 3: fine
        ["IOM", "n-2", "ppe", "pa-x", "NaN", "2099-01-01", "normal", ""],  # 4
        ["IOM", "n-3", "=cmd|'/C calc'!A0", "pa-x", "1e308", "someday", "urgent", ""],  # 5
        ["UNHCR", "n-1", "ppe", "pa-x", "5", "2099-01-01", "critical", ""],  # 6
        ["IOM", "n-4", "ppe", "pa-x", "5", "2099-01-01", "normal", "@SUM(A1)"],  # 7
    ]
    result = parse_needs_hxl(hxl(rows), "x.csv", agency="IOM")
    assert result.rows == [] and result.row_meta == []
    assert [(e.row, e.column) for e in result.errors] == [
        (4, "#indicator+num+quantity"),
        (5, "#item+code"),
        (5, "#indicator+num+quantity"),
        (5, "#date+needed"),
        (5, "#severity+priority"),
        (6, "#org+code"),
        (6, "#meta+id"),
        (6, "#description+justification"),
        (7, "#description+justification"),
    ]
    messages = {(e.row, e.column): e.reason for e in result.errors}
    assert messages[(4, "#indicator+num+quantity")] == "must be a finite number"
    assert messages[(6, "#org+code")] == "this need is UNHCR's; you can import only IOM's needs"
    assert messages[(6, "#meta+id")] == "need n-1 already given in row 3"


def test_known_ids_and_today() -> None:
    rows = [
        ["#org+code", "#item+code", "#loc+code", "#indicator+num", "#date", "#severity"],
        ["WFP", "ghost", "pa-x", "5", "2026-01-01", "normal"],
    ]
    result = parse_needs_hxl(
        hxl(rows),
        "x.csv",
        today=dt.date(2026, 6, 1),
        known_ids={"item": {"ppe"}, "location": {"pa-x"}, "agency": {"IOM"}},
    )
    assert [(e.column, e.reason) for e in result.errors] == [
        ("#org+code", "no agency 'WFP'"),
        ("#item+code", "no item 'ghost'"),
        ("#date", "must not be in the past (2026-06-01)"),
    ]


def test_hostile_files() -> None:
    assert parse_needs_hxl(b"", "x.csv").errors[0].reason == "the file is empty (0 bytes)"
    assert "PDF" in parse_needs_hxl(b"%PDF-1.4", "x.pdf").errors[0].reason
    tags = "#item+code,#loc+code,#indicator+num,#date,#severity\n"
    line = "ppe,pa-x,5,2099-01-01,normal\n"
    over = parse_needs_hxl((tags + line * 100_001).encode(), "x.csv")
    assert over.rows == [] and "more than 100,000 data rows" in over.errors[0].reason
    assert parse_needs_hxl((tags + line * 3).encode(), "x.csv", max_rows=3).ok
    empty = parse_needs_hxl(tags.encode(), "x.csv")
    assert [e.reason for e in empty.errors] == ["the file has a hashtag row but no data rows"]


def test_hxl_from_xlsx() -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["#item+code", "#loc+code", "#indicator+num", "#date", "#severity"])
    sheet.append(["ppe", "pa-x", 5, dt.datetime(2099, 1, 1), "normal"])
    out = io.BytesIO()
    workbook.save(out)
    good = parse_needs_hxl(out.getvalue(), "x.xlsx")
    assert good.errors == [] and good.rows[0]["need_by"] == dt.date(2099, 1, 1)
    sheet.append(["ppe", "pa-x", 5, dt.datetime(2099, 1, 1), "high"])
    sheet["C3"] = "=1+1"
    out = io.BytesIO()
    workbook.save(out)
    result = parse_needs_hxl(out.getvalue(), "x.xlsx")
    assert [(e.row, e.column) for e in result.errors] == [
        (3, "#indicator+num"),
        (3, "#description+justification"),
    ]


def test_plan_export(problem: dict[str, Any]) -> None:
    plan = solve(problem)
    rows = table(plan_to_hxl(problem, plan))
    header, tags, body = rows[0], rows[1], rows[2:]
    assert all(HASHTAG.match(t) and t.split("+")[0] in CORE_TAGS for t in tags)
    for tag in (
        "#org+code",
        "#org+supplier+code",
        "#loc+code",
        "#item+code",
        "#meta+id",
        "#indicator+num+quantity",
        "#date+needed",
        "#date+delivery",
        "#value+usd",
        "#value+unit+usd",
        "#currency+code",
        "#status",
        "#sector",
    ):
        assert tag in tags
    assert len(header) == len(tags)
    records = [dict(zip(tags, row, strict=True)) for row in body]
    awarded = [r for r in records if r["#status"] == "awarded"]
    unmet = [r for r in records if r["#status"] == "unmet"]
    assert len(awarded) == len(plan["awards"]) and len(unmet) == len(plan["unmet"])
    for award, row in zip(
        sorted(plan["awards"], key=lambda a: (int(a["need"][2:]), int(a["offer"][2:]))),
        awarded,
        strict=True,
    ):
        assert (row["#meta+id"], row["#org+supplier+code"]) == (award["need"], award["supplier"])
        assert int(row["#indicator+num+quantity"]) == award["quantity"]
        assert Decimal(row["#value+unit+usd"]) == Decimal(str(award["unit_price"]))
        assert row["#date+delivery"] == award["delivery_date"]
    purchase = sum(Decimal(r["#value+usd"]) for r in awarded)
    assert abs(purchase - Decimal(str(plan["purchase_cost"]))) <= Decimal("0.01") * len(awarded)
    assert sum(int(r["#indicator+num+quantity"]) for r in unmet) == plan["unmet_units"]
    # Text a spreadsheet would run is escaped; reasons read as sentences.
    hostile = copy.deepcopy(problem)
    hostile["suppliers"][0]["name"] = '=WEBSERVICE("http://x")'
    escaped = plan_to_hxl(hostile, plan).decode()
    assert "'=WEBSERVICE" in escaped and ",=WEBSERVICE" not in escaped
