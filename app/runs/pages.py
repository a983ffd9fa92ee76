"""Pages over lists computed in memory (a plan's orders, statements, unmet needs)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from app.api import Page, PageParams


def page_of[S: BaseModel](rows: Sequence[S], params: PageParams, schema: type[S]) -> Page[S]:
    """The same page shape and caps as ``app.api.paginate``, over a list already in order."""
    chunk = list(rows[params.offset : params.offset + params.limit])
    end = params.offset + len(chunk)
    return Page[schema](  # type: ignore[valid-type]
        items=chunk,
        total=len(rows),
        limit=params.limit,
        offset=params.offset,
        next_offset=end if end < len(rows) else None,
    )
