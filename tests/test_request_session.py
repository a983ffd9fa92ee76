"""The request's session (``app.db.get_session``) as routes get it, not as tests override it.

Every other test binds ``get_session`` to its rolled-back session; these run the real
one against a database of their own: what is committed stays, what is not is rolled
back, the connection always goes back to the pool, and a request whose service
committed closes its session without a hop to the thread pool.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import sessionmaker
from sqlalchemy.orm.exc import StaleDataError

import app.db
from app.auth.models import Agency
from app.db import SessionDep
from app.errors import install_error_handlers


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch, isolated_engine: sa.Engine) -> list[str]:
    """The real ``get_session`` on ``isolated_engine``; the names of what it sent to the
    thread pool, in order."""
    factory = sessionmaker(bind=isolated_engine, expire_on_commit=False)
    monkeypatch.setattr(app.db, "get_session_factory", lambda: factory)
    sent: list[str] = []
    real = app.db.run_in_threadpool

    async def counting(func: Callable[..., Any], *args: Any) -> Any:
        sent.append(func.__name__)
        return await real(func, *args)

    monkeypatch.setattr(app.db, "run_in_threadpool", counting)
    return sent


@pytest.fixture
def client(hops: list[str]) -> Iterator[TestClient]:
    api = FastAPI()
    install_error_handlers(api)

    @api.post("/agencies/{code}")
    def add(code: str, session: SessionDep) -> dict[str, str]:
        session.add(Agency(id=code, name=f"Agency {code}"))
        session.commit()
        return {"id": code}

    @api.post("/agencies/{code}/stale")
    def add_then_lose_a_race(code: str, session: SessionDep) -> None:
        session.add(Agency(id=code, name=f"Agency {code}"))
        session.flush()
        raise StaleDataError("another request changed the row")

    @api.post("/agencies/{code}/fail")
    def add_then_fail(code: str, session: SessionDep) -> None:
        session.add(Agency(id=code, name=f"Agency {code}"))
        session.flush()
        raise RuntimeError("a bug after the write")

    @api.get("/agencies")
    def read(session: SessionDep) -> list[str]:
        return list(session.scalars(sa.select(Agency.id).order_by(Agency.id)))

    with TestClient(api, raise_server_exceptions=False) as test_client:
        yield test_client


def _stored(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(sa.select(Agency.id).order_by(Agency.id)))


def test_a_committed_write_stays_and_closes_its_session_on_the_loop(
    client: TestClient, hops: list[str], isolated_engine: sa.Engine
) -> None:
    assert client.post("/agencies/AAA").status_code == 200
    assert _stored(isolated_engine) == ["AAA"]
    assert hops == []  # nothing left to roll back or hand back: no hop
    assert isolated_engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_a_read_hands_its_open_transaction_back_through_the_thread_pool(
    client: TestClient, hops: list[str], isolated_engine: sa.Engine
) -> None:
    client.post("/agencies/AAA")
    hops.clear()
    answer = client.get("/agencies")
    assert answer.status_code == 200 and answer.json() == ["AAA"]
    assert hops == ["_close"]
    assert isolated_engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_a_lost_race_answers_412_and_writes_nothing(
    client: TestClient, hops: list[str], isolated_engine: sa.Engine
) -> None:
    answer = client.post("/agencies/BBB/stale")
    assert answer.status_code == 412
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "changed by someone else" in answer.json()["detail"]
    assert _stored(isolated_engine) == []
    assert hops == ["rollback"]
    assert isolated_engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def test_a_failure_after_a_write_rolls_it_back(
    client: TestClient, hops: list[str], isolated_engine: sa.Engine
) -> None:
    assert client.post("/agencies/CCC/fail").status_code == 500
    assert _stored(isolated_engine) == []
    assert hops == ["rollback"]
    assert isolated_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    # The next request on the same pool works as ever.
    assert client.post("/agencies/DDD").status_code == 200
    assert _stored(isolated_engine) == ["DDD"]
