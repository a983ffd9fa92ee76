"""/api/v1 items, locations, suppliers, offers, routes. Thin: each route calls one service.

Everyone signed in reads the catalogue; technical specialists and admins change it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from app.api import IdempotencyDep, IfMatchDep, Page, PageParamsDep, paginate, set_etag
from app.api.openapi import json_body as _json_body
from app.api.openapi import problem_responses
from app.api.params import IsoDate
from app.auth.deps import CurrentUser
from app.catalogue import service
from app.catalogue.deps import (
    CatalogueManager,
    ItemDep,
    LocationDep,
    ManagedOfferDep,
    OfferCreateBody,
    OfferDep,
    OfferUpdateBody,
    RouteCreateBody,
    RouteDep,
    SupplierDep,
)
from app.catalogue.schemas import (
    ItemCreate,
    ItemRead,
    ItemUpdate,
    LocationCreate,
    LocationRead,
    LocationUpdate,
    OfferCreate,
    OfferRead,
    OfferUpdate,
    RouteCreate,
    RouteRead,
    RouteUpdate,
    SupplierCreate,
    SupplierRead,
    SupplierUpdate,
)
from app.db import SessionDep

router = APIRouter(tags=["catalogue"])

_LIST = problem_responses(401, 422)
_READ = problem_responses(401, 404)
_CREATE = problem_responses(401, 403, 409, 415, 422)
_UPDATE = problem_responses(401, 403, 404, 409, 412, 415, 422, 428)
_DELETE = problem_responses(401, 403, 404, 409, 412, 428)
_TIER_ORDER = (
    "price tiers whose min_quantity does not rise or whose unit_price rises; "
    "valid_to before valid_from"
)
_CREATE_OFFER = problem_responses(
    401,
    403,
    409,
    415,
    422,
    beyond_schema="a supplier, item or agency that does not exist or is retired; " + _TIER_ORDER,
)
_UPDATE_OFFER = problem_responses(
    401,
    403,
    404,
    409,
    412,
    415,
    422,
    428,
    beyond_schema="an agency that does not exist; " + _TIER_ORDER + " (the stored dates count)",
)
_CREATE_ROUTE = problem_responses(
    401,
    403,
    409,
    415,
    422,
    beyond_schema="a supplier or location that does not exist or is retired",
)
_UPDATE_LOCATION = problem_responses(
    401,
    403,
    404,
    409,
    412,
    415,
    422,
    428,
    beyond_schema="a latitude without a longitude or the reverse (the stored ones count)",
)

Active = Annotated[bool | None, Query(description="true: in use; false: retired")]
Search = Annotated[
    str | None, Query(min_length=1, max_length=100, description="text in the id or the name")
]


def _created(response: Response, row: Any, url: str) -> None:
    set_etag(response, row)
    response.headers["Location"] = url


# --------------------------------------------------------------------------- items


@router.get("/items", summary="List items", response_model=Page[ItemRead], responses=_LIST)
def list_items(
    session: SessionDep,
    user: CurrentUser,
    page: PageParamsDep,
    category: Annotated[str | None, Query(description="exact category, e.g. PPE")] = None,
    q: Search = None,
    unspsc: Annotated[
        str | None,
        Query(
            pattern=r"^\d{1,8}$",
            description="UNSPSC prefix; a full code ending in 00 pairs (a segment, family or "
            "class, e.g. 42130000) matches every item under it",
            examples=["4213"],
        ),
    ] = None,
    active: Active = None,
) -> Any:
    """Catalogue items by id, filtered by category, text, UNSPSC code and whether in use."""
    stmt = service.items_query(category=category, q=q, unspsc=unspsc, active=active)
    return paginate(session, stmt, page, ItemRead)


@router.post(
    "/items",
    summary="Add an item",
    status_code=status.HTTP_201_CREATED,
    response_model=ItemRead,
    responses=_CREATE,
)
def create_item(
    body: ItemCreate,
    session: SessionDep,
    user: CatalogueManager,
    idem: IdempotencyDep,
    response: Response,
) -> Any:
    """Add a catalogue item (technical specialist or admin). 409 if the id is taken.
    Send an Idempotency-Key to retry safely."""
    if (replay := idem.replay()) is not None:
        return replay
    item = service.create_item(session, user, body, idem)
    _created(response, item, service.item_url(item))
    return item


@router.get("/items/{item_id}", summary="Read an item", response_model=ItemRead, responses=_READ)
def read_item(item: ItemDep, user: CurrentUser, response: Response) -> Any:
    """One item, with its ETag for a later update."""
    set_etag(response, item)
    return item


@router.patch(
    "/items/{item_id}", summary="Change an item", response_model=ItemRead, responses=_UPDATE
)
def update_item(
    user: CatalogueManager,
    item: ItemDep,
    if_match: IfMatchDep,
    body: ItemUpdate,
    session: SessionDep,
    response: Response,
) -> Any:
    """Change name, unit, category, UNSPSC code or retire the item (needs If-Match).
    The unit cannot change (409) once needs or offers count in it."""
    item = service.update_item(session, user, item, body, if_match)
    set_etag(response, item)
    return item


@router.delete(
    "/items/{item_id}",
    summary="Delete an item",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_DELETE,
)
def delete_item(
    user: CatalogueManager, item: ItemDep, if_match: IfMatchDep, session: SessionDep
) -> Response:
    """Delete an item nothing refers to (needs If-Match); 409 if needs or offers do:
    retire it with `active: false` instead."""
    service.delete_item(session, user, item, if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ----------------------------------------------------------------------- locations


@router.get(
    "/locations", summary="List locations", response_model=Page[LocationRead], responses=_LIST
)
def list_locations(
    session: SessionDep,
    user: CurrentUser,
    page: PageParamsDep,
    region: Annotated[str | None, Query(description="exact region, e.g. Darién")] = None,
    q: Search = None,
    active: Active = None,
) -> Any:
    """Delivery locations by id, filtered by region, text and whether in use."""
    return paginate(
        session, service.locations_query(region=region, q=q, active=active), page, LocationRead
    )


@router.post(
    "/locations",
    summary="Add a location",
    status_code=status.HTTP_201_CREATED,
    response_model=LocationRead,
    responses=_CREATE,
)
def create_location(
    body: LocationCreate,
    session: SessionDep,
    user: CatalogueManager,
    idem: IdempotencyDep,
    response: Response,
) -> Any:
    """Add a delivery location (technical specialist or admin). 409 if the id is taken."""
    if (replay := idem.replay()) is not None:
        return replay
    location = service.create_location(session, user, body, idem)
    _created(response, location, service.location_url(location))
    return location


@router.get(
    "/locations/{location_id}",
    summary="Read a location",
    response_model=LocationRead,
    responses=_READ,
)
def read_location(location: LocationDep, user: CurrentUser, response: Response) -> Any:
    set_etag(response, location)
    return location


@router.patch(
    "/locations/{location_id}",
    summary="Change a location",
    response_model=LocationRead,
    responses=_UPDATE_LOCATION,
)
def update_location(
    user: CatalogueManager,
    location: LocationDep,
    if_match: IfMatchDep,
    body: LocationUpdate,
    session: SessionDep,
    response: Response,
) -> Any:
    """Change name, region, coordinates or retire the location (needs If-Match)."""
    location = service.update_location(session, user, location, body, if_match)
    set_etag(response, location)
    return location


@router.delete(
    "/locations/{location_id}",
    summary="Delete a location",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_DELETE,
)
def delete_location(
    user: CatalogueManager, location: LocationDep, if_match: IfMatchDep, session: SessionDep
) -> Response:
    """Delete a location nothing refers to (needs If-Match); 409 if needs or routes do."""
    service.delete_location(session, user, location, if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ----------------------------------------------------------------------- suppliers


@router.get(
    "/suppliers", summary="List suppliers", response_model=Page[SupplierRead], responses=_LIST
)
def list_suppliers(
    session: SessionDep,
    user: CurrentUser,
    page: PageParamsDep,
    q: Search = None,
    country: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$", examples=["PA"])] = None,
    active: Active = None,
) -> Any:
    """Suppliers by id, filtered by text, country and whether in use."""
    return paginate(
        session, service.suppliers_query(q=q, country=country, active=active), page, SupplierRead
    )


@router.post(
    "/suppliers",
    summary="Add a supplier",
    status_code=status.HTTP_201_CREATED,
    response_model=SupplierRead,
    responses=_CREATE,
)
def create_supplier(
    body: SupplierCreate,
    session: SessionDep,
    user: CatalogueManager,
    idem: IdempotencyDep,
    response: Response,
) -> Any:
    """Add a supplier (technical specialist or admin). 409 if the id is taken."""
    if (replay := idem.replay()) is not None:
        return replay
    supplier = service.create_supplier(session, user, body, idem)
    _created(response, supplier, service.supplier_url(supplier))
    return supplier


@router.get(
    "/suppliers/{supplier_id}",
    summary="Read a supplier",
    response_model=SupplierRead,
    responses=_READ,
)
def read_supplier(supplier: SupplierDep, user: CurrentUser, response: Response) -> Any:
    set_etag(response, supplier)
    return supplier


@router.patch(
    "/suppliers/{supplier_id}",
    summary="Change a supplier",
    response_model=SupplierRead,
    responses=_UPDATE,
)
def update_supplier(
    user: CatalogueManager,
    supplier: SupplierDep,
    if_match: IfMatchDep,
    body: SupplierUpdate,
    session: SessionDep,
    response: Response,
) -> Any:
    """Change name, country, contact or retire the supplier (needs If-Match). A retired
    supplier's offers are left out of the runs of rounds that close afterwards."""
    supplier = service.update_supplier(session, user, supplier, body, if_match)
    set_etag(response, supplier)
    return supplier


@router.delete(
    "/suppliers/{supplier_id}",
    summary="Delete a supplier",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_DELETE,
)
def delete_supplier(
    user: CatalogueManager, supplier: SupplierDep, if_match: IfMatchDep, session: SessionDep
) -> Response:
    """Delete a supplier nothing refers to (needs If-Match); 409 if offers or routes do."""
    service.delete_supplier(session, user, supplier, if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -------------------------------------------------------------------------- offers


@router.get("/offers", summary="List offers", response_model=Page[OfferRead], responses=_LIST)
def list_offers(
    session: SessionDep,
    user: CurrentUser,
    page: PageParamsDep,
    item_id: Annotated[str | None, Query(description="offers of this item")] = None,
    supplier_id: Annotated[str | None, Query(description="offers of this supplier")] = None,
    valid_on: Annotated[
        IsoDate | None, Query(description="offers valid on this day", examples=["2026-12-01"])
    ] = None,
    eligible_for: Annotated[
        str | None, Query(description="offers this agency may buy through", examples=["IOM"])
    ] = None,
    owner_agency_id: Annotated[
        str | None, Query(description="long-term agreements of this agency")
    ] = None,
) -> Any:
    """Supplier offers by id with their price tiers, filtered by item, supplier, day of
    validity, the agency that may use them and the agency whose agreement they are."""
    stmt = service.offers_query(
        item_id=item_id,
        supplier_id=supplier_id,
        valid_on=valid_on,
        eligible_for=eligible_for,
        owner_agency_id=owner_agency_id,
    )
    return paginate(session, stmt, page, OfferRead)


@router.post(
    "/offers",
    summary="Add an offer",
    status_code=status.HTTP_201_CREATED,
    response_model=OfferRead,
    responses=_CREATE_OFFER,
    openapi_extra=_json_body(OfferCreate),
)
def create_offer(
    user: CatalogueManager,
    idem: IdempotencyDep,
    body: OfferCreateBody,
    session: SessionDep,
    response: Response,
) -> Any:
    """Add a supplier's offer for an item: all-units price tiers, capacity, minimum
    order, lead time, eligible agencies, validity (technical specialist or admin).
    An agency's long-term agreement (`owner_agency_id`) may be recorded only by that
    agency's specialists or an admin. Every problem is listed in one 422."""
    if (replay := idem.replay()) is not None:
        return replay
    offer = service.create_offer(session, user, body, idem)
    _created(response, offer, service.offer_url(offer))
    return offer


@router.get(
    "/offers/{offer_id:id}", summary="Read an offer", response_model=OfferRead, responses=_READ
)
def read_offer(offer: OfferDep, user: CurrentUser, response: Response) -> Any:
    set_etag(response, offer)
    return offer


@router.patch(
    "/offers/{offer_id:id}",
    summary="Change an offer",
    response_model=OfferRead,
    responses=_UPDATE_OFFER,
    openapi_extra=_json_body(OfferUpdate),
)
def update_offer(
    user: CatalogueManager,
    offer: ManagedOfferDep,
    if_match: IfMatchDep,
    body: OfferUpdateBody,
    session: SessionDep,
    response: Response,
) -> Any:
    """Change an offer (needs If-Match); `price_tiers` replaces all tiers at once.
    403 on another agency's long-term agreement."""
    offer = service.update_offer(session, user, offer, body, if_match)
    set_etag(response, offer)
    return offer


@router.delete(
    "/offers/{offer_id:id}",
    summary="Delete an offer",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_DELETE,
)
def delete_offer(
    user: CatalogueManager, offer: ManagedOfferDep, if_match: IfMatchDep, session: SessionDep
) -> Response:
    """Delete an offer (needs If-Match). Runs already made keep their own copy of it.
    403 on another agency's long-term agreement."""
    service.delete_offer(session, user, offer, if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -------------------------------------------------------------------------- routes


@router.get("/routes", summary="List routes", response_model=Page[RouteRead], responses=_LIST)
def list_routes(
    session: SessionDep,
    user: CurrentUser,
    page: PageParamsDep,
    supplier_id: Annotated[str | None, Query(description="routes from this supplier")] = None,
    location_id: Annotated[str | None, Query(description="routes to this location")] = None,
) -> Any:
    """Delivery routes (supplier to location) with their costs and transit days."""
    stmt = service.routes_query(supplier_id=supplier_id, location_id=location_id)
    return paginate(session, stmt, page, RouteRead)


@router.post(
    "/routes",
    summary="Add a route",
    status_code=status.HTTP_201_CREATED,
    response_model=RouteRead,
    responses=_CREATE_ROUTE,
    openapi_extra=_json_body(RouteCreate),
)
def create_route(
    user: CatalogueManager,
    idem: IdempotencyDep,
    body: RouteCreateBody,
    session: SessionDep,
    response: Response,
) -> Any:
    """Add the route from a supplier to a location (technical specialist or admin);
    one per pair, 409 on a second."""
    if (replay := idem.replay()) is not None:
        return replay
    route = service.create_route(session, user, body, idem)
    _created(response, route, service.route_url(route))
    return route


@router.get(
    "/routes/{route_id:id}", summary="Read a route", response_model=RouteRead, responses=_READ
)
def read_route(route: RouteDep, user: CurrentUser, response: Response) -> Any:
    set_etag(response, route)
    return route


@router.patch(
    "/routes/{route_id:id}", summary="Change a route", response_model=RouteRead, responses=_UPDATE
)
def update_route(
    user: CatalogueManager,
    route: RouteDep,
    if_match: IfMatchDep,
    body: RouteUpdate,
    session: SessionDep,
    response: Response,
) -> Any:
    """Change a route's costs or transit days (needs If-Match)."""
    route = service.update_route(session, user, route, body, if_match)
    set_etag(response, route)
    return route


@router.delete(
    "/routes/{route_id:id}",
    summary="Delete a route",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_DELETE,
)
def delete_route(
    user: CatalogueManager, route: RouteDep, if_match: IfMatchDep, session: SessionDep
) -> Response:
    """Delete a route (needs If-Match)."""
    service.delete_route(session, user, route, if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
