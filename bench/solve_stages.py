"""Where a pooling run spends its time, and what poolbuy costs over HiGHS alone.

For each generated size it times poolbuy's stages (validation, indexing, model
building, solving, reading back, stand-alone baselines, plan) and, in the same
run and alternating with it, HiGHS alone solving the very same pooled model
from an MPS file with the same gap and time limit. Ratios taken side by side
survive a noisy machine far better than absolute seconds. poolbuy solves that
model item by item (`solver/items.py`), so the two searches differ; what must
agree is the answer: both objectives within the gap of each other.

    uv run python -m bench.solve_stages                  # small, medium, large
    uv run python -m bench.solve_stages --sizes large --repeats 3
"""

import argparse
import json
import math
import os
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import highspy
import pulp

from solver import solve, validate
from solver.examples import generate_problem, summarize
from solver.highs import THREADS
from solver.model import build_model
from solver.pairs import build_pooling_data
from solver.pipeline import solve_needs

POOLED_STAGES = ("validate", "index", "build", "solve", "read_back")


def write_model(document: dict[str, Any], path: Path) -> None:
    """The exact model poolbuy hands HiGHS, objective constant included.

    PuLP's own MPS writer drops the objective's constant; HiGHS's writer keeps it,
    and the constant changes when a relative gap is reached.
    """
    lp = build_model(build_pooling_data(validate(document))).lp
    handoff = pulp.HiGHS(msg=False)
    handoff.createAndConfigureSolver(lp)
    handoff.buildSolverModel(lp)
    lp.solverModel.writeModel(str(path))


@dataclass
class Timed:
    wall: float
    cpu: float


class Clock:
    """Wall and process CPU time together: CPU time barely moves when other
    processes load the machine, wall time is what a user waits."""

    def __enter__(self) -> "Clock":
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.timed = Timed(time.perf_counter() - self._wall, time.process_time() - self._cpu)


def highs_alone(mps: Path, time_limit: float, gap: float) -> tuple[Timed, dict[str, Any]]:
    """HiGHS reading and solving the model on its own, and how its search went."""
    with Clock() as clock:
        highs = highspy.Highs()
        highs.setOptionValue("output_flag", False)
        # The solver's thread count: a fair comparison, and HiGHS refuses a second
        # count in the same thread (``solver.highs.THREADS``).
        highs.setOptionValue("threads", THREADS)
        highs.setOptionValue("time_limit", time_limit)
        highs.setOptionValue("mip_rel_gap", gap)
        highs.readModel(str(mps))
        highs.run()
    info = highs.getInfo()
    return clock.timed, {
        "status": highs.modelStatusToString(highs.getModelStatus()),
        "objective": info.objective_function_value,
        "nodes": int(info.mip_node_count),
    }


def pooled_only(document: dict[str, Any]) -> tuple[Timed, dict[str, float], dict[str, Any]]:
    """poolbuy's pooled plan alone (no baselines): time, stages, and its search."""
    with Clock() as clock:
        validated = time.perf_counter()
        problem = validate(document)
        validated = time.perf_counter() - validated
        result = solve_needs(problem)
    search = {"objective": float(result.figures.objective), "nodes": result.outcome.nodes}
    return clock.timed, {"validate": validated, **result.stages}, search


def measure(size: str, seed: int, repeats: int) -> dict[str, Any]:
    document = generate_problem(size, seed=seed)
    settings = validate(document).settings
    ours: list[Timed] = []
    theirs: list[Timed] = []
    stage_runs: list[dict[str, float]] = []
    whole: list[Timed] = []
    agree = True
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        mps = Path(folder) / "pooled.mps"
        write_model(document, mps)
        for _ in range(repeats):
            # Alternate the two so that a burst of load hits both alike.
            timed, stages, search = pooled_only(document)
            ours.append(timed)
            stage_runs.append(stages)
            alone, alone_search = highs_alone(
                mps, settings.time_limit_seconds, settings.relative_gap
            )
            theirs.append(alone)
            # Both claim an optimum within the gap: their objectives may differ
            # by the gap of either, never more.
            agree &= math.isclose(
                search["objective"],
                alone_search["objective"],
                rel_tol=2 * settings.relative_gap + 1e-9,
            )
            with Clock() as whole_clock:
                plan = solve(document)
            whole.append(whole_clock.timed)
    median_stages = {k: statistics.median(s[k] for s in stage_runs) for k in POOLED_STAGES}
    pooled_wall = statistics.median(t.wall for t in ours)
    alone_wall = statistics.median(t.wall for t in theirs)
    pooled_cpu = statistics.median(t.cpu for t in ours)
    alone_cpu = statistics.median(t.cpu for t in theirs)
    return {
        "size": size,
        "seed": seed,
        "repeats": repeats,
        "counts": summarize(document),
        "variables": plan["solver"]["variables"],
        "constraints": plan["solver"]["constraints"],
        "pooled_seconds": pooled_wall,
        "stages": median_stages,
        "build_and_read_share": (median_stages["build"] + median_stages["read_back"]) / pooled_wall,
        "highs_alone_seconds": alone_wall,
        "ratio_wall": pooled_wall / alone_wall,
        "ratio_cpu": pooled_cpu / alone_cpu,
        "objectives_agree": agree,
        "objective": search["objective"],
        "highs_alone": alone_search,
        "whole_seconds": statistics.median(t.wall for t in whole),
        "whole_cpu_seconds": statistics.median(t.cpu for t in whole),
        "load_average": (load_before, os.getloadavg()[0]),
        "whole_status": plan["status"],
        "whole_gap": plan["relative_gap"],
        "standalone_status": sorted({a["standalone_status"] for a in plan["agencies"]}),
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| size | needs | offers | routes | vars | rows | validate | index | build | solve "
        "| read back | pooled total | HiGHS alone | ratio (wall) | ratio (CPU) | answers agree "
        "| build+read share | whole (with 8 baselines) | whole CPU | status, gap | load |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---|\n"
    )
    lines = []
    for r in rows:
        s, c = r["stages"], r["counts"]
        lines.append(
            f"| {r['size']} | {c['needs']} | {c['offers']} | {c['routes']} | {r['variables']} "
            f"| {r['constraints']} | {s['validate']:.3f} | {s['index']:.3f} | {s['build']:.3f} "
            f"| {s['solve']:.2f} | {s['read_back']:.3f} | {r['pooled_seconds']:.2f} "
            f"| {r['highs_alone_seconds']:.2f} | {r['ratio_wall']:.2f} | {r['ratio_cpu']:.2f} "
            f"| {'yes' if r['objectives_agree'] else 'NO'} "
            f"| {100 * r['build_and_read_share']:.1f}% | {r['whole_seconds']:.2f} "
            f"| {r['whole_cpu_seconds']:.2f} | {r['whole_status']}, {r['whole_gap']:.1e} "
            f"| {r['load_average'][0]:.1f} to {r['load_average'][1]:.1f} |"
        )
    return head + "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["small", "medium", "large"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        rows.append(measure(size, args.seed, args.repeats))
        print(json.dumps(rows[-1], default=str), flush=True)
    print()
    print(
        f"Python {platform.python_version()}, HiGHS {highspy.Highs().version()}, "
        f"{args.repeats} repeats, medians; seconds"
    )
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str))


if __name__ == "__main__":
    main()
