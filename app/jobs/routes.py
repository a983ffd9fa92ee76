"""/api/v1: jobs, cancelling a run, scenarios, the frontier and round schedules. Thin.

The router's lifespan starts this process's sweeper (schedules, stranded jobs)
when the service starts, and stops it and the job backend when it stops.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Body, FastAPI, Path, Query, Response, status
from starlette.concurrency import run_in_threadpool

from app.api import IdempotencyDep, IfMatchDep, Page, PageParamsDep, paginate, set_etag
from app.api.openapi import problem_responses
from app.api.params import MAX_ID
from app.auth.deps import CurrentUser
from app.db import SessionDep, get_session_factory
from app.errors import Forbidden
from app.jobs import backends, scenarios, schedules
from app.jobs import service as jobs_service
from app.jobs.deps import (
    Coordinator,
    JobBackendDep,
    JobManager,
    SettingsDep,
    VisibleJob,
)
from app.jobs.models import JobKind, JobState, ScenarioKind
from app.jobs.scheduler import Sweeper
from app.jobs.schemas import (
    FrontierCreate,
    FrontierRead,
    JobRead,
    JobSummary,
    ScenarioCreate,
    ScenarioRead,
    ScenarioSummary,
    ScheduleRead,
    ScheduleSet,
)
from app.rounds.deps import RoundManager, ValidRound
from app.rounds.models import Round
from app.runs import service as runs_service
from app.runs.schemas import RunRead
from app.settings import Settings, get_settings

log = logging.getLogger("poolbuy.jobs")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.dependency_overrides.get(get_settings, get_settings)()
    backend = backends.get_backend(settings)
    if isinstance(backend, backends.EmbeddedBackend):
        await run_in_threadpool(backend.warm_up)
    sweeper = None
    if settings.jobs_scheduler:
        # Its first pass catches up the deadlines missed while the service was down.
        sweeper = Sweeper(settings, backend, get_session_factory(), settings.database_url)
        sweeper.start()
    try:
        yield
    finally:
        if sweeper is not None:
            await run_in_threadpool(sweeper.stop)
        await run_in_threadpool(backends.close_all)


# Mounted under /api/v1 by app.main, like every domain router.
router = APIRouter(tags=["jobs, scenarios and schedules"], lifespan=lifespan)

RunId = Annotated[int, Path(ge=1, le=MAX_ID, description="the run's id", examples=[7])]
ScenarioId = Annotated[int, Path(ge=1, le=MAX_ID, description="the scenario's id", examples=[31])]

SCENARIO_EXAMPLES: dict[str, Any] = {
    "cost_only": {
        "summary": "Money cost only: lateness costs nothing",
        "value": {"name": "cost only", "settings": {"late_penalty_rate": 0}},
    },
    "late_x10": {
        "summary": "Lateness weighs ten times more",
        "value": {"name": "lateness x10", "late_penalty_factor": 10},
    },
    "faster_orders": {
        "summary": "Orders processed in 2 days instead of 5",
        "value": {"name": "orders in 2 days", "settings": {"order_processing_days": 2}},
    },
}
FRONTIER_EXAMPLES: dict[str, Any] = {
    "default": {"summary": "The default range of lateness weights", "value": {}},
    "custom": {
        "summary": "Chosen lateness weights",
        "value": {"late_penalty_rates": [0, 0.01, 0.05, 0.2, 1]},
    },
}
SCHEDULE_EXAMPLES: dict[str, Any] = {
    "weekly": {
        "summary": "Recurring: a window closes every Friday at 17:00, Panama time",
        "value": {"cron": "0 17 * * 5", "timezone": "America/Panama"},
    },
    "once": {
        "summary": "Close once, by itself, at a given deadline",
        "value": {"timezone": "America/Panama", "deadline": "2026-12-05T17:00:00-05:00"},
    },
}


# -------------------------------------------------------------------------- jobs


@router.get(
    "/jobs",
    response_model=Page[JobSummary],
    summary="List jobs (solves of runs and scenarios)",
    responses=problem_responses(401, 403, 422),
)
def list_jobs(
    session: SessionDep,
    manager: JobManager,
    page: PageParamsDep,
    state: JobState | None = None,
    kind: JobKind | None = None,
    run_id: Annotated[int | None, Query(ge=1, le=MAX_ID, examples=[7])] = None,
    round_id: Annotated[int | None, Query(ge=1, le=MAX_ID, examples=[3])] = None,
) -> Any:
    """Coordinators and admins: every job, newest first, with filters."""
    stmt = jobs_service.jobs_query(state=state, kind=kind, run_id=run_id, round_id=round_id)
    return paginate(session, stmt, page, JobSummary)


@router.get(
    "/jobs/{job_id}",
    response_model=JobRead,
    summary="Read a job: its state, attempts and the solver's progress",
    responses=problem_responses(401, 403, 404),
)
def read_job(job: VisibleJob, response: Response) -> Any:
    """Whoever sees its run in full. `progress` has the incumbent, bound and gap (latest and
    over time); poll it, following the ETag, while `state` is queued or running."""
    set_etag(response, job)
    return job


@router.post(
    "/jobs/{job_id}/cancel",
    response_model=JobRead,
    summary="Cancel a job",
    responses=problem_responses(401, 403, 404, 409),
)
def cancel_job(
    job: VisibleJob, session: SessionDep, manager: JobManager, response: Response
) -> Any:
    """Coordinator or admin. A queued job is cancelled at once; a running one is flagged and
    its solver stops at the next heartbeat (`cancel_requested` is true until then). 409 once
    the job has ended."""
    cancelled = jobs_service.request_cancel(session, manager, job.id)
    set_etag(response, cancelled)
    return cancelled


@router.post(
    "/runs/{run_id}/cancel",
    response_model=RunRead,
    summary="Cancel a run's solve",
    responses=problem_responses(401, 403, 404, 409),
)
def cancel_run(
    run_id: RunId, session: SessionDep, coordinator: Coordinator, response: Response
) -> Any:
    """Coordinator. As `POST /jobs/{id}/cancel` on the run's job: the run ends `cancelled`
    (a re-run may follow). 409 once the run has ended."""
    visible = runs_service.get_run(session, coordinator, run_id)
    job = jobs_service.run_job(session, visible.run.id)
    if job is None:
        raise Forbidden(f"run {run_id} has no job to cancel")
    jobs_service.request_cancel(session, coordinator, job.id)
    run = runs_service.get_run(session, coordinator, run_id).run
    session.refresh(run)
    set_etag(response, run)
    return runs_service.run_read(run, visible.viewer)


# --------------------------------------------------------------------- scenarios


@router.post(
    "/runs/{run_id}/scenarios",
    status_code=status.HTTP_201_CREATED,
    response_model=ScenarioRead,
    summary="Solve a run again with other settings (a scenario, as a job of its own)",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def create_scenario(
    run_id: RunId,
    body: Annotated[ScenarioCreate, Body(openapi_examples=SCENARIO_EXAMPLES)],
    session: SessionDep,
    coordinator: Coordinator,
    idem: IdempotencyDep,
    settings: SettingsDep,
    backend: JobBackendDep,
    response: Response,
) -> Any:
    """Coordinator. The run's frozen problem with `settings` merged onto its own (and the
    late penalty rate times `late_penalty_factor`), queued: post several and they solve in
    parallel, one job each. Answers at once; follow `GET /scenarios/{id}`. 409 past the
    service's number of scenarios per run. Send an Idempotency-Key to retry safely."""
    if (replay := idem.replay()) is not None:
        return replay
    scenario = scenarios.create(
        session, coordinator, run_id, body, settings=settings, backend=backend, idem=idem
    )
    scenario = scenarios.get(session, coordinator, scenario.id)
    body_out = scenarios.read(scenario)
    location = scenarios.scenario_url(scenario)
    jobs_service.replace_stored_response(session, idem, body_out, row=scenario, location=location)
    set_etag(response, scenario)
    response.headers["Location"] = location
    return body_out


@router.get(
    "/runs/{run_id}/scenarios",
    response_model=Page[ScenarioSummary],
    summary="List a run's scenarios and frontier points",
    responses=problem_responses(401, 403, 404, 422),
)
def list_scenarios(
    run_id: RunId,
    session: SessionDep,
    user: CurrentUser,
    page: PageParamsDep,
    kind: ScenarioKind | None = None,
    state: JobState | None = None,
) -> Any:
    """Oldest first, with their figures once solved. Whoever sees the run in full."""
    scenarios.visible_run(session, user, run_id)
    return paginate(
        session, scenarios.scenarios_query(run_id, kind=kind, state=state), page, ScenarioSummary
    )


@router.get(
    "/scenarios/{scenario_id}",
    response_model=ScenarioRead,
    summary="Read a scenario: its settings, figures, plan and progress",
    responses=problem_responses(401, 403, 404),
)
def read_scenario(
    scenario_id: ScenarioId, session: SessionDep, user: CurrentUser, response: Response
) -> Any:
    scenario = scenarios.get(session, user, scenario_id)
    set_etag(response, scenario)
    return scenarios.read(scenario)


@router.post(
    "/scenarios/{scenario_id}/cancel",
    response_model=ScenarioRead,
    summary="Cancel a scenario's solve",
    responses=problem_responses(401, 403, 404, 409),
)
def cancel_scenario(
    scenario_id: ScenarioId, session: SessionDep, coordinator: Coordinator, response: Response
) -> Any:
    """Coordinator. 409 once it has ended."""
    scenario = scenarios.cancel(session, coordinator, scenario_id)
    set_etag(response, scenario)
    return scenarios.read(scenario)


# ---------------------------------------------------------------------- frontier


@router.post(
    "/runs/{run_id}/frontier",
    status_code=status.HTTP_201_CREATED,
    response_model=FrontierRead,
    summary="Solve a run's cost-versus-lateness frontier",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def create_frontier(
    run_id: RunId,
    session: SessionDep,
    coordinator: Coordinator,
    idem: IdempotencyDep,
    settings: SettingsDep,
    backend: JobBackendDep,
    response: Response,
    body: Annotated[FrontierCreate | None, Body(openapi_examples=FRONTIER_EXAMPLES)] = None,
) -> Any:
    """Coordinator. One scenario per lateness weight (`late_penalty_rate`) the run has no
    point for yet, queued in parallel. Answers with the frontier as it stands; follow
    `GET /runs/{id}/frontier`. Send an Idempotency-Key to retry safely."""
    if (replay := idem.replay()) is not None:
        return replay
    run = scenarios.create_frontier(
        session,
        coordinator,
        run_id,
        body or FrontierCreate(),
        settings=settings,
        backend=backend,
        idem=idem,
    )
    result = scenarios.frontier(session, run)
    location = scenarios.frontier_url(run_id)
    jobs_service.replace_stored_response(session, idem, result, location=location)
    response.headers["Location"] = location
    return result


@router.get(
    "/runs/{run_id}/frontier",
    response_model=FrontierRead,
    summary="Read a run's cost-versus-lateness frontier",
    responses=problem_responses(401, 403, 404),
)
def read_frontier(run_id: RunId, session: SessionDep, user: CurrentUser) -> Any:
    """Money cost against late unit-days for each lateness weight solved, lowest weight
    first; `efficient` marks the points no other point beats on both."""
    return scenarios.frontier(session, scenarios.visible_run(session, user, run_id))


# --------------------------------------------------------------------- schedules


def _schedule(session: SessionDep, round_: Round) -> ScheduleRead:
    firing = schedules.firing_of(session, round_.id)
    return ScheduleRead(
        round_id=round_.id,
        scheduled=round_.schedule_timezone is not None,
        timezone=round_.schedule_timezone,
        cron=round_.schedule_cron,
        deadline=round_.deadline,
        upcoming_deadlines=schedules.upcoming(round_) if firing is None else [],
        firing=firing,  # type: ignore[arg-type]
        previous_round_id=schedules.previous_window(session, round_.id),
    )


@router.get(
    "/rounds/{round_id}/schedule",
    response_model=ScheduleRead,
    summary="Read a round's schedule",
    responses=problem_responses(401, 404),
)
def read_schedule(round_: ValidRound, session: SessionDep, response: Response) -> Any:
    """Any member. The ETag is the round's: send it in If-Match to change the schedule."""
    set_etag(response, round_)
    return _schedule(session, round_)


@router.put(
    "/rounds/{round_id}/schedule",
    response_model=ScheduleRead,
    summary="Schedule a round: close it by itself at its deadline, optionally recurring",
    responses=problem_responses(
        401,
        403,
        404,
        409,
        412,
        422,
        428,
        beyond_schema="a time zone the IANA database does not name; a cron range that runs "
        "backwards (5-1) or a day no listed month has (30 2)",
    ),
)
def set_schedule(
    round_id: Annotated[int, Path(ge=1, le=MAX_ID, examples=[4])],
    body: Annotated[ScheduleSet, Body(openapi_examples=SCHEDULE_EXAMPLES)],
    session: SessionDep,
    manager: RoundManager,
    if_match: IfMatchDep,
    response: Response,
) -> Any:
    """Coordinator or admin, while the round is open; If-Match with the round's ETag. At the
    deadline the round closes and its run is queued with nobody asking; with a `cron`, the
    next window (a new open round) opens then, its deadline the cron's next time. 409 when
    the deadline would already have passed."""
    round_ = schedules.set_schedule(
        session,
        manager,
        round_id,
        timezone=body.timezone,
        cron=body.cron,
        deadline=body.deadline,
        if_match=if_match,
    )
    set_etag(response, round_)
    return _schedule(session, round_)


@router.delete(
    "/rounds/{round_id}/schedule",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Stop a round closing by itself",
    responses=problem_responses(401, 403, 404, 409, 412, 428),
)
def clear_schedule(
    round_id: Annotated[int, Path(ge=1, le=MAX_ID, examples=[4])],
    session: SessionDep,
    manager: RoundManager,
    if_match: IfMatchDep,
    response: Response,
) -> None:
    """Coordinator or admin, while the round is open; If-Match with the round's ETag."""
    round_ = schedules.clear_schedule(session, manager, round_id, if_match)
    set_etag(response, round_)
