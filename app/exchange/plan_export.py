"""A plan (with its problem document) as an XLSX workbook, or as CSV files.

Sheets, each a table with one header row:

* ``summary``: field / value pairs: the caller's ``info`` (round, run, ...),
  status, as_of, currency, purchase, shipping and money cost, penalties, late
  unit-days, unmet units, the pooled-vs-stand-alone baseline, solver figures;
* ``orders``: one line per pooled order (offer): supplier, item, quantity, the
  tier reached, unit price, packs and surplus (contract v2), goods cost, fee, cost;
* ``awards``: one line per (need, offer): the agency, item, location, units,
  unit price, value (units x unit price), need-by and delivery dates, days late;
* ``agencies``: allocated cost, stand-alone cost, savings and savings % per agency;
  its direct spend beside its budget, and with fairness its objective share beside
  its stand-alone value and its Shapley value (contract v2);
* ``rules``: one line per award rule: kind, scope, count or share, violation and
  the penalty paid (``kept`` when the violation is 0);
* ``coalitions``: the fairness verdict: coalitions checked, stable or not, the
  coalition with the largest excess and by how much it would do better alone;
* ``unmet``: one line per need left (partly) unmet: units, reason, sentence;
* ``shipments``: one line per route used (not asked for by name, but money
  cost is purchase plus shipping, and without it the totals cannot be checked).

Values keep their types: quantities and days are whole numbers, money is a
number rounded to the cent (formatted ``#,##0.00``), unit prices and unit
costs keep the catalogue's six decimals, dates are date cells (``yyyy-mm-dd``)
and ISO dates in CSV. Every figure is the plan's own (``app.runs.outputs``
does the same): nothing is recomputed except an award's value, its units times
its unit price. Text that a spreadsheet could run as a formula is escaped
(``app.exchange.cells``).

CSV: one file per sheet (UTF-8 with a byte-order mark, so Excel shows the
accents in Panamanian place names), as :func:`plan_csv`; or all of them in one
zip, as :func:`plan_csv_zip` -- a download is one file, and a zip of CSVs is
what a spreadsheet user expects when asking for "the plan as CSV".

A route::

    body = plan_xlsx(run.problem, run.plan, info={"round": round_.name, "run": run.id})
    return Response(body, media_type=XLSX_MEDIA_TYPE,
                    headers={"Content-Disposition": 'attachment; filename="plan.xlsx"'})
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from app.exchange import cells
from app.exchange.cells import natural_key
from app.exchange.table import XLSX_MEDIA_TYPE

Document = Mapping[str, Any]
ValueKind = Literal["text", "int", "money", "price", "date", "number", "percent", "any"]

SHEETS = ("summary", "orders", "awards", "agencies", "unmet", "shipments", "rules", "coalitions")
ZIP_MEDIA_TYPE = "application/zip"
__all__ = [
    "SHEETS",
    "XLSX_MEDIA_TYPE",
    "ZIP_MEDIA_TYPE",
    "Sheet",
    "plan_csv",
    "plan_csv_zip",
    "plan_sheets",
    "plan_xlsx",
]

_FORMATS: dict[str, str] = {
    "money": cells.MONEY_FORMAT,
    "price": cells.PRICE_FORMAT,
    "date": cells.DATE_FORMAT,
    "percent": "0.00",
    "number": "0.####",
}


@dataclass(frozen=True)
class Sheet:
    """One table: its name, (header, kind) per column, and rows of typed values.

    ``value_kinds``: for ``summary``, whose one value column mixes types, the
    kind of each row's value (for its number format).
    """

    name: str
    columns: tuple[tuple[str, ValueKind], ...]
    rows: list[list[Any]]
    value_kinds: tuple[ValueKind, ...] | None = None

    @property
    def headers(self) -> list[str]:
        return [h for h, _ in self.columns]


def _names(problem: Document, key: str) -> dict[str, Mapping[str, Any]]:
    return {entry["id"]: entry for entry in problem.get(key, []) or []}


def _typed(kind: ValueKind, value: Any) -> Any:
    if value is None:
        return None
    if kind == "money":
        return cells.cents(value)
    if kind == "price":
        return cells.price(value)
    if kind == "date":
        return cells.iso_date(value)
    if kind == "int":
        return int(value)
    if kind in ("number", "percent"):
        return float(value)
    if kind == "text":
        return str(value)
    return value


def _sheet(name: str, columns: Sequence[tuple[str, ValueKind]], rows: list[list[Any]]) -> Sheet:
    kinds = [k for _, k in columns]
    return Sheet(
        name,
        tuple(columns),
        [[_typed(k, value) for k, value in zip(kinds, row, strict=True)] for row in rows],
    )


# Other domains' tables (the deliveries' supplier record, results) are built the same way.
make_sheet = _sheet


# The columns the awards and unmet sheets start with (``need_cells`` in ``plan_sheets``).
_NEED_COLUMNS: tuple[tuple[str, ValueKind], ...] = (
    ("need", "text"),
    ("agency", "text"),
    ("item", "text"),
    ("item_name", "text"),
    ("location", "text"),
    ("location_name", "text"),
)


def plan_sheets(
    problem: Document, plan: Document, *, info: Mapping[str, Any] | None = None
) -> dict[str, Sheet]:
    """Every sheet of the export, keyed by name, in SHEETS order."""
    agencies = _names(problem, "agencies")
    items = _names(problem, "items")
    locations = _names(problem, "locations")
    suppliers = _names(problem, "suppliers")
    needs = _names(problem, "needs")
    currency = str(problem.get("currency", ""))
    shares = {f["agency"]: f for f in (plan.get("fairness") or {}).get("agencies", [])}

    def name(table: dict[str, Mapping[str, Any]], ref: Any) -> str:
        return str(table.get(ref, {}).get("name", ""))

    def need_cells(ref: Any, need: Mapping[str, Any]) -> list[Any]:
        """The cells under ``_NEED_COLUMNS``: the need, its agency, item and location."""
        return [
            ref,
            need.get("agency", ""),
            need.get("item", ""),
            name(items, need.get("item")),
            need.get("location", ""),
            name(locations, need.get("location")),
        ]

    orders = [
        [
            o["supplier"],
            name(suppliers, o["supplier"]),
            o["offer"],
            o["item"],
            name(items, o["item"]),
            items.get(o["item"], {}).get("unit", ""),
            o["quantity"],
            o["tier_min_quantity"],
            o["unit_price"],
            o.get("packs"),
            o.get("surplus"),
            o.get("goods_cost", o["cost"]),
            o.get("fee", 0),
            o["cost"],
            currency,
        ]
        for o in sorted(
            plan.get("orders", []),
            key=lambda o: (natural_key(o["supplier"]), natural_key(o["offer"])),
        )
    ]
    awards = []
    for a in sorted(
        plan.get("awards", []), key=lambda a: (natural_key(a["need"]), natural_key(a["offer"]))
    ):
        need = needs.get(a["need"], {})
        value = cells.cents(cells.to_decimal(a["unit_price"]) * int(a["quantity"]))
        awards.append(
            [
                *need_cells(a["need"], need),
                a["supplier"],
                name(suppliers, a["supplier"]),
                a["offer"],
                a["quantity"],
                a["unit_price"],
                value,
                need.get("need_by"),
                a["delivery_date"],
                a["late_days"],
                need.get("priority", ""),
                currency,
            ]
        )
    agency_rows = [
        [
            g["agency"],
            name(agencies, g["agency"]),
            g["allocated_cost"],
            g["standalone_cost"],
            g["savings"],
            g["savings_pct"],
            g.get("standalone_objective"),
            g.get("standalone_status", ""),
            g.get("direct_spend"),
            g.get("budget"),
            shares.get(g["agency"], {}).get("objective_share"),
            shares.get(g["agency"], {}).get("shapley"),
            currency,
        ]
        for g in sorted(plan.get("agencies", []), key=lambda g: natural_key(g["agency"]))
    ]
    unmet = []
    for u in sorted(plan.get("unmet", []), key=lambda u: natural_key(u["need"])):
        need = needs.get(u["need"], {})
        unmet.append(
            [
                *need_cells(u["need"], need),
                need.get("quantity"),
                u["quantity"],
                need.get("need_by"),
                need.get("priority", ""),
                u["reason"],
                u.get("detail", ""),
            ]
        )
    shipments = [
        [
            s["supplier"],
            name(suppliers, s["supplier"]),
            s["location"],
            name(locations, s["location"]),
            s["quantity"],
            s["fixed_cost"],
            s["unit_cost"],
            s["cost"],
            currency,
        ]
        for s in sorted(
            plan.get("shipments", []),
            key=lambda s: (natural_key(s["supplier"]), natural_key(s["location"])),
        )
    ]

    return {
        "summary": _summary(problem, plan, info),
        "orders": _sheet(
            "orders",
            (
                ("supplier", "text"),
                ("supplier_name", "text"),
                ("offer", "text"),
                ("item", "text"),
                ("item_name", "text"),
                ("unit", "text"),
                ("quantity", "int"),
                ("tier_min_quantity", "int"),
                ("unit_price", "price"),
                ("packs", "int"),
                ("surplus", "int"),
                ("goods_cost", "money"),
                ("fee", "money"),
                ("cost", "money"),
                ("currency", "text"),
            ),
            orders,
        ),
        "awards": _sheet(
            "awards",
            (
                *_NEED_COLUMNS,
                ("supplier", "text"),
                ("supplier_name", "text"),
                ("offer", "text"),
                ("quantity", "int"),
                ("unit_price", "price"),
                ("value", "money"),
                ("need_by", "date"),
                ("delivery_date", "date"),
                ("late_days", "int"),
                ("priority", "text"),
                ("currency", "text"),
            ),
            awards,
        ),
        "agencies": _sheet(
            "agencies",
            (
                ("agency", "text"),
                ("agency_name", "text"),
                ("allocated_cost", "money"),
                ("standalone_cost", "money"),
                ("savings", "money"),
                ("savings_pct", "percent"),
                ("standalone_objective", "number"),
                ("standalone_status", "text"),
                ("direct_spend", "money"),
                ("budget", "money"),
                ("objective_share", "number"),
                ("shapley", "number"),
                ("currency", "text"),
            ),
            agency_rows,
        ),
        "unmet": _sheet(
            "unmet",
            (
                *_NEED_COLUMNS,
                ("need_quantity", "int"),
                ("unmet_quantity", "int"),
                ("need_by", "date"),
                ("priority", "text"),
                ("reason", "text"),
                ("detail", "text"),
            ),
            unmet,
        ),
        "shipments": _sheet(
            "shipments",
            (
                ("supplier", "text"),
                ("supplier_name", "text"),
                ("location", "text"),
                ("location_name", "text"),
                ("quantity", "int"),
                ("fixed_cost", "money"),
                ("unit_cost", "price"),
                ("cost", "money"),
                ("currency", "text"),
            ),
            shipments,
        ),
        "rules": _rules_sheet(problem, plan),
        "coalitions": _coalitions_sheet(plan),
    }


def _rules_sheet(problem: Document, plan: Document) -> Sheet:
    """Each rule as the problem states it beside what the plan made of it."""
    stated = _names(problem, "rules")
    rows = []
    for r in plan.get("rules", []) or []:
        rule = stated.get(r["rule"], {})
        rows.append(
            [
                r["rule"],
                rule.get("kind", ""),
                rule.get("item", ""),
                rule.get("location", ""),
                rule.get("supplier", ""),
                rule.get("limit"),
                rule.get("share"),
                r.get("count"),
                r.get("share"),
                r["violation"],
                r["penalty"],
                "broken" if r["violation"] else "kept",
            ]
        )
    return _sheet(
        "rules",
        (
            ("rule", "text"),
            ("kind", "text"),
            ("item", "text"),
            ("location", "text"),
            ("supplier", "text"),
            ("limit", "int"),
            ("share_asked", "number"),
            ("count", "int"),
            ("share", "number"),
            ("violation", "number"),
            ("penalty", "number"),
            ("verdict", "text"),
        ),
        rows,
    )


def _coalitions_sheet(plan: Document) -> Sheet:
    """The fairness verdict, one field a line (empty when fairness was not asked)."""
    fairness = plan.get("fairness") or {}
    rows: list[list[Any]] = []
    if fairness:
        rows = [
            ["coalitions_checked", fairness.get("coalitions")],
            ["exhaustive", fairness.get("exhaustive")],
            ["stable", fairness.get("stable")],
            ["worst_coalition", " + ".join(fairness.get("coalition") or [])],
            ["max_excess", fairness.get("max_excess")],
            ["epsilon", fairness.get("epsilon")],
        ]
    return _sheet("coalitions", (("field", "text"), ("value", "any")), rows)


def _summary(problem: Document, plan: Document, info: Mapping[str, Any] | None) -> Sheet:
    baseline = plan.get("baseline", {}) or {}
    solver = plan.get("solver", {}) or {}
    rows: list[tuple[str, ValueKind, Any]] = [(str(k), "any", v) for k, v in (info or {}).items()]
    rows += [
        ("status", "text", plan.get("status")),
        ("as_of", "date", problem.get("as_of")),
        ("currency", "text", problem.get("currency")),
        ("purchase_cost", "money", plan.get("purchase_cost")),
        ("shipping_cost", "money", plan.get("shipping_cost")),
        ("money_cost", "money", plan.get("money_cost")),
        ("late_penalty", "number", plan.get("late_penalty")),
        ("late_unit_days", "int", plan.get("late_unit_days")),
        ("unmet_penalty", "number", plan.get("unmet_penalty")),
        ("unmet_units", "int", plan.get("unmet_units")),
        ("objective", "number", plan.get("objective")),
        ("bound", "number", plan.get("bound")),
        ("relative_gap", "number", plan.get("relative_gap")),
        ("standalone_money_cost", "money", baseline.get("standalone_money_cost")),
        ("pooled_money_cost", "money", baseline.get("pooled_money_cost")),
        ("savings", "money", baseline.get("savings")),
        ("savings_pct", "percent", baseline.get("savings_pct")),
        ("orders", "int", len(plan.get("orders", []))),
        ("awards", "int", len(plan.get("awards", []))),
        ("unmet_needs", "int", len(plan.get("unmet", []))),
        ("solver", "text", solver.get("name")),
        ("solver_seconds", "number", solver.get("seconds")),
    ]
    return Sheet(
        "summary",
        (("field", "text"), ("value", "any")),
        [[field, _typed(kind, value)] for field, kind, value in rows],
        value_kinds=tuple(kind for _, kind, _ in rows),
    )


# --------------------------------------------------------------------------- XLSX


def plan_xlsx(problem: Document, plan: Document, *, info: Mapping[str, Any] | None = None) -> bytes:
    """The plan as an XLSX workbook (sheets in SHEETS order)."""
    return workbook_bytes(
        plan_sheets(problem, plan, info=info).values(), title="Pooled procurement plan"
    )


def workbook_bytes(sheets: Iterable[Sheet], *, title: str) -> bytes:
    """Tables as an XLSX workbook, one sheet each, typed and formatted as a plan's."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    workbook.properties.creator = "poolbuy"
    workbook.properties.title = title
    bold = Font(bold=True)

    for sheet in sheets:
        ws = workbook.create_sheet(sheet.name)
        widths = [max(10, len(h) + 2) for h in sheet.headers]
        for i, width in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(i)].width = min(width, 40)
        ws.freeze_panes = "A2"

        header = []
        for h in sheet.headers:
            cell = WriteOnlyCell(ws, value=h)
            cell.font = bold
            header.append(cell)
        ws.append(header)
        kinds: list[str] = [k for _, k in sheet.columns]
        for i, row in enumerate(sheet.rows):
            if sheet.value_kinds is not None:
                kinds = ["text", sheet.value_kinds[i]]
            ws.append(
                [
                    _xlsx_cell(ws, WriteOnlyCell, value, kind)
                    for value, kind in zip(row, kinds, strict=True)
                ]
            )
        if sheet.rows and sheet.value_kinds is None:
            ws.auto_filter.ref = f"A1:{get_column_letter(len(kinds))}{len(sheet.rows) + 1}"

    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _xlsx_cell(ws: Any, factory: Any, value: Any, kind: str) -> Any:
    cell = factory(ws, value=value)
    if isinstance(value, str):
        if cells.needs_escape(value):
            # Kept verbatim, stored as text, shown as text: never run (see cells).
            cell.data_type = "s"
            cell.quotePrefix = True
    elif value is not None and kind in _FORMATS:
        cell.number_format = _FORMATS[kind]
    elif value is not None and hasattr(value, "isoformat"):
        cell.number_format = cells.DATE_FORMAT
    return cell


# --------------------------------------------------------------------------- CSV


def plan_csv(
    problem: Document, plan: Document, sheet: str, *, info: Mapping[str, Any] | None = None
) -> bytes:
    """One sheet as CSV (UTF-8 with a byte-order mark)."""
    sheets = plan_sheets(problem, plan, info=info)
    if sheet not in sheets:
        raise ValueError(f"unknown sheet {sheet!r}; one of {', '.join(SHEETS)}")
    return sheet_csv(sheets[sheet])


def sheet_csv(sheet: Sheet) -> bytes:
    """One table as CSV (UTF-8 with a byte-order mark), values as the plan's CSV writes them."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(sheet.headers)
    for row in sheet.rows:
        writer.writerow([cells.csv_value(value) for value in row])
    return out.getvalue().encode("utf-8-sig")


def plan_csv_zip(
    problem: Document,
    plan: Document,
    *,
    info: Mapping[str, Any] | None = None,
    prefix: str = "plan",
) -> bytes:
    """Every sheet as ``<prefix>-<sheet>.csv`` in one zip."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for sheet in plan_sheets(problem, plan, info=info).values():
            archive.writestr(f"{prefix}-{sheet.name}.csv", sheet_csv(sheet))
    return out.getvalue()
