"""What the job kinds' handlers share: the queue's ``finished`` call, written once.

The queue (``app.jobs.runner``, ``app.jobs.service.settle``) calls ``finished`` with
the job's end spelled out; ``JobHandler.finished`` hands it to the kind's ``store`` as
one ``JobOutcome``. The kinds' own behaviour is in test_jobs, test_jobs_scenarios and
test_coalition_jobs; these tests hold the seam.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.bootstrap import register_all
from app.jobs import registry
from app.jobs.models import Job, JobKind, JobState
from app.runs import jobs as run_jobs
from app.runs.models import PlanStatus


class Recording(registry.JobHandler):
    """A handler that keeps what ``store`` was told."""

    def __init__(self) -> None:
        self.stored: list[tuple[Any, Any, registry.JobOutcome]] = []

    def store(self, session: Session, job: Job, outcome: registry.JobOutcome) -> None:
        self.stored.append((session, job, outcome))


def test_finished_hands_the_queues_arguments_to_store_as_one_outcome() -> None:
    handler = Recording()
    session, job, hook = object(), object(), lambda stored: None
    plan = {"status": "optimal"}
    handler.finished(
        session,
        job,
        plan,
        "why",
        {"state": "done"},
        state=JobState.succeeded,
        on_finished=hook,
    )
    handler.finished(None, None, None, None, {}, state=JobState.cancelled)
    assert handler.stored == [
        (
            session,
            job,
            registry.JobOutcome(JobState.succeeded, plan, "why", {"state": "done"}, hook),
        ),
        (None, None, registry.JobOutcome(JobState.cancelled, None, None, {}, None)),
    ]


def test_started_and_requeued_do_nothing_unless_a_handler_says_otherwise() -> None:
    handler = Recording()
    assert handler.started(None, None, 1) is None
    assert handler.requeued(None, None) is None
    assert handler.stored == []


@pytest.mark.parametrize("kind", [JobKind.run, JobKind.scenario, JobKind.coalitions])
def test_every_kind_stores_through_the_shared_finished(kind: JobKind) -> None:
    register_all()
    handler = registry.handler_for(kind)
    assert registry.JobHandler in type(handler).__mro__
    assert type(handler).finished is registry.JobHandler.finished
    assert type(handler).store is not registry.JobHandler.store


def test_plan_figures_are_the_status_objective_and_money_cost() -> None:
    plan = {"status": "feasible", "objective": 12.5, "money_cost": 10.1}
    assert run_jobs.plan_figures(plan) == (PlanStatus.feasible, 12.5, Decimal("10.1"))
    assert run_jobs.plan_figures({"status": "infeasible"}) == (PlanStatus.infeasible, None, None)
    with pytest.raises(ValueError):
        run_jobs.plan_figures({"status": "no such status", "money_cost": "x"})
