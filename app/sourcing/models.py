"""Sourcing rules of contract v2: capacity groups, award rules, supplier exclusions, budgets.

Who keeps what: technical specialists keep the catalogue-wide parts (a supplier's
capacity shared by several of its offers, award rules per item and location, an
agency's exclusion of a supplier after vetting); a chief of mission sets their own
agency's budget for one round. A round's snapshot freezes all of them
(``app.runs.snapshot``), so a run never changes when they are edited later.

In a problem document a capacity group is ``"g-<id>"``, a rule ``"r-<id>"``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.auth.models import Agency, User
from app.catalogue.models import Item, Location, Offer, Supplier
from app.db import Base, Money, Timestamped, UtcDateTime, Versioned, str_enum, utcnow
from app.sourcing.rules import RuleKind

GROUP_PREFIX = "g-"
RULE_PREFIX = "r-"


class CapacityGroup(Versioned, Timestamped, Base):
    """Offers of one supplier that share one capacity (one factory, one warehouse).

    Edited through the group: replace ``offers`` and ``touch(group)``.
    """

    __tablename__ = "capacity_group"
    __table_args__ = (sa.CheckConstraint("capacity >= 0", name="capacity_non_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[str] = mapped_column(sa.ForeignKey("supplier.id"), index=True)
    # e.g. "Colón plant, 2026 output"
    name: Mapped[str] = mapped_column(sa.String(200))
    capacity: Mapped[int]

    supplier: Mapped[Supplier] = relationship()
    members: Mapped[list[CapacityGroupOffer]] = relationship(
        back_populates="group",
        cascade="all, delete-orphan",
        order_by="CapacityGroupOffer.offer_id",
        lazy="selectin",
    )

    @property
    def offer_ids(self) -> list[int]:
        return [m.offer_id for m in self.members]


class CapacityGroupOffer(Base):
    __tablename__ = "capacity_group_offer"

    group_id: Mapped[int] = mapped_column(
        sa.ForeignKey("capacity_group.id", ondelete="CASCADE"), primary_key=True
    )
    # An offer deleted leaves its groups: the group's other offers still share it.
    offer_id: Mapped[int] = mapped_column(
        sa.ForeignKey("offer.id", ondelete="CASCADE"), primary_key=True, index=True
    )

    group: Mapped[CapacityGroup] = relationship(back_populates="members")
    offer: Mapped[Offer] = relationship()


class AwardRule(Versioned, Timestamped, Base):
    """A soft award rule on an item (at one location, or everywhere), with its reason.

    Count kinds carry ``limit``; share kinds carry ``supplier_id`` and ``share``; the
    CHECKs below hold that in the database too. ``penalty`` is per supplier over
    (or under) the limit for the count kinds, per unit for the share kinds.
    """

    __tablename__ = "award_rule"
    __table_args__ = (
        sa.CheckConstraint("penalty > 0", name="penalty_positive"),
        sa.CheckConstraint(
            "(kind IN ('max_suppliers', 'min_suppliers') AND rule_limit IS NOT NULL "
            "AND supplier_id IS NULL AND share IS NULL) OR "
            "(kind IN ('max_share', 'min_share') AND rule_limit IS NULL "
            "AND supplier_id IS NOT NULL AND share IS NOT NULL)",
            name="fields_of_kind",
        ),
        sa.CheckConstraint("rule_limit IS NULL OR rule_limit >= 0", name="limit_non_negative"),
        sa.CheckConstraint("share IS NULL OR (share > 0 AND share <= 1)", name="share_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[RuleKind] = mapped_column(str_enum(RuleKind, "kind"))
    item_id: Mapped[str] = mapped_column(sa.ForeignKey("item.id"), index=True)
    # Null: the rule holds over every location's needs of the item.
    location_id: Mapped[str | None] = mapped_column(sa.ForeignKey("location.id"))
    supplier_id: Mapped[str | None] = mapped_column(sa.ForeignKey("supplier.id"))
    # "limit" is an SQL keyword.
    limit: Mapped[int | None] = mapped_column("rule_limit")
    share: Mapped[Decimal | None] = mapped_column(Money)
    penalty: Mapped[Decimal] = mapped_column(Money)
    # Why the group keeps it, e.g. "supply risk: at least two suppliers for rapid tests".
    reason: Mapped[str] = mapped_column(sa.Text)

    item: Mapped[Item] = relationship()
    location: Mapped[Location | None] = relationship()
    supplier: Mapped[Supplier | None] = relationship()


class SupplierExclusion(Versioned, Timestamped, Base):
    """An agency may not buy from a supplier, after its vetting; the evidence is cited.

    One per agency and supplier; lifting it deletes the row (the audit keeps it).
    """

    __tablename__ = "supplier_exclusion"
    __table_args__ = (sa.UniqueConstraint("agency_id", "supplier_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[str] = mapped_column(sa.ForeignKey("agency.id"), index=True)
    supplier_id: Mapped[str] = mapped_column(sa.ForeignKey("supplier.id"), index=True)
    # e.g. "failed the 2026 integrity due diligence (sanctions list match)"
    evidence: Mapped[str] = mapped_column(sa.Text)
    # e.g. "UNHCR vendor review committee, minute 2026/41"
    source: Mapped[str] = mapped_column(sa.Text)
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"))

    agency: Mapped[Agency] = relationship()
    supplier: Mapped[Supplier] = relationship()
    created_by: Mapped[User] = relationship()


class AgencyBudget(Versioned, Timestamped, Base):
    """A cap on one agency's direct spend in one round, set by its chief of mission."""

    __tablename__ = "agency_budget"
    __table_args__ = (
        sa.UniqueConstraint("round_id", "agency_id"),
        sa.CheckConstraint("amount >= 0", name="amount_non_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("round.id"), index=True)
    agency_id: Mapped[str] = mapped_column(sa.ForeignKey("agency.id"))
    amount: Mapped[Decimal] = mapped_column(Money)
    # e.g. "CERF allocation 26-RR-PAN-001, PPE line"
    note: Mapped[str | None] = mapped_column(sa.Text)
    set_by_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"))
    set_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    agency: Mapped[Agency] = relationship()
    set_by: Mapped[User] = relationship()
