"""Jobs: create, claim, renew, complete, cancel, release; who may see them.

Life of a job
-------------
A job is created ``queued`` in the same transaction as the run or scenario it
solves (so the two exist together or not at all). After that commit it is
handed to a backend (``app.jobs.backends``): the embedded process pool or the
broker. ``dispatched_at`` records the hand-over; a job whose hand-over failed
(broker down) keeps it null and the sweeper (``app.jobs.scheduler``) hands it
over again later: the database is the outbox, so no job is lost to an outage.

Whoever receives it claims it (``claim``): a conditional UPDATE from ``queued``
(or from ``running`` whose lease expired: its worker died) to ``running`` with
a new random ``claim_token``. Only one claimer's UPDATE matches. The holder
renews its lease every heartbeat (``heartbeat``, which also stores progress and
reads the cancellation flag) and completes the job with ``finish``, an UPDATE
conditional on its token and ``running``: a worker that lost its lease (it was
presumed dead and the job went to another) matches nothing and stores nothing.
The result (plan, figures) is written in that same transaction, so a job
delivered twice stores one plan, never two.

Lock order, the same for every writer: job, then round, then run (or scenario).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from app.audit import record
from app.auth.models import Role, User
from app.db import utcnow
from app.errors import Conflict, NotFound
from app.jobs import registry
from app.jobs.models import FINISHED, Job, JobKind, JobState
from app.settings import Settings

API_PREFIX = "/api/v1"
IN_PROGRESS = frozenset({JobState.queued, JobState.running})


def rows_changed(result: Any) -> int:
    """How many rows an UPDATE matched: the whole point of a conditional one."""
    return int(cast(CursorResult[Any], result).rowcount)


def job_url(job: Job) -> str:
    return f"{API_PREFIX}/jobs/{job.id}"


def worker_name() -> str:
    """Who holds a job: host, process and thread, so an operator can find it."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"


def audit_state(job: Job | Any) -> dict[str, Any]:
    return {
        "kind": job.kind,
        "run_id": job.run_id,
        "scenario_id": job.scenario_id,
        "state": job.state,
        "attempts": job.attempts,
        "time_limit_seconds": job.time_limit_seconds,
        "cancel_requested": job.cancel_requested,
        "worker": job.worker,
        "error": job.error,
    }


# ------------------------------------------------------------------------ create


def create(
    session: Session,
    actor: User,
    kind: JobKind,
    *,
    run_id: int,
    scenario_id: int | None = None,
    time_limit_seconds: float,
    audit_actor: User | str | None = None,
) -> Job:
    """A queued job of ``kind`` for a run (or one of its scenarios), in the caller's
    transaction. Refused at once for a kind no handler was registered for."""
    registry.handler_for(kind)
    now = utcnow()
    job = Job(
        kind=kind,
        run_id=run_id,
        scenario_id=scenario_id,
        state=JobState.queued,
        attempts=0,
        time_limit_seconds=time_limit_seconds,
        cancel_requested=False,
        progress={"state": "queued"},
        created_by_id=actor.id,
        created_at=now,
        updated_at=now,
        version=1,
    )
    session.add(job)
    session.flush()
    record(session, audit_actor or actor, "job.create", "job", job.id, None, audit_state(job))
    return job


# ------------------------------------------------------------------------- claim


@dataclass(frozen=True)
class Claim:
    """A worker's hold on a job: only this token may renew or complete it."""

    job_id: int
    token: str
    attempt: int
    kind: JobKind
    run_id: int
    scenario_id: int | None
    time_limit_seconds: float


@dataclass(frozen=True)
class Busy:
    """Another worker holds the job and its lease has not run out."""

    lease_until: dt.datetime
    heartbeat_at: dt.datetime | None


@dataclass(frozen=True)
class Settled:
    """Nothing to do: the job is finished (or gone)."""

    state: JobState | None


ClaimResult = Claim | Busy | Settled


def claim(
    session: Session,
    job_id: int,
    worker: str,
    settings: Settings,
    *,
    now: dt.datetime | None = None,
) -> ClaimResult:
    """Try to take ``job_id``; commits nothing (the caller adds its own work, then commits).

    A queued job, or a running one whose lease ran out, becomes ``running``
    under a new token. A cancellation requested while it was queued, or a job
    that already lost ``jobs_max_attempts`` workers, is settled here instead.
    """
    now = now or utcnow()
    row = session.execute(
        sa.select(
            Job.state,
            Job.claim_token,
            Job.lease_until,
            Job.heartbeat_at,
            Job.attempts,
            Job.cancel_requested,
            Job.kind,
            Job.run_id,
            Job.scenario_id,
            Job.time_limit_seconds,
        ).where(Job.id == job_id)
    ).one_or_none()
    if row is None:
        return Settled(None)
    if row.state in FINISHED:
        return Settled(row.state)
    if row.state == JobState.running and row.lease_until is not None and row.lease_until > now:
        return Busy(row.lease_until, row.heartbeat_at)
    current = _matches(job_id, row.state, row.claim_token)
    if row.cancel_requested:
        settle(session, job_id, current, JobState.cancelled, "cancelled before it was solved")
        return Settled(JobState.cancelled)
    if row.attempts >= settings.jobs_max_attempts:
        reason = (
            f"gave up after {row.attempts} attempts: the workers solving it stopped "
            "answering (killed, out of memory, or cut off from the database)"
        )
        settle(session, job_id, current, JobState.failed, reason)
        return Settled(JobState.failed)

    token = uuid.uuid4().hex
    claimed = session.execute(
        sa.update(Job)
        .where(current)
        .values(
            state=JobState.running,
            claim_token=token,
            worker=worker,
            attempts=Job.attempts + 1,
            lease_until=now + dt.timedelta(seconds=settings.jobs_lease_seconds),
            heartbeat_at=now,
            started_at=sa.func.coalesce(Job.started_at, now),
            progress={"state": "running", "attempt": row.attempts + 1},
            updated_at=now,
            version=Job.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if rows_changed(claimed) != 1:
        # Someone else's UPDATE got there first; what they did is theirs to finish.
        return Settled(None)
    return Claim(
        job_id,
        token,
        row.attempts + 1,
        row.kind,
        row.run_id,
        row.scenario_id,
        row.time_limit_seconds,
    )


def _matches(job_id: int, state: JobState, token: str | None) -> sa.ColumnElement[bool]:
    held = Job.claim_token.is_(None) if token is None else Job.claim_token == token
    return sa.and_(Job.id == job_id, Job.state == state, held)


def settle(
    session: Session,
    job_id: int,
    condition: sa.ColumnElement[bool],
    state: JobState,
    error: str | None,
    *,
    progress: dict[str, Any] | None = None,
) -> bool:
    """Finish a job that will not be (or was not) solved by this caller, if ``condition`` holds.

    The run or scenario it solves gets the same end (a cancelled or failed run).
    """
    job = _complete(session, job_id, condition, state, error, progress or {"state": state.value})
    if job is None:
        return False
    record(session, "scheduler", f"job.{state.value}", "job", job_id, None, audit_state(job))
    registry.handler_for(job.kind).finished(
        session, job, None, error, {"state": state.value}, state=state
    )
    return True


def _complete(
    session: Session,
    job_id: int,
    condition: sa.ColumnElement[bool],
    state: JobState,
    error: str | None,
    progress: dict[str, Any],
) -> Job | None:
    """End the job ``state`` if ``condition`` still holds, and read it back; None if not.

    ``settle`` (a job nobody solved) and ``finish`` (its holder's result) end a job by
    this one conditional UPDATE; what each records and tells the handler is its own.
    """
    now = utcnow()
    done = session.execute(
        sa.update(Job)
        .where(condition)
        .values(
            state=state,
            error=error,
            finished_at=now,
            lease_until=None,
            progress=progress,
            updated_at=now,
            version=Job.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    return _reread(session, job_id) if rows_changed(done) == 1 else None


def _reread(session: Session, job_id: int) -> Job:
    """The job as the UPDATE just left it (those UPDATEs do not synchronise the session)."""
    return session.execute(
        sa.select(Job).where(Job.id == job_id).execution_options(populate_existing=True)
    ).scalar_one()


def _held(claim_: Claim) -> sa.ColumnElement[bool]:
    """The job is still ``claim_``'s: running under its token (a lost lease matches nothing)."""
    return sa.and_(
        Job.id == claim_.job_id,
        Job.claim_token == claim_.token,
        Job.state == JobState.running,
    )


def heartbeat(
    session: Session,
    claim_: Claim,
    settings: Settings,
    progress: dict[str, Any] | None,
) -> bool | None:
    """Renew the lease and store progress; commits.

    Returns the job's cancellation flag, or None when the lease is no longer ours.
    """
    now = utcnow()
    values: dict[str, Any] = {
        "lease_until": now + dt.timedelta(seconds=settings.jobs_lease_seconds),
        "heartbeat_at": now,
        "updated_at": now,
        "version": Job.version + 1,
    }
    if progress is not None:
        values["progress"] = progress
    renewed = session.execute(
        sa.update(Job)
        .where(_held(claim_))
        .values(**values)
        .returning(Job.cancel_requested)
        .execution_options(synchronize_session=False)
    ).one_or_none()
    session.commit()
    return None if renewed is None else bool(renewed.cancel_requested)


def finish(
    session: Session,
    claim_: Claim,
    state: JobState,
    *,
    progress: dict[str, Any],
    error: str | None = None,
) -> Job | None:
    """Complete the job, if ``claim_`` still holds it; the caller stores the result, then commits.

    None when the token no longer matches: another worker owns the job now, and
    whatever this one found must not be stored.
    """
    job = _complete(session, claim_.job_id, _held(claim_), state, error, progress)
    if job is None:
        return None
    record(session, job.worker, f"job.{state.value}", "job", job.id, None, audit_state(job))
    return job


def release(session: Session, claim_: Claim, reason: str) -> bool:
    """Give a running job back to the queue (the worker is shutting down); commits.

    ``dispatched_at`` is cleared, so the sweeper hands it over again even if
    the backend forgets it.
    """
    now = utcnow()
    done = session.execute(
        sa.update(Job)
        .where(_held(claim_))
        .values(
            state=JobState.queued,
            claim_token=None,
            worker=None,
            lease_until=None,
            dispatched_at=None,
            progress={"state": "queued", "released": reason},
            updated_at=now,
            version=Job.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if rows_changed(done) == 1:
        job = _reread(session, claim_.job_id)
        record(session, "scheduler", "job.release", "job", job.id, None, audit_state(job))
        registry.handler_for(job.kind).requeued(session, job)
    session.commit()
    return rows_changed(done) == 1


def mark_dispatched(session: Session, job_ids: Iterable[int]) -> None:
    ids = list(job_ids)
    if not ids:
        return
    session.execute(
        sa.update(Job)
        .where(Job.id.in_(ids), Job.state.in_(tuple(IN_PROGRESS)))
        .values(dispatched_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.commit()


# ---------------------------------------------------------------------- cancel


def request_cancel(session: Session, actor: User, job_id: int) -> Job:
    """Stop a job: a queued one is cancelled at once, a running one at its next heartbeat.

    409 for a job that already finished. Commits.
    """
    try:
        job = lock(session, job_id)
        if job.state in FINISHED:
            raise Conflict(f"job {job_id} is {job.state.value}: there is nothing to cancel")
        before = audit_state(job)
        if job.state == JobState.queued:
            settle(
                session,
                job_id,
                _matches(job_id, JobState.queued, job.claim_token),
                JobState.cancelled,
                f"cancelled by {actor.email} before it was solved",
            )
        else:
            session.execute(
                sa.update(Job)
                .where(Job.id == job_id)
                .values(cancel_requested=True, updated_at=utcnow(), version=Job.version + 1)
                .execution_options(synchronize_session=False)
            )
        job = lock(session, job_id)
        record(session, actor, "job.cancel", "job", job.id, before, audit_state(job))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return job


def lock(session: Session, job_id: int) -> Job:
    job = session.scalars(
        sa.select(Job)
        .where(Job.id == job_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if job is None:
        raise NotFound(f"job {job_id}")
    return job


# ----------------------------------------------------------------------- reading


def run_job(session: Session, run_id: int) -> Job | None:
    """The job solving a run (not its scenarios)."""
    return session.scalar(
        sa.select(Job)
        .where(Job.run_id == run_id, Job.kind == JobKind.run)
        .execution_options(populate_existing=True)
    )


def jobs_query(
    *,
    state: JobState | None = None,
    kind: JobKind | None = None,
    run_id: int | None = None,
    run_ids: sa.Select[Any] | None = None,
) -> sa.Select[Any]:
    """Jobs newest first; ``run_ids``, a query of run ids, keeps the jobs of those runs."""
    stmt = sa.select(Job).order_by(Job.id.desc())
    if state is not None:
        stmt = stmt.where(Job.state == state)
    if kind is not None:
        stmt = stmt.where(Job.kind == kind)
    if run_id is not None:
        stmt = stmt.where(Job.run_id == run_id)
    if run_ids is not None:
        stmt = stmt.where(Job.run_id.in_(run_ids))
    return stmt


def get_visible(session: Session, user: User, job_id: int) -> Job:
    """The job if ``user`` may read it, as its kind's handler says.

    404 when what it solves is hidden from the user (its existence is not told);
    403 (the handler's) when the user sees only part of it.
    """
    job = session.get(Job, job_id, populate_existing=True)
    if job is None:
        raise NotFound(f"job {job_id}")
    try:
        registry.handler_for(job.kind).check_visible(session, user, job)
    except NotFound:
        raise NotFound(f"job {job_id}") from None
    return job


def can_list_all(user: User) -> bool:
    return user.has_role(Role.coordinator, Role.admin)


def wait(session: Session, job_ids: Sequence[int], timeout: float) -> bool:
    """Wait until every job in ``job_ids`` finished or ``timeout`` passed; True if all did.

    Reads in short transactions (on SQLite each one takes the write lock for a
    moment, so none may stay open while the workers write).
    """
    deadline = time.monotonic() + timeout
    pause = 0.05
    while True:
        try:
            open_jobs = session.scalar(
                sa.select(sa.func.count())
                .select_from(Job)
                .where(Job.id.in_(list(job_ids)), Job.state.in_(tuple(IN_PROGRESS)))
            )
        finally:
            session.rollback()
        if not open_jobs:
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(pause, remaining))
        pause = min(pause * 1.5, 0.5)
