"""Rounds: create, update while open, read; the round lock and the status machine.

The life cycle is ``open -> closed -> optimised -> approved | rejected``. This
module owns the rules (``ALLOWED_TRANSITIONS``, ``transition``) and the lock
(``lock_round``); the routes that close, run, approve and reject live in
``app.runs`` and call them::

    from app.rounds.service import lock_round, transition

    def close(session, actor, round_id):
        round_ = lock_round(session, round_id)        # held until commit
        transition(session, round_, RoundStatus.closed, actor)   # 409 unless open
        needs = submitted_needs(session, round_.id)   # app.needs.service
        ...                                           # freeze the snapshot
        session.commit()

Every write to a round's needs takes the same lock and re-checks that the
round is open (``ensure_open``), so a need write either commits before the
close reads the needs (and is in its snapshot) or runs after it and gets 409.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.audit.service import record, snapshot
from app.auth.models import User
from app.db import utcnow
from app.errors import Conflict, NotFound
from app.rounds.models import Round, RoundStatus
from app.rounds.schemas import RoundCreate, RoundRead, RoundUpdate

if TYPE_CHECKING:
    from app.api.etags import IfMatch
    from app.api.idempotency import Idempotency

# Which status a round may move to from each status. A re-run of an optimised
# round keeps it optimised (a new plan replaces the old as the one to approve);
# a rejected round may be run again, and an approved round is final.
ALLOWED_TRANSITIONS: Mapping[RoundStatus, frozenset[RoundStatus]] = {
    RoundStatus.open: frozenset({RoundStatus.closed}),
    RoundStatus.closed: frozenset({RoundStatus.optimised}),
    RoundStatus.optimised: frozenset(
        {RoundStatus.optimised, RoundStatus.approved, RoundStatus.rejected}
    ),
    RoundStatus.rejected: frozenset({RoundStatus.optimised}),
    RoundStatus.approved: frozenset(),
}

# The audit action of each move, read as what happened to the round.
_TRANSITION_ACTIONS = {
    RoundStatus.closed: "round.close",
    RoundStatus.optimised: "round.optimise",
    RoundStatus.approved: "round.approve",
    RoundStatus.rejected: "round.reject",
}

# Statuses from which a round's plan and 3W are visible to every member agency.
PUBLISHED_STATUSES = frozenset({RoundStatus.optimised, RoundStatus.approved, RoundStatus.rejected})


def round_url(round_: Round) -> str:
    return f"/api/v1/rounds/{round_.id}"


def get(session: Session, round_id: int) -> Round:
    round_ = session.get(Round, round_id)
    if round_ is None:
        raise NotFound(f"round {round_id}")
    return round_


def rounds_query(status: RoundStatus | None = None) -> sa.Select[Round]:
    # Newest first: the round people work in is usually the latest one.
    stmt = sa.select(Round).order_by(Round.id.desc())
    if status is not None:
        stmt = stmt.where(Round.status == status)
    return stmt


def create(
    session: Session, actor: User, data: RoundCreate, idem: Idempotency | None = None
) -> Round:
    round_ = Round(
        name=data.name,
        status=RoundStatus.open,
        deadline=data.deadline,
        as_of=data.as_of,
        currency=data.currency,
        settings=_stored_settings(data.settings),
        created_by_id=actor.id,
    )
    session.add(round_)
    session.flush()
    record(session, actor, "round.create", "round", round_.id, None, snapshot(round_))
    if idem is not None:
        idem.save(201, RoundRead.model_validate(round_), row=round_, location=round_url(round_))
    session.commit()
    return round_


def update(
    session: Session, actor: User, round_id: int, data: RoundUpdate, if_match: IfMatch
) -> Round:
    round_ = lock_round(session, round_id)
    if_match.check(round_)
    ensure_open(round_, "its details can no longer be changed")
    before = snapshot(round_)
    changes = data.model_dump(exclude_unset=True)
    if "name" in changes:
        round_.name = changes["name"]
    if "deadline" in changes:
        round_.deadline = changes["deadline"]
    if "as_of" in changes:
        round_.as_of = changes["as_of"]
    if "currency" in changes:
        round_.currency = changes["currency"]
    if data.settings is not None:
        round_.settings = _stored_settings(data.settings)
    session.flush()
    after = snapshot(round_)
    if after != before:
        record(session, actor, "round.update", "round", round_.id, before, after)
    session.commit()
    return round_


def _stored_settings(settings: Any) -> dict[str, Any]:
    # Only what was set: a run fills in the defaults of its own time, and the
    # round shows the coordinator's choices, not a wall of defaults.
    stored: dict[str, Any] = settings.model_dump(mode="json", exclude_unset=True)
    return stored


# ------------------------------------------------------------ lock and life cycle


def lock_round(session: Session, round_id: int, *, shared: bool = False) -> Round:
    """The round, locked against other writers until this transaction ends.

    ``shared``: ``FOR SHARE`` instead, for writes that depend on the round's status
    but do not change the round (creating a need): they do not wait for each other,
    yet conflict with an exclusive locker (the close), so each either commits before
    the close reads the round or waits and then sees it closed.

    PostgreSQL: ``SELECT ... FOR UPDATE`` on the round's row; a concurrent
    locker waits here and then reads the status the other committed.
    SQLite: ``app.db`` starts every transaction with ``BEGIN IMMEDIATE``, so
    this transaction has held the database's write lock since its first
    statement and no other writer can commit in between (SQLAlchemy drops
    ``FOR UPDATE`` there). Either way the row is re-read
    (``populate_existing``): a copy loaded earlier in the session, before the
    lock, must not be trusted. 404 if there is no such round.
    """
    round_ = session.scalars(
        sa.select(Round)
        .where(Round.id == round_id)
        .with_for_update(read=shared)
        .execution_options(populate_existing=True)
    ).one_or_none()
    if round_ is None:
        raise NotFound(f"round {round_id}")
    return round_


class RoundFacts(Protocol):
    """What a write that depends on a round reads of it: a ``Round``, or a ``RoundState``."""

    @property
    def id(self) -> int: ...

    @property
    def status(self) -> RoundStatus: ...

    @property
    def as_of(self) -> dt.date | None: ...


class RoundState(NamedTuple):
    """A round's ``RoundFacts`` as columns, read under its lock by ``lock_round_reading``."""

    id: int
    status: RoundStatus
    as_of: dt.date | None


def lock_round_reading(
    session: Session,
    round_id: int,
    columns: tuple[sa.ScalarSelect[Any], ...],
    params: Mapping[str, Any],
    *,
    shared: bool = False,
) -> tuple[RoundState, tuple[Any, ...]]:
    """``lock_round`` for a write that reads only the round's ``RoundFacts`` (a need's
    creation), and the values of ``columns`` (scalar subqueries, their bound parameters
    in ``params``) read in the same statement: such a caller, which needs a few facts
    before it writes (a need's item and location), asks the database once, and loads no
    ``Round`` into the session. Only the round's row is locked. 404 if there is no such
    round. Give the same ``columns`` objects every time: the statement is built once
    for them."""
    found = session.execute(
        _reading_statement(columns, shared), {**params, "round_id": round_id}
    ).one_or_none()
    if found is None:
        raise NotFound(f"round {round_id}")
    return RoundState(*found[:3]), tuple(found[3:])


@functools.cache
def _reading_statement(columns: tuple[sa.ScalarSelect[Any], ...], shared: bool) -> sa.Select[Any]:
    # Built once per caller's columns: a statement made anew is compiled-cache keyed
    # anew, a tenth of the CPU of a need's submission.
    return (
        sa.select(Round.id, Round.status, Round.as_of, *columns)
        .where(Round.id == sa.bindparam("round_id"))
        .with_for_update(read=shared, of=Round)
    )


def ensure_open(
    round_: RoundFacts, consequence: str = "it takes no more changes to its needs"
) -> None:
    """409 unless the round is open. Call it on a round from ``lock_round`` (or
    ``lock_round_reading``)."""
    if round_.status != RoundStatus.open:
        raise Conflict(f"round {round_.id} is {round_.status.value}: {consequence}")


def can_transition(from_status: RoundStatus, to_status: RoundStatus) -> bool:
    return to_status in ALLOWED_TRANSITIONS[from_status]


def transition(
    session: Session, round_: Round, to_status: RoundStatus, actor: User | str | None
) -> Round:
    """Move ``round_`` to ``to_status`` if the life cycle allows it, and audit the move.

    Takes the round lock itself (a no-op if the caller holds it, which it
    should: the caller's own reads must happen under the same lock), so the
    status checked is the committed one. Closing stamps ``closed_at``. 409 for
    a move the life cycle forbids. Flushes and records, never commits: the
    caller commits the move together with its own work (snapshot, run, approval).
    """
    locked = lock_round(session, round_.id)
    if not can_transition(locked.status, to_status):
        allowed = ", ".join(sorted(ALLOWED_TRANSITIONS[locked.status])) or "nothing"
        raise Conflict(
            f"round {locked.id} is {locked.status.value} and cannot become {to_status.value} "
            f"(from {locked.status.value} it can become: {allowed})"
        )
    before = snapshot(locked)
    locked.status = to_status
    if to_status == RoundStatus.closed:
        locked.closed_at = utcnow()
    # The status is the point of the move even when it stays the same (a re-run of
    # an optimised round): bump the version so every ETag read before it is stale.
    session.flush()
    if before == snapshot(locked):
        locked.updated_at = utcnow()
        session.flush()
    record(
        session, actor, _TRANSITION_ACTIONS[to_status], "round", locked.id, before, snapshot(locked)
    )
    return locked
