"""/api/v1/rounds: open a pooling round, change it while open, list and read rounds.

Closing, running, approving and rejecting a round are in ``app.runs``; the
round's needs, duplicates and 3W summary are in ``app.needs``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from app.api import IdempotencyDep, IfMatchDep, Page, PageParamsDep, paginate, set_etag
from app.api.openapi import problem_responses
from app.api.params import IdPath
from app.auth.deps import CurrentUser
from app.db import SessionDep
from app.rounds import service
from app.rounds.deps import RoundManager, ValidRound
from app.rounds.models import RoundStatus
from app.rounds.schemas import RoundCreate, RoundRead, RoundUpdate

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
