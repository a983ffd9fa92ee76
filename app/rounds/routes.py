"""/api/v1/rounds: open a pooling round, change it while open, list and read rounds.

Closing, running, approving and rejecting a round are in ``app.runs``; the
round's needs, duplicates and 3W summary are in ``app.needs``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response, status

from app.api import IdempotencyDep, IfMatchDep, Page, PageParamsDep, paginate, set_etag
from app.api.openapi import problem_responses
from app.api.params import MAX_ID, IdPath
from app.auth.deps import CurrentUser
from app.db import SessionDep
from app.jobs.routes import TAG
from app.rounds import schedules, service
from app.rounds.deps import RoundManager, ValidRound
from app.rounds.models import Round, RoundStatus
from app.rounds.schemas import RoundCreate, RoundRead, RoundUpdate, ScheduleRead, ScheduleSet

# Mounted under /api/v1 by app.main, like every domain router.
router = APIRouter(tags=["rounds"])

_FUTURE = "a deadline that is not in the future"


@router.get(
    "/rounds",
    summary="List rounds",
    response_model=Page[RoundRead],
    responses=problem_responses(401, 422),
)
def list_rounds(
    session: SessionDep,
    user: CurrentUser,
    page: PageParamsDep,
    status: Annotated[
        RoundStatus | None, Query(description="only rounds in this status", examples=["open"])
    ] = None,
) -> Any:
    """Every round of the group, newest first; any authenticated user."""
    return paginate(session, service.rounds_query(status), page, RoundRead)


@router.post(
    "/rounds",
    summary="Open a round",
    status_code=status.HTTP_201_CREATED,
    response_model=RoundRead,
    responses=problem_responses(401, 403, 409, 422, beyond_schema=_FUTURE),
)
def create_round(
    body: RoundCreate,
    session: SessionDep,
    manager: RoundManager,
    idem: IdempotencyDep,
    response: Response,
) -> Any:
    """Open a pooling round that agencies submit needs into (coordinator or admin).

    ``settings`` are contract-v1 settings checked by the solver's rules; every
    bad field is listed. Send an Idempotency-Key to retry safely.
    """
    if (replay := idem.replay()) is not None:
        return replay
    round_ = service.create(session, manager, body, idem)
    set_etag(response, round_)
    response.headers["Location"] = service.round_url(round_)
    return round_


@router.get(
    "/rounds/{round_id}",
    summary="Read a round",
    response_model=RoundRead,
    responses=problem_responses(401, 404),
)
def read_round(round_: ValidRound, response: Response) -> Any:
    """A round with its status and settings; the ETag is what PATCH needs in If-Match."""
    set_etag(response, round_)
    return round_


@router.patch(
    "/rounds/{round_id}",
    summary="Change an open round",
    response_model=RoundRead,
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428, beyond_schema=_FUTURE),
)
def update_round(
    round_id: IdPath,
    body: RoundUpdate,
    session: SessionDep,
    manager: RoundManager,
    if_match: IfMatchDep,
    response: Response,
) -> Any:
    """Change the name, deadline, as_of, currency or settings while the round is open.

    Coordinator or admin; needs If-Match. 409 once the round is closed.
    """
    round_ = service.update(session, manager, round_id, body, if_match)
    set_etag(response, round_)
    return round_


# Listed with the jobs in the API document; mounted by app.main beside ``router``.
schedule_router = APIRouter(tags=[TAG])

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


@schedule_router.get(
    "/rounds/{round_id}/schedule",
    response_model=ScheduleRead,
    summary="Read a round's schedule",
    responses=problem_responses(401, 404),
)
def read_schedule(round_: ValidRound, session: SessionDep, response: Response) -> Any:
    """Any member. The ETag is the round's: send it in If-Match to change the schedule."""
    set_etag(response, round_)
    return _schedule(session, round_)


@schedule_router.put(
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


@schedule_router.delete(
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
