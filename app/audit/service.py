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
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from json.encoder import encode_basestring, encode_basestring_ascii
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session, make_transient_to_detached

from app.audit.models import GENESIS_HASH, AuditChainHead, AuditEntry
from app.db import insert_columns, utcnow

SYSTEM_ACTOR = "system"


class Actor(Protocol):
    """Who acted: a user (``app.auth.models.User``), read by id and e-mail. The log needs
    no more of it, so it does not import the users' domain (which records to it)."""

    @property
    def id(self) -> int: ...

    @property
    def email(self) -> str: ...


def _actor_id(actor: Actor | str | None) -> int | None:
    return None if actor is None or isinstance(actor, str) else actor.id


def _actor_name(actor: Actor | str | None) -> str:
    return (
        actor.email if actor is not None and not isinstance(actor, str) else (actor or SYSTEM_ACTOR)
    )


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
_STORED = (*_HASHED, "hash")
# record's statements, built once (plain tables: no ORM layer in between).
_HEAD: sa.Table = AuditChainHead.__table__  # type: ignore[assignment]
_ENTRY: sa.Table = AuditEntry.__table__  # type: ignore[assignment]
_CLAIM = (
    sa.update(_HEAD)
    .where(_HEAD.c.id == 1)
    .values(seq=_HEAD.c.seq + 1)
    .returning(_HEAD.c.seq, _HEAD.c.hash)
)
_SET_HASH = (
    sa.update(_HEAD)
    .where(_HEAD.c.id == sa.bindparam("head_id"))
    .values(hash=sa.bindparam("new_hash"))
)
# Named apart from the columns: the CTE's UPDATE would take a column's name for a SET.
_APPEND = (
    sa.insert(_ENTRY)
    .values({key: sa.bindparam(f"entry_{key}") for key in _STORED})
    .returning(_ENTRY.c.id)
)
_APPEND_PG = _APPEND.add_cte(_SET_HASH.cte("head"))


def record(
    session: Session,
    actor: Actor | str | None,
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
    claimed = session.execute(_CLAIM).one()
    entry = AuditEntry(
        seq=claimed.seq,
        occurred_at=utcnow(),
        actor_id=_actor_id(actor),
        actor_name=_actor_name(actor),
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        before=to_jsonable(before),
        after=to_jsonable(after),
        prev_hash=claimed.hash,
    )
    entry.hash = entry_hash(entry)
    # From the claim to the commit every other audited write waits: the head's new hash
    # and the entry go in one statement where the database takes one (PostgreSQL: a
    # data-modifying CTE). Prepared Core statements, not the unit of work's flush: it
    # costs several times the CPU, and each GIL wait of this thread holds the head.
    values = {f"entry_{key}": getattr(entry, key) for key in _STORED}
    if session.get_bind().dialect.name == "postgresql":
        entry.id = session.execute(
            _APPEND_PG, {**values, "head_id": 1, "new_hash": entry.hash}
        ).scalar_one()
    else:
        session.execute(_SET_HASH, {"head_id": 1, "new_hash": entry.hash})
        entry.id = session.execute(_APPEND, values).scalar_one()
    # Persistent in the session as if flushed: no second INSERT, readable by identity.
    make_transient_to_detached(entry)
    session.add(entry)
    return entry


def record_many(
    session: Session,
    actor: Actor | str | None,
    changes: Iterable[tuple[str, str, str | int, Any, Any]],
) -> int:
    """Append one entry per ``(action, entity_type, entity_id, before, after)``, in order.

    The same chain as calling ``record`` for each (consecutive ``seq``, each entry's
    ``prev_hash`` the hash of the one before, the same stored values), but the head row
    is updated twice in all and the entries inserted in one go: for imports of thousands
    of rows. Never commits; returns how many entries were appended.
    """
    return append_entries(session, prepare_entries(actor, changes, session.get_bind().dialect))


@dataclasses.dataclass(frozen=True)
class Entries:
    """Audit entries made ready by ``prepare_entries``, for ``append_entries``."""

    actor_id: int | None
    actor_name: str
    actions: list[str]
    entity_types: list[str]
    entity_ids: list[str]
    befores: Sequence[str | None]  # as the JSON columns store them
    afters: Sequence[str | None]
    # Each entry's hashed text (canonical_json of its content, keys sorted) up to the
    # value of "occurred_at": the chain's part (occurred_at, prev_hash, seq) comes last.
    texts: list[str]


def prepare_entries(
    actor: Actor | str | None,
    changes: Iterable[tuple[str, str, str | int, Any, Any]],
    dialect: sa.Dialect,
) -> Entries:
    """``record_many``'s work that needs no database: the entries' JSON, stored and hashed.

    Most of the cost of a large batch, so a caller may run it while the database is busy
    with something else of the same transaction (``app.db.inserting_columns``).
    """
    changes = list(changes)
    actor_id = _actor_id(actor)
    actor_name = _actor_name(actor)
    if not changes:
        return Entries(actor_id, actor_name, [], [], [], [], [], [])
    actions, entity_types, entity_ids, befores, afters = (
        list(c) for c in zip(*changes, strict=True)
    )
    entity_ids = list(map(str, entity_ids))
    # As the JSON columns serialise a value (SQLAlchemy's JSON type: none_as_null).
    serializer = getattr(dialect, "_json_serializer", None) or json.dumps
    hashed_befores, stored_befores = _json_values(befores, serializer)
    hashed_afters, stored_afters = _json_values(afters, serializer)
    head = f'"actor_id":{_canonical(actor_id)},"actor_name":{encode_basestring(actor_name)}'
    texts = [
        f'{{"action":{encode_basestring(action)},{head},"after":{after},"before":{before},'
        f'"entity_id":{encode_basestring(entity_id)},'
        f'"entity_type":{encode_basestring(entity_type)},"occurred_at":'
        for action, after, before, entity_id, entity_type in zip(
            actions, hashed_afters, hashed_befores, entity_ids, entity_types, strict=True
        )
    ]
    return Entries(
        actor_id,
        actor_name,
        actions,
        entity_types,
        entity_ids,
        stored_befores,
        stored_afters,
        texts,
    )


def append_entries(session: Session, entries: Entries) -> int:
    """Append prepared entries to the chain (see ``record_many``); returns how many."""
    count = len(entries.texts)
    if not count:
        return 0
    # The head first, as record does: the chain's next positions are ours from here on.
    claimed = session.execute(
        sa.update(AuditChainHead)
        .where(AuditChainHead.id == 1)
        .values(seq=AuditChainHead.seq + count)
        .returning(AuditChainHead.seq, AuditChainHead.hash),
        execution_options=_NO_SYNC,
    ).one()
    first_seq, prev_hash = claimed.seq - count + 1, claimed.hash
    occurred_at = utcnow()  # one transaction, one instant, after the chain's last entry's
    when = encode_basestring(to_jsonable(occurred_at))
    sha256 = hashlib.sha256
    prev_hashes, hashes = [], []
    for seq, text in enumerate(entries.texts, start=first_seq):
        prev_hashes.append(prev_hash)
        content = f'{text}{when},"prev_hash":{encode_basestring(prev_hash)},"seq":{seq}}}'
        prev_hash = sha256(content.encode()).hexdigest()
        hashes.append(prev_hash)
    session.execute(
        sa.update(AuditChainHead).where(AuditChainHead.id == 1).values(hash=prev_hash),
        execution_options=_NO_SYNC,
    )
    insert_columns(
        session.connection(),
        AuditEntry.__table__,  # type: ignore[arg-type]
        {
            "seq": range(first_seq, first_seq + count),
            "occurred_at": [occurred_at] * count,
            "actor_id": [entries.actor_id] * count,
            "actor_name": [entries.actor_name] * count,
            "action": entries.actions,
            "entity_type": entries.entity_types,
            "entity_id": entries.entity_ids,
            "before": entries.befores,
            "after": entries.afters,
            "prev_hash": prev_hashes,
            "hash": hashes,
        },
        serialized=("before", "after"),
    )
    return count


# Plain scalars as canonical_json writes them (ensure_ascii=False) and as json.dumps, the
# JSON columns' serializer, does (ensure_ascii=True): with the json module's own functions.
# Floats are left to the json module (NaN, repr).
_SCALAR_JSON: dict[type, Any] = {
    type(None): "null".format,  # "null" whatever the argument
    bool: {True: "true", False: "false"}.__getitem__,
    int: int.__repr__,
}
_CANONICAL_SCALARS: dict[type, Any] = {**_SCALAR_JSON, str: encode_basestring}
_STORED_SCALARS: dict[type, Any] = {**_SCALAR_JSON, str: encode_basestring_ascii}


def _canonical(value: Any) -> str:
    return str(_CANONICAL_SCALARS[type(value)](value))


def _json_values(values: list[Any], serializer: Any) -> tuple[list[str], Sequence[str | None]]:
    """Each entry's ``before`` (or ``after``): its canonical JSON, which is hashed, and its
    JSON as the column stores it (``serializer``'s text, NULL for None).

    When every one is a dict with the same keys holding plain scalars (str, int, bool,
    None), which is what a bulk import records, both texts are written key by key for
    all entries at once from one template, with the values all entries share written in
    it: the very text ``canonical_json`` and ``json.dumps`` give, for a fraction of
    100,000 runs of the json encoder. Otherwise (or with another serializer than
    json.dumps) each goes through ``to_jsonable``, ``canonical_json`` and the serializer.
    """
    count = len(values)
    if all(v is None for v in values):
        return ["null"] * count, [None] * count
    first = values[0]
    keys = tuple(first) if type(first) is dict else ()
    if (
        serializer is json.dumps
        and keys
        and all(type(k) is str for k in keys)
        and all(type(v) is dict and tuple(v) == keys for v in values)
    ):
        # Per key: one text for every entry, or a list with each entry's.
        hashed: dict[str, str | list[str]] = {}
        stored: dict[str, str | list[str]] = {}
        for key in keys:
            column = [v[key] for v in values]
            kinds = set(map(type, column))
            if not kinds <= _SCALAR_KINDS:
                break
            if len(kinds) == 1:
                kind = kinds.pop()
                canonical, plain = _CANONICAL_SCALARS[kind], _STORED_SCALARS[kind]
                if column.count(column[0]) == count:
                    hashed[key], stored[key] = canonical(column[0]), plain(column[0])
                else:
                    hashed[key] = list(map(canonical, column))
                    stored[key] = hashed[key] if plain is canonical else list(map(plain, column))
            else:
                hashed[key] = [_CANONICAL_SCALARS[type(v)](v) for v in column]
                stored[key] = [_STORED_SCALARS[type(v)](v) for v in column]
        else:
            return (
                _objects(sorted(keys), hashed, ",", ":", encode_basestring, count),
                _objects(keys, stored, ", ", ": ", encode_basestring_ascii, count),
            )
    plain = [to_jsonable(v) for v in values]
    return (
        [canonical_json(v) for v in plain],
        [None if v is None else serializer(v) for v in plain],
    )


def _objects(
    keys: Iterable[str],
    texts: Mapping[str, str | list[str]],
    separator: str,
    colon: str,
    encode_key: Any,
    count: int,
) -> list[str]:
    """``count`` JSON objects with ``keys`` in this order, each value's text from ``texts``."""
    members, varying = [], []
    for key in keys:
        text = texts[key]
        # A "%" in a key or a shared value is doubled: only the slots are directives.
        name = encode_key(key).replace("%", "%%")
        if isinstance(text, str):
            members.append(f"{name}{colon}{text.replace('%', '%%')}")
        else:
            members.append(f"{name}{colon}%s")
            varying.append(text)
    template = "{" + separator.join(members) + "}"
    if not varying:
        return [template % ()] * count
    return list(map(template.__mod__, zip(*varying, strict=True)))


_SCALAR_KINDS = frozenset({str, int, bool, type(None)})


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
