"""Items, locations, suppliers, their offers (with price tiers) and delivery routes.

Ids of items, locations and suppliers are the codes used in problem documents
("ppe-mask-n95", "pa-darien-lajas-blancas", "sup-001"); offers and routes have
integer ids (an offer appears as ``"o-<id>"`` in a problem document).

Eligibility of an offer: ``eligibility_restricted = False`` means every agency
may buy through it (``eligible_agencies: null`` in contract v1); ``True`` means
only the agencies listed in ``offer_eligibility`` may, possibly none (``[]``).
A join table rather than JSON, so an eligible agency is a real foreign key.
Use ``offer.eligible_agency_ids`` to read or write both at once.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import Agency
from app.db import Base, Money, Timestamped, Versioned, touch


class Item(Versioned, Timestamped, Base):
    __tablename__ = "item"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    unit: Mapped[str] = mapped_column(sa.String(32))
    category: Mapped[str] = mapped_column(sa.String(64), index=True)
    unspsc_code: Mapped[str | None] = mapped_column(sa.String(8))
    # Retired items stay for the history of past rounds but take no new needs.
    active: Mapped[bool] = mapped_column(default=True)


class Location(Versioned, Timestamped, Base):
    __tablename__ = "location"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    # Province or comarca, for the who-what-where summary.
    region: Mapped[str | None] = mapped_column(sa.String(100))
    latitude: Mapped[float | None] = mapped_column(sa.Float)
    longitude: Mapped[float | None] = mapped_column(sa.Float)
    active: Mapped[bool] = mapped_column(default=True)


class Supplier(Versioned, Timestamped, Base):
    __tablename__ = "supplier"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    country: Mapped[str | None] = mapped_column(sa.String(2))
    contact_email: Mapped[str | None] = mapped_column(sa.String(254))
    active: Mapped[bool] = mapped_column(default=True)


class Offer(Versioned, Timestamped, Base):
    __tablename__ = "offer"
    __table_args__ = (
        sa.CheckConstraint("capacity >= 0", name="capacity_non_negative"),
        sa.CheckConstraint("min_order_quantity >= 0", name="moq_non_negative"),
        sa.CheckConstraint("lead_time_days >= 0", name="lead_time_non_negative"),
        sa.CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="validity_order"),
        sa.CheckConstraint("pack_size >= 1", name="pack_size_positive"),
        sa.CheckConstraint("fee_rate >= 0", name="fee_rate_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[str] = mapped_column(sa.ForeignKey("supplier.id"), index=True)
    item_id: Mapped[str] = mapped_column(sa.ForeignKey("item.id"), index=True)
    # The supplier's or the agreement's own reference (e.g. an LTA number).
    reference: Mapped[str | None] = mapped_column(sa.String(100))
    capacity: Mapped[int]
    min_order_quantity: Mapped[int] = mapped_column(default=0)
    lead_time_days: Mapped[int]
    # Contract v2: sold in whole packs of this many units (a carton of 50 masks).
    pack_size: Mapped[int] = mapped_column(default=1, server_default="1")
    # Contract v2: handling, insurance or service fee as a fraction of the goods value
    # (UNICEF's 4.5% is 0.045); a Money column for its exact six places.
    fee_rate: Mapped[Decimal] = mapped_column(Money, default=Decimal(0), server_default="0")
    eligibility_restricted: Mapped[bool] = mapped_column(default=False)
    # Set when the offer is one agency's long-term agreement that others piggyback on.
    owner_agency_id: Mapped[str | None] = mapped_column(sa.ForeignKey("agency.id"), index=True)
    valid_from: Mapped[dt.date]
    # Null: open-ended.
    valid_to: Mapped[dt.date | None]

    supplier: Mapped[Supplier] = relationship()
    item: Mapped[Item] = relationship()
    owner_agency: Mapped[Agency | None] = relationship()
    price_tiers: Mapped[list[PriceTier]] = relationship(
        back_populates="offer",
        cascade="all, delete-orphan",
        order_by="PriceTier.min_quantity",
        lazy="selectin",
    )
    eligibility: Mapped[list[OfferEligibility]] = relationship(
        back_populates="offer", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def eligible_agency_ids(self) -> list[str] | None:
        """Contract-v1 ``eligible_agencies``: None = every agency, else the list."""
        if not self.eligibility_restricted:
            return None
        return sorted(e.agency_id for e in self.eligibility)

    @eligible_agency_ids.setter
    def eligible_agency_ids(self, agency_ids: list[str] | None) -> None:
        wanted = set(agency_ids or [])
        self.eligibility_restricted = agency_ids is not None
        # Keep the rows that stay: deleting and re-adding the same key in one
        # flush would trip the primary key.
        self.eligibility = [e for e in self.eligibility if e.agency_id in wanted] + [
            OfferEligibility(agency_id=a)
            for a in sorted(wanted - {e.agency_id for e in self.eligibility})
        ]
        touch(self)

    def valid_on(self, day: dt.date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


class PriceTier(Base):
    """All-units tier: from ``min_quantity`` up, every unit costs ``unit_price``.

    Edited only through its offer (replace ``offer.price_tiers`` and ``touch(offer)``).
    """

    __tablename__ = "price_tier"
    __table_args__ = (
        sa.UniqueConstraint("offer_id", "min_quantity"),
        sa.CheckConstraint("min_quantity >= 0", name="min_quantity_non_negative"),
        sa.CheckConstraint("unit_price >= 0", name="unit_price_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    offer_id: Mapped[int] = mapped_column(sa.ForeignKey("offer.id", ondelete="CASCADE"))
    min_quantity: Mapped[int]
    unit_price: Mapped[Decimal] = mapped_column(Money)

    offer: Mapped[Offer] = relationship(back_populates="price_tiers")


class OfferEligibility(Base):
    __tablename__ = "offer_eligibility"

    offer_id: Mapped[int] = mapped_column(
        sa.ForeignKey("offer.id", ondelete="CASCADE"), primary_key=True
    )
    agency_id: Mapped[str] = mapped_column(sa.ForeignKey("agency.id"), primary_key=True)

    offer: Mapped[Offer] = relationship(back_populates="eligibility")


class Route(Versioned, Timestamped, Base):
    """A supplier can deliver to a location only along a route; one per pair."""

    __tablename__ = "route"
    __table_args__ = (
        sa.UniqueConstraint("supplier_id", "location_id"),
        sa.CheckConstraint("fixed_cost >= 0", name="fixed_cost_non_negative"),
        sa.CheckConstraint("unit_cost >= 0", name="unit_cost_non_negative"),
        sa.CheckConstraint("transit_days >= 0", name="transit_days_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[str] = mapped_column(sa.ForeignKey("supplier.id"))
    location_id: Mapped[str] = mapped_column(sa.ForeignKey("location.id"), index=True)
    fixed_cost: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    unit_cost: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    transit_days: Mapped[int]

    supplier: Mapped[Supplier] = relationship()
    location: Mapped[Location] = relationship()
