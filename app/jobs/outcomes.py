"""What a job's end does to the thing it solves: a round's run or a scenario.

Called inside the transaction that settles the job (``app.jobs.service``), after
the job row itself was updated, so the job and its run or scenario always agree.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from app.audit import record, snapshot
from app.jobs.models import Job, JobKind, JobState, Scenario
from app.runs.models import PlanStatus


def problem_of(session: Session, job: Job) -> dict[str, Any]:
    """The contract-v1 document a job solves: its run's, with the scenario's settings."""
    problem: dict[str, Any] = job.run.problem
    if job.kind == JobKind.scenario:
        scenario = _scenario(session, job)
        return {**problem, "settings": scenario.settings}
    return problem


def start(session: Session, job: Job, attempt: int) -> None:
    """The run of a job that was just claimed is now running."""
    if job.kind == JobKind.run:
        from app.runs import service as runs_service

        runs_service.start_run(session, job.run_id, attempt)


def requeue(session: Session, job: Job) -> None:
    if job.kind == JobKind.run:
        from app.runs import service as runs_service

        runs_service.requeue_run(session, job.run_id)


def store_unsolved(session: Session, job: Job, state: JobState, error: str | None) -> None:
    """A job cancelled or failed without a plan: its run or scenario ends the same way."""
    store(session, job, None, error, {"state": state.value}, cancelled=state == JobState.cancelled)


def store(
    session: Session,
    job: Job,
    plan: dict[str, Any] | None,
    error: str | None,
    progress: dict[str, Any],
    *,
    cancelled: bool = False,
    on_finished: Any = None,
) -> None:
    if job.kind == JobKind.run:
        from app.runs import service as runs_service

        runs_service.store_outcome(
            session, job.run_id, plan, error, progress, on_finished, cancelled=cancelled
        )
        return
    scenario = _scenario(session, job)
    before = _scenario_state(scenario)
    scenario.plan = plan
    if plan is not None:
        scenario.plan_status = PlanStatus(plan["status"])
        scenario.objective = plan.get("objective")
        scenario.money_cost = Decimal(str(plan["money_cost"])) if "money_cost" in plan else None
        scenario.late_unit_days = plan.get("late_unit_days")
        scenario.unmet_units = plan.get("unmet_units")
        scenario.relative_gap = plan.get("relative_gap")
    scenario.error = error
    session.flush()
    action = "scenario.cancel" if cancelled else "scenario.finish"
    record(session, "scheduler", action, "scenario", scenario.id, before, _scenario_state(scenario))


def _scenario(session: Session, job: Job) -> Scenario:
    assert job.scenario_id is not None
    scenario = session.get(Scenario, job.scenario_id, populate_existing=True)
    assert scenario is not None
    return scenario


def _scenario_state(scenario: Scenario) -> dict[str, Any]:
    return snapshot(scenario, exclude=("plan",))
