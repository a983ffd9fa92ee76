"""Procurement rounds: pooling windows that agencies submit needs into."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.db import Base, Timestamped, UtcDateTime, Versioned, json_column, str_enum, utcnow


class RoundStatus(StrEnum):
    open = "open"
    closed = "closed"
    optimised = "optimised"
    approved = "approved"
    rejected = "rejected"


class Round(Versioned, Timestamped, Base):
    __tablename__ = "round"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[RoundStatus] = mapped_column(
        str_enum(RoundStatus, "status"), default=RoundStatus.open, index=True
    )
    deadline: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # The problem's as_of; null = the day the round closes.
    as_of: Mapped[dt.date | None]
    currency: Mapped[str] = mapped_column(sa.String(3), default="USD")
    # Contract-v1 "settings" for this round's runs (penalties, weights, limits).
    settings: Mapped[dict[str, Any]] = mapped_column(json_column(), default=dict)
    # For recurring rounds (a later issue): a cron expression and its IANA time zone.
    schedule_cron: Mapped[str | None] = mapped_column(sa.String(100))
    schedule_timezone: Mapped[str | None] = mapped_column(sa.String(64))
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"))
    closed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)

    created_by: Mapped[User] = relationship()


class ScheduleFiring(Base):
    """A scheduled round closing at its deadline. One per round: the database says so."""

    __tablename__ = "schedule_firing"

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("round.id"), unique=True)
    deadline: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    fired_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    fired_by: Mapped[str] = mapped_column(sa.String(200))
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("run.id"))
    # The next window a recurring round opened.
    next_round_id: Mapped[int | None] = mapped_column(sa.ForeignKey("round.id"), unique=True)
    # Why the round could not be closed (its snapshot is invalid): it stays open.
    error: Mapped[str | None] = mapped_column(sa.Text)

    round: Mapped[Round] = relationship(foreign_keys=[round_id])
