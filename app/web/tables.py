"""Sortable, paginated tables: one mechanism for every list page.

A page declares its table once, with the columns it may be sorted by (each a SQL
expression: a column of the listed row, or a correlated subquery such as a supplier's
name) and its default order::

    ROUNDS = Table(
        {"name": Round.name, "status": Round.status, "deadline": Round.deadline},
        key=Round.id, default="id", default_dir="desc", per_page=25,
    )

    view = ROUNDS.read(request, settings)          # ?sort=&dir=&page=&per_page=
    listing = ROUNDS.page(session, stmt, view, RoundRead)

and its template writes each sortable heading with ``m.sort_th(view, "name", "Name",
request)`` and the pager with ``m.pages(listing, request, "rounds")``
(``templates/_macros.html``). The statement's own order is replaced by the chosen
column, then the table's ``key`` in the same direction (a deterministic order, so no
row repeats or vanishes between pages); rows without a value come last either way. The
database sorts and cuts the rows (``app.api.pagination.paginate``); Python never sees
more than one page.

Links, not scripts: a heading is a link to the same page sorted by its column (asc
first, then the other way), ``aria-sort`` marks the sorted heading, and every link keeps
the page's other query parameters (its filters) and goes back to page 1 on a new order.

Wrong parameters are refused, not guessed: an unknown column, a direction other than
``asc``/``desc``, or a ``page`` or ``per_page`` that is not a whole number from 1
(``per_page`` at most the service's ``max_page_size``) answer 400 with the pages' usual
error page, in words that say what the list can be sorted by. A hand-edited link then
never shows a list in an order other than the one it asks for. A page past the last one
is not an error (rows may have gone since the link was made): the last page is shown,
and its pager says so ("page 3 of 3").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from fastapi import Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from app.api import PageParams, paginate
from app.api.params import MAX_OFFSET
from app.errors import DomainError
from app.settings import Settings

Direction = Literal["asc", "desc"]
DIRECTIONS: tuple[Direction, ...] = ("asc", "desc")
REFUSED_TITLE = "This list cannot be shown that way"


class BadTableRequest(DomainError):
    """A sort column, direction or page that the list does not have (400)."""

    def __init__(self, detail: str) -> None:
        super().__init__(400, REFUSED_TITLE, detail)


@dataclass(frozen=True)
class View:
    """How the request asks for the table: sorted by ``sort`` in ``dir``, one page of it."""

    sort: str
    dir: Direction
    page: int
    per_page: int

    def next_dir(self, column: str) -> Direction:
        """The direction a click on ``column``'s heading asks for."""
        return "desc" if column == self.sort and self.dir == "asc" else "asc"

    def aria_sort(self, column: str) -> str | None:
        if column != self.sort:
            return None
        return "ascending" if self.dir == "asc" else "descending"


@dataclass(frozen=True)
class Listing[T]:
    """One page of a sorted table: its rows and where it is among all pages."""

    items: list[T]
    total: int
    number: int
    pages: int
    per_page: int

    @property
    def first(self) -> int:
        """Position (from 1) of the page's first row; 0 when there is none."""
        return (self.number - 1) * self.per_page + 1 if self.items else 0

    @property
    def last(self) -> int:
        return (self.number - 1) * self.per_page + len(self.items)


def _whole(value: str, name: str, largest: int) -> int:
    text = value.strip()
    if not text.isdigit() or int(text) < 1 or int(text) > largest:
        raise BadTableRequest(
            f"The {name} must be a whole number from 1 to {largest:,}; “{value[:40]}” is not."
        )
    return int(text)


class Table:
    """The columns a list may be sorted by, its default order and page size."""

    def __init__(
        self,
        columns: Mapping[str, Any],
        *,
        key: Any,
        default: str,
        default_dir: Direction = "asc",
        per_page: int = 50,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        self.columns = {default: key, **columns} if default not in columns else dict(columns)
        self.key = key
        self.default = default
        self.default_dir = default_dir
        self.per_page = per_page
        self.labels = dict(labels or {})

    def read(self, request: Request, settings: Settings) -> View:
        """The request's ``sort``, ``dir``, ``page`` and ``per_page``, checked (see the
        module's docstring for what is refused)."""
        query = request.query_params
        sort = query.get("sort") or self.default
        if sort not in self.columns:
            names = ", ".join(self.labels.get(c, c) for c in self.columns)
            raise BadTableRequest(
                f"This list cannot be sorted by “{sort[:40]}”. It can be sorted by: {names}. "
                "Use the links in the table's headings."
            )
        direction = query.get("dir") or (self.default_dir if sort == self.default else "asc")
        if direction not in DIRECTIONS:
            raise BadTableRequest(
                f"A list is sorted “asc” (A to Z, smallest first) or “desc” (the other way); "
                f"“{direction[:40]}” is neither."
            )
        largest = max(1, settings.max_page_size)
        per_page = (
            _whole(query["per_page"], "number of rows per page", largest)
            if "per_page" in query
            else min(self.per_page, largest)
        )
        page = (
            _whole(query["page"], "page number", MAX_OFFSET // per_page) if "page" in query else 1
        )
        return View(sort, direction, page, per_page)

    def order(self, stmt: sa.Select[Any], view: View) -> sa.Select[Any]:
        """``stmt`` ordered as ``view`` asks, rows without a value last, then by the key."""
        column = self.columns[view.sort]
        ascending = view.dir == "asc"
        clauses: list[Any] = [column.asc() if ascending else column.desc()]
        if _nullable(column):
            clauses.insert(0, sa.case((column.is_(None), 1), else_=0))
        if column is not self.key:
            clauses.append(self.key.asc() if ascending else self.key.desc())
        return stmt.order_by(None).order_by(*clauses)

    def page[S: BaseModel](
        self, session: Session, stmt: sa.Select[Any], view: View, schema: type[S]
    ) -> Listing[S]:
        """The page of ``stmt`` the view asks for (the last one when it asks past the end)."""
        ordered = self.order(stmt, view)
        params = PageParams(limit=view.per_page, offset=(view.page - 1) * view.per_page)
        found = paginate(session, ordered, params, schema)
        pages = max(1, math.ceil(found.total / view.per_page))
        number = view.page
        if number > pages:
            number = pages
            params = PageParams(limit=view.per_page, offset=(pages - 1) * view.per_page)
            found = paginate(session, ordered, params, schema)
        return Listing(list(found.items), found.total, number, pages, view.per_page)


def _nullable(column: Any) -> bool:
    """Whether rows may lack the value (an expression: assume so). A NOT NULL column is
    ordered by itself alone, so the database can read it in its index's order."""
    try:
        return bool(column.property.columns[0].nullable)
    except (AttributeError, IndexError):
        return True


def name_of(model: Any, foreign_key: Any) -> Any:
    """The name of the row ``foreign_key`` points at, as a sortable expression (a correlated
    subquery: the listed statement needs no join)."""
    return sa.select(model.name).where(model.id == foreign_key).scalar_subquery()


def ranked(column: Any, order: list[str]) -> Any:
    """A column of words sorted by their rank in ``order`` (critical before high ...)."""
    return sa.case(
        {value: rank for rank, value in enumerate(order)}, value=column, else_=len(order)
    )
