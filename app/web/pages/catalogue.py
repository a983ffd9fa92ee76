"""The catalogue as the technical specialists keep it: items (searchable by UNSPSC code),
locations, suppliers, offers with their price tiers, routes, award rules, capacity groups
and supplier exclusions; and the offers and routes uploads. Everyone signed in reads it;
the links to add and change rows (``app.web.pages.catalogue_forms``) are shown to those
who may use them (an exclusion's lift: the agency's own specialists and admins)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session, selectinload

from app.api import etag_for
from app.auth.deps import require_roles
from app.auth.models import Agency, Role, User
from app.catalogue import service as catalogue_service
from app.catalogue.models import Item, Location, Offer, Route, Supplier
from app.catalogue.schemas import ItemRead, LocationRead, OfferRead, RouteRead, SupplierRead
from app.db import SessionDep
from app.errors import InvalidInput
from app.exchange import service as exchange_service
from app.rounds.schemas import RoundCreate
from app.settings import Settings
from app.sourcing import service as sourcing_service
from app.sourcing.models import AwardRule, CapacityGroup, SupplierExclusion
from app.sourcing.rules import RuleKind
from app.sourcing.schemas import AwardRuleRead, CapacityGroupRead, ExclusionRead
from app.web.deps import (
    CheckedForm,
    SettingsDep,
    WebRoute,
    WebUser,
    names_context,
    redirect,
    render,
)
from app.web.pages.catalogue_forms import RULE_KINDS, may_vet_for
from app.web.pages.needs import upload_of
from app.web.tables import Listing, Table, name_of

router = APIRouter(route_class=WebRoute, include_in_schema=False)

PAGE_SIZE = 50
# Catalogue figures carry no currency of their own: a round reads them in its currency,
# which is this one unless its coordinator opens it in another.
CATALOGUE_CURRENCY: str = RoundCreate.model_fields["currency"].default
Text = Annotated[str, Query(max_length=100)]


ACTIVE = {"active": "in use"}
ITEMS = Table(
    {
        "id": Item.id,
        "name": Item.name,
        "unit": Item.unit,
        "category": Item.category,
        "unspsc": Item.unspsc_code,
        "active": Item.active,
    },
    key=Item.id,
    default="id",
    per_page=PAGE_SIZE,
    labels={"id": "code", "unspsc": "UNSPSC code", **ACTIVE},
)
LOCATIONS = Table(
    {
        "id": Location.id,
        "name": Location.name,
        "region": Location.region,
        "active": Location.active,
    },
    key=Location.id,
    default="id",
    per_page=PAGE_SIZE,
    labels={"id": "code", **ACTIVE},
)
SUPPLIERS = Table(
    {
        "id": Supplier.id,
        "name": Supplier.name,
        "country": Supplier.country,
        "contact": Supplier.contact_email,
        "active": Supplier.active,
    },
    key=Supplier.id,
    default="id",
    per_page=PAGE_SIZE,
    labels={"id": "code", **ACTIVE},
)
OFFERS = Table(
    {
        "id": Offer.id,
        "supplier": name_of(Supplier, Offer.supplier_id),
        "item": name_of(Item, Offer.item_id),
        "capacity": Offer.capacity,
        "min_order": Offer.min_order_quantity,
        "lead_days": Offer.lead_time_days,
        "valid_from": Offer.valid_from,
    },
    key=Offer.id,
    default="id",
    per_page=PAGE_SIZE,
    labels={
        "id": "number",
        "min_order": "minimum order",
        "lead_days": "lead days",
        "valid_from": "valid from",
    },
)
ROUTES = Table(
    {
        "id": Route.id,
        "supplier": name_of(Supplier, Route.supplier_id),
        "location": name_of(Location, Route.location_id),
        "fixed_cost": Route.fixed_cost,
        "unit_cost": Route.unit_cost,
        "transit_days": Route.transit_days,
    },
    key=Route.id,
    default="id",
    per_page=PAGE_SIZE,
    labels={
        "id": "number",
        "fixed_cost": "fixed cost",
        "unit_cost": "cost per unit",
        "transit_days": "transit days",
    },
)

RULES = Table(
    {
        "id": AwardRule.id,
        "kind": AwardRule.kind,
        "item": name_of(Item, AwardRule.item_id),
        "location": name_of(Location, AwardRule.location_id),
        "penalty": AwardRule.penalty,
    },
    key=AwardRule.id,
    default="id",
    per_page=PAGE_SIZE,
    labels={"id": "number"},
)
GROUPS = Table(
    {
        "id": CapacityGroup.id,
        "supplier": name_of(Supplier, CapacityGroup.supplier_id),
        "name": CapacityGroup.name,
        "capacity": CapacityGroup.capacity,
    },
    key=CapacityGroup.id,
    default="id",
    per_page=PAGE_SIZE,
    labels={"id": "number"},
)
EXCLUSIONS = Table(
    {
        "id": SupplierExclusion.id,
        "agency": name_of(Agency, SupplierExclusion.agency_id),
        "supplier": name_of(Supplier, SupplierExclusion.supplier_id),
        "recorded": SupplierExclusion.created_at,
    },
    key=SupplierExclusion.id,
    default="id",
    per_page=PAGE_SIZE,
    labels={"id": "number", "recorded": "recorded on"},
)
TABS = {
    "items": ITEMS,
    "suppliers": SUPPLIERS,
    "locations": LOCATIONS,
    "offers": OFFERS,
    "routes": ROUTES,
    "rules": RULES,
    "groups": GROUPS,
    "exclusions": EXCLUSIONS,
}


def _may_manage(user: Any) -> bool:
    return bool(user.has_role(Role.technical_specialist, Role.admin))


@router.get("/catalogue")
def catalogue_home() -> Response:
    return redirect("/catalogue/items")


@router.get("/catalogue/items")
def items_page(
    request: Request,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
    q: Text = "",
    category: Text = "",
) -> Response:
    search = q.strip()
    digits = search.isdigit()
    stmt = catalogue_service.items_query(
        q=None if digits or not search else search,
        unspsc=search if digits else None,
        category=category or None,
    )
    categories = sorted({i.category for i in session.scalars(catalogue_service.items_query())})
    context = {"q": search, "category": category, "categories": categories}
    return _tab_page(request, session, user, settings, "items", stmt, ItemRead, lambda _: context)


def _tab_page[S: BaseModel](
    request: Request,
    session: Session,
    user: User,
    settings: Settings,
    tab: str,
    stmt: Any,
    schema: type[S],
    extra: Callable[[Listing[S]], dict[str, Any]],
) -> Response:
    """One tab of the catalogue (``catalogue_<tab>.html``): the page of ``stmt`` the view
    asks for, with the ``extra`` context its rows call for and who may change them."""
    table = TABS[tab]
    view = table.read(request, settings)
    page = table.page(session, stmt, view, schema)
    return render(
        request,
        settings,
        f"catalogue_{tab}.html",
        {"page": page, "view": view, **extra(page), "may_manage": _may_manage(user), "tab": tab},
    )


@router.get("/catalogue/suppliers")
def suppliers_page(
    request: Request,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
    q: Text = "",
) -> Response:
    stmt = catalogue_service.suppliers_query(q=q.strip() or None)
    search = {"q": q}
    return _tab_page(
        request, session, user, settings, "suppliers", stmt, SupplierRead, lambda _: search
    )


@router.get("/catalogue/locations")
def locations_page(
    request: Request,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
    q: Text = "",
) -> Response:
    stmt = catalogue_service.locations_query(q=q.strip() or None)
    search = {"q": q}
    return _tab_page(
        request, session, user, settings, "locations", stmt, LocationRead, lambda _: search
    )


@router.get("/catalogue/offers")
def offers_page(
    request: Request,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
    item_id: Text = "",
    supplier_id: Text = "",
) -> Response:
    stmt = catalogue_service.offers_query(
        item_id=item_id.strip() or None, supplier_id=supplier_id.strip() or None
    )

    def extra(page: Listing[OfferRead]) -> dict[str, Any]:
        return {
            "currency": CATALOGUE_CURRENCY,
            **names_context(
                session, [o.item_id for o in page.items], [], [o.supplier_id for o in page.items]
            ),
            "item_id": item_id,
            "supplier_id": supplier_id,
            # An agency's long-term agreement is changed only by its own specialists.
            "may_change": lambda offer: (
                _may_manage(user)
                and catalogue_service.may_manage_offer(user, offer.owner_agency_id)
            ),
        }

    return _tab_page(request, session, user, settings, "offers", stmt, OfferRead, extra)


@router.get("/catalogue/routes")
def routes_page(
    request: Request,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
    supplier_id: Text = "",
    location_id: Text = "",
) -> Response:
    stmt = catalogue_service.routes_query(
        supplier_id=supplier_id.strip() or None, location_id=location_id.strip() or None
    )

    def extra(page: Listing[RouteRead]) -> dict[str, Any]:
        return {
            "currency": CATALOGUE_CURRENCY,
            **names_context(
                session,
                [],
                [r.location_id for r in page.items],
                [r.supplier_id for r in page.items],
            ),
            "supplier_id": supplier_id,
            "location_id": location_id,
        }

    return _tab_page(request, session, user, settings, "routes", stmt, RouteRead, extra)


@router.get("/catalogue/rules")
def rules_page(
    request: Request,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
    item_id: Text = "",
    kind: Annotated[RuleKind | None, Query()] = None,
) -> Response:
    """The group's award rules, each with its penalty and reason: read by everyone (a plan
    is argued about with them), kept by the technical specialists."""
    stmt = sourcing_service.rules_query(item_id=item_id.strip() or None, kind=kind)

    def extra(page: Listing[AwardRuleRead]) -> dict[str, Any]:
        return {
            **names_context(
                session,
                [r.item_id for r in page.items],
                [r.location_id for r in page.items if r.location_id],
                [r.supplier_id for r in page.items if r.supplier_id],
            ),
            "item_id": item_id,
            "kind": kind,
            "rule_kinds": RULE_KINDS,
        }

    return _tab_page(request, session, user, settings, "rules", stmt, AwardRuleRead, extra)


Kind = Literal["offers", "routes"]


@router.get("/catalogue/{kind}/upload")
def upload_page(kind: Kind, request: Request, user: WebUser, settings: SettingsDep) -> Response:
    require_roles(Role.technical_specialist, Role.admin)(user)
    return render(request, settings, "catalogue_upload.html", {"kind": kind, "tab": kind})


@router.post("/catalogue/{kind}/upload")
def upload(
    kind: Kind,
    request: Request,
    form: CheckedForm,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
) -> Response:
    require_roles(Role.technical_specialist, Role.admin)(user)
    upload = upload_of(form)
    context: dict[str, Any] = {"kind": kind, "tab": kind}
    if upload is None:
        context["errors"] = {"file": ["Choose a CSV or XLSX file to upload."]}
        return render(request, settings, "catalogue_upload.html", context, status_code=422)
    importer = (
        exchange_service.import_offers if kind == "offers" else exchange_service.import_routes
    )
    try:
        result = importer(session, user, upload, settings=settings)
    except InvalidInput as exc:
        context |= {"problems": exc.errors, "detail": exc.detail, "filename": upload.filename}
        return render(request, settings, "catalogue_upload.html", context, status_code=422)
    noun = kind[:-1] if result.created == 1 else kind
    return redirect(
        f"/catalogue/{kind}", settings, f"{result.created} {noun} imported from {upload.filename}."
    )


@router.get("/catalogue/groups")
def groups_page(
    request: Request,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
    supplier_id: Text = "",
) -> Response:
    """Offers of one supplier that share one capacity: read by everyone, kept by the
    technical specialists."""
    stmt = sourcing_service.groups_query(supplier_id.strip() or None)

    def extra(page: Listing[CapacityGroupRead]) -> dict[str, Any]:
        offer_ids = sorted({o for g in page.items for o in g.offer_ids})
        offers = catalogue_service.offers_query().where(Offer.id.in_(offer_ids))
        return {
            "offers": {o.id: o for o in session.scalars(offers.options(selectinload(Offer.item)))},
            **names_context(session, [], [], [g.supplier_id for g in page.items]),
            "supplier_id": supplier_id,
        }

    return _tab_page(request, session, user, settings, "groups", stmt, CapacityGroupRead, extra)


@router.get("/catalogue/exclusions")
def exclusions_page(
    request: Request,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
    agency_id: Text = "",
    supplier_id: Text = "",
) -> Response:
    """Suppliers an agency may not buy from after its vetting, with the evidence: read by
    everyone, recorded and lifted by the agency's own specialists (or an admin)."""
    stmt = sourcing_service.exclusions_query(
        agency_id=agency_id.strip() or None, supplier_id=supplier_id.strip() or None
    )

    def extra(page: Listing[ExclusionRead]) -> dict[str, Any]:
        # The rows themselves (already in the session): who recorded each, and the ETag
        # its lift is sent with.
        rows = {
            e.id: e
            for e in session.scalars(
                sourcing_service.exclusions_query()
                .where(SupplierExclusion.id.in_([e.id for e in page.items]))
                .options(
                    selectinload(SupplierExclusion.created_by),
                    selectinload(SupplierExclusion.agency),
                )
            )
        }
        manager = _may_manage(user)
        return {
            "recorded_by": {i: row.created_by.name for i, row in rows.items()},
            "etags": {i: etag_for(row) for i, row in rows.items()},
            "agency_names": {row.agency_id: row.agency.name for row in rows.values()},
            **names_context(session, [], [], [e.supplier_id for e in page.items]),
            "agency_id": agency_id,
            "supplier_id": supplier_id,
            "may_lift": lambda e: manager and may_vet_for(user, e.agency_id),
        }

    return _tab_page(request, session, user, settings, "exclusions", stmt, ExclusionRead, extra)
