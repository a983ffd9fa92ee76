"""Delivery routes: the cost and transit days from a supplier to a location, one per pair."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.audit.service import record
from app.auth.models import User
from app.catalogue import common
from app.catalogue.models import Location, Route, Supplier
from app.catalogue.schemas import RouteCreate, RouteRead, RouteUpdate
from app.errors import Conflict, FieldIssue, InvalidInput

if TYPE_CHECKING:
    from app.api.etags import IfMatch
    from app.api.idempotency import Idempotency


def route_url(route: Route | int) -> str:
    return f"{common.API_PREFIX}/routes/{route if isinstance(route, int) else route.id}"


def get_route(session: Session, route_id: int) -> Route:
    return common.get_or_404(session, Route, route_id)


def routes_query(
    *, supplier_id: str | None = None, location_id: str | None = None
) -> sa.Select[Route]:
    return common.by_id_where(Route, supplier_id=supplier_id, location_id=location_id)


def route_issues(session: Session, data: Mapping[str, Any]) -> list[FieldIssue]:
    """References of a new route; tolerant of a body the schema refused."""
    return [
        *common.reference_issues(
            session, Supplier, data.get("supplier_id"), "$.supplier_id", "supplier"
        ),
        *common.reference_issues(
            session, Location, data.get("location_id"), "$.location_id", "location"
        ),
    ]


def route_between(session: Session, supplier_id: Any, location_id: Any) -> Route | None:
    """The route from this supplier to this location, if there is one (there is at most one)."""
    if not isinstance(supplier_id, str) or not isinstance(location_id, str):
        return None
    return session.scalar(
        sa.select(Route).where(Route.supplier_id == supplier_id, Route.location_id == location_id)
    )


def add_routes(session: Session, actor: User | None, routes: Sequence[RouteCreate]) -> list[Route]:
    """The core of creating routes, checked already (``route_issues``, no route between the
    same places): added, flushed (409 when another request made one meanwhile), audited;
    no commit. One request's create and a spreadsheet import both call it."""
    rows = [Route(**data.model_dump()) for data in routes]
    session.add_all(rows)
    common.flush_or_conflict(session, "a route between the same places was just made")
    for route in rows:
        record(
            session, actor, "route.create", "route", route.id, None, common.audit_snapshot(route)
        )
    return rows


def create_route(
    session: Session, actor: User | None, data: RouteCreate, idem: Idempotency | None = None
) -> Route:
    issues = route_issues(session, data.model_dump())
    if issues:
        raise InvalidInput(issues)
    existing = route_between(session, data.supplier_id, data.location_id)
    if existing is not None:
        raise Conflict(
            f"a route from {data.supplier_id} to {data.location_id} already exists "
            f"({route_url(existing)}); update that one"
        )
    (route,) = add_routes(session, actor, [data])
    common.commit_created(session, idem, RouteRead, route, route_url(route))
    return route


def update_route(
    session: Session, actor: User | None, route: Route, data: RouteUpdate, if_match: IfMatch
) -> Route:
    return common.update_checked(session, actor, route, data, if_match, common.change_row)


def delete_route(session: Session, actor: User | None, route: Route, if_match: IfMatch) -> None:
    if_match.check(route)
    before = common.audit_snapshot(route)
    common.delete_row(session, actor, route, before, f"route {route.id} is in use")
