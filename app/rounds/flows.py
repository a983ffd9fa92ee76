"""A round's life, from its close to its approval, in the order it happens.

Read this module to follow a round; each step calls the service that owns it.

1. **Close** (``close_round``, a coordinator; or ``fire_schedule``, the sweeper
   at a scheduled round's deadline). One transaction: the round, locked, moves
   ``open -> closed``; its submitted needs and the catalogue are frozen into a
   contract-v1 document (``app.runs.snapshot``), each offer with the lead time a
   specialist confirmed from its deliveries where there is one
   (``app.deliveries.learning``); run #1 is added with it
   (``app.runs.service.new_run``) and a job of kind ``run`` is queued for it
   (``app.jobs``). Nothing changes when the snapshot breaks the contract.
2. **Hand over** (``_start``), after the commit: the job goes to the backend (the
   embedded process pool, or RabbitMQ and ``poolbuy worker``), or, for a caller
   whose transaction may never really commit (a script, a test), is solved here.
3. **Solve** (``app.jobs.runner``, with the run kind's handler ``app.runs.jobs``):
   the job is claimed (the run turns ``running``), solved with no transaction
   open and a heartbeat beside it, then completed once: in one transaction the
   job's conditional update, the plan on the run, the run's status, and the
   round's move to ``optimised`` when the plan is optimal or feasible. With
   fairness checked (a round's default), the run's job fans the coalitions out
   as batch jobs of their own (``app.runs.coalitions``), spread over every
   worker, and builds the plan from their stored values; the run shows "112 of
   254 coalitions" meanwhile, and a re-run reuses every value whose sub-problem
   did not change.
4. **Re-run** (``rerun``), when run #1 failed, after a rejection, or to try
   other settings: a new run of the same frozen document, queued as in 1-3.
5. **Decide** (``decide``, ``app.runs.approvals``): each agency's chief of
   mission approves or rejects the latest run. The last approval needed makes
   the run binding and the round ``approved``; one rejection makes it
   ``rejected`` (back to 4).
6. **Order** (``app.deliveries.service.issue_orders``), in the transaction of the
   approval that binds the run: one purchase order per supplier, a line per
   award traced to its need and promised on the plan's delivery date. From then
   on local teams record what arrives against those lines.

The sweeper runs ``sweep_schedules`` (registered below) on every pass, so a
scheduled round closes at its deadline however many processes run one.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.api import Idempotency
from app.audit import record, snapshot
from app.auth.models import User
from app.db import utcnow
from app.deliveries import learning
from app.deliveries.service import issue_orders
from app.errors import Conflict, NotFound
from app.jobs import dispatch, registry, runner
from app.jobs import service as jobs_service
from app.jobs.models import Job
from app.rounds import schedules
from app.rounds.models import Round, RoundStatus, ScheduleFiring
from app.rounds.service import lock_round, transition
from app.runs import approvals
from app.runs import service as runs_service
from app.runs.models import Approval, Run
from app.runs.schemas import ApprovalCreate, RunCreate
from app.runs.snapshot import (
    SnapshotInvalid,
    build_document,
    check_document,
    closing_day,
    resolve_settings,
)
from app.settings import Settings, get_settings

if TYPE_CHECKING:
    from app.jobs.backends import JobBackend

log = logging.getLogger("poolbuy.rounds")

# 5. decide: ``decide`` (app.runs.approvals), re-exported here as the round's last step.
__all__ = ["close_round", "decide", "execute_run", "fire_schedule", "rerun"]


# ------------------------------------------------------------------- 1. close


def freeze_round(
    session: Session,
    actor: User,
    round_: Round,
    settings: Settings,
    *,
    audit_actor: User | str | None = None,
) -> tuple[Run, Job]:
    """Close a locked open round and freeze its snapshot as a queued run (no commit).

    Shared by the coordinator's close and a schedule's firing (``fire_schedule``).
    Raises SnapshotInvalid (changing nothing) when the snapshot breaks the contract.
    """
    if round_.status != RoundStatus.open:
        raise Conflict(f"round {round_.id} is {round_.status.value}; only an open round closes")
    transition(session, round_, RoundStatus.closed, audit_actor or actor)
    as_of = closing_day(round_, round_.closed_at or utcnow())
    document = build_document(
        session,
        round_,
        as_of,
        max_time_limit_seconds=settings.max_solve_seconds,
        # Lead times a specialist confirmed from realised deliveries replace the promises.
        lead_times=learning.decided_lead_times(session, round_.id),
    )
    run = runs_service.new_run(session, actor, round_, document, audit_actor=audit_actor)
    return run, runs_service.queue_run(session, actor, run, audit_actor=audit_actor)


def close_round(
    session: Session,
    actor: User,
    round_id: int,
    *,
    settings: Settings | None = None,
    on_finished: Callable[[Run], None] | None = None,
    backend: JobBackend | None = None,
) -> Run:
    """Close an open round, freeze its snapshot as run #1 and queue its solve.

    Needs are read with the round locked: a submission or edit either
    committed before (and is in the snapshot) or waits and then finds the
    round closed (409). Nothing is changed when the snapshot is invalid.

    Without ``backend`` (a script, a test) the run is solved here, before this
    returns; with one, it is handed to the backend and returned ``queued``.
    ``on_finished`` is called in the transaction that stores the run as the
    caller will answer with it (see ``app.runs.service.remember_response``).
    """
    settings = settings or get_settings()

    def queue(round_: Round) -> tuple[Run, Job]:
        return freeze_round(session, actor, round_, settings)

    return _queue_and_start(session, round_id, queue, settings, backend, on_finished)


# ------------------------------------------------------------------ 4. re-run


def rerun(
    session: Session,
    actor: User,
    round_id: int,
    body: RunCreate | None = None,
    *,
    settings: Settings | None = None,
    on_finished: Callable[[Run], None] | None = None,
    backend: JobBackend | None = None,
) -> Run:
    """A new run of the round's frozen snapshot, optionally with other settings; queued.

    Solved here without ``backend``, as ``close_round``.
    """
    settings = settings or get_settings()
    overrides = body.settings.model_dump(exclude_none=True) if body and body.settings else None

    def queue(round_: Round) -> tuple[Run, Job]:
        return _rerun(session, actor, round_, overrides, settings)

    return _queue_and_start(session, round_id, queue, settings, backend, on_finished)


def _rerun(
    session: Session,
    actor: User,
    round_: Round,
    overrides: dict[str, Any] | None,
    settings: Settings,
) -> tuple[Run, Job]:
    """A queued new run of a locked round's frozen snapshot (no commit)."""
    round_id = round_.id
    if round_.status == RoundStatus.open:
        raise Conflict(
            f"round {round_id} is open: close it first (closing freezes the snapshot runs "
            "are solved from)"
        )
    if round_.status == RoundStatus.approved:
        raise Conflict(f"round {round_id} is approved: its binding run is final")
    runs = session.scalars(
        sa.select(Run)
        .where(Run.round_id == round_id)
        .order_by(Run.number)
        .execution_options(populate_existing=True)
    ).all()
    if not runs:
        raise Conflict(f"round {round_id} has no snapshot to re-run")
    if any(r.binding for r in runs):
        raise Conflict(f"round {round_id} has a binding run: it is final")
    busy = [r for r in runs if r.status in runs_service.IN_PROGRESS]
    if busy:
        raise Conflict(
            f"run #{busy[0].number} of round {round_id} is {busy[0].status.value}; "
            "wait for it to finish"
        )
    frozen = runs[0].problem
    document = {
        **frozen,
        "settings": resolve_settings(
            frozen.get("settings"), overrides, max_time_limit_seconds=settings.max_solve_seconds
        ),
    }
    check_document(document)
    run = runs_service.new_run(session, actor, round_, document)
    return run, runs_service.queue_run(session, actor, run)


# ----------------------------------------------- 2. hand over, 3. solve (inline)


def _queue_and_start(
    session: Session,
    round_id: int,
    queue: Callable[[Round], tuple[Run, Job]],
    settings: Settings,
    backend: JobBackend | None,
    on_finished: Callable[[Run], None] | None,
) -> Run:
    """Lock the round, ``queue`` its new run, commit, then hand the run over (``_start``).

    With a backend ``on_finished`` is called before the commit, in the transaction that
    stores the run; solved inline, after the solve.
    """
    inline = dispatch.runs_inline(session, backend)
    try:
        round_ = lock_round(session, round_id)
        run, job = queue(round_)
        if not inline and on_finished is not None:
            on_finished(run)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return _start(session, run, job, settings, backend, on_finished if inline else None)


def _start(
    session: Session,
    run: Run,
    job: Job,
    settings: Settings,
    backend: JobBackend | None,
    on_finished: Callable[[Run], None] | None,
) -> Run:
    dispatch.start(session, [job.id], backend=backend, settings=settings, on_finished=on_finished)
    stored = session.get(Run, run.id, populate_existing=True)
    assert stored is not None
    return stored


def decide(
    session: Session,
    chief: User,
    run_id: int,
    body: ApprovalCreate,
    *,
    idem: Idempotency | None = None,
    settings: Settings | None = None,
) -> Approval:
    """5 and 6: a chief of mission's decision; the one that binds the run issues its orders."""
    settings = settings or get_settings()

    def order(run: Run) -> None:
        issue_orders(session, chief, run, settings=settings)

    return approvals.decide(session, chief, run_id, body, idem=idem, on_bound=order)


def execute_run(
    session: Session,
    run_id: int,
    *,
    settings: Settings | None = None,
    on_finished: Callable[[Run], None] | None = None,
) -> Run:
    """Solve a queued run here and now, in ``session``, and store its outcome.

    The same claim and conditional completion a worker goes through
    (``app.jobs.runner``), without a heartbeat: for scripts and tests.
    """
    job = jobs_service.run_job(session, run_id)
    session.rollback()
    if job is None:
        raise NotFound(f"a job for run {run_id}")
    runner.run_inline(session, job.id, settings or get_settings(), on_finished)
    stored = session.get(Run, run_id, populate_existing=True)
    assert stored is not None
    return stored


# ----------------------------------------- 1, by the clock: a scheduled close


def fire_schedule(
    session: Session,
    round_id: int,
    *,
    fired_by: str,
    settings: Settings,
    now: dt.datetime | None = None,
) -> int | None:
    """Close a due scheduled round and queue its run; the job's id, or None if nothing to do.

    Commits. Safe to call from several processes at once: one of them fires.
    """
    now = now or utcnow()
    try:
        round_ = lock_round(session, round_id)
        due = (
            round_.status == RoundStatus.open
            and round_.schedule_timezone is not None
            and round_.deadline <= now
            and schedules.firing_of(session, round_id) is None
        )
        if not due:
            session.rollback()
            return None
        owner = session.get_one(User, round_.created_by_id)
        firing = ScheduleFiring(
            round_id=round_.id, deadline=round_.deadline, fired_at=now, fired_by=fired_by
        )
        job_id = None
        try:
            with session.begin_nested():
                run, job = freeze_round(
                    session, owner, round_, settings, audit_actor=schedules.SCHEDULER
                )
            firing.run_id, job_id = run.id, job.id
        except SnapshotInvalid as exc:
            problems = "; ".join(f"{e.path}: {e.reason}" for e in exc.errors)
            firing.error = f"not closed: its snapshot breaks contract v1 ({problems})"
        round_ = session.get_one(Round, round_id)
        if round_.schedule_cron is not None and firing.error is None:
            firing.next_round_id = schedules.open_next_window(session, round_, now).id
        session.add(firing)
        session.flush()
        record(
            session, schedules.SCHEDULER, "schedule.fire", "round", round_id, None, snapshot(firing)
        )
        session.commit()
        return job_id
    except IntegrityError:
        # Another scheduler fired this round in the meantime: one firing, theirs.
        session.rollback()
        return None
    except BaseException:
        session.rollback()
        raise


def sweep_schedules(
    session: Session, settings: Settings, fired_by: str, now: dt.datetime | None
) -> registry.SweepOutcome:
    """The sweeper's task: fire every due scheduled round; what was fired and queued."""
    outcome = registry.SweepOutcome()
    for round_id in schedules.due_rounds(session, now):
        session.rollback()
        job_id = fire_schedule(session, round_id, fired_by=fired_by, settings=settings, now=now)
        if job_id is not None:
            log.info("round %s closed by its schedule; job %s queued", round_id, job_id)
            outcome.fired.append(round_id)
            outcome.jobs.append(job_id)
    return outcome


registry.register_sweep_task("round schedules", sweep_schedules)
