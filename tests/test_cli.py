"""The `poolbuy` command, in-process through `main(argv)` and once as the installed script."""

import copy
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app import cli
from app.solve.example import EXAMPLE_PROBLEM
from app.solve.schemas import PLAN_SCHEMA
from solver import SolveProgress, validate

pytestmark = pytest.mark.e2e


def write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def files_in(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


# --- solve ---------------------------------------------------------------------------


def test_solve_writes_the_plan_next_to_the_problem_and_prints_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    problem = write(tmp_path / "round-7.json", EXAMPLE_PROBLEM)

    code = cli.main(["solve", str(problem)])

    out, err = capsys.readouterr()
    assert code == 0, err
    plan = json.loads((tmp_path / "round-7.plan.json").read_text())
    assert plan["status"] == "optimal"
    # Every figure of the plan document; the fairness block only when it was asked for.
    assert set(plan) >= set(PLAN_SCHEMA["properties"]) - {"fairness"}
    assert "fairness" not in plan
    assert plan["money_cost"] == pytest.approx(11610.0)
    assert f"Plan written to {tmp_path / 'round-7.plan.json'}" in out
    assert "Status: optimal" in out
    assert "pooled USD 11,610.00 vs stand-alone USD 14,310.00: saves USD 2,700.00" in out
    # The tables: both agencies' savings, the one consolidated order, the unmet need.
    assert "Savings per agency" in out and "IOM" in out and "UNICEF" in out
    assert "Consolidated orders (1)" in out
    assert "o-1" in out and "11,000" in out and "10,000" in out
    assert "Unmet needs (1)" in out and "n-3" in out and "no_route" in out
    assert "Traceback" not in err


def test_solve_writes_to_the_file_named_by_o(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    problem = write(tmp_path / "problem.json", EXAMPLE_PROBLEM)
    output = tmp_path / "out" / "plan.json"
    output.parent.mkdir()

    code = cli.main(
        ["solve", str(problem), "-o", str(output), "--time-limit", "5", "--gap", "0.001", "--quiet"]
    )

    assert code == 0
    assert json.loads(output.read_text())["status"] == "optimal"
    assert files_in(tmp_path) == {"problem.json", "out"}
    assert files_in(output.parent) == {"plan.json"}
    assert capsys.readouterr().err == ""


def test_an_invalid_document_prints_every_problem_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = copy.deepcopy(EXAMPLE_PROBLEM)
    document["needs"][0]["agency"] = "WFP"
    document["agencies"].append({"id": "IOM", "name": "again"})
    document["offers"][0]["price_tiers"][1]["unit_price"] = 1.5
    document["routes"][0]["fixed_cost"] = -500.0
    document["needs"][1]["quantity"] = 2.5
    document["needs"][2]["priority"] = "urgent"
    problem = write(tmp_path / "bad.json", document)

    code = cli.main(["solve", str(problem), "-o", str(tmp_path / "plan.json")])

    out, err = capsys.readouterr()
    assert code == 1
    for path in [
        "$.needs[0].agency",
        "$.agencies[2].id",
        "$.offers[0].price_tiers[1].unit_price",
        "$.routes[0].fixed_cost",
        "$.needs[1].quantity",
        "$.needs[2].priority",
    ]:
        assert f"  {path}: " in err, path
    assert "6 problems" in err
    assert "Traceback" not in err + out
    assert files_in(tmp_path) == {"bad.json"}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"as_of": ', "$: malformed JSON"),
        (b"\x00\x01", "$: malformed JSON"),
        (b"42", "$: the problem document must be a JSON object"),
    ],
    ids=["truncated", "binary", "not-an-object"],
)
def test_a_file_that_is_not_a_problem_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, expected: str
) -> None:
    problem = tmp_path / "problem.json"
    problem.write_bytes(content)

    code = cli.main(["solve", str(problem)])

    err = capsys.readouterr().err
    assert code == 1
    assert expected in err
    assert "Traceback" not in err
    assert files_in(tmp_path) == {"problem.json"}


def test_a_missing_file_or_a_bad_output_exits_1_before_solving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = cli.main(["solve", str(tmp_path / "nope.json")])
    missing_err = capsys.readouterr().err
    problem = write(tmp_path / "problem.json", EXAMPLE_PROBLEM)
    nowhere = cli.main(["solve", str(problem), "-o", str(tmp_path / "no-dir" / "plan.json")])
    nowhere_err = capsys.readouterr().err

    over_itself = cli.main(["solve", str(problem), "-o", str(problem)])
    over_itself_err = capsys.readouterr().err

    assert missing == 1 and "nope.json: cannot read" in missing_err
    assert nowhere == 1 and "does not exist" in nowhere_err
    assert over_itself == 1 and "would overwrite the problem" in over_itself_err
    assert files_in(tmp_path) == {"problem.json"}
    assert json.loads(problem.read_text()) == EXAMPLE_PROBLEM


@pytest.mark.parametrize(
    "argv",
    [
        ["solve"],
        ["solve", "p.json", "--time-limit", "0"],
        ["solve", "p.json", "--gap", "-1"],
        ["solve", "p.json", "--time-limit", "nan"],
        ["frobnicate"],
        [],
    ],
    ids=["no-file", "zero-limit", "negative-gap", "nan-limit", "unknown-command", "nothing"],
)
def test_bad_arguments_exit_1_not_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    # 2 means "no solution"; a typo must not look like one.
    try:
        code = cli.main(argv)
    except SystemExit as exited:  # argparse exits by itself on a usage error
        code = exited.code  # type: ignore[assignment]
    assert code == 1
    assert "Traceback" not in capsys.readouterr().err


def test_prices_beyond_what_the_solver_can_take_are_invalid_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prices near the float limit once made HiGHS give up with status "error"; the
    # contract's validation now refuses them up front, naming the field.
    document = copy.deepcopy(EXAMPLE_PROBLEM)
    for tier in document["offers"][0]["price_tiers"]:
        tier["unit_price"] = 1e200
    problem = write(tmp_path / "absurd.json", document)

    code = cli.main(["solve", str(problem), "-q"])

    out = capsys.readouterr()
    assert code == 1
    assert "$.offers[0].price_tiers[0].unit_price" in out.out + out.err
    assert not (tmp_path / "absurd.plan.json").exists()


def test_a_plan_without_a_solution_exits_2_and_is_still_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # No valid version-1 document lacks a solution (leaving every need unmet is one),
    # so the solver's answer is replaced by the one a later version's hard rules give.
    from app.solve import service

    real_solve = service.solve

    def without_solution(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return real_solve(*args, **kwargs) | {"status": "infeasible"}

    monkeypatch.setattr(service, "solve", without_solution)
    problem = write(tmp_path / "hard.json", EXAMPLE_PROBLEM)

    code = cli.main(["solve", str(problem), "-q"])

    out = capsys.readouterr().out
    plan = json.loads((tmp_path / "hard.plan.json").read_text())
    assert code == 2
    assert plan["status"] == "infeasible"
    assert "No solution (status infeasible)" in out


@pytest.mark.parametrize(
    ("status", "code"),
    [("optimal", 0), ("feasible", 0), ("infeasible", 2), ("error", 2)],
)
def test_exit_code_follows_the_plan_status(status: str, code: int) -> None:
    assert cli.exit_code({"status": status}) == code


# --- progress ------------------------------------------------------------------------


def test_progress_is_one_line_per_interval_and_quiet_at_first() -> None:
    stream = io.StringIO()
    printer = cli.ProgressPrinter(stream, interval=3600, delay=0)
    early = cli.ProgressPrinter(io.StringIO(), interval=0, delay=3600)
    events = [
        SolveProgress("pooled", None, 1.0, 1234.5, 1000.0, 0.19, False),
        SolveProgress("pooled", None, 1.1, 1200.0, 1100.0, 0.08, False),
        SolveProgress("standalone", "UNICEF", 0.5, None, None, None, True),
    ]
    for event in events:
        printer(event)
        early(event)

    [line] = stream.getvalue().splitlines()
    assert "pooled" in line and "1,234.50" in line and "1,000.00" in line and "19.00%" in line
    assert early.stream.getvalue() == ""  # type: ignore[attr-defined]
    standalone = cli.format_progress(events[2], 2.0)
    assert "standalone UNICEF" in standalone and "done" in standalone


# --- example and serve ---------------------------------------------------------------


def test_example_writes_a_valid_problem_to_stdout_or_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["example", "--size", "small", "--seed", "3"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert cli.main(["example", "--seed", "3", "-o", str(tmp_path / "demo.json")]) == 0

    assert validate(printed)
    assert json.loads((tmp_path / "demo.json").read_text()) == printed


def test_serve_migrates_the_database_then_runs_uvicorn_with_the_app(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import sqlalchemy as sa
    import uvicorn

    from app.settings import get_settings

    database = tmp_path / "first-start" / "poolbuy.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")
    get_settings.cache_clear()
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: calls.append((a, k)))
    try:
        assert cli.main(["serve", "--port", "9123", "--reload"]) == 0
    finally:
        get_settings.cache_clear()

    # Forwarded headers off: no proxy is trusted by default (app.cli.serve_options).
    options = {"proxy_headers": False, "forwarded_allow_ips": None}
    expected = {"host": "127.0.0.1", "port": 9123, "reload": True, **options}
    assert calls == [(("app.main:app",), expected)]
    # The embedded default is created, schema and all, before the first request.
    tables = sa.inspect(sa.create_engine(f"sqlite:///{database}")).get_table_names()
    assert {"need", "round", "run", "alembic_version"} <= set(tables)


# --- the installed console script ----------------------------------------------------


def test_the_poolbuy_console_script_solves_and_exits_0(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "poolbuy"
    problem = write(tmp_path / "problem.json", EXAMPLE_PROBLEM)

    result = subprocess.run(
        [str(script), "solve", str(problem), "-o", str(tmp_path / "plan.json")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "Status: optimal" in result.stdout
    assert json.loads((tmp_path / "plan.json").read_text())["status"] == "optimal"

    invalid = write(tmp_path / "bad.json", {"as_of": "yesterday", "currency": "usd"})
    bad = subprocess.run(
        [str(script), "solve", str(invalid)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 1
    assert "$.as_of: " in bad.stderr and "$.currency: " in bad.stderr
    assert "Traceback" not in bad.stderr
