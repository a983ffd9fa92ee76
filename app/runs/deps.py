"""Dependencies of the runs routes: who may act, and the run a path names (404 once)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from app.api.params import DIGITS, MAX_ID
from app.auth.deps import CurrentUser, require_roles
from app.auth.models import Role, User
from app.db import SessionDep
from app.runs import service

Coordinator = Annotated[User, Depends(require_roles(Role.coordinator))]
ChiefOfMission = Annotated[User, Depends(require_roles(Role.chief_of_mission))]


def valid_run_id(
    run_id: Annotated[int, DIGITS, Path(ge=1, le=MAX_ID, description="the run's id", examples=[7])],
    session: SessionDep,
    user: CurrentUser,
) -> service.VisibleRun:
    """The run with what the caller may see of it; 404 if it does not exist or is hidden."""
    return service.get_run(session, user, run_id)


VisibleRunDep = Annotated[service.VisibleRun, Depends(valid_run_id)]
