"""Runs of a round: reading them, and the rows a close or re-run adds.

The life of a run, from the round's close to its approval, is told in one
place: ``app.rounds.flows``. This module holds the run's own pieces: its read
model (``run_read``, scoped by ``app.runs.visibility``), the queries, the new
run row and its job, and the audit state. The job kind's callbacks (claimed,
solved, stored) are ``app.runs.jobs``; the chiefs' decisions ``app.runs.approvals``.

Decisions taken here
--------------------
* Snapshot: frozen once, when the round closes (run #1). Every re-run solves
  that same document, with the round's settings or the overrides sent with
  the re-run (merged onto the snapshot's, never onto another re-run's).
* The log keeps the documents' digests, not the documents (they are on the
  run), so a changed snapshot or plan shows against the hash chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, object_session

from app.api import Idempotency
from app.audit import record, snapshot
from app.auth.models import User
from app.errors import NotFound
from app.jobs import service as jobs_service
from app.jobs.models import Job, JobKind
from app.jobs.progress import own_share
from app.rounds.models import Round
from app.runs import outputs
from app.runs.models import Approval, Decision, Run, RunStatus
from app.runs.schemas import ApprovalState, RunJob, RunRead, RunSummary
from app.runs.visibility import (
    MEMBER_VISIBLE,
    Viewer,
    VisibleRun,
    agency_filter,
    get_round_for_runs,
    get_run,
    require_full_view,
    require_plan,
    viewer_of,
)

__all__ = [  # who sees what lives in app.runs.visibility; read through here too
    "MEMBER_VISIBLE",
    "Viewer",
    "VisibleRun",
    "agency_filter",
    "get_round_for_runs",
    "get_run",
    "require_full_view",
    "require_plan",
    "viewer_of",
]

API_PREFIX = "/api/v1"
IN_PROGRESS = frozenset({RunStatus.queued, RunStatus.running})


def run_url(run: Run) -> str:
    return f"{API_PREFIX}/runs/{run.id}"


def runs_query(
    round_id: int, *, status: RunStatus | None = None, binding: bool | None = None
) -> sa.Select[Any]:
    stmt = sa.select(Run).where(Run.round_id == round_id).order_by(Run.number.desc(), Run.id)
    if status is not None:
        stmt = stmt.where(Run.status == status)
    if binding is not None:
        stmt = stmt.where(Run.binding.is_(binding))
    return stmt


def run_ids_of_round(round_id: int) -> sa.Select[Any]:
    """The ids of a round's runs, as a query (to filter the jobs that solve them)."""
    return sa.select(Run.id).where(Run.round_id == round_id)


def approvals_query(
    run_id: int, *, agency_id: str | None = None, decision: Decision | None = None
) -> sa.Select[Any]:
    stmt = sa.select(Approval).where(Approval.run_id == run_id).order_by(Approval.id)
    if agency_id is not None:
        stmt = stmt.where(Approval.agency_id == agency_id)
    if decision is not None:
        stmt = stmt.where(Approval.decision == decision)
    return stmt


def get_approval(session: Session, visible: VisibleRun, agency_id: str) -> Approval:
    approval = session.scalar(
        approvals_query(visible.run.id, agency_id=agency_filter(visible, agency_id))
    )
    if approval is None:
        raise NotFound(f"a decision of {agency_id} on run {visible.run.id}")
    return approval


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


def _digest(document: Any) -> str | None:
    if document is None:
        return None
    return hashlib.sha256(
        json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def audit_state(run: Run) -> dict[str, Any]:
    # The documents themselves are kept on the run; the log keeps their digests,
    # so a changed snapshot or plan shows against the hash chain.
    state = snapshot(run, exclude=("problem", "plan", "progress", "solver_stats"))
    state["problem_sha256"] = _digest(run.problem)
    state["plan_sha256"] = _digest(run.plan)
    return state


def new_run(
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
    record(session, audit_actor or actor, "run.create", "run", run.id, None, audit_state(run))
    return run


def queue_run(
    session: Session, actor: User, run: Run, *, audit_actor: User | str | None = None
) -> Job:
    """The job solving ``run`` (a ``JobKind.run``, handled by ``app.runs.jobs``); no commit."""
    time_limit = float(run.problem.get("settings", {}).get("time_limit_seconds", 60.0))
    return jobs_service.create(
        session,
        actor,
        JobKind.run,
        run_id=run.id,
        time_limit_seconds=time_limit,
        audit_actor=audit_actor,
    )


def lock_run(session: Session, run_id: int) -> Run:
    run = session.scalar(
        sa.select(Run)
        .where(Run.id == run_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if run is None:
        raise NotFound(f"run {run_id}")
    return run


def remember_response(idem: Idempotency | None) -> Callable[[Run], None] | None:
    """An ``on_finished`` hook storing the 201 a run-creating POST answers with."""
    if idem is None or idem.key is None:
        return None

    def _save(run: Run) -> None:
        body = run_read(run, Viewer(True, None))
        idem.save(201, body, row=run, location=run_url(run))

    return _save


def remember_answer(session: Session, idem: Idempotency | None, run: Run) -> None:
    """Replace a stored idempotent response with the run as it is now answered; commits.

    A queued run's POST stored its response when the run was created; the
    request then waited for the solve, and a retry must get what was answered.
    """
    if idem is None or idem.key is None:
        return
    idem.replace(run_read(run, Viewer(True, None)), row=run, location=run_url(run))
    session.commit()
