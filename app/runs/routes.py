"""/api/v1: closing rounds, runs, approvals and a run's outputs. Thin: each route calls a service.

Closing and re-running queue the solve as a job (``app.jobs``): it runs in the
embedded process pool or on a broker's workers, never in the API process. The
request then waits for it a little (``Prefer: wait=N``, default the service's
``jobs_wait_seconds``) in FastAPI's thread pool, never on the event loop, and
answers with the run as it stands: solved, or still queued or running (follow
``GET /runs/{id}``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Response, status

from app.api import IdempotencyDep, Page, PageParamsDep, paginate, set_etag
from app.api.openapi import problem_responses
from app.api.params import DIGITS, MAX_ID
from app.auth.deps import CurrentUser
from app.db import SessionDep
from app.deliveries import service as deliveries_service
from app.errors import Forbidden
from app.jobs import service as jobs_service
from app.jobs.deps import JobBackendDep, JobManager, WaitDep
from app.jobs.models import JobKind, JobState
from app.jobs.routes import TAG
from app.jobs.schemas import JobSummary
from app.rounds import flows
from app.runs import approvals, outputs, service
from app.runs.deps import ChiefOfMission, Coordinator, VisibleRunDep
from app.runs.models import Decision, Run, RunStatus
from app.runs.pages import page_of
from app.runs.schemas import (
    ApprovalCreate,
    ApprovalRead,
    CostStatement,
    PurchaseOrder,
    RunCreate,
    RunRead,
    RunSummary,
    UnmetNeed,
)
from app.settings import Settings, get_settings

# Mounted under /api/v1 by app.main, like every domain router.
router = APIRouter(tags=["runs and approvals"])

RoundId = Annotated[int, DIGITS, Path(ge=1, le=MAX_ID, description="the round's id", examples=[3])]
# The app's settings (tests and create_app(settings) override them): the solve limits.
SettingsDep = Annotated[Settings, Depends(get_settings)]

RERUN_EXAMPLES: dict[str, Any] = {
    "same": {"summary": "Solve the snapshot again with its own settings", "value": {}},
    "weights": {
        "summary": "Weigh critical needs more and split cost by stand-alone cost",
        "value": {"settings": {"priority_weights": {"critical": 25}, "allocation": "proportional"}},
    },
}
DECISION_EXAMPLES: dict[str, Any] = {
    "approve": {"summary": "Approve your agency's share", "value": {"decision": "approved"}},
    "reject": {
        "summary": "Reject, with the reason",
        "value": {
            "decision": "rejected",
            "reason": "the critical measles-vaccine need at Lajas Blancas is left unmet",
        },
    },
}


def _created(response: Response, run: Run) -> RunRead:
    set_etag(response, run)
    response.headers["Location"] = service.run_url(run)
    return service.run_read(run, service.Viewer(True, None))


def _waited(session: SessionDep, run: Run, wait: float, idem: Any) -> Run:
    """The run once its job ended or ``wait`` seconds passed, whichever comes first."""
    job = jobs_service.run_job(session, run.id)
    if job is not None and job.state in jobs_service.IN_PROGRESS and wait > 0:
        jobs_service.wait(session, [job.id], wait)
    session.rollback()
    fresh = session.get(Run, run.id, populate_existing=True)
    assert fresh is not None
    service.remember_answer(session, idem, fresh)
    return fresh


@router.post(
    "/rounds/{round_id}/close",
    status_code=status.HTTP_201_CREATED,
    response_model=RunRead,
    summary="Close a round, freeze its snapshot and solve it (run #1)",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def close_round(
    round_id: RoundId,
    session: SessionDep,
    coordinator: Coordinator,
    idem: IdempotencyDep,
    response: Response,
    settings: SettingsDep,
    backend: JobBackendDep,
    wait: WaitDep,
) -> Any:
    """Coordinator. Moves an open round to `closed` and freezes its submitted needs (with
    their confirmed priority) and the catalogue valid on the round's `as_of` (else the
    closing day) into a contract-v1 problem document: run #1, whose solve is queued as a
    job (its time limit capped by the service). The answer waits for the solve up to the
    service's wait or `Prefer: wait=N` (`respond-async`: not at all), then gives the run as
    it stands: `succeeded` (the round is `optimised`) or `failed`, or still `queued` or
    `running` (follow `GET /runs/{id}`). A round that is not open: 409. A round whose data
    do not make a valid document (e.g. a setting out of range): 409 listing every problem,
    nothing changed. Send an Idempotency-Key to retry safely."""
    if (replay := idem.replay()) is not None:
        return replay
    run = flows.close_round(
        session,
        coordinator,
        round_id,
        settings=settings,
        on_finished=service.remember_response(idem),
        backend=backend,
    )
    return _created(response, _waited(session, run, wait, idem))


@router.post(
    "/rounds/{round_id}/runs",
    status_code=status.HTTP_201_CREATED,
    response_model=RunRead,
    summary="Re-run a round's frozen snapshot",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def rerun_round(
    round_id: RoundId,
    session: SessionDep,
    coordinator: Coordinator,
    idem: IdempotencyDep,
    response: Response,
    settings: SettingsDep,
    backend: JobBackendDep,
    wait: WaitDep,
    body: Annotated[RunCreate | None, Body(openapi_examples=RERUN_EXAMPLES)] = None,
) -> Any:
    """Coordinator. A new run (next number) of the snapshot frozen when the round closed,
    with the round's settings or the ones sent here (merged onto the snapshot's), queued
    as a job; the answer waits for it as the close does (`Prefer: wait=N`). Refused with
    409 while the round is open, once it is approved, and while another run of the round
    is queued or running. A run of a rejected round puts it back to `optimised` when it
    succeeds. Send an Idempotency-Key to retry safely."""
    if (replay := idem.replay()) is not None:
        return replay
    run = flows.rerun(
        session,
        coordinator,
        round_id,
        body,
        settings=settings,
        on_finished=service.remember_response(idem),
        backend=backend,
    )
    return _created(response, _waited(session, run, wait, idem))


@router.get(
    "/rounds/{round_id}/runs",
    response_model=Page[RunSummary],
    summary="List a round's runs",
    responses=problem_responses(401, 404, 422),
)
def list_runs(
    round_id: RoundId,
    session: SessionDep,
    user: CurrentUser,
    page: PageParamsDep,
    run_status: Annotated[RunStatus | None, Query(alias="status")] = None,
    binding: Annotated[bool | None, Query(description="only the binding run")] = None,
) -> Any:
    """Newest first. Every member agency sees them once the round is optimised; before
    that, coordinators (and each agency, without pooled totals)."""
    _round, viewer = service.get_round_for_runs(session, user, round_id)
    result = paginate(
        session,
        service.runs_query(round_id, status=run_status, binding=binding),
        page,
        RunSummary,
    )
    if not viewer.full:
        for item in result.items:
            item.objective = item.money_cost = None
    return result


@router.get(
    "/runs/{run_id}",
    response_model=RunRead,
    summary="Read a run: its problem document, plan, statistics and progress",
    responses=problem_responses(401, 404),
)
def read_run(visible: VisibleRunDep, response: Response) -> Any:
    """The whole run once its round is optimised (coordinators: always). Before that an
    agency's users see only their own needs and their outcome (`scope: own_agency`), and of
    the solve's progress only its state. While the run is queued or running, `progress`
    holds the solver's incumbent, bound and gap, latest and over time; poll it."""
    set_etag(response, visible.run)
    return service.run_read(visible.run, visible.viewer)


# --------------------------------------------------------------------- approvals


@router.post(
    "/runs/{run_id}/approvals",
    status_code=status.HTTP_201_CREATED,
    response_model=ApprovalRead,
    summary="Approve or reject your agency's share of a run",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def decide(
    run_id: Annotated[int, DIGITS, Path(ge=1, le=MAX_ID, description="the run's id", examples=[7])],
    body: Annotated[ApprovalCreate, Body(openapi_examples=DECISION_EXAMPLES)],
    session: SessionDep,
    chief: ChiefOfMission,
    idem: IdempotencyDep,
    response: Response,
) -> Any:
    """Chief of mission, for their own agency only (an agency with needs in the run). A
    rejection needs a reason and moves the round to `rejected`; when every agency with
    awards has approved, the run becomes binding and the round `approved`. 403 for the
    user who triggered the run (four-eyes); 409 for a second decision of the same agency,
    a superseded run or a round not `optimised`. Send an Idempotency-Key to retry safely."""
    if (replay := idem.replay()) is not None:
        return replay
    approval = flows.decide(session, chief, run_id, body, idem=idem)
    response.headers["Location"] = approvals.approval_url(approval)
    return approval


@router.get(
    "/runs/{run_id}/approvals",
    response_model=Page[ApprovalRead],
    summary="List the decisions on a run",
    responses=problem_responses(401, 404, 422),
)
def list_approvals(
    visible: VisibleRunDep,
    session: SessionDep,
    page: PageParamsDep,
    agency_id: Annotated[str | None, Query(examples=["IOM"])] = None,
    decision: Decision | None = None,
) -> Any:
    agency = service.agency_filter(visible, agency_id)
    stmt = service.approvals_query(visible.run.id, agency_id=agency, decision=decision)
    return paginate(session, stmt, page, ApprovalRead)


@router.get(
    "/runs/{run_id}/approvals/{agency_id}",
    response_model=ApprovalRead,
    summary="Read one agency's decision on a run",
    responses=problem_responses(401, 404),
)
def read_approval(
    visible: VisibleRunDep,
    session: SessionDep,
    agency_id: Annotated[str, Path(examples=["IOM"])],
) -> Any:
    """Decisions are final: no ETag, nothing to update."""
    return service.get_approval(session, visible, agency_id)


# ------------------------------------------------------------------------ outputs


@router.get(
    "/runs/{run_id}/purchase-orders",
    response_model=Page[PurchaseOrder],
    summary="Consolidated purchase orders per supplier",
    responses=problem_responses(401, 403, 404, 409, 422),
)
def purchase_orders(
    visible: VisibleRunDep,
    session: SessionDep,
    page: PageParamsDep,
    supplier: Annotated[str | None, Query(examples=["sup-001"])] = None,
) -> Any:
    """One order per supplier: a line per offer (item, pooled quantity, tier, unit price,
    cost) and, under each line, the awards tracing it back to each agency's need; plus the
    deliveries (shipping) from that supplier. Visible once the round is optimised (they
    consolidate every agency's needs). 409 while the run has no plan."""
    service.require_full_view(visible, "purchase orders")
    problem, plan = service.require_plan(visible)
    orders = deliveries_service.numbered_orders(session, visible.run, problem, plan)
    return page_of(
        [o for o in orders if supplier is None or o.supplier == supplier], page, PurchaseOrder
    )


@router.get(
    "/runs/{run_id}/cost-statements",
    response_model=Page[CostStatement],
    summary="Per-agency cost statements: allocated, stand-alone, savings",
    responses=problem_responses(401, 404, 409, 422),
)
def cost_statements(
    visible: VisibleRunDep,
    page: PageParamsDep,
    agency_id: Annotated[str | None, Query(examples=["IOM"])] = None,
) -> Any:
    """Every agency's statement once the round is optimised, to every member agency: the
    split is fair only if each agency can compare it with the others'. Before that, an
    agency sees its own. 409 while the run has no plan."""
    problem, plan = service.require_plan(visible)
    only = service.agency_filter(visible, agency_id)
    return page_of(outputs.cost_statements(problem, plan, only), page, CostStatement)


@router.get(
    "/runs/{run_id}/unmet",
    response_model=Page[UnmetNeed],
    summary="Needs the plan leaves unmet, with their reasons",
    responses=problem_responses(401, 404, 409, 422),
)
def unmet(
    visible: VisibleRunDep,
    page: PageParamsDep,
    agency_id: Annotated[str | None, Query(examples=["UNICEF"])] = None,
    reason: Annotated[
        str | None,
        Query(
            pattern="^(no_offer|no_route|not_eligible|capacity|min_order|too_costly)$",
            examples=["no_route"],
        ),
    ] = None,
) -> Any:
    """Each need with units left unmet: how many, the reason code and a sentence. Before
    the round is optimised an agency sees its own. 409 while the run has no plan."""
    problem, plan = service.require_plan(visible)
    only = service.agency_filter(visible, agency_id)
    return page_of(outputs.unmet_needs(problem, plan, agency=only, reason=reason), page, UnmetNeed)


# ---------------------------------------------------------------- a run's jobs

# Listed with the jobs in the API document; mounted by app.main beside ``router``.
jobs_router = APIRouter(tags=[TAG])


@jobs_router.post(
    "/runs/{run_id}/cancel",
    response_model=RunRead,
    summary="Cancel a run's solve",
    responses=problem_responses(401, 403, 404, 409),
)
def cancel_run(
    run_id: Annotated[int, DIGITS, Path(ge=1, le=MAX_ID, description="the run's id", examples=[7])],
    session: SessionDep,
    coordinator: Coordinator,
    response: Response,
) -> Any:
    """Coordinator. As `POST /jobs/{id}/cancel` on the run's job: the run ends `cancelled`
    (a re-run may follow). 409 once the run has ended."""
    visible = service.get_run(session, coordinator, run_id)
    job = jobs_service.run_job(session, visible.run.id)
    if job is None:
        raise Forbidden(f"run {run_id} has no job to cancel")
    jobs_service.request_cancel(session, coordinator, job.id)
    run = service.get_run(session, coordinator, run_id).run
    session.refresh(run)
    set_etag(response, run)
    return service.run_read(run, visible.viewer)


@jobs_router.get(
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
    runs_of_round = None if round_id is None else service.run_ids_of_round(round_id)
    stmt = jobs_service.jobs_query(state=state, kind=kind, run_id=run_id, run_ids=runs_of_round)
    return paginate(session, stmt, page, JobSummary)
