"""Bounds and formats shared by path and query parameters.

``MAX_ID``: ids are 32-bit integer columns on PostgreSQL. A larger number names
no row, and would not even fit in the query (SQLite overflows, PostgreSQL
refuses the value), so the parameters that take an id say ``ge=1, le=MAX_ID``
and a larger one is a 422 like any other out-of-range input.

``IsoDate`` / ``IsoDateTime`` / ``IsoAwareDateTime``: Pydantic's lax mode also reads a
bare number as a Unix time (``0`` or ``"0"`` is 1970-01-01). Where the API documents an
ISO 8601 string (``format: date`` / ``date-time``), in a query or in a JSON body, it takes
only such a string; a date or datetime object (a Python caller) passes as it is.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from fastapi import Path
from pydantic import AwareDatetime, BeforeValidator, Strict
from starlette.convertors import Convertor, register_url_convertor

MAX_ID = 2_147_483_647
# Rows to skip in a list: the same ceiling, far past any table this service holds.
MAX_OFFSET = MAX_ID

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _iso_date(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("must be an ISO 8601 date, YYYY-MM-DD")
    return value


def _iso_datetime(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value
    if not isinstance(value, str) or not _ISO_DATETIME.match(value):
        raise ValueError("must be an ISO 8601 datetime, e.g. 2026-12-01T09:00:00Z")
    return value


def _integral_float(value: Any) -> Any:
    # JSON Schema's integer: 5.0 is a whole number like 5. Strict mode (below) refuses the
    # rest that lax mode would take: "5", true, 5.5.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# A JSON body's whole number, as the schema's ``type: integer`` reads it.
WholeNumber = Annotated[int, BeforeValidator(_integral_float), Strict()]

IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]
IsoDateTime = Annotated[dt.datetime, BeforeValidator(_iso_datetime)]
IsoAwareDateTime = Annotated[AwareDatetime, BeforeValidator(_iso_datetime)]

_CANONICAL_ID = re.compile(r"[1-9][0-9]*")


def _written_as_digits(value: Any) -> Any:
    # Lax mode reads "1.0", "+1", " 1" and "01" as 1: one row would have many URLs, and a
    # cache or a log keyed by the URL would take them for different rows.
    if isinstance(value, str) and not _CANONICAL_ID.fullmatch(value):
        raise ValueError("must be a row's id written in digits, e.g. 12")
    return value


# Put first in every path parameter that is a row's id: Annotated[int, DIGITS, Path(...)].
DIGITS = BeforeValidator(_written_as_digits)

# A path parameter that is a row's id.
IdPath = Annotated[int, DIGITS, Path(ge=1, le=MAX_ID)]


class IdConvertor(Convertor[str]):
    """``{offer_id:id}``: a path segment of digits, for a route whose path must not match
    its literal siblings (``/offers/import``). The text is handed on as it is, so that
    ``IdPath`` judges it like any other id (Starlette's ``:int`` turns ``01`` into 1)."""

    regex = "[0-9]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return str(value)


register_url_convertor("id", IdConvertor())
