"""Batch optimisation throughput: 20 queued medium-size runs with 1 and with 2 workers.

What it does, on this machine only (PostgreSQL and RabbitMQ on 127.0.0.1):

1. makes a fresh PostgreSQL database and migrates it; seeds a coordinator and, per
   phase, 20 closed rounds each with a queued run of a medium example problem
   (``solver.examples``, seeds 0-19: 8 agencies, 60 items, 25 suppliers, 800 needs);
2. serves the API (``poolbuy serve``, broker mode) and measures ``GET /api/v1/rounds``
   with nothing solving (the baseline);
3. per phase, starts N ``poolbuy worker`` processes on a queue of its own, publishes
   the 20 jobs and measures the wall time until all 20 have ended, while a client
   keeps timing ``GET /api/v1/rounds``;
4. prints the figures as a Markdown table, stops everything, drops the database and
   deletes the queues.

Run it when the machine is otherwise idle::

    uv run --frozen python -m bench.queue_throughput

Options: ``--runs 20 --size medium --workers 1 2 --repeats 1 --nice 10`` and ``--database``,
``--broker`` for other servers than the local PostgreSQL and RabbitMQ.

``--fairness`` checks fairness in every run (a round's default): each run's 254
coalitions become batch jobs spread over the workers, and the wall time runs
until every run's job (which builds the plan from the stored values) ended::

    uv run --frozen python -m bench.queue_throughput --fairness --runs 1
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@dataclass
class Latency:
    samples: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.samples)

        def pct(p: float) -> float:
            return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

        return {
            "n": len(ordered),
            "p50": statistics.median(ordered) * 1000,
            "p95": pct(0.95),
            "max": ordered[-1] * 1000,
        }


_TICK = os.sysconf("SC_CLK_TCK")


def _machine_busy_seconds() -> float:
    """CPU seconds every core spent on anything but idling, since boot (/proc/stat)."""
    with open("/proc/stat") as stat:
        fields = [int(x) for x in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / _TICK


def _process_seconds(pid: int) -> float:
    """CPU seconds of one process and its waited-for children (/proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / _TICK  # utime stime cutime cstime


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str, token: str) -> float:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as answer:
        answer.read()
        assert answer.status == 200
    return time.perf_counter() - started


def _measure(url: str, token: str, stop: threading.Event, into: Latency, pause: float) -> None:
    while not stop.is_set():
        into.samples.append(_get(url, token))
        stop.wait(pause)


def _print_timeline(session: Session, job_ids: list[int]) -> None:
    """Where a phase's wall time went: every job of its runs, by worker, on stderr."""
    from app.jobs.models import Job

    runs = sa.select(Job.run_id).where(Job.id.in_(job_ids))
    rows = session.execute(
        sa.select(Job.id, Job.kind, Job.worker, Job.started_at, Job.finished_at)
        .where(Job.run_id.in_(runs), Job.started_at.is_not(None))
        .order_by(Job.started_at)
    ).all()
    if not rows:
        return
    origin = rows[0].started_at
    busy: dict[str, float] = {}
    for row in rows:
        end = row.finished_at or row.started_at
        start_s = (row.started_at - origin).total_seconds()
        end_s = (end - origin).total_seconds()
        worker = (row.worker or "?").rsplit(":", 1)[0]
        if row.kind.value != "run":  # the run's job also runs batches: counted in theirs
            busy[worker] = busy.get(worker, 0.0) + end_s - start_s
        print(
            f"  job {row.id:>4} {row.kind.value:<10} {worker:<24} {start_s:7.1f} -> {end_s:7.1f} s",
            file=sys.stderr,
        )
    for worker, seconds in sorted(busy.items()):
        print(f"  {worker}: {seconds:.1f} s in coalition batches", file=sys.stderr)


def _seed(
    factory: sessionmaker[Session], runs: int, size: str, *, fairness: bool = False
) -> tuple[str, list[int]]:
    from app.auth.models import Role
    from app.jobs import service as jobs_service
    from app.jobs.models import JobKind
    from app.rounds.models import RoundStatus
    from app.runs.models import Run
    from solver.examples import generate_problem
    from tests.factories import make_round, make_token, make_user

    with factory() as session:
        coordinator = make_user(session, Role.coordinator)
        token = make_token(session, coordinator)
        jobs = []
        for seed in range(runs):
            round_ = make_round(session, created_by=coordinator, status=RoundStatus.closed)
            problem = generate_problem(size=size, seed=seed)
            if fairness:
                # A round's default: the 254 coalitions of eight agencies become batch jobs
                # (app.runs.coalitions) that every worker takes, beside the run's own job.
                problem["settings"] = {**problem.get("settings", {}), "fairness": "core"}
            run = Run(
                round_id=round_.id,
                number=1,
                problem=problem,
                triggered_by_id=coordinator.id,
                progress={"state": "queued"},
            )
            session.add(run)
            session.flush()
            job = jobs_service.create(
                session,
                coordinator,
                JobKind.run,
                run_id=run.id,
                time_limit_seconds=float(problem["settings"].get("time_limit_seconds", 60)),
            )
            jobs.append(job.id)
        session.commit()
        return token, jobs


def _wait_for_workers(processes: list[subprocess.Popen[str]]) -> None:
    for process in processes:
        assert process.stdout is not None
        while True:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError("a worker exited before it was ready")
            if "poolbuy worker ready" in line:
                break
        # Keep draining its output so it never blocks on a full pipe.
        threading.Thread(target=lambda p=process: p.stdout.read(), daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--size", default="medium", choices=["small", "medium", "large"])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--repeats", type=int, default=1, help="run the phases this many times, alternating"
    )
    parser.add_argument(
        "--database",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL server URL; a throw-away database is made on it",
    )
    parser.add_argument("--broker", default="amqp://guest:guest@127.0.0.1:5672/%2F")
    parser.add_argument(
        "--timeline",
        action="store_true",
        help="print each job of the runs (the run's and its coalition batches): worker, "
        "start and end after the first claim, and each worker's busy seconds",
    )
    parser.add_argument(
        "--fairness", action="store_true", help="check fairness: coalitions as batch jobs"
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=10,
        help="the workers' CPU priority (POOLBUY_JOBS_WORKER_NICE; default 10, the service's)",
    )
    args = parser.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from app.db import load_models, make_engine, upgrade_database

    load_models()
    from app.bootstrap import register_all

    register_all()  # the job kinds' handlers: a job is refused for a kind without one
    from app.jobs.backends import BrokerBackend
    from app.jobs.models import FINISHED, Job
    from app.settings import Settings

    server = make_url(args.database)
    name = f"poolbuy_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = server.set(database=name).render_as_string(hide_password=False)
    queue = f"poolbuy-bench-{uuid.uuid4().hex[:8]}"
    engine = make_engine(url)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "POOLBUY_JOBS_BACKEND": "broker",
        "POOLBUY_BROKER_URL": args.broker,
        "POOLBUY_JOBS_QUEUE": queue,
        # The bench hands the jobs over itself; no sweeper re-dispatches them meanwhile.
        "POOLBUY_JOBS_SCHEDULER": "false",
        # One core per worker: two workers on two cores are then comparable to one.
        "POOLBUY_SOLVER_WORKERS": "1",
        "POOLBUY_JOBS_WORKER_NICE": str(args.nice),
        "PYTHONUNBUFFERED": "1",
    }
    api: subprocess.Popen[str] | None = None
    results: list[dict[str, float]] = []
    try:
        upgrade_database(url)
        port = _free_port()
        api = subprocess.Popen(
            [str(BIN / "poolbuy"), "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        rounds_url = f"http://127.0.0.1:{port}/api/v1/rounds?limit=50"
        token, _ = _seed(factory, 0, args.size)
        deadline = time.monotonic() + 60
        while True:
            try:
                _get(rounds_url, token)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

        idle = Latency()
        for _ in range(200):
            idle.samples.append(_get(rounds_url, token))
            time.sleep(0.02)
        print(f"load average before: {os.getloadavg()}", file=sys.stderr)

        settings = Settings(
            database_url=url, jobs_backend="broker", broker_url=args.broker, jobs_queue=queue
        )
        # Phases alternate (1 2, then 2 1, ...): a machine that drifts favours neither.
        phases = [
            count
            for r in range(args.repeats)
            for count in (args.workers if r % 2 == 0 else args.workers[::-1])
        ]
        for count in phases:
            _, jobs = _seed(factory, args.runs, args.size, fairness=args.fairness)
            workers = [
                subprocess.Popen(
                    [str(BIN / "poolbuy"), "worker", "--no-sweeper"],
                    env=env,
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
                for _ in range(count)
            ]
            try:
                _wait_for_workers(workers)
                busy = Latency()
                stop = threading.Event()
                probe = threading.Thread(
                    target=_measure, args=(rounds_url, token, stop, busy, 0.05), daemon=True
                )
                backend = BrokerBackend(settings)
                load_before = os.getloadavg()[0]
                machine_before = _machine_busy_seconds()
                workers_before = sum(_process_seconds(w.pid) for w in workers)
                api_before = _process_seconds(api.pid)
                started = time.perf_counter()
                backend.dispatch(jobs, url)
                probe.start()
                while True:
                    with factory() as session:
                        open_jobs = session.scalar(
                            sa.select(sa.func.count())
                            .select_from(Job)
                            .where(Job.id.in_(jobs), Job.state.not_in(tuple(FINISHED)))
                        )
                    if not open_jobs:
                        break
                    time.sleep(0.25)
                wall = time.perf_counter() - started
                workers_cpu = sum(_process_seconds(w.pid) for w in workers) - workers_before
                others_cpu = _machine_busy_seconds() - machine_before - workers_cpu
                api_cpu = _process_seconds(api.pid) - api_before
                stop.set()
                probe.join()
                backend.close()
                with factory() as session:
                    states = session.scalars(sa.select(Job.state).where(Job.id.in_(jobs))).all()
                    if args.timeline:
                        _print_timeline(session, jobs)
                ok = sum(1 for s in states if s.value == "succeeded")
                results.append(
                    {
                        "workers": count,
                        "wall": wall,
                        "ok": ok,
                        "load_before": load_before,
                        "load_after": os.getloadavg()[0],
                        "workers_cpu": workers_cpu,
                        # The API, the database, the broker and this bench's probe.
                        "others_cores": others_cpu / wall,
                        "api_cores": api_cpu / wall,
                        **{f"busy_{k}": v for k, v in busy.summary().items()},
                    }
                )
                print(
                    f"{count} worker(s): {wall:.1f} s, {ok}/{len(jobs)} succeeded", file=sys.stderr
                )
            finally:
                for worker in workers:
                    worker.terminate()
                for worker in workers:
                    try:
                        worker.wait(30)
                    except subprocess.TimeoutExpired:
                        worker.kill()
        print(f"load average after: {os.getloadavg()}", file=sys.stderr)

        base = idle.summary()
        print(
            f"\n{args.runs} queued {args.size} runs"
            f"{', fairness checked' if args.fairness else ''}, broker mode, this machine "
            f"({os.cpu_count()} cores)\n"
        )
        print(
            "| workers | wall time (s) | runs/min | succeeded | GET /rounds p50 (ms) "
            "| p95 (ms) | max (ms) | p50 vs idle | load avg (1 min) before, after "
            "| workers' CPU (s) | cores the rest used | of which the API |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        print(
            f"| idle | - | - | - | {base['p50']:.1f} | {base['p95']:.1f} | {base['max']:.1f} "
            f"| 1.0x | | | | |"
        )
        for row in results:
            print(
                f"| {row['workers']:.0f} | {row['wall']:.1f} | {60 * args.runs / row['wall']:.1f} "
                f"| {row['ok']:.0f}/{args.runs} | {row['busy_p50']:.1f} | {row['busy_p95']:.1f} "
                f"| {row['busy_max']:.1f} | {row['busy_p50'] / base['p50']:.2f}x "
                f"| {row['load_before']:.2f}, {row['load_after']:.2f} "
                f"| {row['workers_cpu']:.1f} | {row['others_cores']:.2f} "
                f"| {row['api_cores']:.2f} |"
            )
        fewest, most = min(args.workers), max(args.workers)
        if fewest != most:
            # Each repeat's pair of phases, and what the workers could have had in the
            # larger one: the cores, less what the rest (API, database, broker) used.
            size = len(args.workers)
            pairs = [results[i : i + size] for i in range(0, len(results), size)]
            ratios, rooms = [], []
            for pair in pairs:
                by = {row["workers"]: row for row in pair}
                ratios.append(by[fewest]["wall"] / by[most]["wall"])
                rooms.append(min(most, (os.cpu_count() or 1) - by[most]["others_cores"]))
            print(
                f"\nspeed-up, {most} workers over {fewest}: "
                f"{', '.join(f'{r:.2f}x' for r in ratios)}"
                + (f" (median {statistics.median(ratios):.2f}x)" if len(ratios) > 1 else "")
                + f"; the cores left to the workers by the rest: "
                f"{', '.join(f'{r:.2f}' for r in rooms)}"
            )
    finally:
        if api is not None:
            api.terminate()
            try:
                api.wait(30)
            except subprocess.TimeoutExpired:
                api.kill()
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _delete_queues(args.broker, queue)
    return 0


def _delete_queues(broker_url: str, queue: str) -> None:
    import pika

    try:
        connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    except Exception:
        return
    try:
        channel = connection.channel()
        for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
            channel.queue_delete(queue=name)
    finally:
        connection.close()


if __name__ == "__main__":
    sys.exit(main())
