"""One cell of an upload to a typed value, or the reason it cannot be one.

Every importer (spreadsheet templates, HXL) reads cells through these, so a
quantity, a price or a date means the same thing whatever the file.

What a cell can hold depends on where it came from:

* a CSV cell is always text (``str``); the converters parse it;
* an XLSX cell arrives typed: ``int``/``float`` numbers, ``datetime`` for
  date-formatted cells, ``bool``, :class:`SheetText` for string cells,
  :class:`Formula` and :class:`SheetError` for formula and error cells.

Formulas (CSV/formula injection). A CSV cell is untyped: text starting with
``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return) is what a
spreadsheet would run as a formula, so it is **rejected**, unless it is a
number in a number column (``-5`` is minus five, then refused by the range
check). To mean such text on purpose, start the cell with an apostrophe, as
spreadsheets themselves do (``'- urgent``): the apostrophe is dropped and the
rest kept as text. Our own CSV exports write text that way, so they read back
unchanged. An XLSX formula cell is rejected (its cached result may be stale or
missing: paste values instead); an XLSX string cell is text whatever its first
character, since the spreadsheet stored it as text and never runs it.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from solver.problem import MAX_UNITS

# What OWASP lists as the start of a formula in a spreadsheet cell.
FORMULA_CHARS = ("=", "+", "-", "@", "\t", "\r")

# The database's limits: INTEGER quantities, NUMERIC(18, 6) money, and the
# catalogue's ten-year bound on lead and transit times.
INT32_MAX = 2_147_483_647
# The engine's bound on any count of units (needs, receipts): one limit for
# every way in, so a sheet cannot carry what the solver would refuse.
NEED_QUANTITY_MAX = MAX_UNITS
MONEY_PLACES = 6
MONEY_MAX = Decimal(10) ** 12 - 1
DAYS_MAX = 3650
TEXT_MAX = 4000

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
AGENCY_RE = re.compile(r"^[A-Z][A-Z0-9-]{1,15}$")
# Plain decimal notation only: no thousands separators, no "1_000", no nan/inf.
_NUMBER_RE = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_NOT_FINITE = {
    "nan",
    "+nan",
    "-nan",
    "inf",
    "+inf",
    "-inf",
    "infinity",
    "+infinity",
    "-infinity",
    "#num!",
    "#div/0!",
}
_ISO_DATE_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ]00:00(?::00(?:\.0+)?)?)?$")
PRIORITIES = ("critical", "high", "normal")


class SheetText(str):
    """Text from an XLSX string cell: stored as text by the spreadsheet, never a formula."""

    __slots__ = ()


class Formula(str):
    """An XLSX formula cell (its text, e.g. ``=SUM(A1:A3)``)."""

    __slots__ = ()


class SheetError(str):
    """An XLSX error cell (``#N/A``, ``#DIV/0!``)."""

    __slots__ = ()


class CellProblem(ValueError):
    """Why a cell cannot be read as the column's type; the message is shown to the user."""

    @property
    def reason(self) -> str:
        return str(self.args[0])


def show(number: Decimal) -> str:
    """A decimal as a person writes it: 1.2, not 1.200000 or 1.2E+1."""
    return format(number.normalize(), "f") if number == number else str(number)


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _looks_like_formula(text: str) -> bool:
    return text.startswith(FORMULA_CHARS)


def _plain_text(value: Any) -> str:
    """The cell as text, refusing formulas, errors and what is not text-like."""
    if isinstance(value, Formula):
        raise CellProblem("is a formula; type or paste the value itself (formulas are not read)")
    if isinstance(value, SheetError):
        raise CellProblem(f"shows a spreadsheet error ({value}); correct the cell")
    if isinstance(value, bool):
        raise CellProblem("must be text, not TRUE/FALSE")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CellProblem("must be text, not a number")
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.date | dt.time):
        raise CellProblem("must be text, not a date")
    if isinstance(value, SheetText):
        return value.strip()
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("'") and text[1:2] and _looks_like_formula(text[1:]):
            # The apostrophe escape: text meant literally (see the module docstring).
            return text[1:]
        if _looks_like_formula(text):
            raise CellProblem(
                f"starts with {text[0]!r}, which a spreadsheet runs as a formula; "
                "remove it, or start the cell with an apostrophe to mean it as text"
            )
        return text
    raise CellProblem("must be text")


def text(value: Any, *, max_length: int = TEXT_MAX) -> str | None:
    """Free text (a justification, a reference); None when blank."""
    if is_blank(value):
        return None
    result = _plain_text(value)
    if len(result) > max_length:
        raise CellProblem(f"is {len(result)} characters long; at most {max_length}")
    if "\x00" in result:
        raise CellProblem("contains a NUL character")
    return result


def code(value: Any) -> str | None:
    """An item, location or supplier id: letters, digits, '.', '_', '-'; None when blank."""
    result = text(value, max_length=64)
    if result is None:
        return None
    if not CODE_RE.match(result):
        raise CellProblem(
            "must be an id of letters, digits, '.', '_' or '-', starting with a letter or "
            "digit (at most 64 characters)"
        )
    return result


def agency_code(value: Any) -> str:
    result = text(value, max_length=16)
    if result is None:
        raise CellProblem("an agency code is empty")
    result = result.upper()
    if not AGENCY_RE.match(result):
        raise CellProblem(f"{result!r} is not an agency code (e.g. IOM, WHO-PAHO)")
    return result


def _number(value: Any) -> Decimal | None:
    """The cell as an exact decimal; None when blank."""
    if is_blank(value):
        return None
    if isinstance(value, Formula | SheetError):
        _plain_text(value)
    if isinstance(value, bool):
        raise CellProblem("must be a number, not TRUE/FALSE")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CellProblem("must be a finite number")
        # repr is the shortest text that reads back as the same float: 1.2, not 1.19999...
        return Decimal(repr(value))
    if isinstance(value, dt.date | dt.time):
        raise CellProblem("must be a number, not a date")
    if isinstance(value, str):
        raw = value.strip()
        if len(raw) > 64:
            raise CellProblem("must be a number (this cell is far too long for one)")
        if raw.lower() in _NOT_FINITE:
            raise CellProblem("must be a finite number")
        if not _NUMBER_RE.match(raw):
            if not isinstance(value, SheetText) and _looks_like_formula(raw):
                _plain_text(raw)
            if "," in raw:
                raise CellProblem(
                    "must be a number written without thousands separators and with a dot "
                    "for decimals (1234.5)"
                )
            raise CellProblem("must be a number")
        try:
            return Decimal(raw)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
            raise CellProblem("must be a number") from None
    raise CellProblem("must be a number")


def whole(value: Any, *, minimum: int = 0, maximum: int = INT32_MAX) -> int | None:
    """A whole number in [minimum, maximum]; None when blank."""
    number = _number(value)
    if number is None:
        return None
    # Range first: 1e308 or 1e999999 must not reach integer conversion.
    if number > maximum:
        raise CellProblem(f"must be at most {maximum:,}")
    if number < minimum:
        raise CellProblem(f"must be at least {minimum}")
    if number != number.to_integral_value():
        raise CellProblem("must be a whole number")
    return int(number)


def money(value: Any) -> Decimal | None:
    """A non-negative amount with at most six decimals; None when blank."""
    number = _number(value)
    if number is None:
        return None
    if number > MONEY_MAX:
        raise CellProblem(f"must be at most {MONEY_MAX}")
    if number < 0:
        raise CellProblem("must not be negative")
    quantum = Decimal(1).scaleb(-MONEY_PLACES)
    rounded = number.quantize(quantum)
    if rounded != number:
        # A spreadsheet's binary float can carry noise past the sixth decimal
        # (0.1 + 0.2); that is not a price anyone typed.
        if isinstance(value, float) and abs(rounded - number) < Decimal("1e-9"):
            return rounded
        raise CellProblem(f"must have at most {MONEY_PLACES} decimal places")
    return rounded


def date(value: Any) -> dt.date | None:
    """An ISO date (2026-12-20) or a date cell; None when blank."""
    if is_blank(value):
        return None
    if isinstance(value, Formula | SheetError):
        _plain_text(value)
    if isinstance(value, dt.datetime):
        if value.time() != dt.time(0):
            raise CellProblem("must be a date without a time of day")
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, bool | int | float | dt.time):
        raise CellProblem("must be a date: write it as 2026-12-20, or format the cell as a date")
    if isinstance(value, str):
        raw = value.strip()
        match = _ISO_DATE_RE.match(raw)
        if match is None:
            if not isinstance(value, SheetText) and _looks_like_formula(raw):
                _plain_text(raw)
            raise CellProblem("must be a date written as YYYY-MM-DD, e.g. 2026-12-20")
        try:
            return dt.date.fromisoformat(match.group(1))
        except ValueError:
            raise CellProblem(f"{match.group(1)} is not a calendar date") from None
    raise CellProblem("must be a date")


def priority(value: Any) -> str | None:
    """critical, high or normal (any case); None when blank."""
    result = text(value, max_length=32)
    if result is None:
        return None
    level = result.lower()
    if level not in PRIORITIES:
        raise CellProblem(f"must be one of {', '.join(PRIORITIES)}")
    return level


def agency_list(value: Any) -> list[str] | None:
    """Eligible agencies: blank = every agency (None), "none" = no agency ([]), else codes.

    Codes are separated by semicolons; a comma is refused rather than guessed at,
    since a CSV cell with commas is easy to split wrongly.
    """
    raw = text(value, max_length=TEXT_MAX)
    if raw is None:
        return None
    if raw.lower() == "none":
        return []
    if "," in raw:
        raise CellProblem("separate agency codes with semicolons (IOM;UNHCR), not commas")
    codes: list[str] = []
    for part in raw.split(";"):
        if not part.strip():
            continue
        agency = agency_code(part)
        if agency not in codes:
            codes.append(agency)
    if not codes:
        raise CellProblem('list agency codes separated by semicolons, "none", or leave it blank')
    return codes
