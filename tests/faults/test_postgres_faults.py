"""PostgreSQL goes away under the service: during submissions and during a run.

The app reaches PostgreSQL through a TCP proxy on a random loopback port
(``tests.faults.proxy``) that the test takes down (every connection reset, new ones
refused) and brings back; the machine's PostgreSQL, which other tests use, is never
touched. What must hold:

* while the database is away, the API answers 503 problem details with Retry-After,
  never a 500 or a traceback;
* when it is back, the service recovers by itself (the pool's pre-ping replaces dead
  connections): the first request after succeeds, with no restart;
* no acknowledged submission is lost, and a client retrying with its Idempotency-Key
  gets each need created exactly once, whatever the cut interrupted;
* a run whose database vanishes between solving and storing shows no plan (and no
  optimised round) until the whole result is stored, which the worker does by itself
  once the database is back.

Needs PostgreSQL over TCP (``TEST_DATABASE_URL``); skipped on SQLite, whose faults are
in ``test_sqlite_faults.py``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from app.audit.service import verify_chain
from app.auth.models import Role, User
from app.db import get_session, make_engine, open_session, upgrade_database
from app.errors import PROBLEM_JSON
from app.needs.models import Need
from app.rounds.models import Round, RoundStatus
from app.runs.models import Run, RunStatus
from tests.conftest import DatabaseFactory
from tests.factories import make_agency, make_item, make_location, make_round, make_user_and_token
from tests.faults.proxy import TcpProxy

pytestmark = pytest.mark.integration


# ------------------------------------------------------------------ the setup


@pytest.fixture
def pg_url(database_factory: DatabaseFactory) -> str:
    if database_factory.backend != "postgresql":
        pytest.skip(
            "cutting the database connection needs PostgreSQL over TCP: run with "
            "TEST_DATABASE_URL=postgresql+psycopg://...; SQLite faults are in test_sqlite_faults.py"
        )
    url = database_factory.create()
    upgrade_database(url)
    return url


@pytest.fixture
def direct(pg_url: str) -> Iterator[sa.Engine]:
    """A connection that does NOT go through the proxy: the test's view of what was stored."""
    engine = make_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def proxy(pg_url: str) -> Iterator[TcpProxy]:
    parsed = make_url(pg_url)
    proxy = TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432).start()
    yield proxy
    proxy.close()


@pytest.fixture
def through_proxy(pg_url: str, proxy: TcpProxy) -> Iterator[sa.Engine]:
    """The service's engine (``app.db.make_engine``: pre-ping on) with the proxy in between."""
    url = make_url(pg_url).set(host="127.0.0.1", port=proxy.port)
    # A refused connection fails at once; connect_timeout only bounds a stalled one.
    engine = make_engine(
        url.render_as_string(hide_password=False), connect_args={"connect_timeout": 3}
    )
    yield engine
    engine.dispose()


@pytest.fixture
def app(through_proxy: sa.Engine) -> FastAPI:
    from app.main import create_app

    factory = sessionmaker(bind=through_proxy, expire_on_commit=False)

    def session_through_proxy() -> Iterator[Session]:
        # app.db.get_session, with this engine instead of the settings' one.
        yield from open_session(factory)

    application = create_app()
    application.dependency_overrides[get_session] = session_through_proxy
    return application


@dataclass
class World:
    round_id: int
    token: str
    item_id: str
    location_id: str


@pytest.fixture
def world(direct: sa.Engine) -> World:
    with Session(direct, expire_on_commit=False) as session:
        agency = make_agency(session)
        _, token = make_user_and_token(session, Role.local_team, agency=agency)
        item, location = make_item(session), make_location(session)
        round_ = make_round(session)
        session.commit()
        return World(round_.id, token, item.id, location.id)


def need_body(world: World, quantity: int, marker: str = "") -> dict[str, Any]:
    return {
        "item_id": world.item_id,
        "location_id": world.location_id,
        "quantity": quantity,
        "need_by": "2099-12-20",
        "priority": "normal",
        "justification": marker,
        "submit": True,
    }


def assert_503_problem(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert body["status"] == 503 and body["title"] == "Service unavailable"
    assert "unavailable" in body["detail"]
    assert response.headers["Retry-After"]
    # The driver's own words (hosts, ports, users) stay in the log.
    assert "psycopg" not in response.text and "127.0.0.1" not in response.text
    assert "Traceback" not in response.text


def headers(token: str, key: str | None = None) -> dict[str, str]:
    out = {"Authorization": f"Bearer {token}"}
    if key is not None:
        out["Idempotency-Key"] = key
    return out


def stored_needs(direct: sa.Engine, round_id: int) -> dict[int, tuple[int, str]]:
    with direct.connect() as conn:
        rows = conn.execute(
            sa.select(Need.id, Need.quantity, Need.justification).where(Need.round_id == round_id)
        )
        return {r.id: (r.quantity, r.justification) for r in rows}


# ------------------------------------------------------------------ submissions


def test_503_while_the_database_is_down_and_recovery_by_itself_when_it_is_back(
    app: FastAPI, proxy: TcpProxy, world: World, direct: sa.Engine
) -> None:
    client = TestClient(app)
    url = f"/api/v1/rounds/{world.round_id}/needs"
    acknowledged = []
    for quantity in (10, 20, 30):
        response = client.post(url, json=need_body(world, quantity), headers=headers(world.token))
        assert response.status_code == 201, response.text
        acknowledged.append(response.json()["id"])
    assert proxy.live_connections >= 1  # the pool holds a connection the cut will kill

    proxy.down()
    assert_503_problem(client.post(url, json=need_body(world, 40), headers=headers(world.token)))
    assert_503_problem(client.get(f"/api/v1/rounds/{world.round_id}", headers=headers(world.token)))
    assert_503_problem(client.get(url, headers=headers(world.token)))
    # Liveness does not need the database: the process is alive, only its database is not.
    assert client.get("/healthz").status_code == 200

    proxy.up()
    # The very first request after succeeds: no restart, no error while the pool heals.
    response = client.post(url, json=need_body(world, 50), headers=headers(world.token))
    assert response.status_code == 201, response.text
    acknowledged.append(response.json()["id"])
    assert client.get(url, headers=headers(world.token)).json()["total"] == 4

    stored = stored_needs(direct, world.round_id)
    assert sorted(stored) == sorted(acknowledged)
    assert sorted(q for q, _ in stored.values()) == [10, 20, 30, 50]


def test_a_server_restart_between_requests_is_invisible_to_clients(
    app: FastAPI, proxy: TcpProxy, world: World
) -> None:
    """Every pooled connection dies (as when PostgreSQL restarts) while nobody is asking:
    the next request gets a fresh one from pre-ping, and never sees the dead ones."""
    client = TestClient(app)
    url = f"/api/v1/rounds/{world.round_id}/needs"
    for _ in range(3):
        assert client.get(url, headers=headers(world.token)).status_code == 200
        proxy.down()
        proxy.up()
        response = client.post(url, json=need_body(world, 5), headers=headers(world.token))
        assert response.status_code == 201, response.text


def test_no_acknowledged_submission_is_lost_when_connections_are_cut_mid_flight(
    app: FastAPI, proxy: TcpProxy, world: World, direct: sa.Engine
) -> None:
    """Officers keep submitting from several threads while the database drops out three
    times. Each retries a refused submission with the same Idempotency-Key, as the 503's
    Retry-After invites. In the end every submission is in the database exactly once,
    including those whose commit went through but whose answer was cut."""
    url = f"/api/v1/rounds/{world.round_id}/needs"
    threads, per_thread = 4, 20
    deadline = time.monotonic() + 90
    statuses: list[int] = []
    acknowledged: dict[str, int] = {}
    lock = threading.Lock()
    failures: list[BaseException] = []

    def officer(n: int) -> None:
        client = TestClient(app)
        try:
            for i in range(per_thread):
                key = f"officer-{n}-need-{i}-{uuid.uuid4().hex[:6]}"
                body = need_body(world, 1000 * n + i + 1, marker=key)
                while time.monotonic() < deadline:
                    response = client.post(url, json=body, headers=headers(world.token, key))
                    with lock:
                        statuses.append(response.status_code)
                    if response.status_code == 201:
                        with lock:
                            acknowledged[key] = response.json()["id"]
                        break
                    assert response.status_code == 503, response.text
                    assert_503_problem(response)
                    time.sleep(0.05)
                time.sleep(0.01)
        except BaseException as exc:  # reported below, never lost with the thread
            failures.append(exc)

    workers = [threading.Thread(target=officer, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for _ in range(3):
        time.sleep(0.4)
        proxy.down()
        time.sleep(0.4)
        proxy.up()
    for worker in workers:
        worker.join(timeout=120)
    assert not failures, failures
    assert 503 in statuses, "the cuts never hit a request; the test proved nothing"
    assert set(statuses) <= {201, 503}

    assert len(acknowledged) == threads * per_thread
    stored = stored_needs(direct, world.round_id)
    # Exactly once: every acknowledged id is there with its own body, nothing else is.
    assert sorted(stored) == sorted(acknowledged.values())
    for key, need_id in acknowledged.items():
        assert stored[need_id][1] == key
    with Session(direct) as session:
        report = verify_chain(session)
        assert report.ok and report.entries_checked == report.head_seq


# ------------------------------------------------------------------ a run


def test_a_run_cut_off_before_storing_shows_no_half_written_plan_and_completes_when_back(
    app: FastAPI,
    proxy: TcpProxy,
    through_proxy: sa.Engine,
    direct: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.demo.loader import load_demo
    from app.jobs import runner
    from app.rounds import flows
    from app.rounds.service import lock_round
    from app.runs import jobs as run_jobs
    from app.settings import get_settings

    settings = get_settings().model_copy(
        update={"jobs_heartbeat_seconds": 0.2, "jobs_lease_seconds": 30.0}
    )
    with Session(direct, expire_on_commit=False) as session:
        demo = load_demo(session)
        session.commit()
        coordinator = session.scalars(
            sa.select(User).where(User.email == "coordinator@demo.poolbuy.org")
        ).one()
        run, job = flows.freeze_round(
            session, coordinator, lock_round(session, demo.round_id), settings
        )
        session.commit()
        run_id, job_id, round_id = run.id, job.id, demo.round_id
    _, token = _coordinator_token(direct)

    solved = threading.Event()
    plans: list[dict[str, Any]] = []
    real_solve = run_jobs.solve_problem

    def solve_then_lose_the_database(*args: Any, **kwargs: Any) -> dict[str, Any]:
        plan = real_solve(*args, **kwargs)
        plans.append(plan)
        proxy.down()  # the plan is in the worker's hands; the database is gone
        solved.set()
        return plan

    monkeypatch.setattr(run_jobs, "solve_problem", solve_then_lose_the_database)
    outcome: list[str] = []
    factory = sessionmaker(bind=through_proxy, expire_on_commit=False)
    worker = threading.Thread(
        target=lambda: outcome.append(
            runner.run_job(job_id, factory=factory, settings=settings, worker="fault-test")
        )
    )
    worker.start()
    assert solved.wait(timeout=120), "the solve never finished"
    time.sleep(2.0)  # the worker has tried (and failed) to store the plan meanwhile

    # Nothing half-written: no plan, the run still running, the round not optimised.
    with direct.connect() as conn:
        stored = conn.execute(
            sa.select(Run.status, Run.plan, Run.plan_status).where(Run.id == run_id)
        ).one()
        round_status = conn.execute(sa.select(Round.status).where(Round.id == round_id)).scalar()
    assert stored.plan is None and stored.plan_status is None
    assert stored.status == RunStatus.running
    assert round_status == RoundStatus.closed
    client = TestClient(app)
    assert_503_problem(client.get(f"/api/v1/runs/{run_id}", headers=headers(token)))

    proxy.up()
    worker.join(timeout=120)
    assert outcome == ["succeeded"]

    # The whole result at once, the very plan the solver gave, visible through the API.
    with direct.connect() as conn:
        stored = conn.execute(sa.select(Run.status, Run.plan).where(Run.id == run_id)).one()
        round_status = conn.execute(sa.select(Round.status).where(Round.id == round_id)).scalar()
    assert stored.status == RunStatus.succeeded and stored.plan == plans[0]
    assert round_status == RoundStatus.optimised
    response = client.get(f"/api/v1/runs/{run_id}", headers=headers(token))
    assert response.status_code == 200 and response.json()["status"] == "succeeded"
    with Session(direct) as session:
        assert verify_chain(session).ok


def _coordinator_token(direct: sa.Engine) -> tuple[User, str]:
    from app.auth import service as auth_service

    with Session(direct, expire_on_commit=False) as session:
        coordinator = session.scalars(
            sa.select(User).where(User.email == "coordinator@demo.poolbuy.org")
        ).one()
        _, plain = auth_service.create_token(session, None, coordinator, "faults", 1)
        return coordinator, plain
