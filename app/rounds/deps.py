"""Validating dependencies of the rounds routes: the round (404 once) and who may manage it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from app.api.params import DIGITS, MAX_ID
from app.auth.deps import CurrentUser, require_roles
from app.auth.models import Role, User
from app.db import SessionDep
from app.rounds import service
from app.rounds.models import Round


def valid_round_id(
    round_id: Annotated[
        int, DIGITS, Path(ge=1, le=MAX_ID, description="the round's id", examples=[4])
    ],
    session: SessionDep,
    user: CurrentUser,
) -> Round:
    """The round, or 404. Every authenticated user of the group may see every round.

    It asks for the current user first so that without a token the answer is
    401, whether or not the round exists.
    """
    return service.get(session, round_id)


ValidRound = Annotated[Round, Depends(valid_round_id)]

# Coordinators open and manage rounds; admins may stand in for them.
RoundManager = Annotated[User, Depends(require_roles(Role.coordinator, Role.admin))]
