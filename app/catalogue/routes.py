"""/api/v1 items, locations, suppliers, offers, routes. Thin: each route calls one service.

Everyone signed in reads the catalogue; technical specialists and admins change it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.api import Page, PageParamsDep, paginate
from app.api.openapi import json_body as _json_body
from app.api.openapi import problem_responses
from app.api.params import IsoDate
from app.api.resource import add_create, add_delete, add_read, add_update
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


add_create(
    router,
    "/items",
    name="create_item",
    summary="Add an item",
    response_model=ItemRead,
    responses=_CREATE,
    user=CatalogueManager,
    body=ItemCreate,
    create=service.create_item,
    url=service.item_url,
    doc="""Add a catalogue item (technical specialist or admin). 409 if the id is taken.
    Send an Idempotency-Key to retry safely.""",
)
add_read(
    router,
    "/items/{item_id}",
    name="read_item",
    summary="Read an item",
    response_model=ItemRead,
    responses=_READ,
    user=CurrentUser,
    row=ItemDep,
    doc="One item, with its ETag for a later update.",
)
add_update(
    router,
    "/items/{item_id}",
    name="update_item",
    summary="Change an item",
    response_model=ItemRead,
    responses=_UPDATE,
    user=CatalogueManager,
    row=ItemDep,
    body=ItemUpdate,
    update=service.update_item,
    doc="""Change name, unit, category, UNSPSC code or retire the item (needs If-Match).
    The unit cannot change (409) once needs or offers count in it.""",
)
add_delete(
    router,
    "/items/{item_id}",
    name="delete_item",
    summary="Delete an item",
    responses=_DELETE,
    user=CatalogueManager,
    row=ItemDep,
    delete=service.delete_item,
    doc="""Delete an item nothing refers to (needs If-Match); 409 if needs or offers do:
    retire it with `active: false` instead.""",
)


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


add_create(
    router,
    "/locations",
    name="create_location",
    summary="Add a location",
    response_model=LocationRead,
    responses=_CREATE,
    user=CatalogueManager,
    body=LocationCreate,
    create=service.create_location,
    url=service.location_url,
    doc="Add a delivery location (technical specialist or admin). 409 if the id is taken.",
)
add_read(
    router,
    "/locations/{location_id}",
    name="read_location",
    summary="Read a location",
    response_model=LocationRead,
    responses=_READ,
    user=CurrentUser,
    row=LocationDep,
)
add_update(
    router,
    "/locations/{location_id}",
    name="update_location",
    summary="Change a location",
    response_model=LocationRead,
    responses=_UPDATE_LOCATION,
    user=CatalogueManager,
    row=LocationDep,
    body=LocationUpdate,
    update=service.update_location,
    doc="Change name, region, coordinates or retire the location (needs If-Match).",
)
add_delete(
    router,
    "/locations/{location_id}",
    name="delete_location",
    summary="Delete a location",
    responses=_DELETE,
    user=CatalogueManager,
    row=LocationDep,
    delete=service.delete_location,
    doc="Delete a location nothing refers to (needs If-Match); 409 if needs or routes do.",
)


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


add_create(
    router,
    "/suppliers",
    name="create_supplier",
    summary="Add a supplier",
    response_model=SupplierRead,
    responses=_CREATE,
    user=CatalogueManager,
    body=SupplierCreate,
    create=service.create_supplier,
    url=service.supplier_url,
    doc="Add a supplier (technical specialist or admin). 409 if the id is taken.",
)
add_read(
    router,
    "/suppliers/{supplier_id}",
    name="read_supplier",
    summary="Read a supplier",
    response_model=SupplierRead,
    responses=_READ,
    user=CurrentUser,
    row=SupplierDep,
)
add_update(
    router,
    "/suppliers/{supplier_id}",
    name="update_supplier",
    summary="Change a supplier",
    response_model=SupplierRead,
    responses=_UPDATE,
    user=CatalogueManager,
    row=SupplierDep,
    body=SupplierUpdate,
    update=service.update_supplier,
    doc="""Change name, country, contact or retire the supplier (needs If-Match). A retired
    supplier's offers are left out of the runs of rounds that close afterwards.""",
)
add_delete(
    router,
    "/suppliers/{supplier_id}",
    name="delete_supplier",
    summary="Delete a supplier",
    responses=_DELETE,
    user=CatalogueManager,
    row=SupplierDep,
    delete=service.delete_supplier,
    doc="Delete a supplier nothing refers to (needs If-Match); 409 if offers or routes do.",
)


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


add_create(
    router,
    "/offers",
    name="create_offer",
    summary="Add an offer",
    response_model=OfferRead,
    responses=_CREATE_OFFER,
    user=CatalogueManager,
    body=OfferCreateBody,
    create=service.create_offer,
    url=service.offer_url,
    openapi_extra=_json_body(OfferCreate),
    doc="""Add a supplier's offer for an item: all-units price tiers, capacity, minimum
    order, lead time, eligible agencies, validity (technical specialist or admin).
    An agency's long-term agreement (`owner_agency_id`) may be recorded only by that
    agency's specialists or an admin. Every problem is listed in one 422.""",
)
add_read(
    router,
    "/offers/{offer_id:id}",
    name="read_offer",
    summary="Read an offer",
    response_model=OfferRead,
    responses=_READ,
    user=CurrentUser,
    row=OfferDep,
)
add_update(
    router,
    "/offers/{offer_id:id}",
    name="update_offer",
    summary="Change an offer",
    response_model=OfferRead,
    responses=_UPDATE_OFFER,
    user=CatalogueManager,
    row=ManagedOfferDep,
    body=OfferUpdateBody,
    update=service.update_offer,
    openapi_extra=_json_body(OfferUpdate),
    doc="""Change an offer (needs If-Match); `price_tiers` replaces all tiers at once.
    403 on another agency's long-term agreement.""",
)
add_delete(
    router,
    "/offers/{offer_id:id}",
    name="delete_offer",
    summary="Delete an offer",
    responses=_DELETE,
    user=CatalogueManager,
    row=ManagedOfferDep,
    delete=service.delete_offer,
    doc="""Delete an offer (needs If-Match). Runs already made keep their own copy of it.
    403 on another agency's long-term agreement.""",
)


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


add_create(
    router,
    "/routes",
    name="create_route",
    summary="Add a route",
    response_model=RouteRead,
    responses=_CREATE_ROUTE,
    user=CatalogueManager,
    body=RouteCreateBody,
    create=service.create_route,
    url=service.route_url,
    openapi_extra=_json_body(RouteCreate),
    doc="""Add the route from a supplier to a location (technical specialist or admin);
    one per pair, 409 on a second.""",
)
add_read(
    router,
    "/routes/{route_id:id}",
    name="read_route",
    summary="Read a route",
    response_model=RouteRead,
    responses=_READ,
    user=CurrentUser,
    row=RouteDep,
)
add_update(
    router,
    "/routes/{route_id:id}",
    name="update_route",
    summary="Change a route",
    response_model=RouteRead,
    responses=_UPDATE,
    user=CatalogueManager,
    row=RouteDep,
    body=RouteUpdate,
    update=service.update_route,
    doc="Change a route's costs or transit days (needs If-Match).",
)
add_delete(
    router,
    "/routes/{route_id:id}",
    name="delete_route",
    summary="Delete a route",
    responses=_DELETE,
    user=CatalogueManager,
    row=RouteDep,
    delete=service.delete_route,
    doc="Delete a route (needs If-Match).",
)
