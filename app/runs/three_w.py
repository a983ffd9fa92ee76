"""Who-what-where (3W): agency x location x item category, units needed and awarded.

It reads a round's submitted needs (``app.needs``) and the plan that counts for
the round: the runs domain reads the needs domain, never the other way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.auth.models import Role, User
from app.catalogue.models import Item, Location
from app.needs.schemas import ThreeWRead, ThreeWRow
from app.needs.service import submitted_needs
from app.rounds.models import Round
from app.rounds.service import PUBLISHED_STATUSES
from app.runs.models import Run, RunStatus


@dataclass
class _Cell:
    needs: int = 0
    needed: int = 0
    awarded: int = 0


def plan_run(session: Session, round_id: int) -> Run | None:
    """The run whose plan counts for the round: the binding one, else the latest succeeded."""
    return session.scalars(
        sa.select(Run)
        .where(Run.round_id == round_id, Run.status == RunStatus.succeeded, Run.plan.is_not(None))
        .order_by(Run.binding.desc(), Run.number.desc())
        .limit(1)
    ).first()


def _awards_by_need(run: Run) -> Iterable[tuple[str, str, str, int]]:
    """(agency, item, location, quantity) of each award in the run's plan.

    Awards name the problem document's need ids; the document, frozen with the
    run, says whose need each was, so this does not depend on how ids were made.
    """
    needs = {n.get("id"): n for n in (run.problem or {}).get("needs", []) if isinstance(n, Mapping)}
    for award in (run.plan or {}).get("awards", []):
        need = needs.get(award.get("need"))
        if need is not None:
            yield need["agency"], need["item"], need["location"], int(award.get("quantity", 0))


def three_w(session: Session, user: User, round_: Round) -> ThreeWRead:
    """Who-what-where: agency x location x item category, units needed and awarded.

    Every member agency sees all rows once the round is optimised (or later);
    before that coordinators and admins see all rows, anyone else only their
    own agency's.
    """
    sees_all = round_.status in PUBLISHED_STATUSES or user.has_role(Role.coordinator, Role.admin)
    scope: Literal["all", "own_agency"] = "all" if sees_all else "own_agency"

    def shown(agency: str) -> bool:
        return sees_all or (user.agency_id is not None and agency == user.agency_id)

    cells: dict[tuple[str, str, str], _Cell] = defaultdict(_Cell)
    for need in submitted_needs(session, round_.id):
        if shown(need.agency_id):
            cell = cells[need.agency_id, need.location_id, need.item_id]
            cell.needs += 1
            cell.needed += need.quantity
    run = plan_run(session, round_.id)
    if run is not None:
        for agency, item_id, location_id, quantity in _awards_by_need(run):
            if shown(agency):
                cells[agency, location_id, item_id].awarded += quantity

    items = _by_id(session, Item, {key[2] for key in cells})
    locations = _by_id(session, Location, {key[1] for key in cells})
    rows: dict[tuple[str, str, str], ThreeWRow] = {}
    for (agency, location_id, item_id), cell in cells.items():
        item = items.get(item_id)
        location = locations.get(location_id)
        category = item.category if item is not None else "unknown"
        key = (agency, location_id, category)
        row = rows.get(key) or ThreeWRow(
            agency_id=agency,
            location_id=location_id,
            location_name=location.name if location is not None else location_id,
            region=location.region if location is not None else None,
            item_category=category,
            needs=0,
            quantity_needed=0,
            quantity_awarded=0,
        )
        row.needs += cell.needs
        row.quantity_needed += cell.needed
        row.quantity_awarded += cell.awarded
        rows[key] = row
    return ThreeWRead(
        round_id=round_.id,
        round_status=round_.status,
        run_id=run.id if run is not None else None,
        run_number=run.number if run is not None else None,
        scope=scope,
        rows=[rows[key] for key in sorted(rows)],
    )


def _by_id[R: (Item, Location)](session: Session, model: type[R], ids: set[str]) -> dict[str, R]:
    if not ids:
        return {}
    return {row.id: row for row in session.scalars(sa.select(model).where(model.id.in_(ids)))}
