"""POST /api/v1/solve: a problem document in, its plan out."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from app.auth.deps import CurrentUser
from app.db import SessionDep
from app.errors import PROBLEM_JSON
from app.settings import Settings, get_settings
from app.solve import service
from app.solve.example import EXAMPLE_PROBLEM
from app.solve.schemas import PLAN_SCHEMA, problem_schema

router = APIRouter(tags=["solve"])

SettingsDep = Annotated[Settings, Depends(get_settings)]


def _problem_response(description: str, example: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"example": example}}}


_OPENAPI_EXTRA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A problem document, contract v2 (see the schema); a v1 document "
        "is a v2 document.",
        "content": {
            "application/json": {
                "schema": problem_schema(),
                "examples": {
                    "two-agencies": {
                        "summary": "Two agencies pool N95 respirators; one need has no route",
                        "value": EXAMPLE_PROBLEM,
                    }
                },
            }
        },
    }
}

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The plan. Its `status` says whether it is a solution: optimal, "
        "feasible (the time limit stopped the search with the gap open), infeasible or "
        "error.",
        "content": {"application/json": {"schema": PLAN_SCHEMA}},
    },
    401: _problem_response(
        "No valid API token.",
        {
            "type": "about:blank",
            "title": "Unauthorized",
            "status": 401,
            "detail": "send 'Authorization: Bearer <token>'",
            "instance": "/api/v1/solve",
        },
    ),
    413: _problem_response(
        "The body is larger than the service accepts.",
        {
            "type": "about:blank",
            "title": "Payload too large",
            "status": 413,
            "detail": "the request body exceeds 20971520 bytes",
            "instance": "/api/v1/solve",
        },
    ),
    422: _problem_response(
        "Malformed JSON, or a document that breaks the contract: every problem is listed. "
        "Beyond the schema, also refused: a reference to an agency, item, location, supplier "
        "the document does not list; an id listed twice; an agency twice in an offer; two "
        "routes between one supplier and location; price tiers whose min_quantity does not "
        "rise or whose unit_price rises; an offer twice in a capacity group or a supplier twice "
        "in an agency's exclusions; a rule whose kind lacks (or refuses) its limit, share or "
        "supplier.",
        {
            "type": "about:blank",
            "title": "Invalid input",
            "status": 422,
            "detail": "2 problems found; nothing was changed",
            "instance": "/api/v1/solve",
            "errors": [
                {"path": "$.needs[0].quantity", "reason": "Input should be greater than 0"},
                {"path": "$.offers[1].supplier", "reason": "unknown supplier 'sup-999'"},
            ],
        },
    ),
    415: _problem_response(
        "The body is not declared as JSON (Content-Type: application/json).",
        {
            "type": "about:blank",
            "title": "Unsupported media type",
            "status": 415,
            "detail": "send the problem document as application/json",
            "instance": "/api/v1/solve",
        },
    ),
}


@router.post(
    "/solve",
    summary="Solve a pooling problem",
    description=(
        "Validates the problem document, solves the pooled plan and every agency's "
        "stand-alone baseline, and returns the plan document. The document's "
        "`settings.time_limit_seconds` applies to each solve and is capped by the service. "
        "Any signed-in user (a solve costs up to the service's time limit in CPU, so it is "
        "not offered to anonymous callers)."
    ),
    response_class=JSONResponse,
    responses=_RESPONSES,
    openapi_extra=_OPENAPI_EXTRA,
)
async def solve(
    request: Request, settings: SettingsDep, session: SessionDep, _user: CurrentUser
) -> JSONResponse:
    # The body is read raw, not declared as a model: the solver's validation reports every
    # problem at once, which FastAPI's own body validation would cut short.
    body = await request.body()
    # The database's part ends with the caller's token: the connection its check opened
    # goes back to the pool before minutes of solving (the route takes no request slot,
    # app.middleware.RequestSlots, so it must hold no connection either).
    await run_in_threadpool(session.close)
    plan = await run_in_threadpool(
        service.solve_body,
        body,
        max_time_limit_seconds=settings.max_solve_seconds,
        workers=settings.solver_workers or None,
    )
    return JSONResponse(plan)
