"""/api/v1: me, tokens, agencies, users. Thin: each route calls one service function."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from app.api import IdempotencyDep, IfMatchDep, Page, PageParamsDep, paginate, set_etag
from app.api.openapi import problem_responses
from app.api.params import IdPath
from app.auth import service
from app.auth.deps import AdminUser, CurrentUser
from app.auth.models import Role
from app.auth.schemas import (
    AgencyCreate,
    AgencyRead,
    TokenCreate,
    TokenCreated,
    TokenRead,
    UserCreate,
    UserRead,
    UserUpdate,
)
from app.db import SessionDep

# Mounted under /api/v1 by app.main, like every domain router.
router = APIRouter(tags=["agencies and users"])


@router.get("/me", response_model=UserRead, responses=problem_responses(401))
def read_me(user: CurrentUser) -> Any:
    """The user the bearer token belongs to, with agency and roles."""
    return user


@router.get("/tokens", response_model=Page[TokenRead], responses=problem_responses(401, 422))
def list_tokens(session: SessionDep, user: CurrentUser, page: PageParamsDep) -> Any:
    """Your own tokens (never the tokens themselves: they are not kept)."""
    return paginate(session, service.tokens_query(user), page, TokenRead)


@router.post(
    "/tokens",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenCreated,
    responses=problem_responses(401, 422),
)
def create_token(body: TokenCreate, session: SessionDep, user: CurrentUser) -> Any:
    """A new token for yourself. The token is in this response only; store it now."""
    token, plain = service.create_token(session, user, user, body.name, body.expires_in_days)
    return TokenCreated(**TokenRead.model_validate(token).model_dump(), token=plain)


@router.delete(
    "/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 404),
)
def revoke_token(token_id: IdPath, session: SessionDep, user: CurrentUser) -> Response:
    """Revoke one of your tokens (an admin: anyone's). It stops working at once."""
    service.revoke_token(session, user, token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/agencies", response_model=Page[AgencyRead], responses=problem_responses(401, 422))
def list_agencies(session: SessionDep, user: CurrentUser, page: PageParamsDep) -> Any:
    """Every member agency of the group."""
    return paginate(session, service.agencies_query(), page, AgencyRead)


@router.get(
    "/agencies/{agency_id}", response_model=AgencyRead, responses=problem_responses(401, 404)
)
def read_agency(agency_id: str, session: SessionDep, user: CurrentUser, response: Response) -> Any:
    agency = service.get_agency(session, agency_id)
    set_etag(response, agency)
    return agency


@router.post(
    "/agencies",
    status_code=status.HTTP_201_CREATED,
    response_model=AgencyRead,
    responses=problem_responses(401, 403, 409, 422),
)
def create_agency(
    body: AgencyCreate,
    session: SessionDep,
    admin: AdminUser,
    idem: IdempotencyDep,
    response: Response,
) -> Any:
    """Add a member agency (admin). Send an Idempotency-Key to retry safely."""
    if (replay := idem.replay()) is not None:
        return replay
    agency = service.create_agency(session, admin, body, idem)
    set_etag(response, agency)
    response.headers["Location"] = service.agency_url(agency)
    return agency


@router.get("/users", response_model=Page[UserRead], responses=problem_responses(401, 403, 422))
def list_users(
    session: SessionDep,
    admin: AdminUser,
    page: PageParamsDep,
    agency_id: str | None = None,
    role: Role | None = None,
    active: bool | None = None,
) -> Any:
    """Users, filtered by agency, role and whether active (admin)."""
    return paginate(session, service.users_query(agency_id, role, active), page, UserRead)


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    responses=problem_responses(401, 403, 409, 422, beyond_schema="an agency that does not exist"),
)
def create_user(
    body: UserCreate,
    session: SessionDep,
    admin: AdminUser,
    idem: IdempotencyDep,
    response: Response,
) -> Any:
    """Add a user with roles (admin). Send an Idempotency-Key to retry safely."""
    if (replay := idem.replay()) is not None:
        return replay
    user = service.create_user(session, admin, body, idem)
    set_etag(response, user)
    response.headers["Location"] = service.user_url(user)
    return user


@router.get("/users/{user_id}", response_model=UserRead, responses=problem_responses(401, 403, 404))
def read_user(user_id: IdPath, session: SessionDep, admin: AdminUser, response: Response) -> Any:
    user = service.get_user(session, user_id)
    set_etag(response, user)
    return user


@router.patch(
    "/users/{user_id}",
    response_model=UserRead,
    responses=problem_responses(
        401,
        403,
        404,
        412,
        422,
        428,
        beyond_schema="an agency that does not exist; no agency for a role of an agency's "
        "staff (the stored roles count); an admin deactivating or demoting themselves",
    ),
)
def update_user(
    user_id: IdPath,
    body: UserUpdate,
    session: SessionDep,
    admin: AdminUser,
    if_match: IfMatchDep,
    response: Response,
) -> Any:
    """Change a user's name, agency, roles or deactivate them (admin; needs If-Match)."""
    user = service.update_user(session, admin, user_id, body, if_match)
    set_etag(response, user)
    return user
