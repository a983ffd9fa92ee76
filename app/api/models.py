"""Stored responses of create requests sent with an ``Idempotency-Key``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UtcDateTime, json_column, utcnow


class IdempotencyKey(Base):
    __tablename__ = "idempotency_key"
    __table_args__ = (sa.UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"))
    key: Mapped[str] = mapped_column(sa.String(255))
    method: Mapped[str] = mapped_column(sa.String(8))
    path: Mapped[str] = mapped_column(sa.String(2000))
    # SHA-256 of method, path and the canonical JSON body: same key, other body = misuse.
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    response_status: Mapped[int]
    response_body: Mapped[Any] = mapped_column(json_column(), nullable=True)
    # Location and ETag of the created resource, replayed with the body.
    response_headers: Mapped[dict[str, str] | None] = mapped_column(json_column())
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
