"""An eight-agency round's 254 coalitions on the real broker, across two ``poolbuy worker``s.

The run's job fans the coalitions out as batch jobs; both workers solve batches
(the one holding the run's job too, from the end of the queue). One worker is
SIGKILLed once some values are stored; RabbitMQ delivers its messages again, the
survivor takes its jobs over when their leases run out, and the run completes
once with every coalition's value stored once. Set up as ``test_scaleout.py``
(a queue and a PostgreSQL database of the test's own; skipped on SQLite).
"""

from __future__ import annotations

import json
import os
import signal
import time

import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from app.auth.models import Role
from app.bootstrap import register_all
from app.jobs import backends
from app.jobs.models import FINISHED, Job, JobKind, JobState
from app.rounds.models import RoundStatus
from app.runs import service as runs_service
from app.runs.models import CoalitionStatus, Run, RunStatus, StoredCoalition
from solver import solve
from tests import test_scaleout as scaleout
from tests.factories import make_round, make_user
from tests.test_coalition_jobs import SINGLES, TOTAL, comparable, eight_agency_document
from tests.test_scaleout import JOB_SECONDS, LEASE_SECONDS, Cluster, _count, _pid_of, _wait_for

# The scale-out tests' fixtures and marks: a queue, a PostgreSQL database, two workers.
pytestmark = scaleout.pytestmark
pg_engine = scaleout.pg_engine
cluster = scaleout.cluster

register_all()


def test_254_coalitions_across_two_workers_one_killed_stored_once(cluster: Cluster) -> None:
    factory = sessionmaker(bind=cluster.engine, expire_on_commit=False)
    with factory() as session:
        coordinator = make_user(session, Role.coordinator)
        round_ = make_round(session, created_by=coordinator, status=RoundStatus.closed)
        run = runs_service.new_run(
            session, coordinator, round_, eight_agency_document(every_need=True)
        )
        job = runs_service.queue_run(session, coordinator, run)
        session.commit()
        job_id, run_id = job.id, run.id

    workers = cluster.start(2)
    backend = backends.BrokerBackend(cluster.settings())
    backend.dispatch([job_id], cluster.url)
    assert backend.wait_published(30)

    def batch_jobs() -> list[Job]:
        with factory() as session:
            return list(
                session.scalars(
                    sa.select(Job).where(Job.run_id == run_id, Job.kind == JobKind.coalitions)
                )
            )

    def some_values_stored_by_batches() -> bool:
        with factory() as session:
            stored = session.scalar(
                sa.select(sa.func.count()).where(
                    StoredCoalition.run_id == run_id,
                    StoredCoalition.size > 1,
                    StoredCoalition.status == CoalitionStatus.done,
                )
            )
        return bool(stored)

    _wait_for("batches to store values", some_values_stored_by_batches, cluster, timeout=120)
    # Kill a worker that holds a batch now, if one does; else the one holding the run.
    running = [j for j in batch_jobs() if j.state == JobState.running]
    with factory() as session:
        victim = _pid_of(running[0] if running else session.get_one(Job, job_id))
    assert victim in {w.pid for w in workers}
    os.kill(victim, signal.SIGKILL)

    def run_finished() -> bool:
        with factory() as session:
            return session.get_one(Run, run_id).status in (
                RunStatus.succeeded,
                RunStatus.failed,
                RunStatus.cancelled,
            )

    _wait_for("the run to complete", run_finished, cluster, timeout=JOB_SECONDS * 2)
    # Give a duplicate every chance to show itself before counting.
    time.sleep(LEASE_SECONDS + 1)
    backend.close()

    with factory() as session:
        run = session.get_one(Run, run_id)
        assert run.status == RunStatus.succeeded, run.error
        rows = list(
            session.scalars(sa.select(StoredCoalition).where(StoredCoalition.run_id == run_id))
        )
        keys = [json.loads(r.coalition) for r in rows]
        assert len(rows) == TOTAL and len({tuple(k) for k in keys}) == TOTAL
        assert all(r.status == CoalitionStatus.done and r.value is not None for r in rows)
        assert sum(r.job_id is None for r in rows) == SINGLES
        assert _count(session, "run.finish", "run", run_id) == 1
        jobs = batch_jobs()
        assert jobs and all(j.state in FINISHED for j in jobs)
        assert all(j.state == JobState.succeeded for j in jobs), [(j.id, j.error) for j in jobs]
        # Each batch completed once; the killed worker's job was taken over by the other.
        for batch in jobs:
            assert _count(session, "job.succeeded", "job", batch.id) == 1
        taken_over = [j for j in [*jobs, session.get_one(Job, job_id)] if j.attempts >= 2]
        assert taken_over, "no job of the killed worker was taken over"
        assert all(_pid_of(j) != victim for j in taken_over)
        assert run.plan is not None and run.plan["fairness"]["coalitions"] == TOTAL
        assert comparable(run.plan) == comparable(solve(run.problem))
