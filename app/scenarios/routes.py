"""/api/v1: a run's scenarios and its cost-versus-lateness frontier. Thin."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Response, status

from app.api import IdempotencyDep, Page, PageParamsDep, paginate, set_etag
from app.api.openapi import problem_responses
from app.api.params import MAX_ID
from app.auth.deps import CurrentUser
from app.db import SessionDep
from app.jobs.deps import Coordinator, JobBackendDep, SettingsDep
from app.jobs.models import JobState
from app.jobs.routes import TAG
from app.scenarios import service
from app.scenarios.models import ScenarioKind
from app.scenarios.schemas import (
    FrontierCreate,
    FrontierRead,
    ScenarioCreate,
    ScenarioRead,
    ScenarioSummary,
)

# Mounted under /api/v1 by app.main, like every domain router.
router = APIRouter(tags=[TAG])

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
    scenario = service.create(
        session, coordinator, run_id, body, settings=settings, backend=backend, idem=idem
    )
    scenario = service.get(session, coordinator, scenario.id)
    body_out = service.read(scenario)
    location = service.scenario_url(scenario)
    service.remember_answer(session, idem, body_out, row=scenario, location=location)
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
    service.visible_run(session, user, run_id)
    return paginate(
        session, service.scenarios_query(run_id, kind=kind, state=state), page, ScenarioSummary
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
    scenario = service.get(session, user, scenario_id)
    set_etag(response, scenario)
    return service.read(scenario)


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
    scenario = service.cancel(session, coordinator, scenario_id)
    set_etag(response, scenario)
    return service.read(scenario)


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
    run = service.create_frontier(
        session,
        coordinator,
        run_id,
        body or FrontierCreate(),
        settings=settings,
        backend=backend,
        idem=idem,
    )
    result = service.frontier(session, run)
    location = service.frontier_url(run_id)
    service.remember_answer(session, idem, result, location=location)
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
    return service.frontier(session, service.visible_run(session, user, run_id))
