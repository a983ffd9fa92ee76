"""Append entries to the hash-chained audit log and verify the chain.

How a domain service uses it (the entry joins the service's transaction and
commits or rolls back with it; ``record`` never commits)::

    from app.audit import record, snapshot

    def update(session, actor, need_id, data, if_match) -> Need:
        need = get(session, need_id)
        if_match.check(need)
        before = snapshot(need)
        need.quantity = data.quantity
        session.flush()                      # ids and versions are known now
        record(session, actor, "need.update", "need", need.id, before, snapshot(need))
        session.commit()
        return need

Call ``record`` last, just before ``commit``: on PostgreSQL it holds the
chain-head row lock until the transaction ends, so every other audited write
waits for it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.audit.models import GENESIS_HASH, AuditChainHead, AuditEntry
from app.auth.models import User
from app.db import bulk_insert, utcnow

SYSTEM_ACTOR = "system"


_SCALARS = frozenset({type(None), bool, int, str})


def to_jsonable(value: Any) -> Any:
    """Turn a value into plain JSON types, the exact form that is stored and hashed.

    Decimals become strings (no float rounding in the log), instants ISO 8601
    in UTC, enums their value.
    """
    # The common cases first, by exact type (a bulk import appends 100,000 entries).
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("NaN and infinities cannot be stored in the audit log")
        return value
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} in an audit entry")
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if hasattr(value, "model_dump"):
        return to_jsonable(value.model_dump(mode="json"))
    if isinstance(value, Iterable) and not isinstance(value, bytes | bytearray):
        return [to_jsonable(v) for v in value]
    raise TypeError(f"cannot put {type(value).__name__} in an audit entry")


def snapshot(row: Any, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """The column values of an ORM row as JSON, for an entry's ``before``/``after``."""
    skip = set(exclude)
    mapper = sa.inspect(row).mapper
    return {
        attr.key: to_jsonable(getattr(row, attr.key))
        for attr in mapper.column_attrs
        if attr.key not in skip
    }


# One encoder for every entry: json.dumps with options builds a new one per call.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def canonical_json(value: Any) -> str:
    return _CANONICAL.encode(value)


_HASHED = (
    "seq", "occurred_at", "actor_id", "actor_name", "action", "entity_type", "entity_id",
    "before", "after", "prev_hash",
)  # fmt: skip


def _content(entry: AuditEntry | dict[str, Any]) -> dict[str, Any]:
    # Every stored field but id and hash; occurred_at at microsecond precision,
    # which both databases keep exactly.
    values = entry if isinstance(entry, dict) else {k: getattr(entry, k) for k in _HASHED}
    content = {k: values[k] for k in _HASHED}
    content["occurred_at"] = values["occurred_at"].astimezone(dt.UTC).isoformat()
    return content


def entry_hash(entry: AuditEntry | dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(_content(entry)).encode()).hexdigest()


_NO_SYNC = {"synchronize_session": False}


def record(
    session: Session,
    actor: User | str | None,
    action: str,
    entity_type: str,
    entity_id: str | int,
    before: Any = None,
    after: Any = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction (added and flushed, never committed).

    ``actor`` is the user acting, or a name for the system acting on its own
    ("cli", "scheduler"); None means "system".
    """
    # Claim the next position by updating the head row first: the UPDATE takes
    # the row lock on PostgreSQL (a concurrent writer waits, then sees our
    # committed head, or our rollback) and SQLite already holds its write lock.
    claimed = session.execute(
        sa.update(AuditChainHead)
        .where(AuditChainHead.id == 1)
        .values(seq=AuditChainHead.seq + 1)
        .returning(AuditChainHead.seq, AuditChainHead.hash),
        execution_options=_NO_SYNC,
    ).one()
    entry = AuditEntry(
        seq=claimed.seq,
        occurred_at=utcnow(),
        actor_id=actor.id if isinstance(actor, User) else None,
        actor_name=(actor.email if isinstance(actor, User) else (actor or SYSTEM_ACTOR)),
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        before=to_jsonable(before),
        after=to_jsonable(after),
        prev_hash=claimed.hash,
    )
    entry.hash = entry_hash(entry)
    session.execute(
        sa.update(AuditChainHead).where(AuditChainHead.id == 1).values(hash=entry.hash),
        execution_options=_NO_SYNC,
    )
    session.add(entry)
    session.flush()
    return entry


def record_many(
    session: Session,
    actor: User | str | None,
    changes: Iterable[tuple[str, str, str | int, Any, Any]],
) -> int:
    """Append one entry per ``(action, entity_type, entity_id, before, after)``, in order.

    The same chain as calling ``record`` for each (consecutive ``seq``, each entry's
    ``prev_hash`` the hash of the one before), but the head row is updated twice in
    all and the entries inserted in batches: for imports of thousands of rows. Never
    commits; returns how many entries were appended.
    """
    changes = list(changes)
    if not changes:
        return 0
    claimed = session.execute(
        sa.update(AuditChainHead)
        .where(AuditChainHead.id == 1)
        .values(seq=AuditChainHead.seq + len(changes))
        .returning(AuditChainHead.seq, AuditChainHead.hash),
        execution_options=_NO_SYNC,
    ).one()
    seq, prev_hash = claimed.seq - len(changes), claimed.hash
    occurred_at = utcnow()  # one transaction, one instant
    actor_id = actor.id if isinstance(actor, User) else None
    actor_name = actor.email if isinstance(actor, User) else (actor or SYSTEM_ACTOR)
    rows = []
    for action, entity_type, entity_id, before, after in changes:
        seq += 1
        row = {
            "seq": seq,
            "occurred_at": occurred_at,
            "actor_id": actor_id,
            "actor_name": actor_name,
            "action": action,
            "entity_type": entity_type,
            "entity_id": str(entity_id),
            "before": to_jsonable(before),
            "after": to_jsonable(after),
            "prev_hash": prev_hash,
        }
        row["hash"] = prev_hash = entry_hash(row)
        rows.append(row)
    session.execute(
        sa.update(AuditChainHead).where(AuditChainHead.id == 1).values(hash=prev_hash),
        execution_options=_NO_SYNC,
    )
    bulk_insert(session.connection(), AuditEntry.__table__, rows)  # type: ignore[arg-type]
    return len(rows)


@dataclasses.dataclass
class ChainReport:
    ok: bool
    entries_checked: int
    head_seq: int
    first_broken_seq: int | None = None
    first_broken_id: int | None = None
    reason: str | None = None


def verify_chain(session: Session, batch_size: int = 1000) -> ChainReport:
    """Walk the whole chain in order; report the first entry that does not hold."""
    head = session.execute(
        sa.select(AuditChainHead.seq, AuditChainHead.hash).where(AuditChainHead.id == 1)
    ).one()
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    entries = session.scalars(
        sa.select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=batch_size)
    )
    for entry in entries:
        reason = None
        if entry.seq != expected_seq:
            reason = f"expected entry {expected_seq} here, found {entry.seq}: entries are missing"
        elif entry.prev_hash != prev_hash:
            reason = "prev_hash does not match the previous entry's hash"
        elif entry_hash(entry) != entry.hash:
            reason = "content does not match its hash: the entry was altered"
        if reason:
            return ChainReport(False, checked, head.seq, entry.seq, entry.id, reason)
        checked += 1
        expected_seq, prev_hash = entry.seq + 1, entry.hash
    if head.seq != checked or head.hash != prev_hash:
        return ChainReport(
            False,
            checked,
            head.seq,
            checked + 1,
            None,
            f"the chain head says {head.seq} entries; {checked} found: entries were removed",
        )
    return ChainReport(True, checked, head.seq)


def entries_query(
    *,
    entity_type: str | None = None,
    entity_id: str | None = None,
    actor_id: int | None = None,
    action: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> sa.Select[AuditEntry]:
    stmt = sa.select(AuditEntry).order_by(AuditEntry.seq.desc())
    if entity_type is not None:
        stmt = stmt.where(AuditEntry.entity_type == entity_type)
    if entity_id is not None:
        stmt = stmt.where(AuditEntry.entity_id == entity_id)
    if actor_id is not None:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    if action is not None:
        stmt = stmt.where(AuditEntry.action == action)
    # A time without a zone is read as UTC, the zone every entry is kept in.
    if since is not None:
        stmt = stmt.where(AuditEntry.occurred_at >= _aware(since))
    if until is not None:
        stmt = stmt.where(AuditEntry.occurred_at < _aware(until))
    return stmt


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
