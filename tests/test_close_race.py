"""Needs written from several threads while the round closes: nothing lost, nothing twice.

Every request goes through the HTTP API with a session (and connection) of
its own on a database of this test's own (``isolated_engine``: migrated,
really committed, dropped afterwards), so the close and the need writes race
for the round lock as they would in production. Afterwards:

* every need whose last acknowledged state is "submitted" is in the frozen
  snapshot exactly once, with its last acknowledged quantity;
* no draft or withdrawn need is in it, and no refused (409) create exists;
* once a writer got 409, every later write of that writer got 409 too.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.auth.models import Role
from app.db import get_session, serve_session
from app.jobs import service as jobs_service
from app.main import create_app
from app.needs.models import Need, NeedStatus
from app.rounds.models import Round, RoundStatus
from app.runs.models import Run, RunStatus
from tests.factories import (
    make_agency,
    make_item,
    make_location,
    make_offer,
    make_round,
    make_route,
    make_supplier,
    make_user_and_token,
)

pytestmark = pytest.mark.integration

WRITERS_PER_AGENCY = 2
AGENCIES = 3
# The close starts once this many writes were acknowledged, so it lands mid-stream.
ACKS_BEFORE_CLOSE = 30
# A writer stops after this many refusals in a row (the round is closed for good).
REFUSALS_TO_STOP = 3
DEADLINE_SECONDS = 120
# How long the solve may take once the close answered: generous, for a busy machine (the
# close waits for it only up to the service's wait; the assertions need it finished).
SOLVE_SECONDS = 600


@dataclass
class Setup:
    round_id: int
    item: str
    location: str
    coordinator_token: str
    writer_tokens: list[tuple[str, str]]  # (agency, token)


@dataclass
class Log:
    """What one writer was told: the state of each of its needs as last acknowledged."""

    agency: str
    state: dict[int, tuple[NeedStatus, int]] = field(default_factory=dict)
    created: set[int] = field(default_factory=set)
    acks: int = 0
    refusals: int = 0
    refused_then_acked: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


def _seed(engine: sa.Engine) -> Setup:
    with Session(engine, expire_on_commit=False) as session:
        item, location, supplier = (
            make_item(session),
            make_location(session),
            make_supplier(session),
        )
        make_offer(
            session,
            supplier=supplier,
            item=item,
            tiers=[(0, "2.00"), (5000, "1.50")],
            capacity=1_000_000,
        )
        make_route(session, supplier=supplier, location=location)
        coordinator, coordinator_token = make_user_and_token(session, Role.coordinator)
        round_ = make_round(session, created_by=coordinator)
        round_.as_of = dt.date.today()
        writers = []
        for _ in range(AGENCIES):
            agency = make_agency(session)
            for _ in range(WRITERS_PER_AGENCY):
                _, token = make_user_and_token(session, Role.local_team, agency=agency)
                writers.append((agency.id, token))
        session.commit()
        return Setup(round_.id, item.id, location.id, coordinator_token, writers)


@pytest.fixture
def race_app(isolated_engine: sa.Engine) -> Iterator[FastAPI]:
    app = create_app()
    factory = sessionmaker(bind=isolated_engine, expire_on_commit=False)

    def _session() -> Iterator[Session]:
        # A session, and so a connection, per request: as in production.
        with factory() as session:
            yield from serve_session(session)

    app.dependency_overrides[get_session] = _session
    yield app
    app.dependency_overrides.clear()


def _writer(
    app: FastAPI,
    setup: Setup,
    token: str,
    seed: int,
    log: Log,
    enough: threading.Event,
    counter: Counter[str],
    counter_lock: threading.Lock,
) -> None:
    try:
        _write_until_refused(app, setup, token, seed, log, enough, counter, counter_lock)
    except Exception as exc:  # a dead thread must fail the test, not vanish
        log.unexpected.append(f"{type(exc).__name__}: {exc}")


def _write_until_refused(
    app: FastAPI,
    setup: Setup,
    token: str,
    seed: int,
    log: Log,
    enough: threading.Event,
    counter: Counter[str],
    counter_lock: threading.Lock,
) -> None:
    # A server error comes back as a 500 to be reported, not raised in this thread.
    client = TestClient(app, raise_server_exceptions=False)
    headers = {"Authorization": f"Bearer {token}", "If-Match": "*"}
    rng = random.Random(seed)
    need_by = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    in_a_row = 0
    started = time.monotonic()

    while in_a_row < REFUSALS_TO_STOP and time.monotonic() - started < DEADLINE_SECONDS:
        live = [n for n, (s, _) in log.state.items() if s != NeedStatus.withdrawn]
        drafts = [n for n, (s, _) in log.state.items() if s == NeedStatus.draft]
        roll = rng.random()
        quantity = rng.randint(1, 500)
        op: str
        if roll < 0.45 or not live:
            submit = roll < 0.35 or not live
            op = "create"
            response = client.post(
                f"/api/v1/rounds/{setup.round_id}/needs",
                json={
                    "item_id": setup.item,
                    "location_id": setup.location,
                    "quantity": quantity,
                    "need_by": need_by,
                    "priority": "normal",
                    "submit": submit,
                },
                headers=headers,
            )
        elif roll < 0.75:
            op, need_id = "edit", rng.choice(live)
            response = client.patch(
                f"/api/v1/needs/{need_id}", json={"quantity": quantity}, headers=headers
            )
        elif roll < 0.88 and drafts:
            op, need_id = "submit", rng.choice(drafts)
            response = client.post(f"/api/v1/needs/{need_id}/submit", headers=headers)
        else:
            op, need_id = "withdraw", rng.choice(live)
            response = client.post(f"/api/v1/needs/{need_id}/withdraw", headers=headers)

        if response.status_code == 409:
            in_a_row += 1
            log.refusals += 1
            continue
        if response.status_code not in (200, 201):
            log.unexpected.append(f"{op}: {response.status_code} {response.text}")
            return
        if log.refusals:
            log.refused_then_acked.append(f"{op} acknowledged after a 409")
        in_a_row = 0
        body = response.json()
        status = NeedStatus(body["status"])
        if op == "create":
            log.created.add(body["id"])
        log.state[body["id"]] = (status, body["quantity"])
        log.acks += 1
        with counter_lock:
            counter["acks"] += 1
            if counter["acks"] >= ACKS_BEFORE_CLOSE:
                enough.set()


def test_every_need_is_in_the_snapshot_exactly_once_or_refused(
    isolated_engine: sa.Engine, race_app: FastAPI
) -> None:
    setup = _seed(isolated_engine)
    enough = threading.Event()
    counter: Counter[str] = Counter()
    counter_lock = threading.Lock()
    logs = [Log(agency) for agency, _ in setup.writer_tokens]
    threads = [
        threading.Thread(
            target=_writer,
            args=(race_app, setup, token, seed, log, enough, counter, counter_lock),
        )
        for seed, ((_, token), log) in enumerate(zip(setup.writer_tokens, logs, strict=True))
    ]
    close_response: dict[str, Any] = {}

    def closer() -> None:
        enough.wait(DEADLINE_SECONDS)
        response = TestClient(race_app, raise_server_exceptions=False).post(
            f"/api/v1/rounds/{setup.round_id}/close",
            headers={"Authorization": f"Bearer {setup.coordinator_token}"},
        )
        close_response.update(status=response.status_code, body=response.json())

    closing = threading.Thread(target=closer)
    for thread in [*threads, closing]:
        thread.start()
    for thread in [*threads, closing]:
        thread.join(DEADLINE_SECONDS + 60)
        assert not thread.is_alive(), "a thread is stuck"

    assert close_response["status"] == 201, close_response
    # The run's job ends when it ends: wait for that, not for a clock.
    job_id = close_response["body"]["job"]["id"]
    with Session(isolated_engine) as session:
        assert jobs_service.wait(session, [job_id], SOLVE_SECONDS), "the solve did not finish"
    for log in logs:
        assert not log.unexpected, log.unexpected
        assert not log.refused_then_acked, log.refused_then_acked
        assert log.refusals >= REFUSALS_TO_STOP  # every writer ran into the close
    assert sum(log.acks for log in logs) >= ACKS_BEFORE_CLOSE

    with Session(isolated_engine) as session:
        round_ = session.get_one(Round, setup.round_id)
        assert round_.status == RoundStatus.optimised
        run = session.scalars(sa.select(Run).where(Run.round_id == setup.round_id)).one()
        assert run.number == 1 and run.status == RunStatus.succeeded
        db_needs = {
            n.id: n for n in session.scalars(sa.select(Need).where(Need.round_id == setup.round_id))
        }

    frozen = Counter(n["id"] for n in run.problem["needs"])
    assert all(count == 1 for count in frozen.values()), "a need is in the snapshot twice"
    frozen_quantity = {n["id"]: n["quantity"] for n in run.problem["needs"]}

    acknowledged: dict[int, tuple[NeedStatus, int]] = {}
    for log in logs:
        for need_id, state in log.state.items():
            # Two writers of one agency may both touch a need only if one created it;
            # here each writes only the needs it created, so states never interleave.
            assert need_id not in acknowledged
            acknowledged[need_id] = state
    # No refused create exists; every acknowledged one does.
    assert set(db_needs) == set().union(*(log.created for log in logs))
    expected = {
        f"n-{need_id}": quantity
        for need_id, (status, quantity) in acknowledged.items()
        if status == NeedStatus.submitted
    }
    assert frozen_quantity == expected
    # The database agrees with what the writers were told: no refused write landed.
    for need_id, (status, quantity) in acknowledged.items():
        assert (db_needs[need_id].status, db_needs[need_id].quantity) == (status, quantity)
    assert expected, "no submitted need made it before the close: the race was not exercised"
