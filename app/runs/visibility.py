"""Who sees what of a round's runs: all of it, one agency's share, or nothing.

* Coordinators and admins see every run. Once a round has been optimised
  (``optimised``, ``approved``, ``rejected``) every user of a member agency sees
  its runs in full, outputs included: comparing every agency's allocated and
  stand-alone cost is what makes the split fair and checkable.
* Before that, a member agency's users see each run's status and only their
  own agency's needs and outcome (``scope = own_agency``); other users see
  nothing (404: a run's existence is not told).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.orm import Session

from app.auth.models import Role, User
from app.errors import Conflict, Forbidden, NotFound
from app.rounds.models import Round
from app.rounds.service import PUBLISHED_STATUSES
from app.runs.models import Run

# Once a round reaches one of these, its runs are open to every member agency.
MEMBER_VISIBLE = PUBLISHED_STATUSES

# Matches no agency (codes are never empty): a filter for another agency than the reader's.
_NO_AGENCY = ""


@dataclass(frozen=True)
class Viewer:
    """What one user may see of one round's runs: all of it, or one agency's share."""

    full: bool
    agency_id: str | None

    @property
    def scope(self) -> Literal["full", "own_agency"]:
        return "full" if self.full else "own_agency"


def viewer_of(user: User, round_: Round) -> Viewer | None:
    if user.has_role(Role.coordinator, Role.admin):
        return Viewer(True, user.agency_id)
    if user.agency_id is None:
        return None
    return Viewer(round_.status in MEMBER_VISIBLE, user.agency_id)


@dataclass(frozen=True)
class VisibleRun:
    run: Run
    viewer: Viewer


def get_run(session: Session, user: User, run_id: int) -> VisibleRun:
    """The run if ``user`` may see it, else 404 (its existence is not told)."""
    run = session.get(Run, run_id)
    viewer = viewer_of(user, run.round) if run is not None else None
    if run is None or viewer is None:
        raise NotFound(f"run {run_id}")
    return VisibleRun(run, viewer)


def get_round_for_runs(session: Session, user: User, round_id: int) -> tuple[Round, Viewer]:
    round_ = session.get(Round, round_id)
    viewer = viewer_of(user, round_) if round_ is not None else None
    if round_ is None or viewer is None:
        raise NotFound(f"round {round_id}")
    return round_, viewer


def agency_filter(visible: VisibleRun, agency_id: str | None) -> str | None:
    """The agency filter a reader gets: their own only, unless they see the run in full."""
    if visible.viewer.full:
        return agency_id
    own = visible.viewer.agency_id
    if agency_id is not None and agency_id != own:
        # Another agency's share of a run the reader sees only in part: nothing to show.
        return _NO_AGENCY
    return own


def require_full_view(visible: VisibleRun, what: str) -> None:
    if not visible.viewer.full:
        raise Forbidden(
            f"{what} consolidate every agency's needs: member agencies see them once the "
            "round is optimised"
        )


def require_plan(visible: VisibleRun) -> tuple[dict[str, Any], dict[str, Any]]:
    run = visible.run
    if run.plan is None:
        raise Conflict(f"run {run.id} has no plan (it is {run.status.value})")
    return run.problem, run.plan
