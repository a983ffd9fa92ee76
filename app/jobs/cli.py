"""``poolbuy worker`` and ``poolbuy jobs list|follow|sweep``.

``app.cli`` calls ``register_worker`` and ``register_jobs``; handlers import the
database and broker modules themselves, so ``poolbuy solve`` does not pay for them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any


def register_worker(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="solve queued jobs from the broker (the scale-out mode)",
        description="Consume the job queue on POOLBUY_BROKER_URL and solve each job against "
        "DATABASE_URL; run as many as you like, on any machine sharing that database and "
        "broker. SIGTERM stops it after handing its running job back.",
    )
    parser.add_argument("--queue", help="queue name (default: POOLBUY_JOBS_QUEUE)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        metavar="N",
        help="jobs solved at once in this process (default 1; add processes to scale)",
    )
    parser.add_argument(
        "--no-sweeper",
        dest="sweeper",
        action="store_false",
        default=None,
        help="do not fire schedules nor re-dispatch stranded jobs from this process",
    )
    parser.set_defaults(handler=cmd_worker)


def cmd_worker(args: argparse.Namespace) -> int:
    import logging

    from app.jobs.worker import run_worker
    from app.settings import get_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("pika").setLevel(logging.WARNING)
    if args.concurrency < 1:
        print("poolbuy worker: --concurrency must be at least 1", file=sys.stderr)
        return 1
    return run_worker(
        get_settings(), queue=args.queue, concurrency=args.concurrency, sweeper=args.sweeper
    )


def register_jobs(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    jobs = subparsers.add_parser("jobs", help="background jobs: list, follow, sweep")
    commands = jobs.add_subparsers(dest="jobs_command", metavar="COMMAND", required=True)

    listing = commands.add_parser("list", help="the latest jobs and their state")
    listing.add_argument(
        "--state", choices=["queued", "running", "succeeded", "failed", "cancelled"]
    )
    listing.add_argument("--limit", type=int, default=20)
    listing.set_defaults(handler=cmd_list)

    follow = commands.add_parser(
        "follow", help="print a job's progress until it ends (exit 0 succeeded, 2 otherwise)"
    )
    target = follow.add_mutually_exclusive_group(required=True)
    target.add_argument("--job", type=int, metavar="ID")
    target.add_argument("--run", type=int, metavar="ID", help="the job solving this run")
    follow.add_argument("--interval", type=float, default=1.0, metavar="S")
    follow.set_defaults(handler=cmd_follow)

    sweep = commands.add_parser(
        "sweep", help="fire due schedules and re-dispatch stranded jobs once, then exit"
    )
    sweep.set_defaults(handler=cmd_sweep)


def _factory() -> Any:
    from sqlalchemy.orm import sessionmaker

    from app.db import get_engine

    return sessionmaker(bind=get_engine(), expire_on_commit=False)


def cmd_list(args: argparse.Namespace) -> int:
    from app.jobs import service
    from app.jobs.models import JobState

    with _factory()() as session:
        state = JobState(args.state) if args.state else None
        rows = session.scalars(service.jobs_query(state=state).limit(args.limit)).all()
        print(f"{'job':>6}  {'kind':<8}  {'run':>5}  {'state':<9}  {'tries':>5}  worker")
        for job in rows:
            print(
                f"{job.id:>6}  {job.kind.value:<8}  {job.run_id:>5}  {job.state.value:<9}  "
                f"{job.attempts:>5}  {job.worker or '-'}"
            )
    return 0


def cmd_follow(args: argparse.Namespace) -> int:
    from app.jobs import service
    from app.jobs.models import FINISHED, Job, JobState

    factory = _factory()
    shown = None
    while True:
        with factory() as session:
            job = (
                session.get(Job, args.job)
                if args.job is not None
                else service.run_job(session, args.run)
            )
            if job is None:
                print("poolbuy jobs follow: no such job", file=sys.stderr)
                return 1
            line = _progress_line(job)
            if line != shown:
                print(line, flush=True)
                shown = line
            if job.state in FINISHED:
                if job.error:
                    print(f"  {job.error}")
                return 0 if job.state == JobState.succeeded else 2
        time.sleep(args.interval)


def _progress_line(job: Any) -> str:
    progress = job.progress or {}
    pooled = progress.get("pooled") or {}

    def figure(key: str) -> str:
        value = pooled.get(key)
        return "-" if value is None else f"{value:,.2f}"

    gap = pooled.get("gap")
    return (
        f"job {job.id} {job.state.value:<9} attempt {job.attempts}  incumbent {figure('incumbent')}"
        f"  bound {figure('bound')}  gap {'-' if gap is None else f'{gap:.2%}'}"
        f"  {json.dumps(progress.get('elapsed_seconds'))} s"
    )


def cmd_sweep(args: argparse.Namespace) -> int:
    from app.jobs.backends import close_all, get_backend
    from app.jobs.scheduler import Sweeper
    from app.settings import get_settings

    settings = get_settings()
    backend = get_backend(settings)
    report = Sweeper(settings, backend, _factory(), settings.database_url).sweep()
    if hasattr(backend, "wait_published"):
        backend.wait_published(30)
    if hasattr(backend, "wait_idle"):
        backend.wait_idle(settings.max_solve_seconds * 3)
    close_all()
    print(
        f"lease {'held' if report.held_lease else 'held by another sweeper'}; "
        f"rounds closed {report.fired}; jobs dispatched {report.dispatched}"
    )
    return 0
