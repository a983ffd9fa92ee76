"""Many needs, offers or routes created in the caller's transaction: all of them, or none.

The domain services (``app.needs.service``, ``app.catalogue.service``) create one
row per call and commit it; a spreadsheet import must not leave half a file in the
database when row 900 turns out bad. These functions run the owners' own rules on
every row first (``needs_service.validate_create``, ``catalogue_service.offer_issues``,
``route_issues``, ``require_may_manage_offer``), collect every problem with the row
it came from, and only when there is none add the rows, flush and record one
audit entry per row, exactly as the single-row service would. They never commit:
``app.exchange.service`` commits once, after the idempotent response is stored.

Problems carry the sheet position as their path (``row 5, quantity``), the form
``app.exchange.table.ParseError.path`` gives the parser's own findings, so one 422
reads the same whichever check found the problem.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.api import API_PREFIX
from app.audit.service import record, record_many, snapshot
from app.auth.models import Role, User
from app.catalogue import service as catalogue_service
from app.catalogue.models import Item, Location, Offer, PriceTier, Route
from app.catalogue.schemas import OfferCreate, RouteCreate
from app.db import bulk_insert, utcnow
from app.errors import FieldIssue, Forbidden, InvalidInput
from app.needs import service as needs_service
from app.needs.models import Need, NeedStatus
from app.rounds.service import ensure_open, lock_round

# Field of the service's schema -> the template's column, so a problem the service
# finds is shown under the header the person typed it in.
NEED_COLUMNS = {"item_id": "item", "location_id": "location"}
OFFER_COLUMNS = {
    "supplier_id": "supplier",
    "item_id": "item",
    "reference": "offer_id",
    "eligible_agencies": "eligible_agencies",
}
ROUTE_COLUMNS = {"supplier_id": "supplier", "location_id": "location"}


def row_path(number: int, path: str, columns: Mapping[str, str]) -> str:
    """``$.item_id`` of sheet row 7 -> ``row 7, item``; ``$.price_tiers[1].unit_price``
    -> ``row 7, tier2_unit_price``; ``$`` -> ``row 7``."""
    field = path.removeprefix("$").lstrip(".")
    if not field:
        return f"row {number}"
    if field.startswith("price_tiers["):
        index, _, rest = field.removeprefix("price_tiers[").partition("]")
        name = rest.lstrip(".") or "min_quantity"
        if index.isdigit():
            return f"row {number}, tier{int(index) + 1}_{name}"
    head = field.split(".", 1)[0].split("[", 1)[0]
    return f"row {number}, {columns.get(head, head)}"


def _schema_issues(exc: ValidationError) -> list[FieldIssue]:
    issues = []
    for error in exc.errors(include_url=False):
        path = "$"
        for part in error["loc"]:
            if isinstance(part, str) and "[" in part:
                continue  # the name of an Annotated validator, not a place in the row
            path += f"[{part}]" if isinstance(part, int) else f".{part}"
        issues.append(FieldIssue(path, error["msg"].removeprefix("Value error, ")))
    return issues


def _at_rows(
    number: int, issues: Sequence[FieldIssue], columns: Mapping[str, str]
) -> list[FieldIssue]:
    return [FieldIssue(row_path(number, i.path, columns), i.reason) for i in issues]


def _refuse_if(issues: list[FieldIssue], what: str) -> None:
    if issues:
        unique = list(dict.fromkeys((i.path, i.reason) for i in issues))
        rows = {p.split(",", 1)[0] for p, _ in unique if p.startswith("row ")}
        raise InvalidInput(
            [FieldIssue(p, r) for p, r in unique],
            detail=f"{len(unique)} problem{'s' if len(unique) != 1 else ''} in "
            f"{len(rows)} row{'s' if len(rows) != 1 else ''}; no {what} were imported",
        )


# ----------------------------------------------------------------------------- needs


def create_needs(
    session: Session,
    actor: User,
    round_id: int,
    rows: Sequence[Mapping[str, Any]],
    row_numbers: Sequence[int],
    *,
    submit: bool,
) -> list[int]:
    """Needs of ``actor``'s agency in an open round, one per row; drafts unless ``submit``.
    Returns their ids, in the rows' order.

    Takes the round lock first, as every need write does, so the rows land in the
    round before it closes or the whole file is refused with 409.
    """
    if not actor.has_role(Role.local_team) or actor.agency_id is None:
        raise Forbidden("only a local team member of an agency imports needs")
    round_ = lock_round(session, round_id)
    ensure_open(round_)
    issues: list[FieldIssue] = []
    accepted = []
    # Held for the loop: the rules look items and locations up by id, and with every
    # one in the identity map that is a dictionary look-up instead of two queries a row.
    catalogue = [*session.scalars(sa.select(Item)), *session.scalars(sa.select(Location))]
    for number, row in zip(row_numbers, rows, strict=True):
        try:
            accepted.append(needs_service.validate_create(session, {**row, "submit": submit}))
        except InvalidInput as exc:
            issues += _at_rows(number, exc.errors, NEED_COLUMNS)
    _refuse_if(issues, "needs")

    # One multi-row INSERT per batch rather than a unit of work over thousands of
    # objects, and the audit entries (the ``snapshot`` each would get) in one go.
    now = utcnow()
    values: list[dict[str, Any]] = [
        {
            "round_id": round_.id,
            "agency_id": actor.agency_id,
            "item_id": data.item_id,
            "location_id": data.location_id,
            "quantity": data.quantity,
            "need_by": data.need_by,
            "priority": data.priority,
            "justification": data.justification,
            "confirmed_priority": None,
            "status": NeedStatus.submitted if data.submit else NeedStatus.draft,
            "created_by_id": actor.id,
            "submitted_at": now if data.submit else None,
            "withdrawn_at": None,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        for data in accepted
    ]
    del catalogue
    if not values:
        return []
    need = cast(sa.Table, Need.__table__)
    assert set(values[0]) == set(need.columns.keys()) - {"id"}, "a column of need is not set"
    if session.get_bind().dialect.name == "postgresql":
        # Ids drawn from the sequence first, then one COPY: RETURNING in parameter order
        # costs PostgreSQL's driver several times the insert itself.
        sequence = sa.func.pg_get_serial_sequence("need", "id")
        ids = sorted(
            session.scalars(
                sa.select(sa.func.nextval(sequence)).select_from(
                    sa.func.generate_series(1, len(values))
                )
            )
        )
        for row, need_id in zip(values, ids, strict=True):
            row["id"] = need_id
        bulk_insert(session.connection(), need, values)
    else:
        ids = list(
            session.scalars(
                need.insert().returning(need.c.id, sort_by_parameter_order=True), values
            )
        )
    record_many(
        session,
        actor,
        (
            ("need.create", "need", need_id, None, {**row, "id": need_id})
            for need_id, row in zip(ids, values, strict=True)
        ),
    )
    return ids


# ---------------------------------------------------------------------------- offers


def create_offers(
    session: Session,
    actor: User,
    rows: Sequence[Mapping[str, Any]],
    row_numbers: Sequence[int],
) -> list[Offer]:
    """Offers with their tiers, one per row.

    Besides the catalogue's rules, a row whose supplier already has an offer with
    the same reference is refused: uploading a file twice must not double every
    offer (change an offer through the API instead).
    """
    issues: list[FieldIssue] = []
    accepted: list[OfferCreate] = []
    for number, row in zip(row_numbers, rows, strict=True):
        row_issues = catalogue_service.offer_issues(session, row)
        try:
            data = OfferCreate.model_validate(row)
        except ValidationError as exc:
            issues += _at_rows(number, _schema_issues(exc) + row_issues, OFFER_COLUMNS)
            continue
        if not catalogue_service.may_manage_offer(actor, data.owner_agency_id):
            row_issues.append(
                FieldIssue("$.owner_agency_id", "only that agency's specialists may add it")
            )
        if data.reference is not None:
            existing = session.scalar(
                sa.select(Offer.id).where(
                    Offer.supplier_id == data.supplier_id, Offer.reference == data.reference
                )
            )
            if existing is not None:
                row_issues.append(
                    FieldIssue(
                        "$.reference",
                        f"{data.supplier_id} already has offer {existing} with this reference "
                        f"({API_PREFIX}/offers/{existing}); change that one instead",
                    )
                )
        issues += _at_rows(number, row_issues, OFFER_COLUMNS)
        accepted.append(data)
    _refuse_if(issues, "offers")

    offers = []
    for data in accepted:
        offer = Offer(
            supplier_id=data.supplier_id,
            item_id=data.item_id,
            reference=data.reference,
            capacity=data.capacity,
            min_order_quantity=data.min_order_quantity,
            lead_time_days=data.lead_time_days,
            owner_agency_id=data.owner_agency_id,
            valid_from=data.valid_from,
            valid_to=data.valid_to,
            price_tiers=[
                PriceTier(min_quantity=t.min_quantity, unit_price=t.unit_price)
                for t in data.price_tiers
            ],
        )
        offer.eligible_agency_ids = data.eligible_agencies
        offers.append(offer)
    session.add_all(offers)
    session.flush()
    for offer in offers:
        record(
            session,
            actor,
            "offer.create",
            "offer",
            offer.id,
            None,
            catalogue_service.offer_snapshot(offer),
        )
    return offers


# ---------------------------------------------------------------------------- routes


def _route_snapshot(route: Route) -> dict[str, Any]:
    # As the catalogue records routes: money exactly as stored, six decimals.
    values = snapshot(route)
    values["fixed_cost"] = catalogue_service.money_text(route.fixed_cost)
    values["unit_cost"] = catalogue_service.money_text(route.unit_cost)
    return values


def create_routes(
    session: Session,
    actor: User,
    rows: Sequence[Mapping[str, Any]],
    row_numbers: Sequence[int],
) -> list[Route]:
    """Routes, one per row; a pair that already has a route is refused at its row."""
    issues: list[FieldIssue] = []
    accepted: list[RouteCreate] = []
    for number, row in zip(row_numbers, rows, strict=True):
        row_issues = catalogue_service.route_issues(session, row)
        try:
            data = RouteCreate.model_validate(row)
        except ValidationError as exc:
            issues += _at_rows(number, _schema_issues(exc) + row_issues, ROUTE_COLUMNS)
            continue
        existing = session.scalar(
            sa.select(Route.id).where(
                Route.supplier_id == data.supplier_id, Route.location_id == data.location_id
            )
        )
        if existing is not None:
            row_issues.append(
                FieldIssue(
                    "$.location_id",
                    f"a route from {data.supplier_id} to {data.location_id} already exists "
                    f"({catalogue_service.route_url(existing)}); change that one instead",
                )
            )
        issues += _at_rows(number, row_issues, ROUTE_COLUMNS)
        accepted.append(data)
    _refuse_if(issues, "routes")

    routes = [Route(**data.model_dump()) for data in accepted]
    session.add_all(routes)
    session.flush()
    for route in routes:
        record(session, actor, "route.create", "route", route.id, None, _route_snapshot(route))
    return routes
