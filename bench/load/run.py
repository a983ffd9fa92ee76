"""API load on loopback: officers submitting needs, reading rounds and plans, at 1 and 2
uvicorn workers, against PostgreSQL; and poolbuy's ``POST /needs`` against a bare insert.

    .venv/bin/python -m bench.load.run [--workers 1 2] [--concurrency 32] [--duration 20]
        [--server postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--out FILE]
        [--compare GIT_REF]

Makes a database ``poolbuy_load_<random>`` on that server, migrates it, loads the
Panama demo group, closes and solves the demo round (the plan officers read), opens a
second round for submissions and gives 4 local-team officers per agency a token. Then,
for each worker count: the mixed phase, poolbuy ``POST /needs`` alone, and the bare
endpoint (``bench.load.bare_app``) alone, with the same driver and concurrency. The
database is dropped at the end, whatever happens. Each phase is bounded in time and
in requests; the servers listen on 127.0.0.1 only.

``--compare REF`` serves poolbuy as of that commit too (``git archive`` into a temporary
folder, the same interpreter and database), and interleaves its ``POST /needs`` phases
with this tree's and the bare insert's: a before/after in one run, on the same machine
load. The database is migrated by this tree; the older code must ignore what it added.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bench.load.driver import Op, run_load

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
OFFICERS_PER_AGENCY = 4
MAX_REQUESTS_PER_PHASE = 200_000


@dataclass
class World:
    url: str
    open_round: int
    run_id: int
    tokens: list[str]
    items: list[str]
    locations: list[str]
    agency_id: str
    user_id: int
    # The bare insert's own round: its rows must not change what poolbuy's requests read.
    # In poolbuy's round they did: the bare side's submitted needs (one agency's) became
    # other agencies' possible duplicates, which every later poolbuy answer listed.
    bare_round: int


# ------------------------------------------------------------------ database


@contextmanager
def scratch_database(server: str, prefix: str | None = None) -> Iterator[str]:
    """A new database on ``server`` named ``prefix`` and a random suffix, dropped after.

    ``prefix`` defaults to ``$POOLBUY_LOAD_DB_PREFIX`` or ``poolbuy_load_``: sessions
    sharing one server tell their scratch databases apart by it."""
    prefix = prefix or os.environ.get("POOLBUY_LOAD_DB_PREFIX") or "poolbuy_load_"
    name = f"{prefix}{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def seed(url: str) -> World:
    from app.auth import service as auth_service
    from app.auth.models import Role, User
    from app.auth.schemas import UserCreate
    from app.catalogue.models import Item, Location
    from app.db import make_engine, upgrade_database
    from app.demo.loader import AGENCIES, load_demo
    from app.rounds import flows
    from app.rounds import service as rounds_service
    from app.rounds.schemas import RoundCreate

    upgrade_database(url)
    engine = make_engine(url)
    try:
        with Session(engine, expire_on_commit=False) as session:
            demo = load_demo(session)
            session.commit()
            coordinator = session.scalars(
                sa.select(User).where(User.email == "coordinator@demo.poolbuy.org")
            ).one()
            run = flows.close_round(session, coordinator, demo.round_id)
            deadline = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
            open_round = rounds_service.create(
                session,
                coordinator,
                RoundCreate(name="Load test round", deadline=deadline),
            )
            bare_round = rounds_service.create(
                session,
                coordinator,
                RoundCreate(name="Bare insert round", deadline=deadline),
            )
            tokens = []
            first_user = None
            for agency_id, _ in AGENCIES:
                for n in range(OFFICERS_PER_AGENCY):
                    officer = auth_service.create_user(
                        session,
                        None,
                        UserCreate(
                            email=f"load{n}.{agency_id.lower()}@load.poolbuy.org",
                            name=f"Load officer {n} {agency_id}",
                            agency_id=agency_id,
                            roles=[Role.local_team],
                        ),
                    )
                    first_user = first_user or officer
                    tokens.append(auth_service.create_token(session, None, officer, "load", 1)[1])
            items = sorted(session.scalars(sa.select(Item.id).where(Item.active)))
            locations = sorted(session.scalars(sa.select(Location.id).where(Location.active)))
            assert first_user is not None and first_user.agency_id is not None
            return World(
                url,
                open_round.id,
                run.id,
                tokens,
                items,
                locations,
                first_user.agency_id,
                first_user.id,
                bare_round.id,
            )
    finally:
        engine.dispose()


# ------------------------------------------------------------------ servers

# The process group (uvicorn's supervisor and its workers) of each running server, by URL.
_GROUPS: dict[str, int] = {}
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds(pid: str) -> tuple[int, float] | None:
    """(process group, CPU seconds used so far) of a live process, from /proc."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[2]), (int(fields[11]) + int(fields[12])) / _TICKS


def group_cpu_seconds(group: int) -> float:
    """The CPU time (user and system) the live processes of ``group`` have used."""
    total = 0.0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (found := _cpu_seconds(entry.name)) and found[0] == group:
            total += found[1]
    return total


def backends_cpu_seconds(url: str) -> dict[int, float]:
    """CPU time so far of each PostgreSQL backend connected to ``url``'s database (a server
    on this machine: its processes are read from /proc; empty if they cannot be)."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            pids = conn.scalars(
                sa.text(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).all()
    finally:
        engine.dispose()
    return {pid: found[1] for pid in pids if (found := _cpu_seconds(str(pid))) is not None}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def source_at(ref: str) -> Iterator[Path]:
    """The repository's files as of ``ref``, in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="poolbuy-at-") as folder:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", ref], cwd=ROOT, check=True, capture_output=True
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
        yield Path(folder)


@contextmanager
def server(app: str, workers: int, env: dict[str, str], cwd: Path = ROOT) -> Iterator[str]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    # The app is imported from ``cwd`` (first on the path with -m): this tree or another.
    process = subprocess.Popen(command, cwd=cwd, env={**os.environ, **env}, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{app} did not start (exit {process.returncode})")
            time.sleep(0.2)
        # Every worker imports the app; give the last ones a moment past the first answer.
        time.sleep(1.0 + workers)
        _GROUPS[base] = process.pid
        yield base
    finally:
        _GROUPS.pop(base, None)
        # The process group is the one started above: uvicorn's supervisor and its workers.
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# ------------------------------------------------------------------ the mix


def need_body(world: World) -> Any:
    today = dt.date.today()

    def build(rng: random.Random) -> dict[str, Any]:
        return {
            "item_id": rng.choice(world.items),
            "location_id": rng.choice(world.locations),
            "quantity": rng.randint(1, 5000),
            "need_by": (today + dt.timedelta(days=rng.randint(20, 60))).isoformat(),
            "priority": "normal",
            "justification": "",
            "submit": True,
        }

    return build


def poolbuy_ops(world: World, *, mix: bool) -> list[Op]:
    submit = Op(
        "POST /rounds/{id}/needs",
        40,
        "POST",
        lambda rng: f"/api/v1/rounds/{world.open_round}/needs",
        need_body(world),
        201,
    )
    if not mix:
        return [submit]
    return [
        submit,
        Op("GET /rounds/{id}", 20, "GET", lambda rng: f"/api/v1/rounds/{world.open_round}"),
        Op(
            "GET /rounds/{id}/needs?limit=20",
            15,
            "GET",
            lambda rng: f"/api/v1/rounds/{world.open_round}/needs?limit=20",
        ),
        Op("GET /runs/{id}", 15, "GET", lambda rng: f"/api/v1/runs/{world.run_id}"),
        Op(
            "GET /runs/{id}/cost-statements",
            10,
            "GET",
            lambda rng: f"/api/v1/runs/{world.run_id}/cost-statements",
        ),
    ]


def bare_ops(world: World) -> list[Op]:
    return [
        Op(
            "POST bare insert",
            1,
            "POST",
            lambda rng: f"/bare/rounds/{world.bare_round}/needs",
            need_body(world),
            201,
        )
    ]


def phase(
    name: str,
    base: str,
    ops: list[Op],
    tokens: list[str],
    args: argparse.Namespace,
    database: str | None = None,
) -> dict[str, Any]:
    """One closed-loop load phase against ``base``; its figures, with the CPU time the
    server's processes (and ``database``'s backends) spent per request: unlike req/s and
    latencies, those hardly move with the machine's other load."""
    load_before = os.getloadavg()
    group = _GROUPS.get(base)
    server_cpu = group_cpu_seconds(group) if group is not None else None
    db_cpu = backends_cpu_seconds(database) if database is not None else None
    result = asyncio.run(
        run_load(
            base,
            ops,
            tokens,
            concurrency=args.concurrency,
            duration=args.duration,
            max_requests=MAX_REQUESTS_PER_PHASE,
        )
    )
    summary = result.summary()
    count = max(summary["requests"], 1)
    summary["server_cpu_ms"] = (
        None
        if server_cpu is None or group is None
        else round((group_cpu_seconds(group) - server_cpu) / count * 1e3, 2)
    )
    if db_cpu is not None and database is not None:
        after = backends_cpu_seconds(database)
        spent = sum(cpu - db_cpu.get(pid, 0.0) for pid, cpu in after.items())
        summary["db_cpu_ms"] = round(spent / count * 1e3, 2)
    summary["loadavg_before"] = [round(x, 2) for x in load_before]
    summary["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(
        f"  {name:<34} {summary['rps']:>8.1f} req/s  p50 {summary['p50_ms']} ms  "
        f"p95 {summary['p95_ms']} ms  p99 {summary['p99_ms']} ms  errors {summary['errors']}  "
        f"server CPU {summary['server_cpu_ms']} ms/req  db CPU {summary.get('db_cpu_ms')} ms/req  "
        f"(driver CPU {summary['driver_cpu_pct']}%, load {summary['loadavg_after'][0]})",
        flush=True,
    )
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per phase")
    parser.add_argument("--server", default=os.environ.get("LOAD_PG_URL", DEFAULT_SERVER))
    parser.add_argument(
        "--rounds", type=int, default=2, help="interleaved POST-only phases per side"
    )
    parser.add_argument("--out", type=Path, help="write every figure as JSON here")
    parser.add_argument("--compare", metavar="GIT_REF", help="also serve poolbuy as of this commit")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        other = stack.enter_context(source_at(args.compare)) if args.compare else None
        return _run(args, other)


def _run(args: argparse.Namespace, other: Path | None) -> int:

    results: dict[str, Any] = {
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "compared_with": args.compare,
        "workers": {},
    }
    with scratch_database(args.server) as url:
        print(f"seeding {make_url(url).database} ...", flush=True)
        world = seed(url)
        # The per-token rate limit (app.auth.ratelimit) is off: a handful of tokens send
        # the whole load, which the limit exists to stop in production.
        poolbuy_env = {
            "DATABASE_URL": url,
            "POOLBUY_AUTO_MIGRATE": "false",
            "POOLBUY_TOKEN_RATE_LIMIT": "0",
        }
        bare_env = {
            "BARE_DATABASE_URL": url,
            "BARE_AGENCY_ID": world.agency_id,
            "BARE_USER_ID": str(world.user_id),
        }
        for workers in args.workers:
            print(f"{workers} worker(s), {args.concurrency} concurrent users:", flush=True)
            figures: dict[str, Any] = {}
            with contextlib.ExitStack() as servers:
                poolbuy = servers.enter_context(server("app.main:app", workers, poolbuy_env))
                bare = servers.enter_context(server("bench.load.bare_app:app", workers, bare_env))
                before = (
                    servers.enter_context(server("app.main:app", workers, poolbuy_env, other))
                    if other is not None
                    else None
                )
                figures["mix"] = phase(
                    "mixed officers", poolbuy, poolbuy_ops(world, mix=True), world.tokens, args, url
                )
                if before is not None:
                    figures["mix_compared"] = phase(
                        f"mixed officers at {args.compare}",
                        before,
                        poolbuy_ops(world, mix=True),
                        world.tokens,
                        args,
                        url,
                    )
                # Interleaved, so a change in the machine's background load hits every side.
                for n in range(1, args.rounds + 1):
                    figures[f"poolbuy_post_{n}"] = phase(
                        f"poolbuy POST /needs only ({n})",
                        poolbuy,
                        poolbuy_ops(world, mix=False),
                        world.tokens,
                        args,
                        url,
                    )
                    if before is not None:
                        figures[f"compared_post_{n}"] = phase(
                            f"{args.compare} POST /needs only ({n})",
                            before,
                            poolbuy_ops(world, mix=False),
                            world.tokens,
                            args,
                            url,
                        )
                    figures[f"bare_post_{n}"] = phase(
                        f"bare FastAPI insert ({n})", bare, bare_ops(world), [], args, url
                    )
            bare_rps = sum(figures[f"bare_post_{n}"]["rps"] for n in range(1, args.rounds + 1))
            for side, label in (("poolbuy", "poolbuy"), ("compared", args.compare)):
                if f"{side}_post_1" not in figures:
                    continue
                rps = sum(figures[f"{side}_post_{n}"]["rps"] for n in range(1, args.rounds + 1))
                ratio = round(rps / max(bare_rps, 1e-9), 3)
                figures["post_ratio" if side == "poolbuy" else "compared_post_ratio"] = ratio
                print(f"  {label} POST /needs / bare insert = {ratio:.1%}", flush=True)
            results["workers"][str(workers)] = figures
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
