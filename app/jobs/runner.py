"""Solving one job: claim it, solve with a heartbeat beside, complete it once.

The same steps run in an embedded pool process, in a ``poolbuy worker`` (a
message from the broker) and, for scripts and tests, in the caller's session
(``run_inline``, no heartbeat):

1. claim (``app.jobs.service.claim``). If another worker holds the job, wait
   while its lease runs; if its heartbeat moves, it is alive and the job is
   left to it, else the lease runs out and this worker takes over (a worker
   killed mid-solve: the broker delivers its message again, here);
2. solve with no transaction open; a heartbeat thread renews the lease every
   ``jobs_heartbeat_seconds``, stores the progress, and stops the solve (the
   solver's ``cancel`` token) when the job is cancelled, its lease was lost,
   the worker shuts down, or the solve overran its time limit by far;
3. complete: in one transaction, the job's conditional UPDATE to its end state
   and the kind's handler storing the result (``app.jobs.registry``): the plan
   on the run, or on the scenario. Retried while the database is down.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from app.audit import record
from app.db import make_engine, utcnow
from app.jobs import registry
from app.jobs import service as jobs_service
from app.jobs.models import Job, JobState
from app.jobs.progress import ProgressRecorder
from app.jobs.service import Busy, Claim, ClaimResult, Settled
from app.settings import Settings
from solver import ProblemInvalid, SolveCancelled

log = logging.getLogger("poolbuy.jobs")

SOLVED = frozenset({"optimal", "feasible"})
# Beyond its time limit per solve times the solves it holds (pooled + one per agency),
# a job is stopped: a safety net for a solve that hangs, not the usual way it ends.
OVERRUN_GRACE_SECONDS = 60.0
# How long a finished solve keeps trying to store its result while the database is down.
STORE_RETRY_SECONDS = 600.0

# What became of a job in this worker's hands.
SUCCEEDED, FAILED, CANCELLED = "succeeded", "failed", "cancelled"
SKIPPED = "skipped"  # nothing to do: already finished, or alive in another worker's hands
LOST = "lost"  # another worker took it over meanwhile; nothing stored
RELEASED = "released"  # handed back to the queue: this worker is shutting down

DATABASE_DOWN = (OperationalError, InterfaceError)


class StopSignal(threading.Event):
    """The solver's cancel token, with why it was set (the first reason wins)."""

    def __init__(self) -> None:
        super().__init__()
        self.reason: str | None = None
        self._guard = threading.Lock()

    def stop(self, reason: str) -> None:
        with self._guard:
            if self.reason is None:
                self.reason = reason
        self.set()


class Heartbeat(threading.Thread):
    def __init__(
        self,
        factory: sessionmaker[Session],
        claim: Claim,
        settings: Settings,
        recorder: ProgressRecorder,
        signal: StopSignal,
        shutdown: threading.Event | None,
        overrun_after: float,
    ) -> None:
        super().__init__(name=f"heartbeat-job-{claim.job_id}", daemon=True)
        self.factory = factory
        self.claim = claim
        self.settings = settings
        self.recorder = recorder
        self.signal = signal
        self.shutdown = shutdown
        self.deadline = time.monotonic() + overrun_after
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.settings.jobs_heartbeat_seconds):
            self.beat()

    def beat(self) -> None:
        if self.shutdown is not None and self.shutdown.is_set():
            self.signal.stop("shutdown")
        if time.monotonic() > self.deadline:
            self.signal.stop("overrun")
        progress = self.recorder.snapshot() if self.recorder.changed else None
        try:
            with self.factory() as session:
                cancel = jobs_service.heartbeat(session, self.claim, self.settings, progress)
        except DATABASE_DOWN as exc:
            # Keep solving: the result is stored when the database is back (or, if the
            # lease ran out meanwhile, by whichever worker holds the job then).
            log.warning("job %s: heartbeat failed: %s", self.claim.job_id, exc)
            return
        if cancel is None:
            log.warning("job %s: lease lost; another worker has it now", self.claim.job_id)
            self.signal.stop("lost")
        elif cancel:
            self.signal.stop("cancel")

    def finish(self) -> None:
        self._done.set()
        self.join()


# --------------------------------------------------------------------- entry points


def run_job(
    job_id: int,
    *,
    factory: sessionmaker[Session],
    settings: Settings,
    worker: str,
    shutdown: threading.Event | None = None,
) -> str:
    """Claim, solve and complete ``job_id``; what became of it (see the constants above)."""
    claim = acquire(factory, job_id, settings, worker, shutdown)
    if not isinstance(claim, Claim):
        return SKIPPED
    log.info("job %s: attempt %s in %s", job_id, claim.attempt, worker)
    with factory() as session:
        job = session.get_one(Job, job_id)
        problem = registry.handler_for(job.kind).problem(session, job)
    solves = solves_of(claim, problem)
    recorder = ProgressRecorder(attempt=claim.attempt)
    signal = StopSignal()
    heartbeat = Heartbeat(
        factory,
        claim,
        settings,
        recorder,
        signal,
        shutdown,
        claim.time_limit_seconds * solves + OVERRUN_GRACE_SECONDS,
    )
    heartbeat.start()
    context = registry.JobContext(
        job_id,
        claim.run_id,
        claim.attempt,
        settings,
        sessions=factory,
        run_here=lambda other: run_job(
            other, factory=factory, settings=settings, worker=worker, shutdown=shutdown
        ),
        hand_over=lambda ids: hand_over(factory, settings, ids),
    )
    try:
        plan, error = solve(problem, claim, settings, recorder, signal, context)
    finally:
        heartbeat.finish()

    if signal.reason == "lost":
        return LOST
    if signal.reason == "shutdown":
        with factory() as session:
            jobs_service.release(session, claim, "the worker shut down")
        return RELEASED
    return complete(factory, claim, plan, error, recorder, signal.reason)


def run_inline(
    session: Session,
    job_id: int,
    settings: Settings,
    on_finished: Callable[[Any], None] | None = None,
) -> str:
    """Claim, solve and complete ``job_id`` in ``session``, in this thread (no heartbeat)."""
    worker = "inline:" + jobs_service.worker_name()
    try:
        claim = claim_and_start(session, job_id, settings, worker)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    if not isinstance(claim, Claim):
        return SKIPPED
    job = session.get_one(Job, job_id)
    problem = registry.handler_for(job.kind).problem(session, job)
    session.rollback()  # no transaction open while solving (SQLite's write lock)
    recorder = ProgressRecorder(attempt=claim.attempt)
    context = registry.JobContext(
        job_id,
        claim.run_id,
        claim.attempt,
        settings,
        sessions=lambda: contextlib.nullcontext(session),
        run_here=lambda other: run_inline(session, other, settings),
        # Inline, nobody else is there: the job runs what it queued itself.
        hand_over=lambda ids: None,
    )
    plan, error = solve(problem, claim, settings, recorder, None, context)
    try:
        return store(session, claim, plan, error, recorder, None, on_finished)
    except BaseException:
        session.rollback()
        raise


# ------------------------------------------------------------------------- steps


def claim_and_start(session: Session, job_id: int, settings: Settings, worker: str) -> ClaimResult:
    """The claim, and its kind's ``started`` (a run marked running), in one transaction."""
    result = jobs_service.claim(session, job_id, worker, settings)
    if isinstance(result, Claim):
        job = session.execute(
            sa.select(Job).where(Job.id == job_id).execution_options(populate_existing=True)
        ).scalar_one()
        registry.handler_for(job.kind).started(session, job, result.attempt)
        record(session, worker, "job.start", "job", job_id, None, jobs_service.audit_state(job))
    return result


def acquire(
    factory: sessionmaker[Session],
    job_id: int,
    settings: Settings,
    worker: str,
    shutdown: threading.Event | None = None,
) -> ClaimResult:
    """Claim ``job_id``, waiting out the lease of a holder that stopped beating."""
    seen: object = ...
    give_up = time.monotonic() + 2 * settings.jobs_lease_seconds + settings.jobs_heartbeat_seconds
    while True:
        with factory() as session:
            try:
                result = claim_and_start(session, job_id, settings, worker)
                session.commit()
            except BaseException:
                session.rollback()
                raise
        if not isinstance(result, Busy):
            return result
        if seen is ...:
            seen = result.heartbeat_at
        elif result.heartbeat_at != seen:
            # Its holder renewed the lease: alive, and the job is in good hands.
            return Settled(None)
        if time.monotonic() > give_up or (shutdown is not None and shutdown.is_set()):
            return result
        remaining = (result.lease_until - utcnow()).total_seconds()
        time.sleep(min(max(remaining, 0.05), settings.jobs_heartbeat_seconds))


def solves_of(claim: Claim, problem: dict[str, Any]) -> int:
    """How many solves a job holds: its handler's count, else pooled + one per agency."""
    count = getattr(registry.handler_for(claim.kind), "solves", None)
    if count is not None:
        return int(count(problem))
    return 1 + len(problem.get("agencies") or ())


def hand_over(factory: sessionmaker[Session], settings: Settings, job_ids: list[int]) -> None:
    """Jobs a job queued, to the other workers: published in the broker mode; in the
    embedded mode the service's sweeper hands them to its pool (this process is one of it)."""
    if not job_ids or settings.jobs_backend != "broker":
        return
    from app.jobs import backends

    url = factory.kw["bind"].url.render_as_string(hide_password=False)
    backends.get_backend(settings).dispatch(job_ids, url)


def solve(
    problem: dict[str, Any],
    claim: Claim,
    settings: Settings,
    recorder: ProgressRecorder,
    signal: StopSignal | None,
    context: registry.JobContext | None = None,
) -> tuple[dict[str, Any] | None, str | None]:
    """The plan, or why there is none. A stop (``signal``) leaves both empty."""
    handler = registry.handler_for(claim.kind)
    in_context = getattr(handler, "solve_in_context", None)
    try:
        if in_context is not None and context is not None:
            plan: dict[str, Any] = in_context(
                problem,
                context=context,
                time_limit_seconds=claim.time_limit_seconds,
                settings=settings,
                progress=recorder,
                cancel=signal,
            )
            return plan, None
        plan = handler.solve(
            problem,
            time_limit_seconds=claim.time_limit_seconds,
            settings=settings,
            progress=recorder,
            cancel=signal,
        )
        return plan, None
    except SolveCancelled:
        return None, None
    except ProblemInvalid as exc:
        error = "the problem document breaks contract v1: " + "; ".join(
            f"{e.path}: {e.reason}" for e in exc.errors
        )
        log.error("job %s: %s", claim.job_id, error)
        return None, error
    except Exception as exc:
        log.exception("job %s: the solver failed", claim.job_id)
        return None, f"the solver failed: {type(exc).__name__}: {exc}"


def outcome(
    claim: Claim, plan: dict[str, Any] | None, error: str | None, stopped: str | None
) -> tuple[JobState, str | None]:
    if stopped == "cancel":
        return JobState.cancelled, "cancelled on request while it was solving"
    if stopped == "overrun":
        return JobState.failed, (
            f"stopped: still solving long after its time limit of {claim.time_limit_seconds:g} s "
            "per solve ran out"
        )
    if plan is not None and plan.get("status") in SOLVED:
        return JobState.succeeded, None
    if error is None:
        status = plan.get("status") if plan is not None else None
        error = f"the solver found no plan (status {status})"
        if plan is not None and (plan.get("solver") or {}).get("seconds", 0) >= (
            claim.time_limit_seconds * 0.99
        ):
            error += f": its time limit of {claim.time_limit_seconds:g} s ran out first"
    return JobState.failed, error


def complete(
    factory: sessionmaker[Session],
    claim: Claim,
    plan: dict[str, Any] | None,
    error: str | None,
    recorder: ProgressRecorder,
    stopped: str | None,
) -> str:
    """Store the outcome, retrying while the database is unreachable."""
    pause = 0.5
    give_up = time.monotonic() + STORE_RETRY_SECONDS
    while True:
        try:
            with factory() as session:
                try:
                    return store(session, claim, plan, error, recorder, stopped)
                except BaseException:
                    session.rollback()
                    raise
        except DATABASE_DOWN as exc:
            if time.monotonic() > give_up:
                raise
            log.warning("job %s: cannot store the result yet (%s); retrying", claim.job_id, exc)
            time.sleep(pause)
            pause = min(pause * 2, 10.0)
        except Exception as exc:
            # A result the service refuses to store (a bug): solving again would not help.
            log.exception("job %s: storing the result failed", claim.job_id)
            reason = f"storing the result failed: {type(exc).__name__}: {exc}"
            with factory() as session:
                return store(session, claim, None, reason, recorder, None)


def store(
    session: Session,
    claim: Claim,
    plan: dict[str, Any] | None,
    error: str | None,
    recorder: ProgressRecorder,
    stopped: str | None,
    on_finished: Callable[[Any], None] | None = None,
) -> str:
    """One transaction: the job completed (if still ours) and its result stored; commits."""
    state, reason = outcome(claim, plan, error, stopped)
    final = {"succeeded": "done"}.get(state.value, state.value)
    progress = recorder.snapshot(final)
    job = jobs_service.finish(session, claim, state, progress=progress, error=reason)
    if job is None:
        session.rollback()
        log.warning("job %s: another worker completed or took it; result dropped", claim.job_id)
        return LOST
    registry.handler_for(job.kind).finished(
        session,
        job,
        plan if state != JobState.cancelled else None,
        reason,
        progress,
        state=state,
        on_finished=on_finished,
    )
    session.commit()
    log.info("job %s: %s", claim.job_id, state.value)
    return state.value


# ------------------------------------------------------------ the embedded pool


@lru_cache
def session_factory(database_url: str) -> sessionmaker[Session]:
    """One engine per database per process (pool processes serve any database they are sent)."""
    return sessionmaker(bind=make_engine(database_url), expire_on_commit=False)


def pool_initializer(nice: int, handler_modules: list[str]) -> None:
    """Runs once in each embedded pool process: the kinds' handlers, lower priority, quiet
    logs. A spawned process starts empty: ``handler_modules`` register the handlers."""
    registry.load(handler_modules)
    if nice:
        # Not permitted here: solve at normal priority.
        with contextlib.suppress(OSError):
            os.nice(nice)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")


def warm() -> int:
    """Nothing: submitted once per pool process at start, so the first job finds it ready."""
    return os.getpid()


def pool_entry(job_id: int, database_url: str, settings_data: dict[str, Any]) -> str:
    """What an embedded pool process runs for one job."""
    settings = Settings.model_construct(**settings_data)
    return run_job(
        job_id,
        factory=session_factory(database_url),
        settings=settings,
        worker="embedded:" + jobs_service.worker_name(),
    )
