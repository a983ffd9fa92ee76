"""A round's run as a job kind: what the queue calls around its claim, solve and completion.

Registered with the queue (``app.jobs.registry``) when this module is imported
(``app.bootstrap`` does at start-up). The queue claims the run's job, then:

* ``started``: the run is ``running`` (a second attempt is logged ``run.restart``);
* ``solve``: the frozen document solved under the service's limits, no
  transaction open;
* ``finished``: in the transaction that completed the job (conditionally, on its
  claim token, so once per job), the plan on the run, its status, and the
  round's move to ``optimised``;
* ``requeued``: a worker shutting down handed the job back; the run waits again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.audit import record
from app.auth.models import User
from app.db import utcnow
from app.errors import Forbidden, NotFound
from app.jobs import registry
from app.jobs.models import Job, JobKind, JobState
from app.rounds.models import RoundStatus
from app.rounds.service import lock_round, transition
from app.runs import coalitions, service, visibility
from app.runs.models import PlanStatus, Run, RunStatus
from app.settings import Settings
from app.solve.service import effective_time_limit
from solver import SolveProgress, solve
from solver.baseline import Standalone, solve_with_coalitions
from solver.coalitions import (
    Coalition,
    CoalitionChecks,
    CoalitionValue,
    coalitions_to_check,
    fairness_asked,
)
from solver.highs import SolveCancelled
from solver.pipeline import SolveResult, solve_needs
from solver.plan import agencies_with_needs, build_plan
from solver.problem import Problem

if TYPE_CHECKING:
    from solver.highs import CancelToken

SOLVED = frozenset({PlanStatus.optimal, PlanStatus.feasible})


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


def solve_pooled(
    problem: Problem,
    *,
    settings: Settings,
    progress: Callable[[SolveProgress], None] | None = None,
    cancel: CancelToken | None = None,
) -> tuple[SolveResult, dict[Coalition, CoalitionValue]]:
    """The pooled solve and each agency's stand-alone value, as ``solver.solve`` makes them
    (the run's own part when its coalitions are jobs)."""

    def pooled() -> SolveResult:
        result = solve_needs(problem, stage="pooled", progress=progress, cancel=cancel)
        if cancel is not None and cancel.is_set():
            raise SolveCancelled("the pooled solve was cancelled")
        return result

    return solve_with_coalitions(
        problem,
        [(a,) for a in agencies_with_needs(problem)],
        pooled,
        workers=settings.solver_workers or None,
        progress=progress,
        cancel=cancel,
    )


def start_run(session: Session, run_id: int, attempt: int) -> None:
    """The run's job was claimed: the run is running (no commit; the claim commits)."""
    run = service.lock_run(session, run_id)
    before = service.audit_state(run)
    run.status = RunStatus.running
    if run.started_at is None:
        run.started_at = utcnow()
    run.progress = {"state": "running", "attempt": attempt}
    session.flush()
    # A second attempt means the first worker was lost; the log says so.
    action = "run.start" if attempt == 1 else "run.restart"
    record(session, run.triggered_by, action, "run", run.id, before, service.audit_state(run))


def requeue_run(session: Session, run_id: int) -> None:
    run = service.lock_run(session, run_id)
    before = service.audit_state(run)
    run.status = RunStatus.queued
    run.progress = {"state": "queued"}
    session.flush()
    record(session, "scheduler", "run.requeue", "run", run.id, before, service.audit_state(run))


def plan_figures(plan: dict[str, Any]) -> tuple[PlanStatus, float | None, Decimal | None]:
    """A plan's status, objective and money cost, as a run and a scenario store them
    beside the plan (``app.scenarios.jobs`` reads them here too)."""
    status = PlanStatus(plan["status"])
    money_cost = Decimal(str(plan["money_cost"])) if "money_cost" in plan else None
    return status, plan.get("objective"), money_cost


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
    run = service.lock_run(session, run_id)
    before = service.audit_state(run)
    succeeded = not cancelled and plan is not None and plan.get("status") in SOLVED
    run.plan = plan
    if plan is not None:
        run.plan_status, run.objective, run.money_cost = plan_figures(plan)
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
    record(session, run.triggered_by, action, "run", run.id, before, service.audit_state(run))
    if succeeded and round_.status != RoundStatus.approved:
        # Also from optimised (a re-run): the move bumps the round's ETag, as its plan changed.
        transition(session, round_, RoundStatus.optimised, run.triggered_by)
    if on_finished is not None:
        on_finished(run)
    return run


class RunJobs(registry.JobHandler):
    """The handler of ``JobKind.run`` (see the module docstring)."""

    def problem(self, session: Session, job: Job) -> dict[str, Any]:
        problem: dict[str, Any] = session.get_one(Run, job.run_id).problem
        return problem

    def solve(
        self,
        problem: dict[str, Any],
        *,
        time_limit_seconds: float,
        settings: Settings,
        progress: Callable[[SolveProgress], None] | None,
        cancel: CancelToken | None,
    ) -> dict[str, Any]:
        return solve_problem(
            problem,
            time_limit_seconds=time_limit_seconds,
            settings=settings,
            progress=progress,
            cancel=cancel,
        )

    def solves(self, problem: dict[str, Any]) -> int:
        """Pooled, one per agency, and with fairness every coalition the contract names."""
        agencies = len(problem.get("agencies") or ())
        settings = problem.get("settings") or {}
        fairness = settings.get("fairness") == "core" or settings.get("allocation") == "least_core"
        if not fairness:
            return 1 + agencies
        checked, _exhaustive = coalitions_to_check([str(a) for a in range(agencies)])
        return 1 + agencies + len(checked)

    def solve_in_context(
        self,
        problem: dict[str, Any],
        *,
        context: registry.JobContext,
        time_limit_seconds: float,
        settings: Settings,
        progress: Callable[[SolveProgress], None] | None,
        cancel: CancelToken | None,
    ) -> dict[str, Any]:
        """As ``solve``; with fairness asked for, the coalitions are jobs of their own
        (``app.runs.coalitions``) and the plan is built from their stored values."""
        started = time.perf_counter()
        prepared = coalitions.prepared(problem, time_limit_seconds, settings)
        if not fairness_asked(prepared):
            return self.solve(
                problem,
                time_limit_seconds=time_limit_seconds,
                settings=settings,
                progress=progress,
                cancel=cancel,
            )
        validated = time.perf_counter()
        agencies = agencies_with_needs(prepared)

        # The pooled plan and the baselines here, exactly as solver.solve does them.
        result, singles = solve_pooled(
            prepared, settings=settings, progress=progress, cancel=cancel
        )
        baselines_done = time.perf_counter()
        checked, exhaustive = coalitions_to_check(agencies)
        with context.sessions() as session:
            batches = coalitions.fan_out(
                session, context.run_id, prepared, checked, singles, time_limit_seconds
            )
        context.hand_over(batches)
        # The baselines are the run's own (a lone agency has no coalition to check).
        values = {**singles, **coalitions.collect(context, checked, progress, cancel)}
        collected = time.perf_counter()
        standalone = {a: Standalone.of(values[(a,)]) for a in agencies}
        plan = build_plan(
            prepared, result, standalone, CoalitionChecks(checked, exhaustive, values)
        )
        finished = time.perf_counter()
        stages = {
            "validate": validated - started,
            **result.stages,
            "baselines_wait": baselines_done - validated - sum(result.stages.values()),
            "coalitions": collected - baselines_done,
            "plan": finished - collected,
        }
        plan["solver"]["seconds"] = round(finished - started, 3)
        plan["solver"]["stages"] = {k: round(v, 4) for k, v in stages.items()}
        return plan

    def started(self, session: Session, job: Job, attempt: int) -> None:
        start_run(session, job.run_id, attempt)

    def requeued(self, session: Session, job: Job) -> None:
        requeue_run(session, job.run_id)

    def store(self, session: Session, job: Job, outcome: registry.JobOutcome) -> None:
        store_outcome(
            session,
            job.run_id,
            outcome.plan,
            outcome.error,
            outcome.progress,
            outcome.on_finished,
            cancelled=outcome.state == JobState.cancelled,
        )

    def check_visible(self, session: Session, user: User, job: Job) -> None:
        check_job_visible(session, user, job)


def check_job_visible(session: Session, user: User, job: Job) -> None:
    """A job's progress is pooled totals: whoever sees its run in full reads it.

    404 when the run is hidden from ``user``; 403 when they see only their share.
    """
    visible = visibility.get_run(session, user, job.run_id)
    if not visible.viewer.full:
        raise Forbidden(
            "a job's progress shows pooled totals: member agencies see it once the round is "
            "optimised"
        )


registry.register(JobKind.run, RunJobs())
