"""ETags from a row's id and ``version``, and ``If-Match`` on updates (412 / 428).

How a domain route and service use it::

    from app.api import IfMatchDep, set_etag

    @router.get("/needs/{need_id}", response_model=NeedRead)
    def read_need(need_id: int, session: SessionDep, user: CurrentUser,
                  response: Response) -> Need:
        need = needs_service.get(session, user, need_id)
        set_etag(response, need)
        return need

    @router.patch("/needs/{need_id}", response_model=NeedRead)
    def update_need(need_id: int, body: NeedUpdate, session: SessionDep,
                    user: CurrentUser, if_match: IfMatchDep, response: Response) -> Need:
        need = needs_service.update(session, user, need_id, body, if_match)
        set_etag(response, need)
        return need

    # in the service, after loading the row and before changing it:
    if_match.check(need)          # 412 PreconditionFailed when the ETag is stale

A missing ``If-Match`` on a route that takes ``IfMatchDep`` is 428
(``PreconditionRequired``). A write that races past the check is still caught:
the UPDATE is conditional on ``version`` and ``get_session`` turns the
resulting ``StaleDataError`` into 412 as well.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Header, Response

from app.errors import PreconditionFailed, PreconditionRequired


def etag_for(row: Any) -> str:
    """A strong, opaque ETag: a digest of the row's table, primary key and version."""
    state = sa.inspect(row)
    identity = state.identity if state.identity is not None else ()
    material = f"{state.mapper.local_table.name}:{identity!r}:{row.version}"
    return '"' + hashlib.sha256(material.encode()).hexdigest()[:24] + '"'


def set_etag(response: Response, row: Any) -> None:
    response.headers["ETag"] = etag_for(row)


def _parse(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


@dataclass(frozen=True)
class IfMatch:
    """The ETags a client says it read; ``check(row)`` refuses a stale write."""

    tags: tuple[str, ...]

    def matches(self, row: Any) -> bool:
        if "*" in self.tags:
            return True
        # RFC 9110: If-Match uses strong comparison, so weak tags never match.
        return etag_for(row) in self.tags

    def check(self, row: Any) -> None:
        if not self.matches(row):
            raise PreconditionFailed(
                "the resource changed since you read it; GET it again and retry with its ETag"
            )


def require_if_match(
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            description="the ETag from your last read of this resource",
            examples=['"5d1f0b0e4c2a9e7f3b6a1c2d"'],
        ),
    ] = None,
) -> IfMatch:
    tags = tuple(_parse(if_match or ""))
    if not tags:
        raise PreconditionRequired()
    return IfMatch(tags)


IfMatchDep = Annotated[IfMatch, Depends(require_if_match)]
