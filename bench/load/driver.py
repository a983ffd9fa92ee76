"""A small, bounded asyncio + httpx load driver.

Why not locust: on a 2-core machine the driver shares the CPU with the server
workers and PostgreSQL; locust's gevent runner and its stats machinery cost
more per request than one asyncio loop keeping N keep-alive connections busy,
and what is measured here is a ratio (poolbuy against a bare endpoint) that only
needs the SAME driver for both sides. httpx is already a dev dependency.

Closed loop: ``concurrency`` virtual users, each sending its next request when
the previous one answered, until ``duration`` seconds passed or ``max_requests``
were sent, whichever comes first. Every loop is bounded; only loopback addresses
are accepted.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

LOOPBACK = ("127.", "localhost", "[::1]", "::1")


@dataclass(frozen=True)
class Op:
    """One kind of request: a name for the report, its weight in the mix, how to build it."""

    name: str
    weight: float
    method: str
    path: Callable[[random.Random], str]
    body: Callable[[random.Random], Any] | None = None
    expect: int = 200


@dataclass
class OpStats:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


@dataclass
class Result:
    seconds: float
    ops: dict[str, OpStats]
    cpu_seconds: float  # this driver process's CPU time over the phase

    @property
    def total(self) -> int:
        return sum(len(s.latencies) for s in self.ops.values())

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "seconds": round(self.seconds, 2),
            "requests": self.total,
            "rps": round(self.total / self.seconds, 1),
            "errors": sum(s.errors for s in self.ops.values()),
            "driver_cpu_pct": round(100 * self.cpu_seconds / self.seconds, 1),
            **percentiles([x for s in self.ops.values() for x in s.latencies]),
            "ops": {},
        }
        for name, stats in self.ops.items():
            out["ops"][name] = {
                "requests": len(stats.latencies),
                "rps": round(len(stats.latencies) / self.seconds, 1),
                "errors": stats.errors,
                "statuses": dict(sorted(stats.statuses.items())),
                **percentiles(stats.latencies),
            }
        return out


def percentiles(latencies: list[float]) -> dict[str, float | None]:
    """p50/p95/p99 in milliseconds (nearest rank)."""
    if not latencies:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None}
    ordered = sorted(latencies)

    def rank(p: float) -> float:
        index = min(len(ordered) - 1, max(0, round(p * len(ordered)) - 1))
        return round(ordered[index] * 1000, 2)

    return {"p50_ms": rank(0.50), "p95_ms": rank(0.95), "p99_ms": rank(0.99)}


def _check_loopback(base_url: str) -> None:
    host = urlsplit(base_url).hostname or ""
    if not (host.startswith(LOOPBACK) or host in LOOPBACK):
        raise ValueError(f"load is only ever sent to loopback addresses, not {base_url}")


async def _user(
    client: httpx.AsyncClient,
    ops: list[Op],
    headers: dict[str, str],
    seed: int,
    deadline: float,
    budget: list[int],
    stats: dict[str, OpStats],
) -> None:
    rng = random.Random(seed)
    weights = [op.weight for op in ops]
    while time.perf_counter() < deadline and budget[0] > 0:
        budget[0] -= 1
        op = rng.choices(ops, weights)[0]
        kwargs: dict[str, Any] = {"headers": headers}
        if op.body is not None:
            kwargs["json"] = op.body(rng)
        started = time.perf_counter()
        try:
            response = await client.request(op.method, op.path(rng), **kwargs)
            status = response.status_code
        except httpx.HTTPError:
            status = 0
        elapsed = time.perf_counter() - started
        entry = stats[op.name]
        entry.latencies.append(elapsed)
        entry.statuses[status] = entry.statuses.get(status, 0) + 1
        if status != op.expect:
            entry.errors += 1


async def run_load(
    base_url: str,
    ops: list[Op],
    tokens: list[str],
    *,
    concurrency: int,
    duration: float,
    max_requests: int,
    seed: int = 1,
) -> Result:
    """Drive ``ops`` with ``concurrency`` users (user i uses ``tokens[i % len]``)."""
    _check_loopback(base_url)
    if not 0 < duration <= 600 or not 0 < max_requests <= 1_000_000:
        raise ValueError("a load phase lasts at most 10 minutes and a million requests")
    stats = {op.name: OpStats() for op in ops}
    budget = [max_requests]
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    timeout = httpx.Timeout(30.0)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as client:
        cpu0, started = time.process_time(), time.perf_counter()
        deadline = started + duration
        await asyncio.gather(
            *(
                _user(
                    client,
                    ops,
                    {"Authorization": f"Bearer {tokens[i % len(tokens)]}"} if tokens else {},
                    seed * 1000 + i,
                    deadline,
                    budget,
                    stats,
                )
                for i in range(concurrency)
            )
        )
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu0
    return Result(seconds, stats, cpu)
