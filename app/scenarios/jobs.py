"""A scenario (or frontier point) as a job kind: the run's document with the scenario's settings.

Registered with the queue (``app.jobs.registry``) when imported (``app.bootstrap``).
The plan and its figures go on the scenario; the run and its round do not move.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.audit import record
from app.jobs import registry
from app.jobs.models import Job, JobKind, JobState
from app.runs import jobs as run_jobs
from app.runs.models import Run
from app.scenarios.models import Scenario
from app.scenarios.service import audit_state
from app.sourcing import whatif


def _scenario(session: Session, job: Job) -> Scenario:
    if job.scenario_id is None:
        raise ValueError(f"job {job.id} is of kind scenario but names no scenario")
    return session.get_one(Scenario, job.scenario_id, populate_existing=True)


class ScenarioJobs(run_jobs.RunJobs):
    """The handler of ``JobKind.scenario`` (see the module docstring): solved and seen as
    its run's job is (``solve``, ``check_visible``), stored on the scenario."""

    def problem(self, session: Session, job: Job) -> dict[str, Any]:
        problem: dict[str, Any] = session.get_one(Run, job.run_id).problem
        scenario = _scenario(session, job)
        if "sourcing" in scenario.overrides:
            problem = whatif.apply(problem, scenario.overrides["sourcing"])
        return {**problem, "settings": scenario.settings}

    def started(self, session: Session, job: Job, attempt: int) -> None:
        """Nothing: a scenario reads its state through its job."""

    def requeued(self, session: Session, job: Job) -> None:
        """Nothing, as ``started``."""

    def store(self, session: Session, job: Job, outcome: registry.JobOutcome) -> None:
        scenario = _scenario(session, job)
        before = audit_state(scenario)
        plan = outcome.plan
        scenario.plan = plan
        if plan is not None:
            figures = run_jobs.plan_figures(plan)
            scenario.plan_status, scenario.objective, scenario.money_cost = figures
            scenario.late_unit_days = plan.get("late_unit_days")
            scenario.unmet_units = plan.get("unmet_units")
            scenario.relative_gap = plan.get("relative_gap")
        scenario.error = outcome.error
        session.flush()
        action = "scenario.cancel" if outcome.state == JobState.cancelled else "scenario.finish"
        record(session, "scheduler", action, "scenario", scenario.id, before, audit_state(scenario))
        if outcome.on_finished is not None:
            outcome.on_finished(scenario)


registry.register(JobKind.scenario, ScenarioJobs())
