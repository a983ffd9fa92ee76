"""Issued purchase orders, their lines, receipts against them, the group's delivery
policy and the lead-time adjustments the next round learns from.

An order line is one award of the binding plan: one agency's need served by one
offer, so every unit ordered is traced to the need it was ordered for. Its promised
date is the plan's delivery date for that award. What the line says of the plan
(price, lead time, transit, processing days) is copied onto it when the order is
issued: the record of what was promised must not move when the catalogue does.

Receipts are append-only. A correction is a new receipt naming the one it
corrects (``corrects_id``, unique: a receipt is corrected at most once, so to
correct a correction, correct the correction); the corrected receipt no longer
counts, and both stay on record. The ORM refuses to update or delete a receipt.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import User
from app.db import Base, Money, Timestamped, UtcDateTime, Versioned, str_enum, utcnow


class RejectionReason(StrEnum):
    damaged = "damaged"
    expired = "expired"
    wrong_specification = "wrong_specification"


class LineState(StrEnum):
    open = "open"
    partly_delivered = "partly_delivered"
    delivered = "delivered"
    overdue = "overdue"
    closed_short = "closed_short"


class AdjustmentStatus(StrEnum):
    proposed = "proposed"
    confirmed = "confirmed"  # the rule's figure, confirmed by a specialist
    overridden = "overridden"  # a specialist's own figure, with evidence


class PurchaseOrder(Base):
    """One supplier's consolidated order of a round's binding run, issued at approval.

    Its number (``PO-<round>-<nn>``, ``app.runs.outputs.order_number``) is stored when the
    order is issued: a number on paper must never change, whatever the computation does
    later. Every reader of an issued order (the API, the PDF, the OCDS export) reads it.
    """

    __tablename__ = "purchase_order"
    __table_args__ = (sa.UniqueConstraint("run_id", "supplier_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(32), unique=True)
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("round.id"), index=True)
    run_id: Mapped[int] = mapped_column(sa.ForeignKey("run.id"))
    supplier_id: Mapped[str] = mapped_column(sa.ForeignKey("supplier.id"), index=True)
    currency: Mapped[str] = mapped_column(sa.String(3))
    issued_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    # The day the order counts from (order-to-receipt days), in the group's time zone.
    issued_on: Mapped[dt.date]
    issued_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"))

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", order_by="OrderLine.id", lazy="selectin"
    )


class OrderLine(Versioned, Timestamped, Base):
    """One award of the plan: a need served by an offer, with its promised date."""

    __tablename__ = "order_line"
    __table_args__ = (
        sa.UniqueConstraint("order_id", "need_id", "offer_ref"),
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
        sa.Index("ix_order_line_agency_id_location_id", "agency_id", "location_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("purchase_order.id"), index=True)
    need_id: Mapped[int] = mapped_column(sa.ForeignKey("need.id"), index=True)
    agency_id: Mapped[str] = mapped_column(sa.ForeignKey("agency.id"))
    item_id: Mapped[str] = mapped_column(sa.ForeignKey("item.id"))
    location_id: Mapped[str] = mapped_column(sa.ForeignKey("location.id"))
    # The offer as the problem document named it, and the catalogue's row behind it.
    offer_ref: Mapped[str] = mapped_column(sa.String(64))
    offer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("offer.id"), index=True)
    route_id: Mapped[int | None] = mapped_column(sa.ForeignKey("route.id"))
    quantity: Mapped[int]
    unit_price: Mapped[Decimal] = mapped_column(Money)
    need_by: Mapped[dt.date | None]
    promised_on: Mapped[dt.date]
    # What the promise was made of (contract v1's delivery date formula).
    lead_time_days: Mapped[int]
    transit_days: Mapped[int]
    processing_days: Mapped[int]
    closed_short_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    closed_short_reason: Mapped[str | None] = mapped_column(sa.Text)

    order: Mapped[PurchaseOrder] = relationship(back_populates="lines")
    receipts: Mapped[list[Receipt]] = relationship(
        back_populates="line", order_by="Receipt.id", lazy="selectin"
    )


class Receipt(Base):
    """What a local team counted at the line's location on one day. Never changed."""

    __tablename__ = "receipt"
    __table_args__ = (
        sa.CheckConstraint("quantity_received >= 0", name="received_non_negative"),
        sa.CheckConstraint(
            "quantity_rejected >= 0 AND quantity_rejected <= quantity_received",
            name="rejected_within_received",
        ),
        sa.CheckConstraint(
            "(quantity_rejected = 0) = (rejection_reason IS NULL)", name="rejection_has_reason"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    line_id: Mapped[int] = mapped_column(sa.ForeignKey("order_line.id"), index=True)
    location_id: Mapped[str] = mapped_column(sa.ForeignKey("location.id"))
    received_on: Mapped[dt.date]
    quantity_received: Mapped[int]
    quantity_rejected: Mapped[int] = mapped_column(default=0)
    rejection_reason: Mapped[RejectionReason | None] = mapped_column(
        str_enum(RejectionReason, "rejection_reason")
    )
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    corrects_id: Mapped[int | None] = mapped_column(sa.ForeignKey("receipt.id"), unique=True)
    recorded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    line: Mapped[OrderLine] = relationship(back_populates="receipts")
    recorded_by: Mapped[User] = relationship()

    @property
    def quantity_accepted(self) -> int:
        return self.quantity_received - self.quantity_rejected


@event.listens_for(Receipt, "before_update")
@event.listens_for(Receipt, "before_delete")
def _append_only(_mapper: Any, _connection: Any, receipt: Receipt) -> None:
    raise ValueError(f"receipt {receipt.id} is append-only: record a correction instead")


class DeliveryPolicy(Versioned, Base):
    """The group's rules for deliveries and for learning lead times; one row (id 1)."""

    __tablename__ = "delivery_policy"
    __table_args__ = (
        sa.CheckConstraint("id = 1", name="single_row"),
        sa.CheckConstraint("grace_days >= 0", name="grace_non_negative"),
        sa.CheckConstraint("tolerance_pct >= 0", name="tolerance_non_negative"),
        sa.CheckConstraint(
            "lead_time_percentile > 0 AND lead_time_percentile <= 100", name="percentile_range"
        ),
        sa.CheckConstraint("lead_time_window >= 1", name="window_positive"),
        sa.CheckConstraint("lead_time_min_deliveries >= 1", name="min_deliveries_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    # A line is overdue this many days after its promised date.
    grace_days: Mapped[int] = mapped_column(default=3)
    # Accepted units may exceed the ordered quantity by this share (5 = 5 %).
    tolerance_pct: Mapped[Decimal] = mapped_column(sa.Numeric(6, 2), default=Decimal(5))
    # The rule: this percentile of the offer's last ``window`` deliveries, when at least
    # ``min_deliveries`` of them are on record.
    lead_time_percentile: Mapped[int] = mapped_column(default=75)
    lead_time_window: Mapped[int] = mapped_column(default=10)
    lead_time_min_deliveries: Mapped[int] = mapped_column(default=3)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class LeadTimeAdjustment(Versioned, Timestamped, Base):
    """An offer's lead time for one round, as the rule proposes and a specialist decides.

    The snapshot of the round uses ``decided_days`` once the status is ``confirmed``
    or ``overridden``; a proposal alone changes nothing.
    """

    __tablename__ = "lead_time_adjustment"
    __table_args__ = (
        sa.UniqueConstraint("round_id", "offer_id"),
        sa.CheckConstraint("promised_days >= 0", name="promised_non_negative"),
        sa.CheckConstraint("proposed_days >= 0", name="proposed_non_negative"),
        sa.CheckConstraint(
            "(status = 'proposed') = (decided_days IS NULL)", name="decision_matches_status"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("round.id"), index=True)
    offer_id: Mapped[int] = mapped_column(sa.ForeignKey("offer.id"))
    promised_days: Mapped[int]
    proposed_days: Mapped[int]
    # The realised lead times the rule read (days, oldest first) and the rule in words.
    sample: Mapped[list[int]] = mapped_column(sa.JSON)
    rule: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[AdjustmentStatus] = mapped_column(
        str_enum(AdjustmentStatus, "status"), default=AdjustmentStatus.proposed
    )
    decided_days: Mapped[int | None]
    evidence: Mapped[str | None] = mapped_column(sa.Text)
    source: Mapped[str | None] = mapped_column(sa.Text)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id"))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)

    decided_by: Mapped[User | None] = relationship()
