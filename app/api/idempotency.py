"""``Idempotency-Key`` on create POSTs: a retried request creates nothing twice.

How a domain route and service use it::

    from app.api import IdempotencyDep

    @router.post("/rounds/{round_id}/needs", status_code=201, response_model=NeedRead)
    def create_need(round_id: int, body: NeedCreate, session: SessionDep,
                    user: CurrentUser, idem: IdempotencyDep) -> Any:
        if (replay := idem.replay()) is not None:
            return replay                      # the stored response, nothing created
        return needs_service.create(session, user, round_id, body, idem=idem)

    # in the service, after the row is flushed and audited, before commit:
    if idem is not None:
        idem.save(201, NeedRead.model_validate(need), row=need, location=f"/api/v1/needs/{need.id}")
    session.commit()

    # and the route sets the same headers on the first response:
    #   set_etag(response, need); response.headers["Location"] = f"/api/v1/needs/{need.id}"

The stored response commits in the same transaction as the created row, so
either both exist or neither does. Rules (after the IETF Idempotency-Key draft):

* no header: nothing stored, the request is an ordinary POST;
* same user, same key, same method, path and JSON body: the stored status,
  body and headers come back, with ``Idempotent-Replayed: true``;
* same key, different request: 422;
* two identical requests at the very same moment (PostgreSQL): the loser gets
  409 and its retry gets the winner's stored response. On SQLite the second
  simply waits for the first and is replayed.

Only create routes use it, and not token creation: the stored body would
keep the plain token, which must exist nowhere but in the first response.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.api.etags import etag_for
from app.api.models import IdempotencyKey
from app.auth.deps import CurrentUser
from app.auth.models import User
from app.db import SessionDep
from app.errors import Conflict, DomainError, FieldIssue, InvalidInput

REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255


class IdempotencyKeyReused(DomainError):
    def __init__(self) -> None:
        super().__init__(
            422,
            "Idempotency key reused",
            "this Idempotency-Key was already used for a different request; use a new key",
        )


def request_fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    try:
        # Key order and spacing do not make a different request.
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    head = f"{method.upper()} {path}?{query}\n".encode()
    return hashlib.sha256(head + canonical).hexdigest()


@dataclass
class Idempotency:
    session: Session
    user: User
    key: str | None
    method: str
    path: str
    fingerprint: str

    def _stored(self) -> IdempotencyKey | None:
        return self.session.scalar(
            sa.select(IdempotencyKey).where(
                IdempotencyKey.user_id == self.user.id, IdempotencyKey.key == self.key
            )
        )

    def replay(self) -> JSONResponse | None:
        """The stored response of an earlier identical request, or None to go ahead."""
        if self.key is None:
            return None
        stored = self._stored()
        if stored is None:
            return None
        if stored.request_hash != self.fingerprint:
            raise IdempotencyKeyReused()
        headers = {**(stored.response_headers or {}), REPLAYED_HEADER: "true"}
        return JSONResponse(
            stored.response_body, status_code=stored.response_status, headers=headers
        )

    def save(
        self,
        status_code: int,
        body: BaseModel | Any,
        *,
        row: Any = None,
        location: str | None = None,
    ) -> None:
        """Keep the response in the caller's transaction (flushed, not committed).

        ``row`` (the created row) gives the replay its ETag, ``location`` its
        Location header: the same headers the route sets on the first response.
        """
        if self.key is None:
            return
        if isinstance(body, BaseModel):
            body = body.model_dump(mode="json")
        headers = {}
        if row is not None:
            headers["ETag"] = etag_for(row)
        if location is not None:
            headers["Location"] = location
        row = IdempotencyKey(
            user_id=self.user.id,
            key=self.key,
            method=self.method,
            path=self.path,
            request_hash=self.fingerprint,
            response_status=status_code,
            response_body=body,
            response_headers=headers or None,
        )
        try:
            with self.session.begin_nested():
                self.session.add(row)
        except IntegrityError as exc:
            raise Conflict(
                "a request with this Idempotency-Key was being processed at the same time; "
                "retry it to get its response"
            ) from exc


async def get_idempotency(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="any unique string (a UUID); a retry with the same key and body "
            "returns the first response and creates nothing",
            examples=["5f0c6a8e-3b7d-4d7a-9d43-2b0f1c8e9a10"],
        ),
    ] = None,
) -> Idempotency:
    if idempotency_key is not None and not (
        0 < len(idempotency_key) <= MAX_KEY_LENGTH and idempotency_key.isprintable()
    ):
        raise InvalidInput(
            [FieldIssue("$.Idempotency-Key", f"1 to {MAX_KEY_LENGTH} printable characters")]
        )
    # Without a key nothing is stored or compared: the body is not canonicalised for it.
    fingerprint = ""
    if idempotency_key is not None:
        body = await request.body()
        fingerprint = request_fingerprint(request.method, request.url.path, request.url.query, body)
    return Idempotency(
        session=session,
        user=user,
        key=idempotency_key,
        method=request.method,
        path=request.url.path,
        fingerprint=fingerprint,
    )


IdempotencyDep = Annotated[Idempotency, Depends(get_idempotency)]
