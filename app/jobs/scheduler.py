"""The sweeper: runs the domains' periodic tasks and hands stranded jobs over again, one process
at a time.

Every API process and every ``poolbuy worker`` runs one (unless
``POOLBUY_JOBS_SCHEDULER=false``); each pass first takes the database lease
(``scheduler_lease``: a conditional UPDATE, so one holder at a time, renewed
every pass, taken over when it runs out). The holder:

1. runs the periodic tasks the domains registered (``app.jobs.registry``):
   today the rounds' schedules (``app.rounds.flows``: every scheduled round
   whose deadline passed is closed, so a deadline missed while everything was
   down is caught up by the first pass after start);
2. hands over again the jobs nobody is working on: queued jobs the broker never
   got (it was down: ``dispatched_at`` is null), jobs whose worker's lease ran
   out (killed, cut off), and, in the embedded mode, queued jobs of an earlier
   run of the service (its in-memory pool queue died with it).

Correctness never rests on the lease: firing is conditional on the round's
state and unique per round, and a job is claimed once. The lease only keeps
several sweepers from doing the same work.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from app.db import utcnow
from app.jobs import registry
from app.jobs import service as jobs_service
from app.jobs.backends import JobBackend
from app.jobs.models import Job, JobState, SchedulerLease
from app.settings import Settings

log = logging.getLogger("poolbuy.jobs")

LEASE_NAME = "scheduler"
# A job created this recently is still being handed over by the request that made it.
HANDOVER_GRACE = dt.timedelta(seconds=3)


def take_lease(session: Session, holder: str, ttl: float, now: dt.datetime | None = None) -> bool:
    """Hold the sweeper lease for ``ttl`` seconds, if it is free, expired or ours; commits."""
    now = now or utcnow()
    taken = session.execute(
        sa.update(SchedulerLease)
        .where(
            SchedulerLease.name == LEASE_NAME,
            sa.or_(SchedulerLease.holder == holder, SchedulerLease.expires_at < now),
        )
        .values(holder=holder, expires_at=now + dt.timedelta(seconds=ttl))
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return jobs_service.rows_changed(taken) == 1


def give_up_lease(session: Session, holder: str) -> None:
    session.execute(
        sa.update(SchedulerLease)
        .where(SchedulerLease.name == LEASE_NAME, SchedulerLease.holder == holder)
        .values(holder=None, expires_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.commit()


def stranded_jobs(
    session: Session, backend: JobBackend, now: dt.datetime | None = None
) -> list[int]:
    """Jobs to hand over again (see the module docstring)."""
    now = now or utcnow()
    expired = sa.and_(Job.state == JobState.running, Job.lease_until < now)
    if backend.name == "broker":
        never_sent = sa.and_(
            Job.state == JobState.queued,
            Job.dispatched_at.is_(None),
            Job.created_at < now - HANDOVER_GRACE,
        )
        # Re-sent once per expiry, not at every pass while its message waits in the queue.
        stale = sa.and_(
            expired, sa.or_(Job.dispatched_at.is_(None), Job.dispatched_at < Job.lease_until)
        )
        condition = sa.or_(never_sent, stale)
    else:
        waiting = sa.and_(Job.state == JobState.queued, Job.created_at < now - HANDOVER_GRACE)
        condition = sa.or_(waiting, expired)
    ids = session.scalars(sa.select(Job.id).where(condition).order_by(Job.id)).all()
    session.rollback()
    busy = backend.in_flight()
    return [job_id for job_id in ids if job_id not in busy]


@dataclass
class SweepReport:
    held_lease: bool = False
    fired: list[int] = field(default_factory=list)  # what the tasks fired (rounds closed)
    dispatched: list[int] = field(default_factory=list)  # jobs handed over


class Sweeper:
    def __init__(
        self,
        settings: Settings,
        backend: JobBackend,
        factory: sessionmaker[Session],
        database_url: str,
        name: str | None = None,
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.factory = factory
        self.database_url = database_url
        self.name = name or f"sweeper:{jobs_service.worker_name()}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep(self, now: dt.datetime | None = None) -> SweepReport:
        report = SweepReport()
        ttl = 3 * self.settings.jobs_scheduler_interval_seconds + 5
        with self.factory() as session:
            report.held_lease = take_lease(session, self.name, ttl, now)
            if not report.held_lease:
                return report
            jobs: list[int] = []
            for task in registry.sweep_tasks():
                session.rollback()
                done = task(session, self.settings, self.name, now)
                report.fired += done.fired
                jobs += done.jobs
            session.rollback()
            jobs += [j for j in stranded_jobs(session, self.backend, now) if j not in jobs]
        if jobs:
            self.backend.dispatch(jobs, self.database_url)
            report.dispatched = jobs
        return report

    def run_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self.sweep()
            except Exception:
                # The database or broker is away: try again next pass.
                log.exception("sweep failed; retrying in %ss", self.interval)
            self._stop.wait(self.interval)

    @property
    def interval(self) -> float:
        return self.settings.jobs_scheduler_interval_seconds

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run_forever, name="job-sweeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        try:
            with self.factory() as session:
                give_up_lease(session, self.name)
        except Exception:
            log.warning("could not give up the sweeper lease; it runs out by itself")
