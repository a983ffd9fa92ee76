"""The catalogue kept from the web: add or change one item, location, supplier, offer (with
its price tiers and who may buy through it), route, award rule or capacity group (and
delete a rule or a group); record or lift a supplier exclusion.

The pages turn the form into the body an API client would send (``app.web.forms``),
parse it with the API's own schema and cross-row checks (``parse_body`` with
``offer_issues`` / ``route_issues``, as ``app.catalogue.deps`` does for the API), and
call the same services, which check, audit and commit. Every problem comes back as a
message next to its field.

Award rules (``app.sourcing``) are one more kind here, not a page of their own: the same
form, the same If-Match from the hidden ``etag``, the sourcing service's ``rule_issues``
as the cross-row check (a kind's fields, its references), as ``app.sourcing.deps`` does
for the API. A rule's kind and item make it (create-only); the form shows every kind's
fields at once, each hint saying which kind takes it, so it works without JavaScript.
Unlike a catalogue row, a rule is deleted (nothing keeps a reference to it: a run has
its own copy in its snapshot). Only technical specialists and admins reach these pages,
and an agency's long-term agreement only its own specialists (or an admin).

Capacity groups and supplier exclusions are two more kinds, kept the same way. A group's
supplier makes it (create-only, as the API has it); its offers are ticked from that
supplier's (``offer_ids``, replaced at once on a change, as the API's PATCH does), and the
sourcing service's ``group_issues`` says which ticked offer is another supplier's. An
exclusion is only recorded or lifted (there is no change of one): recorded for an agency
its specialist vets for (``require_may_vet_for``, the service's own rule, also picks the
agencies the form offers), lifted from the list with the ETag the list was shown with.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel
from starlette.datastructures import FormData

from app.api import IfMatch, etag_for
from app.api.params import MAX_ID
from app.auth import service as auth_service
from app.auth.deps import require_roles
from app.auth.models import Role, User
from app.catalogue import service as catalogue_service
from app.catalogue.deps import parse_body
from app.catalogue.models import Offer
from app.catalogue.schemas import (
    MAX_TIERS,
    ItemCreate,
    ItemUpdate,
    LocationCreate,
    LocationUpdate,
    OfferCreate,
    OfferUpdate,
    RouteCreate,
    RouteUpdate,
    SupplierCreate,
    SupplierUpdate,
)
from app.db import SessionDep
from app.errors import (
    Conflict,
    FieldIssue,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
)
from app.settings import Settings
from app.sourcing import service as sourcing_service
from app.sourcing.rules import RuleKind
from app.sourcing.schemas import (
    AwardRuleCreate,
    AwardRuleUpdate,
    CapacityGroupCreate,
    CapacityGroupUpdate,
    ExclusionCreate,
)
from app.web.deps import (
    CheckedForm,
    SettingsDep,
    WebRoute,
    WebUser,
    field_errors,
    redirect,
    render,
    text,
)
from app.web.forms import FormField, raw_body, shown, values_from_row, values_of
from app.web.pages.needs import item_choices, location_choices

router = APIRouter(route_class=WebRoute, include_in_schema=False)

Kind = Literal[
    "items", "locations", "suppliers", "offers", "routes", "rules", "groups", "exclusions"
]
# An exclusion is recorded or lifted, never changed (the API has no PATCH of one).
EditKind = Literal["items", "locations", "suppliers", "offers", "routes", "rules", "groups"]
Preset = Annotated[str, Query(max_length=64)]

# Tier rows on the offer form: enough for the usual price breaks, and always one or
# two more than the offer has, so a tier can be added without JavaScript.
TIER_ROWS = 5

CODE_HINT = (
    "Letters, digits, '.', '_' or '-'; used in files and problem documents. It cannot change."
)
# The code and the name of every item, location and supplier.
CODE = FormField("id", "Code", required=True, create_only=True, hint=CODE_HINT)
NAME = FormField("name", "Name", required=True)
ACTIVE = FormField(
    "active",
    "In use",
    "bool",
    edit_only=True,
    hint="Untick to retire it: it stays in past rounds but takes nothing new.",
)


@dataclass(frozen=True)
class Spec:
    noun: str
    title: str
    fields: tuple[FormField, ...]
    create_model: type[BaseModel]
    # None: the row is not changed once made.
    update_model: type[BaseModel] | None
    # The field a Conflict (409) from the service is about: on creating, on changing.
    conflict_field: tuple[str, str] = ("_form", "_form")
    # The field a Forbidden (403) from the service is about: the row itself was checked
    # before the form was shown, so what is refused is a value chosen on the form.
    forbidden_field: str = "_form"


SPECS: dict[str, Spec] = {
    "items": Spec(
        "item",
        "an item",
        (
            CODE,
            NAME,
            FormField(
                "unit",
                "Unit",
                required=True,
                hint="What one unit of quantity is: each, box of 50, kg. It cannot change "
                "once needs or offers count in it.",
            ),
            FormField("category", "Category", required=True, hint="e.g. PPE, WASH, Shelter"),
            FormField(
                "unspsc_code",
                "UNSPSC code",
                nullable=True,
                hint="8 digits, e.g. 42131606 (optional)",
                attrs='inputmode="numeric" maxlength="8"',
            ),
            ACTIVE,
        ),
        ItemCreate,
        ItemUpdate,
        ("id", "unit"),
    ),
    "locations": Spec(
        "location",
        "a location",
        (
            CODE,
            NAME,
            FormField(
                "region",
                "Region",
                nullable=True,
                hint="Province or comarca, for the who-what-where (optional)",
            ),
            FormField(
                "latitude",
                "Latitude",
                "number",
                nullable=True,
                hint="Decimal degrees, e.g. 8.2617; give both or neither",
                attrs='inputmode="decimal"',
            ),
            FormField(
                "longitude",
                "Longitude",
                "number",
                nullable=True,
                hint="Decimal degrees, e.g. -77.7322",
                attrs='inputmode="decimal"',
            ),
            ACTIVE,
        ),
        LocationCreate,
        LocationUpdate,
        ("id", "_form"),
    ),
    "suppliers": Spec(
        "supplier",
        "a supplier",
        (
            CODE,
            NAME,
            FormField(
                "country",
                "Country",
                nullable=True,
                hint="ISO 3166 code, two capital letters, e.g. PA (optional)",
                attrs='maxlength="2" autocapitalize="characters"',
            ),
            FormField(
                "contact_email",
                "Contact e-mail",
                nullable=True,
                hint="optional",
                attrs='autocomplete="off" inputmode="email"',
            ),
            FormField(
                "active",
                "In use",
                "bool",
                edit_only=True,
                hint="Untick to retire it: its offers leave the runs of rounds that close "
                "afterwards.",
            ),
        ),
        SupplierCreate,
        SupplierUpdate,
        ("id", "_form"),
    ),
    "offers": Spec(
        "offer",
        "an offer",
        (
            FormField(
                "supplier_id",
                "Supplier",
                "choice",
                required=True,
                create_only=True,
                choices="supplier_choices",
            ),
            FormField(
                "item_id",
                "Item",
                "choice",
                required=True,
                create_only=True,
                choices="item_choices",
            ),
            FormField(
                "reference",
                "Reference",
                nullable=True,
                hint="The supplier's quotation or the agreement's number (optional)",
            ),
            FormField(
                "capacity",
                "Capacity",
                "int",
                required=True,
                hint="The most units the offer delivers in one run.",
                attrs='inputmode="numeric" autocomplete="off"',
            ),
            FormField(
                "min_order_quantity",
                "Minimum order",
                "int",
                blank=0,
                hint="Units; blank or 0 for none.",
                attrs='inputmode="numeric" autocomplete="off"',
            ),
            FormField(
                "pack_size",
                "Pack size",
                "int",
                blank=1,
                hint="Sold in whole packs of this many units; blank or 1: by the unit.",
                attrs='inputmode="numeric" autocomplete="off"',
            ),
            FormField(
                "fee_rate",
                "Fee rate",
                "money",
                blank=0,
                hint="Handling, insurance or service fee as a fraction of the goods' value "
                "(0.045 is 4.5%); blank or 0: none.",
                attrs='inputmode="decimal" autocomplete="off"',
            ),
            FormField(
                "lead_time_days",
                "Lead time (days)",
                "int",
                required=True,
                hint="From the order to dispatch.",
                attrs='inputmode="numeric" autocomplete="off"',
            ),
            FormField("valid_from", "Valid from", "date", required=True),
            FormField("valid_to", "Valid to", "date", nullable=True, hint="Blank: no end date."),
            FormField(
                "owner_agency_id",
                "Long-term agreement of",
                "choice",
                nullable=True,
                choices="owner_choices",
                hint="An agency's own agreement that others piggyback on: only that agency's "
                "specialists may change it afterwards.",
            ),
        ),
        OfferCreate,
        OfferUpdate,
        forbidden_field="owner_agency_id",
    ),
    "routes": Spec(
        "route",
        "a route",
        (
            FormField(
                "supplier_id",
                "Supplier",
                "choice",
                required=True,
                create_only=True,
                choices="supplier_choices",
            ),
            FormField(
                "location_id",
                "Location",
                "choice",
                required=True,
                create_only=True,
                choices="location_choices",
            ),
            FormField(
                "fixed_cost",
                "Fixed cost (USD)",
                "money",
                blank="0",
                hint="Charged once per run if the route is used; blank for none.",
                attrs='inputmode="decimal" autocomplete="off"',
            ),
            FormField(
                "unit_cost",
                "Cost per unit (USD)",
                "money",
                blank="0",
                hint="Per unit moved; blank for none.",
                attrs='inputmode="decimal" autocomplete="off"',
            ),
            FormField(
                "transit_days",
                "Transit (days)",
                "int",
                required=True,
                attrs='inputmode="numeric" autocomplete="off"',
            ),
        ),
        RouteCreate,
        RouteUpdate,
        ("location_id", "_form"),
    ),
    "rules": Spec(
        "rule",
        "an award rule",
        (
            FormField(
                "kind",
                "Kind of rule",
                "choice",
                required=True,
                create_only=True,
                choices="kind_choices",
                hint="It cannot change: for another kind, add a new rule.",
            ),
            FormField(
                "item_id",
                "Item",
                "choice",
                required=True,
                create_only=True,
                choices="item_choices",
            ),
            FormField(
                "location_id",
                "Location",
                "choice",
                nullable=True,
                choices="location_choices",
                hint="Blank: the item's awards at every location.",
            ),
            FormField(
                "limit",
                "Number of suppliers",
                "int",
                nullable=True,
                hint="At most / at least so many suppliers: for those two kinds only.",
                attrs='inputmode="numeric" autocomplete="off"',
            ),
            FormField(
                "supplier_id",
                "Supplier",
                "choice",
                nullable=True,
                choices="rule_supplier_choices",
                hint="The supplier whose share is capped or reserved: for the share kinds only.",
            ),
            FormField(
                "share",
                "Share",
                "money",
                nullable=True,
                hint="A fraction of the units awarded, from 0 to 1 (0.3 is 30%): for the share "
                "kinds only.",
                attrs='inputmode="decimal" autocomplete="off"',
            ),
            FormField(
                "penalty",
                "Penalty",
                "money",
                required=True,
                hint="What breaking it costs the plan, in objective units: per supplier over or "
                "under the number, or per unit over or under the share.",
                attrs='inputmode="decimal" autocomplete="off"',
            ),
            FormField(
                "reason",
                "Reason",
                required=True,
                hint="Why the group keeps it, e.g. supply risk: at least two suppliers for "
                "rapid tests.",
            ),
        ),
        AwardRuleCreate,
        AwardRuleUpdate,
    ),
    "groups": Spec(
        "capacity group",
        "a capacity group",
        (
            FormField(
                "supplier_id",
                "Supplier",
                "choice",
                required=True,
                create_only=True,
                choices="supplier_choices",
                hint="The group shares this supplier's capacity: tick its offers below.",
            ),
            FormField(
                "name",
                "Name",
                required=True,
                hint="What shares the capacity, e.g. Colón plant, 2026 output.",
            ),
            FormField(
                "capacity",
                "Capacity",
                "int",
                required=True,
                hint="The most units the group's offers deliver together in one run.",
                attrs='inputmode="numeric" autocomplete="off"',
            ),
        ),
        CapacityGroupCreate,
        CapacityGroupUpdate,
        forbidden_field="offer_ids",
    ),
    "exclusions": Spec(
        "exclusion",
        "a supplier exclusion",
        (
            FormField(
                "agency_id",
                "Agency",
                "choice",
                required=True,
                choices="agency_choices",
                hint="The agency whose vetting excludes the supplier: your own agency's "
                "(an admin: any agency's).",
            ),
            FormField(
                "supplier_id",
                "Supplier",
                "choice",
                required=True,
                choices="supplier_choices",
            ),
            FormField(
                "evidence",
                "Evidence",
                required=True,
                hint="The finding, e.g. failed the 2026 integrity due diligence (sanctions "
                "list match).",
            ),
            FormField(
                "source",
                "Source",
                required=True,
                hint="Where it is recorded, e.g. vendor review committee, minute 2026/41.",
            ),
        ),
        ExclusionCreate,
        None,
        ("supplier_id", "_form"),
        forbidden_field="agency_id",
    ),
}

RULE_KINDS = {
    RuleKind.max_suppliers: "At most so many suppliers",
    RuleKind.min_suppliers: "At least so many suppliers",
    RuleKind.max_share: "A supplier's share capped",
    RuleKind.min_share: "A supplier's share reserved",
}


# ---------------------------------------------------------------------------- rows


def _numeric_id(key: str, noun: str) -> int:
    # Ids are 32-bit columns: a larger number names no row (and would not fit the query).
    if not key.isdigit() or not 1 <= int(key) <= MAX_ID:
        raise NotFound(f"{noun} {key}")
    return int(key)


def load(session: Any, kind: str, key: str) -> Any:
    match kind:
        case "items":
            return catalogue_service.get_item(session, key)
        case "locations":
            return catalogue_service.get_location(session, key)
        case "suppliers":
            return catalogue_service.get_supplier(session, key)
        case "offers":
            return catalogue_service.get_offer(session, _numeric_id(key, "offer"))
        case "rules":
            return sourcing_service.get_rule(session, _numeric_id(key, "award rule"))
        case "groups":
            return sourcing_service.get_group(session, _numeric_id(key, "capacity group"))
        case "exclusions":
            return sourcing_service.get_exclusion(session, _numeric_id(key, "supplier exclusion"))
        case _:
            return catalogue_service.get_route(session, _numeric_id(key, "route"))


def _cross_issues(session: Any, kind: str, raw: Mapping[str, Any], row: Any) -> list[FieldIssue]:
    """The service's checks across rows, run also when the schema refused the body, so
    every problem is listed at once (as the API's ``parse_body`` callers do)."""
    if kind == "offers":
        return catalogue_service.offer_issues(session, raw, row)
    if kind == "routes" and row is None:
        return catalogue_service.route_issues(session, raw)
    if kind == "rules":
        return sourcing_service.rule_issues(session, raw, row)
    if kind == "groups":
        return sourcing_service.group_issues(session, raw, row)
    if kind == "exclusions":
        return sourcing_service.exclusion_issues(session, raw)
    return []


_CREATE: dict[str, Callable[..., Any]] = {
    "items": catalogue_service.create_item,
    "locations": catalogue_service.create_location,
    "suppliers": catalogue_service.create_supplier,
    "offers": catalogue_service.create_offer,
    "routes": catalogue_service.create_route,
    "rules": sourcing_service.create_rule,
    "groups": sourcing_service.create_group,
    "exclusions": sourcing_service.create_exclusion,
}
_UPDATE: dict[str, Callable[..., Any]] = {
    "items": catalogue_service.update_item,
    "locations": catalogue_service.update_location,
    "suppliers": catalogue_service.update_supplier,
    "offers": catalogue_service.update_offer,
    "routes": catalogue_service.update_route,
    "rules": sourcing_service.update_rule,
    "groups": sourcing_service.update_group,
}
_DELETE: dict[str, Callable[..., Any]] = {
    "rules": sourcing_service.delete_rule,
    "groups": sourcing_service.delete_group,
    "exclusions": sourcing_service.delete_exclusion,
}


def list_url(kind: str, row: Any) -> str:
    """The list filtered down to the row, so it is on the page shown after saving."""
    if kind == "rules":
        query = {"item_id": row.item_id}
    elif kind == "groups":
        query = {"supplier_id": row.supplier_id}
    elif kind == "exclusions":
        query = {"agency_id": row.agency_id}
    elif kind in ("offers", "routes"):
        other = "item_id" if kind == "offers" else "location_id"
        query = {"supplier_id": row.supplier_id, other: getattr(row, other)}
    else:
        query = {"q": row.id}
    anchor = SPECS[kind].noun.replace(" ", "-")
    return f"/catalogue/{kind}?{urlencode(query)}#{anchor}-{row.id}"


def row_title(kind: str, row: Any) -> str:
    noun = SPECS[kind].noun
    numbered = ("offers", "routes", "rules", "groups", "exclusions")
    return f"{noun} #{row.id}" if kind in numbered else f"{noun} {row.id}"


# ------------------------------------------------------------------ who may do it


def require_catalogue_manager(user: User) -> None:
    require_roles(Role.technical_specialist, Role.admin)(user)


def may_vet_for(user: User, agency_id: str) -> bool:
    """Whether ``user`` records and lifts ``agency_id``'s exclusions (the service's rule)."""
    try:
        sourcing_service.require_may_vet_for(user, agency_id)
    except Forbidden:
        return False
    return True


def vetted_agencies(session: Any, user: User) -> list[Any]:
    """The agencies an exclusion form offers: those ``user`` vets for."""
    return [a for a in session.scalars(auth_service.agencies_query()) if may_vet_for(user, a.id)]


def _owner_choices(session: Any, user: User) -> list[tuple[str, str]]:
    """The agencies this user may record an agreement for (the service's own rule)."""
    agencies = session.scalars(auth_service.agencies_query())
    return [("", "none: an offer to the whole group")] + [
        (a.id, f"{a.id} ({a.name})")
        for a in agencies
        if catalogue_service.may_manage_offer(user, a.id)
    ]


# ------------------------------------------------------------------- offer extras


def _tier_rows(count: int) -> int:
    return max(TIER_ROWS, min(count, MAX_TIERS))


def _tiers_of(offer: Offer) -> list[dict[str, str]]:
    return [
        {"min_quantity": shown(t.min_quantity), "unit_price": shown(t.unit_price)}
        for t in offer.price_tiers
    ]


def _posted_tiers(form: FormData) -> list[dict[str, str]]:
    count = text(form, "tier_rows")
    rows = _tier_rows(int(count) if count.isdigit() else TIER_ROWS)
    return [
        {
            "min_quantity": text(form, f"tier_min_quantity_{i}"),
            "unit_price": text(form, f"tier_unit_price_{i}"),
        }
        for i in range(rows)
    ]


def _tiers_body(tiers: list[dict[str, str]]) -> tuple[list[dict[str, Any]], list[int]]:
    """The filled tier rows as the body's ``price_tiers``, and the form row of each
    (blank rows are skipped, so a problem at ``price_tiers[j]`` is on row ``rows[j]``)."""
    tier_field = FormField("min_quantity", "", "int")
    body: list[dict[str, Any]] = []
    rows: list[int] = []
    for i, tier in enumerate(tiers):
        if not tier["min_quantity"] and not tier["unit_price"]:
            continue
        body.append(
            {
                "min_quantity": raw_body(tier, (tier_field,), editing=True).get("min_quantity"),
                "unit_price": tier["unit_price"] or None,
            }
        )
        rows.append(i)
    return body, rows


_TIER_PATH = re.compile(r"^\$\.price_tiers\[(\d+)\]\.(min_quantity|unit_price)$")
_ELIGIBLE_PATH = re.compile(r"^\$\.eligible_agencies\[\d+\]$")
_GROUP_OFFER_PATH = re.compile(r"^\$\.offer_ids\[\d+\]$")


# The body's field names as the form labels them, in the services' sentences.
_WORDS = {
    "unit_price": "unit price",
    "min_quantity": "from quantity",
    "valid_from": "valid from",
    "valid_to": "valid to",
    # An award rule's fields, as the rule-kind sentences (``app.sourcing.rules``) name them.
    "supplier_id": "supplier",
    "limit": "number of suppliers",
}


def _form_issues(issues: list[FieldIssue], rows: list[int]) -> list[FieldIssue]:
    """Issue paths of the body turned into the form's field names (a tier's row), and the
    body's field names in their sentences into the form's words."""
    mapped = []
    for issue in issues:
        path = issue.path
        if match := _TIER_PATH.match(path):
            j = int(match.group(1))
            row = rows[j] if j < len(rows) else j
            path = f"$.tier_{match.group(2)}_{row}"
        elif _ELIGIBLE_PATH.match(path):
            path = "$.eligible_agencies"
        elif _GROUP_OFFER_PATH.match(path):
            path = "$.offer_ids"
        reason = re.sub(
            r"\b(unit_price|min_quantity|valid_from|valid_to|supplier_id|limit)\b",
            lambda m: _WORDS[m.group(1)],
            issue.reason,
        )
        if path == "$.price_tiers" and reason.startswith("List should have at least 1"):
            reason = "give at least one price tier: a quantity from which a unit price holds"
        if path == "$.offer_ids" and reason == "give at least one":
            reason = "tick at least one offer of the supplier: the offers that share the capacity"
        mapped.append(FieldIssue(path, reason))
    return mapped


def _in_form_order(kind: str, errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """The errors in the order their fields come on the form, so the summary reads down it."""
    order = ["_form"]
    for field in SPECS[kind].fields:
        order.append(field.name)
        if kind == "offers" and field.name == "reference":
            order.append("price_tiers")
            for i in range(MAX_TIERS):
                order += [f"tier_min_quantity_{i}", f"tier_unit_price_{i}"]
    order += ["offer_ids", "eligible_agencies"]
    rank = {name: i for i, name in enumerate(order)}
    return dict(sorted(errors.items(), key=lambda item: rank.get(item[0], len(rank))))


def _offer_extras(form: FormData) -> dict[str, Any]:
    listed = form.get("eligibility") == "listed"
    return {
        "tiers": _posted_tiers(form),
        "eligibility": "listed" if listed else "every",
        "eligible": [a for a in form.getlist("eligible_agencies") if isinstance(a, str)],
    }


def _offer_extras_of(offer: Offer | None) -> dict[str, Any]:
    if offer is None:
        return {"tiers": [], "eligibility": "every", "eligible": []}
    eligible = offer.eligible_agency_ids
    return {
        "tiers": _tiers_of(offer),
        "eligibility": "every" if eligible is None else "listed",
        "eligible": eligible or [],
    }


# ------------------------------------------------------------------------ the form


def _labels(kind: str, extras: Mapping[str, Any]) -> dict[str, str]:
    labels = {f.name: f.label for f in SPECS[kind].fields}
    if kind == "offers":
        labels |= {"price_tiers": "Price tiers", "eligible_agencies": "Who may buy"}
        for i in range(len(extras.get("tiers", []))):
            labels[f"tier_min_quantity_{i}"] = f"Tier {i + 1} from quantity"
            labels[f"tier_unit_price_{i}"] = f"Tier {i + 1} unit price"
    if kind == "groups":
        labels["offer_ids"] = "Offers"
    return labels


def _context(
    session: Any,
    user: User,
    kind: str,
    values: dict[str, str],
    row: Any = None,
    extras: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    spec = SPECS[kind]
    editing = row is not None
    context: dict[str, Any] = {
        "kind": kind,
        "tab": kind,
        "spec": spec,
        "fields": [f for f in spec.fields if f.on(editing)],
        "row": row,
        "row_title": row_title(kind, row) if editing else "",
        "values": values,
        "errors": errors or {},
        "etag": etag_for(row) if editing else "",
        "action": f"/catalogue/{kind}/{row.id}/edit" if editing else f"/catalogue/{kind}/new",
        "cancel_url": list_url(kind, row) if editing else f"/catalogue/{kind}",
    }
    # A choice's options by the field's ``choices`` key: [(group or None, [(value, label)])].
    choices: dict[str, list[tuple[str | None, list[tuple[str, str]]]]] = {}
    if kind in ("offers", "routes", "groups", "exclusions") and not editing:
        suppliers = session.scalars(catalogue_service.suppliers_query(active=True))
        choices["supplier_choices"] = [(None, [(s.id, f"{s.name} ({s.id})") for s in suppliers])]
    if kind == "offers":
        extras = extras or _offer_extras_of(row)
        tiers = list(extras["tiers"])
        rows = _tier_rows(len(tiers) + (1 if editing else 0))
        tiers += [{"min_quantity": "", "unit_price": ""}] * (rows - len(tiers))
        context |= {**extras, "tiers": tiers}
        context["agencies"] = list(session.scalars(auth_service.agencies_query()))
        choices["owner_choices"] = [(None, _owner_choices(session, user))]
        if not editing:
            groups, _found = item_choices(session, "", values.get("item_id") or None)
            choices["item_choices"] = [
                (category, [(i.id, f"{i.name} ({i.unit}) · {i.id}") for i in items])
                for category, items in groups
            ]
    if kind == "routes" and not editing:
        choices["location_choices"] = _location_options(session)
    if kind == "rules":
        _rule_choices(session, values, editing, choices)
        context["rule_kinds"] = RULE_KINDS
    if kind == "groups":
        ticked = (extras or _group_extras_of(row))["offer_ids"]
        supplier_id = row.supplier_id if editing else values.get("supplier_id", "")
        context["offer_ids"] = ticked
        context["group_offers"] = _group_offer_choices(session, supplier_id, ticked)
        context["group_supplier_id"] = supplier_id
    if kind == "exclusions":
        choices["agency_choices"] = [
            (None, [(a.id, f"{a.name} ({a.id})") for a in vetted_agencies(session, user)])
        ]
    context["choices"] = choices
    context["labels"] = _labels(kind, context)
    return context


def _location_options(session: Any) -> list[tuple[str | None, list[tuple[str, str]]]]:
    return [
        (region, [(loc.id, f"{loc.name} ({loc.id})") for loc in rows])
        for region, rows in location_choices(session)
    ]


def _rule_choices(
    session: Any,
    values: Mapping[str, str],
    editing: bool,
    choices: dict[str, list[tuple[str | None, list[tuple[str, str]]]]],
) -> None:
    """A rule's choices; "every location" and "no supplier" are the blank options."""
    if not editing:
        choices["kind_choices"] = [(None, [(k.value, label) for k, label in RULE_KINDS.items()])]
        groups, _found = item_choices(session, "", values.get("item_id") or None)
        choices["item_choices"] = [
            (category, [(i.id, f"{i.name} ({i.unit}) · {i.id}") for i in items])
            for category, items in groups
        ]
    choices["location_choices"] = [(None, [("", "every location")]), *_location_options(session)]
    suppliers = session.scalars(catalogue_service.suppliers_query(active=True))
    choices["rule_supplier_choices"] = [
        (None, [("", "none: a rule that counts suppliers")]),
        (None, [(s.id, f"{s.name} ({s.id})") for s in suppliers]),
    ]


def _group_extras_of(group: Any) -> dict[str, Any]:
    return {"offer_ids": [str(o) for o in group.offer_ids] if group is not None else []}


def _group_offer_choices(
    session: Any, supplier_id: str, ticked: list[str]
) -> list[tuple[str, list[tuple[str, str]]]]:
    """The offers a group's form lists, by supplier: the chosen supplier's, and any ticked
    offer of another (so the problem said of it is shown next to it). None before a
    supplier is chosen."""
    offers: list[Offer] = []
    if supplier_id:
        offers = list(session.scalars(catalogue_service.offers_query(supplier_id=supplier_id)))
    listed = {o.id for o in offers}
    others = sorted({int(t) for t in ticked if t.isdigit() and 1 <= int(t) <= MAX_ID} - listed)
    if others:
        offers += session.scalars(catalogue_service.offers_query().where(Offer.id.in_(others)))
    by_supplier: dict[str, list[tuple[str, str]]] = {}
    for offer in sorted(offers, key=lambda o: (o.supplier_id != supplier_id, o.supplier_id, o.id)):
        label = f"{offer.supplier.name} ({offer.supplier_id})"
        by_supplier.setdefault(label, []).append((str(offer.id), _offer_label(offer)))
    return list(by_supplier.items())


def _offer_label(offer: Offer) -> str:
    valid = f"from {offer.valid_from.isoformat()}"
    if offer.valid_to is not None:
        valid += f" to {offer.valid_to.isoformat()}"
    reference = f" · {offer.reference}" if offer.reference else ""
    return (
        f"#{offer.id} {offer.item.name} ({offer.item.unit}) · capacity {offer.capacity:,} · "
        f"{valid}{reference}"
    )


def _render(
    request: Request, settings: Settings, context: dict[str, Any], status_code: int = 200
) -> Response:
    return render(request, settings, "catalogue_form.html", context, status_code=status_code)


def _body(
    kind: str, form: FormData, editing: bool
) -> tuple[dict[str, str], dict[str, Any], dict[str, Any], list[int]]:
    """The form as typed (to show again), the offer's extras, the raw body, tier rows."""
    spec = SPECS[kind]
    values = values_of(form, spec.fields, editing)
    raw = raw_body(values, spec.fields, editing)
    extras: dict[str, Any] = {}
    rows: list[int] = []
    if kind == "offers":
        extras = _offer_extras(form)
        raw["price_tiers"], rows = _tiers_body(extras["tiers"])
        raw["eligible_agencies"] = extras["eligible"] if extras["eligibility"] == "listed" else None
    if kind == "groups":
        ticked = [o.strip() for o in form.getlist("offer_ids") if isinstance(o, str)]
        extras = {"offer_ids": ticked}
        # Always sent, on a change too: the ticked offers replace the members at once.
        raw["offer_ids"] = [int(o) if o.isdigit() else o for o in ticked]
    return values, extras, raw, rows


def _save(
    session: Any, user: User, kind: str, form: FormData, row: Any
) -> tuple[Any, dict[str, Any] | None, int]:
    """Parse and save: (the saved row, None, 303), or (None, the form again with every
    problem next to its field, the status to answer with)."""
    spec = SPECS[kind]
    editing = row is not None
    values, extras, raw, rows = _body(kind, form, editing)
    model = spec.update_model if editing else spec.create_model
    assert model is not None, kind  # EditKind: no form changes a row that is not changed
    existing = None
    try:
        body = parse_body(model, raw, lambda: _cross_issues(session, kind, raw, row))
        if editing:
            saved = _UPDATE[kind](session, user, row, body, IfMatch((text(form, "etag"),)))
        else:
            saved = _CREATE[kind](session, user, body, None)
    except InvalidInput as exc:
        errors, status = _in_form_order(kind, field_errors(_form_issues(exc.errors, rows))), 422
    except Conflict as exc:
        session.rollback()
        existing = (
            catalogue_service.route_between(session, raw.get("supplier_id"), raw.get("location_id"))
            if kind == "routes" and not editing
            else None
        )
        if existing is not None:
            # A person is sent to the route itself, not told the API's address of it.
            message = (
                f"a route from {existing.supplier.name} to {existing.location.name} already "
                f"exists (route #{existing.id}): change that one instead"
            )
        else:
            message = exc.detail
        errors, status = {spec.conflict_field[1 if editing else 0]: [message]}, 409
    except Forbidden as exc:
        # The row itself was checked before the form was shown: what is refused is a
        # value chosen on it (the agency an agreement is given to, a group's offers, the
        # agency an exclusion is recorded for).
        session.rollback()
        errors, status = {spec.forbidden_field: [exc.detail]}, 403
    else:
        return saved, None, 303
    context = _context(session, user, kind, values, row, extras, errors)
    context["existing"] = existing
    # The ETag the form was sent with, not the row's now: a change someone made
    # meanwhile must still be caught when the form comes back.
    context["etag"] = text(form, "etag")
    return None, context, status


# -------------------------------------------------------------------------- routes


@router.get("/catalogue/{kind}/new")
def new_page(
    kind: Kind,
    request: Request,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
    supplier_id: Preset = "",
    item_id: Preset = "",
    location_id: Preset = "",
) -> Response:
    """An empty form; a link from a supplier, item or location fills that one in."""
    require_catalogue_manager(user)
    spec = SPECS[kind]
    presets = {"supplier_id": supplier_id, "item_id": item_id, "location_id": location_id}
    values = {f.name: presets.get(f.name, "") for f in spec.fields if f.on(False)}
    if kind == "offers":
        values["valid_from"] = dt.date.today().isoformat()
    if kind == "exclusions" and user.agency_id in {a.id for a in vetted_agencies(session, user)}:
        values["agency_id"] = user.agency_id or ""
    return _render(request, settings, _context(session, user, kind, values))


@router.post("/catalogue/{kind}/new")
def create(
    kind: Kind,
    request: Request,
    form: CheckedForm,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
) -> Response:
    require_catalogue_manager(user)
    saved, context, status = _save(session, user, kind, form, None)
    if context is not None:
        return _render(request, settings, context, status)
    name = row_title(kind, saved)
    return redirect(list_url(kind, saved), settings, f"{name.capitalize()} added.")


def _editable(session: Any, user: User, kind: str, key: str) -> Any:
    """The row, if this user may change it (an agency's agreement: its own specialists)."""
    require_catalogue_manager(user)
    row = load(session, kind, key)
    if isinstance(row, Offer):
        catalogue_service.require_may_manage_offer(user, row.owner_agency_id)
    return row


@router.get("/catalogue/{kind}/{key}/edit")
def edit_page(
    kind: EditKind,
    key: str,
    request: Request,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
) -> Response:
    row = _editable(session, user, kind, key)
    values = values_from_row(row, SPECS[kind].fields)
    return _render(request, settings, _context(session, user, kind, values, row))


@router.post("/catalogue/{kind}/{key}/edit")
def update(
    kind: EditKind,
    key: str,
    request: Request,
    form: CheckedForm,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
) -> Response:
    row = _editable(session, user, kind, key)
    try:
        saved, context, status = _save(session, user, kind, form, row)
    except PreconditionFailed:
        session.rollback()
        session.refresh(row)
        noun = SPECS[kind].noun
        context = _context(
            session,
            user,
            kind,
            values_from_row(row, SPECS[kind].fields),
            row,
            errors={
                "_form": [
                    f"Someone changed this {noun} after you opened it. It is shown below as "
                    "it is now: make your change again."
                ]
            },
        )
        return _render(request, settings, context, 412)
    if context is not None:
        return _render(request, settings, context, status)
    name = row_title(kind, saved)
    return redirect(list_url(kind, saved), settings, f"{name.capitalize()} saved.")


def _delete(
    kind: Literal["rules", "groups", "exclusions"],
    key: str,
    request: Request,
    form: FormData,
    session: Any,
    user: User,
    settings: Settings,
) -> Response:
    """Delete a rule or a group from its form, lift an exclusion from its list, with the
    ETag it was shown with: a row someone changed meanwhile is shown again as it is now,
    not deleted unseen. The service checks who may (an exclusion: the agency's own)."""
    row = _editable(session, user, kind, key)
    title = row_title(kind, row).capitalize()
    back = list_url(kind, row).split("#", 1)[0]
    try:
        _DELETE[kind](session, user, row, IfMatch((text(form, "etag"),)))
    except PreconditionFailed:
        session.rollback()
        if kind == "exclusions":
            # Lifted from the list, which is shown again as it is now.
            return redirect(
                back,
                settings,
                f"{title} was changed after the list was shown, so it was not lifted: "
                "lift it again if it should still go.",
                "error",
            )
        session.refresh(row)
        noun = SPECS[kind].noun
        context = _context(
            session,
            user,
            kind,
            values_from_row(row, SPECS[kind].fields),
            row,
            errors={
                "_form": [
                    f"Someone changed this {noun} after you opened it, so it was not deleted. "
                    "It is shown below as it is now: delete it again if it should still go."
                ]
            },
        )
        return _render(request, settings, context, 412)
    done = "lifted" if kind == "exclusions" else "deleted"
    return redirect(back, settings, f"{title} {done}.")


@router.post("/catalogue/rules/{key}/delete")
def delete_rule(
    key: str,
    request: Request,
    form: CheckedForm,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
) -> Response:
    return _delete("rules", key, request, form, session, user, settings)


@router.post("/catalogue/groups/{key}/delete")
def delete_group(
    key: str,
    request: Request,
    form: CheckedForm,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
) -> Response:
    return _delete("groups", key, request, form, session, user, settings)


@router.post("/catalogue/exclusions/{key}/delete")
def lift_exclusion(
    key: str,
    request: Request,
    form: CheckedForm,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
) -> Response:
    return _delete("exclusions", key, request, form, session, user, settings)
