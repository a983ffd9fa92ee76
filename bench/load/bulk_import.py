"""Bulk import: 100,000 needs from one CSV through the service path, timed by stage.

    .venv/bin/python -m bench.load.bulk_import [--rows 100000] [--http] [--stages]
        [--profile FILE] [--server postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
        [--sqlite]

The path is the one ``POST /api/v1/rounds/{round_id}/needs/import`` takes
(``app.exchange.service.import_needs``: parse and check every row, then
``app.exchange.batch.create_needs``: the round lock, the needs' own rules, the
inserts and one audit entry per need, one commit). ``--http`` sends the file through
that route instead (multipart, in-process ASGI), so the upload and response are
counted too. The row limit is raised for the run (``upload_max_rows``, 20,000 by
default). A scratch database on the server (or a SQLite file) is made and dropped.

Besides the wall time it prints the importing process's CPU time and, on a PostgreSQL
server on this machine, the CPU time of the server process that ran the import (read
from /proc): on a shared machine these say what the import costs whatever else runs.
``--stages`` adds the wall and CPU time of each stage (parse, the needs' insert, the
audit entries, their insert, the commit); ``--profile FILE`` runs the service call
under cProfile, saves the stats to FILE and prints the top functions.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import csv
import datetime as dt
import functools
import io
import os
import pstats
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from bench.load.run import DEFAULT_SERVER, scratch_database


def make_csv(rows: int, items: list[str], locations: list[str], seed: int = 7) -> bytes:
    rng = random.Random(seed)
    today = dt.date.today()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["item", "location", "quantity", "need_by", "priority", "justification"])
    for _ in range(rows):
        priority = rng.choice(["normal", "normal", "normal", "high"])
        writer.writerow(
            [
                rng.choice(items),
                rng.choice(locations),
                rng.randint(1, 5000),
                (today + dt.timedelta(days=rng.randint(20, 90))).isoformat(),
                priority,
                "stock runs out before the need-by date" if priority == "high" else "",
            ]
        )
    return out.getvalue().encode()


def server_cpu(session: Session) -> Callable[[], float] | None:
    """The CPU seconds so far of the PostgreSQL process serving ``session``, when it runs
    on this machine (its /proc entry is readable); None otherwise."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    pid = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return None

    def seconds() -> float:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    return seconds


STAGES = {
    "parse": "parse and check the file",
    "create": "create_needs (the lock, the rules, all below)",
    "needs": "  insert the needs (prepare the audit meanwhile)",
    "prepare": "    prepare the audit entries",
    "append": "  append the audit entries (chain, insert)",
    "audit_insert": "    insert the audit entries",
    "commit": "commit",
}


@contextlib.contextmanager
def stages(figures: dict[str, Any], server: Callable[[], float] | None) -> Iterator[None]:
    """Wall, CPU and database server CPU time of the import's stages, into
    ``figures["stages"]`` (label -> seconds)."""
    from app.audit import service as audit_service
    from app.exchange import batch, spreadsheets

    times = {key: [0.0, 0.0, 0.0] for key in STAGES}
    patched: list[tuple[Any, str, Any]] = []

    @contextlib.contextmanager
    def timing(key: str) -> Iterator[None]:
        t0, c0, s0 = time.perf_counter(), time.process_time(), server() if server else 0.0
        try:
            yield
        finally:
            spent = times[key]
            spent[0] += time.perf_counter() - t0
            spent[1] += time.process_time() - c0
            spent[2] += (server() if server else 0.0) - s0

    def timed(owner: Any, name: str, key: str, *, context: bool = False) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def call(*args: Any, **kwargs: Any) -> Any:
            with timing(key):
                return original(*args, **kwargs)

        @contextlib.contextmanager
        def enter(*args: Any, **kwargs: Any) -> Iterator[Any]:
            with timing(key), original(*args, **kwargs) as value:
                yield value

        patched.append((owner, name, original))
        setattr(owner, name, enter if context else call)

    timed(spreadsheets, "parse_needs", "parse")
    timed(batch, "create_needs", "create")
    timed(batch, "inserting_columns", "needs", context=True)
    timed(batch, "prepare_entries", "prepare")
    timed(batch, "append_entries", "append")
    timed(audit_service, "insert_columns", "audit_insert")
    timed(Session, "commit", "commit")
    try:
        yield
    finally:
        for owner, name, original in patched:
            setattr(owner, name, original)
        figures["stages"] = {
            STAGES[key]: tuple(round(t, 2) for t in spent) for key, spent in times.items()
        }


def bench(
    url: str, rows: int, http: bool, *, by_stage: bool = False, profile: str | None = None
) -> dict[str, Any]:
    from app.auth import service as auth_service
    from app.auth.models import Role, User
    from app.auth.schemas import UserCreate
    from app.catalogue.models import Item, Location
    from app.db import make_engine, upgrade_database
    from app.demo.loader import load_demo
    from app.exchange import service as exchange_service
    from app.exchange.service import Upload
    from app.needs.models import Need
    from app.rounds import service as rounds_service
    from app.rounds.schemas import RoundCreate
    from app.settings import get_settings

    upgrade_database(url)
    engine = make_engine(url)
    settings = get_settings().model_copy(
        update={"upload_max_rows": rows, "max_body_bytes": 64 * 1024 * 1024}
    )
    with Session(engine, expire_on_commit=False) as session:
        load_demo(session)
        session.commit()
        coordinator = session.scalars(
            sa.select(User).where(User.email == "coordinator@demo.poolbuy.org")
        ).one()
        round_ = rounds_service.create(
            session,
            coordinator,
            RoundCreate(
                name="Bulk import round",
                deadline=dt.datetime.now(dt.UTC) + dt.timedelta(days=30),
            ),
        )
        officer = auth_service.create_user(
            session,
            None,
            UserCreate(
                email="bulk@load.poolbuy.org",
                name="Bulk importer",
                agency_id="UNHCR",
                roles=[Role.local_team],
            ),
        )
        _, token = auth_service.create_token(session, None, officer, "bulk", 1)
        items = sorted(session.scalars(sa.select(Item.id).where(Item.active)))
        locations = sorted(session.scalars(sa.select(Location.id).where(Location.active)))
        round_id = round_.id

    started = time.perf_counter()
    data = make_csv(rows, items, locations)
    made = time.perf_counter()
    figures: dict[str, Any] = {
        "csv_mb": round(len(data) / 1e6, 2),
        "make_csv_s": round(made - started, 2),
    }

    if http:
        from fastapi.testclient import TestClient
        from sqlalchemy.orm import sessionmaker

        from app.db import get_session, open_session
        from app.main import create_app
        from app.settings import get_settings as settings_dependency

        app = create_app(settings)
        app.dependency_overrides[settings_dependency] = lambda: settings
        factory = sessionmaker(bind=engine, expire_on_commit=False)

        def bench_session() -> Iterator[Session]:
            yield from open_session(factory)

        app.dependency_overrides[get_session] = bench_session
        client = TestClient(app)
        t0 = time.perf_counter()
        response = client.post(
            f"/api/v1/rounds/{round_id}/needs/import?submit=true",
            files={"file": ("needs.csv", data, "text/csv")},
            headers={"Authorization": f"Bearer {token}"},
        )
        t1 = time.perf_counter()
        assert response.status_code == 201, response.text[:2000]
        figures["import_s"] = round(t1 - t0, 2)
    else:
        profiler = cProfile.Profile() if profile else None
        with Session(engine, expire_on_commit=False) as session:
            actor = session.get_one(User, officer.id)
            server = server_cpu(session)
            server0 = server() if server else 0.0
            timing = stages(figures, server) if by_stage else contextlib.nullcontext()
            with timing:
                t0, cpu0 = time.perf_counter(), time.process_time()
                if profiler:
                    profiler.enable()
                result = exchange_service.import_needs(
                    session,
                    actor,
                    round_id,
                    Upload(data=data, filename="needs.csv", content_type="text/csv"),
                    settings=settings,
                    submit=True,
                )
                if profiler:
                    profiler.disable()
                t1, cpu1 = time.perf_counter(), time.process_time()
            if server:
                figures["server_cpu_s"] = round(server() - server0, 2)
        assert result.created == rows
        figures["import_s"] = round(t1 - t0, 2)
        # This process's own CPU (the database server's is not in it): what the import
        # costs whatever else the machine is doing.
        figures["import_cpu_s"] = round(cpu1 - cpu0, 2)
        if profiler and profile:
            profiler.dump_stats(profile)
            pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    with engine.connect() as conn:
        count = conn.execute(
            sa.select(sa.func.count()).select_from(Need).where(Need.round_id == round_id)
        ).scalar()
    assert count == rows, count
    figures["rows_per_s"] = round(rows / figures["import_s"])
    engine.dispose()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--http", action="store_true", help="through the upload route")
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file instead")
    parser.add_argument("--server", default=os.environ.get("LOAD_PG_URL", DEFAULT_SERVER))
    parser.add_argument("--stages", action="store_true", help="time each stage too")
    parser.add_argument("--profile", metavar="FILE", help="cProfile the service call")
    args = parser.parse_args(argv)
    if not 0 < args.rows <= 1_000_000:
        parser.error("--rows: 1 to 1,000,000")
    if args.http and (args.stages or args.profile):
        parser.error("--stages and --profile time the service path, not --http")
    load_before = os.getloadavg()
    run = functools.partial(
        bench, rows=args.rows, http=args.http, by_stage=args.stages, profile=args.profile
    )
    if args.sqlite:
        with tempfile.TemporaryDirectory(prefix="poolbuy-bulk-") as workdir:
            figures = run(f"sqlite:///{Path(workdir) / f'bulk-{uuid.uuid4().hex[:6]}.db'}")
    else:
        with scratch_database(args.server) as url:
            figures = run(url)
    where = "sqlite" if args.sqlite else "postgresql"
    path = "HTTP upload route" if args.http else "service path"
    server = (
        f", database server CPU {figures['server_cpu_s']} s" if "server_cpu_s" in figures else ""
    )
    print(
        f"{args.rows:,} needs, {where}, {path}: {figures['import_s']} s "
        f"({figures['rows_per_s']:,} rows/s; CSV {figures['csv_mb']} MB; importing process "
        f"CPU {figures.get('import_cpu_s', '-')} s{server}); load average "
        f"{load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after"
    )
    for stage, (wall, cpu, server_cpu) in figures.get("stages", {}).items():
        print(f"  {stage:48s} {wall:6.2f} s wall {cpu:6.2f} s CPU {server_cpu:6.2f} s server CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
