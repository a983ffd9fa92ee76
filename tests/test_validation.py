"""Invalid problem documents are refused as a whole, every problem listed with its JSON path.

shared/contract/problem-v1.md: "Invalid documents are rejected as a whole, never turned into a
plan [...] with every problem listed (a JSON path and a reason each)". Each case below breaks
one rule of a valid base document and expects exactly the listed paths, each with a reason
that says what is wrong (matched loosely: the wording is the solver's, the meaning is not).
Valid edge cases the contract allows are accepted.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from solver import ProblemInvalid, solve, validate
from tests.builders import need, offer, problem, route

pytestmark = pytest.mark.unit

Mutation = Callable[[dict[str, Any]], Any]

# Reason patterns, loose on wording, strict on meaning.
WHOLE = r"integer|whole|fractional"
POSITIVE = r"greater than 0|positive|at least 1"
NON_NEGATIVE = r"greater than or equal to 0|negative|non-negative|at least 0"
NUMBER = r"number|numeric|string|bool"
FINITE = r"finite|nan|infinit"
REQUIRED = r"required|missing"
DATE = r"date"
UNKNOWN = r"unknown"
DUPLICATE = r"duplicate|twice|already"


def base() -> dict[str, Any]:
    """A valid document: two agencies, one item, one location, two suppliers."""
    return problem(
        needs=[
            need("n-1", agency="A", quantity=60, need_by="2026-12-20", priority="critical"),
            need("n-2", agency="B", quantity=50),
        ],
        offers=[
            offer("o-1", tiers=[(0, 1.20), (100, 1.00)], capacity=500, moq=10, lead=3),
            offer("o-2", supplier="S2", tiers=[(0, 1.50)], eligible=["A"]),
        ],
        routes=[
            route("S1", "L", fixed=500.0, unit=0.01, transit=3),
            route("S2", "L", fixed=0.0, unit=0.0, transit=1),
        ],
        settings={"late_penalty_rate": 0.01},
    )


def issues(document: Any) -> list[tuple[str, str]]:
    with pytest.raises(ProblemInvalid) as caught:
        validate(document)
    errors = caught.value.errors
    assert errors, "ProblemInvalid without a single error"
    for issue in errors:
        assert issue.path.startswith("$"), issue
        assert issue.reason.strip(), issue
    return [(issue.path, issue.reason) for issue in errors]


def assert_issues(document: Any, expected: list[tuple[str, str]]) -> None:
    """Exactly the expected paths (one issue each), each reason matching its pattern."""
    found = issues(document)
    assert sorted(p for p, _ in found) == sorted(p for p, _ in expected), found
    reasons = dict(found)
    for path, pattern in expected:
        assert re.search(pattern, reasons[path], re.IGNORECASE), (path, reasons[path])


def broken(*mutations: Mutation) -> dict[str, Any]:
    document = base()
    for mutate in mutations:
        mutate(document)
    return document


def setter(path: str, value: Any) -> Mutation:
    """Set a value by a dotted path with [i] indexes, e.g. "needs[0].quantity"."""
    tokens = [int(t) if t.isdigit() else t for t in re.findall(r"[^.\[\]]+", path)]

    def mutate(document: dict[str, Any]) -> None:
        target: Any = document
        for token in tokens[:-1]:
            target = target[token]
        target[tokens[-1]] = value

    return mutate


def dropper(path: str) -> Mutation:
    tokens = [int(t) if t.isdigit() else t for t in re.findall(r"[^.\[\]]+", path)]

    def mutate(document: dict[str, Any]) -> None:
        target: Any = document
        for token in tokens[:-1]:
            target = target[token]
        del target[tokens[-1]]

    return mutate


def natural(path: str) -> tuple[Any, ...]:
    """Order of paths as a reader expects: names alphabetically, indexes by number."""
    return tuple(
        (0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.findall(r"[^.\[\]$]+", path)
    )


# --------------------------------------------------------------------------- references

REFERENCE_CASES = {
    "need agency": ("needs[0].agency", "X", "$.needs[0].agency"),
    "need item": ("needs[0].item", "gizmo", "$.needs[0].item"),
    "need location": ("needs[1].location", "Atlantis", "$.needs[1].location"),
    "offer supplier": ("offers[0].supplier", "S9", "$.offers[0].supplier"),
    "offer item": ("offers[1].item", "gizmo", "$.offers[1].item"),
    "eligible agency": (
        "offers[1].eligible_agencies",
        ["A", "Z"],
        "$.offers[1].eligible_agencies[1]",
    ),
    "route supplier": ("routes[0].supplier", "S9", "$.routes[0].supplier"),
    "route location": ("routes[1].location", "Atlantis", "$.routes[1].location"),
}


@pytest.mark.parametrize(("field", "value", "path"), REFERENCE_CASES.values(), ids=REFERENCE_CASES)
def test_unknown_reference(field: str, value: Any, path: str) -> None:
    document = broken(setter(field, value))
    assert_issues(document, [(path, UNKNOWN)])
    (found,) = issues(document)
    # The reason names the dangling id.
    dangling = value[-1] if isinstance(value, list) else value
    assert dangling in found[1]


@pytest.mark.parametrize(
    "collection", ["agencies", "items", "locations", "suppliers", "needs", "offers"]
)
def test_duplicate_ids(collection: str) -> None:
    document = base()
    document[collection].append(copy.deepcopy(document[collection][0]))
    index = len(document[collection]) - 1
    assert_issues(document, [(f"$.{collection}[{index}].id", DUPLICATE)])


def test_two_routes_for_the_same_supplier_and_location() -> None:
    document = base()
    document["routes"].append(route("S1", "L", fixed=1.0, unit=0.0, transit=9))
    (found,) = issues(document)
    # The second route is the faulty one (its own path, or its supplier/location field).
    assert found[0] in {"$.routes[2]", "$.routes[2].supplier", "$.routes[2].location"}, found
    assert re.search(r"route|duplicate|twice|second", found[1], re.IGNORECASE), found


# --------------------------------------------------------------------------- numbers

NUMBER_CASES = {
    "quantity 10.5": ("needs[0].quantity", 10.5, WHOLE),
    "quantity 0": ("needs[0].quantity", 0, POSITIVE),
    "quantity -1": ("needs[0].quantity", -1, POSITIVE),
    "capacity 1.5": ("offers[0].capacity", 1.5, WHOLE),
    "capacity -1": ("offers[0].capacity", -1, NON_NEGATIVE),
    "min order 2.5": ("offers[0].min_order_quantity", 2.5, WHOLE),
    "min order -1": ("offers[0].min_order_quantity", -1, NON_NEGATIVE),
    "tier min 99.5": ("offers[0].price_tiers[1].min_quantity", 99.5, WHOLE),
    "tier min -1": ("offers[0].price_tiers[0].min_quantity", -1, NON_NEGATIVE),
    "unit price -1": ("offers[0].price_tiers[1].unit_price", -1, NON_NEGATIVE),
    "lead time -1": ("offers[0].lead_time_days", -1, NON_NEGATIVE),
    "lead time 1.5": ("offers[0].lead_time_days", 1.5, WHOLE),
    "fixed cost -1": ("routes[0].fixed_cost", -1.0, NON_NEGATIVE),
    "unit cost -0.01": ("routes[0].unit_cost", -0.01, NON_NEGATIVE),
    "transit -2": ("routes[0].transit_days", -2, NON_NEGATIVE),
    "transit 0.5": ("routes[0].transit_days", 0.5, WHOLE),
    "processing -1": ("settings.order_processing_days", -1, NON_NEGATIVE),
    "processing 1.5": ("settings.order_processing_days", 1.5, WHOLE),
    "late rate -0.1": ("settings.late_penalty_rate", -0.1, NON_NEGATIVE),
    "unmet rate -1": ("settings.unmet_penalty_rate", -1, NON_NEGATIVE),
    "weight -1": ("settings.priority_weights", {"high": -1}, NON_NEGATIVE),
    "gap -0.1": ("settings.relative_gap", -0.1, NON_NEGATIVE),
    "time limit -1": ("settings.time_limit_seconds", -1, r"greater than 0|positive|negative"),
}


@pytest.mark.parametrize(("field", "value", "pattern"), NUMBER_CASES.values(), ids=NUMBER_CASES)
def test_quantities_days_costs_and_rates(field: str, value: Any, pattern: str) -> None:
    path = "$." + field + (".high" if field == "settings.priority_weights" else "")
    assert_issues(broken(setter(field, value)), [(path, pattern)])


TYPE_CASES = {
    "quantity '5000'": ("needs[0].quantity", "5000", NUMBER),
    "quantity true": ("needs[0].quantity", True, NUMBER),
    "capacity false": ("offers[0].capacity", False, NUMBER),
    "lead time '3'": ("offers[0].lead_time_days", "3", NUMBER),
    "unit price '1.20'": ("offers[0].price_tiers[0].unit_price", "1.20", NUMBER),
    "unit price true": ("offers[0].price_tiers[1].unit_price", True, NUMBER),
    "fixed cost '500'": ("routes[0].fixed_cost", "500", NUMBER),
    "late rate '0.01'": ("settings.late_penalty_rate", "0.01", NUMBER),
    "quantity NaN": ("needs[0].quantity", float("nan"), FINITE),
    "quantity Infinity": ("needs[0].quantity", float("inf"), FINITE),
    "unit price NaN": ("offers[0].price_tiers[1].unit_price", float("nan"), FINITE),
    "fixed cost Infinity": ("routes[0].fixed_cost", float("inf"), FINITE),
    "unit cost -Infinity": ("routes[0].unit_cost", float("-inf"), FINITE + "|" + NON_NEGATIVE),
    "capacity Infinity": ("offers[0].capacity", float("inf"), FINITE),
    "gap NaN": ("settings.relative_gap", float("nan"), FINITE),
    "unmet rate Infinity": ("settings.unmet_penalty_rate", float("inf"), FINITE),
    "quantity null": ("needs[0].quantity", None, r"integer|number|null|required"),
}


@pytest.mark.parametrize(("field", "value", "pattern"), TYPE_CASES.values(), ids=TYPE_CASES)
def test_strings_booleans_and_non_finite_numbers(field: str, value: Any, pattern: str) -> None:
    assert_issues(broken(setter(field, value)), [("$." + field, pattern)])


def test_nan_and_infinity_as_python_json_reads_them() -> None:
    # json.loads accepts the non-standard NaN / Infinity literals; they are not numbers here.
    text = json.dumps(base())
    text = text.replace('"quantity": 60', '"quantity": NaN', 1)
    text = text.replace('"fixed_cost": 500.0', '"fixed_cost": Infinity', 1)
    document = json.loads(text)
    assert_issues(document, [("$.needs[0].quantity", FINITE), ("$.routes[0].fixed_cost", FINITE)])


# --------------------------------------------------------------------------- tiers


@pytest.mark.parametrize(
    ("tiers", "expected"),
    [
        # min_quantity must strictly increase.
        (
            [(100, 1.00), (0, 1.00)],
            [("$.offers[0].price_tiers[1].min_quantity", r"greater|increas|order")],
        ),
        (
            [(0, 1.20), (0, 1.00)],
            [("$.offers[0].price_tiers[1].min_quantity", r"greater|increas|order")],
        ),
        # unit_price must not rise.
        (
            [(0, 1.00), (100, 1.20)],
            [("$.offers[0].price_tiers[1].unit_price", r"above|increas|rise|previous")],
        ),
        (
            [(0, 1.20), (100, 1.00), (200, 1.10)],
            [("$.offers[0].price_tiers[2].unit_price", r"above|increas|rise|previous")],
        ),
        # Out of order and rising at once: both reported.
        (
            [(100, 1.00), (0, 1.20)],
            [
                ("$.offers[0].price_tiers[1].min_quantity", r"greater|increas|order"),
                ("$.offers[0].price_tiers[1].unit_price", r"above|increas|rise|previous"),
            ],
        ),
    ],
    ids=["out-of-order", "equal-min-quantity", "rising-price", "rising-third", "both"],
)
def test_tiers_out_of_order_or_rising(
    tiers: list[tuple[int, float]], expected: list[tuple[str, str]]
) -> None:
    document = base()
    document["offers"][0]["price_tiers"] = [{"min_quantity": m, "unit_price": p} for m, p in tiers]
    assert_issues(document, expected)


def test_empty_price_tiers() -> None:
    assert_issues(
        broken(setter("offers[0].price_tiers", [])),
        [("$.offers[0].price_tiers", r"at least 1|empty|one tier")],
    )


def test_equal_prices_in_successive_tiers_are_valid() -> None:
    # "unit_price non-increasing": equal is allowed.
    validate(broken(setter("offers[0].price_tiers[1].unit_price", 1.20)))


# --------------------------------------------------------------------------- dates, enums


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("needs[0].need_by", "2026-13-01"),
        ("needs[0].need_by", "2026-02-30"),
        ("needs[0].need_by", "20/12/2026"),
        ("needs[0].need_by", "tomorrow"),
        ("needs[0].need_by", 20261220),
        ("as_of", ""),
        ("as_of", "2026-12-01T10:00:00"),
    ],
)
def test_bad_dates(field: str, value: Any) -> None:
    assert_issues(broken(setter(field, value)), [("$." + field, DATE)])


@pytest.mark.parametrize("value", ["urgent", "Critical", "", 1])
def test_unknown_priority(value: Any) -> None:
    assert_issues(
        broken(setter("needs[1].priority", value)),
        [("$.needs[1].priority", r"critical.*high.*normal")],
    )


def test_unknown_allocation() -> None:
    assert_issues(
        broken(setter("settings.allocation", "equal")),
        [("$.settings.allocation", r"usage.*proportional")],
    )


@pytest.mark.parametrize("value", ["usd", "US", "EURO", "U$D", 840, None])
def test_wrong_currency_format(value: Any) -> None:
    assert_issues(
        broken(setter("currency", value)),
        [("$.currency", r"pattern|A-Z|string|three|3|currency|required")],
    )


# --------------------------------------------------------------------------- shape


@pytest.mark.parametrize(
    "path",
    [
        "as_of",
        "currency",
        "needs[0].id",
        "needs[0].agency",
        "needs[0].item",
        "needs[0].location",
        "needs[0].quantity",
        "needs[0].need_by",
        "needs[0].priority",
        "offers[0].id",
        "offers[0].supplier",
        "offers[0].item",
        "offers[0].price_tiers",
        "offers[0].capacity",
        "offers[0].lead_time_days",
        "offers[0].price_tiers[0].min_quantity",
        "offers[0].price_tiers[0].unit_price",
        "routes[0].supplier",
        "routes[0].location",
        "routes[0].fixed_cost",
        "routes[0].unit_cost",
        "routes[0].transit_days",
        "agencies[0].id",
    ],
)
def test_missing_required_field(path: str) -> None:
    document = broken(dropper(path))
    found = dict(issues(document))
    assert "$." + path in found, found
    assert re.search(REQUIRED, found["$." + path], re.IGNORECASE), found
    if path == "agencies[0].id":
        # Agency A is gone as well, so its references dangle: reported too, not instead.
        assert set(found) == {
            "$.agencies[0].id",
            "$.needs[0].agency",
            "$.offers[1].eligible_agencies[0]",
        }
    else:
        assert list(found) == ["$." + path], found


def test_several_missing_fields_of_one_need_are_all_listed() -> None:
    document = broken(
        dropper("needs[0].quantity"), dropper("needs[0].need_by"), dropper("needs[0].priority")
    )
    assert_issues(
        document,
        [
            ("$.needs[0].quantity", REQUIRED),
            ("$.needs[0].need_by", REQUIRED),
            ("$.needs[0].priority", REQUIRED),
        ],
    )


@pytest.mark.parametrize("document", [[], [base()], "problem", 42, None, True, 1.5])
def test_non_object_document(document: Any) -> None:
    assert_issues(document, [("$", r"object")])


@pytest.mark.parametrize(
    ("field", "value", "path"),
    [
        ("needs", {"n-1": {}}, "$.needs"),
        ("needs", "n-1", "$.needs"),
        ("needs[0]", 7, "$.needs[0]"),
        (
            "offers[0].price_tiers",
            {"min_quantity": 0, "unit_price": 1.0},
            "$.offers[0].price_tiers",
        ),
        ("offers[0].price_tiers[0]", [0, 1.0], "$.offers[0].price_tiers[0]"),
        ("offers[1].eligible_agencies", "A", "$.offers[1].eligible_agencies"),
        ("routes[0]", None, "$.routes[0]"),
        ("settings", "fast", "$.settings"),
        ("settings.priority_weights", [10, 3, 1], "$.settings.priority_weights"),
        ("needs[0].id", 17, "$.needs[0].id"),
        ("needs[0].id", "", "$.needs[0].id"),
    ],
)
def test_wrong_shapes_are_reported_not_crashed_on(field: str, value: Any, path: str) -> None:
    found = dict(issues(broken(setter(field, value))))
    assert path in found, found


def test_duplicate_route_with_a_bad_field_reports_both() -> None:
    # Two problems in one entry: the second S1->L route, and its negative fixed cost. One
    # path is a prefix of the other; both must be listed (not a crash while sorting them).
    document = base()
    document["routes"].append(route("S1", "L", fixed=-1.0, unit=0.0, transit=1))
    found = dict(issues(document))
    assert "$.routes[2].fixed_cost" in found, found
    assert re.search(NON_NEGATIVE, found["$.routes[2].fixed_cost"], re.IGNORECASE)
    duplicate = {p for p in found if p != "$.routes[2].fixed_cost"}
    assert duplicate and duplicate <= {
        "$.routes[2]",
        "$.routes[2].supplier",
        "$.routes[2].location",
    }


@pytest.mark.parametrize("price", [-1, "1.20", True, float("nan")])
def test_the_only_tier_being_invalid_is_one_problem_not_an_empty_list(price: Any) -> None:
    # An offer with one tier whose price is bad has one problem, at that price. Its
    # price_tiers list is not empty, so "price_tiers must have at least one tier" would be
    # false; and the report must not crash on the two paths (one a prefix of the other).
    document = base()
    document["offers"][0]["price_tiers"] = [{"min_quantity": 0, "unit_price": price}]
    assert_issues(
        document,
        [("$.offers[0].price_tiers[0].unit_price", NON_NEGATIVE + "|" + NUMBER + "|" + FINITE)],
    )


GARBAGE: dict[str, Mutation] = {
    "needs [None]": setter("needs", [None]),
    "offers of strings": setter("offers", ["o-1", "o-2"]),
    "tiers [None]": setter("offers[0].price_tiers", [None, {"min_quantity": 5, "unit_price": 1}]),
    "tiers of lists": setter("offers[0].price_tiers", [[0, 1.0], [5, 0.5]]),
    "eligible [5, None]": setter("offers[1].eligible_agencies", [5, None, "A"]),
    "routes [[]]": setter("routes", [[]]),
    "route ids as numbers": setter("routes[0].supplier", 1),
    "agencies as object": setter("agencies", {"A": {}}),
    "need all null": setter(
        "needs[0]",
        {k: None for k in ("id", "agency", "item", "location", "quantity", "need_by", "priority")},
    ),
    "offer all wrong": setter(
        "offers[0]",
        {
            "id": [],
            "supplier": {},
            "item": 3,
            "price_tiers": "cheap",
            "capacity": "lots",
            "min_order_quantity": -0.5,
            "lead_time_days": None,
            "eligible_agencies": 0,
        },
    ),
    "settings nested nonsense": setter("settings", {"priority_weights": {"high": [3]}}),
    "huge nesting": setter("needs[1].quantity", {"value": [[[[5000]]]]}),
}


@pytest.mark.parametrize("mutate", GARBAGE.values(), ids=GARBAGE)
def test_garbage_is_reported_never_crashed_on(mutate: Mutation) -> None:
    # Whatever the shape, the answer is ProblemInvalid with paths, never another exception.
    issues(broken(mutate))


def test_solve_refuses_an_invalid_document_with_every_problem() -> None:
    document = broken(setter("needs[0].quantity", 0), setter("routes[0].supplier", "S9"))
    with pytest.raises(ProblemInvalid) as caught:
        solve(document)
    assert [e.path for e in caught.value.errors] == ["$.needs[0].quantity", "$.routes[0].supplier"]
    assert caught.value.errors[0].as_dict()["path"] == "$.needs[0].quantity"


# --------------------------------------------------------------------------- all at once


def test_many_problems_are_all_listed_at_once_in_path_order() -> None:
    document = problem(
        needs=[need(f"n-{i}", agency="A" if i % 2 else "B", quantity=5) for i in range(12)],
        offers=[
            offer("o-1", tiers=[(0, 1.00), (10, 1.10)]),
            offer("o-2", supplier="S2", capacity=100),
        ],
        routes=[route("S1", "L"), route("S2", "L")],
        settings={"relative_gap": 0.001},
    )
    document["agencies"].append({"id": "A", "name": "again"})
    document["routes"].append(route("S1", "L", fixed=3.0))
    mutations = [
        setter("needs[0].quantity", 10.5),
        setter("needs[2].agency", "X"),
        setter("needs[9].need_by", "not a date"),
        setter("needs[10].priority", "urgent"),
        setter("needs[11].id", "n-0"),
        setter("offers[1].capacity", -5),
        setter("offers[1].supplier", "ghost"),
        setter("routes[0].fixed_cost", "500"),
        setter("settings.relative_gap", float("nan")),
        setter("currency", "usd"),
        dropper("as_of"),
    ]
    for mutate in mutations:
        mutate(document)
    expected = [
        ("$.agencies[2].id", DUPLICATE),
        ("$.as_of", REQUIRED),
        ("$.currency", r"pattern|A-Z|three|3|currency"),
        ("$.needs[0].quantity", WHOLE),
        ("$.needs[2].agency", UNKNOWN),
        ("$.needs[9].need_by", DATE),
        ("$.needs[10].priority", r"critical.*high.*normal"),
        ("$.needs[11].id", DUPLICATE),
        ("$.offers[0].price_tiers[1].unit_price", r"above|increas|rise|previous"),
        ("$.offers[1].capacity", NON_NEGATIVE),
        ("$.offers[1].supplier", UNKNOWN),
        ("$.routes[0].fixed_cost", NUMBER),
        ("$.routes[2]", r"route|duplicate|twice|second"),
        ("$.settings.relative_gap", FINITE),
    ]
    assert_issues(document, expected)
    paths = [path for path, _ in issues(document)]
    assert paths == sorted(paths, key=natural), paths
    assert paths == [path for path, _ in expected]
    # Nothing is half-reported when the same document goes through solve().
    with pytest.raises(ProblemInvalid) as caught:
        solve(document)
    assert [e.path for e in caught.value.errors] == paths
    assert str(len(paths)) in str(caught.value)


# --------------------------------------------------------------------------- valid edges


def test_base_document_is_valid() -> None:
    validate(base())


def test_eligible_agencies_empty_list_is_valid() -> None:
    validate(broken(setter("offers[1].eligible_agencies", [])))


def test_absent_and_null_optional_fields_are_valid() -> None:
    document = base()
    del document["settings"]
    document["offers"][0].pop("eligible_agencies", None)
    document["offers"][1]["eligible_agencies"] = None
    validate(document)
    document["settings"] = {
        "order_processing_days": None,
        "late_penalty_rate": None,
        "unmet_penalty_rate": None,
        "priority_weights": {"high": None},
        "time_limit_seconds": None,
        "relative_gap": None,
        "allocation": None,
    }
    validate(document)
    document["settings"] = {"priority_weights": {"critical": 20}}
    validate(document)


def test_extra_unknown_fields_are_ignored() -> None:
    document = base()
    document["contract_version"] = "1.1"
    document["needs"][0]["comment"] = {"free": ["text"]}
    document["offers"][0]["incoterm"] = "DAP"
    document["offers"][0]["price_tiers"][0]["currency_note"] = None
    document["routes"][0]["mode"] = "truck"
    document["agencies"][0]["acronym"] = "A"
    document["settings"]["solver_threads"] = 4
    document["settings"]["priority_weights"] = {"low": 0.5}
    validate(document)


def test_whole_floats_are_whole_numbers() -> None:
    document = broken(
        setter("needs[0].quantity", 5000.0),
        setter("offers[0].capacity", 10000.0),
        setter("offers[0].min_order_quantity", 10.0),
        setter("offers[0].lead_time_days", 3.0),
        setter("offers[0].price_tiers[1].min_quantity", 100.0),
        setter("routes[0].transit_days", 3.0),
        setter("settings.order_processing_days", 5.0),
    )
    typed = validate(document)
    assert typed.needs[0].quantity == 5000
    assert isinstance(typed.needs[0].quantity, int)


def test_whole_money_figures_may_be_integers() -> None:
    validate(
        broken(
            setter("routes[0].fixed_cost", 500),
            setter("routes[0].unit_cost", 0),
            setter("offers[1].price_tiers[0].unit_price", 2),
        )
    )


def test_a_need_nothing_can_serve_is_valid_and_left_unmet() -> None:
    # No offer sells "glove", no route reaches L2, and o-3 is open to nobody: all valid.
    document = problem(
        needs=[
            need("n-glove", item="glove", quantity=3),
            need("n-far", location="L2", quantity=4),
            need("n-closed", item="tent", quantity=5),
        ],
        offers=[offer("o-1"), offer("o-3", item="tent", eligible=[])],
        routes=[route("S1", "L")],
    )
    validate(document)
    plan = solve(document)
    assert plan["status"] == "optimal"
    assert {u["need"]: (u["quantity"], u["reason"]) for u in plan["unmet"]} == {
        "n-glove": (3, "no_offer"),
        "n-far": (4, "no_route"),
        "n-closed": (5, "not_eligible"),
    }


# --------------------------------------------------------------------------- limits


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("needs[0].quantity", 10**12),
        ("offers[0].capacity", 10**12),
        ("offers[0].price_tiers[0].unit_price", 1e200),
        ("routes[0].fixed_cost", 1.7e308),
        ("offers[0].lead_time_days", 100_000),
        ("settings.unmet_penalty_rate", 1e9),
        ("settings.relative_gap", 2),
        ("settings.time_limit_seconds", 1e9),
    ],
)
def test_numbers_beyond_what_the_model_can_hold_are_refused(path: str, value: Any) -> None:
    # Such numbers made HiGHS return "error" or the objective infinite; they are
    # refused as input, with the field named, before any model is built.
    document = base()
    document.setdefault("settings", {})
    setter(path, value)(document)
    assert_issues(document, [(f"$.{path}", r"at most|less than")])


def test_dates_whose_delivery_would_overflow_the_calendar_are_refused() -> None:
    assert_issues(broken(setter("as_of", "9999-12-30")), [("$.as_of", r"between")])


def test_an_object_in_eligible_agencies_is_reported_not_a_crash() -> None:
    # Found by Schemathesis (tests/security): an unhashable entry made validate() raise
    # TypeError, a 500 on POST /solve.
    document = {
        "as_of": "2026-12-01",
        "currency": "USD",
        "offers": [{"id": "o", "eligible_agencies": [{}, [1], "A", "A"]}],
    }
    with pytest.raises(ProblemInvalid):
        validate(document)
