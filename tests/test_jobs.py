"""Jobs: states, progress, cancellation, time limits, exactly-once completion, both backends.

The HTTP tests use ``client`` (one rolled-back session): jobs are solved in the
request (``app.jobs.dispatch``: a caller-owned transaction never hands work to
another process). The concurrency and fault tests commit for real on a database
of their own (``isolated_engine``) and run the worker code itself: two workers
on one job, a worker presumed dead whose job is taken over, a database that
fails, a shutdown, the embedded process pool, a broker that is down.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.audit.models import AuditEntry
from app.auth.models import Role, User
from app.db import utcnow
from app.jobs import backends, runner, scheduler
from app.jobs import service as jobs_service
from app.jobs.models import Job, JobKind, JobState
from app.jobs.progress import MAX_HISTORY, ProgressRecorder, own_share
from app.jobs.service import Busy, Claim, Settled
from app.rounds.models import RoundStatus
from app.runs import jobs as run_jobs
from app.runs import service as runs_service
from app.runs.models import Run, RunStatus
from app.settings import Settings, get_settings
from solver import SolveProgress
from solver.examples import generate_problem
from tests.factories import make_round, make_user_and_token
from tests.test_runs import audit_actions, build_world, close, closed_world

pytestmark = pytest.mark.integration

Headers = Callable[[str], dict[str, str]]


def _settings(**changes: Any) -> Settings:
    base = {
        "jobs_lease_seconds": 1.0,
        "jobs_heartbeat_seconds": 0.1,
        "jobs_scheduler": False,
        "solver_workers": 1,
    }
    return get_settings().model_copy(update={**base, **changes})


def _queued_run(
    session: Session, *, size: str = "small", seed: int = 0, time_limit: float = 60.0
) -> tuple[User, Run, Job]:
    """A closed round's run and its job, queued and not handed to anyone."""
    coordinator, _ = make_user_and_token(session, Role.coordinator)
    round_ = make_round(session, created_by=coordinator, status=RoundStatus.closed)
    problem = generate_problem(size=size, seed=seed)
    problem["settings"]["time_limit_seconds"] = time_limit
    run = Run(
        round_id=round_.id,
        number=1,
        problem=problem,
        triggered_by_id=coordinator.id,
        progress={"state": "queued"},
    )
    session.add(run)
    session.flush()
    job = jobs_service.create(
        session, coordinator, JobKind.run, run_id=run.id, time_limit_seconds=time_limit
    )
    return coordinator, run, job


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


@pytest.fixture
def factory(isolated_engine: sa.Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=isolated_engine, expire_on_commit=False)


@pytest.fixture
def queued(factory: sessionmaker[Session]) -> Callable[..., tuple[int, int]]:
    def make(**kwargs: Any) -> tuple[int, int]:
        with factory() as session:
            _, run, job = _queued_run(session, **kwargs)
            session.commit()
            return job.id, run.id

    return make


# ------------------------------------------------------------------ through the API


def test_closing_queues_a_job_whose_progress_the_run_shows(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, run = closed_world(session, client, auth_headers)
    job = run["job"]
    assert job["state"] == "succeeded" and job["attempts"] == 1
    assert job["time_limit_seconds"] == run["problem"]["settings"]["time_limit_seconds"]
    assert run["progress"]["state"] == "done" and "history" in run["progress"]

    headers = auth_headers(world.tokens["coordinator"])
    read = client.get(f"/api/v1/jobs/{job['id']}", headers=headers)
    assert read.status_code == 200 and read.headers["ETag"]
    body = read.json()
    assert body["kind"] == "run" and body["run_id"] == run["id"] and body["state"] == "succeeded"
    assert body["progress"]["state"] == "done" and body["finished_at"] is not None
    assert audit_actions(session, "job", job["id"]) == ["job.create", "job.start", "job.succeeded"]


def test_jobs_are_listed_for_coordinators_and_admins_only(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world, run = closed_world(session, client, auth_headers)
    _, admin_token = make_user_and_token(session, Role.admin)
    for token in (world.tokens["coordinator"], admin_token):
        listing = client.get(
            "/api/v1/jobs", params={"run_id": run["id"]}, headers=auth_headers(token)
        )
        assert listing.status_code == 200
        # The run's job, and the batches of its coalitions (fairness checked).
        items = listing.json()["items"]
        assert [j["id"] for j in items if j["kind"] == "run"] == [run["job"]["id"]]
        assert {j["kind"] for j in items} <= {"run", "coalitions"}
    for who in ("a_team", "a_chief"):
        response = client.get("/api/v1/jobs", headers=auth_headers(world.tokens[who]))
        assert response.status_code == 403
    assert client.get("/api/v1/jobs").status_code == 401
    headers = auth_headers(world.tokens["coordinator"])
    filtered = client.get(
        "/api/v1/jobs", params={"state": "queued", "round_id": world.round.id}, headers=headers
    )
    assert filtered.json()["total"] == 0
    by_round = client.get("/api/v1/jobs", params={"round_id": world.round.id}, headers=headers)
    assert by_round.json()["total"] == len(items)
    too_many = client.get("/api/v1/jobs", params={"limit": 100_000}, headers=headers)
    assert too_many.status_code == 422


def test_a_job_is_seen_by_those_who_see_its_run_in_full(
    session: Session, client: TestClient, auth_headers: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = build_world(session)
    # A failed solve leaves the round closed: members see only their share of the run.
    monkeypatch.setattr(run_jobs, "solve", lambda *a, **k: 1 / 0)
    monkeypatch.setattr(run_jobs, "solve_pooled", lambda *a, **k: 1 / 0)
    run = close(client, world, auth_headers).json()
    monkeypatch.undo()
    job_id = run["job"]["id"]
    assert run["status"] == "failed" and "ZeroDivisionError" in run["error"]

    member = client.get(f"/api/v1/jobs/{job_id}", headers=auth_headers(world.tokens["a_team"]))
    assert member.status_code == 403
    # Of the run itself, a member sees the solve's state, not the pooled figures.
    shared = client.get(f"/api/v1/runs/{run['id']}", headers=auth_headers(world.tokens["a_team"]))
    assert shared.json()["scope"] == "own_agency"
    assert set(shared.json()["progress"]) <= {"state", "attempt", "elapsed_seconds"}
    # Another agency's user sees the run's (empty) share of theirs: still no pooled progress.
    _, outsider = make_user_and_token(session, Role.local_team)
    assert client.get(f"/api/v1/jobs/{job_id}", headers=auth_headers(outsider)).status_code == 403
    assert (
        client.get(
            "/api/v1/jobs/999999", headers=auth_headers(world.tokens["coordinator"])
        ).status_code
        == 404
    )


def test_a_queued_job_is_cancelled_at_once_and_its_run_with_it(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    _, run, job = _queued_run(session)
    _, token = make_user_and_token(session, Role.coordinator)
    headers = auth_headers(token)
    before = client.get(f"/api/v1/jobs/{job.id}", headers=headers)
    assert before.json()["state"] == "queued"

    _, team = make_user_and_token(session, Role.local_team)
    assert client.post(f"/api/v1/jobs/{job.id}/cancel", headers=auth_headers(team)).status_code in (
        403,
        404,
    )
    response = client.post(f"/api/v1/jobs/{job.id}/cancel", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "cancelled" and response.json()["finished_at"]
    assert response.headers["ETag"] != before.headers["ETag"]
    stored = session.get_one(Run, run.id, populate_existing=True)
    assert stored.status == RunStatus.cancelled and stored.plan is None
    assert "cancelled" in (stored.error or "")
    assert client.post(f"/api/v1/jobs/{job.id}/cancel", headers=headers).status_code == 409
    assert "job.cancel" in audit_actions(session, "job", job.id)
    assert audit_actions(session, "run", run.id)[-1] == "run.cancel"
    # A cancelled run does not block a re-run (the round is closed, its snapshot frozen).
    assert runs_service.IN_PROGRESS.isdisjoint({stored.status})


def test_cancelling_a_run_through_its_own_route(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    _, run, _job = _queued_run(session)
    _, token = make_user_and_token(session, Role.coordinator)
    response = client.post(f"/api/v1/runs/{run.id}/cancel", headers=auth_headers(token))
    assert response.status_code == 200, response.text
    assert (
        response.json()["status"] == "cancelled" and response.json()["job"]["state"] == "cancelled"
    )
    again = client.post(f"/api/v1/runs/{run.id}/cancel", headers=auth_headers(token))
    assert again.status_code == 409
    _, chief = make_user_and_token(session, Role.chief_of_mission)
    assert (
        client.post(f"/api/v1/runs/{run.id}/cancel", headers=auth_headers(chief)).status_code == 403
    )


def test_prefer_header_sets_how_long_a_close_waits(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    world = build_world(session)
    response = close(client, world, auth_headers, Prefer="respond-async")
    assert response.status_code == 201
    assert response.headers["Preference-Applied"] == "respond-async"
    world2 = build_world(session)
    waited = close(client, world2, auth_headers, Prefer="wait=100000")
    # Capped by the service's maximum.
    assert waited.headers["Preference-Applied"] == f"wait={get_settings().jobs_max_wait_seconds:g}"
    odd = close(client, build_world(session), auth_headers, Prefer="handling=lenient")
    assert odd.status_code == 201 and "Preference-Applied" not in odd.headers


# ----------------------------------------------------------------------- progress


def test_progress_keeps_the_pooled_history_thinned_and_each_baseline_latest() -> None:
    recorder = ProgressRecorder(attempt=2)
    for i in range(MAX_HISTORY * 3):
        recorder(SolveProgress("pooled", None, i / 10, 100.0 - i / 100, 50.0, 0.5))
    recorder(SolveProgress("standalone", "IOM", 1.0, 10.0, 10.0, 0.0, done=True))
    document = recorder.snapshot("done")
    assert document["state"] == "done" and document["attempt"] == 2
    assert len(document["history"]) <= MAX_HISTORY
    assert document["history"][0]["stage_seconds"] == 0.0
    assert document["history"][-1] == document["pooled"]
    assert document["standalone"]["IOM"]["done"] is True
    assert own_share(document) == {
        "state": "done",
        "attempt": 2,
        "elapsed_seconds": document["elapsed_seconds"],
    }
    assert own_share(None) is None


# -------------------------------------------------------------- exactly once, for real


def test_two_workers_given_the_same_job_store_one_plan(
    factory: sessionmaker[Session], queued: Callable[..., tuple[int, int]]
) -> None:
    job_id, run_id = queued()
    settings = _settings()
    results: list[str] = []
    start = threading.Barrier(2)

    def work(name: str) -> None:
        start.wait()
        results.append(runner.run_job(job_id, factory=factory, settings=settings, worker=name))

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(results) == [runner.SKIPPED, runner.SUCCEEDED]
    with factory() as session:
        job = session.get_one(Job, job_id)
        assert job.state == JobState.succeeded and job.attempts == 1
        assert _count(session, "job.succeeded", "job", job_id) == 1
        assert _count(session, "run.finish", "run", run_id) == 1
        run = session.get_one(Run, run_id)
        assert run.status == RunStatus.succeeded and run.plan is not None


def test_a_dead_workers_job_is_taken_over_and_its_late_result_dropped(
    factory: sessionmaker[Session], queued: Callable[..., tuple[int, int]]
) -> None:
    job_id, run_id = queued()
    settings = _settings(jobs_lease_seconds=0.8)
    with factory() as session:
        dead = runner.claim_and_start(session, job_id, settings, "dead-worker")
        session.commit()
    assert isinstance(dead, Claim) and dead.attempt == 1
    with factory() as session:
        # While the lease runs, nobody else may take it.
        assert isinstance(jobs_service.claim(session, job_id, "other", settings), Busy)
        session.rollback()

    started = time.monotonic()
    result = runner.run_job(job_id, factory=factory, settings=settings, worker="survivor")
    assert result == runner.SUCCEEDED
    assert time.monotonic() - started >= 0.5  # it waited for the lease to run out
    # The presumed-dead worker comes back with a result: nothing of it is stored.
    late = runner.complete(
        factory, dead, {"status": "optimal", "objective": 1.0}, None, ProgressRecorder(), None
    )
    assert late == runner.LOST
    with factory() as session:
        job = session.get_one(Job, job_id)
        assert job.state == JobState.succeeded and job.attempts == 2 and job.worker == "survivor"
        assert _count(session, "run.finish", "run", run_id) == 1
        assert _count(session, "run.restart", "run", run_id) == 1
        run = session.get_one(Run, run_id)
        assert run.plan is not None and run.plan.get("objective") != 1.0


def test_a_live_holder_keeps_its_job(
    factory: sessionmaker[Session], queued: Callable[..., tuple[int, int]]
) -> None:
    job_id, _ = queued()
    settings = _settings(jobs_lease_seconds=5, jobs_heartbeat_seconds=0.1)
    with factory() as session:
        holder = runner.claim_and_start(session, job_id, settings, "holder")
        session.commit()
    assert isinstance(holder, Claim)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(0.05):
            with factory() as session:
                jobs_service.heartbeat(session, holder, settings, None)

    thread = threading.Thread(target=beat)
    thread.start()
    try:
        result = runner.acquire(factory, job_id, settings, "duplicate")
    finally:
        stop.set()
        thread.join()
    assert isinstance(result, Settled)
    with factory() as session:
        assert session.get_one(Job, job_id).worker == "holder"


def test_a_job_that_keeps_losing_its_workers_fails_with_the_reason(
    factory: sessionmaker[Session], queued: Callable[..., tuple[int, int]]
) -> None:
    job_id, run_id = queued()
    settings = _settings(jobs_max_attempts=2)
    with factory() as session:
        session.execute(
            sa.update(Job)
            .where(Job.id == job_id)
            .values(
                state=JobState.running,
                attempts=2,
                claim_token="gone",
                lease_until=utcnow() - dt.timedelta(seconds=1),
            )
        )
        session.commit()
    assert runner.run_job(job_id, factory=factory, settings=settings, worker="w") == runner.SKIPPED
    with factory() as session:
        job = session.get_one(Job, job_id)
        assert job.state == JobState.failed and "gave up after 2 attempts" in (job.error or "")
        run = session.get_one(Run, run_id)
        assert run.status == RunStatus.failed and "gave up" in (run.error or "")


def test_cancelling_a_running_job_stops_the_solver(
    factory: sessionmaker[Session], queued: Callable[..., tuple[int, int]]
) -> None:
    job_id, run_id = queued(size="medium", seed=0, time_limit=120)
    settings = _settings(jobs_lease_seconds=10)
    outcome: list[str] = []
    thread = threading.Thread(
        target=lambda: outcome.append(
            runner.run_job(job_id, factory=factory, settings=settings, worker="w")
        )
    )
    thread.start()
    deadline = time.monotonic() + 60
    with factory() as session:
        while session.get_one(Job, job_id, populate_existing=True).state != JobState.running:
            session.rollback()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        coordinator = session.scalar(
            sa.select(User).where(User.id == session.get_one(Run, run_id).triggered_by_id)
        )
        assert coordinator is not None
        asked = time.monotonic()
        job = jobs_service.request_cancel(session, coordinator, job_id)
        assert job.cancel_requested and job.state == JobState.running
    thread.join(60)
    assert outcome == [runner.CANCELLED]
    assert time.monotonic() - asked < 20
    with factory() as session:
        job = session.get_one(Job, job_id)
        assert job.state == JobState.cancelled and job.progress["state"] == "cancelled"
        run = session.get_one(Run, run_id)
        assert run.status == RunStatus.cancelled and run.plan is None


def test_a_short_time_limit_ends_succeeded_with_its_gap_or_failed_with_the_reason(
    factory: sessionmaker[Session], queued: Callable[..., tuple[int, int]]
) -> None:
    job_id, run_id = queued(size="medium", seed=0, time_limit=0.5)
    result = runner.run_job(job_id, factory=factory, settings=_settings(), worker="w")
    with factory() as session:
        job = session.get_one(Job, job_id)
        run = session.get_one(Run, run_id)
        assert job.time_limit_seconds == 0.5
        if result == runner.SUCCEEDED:
            assert run.plan is not None and run.plan["status"] in ("optimal", "feasible")
            if run.plan["status"] == "feasible":
                # The gap the time limit left open is reported with the plan.
                assert run.plan["relative_gap"] > 0 and run.plan_status == "feasible"
        else:
            assert result == runner.FAILED and job.error and "time limit" in job.error


def test_a_solve_that_overruns_its_time_limit_by_far_is_stopped_as_failed() -> None:
    claim = Claim(1, "t", 1, jobs_service.JobKind.run, 1, None, 2.0)
    state, reason = runner.outcome(claim, None, None, "overrun")
    assert state == JobState.failed and reason is not None and "time limit of 2 s" in reason
    state, _ = runner.outcome(claim, {"status": "feasible"}, None, None)
    assert state == JobState.succeeded
    state, reason = runner.outcome(
        claim, {"status": "error", "solver": {"seconds": 2.0}}, None, None
    )
    assert state == JobState.failed and reason and "time limit of 2 s ran out" in reason


def test_a_worker_shutting_down_hands_its_job_back(
    factory: sessionmaker[Session], queued: Callable[..., tuple[int, int]]
) -> None:
    job_id, run_id = queued(size="medium", seed=0, time_limit=120)
    shutdown = threading.Event()
    outcome: list[str] = []
    thread = threading.Thread(
        target=lambda: outcome.append(
            runner.run_job(
                job_id, factory=factory, settings=_settings(), worker="w", shutdown=shutdown
            )
        )
    )
    thread.start()
    deadline = time.monotonic() + 60
    with factory() as session:
        while session.get_one(Job, job_id, populate_existing=True).state != JobState.running:
            session.rollback()
            assert time.monotonic() < deadline
            time.sleep(0.05)
    shutdown.set()
    thread.join(60)
    assert outcome == [runner.RELEASED]
    with factory() as session:
        job = session.get_one(Job, job_id)
        assert job.state == JobState.queued and job.claim_token is None
        assert job.dispatched_at is None  # the sweeper hands it over again
        assert session.get_one(Run, run_id).status == RunStatus.queued
    # And the next worker solves it.
    assert (
        runner.run_job(job_id, factory=factory, settings=_settings(), worker="next") == "succeeded"
    )


def test_the_result_waits_for_a_database_that_is_down(
    factory: sessionmaker[Session],
    queued: Callable[..., tuple[int, int]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    job_id, run_id = queued()
    settings = _settings()
    with factory() as session:
        claim = runner.claim_and_start(session, job_id, settings, "w")
        session.commit()
    assert isinstance(claim, Claim)
    failures = {"left": 3}
    real_store = runner.store

    def flaky_store(*args: Any, **kwargs: Any) -> str:
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError("UPDATE job", {}, Exception("connection refused"))
        return real_store(*args, **kwargs)

    monkeypatch.setattr(runner, "store", flaky_store)
    monkeypatch.setattr(runner.time, "sleep", lambda s: None)
    plan = run_jobs.solve_problem(
        generate_problem(size="small"), time_limit_seconds=60, settings=settings
    )
    assert runner.complete(factory, claim, plan, None, ProgressRecorder(), None) == "succeeded"
    assert failures["left"] == 0
    with factory() as session:
        assert session.get_one(Run, run_id).status == RunStatus.succeeded


# ------------------------------------------------------------------------ backends


def test_the_embedded_pool_solves_in_another_process(
    factory: sessionmaker[Session],
    queued: Callable[..., tuple[int, int]],
    isolated_engine: sa.Engine,
) -> None:
    job_id, run_id = queued()
    backend = backends.EmbeddedBackend(_settings(jobs_embedded_workers=1))
    try:
        backend.dispatch([job_id], isolated_engine.url.render_as_string(hide_password=False))
        assert job_id in backend.in_flight()
        assert backend.wait_idle(120)
    finally:
        backend.close()
    with factory() as session:
        job = session.get_one(Job, job_id)
        assert job.state == JobState.succeeded and (job.worker or "").startswith("embedded:")
        assert (job.worker or "").split(":")[1] != str(__import__("os").getpid())
        assert session.get_one(Run, run_id).status == RunStatus.succeeded


def test_a_broker_that_is_down_leaves_the_job_queued_for_the_sweeper(
    factory: sessionmaker[Session],
    queued: Callable[..., tuple[int, int]],
    isolated_engine: sa.Engine,
) -> None:
    job_id, _ = queued()
    settings = _settings(jobs_backend="broker", broker_url="amqp://guest:guest@127.0.0.1:1/%2F")
    backend = backends.BrokerBackend(settings)
    try:
        backend.dispatch([job_id], isolated_engine.url.render_as_string(hide_password=False))
        assert backend.wait_published(60)
    finally:
        backend.close()
    with factory() as session:
        job = session.get_one(Job, job_id)
        assert job.state == JobState.queued and job.dispatched_at is None
        later = utcnow() + dt.timedelta(seconds=10)
        assert scheduler.stranded_jobs(session, backend, later) == [job_id]


def test_one_sweeper_at_a_time_holds_the_lease(factory: sessionmaker[Session]) -> None:
    now = utcnow()
    with factory() as session:
        assert scheduler.take_lease(session, "a", 5, now)
        assert not scheduler.take_lease(session, "b", 5, now)
        assert scheduler.take_lease(session, "a", 5, now)  # renewed
        assert scheduler.take_lease(session, "b", 5, now + dt.timedelta(seconds=6))  # expired
        scheduler.give_up_lease(session, "b")
        assert scheduler.take_lease(session, "a", 5, now + dt.timedelta(seconds=7))


class RecordingBackend:
    name = "embedded"

    def __init__(self) -> None:
        self.dispatched: list[int] = []

    def dispatch(self, job_ids: list[int], database_url: str) -> None:
        self.dispatched += job_ids

    def in_flight(self) -> set[int]:
        return set()

    def close(self) -> None:
        pass


def test_the_sweeper_hands_over_jobs_a_dead_service_left(
    factory: sessionmaker[Session],
    queued: Callable[..., tuple[int, int]],
    isolated_engine: sa.Engine,
) -> None:
    waiting, _ = queued()
    abandoned, _ = queued()
    with factory() as session:
        session.execute(
            sa.update(Job)
            .where(Job.id == abandoned)
            .values(
                state=JobState.running,
                claim_token="x",
                lease_until=utcnow() - dt.timedelta(seconds=1),
            )
        )
        session.commit()
    backend = RecordingBackend()
    sweeper = scheduler.Sweeper(
        _settings(), backend, factory, isolated_engine.url.render_as_string(hide_password=False)
    )
    report = sweeper.sweep(utcnow() + dt.timedelta(seconds=10))
    assert report.held_lease and sorted(report.dispatched) == sorted([waiting, abandoned])
    assert sorted(backend.dispatched) == sorted([waiting, abandoned])


@pytest.fixture(autouse=True)
def _no_leftover_backends() -> Iterator[None]:
    yield
    backends.close_all()


# ----------------------------------------------------------------------------- CLI


def _poolbuy(database_url: str, *args: str) -> Any:
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "POOLBUY_JOBS_EMBEDDED_WORKERS": "1",
        "POOLBUY_JOBS_WORKER_NICE": "0",
    }
    script = Path(sys.executable).parent / "poolbuy"
    return subprocess.run(
        [str(script), *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_poolbuy_jobs_sweep_closes_a_due_round_and_follow_prints_its_progress(
    factory: sessionmaker[Session], isolated_engine: sa.Engine
) -> None:
    url = isolated_engine.url.render_as_string(hide_password=False)
    with factory() as session:
        world = build_world(session)
        world.round.schedule_timezone = "America/Panama"
        world.round.deadline = utcnow() - dt.timedelta(minutes=5)
        session.commit()
        round_id = world.round.id

    # The embedded backend: the sweep fires the schedule and the pool solves the run.
    swept = _poolbuy(url, "jobs", "sweep")
    assert swept.returncode == 0, swept.stderr
    assert f"rounds closed [{round_id}]" in swept.stdout
    with factory() as session:
        run = session.scalars(sa.select(Run).where(Run.round_id == round_id)).one()
        assert run.status == RunStatus.succeeded
        job = jobs_service.run_job(session, run.id)
        assert job is not None and (job.worker or "").startswith("embedded:")

    followed = _poolbuy(url, "jobs", "follow", "--run", str(run.id))
    assert followed.returncode == 0, followed.stderr
    assert f"job {job.id} succeeded" in followed.stdout and "gap" in followed.stdout
    listed = _poolbuy(url, "jobs", "list", "--state", "succeeded")
    assert listed.returncode == 0 and f"{job.id:>6}" in listed.stdout
    missing = _poolbuy(url, "jobs", "follow", "--job", "999999")
    assert missing.returncode == 1
