"""The cap on requests in flight (``app.middleware.RequestSlots``).

Without it a burst of more requests than the pool's connections and FastAPI's threads
together locked the service up until the pool's timeout failed them all: a request that
authenticated held its connection while it waited for a thread, and every thread waited
for a connection. These tests wait on events, not on the clock, except the one about the
wait's own time limit.
"""

import asyncio
from pathlib import Path
from typing import Annotated, Any

import anyio.to_thread
import httpx
import sqlalchemy as sa
from fastapi import Depends, FastAPI
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import Receive, Scope, Send

from app.db import make_engine
from app.main import create_app
from app.middleware import RequestSlots
from app.settings import Settings


class _Held:
    """An ASGI app that counts the requests inside it and holds each until released."""

    def __init__(self, full_at: int) -> None:
        self.inside = 0
        self.peak = 0
        self.served = 0
        self.full_at = full_at
        self.full = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.inside += 1
        self.peak = max(self.peak, self.inside)
        if self.inside == self.full_at:
            self.full.set()
        await self.release.wait()
        self.inside -= 1
        self.served += 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


def test_requests_beyond_the_slots_wait_their_turn_and_are_all_served() -> None:
    async def scenario() -> None:
        held = _Held(full_at=2)
        async with _client(RequestSlots(held, slots=2, wait_seconds=60)) as client:
            sent = [asyncio.create_task(client.get(f"/{n}")) for n in range(5)]
            await held.full.wait()
            for _ in range(20):  # every other request gets as far as it can
                await asyncio.sleep(0)
            assert held.inside == 2 and held.served == 0
            held.release.set()
            answers = await asyncio.gather(*sent)
        assert [a.status_code for a in answers] == [200] * 5
        assert held.peak == 2 and held.served == 5

    asyncio.run(scenario())


def test_a_request_that_waits_too_long_for_a_slot_answers_503_and_frees_nothing() -> None:
    async def scenario() -> None:
        held = _Held(full_at=1)
        async with _client(RequestSlots(held, slots=1, wait_seconds=0.05)) as client:
            first = asyncio.create_task(client.post("/needs"))
            await held.full.wait()
            refused = await client.post("/needs")
            assert held.inside == 1  # the refused one never reached the app
            held.release.set()
            assert (await first).status_code == 200
            # The slot the 503 never took is free for the next request.
            assert (await client.get("/again")).status_code == 200
        assert refused.status_code == 503
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.headers["retry-after"]
        problem = refused.json()
        assert problem["status"] == 503 and problem["instance"] == "/needs"
        assert "1 request slots stayed busy for 0.05 s" in problem["detail"]

    asyncio.run(scenario())


def test_a_burst_beyond_connections_and_threads_is_served_not_locked_up(tmp_path: Path) -> None:
    """The shape of every authenticated route: a sync dependency reads through the
    request's session (its connection stays checked out, the transaction open), then the
    sync route uses the same session, each in its own hop to the thread pool. One
    connection, one thread, eight requests at once: without the slots the second request's
    dependency takes the only thread and waits for the only connection, which the first
    request holds while it waits for that thread."""
    engine = make_engine(f"sqlite:///{tmp_path / 'slots.db'}", pool_size=1, max_overflow=0)
    engine.pool._timeout = 5  # type: ignore[attr-defined]  # a lock-up fails the test soon
    factory = sessionmaker(bind=engine)

    def session() -> Any:
        with factory() as s:
            yield s

    def who(s: Annotated[Session, Depends(session)]) -> int:
        return int(s.execute(sa.text("SELECT 1")).scalar_one())

    api = FastAPI()

    @api.get("/work")
    def work(s: Annotated[Session, Depends(session)], user: Annotated[int, Depends(who)]) -> int:
        return int(s.execute(sa.text("SELECT 2")).scalar_one()) + user

    async def scenario() -> list[httpx.Response]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = 1
        async with _client(RequestSlots(api, slots=1, wait_seconds=60)) as client:
            return await asyncio.gather(*(client.get("/work") for _ in range(8)))

    try:
        answers = asyncio.run(scenario())
    finally:
        engine.dispose()
    assert [(a.status_code, a.json()) for a in answers] == [(200, 3)] * 8


def test_a_slot_is_handed_on_when_the_answer_starts() -> None:
    """A slow client reading its answer holds no slot: the next request is let in."""

    async def scenario() -> None:
        reading = asyncio.Event()
        done_reading = asyncio.Event()

        async def slow_answer(scope: Scope, receive: Receive, send: Send) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            if scope["path"] == "/slow":
                reading.set()
                await done_reading.wait()
            await send({"type": "http.response.body", "body": b"ok"})

        async with _client(RequestSlots(slow_answer, slots=1, wait_seconds=60)) as client:
            slow = asyncio.create_task(client.get("/slow"))
            await reading.wait()
            assert (await client.get("/next")).status_code == 200
            done_reading.set()
            assert (await slow).status_code == 200

    asyncio.run(scenario())


def test_an_exempt_path_passes_while_every_slot_is_busy() -> None:
    async def scenario() -> None:
        held = _Held(full_at=1)
        slots = RequestSlots(held, slots=1, wait_seconds=60, exempt_paths=["/solve"])
        async with _client(slots) as client:
            first = asyncio.create_task(client.get("/needs"))
            await held.full.wait()
            exempt = asyncio.create_task(client.post("/solve"))
            for _ in range(1000):  # until it reaches the app beside the one holding the slot
                if held.inside == 2:
                    break
                await asyncio.sleep(0)
            assert held.inside == 2
            held.release.set()
            assert [(await first).status_code, (await exempt).status_code] == [200, 200]

    asyncio.run(scenario())


def test_the_service_has_as_many_slots_as_its_pool_has_connections_beyond_the_overflow() -> None:
    settings = Settings(db_pool_size=7, db_max_overflow=3, request_slot_wait_seconds=12)
    app = create_app(settings)
    slots = [m for m in app.user_middleware if m.cls is RequestSlots]
    assert len(slots) == 1
    assert slots[0].kwargs == {
        "slots": 7,
        "wait_seconds": 12,
        "exempt_paths": ("/healthz", "/api/v1/solve"),
    }
