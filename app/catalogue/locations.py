"""Delivery locations: where the agencies need what they buy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.auth.models import User
from app.catalogue import common
from app.catalogue.models import Location
from app.catalogue.schemas import (
    COORDINATES_APART,
    LocationCreate,
    LocationRead,
    LocationUpdate,
    coordinates_apart,
)
from app.errors import FieldIssue, InvalidInput

if TYPE_CHECKING:
    from app.api.etags import IfMatch
    from app.api.idempotency import Idempotency


def location_url(location: Location) -> str:
    return f"{common.API_PREFIX}/locations/{location.id}"


def get_location(session: Session, location_id: str) -> Location:
    return common.get_or_404(session, Location, location_id)


def locations_query(
    *, region: str | None = None, q: str | None = None, active: bool | None = None
) -> sa.Select[Location]:
    stmt = common.by_id_where(Location, region=region, active=active)
    return stmt.where(common.contains(q, Location.id, Location.name)) if q else stmt


def add_location(session: Session, actor: User | None, data: LocationCreate) -> Location:
    """Core of creating a location: 409 if the id is taken, added, flushed, audited;
    no commit."""
    location = Location(**data.model_dump(), active=True)
    common.add_keyed_row(session, actor, location)
    return location


def create_location(
    session: Session, actor: User | None, data: LocationCreate, idem: Idempotency | None = None
) -> Location:
    location = add_location(session, actor, data)
    common.commit_created(session, idem, LocationRead, location, location_url(location))
    return location


def change_location(
    session: Session, actor: User | None, location: Location, changes: dict[str, Any]
) -> bool:
    """Core of changing a location: 422 on a latitude without a longitude or the reverse
    (the stored ones count); set, flushed, audited; no commit."""
    latitude = changes.get("latitude", location.latitude)
    longitude = changes.get("longitude", location.longitude)
    if coordinates_apart(latitude, longitude):
        path = "$.latitude" if "latitude" in changes else "$.longitude"
        raise InvalidInput([FieldIssue(path, COORDINATES_APART)])
    return common.change_row(session, actor, location, changes)


def update_location(
    session: Session,
    actor: User | None,
    location: Location,
    data: LocationUpdate,
    if_match: IfMatch,
) -> Location:
    return common.update_checked(session, actor, location, data, if_match, change_location)


def delete_location(
    session: Session, actor: User | None, location: Location, if_match: IfMatch
) -> None:
    common.delete_unused(session, actor, location, if_match)
