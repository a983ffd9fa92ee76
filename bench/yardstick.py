"""poolbuy's whole solve against the yardstick, the compact model of `bench/compact_model.py`.

For each size and contract version, one generated document is solved, in the same run and
back to back, by `solver.solve` (the pooled plan and every agency's stand-alone baseline, as
the service does) and by the yardstick (the pooled model and one model per agency, each handed
whole to HiGHS, as many at once as there are cores, as `solver.solve` does by default). Both
use the document's gap (1e-4) and time limit (60 s per solve). What must agree is the answer:
the pooled objectives, and each agency's stand-alone objective, within the gap of either.

Version-2 documents are the version-1 ones with the issue's features added here (rules on 5%
of the items, capacity groups, budgets, packs, fees, an exclusion): see `with_v2_features`.

    uv run --frozen python -m bench.yardstick --sizes small medium --versions 1 2
    uv run --frozen python -m bench.yardstick --sizes medium --versions 2 --root-gaps --no-budgets
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import random
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import highspy

from bench.compact_model import CompactResult, solve_compact
from solver import solve
from solver.examples import generate_problem, summarize


def with_v2_features(
    document: dict[str, Any], seed: int = 0, budgets: bool = True
) -> dict[str, Any]:
    """The document with version 2's features, drawn reproducibly from ``seed``.

    Rules on 5% of the needed items (the four kinds in turn, penalties about one to ten
    reference-priced units), a capacity group of two offers of one supplier for 5% of the
    offers, budgets for two agencies at 60% of what their needs cost at first-tier prices,
    packs on 20% of the offers, fees (3-8.5%) on 30%, and one agency excluding one supplier.
    ``budgets=False`` leaves the budgets out (the rest is drawn the same).
    """
    rng = random.Random(f"poolbuy-yardstick:{seed}")
    doc = copy.deepcopy(document)
    doc["version"] = 2
    offers = doc["offers"]
    first = {
        o["id"]: min(o["price_tiers"], key=lambda t: t["min_quantity"])["unit_price"]
        for o in offers
    }
    reference: dict[str, float] = defaultdict(float)
    for offer in offers:
        reference[offer["item"]] = max(reference[offer["item"]], first[offer["id"]])
    for offer in offers:
        if rng.random() < 0.2:
            offer["pack_size"] = rng.choice([6, 10, 12, 24])
            offer["capacity"] = max(offer["capacity"], offer["pack_size"])
        if rng.random() < 0.3:
            offer["fee_rate"] = rng.choice([0.03, 0.045, 0.085])

    by_supplier: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for offer in offers:
        by_supplier[offer["supplier"]].append(offer)
    groups: list[dict[str, Any]] = []
    wanted = max(1, len(offers) // 40)  # two offers each: 5% of the offers
    for supplier in sorted(by_supplier):
        if len(groups) == wanted:
            break
        pool = by_supplier[supplier]
        if len(pool) >= 2:
            pair = rng.sample(pool, 2)
            capacity = int(0.7 * sum(o["capacity"] for o in pair))
            groups.append(
                {"id": f"g-{len(groups)}", "offers": [o["id"] for o in pair], "capacity": capacity}
            )
    doc["capacity_groups"] = groups

    needed = sorted({n["item"] for n in doc["needs"]})
    sellers: dict[str, list[str]] = defaultdict(list)
    for offer in offers:
        sellers[offer["item"]].append(offer["supplier"])
    kinds = ("max_suppliers", "min_suppliers", "max_share", "min_share")
    rules = []
    for k, item in enumerate(rng.sample(needed, max(1, round(0.05 * len(needed))))):
        kind = kinds[k % 4]
        rule: dict[str, Any] = {"id": f"r-{k}", "kind": kind, "item": item}
        price = reference[item] or 1.0
        if kind == "max_suppliers":
            rule |= {"limit": 1, "penalty": round(10 * price, 2)}
        elif kind == "min_suppliers":
            rule |= {"limit": 2, "penalty": round(10 * price, 2)}
        else:
            share = 0.6 if kind == "max_share" else 0.2
            rule |= {"supplier": rng.choice(sellers[item]), "share": share, "penalty": price}
        rules.append(rule)
    doc["rules"] = rules

    demand_cost: dict[str, float] = defaultdict(float)
    for need in doc["needs"]:
        demand_cost[need["agency"]] += need["quantity"] * reference[need["item"]]
    agencies = sorted(demand_cost, key=lambda a: -demand_cost[a])
    for agency in doc["agencies"]:
        if budgets and agency["id"] in agencies[1:3]:
            agency["budget"] = round(0.6 * demand_cost[agency["id"]], 2)
    if agencies and by_supplier:
        excluder = next(a for a in doc["agencies"] if a["id"] == agencies[-1])
        excluder["excluded_suppliers"] = [rng.choice(sorted(by_supplier))]
    return doc


class Clock:
    def __enter__(self) -> Clock:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def yardstick(
    document: dict[str, Any], workers: int, lp_bound: bool = False
) -> dict[str | None, CompactResult]:
    """The pooled model (key None) and one model per agency with needs, ``workers`` at once."""
    agencies = sorted({need["agency"] for need in document["needs"]})
    jobs: list[str | None] = [None, *agencies]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = pool.map(
            lambda who: solve_compact(
                document, None if who is None else [who], lp_bound=lp_bound and who is None
            ),
            jobs,
        )
        return dict(zip(jobs, results, strict=True))


def agree(a: float, b: float, gap: float, avoidable: float) -> bool:
    """Both claim an optimum within the gap: they may differ by the gap of either."""
    return abs(a - b) <= 2 * gap * max(1.0, abs(avoidable)) + 1e-6


def measure(
    size: str, version: int, seed: int, root_gaps: bool, budgets: bool = True
) -> dict[str, Any]:
    document = generate_problem(size, seed=seed)
    if version == 2:
        document = with_v2_features(document, seed, budgets)
    gap = document.get("settings", {}).get("relative_gap") or 1e-4
    workers = os.cpu_count() or 1
    load_before = os.getloadavg()[0]
    with Clock() as ours:
        plan = solve(copy.deepcopy(document))
    with Clock() as theirs:
        compact = yardstick(document, workers, lp_bound=root_gaps)
    pooled = compact[None]
    unavoidable = plan.get("unavoidable_penalty", 0.0)
    answers = agree(plan["objective"], pooled.objective, gap, plan["objective"] - unavoidable)
    for row in plan["agencies"]:
        alone = compact[row["agency"]]
        answers &= agree(
            row["standalone_objective"],
            alone.objective,
            gap,
            alone.objective - alone.unavoidable,
        )
    result = {
        "size": size,
        "version": version if budgets or version == 1 else "2 (no budgets)",
        "seed": seed,
        "counts": summarize(document),
        "rules": len(document.get("rules") or []),
        "groups": len(document.get("capacity_groups") or []),
        "poolbuy_wall": ours.wall,
        "poolbuy_cpu": ours.cpu,
        "yardstick_wall": theirs.wall,
        "yardstick_cpu": theirs.cpu,
        "ratio_wall": ours.wall / theirs.wall,
        "ratio_cpu": ours.cpu / theirs.cpu,
        "poolbuy_objective": plan["objective"],
        "poolbuy_status": plan["status"],
        "poolbuy_gap": plan["relative_gap"],
        "poolbuy_pooled_seconds": sum(
            v for k, v in plan["solver"].get("stages", {}).items() if k != "baselines_wait"
        ),
        "yardstick_objective": pooled.objective,
        "yardstick_status": pooled.status,
        "yardstick_pooled_seconds": pooled.seconds + pooled.build_seconds,
        "yardstick_nodes": pooled.nodes,
        "yardstick_columns": pooled.columns,
        "yardstick_rows": pooled.rows,
        "yardstick_fractional_awards": sum(r.fractional_awards for r in compact.values()),
        "answers_agree": answers,
        "load_average": (load_before, os.getloadavg()[0]),
    }
    if root_gaps and pooled.lp_bound is not None:
        best = min(plan["objective"], pooled.objective) - unavoidable
        result["yardstick_lp_gap"] = (best + unavoidable - pooled.lp_bound) / max(1.0, abs(best))
    return result


def table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| size | v | needs | offers | rules | groups | poolbuy wall | yardstick wall "
        "| ratio wall | ratio CPU | poolbuy objective | yardstick objective | agree "
        "| poolbuy status, gap | yardstick status, nodes | load |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        c = r["counts"]
        lines.append(
            f"| {r['size']} | {r['version']} | {c['needs']} | {c['offers']} | {r['rules']} "
            f"| {r['groups']} | {r['poolbuy_wall']:.2f} | {r['yardstick_wall']:.2f} "
            f"| {r['ratio_wall']:.2f} | {r['ratio_cpu']:.2f} | {r['poolbuy_objective']:,.2f} "
            f"| {r['yardstick_objective']:,.2f} | {'yes' if r['answers_agree'] else 'NO'} "
            f"| {r['poolbuy_status']}, {r['poolbuy_gap']:.1e} "
            f"| {r['yardstick_status']}, {r['yardstick_nodes']} "
            f"| {r['load_average'][0]:.1f} to {r['load_average'][1]:.1f} |"
        )
    return head + "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["small", "medium"])
    parser.add_argument("--versions", nargs="+", type=int, default=[1, 2], choices=[1, 2])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root-gaps", action="store_true", help="also the compact LP's gap")
    parser.add_argument("--no-budgets", action="store_true", help="v2 documents without budgets")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        for version in args.versions:
            rows.append(measure(size, version, args.seed, args.root_gaps, not args.no_budgets))
            print(json.dumps(rows[-1], default=str), flush=True)
    print()
    print(f"Python {platform.python_version()}, HiGHS {highspy.Highs().version()}; seconds")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str))


if __name__ == "__main__":
    main()
