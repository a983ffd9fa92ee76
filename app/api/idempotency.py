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

This module is the store: it knows no web framework, so a service, an import
or a script can hold one. The request's side (reading the header, answering a
replay) is ``app.api.deps``: ``IdempotencyDep`` gives a ``RequestIdempotency``.
A request that answers later than it stored its response (a run's POST that
waited for the solve) replaces it with ``replace``, so a retry gets what the
first request finally answered.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Protocol, Self

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.api.etags import etag_for
from app.api.models import IdempotencyKey
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


class Owner(Protocol):
    """Whose key it is: a user, by id (keys are per user)."""

    @property
    def id(self) -> int: ...


@dataclass
class Idempotency:
    session: Session
    user: Owner
    key: str | None
    method: str
    path: str
    fingerprint: str

    @classmethod
    def for_request(
        cls,
        session: Session,
        user: Owner,
        key: str | None,
        *,
        method: str,
        path: str,
        query: str,
        body: bytes,
    ) -> Self:
        """The key of one request (422 for a key no client should send)."""
        if key is not None and not (0 < len(key) <= MAX_KEY_LENGTH and key.isprintable()):
            raise InvalidInput(
                [FieldIssue("$.Idempotency-Key", f"1 to {MAX_KEY_LENGTH} printable characters")]
            )
        return cls(session, user, key, method, path, request_fingerprint(method, path, query, body))

    def _where(self) -> sa.ColumnElement[bool]:
        return sa.and_(IdempotencyKey.user_id == self.user.id, IdempotencyKey.key == self.key)

    def stored(self) -> IdempotencyKey | None:
        """The response stored for this key, if any; 422 when it was another request's."""
        if self.key is None:
            return None
        stored = self.session.scalar(sa.select(IdempotencyKey).where(self._where()))
        if stored is not None and stored.request_hash != self.fingerprint:
            raise IdempotencyKeyReused()
        return stored

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
        stored = IdempotencyKey(
            user_id=self.user.id,
            key=self.key,
            method=self.method,
            path=self.path,
            request_hash=self.fingerprint,
            response_status=status_code,
            response_body=_json(body),
            response_headers=_headers(row, location),
        )
        try:
            with self.session.begin_nested():
                self.session.add(stored)
        except IntegrityError as exc:
            raise Conflict(
                "a request with this Idempotency-Key was being processed at the same time; "
                "retry it to get its response"
            ) from exc

    def replace(
        self, body: BaseModel | Any, *, row: Any = None, location: str | None = None
    ) -> None:
        """Replace the stored response's body and headers (its status stays) with what the
        request finally answers; in the caller's transaction (no commit)."""
        if self.key is None:
            return
        self.session.execute(
            sa.update(IdempotencyKey)
            .where(self._where())
            .values(response_body=_json(body), response_headers=_headers(row, location))
            .execution_options(synchronize_session=False)
        )


def _json(body: BaseModel | Any) -> Any:
    return body.model_dump(mode="json") if isinstance(body, BaseModel) else body


def _headers(row: Any, location: str | None) -> dict[str, str] | None:
    headers = {}
    if row is not None:
        headers["ETag"] = etag_for(row)
    if location is not None:
        headers["Location"] = location
    return headers or None
