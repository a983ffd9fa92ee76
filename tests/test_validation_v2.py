"""The fields contract v2 adds, refused one by one and all at once, each with its JSON path.

shared/contract/problem-v2.md, "Validation adds": pack sizes whole and >= 1; fee rates >= 0;
budgets >= 0; excluded suppliers, group offers, rule items, locations and suppliers must exist;
group and rule ids unique; group capacity whole and >= 0; an offer listed twice in one group;
rule `kind` one of the four; `limit` whole, >= 1 for min_suppliers and >= 0 for
max_suppliers; `share` in (0, 1]; `supplier` required for the two share kinds and refused for
the two count kinds; `penalty` > 0. Through `validate`, the CLI (exit 1, nothing written) and
the API (422 listing every problem).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from app import cli
from solver import validate
from tests.test_api_solve import SOLVE, assert_problem, client_for
from tests.test_validation import (
    DUPLICATE,
    NON_NEGATIVE,
    NUMBER,
    POSITIVE,
    REQUIRED,
    UNKNOWN,
    WHOLE,
    assert_issues,
    base,
    setter,
)

pytestmark = pytest.mark.unit


def v2_base() -> dict[str, Any]:
    """The v1 base document with one of each v2 field, valid."""
    document = base()
    document["version"] = 2
    document["agencies"] = [
        {"id": "A", "budget": 1000.0, "excluded_suppliers": ["S2"]},
        {"id": "B"},
    ]
    document["offers"][0].update(pack_size=10, fee_rate=0.045)
    document["capacity_groups"] = [{"id": "g-1", "offers": ["o-1", "o-2"], "capacity": 400}]
    document["rules"] = [
        {"id": "r-1", "kind": "max_suppliers", "item": "mask", "limit": 1, "penalty": 50},
        {"id": "r-2", "kind": "min_suppliers", "item": "mask", "location": "L", "limit": 2,
         "penalty": 20},
        {"id": "r-3", "kind": "max_share", "item": "mask", "supplier": "S1", "share": 0.6,
         "penalty": 4.0},
        {"id": "r-4", "kind": "min_share", "item": "mask", "supplier": "S2", "share": 0.3,
         "penalty": 4.0},
    ]  # fmt: skip
    document["settings"]["fairness"] = "none"
    return document


def v2_broken(field: str, value: Any) -> dict[str, Any]:
    document = v2_base()
    setter(field, value)(document)
    return document


def test_the_v2_base_document_is_valid() -> None:
    problem = validate(v2_base())
    assert problem.agencies[0].budget == 1000.0 and problem.offers[0].pack_size == 10


SHARE = r"less than or equal to 1|greater than 0"
KIND = r"max_suppliers.*min_suppliers.*max_share.*min_share"

CASES = {
    "pack size 0": ("offers[0].pack_size", 0, "$.offers[0].pack_size", r"or equal to 1"),
    "pack size 2.5": ("offers[0].pack_size", 2.5, "$.offers[0].pack_size", WHOLE),
    "pack size '10'": ("offers[0].pack_size", "10", "$.offers[0].pack_size", NUMBER),
    "fee rate -0.01": ("offers[0].fee_rate", -0.01, "$.offers[0].fee_rate", NON_NEGATIVE),
    "budget -1": ("agencies[0].budget", -1, "$.agencies[0].budget", NON_NEGATIVE),
    "budget true": ("agencies[0].budget", True, "$.agencies[0].budget", NUMBER),
    "excluded unknown": (
        "agencies[0].excluded_suppliers", ["S9"], "$.agencies[0].excluded_suppliers[0]", UNKNOWN
    ),
    "excluded twice": (
        "agencies[0].excluded_suppliers", ["S2", "S2"], "$.agencies[0].excluded_suppliers[1]",
        DUPLICATE,
    ),
    "group offer unknown": (
        "capacity_groups[0].offers", ["o-1", "o-9"], "$.capacity_groups[0].offers[1]", UNKNOWN
    ),
    "group offer twice": (
        "capacity_groups[0].offers", ["o-1", "o-1"], "$.capacity_groups[0].offers[1]", DUPLICATE
    ),
    "group capacity 1.5": (
        "capacity_groups[0].capacity", 1.5, "$.capacity_groups[0].capacity", WHOLE
    ),
    "group capacity -1": (
        "capacity_groups[0].capacity", -1, "$.capacity_groups[0].capacity", NON_NEGATIVE
    ),
    "group without offers": ("capacity_groups[0]", {"id": "g", "capacity": 1},
                             "$.capacity_groups[0].offers", REQUIRED),
    "rule kind": ("rules[0].kind", "max_vendors", "$.rules[0].kind", KIND),
    # Found by the outside fuzzing (tests/security/outside_fuzz.sh): not a string at all.
    "rule kind object": ("rules[0].kind", {}, "$.rules[0].kind", KIND),
    "rule kind list": ("rules[0].kind", ["max_suppliers"], "$.rules[0].kind", KIND),
    "rule item unknown": ("rules[0].item", "gizmo", "$.rules[0].item", UNKNOWN),
    "rule location unknown": ("rules[1].location", "Atlantis", "$.rules[1].location", UNKNOWN),
    "rule supplier unknown": ("rules[2].supplier", "S9", "$.rules[2].supplier", UNKNOWN),
    "max limit -1": ("rules[0].limit", -1, "$.rules[0].limit", NON_NEGATIVE),
    "max limit 1.5": ("rules[0].limit", 1.5, "$.rules[0].limit", WHOLE),
    "max limit missing": ("rules[0].limit", None, "$.rules[0].limit", REQUIRED),
    "min limit 0": ("rules[1].limit", 0, "$.rules[1].limit", r"at least 1"),
    "share 0": ("rules[2].share", 0, "$.rules[2].share", SHARE),
    "share 1.5": ("rules[3].share", 1.5, "$.rules[3].share", SHARE),
    "share missing": ("rules[3].share", None, "$.rules[3].share", REQUIRED),
    "share supplier missing": ("rules[2].supplier", None, "$.rules[2].supplier", REQUIRED),
    "count supplier refused": ("rules[0].supplier", "S1", "$.rules[0].supplier",
                               r"only to max_share and min_share"),
    "penalty 0": ("rules[0].penalty", 0, "$.rules[0].penalty", POSITIVE),
    "penalty -5": ("rules[3].penalty", -5, "$.rules[3].penalty", POSITIVE),
    "fairness": ("settings.fairness", "shapley", "$.settings.fairness", r"none.*core"),
    "version 3": ("version", 3, "$.version", r"1 or 2"),
}  # fmt: skip


@pytest.mark.parametrize(("field", "value", "path", "pattern"), CASES.values(), ids=CASES)
def test_an_invalid_v2_field_is_refused_with_its_path(
    field: str, value: Any, path: str, pattern: str
) -> None:
    assert_issues(v2_broken(field, value), [(path, pattern)])


@pytest.mark.parametrize("collection", ["capacity_groups", "rules"])
def test_duplicate_group_and_rule_ids(collection: str) -> None:
    document = v2_base()
    document[collection].append(copy.deepcopy(document[collection][0]))
    index = len(document[collection]) - 1
    assert_issues(document, [(f"$.{collection}[{index}].id", DUPLICATE)])


def test_least_core_and_core_fairness_are_valid_settings() -> None:
    document = v2_base()
    document["settings"].update(allocation="least_core", fairness="core")
    assert validate(document).settings.allocation == "least_core"


def everything_wrong() -> tuple[dict[str, Any], set[str]]:
    """Several v2 fields broken at once, and the paths that must all be listed."""
    document = v2_base()
    document["agencies"][0]["budget"] = -1
    document["offers"][0]["pack_size"] = 0
    document["capacity_groups"][0]["offers"] = ["o-1", "o-1"]
    document["rules"][0]["supplier"] = "S1"
    document["rules"][2]["share"] = 2
    document["rules"][3]["penalty"] = 0
    return document, {
        "$.agencies[0].budget",
        "$.offers[0].pack_size",
        "$.capacity_groups[0].offers[1]",
        "$.rules[0].supplier",
        "$.rules[2].share",
        "$.rules[3].penalty",
    }


def test_the_cli_lists_every_v2_problem_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document, paths = everything_wrong()
    problem = tmp_path / "bad.json"
    problem.write_text(json.dumps(document), encoding="utf-8")

    code = cli.main(["solve", str(problem), "-o", str(tmp_path / "plan.json")])

    out, err = capsys.readouterr()
    assert code == 1
    for path in paths:
        assert f"  {path}: " in err, path
    assert f"{len(paths)} problems" in err
    assert "Traceback" not in err + out
    assert {p.name for p in tmp_path.iterdir()} == {"bad.json"}


@pytest.mark.anyio
async def test_the_api_answers_422_listing_every_v2_problem() -> None:
    document, paths = everything_wrong()
    async with client_for() as client:
        response = await client.post(SOLVE, json=document)
    body = assert_problem(response, 422)
    assert {e["path"] for e in body["errors"]} == paths
    assert all(e["reason"] for e in body["errors"])


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
