"""Needs and plans as HXL-tagged CSV, and needs back from one (Humanitarian Exchange Language).

An HXL file is a table whose header row is followed by a row of hashtags: a
tag from the HXL 1.1 dictionary and lower-case attributes (``#item+code``).
Tools of the humanitarian data ecosystem (HDX, HXL Proxy, 3W dashboards) find
columns by those tags, whatever the header text says.

Tags used, all core HXL 1.1 hashtags; attributes from the dictionary where
one fits (+code, +name, +num, +id, +type) and descriptive ones otherwise,
which HXL allows on any hashtag (+needed, +delivery, +quantity, +supplier,
+unit, +priority, +justification, +reason, and the currency as +usd):

=====================  ===============================  ============================
column                 hashtag                          note
=====================  ===============================  ============================
agency                 ``#org+code``, ``#org+name``     the buying agency
sector                 ``#sector``                      the item's catalogue category
location               ``#loc+code``, ``#loc+name``
need-by date           ``#date+needed``
item                   ``#item+code``, ``#item+name``   ``#item+unit``: its unit
need id                ``#meta+id``                     ``n-<id>`` as in problem documents
quantity               ``#indicator+num+quantity``
priority               ``#severity+priority``           critical / high / normal
justification          ``#description+justification``
supplier (plan)        ``#org+supplier+code``/``+name``
offer (plan)           ``#meta+offer``
status (plan)          ``#status``                      awarded / unmet
delivery date (plan)   ``#date+delivery``
days late (plan)       ``#indicator+num+late_days``
unit price (plan)      ``#value+unit+usd``              currency attribute: the plan's
value (plan)           ``#value+usd``                   units x unit price (purchase,
                                                        without shipping)
currency (plan)        ``#currency+code``
unmet reason (plan)    ``#description+reason``
=====================  ===============================  ============================

HXL 1.1 has no ``#priority`` hashtag; a need's priority is how severe its
shortfall would be, so it is ``#severity`` with ``+priority``. The importer
takes ``#priority`` too, for files tagged by hand.

Import (:func:`parse_needs_hxl`): the hashtag row is the first row, among the
first 25, whose every non-blank cell is a hashtag spec; rows above it are
headers and ignored; columns are found by tag and attributes, never by
header text (a column matches when it has the tag and at least the wanted
attributes; the first match wins). Needed: ``#item+code``, ``#loc+code``,
the quantity (``#indicator+quantity``, or the only ``#indicator+num``), the
date (``#date+needed``, or the only ``#date``) and the priority
(``#severity`` or ``#priority``); optional: ``#description`` (justification,
``+justification`` preferred), ``#org+code`` (agency; a supplier column,
``+supplier``, is never taken for it) and ``#meta+id``. Other columns are
ignored, as HXL intends. Cells are read and checked exactly as the
spreadsheet importer does (``app.exchange.spreadsheets``); errors name the
row and the column's hashtag. The file may be CSV or XLSX.

Exports are UTF-8 CSV without a byte-order mark (HXL tools read plain UTF-8);
text a spreadsheet could run as a formula is escaped with an apostrophe,
which the importer removes again (``app.exchange.values``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.exchange import cells
from app.exchange import values as v
from app.exchange.cells import natural_key
from app.exchange.spreadsheets import COLUMNS, Column, KnownIds, RowBuilder, parse_row
from app.exchange.table import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ROWS,
    ParseError,
    ParseResult,
    UploadRejected,
    data_rows,
    read_rows,
    too_many_rows,
)

Document = Mapping[str, Any]
MEDIA_TYPE = "text/csv; charset=utf-8"
HASHTAG_ROW_SCAN = 25

_SPEC_RE = re.compile(r"^#[a-z][a-z0-9_]*(?:\s*\+\s*[a-z][a-z0-9_]*)*$", re.IGNORECASE)

NEED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Agency", "#org+code"),
    ("Agency name", "#org+name"),
    ("Sector", "#sector"),
    ("Location", "#loc+code"),
    ("Location name", "#loc+name"),
    ("Need by", "#date+needed"),
    ("Item", "#item+code"),
    ("Item name", "#item+name"),
    ("Unit", "#item+unit"),
    ("Need", "#meta+id"),
    ("Quantity", "#indicator+num+quantity"),
    ("Priority", "#severity+priority"),
    ("Justification", "#description+justification"),
)


def _plan_columns(currency: str) -> tuple[tuple[str, str], ...]:
    money = currency.lower() if re.fullmatch(r"[A-Za-z]{3}", currency) else "money"
    return (
        ("Agency", "#org+code"),
        ("Agency name", "#org+name"),
        ("Sector", "#sector"),
        ("Location", "#loc+code"),
        ("Location name", "#loc+name"),
        ("Item", "#item+code"),
        ("Item name", "#item+name"),
        ("Unit", "#item+unit"),
        ("Need", "#meta+id"),
        ("Status", "#status"),
        ("Quantity", "#indicator+num+quantity"),
        ("Need by", "#date+needed"),
        ("Priority", "#severity+priority"),
        ("Supplier", "#org+supplier+code"),
        ("Supplier name", "#org+supplier+name"),
        ("Offer", "#meta+offer"),
        ("Delivery", "#date+delivery"),
        ("Days late", "#indicator+num+late_days"),
        ("Unit price", f"#value+unit+{money}"),
        ("Value", f"#value+{money}"),
        ("Currency", "#currency+code"),
        ("Unmet reason", "#description+reason"),
    )


# --------------------------------------------------------------------------- export


def _write(columns: Sequence[tuple[str, str]], rows: Iterable[Sequence[Any]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow([header for header, _ in columns])
    writer.writerow([tag for _, tag in columns])
    for row in rows:
        writer.writerow([cells.csv_value(value) for value in row])
    return out.getvalue().encode("utf-8")


def _by_id(entries: Iterable[Mapping[str, Any]] | None) -> dict[str, Mapping[str, Any]]:
    return {e["id"]: e for e in entries or []}


def needs_to_hxl(
    needs: Iterable[Mapping[str, Any]],
    *,
    agencies: Iterable[Mapping[str, Any]] | None = None,
    items: Iterable[Mapping[str, Any]] | None = None,
    locations: Iterable[Mapping[str, Any]] | None = None,
) -> bytes:
    """Needs as HXL-tagged CSV, one row per need.

    ``needs``: contract-v1 need entries (id, agency, item, location, quantity,
    need_by, priority) with an optional ``justification``. ``agencies``,
    ``items``, ``locations``: entries as in a problem document (id, name;
    items also unit and category), for the names, units and sectors.
    """
    agency_of, item_of, location_of = _by_id(agencies), _by_id(items), _by_id(locations)
    rows = []
    for need in sorted(needs, key=lambda n: natural_key(n.get("id", ""))):
        item = item_of.get(need["item"], {})
        rows.append(
            [
                need["agency"],
                agency_of.get(need["agency"], {}).get("name", ""),
                item.get("category", ""),
                need["location"],
                location_of.get(need["location"], {}).get("name", ""),
                cells.iso_date(need["need_by"]),
                need["item"],
                item.get("name", ""),
                item.get("unit", ""),
                need.get("id", ""),
                int(need["quantity"]),
                need["priority"],
                need.get("justification") or "",
            ]
        )
    return _write(NEED_COLUMNS, rows)


def problem_needs_to_hxl(problem: Document) -> bytes:
    """A problem document's needs as HXL-tagged CSV."""
    return needs_to_hxl(
        problem.get("needs", []),
        agencies=problem.get("agencies"),
        items=problem.get("items"),
        locations=problem.get("locations"),
    )


def plan_to_hxl(problem: Document, plan: Document) -> bytes:
    """A plan as HXL-tagged CSV: one row per award, then one per need left (partly) unmet."""
    agency_of = _by_id(problem.get("agencies"))
    item_of = _by_id(problem.get("items"))
    location_of = _by_id(problem.get("locations"))
    supplier_of = _by_id(problem.get("suppliers"))
    need_of = _by_id(problem.get("needs"))
    currency = str(problem.get("currency", ""))

    def common(need_id: str) -> list[Any]:
        need = need_of.get(need_id, {})
        item = item_of.get(need.get("item", ""), {})
        return [
            need.get("agency", ""),
            agency_of.get(need.get("agency", ""), {}).get("name", ""),
            item.get("category", ""),
            need.get("location", ""),
            location_of.get(need.get("location", ""), {}).get("name", ""),
            need.get("item", ""),
            item.get("name", ""),
            item.get("unit", ""),
            need_id,
        ]

    rows: list[list[Any]] = []
    for award in sorted(
        plan.get("awards", []), key=lambda a: (natural_key(a["need"]), natural_key(a["offer"]))
    ):
        need = need_of.get(award["need"], {})
        price = cells.price(award["unit_price"])
        rows.append(
            [
                *common(award["need"]),
                "awarded",
                int(award["quantity"]),
                cells.iso_date(need.get("need_by")),
                need.get("priority", ""),
                award["supplier"],
                supplier_of.get(award["supplier"], {}).get("name", ""),
                award["offer"],
                cells.iso_date(award["delivery_date"]),
                int(award["late_days"]),
                price,
                cells.cents(price * int(award["quantity"])),
                currency,
                "",
            ]
        )
    for unmet in sorted(plan.get("unmet", []), key=lambda u: natural_key(u["need"])):
        need = need_of.get(unmet["need"], {})
        rows.append(
            [
                *common(unmet["need"]),
                "unmet",
                int(unmet["quantity"]),
                cells.iso_date(need.get("need_by")),
                need.get("priority", ""),
                "",
                "",
                "",
                None,
                None,
                None,
                None,
                currency,
                unmet.get("detail") or unmet.get("reason", ""),
            ]
        )
    return _write(_plan_columns(currency), rows)


# --------------------------------------------------------------------------- import


@dataclass(frozen=True)
class HashtagSpec:
    tag: str
    attributes: frozenset[str]
    text: str

    @classmethod
    def parse(cls, raw: Any) -> HashtagSpec | None:
        if not isinstance(raw, str):
            return None
        text = raw.strip()
        if not _SPEC_RE.match(text):
            return None
        parts = [p.strip().lower() for p in text.split("+")]
        return cls(parts[0], frozenset(parts[1:]), text)

    def has(self, tag: str, *attributes: str, without: Iterable[str] = ()) -> bool:
        return (
            self.tag == tag
            and self.attributes.issuperset(attributes)
            and not self.attributes.intersection(without)
        )


def _find_hashtag_row(
    rows: Iterable[tuple[int, list[Any]]],
) -> tuple[int, list[HashtagSpec | None]] | None:
    for scanned, (number, cells_) in enumerate(rows):
        if scanned >= HASHTAG_ROW_SCAN:
            return None
        specs = [None if v.is_blank(c) else HashtagSpec.parse(c) for c in cells_]
        filled = [c for c in cells_ if not v.is_blank(c)]
        if filled and all(
            s is not None for s, c in zip(specs, cells_, strict=True) if not v.is_blank(c)
        ):
            return number, specs
    return None


def _spec_text(specs: Sequence[HashtagSpec | None], position: int) -> str:
    spec = specs[position]
    return spec.text if spec is not None else f"column {position + 1}"


def _first(
    specs: Sequence[HashtagSpec | None], tag: str, *attributes: str, without: Iterable[str] = ()
) -> int | None:
    for i, spec in enumerate(specs):
        if spec is not None and spec.has(tag, *attributes, without=without):
            return i
    return None


def _only(specs: Sequence[HashtagSpec | None], tag: str, *attributes: str) -> int | None:
    found = [i for i, s in enumerate(specs) if s is not None and s.has(tag, *attributes)]
    return found[0] if len(found) == 1 else None


def parse_needs_hxl(
    data: bytes,
    filename: str | None = None,
    content_type: str | None = None,
    *,
    known_ids: KnownIds | None = None,
    agency: str | None = None,
    today: dt.date | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ParseResult:
    """Needs from an HXL-tagged CSV (or XLSX); rows as ``parse_needs`` gives them.

    ``agency``: the importing user's agency; a row whose ``#org+code`` names
    another is an error (a local team imports only its own agency's needs).
    ``row_meta[i]`` holds ``{"agency": ..., "id": ...}`` when the file has them.
    """
    result = ParseResult(kind="needs")
    try:
        _parse_hxl(
            data,
            filename,
            content_type,
            result,
            known_ids=known_ids,
            agency=agency,
            today=today,
            max_rows=max_rows,
            max_bytes=max_bytes,
        )
    except UploadRejected as exc:
        result.errors = exc.errors
    return result.seal()


def _parse_hxl(
    data: bytes,
    filename: str | None,
    content_type: str | None,
    result: ParseResult,
    *,
    known_ids: KnownIds | None,
    agency: str | None,
    today: dt.date | None,
    max_rows: int,
    max_bytes: int,
) -> None:
    rows = data_rows(read_rows(data, filename, content_type, max_bytes=max_bytes))
    found = _find_hashtag_row(rows)
    if found is None:
        result.errors.append(
            ParseError(
                None,
                None,
                (
                    f"no HXL hashtag row in the first {HASHTAG_ROW_SCAN} rows: the row under "
                    "the headers must tag each column, e.g. #item+code, #loc+code, "
                    "#indicator+num+quantity"
                ),
            )
        )
        return
    tag_row, specs = found

    columns = {c.header: c for c in COLUMNS["needs"]}
    wanted: dict[str, tuple[int | None, str]] = {
        "item": (_first(specs, "#item", "code"), "#item+code"),
        "location": (_first(specs, "#loc", "code"), "#loc+code"),
        "quantity": (
            _first(specs, "#indicator", "quantity")
            if _first(specs, "#indicator", "quantity") is not None
            else _only(specs, "#indicator", "num"),
            "#indicator+num+quantity",
        ),
        "need_by": (
            _first(specs, "#date", "needed")
            if _first(specs, "#date", "needed") is not None
            else _only(specs, "#date"),
            "#date+needed",
        ),
        "priority": (
            _first(specs, "#severity")
            if _first(specs, "#severity") is not None
            else _first(specs, "#priority"),
            "#severity+priority",
        ),
    }
    index: dict[int, Column] = {}
    # Errors name the file's own hashtag, or the canonical one for a column it lacks.
    label: dict[str, str] = {header: tag for header, (_, tag) in wanted.items()}
    label["justification"] = "#description+justification"
    for header, (position, tag) in wanted.items():
        if position is None:
            result.errors.append(ParseError(tag_row, tag, f"no column tagged {tag}"))
            continue
        index[position] = columns[header]
        label[header] = _spec_text(specs, position)
    justification = _first(specs, "#description", "justification")
    if justification is None:
        justification = _first(specs, "#description", without=("reason",))
    if justification is not None:
        index[justification] = columns["justification"]
        label["justification"] = _spec_text(specs, justification)
    agency_at = _first(specs, "#org", "code", without=("supplier",))
    id_at = _first(specs, "#meta", "id", without=("offer",))
    if result.errors:
        return

    builder = RowBuilder("needs", known_ids, today)
    seen: dict[str, int] = {}
    count = 0
    for number, row in rows:
        count += 1
        if count > max_rows:
            raise too_many_rows(max_rows)
        errors_before, rows_before = len(result.errors), len(result.rows)
        meta: dict[str, Any] = {}
        if agency_at is not None and agency_at < len(row) and not v.is_blank(row[agency_at]):
            where = _spec_text(specs, agency_at)
            try:
                meta["agency"] = v.agency_code(row[agency_at])
            except v.CellProblem as problem:
                result.errors.append(ParseError(number, where, problem.reason))
            else:
                known = (known_ids or {}).get("agency")
                if known is not None and meta["agency"] not in known:
                    result.errors.append(ParseError(number, where, f"no agency {meta['agency']!r}"))
                if agency is not None and meta["agency"] != agency:
                    result.errors.append(
                        ParseError(
                            number,
                            where,
                            f"this need is {meta['agency']}'s; "
                            f"you can import only {agency}'s needs",
                        )
                    )
        if id_at is not None and id_at < len(row) and not v.is_blank(row[id_at]):
            where = _spec_text(specs, id_at)
            try:
                meta["id"] = v.text(row[id_at], max_length=64)
            except v.CellProblem as problem:
                result.errors.append(ParseError(number, where, problem.reason))
            else:
                first = seen.setdefault(str(meta["id"]), number)
                if first != number:
                    result.errors.append(
                        ParseError(number, where, f"need {meta['id']} already given in row {first}")
                    )
        parse_row(number, row, index, result, builder)
        # Name columns by their hashtags, as the file does.
        result.errors[errors_before:] = [
            ParseError(e.row, label.get(e.column or "", e.column), e.reason)
            for e in result.errors[errors_before:]
        ]
        if len(result.rows) > rows_before:
            result.row_meta[-1] = meta
    if count == 0:
        result.errors.append(ParseError(None, None, "the file has a hashtag row but no data rows"))
