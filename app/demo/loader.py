"""The Panama demo group: eight agencies, a user for every role, a catalogue, an open round.

``load_demo(session)`` builds it from ``solver.examples.generate_problem("small",
seed)``, the same contract-v1 document ``poolbuy example`` writes, so the round
closes into that very problem (needs and offers renumbered as the service numbers
them): its items, locations, suppliers, offers and routes become the catalogue,
its needs the round's submitted needs. Everything goes through the domain services,
as a person with the right role would enter it, so every row has its audit entry
and passes the same rules as API input.

Dates: the round's deadline is a week after loading and its ``as_of`` (the day
pooled orders are placed from) is the deadline's date; the document is generated
for that ``as_of``, so need-by dates keep their distance from it (the generator
moves its dates with ``as_of`` rather than redrawing the instance). Offers are
valid for a year from the loading day, and from before the two past rounds
(``app.demo.history``: approved, delivered, some late, some short, one rejection),
whose snapshots were taken on their own days.

Loading is idempotent: each row is looked up by its natural key (agency code,
e-mail, catalogue code, the offer's ``demo:o-<n>`` reference, a route's supplier
and location, the round's name) and only what is missing is created. The round's
needs are created with the round and never again, so needs a user edited or
withdrew in the demo round are not put back by a later load.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.auth import service as auth_service
from app.auth.models import Agency, Role, User
from app.auth.schemas import AgencyCreate, UserCreate
from app.catalogue import service as catalogue_service
from app.catalogue.models import Item, Location, Offer, Route, Supplier
from app.catalogue.schemas import (
    ItemCreate,
    LocationCreate,
    OfferCreate,
    OfferPriceTier,
    RouteCreate,
    SupplierCreate,
)
from app.db import utcnow
from app.demo import history
from app.needs import service as needs_service
from app.needs.models import Need, Priority
from app.needs.schemas import NeedCreate
from app.rounds import service as rounds_service
from app.rounds.models import Round
from app.rounds.schemas import RoundCreate, RoundSettings
from app.sourcing import service as sourcing_service
from app.sourcing.models import AwardRule
from app.sourcing.schemas import AwardRuleCreate, BudgetCreate
from solver.examples import generate_problem

DEMO_SIZE = "small"
DEMO_ROUND_NAME = "Panama COVID-19 response, December pooling round"
DEMO_EMAIL_DOMAIN = "demo.poolbuy.org"
# Offers have integer ids of their own; this reference ties each to its document offer.
OFFER_REFERENCE_PREFIX = "demo:"
DEADLINE_AFTER = dt.timedelta(days=7)
HISTORY_DAYS = max(age for _, age, _ in history.ROUND_AGES)
OFFER_VALIDITY = dt.timedelta(days=365)
DEMO_TOKEN_DAYS = 30

AGENCIES: tuple[tuple[str, str], ...] = (
    ("IOM", "International Organization for Migration"),
    ("WHO-PAHO", "World Health Organization / Pan American Health Organization"),
    ("UNHCR", "Office of the United Nations High Commissioner for Refugees"),
    ("OCHA", "United Nations Office for the Coordination of Humanitarian Affairs"),
    ("UNDP", "United Nations Development Programme"),
    ("UNICEF", "United Nations Children's Fund"),
    ("UNAIDS", "Joint United Nations Programme on HIV/AIDS"),
    ("UNFPA", "United Nations Population Fund"),
)

# (local team member, chief of mission) per agency; invented people.
_PEOPLE: dict[str, tuple[str, str]] = {
    "IOM": ("Ana Ríos", "Carlos Mendoza"),
    "WHO-PAHO": ("Lucía Herrera", "Jorge Castillo"),
    "UNHCR": ("María José Vega", "Andrés Morales"),
    "OCHA": ("Sofía Jiménez", "Roberto Sánchez"),
    "UNDP": ("Daniela Ortiz", "Fernando Rojas"),
    "UNICEF": ("Valentina Cruz", "Patricia Navarro"),
    "UNAIDS": ("Diego Ramírez", "Elena Guerrero"),
    "UNFPA": ("Gabriela Torres", "Ricardo Delgado"),
}

# Province or comarca of a place, from its code ("pa-darien-..."), for the 3W summary.
_REGIONS: tuple[tuple[str, str], ...] = (
    ("pa-bocas-del-toro-", "Bocas del Toro"),
    ("pa-guna-yala-", "Guna Yala"),
    ("pa-panama-oeste-", "Panamá Oeste"),
    ("pa-panama-", "Panamá"),
    ("pa-darien-", "Darién"),
    ("pa-chiriqui-", "Chiriquí"),
    ("pa-colon-", "Colón"),
    ("pa-veraguas-", "Veraguas"),
    ("pa-cocle-", "Coclé"),
    ("pa-herrera-", "Herrera"),
)

# Why a critical or high need is urgent, by item category.
_JUSTIFICATIONS: dict[str, str] = {
    "PPE": "Screening and clinical care of new arrivals at {place}; the clinic's stock "
    "lasts less than two weeks at the current rate of arrivals.",
    "testing": "COVID-19 screening of every new arrival at {place}; test positivity "
    "among arrivals rose over the last four weeks.",
    "hygiene": "Families reach {place} after days in the jungle with nothing; arrivals "
    "are up and the hygiene stock is nearly gone.",
    "medical": "Continuity of care for people in transit at {place}; treatment "
    "interruptions were reported last month.",
    "food": "Arrivals at {place} exceed the planned caseload; the food pipeline breaks "
    "before {need_by}.",
    "water": "Water at {place} is trucked in and tested unsafe twice this month; "
    "households must treat and store it.",
    "shelter": "{place} is over capacity in the rainy season; families sleep in the open.",
}
_DEFAULT_JUSTIFICATION = "Stock at {place} runs out before {need_by}."


@dataclass(frozen=True)
class DemoUser:
    """One demo person: who they are and the shell variable their token is printed as."""

    email: str
    name: str
    agency_id: str | None
    role: Role
    variable: str


def _slug(agency_id: str) -> str:
    return agency_id.lower()


def _variable_part(agency_id: str) -> str:
    return agency_id.replace("-", "_")


def _demo_users() -> tuple[DemoUser, ...]:
    users: list[DemoUser] = []
    for code, _name in AGENCIES:
        local, chief = _PEOPLE[code]
        users.append(
            DemoUser(
                f"local.{_slug(code)}@{DEMO_EMAIL_DOMAIN}",
                local,
                code,
                Role.local_team,
                f"TOKEN_LOCAL_{_variable_part(code)}",
            )
        )
        users.append(
            DemoUser(
                f"chief.{_slug(code)}@{DEMO_EMAIL_DOMAIN}",
                chief,
                code,
                Role.chief_of_mission,
                f"TOKEN_CHIEF_{_variable_part(code)}",
            )
        )
    users += [
        # The group's health lead, who reviews priorities on evidence.
        DemoUser(
            f"health.lead@{DEMO_EMAIL_DOMAIN}",
            "Dr. Luis Pérez",
            "WHO-PAHO",
            Role.technical_specialist,
            "TOKEN_SPECIALIST",
        ),
        DemoUser(
            f"coordinator@{DEMO_EMAIL_DOMAIN}",
            "Isabel Chen",
            "OCHA",
            Role.coordinator,
            "TOKEN_COORDINATOR",
        ),
        DemoUser(
            f"admin@{DEMO_EMAIL_DOMAIN}", "Demo Administrator", None, Role.admin, "TOKEN_ADMIN"
        ),
    ]
    return tuple(users)


DEMO_USERS: tuple[DemoUser, ...] = _demo_users()

# What load_demo counts, in the order a summary lists it.
KINDS = (
    "agencies",
    "users",
    "items",
    "locations",
    "suppliers",
    "offers",
    "routes",
    "rules",
    "rounds",
    "needs",
    "budgets",
)


@dataclass(frozen=True)
class DemoSummary:
    """What one ``load_demo`` call did, and where the demo round stands."""

    created: Mapping[str, int]
    round_id: int
    round_name: str
    round_status: str
    deadline: dt.datetime
    as_of: dt.date | None
    needs_in_round: int

    @property
    def changed(self) -> bool:
        return any(self.created.values())

    def describe(self) -> str:
        """What happened, then where the round stands, on two lines."""
        where = (
            f'Round {self.round_id} "{self.round_name}" is {self.round_status} '
            f"({self.needs_in_round} needs"
        )
        if self.round_status == "open":
            where += f", deadline {self.deadline:%Y-%m-%d %H:%M} UTC"
        where += ")."
        if not self.changed:
            return f"The Panama demo group is already loaded; nothing changed.\n{where}"
        made = ", ".join(
            f"{self.created[kind]} {_noun(kind, self.created[kind])}"
            for kind in KINDS
            if self.created.get(kind)
        )
        return f"Loaded the Panama demo group: created {made}.\n{where}"


def _noun(kind: str, count: int) -> str:
    if count != 1:
        return kind
    return {"agencies": "agency", "users": "user"}.get(kind, kind.removesuffix("s"))


def region_of(location_id: str) -> str | None:
    for prefix, region in _REGIONS:
        if location_id.startswith(prefix):
            return region
    return None


def justification_for(priority: Priority, category: str, place: str, need_by: dt.date) -> str:
    """Why the need is urgent; critical and high needs must say, normal ones need not."""
    if priority == Priority.normal:
        return ""
    template = _JUSTIFICATIONS.get(category, _DEFAULT_JUSTIFICATION)
    return template.format(place=place, need_by=need_by.isoformat())


def find_demo_round(session: Session) -> Round | None:
    return session.scalars(
        sa.select(Round).where(Round.name == DEMO_ROUND_NAME).order_by(Round.id).limit(1)
    ).first()


def demo_document(seed: int, as_of: dt.date) -> dict[str, Any]:
    """The document the demo group is made from: contract v2, with its sourcing terms."""
    return generate_problem(DEMO_SIZE, seed, as_of=as_of, sourcing=True)


def offer_reference(document_offer_id: str) -> str:
    return f"{OFFER_REFERENCE_PREFIX}{document_offer_id}"


# ----------------------------------------------------------------------- loading


def load_demo(session: Session, *, seed: int = 0, now: dt.datetime | None = None) -> DemoSummary:
    """Load what is missing of the demo group; see the module docstring.

    ``now`` fixes the clock (tests); offers start on its date and the round's
    deadline is a week after it. Each piece is committed by its service.
    """
    now = now or utcnow()
    created: Counter[str] = Counter()
    _load_agencies(session, created)
    users = _load_users(session, created)

    round_ = find_demo_round(session)
    deadline = (now + DEADLINE_AFTER).replace(minute=0, second=0, microsecond=0)
    as_of = round_.as_of if round_ is not None and round_.as_of else deadline.date()
    document = demo_document(seed, as_of)
    _load_catalogue(session, document, now.date(), created)
    _load_rules(session, users, document, created)

    fresh = round_ is None
    if round_ is None:
        round_ = _open_round(session, users, document, deadline, as_of, created)
    people = {(p.role.value, p.agency_id): users[p.email] for p in DEMO_USERS}
    coordinator = users[_person(Role.coordinator).email]
    past = history.load_history(
        session, people, coordinator, lambda day: demo_document(seed, day), now
    )
    created["rounds"] += past
    if fresh or past:
        # What the past rounds' deliveries teach the open round, for a specialist to decide.
        history.propose_for(session, users[_person(Role.technical_specialist).email], round_.id)
    needs = int(session.scalar(sa.select(sa.func.count()).where(Need.round_id == round_.id)) or 0)
    return DemoSummary(
        created={kind: created[kind] for kind in KINDS},
        round_id=round_.id,
        round_name=round_.name,
        round_status=round_.status.value,
        deadline=round_.deadline,
        as_of=round_.as_of,
        needs_in_round=needs,
    )


def _load_agencies(session: Session, created: Counter[str]) -> None:
    for code, name in AGENCIES:
        if session.get(Agency, code) is None:
            auth_service.create_agency(session, None, AgencyCreate(id=code, name=name))
            created["agencies"] += 1


def _load_users(session: Session, created: Counter[str]) -> dict[str, User]:
    users: dict[str, User] = {}
    for person in DEMO_USERS:
        user = session.scalar(sa.select(User).where(User.email == person.email))
        if user is None:
            user = auth_service.create_user(
                session,
                None,
                UserCreate(
                    email=person.email,
                    name=person.name,
                    agency_id=person.agency_id,
                    roles=[person.role],
                ),
            )
            created["users"] += 1
        users[person.email] = user
    return users


def _load_catalogue(
    session: Session, document: Mapping[str, Any], today: dt.date, created: Counter[str]
) -> None:
    for item in document["items"]:
        if session.get(Item, item["id"]) is None:
            catalogue_service.create_item(
                session,
                None,
                ItemCreate(
                    id=item["id"], name=item["name"], unit=item["unit"], category=item["category"]
                ),
            )
            created["items"] += 1
    for place in document["locations"]:
        if session.get(Location, place["id"]) is None:
            catalogue_service.create_location(
                session,
                None,
                LocationCreate(id=place["id"], name=place["name"], region=region_of(place["id"])),
            )
            created["locations"] += 1
    for supplier in document["suppliers"]:
        if session.get(Supplier, supplier["id"]) is None:
            catalogue_service.create_supplier(
                session, None, SupplierCreate(id=supplier["id"], name=supplier["name"])
            )
            created["suppliers"] += 1
    for offer in document["offers"]:
        reference = offer_reference(offer["id"])
        if session.scalar(sa.select(Offer.id).where(Offer.reference == reference)) is None:
            catalogue_service.create_offer(session, None, _offer_create(offer, reference, today))
            created["offers"] += 1
    for route in document["routes"]:
        exists = session.scalar(
            sa.select(Route.id).where(
                Route.supplier_id == route["supplier"], Route.location_id == route["location"]
            )
        )
        if exists is None:
            catalogue_service.create_route(
                session,
                None,
                RouteCreate(
                    supplier_id=route["supplier"],
                    location_id=route["location"],
                    # Through str: the decimal the document's number prints as, not
                    # the binary float's expansion.
                    fixed_cost=Decimal(str(route["fixed_cost"])),
                    unit_cost=Decimal(str(route["unit_cost"])),
                    transit_days=route["transit_days"],
                ),
            )
            created["routes"] += 1


def _offer_create(offer: Mapping[str, Any], reference: str, today: dt.date) -> OfferCreate:
    return OfferCreate(
        supplier_id=offer["supplier"],
        item_id=offer["item"],
        reference=reference,
        price_tiers=[
            OfferPriceTier(
                min_quantity=tier["min_quantity"], unit_price=Decimal(str(tier["unit_price"]))
            )
            for tier in offer["price_tiers"]
        ],
        capacity=offer["capacity"],
        min_order_quantity=offer["min_order_quantity"],
        lead_time_days=offer["lead_time_days"],
        pack_size=offer.get("pack_size", 1),
        fee_rate=Decimal(str(offer.get("fee_rate", 0))),
        eligible_agencies=offer["eligible_agencies"],
        # From before the demo's past rounds, whose snapshots were taken on their days.
        valid_from=today - dt.timedelta(days=HISTORY_DAYS),
        valid_to=today + OFFER_VALIDITY,
    )


def _open_round(
    session: Session,
    users: Mapping[str, User],
    document: Mapping[str, Any],
    deadline: dt.datetime,
    as_of: dt.date,
    created: Counter[str],
) -> Round:
    coordinator = users[_person(Role.coordinator).email]
    round_ = rounds_service.create(
        session,
        coordinator,
        RoundCreate(
            name=DEMO_ROUND_NAME,
            deadline=deadline,
            as_of=as_of,
            currency=document["currency"],
            # Fairness off in the open demo round, so that closing it gives a plan to
            # approve at once: its 8 agencies make 254 coalitions (14 s of solving in one
            # process on the CI machine, more on the embedded pool beside the server).
            # The two past rounds show the verdict; a coordinator turns it on here in
            # the round's settings.
            settings=RoundSettings.model_validate(
                {**(document.get("settings") or {}), "fairness": "none"}
            ),
        ),
    )
    created["rounds"] += 1
    categories = {item["id"]: item["category"] for item in document["items"]}
    places = {place["id"]: place["name"] for place in document["locations"]}
    for need in document["needs"]:
        author = users[_person(Role.local_team, need["agency"]).email]
        priority = Priority(need["priority"])
        need_by = dt.date.fromisoformat(need["need_by"])
        needs_service.create(
            session,
            author,
            round_.id,
            NeedCreate(
                item_id=need["item"],
                location_id=need["location"],
                quantity=need["quantity"],
                need_by=need_by,
                priority=priority,
                justification=justification_for(
                    priority, categories[need["item"]], places[need["location"]], need_by
                ),
                submit=True,
            ),
        )
        created["needs"] += 1
    # The budget the document gives an agency, set by that agency's chief of mission.
    for agency in document["agencies"]:
        if agency.get("budget") is not None:
            chief = users[_person(Role.chief_of_mission, agency["id"]).email]
            sourcing_service.create_budget(
                session,
                chief,
                round_.id,
                BudgetCreate(amount=Decimal(str(agency["budget"])), note="demo: 70% of its needs"),
                None,
            )
            created["budgets"] += 1
    return round_


# Why the group keeps each of the example's rules, by the start of its id.
_RULE_REASONS = {
    "supply-risk-": "supply risk: PPE from at most two suppliers, so orders stay manageable",
    "lta-": "long-term agreement: its holder keeps at least 30% of the item",
}


def _load_rules(
    session: Session, users: Mapping[str, User], document: Mapping[str, Any], created: Counter[str]
) -> None:
    """The example's award rules, entered by the group's health lead (a specialist)."""
    specialist = users[_person(Role.technical_specialist).email]
    for rule in document.get("rules", []):
        data = AwardRuleCreate(
            kind=rule["kind"],
            item_id=rule["item"],
            location_id=rule.get("location"),
            supplier_id=rule.get("supplier"),
            limit=rule.get("limit"),
            share=Decimal(str(rule["share"])) if rule.get("share") is not None else None,
            penalty=Decimal(str(rule["penalty"])),
            reason=next(
                (why for start, why in _RULE_REASONS.items() if rule["id"].startswith(start)),
                "demo rule",
            ),
        )
        exists = session.scalar(
            sourcing_service.rules_query(item_id=data.item_id, kind=data.kind).where(
                AwardRule.location_id.is_(None)
                if data.location_id is None
                else AwardRule.location_id == data.location_id
            )
        )
        if exists is None:
            sourcing_service.create_rule(session, specialist, data, None)
            created["rules"] += 1


def _person(role: Role, agency_id: str | None = None) -> DemoUser:
    for person in DEMO_USERS:
        if person.role == role and (agency_id is None or person.agency_id == agency_id):
            return person
    raise LookupError(f"no demo user with role {role} at {agency_id}")


# ------------------------------------------------------------------------ tokens


@dataclass(frozen=True)
class DemoToken:
    person: DemoUser
    token: str
    expires_at: dt.datetime


def issue_demo_tokens(session: Session, *, days: int = DEMO_TOKEN_DAYS) -> list[DemoToken]:
    """A new API token for every active demo user, in ``DEMO_USERS`` order.

    Only the hash is stored (and audited); the plain tokens exist in what this
    returns, to be shown once.
    """
    tokens: list[DemoToken] = []
    for person in DEMO_USERS:
        user = session.scalar(sa.select(User).where(User.email == person.email))
        if user is None or not user.active:
            continue
        row, plain = auth_service.create_token(session, None, user, "demo", days)
        tokens.append(DemoToken(person, plain, row.expires_at))
    return tokens
