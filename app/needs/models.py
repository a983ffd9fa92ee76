"""Needs agencies submit into a round, and the evidence-based review of their priority."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import Agency, User
from app.catalogue.models import Item, Location
from app.db import Base, Timestamped, UtcDateTime, Versioned, str_enum, utcnow
from app.rounds.models import Round


class Priority(StrEnum):
    critical = "critical"
    high = "high"
    normal = "normal"


class NeedStatus(StrEnum):
    draft = "draft"
    submitted = "submitted"
    withdrawn = "withdrawn"
    # A coordinator took it out of the round (``set_aside_reason`` says why): it is in
    # no snapshot; its agency may correct it and submit it again while the round is open.
    set_aside = "set_aside"


class Need(Versioned, Timestamped, Base):
    __tablename__ = "need"
    __table_args__ = (
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
        # The duplication check looks for the same item and location in a round.
        sa.Index("ix_need_round_id_item_id_location_id", "round_id", "item_id", "location_id"),
        sa.Index("ix_need_round_id_agency_id", "round_id", "agency_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("round.id"))
    agency_id: Mapped[str] = mapped_column(sa.ForeignKey("agency.id"))
    item_id: Mapped[str] = mapped_column(sa.ForeignKey("item.id"))
    location_id: Mapped[str] = mapped_column(sa.ForeignKey("location.id"))
    quantity: Mapped[int]
    need_by: Mapped[dt.date]
    # What the agency asked for, and why.
    priority: Mapped[Priority] = mapped_column(str_enum(Priority, "priority"))
    justification: Mapped[str] = mapped_column(sa.Text, default="")
    # Set by a technical specialist's review; the plan uses it when present.
    confirmed_priority: Mapped[Priority | None] = mapped_column(
        str_enum(Priority, "confirmed_priority")
    )
    status: Mapped[NeedStatus] = mapped_column(
        str_enum(NeedStatus, "status"), default=NeedStatus.draft
    )
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"))
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    set_aside_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    set_aside_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    set_aside_reason: Mapped[str | None] = mapped_column(sa.Text)

    round: Mapped[Round] = relationship()
    agency: Mapped[Agency] = relationship()
    item: Mapped[Item] = relationship()
    location: Mapped[Location] = relationship()
    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    reviews: Mapped[list[PriorityReview]] = relationship(
        back_populates="need", order_by="PriorityReview.id"
    )

    @property
    def effective_priority(self) -> Priority:
        """The priority a run uses: the confirmed one once a specialist reviewed it."""
        return self.confirmed_priority or self.priority


class PriorityReview(Base):
    """A specialist confirming or changing a need's priority, with the evidence cited.

    Append-only: a later review supersedes an earlier one; none is edited.
    """

    __tablename__ = "priority_review"

    id: Mapped[int] = mapped_column(primary_key=True)
    need_id: Mapped[int] = mapped_column(sa.ForeignKey("need.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"))
    priority: Mapped[Priority] = mapped_column(str_enum(Priority, "priority"))
    # e.g. "suspected measles cases up 40% in 4 weeks at Lajas Blancas"
    evidence: Mapped[str] = mapped_column(sa.Text)
    # e.g. "MINSA epidemiological bulletin week 46"
    source: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    need: Mapped[Need] = relationship(back_populates="reviews")
    reviewer: Mapped[User] = relationship()
