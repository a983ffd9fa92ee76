"""Where the time of one ``POST /api/v1/rounds/{id}/needs`` goes, the whole request.

    .venv/bin/python -m bench.load.profile_post [--requests 400] [--top 40]
        [--server postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Seeds a scratch database as ``bench.load.run`` does, then sends the requests one after
another through the ASGI app in this process (every middleware, authentication, the
limiter, idempotency, the audit, the commit) under cProfile. The sync routes and
dependencies that FastAPI would hand to its thread pool run on the event loop's thread
here, so the profile sees them; the database is the real one. Prints the functions by
cumulative time. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import random
import sys
import time
from typing import Any

import httpx

from bench.load.run import DEFAULT_SERVER, need_body, scratch_database, seed


async def _inline(func: Any, *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


def _run_threadpool_inline() -> None:
    import fastapi.dependencies.utils
    import fastapi.routing

    fastapi.routing.run_in_threadpool = _inline  # type: ignore[assignment]
    fastapi.dependencies.utils.run_in_threadpool = _inline  # type: ignore[assignment]


async def _send(app: Any, world: Any, count: int, profile: cProfile.Profile) -> float:
    build = need_body(world)
    rng = random.Random(7)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        path = f"/api/v1/rounds/{world.open_round}/needs"
        for n in range(20):  # warm-up: caches, pool, first queries
            await client.post(path, json=build(rng), headers=_auth(world, n))
        started = time.perf_counter()
        cpu = time.process_time()
        profile.enable()
        for n in range(count):
            response = await client.post(path, json=build(rng), headers=_auth(world, n))
            assert response.status_code == 201, response.text
        profile.disable()
        cpu = time.process_time() - cpu
        print(f"this process's CPU: {cpu / count * 1e3:.2f} ms a request (under cProfile)")
        return time.perf_counter() - started


def _auth(world: Any, n: int) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[n % len(world.tokens)]}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="cumulative", help="a pstats sort key: tottime, ...")
    parser.add_argument("--server", default=os.environ.get("LOAD_PG_URL", DEFAULT_SERVER))
    args = parser.parse_args(argv)
    with scratch_database(args.server) as url:
        world = seed(url)
        os.environ.update(
            {"DATABASE_URL": url, "POOLBUY_AUTO_MIGRATE": "false", "POOLBUY_TOKEN_RATE_LIMIT": "0"}
        )
        _run_threadpool_inline()
        from app.db import get_engine, get_session_factory
        from app.main import create_app
        from app.settings import get_settings

        # seed() read the settings before the environment named the scratch database.
        for cached in (get_settings, get_engine, get_session_factory):
            cached.cache_clear()

        profile = cProfile.Profile()
        seconds = asyncio.run(_send(create_app(), world, args.requests, profile))
        get_engine().dispose()
    each = seconds / args.requests * 1e3
    print(f"{args.requests} requests in {seconds:.2f} s: {each:.2f} ms each")
    pstats.Stats(profile).sort_stats(args.sort).print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
