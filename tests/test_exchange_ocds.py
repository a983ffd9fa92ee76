"""OCDS export: valid against the official OCDS 1.1 schemas committed in tests/data/ocds.

The release package schema refers to the release schema by URL; a local
registry resolves it to the committed file, so nothing is fetched.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from app.exchange.ocds import NotExportable, release_package, split_to_cents
from solver import solve
from solver.examples import generate_problem

pytestmark = pytest.mark.unit

SCHEMAS = Path(__file__).parent / "data" / "ocds"
PUBLISHED = dt.datetime(2026, 12, 3, 14, 30, tzinfo=dt.UTC)


def _format_checker() -> jsonschema.FormatChecker:
    # jsonschema checks date-time and uri only with optional packages; check them here.
    checker = jsonschema.FormatChecker(formats=())

    @checker.checks("date-time", raises=ValueError)
    def date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        if not re.fullmatch(
            r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", value
        ):
            raise ValueError(f"not an RFC 3339 date-time: {value}")
        dt.datetime.fromisoformat(value)
        return True

    @checker.checks("uri", raises=ValueError)
    def uri(value: object) -> bool:
        if isinstance(value, str) and not urlsplit(value).scheme:
            raise ValueError(f"not an absolute URI: {value}")
        return True

    return checker


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft4Validator:
    package = json.loads((SCHEMAS / "release-package-schema.json").read_text())
    release = json.loads((SCHEMAS / "release-schema.json").read_text())
    assert package["id"].endswith("/1__1__5/release-package-schema.json")
    assert package["properties"]["releases"]["items"]["$ref"] == release["id"]
    registry: Registry = Registry().with_resource(
        release["id"], Resource.from_contents(release, default_specification=DRAFT4)
    )
    jsonschema.Draft4Validator.check_schema(package)
    jsonschema.Draft4Validator.check_schema(release)
    return jsonschema.Draft4Validator(package, registry=registry, format_checker=_format_checker())


def problems(validator: jsonschema.Draft4Validator, document: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(document)
    ]


@pytest.fixture(scope="module")
def solved() -> tuple[dict[str, Any], dict[str, Any]]:
    problem = generate_problem("small", 1)
    return problem, solve(problem)


@pytest.fixture(scope="module")
def package(solved: tuple[Any, Any]) -> dict[str, Any]:
    problem, plan = solved
    return release_package(
        problem,
        plan,
        round_id=42,
        coordinator="OCHA",
        published_at=PUBLISHED,
        round_name="Panama COVID-19 pooled round, December",
        ocid_prefix="ocds-pbuy01",
        item_codes={"ppe-mask-n95": "42131713", "hyg-kit-family": "53131600"},
        tender_period=(
            dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
            dt.datetime(2026, 11, 30, 23, 0, tzinfo=dt.UTC),
        ),
        zone=ZoneInfo("America/Panama"),
        uri="https://poolbuy.example/api/v1/rounds/42/ocds",
        license_url="https://creativecommons.org/licenses/by/4.0/",
    )


def test_the_export_is_valid_against_the_ocds_schema(validator: Any, package: Any) -> None:
    assert problems(validator, package) == []


def test_the_validator_is_not_vacuous(validator: Any, package: Any) -> None:
    broken = copy.deepcopy(package)
    release = broken["releases"][0]
    del release["ocid"]
    release["tag"] = ["approved"]
    release["awards"][0]["status"] = "won"
    release["contracts"][0]["value"]["currency"] = "DOLLARS"
    release["date"] = "3 December 2026"
    broken["uri"] = "rounds/42"
    found = "\n".join(problems(validator, broken))
    for expected in (
        "'ocid' is a required property",
        "'approved' is not one of",
        "'won' is not one of",
        "'DOLLARS' is not one of",
        "'3 December 2026' is not a 'date-time'",
        "'rounds/42' is not a 'uri'",
    ):
        assert expected in found


# ------------------------------------------------------------ extensions, strictly

# Each extension a package may declare, by URL: its folder under tests/data/ocds/extensions.
EXTENSION_FOLDERS = {
    "https://raw.githubusercontent.com/transpresupuestaria/ocds_multiple_buyers_extension/"
    "master/extension.json": "multiple_buyers",
}


# How jsonschema words a field the closed schema does not define (with or without
# patternProperties beside the properties).
UNDEFINED = "'{}' (was unexpected|does not match any of the regexes)"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON Merge Patch, as OCDS applies an extension's schema to the release's."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def closed(schema: Any) -> Any:
    """The schema with every object that lists its properties closed to any other field
    (language variants still match their ``patternProperties``)."""
    if isinstance(schema, list):
        return [closed(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: closed(v) for k, v in schema.items()}
    if "properties" in schema and "additionalProperties" not in schema:
        out["additionalProperties"] = False
    return out


def strict_validator(extensions: list[str]) -> jsonschema.Draft4Validator:
    """The package and release schemas, patched with the declared extensions (read from
    their committed files; an undeclared or unknown one is not used) and closed."""
    package = json.loads((SCHEMAS / "release-package-schema.json").read_text())
    release = json.loads((SCHEMAS / "release-schema.json").read_text())
    for url in extensions:
        folder = SCHEMAS / "extensions" / EXTENSION_FOLDERS[url]
        meta = json.loads((folder / "extension.json").read_text())
        assert "1.1" in meta["compatibility"]
        for name in meta["schemas"]:
            if name == "release-schema.json":
                release = merge_patch(release, json.loads((folder / name).read_text()))
    release, package = closed(release), closed(package)
    registry: Registry = Registry().with_resource(
        release["id"], Resource.from_contents(release, default_specification=DRAFT4)
    )
    jsonschema.Draft4Validator.check_schema(release)
    return jsonschema.Draft4Validator(package, registry=registry, format_checker=_format_checker())


def test_the_package_declares_every_extension_it_uses_and_no_field_is_undefined(
    package: Any,
) -> None:
    declared = package.get("extensions", [])
    assert set(declared) <= set(EXTENSION_FOLDERS), declared
    assert any("buyers" in c for c in package["releases"][0]["contracts"])
    assert problems(strict_validator(declared), package) == []


def test_the_strict_validation_fails_on_a_field_nothing_defines(package: Any) -> None:
    undeclared = copy.deepcopy(package)
    undeclared.pop("extensions")
    found = "\n".join(problems(strict_validator([]), undeclared))
    assert re.search(UNDEFINED.format("buyers"), found), found
    invented = copy.deepcopy(package)
    invented["releases"][0]["contracts"][0]["x_signedBy"] = "someone"
    invented["releases"][0]["awards"][0]["items"][0]["colour"] = "blue"
    found = "\n".join(problems(strict_validator(invented["extensions"]), invented))
    assert re.search(UNDEFINED.format("x_signedBy"), found), found
    assert re.search(UNDEFINED.format("colour"), found), found


def test_one_contracting_process_with_a_configurable_ocid(package: Any) -> None:
    assert package["version"] == "1.1"
    assert package["publishedDate"] == "2026-12-03T14:30:00Z"
    (release,) = package["releases"]
    assert release["ocid"] == "ocds-pbuy01-42"
    assert release["tag"] == ["tender", "award", "contract"]
    assert release["tender"]["title"] == "Panama COVID-19 pooled round, December"
    assert release["tender"]["tenderPeriod"]["endDate"] == "2026-11-30T23:00:00Z"


def test_parties(package: Any, solved: tuple[Any, Any]) -> None:
    problem, plan = solved
    parties = {p["id"]: p for p in package["releases"][0]["parties"]}
    for agency in problem["agencies"]:
        party = parties[f"agency-{agency['id']}"]
        assert "buyer" in party["roles"] and party["name"] == agency["name"]
    assert parties["agency-OCHA"]["roles"] == ["buyer", "procuringEntity"]
    awarded = {o["supplier"] for o in plan["orders"]}
    for supplier in problem["suppliers"]:
        roles = parties[f"supplier-{supplier['id']}"]["roles"]
        assert ("supplier" in roles) == (supplier["id"] in awarded)
        assert "tenderer" in roles
    tender = package["releases"][0]["tender"]
    assert tender["procuringEntity"] == {
        "id": "agency-OCHA",
        "name": parties["agency-OCHA"]["name"],
    }
    # Every reference names a party.
    refs = [tender["procuringEntity"], *tender["tenderers"]]
    refs += [s for a in package["releases"][0]["awards"] for s in a["suppliers"]]
    refs += [b for c in package["releases"][0]["contracts"] for b in c["buyers"]]
    for ref in refs:
        assert parties[ref["id"]]["name"] == ref["name"]


def test_tender_items_are_the_needs(package: Any, solved: tuple[Any, Any]) -> None:
    problem, _ = solved
    items = {i["id"]: i for i in package["releases"][0]["tender"]["items"]}
    assert set(items) == {n["id"] for n in problem["needs"]}
    first_prices: dict[str, float] = defaultdict(float)
    for offer in problem["offers"]:
        first_prices[offer["item"]] = max(
            first_prices[offer["item"]], offer["price_tiers"][0]["unit_price"]
        )
    for need in problem["needs"]:
        item = items[need["id"]]
        assert item["quantity"] == need["quantity"]
        assert item["additionalClassifications"][0] == {
            "scheme": "x_poolbuy",
            "id": need["item"],
            "description": next(i["name"] for i in problem["items"] if i["id"] == need["item"]),
        }
        if need["item"] == "ppe-mask-n95":
            assert item["classification"]["scheme"] == "UNSPSC"
            assert item["classification"]["id"] == "42131713"
        elif need["item"] != "hyg-kit-family":
            assert "classification" not in item
        if need["item"] in first_prices:
            assert item["unit"]["value"] == {
                "amount": first_prices[need["item"]],
                "currency": "USD",
            }


def test_one_award_per_supplier_and_their_values(package: Any, solved: tuple[Any, Any]) -> None:
    _, plan = solved
    awards = {a["suppliers"][0]["id"]: a for a in package["releases"][0]["awards"]}
    suppliers = {o["supplier"] for o in plan["orders"]}
    assert set(awards) == {f"supplier-{s}" for s in suppliers}
    for supplier in suppliers:
        award = awards[f"supplier-{supplier}"]
        orders = [o for o in plan["orders"] if o["supplier"] == supplier]
        shipping = [s for s in plan["shipments"] if s["supplier"] == supplier]
        expected = round(sum(o["cost"] for o in orders) + sum(s["cost"] for s in shipping), 2)
        assert award["value"]["amount"] == pytest.approx(expected, abs=1e-6)
        assert {i["id"]: i["quantity"] for i in award["items"]} == {
            o["offer"]: o["quantity"] for o in orders
        }
        for item in award["items"]:
            order = next(o for o in orders if o["offer"] == item["id"])
            assert item["unit"]["value"]["amount"] == order["unit_price"]
    total = sum(a["value"]["amount"] for a in awards.values())
    assert round(total, 2) == round(plan["money_cost"], 2)


def test_one_contract_per_agency_and_supplier(package: Any, solved: tuple[Any, Any]) -> None:
    problem, plan = solved
    needs = {n["id"]: n for n in problem["needs"]}
    pairs = {(needs[a["need"]]["agency"], a["supplier"]) for a in plan["awards"]}
    release = package["releases"][0]
    contracts = {(c["buyers"][0]["id"], c["awardID"]): c for c in release["contracts"]}
    assert len(contracts) == len(release["contracts"]) == len(pairs)
    award_ids = {a["suppliers"][0]["id"]: a["id"] for a in release["awards"]}
    for agency, supplier in pairs:
        contract = contracts[(f"agency-{agency}", award_ids[f"supplier-{supplier}"])]
        assert contract["status"] == "pending"
        units: dict[str, int] = defaultdict(int)
        for a in plan["awards"]:
            if a["supplier"] == supplier and needs[a["need"]]["agency"] == agency:
                units[a["offer"]] += a["quantity"]
        assert {i["id"]: i["quantity"] for i in contract["items"]} == units
        assert contract["period"]["startDate"] == "2026-12-01T00:00:00-05:00"
    # A supplier's contracts add up to its award, to the cent.
    per_award: dict[str, Decimal] = defaultdict(Decimal)
    for c in release["contracts"]:
        per_award[c["awardID"]] += Decimal(str(c["value"]["amount"]))
    for award in release["awards"]:
        assert per_award[award["id"]] == Decimal(str(award["value"]["amount"]))


def _hand_problem() -> dict[str, Any]:
    return {
        "as_of": "2026-12-01",
        "currency": "USD",
        "agencies": [{"id": "IOM", "name": "IOM"}, {"id": "UNHCR", "name": "UNHCR"}],
        "items": [
            {
                "id": "mask",
                "name": "Mask",
                "unit": "each",
                "category": "PPE",
                "unspsc_code": "42131713",
            },
            {"id": "tent", "name": "Tent", "unit": "each", "category": "shelter"},
        ],
        "locations": [{"id": "L1", "name": "One"}, {"id": "L2", "name": "Two"}],
        "suppliers": [{"id": "S1", "name": "Supplier one"}],
        "needs": [
            {
                "id": "n-1",
                "agency": "IOM",
                "item": "mask",
                "location": "L1",
                "quantity": 60,
                "need_by": "2027-01-31",
                "priority": "normal",
            },
            {
                "id": "n-2",
                "agency": "UNHCR",
                "item": "mask",
                "location": "L1",
                "quantity": 60,
                "need_by": "2027-01-31",
                "priority": "normal",
            },
            {
                "id": "n-3",
                "agency": "UNHCR",
                "item": "tent",
                "location": "L2",
                "quantity": 1,
                "need_by": "2027-01-31",
                "priority": "normal",
            },
        ],
        "offers": [
            {
                "id": "o-1",
                "supplier": "S1",
                "item": "mask",
                "capacity": 1000,
                "min_order_quantity": 0,
                "lead_time_days": 1,
                "eligible_agencies": None,
                "price_tiers": [
                    {"min_quantity": 0, "unit_price": 1.0},
                    {"min_quantity": 100, "unit_price": 0.8},
                ],
            },
            {
                "id": "o-2",
                "supplier": "S1",
                "item": "tent",
                "capacity": 10,
                "min_order_quantity": 0,
                "lead_time_days": 1,
                "eligible_agencies": None,
                "price_tiers": [{"min_quantity": 0, "unit_price": 100.0}],
            },
        ],
        "routes": [
            {
                "supplier": "S1",
                "location": "L1",
                "fixed_cost": 30.0,
                "unit_cost": 0.1,
                "transit_days": 1,
            },
            {
                "supplier": "S1",
                "location": "L2",
                "fixed_cost": 10.0,
                "unit_cost": 0.0,
                "transit_days": 1,
            },
        ],
        "settings": {},
    }


def test_contract_values_follow_the_documented_rule(validator: Any) -> None:
    problem = _hand_problem()
    plan = solve(problem)
    assert plan["unmet"] == [] and plan["money_cost"] == pytest.approx(248.0)
    package = release_package(problem, plan, round_id=1, coordinator="IOM", published_at=PUBLISHED)
    assert problems(validator, package) == []
    release = package["releases"][0]
    (award,) = release["awards"]
    assert award["value"] == {"amount": 248.0, "currency": "USD"}
    values = {c["buyers"][0]["id"]: c["value"]["amount"] for c in release["contracts"]}
    # IOM: 60 masks at the pooled 0.80, and half of route L1 (30 + 0.10 x 120).
    # UNHCR: the same, plus the tent (100) and all of route L2 (10).
    assert values == {"agency-IOM": 69.0, "agency-UNHCR": 179.0}
    tender_items = {i["id"]: i for i in release["tender"]["items"]}
    assert tender_items["n-1"]["classification"] == {
        "scheme": "UNSPSC",
        "id": "42131713",
        "description": "Mask",
    }
    assert tender_items["n-1"]["unit"] == {
        "name": "each",
        "value": {"amount": 1.0, "currency": "USD"},
    }
    assert "classification" not in tender_items["n-3"]
    assert release["id"] == "ocds-poolbuy-1-plan-approved"
    assert package["uri"].startswith("urn:uuid:")


def test_a_coordinator_without_needs_is_a_party_of_its_own(validator: Any) -> None:
    problem = _hand_problem()
    package = release_package(
        problem,
        solve(problem),
        round_id=1,
        coordinator="OCHA",
        coordinator_name="UN OCHA Panama",
        published_at=PUBLISHED,
    )
    assert problems(validator, package) == []
    parties = {p["id"]: p for p in package["releases"][0]["parties"]}
    assert parties["agency-OCHA"] == {
        "id": "agency-OCHA",
        "name": "UN OCHA Panama",
        "roles": ["procuringEntity"],
    }
    assert parties["agency-IOM"]["roles"] == ["buyer"]


def test_a_plan_with_nothing_bought_is_still_valid(validator: Any) -> None:
    problem = _hand_problem()
    problem["routes"] = []
    plan = solve(problem)
    assert plan["orders"] == []
    package = release_package(problem, plan, round_id=2, coordinator="IOM", published_at=PUBLISHED)
    assert problems(validator, package) == []
    assert package["releases"][0]["awards"] == []
    assert package["releases"][0]["contracts"] == []


def test_only_a_solved_plan_and_an_aware_time(solved: tuple[Any, Any]) -> None:
    problem, plan = solved
    with pytest.raises(NotExportable):
        release_package(
            problem,
            {**plan, "status": "error"},
            round_id=1,
            coordinator="IOM",
            published_at=PUBLISHED,
        )
    with pytest.raises(ValueError, match="timezone-aware"):
        release_package(
            problem, plan, round_id=1, coordinator="IOM", published_at=dt.datetime(2026, 12, 3)
        )


@given(
    total=st.integers(min_value=0, max_value=10**9),
    shares=st.dictionaries(
        st.text(alphabet="ABCDE", min_size=1, max_size=3),
        st.decimals(min_value=0, max_value=10**6, places=4),
        min_size=1,
        max_size=8,
    ),
)
def test_split_to_cents_adds_up_and_stays_within_a_cent(
    total: int, shares: dict[str, Decimal]
) -> None:
    amount = Decimal(total) / 100
    parts = split_to_cents(amount, shares)
    assert set(parts) == set(shares)
    assert sum(parts.values(), Decimal(0)) == amount
    weight = sum(shares.values(), Decimal(0))
    for key, part in parts.items():
        exact = amount * shares[key] / weight if weight else amount / len(shares)
        assert abs(part - exact) < Decimal("0.01")
        assert part == part.quantize(Decimal("0.01"))


def test_a_v2_plan_exports_its_fees_and_packs(validator: Any) -> None:
    """Masks sold in cartons of 50 with a 5% fee: 120 awarded units are 3 cartons (30 over),
    goods 150 x 0.80 = 120.00, fee 6.00; the award's and contracts' values hold them."""
    problem = _hand_problem()
    problem["offers"][0].update(pack_size=50, fee_rate=0.05)
    plan = solve(problem)
    assert plan["unmet"] == []
    order = next(o for o in plan["orders"] if o["offer"] == "o-1")
    assert (order["packs"], order["surplus"], order["quantity"]) == (3, 30, 150)
    assert (order["goods_cost"], order["fee"], order["cost"]) == (120.0, 6.0, 126.0)
    package = release_package(problem, plan, round_id=3, coordinator="IOM", published_at=PUBLISHED)
    assert problems(validator, package) == []
    assert problems(strict_validator(package.get("extensions", [])), package) == []
    release = package["releases"][0]
    (award,) = release["awards"]
    # Landed value: goods + fees + shipping, the plan's money cost.
    shipping = sum(s["cost"] for s in plan["shipments"])
    goods = sum(o["goods_cost"] for o in plan["orders"])
    fees = sum(o["fee"] for o in plan["orders"])
    assert award["value"]["amount"] == pytest.approx(goods + fees + shipping)
    assert award["value"]["amount"] == pytest.approx(plan["money_cost"]) == pytest.approx(278.0)
    assert fees == pytest.approx(plan["fees"]) == pytest.approx(6.0)
    # Goods: the cartons (120.00) and the tent (100.00).
    assert "goods USD 220.00 + fees USD 6.00 + shipping USD 52.00" in award["description"]
    items = {i["id"]: i for i in award["items"]}
    # The carton order in cartons, valued per carton; units for the tent.
    assert items["o-1"]["quantity"] == 3
    assert items["o-1"]["unit"] == {
        "name": "pack of 50 x each",
        "value": {"amount": 40.0, "currency": "USD"},
    }
    assert items["o-2"]["quantity"] == 1 and items["o-2"]["unit"]["name"] == "each"
    for o in plan["orders"]:
        item = items[o["offer"]]
        assert item["quantity"] * item["unit"]["value"]["amount"] == pytest.approx(o["goods_cost"])
    # Each agency's contract: its half of the carton order's cost (126.00, fee and surplus
    # included), half of route L1 (30 + 0.10 x 120); UNHCR also the tent and route L2.
    contracts = {c["buyers"][0]["id"]: c for c in release["contracts"]}
    values = {k: c["value"]["amount"] for k, c in contracts.items()}
    assert values == {"agency-IOM": 84.0, "agency-UNHCR": 194.0}
    # With one supplier and the usage allocation, the contracts are the agencies' shares.
    assert values == {f"agency-{a['agency']}": a["allocated_cost"] for a in plan["agencies"]}
    assert sum(values.values()) == pytest.approx(award["value"]["amount"])
    assert {i["id"]: i["quantity"] for i in contracts["agency-IOM"]["items"]} == {"o-1": 60}
    assert "fees (5.00% of the goods)" in contracts["agency-IOM"]["description"]
    assert "surplus of whole packs" in contracts["agency-IOM"]["description"]


def test_a_plan_without_fees_or_packs_keeps_units_and_says_no_fee() -> None:
    problem = _hand_problem()
    plan = solve(problem)
    package = release_package(problem, plan, round_id=4, coordinator="IOM", published_at=PUBLISHED)
    (award,) = package["releases"][0]["awards"]
    assert {i["id"]: i["quantity"] for i in award["items"]} == {"o-1": 120, "o-2": 1}
    assert "+ fees USD 0.00 +" in award["description"]
    for contract in package["releases"][0]["contracts"]:
        assert "fee" not in contract["description"] and "surplus" not in contract["description"]


def test_a_generated_v2_round_with_cartons_and_fees_adds_up_and_validates(
    validator: Any,
) -> None:
    problem = generate_problem("small", 1, sourcing=True)
    plan = solve(problem)
    assert plan["fees"] > 0 and any(o["surplus"] for o in plan["orders"])
    package = release_package(problem, plan, round_id=5, coordinator="OCHA", published_at=PUBLISHED)
    assert problems(validator, package) == []
    assert problems(strict_validator(package["extensions"]), package) == []
    release = package["releases"][0]
    sizes = {o["id"]: o.get("pack_size", 1) for o in problem["offers"]}
    orders = {o["offer"]: o for o in plan["orders"]}
    for award in release["awards"]:
        for item in award["items"]:
            order = orders[item["id"]]
            # In packs where the offer sells packs; quantity x unit value = the goods.
            assert item["quantity"] == (
                order["packs"] if sizes[item["id"]] > 1 else order["quantity"]
            )
            assert item["quantity"] * item["unit"]["value"]["amount"] == pytest.approx(
                order["goods_cost"], abs=0.005
            )
    # Awards are the landed money cost (goods + fees + shipping), contracts add up to them.
    total = sum(Decimal(str(a["value"]["amount"])) for a in release["awards"])
    assert total == Decimal(str(plan["money_cost"]))
    per_award: dict[str, Decimal] = defaultdict(Decimal)
    for contract in release["contracts"]:
        per_award[contract["awardID"]] += Decimal(str(contract["value"]["amount"]))
    assert per_award == {a["id"]: Decimal(str(a["value"]["amount"])) for a in release["awards"]}
    # The usage allocation's figures: each agency's contracts are its allocated cost,
    # within a cent of rounding per contract.
    mine: dict[str, Decimal] = defaultdict(Decimal)
    count: dict[str, int] = defaultdict(int)
    for contract in release["contracts"]:
        mine[contract["buyers"][0]["id"]] += Decimal(str(contract["value"]["amount"]))
        count[contract["buyers"][0]["id"]] += 1
    for line in plan["agencies"]:
        key = f"agency-{line['agency']}"
        assert abs(mine[key] - Decimal(str(line["allocated_cost"]))) <= Decimal("0.01") * max(
            count[key], 1
        ), line["agency"]
