"""Runs of a round: close and freeze, solve, re-run, approve; who may see what.

Life of a run
-------------
``close_round`` and ``rerun`` each commit a new run (status ``queued``) with
its frozen problem document, then hand it to ``execute_run``, which a worker
can call just the same: it claims the run (``running``), solves it with no
transaction open, and stores the plan, the run's final status and the round's
move to ``optimised`` in one transaction.

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
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.api import Idempotency
from app.audit import record, snapshot
from app.auth.models import Role, User
from app.db import utcnow
from app.errors import Conflict, Forbidden, NotFound
from app.rounds.models import Round, RoundStatus
from app.rounds.service import PUBLISHED_STATUSES, lock_round, transition
from app.runs import outputs
from app.runs.models import Approval, Decision, PlanStatus, Run, RunStatus
from app.runs.schemas import (
    ApprovalCreate,
    ApprovalRead,
    ApprovalState,
    RunCreate,
    RunRead,
    RunSummary,
)
from app.runs.snapshot import build_document, check_document, closing_day, resolve_settings
from app.settings import Settings, get_settings
from app.solve.service import effective_time_limit
from solver import ProblemInvalid, SolveProgress, solve

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
    if not viewer.full:
        # Pooled totals would tell one agency about the others' needs.
        summary |= {"objective": None, "money_cost": None}
        solver_stats = None
    return RunRead(
        **summary,
        scope=viewer.scope,
        problem=problem,
        plan=plan,
        solver_stats=solver_stats,
        progress=run.progress,
        approval=approval_state(run, only),
    )


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


def _new_run(session: Session, actor: User, round_: Round, document: dict[str, Any]) -> Run:
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
    record(session, actor, "run.create", "run", run.id, None, _audit_state(run))
    return run


def close_round(
    session: Session,
    actor: User,
    round_id: int,
    *,
    settings: Settings | None = None,
    on_finished: Callable[[Run], None] | None = None,
) -> Run:
    """Close an open round, freeze its snapshot as run #1, solve it (see ``execute_run``).

    Needs are read with the round locked: a submission or edit either
    committed before (and is in the snapshot) or waits and then finds the
    round closed (409). Nothing is changed when the snapshot is invalid.
    """
    settings = settings or get_settings()
    try:
        round_ = lock_round(session, round_id)
        if round_.status != RoundStatus.open:
            raise Conflict(f"round {round_id} is {round_.status.value}; only an open round closes")
        transition(session, round_, RoundStatus.closed, actor)
        as_of = closing_day(round_, round_.closed_at or utcnow())
        document = build_document(
            session, round_, as_of, max_time_limit_seconds=settings.max_solve_seconds
        )
        run = _new_run(session, actor, round_, document)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return execute_run(session, run.id, settings=settings, on_finished=on_finished)


def rerun(
    session: Session,
    actor: User,
    round_id: int,
    body: RunCreate | None = None,
    *,
    settings: Settings | None = None,
    on_finished: Callable[[Run], None] | None = None,
) -> Run:
    """A new run of the round's frozen snapshot, optionally with other settings; solved."""
    settings = settings or get_settings()
    overrides = body.settings.model_dump(exclude_none=True) if body and body.settings else None
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
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return execute_run(session, run.id, settings=settings, on_finished=on_finished)


class _Progress:
    """Collects the solver's progress reports (they come from several threads)."""

    def __init__(self, sink: Callable[[dict[str, Any]], None] | None) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {"state": "running", "pooled": None, "standalone": {}}
        self._sink = sink

    def __call__(self, report: SolveProgress) -> None:
        entry = {
            "seconds": round(report.seconds, 3),
            "objective": report.objective,
            "bound": report.bound,
            "gap": report.gap,
            "done": report.done,
        }
        with self._lock:
            if report.stage == "pooled":
                self._state["pooled"] = entry
            else:
                self._state["standalone"][report.agency or ""] = entry
            current = json.loads(json.dumps(self._state))
        if self._sink is not None:
            self._sink(current)

    def final(self, state: str) -> dict[str, Any]:
        with self._lock:
            return {**json.loads(json.dumps(self._state)), "state": state}


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


def execute_run(
    session: Session,
    run_id: int,
    *,
    settings: Settings | None = None,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    on_finished: Callable[[Run], None] | None = None,
) -> Run:
    """Solve a queued run and store its outcome; returns the finished run.

    Three short transactions: claim the run (``running``); solve with no
    transaction open (on SQLite an open one would hold the database's write
    lock for the whole solve); then, in one transaction, the plan, the run's
    status (``succeeded`` when the plan is optimal or feasible, else
    ``failed``) and the round's move to ``optimised``. ``on_progress`` gets
    the progress document as the solver reports (from solver threads; a worker
    persists it with its own session). ``on_finished`` runs inside the last
    transaction before it commits (the API stores its idempotent response there).
    """
    settings = settings or get_settings()
    try:
        run = _lock_run(session, run_id)
        if run.status != RunStatus.queued:
            raise Conflict(f"run {run_id} is {run.status.value}, not queued")
        before = _audit_state(run)
        run.status = RunStatus.running
        run.started_at = utcnow()
        run.progress = {"state": "running"}
        session.flush()
        record(session, run.triggered_by, "run.start", "run", run.id, before, _audit_state(run))
        problem = run.problem
        session.commit()
    except BaseException:
        session.rollback()
        raise

    progress = _Progress(on_progress)
    plan: dict[str, Any] | None = None
    error: str | None = None
    try:
        requested = float(problem.get("settings", {}).get("time_limit_seconds", 60.0))
        plan = solve(
            problem,
            time_limit_seconds=effective_time_limit(requested, settings.max_solve_seconds),
            workers=settings.solver_workers or None,
            progress=progress,
        )
    except ProblemInvalid as exc:
        error = "the frozen problem document breaks contract v1: " + "; ".join(
            f"{e.path}: {e.reason}" for e in exc.errors
        )
        log.error("run %s: %s", run_id, error)
    except Exception as exc:
        log.exception("run %s: the solver failed", run_id)
        error = f"the solver failed: {type(exc).__name__}: {exc}"

    try:
        return _store_outcome(session, run_id, plan, error, progress, on_finished)
    except BaseException:
        session.rollback()
        raise


def _store_outcome(
    session: Session,
    run_id: int,
    plan: dict[str, Any] | None,
    error: str | None,
    progress: _Progress,
    on_finished: Callable[[Run], None] | None,
) -> Run:
    # Round first, then run: the order every writer of a round's runs takes locks in.
    round_id = session.scalar(sa.select(Run.round_id).where(Run.id == run_id))
    if round_id is None:
        raise NotFound(f"run {run_id}")
    round_ = lock_round(session, round_id)
    run = _lock_run(session, run_id)
    before = _audit_state(run)
    succeeded = plan is not None and plan.get("status") in SOLVED
    run.plan = plan
    if plan is not None:
        run.plan_status = PlanStatus(plan["status"])
        run.objective = plan.get("objective")
        run.money_cost = Decimal(str(plan["money_cost"])) if "money_cost" in plan else None
        run.solver_stats = plan.get("solver")
    run.status = RunStatus.succeeded if succeeded else RunStatus.failed
    if not succeeded:
        run.error = error or f"the solver found no plan (status {plan and plan.get('status')})"
    run.finished_at = utcnow()
    run.progress = progress.final("done" if succeeded else "failed")
    session.flush()
    record(session, run.triggered_by, "run.finish", "run", run.id, before, _audit_state(run))
    if succeeded and round_.status != RoundStatus.approved:
        # Also from optimised (a re-run): the move bumps the round's ETag, as its plan changed.
        transition(session, round_, RoundStatus.optimised, run.triggered_by)
    if on_finished is not None:
        on_finished(run)
    session.commit()
    return run


def remember_response(idem: Idempotency | None) -> Callable[[Run], None] | None:
    """An ``on_finished`` hook storing the 201 a run-creating POST answers with."""
    if idem is None or idem.key is None:
        return None

    def _save(run: Run) -> None:
        body = run_read(run, Viewer(True, None))
        idem.save(201, body, row=run, location=run_url(run))

    return _save


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
