"""The request's side of the idempotency store: the ``Idempotency-Key`` header, and a replay.

The store (``app.api.idempotency``) knows no web framework; this module reads the
header and the body, and answers an earlier identical request's stored response.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse

from app.api.idempotency import REPLAYED_HEADER, Idempotency
from app.auth.deps import CurrentUser
from app.db import SessionDep


class RequestIdempotency(Idempotency):
    """The store, held by a route: ``replay`` answers a retry."""

    def replay(self) -> JSONResponse | None:
        """The stored response of an earlier identical request, or None to go ahead."""
        stored = self.stored()
        if stored is None:
            return None
        headers = {**(stored.response_headers or {}), REPLAYED_HEADER: "true"}
        return JSONResponse(
            stored.response_body, status_code=stored.response_status, headers=headers
        )


IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="any unique string (a UUID); a retry with the same key and body "
        "returns the first response and creates nothing",
        examples=["5f0c6a8e-3b7d-4d7a-9d43-2b0f1c8e9a10"],
    ),
]


async def get_idempotency(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    idempotency_key: IdempotencyKeyHeader = None,
) -> RequestIdempotency:
    return RequestIdempotency.for_request(
        session,
        user,
        idempotency_key,
        method=request.method,
        path=request.url.path,
        query=request.url.query,
        body=await request.body(),
    )


IdempotencyDep = Annotated[RequestIdempotency, Depends(get_idempotency)]
