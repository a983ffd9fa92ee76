"""What the catalogue's entities share: audit snapshots, 404 and 409, the write steps.

Every entity module (``items``, ``locations``, ``suppliers``, ``offers``,
``delivery_routes``) writes in two steps: a core that checks, adds or changes, flushes
and records the audit entry without committing (a spreadsheet import calls it for
many rows, then commits once), and the public create/update that is the core, the
stored idempotent response and one commit (``commit_created``, ``update_checked``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import QueryableAttribute, Session

from app.audit.service import record, snapshot
from app.auth.models import User
from app.catalogue.models import Item, Location, Supplier
from app.db import MONEY_SCALE, references_to
from app.errors import Conflict, FieldIssue, NotFound

if TYPE_CHECKING:
    from app.api.etags import IfMatch
    from app.api.idempotency import Idempotency

API_PREFIX = "/api/v1"
MONEY_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)


def contains(q: str, *columns: QueryableAttribute[str]) -> sa.ColumnElement[bool]:
    """Case-insensitive substring match of ``q`` on any of ``columns``.

    lower() on both sides rather than ILIKE so it reads the same on both databases;
    autoescape so '%' and '_' in a search are literal.
    """
    needle = q.strip().lower()
    return sa.or_(*(sa.func.lower(c).contains(needle, autoescape=True) for c in columns))


def by_id_where[R](model: type[R], **equal: Any) -> sa.Select[R]:
    """Rows of ``model`` by id where each column named equals its value; a None value
    filters nothing, True and False compare with IS."""
    stmt = sa.select(model).order_by(model.id)  # type: ignore[attr-defined]
    for name, value in equal.items():
        column = getattr(model, name)
        if isinstance(value, bool):
            stmt = stmt.where(column.is_(value))
        elif value is not None:
            stmt = stmt.where(column == value)
    return stmt


def money_text(value: Decimal) -> str:
    """A money figure as the audit keeps it: exactly as stored, six decimals."""
    return str(value.quantize(MONEY_QUANTUM))


def audit_snapshot(row: Any) -> dict[str, Any]:
    # A figure set in this session ("1.2") and one read back ("1.200000") must read
    # the same in the log, or every before/after pair would show a false change.
    values = snapshot(row)
    for key in values:
        if isinstance(value := getattr(row, key), Decimal):
            values[key] = money_text(value)
    return values


def flush_or_conflict(session: Session, message: str) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        # Another request made the same row, or referenced this one, between our
        # check and our write. The request's session is rolled back by get_session.
        raise Conflict(message) from exc


def uses_text(counts: Mapping[str, int]) -> str:
    """ "3 needs and 1 offer" from {"need": 3, "offer": 1}, skipping zeros."""
    parts = [f"{n} {noun}{'s' if n != 1 else ''}" for noun, n in counts.items() if n]
    return " and ".join(parts)


def apply_changes(row: Any, changes: Mapping[str, Any]) -> bool:
    """Set the attributes that differ; True when anything did."""
    changed = False
    for key, value in changes.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    return changed


def get_or_404[R](session: Session, model: type[R], key: str | int) -> R:
    """The row of ``model`` with this id, or 404 naming it ("item X")."""
    row = session.get(model, key)
    if row is None:
        raise NotFound(f"{model.__tablename__} {key}")  # type: ignore[attr-defined]
    return row


def reference_issues(
    session: Session, model: type[Any], value: Any, path: str, noun: str
) -> list[FieldIssue]:
    """A problem with a reference to a catalogue row that new rows may use."""
    if not isinstance(value, str):
        return []
    row = session.get(model, value)
    if row is None:
        return [FieldIssue(path, f"no {noun} {value!r}")]
    if not row.active:
        return [FieldIssue(path, f"{noun} {value!r} is retired (active is false)")]
    return []


def names_by_id(
    session: Session, model: type[Item] | type[Location] | type[Supplier], ids: Collection[str]
) -> dict[str, str]:
    """Names of the items, locations or suppliers with these ids (pages show names)."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    rows = session.execute(sa.select(model.id, model.name).where(model.id.in_(wanted)))
    return {row_id: name for row_id, name in rows}


# ------------------------------------------------------------------- the write steps


def add_keyed_row(session: Session, actor: User | None, row: Item | Location | Supplier) -> None:
    """Core of adding a row keyed by its own id: 409 if the id is taken, added, flushed,
    audited; no commit."""
    entity = type(row).__tablename__
    exists = f"{entity} {row.id} already exists"
    if session.get(type(row), row.id) is not None:
        raise Conflict(exists)
    session.add(row)
    flush_or_conflict(session, exists)
    record(session, actor, f"{entity}.create", entity, row.id, None, audit_snapshot(row))


def commit_created(
    session: Session,
    idem: Idempotency | None,
    read: type[BaseModel],
    row: Any,
    url: str,
) -> None:
    """The public create's end: the idempotent 201 stored with the row, one commit."""
    if idem is not None:
        idem.save(201, read.model_validate(row), row=row, location=url)
    session.commit()


def change_row(
    session: Session,
    actor: User | None,
    row: Any,
    changes: Mapping[str, Any],
) -> bool:
    """Core of an update of plain columns: set what differs, flush, audit before and
    after; no commit. True when anything changed."""
    before = audit_snapshot(row)
    if not apply_changes(row, changes):
        return False
    session.flush()
    entity = type(row).__tablename__
    record(session, actor, f"{entity}.update", entity, row.id, before, audit_snapshot(row))
    return True


def update_checked[R](
    session: Session,
    actor: User | None,
    row: R,
    data: BaseModel,
    if_match: IfMatch,
    change: Callable[[Session, User | None, R, dict[str, Any]], bool],
) -> R:
    """The public update: If-Match checked, the core ``change`` run on the fields sent,
    one commit when it changed anything."""
    if_match.check(row)
    if change(session, actor, row, data.model_dump(exclude_unset=True)):
        session.commit()
    return row


def delete_row(
    session: Session,
    actor: User | None,
    row: Any,
    before: dict[str, Any],
    in_use: str,
) -> None:
    """Delete, audit and commit; 409 ``in_use`` when a row that refers to it came
    meanwhile."""
    entity = type(row).__tablename__
    session.delete(row)
    flush_or_conflict(session, in_use)
    record(session, actor, f"{entity}.delete", entity, row.id, before, None)
    session.commit()


def delete_unused(
    session: Session, actor: User | None, row: Item | Location | Supplier, if_match: IfMatch
) -> None:
    """Delete an item, location or supplier nothing refers to (409 naming what does)."""
    if_match.check(row)
    entity = type(row).__tablename__
    uses = references_to(session, type(row).__table__, row.id)
    if any(uses.values()):
        raise Conflict(
            f"{entity} {row.id} is used by {uses_text(uses)}; set active to false instead"
        )
    in_use = f"{entity} {row.id} is in use; set active to false to retire it instead"
    delete_row(session, actor, row, audit_snapshot(row), in_use)
