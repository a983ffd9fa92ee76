"""/api/v1: needs of a round, their life cycle, priority reviews, duplicates and the 3W summary."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from app.api import IdempotencyDep, IfMatchDep, Page, PageParamsDep, paginate, set_etag
from app.api.openapi import problem_responses
from app.api.params import MAX_ID, IdPath
from app.auth.deps import CurrentUser
from app.db import SessionDep
from app.errors import PROBLEM_JSON
from app.needs import service
from app.needs.deps import JsonObject, LocalTeam, Specialist, ValidNeed
from app.needs.models import NeedStatus, Priority
from app.needs.schemas import (
    DuplicatePair,
    NeedCreate,
    NeedRead,
    NeedUpdate,
    PriorityReviewCreate,
    PriorityReviewRead,
    ThreeWRead,
)
from app.rounds.deps import ValidRound
from app.runs import three_w

# Mounted under /api/v1 by app.main, like every domain router.
router = APIRouter(tags=["needs"])

_ROUND_CLOSED = {
    "type": "about:blank",
    "title": "Conflict",
    "status": 409,
    "detail": "round 4 is closed: it takes no more changes to its needs",
    "instance": "/api/v1/rounds/4/needs",
}
_INVALID_NEED = {
    "type": "about:blank",
    "title": "Invalid input",
    "status": 422,
    "detail": "3 problems found; nothing was changed",
    "instance": "/api/v1/rounds/4/needs",
    "errors": [
        {"path": "$.item_id", "reason": "no item 'ppe-mask-n59'"},
        {"path": "$.justification", "reason": "is required for a critical need"},
        {"path": "$.quantity", "reason": "Input should be greater than 0"},
    ],
}


_REFS = "an item or location that does not exist or is retired; a need_by in the past"
_REFS_AND_STORED = (
    f"{_REFS}; a critical or high priority without a justification (the stored one counts)"
)


def _body_doc(model: type[NeedCreate] | type[NeedUpdate]) -> dict[str, Any]:
    # The body is read raw (see app.needs.deps.json_object), so its schema and
    # examples are documented by hand from the model that validates it.
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    examples = schema.pop("examples", [])
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": schema,
                    "examples": {f"example-{i + 1}": {"value": v} for i, v in enumerate(examples)},
                }
            },
        }
    }


def _with_examples(statuses: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    for code, example in ((409, _ROUND_CLOSED), (422, _INVALID_NEED)):
        if code in statuses:
            statuses[code]["content"][PROBLEM_JSON]["example"] = example
    return statuses


# Query parameters shared by the two list routes.
AgencyFilter = Annotated[str | None, Query(description="only this agency's", examples=["IOM"])]
ItemFilter = Annotated[str | None, Query(description="only this item", examples=["ppe-mask-n95"])]
LocationFilter = Annotated[
    str | None, Query(description="only this location", examples=["pa-darien-lajas-blancas"])
]
StatusFilter = Annotated[NeedStatus | None, Query(description="only needs in this status")]
PriorityFilter = Annotated[Priority | None, Query(description="the priority the agency asked")]
EffectiveFilter = Annotated[
    Priority | None, Query(description="the priority runs use (confirmed, else asked)")
]


@router.get(
    "/needs",
    summary="List needs",
    response_model=Page[NeedRead],
    responses=problem_responses(401, 422),
)
def list_needs(
    session: SessionDep,
    user: CurrentUser,
    page: PageParamsDep,
    round_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="only this round's", examples=[4])
    ] = None,
    agency_id: AgencyFilter = None,
    item_id: ItemFilter = None,
    location_id: LocationFilter = None,
    status: StatusFilter = None,
    priority: PriorityFilter = None,
    effective_priority: EffectiveFilter = None,
) -> Any:
    """Needs you may see: your agency's in every status, other agencies' once submitted."""
    stmt = service.needs_query(
        user,
        round_id=round_id,
        agency_id=agency_id,
        item_id=item_id,
        location_id=location_id,
        status=status,
        priority=priority,
        effective_priority=effective_priority,
    )
    result = paginate(session, stmt, page, NeedRead)
    service.fill_duplicates(session, result.items)
    return result


@router.get(
    "/rounds/{round_id}/needs",
    summary="List a round's needs",
    response_model=Page[NeedRead],
    responses=problem_responses(401, 404, 422),
)
def list_round_needs(
    round_: ValidRound,
    session: SessionDep,
    user: CurrentUser,
    page: PageParamsDep,
    agency_id: AgencyFilter = None,
    item_id: ItemFilter = None,
    location_id: LocationFilter = None,
    status: StatusFilter = None,
    priority: PriorityFilter = None,
    effective_priority: EffectiveFilter = None,
) -> Any:
    """The round's needs you may see, with the same filters as ``GET /needs``."""
    stmt = service.needs_query(
        user,
        round_id=round_.id,
        agency_id=agency_id,
        item_id=item_id,
        location_id=location_id,
        status=status,
        priority=priority,
        effective_priority=effective_priority,
    )
    result = paginate(session, stmt, page, NeedRead)
    service.fill_duplicates(session, result.items)
    return result


@router.post(
    "/rounds/{round_id}/needs",
    summary="Create a need",
    status_code=status.HTTP_201_CREATED,
    response_model=NeedRead,
    responses=_with_examples(problem_responses(401, 403, 404, 409, 422, beyond_schema=_REFS)),
    openapi_extra=_body_doc(NeedCreate),
)
def create_need(
    round_id: IdPath,
    body: JsonObject,
    session: SessionDep,
    user: LocalTeam,
    idem: IdempotencyDep,
    response: Response,
) -> Any:
    """A need of your own agency (local team) in an open round; a draft unless ``submit``.

    The agency is yours, never taken from the body. Every problem with the body
    is listed in one 422. 409 once the round is closed. Send an Idempotency-Key
    to retry safely.
    """
    if (replay := idem.replay()) is not None:
        return replay
    need = service.create(session, user, round_id, body, idem)
    set_etag(response, need)
    response.headers["Location"] = service.need_url(need)
    return service.present(session, need)


@router.get(
    "/needs/{need_id}",
    summary="Read a need",
    response_model=NeedRead,
    responses=problem_responses(401, 404),
)
def read_need(need: ValidNeed, session: SessionDep, response: Response) -> Any:
    """A need with its possible duplicates; another agency's draft is 404."""
    set_etag(response, need)
    return service.present(session, need)


@router.patch(
    "/needs/{need_id}",
    summary="Change a need",
    response_model=NeedRead,
    responses=_with_examples(
        problem_responses(401, 403, 404, 409, 412, 422, 428, beyond_schema=_REFS_AND_STORED)
    ),
    openapi_extra=_body_doc(NeedUpdate),
)
def update_need(
    need: ValidNeed,
    body: JsonObject,
    session: SessionDep,
    user: LocalTeam,
    if_match: IfMatchDep,
    response: Response,
) -> Any:
    """Change a draft or submitted need of your agency while the round is open (If-Match)."""
    need = service.update(session, user, need, body, if_match)
    set_etag(response, need)
    return service.present(session, need)


@router.post(
    "/needs/{need_id}/submit",
    summary="Submit a need",
    response_model=NeedRead,
    responses=_with_examples(problem_responses(401, 403, 404, 409, 412, 422, 428)),
)
def submit_need(
    need: ValidNeed,
    session: SessionDep,
    user: LocalTeam,
    if_match: IfMatchDep,
    response: Response,
) -> Any:
    """draft -> submitted while the round is open (If-Match). A submitted need comes back
    unchanged, so a retry is safe. Submitted needs are visible to every agency."""
    need = service.submit(session, user, need, if_match)
    set_etag(response, need)
    return service.present(session, need)


@router.post(
    "/needs/{need_id}/withdraw",
    summary="Withdraw a need",
    response_model=NeedRead,
    responses=_with_examples(problem_responses(401, 403, 404, 409, 412, 428)),
)
def withdraw_need(
    need: ValidNeed,
    session: SessionDep,
    user: LocalTeam,
    if_match: IfMatchDep,
    response: Response,
) -> Any:
    """draft or submitted -> withdrawn while the round is open (If-Match). Final."""
    need = service.withdraw(session, user, need, if_match)
    set_etag(response, need)
    return service.present(session, need)


@router.post(
    "/needs/{need_id}/priority-reviews",
    summary="Confirm or change a need's priority",
    status_code=status.HTTP_201_CREATED,
    response_model=PriorityReviewRead,
    responses=_with_examples(problem_responses(401, 403, 404, 409, 422)),
)
def review_priority(
    need: ValidNeed,
    body: PriorityReviewCreate,
    session: SessionDep,
    user: Specialist,
    idem: IdempotencyDep,
    response: Response,
) -> Any:
    """A technical specialist sets the priority runs use, citing evidence and its source.

    Submitted needs of an open round only. Send an Idempotency-Key to retry safely.
    """
    if (replay := idem.replay()) is not None:
        return replay
    review = service.review_priority(session, user, need, body, idem)
    response.headers["Location"] = service.reviews_url(need)
    return review


@router.get(
    "/needs/{need_id}/priority-reviews",
    summary="List a need's priority reviews",
    response_model=Page[PriorityReviewRead],
    responses=problem_responses(401, 404, 422),
)
def list_priority_reviews(need: ValidNeed, session: SessionDep, page: PageParamsDep) -> Any:
    """Who set which priority on what evidence, oldest first; the last one is in force."""
    return paginate(session, service.reviews_query(need), page, PriorityReviewRead)


@router.get(
    "/rounds/{round_id}/duplicates",
    summary="List possible duplicate needs",
    response_model=Page[DuplicatePair],
    responses=problem_responses(401, 404, 422),
)
def list_duplicates(
    round_: ValidRound,
    session: SessionDep,
    page: PageParamsDep,
    agency_id: Annotated[
        str | None, Query(description="only pairs involving this agency", examples=["IOM"])
    ] = None,
    item_id: ItemFilter = None,
    location_id: LocationFilter = None,
) -> Any:
    """Pairs of submitted needs of different agencies for the same item and location with
    need-by dates close enough to be served by one delivery (see ``NeedRead.duplicates``)."""
    pairs = service.round_duplicates(
        session, round_.id, agency_id=agency_id, item_id=item_id, location_id=location_id
    )
    return service.page_of(pairs, page, DuplicatePair)


@router.get(
    "/rounds/{round_id}/3w",
    summary="Who-what-where summary",
    response_model=ThreeWRead,
    responses=problem_responses(401, 404),
)
def read_three_w(round_: ValidRound, session: SessionDep, user: CurrentUser) -> Any:
    """Agency x location x item category: units needed (submitted needs) and awarded (the
    approved run's plan, else the latest succeeded run's; 0 before any). Every agency sees
    every row once the round is optimised; before, only coordinators and admins do."""
    return three_w.three_w(session, user, round_)
