"""Needs, offers (with tiers) and routes from CSV or XLSX uploads, and their templates.

One template per kind, with fixed column headers (matched without regard to
case, surrounding spaces, or spaces for underscores):

* needs: item, location, quantity, need_by, priority, justification
* offers: offer_id, supplier, item, capacity, min_order_quantity, lead_time_days,
  eligible_agencies, valid_from, valid_to, pack_size, fee_rate, tier1_min_quantity,
  tier1_unit_price, ... up to tier5_min_quantity, tier5_unit_price
* routes: supplier, location, fixed_cost, unit_cost, transit_days
* receipts: line_id, location, received_on, quantity_received, quantity_rejected,
  rejection_reason, notes, corrects_receipt_id (``app.deliveries``)
* rules: kind, item, location, supplier, limit, share, penalty, reason

Columns that may be left out of a file: needs ``justification``; offers
``min_order_quantity`` (0), ``eligible_agencies`` (everyone), ``valid_to``
(open-ended), ``pack_size`` (1), ``fee_rate`` (0) and tiers 2 to 5; routes
``fixed_cost`` and ``unit_cost`` (0); rules ``location`` (everywhere), ``supplier``,
``limit`` and ``share`` (which of them a kind takes is the service's rule). Any
other column not in the template is an error (a misspelt header would
otherwise be silently ignored); a column with neither header nor values is fine.

Rows: the first non-blank row is the header. Blank rows are skipped; so is a
row whose first cell starts with ``#`` (a comment: the CSV template's example
row is one). XLSX: the sheet named after the kind (``needs``...) if there is
one, else the first sheet.

What a row becomes (``ParseResult.rows``): a dict with exactly the fields of
the domain's create schema, typed (int, Decimal, date, str, list):

* needs -> ``NeedCreate``: item_id, location_id, quantity, need_by, priority,
  justification ("" when blank). Critical and high needs must carry a
  justification, as the needs service requires.
* offers -> ``OfferCreate``: supplier_id, item_id, reference (the sheet's
  ``offer_id``, the supplier's or agreement's own reference, unique in the
  file), price_tiers [{min_quantity, unit_price}], capacity,
  min_order_quantity, lead_time_days, eligible_agencies (None = every agency,
  [] = none: the cell says "none"), valid_from, valid_to, pack_size, fee_rate.
* routes -> ``RouteCreate``: supplier_id, location_id, fixed_cost, unit_cost,
  transit_days; one route per (supplier, location) in the file.

Checks here: types, whole numbers, ranges (the database's: 32-bit
quantities, money to 6 decimals below 10^12, days below ten years), dates (ISO
text or date cells), priorities, tier order (min strictly increasing, price
non-increasing, no gap), duplicates within the file, and formulas (see
``app.exchange.values``). Whether an item, location, supplier or agency
exists is the caller's to know: pass ``known_ids`` ({"item": ids,
"location": ids, "supplier": ids, "agency": ids}, any subset) to have them
checked here too, so they are reported with their rows. Rules that need the
database (an existing route for the pair, ...) stay with the services; the
caller maps a service problem back to the row with ``row_numbers``.

How a route uses it::

    result = parse_needs(await upload.read(), upload.filename, upload.content_type,
                         known_ids={"item": active_item_ids, "location": location_ids})
    if result.errors:
        raise InvalidInput([FieldIssue(e.path, e.reason) for e in result.errors])
    # then create every row in ONE transaction, or none
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from app.exchange import values as v
from app.exchange.table import (
    CSV_MEDIA_TYPE,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ROWS,
    XLSX_MEDIA_TYPE,
    ParseError,
    ParseResult,
    UploadRejected,
    data_rows,
    read_rows,
    too_many_rows,
)
from app.sourcing.rules import RuleKind, kind_field_issues
from solver.validation import tier_order_issues

Kind = Literal["needs", "offers", "routes", "receipts", "rules"]
Format = Literal["csv", "xlsx"]
KINDS: tuple[Kind, ...] = ("needs", "offers", "routes", "receipts", "rules")
MAX_TIERS = 5
KnownIds = Mapping[str, Collection[str]]
# A cell as a column read it: (why it cannot be read, the value, unknown references).
CellOutcome = tuple[str | None, Any, tuple[str, ...]]
# Cells whose reading is remembered per file (hashable, and equal only when they read
# the same way once their type is part of the key), and values safe to hand to rows.
_MEMO_CELLS = frozenset({str, v.SheetText, v.Formula, v.SheetError, int, type(None)})
_IMMUTABLE = frozenset({str, int, Decimal, dt.date, type(None)})


@dataclass(frozen=True)
class Column:
    header: str
    read: Callable[[Any], Any]
    example: Any
    help: str
    required: bool = False  # a value is required in every row
    optional_column: bool = False  # the column may be left out of the file
    ref: str | None = None  # checked against known_ids[ref]


def _whole(maximum: int, minimum: int = 0) -> Callable[[Any], int | None]:
    return lambda value: v.whole(value, minimum=minimum, maximum=maximum)


def _days(value: Any) -> int | None:
    return v.whole(value, maximum=v.DAYS_MAX)


def _reference(value: Any) -> str | None:
    return v.text(value, max_length=100)


def _fee_rate(value: Any) -> Decimal | None:
    rate = v.money(value)
    if rate is not None and rate >= 1:
        raise v.CellProblem("is a fraction of the goods value: 0.045 is 4.5%")
    return rate


def _catalogue_id(name: str, example: str) -> Column:
    """A required column naming an item, location or supplier by its catalogue id."""
    return Column(name, v.code, example, f"{name} id from the catalogue", True, ref=name)


_NEEDS = (
    _catalogue_id("item", "ppe-mask-n95"),
    _catalogue_id("location", "pa-darien-lajas-blancas"),
    Column(
        "quantity",
        _whole(v.NEED_QUANTITY_MAX, 1),
        5000,
        "whole units of the item's unit, at least 1",
        True,
    ),
    Column(
        "need_by",
        v.date,
        dt.date(2026, 12, 20),
        "the day the units must be there: YYYY-MM-DD or a date cell",
        True,
    ),
    Column("priority", v.priority, "critical", "critical, high or normal", True),
    Column(
        "justification",
        v.text,
        "respiratory outbreak among new arrivals",
        "why; required for critical and high",
        optional_column=True,
    ),
)

_EXAMPLE_TIERS = ((0, 1.20), (10000, 1.00), (25000, 0.95), (50000, 0.90), (100000, 0.85))
_TIER_COLUMNS = tuple(
    column
    for n in range(1, MAX_TIERS + 1)
    for column in (
        Column(
            f"tier{n}_min_quantity",
            _whole(v.INT32_MAX),
            _EXAMPLE_TIERS[n - 1][0],
            f"tier {n}: from this quantity up (all units)",
            optional_column=n > 1,
        ),
        Column(
            f"tier{n}_unit_price",
            v.money,
            _EXAMPLE_TIERS[n - 1][1],
            f"tier {n}: price of every unit",
            optional_column=n > 1,
        ),
    )
)

_OFFERS = (
    Column(
        "offer_id",
        _reference,
        "LTA-2026-014",
        "your reference for the offer (agreement or quote number), unique in the file",
        True,
    ),
    _catalogue_id("supplier", "sup-001"),
    _catalogue_id("item", "ppe-mask-n95"),
    Column("capacity", _whole(v.INT32_MAX), 50000, "most units the offer delivers in a run", True),
    Column(
        "min_order_quantity", _whole(v.INT32_MAX), 1000, "0 or blank = none", optional_column=True
    ),
    Column("lead_time_days", _days, 10, "days from order to dispatch", True),
    Column(
        "eligible_agencies",
        v.agency_list,
        "IOM;UNHCR",
        'agency codes separated by ";", blank = every agency, "none" = no agency',
        optional_column=True,
        ref="agency",
    ),
    Column("valid_from", v.date, dt.date(2026, 11, 1), "first day the offer holds", True),
    Column(
        "valid_to",
        v.date,
        dt.date(2027, 10, 31),
        "last day; blank = open-ended",
        optional_column=True,
    ),
    Column(
        "pack_size",
        _whole(v.INT32_MAX, minimum=1),
        50,
        "sold in whole packs of this many units; blank = 1 (by the unit)",
        optional_column=True,
    ),
    Column(
        "fee_rate",
        _fee_rate,
        0.045,
        "handling or service fee as a fraction of the goods value; blank = 0",
        optional_column=True,
    ),
    *_TIER_COLUMNS,
)

_ROUTES = (
    _catalogue_id("supplier", "sup-001"),
    _catalogue_id("location", "pa-darien-lajas-blancas"),
    Column(
        "fixed_cost",
        v.money,
        500,
        "charged once if anything moves; blank = 0",
        optional_column=True,
    ),
    Column("unit_cost", v.money, 0.01, "per unit moved; blank = 0", optional_column=True),
    Column("transit_days", _days, 3, "days from dispatch to arrival", True),
)


def _rejection_reason(value: Any) -> str | None:
    result = v.text(value, max_length=32)
    if result is None:
        return None
    reason = result.lower().replace(" ", "_")
    if reason not in REJECTION_REASONS:
        raise v.CellProblem(f"must be one of {', '.join(REJECTION_REASONS)}")
    return reason


# app.deliveries.models.RejectionReason's values (this module imports no domain).
REJECTION_REASONS = ("damaged", "expired", "wrong_specification")

_RECEIPTS = (
    Column(
        "line_id", _whole(v.INT32_MAX, 1), 12, "the order line's id (from the orders list)", True
    ),
    Column(
        "location",
        v.code,
        "pa-darien-lajas-blancas",
        "the reception station: the line's location",
        True,
        ref="location",
    ),
    Column("received_on", v.date, dt.date(2026, 12, 18), "the day the goods arrived", True),
    Column("quantity_received", _whole(v.NEED_QUANTITY_MAX), 2400, "units counted", True),
    Column(
        "quantity_rejected",
        _whole(v.NEED_QUANTITY_MAX),
        100,
        "of those, units refused; blank = 0",
        optional_column=True,
    ),
    Column(
        "rejection_reason",
        _rejection_reason,
        "damaged",
        "damaged, expired or wrong_specification; required when units are rejected",
        optional_column=True,
    ),
    Column("notes", v.text, "two cartons crushed", "anything worth knowing", optional_column=True),
    Column(
        "corrects_receipt_id",
        _whole(v.INT32_MAX, 1),
        None,
        "for a correction: the receipt these figures replace",
        optional_column=True,
    ),
)

RULE_KINDS = tuple(k.value for k in RuleKind)
_RULE_HEADER = {"supplier_id": "supplier"}


def _rule_kind(value: Any) -> str | None:
    text = v.code(value)
    if text is not None and text.lower() not in RULE_KINDS:
        raise v.CellProblem(f"must be one of {', '.join(RULE_KINDS)}")
    return text.lower() if text is not None else None


def _share(value: Any) -> Decimal | None:
    share = v.money(value)
    if share is not None and not 0 < share <= 1:
        raise v.CellProblem("is a fraction of the units in scope, above 0 and at most 1")
    return share


_RULES = (
    Column("kind", _rule_kind, "min_suppliers", ", ".join(RULE_KINDS), True),
    _catalogue_id("item", "test-rdt-covid"),
    Column(
        "location",
        v.code,
        "pa-darien-lajas-blancas",
        "location id; blank = every location",
        optional_column=True,
        ref="location",
    ),
    Column(
        "supplier",
        v.code,
        None,
        "supplier id, for max_share and min_share only",
        optional_column=True,
        ref="supplier",
    ),
    Column(
        "limit",
        _whole(1000),
        2,
        "suppliers at most/at least, for max_suppliers and min_suppliers only",
        optional_column=True,
    ),
    Column(
        "share", _share, None, "fraction, for max_share and min_share only", optional_column=True
    ),
    Column("penalty", v.money, 2000, "paid per supplier or unit the plan breaks it by", True),
    Column("reason", v.text, "supply risk: at least two suppliers", "why the group keeps it", True),
)

COLUMNS: dict[Kind, tuple[Column, ...]] = {
    "needs": _NEEDS,
    "offers": _OFFERS,
    "routes": _ROUTES,
    "receipts": _RECEIPTS,
    "rules": _RULES,
}
_NOUN = {"item": "item", "location": "location", "supplier": "supplier", "agency": "agency"}


def headers(kind: Kind) -> list[str]:
    """The template's column headers, in order."""
    return [c.header for c in COLUMNS[kind]]


def normalise_header(text: Any) -> str:
    return str(text).strip().lower().replace(" ", "_").replace("-", "_") if text else ""


# --------------------------------------------------------------------------- rows


class RowBuilder:
    """Turns one kind's typed cells into the service's row dict; remembers file-wide state.

    Shared with the HXL importer, which maps its columns by hashtag onto the
    same Columns and so reads and checks cells exactly as here.
    """

    def __init__(self, kind: Kind, known_ids: KnownIds | None, today: dt.date | None) -> None:
        self.kind = kind
        self.known_ids = known_ids or {}
        self.today = today
        self.seen: dict[Any, int] = {}
        self.build = {
            "needs": self._needs,
            "offers": self._offers,
            "routes": self._routes,
            "receipts": self._receipts,
            "rules": self._rules,
        }[kind]
        # What each column made of each cell it met, by the cell's type and value: a
        # file repeats its items, locations, dates and priorities in row after row,
        # and reading a cell depends on nothing else (``known_ids`` is fixed per file).
        self._read: dict[str, dict[tuple[type, Any], CellOutcome]] = {}
        self._plan: tuple[dict[int, Column], list[tuple[int, Column, dict[Any, Any]]]] | None = None

    def columns(self, index: dict[int, Column]) -> list[tuple[int, Column, dict[Any, Any]]]:
        """``index``'s (position, column) pairs with each column's remembered readings."""
        if self._plan is None or self._plan[0] is not index:
            plan = [(i, c, self._read.setdefault(c.header, {})) for i, c in index.items()]
            self._plan = (index, plan)
        return self._plan[1]

    def read(self, column: Column, raw: Any) -> CellOutcome:
        """The column's reading of ``raw``: ``(reason, None, ())`` when it cannot be read
        (or a required cell is blank), else ``(None, value, reasons the reference is
        unknown)``."""
        kind = type(raw)
        if kind not in _MEMO_CELLS:
            return self._outcome(column, raw)
        memo = self._read.get(column.header)
        if memo is None:
            memo = self._read[column.header] = {}
        # The type is part of the key: "1" and 1, or text and a formula cell with the
        # same characters, read differently.
        key = (kind, raw)
        outcome = memo.get(key)
        if outcome is None:
            outcome = self._outcome(column, raw)
            if type(outcome[1]) in _IMMUTABLE:  # a list (agencies) must not be shared by rows
                memo[key] = outcome
        return outcome

    def _outcome(self, column: Column, raw: Any) -> CellOutcome:
        try:
            value = column.read(raw)
        except v.CellProblem as problem:
            return problem.reason, None, ()
        if value is None and column.required:
            return "is required", None, ()
        return None, value, tuple(self.check_ref(column, value))

    def check_ref(self, column: Column, value: Any) -> list[str]:
        if column.ref is None or value is None or column.ref not in self.known_ids:
            return []
        known = self.known_ids[column.ref]
        wanted = value if isinstance(value, list) else [value]
        return [f"no {_NOUN[column.ref]} {w!r}" for w in wanted if w not in known]

    def _duplicate(self, key: Any, number: int, column: str, what: str) -> list[ParseError]:
        first = self.seen.setdefault(key, number)
        if first != number:
            return [ParseError(number, column, f"{what} already given in row {first}")]
        return []

    def _needs(self, number: int, c: dict[str, Any]) -> tuple[dict[str, Any], list[ParseError]]:
        errors: list[ParseError] = []
        priority, justification, need_by = (
            c.get("priority"),
            c.get("justification"),
            c.get("need_by"),
        )
        if priority in ("critical", "high") and not justification and "!justification" not in c:
            errors.append(ParseError(number, "justification", f"is required for a {priority} need"))
        if self.today is not None and need_by is not None and need_by < self.today:
            errors.append(ParseError(number, "need_by", f"must not be in the past ({self.today})"))
        row = {
            "item_id": c.get("item"),
            "location_id": c.get("location"),
            "quantity": c.get("quantity"),
            "need_by": need_by,
            "priority": priority,
            "justification": justification or "",
        }
        return row, errors

    def _offers(self, number: int, c: dict[str, Any]) -> tuple[dict[str, Any], list[ParseError]]:
        errors: list[ParseError] = []
        if c.get("offer_id") is not None:
            errors += self._duplicate(("offer", c["offer_id"]), number, "offer_id", "this offer_id")
        tiers, tier_errors = _tiers(number, c)
        errors += tier_errors
        valid_from, valid_to = c.get("valid_from"), c.get("valid_to")
        if valid_from is not None and valid_to is not None and valid_to < valid_from:
            errors.append(
                ParseError(number, "valid_to", f"must be on or after valid_from ({valid_from})")
            )
        row = {
            "supplier_id": c.get("supplier"),
            "item_id": c.get("item"),
            "reference": c.get("offer_id"),
            "price_tiers": tiers,
            "capacity": c.get("capacity"),
            "min_order_quantity": c.get("min_order_quantity") or 0,
            "lead_time_days": c.get("lead_time_days"),
            "eligible_agencies": c.get("eligible_agencies"),
            "valid_from": valid_from,
            "valid_to": valid_to,
            "pack_size": c.get("pack_size") or 1,
            "fee_rate": c.get("fee_rate") or Decimal(0),
        }
        return row, errors

    def _rules(self, number: int, c: dict[str, Any]) -> tuple[dict[str, Any], list[ParseError]]:
        row = {
            "kind": c.get("kind"),
            "item_id": c.get("item"),
            "location_id": c.get("location"),
            "supplier_id": c.get("supplier"),
            "limit": c.get("limit"),
            "share": c.get("share"),
            "penalty": c.get("penalty"),
            "reason": c.get("reason"),
        }
        # Which fields a kind takes: the sourcing schemas' one statement of it.
        errors = [
            ParseError(number, _RULE_HEADER.get(key, key), reason)
            for key, reason in kind_field_issues(row)
        ]
        return row, errors

    def _routes(self, number: int, c: dict[str, Any]) -> tuple[dict[str, Any], list[ParseError]]:
        errors: list[ParseError] = []
        if c.get("supplier") is not None and c.get("location") is not None:
            errors += self._duplicate(
                ("route", c["supplier"], c["location"]),
                number,
                "location",
                f"a route from {c['supplier']} to {c['location']} is",
            )
        row = {
            "supplier_id": c.get("supplier"),
            "location_id": c.get("location"),
            "fixed_cost": c.get("fixed_cost") if c.get("fixed_cost") is not None else v.money(0),
            "unit_cost": c.get("unit_cost") if c.get("unit_cost") is not None else v.money(0),
            "transit_days": c.get("transit_days"),
        }
        return row, errors

    def _receipts(self, number: int, c: dict[str, Any]) -> tuple[dict[str, Any], list[ParseError]]:
        # The fields of app.deliveries.schemas.ReceiptCreate, plus the line they are for.
        row = {
            "line_id": c.get("line_id"),
            "location_id": c.get("location"),
            "received_on": c.get("received_on"),
            "quantity_received": c.get("quantity_received"),
            "quantity_rejected": c.get("quantity_rejected") or 0,
            "rejection_reason": c.get("rejection_reason"),
            "notes": c.get("notes") or "",
            "corrects_id": c.get("corrects_receipt_id"),
        }
        return row, []


TIER_WORDS = {"min_quantity": "minimum quantity", "unit_price": "unit price"}


def _tiers(number: int, c: dict[str, Any]) -> tuple[list[dict[str, Any]], list[ParseError]]:
    """Contract v1's all-units tiers from the tierN column pairs."""
    errors: list[ParseError] = []
    tiers: list[dict[str, Any]] = []
    columns: list[int] = []  # the tier number (its columns) of each tier taken
    gap: int | None = None
    for n in range(1, MAX_TIERS + 1):
        low_col, price_col = f"tier{n}_min_quantity", f"tier{n}_unit_price"
        # A cell that failed to parse is already reported; skip its tier quietly.
        if f"!{low_col}" in c or f"!{price_col}" in c:
            gap = None
            continue
        low, price = c.get(low_col), c.get(price_col)
        if low is None and price is None:
            if gap is None:
                gap = n
            continue
        if low is None or price is None:
            missing = low_col if low is None else price_col
            errors.append(
                ParseError(
                    number, missing, f"tier {n} needs both a minimum quantity and a unit price"
                )
            )
            continue
        if gap is not None:
            errors.append(
                ParseError(
                    number,
                    low_col,
                    f"tier {n} is given but tier {gap} is empty: fill tiers "
                    "from tier 1 on, without gaps",
                )
            )
            gap = None
        tiers.append({"min_quantity": low, "unit_price": price})
        columns.append(n)
    # Contract v1's tier order, the solver's rule, in the sheet's words and columns.
    for j, field, reason in tier_order_issues(
        tiers,
        read=lambda field, value: value,  # parsed already: whole numbers and amounts
        names=TIER_WORDS,
        show=lambda field, value: v.show(value) if field == "unit_price" else str(value),
    ):
        errors.append(ParseError(number, f"tier{columns[j]}_{field}", reason))
    if not tiers and not any(k.startswith("!tier") for k in c):
        errors.append(
            ParseError(
                number,
                "tier1_min_quantity",
                "at least one price tier is required (tier1_min_quantity and tier1_unit_price)",
            )
        )
    return tiers, errors


def _map_header(
    kind: Kind, number: int, header: list[Any]
) -> tuple[dict[int, Column], list[ParseError]]:
    """Column index -> Column for the header row; errors for missing or unknown columns."""
    by_name = {c.header: c for c in COLUMNS[kind]}
    errors: list[ParseError] = []
    index: dict[int, Column] = {}
    seen: dict[str, int] = {}
    for i, raw in enumerate(header):
        name = normalise_header(raw)
        if not name:
            continue  # reported only if a row has a value under it
        if name in seen:
            errors.append(ParseError(number, name, "this column appears twice"))
            continue
        seen[name] = i
        column = by_name.get(name)
        if column is None:
            if name.startswith("tier") and name[4:5].isdigit():
                reason = (
                    f"unknown column: at most {MAX_TIERS} price tiers, as "
                    "tierN_min_quantity and tierN_unit_price"
                )
            else:
                reason = f"unknown column; the {kind} template has: {', '.join(headers(kind))}"
            errors.append(ParseError(number, str(raw).strip(), reason))
            continue
        index[i] = column
    for column in COLUMNS[kind]:
        if column.header not in seen and not column.optional_column:
            errors.append(ParseError(number, column.header, "column missing from the header row"))
    return index, errors


def parse(
    kind: Kind,
    data: bytes,
    filename: str | None = None,
    content_type: str | None = None,
    *,
    known_ids: KnownIds | None = None,
    today: dt.date | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ParseResult:
    """Read one kind's upload; every bad row reported, no rows at all if any is bad.

    ``today``: needs whose need_by is before it are refused (the needs service's
    rule), reported here with their rows. ``max_rows`` counts data rows (not the
    header, blank or comment rows); ``max_bytes`` is the upload's size.
    """
    if kind not in COLUMNS:
        raise ValueError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    result = ParseResult(kind=kind)
    try:
        rows = data_rows(read_rows(data, filename, content_type, max_bytes=max_bytes, sheet=kind))
        _parse_rows(kind, rows, result, RowBuilder(kind, known_ids, today), max_rows)
    except UploadRejected as exc:
        result.errors = exc.errors
    return result.seal()


def _parse_rows(
    kind: Kind,
    rows: Iterator[tuple[int, list[Any]]],
    result: ParseResult,
    builder: RowBuilder,
    max_rows: int,
) -> None:
    header_row: tuple[int, list[Any]] | None = None
    width = count = 0
    index: dict[int, Column] = {}
    pending_blank_headers: set[int] = set()
    for number, cells in rows:
        first = cells[0] if cells else None
        if isinstance(first, str) and first.strip().startswith("#"):
            continue  # a comment row (the CSV template's example)
        if header_row is None:
            header_row = (number, cells)
            width = len(cells)
            index, errors = _map_header(kind, number, cells)
            pending_blank_headers = {i for i, h in enumerate(cells) if not normalise_header(h)}
            result.errors += errors
            continue
        count += 1
        if count > max_rows:
            raise too_many_rows(max_rows)
        for i in sorted(pending_blank_headers) if pending_blank_headers else ():
            if i < len(cells) and not v.is_blank(cells[i]):
                result.errors.append(
                    ParseError(
                        header_row[0], f"column {i + 1}", "values under a column without a header"
                    )
                )
                pending_blank_headers.discard(i)
        for i in range(width, len(cells)):
            if not v.is_blank(cells[i]):
                result.errors.append(
                    ParseError(
                        number, f"column {i + 1}", "a value beyond the last column of the header"
                    )
                )
                break
        parse_row(number, cells, index, result, builder)
    if header_row is None:
        result.errors.append(ParseError(None, None, "the file has no header row and no data"))
    elif not result.rows and not result.errors:
        result.errors.append(ParseError(None, None, "the file has a header row but no data rows"))


def parse_row(
    number: int,
    cells: list[Any],
    index: dict[int, Column],
    result: ParseResult,
    builder: RowBuilder,
) -> None:
    typed: dict[str, Any] = {}
    errors: list[ParseError] = []
    size = len(cells)
    for i, column, memo in builder.columns(index):
        raw = cells[i] if i < size else None
        kind = type(raw)
        # builder.read's look-up, made here first: this runs for every cell of the file.
        outcome = memo.get((kind, raw)) if kind in _MEMO_CELLS else None
        problem, value, unknown = builder.read(column, raw) if outcome is None else outcome
        if problem is not None:
            errors.append(ParseError(number, column.header, problem))
            typed[f"!{column.header}"] = True  # failed: later checks skip it
            continue
        if unknown:
            errors += [ParseError(number, column.header, r) for r in unknown]
        typed[column.header] = value
    row, row_errors = builder.build(number, typed)
    errors += row_errors
    if errors:
        result.errors += errors
    elif row is not None:
        result.rows.append(row)
        result.row_numbers.append(number)
        result.row_meta.append({})


# One kind's parser, as :func:`parse` with the kind given: needs (rows for ``NeedCreate``),
# offers with their price tiers (``OfferCreate``), award rules (``AwardRuleCreate``),
# routes (``RouteCreate``).
parse_needs = functools.partial(parse, "needs")
parse_offers = functools.partial(parse, "offers")
parse_rules = functools.partial(parse, "rules")
parse_routes = functools.partial(parse, "routes")


# --------------------------------------------------------------------------- templates


def media_type(fmt: Format) -> str:
    return XLSX_MEDIA_TYPE if fmt == "xlsx" else f"{CSV_MEDIA_TYPE}; charset=utf-8"


def template_filename(kind: Kind, fmt: Format) -> str:
    return f"poolbuy-{kind}-template.{fmt}"


def _csv_cell(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    return "" if value is None else str(value)


def template_bytes(kind: Kind, fmt: Format) -> bytes:
    """An empty template for ``kind``.

    CSV (UTF-8 with a byte-order mark, so Excel shows accents): the header row,
    then the example row commented out (its first cell starts with ``#``; the
    importer skips such rows, so it may stay). XLSX: sheet ``<kind>`` with the
    header (and a priority drop-down for needs); sheet ``example`` with an
    example row and what each column takes.
    """
    if kind not in COLUMNS:
        raise ValueError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    columns = COLUMNS[kind]
    if fmt == "csv":
        out = io.StringIO(newline="")
        writer = csv.writer(out)
        writer.writerow([c.header for c in columns])
        example = [_csv_cell(c.example) for c in columns]
        example[0] = f"#{example[0]}"
        writer.writerow(example)
        return out.getvalue().encode("utf-8-sig")
    if fmt == "xlsx":
        return _xlsx_template(kind, columns)
    raise ValueError(f"unknown format {fmt!r}; csv or xlsx")


def _xlsx_template(kind: Kind, columns: tuple[Column, ...]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = kind
    sheet.append([c.header for c in columns])
    for i, column in enumerate(columns, start=1):
        sheet.cell(row=1, column=i).font = Font(bold=True)
        sheet.column_dimensions[get_column_letter(i)].width = max(14, len(column.header) + 2)
        letter = get_column_letter(i)
        if column.read is v.date:
            # A column style: dates typed in it become date cells, shown as ISO.
            sheet.column_dimensions[letter].number_format = "yyyy-mm-dd"
        if column.read is v.priority:
            choice = DataValidation(
                type="list", formula1='"critical,high,normal"', allow_blank=True
            )
            choice.add(f"{letter}2:{letter}100001")
            sheet.add_data_validation(choice)
    sheet.freeze_panes = "A2"

    example = workbook.create_sheet("example")
    example.append([c.header for c in columns])
    example.append([c.example for c in columns])
    for i, column in enumerate(columns, start=1):
        example.cell(row=1, column=i).font = Font(bold=True)
        if isinstance(column.example, dt.date):
            example.cell(row=2, column=i).number_format = "yyyy-mm-dd"
        example.column_dimensions[get_column_letter(i)].width = max(14, len(column.header) + 2)
    example.append([])
    example.append(["column", "what to write", "required"])
    example.cell(row=example.max_row, column=1).font = Font(bold=True)
    for column in columns:
        needed = (
            "yes"
            if column.required
            else ("column optional" if column.optional_column else "may be blank")
        )
        example.append([column.header, column.help, needed])
    example.append([])
    example.append([f"Fill in the sheet '{kind}'; this sheet is not imported."])

    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
