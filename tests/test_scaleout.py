"""The scale-out mode for real: RabbitMQ, two ``poolbuy worker`` processes, one PostgreSQL.

Each test starts two workers as subprocesses on a queue of its own (so parallel
runs never take each other's messages), on a PostgreSQL database of its own
(``isolated_engine``), and stops them and deletes the queue at the end. Every
wait is bounded.

* a scheduled round closes at its deadline and its run is solved, with no
  request at all (and a deadline already missed when the workers start is
  caught up);
* a worker is killed (SIGKILL) in the middle of a solve: RabbitMQ delivers the
  message again, the other worker takes the job over once the dead one's lease
  ran out, and the job completes exactly once;
* ten scenario jobs, queued through the API in broker mode, are spread over
  both workers.

On SQLite these tests are skipped: workers on several machines share one
PostgreSQL (SQLite is the embedded mode's database, tested in test_jobs*).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.audit.models import AuditEntry
from app.auth.models import Role, User
from app.db import get_session, serve_session
from app.jobs import backends
from app.jobs.models import FINISHED, Job, JobKind, JobState
from app.main import create_app
from app.rounds.models import Round, RoundStatus, ScheduleFiring
from app.runs.models import Run, RunStatus
from app.settings import Settings
from solver.examples import generate_problem
from tests.factories import make_round, make_token, make_user_and_token
from tests.test_runs import build_world

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.slow]

BROKER_URL = os.environ.get("POOLBUY_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
LEASE_SECONDS = 3.0
HEARTBEAT_SECONDS = 0.3
WORKER_START_SECONDS = 60
JOB_SECONDS = 120
# A test that kills no worker takes a long lease: a heartbeat starved on a busy machine
# must not hand a live worker's job to the other (the takeover test takes a short one).
CALM_LEASE_SECONDS = 120.0
# Waiting on a job's completion: bounded generously, for a busy machine.
SOLVE_SECONDS = 600


def _broker_reachable() -> bool:
    import pika

    try:
        connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
    except Exception:
        return False
    connection.close()
    return True


@pytest.fixture
def pg_engine(isolated_engine: sa.Engine) -> sa.Engine:
    if isolated_engine.dialect.name != "postgresql":
        pytest.skip(
            "scale-out workers share one PostgreSQL; run with TEST_DATABASE_URL=postgresql+... "
            "(SQLite is the embedded mode, tested in test_jobs*)"
        )
    if not _broker_reachable():
        message = f"RabbitMQ is not reachable at {BROKER_URL} (.ci/services starts it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return isolated_engine


@dataclass
class Worker:
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class Cluster:
    engine: sa.Engine
    queue: str
    workers: list[Worker] = field(default_factory=list)
    lease_seconds: float = LEASE_SECONDS

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=False)

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DATABASE_URL": self.url,
            "POOLBUY_JOBS_BACKEND": "broker",
            "POOLBUY_BROKER_URL": BROKER_URL,
            "POOLBUY_JOBS_QUEUE": self.queue,
            "POOLBUY_JOBS_LEASE_SECONDS": str(self.lease_seconds),
            "POOLBUY_JOBS_HEARTBEAT_SECONDS": str(HEARTBEAT_SECONDS),
            "POOLBUY_JOBS_SCHEDULER_INTERVAL_SECONDS": "0.5",
            # Two workers and the test share the machine's cores.
            "POOLBUY_SOLVER_WORKERS": "1",
            "PYTHONUNBUFFERED": "1",
        }

    def settings(self) -> Settings:
        return Settings(
            database_url=self.url,
            jobs_backend="broker",
            broker_url=BROKER_URL,
            jobs_queue=self.queue,
            jobs_scheduler=False,
        )

    def start(self, count: int = 2) -> list[Worker]:
        script = Path(sys.executable).parent / "poolbuy"
        started = []
        for _ in range(count):
            process = subprocess.Popen(
                [str(script), "worker"],
                env=self.env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            worker = Worker(process)
            threading.Thread(target=_collect, args=(worker,), daemon=True).start()
            started.append(worker)
        self.workers += started
        deadline = time.monotonic() + WORKER_START_SECONDS
        for worker in started:
            while not any("poolbuy worker ready" in line for line in worker.lines):
                if worker.process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("a worker did not start:\n" + "".join(worker.lines))
                time.sleep(0.1)
        return started

    def stop(self) -> None:
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()

    def logs(self) -> str:
        return "\n".join(f"--- worker {w.pid}\n{''.join(w.lines[-60:])}" for w in self.workers)


def _collect(worker: Worker) -> None:
    assert worker.process.stdout is not None
    for line in iter(worker.process.stdout.readline, ""):
        worker.lines.append(line)


def _delete_queues(queue: str) -> None:
    import pika

    try:
        connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
    except Exception:
        return
    try:
        channel = connection.channel()
        for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
            channel.queue_delete(queue=name)
    finally:
        connection.close()


@pytest.fixture
def cluster(pg_engine: sa.Engine) -> Iterator[Cluster]:
    queue = f"poolbuy-test-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    made = Cluster(pg_engine, queue)
    try:
        yield made
    finally:
        made.stop()
        backends.close_all()
        _delete_queues(queue)


def _wait_for(
    what: str, check: Callable[[], bool], cluster: Cluster, timeout: float = JOB_SECONDS
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}\n{cluster.logs()}")
        time.sleep(0.2)


def _pid_of(job: Job) -> int:
    matched = re.match(r"^[^:]+:(\d+):", job.worker or "")
    assert matched, job.worker
    return int(matched.group(1))


def _count(session: Session, action: str, entity_type: str, entity_id: int) -> int:
    return int(
        session.scalar(
            sa.select(sa.func.count()).where(
                AuditEntry.action == action,
                AuditEntry.entity_type == entity_type,
                AuditEntry.entity_id == str(entity_id),
            )
        )
        or 0
    )


def _closed_round_with_run(session: Session, *, size: str, seed: int) -> tuple[User, Run]:
    coordinator, _ = make_user_and_token(session, Role.coordinator)
    round_ = make_round(session, created_by=coordinator, status=RoundStatus.closed)
    run = Run(
        round_id=round_.id,
        number=1,
        problem=generate_problem(size=size, seed=seed),
        triggered_by_id=coordinator.id,
        progress={"state": "queued"},
    )
    session.add(run)
    session.flush()
    return coordinator, run


# --------------------------------------------------------------------------- tests


def test_a_scheduled_round_closes_and_is_solved_without_any_request(cluster: Cluster) -> None:
    factory = sessionmaker(bind=cluster.engine, expire_on_commit=False)
    now = dt.datetime.now(dt.UTC)
    with factory() as session:
        world = build_world(session)
        # Recurring every ten minutes, Panama time; its deadline comes once the workers run.
        world.round.schedule_timezone = "America/Panama"
        world.round.schedule_cron = "*/10 * * * *"
        world.round.deadline = now + dt.timedelta(seconds=4)
        # A one-off scheduled round whose deadline passed while nothing ran: caught up.
        missed = make_round(
            session,
            created_by=world.users["coordinator"],
            deadline=now - dt.timedelta(hours=3),
        )
        missed.schedule_timezone = "America/Panama"
        session.commit()
        round_id, missed_id = world.round.id, missed.id

    cluster.lease_seconds = CALM_LEASE_SECONDS
    cluster.start(2)

    def solved(rid: int) -> Callable[[], bool]:
        """The round's run's job has ended: its completion, not a clock, ends the wait."""

        def check() -> bool:
            with factory() as session:
                job = session.scalar(
                    sa.select(Job)
                    .join(Run, Job.run_id == Run.id)
                    .where(Run.round_id == rid, Job.kind == JobKind.run)
                )
                return job is not None and job.state in FINISHED

        return check

    _wait_for("the missed round to be caught up", solved(missed_id), cluster, SOLVE_SECONDS)
    _wait_for(
        "the scheduled round to close and be solved", solved(round_id), cluster, SOLVE_SECONDS
    )

    with factory() as session:
        round_ = session.get_one(Round, round_id)
        assert round_.status == RoundStatus.optimised and round_.closed_at is not None
        assert round_.closed_at >= round_.deadline
        runs = session.scalars(sa.select(Run).where(Run.round_id == round_id)).all()
        assert len(runs) == 1 and runs[0].status == RunStatus.succeeded
        assert runs[0].plan is not None and runs[0].plan["status"] == "optimal"
        job = session.scalar(sa.select(Job).where(Job.run_id == runs[0].id))
        assert job is not None and job.state == JobState.succeeded and job.attempts == 1
        firings = session.scalars(
            sa.select(ScheduleFiring).where(ScheduleFiring.round_id == round_id)
        ).all()
        assert len(firings) == 1 and firings[0].run_id == runs[0].id
        assert _count(session, "schedule.fire", "round", round_id) == 1
        # The next window is open, due at the cron's next ten-minute mark in the future.
        window = session.get_one(Round, firings[0].next_round_id)
        assert window.status == RoundStatus.open
        assert window.schedule_cron == "*/10 * * * *" and window.deadline > round_.deadline
        assert window.deadline.minute % 10 == 0 and window.deadline.second == 0
        # The one-off round closed too (with no needs, nothing to buy), and did not recur.
        missed_round = session.get_one(Round, missed_id)
        assert missed_round.status != RoundStatus.open
        missed_firing = session.scalar(
            sa.select(ScheduleFiring).where(ScheduleFiring.round_id == missed_id)
        )
        assert missed_firing is not None and missed_firing.next_round_id is None


def test_a_worker_killed_mid_solve_is_taken_over_and_the_job_completes_once(
    cluster: Cluster,
) -> None:
    factory = sessionmaker(bind=cluster.engine, expire_on_commit=False)
    with factory() as session:
        coordinator, run = _closed_round_with_run(session, size="medium", seed=0)
        from app.jobs import service as jobs_service

        job = jobs_service.create(
            session, coordinator, JobKind.run, run_id=run.id, time_limit_seconds=120
        )
        session.commit()
        job_id, run_id = job.id, run.id

    workers = cluster.start(2)
    backend = backends.BrokerBackend(cluster.settings())
    backend.dispatch([job_id], cluster.url)
    assert backend.wait_published(30)

    def solving() -> bool:
        with factory() as session:
            job = session.get_one(Job, job_id)
            # Mid-solve: the pooled search has reported progress.
            return job.state == JobState.running and bool((job.progress or {}).get("pooled"))

    _wait_for("the solve to be under way", solving, cluster, timeout=90)
    with factory() as session:
        victim = _pid_of(session.get_one(Job, job_id))
    assert victim in {w.pid for w in workers}
    os.kill(victim, signal.SIGKILL)

    def finished() -> bool:
        with factory() as session:
            return session.get_one(Job, job_id).state in FINISHED

    _wait_for("the job to be taken over and finish", finished, cluster, timeout=JOB_SECONDS)
    # Give a duplicate every chance to show itself before counting.
    time.sleep(LEASE_SECONDS + 1)
    backend.close()

    with factory() as session:
        job = session.get_one(Job, job_id)
        assert job.state == JobState.succeeded, job.error
        assert job.attempts == 2
        survivor = _pid_of(job)
        assert survivor != victim and survivor in {w.pid for w in workers}
        run = session.get_one(Run, run_id)
        assert run.status == RunStatus.succeeded and run.plan is not None
        # Exactly once: one completion of the job, one stored plan.
        assert _count(session, "job.succeeded", "job", job_id) == 1
        assert _count(session, "run.finish", "run", run_id) == 1
        assert _count(session, "run.start", "run", run_id) == 1
        assert _count(session, "run.restart", "run", run_id) == 1
        assert _count(session, "job.start", "job", job_id) == 2


def test_ten_scenario_jobs_spread_across_both_workers(cluster: Cluster) -> None:
    factory = sessionmaker(bind=cluster.engine, expire_on_commit=False)
    with factory() as session:
        coordinator, run = _closed_round_with_run(session, size="medium", seed=1)
        token = make_token(session, coordinator)
        session.commit()
        run_id = run.id

    workers = cluster.start(2)
    # The API in broker mode, as a replica would run it.
    app = create_app(cluster.settings())

    def _session() -> Iterator[Session]:
        with factory() as session:
            yield from serve_session(session)

    app.dependency_overrides[get_session] = _session
    client = TestClient(app)
    headers = {"Authorization": f"Bearer {token}"}
    created = []
    for n in range(10):
        response = client.post(
            f"/api/v1/runs/{run_id}/scenarios",
            json={"name": f"lateness x{n + 1}", "late_penalty_factor": n + 1},
            headers=headers,
        )
        assert response.status_code == 201, response.text
        assert response.json()["state"] in ("queued", "running")
        created.append(response.json()["id"])

    def all_done() -> bool:
        listing = client.get(f"/api/v1/runs/{run_id}/scenarios", headers=headers).json()
        return listing["total"] == 10 and all(
            s["state"] in ("succeeded", "failed", "cancelled") for s in listing["items"]
        )

    _wait_for("ten scenarios to be solved", all_done, cluster, timeout=SOLVE_SECONDS)
    listing = client.get(f"/api/v1/runs/{run_id}/scenarios", headers=headers).json()
    assert {s["id"] for s in listing["items"]} == set(created)
    assert all(s["state"] == "succeeded" for s in listing["items"]), listing
    assert all(s["money_cost"] is not None for s in listing["items"])

    with factory() as session:
        jobs = session.scalars(sa.select(Job).where(Job.scenario_id.in_(created))).all()
        assert len(jobs) == 10 and all(j.attempts == 1 for j in jobs)
        pids = {_pid_of(j) for j in jobs}
    assert pids == {w.pid for w in workers}, cluster.logs()
