"""``Page[T]`` responses and capped ``limit``/``offset`` parameters for list endpoints.

How a domain route uses it::

    from app.api import PageParamsDep, Page, paginate

    @router.get("/rounds/{round_id}/needs", response_model=Page[NeedRead])
    def list_needs(round_id: int, page: PageParamsDep, session: SessionDep,
                   user: CurrentUser, status: NeedStatus | None = None) -> Page[NeedRead]:
        stmt = needs_service.visible_needs(session, user, round_id, status=status)
        return paginate(session, stmt, page, NeedRead)

The statement must have a deterministic ``order_by`` (end with the primary
key), or rows may repeat or vanish between pages. ``limit`` defaults to
``settings.default_page_size``; above ``settings.max_page_size`` the request
is refused with 422 rather than silently cut, so a client never mistakes a
short page for the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from app.api.params import MAX_OFFSET
from app.errors import FieldIssue, InvalidInput
from app.settings import Settings, get_settings


class Page[T](BaseModel):
    items: list[T]
    total: int = Field(description="rows matching the filters, over all pages")
    limit: int
    offset: int
    next_offset: int | None = Field(description="offset of the next page; null on the last")


@dataclass(frozen=True)
class PageParams:
    limit: int
    offset: int


def page_params(
    settings: Annotated[Settings, Depends(get_settings)],
    limit: Annotated[
        int | None,
        Query(ge=1, description="rows per page; default and maximum are set by the service"),
    ] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="rows to skip")] = 0,
) -> PageParams:
    if limit is None:
        limit = settings.default_page_size
    if limit > settings.max_page_size:
        raise InvalidInput([FieldIssue("$.limit", f"must be at most {settings.max_page_size}")])
    return PageParams(limit=limit, offset=offset)


PageParamsDep = Annotated[PageParams, Depends(page_params)]


def paginate[S: BaseModel](
    session: Session, stmt: sa.Select[Any], params: PageParams, schema: type[S]
) -> Page[S]:
    """Run ``stmt`` for one page and count all matches; rows become ``schema`` objects."""
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery()))
    rows = session.scalars(stmt.limit(params.limit).offset(params.offset)).all()
    total = int(total or 0)
    end = params.offset + len(rows)
    return Page[schema](  # type: ignore[valid-type]
        items=[schema.model_validate(row) for row in rows],
        total=total,
        limit=params.limit,
        offset=params.offset,
        next_offset=end if end < total else None,
    )
