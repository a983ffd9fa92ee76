"""Spreadsheet import of needs, offers and routes: every bad row reported, nothing imported.

Files are built here as bytes (CSV text, or XLSX written with openpyxl), the
way a user's upload arrives; no database.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from app.exchange import spreadsheets as sp
from app.exchange.table import ParseError, ParseResult

pytestmark = pytest.mark.unit

NEED_HEADER = ["item", "location", "quantity", "need_by", "priority", "justification"]
OFFER_HEADER = sp.headers("offers")
ROUTE_HEADER = ["supplier", "location", "fixed_cost", "unit_cost", "transit_days"]
FUTURE = "2099-12-20"


def csv_bytes(rows: Sequence[Sequence[Any]], *, sep: str = ",", encoding: str = "utf-8") -> bytes:
    def cell(value: Any) -> str:
        text = "" if value is None else str(value)
        if any(c in text for c in (sep, '"', "\n")):
            text = '"' + text.replace('"', '""') + '"'
        return text

    return ("\n".join(sep.join(cell(c) for c in row) for row in rows) + "\n").encode(encoding)


def xlsx_bytes(
    rows: Sequence[Sequence[Any]],
    *,
    title: str = "Sheet1",
    tweak: Callable[[Any], None] | None = None,
) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = title
    for row in rows:
        sheet.append(list(row))
    if tweak is not None:
        tweak(sheet)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def errors_of(result: ParseResult) -> list[tuple[int | None, str | None]]:
    return [(e.row, e.column) for e in result.errors]


def reasons(result: ParseResult) -> dict[tuple[int | None, str | None], str]:
    return {(e.row, e.column): e.reason for e in result.errors}


def need(**overrides: Any) -> list[Any]:
    values = {
        "item": "ppe-mask-n95",
        "location": "pa-darien-lajas-blancas",
        "quantity": 5000,
        "need_by": FUTURE,
        "priority": "critical",
        "justification": "outbreak",
    }
    values.update(overrides)
    return [values[h] for h in NEED_HEADER]


def offer(**overrides: Any) -> list[Any]:
    values: dict[str, Any] = {h: None for h in OFFER_HEADER}
    values.update(
        {
            "offer_id": "LTA-1",
            "supplier": "sup-001",
            "item": "ppe-mask-n95",
            "capacity": 50000,
            "min_order_quantity": 1000,
            "lead_time_days": 10,
            "eligible_agencies": "",
            "valid_from": "2026-11-01",
            "valid_to": "2027-10-31",
            "tier1_min_quantity": 0,
            "tier1_unit_price": "1.20",
            "tier2_min_quantity": 10000,
            "tier2_unit_price": "1.00",
        }
    )
    values.update(overrides)
    return [values[h] for h in OFFER_HEADER]


# --------------------------------------------------------------------------- happy paths


def test_needs_csv_become_rows_for_need_create() -> None:
    data = csv_bytes(
        [
            NEED_HEADER,
            need(),
            need(item="hyg-kit-family", quantity=" 12 ", priority="Normal", justification=""),
        ]
    )
    result = sp.parse_needs(data, "needs.csv", "text/csv")
    assert result.ok and result.errors == []
    assert result.rows == [
        {
            "item_id": "ppe-mask-n95",
            "location_id": "pa-darien-lajas-blancas",
            "quantity": 5000,
            "need_by": dt.date(2099, 12, 20),
            "priority": "critical",
            "justification": "outbreak",
        },
        {
            "item_id": "hyg-kit-family",
            "location_id": "pa-darien-lajas-blancas",
            "quantity": 12,
            "need_by": dt.date(2099, 12, 20),
            "priority": "normal",
            "justification": "",
        },
    ]
    assert result.row_numbers == [2, 3]


def test_needs_rows_are_accepted_by_the_needs_schema() -> None:
    from app.needs.schemas import NeedCreate

    result = sp.parse_needs(csv_bytes([NEED_HEADER, need()]), "needs.csv")
    NeedCreate.model_validate(result.rows[0])


def test_xlsx_with_typed_cells_gives_the_same_rows_as_csv() -> None:
    rows: list[list[Any]] = [
        NEED_HEADER,
        [
            "ppe-mask-n95",
            "pa-darien-lajas-blancas",
            5000,
            dt.datetime(2099, 12, 20),
            "critical",
            "outbreak",
        ],
        ["ppe-mask-n95", "pa-darien-lajas-blancas", 5000.0, "2099-12-20", "CRITICAL", "outbreak"],
    ]
    result = sp.parse_needs(xlsx_bytes(rows), "needs.xlsx")
    expected = sp.parse_needs(csv_bytes([NEED_HEADER, need()]), "needs.csv").rows[0]
    assert result.errors == []
    assert result.rows == [expected, expected]


def test_xlsx_sheet_named_after_the_kind_is_read_whatever_its_position() -> None:
    workbook = Workbook()
    first = workbook.active
    assert first is not None
    first.title = "notes"
    first.append(["this sheet is not the data"])
    sheet = workbook.create_sheet("needs")
    sheet.append(NEED_HEADER)
    sheet.append(need())
    out = io.BytesIO()
    workbook.save(out)
    result = sp.parse_needs(out.getvalue(), "book.xlsx")
    assert result.errors == [] and len(result.rows) == 1


def test_offers_with_tiers_and_eligibility() -> None:
    data = csv_bytes(
        [
            OFFER_HEADER,
            offer(),
            offer(
                offer_id="LTA-2",
                eligible_agencies="iom; UNHCR;;IOM",
                valid_to="",
                min_order_quantity="",
                tier2_min_quantity="",
                tier2_unit_price="",
            ),
            offer(
                offer_id="LTA-3",
                eligible_agencies="none",
                tier3_min_quantity=20000,
                tier3_unit_price="0.95",
                tier4_min_quantity=40000,
                tier4_unit_price="0.95",
                tier5_min_quantity=80000,
                tier5_unit_price="0.9",
            ),
        ]
    )
    result = sp.parse_offers(data, "offers.csv")
    assert result.errors == []
    first, second, third = result.rows
    assert first == {
        "supplier_id": "sup-001",
        "item_id": "ppe-mask-n95",
        "reference": "LTA-1",
        "price_tiers": [
            {"min_quantity": 0, "unit_price": Decimal("1.20")},
            {"min_quantity": 10000, "unit_price": Decimal("1.00")},
        ],
        "capacity": 50000,
        "min_order_quantity": 1000,
        "lead_time_days": 10,
        "eligible_agencies": None,
        "valid_from": dt.date(2026, 11, 1),
        "valid_to": dt.date(2027, 10, 31),
        "pack_size": 1,
        "fee_rate": Decimal(0),
    }
    assert second["eligible_agencies"] == ["IOM", "UNHCR"]
    assert second["valid_to"] is None and second["min_order_quantity"] == 0
    assert len(second["price_tiers"]) == 1
    assert third["eligible_agencies"] == []
    assert [t["min_quantity"] for t in third["price_tiers"]] == [0, 10000, 20000, 40000, 80000]


def test_offers_carry_packs_and_fees_and_every_bad_one_is_reported() -> None:
    data = csv_bytes(
        [
            OFFER_HEADER,
            offer(pack_size=50, fee_rate="0.045"),
            offer(offer_id="LTA-2", pack_size=0, fee_rate="4.5"),
            offer(offer_id="LTA-3", pack_size="2.5", fee_rate="-0.01"),
        ]
    )
    result = sp.parse_offers(data, "offers.csv")
    assert {(e.row, e.column) for e in result.errors} == {
        (3, "pack_size"),
        (3, "fee_rate"),
        (4, "pack_size"),
        (4, "fee_rate"),
    }
    assert "4.5%" in next(e.reason for e in result.errors if (e.row, e.column) == (3, "fee_rate"))
    good = sp.parse_offers(csv_bytes([OFFER_HEADER, offer(pack_size=50, fee_rate="0.045")]), "o")
    assert (good.rows[0]["pack_size"], good.rows[0]["fee_rate"]) == (50, Decimal("0.045"))


def test_offer_rows_are_accepted_by_the_offer_schema() -> None:
    from app.catalogue.schemas import OfferCreate

    result = sp.parse_offers(csv_bytes([OFFER_HEADER, offer(eligible_agencies="IOM")]), "o.csv")
    created = OfferCreate.model_validate(result.rows[0])
    assert created.price_tiers[1].unit_price == Decimal("1.00")


def test_offers_with_optional_columns_left_out() -> None:
    header = [
        "offer_id",
        "supplier",
        "item",
        "capacity",
        "lead_time_days",
        "valid_from",
        "tier1_min_quantity",
        "tier1_unit_price",
    ]
    data = csv_bytes([header, ["Q-9", "sup-002", "wat-tabs", 100, 3, "2026-01-01", 0, 0.5]])
    result = sp.parse_offers(data, "offers.csv")
    assert result.errors == []
    assert result.rows[0]["min_order_quantity"] == 0
    assert result.rows[0]["eligible_agencies"] is None
    assert result.rows[0]["valid_to"] is None


def test_routes_with_default_costs() -> None:
    from app.catalogue.schemas import RouteCreate

    data = csv_bytes([["supplier", "location", "transit_days"], ["sup-001", "pa-x", 3]])
    result = sp.parse_routes(data, "routes.csv")
    assert result.rows == [
        {
            "supplier_id": "sup-001",
            "location_id": "pa-x",
            "fixed_cost": Decimal(0),
            "unit_cost": Decimal(0),
            "transit_days": 3,
        }
    ]
    RouteCreate.model_validate(result.rows[0])
    full = sp.parse_routes(csv_bytes([ROUTE_HEADER, ["sup-001", "pa-x", "500", "0.013", 2]]))
    assert full.rows[0]["fixed_cost"] == Decimal("500")
    assert full.rows[0]["unit_cost"] == Decimal("0.013")


# --------------------------------------------------------------------------- every bad row


def test_every_bad_row_is_reported_and_nothing_imported() -> None:
    data = csv_bytes(
        [
            NEED_HEADER,
            need(),  # 2: fine
            need(quantity="0"),  # 3
            need(quantity="12.5", priority="urgent"),  # 4: two problems
            need(),  # 5: fine
            need(need_by="20/12/2026"),  # 6
            need(item="", location=""),  # 7: both required
            need(priority="high", justification=""),  # 8: justification required
        ]
    )
    result = sp.parse_needs(data, "needs.csv")
    assert result.rows == [] and result.row_numbers == [] and not result.ok
    assert reasons(result) == {
        (3, "quantity"): "must be at least 1",
        (4, "quantity"): "must be a whole number",
        (4, "priority"): "must be one of critical, high, normal",
        (6, "need_by"): "must be a date written as YYYY-MM-DD, e.g. 2026-12-20",
        (7, "item"): "is required",
        (7, "location"): "is required",
        (8, "justification"): "is required for a high need",
    }
    assert result.errors[0].path == "row 3, quantity"
    assert result.errors[0].as_dict() == {
        "row": 3,
        "column": "quantity",
        "reason": "must be at least 1",
    }


def test_a_cell_repeated_in_many_rows_reads_the_same_in_each() -> None:
    """A file repeats its items, dates and priorities: each cell is read once per file and
    remembered, and a repeated bad cell is still reported at every row it is in."""
    good, bad = need(priority="normal", justification=""), need(quantity="lots")
    result = sp.parse_needs(
        csv_bytes([NEED_HEADER, good, bad, good, bad, good]),
        "n.csv",
        known_ids={"item": {"ppe-mask-n95"}, "location": {"nowhere"}},
    )
    assert errors_of(result) == [
        (2, "location"),
        (3, "location"),
        (3, "quantity"),
        (4, "location"),
        (5, "location"),
        (5, "quantity"),
        (6, "location"),
    ]
    assert {e.reason for e in result.errors if e.column == "quantity"} == {"must be a number"}
    rows = sp.parse_needs(csv_bytes([NEED_HEADER, good, good]), "n.csv").rows
    assert (
        rows[0]
        == rows[1]
        == {
            "item_id": "ppe-mask-n95",
            "location_id": "pa-darien-lajas-blancas",
            "quantity": 5000,
            "need_by": dt.date(2099, 12, 20),
            "priority": "normal",
            "justification": "",
        }
    )


def test_the_same_characters_in_cells_of_other_types_read_by_their_type() -> None:
    # The reading of a cell is remembered by its type and text: in one column, "=A1" in
    # a text cell is text while a formula cell "=A1" is refused; "5" typed as text and
    # the number 5 are both five.
    def text_cells(sheet: Any) -> None:
        sheet["F2"].value = "=A1"
        sheet["F2"].data_type = "s"
        sheet["C3"].value = "5"
        sheet["C3"].data_type = "s"

    def and_a_formula(sheet: Any) -> None:
        text_cells(sheet)
        sheet["F4"] = "=A1"

    rows = [NEED_HEADER, need(quantity=5), need(quantity=5), need(quantity=5)]
    read = sp.parse_needs(xlsx_bytes(rows, tweak=text_cells), "n.xlsx")
    assert read.ok
    assert [(r["quantity"], r["justification"]) for r in read.rows] == [
        (5, "=A1"),
        (5, "outbreak"),
        (5, "outbreak"),
    ]
    refused = sp.parse_needs(xlsx_bytes(rows, tweak=and_a_formula), "n.xlsx")
    assert errors_of(refused) == [(4, "justification")]
    assert reasons(refused)[(4, "justification")].startswith("is a formula")


def test_rows_never_share_a_list_read_from_a_cell() -> None:
    data = csv_bytes(
        [
            OFFER_HEADER,
            offer(offer_id="a", eligible_agencies="IOM;UNHCR"),
            offer(offer_id="b", eligible_agencies="IOM;UNHCR"),
        ]
    )
    first, second = sp.parse_offers(data, "o.csv").rows
    assert first["eligible_agencies"] == second["eligible_agencies"] == ["IOM", "UNHCR"]
    first["eligible_agencies"].append("WFP")
    assert second["eligible_agencies"] == ["IOM", "UNHCR"]


def test_row_numbers_are_the_sheet_rows_with_blank_and_comment_rows() -> None:
    data = (
        b"item,location,quantity,need_by,priority,justification\n"
        b"#example,pa-x,1,2099-01-01,normal,\n"
        b"\n"
        b",,,,,\n"
        b'ppe,pa-x,5,2099-01-01,normal,"two\nlines"\n'
        b"ppe,pa-x,-5,2099-01-01,normal,\n"
    )
    result = sp.parse_needs(data, "needs.csv")
    # The record with a line break is one row, as a spreadsheet shows it.
    assert errors_of(result) == [(6, "quantity")]


def test_xlsx_row_numbers_match_the_sheet() -> None:
    rows: list[list[Any]] = [NEED_HEADER, need(), [], [], need(quantity=-1)]
    result = sp.parse_needs(xlsx_bytes(rows), "needs.xlsx")
    assert errors_of(result) == [(5, "quantity")]


# --------------------------------------------------------------------------- hostile numbers


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-inf", "Infinity", "-Infinity"])
def test_not_finite_numbers_are_refused(text: str) -> None:
    result = sp.parse_needs(csv_bytes([NEED_HEADER, need(quantity=text)]), "n.csv")
    assert reasons(result) == {(2, "quantity"): "must be a finite number"}
    route = sp.parse_routes(csv_bytes([ROUTE_HEADER, ["s", "l", text, text, 1]]), "r.csv")
    assert reasons(route) == {
        (2, "fixed_cost"): "must be a finite number",
        (2, "unit_cost"): "must be a finite number",
    }


@pytest.mark.parametrize("text", ["1e308", "1E308", "1e999999999", "9" * 60, "1e12"])
def test_huge_numbers_are_refused(text: str) -> None:
    result = sp.parse_offers(
        csv_bytes([OFFER_HEADER, offer(capacity=text, tier1_unit_price=text)]), "o.csv"
    )
    assert errors_of(result) == [(2, "capacity"), (2, "tier1_unit_price")]
    assert reasons(result)[(2, "capacity")] == "must be at most 2,147,483,647"
    assert reasons(result)[(2, "tier1_unit_price")] == "must be at most 999999999999"


def test_quantities_stop_at_the_database_integer() -> None:
    over = sp.parse_offers(csv_bytes([OFFER_HEADER, offer(capacity="2147483648")]), "o.csv")
    assert errors_of(over) == [(2, "capacity")]
    assert sp.parse_offers(csv_bytes([OFFER_HEADER, offer(capacity="2147483647")]), "o.csv").ok


def test_huge_and_non_finite_floats_in_xlsx_cells_are_refused() -> None:
    rows: list[list[Any]] = [ROUTE_HEADER, ["sup-1", "pa-x", 1e308, 1e300, 3]]
    result = sp.parse_routes(xlsx_bytes(rows), "r.xlsx")
    assert errors_of(result) == [(2, "fixed_cost"), (2, "unit_cost")]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "1,000",
            "must be a number written without thousands separators and with a dot for "
            "decimals (1234.5)",
        ),
        ("1_000", "must be a number"),
        ("five", "must be a number"),
        ("0x10", "must be a number"),
        ("TRUE", "must be a number"),
        ("12.5", "must be a whole number"),
    ],
)
def test_numbers_must_be_plain_decimals(text: str, reason: str) -> None:
    result = sp.parse_needs(csv_bytes([NEED_HEADER, need(quantity=text)]), "n.csv")
    assert reasons(result) == {(2, "quantity"): reason}


def test_whole_numbers_written_with_decimals_or_exponents_are_whole() -> None:
    result = sp.parse_needs(
        csv_bytes([NEED_HEADER, need(quantity="5000.0"), need(quantity="5e3")]), "n.csv"
    )
    assert [r["quantity"] for r in result.rows] == [5000, 5000]


def test_money_precision() -> None:
    too_fine = sp.parse_routes(csv_bytes([ROUTE_HEADER, ["s", "l", "1.0000001", "0", 1]]))
    assert reasons(too_fine) == {(2, "fixed_cost"): "must have at most 6 decimal places"}
    negative = sp.parse_routes(csv_bytes([ROUTE_HEADER, ["s", "l", "-1", "0", 1]]))
    assert reasons(negative) == {(2, "fixed_cost"): "must not be negative"}
    # A spreadsheet's float noise (0.1 + 0.2) is not a price anyone typed.
    noisy = sp.parse_routes(xlsx_bytes([ROUTE_HEADER, ["s", "l", 0.1 + 0.2, 1 / 3, 1]]))
    assert reasons(noisy) == {(2, "unit_cost"): "must have at most 6 decimal places"}
    ok = sp.parse_routes(xlsx_bytes([ROUTE_HEADER, ["s", "l", 0.1 + 0.2, 0.125, 1]]))
    assert ok.rows[0]["fixed_cost"] == Decimal("0.3")


def test_booleans_are_not_numbers() -> None:
    result = sp.parse_needs(xlsx_bytes([NEED_HEADER, need(quantity=True)]), "n.xlsx")
    assert reasons(result) == {(2, "quantity"): "must be a number, not TRUE/FALSE"}


# --------------------------------------------------------------------------- formulas


@pytest.mark.parametrize(
    "text",
    [
        "=1+2",
        "+cmd|' /C calc'!A0",
        "-2+3+cmd|'/C calc'!A0",
        "@SUM(1+1)*cmd|'/C calc'!A0",
        '=HYPERLINK("http://x")',
    ],
)
def test_csv_cells_that_a_spreadsheet_would_run_are_refused(text: str) -> None:
    data = csv_bytes(
        [NEED_HEADER, need(item=text, justification=text, quantity=text, need_by=text)]
    )
    result = sp.parse_needs(data, "n.csv")
    assert result.rows == []
    problems = reasons(result)
    assert {c for _, c in problems} == {"item", "justification", "quantity", "need_by"}
    assert "runs as a formula" in problems[(2, "justification")]
    assert "runs as a formula" in problems[(2, "item")]


def test_an_apostrophe_marks_formula_like_text_as_text() -> None:
    result = sp.parse_needs(
        csv_bytes(
            [
                NEED_HEADER,
                need(justification="'- 40% more cases"),
                need(justification="'=not a formula"),
            ]
        ),
        "n.csv",
    )
    assert [r["justification"] for r in result.rows] == ["- 40% more cases", "=not a formula"]


def test_negative_numbers_are_numbers_then_out_of_range() -> None:
    result = sp.parse_needs(csv_bytes([NEED_HEADER, need(quantity="-5")]), "n.csv")
    assert reasons(result) == {(2, "quantity"): "must be at least 1"}


def test_xlsx_formula_and_error_cells_are_refused() -> None:
    def tweak(sheet: Any) -> None:
        sheet["C2"] = "=SUM(1,2)"
        sheet["F2"] = "=A1"
        sheet["D2"].value = "#N/A"
        sheet["D2"].data_type = "e"

    result = sp.parse_needs(xlsx_bytes([NEED_HEADER, need()], tweak=tweak), "n.xlsx")
    problems = reasons(result)
    assert set(problems) == {(2, "quantity"), (2, "need_by"), (2, "justification")}
    assert problems[(2, "quantity")].startswith("is a formula")
    assert problems[(2, "justification")].startswith("is a formula")
    assert problems[(2, "need_by")] == "shows a spreadsheet error (#N/A); correct the cell"


def test_xlsx_text_cells_are_text_whatever_their_first_character() -> None:
    # A string cell was stored as text by the spreadsheet (typed as '=...): never run.
    def tweak(sheet: Any) -> None:
        sheet["F2"].value = "=not run"
        sheet["F2"].data_type = "s"
        sheet["F2"].quotePrefix = True

    result = sp.parse_needs(xlsx_bytes([NEED_HEADER, need()], tweak=tweak), "n.xlsx")
    assert result.errors == []
    assert result.rows[0]["justification"] == "=not run"


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("2099-02-30", "2099-02-30 is not a calendar date"),
        ("12/20/2099", "must be a date written as YYYY-MM-DD, e.g. 2026-12-20"),
        ("20991220", "must be a date written as YYYY-MM-DD, e.g. 2026-12-20"),
        ("2099-W01-1", "must be a date written as YYYY-MM-DD, e.g. 2026-12-20"),
        ("2099-12-20T10:00", "must be a date written as YYYY-MM-DD, e.g. 2026-12-20"),
    ],
)
def test_text_dates_must_be_iso(cell: str, reason: str) -> None:
    result = sp.parse_needs(csv_bytes([NEED_HEADER, need(need_by=cell)]), "n.csv")
    assert reasons(result) == {(2, "need_by"): reason}


def test_date_cells_and_midnight_timestamps() -> None:
    rows = [
        NEED_HEADER,
        need(need_by=dt.date(2099, 12, 20)),
        need(need_by="2099-12-20 00:00:00"),
        need(need_by=dt.datetime(2099, 12, 20, 13, 30)),
        need(need_by=46376),
    ]
    result = sp.parse_needs(xlsx_bytes(rows), "n.xlsx")
    assert reasons(result) == {
        (4, "need_by"): "must be a date without a time of day",
        (5, "need_by"): "must be a date: write it as 2026-12-20, or format the cell as a date",
    }


def test_need_by_in_the_past_when_today_is_given() -> None:
    data = csv_bytes([NEED_HEADER, need(need_by="2026-01-31"), need(need_by="2026-02-01")])
    result = sp.parse_needs(data, "n.csv", today=dt.date(2026, 2, 1))
    assert reasons(result) == {(2, "need_by"): "must not be in the past (2026-02-01)"}


def test_offer_validity_order() -> None:
    result = sp.parse_offers(csv_bytes([OFFER_HEADER, offer(valid_to="2026-10-31")]), "o.csv")
    assert reasons(result) == {(2, "valid_to"): "must be on or after valid_from (2026-11-01)"}


# --------------------------------------------------------------------------- tiers


def test_tier_rules() -> None:
    data = csv_bytes(
        [
            OFFER_HEADER,
            offer(offer_id="a", tier2_min_quantity=0),  # 2: not increasing
            offer(offer_id="b", tier2_unit_price="1.21"),  # 3: price rises
            offer(offer_id="c", tier2_unit_price=""),  # 4: half a pair
            offer(
                offer_id="d",
                tier2_min_quantity="",
                tier2_unit_price="",  # 5: gap
                tier3_min_quantity=500,
                tier3_unit_price="1",
            ),
            offer(
                offer_id="e",
                tier1_min_quantity="",
                tier1_unit_price="",  # 6: no tier at all
                tier2_min_quantity="",
                tier2_unit_price="",
            ),
            offer(offer_id="f", tier2_unit_price="1.20"),  # 7: equal price: ok
        ]
    )
    result = sp.parse_offers(data, "o.csv")
    assert reasons(result) == {
        (2, "tier2_min_quantity"): "must be greater than the previous tier's minimum quantity (0)",
        (3, "tier2_unit_price"): "must not be above the previous tier's unit price (1.2): "
        "tiers are volume discounts",
        (4, "tier2_unit_price"): "tier 2 needs both a minimum quantity and a unit price",
        (5, "tier3_min_quantity"): "tier 3 is given but tier 2 is empty: fill tiers from "
        "tier 1 on, without gaps",
        (6, "tier1_min_quantity"): "at least one price tier is required (tier1_min_quantity "
        "and tier1_unit_price)",
    }


def test_a_sixth_tier_is_an_unknown_column() -> None:
    header = [*OFFER_HEADER, "tier6_min_quantity", "tier6_unit_price"]
    result = sp.parse_offers(csv_bytes([header, [*offer(), 90000, "0.5"]]), "o.csv")
    assert errors_of(result) == [(1, "tier6_min_quantity"), (1, "tier6_unit_price")]
    assert "at most 5 price tiers" in result.errors[0].reason


def test_eligible_agencies_cells() -> None:
    data = csv_bytes(
        [
            OFFER_HEADER,
            offer(offer_id="a", eligible_agencies="IOM,UNHCR"),
            offer(offer_id="b", eligible_agencies="IOM;not an agency"),
            offer(offer_id="c", eligible_agencies=";;"),
        ]
    )
    result = sp.parse_offers(data, "o.csv")
    assert reasons(result) == {
        (2, "eligible_agencies"): "separate agency codes with semicolons (IOM;UNHCR), not commas",
        (3, "eligible_agencies"): "'NOT AN AGENCY' is not an agency code (e.g. IOM, WHO-PAHO)",
        (4, "eligible_agencies"): 'list agency codes separated by semicolons, "none", or '
        "leave it blank",
    }


# --------------------------------------------------------------------------- references, duplicates


def test_known_ids_are_checked_when_given() -> None:
    known = {
        "item": {"ppe-mask-n95"},
        "location": {"pa-darien-lajas-blancas"},
        "supplier": {"sup-001"},
        "agency": {"IOM", "UNHCR"},
    }
    needs = sp.parse_needs(
        csv_bytes([NEED_HEADER, need(), need(item="ghost", location="nowhere")]),
        "n.csv",
        known_ids=known,
    )
    assert reasons(needs) == {
        (3, "item"): "no item 'ghost'",
        (3, "location"): "no location 'nowhere'",
    }
    offers = sp.parse_offers(
        csv_bytes([OFFER_HEADER, offer(supplier="sup-404", eligible_agencies="IOM;WFP;XYZ")]),
        "o.csv",
        known_ids=known,
    )
    assert [(e.column, e.reason) for e in offers.errors] == [
        ("supplier", "no supplier 'sup-404'"),
        ("eligible_agencies", "no agency 'WFP'"),
        ("eligible_agencies", "no agency 'XYZ'"),
    ]
    # Without known_ids, references are the caller's job.
    assert sp.parse_needs(csv_bytes([NEED_HEADER, need(item="ghost")]), "n.csv").ok


def test_duplicates_within_the_file() -> None:
    offers = sp.parse_offers(csv_bytes([OFFER_HEADER, offer(), offer()]), "o.csv")
    assert reasons(offers) == {(3, "offer_id"): "this offer_id already given in row 2"}
    routes = sp.parse_routes(
        csv_bytes([ROUTE_HEADER, ["s", "l", 1, 0, 1], ["s", "m", 1, 0, 1], ["s", "l", 2, 0, 1]]),
        "r.csv",
    )
    assert reasons(routes) == {(4, "location"): "a route from s to l is already given in row 2"}


# --------------------------------------------------------------------------- columns


def test_a_sheet_with_a_missing_column() -> None:
    header = ["item", "location", "need_by", "priority"]
    result = sp.parse_needs(csv_bytes([header, ["ppe", "pa-x", FUTURE, "normal"]]), "n.csv")
    assert reasons(result) == {(1, "quantity"): "column missing from the header row"}
    assert result.rows == []


def test_unknown_duplicate_and_headerless_columns() -> None:
    header = [
        "Item",
        " LOCATION ",
        "Quantity",
        "need by",
        "",
        "priority",
        "justification",
        "notes",
        "quantity",
    ]
    row = [*need()[:4], "under no header", *need()[4:], "hello", 3, "stray"]
    result = sp.parse_needs(csv_bytes([header, row]), "n.csv")
    assert reasons(result) == {
        (1, "notes"): "unknown column; the needs template has: item, location, quantity, "
        "need_by, priority, justification",
        (1, "quantity"): "this column appears twice",
        (1, "column 5"): "values under a column without a header",
        (2, "column 10"): "a value beyond the last column of the header",
    }
    # An empty column without a header is no problem.
    header[4] = ""
    fine = [*need()[:4], "", *need()[4:]]
    assert sp.parse_needs(csv_bytes([header[:7], fine]), "n.csv").ok


def test_values_beyond_the_header() -> None:
    result = sp.parse_needs(csv_bytes([NEED_HEADER, [*need(), "extra"]]), "n.csv")
    assert reasons(result) == {(2, "column 7"): "a value beyond the last column of the header"}


def test_a_header_without_rows_and_an_empty_sheet() -> None:
    header_only = sp.parse_needs(csv_bytes([NEED_HEADER]), "n.csv")
    assert [e.reason for e in header_only.errors] == ["the file has a header row but no data rows"]
    blank = sp.parse_needs(b"\n\n,,,\n", "n.csv")
    assert [e.reason for e in blank.errors] == ["the file has no header row and no data"]


# --------------------------------------------------------------------------- files


def test_a_zero_byte_file() -> None:
    for name in ("needs.csv", "needs.xlsx", None):
        result = sp.parse_needs(b"", name)
        assert result.errors == [ParseError(None, None, "the file is empty (0 bytes)")]


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, body in files.items():
            archive.writestr(name, body)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "name", "reason"),
    [
        (b"%PDF-1.7\n...", "needs.pdf", "this is a PDF, not a spreadsheet"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "needs.xls", "old Excel .xls"),
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + b"\0" * 50, "needs.png", "not a text (CSV) file"),
        (b"item,location\n", "needs.xlsx", "named as XLSX but is not one"),
        (_zip({"word/document.xml": b"<w/>"}), "needs.docx", "not an XLSX workbook"),
        (
            _zip({"mimetype": b"application/vnd.oasis.opendocument.spreadsheet"}),
            "needs.ods",
            "OpenDocument spreadsheet",
        ),
        (b"PK\x03\x04garbage that is no zip", "needs.xlsx", "damaged"),
        (b"{}", "needs.json", "upload a CSV or XLSX file"),
    ],
)
def test_wrong_file_types(data: bytes, name: str, reason: str) -> None:
    result = sp.parse_needs(data, name)
    assert len(result.errors) == 1 and result.errors[0].row is None
    assert reason in result.errors[0].reason
    assert result.rows == []


def test_a_damaged_xlsx_is_an_error_not_a_crash() -> None:
    good = xlsx_bytes([NEED_HEADER, need()])
    with zipfile.ZipFile(io.BytesIO(good)) as archive:
        files = {n: archive.read(n) for n in archive.namelist()}
    files["xl/worksheets/sheet1.xml"] = b"<worksheet><sheetData><row r='1'><c"
    result = sp.parse_needs(_zip(files), "needs.xlsx")
    assert len(result.errors) == 1
    assert "cannot be read" in result.errors[0].reason


def test_a_zip_bomb_is_refused_before_it_is_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.exchange import table

    monkeypatch.setattr(table, "MAX_XLSX_EXPANDED_BYTES", 10_000)
    result = sp.parse_needs(xlsx_bytes([NEED_HEADER, need()]), "needs.xlsx")
    assert "expands to" in result.errors[0].reason


def test_encodings_and_separators() -> None:
    rows = [NEED_HEADER, need(justification="brote en Darién; niños")]
    expected = "brote en Darién; niños"
    for data in (
        csv_bytes(rows, sep=";"),
        csv_bytes(rows, sep="\t", encoding="utf-16"),
        csv_bytes(rows, encoding="cp1252"),
        b"\xef\xbb\xbf" + csv_bytes(rows),
    ):
        result = sp.parse_needs(data, "n.csv")
        assert result.errors == [], result.errors
        assert result.rows[0]["justification"] == expected


def test_nul_characters_in_a_text_file() -> None:
    early = sp.parse_needs(b"item,location\n" + b"a\0b,c\n" * 3, "n.csv")
    assert [e.reason for e in early.errors] == [
        "this is not a text (CSV) file nor an XLSX workbook"
    ]
    late = sp.parse_needs(b"item,location\n" + b"a,b\n" * 5000 + b"a\0b,c\n", "n.csv")
    assert [e.reason for e in late.errors] == [
        "the file contains NUL characters; it is not a CSV text file"
    ]


def test_the_upload_size_is_capped() -> None:
    data = csv_bytes([NEED_HEADER, need()])
    result = sp.parse_needs(data, "n.csv", max_bytes=len(data) - 1)
    assert len(result.errors) == 1 and "at most" in result.errors[0].reason
    assert sp.parse_needs(data, "n.csv", max_bytes=len(data)).ok


def test_100001_rows_are_refused_100000_accepted() -> None:
    header = ",".join(NEED_HEADER) + "\n"
    line = "ppe-mask-n95,pa-darien-lajas-blancas,5000,2099-12-20,normal,\n"
    over = sp.parse_needs((header + line * 100_001).encode(), "n.csv")
    assert over.rows == []
    assert [e.reason for e in over.errors] == [
        "the file has more than 100,000 data rows; split it into files of at most 100,000 rows"
    ]
    at_cap = sp.parse_needs((header + line * 100_000).encode(), "n.csv")
    assert at_cap.ok and len(at_cap.rows) == 100_000


def test_the_row_cap_is_a_parameter_and_applies_to_xlsx() -> None:
    rows = [NEED_HEADER, *[need() for _ in range(11)]]
    assert not sp.parse_needs(xlsx_bytes(rows), "n.xlsx", max_rows=10).ok
    assert sp.parse_needs(xlsx_bytes(rows), "n.xlsx", max_rows=11).ok


def test_a_long_cell_is_refused() -> None:
    result = sp.parse_needs(csv_bytes([NEED_HEADER, need(justification="x" * 4001)]), "n.csv")
    assert reasons(result) == {(2, "justification"): "is 4001 characters long; at most 4000"}


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        sp.parse("suppliers", b"x", "x.csv")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- templates


@pytest.mark.parametrize("kind", sp.KINDS)
def test_csv_template_has_the_header_and_a_commented_example(kind: sp.Kind) -> None:
    data = sp.template_bytes(kind, "csv")
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0] == ",".join(sp.headers(kind))
    assert lines[1].startswith("#")
    # As downloaded, the template has no header problem, only no data.
    assert [e.reason for e in sp.parse(kind, data, "t.csv").errors] == [
        "the file has a header row but no data rows"
    ]
    # Uncommented, the example row is valid.
    example = data.decode("utf-8-sig").replace("\n#", "\n", 1).encode()
    assert sp.parse(kind, example, "t.csv").ok


@pytest.mark.parametrize("kind", sp.KINDS)
def test_xlsx_template_has_a_data_sheet_and_an_example_sheet(kind: sp.Kind) -> None:
    data = sp.template_bytes(kind, "xlsx")
    workbook = load_workbook(io.BytesIO(data))
    assert workbook.sheetnames == [kind, "example"]
    assert [c.value for c in workbook[kind][1]] == sp.headers(kind)
    assert [e.reason for e in sp.parse(kind, data, "t.xlsx").errors] == [
        "the file has a header row but no data rows"
    ]
    # The example row, copied under the header, imports.
    example = [c.value for c in workbook["example"][2]]
    workbook[kind].append(example)
    out = io.BytesIO()
    workbook.save(out)
    result = sp.parse(kind, out.getvalue(), "t.xlsx")
    assert result.errors == [] and len(result.rows) == 1


def test_template_helpers() -> None:
    assert sp.template_filename("offers", "xlsx") == "poolbuy-offers-template.xlsx"
    assert sp.media_type("csv") == "text/csv; charset=utf-8"
    assert sp.media_type("xlsx").startswith("application/vnd.openxmlformats")
    with pytest.raises(ValueError):
        sp.template_bytes("needs", "ods")  # type: ignore[arg-type]


def test_exchange_modules_need_no_web_framework_nor_database() -> None:
    # Routes, web pages and the CLI reuse them; a fresh interpreter proves the imports.
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import app.exchange.spreadsheets, app.exchange.plan_export, app.exchange.ocds, "
        "app.exchange.hxl\n"
        "loaded = [m for m in ('fastapi', 'starlette', 'sqlalchemy', 'psycopg') "
        "if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
