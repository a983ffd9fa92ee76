"""Validating dependencies of the needs routes: the need (404 once), roles, the raw JSON body."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path

from app.api.bodies import JsonBody
from app.api.params import DIGITS, MAX_ID
from app.auth.deps import CurrentUser, require_roles, role_dependency
from app.auth.models import Role, User
from app.db import SessionDep
from app.errors import FieldIssue, InvalidInput
from app.needs import service as needs_service
from app.needs.models import Need


def valid_need_id(
    need_id: Annotated[
        int, DIGITS, Path(ge=1, le=MAX_ID, description="the need's id", examples=[12])
    ],
    session: SessionDep,
    user: CurrentUser,
) -> Need:
    """The need if the caller may see it, else 404: another agency's draft does not exist
    as far as the caller can tell."""
    return needs_service.get_visible(session, user, need_id)


ValidNeed = Annotated[Need, Depends(valid_need_id)]

LocalTeam = Annotated[User, Depends(role_dependency(Role.local_team))]
Specialist = Annotated[User, Depends(require_roles(Role.technical_specialist))]


async def json_object(body: JsonBody) -> dict[str, Any]:
    """The request body as a JSON object, unvalidated (parsed by ``app.api.bodies``).

    Need bodies are validated by the service, field rules and database rules
    in one pass, so that one 422 lists every problem; FastAPI's own body
    validation would answer before the database rules ran. async: no I/O, no thread hop.
    """
    if not isinstance(body, dict):
        raise InvalidInput([FieldIssue("$", "the body must be a JSON object")])
    return body


JsonObject = Annotated[dict[str, Any], Depends(json_object)]
