"""Where the time of one ``POST /api/v1/rounds/{id}/needs`` goes, the whole request.

    .venv/bin/python -m bench.load.profile_post [--requests 400] [--top 40]
        [--server postgresql+psycopg://postgres@127.0.0.1:5432/postgres | --sqlite]
        [--target poolbuy|bare] [--no-profile] [--sort cumulative|tottime] [--timer wall|cpu]

Seeds a scratch database as ``bench.load.run`` does (``--sqlite``: a SQLite file in a
temporary folder instead), then sends the requests one after another through the ASGI
app in this process (every middleware, authentication, the limiter, idempotency, the
audit, the commit). ``--target bare`` sends the same bodies to ``bench.load.bare_app``
instead, the bench's yardstick, through the same harness. The sync routes and
dependencies that FastAPI would hand to its thread pool run on the event loop's thread
here, so the profile sees them; the database is the real one.

Prints this process's CPU time and wall time per request (without ``--no-profile``, under
cProfile, which inflates both), the database round trips of one request (pool checkouts,
statements, commits, rollbacks, counted with SQLAlchemy's events) and, unless
``--no-profile``, the functions by cumulative (or ``--sort``) time. CPU time does not
depend on how busy the machine is; wall time does. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import pstats
import random
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy import event

from bench.load.run import DEFAULT_SERVER, need_body, scratch_database, seed


async def _inline(func: Any, *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


def _run_threadpool_inline() -> None:
    import fastapi.dependencies.utils
    import fastapi.routing

    fastapi.routing.run_in_threadpool = _inline  # type: ignore[assignment]
    fastapi.dependencies.utils.run_in_threadpool = _inline  # type: ignore[assignment]


class RoundTrips:
    """Counts what an engine sends the database: checkouts, statements, transactions."""

    def __init__(self, engine: sa.Engine) -> None:
        self.counts: Counter[str] = Counter()
        self.on = False
        pool = engine.pool
        event.listen(pool, "checkout", lambda *a: self._count("pool checkouts"))
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", lambda *a: self._count("COMMIT"))
        event.listen(engine, "rollback", lambda *a: self._count("ROLLBACK"))
        event.listen(engine, "begin", lambda *a: self._count("BEGIN"))

    def _count(self, what: str) -> None:
        if self.on:
            self.counts[what] += 1

    def _statement(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.on:
            self.counts["statements"] += 1
            self.counts["  " + " ".join(statement.split()[:3])[:48]] += 1


async def _send(
    app: Any,
    path: str,
    world: Any,
    count: int,
    profile: cProfile.Profile | None,
    trips: RoundTrips,
    headers: Any,
) -> tuple[float, float]:
    build = need_body(world)
    rng = random.Random(7)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        for n in range(20):  # warm-up: caches, pool, first queries
            await client.post(path, json=build(rng), headers=headers(n))
        trips.on = True
        response = await client.post(path, json=build(rng), headers=headers(20))
        assert response.status_code == 201, response.text
        trips.on = False
        started = time.perf_counter()
        cpu = time.process_time()
        if profile is not None:
            profile.enable()
        for n in range(count):
            response = await client.post(path, json=build(rng), headers=headers(n))
            assert response.status_code == 201, response.text
        if profile is not None:
            profile.disable()
        cpu = time.process_time() - cpu
        return time.perf_counter() - started, cpu


@contextlib.contextmanager
def _database(args: argparse.Namespace) -> Iterator[str]:
    if args.sqlite:
        with tempfile.TemporaryDirectory(prefix="poolbuy-profile-") as folder:
            yield f"sqlite:///{folder}/poolbuy.db"
    else:
        with scratch_database(args.server) as url:
            yield url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="cumulative", help="a pstats sort key: tottime, ...")
    parser.add_argument("--server", default=os.environ.get("LOAD_PG_URL", DEFAULT_SERVER))
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file, not --server")
    parser.add_argument("--target", choices=("poolbuy", "bare"), default="poolbuy")
    parser.add_argument("--no-profile", action="store_true", help="CPU and wall time only")
    parser.add_argument(
        "--timer",
        choices=("wall", "cpu"),
        default="wall",
        help="what cProfile counts: wall time (waits on the database included) or CPU time",
    )
    parser.add_argument("--save", metavar="FILE", help="also write the profile to FILE")
    args = parser.parse_args(argv)
    with _database(args) as url:
        world = seed(url)
        _run_threadpool_inline()
        if args.target == "bare":
            os.environ.update(
                {
                    "BARE_DATABASE_URL": url,
                    "BARE_AGENCY_ID": world.agency_id,
                    "BARE_USER_ID": str(world.user_id),
                }
            )
            from bench.load import bare_app

            app: Any = bare_app.app
            engine = bare_app.engine()
            path = f"/bare/rounds/{world.bare_round}/needs"

            def headers(n: int) -> dict[str, str]:
                return {}
        else:
            os.environ.update(
                {
                    "DATABASE_URL": url,
                    "POOLBUY_AUTO_MIGRATE": "false",
                    "POOLBUY_TOKEN_RATE_LIMIT": "0",
                }
            )
            from app.db import get_engine, get_session_factory
            from app.main import create_app
            from app.settings import get_settings

            # seed() read the settings before the environment named the scratch database.
            for cached in (get_settings, get_engine, get_session_factory):
                cached.cache_clear()
            app = create_app()
            engine = get_engine()
            path = f"/api/v1/rounds/{world.open_round}/needs"

            def headers(n: int) -> dict[str, str]:
                return {"Authorization": f"Bearer {world.tokens[n % len(world.tokens)]}"}

        trips = RoundTrips(engine)
        timer = time.process_time if args.timer == "cpu" else time.perf_counter
        profile = None if args.no_profile else cProfile.Profile(timer)
        seconds, cpu = asyncio.run(_send(app, path, world, args.requests, profile, trips, headers))
        engine.dispose()
    under = "" if args.no_profile else " (under cProfile)"
    backend = "SQLite" if args.sqlite else "PostgreSQL"
    print(f"{args.target} on {backend}, {args.requests} requests one after another{under}:")
    print(f"  CPU of this process: {cpu / args.requests * 1e3:.2f} ms a request")
    print(f"  wall: {seconds / args.requests * 1e3:.2f} ms a request, load {os.getloadavg()[0]}")
    print("  one request's round trips:")
    for what, n in sorted(trips.counts.items(), key=lambda kv: (kv[0].startswith(" "), kv[0])):
        print(f"    {what:<50} {n}")
    if profile is not None:
        pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)
        if args.save:
            profile.dump_stats(args.save)
    return 0


if __name__ == "__main__":
    sys.exit(main())
