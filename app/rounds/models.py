"""Procurement rounds: pooling windows that agencies submit needs into."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.db import Base, Timestamped, UtcDateTime, Versioned, json_column, str_enum


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
