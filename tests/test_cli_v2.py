"""`poolbuy solve` and `poolbuy example` with contract v2's sourcing terms."""

import json
from pathlib import Path

import pytest

from app import cli
from solver import validate
from solver.examples import generate_problem
from tests.builders import need, offer, problem, route

pytestmark = pytest.mark.e2e


def test_the_summary_shows_rules_broken_budgets_fees_and_surplus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A (budget 505) buys 95 masks in cartons of 50 at 1.00 with a 4% fee: 2 cartons, 5 units
    # surplus, fee 4.00; B's 300 from three suppliers of 100 break "at most 2" for 50.
    document = problem(
        needs=[
            need("n-a", agency="A", quantity=95),
            need("n-b", agency="B", item="glove", quantity=300),
        ],
        offers=[
            offer("o-1", tiers=[(0, 1.00)], pack_size=50, fee_rate=0.04),
            *(offer(f"o-g{s}", supplier=f"S{s}", item="glove", capacity=100) for s in (1, 2, 3)),
        ],
        routes=[route(f"S{s}", "L") for s in (1, 2, 3)],
    )
    document["agencies"] = [{"id": "A", "budget": 505.0}, {"id": "B"}]
    document["rules"] = [
        {"id": "r-1", "kind": "max_suppliers", "item": "glove", "limit": 2, "penalty": 50}
    ]
    path = tmp_path / "v2.json"
    path.write_text(json.dumps(document), encoding="utf-8")

    code = cli.main(["solve", str(path), "--quiet"])

    out, err = capsys.readouterr()
    assert code == 0, err
    assert "fees USD 4.00 (in purchase); surplus 5 units bought to fill packs" in out
    assert "Rules broken (1): penalty 50.00" in out
    rule_row = next(line for line in out.splitlines() if line.strip().startswith("r-1"))
    assert rule_row.split() == ["r-1", "3", "-", "1.00", "50.00"]
    assert "Budgets (USD)" in out
    budgets = out.split("Budgets (USD)")[1].splitlines()
    budget_row = next(line for line in budgets if line.strip().startswith("A "))
    # Direct spend: 95 x 1.04 = 98.80 of 505.00.
    assert budget_row.split()[:3] == ["A", "505.00", "98.80"]


def test_a_plan_without_v2_terms_shows_none_of_their_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(generate_problem("tiny", 0)), encoding="utf-8")
    assert cli.main(["solve", str(path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Rules broken" not in out and "Budgets" not in out and "fees" not in out


def test_the_example_has_the_v2_sourcing_terms_by_default(tmp_path: Path) -> None:
    output = tmp_path / "example.json"
    assert cli.main(["example", "--size", "small", "-o", str(output)]) == 0
    document = json.loads(output.read_text())
    problem_ = validate(document)
    kinds = {rule.kind.value for rule in problem_.rules}
    assert kinds == {"max_suppliers", "min_share"}
    ppe = {i.id for i in problem_.items if i.category == "PPE"}
    assert all(r.item in ppe and r.limit == 2 for r in problem_.rules if r.kind == "max_suppliers")
    assert any(o.fee_rate > 0 for o in problem_.offers)
    assert any(o.pack_size > 1 for o in problem_.offers)
    assert [a.id for a in problem_.agencies if a.budget is not None] == ["IOM"]
    # The v1 part is the same round: the same needs and offers' prices.
    plain = generate_problem("small", 0)
    assert document["needs"] == plain["needs"]


def test_the_example_budget_binds_for_its_agency() -> None:
    from solver import solve

    document = generate_problem("small", 0, sourcing=True)
    plan = solve(document)
    reasons = {u["reason"] for u in plan["unmet"]}
    assert "budget" in reasons
    iom = next(a for a in plan["agencies"] if a["agency"] == "IOM")
    assert iom["direct_spend"] <= iom["budget"]
    assert iom["direct_spend"] >= 0.99 * iom["budget"]


def test_the_v1_example_is_still_available(tmp_path: Path) -> None:
    output = tmp_path / "v1.json"
    assert cli.main(["example", "--contract", "1", "-o", str(output)]) == 0
    assert json.loads(output.read_text()) == generate_problem("small", 0)
