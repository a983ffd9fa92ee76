"""Hypothesis strategies for tiny, valid problem documents of the contract (v1 and v2).

Quantities stay small (at most 6 per need, three needs, three offers) so that the brute force
of tests/oracle enumerates every plan in milliseconds. Every money input is a whole number of
cents, so every exact money figure of a plan is too, except usage shares of fixed costs.

The draws are biased so that the features of the model show up often: tiers that only the
pooled quantity reaches, minimum orders, binding capacities, late deliveries, agencies that
may not buy through an offer, and locations no route reaches. ``v2_problems`` adds version 2's
features to such a document, each often enough to matter: packs and fees, a capacity group over
two offers, the four soft rules with penalties from token to prohibitive, budgets that bind,
excluded suppliers, and the fairness settings.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import strategies as st

AS_OF = dt.date(2026, 12, 1)
PRIORITIES = ("critical", "high", "normal")
MAX_NEED_QUANTITY = 6


def _money(cents: int) -> float:
    return round(cents / 100, 2)


@st.composite
def price_tiers(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 3))
    # A first tier above 0 acts as a minimum order; later thresholds within reach of two or
    # three pooled needs but often beyond any single one.
    first = draw(st.sampled_from([0, 0, 0, 1, 2, 3, 4]))
    minimums = [first]
    for _ in range(count - 1):
        minimums.append(minimums[-1] + draw(st.integers(1, 4)))
    cents = [draw(st.integers(50, 2000))]
    for _ in range(count - 1):
        cents.append(cents[-1] - draw(st.integers(0, cents[-1] // 3)))
    return [
        {"min_quantity": m, "unit_price": _money(c)} for m, c in zip(minimums, cents, strict=True)
    ]


@st.composite
def eligible_agencies(draw: st.DrawFn, agency_ids: list[str]) -> list[str] | str | None:
    """A list of agency ids, None (everyone), or the marker "absent" (field left out)."""
    kind = draw(st.sampled_from(["absent", "null", "null", "null", "empty", "subset", "subset"]))
    if kind == "absent":
        return "absent"
    if kind == "null":
        return None
    if kind == "empty":
        return []
    return draw(st.lists(st.sampled_from(agency_ids), min_size=1, unique=True))


@st.composite
def settings_block(draw: st.DrawFn) -> dict[str, Any] | str:
    """A settings object with any subset of fields (some null), or "absent".

    A null settings object is not drawn: the contract makes each setting nullable, not the
    object holding them, and the solver rejects it.
    """
    if draw(st.integers(0, 3)) == 0:
        return "absent"
    options: dict[str, st.SearchStrategy[Any]] = {
        "order_processing_days": st.integers(0, 7),
        "late_penalty_rate": st.sampled_from([0.0, 0.01, 0.05, 0.2]),
        "unmet_penalty_rate": st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 10.0]),
        "priority_weights": st.fixed_dictionaries(
            {}, optional={p: st.integers(0, 12) for p in PRIORITIES}
        ),
        "time_limit_seconds": st.sampled_from([10, 60]),
        "relative_gap": st.sampled_from([0.0, 1e-6, 1e-4]),
        "allocation": st.sampled_from(["usage", "proportional", "proportional"]),
    }
    # Each field absent half the time and, when present, null one time in four.
    return draw(
        st.fixed_dictionaries(
            {},
            optional={
                key: st.one_of(st.none(), value, value, value) for key, value in options.items()
            },
        )
    )


@st.composite
def problems(
    draw: st.DrawFn, ample_capacity: bool = False, max_quantity: int = MAX_NEED_QUANTITY
) -> dict[str, Any]:
    """A valid problem document.

    With ``ample_capacity`` every offer can deliver the whole demand for its item, so that
    stand-alone plans always fit together.
    """
    agency_ids = [f"ag-{k}" for k in range(draw(st.integers(1, 3)))]
    item_ids = [f"item-{k}" for k in range(draw(st.sampled_from([1, 1, 2])))]
    location_ids = [f"loc-{k}" for k in range(draw(st.integers(1, 3)))]
    supplier_ids = [f"sup-{k}" for k in range(draw(st.integers(1, 3)))]
    as_of = AS_OF + dt.timedelta(days=draw(st.integers(0, 60)))

    needs = []
    for k in range(draw(st.sampled_from([1, 2, 2, 3, 3, 3]))):
        need_by = as_of + dt.timedelta(days=draw(st.integers(-3, 25)))
        needs.append(
            {
                "id": f"n-{k}",
                "agency": draw(st.sampled_from(agency_ids)),
                "item": draw(st.sampled_from(item_ids)),
                "location": draw(st.sampled_from(location_ids)),
                "quantity": draw(st.integers(1, max_quantity)),
                "need_by": need_by.isoformat(),
                "priority": draw(st.sampled_from(PRIORITIES)),
            }
        )
    needed_items = sorted({need["item"] for need in needs})

    offers = []
    for k in range(draw(st.sampled_from([1, 2, 2, 3, 3]))):
        # Mostly items somebody needs: an offer nobody can use teaches little.
        item = draw(st.sampled_from(needed_items * 3 + item_ids))
        tiers = draw(price_tiers())
        quantities = [need["quantity"] for need in needs if need["item"] == item]
        if len(quantities) > 1 and draw(st.booleans()):
            # A discount tier above every single need but within reach of their pool.
            threshold = draw(st.integers(max(quantities) + 1, sum(quantities)))
            cents = round(tiers[0]["unit_price"] * 100)
            discounted = cents - draw(st.integers(1, max(1, cents // 2)))
            tiers = [
                tiers[0],
                {
                    "min_quantity": max(threshold, tiers[0]["min_quantity"] + 1),
                    "unit_price": _money(discounted),
                },
            ]
        moq = draw(st.sampled_from([0, 0, 0, 2, 3, 4, 6]))
        demand = sum(need["quantity"] for need in needs if need["item"] == item)
        capacity = draw(st.sampled_from([1, 2, 3, 4, 6, 8, 100]))
        if ample_capacity:
            capacity = max(capacity, demand)
        # Keep the offer orderable at all, so that no validator can call it contradictory.
        capacity = max(capacity, moq, tiers[0]["min_quantity"], 1)
        offer: dict[str, Any] = {
            "id": f"o-{k}",
            "supplier": draw(st.sampled_from(supplier_ids)),
            "item": item,
            "price_tiers": tiers,
            "capacity": capacity,
            "min_order_quantity": moq,
            "lead_time_days": draw(st.integers(0, 10)),
        }
        eligible = draw(eligible_agencies(agency_ids))
        if eligible != "absent":
            offer["eligible_agencies"] = eligible
        offers.append(offer)

    routes = []
    for supplier in supplier_ids:
        for location in location_ids:
            if draw(st.integers(0, 5)) == 0:  # about one pair in six is unreachable
                continue
            routes.append(
                {
                    "supplier": supplier,
                    "location": location,
                    "fixed_cost": _money(draw(st.sampled_from([0, 0, 500, 1500, 5000]))),
                    "unit_cost": _money(draw(st.integers(0, 200))),
                    "transit_days": draw(st.integers(0, 6)),
                }
            )

    document: dict[str, Any] = {
        "as_of": as_of.isoformat(),
        "currency": "USD",
        "agencies": [{"id": a, "name": f"Agency {a}"} for a in agency_ids],
        "items": [
            {"id": i, "name": f"Item {i}", "unit": "each", "category": "test"} for i in item_ids
        ],
        "locations": [{"id": loc, "name": f"Location {loc}"} for loc in location_ids],
        "suppliers": [{"id": s, "name": f"Supplier {s}"} for s in supplier_ids],
        "needs": needs,
        "offers": offers,
        "routes": routes,
    }
    settings = draw(settings_block())
    if settings != "absent":
        document["settings"] = settings
    return document


V2_MAX_NEED_QUANTITY = 4  # the brute force's states grow with agencies and locations in v2
RULE_PENALTIES = (0.5, 2.0, 10.0, 1000.0)  # token to prohibitive


@st.composite
def rules(draw: st.DrawFn, document: dict[str, Any]) -> list[dict[str, Any]]:
    needed = sorted({need["item"] for need in document["needs"]})
    locations = [loc["id"] for loc in document["locations"]]
    suppliers = [s["id"] for s in document["suppliers"]]
    drawn = []
    for k in range(draw(st.sampled_from([0, 1, 1, 2]))):
        kind = draw(st.sampled_from(["max_suppliers", "min_suppliers", "max_share", "min_share"]))
        rule: dict[str, Any] = {
            "id": f"r-{k}",
            "kind": kind,
            "item": draw(st.sampled_from(needed)),
            "penalty": draw(st.sampled_from(RULE_PENALTIES)),
        }
        if draw(st.integers(0, 3)) == 0:
            rule["location"] = draw(st.sampled_from(locations))
        if kind == "max_suppliers":
            rule["limit"] = draw(st.integers(0, 2))
        elif kind == "min_suppliers":
            rule["limit"] = draw(st.integers(1, 3))
        else:
            rule["supplier"] = draw(st.sampled_from(suppliers))
            rule["share"] = draw(st.sampled_from([0.25, 0.5, 0.75, 1.0]))
        drawn.append(rule)
    return drawn


@st.composite
def v2_problems(draw: st.DrawFn) -> dict[str, Any]:
    """A valid version-2 document: a v1 draw with v2 features added."""
    document = draw(problems(max_quantity=V2_MAX_NEED_QUANTITY))
    suppliers = [s["id"] for s in document["suppliers"]]
    if draw(st.booleans()):
        document["version"] = 2
    for agency in document["agencies"]:
        if draw(st.integers(0, 2)) == 0:
            # Within what a few units cost, so that budgets often bind.
            agency["budget"] = _money(draw(st.integers(0, 4000)))
        if draw(st.integers(0, 3)) == 0:
            agency["excluded_suppliers"] = [draw(st.sampled_from(suppliers))]
    for offer in document["offers"]:
        pack = draw(st.sampled_from([1, 1, 2, 3]))
        if pack > 1 or draw(st.booleans()):
            offer["pack_size"] = pack
            offer["capacity"] = max(offer["capacity"], pack)
        fee = draw(st.sampled_from([0.0, 0.0, 0.03, 0.085, 0.5]))
        if fee or draw(st.booleans()):
            offer["fee_rate"] = fee
    offer_ids = [o["id"] for o in document["offers"]]
    if len(offer_ids) >= 2 and draw(st.booleans()):
        members = draw(st.lists(st.sampled_from(offer_ids), min_size=2, max_size=2, unique=True))
        document["capacity_groups"] = [
            {"id": "g-0", "offers": members, "capacity": draw(st.integers(0, 6))}
        ]
    document["rules"] = draw(rules(document))
    settings = document.get("settings") or {}
    settings["allocation"] = draw(st.sampled_from(["usage", "usage", "proportional", "least_core"]))
    settings["fairness"] = draw(st.sampled_from(["none", "none", "core"]))
    document["settings"] = settings
    return document
