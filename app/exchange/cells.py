"""Writing values into spreadsheets and CSV so that no spreadsheet ever runs them.

CSV/formula injection: a name, a justification or an unmet-need sentence that
starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return) would be
evaluated as a formula by a spreadsheet opening the file. Exports escape it:

* CSV: the text gets a leading apostrophe (``'=HYPERLINK(...)``), the OWASP
  recommendation; the importers drop it again (``app.exchange.values``), so
  our own files round-trip. Numbers are written as numbers (``-12.50`` is a
  negative saving, not a formula) and are never escaped.
* XLSX: the text is written as a string cell with the "quote prefix" style,
  which is how a spreadsheet stores a cell typed as ``'=...``: shown and kept
  as text, and still text when a person edits the cell. The value itself stays
  unchanged (reading it back gives the original text).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from app.exchange.values import FORMULA_CHARS

CENT = Decimal("0.01")
MONEY_FORMAT = "#,##0.00"
PRICE_FORMAT = "#,##0.00####"
DATE_FORMAT = "yyyy-mm-dd"


def natural_key(ref: Any) -> tuple[Any, ...]:
    """Sort key for ids with numbers in them: "n-9" before "n-12"."""
    return tuple((1, int(p)) if p.isdigit() else (0, p) for p in re.split(r"(\d+)", str(ref)))


def needs_escape(text: str) -> bool:
    return text.startswith(FORMULA_CHARS)


def csv_text(text: str) -> str:
    return f"'{text}" if needs_escape(text) else text


def to_decimal(value: Any) -> Decimal:
    """A plan's float as the decimal it was written as (0.1 -> 0.1, not 0.1000000000000000055)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    return Decimal(repr(float(value)))


def cents(value: Any) -> Decimal:
    """Money to the cent, half up, as every figure in a plan is given."""
    return to_decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def price(value: Any) -> Decimal:
    """A unit price or unit cost: kept to the six decimals the catalogue holds."""
    return to_decimal(value).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def iso_date(value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def plain_decimal(value: Decimal) -> str:
    """Plain notation, cents at least, no trailing zeros beyond: 9.40, 0.0125, 1504.00."""
    normal = value.normalize()
    exponent = normal.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -2:
        return format(value.quantize(CENT), "f")
    return format(normal, "f")


def csv_value(value: Any) -> str:
    """One value as CSV text: dates ISO, decimals in plain notation, text escaped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return plain_decimal(value)
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    return csv_text(str(value))
