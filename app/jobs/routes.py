"""/api/v1: reading and cancelling jobs, whatever their kind. Thin.

The router's lifespan starts this process's sweeper (schedules, stranded jobs)
when the service starts, and stops it and the job backend when it stops.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Response
from starlette.concurrency import run_in_threadpool

from app.api import set_etag
from app.api.openapi import problem_responses
from app.db import SessionDep, get_session_factory
from app.jobs import backends
from app.jobs import service as jobs_service
from app.jobs.deps import JobManager, VisibleJob
from app.jobs.scheduler import Sweeper
from app.jobs.schemas import JobRead
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
# One tag for the queue and the work it runs (the API document groups them as before).
TAG = "jobs, scenarios and schedules"
router = APIRouter(tags=[TAG], lifespan=lifespan)

# -------------------------------------------------------------------------- jobs


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
