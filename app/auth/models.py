"""Agencies, their users, the roles users hold, and API tokens."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, Timestamped, UtcDateTime, Versioned, str_enum, utcnow


class Role(StrEnum):
    local_team = "local_team"
    technical_specialist = "technical_specialist"
    chief_of_mission = "chief_of_mission"
    coordinator = "coordinator"
    admin = "admin"

    @property
    def label(self) -> str:
        """The role in plain words, as pages and messages name it."""
        return _ROLE_LABELS[self]


_ROLE_LABELS = {
    Role.local_team: "local team member",
    Role.technical_specialist: "technical specialist",
    Role.chief_of_mission: "chief of mission",
    Role.coordinator: "coordinator",
    Role.admin: "administrator",
}


# Roles that act for one agency: a user holding one of them must belong to an agency.
AGENCY_ROLES = frozenset({Role.local_team, Role.technical_specialist, Role.chief_of_mission})


class Agency(Versioned, Timestamped, Base):
    """A member agency of the group; its id is its short code ("IOM", "UNHCR")."""

    __tablename__ = "agency"

    id: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))


class User(Versioned, Timestamped, Base):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased by the service, so uniqueness is case-insensitive.
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    # Null only for operators who act for no agency (e.g. a platform admin).
    agency_id: Mapped[str | None] = mapped_column(sa.ForeignKey("agency.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)

    agency: Mapped[Agency | None] = relationship(lazy="joined")
    roles: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def role_set(self) -> frozenset[Role]:
        return frozenset(r.role for r in self.roles)

    def has_role(self, *roles: Role) -> bool:
        return not self.role_set.isdisjoint(roles)


class UserRole(Base):
    __tablename__ = "user_role"

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[Role] = mapped_column(str_enum(Role, "role"), primary_key=True)

    user: Mapped[User] = relationship(back_populates="roles")


class ApiToken(Versioned, Base):
    """A bearer token. Only its SHA-256 is kept; the plain token is shown once."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # The first characters of the token ("pb_AbCdEfG"), so a user can tell
    # tokens apart in a list; far too short to be guessed from.
    prefix: Mapped[str] = mapped_column(sa.String(12))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)

    user: Mapped[User] = relationship()
