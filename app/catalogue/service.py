"""The catalogue's services, in one name: items, locations, suppliers, offers, routes.

Each entity has its own module (``app.catalogue.items``, ``locations``, ``suppliers``,
``offers``, ``delivery_routes``), the steps they share are in ``common`` and the
contract's problem document in ``projection``; this module gathers their names so
that ``from app.catalogue import service`` keeps serving every caller.

Every public create or update is a core (``add_*`` / ``change_*``: checked, added or
set, flushed, audited, no commit), the idempotent response and one commit; a
spreadsheet import (``app.exchange.batch``) calls the same cores. Functions that take
an ``actor`` accept None for operators' tools (the demo loader, the CLI); the audit
then names "system".

Who may change what: technical specialists and admins manage the catalogue (the
routes check the role); an agency's long-term agreement is that agency's to change
(``offers.require_may_manage_offer``).
"""

from __future__ import annotations

from app.catalogue.common import (
    API_PREFIX,
    MONEY_QUANTUM,
    add_keyed_row,
    apply_changes,
    audit_snapshot,
    by_id_where,
    change_row,
    commit_created,
    contains,
    delete_row,
    delete_unused,
    flush_or_conflict,
    get_or_404,
    money_text,
    names_by_id,
    reference_issues,
    update_checked,
    uses_text,
)
from app.catalogue.delivery_routes import (
    add_routes,
    create_route,
    delete_route,
    get_route,
    route_between,
    route_issues,
    route_url,
    routes_query,
    update_route,
)
from app.catalogue.items import (
    add_item,
    change_item,
    create_item,
    delete_item,
    get_item,
    item_url,
    items_query,
    update_item,
)
from app.catalogue.locations import (
    add_location,
    change_location,
    create_location,
    delete_location,
    get_location,
    location_url,
    locations_query,
    update_location,
)
from app.catalogue.offers import (
    add_offers,
    change_offer,
    create_offer,
    delete_offer,
    get_offer,
    may_manage_offer,
    offer_issues,
    offer_snapshot,
    offer_url,
    offers_query,
    offers_valid_on,
    require_may_manage_offer,
    tier_issues,
    update_offer,
)
from app.catalogue.projection import (
    OFFER_ID_PREFIX,
    catalogue_document_parts,
    offer_document,
)
from app.catalogue.suppliers import (
    add_supplier,
    change_supplier,
    create_supplier,
    delete_supplier,
    get_supplier,
    supplier_url,
    suppliers_query,
    update_supplier,
)

__all__ = [
    "API_PREFIX",
    "MONEY_QUANTUM",
    "OFFER_ID_PREFIX",
    "add_item",
    "add_keyed_row",
    "add_location",
    "add_offers",
    "add_routes",
    "add_supplier",
    "apply_changes",
    "audit_snapshot",
    "by_id_where",
    "catalogue_document_parts",
    "change_item",
    "change_location",
    "change_offer",
    "change_row",
    "change_supplier",
    "commit_created",
    "contains",
    "create_item",
    "create_location",
    "create_offer",
    "create_route",
    "create_supplier",
    "delete_item",
    "delete_location",
    "delete_offer",
    "delete_route",
    "delete_row",
    "delete_supplier",
    "delete_unused",
    "flush_or_conflict",
    "get_item",
    "get_location",
    "get_offer",
    "get_or_404",
    "get_route",
    "get_supplier",
    "item_url",
    "items_query",
    "location_url",
    "locations_query",
    "may_manage_offer",
    "money_text",
    "names_by_id",
    "offer_document",
    "offer_issues",
    "offer_snapshot",
    "offer_url",
    "offers_query",
    "offers_valid_on",
    "reference_issues",
    "require_may_manage_offer",
    "route_between",
    "route_issues",
    "route_url",
    "routes_query",
    "supplier_url",
    "suppliers_query",
    "tier_issues",
    "update_checked",
    "update_item",
    "update_location",
    "update_offer",
    "update_route",
    "update_supplier",
    "uses_text",
]
