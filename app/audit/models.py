"""The append-only, hash-chained audit log."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UtcDateTime, json_column

GENESIS_HASH = "0" * 64


class AuditEntry(Base):
    """One change: who, when, what, and the entity before and after.

    ``hash`` = SHA-256 over the canonical JSON of the entry's content and
    ``prev_hash``. ``seq`` runs 1, 2, 3 ... without gaps; the unique
    ``prev_hash`` makes a fork of the chain impossible even if the locking in
    ``app.audit.service`` were bypassed.
    """

    __tablename__ = "audit_entry"
    __table_args__ = (sa.Index("ix_audit_entry_entity_type_entity_id", "entity_type", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(unique=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    # Null for changes made by the system itself (CLI bootstrap, scheduler).
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"), index=True)
    # Who it was at the time (e-mail or "system"), so the entry reads on its own.
    actor_name: Mapped[str] = mapped_column(sa.String(254))
    action: Mapped[str] = mapped_column(sa.String(64))
    entity_type: Mapped[str] = mapped_column(sa.String(64))
    entity_id: Mapped[str] = mapped_column(sa.String(64))
    # Null before a creation and after a deletion.
    before: Mapped[Any] = mapped_column(json_column(), nullable=True)
    after: Mapped[Any] = mapped_column(json_column(), nullable=True)
    prev_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    hash: Mapped[str] = mapped_column(sa.String(64), unique=True)


class AuditChainHead(Base):
    """A single row (id 1): the chain's last ``seq`` and ``hash``.

    Every writer updates this row before appending, which serialises writers
    on both databases (a row lock on PostgreSQL, the write lock on SQLite).
    The migration creates the row.
    """

    __tablename__ = "audit_chain_head"
    __table_args__ = (sa.CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int]
    hash: Mapped[str] = mapped_column(sa.String(64))


class AuditSeen(Base):
    """How far a user has read the log on their "what changed since you last looked"
    page (``/changes``): the id of the newest entry there when they last opened it.

    A reading marker, not a change of the group's data: it is kept outside the chain
    (recording every visit would fill the log with its readers). No row: never looked.
    """

    __tablename__ = "audit_seen"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"), primary_key=True)
    last_entry_id: Mapped[int]
    seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
