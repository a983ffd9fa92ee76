"""A run's coalitions as jobs of their own (``app.runs.coalitions``), on one machine.

An eight-agency round checks 254 coalitions: the run's job solves the pooled
plan and the eight singles, fans the other 246 out as batch jobs (kind
``coalitions``), and builds its plan from the stored values. Here the jobs run
in the test's session (the embedded mode's inline path); the same jobs on the
real broker and two workers are in ``test_coalition_jobs_scaleout.py``.
"""

from __future__ import annotations

import copy
import json
import os
import time
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.auth.models import Role
from app.bootstrap import register_all
from app.jobs import backends, runner, scheduler
from app.jobs import service as jobs_service
from app.jobs.models import Job, JobKind, JobState
from app.jobs.registry import JobContext
from app.rounds.flows import execute_run
from app.rounds.models import Round, RoundStatus
from app.runs import coalitions
from app.runs import service as runs_service
from app.runs.models import CoalitionStatus, Run, RunStatus, StoredCoalition
from app.settings import Settings
from solver import SolveCancelled, solve
from solver.coalitions import coalitions_to_check
from solver.examples import generate_problem
from tests.factories import make_round, make_user

register_all()

TIMING = ("seconds", "stages")
TOTAL = 254  # 2^8 - 2: every non-empty proper subset of eight agencies
SINGLES = 8
FINISHED_RUNS = (RunStatus.succeeded, RunStatus.failed, RunStatus.cancelled)


def eight_agency_document(quantity_bump: int = 0, *, every_need: bool = False) -> dict[str, Any]:
    """The small example (eight agencies), fairness checked; cut to one need per agency
    unless ``every_need``, so that each coalition is a tiny solve."""
    document = generate_problem("small", seed=1)
    seen: set[str] = set()
    needs = []
    for need in document["needs"]:
        if every_need or need["agency"] not in seen:
            seen.add(need["agency"])
            needs.append(need)
    needs[0]["quantity"] += quantity_bump
    document["needs"] = needs
    document["settings"] = {**document.get("settings", {}), "fairness": "core"}
    return document


def comparable(plan: dict[str, Any]) -> dict[str, Any]:
    return {**plan, "solver": {k: v for k, v in plan["solver"].items() if k not in TIMING}}


def queued_run(session: Session, document: dict[str, Any], round_: Round | None = None) -> Run:
    coordinator = make_user(session, Role.coordinator)
    round_ = round_ or make_round(session, created_by=coordinator, status=RoundStatus.closed)
    run = runs_service.new_run(session, coordinator, round_, document)
    runs_service.queue_run(session, coordinator, run)
    session.commit()
    return run


def stored(session: Session, run_id: int) -> list[StoredCoalition]:
    return list(
        session.scalars(
            sa.select(StoredCoalition)
            .where(StoredCoalition.run_id == run_id)
            .execution_options(populate_existing=True)
        )
    )


def batch_jobs(session: Session, run_id: int) -> list[Job]:
    return list(
        session.scalars(
            sa.select(Job)
            .where(Job.run_id == run_id, Job.kind == JobKind.coalitions)
            .order_by(Job.id)
            .execution_options(populate_existing=True)
        )
    )


def test_every_coalition_is_stored_once_and_the_plan_equals_an_in_process_solve(
    session: Session,
) -> None:
    document = eight_agency_document()
    run = execute_run(session, queued_run(session, document).id)

    assert run.status == RunStatus.succeeded, run.error
    rows = stored(session, run.id)
    assert len(rows) == TOTAL
    assert len({r.coalition for r in rows}) == TOTAL
    assert all(r.status == CoalitionStatus.done and r.value is not None for r in rows)
    # The singles are the run's own baselines; the rest came from the batch jobs.
    assert sorted(r.size for r in rows if r.job_id is None) == [1] * SINGLES
    jobs = batch_jobs(session, run.id)
    assert len(jobs) == coalitions.MIN_BATCHES
    assert all(job.state == JobState.succeeded for job in jobs)
    assert {r.job_id for r in rows if r.size > 1} == {job.id for job in jobs}
    assert run.plan is not None and run.plan["fairness"]["coalitions"] == TOTAL
    assert comparable(run.plan) == comparable(solve(run.problem))
    assert run.progress is not None and run.progress["state"] == "done"


def test_one_agency_with_fairness_has_no_coalition_but_its_own_baseline(
    session: Session,
) -> None:
    """One agency with needs: the contract names no coalition to check (no proper
    subset), and its stand-alone value is the run's own baseline, as in solver.solve."""
    document = eight_agency_document()
    first = document["needs"][0]["agency"]
    document["needs"] = [n for n in document["needs"] if n["agency"] == first]
    run = execute_run(session, queued_run(session, document).id)

    assert run.status == RunStatus.succeeded, run.error
    assert stored(session, run.id) == [] and batch_jobs(session, run.id) == []
    assert run.plan is not None and run.plan["fairness"]["coalitions"] == 0
    assert comparable(run.plan) == comparable(solve(run.problem))


def test_a_batch_delivered_again_stores_nothing_twice(session: Session) -> None:
    run = execute_run(session, queued_run(session, eight_agency_document()).id)
    job = batch_jobs(session, run.id)[0]
    before = {r.coalition: r.value for r in stored(session, run.id)}
    values = [r.value for r in stored(session, run.id) if r.job_id == job.id]
    assert values
    # What the handler stores for a batch completed a second time: nothing.
    assert coalitions.store_values(session, job, values) == 0
    session.commit()
    assert {r.coalition: r.value for r in stored(session, run.id)} == before
    # And the table refuses a second row for a coalition outright.
    with pytest.raises(IntegrityError), session.begin_nested():
        session.add(
            StoredCoalition(
                run_id=run.id,
                coalition=coalitions.coalition_key(values[0]["members"]),
                size=len(values[0]["members"]),
                status=CoalitionStatus.pending,
                sub_problem="0" * 64,
            )
        )
        session.flush()


def fanned_out(session: Session) -> tuple[Run, list[tuple[str, ...]]]:
    """A running run whose coalitions were fanned out, as its job does before collecting."""
    document = eight_agency_document()
    run = queued_run(session, document)
    run.status = RunStatus.running
    session.commit()
    problem = coalitions.prepared(document, 60.0, Settings())
    agencies = sorted({n.agency for n in problem.needs})
    checked, _ = coalitions_to_check(agencies)
    values = coalitions.solve_batch(problem, checked[:SINGLES], None)
    singles = dict(zip(checked[:SINGLES], values, strict=True))
    coalitions.fan_out(session, run.id, problem, checked, singles, 60.0)
    return run, checked


def progress_of(session: Session, run_id: int) -> dict[str, Any]:
    run = session.get_one(Run, run_id, populate_existing=True)
    assert run.progress is not None
    coalition_progress: dict[str, Any] = run.progress["coalitions"]
    return coalition_progress


def test_the_run_shows_how_many_coalitions_have_their_value(session: Session) -> None:
    run, _checked = fanned_out(session)
    assert progress_of(session, run.id) == {"completed": SINGLES, "total": TOTAL, "done": False}
    first, second, *_ = batch_jobs(session, run.id)
    size = coalitions.batch_size(TOTAL - SINGLES)
    assert runner.run_inline(session, first.id, Settings()) == "succeeded"
    assert progress_of(session, run.id)["completed"] == SINGLES + size
    assert runner.run_inline(session, second.id, Settings()) == "succeeded"
    assert progress_of(session, run.id)["completed"] == SINGLES + 2 * size


class Cancelled:
    """A cancel token set by a user's cancellation (the runner's StopSignal)."""

    reason = "cancel"

    def is_set(self) -> bool:
        return True


def context(session: Session, run_id: int, ran: list[int]) -> JobContext:
    def run_here(job_id: int) -> str:
        ran.append(job_id)
        return runner.run_inline(session, job_id, Settings())

    return JobContext(0, run_id, 1, Settings(), lambda: _same(session), run_here, lambda ids: None)


class _same:
    def __init__(self, session: Session) -> None:
        self.session = session

    def __enter__(self) -> Session:
        return self.session

    def __exit__(self, *exc: object) -> None:
        return None


def test_cancelling_the_run_cancels_its_batches(session: Session) -> None:
    run, checked = fanned_out(session)
    ran: list[int] = []
    with pytest.raises(SolveCancelled):
        coalitions.collect(context(session, run.id, ran), checked, None, Cancelled())
    assert ran == []
    jobs = batch_jobs(session, run.id)
    assert jobs and all(job.state == JobState.cancelled for job in jobs)
    assert all(r.status == CoalitionStatus.pending for r in stored(session, run.id) if r.size > 1)


def test_a_failed_batch_fails_the_run(session: Session) -> None:
    run, checked = fanned_out(session)
    job = batch_jobs(session, run.id)[3]
    session.execute(
        sa.update(Job).where(Job.id == job.id).values(state=JobState.failed, error="gave up")
    )
    session.commit()
    with pytest.raises(coalitions.CoalitionsFailed, match=f"job {job.id} failed: gave up"):
        coalitions.collect(context(session, run.id, []), checked, None, None)


def test_a_rerun_reuses_every_value_whose_sub_problem_did_not_change(session: Session) -> None:
    document = eight_agency_document()
    first = execute_run(session, queued_run(session, document).id)
    round_ = session.get_one(Round, first.round_id)

    again = execute_run(session, queued_run(session, copy.deepcopy(document), round_).id)
    assert again.status == RunStatus.succeeded, again.error
    rows = stored(session, again.id)
    assert sum(r.status == CoalitionStatus.reused for r in rows) == TOTAL - SINGLES
    assert batch_jobs(session, again.id) == []
    assert comparable(again.plan or {}) == comparable(first.plan or {})

    # One agency's need changed: only the coalitions holding that agency are solved again.
    changed = eight_agency_document(quantity_bump=7)
    bumped = changed["needs"][0]["agency"]
    third = execute_run(session, queued_run(session, changed, round_).id)
    assert third.status == RunStatus.succeeded, third.error
    rows = stored(session, third.id)
    solved = [r for r in rows if r.size > 1 and r.status == CoalitionStatus.done]
    reused = [r for r in rows if r.status == CoalitionStatus.reused]
    assert all(bumped in json.loads(r.coalition) for r in solved)
    assert all(bumped not in json.loads(r.coalition) for r in reused)
    assert len(solved) == 2**7 - 2  # coalitions with the agency, but neither it alone nor all
    assert len(reused) == TOTAL - SINGLES - len(solved)
    assert comparable(third.plan or {}) == comparable(solve(changed))


def test_the_embedded_pool_and_its_sweeper_solve_the_batches_in_other_processes(
    isolated_engine: sa.Engine,
) -> None:
    """No broker: the run's job runs in a pool process; the batches it queued are solved
    there or handed to the pool by the service's sweeper, never in this process."""
    url = isolated_engine.url.render_as_string(hide_password=False)
    factory = sessionmaker(bind=isolated_engine, expire_on_commit=False)
    with factory() as session:
        run = queued_run(session, eight_agency_document())
        run_id = run.id
        run_job = jobs_service.run_job(session, run_id)
        assert run_job is not None
        job_id = run_job.id
    settings = Settings(
        database_url=url,
        jobs_embedded_workers=2,
        jobs_worker_nice=0,
        jobs_scheduler_interval_seconds=0.5,
    )
    backend = backends.EmbeddedBackend(settings)
    sweeper = scheduler.Sweeper(settings, backend, factory, url)
    try:
        sweeper.start()
        backend.dispatch([job_id], url)

        def finished() -> bool:
            with factory() as session:
                return session.get_one(Run, run_id).status in FINISHED_RUNS

        deadline = time.monotonic() + 300
        while not finished():
            assert time.monotonic() < deadline, "the run did not finish"
            time.sleep(0.2)
    finally:
        sweeper.stop()
        backend.close()
        backends.close_all()
    with factory() as session:
        run = session.get_one(Run, run_id)
        assert run.status == RunStatus.succeeded, run.error
        rows = stored(session, run_id)
        assert len(rows) == TOTAL and all(r.status == CoalitionStatus.done for r in rows)
        jobs = batch_jobs(session, run_id)
        assert jobs and all(job.state == JobState.succeeded for job in jobs)
        here = str(os.getpid())
        for job in [*jobs, session.get_one(Job, job_id)]:
            assert (job.worker or "").startswith("embedded:"), job.worker
            assert (job.worker or "").split(":")[2] != here
        assert comparable(run.plan or {}) == comparable(solve(run.problem))
