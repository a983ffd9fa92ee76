"""The `poolbuy` command.

Each subcommand registers itself from one `register_*` function listed in COMMANDS; a new
subcommand (say `db upgrade` or `users create`) writes its own function, in its domain's
module if it likes, and adds one line there.

Exit codes: 0 solved, 1 invalid input (document, file or arguments), 2 no solution.
"""

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

from app import db_cli
from app.auth import cli as auth_cli
from app.backup import cli as backup_cli
from app.bootstrap import register_all
from app.demo import cli as demo_cli
from app.jobs import cli as jobs_cli

if TYPE_CHECKING:
    from solver import SolveProgress

EXIT_SOLVED = 0
EXIT_INVALID = 1
EXIT_NO_SOLUTION = 2

# Tables longer than this are cut in the summary (the plan file always has everything).
DEFAULT_ROWS = 20

Subcommands = argparse._SubParsersAction  # what add_subparsers() returns
Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    # argparse exits 2 on a usage error, but 2 means "no solution" here: a script that
    # branches on it must not mistake a typo for an infeasible problem.
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_INVALID, f"{self.prog}: error: {message}\n")


# --- solve ----------------------------------------------------------------------------


def register_solve(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "solve",
        help="solve a problem document and write its plan",
        description="Validate and solve a pooling problem (contract v2), write the plan "
        "as JSON and print a summary. Exit 0 solved, 1 invalid input, 2 no solution.",
    )
    parser.add_argument("problem", type=Path, metavar="PROBLEM.json")
    parser.add_argument(
        "-o", "--output", type=Path, metavar="PLAN.json",
        help="where to write the plan (default: <name>.plan.json next to the problem)",
    )
    parser.add_argument(
        "--time-limit", type=_positive_float, metavar="S",
        help="seconds per solve (pooled and each stand-alone); overrides the document",
    )
    parser.add_argument(
        "--gap", type=_non_negative_float, metavar="G",
        help="relative optimality gap, e.g. 0.0001; overrides the document",
    )
    parser.add_argument(
        "--all", dest="all_rows", action="store_true",
        help=f"list every order and unmet need (default: the first {DEFAULT_ROWS})",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress lines on stderr"
    )
    parser.set_defaults(handler=run_solve)


def run_solve(args: argparse.Namespace) -> int:
    from app.errors import InvalidInput
    from app.solve import service

    source: Path = args.problem
    output: Path = args.output or default_plan_path(source)
    try:
        raw = source.read_bytes()
    except OSError as exc:
        return _invalid(f"{source}: cannot read: {exc.strerror or exc}")
    if output.resolve() == source.resolve():
        return _invalid(f"{output}: would overwrite the problem with its plan; choose another -o")
    if problem := _unwritable(output):
        return _invalid(f"{output}: {problem}")

    progress = None
    if not args.quiet:
        # The model takes a while to build on large documents; say something meanwhile.
        print(f"Solving {source} (progress below on long runs)...", file=sys.stderr)
        progress = ProgressPrinter(sys.stderr)
    try:
        document = service.parse_document(raw)
        plan = service.solve_document(
            document,
            time_limit_seconds=args.time_limit,
            relative_gap=args.gap,
            progress=progress,
        )
    except InvalidInput as exc:
        print(f"{source} is invalid: {exc.detail}", file=sys.stderr)
        for issue in exc.errors:
            print(f"  {issue.path}: {issue.reason}", file=sys.stderr)
        return EXIT_INVALID
    except Exception as exc:
        # The solver reports its own failures as status "error"; anything escaping it is a
        # bug, but the user still gets a sentence and the "no solution" code, not a trace.
        print(f"poolbuy: the solver failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_NO_SOLUTION

    write_json_atomically(output, plan)
    code = exit_code(plan)
    currency = document.get("currency", "") if isinstance(document, dict) else ""
    try:
        print_summary(plan, currency=currency, max_rows=None if args.all_rows else DEFAULT_ROWS)
        if code == EXIT_NO_SOLUTION:
            print(f"\nNo solution (status {plan.get('status')}).")
        print(f"\nPlan written to {output}")
    except BrokenPipeError:
        # `poolbuy solve ... | head`: the plan is written; the code must still say so.
        _silence_stdout()
    return code


def _silence_stdout() -> None:
    # Python would otherwise complain again when it flushes stdout at exit.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def exit_code(plan: dict[str, Any]) -> int:
    """0 when the plan is a solution (optimal or feasible), 2 when there is none."""
    return EXIT_SOLVED if plan.get("status") in ("optimal", "feasible") else EXIT_NO_SOLUTION


def default_plan_path(problem: Path) -> Path:
    """`<name>.plan.json` beside the problem: `round-7.json` gives `round-7.plan.json`."""
    return problem.with_name(f"{problem.stem}.plan.json")


def _unwritable(path: Path) -> str | None:
    # Checked before solving, so a long solve is not lost to a typo in -o.
    directory = path.parent
    if path.is_dir():
        return "is a directory"
    if not directory.is_dir():
        return f"cannot write: directory {directory} does not exist"
    if not os.access(directory, os.W_OK):
        return f"cannot write: directory {directory} is not writable"
    return None


def _invalid(message: str) -> int:
    print(f"poolbuy: {message}", file=sys.stderr)
    return EXIT_INVALID


def write_json_atomically(path: Path, value: Any) -> None:
    # A reader (or an interrupted run) never sees half a plan.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); the plan should get the usual permissions.
        os.fchmod(handle, 0o666 & ~_umask())
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(value, stream, indent=2, ensure_ascii=False)
            stream.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


class ProgressPrinter:
    """The solver's progress as one line per `interval` seconds on `stream`.

    Quiet for the first `delay` seconds, so quick solves print nothing. The solver may
    report from several threads (stand-alone baselines run in parallel).
    """

    def __init__(self, stream: IO[str], interval: float = 1.0, delay: float = 1.0) -> None:
        self.stream = stream
        self.interval = interval
        self.started = time.monotonic()
        self.next_line = self.started + delay
        self.lock = threading.Lock()

    def __call__(self, progress: "SolveProgress") -> None:
        now = time.monotonic()
        with self.lock:
            if now < self.next_line:
                return
            self.next_line = now + self.interval
            print(format_progress(progress, now - self.started), file=self.stream, flush=True)


def format_progress(progress: "SolveProgress", elapsed: float) -> str:
    if progress.total is not None:
        return f"[{elapsed:6.1f}s] {progress.completed:,} of {progress.total:,} {progress.stage}"
    stage = progress.stage if progress.agency is None else f"{progress.stage} {progress.agency}"
    gap = "-" if progress.gap is None else f"{progress.gap:.2%}"
    state = "done" if progress.done else f"{progress.seconds:5.1f}s in stage"
    return (
        f"[{elapsed:6.1f}s] {stage:<22} incumbent {_number(progress.objective):>16}  "
        f"bound {_number(progress.bound):>16}  gap {gap:>8}  {state}"
    )


# --- the summary ----------------------------------------------------------------------


def print_summary(
    plan: dict[str, Any], *, currency: str = "", max_rows: int | None = DEFAULT_ROWS,
    stream: IO[str] | None = None,
) -> None:
    """A readable account of a plan: status, costs, savings, orders, unmet needs."""
    out = stream or sys.stdout

    def money(value: Any) -> str:
        return f"{currency} {_number(value)}".strip()

    gap = plan.get("relative_gap")
    solver = plan.get("solver") or {}
    print(
        f"Status: {plan.get('status')}   objective {_number(plan.get('objective'))}   "
        f"bound {_number(plan.get('bound'))}   gap {'-' if gap is None else f'{gap:.4%}'}   "
        f"({solver.get('name', 'solver')}, {_number(solver.get('seconds'))} s)",
        file=out,
    )
    baseline = plan.get("baseline")
    if baseline:
        print(
            f"Money cost: pooled {money(baseline.get('pooled_money_cost'))} vs stand-alone "
            f"{money(baseline.get('standalone_money_cost'))}: saves "
            f"{money(baseline.get('savings'))} ({_number(baseline.get('savings_pct'))}%)",
            file=out,
        )
    if "money_cost" in plan:
        print(
            f"  purchase {money(plan.get('purchase_cost'))} + shipping "
            f"{money(plan.get('shipping_cost'))}; late {plan.get('late_unit_days', 0):,} "
            f"unit-days (penalty {_number(plan.get('late_penalty'))}), unmet "
            f"{plan.get('unmet_units', 0):,} units (penalty {_number(plan.get('unmet_penalty'))})",
            file=out,
        )
    surplus = sum(o.get("surplus") or 0 for o in plan.get("orders") or [])
    if plan.get("fees") or surplus:
        print(
            f"  fees {money(plan.get('fees'))} (in purchase); surplus {surplus:,} units "
            "bought to fill packs",
            file=out,
        )
    verdict = fairness_verdict(plan, currency)
    if verdict:
        print(verdict, file=out)

    broken = [r for r in plan.get("rules") or [] if r.get("violation")]
    if broken:
        _section(out, f"Rules broken ({len(broken)}): penalty {_number(plan.get('rule_penalty'))}")
        _table(
            out,
            ["rule", "count", "share", "violation", "penalty"],
            [
                [r.get("rule"), "-" if r.get("count") is None else _whole(r.get("count")),
                 "-" if r.get("share") is None else f"{r['share']:.1%}",
                 _number(r.get("violation")), _number(r.get("penalty"))]
                for r in broken
            ],
            max_rows,
        )

    agencies = plan.get("agencies") or []
    if agencies:
        _section(out, f"Savings per agency ({currency})" if currency else "Savings per agency")
        _table(
            out,
            ["agency", "stand-alone", "allocated", "savings", "savings %"],
            [
                [a.get("agency"), _number(a.get("standalone_cost")),
                 _number(a.get("allocated_cost")), _number(a.get("savings")),
                 _number(a.get("savings_pct"))]
                for a in agencies
            ],
        )

    budgeted = [a for a in agencies if a.get("budget") is not None]
    if budgeted:
        _section(out, f"Budgets ({currency})" if currency else "Budgets")
        _table(
            out,
            ["agency", "budget", "direct spend", "used %"],
            [
                [a.get("agency"), _number(a.get("budget")), _number(a.get("direct_spend")),
                 _number(100 * (a.get("direct_spend") or 0) / a["budget"]) if a["budget"]
                 else "-"]
                for a in budgeted
            ],
        )

    orders = sorted(plan.get("orders") or [], key=lambda o: -(o.get("cost") or 0))
    _section(out, f"Consolidated orders ({len(orders)})")
    _table(
        out,
        ["offer", "supplier", "item", "quantity", "tier from", "unit price", "surplus", "fee",
         "cost"],
        [
            [o.get("offer"), o.get("supplier"), o.get("item"), _whole(o.get("quantity")),
             _whole(o.get("tier_min_quantity")), _number(o.get("unit_price")),
             _whole(o.get("surplus") or 0), _number(o.get("fee") or 0), _number(o.get("cost"))]
            for o in orders
        ],
        max_rows,
    )

    unmet = plan.get("unmet") or []
    _section(out, f"Unmet needs ({len(unmet)})")
    _table(
        out,
        ["need", "quantity", "reason", "detail"],
        [[u.get("need"), _whole(u.get("quantity")), u.get("reason"), u.get("detail")]
         for u in unmet],
        max_rows,
    )


def fairness_verdict(plan: dict[str, Any], currency: str = "") -> str | None:
    """The summary's line on whether any group of agencies would do better alone.

    None when the plan was not checked against coalitions (no `fairness` asked).
    """
    fairness = plan.get("fairness")
    if not fairness:
        return None
    from solver.fairness import verdict

    return f"Fairness: {verdict(fairness, currency)}"


def _section(out: IO[str], title: str) -> None:
    print(f"\n{title}", file=out)


def _table(
    out: IO[str], headers: list[str], rows: list[list[Any]], max_rows: int | None = None
) -> None:
    if not rows:
        print("  (none)", file=out)
        return
    shown = rows if max_rows is None else rows[:max_rows]
    cells = [headers] + [["" if c is None else str(c) for c in row] for row in shown]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    # Figures read best right-aligned; names and sentences left-aligned.
    numeric = [all(_looks_numeric(row[i]) for row in cells[1:]) for i in range(len(headers))]
    for row in cells:
        line = "  ".join(
            cell.rjust(width) if is_number else cell.ljust(width)
            for cell, width, is_number in zip(row, widths, numeric, strict=True)
        )
        print(f"  {line.rstrip()}", file=out)
    if len(shown) < len(rows):
        print(f"  ... and {len(rows) - len(shown):,} more in the plan file (--all lists them)",
              file=out)


def _looks_numeric(text: str) -> bool:
    return text.replace(",", "").replace(".", "").replace("-", "").isdigit() or text == "-"


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if abs(value) >= 1e15:
        return f"{value:.3e}"
    return f"{value:,.2f}"


def _whole(value: Any) -> str:
    return "-" if value is None else f"{int(value):,}"


def _positive_float(text: str) -> float:
    value = _float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, not {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, not {text}")
    return value


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"not a finite number: {text}")
    return value


# --- example --------------------------------------------------------------------------


def register_example(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "example",
        help="write a generated demo problem",
        description="Write a realistic demo problem for the Panama inter-agency group.",
    )
    parser.add_argument("--size", choices=["small", "medium", "large"], default="small")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--contract", type=int, choices=[1, 2], default=2,
        help="2 (default): with cartons, handling fees, supply-risk and long-term-agreement "
        "rules and a budget that binds; 1: the plain version-1 round",
    )
    parser.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write here instead of stdout"
    )
    parser.set_defaults(handler=run_example)


def run_example(args: argparse.Namespace) -> int:
    from solver.examples import generate_problem

    problem = generate_problem(size=args.size, seed=args.seed, sourcing=args.contract == 2)
    if args.output is None:
        json.dump(problem, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return EXIT_SOLVED
    if problem_with_output := _unwritable(args.output):
        return _invalid(f"{args.output}: {problem_with_output}")
    write_json_atomically(args.output, problem)
    print(f"{args.size} example (seed {args.seed}) written to {args.output}", file=sys.stderr)
    return EXIT_SOLVED


# --- serve ----------------------------------------------------------------------------


def register_serve(commands: Subcommands) -> None:
    parser = commands.add_parser(
        "serve",
        help="run the HTTP API",
        description="Serve the API (docs at /docs) with uvicorn.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--reload", action="store_true", help="restart on code changes")
    parser.add_argument(
        "--demo", action="store_true",
        help="load the Panama demo group if the database lacks it, and print a new API "
        "token for every demo user before serving",
    )
    parser.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.db import upgrade_database
    from app.settings import get_settings

    if get_settings().auto_migrate:
        upgrade_database()
    if getattr(args, "demo", False):
        # Printed before uvicorn starts, so the tokens come before its log lines.
        failed = demo_cli.prepare_demo(base_url=demo_cli.serve_url(args.host, args.port))
        if failed:
            return failed

    uvicorn.run("app.main:app", host=args.host, port=args.port, reload=args.reload)
    return EXIT_SOLVED


# --- the command ----------------------------------------------------------------------

# Every subcommand, registered in this order. A new one adds its line here.
COMMANDS: list[Callable[[Subcommands], None]] = [
    register_solve,
    register_example,
    register_serve,
    db_cli.register,
    auth_cli.register,
    demo_cli.register,
    backup_cli.register,
    jobs_cli.register_worker,
    jobs_cli.register_jobs,
]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="poolbuy", description="Pooled procurement for humanitarian agencies.")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for register in COMMANDS:
        register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    register_all()
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_INVALID
    try:
        return handler(args)
    except BrokenPipeError:
        _silence_stdout()
        return 141  # as a shell reports a command killed by SIGPIPE
    except KeyboardInterrupt:
        print("poolbuy: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
