"""Validating dependencies of the catalogue routes.

``valid_<thing>_id`` loads the row named in the path or raises 404, once for every
route; it asks for the caller first, so nobody learns what exists without a token.
``CatalogueManager`` admits technical specialists and admins (403 for the rest).
``ManagedOfferDep`` adds the object-level rule: an agency's long-term
agreement is changed only by that agency's specialists (or an admin).

Offer and route bodies are parsed here rather than by FastAPI: a body with a bad
field *and* an unknown supplier or out-of-order tiers must list every problem in
one 422, and FastAPI stops at the schema's. When the schema refuses a body, the
service's cross-row checks still run on the raw JSON and their problems join the
list; when it accepts it, the service runs them itself (after an idempotent
replay has had its chance).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

from fastapi import Depends
from pydantic import BaseModel, ValidationError

from app.api.bodies import JsonBody
from app.api.params import IdPath
from app.auth.deps import CurrentUser, require_roles
from app.auth.models import Role, User
from app.catalogue import service
from app.catalogue.models import Item, Location, Offer, Route, Supplier
from app.catalogue.schemas import OfferCreate, OfferUpdate, RouteCreate
from app.db import SessionDep
from app.errors import FieldIssue, InvalidInput, field_issues

CatalogueManager = Annotated[User, Depends(require_roles(Role.technical_specialist, Role.admin))]


def valid_item_id(item_id: str, session: SessionDep, _user: CurrentUser) -> Item:
    return service.get_item(session, item_id)


def valid_location_id(location_id: str, session: SessionDep, _user: CurrentUser) -> Location:
    return service.get_location(session, location_id)


def valid_supplier_id(supplier_id: str, session: SessionDep, _user: CurrentUser) -> Supplier:
    return service.get_supplier(session, supplier_id)


def valid_offer_id(offer_id: IdPath, session: SessionDep, _user: CurrentUser) -> Offer:
    return service.get_offer(session, offer_id)


def valid_route_id(route_id: IdPath, session: SessionDep, _user: CurrentUser) -> Route:
    return service.get_route(session, route_id)


ItemDep = Annotated[Item, Depends(valid_item_id)]
LocationDep = Annotated[Location, Depends(valid_location_id)]
SupplierDep = Annotated[Supplier, Depends(valid_supplier_id)]
OfferDep = Annotated[Offer, Depends(valid_offer_id)]
RouteDep = Annotated[Route, Depends(valid_route_id)]


def managed_offer(offer: OfferDep, user: CatalogueManager) -> Offer:
    """The offer, if the caller may change it: 403 on another agency's agreement.

    Checked before the body is read, so nobody learns how their edit of an offer
    they may not touch would have been judged.
    """
    service.require_may_manage_offer(user, offer.owner_agency_id)
    return offer


ManagedOfferDep = Annotated[Offer, Depends(managed_offer)]


# --------------------------------------------------------------------- JSON bodies


# Parsed (and its media type checked) by app.api.bodies, like every body.
RawBody = JsonBody


def parse_body[M: BaseModel](
    model: type[M], raw: Any, more_issues: Callable[[], list[FieldIssue]]
) -> M:
    """``raw`` as ``model``, or 422 listing the schema's problems and ``more_issues()``."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        issues = field_issues(exc.errors(include_url=False))
        if isinstance(raw, Mapping):
            issues += more_issues()
    unique = list(dict.fromkeys((i.path, i.reason) for i in issues))
    raise InvalidInput([FieldIssue(path, reason) for path, reason in unique])


def offer_create_body(raw: RawBody, session: SessionDep) -> OfferCreate:
    return parse_body(OfferCreate, raw, lambda: service.offer_issues(session, raw))


def offer_update_body(raw: RawBody, offer: ManagedOfferDep, session: SessionDep) -> OfferUpdate:
    return parse_body(OfferUpdate, raw, lambda: service.offer_issues(session, raw, offer))


def route_create_body(raw: RawBody, session: SessionDep) -> RouteCreate:
    return parse_body(RouteCreate, raw, lambda: service.route_issues(session, raw))


OfferCreateBody = Annotated[OfferCreate, Depends(offer_create_body)]
OfferUpdateBody = Annotated[OfferUpdate, Depends(offer_update_body)]
RouteCreateBody = Annotated[RouteCreate, Depends(route_create_body)]
