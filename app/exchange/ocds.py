"""A round's approved plan as an OCDS 1.1 release package (Open Contracting Data Standard).

One contracting process per round: ``ocid = "<prefix>-<round id>"`` (prefix
``ocds-poolbuy`` unless configured; a publisher registers its own with OCDS).
The package holds one release of that process, tagged tender, award and
contract, dated when the plan was approved (``published_at``).

How the plan maps onto OCDS:

* ``parties``: every agency with needs, role ``buyer``; the coordinating agency
  also ``procuringEntity`` (a party of its own if it has no needs). Every
  supplier with an offer in the problem, role ``tenderer``, and ``supplier``
  too when it won an award. Party ids: ``agency-<code>``, ``supplier-<id>``.
* ``tender``: status ``complete``, goods, the coordinating agency as procuring
  entity, the suppliers with offers as tenderers, and one item per need (id =
  the need's id): quantity, unit name, and the unit's value set to the item's
  reference price (contract v1's: the highest first-tier price among the
  offers that sell it; left out when nothing sells it). Classification
  ``UNSPSC`` when the item has a code (``item_codes``, or an item's
  ``unspsc_code`` field in the problem), and always an additional
  classification ``x_poolbuy`` with the catalogue's item id.
* ``awards``: one per supplier with orders, status ``active``: items = its
  orders (id = the offer's id; quantity; unit value = the pooled tier's unit
  price, before fees), value = its orders' cost plus its shipments' cost,
  contract period from ``as_of`` to its last delivery date. An offer sold in
  packs (contract v2's ``pack_size`` > 1) is ordered in packs: the item's
  quantity is the order's ``packs``, its unit named ``"pack of <n> x <unit>"``
  and valued at the tier's unit price times the pack size, so quantity x unit
  value is the order's goods (surplus included). An order's cost is its goods
  plus its fee (contract v2's ``fee_rate``: handling, insurance, service), so
  the award's value is the landed value: goods + fees + shipping. OCDS 1.1 has
  no field for a fee, so the award's ``description`` states the three figures
  (the plan's own, to the cent; they add up to the value).
* ``contracts``: one per (agency, supplier) with awards, status ``pending``
  (approved, not yet signed), ``awardID`` = the supplier's award, items = the
  agency's awarded units per offer (in units, not packs: an agency's part of
  an order need not be whole packs) at the pooled unit prices. Its value is,
  for each offer, the order's cost (goods + fee, surplus included) in
  proportion to the agency's awarded units on it -- the agency's units at the
  pooled price plus the offer's fee and a share of the surplus, contract v2's
  ``usage`` rule -- plus a share of each of the supplier's shipments (route
  fixed and unit cost) in proportion to the agency's units on that route.
  Rounded to the cent by largest remainder per supplier, so a supplier's
  contracts add up exactly to its award; the ``description`` says what the
  value holds. (With ``allocation: proportional`` or ``least_core`` the
  agencies' allocated costs differ from these: a contract states what an
  agency buys from a supplier, not the split of the pooling's savings.)
* OCDS 1.1 has one release-level ``buyer``; a pooled round has several, so it
  is left out and each contract names its agency in ``buyers`` (the field of
  the "Multiple buyers per contract" extension: a list of party references),
  which the package then declares in ``extensions``.
* Dates: plan dates (``as_of``, delivery) are midnight in ``zone`` (UTC unless
  given, e.g. ZoneInfo("America/Panama")); money is ``{"amount", "currency"}``
  to the cent, in the problem's currency.

A route (round approved, else 409 before calling)::

    package = release_package(run.problem, run.plan, round_id=round_.id,
                              coordinator=settings.coordinating_agency,
                              published_at=round_.approved_at, round_name=round_.name,
                              item_codes={i.id: i.unspsc_code for i in items if i.unspsc_code})
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from app.exchange.cells import CENT, cents, natural_key, to_decimal

Document = Mapping[str, Any]
OCDS_VERSION = "1.1"
# The extension that defines ``contracts[].buyers`` ("Multiple buyers per contract",
# in the OCDS extension registry); a package that uses the field declares it.
MULTIPLE_BUYERS_EXTENSION = (
    "https://raw.githubusercontent.com/transpresupuestaria/"
    "ocds_multiple_buyers_extension/master/extension.json"
)
DEFAULT_OCID_PREFIX = "ocds-poolbuy"
DEFAULT_PUBLISHER = "poolbuy: joint procurement of the UN inter-agency group in Panama"
MEDIA_TYPE = "application/json"


class NotExportable(ValueError):
    """The plan cannot be published (not solved)."""


def ocid_for(round_id: int | str, prefix: str = DEFAULT_OCID_PREFIX) -> str:
    return f"{prefix}-{round_id}"


def agency_party_id(code: str) -> str:
    return f"agency-{code}"


def supplier_party_id(code: str) -> str:
    return f"supplier-{code}"


def _stamp(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("published_at must be timezone-aware")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(value: Any, zone: dt.tzinfo) -> str:
    day = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).isoformat()


def _money(amount: Decimal, currency: str) -> dict[str, Any]:
    # JSON numbers: OCDS Value.amount is a number.
    return {"amount": float(amount), "currency": currency}


def split_to_cents(total: Decimal, shares: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """``total`` (to the cent) split in proportion to ``shares``, largest remainder.

    The parts add up to ``total`` exactly; ties go to the key that sorts first.
    """
    keys = sorted(shares)
    weight = sum((shares[k] for k in keys), Decimal(0))
    if not keys:
        return {}
    if weight <= 0:
        exact = {k: total / len(keys) for k in keys}
    else:
        exact = {k: total * shares[k] / weight for k in keys}
    floors = {k: exact[k].quantize(CENT, rounding=ROUND_DOWN) for k in keys}
    left = int(((total - sum(floors.values(), Decimal(0))) / CENT).to_integral_value())
    for k in sorted(keys, key=lambda k: (-(exact[k] - floors[k]), k))[:left]:
        floors[k] += CENT
    return floors


def release_package(
    problem: Document,
    plan: Document,
    *,
    round_id: int | str,
    coordinator: str,
    published_at: dt.datetime,
    round_name: str | None = None,
    coordinator_name: str | None = None,
    ocid_prefix: str = DEFAULT_OCID_PREFIX,
    item_codes: Mapping[str, str] | None = None,
    tender_period: tuple[dt.datetime, dt.datetime] | None = None,
    zone: dt.tzinfo | None = None,
    uri: str | None = None,
    publisher_name: str = DEFAULT_PUBLISHER,
    license_url: str | None = None,
    release_id: str | None = None,
) -> dict[str, Any]:
    """The OCDS 1.1 release package of a round's approved plan (see the module docstring).

    ``coordinator``: the coordinating agency's code (procuring entity).
    ``item_codes``: item id -> UNSPSC code. ``tender_period``: when the round
    took needs (opened, deadline). ``uri``: where the package is served (a
    ``urn:uuid:`` derived from the ocid when not given). ``release_id``: unique
    within the ocid, e.g. ``"<ocid>-run-12"`` if a round's plan can be approved
    again after a re-run (default ``"<ocid>-plan-approved"``).
    Raises NotExportable for a plan that was not solved.
    """
    if plan.get("status") not in ("optimal", "feasible"):
        raise NotExportable(f"a plan with status {plan.get('status')!r} cannot be published")
    zone = zone or dt.UTC
    currency = str(problem["currency"])
    ocid = ocid_for(round_id, ocid_prefix)
    published = _stamp(published_at)
    as_of = problem["as_of"]

    agencies = {a["id"]: a for a in problem.get("agencies", [])}
    suppliers = {s["id"]: s for s in problem.get("suppliers", [])}
    items = {i["id"]: i for i in problem.get("items", [])}
    locations = {loc["id"]: loc for loc in problem.get("locations", [])}
    needs = {n["id"]: n for n in problem.get("needs", [])}
    codes = {i: str(item["unspsc_code"]) for i, item in items.items() if item.get("unspsc_code")}
    codes.update(item_codes or {})

    def agency_ref(code: str) -> dict[str, str]:
        name = agencies.get(code, {}).get("name") or (
            coordinator_name if code == coordinator and coordinator_name else code
        )
        return {"id": agency_party_id(code), "name": name}

    def supplier_ref(code: str) -> dict[str, str]:
        return {"id": supplier_party_id(code), "name": suppliers.get(code, {}).get("name") or code}

    def item_fields(item_id: str) -> dict[str, Any]:
        item = items.get(item_id, {})
        fields: dict[str, Any] = {"description": item.get("name") or item_id}
        if item_id in codes:
            fields["classification"] = {
                "scheme": "UNSPSC",
                "id": codes[item_id],
                "description": item.get("name") or item_id,
            }
        fields["additionalClassifications"] = [
            {"scheme": "x_poolbuy", "id": item_id, "description": item.get("name") or item_id}
        ]
        return fields

    # Reference price per item, as contract v1 defines it.
    reference: dict[str, Decimal] = {}
    tenderers: set[str] = set()
    for offer in problem.get("offers", []):
        tenderers.add(offer["supplier"])
        tiers = offer.get("price_tiers") or []
        if tiers:
            first = to_decimal(tiers[0]["unit_price"])
            reference[offer["item"]] = max(reference.get(offer["item"], first), first)

    # ------------------------------------------------------------------ awards
    orders_of: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for order in plan.get("orders", []):
        orders_of[order["supplier"]].append(order)
    shipments_of: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for shipment in plan.get("shipments", []):
        shipments_of[shipment["supplier"]].append(shipment)
    unit_price = {o["offer"]: to_decimal(o["unit_price"]) for o in plan.get("orders", [])}
    order_cost = {o["offer"]: to_decimal(o["cost"]) for o in plan.get("orders", [])}
    offer_item = {o["offer"]: o["item"] for o in plan.get("orders", [])}
    pack_size = {o["id"]: int(o.get("pack_size") or 1) for o in problem.get("offers", [])}
    fee_rate = {o["id"]: to_decimal(o.get("fee_rate") or 0) for o in problem.get("offers", [])}

    # Units per (agency, supplier, offer) and per (agency, supplier, location).
    units: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    on_route: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    last_delivery: dict[tuple[str, str], str] = {}
    for line in plan.get("awards", []):
        need = needs[line["need"]]
        key = (need["agency"], line["supplier"])
        units[key][line["offer"]] += int(line["quantity"])
        on_route[(line["supplier"], need["location"])][need["agency"]] += int(line["quantity"])
        for k in (key, ("", line["supplier"])):
            last_delivery[k] = max(last_delivery.get(k, ""), line["delivery_date"])
    awarded: dict[str, int] = defaultdict(int)
    for agency_units in units.values():
        for offer, quantity in agency_units.items():
            awarded[offer] += quantity

    def unit_name(item_id: str) -> str:
        return str(items.get(item_id, {}).get("unit") or "unit")

    def order_item(order: Mapping[str, Any]) -> dict[str, Any]:
        # Ordered in packs where the offer sells packs: quantity x unit value = goods.
        size = pack_size.get(order["offer"], 1)
        price = to_decimal(order["unit_price"])
        if size > 1:
            packs = int(order.get("packs") or int(order["quantity"]) // size)
            quantity, unit = packs, f"pack of {size} x {unit_name(order['item'])}"
            price *= size
        else:
            quantity, unit = int(order["quantity"]), unit_name(order["item"])
        return {
            "id": order["offer"],
            **item_fields(order["item"]),
            "quantity": quantity,
            "unit": {"name": unit, "value": _money(price, currency)},
        }

    awards: list[dict[str, Any]] = []
    contracts: list[dict[str, Any]] = []
    for supplier in sorted(orders_of):
        award_id = f"{ocid}-award-{supplier}"
        # A v1 plan's order has no goods/fee split: its cost is its goods.
        goods = sum(
            (cents(o.get("goods_cost", o["cost"])) for o in orders_of[supplier]), Decimal(0)
        )
        fees = sum((cents(o.get("fee") or 0) for o in orders_of[supplier]), Decimal(0))
        shipping = sum((cents(s["cost"]) for s in shipments_of[supplier]), Decimal(0))
        total = sum((cents(o["cost"]) for o in orders_of[supplier]), Decimal(0)) + shipping
        surplus = sum(int(o.get("surplus") or 0) for o in orders_of[supplier])
        award: dict[str, Any] = {
            "id": award_id,
            "title": f"Pooled order from {supplier_ref(supplier)['name']}",
            "description": (
                f"Landed value {currency} {total:,.2f} = goods {currency} {goods:,.2f}"
                f" + fees {currency} {fees:,.2f} + shipping {currency} {shipping:,.2f}."
                " Fees: handling, insurance and service, at each offer's rate on its goods."
                " Items are valued at the pooled tier's unit prices before fees"
                + (
                    f"; offers sold in packs are ordered in whole packs, {surplus:,} units"
                    " over the awards."
                    if surplus
                    else "."
                )
            ),
            "status": "active",
            "date": published,
            "value": _money(total, currency),
            "suppliers": [supplier_ref(supplier)],
            "items": [
                order_item(o)
                for o in sorted(orders_of[supplier], key=lambda o: natural_key(o["offer"]))
            ],
        }
        if ("", supplier) in last_delivery:
            award["contractPeriod"] = {
                "startDate": _day(as_of, zone),
                "endDate": _day(last_delivery[("", supplier)], zone),
            }
        awards.append(award)

        # Each agency's exact share: each order's cost (goods + fee, surplus included)
        # in proportion to its awarded units on the offer, plus shipping in proportion
        # to its units on each route.
        buying = sorted({a for (a, s) in units if s == supplier})
        exact: dict[str, Decimal] = {}
        for agency in buying:
            share = sum(
                (order_cost[o] * q / awarded[o] for o, q in units[(agency, supplier)].items()),
                Decimal(0),
            )
            for shipment in shipments_of[supplier]:
                moved = on_route[(supplier, shipment["location"])]
                mine, all_units = moved.get(agency, 0), sum(moved.values())
                if mine and all_units:
                    share += to_decimal(shipment["cost"]) * mine / all_units
            exact[agency] = share
        values = split_to_cents(total, exact)
        for agency in buying:
            lines = units[(agency, supplier)]
            charged = sorted(
                {f"{float(fee_rate.get(o, Decimal(0))):.2%}" for o in lines if fee_rate.get(o)}
            )
            packed = any(pack_size.get(o, 1) > 1 for o in lines)
            holds = ["the agency's awarded units at the pooled unit prices"]
            if charged:
                holds.append(f"the offers' fees ({', '.join(charged)} of the goods)")
            if packed:
                holds.append("its share of the surplus of whole packs, in proportion to its units")
            holds.append("its share of the shipping, in proportion to its units on each route")
            contract: dict[str, Any] = {
                "id": f"{ocid}-contract-{agency}-{supplier}",
                "awardID": award_id,
                "title": f"{agency} purchase from {supplier_ref(supplier)['name']}",
                "description": (
                    "Value: " + ", ".join(holds[:-1]) + " and " + holds[-1] + ". Items in units."
                ),
                "status": "pending",
                "value": _money(values[agency], currency),
                "buyers": [agency_ref(agency)],
                "items": [
                    {
                        "id": offer,
                        **item_fields(offer_item.get(offer, "")),
                        "quantity": quantity,
                        "unit": {
                            "name": items.get(offer_item.get(offer, ""), {}).get("unit") or "unit",
                            "value": _money(unit_price[offer], currency),
                        },
                    }
                    for offer, quantity in sorted(lines.items(), key=lambda x: natural_key(x[0]))
                ],
                "period": {
                    "startDate": _day(as_of, zone),
                    "endDate": _day(last_delivery[(agency, supplier)], zone),
                },
            }
            contracts.append(contract)

    # ------------------------------------------------------------------ parties and tender
    parties: list[dict[str, Any]] = []
    for code in sorted(agencies):
        roles = ["buyer"] + (["procuringEntity"] if code == coordinator else [])
        parties.append({**agency_ref(code), "roles": roles})
    if coordinator not in agencies:
        parties.append({**agency_ref(coordinator), "roles": ["procuringEntity"]})
    for code in sorted(set(suppliers) | tenderers | set(orders_of)):
        roles = ["tenderer"] + (["supplier"] if code in orders_of else [])
        parties.append({**supplier_ref(code), "roles": roles})

    tender_items = []
    for need_id in sorted(needs, key=natural_key):
        need = needs[need_id]
        item = items.get(need["item"], {})
        where = locations.get(need["location"], {}).get("name") or need["location"]
        unit: dict[str, Any] = {"name": item.get("unit") or "unit"}
        if need["item"] in reference:
            unit["value"] = _money(reference[need["item"]], currency)
        tender_items.append(
            {
                "id": need_id,
                **item_fields(need["item"]),
                "description": (
                    f"{item.get('name') or need['item']} for {need['agency']} at "
                    f"{where}, needed by {need['need_by']} ({need['priority']})"
                ),
                "quantity": int(need["quantity"]),
                "unit": unit,
            }
        )
    tender: dict[str, Any] = {
        "id": f"{ocid}-tender",
        "title": round_name or f"Pooled procurement round {round_id}",
        "description": (
            f"Joint procurement of {len(agencies)} agencies' needs, pooled and allocated to "
            "suppliers' offers by optimisation (poolbuy)"
        ),
        "status": "complete",
        "procuringEntity": agency_ref(coordinator),
        "items": tender_items,
        "mainProcurementCategory": "goods",
        "procurementMethodDetails": (
            "Pooled purchase over suppliers' standing offers and long-term agreements, "
            "with volume-discount tiers reached by the agencies' combined demand"
        ),
        "tenderers": [supplier_ref(s) for s in sorted(tenderers)],
        "numberOfTenderers": len(tenderers),
    }
    if tender_period is not None:
        tender["tenderPeriod"] = {
            "startDate": _stamp(tender_period[0]),
            "endDate": _stamp(tender_period[1]),
        }

    release = {
        "ocid": ocid,
        "id": release_id or f"{ocid}-plan-approved",
        "date": published,
        "tag": ["tender", "award", "contract"],
        "initiationType": "tender",
        "language": "en",
        "parties": parties,
        "tender": tender,
        "awards": awards,
        "contracts": contracts,
    }
    package: dict[str, Any] = {
        "uri": uri or f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, ocid)}",
        "version": OCDS_VERSION,
        "publishedDate": published,
        "publisher": {"name": publisher_name},
        "releases": [release],
    }
    if any("buyers" in contract for contract in contracts):
        package["extensions"] = [MULTIPLE_BUYERS_EXTENSION]
    if license_url:
        package["license"] = license_url
    return package


# -------------------------------------------------------------------- implementation


@dataclass(frozen=True)
class ReceiptFigure:
    """One receipt that counts (corrections applied): when, and units accepted."""

    id: int
    received_on: dt.date
    accepted: int


@dataclass(frozen=True)
class LineDelivery:
    """An order line of a contract (an agency's purchase from a supplier) as delivered."""

    agency: str
    supplier: str
    order: str  # the purchase order's number, as issued (PO-<round>-<nn>)
    line_id: int
    offer: str
    quantity: int
    unit_price: Decimal
    promised_on: dt.date
    state: str  # app.deliveries' line state: open, partly_delivered, delivered, ...
    receipts: tuple[ReceiptFigure, ...]


_MILESTONE_STATUS = {
    "delivered": "met",
    "closed_short": "partiallyMet",
    "overdue": "notMet",
    "partly_delivered": "scheduled",
    "open": "scheduled",
}


def add_implementation(
    package: dict[str, Any], deliveries: Iterable[LineDelivery], *, zone: dt.tzinfo | None = None
) -> dict[str, Any]:
    """The package with each contract's ``implementation``: a milestone per order line
    (due on its promised date; met, partly met or not met as delivered) and a transaction
    per receipt (its accepted units at the line's price, payer the agency, payee the
    supplier). A contract with any receipt becomes ``active``; once every line is
    delivered or closed short, ``terminated`` (its deliveries are over). Kept apart from
    ``release_package``: the plan's export does not depend on what arrived."""
    zone = zone or dt.UTC
    release = package["releases"][0]
    names = {p["id"]: p.get("name") for p in release.get("parties", [])}
    by_contract: dict[tuple[str, str], list[LineDelivery]] = {}
    for line in deliveries:
        by_contract.setdefault((line.agency, line.supplier), []).append(line)
    tagged = False
    of_id = {f"{release['ocid']}-contract-{a}-{s}": (a, s) for a, s in by_contract}
    for contract in release.get("contracts", []):
        key = of_id.get(contract["id"])
        if key is None:
            continue
        lines = sorted(by_contract[key], key=lambda x: x.line_id)
        currency = contract["value"]["currency"]
        payer = {"id": agency_party_id(key[0]), "name": names.get(agency_party_id(key[0]))}
        payee = {"id": supplier_party_id(key[1]), "name": names.get(supplier_party_id(key[1]))}
        milestones = []
        transactions = []
        for line in lines:
            milestone: dict[str, Any] = {
                "id": f"line-{line.line_id}",
                "title": f"Delivery of {line.quantity} units ({line.offer})",
                "description": f"Purchase order {line.order}",
                "type": "delivery",
                "dueDate": _stamp(dt.datetime.combine(line.promised_on, dt.time(), zone)),
                "status": _MILESTONE_STATUS.get(line.state, "scheduled"),
            }
            if line.state == "delivered" and line.receipts:
                last = max(r.received_on for r in line.receipts)
                milestone["dateMet"] = _stamp(dt.datetime.combine(last, dt.time(), zone))
            milestones.append(milestone)
            for receipt in line.receipts:
                if receipt.accepted <= 0:
                    continue
                transactions.append(
                    {
                        "id": f"receipt-{receipt.id}",
                        "date": _stamp(dt.datetime.combine(receipt.received_on, dt.time(), zone)),
                        "value": _money(line.unit_price * receipt.accepted, currency),
                        "payer": payer,
                        "payee": payee,
                    }
                )
        contract["implementation"] = {"milestones": milestones, "transactions": transactions}
        if transactions:
            done = all(x.state in ("delivered", "closed_short") for x in lines)
            contract["status"] = "terminated" if done else "active"
        tagged = True
    if tagged and "implementation" not in release["tag"]:
        release["tag"] = [*release["tag"], "implementation"]
    return package
