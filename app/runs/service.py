"""Runs of a round: close and freeze, solve, re-run, approve; who may see what.

Life of a run
-------------
``close_round`` and ``rerun`` each commit a new run (status ``queued``) with
its frozen problem document and the job that solves it (``app.jobs``), then
hand the job to a backend: the embedded process pool or the broker's workers
(or, for a script or test with no backend, solve it in the same call). The
worker claims the job (the run becomes ``running``), solves with no
transaction open, and stores the plan, the run's final status and the round's
move to ``optimised`` in one transaction, conditional on still holding the
job: a job delivered twice stores one plan. ``GET /runs/{id}`` shows the job's
progress while it runs.

Decisions taken here
--------------------
* Snapshot: frozen once, when the round closes (run #1). Every re-run solves
  that same document, with the round's settings or the overrides sent with
  the re-run (merged onto the snapshot's, never onto another re-run's).
* Re-run: allowed while the round is ``closed`` (e.g. run #1 failed),
  ``optimised`` or ``rejected``; refused (409) while the round is open, once
  it is approved, and while another run of the round is queued or running.
  A re-run of a **rejected** round puts it back to ``optimised`` when the new
  run succeeds (it stays ``rejected`` while solving or if the solve fails);
  decisions on earlier runs stay on record but no longer count.
* Approvals: taken on the round's latest run only, once it succeeded and
  while the round is ``optimised``. The chief of mission of any agency with
  needs in the run may decide for that agency; the run becomes binding when
  every agency with awards has approved (every agency with needs, when
  nothing was awarded). One rejection rejects the round.
* Visibility: coordinators and admins see every run. Once a round has been
  optimised (``optimised``, ``approved``, ``rejected``) every user of a
  member agency sees its runs in full, outputs included: comparing every
  agency's allocated and stand-alone cost is what makes the split fair and
  checkable. Before that, a member agency's users see each run's status and
  only their own agency's needs and outcome (``scope = own_agency``); other
  users see nothing (404).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

from app.api import Idempotency, etag_for
from app.api.models import IdempotencyKey
from app.audit import record, snapshot
from app.auth.models import Role, User
from app.db import utcnow
from app.errors import Conflict, Forbidden, NotFound
from app.jobs import dispatch
from app.jobs import service as jobs_service
from app.jobs.models import Job
from app.jobs.progress import own_share
from app.rounds.models import Round, RoundStatus
from app.rounds.service import PUBLISHED_STATUSES, lock_round, transition
from app.runs import outputs
from app.runs.models import Approval, Decision, PlanStatus, Run, RunStatus
from app.runs.schemas import (
    ApprovalCreate,
    ApprovalRead,
    ApprovalState,
    RunCreate,
    RunJob,
    RunRead,
    RunSummary,
)
from app.runs.snapshot import build_document, check_document, closing_day, resolve_settings
from app.settings import Settings, get_settings
from app.solve.service import effective_time_limit
from solver import SolveProgress, solve

if TYPE_CHECKING:
    from app.jobs.backends import JobBackend
    from solver.highs import CancelToken

log = logging.getLogger("poolbuy.runs")

API_PREFIX = "/api/v1"

# Once a round reaches one of these, its runs are open to every member agency.
MEMBER_VISIBLE = PUBLISHED_STATUSES
IN_PROGRESS = frozenset({RunStatus.queued, RunStatus.running})
SOLVED = frozenset({PlanStatus.optimal, PlanStatus.feasible})


def run_url(run: Run) -> str:
    return f"{API_PREFIX}/runs/{run.id}"


def approval_url(approval: Approval) -> str:
    return f"{API_PREFIX}/runs/{approval.run_id}/approvals/{approval.agency_id}"


# -------------------------------------------------------------------- visibility


@dataclass(frozen=True)
class Viewer:
    """What one user may see of one round's runs: all of it, or one agency's share."""

    full: bool
    agency_id: str | None

    @property
    def scope(self) -> Literal["full", "own_agency"]:
        return "full" if self.full else "own_agency"


def viewer_of(user: User, round_: Round) -> Viewer | None:
    if user.has_role(Role.coordinator, Role.admin):
        return Viewer(True, user.agency_id)
    if user.agency_id is None:
        return None
    return Viewer(round_.status in MEMBER_VISIBLE, user.agency_id)


@dataclass(frozen=True)
class VisibleRun:
    run: Run
    viewer: Viewer


def get_run(session: Session, user: User, run_id: int) -> VisibleRun:
    """The run if ``user`` may see it, else 404 (its existence is not told)."""
    run = session.get(Run, run_id)
    viewer = viewer_of(user, run.round) if run is not None else None
    if run is None or viewer is None:
        raise NotFound(f"run {run_id}")
    return VisibleRun(run, viewer)


def get_round_for_runs(session: Session, user: User, round_id: int) -> tuple[Round, Viewer]:
    round_ = session.get(Round, round_id)
    viewer = viewer_of(user, round_) if round_ is not None else None
    if round_ is None or viewer is None:
        raise NotFound(f"round {round_id}")
    return round_, viewer


def runs_query(
    round_id: int, *, status: RunStatus | None = None, binding: bool | None = None
) -> sa.Select[Any]:
    stmt = sa.select(Run).where(Run.round_id == round_id).order_by(Run.number.desc(), Run.id)
    if status is not None:
        stmt = stmt.where(Run.status == status)
    if binding is not None:
        stmt = stmt.where(Run.binding.is_(binding))
    return stmt


def approvals_query(
    run_id: int, *, agency_id: str | None = None, decision: Decision | None = None
) -> sa.Select[Any]:
    stmt = sa.select(Approval).where(Approval.run_id == run_id).order_by(Approval.id)
    if agency_id is not None:
        stmt = stmt.where(Approval.agency_id == agency_id)
    if decision is not None:
        stmt = stmt.where(Approval.decision == decision)
    return stmt


# Matches no agency (codes are never empty): a filter for another agency than the reader's.
_NO_AGENCY = ""


def agency_filter(visible: VisibleRun, agency_id: str | None) -> str | None:
    """The agency filter a reader gets: their own only, unless they see the run in full."""
    if visible.viewer.full:
        return agency_id
    own = visible.viewer.agency_id
    if agency_id is not None and agency_id != own:
        # Another agency's share of a run the reader sees only in part: nothing to show.
        return _NO_AGENCY
    return own


def get_approval(session: Session, visible: VisibleRun, agency_id: str) -> Approval:
    approval = session.scalar(
        approvals_query(visible.run.id, agency_id=agency_filter(visible, agency_id))
    )
    if approval is None:
        raise NotFound(f"a decision of {agency_id} on run {visible.run.id}")
    return approval


# ----------------------------------------------------------------------- reading


def required_agencies(run: Run) -> set[str]:
    if run.plan is None:
        return set()
    awarded = outputs.agencies_with_awards(run.problem, run.plan)
    return awarded or outputs.agencies_with_needs(run.problem)


def approval_state(run: Run, only: str | None = None) -> ApprovalState | None:
    if run.plan is None:
        return None
    required = required_agencies(run)
    approved = {a.agency_id for a in run.approvals if a.decision == Decision.approved}
    rejected = {a.agency_id for a in run.approvals if a.decision == Decision.rejected}

    def shown(agencies: set[str]) -> list[str]:
        return sorted(a for a in agencies if only is None or a == only)

    return ApprovalState(
        required=shown(required),
        approved=shown(approved),
        rejected=shown(rejected),
        pending=shown(required - approved - rejected),
        complete=run.binding,
    )


def run_read(run: Run, viewer: Viewer) -> RunRead:
    """The run as ``viewer`` may see it."""
    problem: dict[str, Any] = run.problem
    plan = run.plan
    only = None
    if not viewer.full:
        assert viewer.agency_id is not None
        only = viewer.agency_id
        problem, plan = outputs.own_share(problem, plan, viewer.agency_id)
    summary = RunSummary.model_validate(run).model_dump()
    solver_stats = run.solver_stats
    job = _job_of(run)
    progress = run.progress
    if job is not None and job.state in jobs_service.IN_PROGRESS and job.progress is not None:
        # The worker writes the live figures on the job; the run gets them when it ends.
        progress = job.progress
    if not viewer.full:
        # Pooled totals would tell one agency about the others' needs.
        summary |= {"objective": None, "money_cost": None}
        solver_stats = None
        progress = own_share(progress)
    return RunRead(
        **summary,
        scope=viewer.scope,
        problem=problem,
        plan=plan,
        solver_stats=solver_stats,
        progress=progress,
        job=RunJob.model_validate(job) if job is not None else None,
        approval=approval_state(run, only),
    )


def _job_of(run: Run) -> Job | None:
    session = object_session(run)
    return jobs_service.run_job(session, run.id) if session is not None else None


def require_full_view(visible: VisibleRun, what: str) -> None:
    if not visible.viewer.full:
        raise Forbidden(
            f"{what} consolidate every agency's needs: member agencies see them once the "
            "round is optimised"
        )


def require_plan(visible: VisibleRun) -> tuple[dict[str, Any], dict[str, Any]]:
    run = visible.run
    if run.plan is None:
        raise Conflict(f"run {run.id} has no plan (it is {run.status.value})")
    return run.problem, run.plan


# ---------------------------------------------------------------- closing, runs


def _digest(document: Any) -> str | None:
    if document is None:
        return None
    return hashlib.sha256(
        json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def _audit_state(run: Run) -> dict[str, Any]:
    # The documents themselves are kept on the run; the log keeps their digests,
    # so a changed snapshot or plan shows against the hash chain.
    state = snapshot(run, exclude=("problem", "plan", "progress", "solver_stats"))
    state["problem_sha256"] = _digest(run.problem)
    state["plan_sha256"] = _digest(run.plan)
    return state


def _new_run(
    session: Session,
    actor: User,
    round_: Round,
    document: dict[str, Any],
    *,
    audit_actor: User | str | None = None,
) -> Run:
    number = session.scalar(
        sa.select(sa.func.coalesce(sa.func.max(Run.number), 0)).where(Run.round_id == round_.id)
    )
    run = Run(
        round_id=round_.id,
        number=int(number or 0) + 1,
        status=RunStatus.queued,
        problem=document,
        triggered_by_id=actor.id,
        progress={"state": "queued"},
    )
    session.add(run)
    session.flush()
    record(session, audit_actor or actor, "run.create", "run", run.id, None, _audit_state(run))
    return run


def _queue(
    session: Session, actor: User, run: Run, *, audit_actor: User | str | None = None
) -> Job:
    time_limit = float(run.problem.get("settings", {}).get("time_limit_seconds", 60.0))
    return jobs_service.create(
        session, actor, run, time_limit_seconds=time_limit, audit_actor=audit_actor
    )


def freeze_round(
    session: Session,
    actor: User,
    round_: Round,
    settings: Settings,
    *,
    audit_actor: User | str | None = None,
) -> tuple[Run, Job]:
    """Close a locked open round and freeze its snapshot as a queued run (no commit).

    Shared by the coordinator's close and a schedule's firing (``app.jobs``).
    Raises SnapshotInvalid (changing nothing) when the snapshot breaks the contract.
    """
    if round_.status != RoundStatus.open:
        raise Conflict(f"round {round_.id} is {round_.status.value}; only an open round closes")
    transition(session, round_, RoundStatus.closed, audit_actor or actor)
    as_of = closing_day(round_, round_.closed_at or utcnow())
    document = build_document(
        session, round_, as_of, max_time_limit_seconds=settings.max_solve_seconds
    )
    run = _new_run(session, actor, round_, document, audit_actor=audit_actor)
    return run, _queue(session, actor, run, audit_actor=audit_actor)


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
    caller will answer with it (see ``remember_response``).
    """
    settings = settings or get_settings()
    inline = dispatch.runs_inline(session, backend)
    try:
        round_ = lock_round(session, round_id)
        run, job = freeze_round(session, actor, round_, settings)
        if not inline and on_finished is not None:
            on_finished(run)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return _start(session, run, job, settings, backend, on_finished if inline else None)


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
    inline = dispatch.runs_inline(session, backend)
    try:
        round_ = lock_round(session, round_id)
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
        busy = [r for r in runs if r.status in IN_PROGRESS]
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
        run = _new_run(session, actor, round_, document)
        job = _queue(session, actor, run)
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
    from app.jobs import runner

    runner.run_inline(session, job.id, settings or get_settings(), on_finished)
    stored = session.get(Run, run_id, populate_existing=True)
    assert stored is not None
    return stored


def solve_problem(
    problem: dict[str, Any],
    *,
    time_limit_seconds: float,
    settings: Settings,
    progress: Callable[[SolveProgress], None] | None = None,
    cancel: CancelToken | None = None,
) -> dict[str, Any]:
    """Solve a stored document under the service's limits (raises as ``solver.solve``)."""
    return solve(
        problem,
        time_limit_seconds=effective_time_limit(time_limit_seconds, settings.max_solve_seconds),
        workers=settings.solver_workers or None,
        progress=progress,
        cancel=cancel,
    )


def _lock_run(session: Session, run_id: int) -> Run:
    run = session.scalar(
        sa.select(Run)
        .where(Run.id == run_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if run is None:
        raise NotFound(f"run {run_id}")
    return run


def start_run(session: Session, run_id: int, attempt: int) -> None:
    """The run's job was claimed: the run is running (no commit; the claim commits)."""
    run = _lock_run(session, run_id)
    before = _audit_state(run)
    run.status = RunStatus.running
    if run.started_at is None:
        run.started_at = utcnow()
    run.progress = {"state": "running", "attempt": attempt}
    session.flush()
    # A second attempt means the first worker was lost; the log says so.
    action = "run.start" if attempt == 1 else "run.restart"
    record(session, run.triggered_by, action, "run", run.id, before, _audit_state(run))


def requeue_run(session: Session, run_id: int) -> None:
    run = _lock_run(session, run_id)
    before = _audit_state(run)
    run.status = RunStatus.queued
    run.progress = {"state": "queued"}
    session.flush()
    record(session, "scheduler", "run.requeue", "run", run.id, before, _audit_state(run))


def store_outcome(
    session: Session,
    run_id: int,
    plan: dict[str, Any] | None,
    error: str | None,
    progress: dict[str, Any],
    on_finished: Callable[[Run], None] | None = None,
    *,
    cancelled: bool = False,
) -> Run:
    """Store a run's plan (or why there is none) and move its round; no commit.

    The caller completed the run's job first, conditionally, in the same
    transaction (``app.jobs.service.finish``): so this runs once per job.
    """
    # Round first, then run: the order every writer of a round's runs takes locks in.
    round_id = session.scalar(sa.select(Run.round_id).where(Run.id == run_id))
    if round_id is None:
        raise NotFound(f"run {run_id}")
    round_ = lock_round(session, round_id)
    run = _lock_run(session, run_id)
    before = _audit_state(run)
    succeeded = not cancelled and plan is not None and plan.get("status") in SOLVED
    run.plan = plan
    if plan is not None:
        run.plan_status = PlanStatus(plan["status"])
        run.objective = plan.get("objective")
        run.money_cost = Decimal(str(plan["money_cost"])) if "money_cost" in plan else None
        run.solver_stats = plan.get("solver")
    if cancelled:
        run.status = RunStatus.cancelled
        run.error = error or "cancelled"
    elif succeeded:
        run.status = RunStatus.succeeded
    else:
        run.status = RunStatus.failed
        run.error = error or f"the solver found no plan (status {plan and plan.get('status')})"
    run.finished_at = utcnow()
    final = "done" if succeeded else ("cancelled" if cancelled else "failed")
    run.progress = {**progress, "state": final}
    session.flush()
    action = "run.cancel" if cancelled else "run.finish"
    record(session, run.triggered_by, action, "run", run.id, before, _audit_state(run))
    if succeeded and round_.status != RoundStatus.approved:
        # Also from optimised (a re-run): the move bumps the round's ETag, as its plan changed.
        transition(session, round_, RoundStatus.optimised, run.triggered_by)
    if on_finished is not None:
        on_finished(run)
    return run


def remember_response(idem: Idempotency | None) -> Callable[[Run], None] | None:
    """An ``on_finished`` hook storing the 201 a run-creating POST answers with."""
    if idem is None or idem.key is None:
        return None

    def _save(run: Run) -> None:
        body = run_read(run, Viewer(True, None))
        idem.save(201, body, row=run, location=run_url(run))

    return _save


def update_remembered_response(session: Session, idem: Idempotency | None, run: Run) -> None:
    """Replace a stored idempotent response with the run as it is now answered; commits.

    A queued run's POST stored its response when the run was created; the
    request then waited for the solve, and a retry must get what was answered.
    """
    if idem is None or idem.key is None:
        return
    body = run_read(run, Viewer(True, None)).model_dump(mode="json")
    session.execute(
        sa.update(IdempotencyKey)
        .where(IdempotencyKey.user_id == idem.user.id, IdempotencyKey.key == idem.key)
        .values(
            response_body=body,
            response_headers={"ETag": etag_for(run), "Location": run_url(run)},
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()


# --------------------------------------------------------------------- approvals


def decide(
    session: Session,
    chief: User,
    run_id: int,
    body: ApprovalCreate,
    *,
    idem: Idempotency | None = None,
) -> Approval:
    """Record a chief of mission's decision for their own agency on a run.

    The round is locked, so two agencies' last approvals cannot both miss
    that the run is now approved, nor both make it binding.
    """
    try:
        visible = get_run(session, chief, run_id)
        round_ = lock_round(session, visible.run.round_id)
        run = _lock_run(session, run_id)
        agency = chief.agency_id
        if agency is None:
            raise Forbidden("you act for no agency, so there is no share for you to approve")
        if run.triggered_by_id == chief.id:
            raise Forbidden(
                "four-eyes rule: you triggered this run, so someone else must decide on it"
            )
        if agency not in outputs.agencies_with_needs(run.problem):
            raise Forbidden(f"{agency} has no needs in run {run_id}: it has nothing to approve")
        _check_open_for_decisions(session, round_, run)
        if any(a.agency_id == agency for a in run.approvals):
            raise Conflict(f"{agency} already decided on run {run_id}; a decision is final")

        approval = Approval(
            run_id=run.id,
            agency_id=agency,
            user_id=chief.id,
            decision=body.decision,
            reason=body.reason,
            created_at=utcnow(),
        )
        try:
            # A concurrent decision of the same agency loses on the unique key.
            with session.begin_nested():
                session.add(approval)
        except IntegrityError as exc:
            raise Conflict(f"{agency} already decided on run {run_id}") from exc
        session.expire(run, ["approvals"])  # reloaded with the new decision in it
        record(session, chief, "approval.create", "approval", approval.id, None, snapshot(approval))

        if body.decision == Decision.rejected:
            transition(session, round_, RoundStatus.rejected, chief)
        elif required_agencies(run) <= {
            a.agency_id for a in run.approvals if a.decision == Decision.approved
        }:
            before = _audit_state(run)
            run.binding = True
            run.approved_at = utcnow()
            session.flush()
            record(session, chief, "run.bind", "run", run.id, before, _audit_state(run))
            transition(session, round_, RoundStatus.approved, chief)
            # Imported here: the deliveries domain reads runs (their plans) at import time.
            from app.deliveries.service import issue_orders

            issue_orders(session, chief, run, settings=get_settings())
        if idem is not None:
            idem.save(201, ApprovalRead.model_validate(approval), location=approval_url(approval))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return approval


def _check_open_for_decisions(session: Session, round_: Round, run: Run) -> None:
    if run.binding or round_.status == RoundStatus.approved:
        raise Conflict(f"round {round_.id} is approved: its binding run is final")
    latest = session.scalar(sa.select(sa.func.max(Run.number)).where(Run.round_id == round_.id))
    if run.number != latest:
        raise Conflict(
            f"run #{run.number} was superseded by run #{latest}; decide on the latest run"
        )
    if run.status != RunStatus.succeeded:
        raise Conflict(f"run {run.id} is {run.status.value}: there is no plan to decide on")
    if round_.status != RoundStatus.optimised:
        raise Conflict(
            f"round {round_.id} is {round_.status.value}: decisions are taken while it is "
            "optimised (after a rejection, a coordinator re-runs it)"
        )
