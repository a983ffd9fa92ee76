"""Needs: create, edit, submit, withdraw; priority reviews; duplicates.

Who sees what: an agency's needs are visible to its own users in every status;
once submitted (``submitted_at`` set, which stays set after a withdrawal) a
need is visible to every authenticated user of the group. A need that is not
visible is "not found" (404), never "forbidden": ids are not to be probed.

Every write takes the round lock (``app.rounds.service.lock_round``) and then
checks that the round is open: the close takes the same lock, so a write either
commits before the close reads the submitted needs (and is in its snapshot) or
waits for the close and is refused with 409. Nothing is lost or half-written.

For the runs engineer: ``submitted_needs(session, round_id)`` is the list the
snapshot is built from; call it after ``lock_round`` in the closing
transaction. ``Need.effective_priority`` is the priority to put in the problem.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session, make_transient_to_detached

from app.api import Page, PageParams
from app.audit.service import record, snapshot
from app.auth.models import Role, User
from app.catalogue.models import Item, Location
from app.db import utcnow
from app.errors import Conflict, FieldIssue, Forbidden, InvalidInput, NotFound, field_issues
from app.needs.models import Need, NeedStatus, Priority, PriorityReview
from app.needs.schemas import (
    DUPLICATE_WINDOW_DAYS,
    PRIORITIES_NEEDING_JUSTIFICATION,
    DuplicatePair,
    DuplicateRef,
    NeedCreate,
    NeedRead,
    NeedSetAside,
    NeedUpdate,
    PriorityReviewCreate,
    PriorityReviewRead,
)
from app.rounds.models import Round
from app.rounds.service import RoundFacts, ensure_open, lock_round, lock_round_reading

if TYPE_CHECKING:
    from datetime import date

    from app.api.etags import IfMatch
    from app.api.idempotency import Idempotency


def need_url(need: Need) -> str:
    return f"/api/v1/needs/{need.id}"


def reviews_url(need: Need) -> str:
    # Reviews are read as the need's list; none has a URL of its own.
    return f"{need_url(need)}/priority-reviews"


# ------------------------------------------------------------------- visibility


def visible_to(user: User) -> sa.ColumnElement[bool]:
    """SQL condition: the needs ``user`` may see."""
    shared = Need.submitted_at.is_not(None)
    if user.agency_id is None:
        return shared
    return sa.or_(Need.agency_id == user.agency_id, shared)


def can_see(user: User, need: Need) -> bool:
    return need.submitted_at is not None or (
        user.agency_id is not None and need.agency_id == user.agency_id
    )


def get_visible(session: Session, user: User, need_id: int) -> Need:
    need = session.get(Need, need_id)
    if need is None or not can_see(user, need):
        raise NotFound(f"need {need_id}")
    return need


def needs_query(
    user: User,
    *,
    round_id: int | None = None,
    agency_id: str | None = None,
    item_id: str | None = None,
    location_id: str | None = None,
    status: NeedStatus | None = None,
    priority: Priority | None = None,
    effective_priority: Priority | None = None,
    reviewed: bool | None = None,
) -> sa.Select[Need]:
    stmt = sa.select(Need).where(visible_to(user)).order_by(Need.id)
    if reviewed is not None:
        confirmed = Need.confirmed_priority
        stmt = stmt.where(confirmed.is_not(None) if reviewed else confirmed.is_(None))
    if round_id is not None:
        stmt = stmt.where(Need.round_id == round_id)
    if agency_id is not None:
        stmt = stmt.where(Need.agency_id == agency_id)
    if item_id is not None:
        stmt = stmt.where(Need.item_id == item_id)
    if location_id is not None:
        stmt = stmt.where(Need.location_id == location_id)
    if status is not None:
        stmt = stmt.where(Need.status == status)
    if priority is not None:
        stmt = stmt.where(Need.priority == priority)
    if effective_priority is not None:
        stmt = stmt.where(
            sa.func.coalesce(Need.confirmed_priority, Need.priority) == effective_priority.value
        )
    return stmt


def submitted_needs(session: Session, round_id: int) -> list[Need]:
    """The round's submitted needs, by id: what a run's snapshot is built from.

    Each has ``effective_priority`` (the confirmed priority once a specialist
    reviewed it). Call it under ``lock_round`` so that no need changes between
    this read and the commit.
    """
    return list(
        session.scalars(
            sa.select(Need)
            .where(Need.round_id == round_id, Need.status == NeedStatus.submitted)
            .order_by(Need.id)
        )
    )


def drafts_of_round(session: Session, round_id: int) -> list[Need]:
    """Every agency's drafts in the round: what its close leaves out of the run (a closing
    coordinator is told which, and whose)."""
    return list(
        session.scalars(
            sa.select(Need)
            .where(Need.round_id == round_id, Need.status == NeedStatus.draft)
            .order_by(Need.agency_id, Need.id)
        )
    )


# ------------------------------------------------------------------- validation


def _parse[M: BaseModel](
    model: type[M], raw: Mapping[str, Any]
) -> tuple[M | None, list[FieldIssue]]:
    try:
        return model.model_validate(raw), []
    except ValidationError as exc:
        return None, field_issues(exc.errors(include_url=False))


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) else None


_REFERENCES = (("item_id", "item", Item), ("location_id", "location", Location))


# For the item and the location a body names, its ``active`` flag (NULL: no such row),
# as scalar subqueries built once; the codes are bound by field name (``_reference_codes``).
_REFERENCE_COLUMNS = tuple(
    sa.select(table.active).where(table.id == sa.bindparam(field)).scalar_subquery()
    for field, _noun, table in _REFERENCES
)


def _reference_codes(raw: Mapping[str, Any]) -> dict[str, str | None]:
    """The codes the body names, by field: absent or not a string, None (the field rules
    report it)."""
    return {field: _text(raw.get(field)) or None for field, _noun, _table in _REFERENCES}


def _named(codes: Mapping[str, str | None], values: Sequence[Any]) -> dict[str, bool | None]:
    """The flags ``_REFERENCE_COLUMNS`` read, by field, for the codes the body named."""
    flags = dict(zip(codes, values, strict=True))
    return {field: flags[field] for field, code in codes.items() if code is not None}


def _reference_issues(
    session: Session,
    raw: Mapping[str, Any],
    current: Need | None = None,
    active: Mapping[str, bool | None] | None = None,
) -> list[FieldIssue]:
    """Unknown or retired items and locations, read from the raw body tolerantly.

    ``active``: the ``_REFERENCE_COLUMNS`` already read (with the round's lock, on the
    path every submission takes); otherwise they are read here, in one query.
    """
    if active is None:
        codes = _reference_codes(raw)
        values = session.execute(sa.select(*_REFERENCE_COLUMNS), codes).one()
        active = _named(codes, values)
    issues = []
    for field, noun, _table in _REFERENCES:
        if field not in active:
            continue
        code = _text(raw.get(field))
        if active[field] is None:
            issues.append(FieldIssue(f"$.{field}", f"no {noun} {code!r}"))
        elif not active[field] and (current is None or getattr(current, field) != code):
            # A need already on it may stay; no new need may name it.
            issues.append(FieldIssue(f"$.{field}", f"{noun} {code!r} is retired"))
    return issues


def _justification_issues(priority: Any, justification: Any) -> list[FieldIssue]:
    try:
        level = Priority(priority)
    except ValueError:
        return []  # an unknown priority is reported by the field rules
    if level in PRIORITIES_NEEDING_JUSTIFICATION and not _text(justification):
        return [FieldIssue("$.justification", f"is required for a {level.value} need")]
    return []


def need_by_issues(need_by: Any, round_: RoundFacts) -> list[FieldIssue]:
    """A need due before the round's orders are placed (its ``as_of``) could never be met:
    refused. (A round without one orders on the day it closes; ``NeedCreate`` already
    refuses a date in the past.)"""
    if isinstance(need_by, str):
        try:
            need_by = dt.date.fromisoformat(need_by)
        except ValueError:
            return []  # not a date: the field rules report it
    order_date = round_.as_of
    if order_date is None or type(need_by) is not dt.date or need_by >= order_date:
        return []
    return [
        FieldIssue(
            "$.need_by",
            f"is before the round's order date ({order_date.isoformat()}): nothing ordered "
            f"then can arrive by {need_by.isoformat()}; enter {order_date.isoformat()} or later",
        )
    ]


def _raise_if(issues: list[FieldIssue]) -> None:
    if issues:
        raise InvalidInput(sorted(issues, key=lambda issue: issue.path))


def _raw(body: NeedCreate | Mapping[str, Any]) -> Mapping[str, Any]:
    return body.model_dump(mode="json") if isinstance(body, NeedCreate) else body


def validate_create(
    session: Session,
    body: NeedCreate | Mapping[str, Any],
    round_: RoundFacts,
    active: Mapping[str, bool | None] | None = None,
) -> NeedCreate:
    """Every rule for a new need of ``round_`` at once: the fields, the references, the
    justification, the need-by date against the round's order date. ``active``: the
    references as ``_reference_issues`` takes them, when the caller read them already."""
    raw = _raw(body)
    data, issues = _parse(NeedCreate, raw)
    issues += _reference_issues(session, raw, active=active)
    issues += need_by_issues(raw.get("need_by"), round_)
    issues += _justification_issues(raw.get("priority"), raw.get("justification", ""))
    _raise_if(issues)
    assert data is not None
    return data


def validate_update(
    session: Session, need: Need, body: NeedUpdate | Mapping[str, Any]
) -> NeedUpdate:
    """Every rule for a change, judged on the need as it would be after it."""
    raw = body.model_dump(mode="json", exclude_unset=True) if isinstance(body, BaseModel) else body
    data, issues = _parse(NeedUpdate, raw)
    issues += _reference_issues(session, raw, current=need)
    if "need_by" in raw:
        issues += need_by_issues(raw["need_by"], need.round)
    issues += _justification_issues(
        raw.get("priority", need.priority.value), raw.get("justification", need.justification)
    )
    _raise_if(issues)
    assert data is not None
    return data


# ----------------------------------------------------------------------- writes


def _ensure_own(actor: User, need: Need) -> None:
    """403: the caller sees the need (else 404 came first) but may not change it."""
    if not actor.has_role(Role.local_team) or actor.agency_id != need.agency_id:
        raise Forbidden(f"only {need.agency_id}'s local team may change need {need.id}")


def _lock(session: Session, need: Need) -> Round:
    """Take the need's round lock, then re-read the need as committed under it."""
    round_ = lock_round(session, need.round_id)
    session.refresh(need)
    return round_


_NEED_TABLE: sa.Table = Need.__table__  # type: ignore[assignment]
_INSERT_NEED = sa.insert(_NEED_TABLE).returning(_NEED_TABLE.c.id)
# A new need's columns that its body gives (``NeedCreate``'s fields of the same names).
BODY_COLUMNS = ("item_id", "location_id", "quantity", "need_by", "priority", "justification")


def new_need_columns(
    round_id: int, actor: User, *, submit: bool, now: dt.datetime
) -> dict[str, Any]:
    """A new need's columns that its body does not give: the one definition of what a
    creation stores, for ``create`` and the spreadsheet import (``app.exchange.batch``)."""
    if actor.agency_id is None:
        raise Forbidden("only a local team member of an agency creates needs")
    return {
        "round_id": round_id,
        "agency_id": actor.agency_id,
        "confirmed_priority": None,
        "status": NeedStatus.submitted if submit else NeedStatus.draft,
        "created_by_id": actor.id,
        "submitted_at": now if submit else None,
        "withdrawn_at": None,
        "set_aside_at": None,
        "set_aside_by_id": None,
        "set_aside_reason": None,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


def _insert_need(session: Session, values: dict[str, Any]) -> Need:
    """One need inserted with every column given, and the row persistent in the session
    as if flushed. A prepared Core INSERT, not the unit of work: its flush was an eighth
    of a submission's CPU. The values are the row's, so nothing is read back but the id."""
    unset = set(_NEED_TABLE.c.keys()) - {"id"} - set(values)
    if unset:
        raise ValueError(f"need columns not set: {', '.join(sorted(unset))}")
    need_id = session.execute(_INSERT_NEED, values).scalar_one()
    need = Need(id=need_id, **values)
    make_transient_to_detached(need)
    session.add(need)
    return need


def create(
    session: Session,
    actor: User,
    round_id: int,
    body: NeedCreate | Mapping[str, Any],
    idem: Idempotency | None = None,
) -> Need:
    """A need of ``actor``'s own agency in an open round; a draft unless ``submit``."""
    return create_presented(session, actor, round_id, body, idem, present_it=False)[0]


def create_presented(
    session: Session,
    actor: User,
    round_id: int,
    body: NeedCreate | Mapping[str, Any],
    idem: Idempotency | None = None,
    *,
    present_it: bool = True,
) -> tuple[Need, NeedRead | None]:
    """``create``, and the need's read model (with its duplicates) when ``present_it``.

    The read model is made inside the creating transaction: read after the commit it
    would take a second connection from the pool and a transaction of its own, a
    quarter of the round trips of a need's submission. It is made before the audit
    entry, which holds the audit chain's head row (every writer waits on it) until the
    commit.
    """
    if not actor.has_role(Role.local_team) or actor.agency_id is None:
        raise Forbidden("only a local team member of an agency creates needs")
    # A shared lock, taken first: creations in the same round go side by side, and the
    # close (an exclusive lock) still waits for each of them to commit, or makes them
    # wait and refuse with 409. The round it returns is the one the body's rules read
    # (the need-by rule reads its order date): one read of the round, not two, on the
    # path every submission takes. A body with mistakes answers 422 before the 409 of
    # a closed round, as before; an unknown round answers 404 first.
    # The body's item and location are read in the same statement.
    codes = _reference_codes(_raw(body))
    round_, found = lock_round_reading(session, round_id, _REFERENCE_COLUMNS, codes, shared=True)
    data = validate_create(session, body, round_, _named(codes, found))
    ensure_open(round_)
    need = _insert_need(
        session,
        {
            **new_need_columns(round_.id, actor, submit=data.submit, now=utcnow()),
            **{name: getattr(data, name) for name in BODY_COLUMNS},
        },
    )
    remember = idem is not None and idem.key is not None
    # The duplicates query only when there is a response to give or remember.
    read = present(session, need) if present_it or remember else None
    if idem is not None and read is not None:
        idem.save(201, read, row=need, location=need_url(need))
    record(session, actor, "need.create", "need", need.id, None, snapshot(need))
    session.commit()
    return need, read


def update(
    session: Session,
    actor: User,
    need: Need,
    body: NeedUpdate | Mapping[str, Any],
    if_match: IfMatch,
) -> Need:
    round_ = _lock(session, need)
    _ensure_own(actor, need)
    if_match.check(need)
    ensure_open(round_)
    if need.status == NeedStatus.withdrawn:
        raise Conflict(f"need {need.id} is withdrawn; create a new need instead")
    data = validate_update(session, need, body)
    before = snapshot(need)
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(need, field, value)
    session.flush()
    after = snapshot(need)
    if after != before:
        record(session, actor, "need.update", "need", need.id, before, after)
    session.commit()
    return need


def submit(session: Session, actor: User, need: Need, if_match: IfMatch) -> Need:
    """draft (or set aside) -> submitted. Submitting a submitted need changes nothing."""
    round_ = _lock(session, need)
    _ensure_own(actor, need)
    if need.status == NeedStatus.submitted:
        return need
    if_match.check(need)
    ensure_open(round_)
    if need.status == NeedStatus.withdrawn:
        raise Conflict(f"need {need.id} is withdrawn; create a new need instead")
    # The draft passed every rule when written; time and the catalogue moved since.
    issues = _reference_issues(session, {"item_id": need.item_id, "location_id": need.location_id})
    if need.need_by < utcnow().date():
        issues.append(FieldIssue("$.need_by", "is in the past; change it before submitting"))
    _raise_if(issues)
    before = snapshot(need)
    need.status = NeedStatus.submitted
    need.submitted_at = utcnow()
    # Submitted again after a set-aside: the reason stays readable in the audit log.
    need.set_aside_at = need.set_aside_by_id = need.set_aside_reason = None
    session.flush()
    record(session, actor, "need.submit", "need", need.id, before, snapshot(need))
    session.commit()
    return need


def withdraw(session: Session, actor: User, need: Need, if_match: IfMatch) -> Need:
    """draft or submitted -> withdrawn, while the round is open. Final; a retry is harmless."""
    round_ = _lock(session, need)
    _ensure_own(actor, need)
    if need.status == NeedStatus.withdrawn:
        return need
    if_match.check(need)
    ensure_open(round_)
    before = snapshot(need)
    need.status = NeedStatus.withdrawn
    need.withdrawn_at = utcnow()
    session.flush()
    record(session, actor, "need.withdraw", "need", need.id, before, snapshot(need))
    session.commit()
    return need


def set_aside(
    session: Session, actor: User, need: Need, data: NeedSetAside, if_match: IfMatch
) -> Need:
    """submitted -> set_aside, by a coordinator (or an admin), with a reason.

    For the need that keeps the round from closing (the close's 409 names it): it leaves
    the snapshot, the round can close, and the agency reads the reason on its need (and
    the audit log keeps it). The agency may correct the need and submit it again while
    the round is open. Setting aside a set-aside need changes nothing (a safe retry).
    """
    if not actor.has_role(Role.coordinator, Role.admin):
        raise Forbidden("only a coordinator sets a need aside")
    round_ = _lock(session, need)
    if need.status == NeedStatus.set_aside:
        return need
    if_match.check(need)
    ensure_open(round_, "its snapshot is frozen")
    if need.status != NeedStatus.submitted:
        raise Conflict(f"need {need.id} is {need.status.value}; only a submitted need is set aside")
    before = snapshot(need)
    need.status = NeedStatus.set_aside
    need.set_aside_at = utcnow()
    need.set_aside_by_id = actor.id
    need.set_aside_reason = data.reason
    session.flush()
    record(session, actor, "need.set_aside", "need", need.id, before, snapshot(need))
    session.commit()
    return need


# ------------------------------------------------------------- priority reviews


def review_priority(
    session: Session,
    actor: User,
    need: Need,
    data: PriorityReviewCreate,
    idem: Idempotency | None = None,
) -> PriorityReview:
    """A technical specialist sets the need's confirmed priority, citing evidence.

    Only submitted needs of an open round: once closed, the snapshot has the
    priorities it was closed with, and a later review would change nothing.
    """
    if not actor.has_role(Role.technical_specialist):
        raise Forbidden("only a technical specialist reviews priorities")
    round_ = _lock(session, need)
    ensure_open(round_, "its needs' priorities are frozen in its snapshot")
    if need.status != NeedStatus.submitted:
        raise Conflict(f"need {need.id} is {need.status.value}; only submitted needs are reviewed")
    before = snapshot(need)
    review = PriorityReview(
        need_id=need.id,
        reviewer_id=actor.id,
        priority=data.priority,
        evidence=data.evidence,
        source=data.source,
    )
    session.add(review)
    need.confirmed_priority = data.priority
    session.flush()
    record(
        session,
        actor,
        "priority_review.create",
        "priority_review",
        review.id,
        None,
        snapshot(review),
    )
    after = snapshot(need)
    if after != before:
        record(session, actor, "need.confirm_priority", "need", need.id, before, after)
    if idem is not None:
        idem.save(
            201,
            PriorityReviewRead.model_validate(review),
            location=reviews_url(need),
        )
    session.commit()
    return review


def latest_reviews(session: Session, need_ids: Sequence[int]) -> dict[int, PriorityReview]:
    """Each need's latest priority review (the one in force), with its reviewer."""
    if not need_ids:
        return {}
    latest = (
        sa.select(sa.func.max(PriorityReview.id))
        .where(PriorityReview.need_id.in_(need_ids))
        .group_by(PriorityReview.need_id)
    )
    rows = session.scalars(sa.select(PriorityReview).where(PriorityReview.id.in_(latest)))
    return {r.need_id: r for r in rows}


def reviews_query(need: Need) -> sa.Select[PriorityReview]:
    return (
        sa.select(PriorityReview)
        .where(PriorityReview.need_id == need.id)
        .order_by(PriorityReview.id)
    )


# ------------------------------------------------------------------- duplicates


class _NeedLike(Protocol):
    id: int
    round_id: int
    agency_id: str
    item_id: str
    location_id: str
    quantity: int
    need_by: date
    status: NeedStatus


def _is_duplicate(a: _NeedLike, b: _NeedLike) -> bool:
    return (
        a.agency_id != b.agency_id
        and a.status == NeedStatus.submitted
        and b.status == NeedStatus.submitted
        and abs((a.need_by - b.need_by).days) <= DUPLICATE_WINDOW_DAYS
    )


def _ref(need: _NeedLike) -> DuplicateRef:
    return DuplicateRef(
        id=need.id, agency_id=need.agency_id, quantity=need.quantity, need_by=need.need_by
    )


def _within(day: dt.date, window: dt.timedelta) -> tuple[dt.date, dt.date]:
    """The dates ``window`` either side of ``day``, kept within the calendar (a stored
    need may be dated 9999-12-31: one set aside because no round could plan it)."""
    low = day - window if day - dt.date.min > window else dt.date.min
    high = day + window if dt.date.max - day > window else dt.date.max
    return low, high


_CANDIDATE_COLUMNS = (
    Need.id,
    Need.round_id,
    Need.item_id,
    Need.location_id,
    Need.agency_id,
    Need.quantity,
    Need.need_by,
    Need.status,
)


def _candidate_of(
    round_id: Any, item_id: Any, location_id: Any, agency_id: Any, window: Any
) -> Any:
    """The database's half of ``_is_duplicate`` for one need: another agency's need at the
    same item and place, dated within ``window`` (a pair of dates)."""
    return sa.and_(
        Need.round_id == round_id,
        Need.item_id == item_id,
        Need.location_id == location_id,
        Need.agency_id != agency_id,
        Need.need_by.between(*window),
    )


# One need's candidates, the query every submission's answer runs: built once, so its
# cache key is computed once, not on every request.
_ONE_NEEDS_CANDIDATES = (
    sa.select(*_CANDIDATE_COLUMNS)
    .where(
        Need.status == NeedStatus.submitted,
        _candidate_of(
            sa.bindparam("round_id"),
            sa.bindparam("item_id"),
            sa.bindparam("location_id"),
            sa.bindparam("agency_id"),
            (sa.bindparam("low"), sa.bindparam("high")),
        ),
    )
    .order_by(Need.id)
)


def duplicates_of(session: Session, needs: Sequence[_NeedLike]) -> dict[int, list[DuplicateRef]]:
    """For each submitted need given, the other agencies' needs flagged as its duplicates."""
    submitted = [n for n in needs if n.status == NeedStatus.submitted]
    if not submitted:
        return {}
    window = dt.timedelta(days=DUPLICATE_WINDOW_DAYS)
    # The database applies ``_is_duplicate``'s terms too (another agency, a date within
    # the window), so a busy round's same item and place reads only the few candidates
    # that can be duplicates, not every need there; the rule below stays the one answer.
    # Plain columns, not Need rows: loading each into the session cost more than the
    # rest of a submission's reads together.
    terms = sorted(
        {(n.round_id, n.item_id, n.location_id, n.agency_id, n.need_by) for n in submitted}
    )
    if len(terms) == 1:
        ((round_id, item_id, location_id, agency_id, need_by),) = terms
        low, high = _within(need_by, window)
        candidates = session.execute(
            _ONE_NEEDS_CANDIDATES,
            {
                "round_id": round_id,
                "item_id": item_id,
                "location_id": location_id,
                "agency_id": agency_id,
                "low": low,
                "high": high,
            },
        ).all()
    else:
        candidates = session.execute(
            sa.select(*_CANDIDATE_COLUMNS)
            .where(
                Need.status == NeedStatus.submitted,
                sa.or_(
                    *(
                        _candidate_of(r, i, loc, agency, _within(need_by, window))
                        for r, i, loc, agency, need_by in terms
                    )
                ),
            )
            .order_by(Need.id)
        ).all()
    by_key: dict[tuple[int, str, str], list[Any]] = defaultdict(list)
    for candidate in candidates:
        by_key[candidate.round_id, candidate.item_id, candidate.location_id].append(candidate)
    return {
        n.id: [
            _ref(other)
            for other in by_key[n.round_id, n.item_id, n.location_id]
            if _is_duplicate(n, other)
        ]
        for n in needs
    }


def present(session: Session, need: Need) -> NeedRead:
    """The read model of one need, with its duplicates."""
    read = NeedRead.model_validate(need)
    read.duplicates = duplicates_of(session, [need]).get(need.id, [])
    return read


def fill_duplicates(session: Session, reads: list[NeedRead]) -> None:
    """Set ``duplicates`` on a page of read models, with one query for the page."""
    found = duplicates_of(session, reads)
    for read in reads:
        read.duplicates = found.get(read.id, [])


def round_duplicates(
    session: Session,
    round_id: int,
    *,
    agency_id: str | None = None,
    item_id: str | None = None,
    location_id: str | None = None,
) -> list[DuplicatePair]:
    """Every pair of possible duplicates in the round (submitted needs only)."""
    stmt = sa.select(Need).where(Need.round_id == round_id, Need.status == NeedStatus.submitted)
    if item_id is not None:
        stmt = stmt.where(Need.item_id == item_id)
    if location_id is not None:
        stmt = stmt.where(Need.location_id == location_id)
    groups: dict[tuple[str, str], list[Need]] = defaultdict(list)
    for need in session.scalars(stmt.order_by(Need.id)):
        groups[need.item_id, need.location_id].append(need)
    pairs = []
    for (item, location), group in sorted(groups.items()):
        for i, first in enumerate(group):
            for second in group[i + 1 :]:
                if not _is_duplicate(first, second):
                    continue
                if agency_id is not None and agency_id not in (first.agency_id, second.agency_id):
                    continue
                pairs.append(
                    DuplicatePair(
                        item_id=item,
                        location_id=location,
                        days_apart=abs((first.need_by - second.need_by).days),
                        needs=[_ref(first), _ref(second)],
                    )
                )
    return pairs


def page_of[T: BaseModel](rows: list[T], params: PageParams, schema: type[T]) -> Page[T]:
    """A page of a list computed in Python, shaped like ``paginate``'s pages."""
    chunk = rows[params.offset : params.offset + params.limit]
    end = params.offset + len(chunk)
    return Page[schema](  # type: ignore[valid-type]
        items=chunk,
        total=len(rows),
        limit=params.limit,
        offset=params.offset,
        next_offset=end if end < len(rows) else None,
    )
