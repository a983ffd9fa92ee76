"""Rounds: the list, opening one, a round's page for each role, closing and re-running."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError

from app.api import PageParams, paginate
from app.auth.deps import require_roles
from app.auth.models import Role, User
from app.db import SessionDep
from app.errors import FieldIssue, NotFound
from app.exchange.service import group_zone
from app.jobs.deps import JobBackendDep
from app.needs import service as needs_service
from app.needs.models import Need, NeedStatus
from app.needs.schemas import NeedRead
from app.rounds import flows
from app.rounds import service as rounds_service
from app.rounds.models import Round, RoundStatus
from app.rounds.schemas import RoundCreate, RoundRead
from app.runs import service as runs_service
from app.runs.models import Run
from app.scenarios import service as scenarios_service
from app.settings import Settings
from app.web.deps import (
    CheckedForm,
    Offset,
    SettingsDep,
    WebRoute,
    WebUser,
    field_errors,
    names_context,
    redirect,
    render,
    text,
)

router = APIRouter(route_class=WebRoute, include_in_schema=False)

PAGE_SIZE = 25
RE_RUNNABLE = frozenset({RoundStatus.closed, RoundStatus.optimised, RoundStatus.rejected})


def _page(settings: Settings, offset: int, size: int = PAGE_SIZE) -> PageParams:
    return PageParams(limit=min(size, settings.max_page_size), offset=max(offset, 0))


def is_round_manager(user: User) -> bool:
    return user.has_role(Role.coordinator, Role.admin)


@router.get("/rounds")
def rounds_page(
    request: Request,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
    status: Annotated[RoundStatus | None, Query()] = None,
    offset: Offset = 0,
) -> Response:
    page = paginate(
        session, rounds_service.rounds_query(status), _page(settings, offset), RoundRead
    )
    return render(
        request,
        settings,
        "rounds.html",
        {
            "page": page,
            "status": status,
            "statuses": list(RoundStatus),
            "zone": group_zone(settings),
            "values": {},
        },
    )


def _deadline(value: str, zone: dt.tzinfo) -> dt.datetime | str:
    """A ``datetime-local`` field (no zone) read in the group's time zone."""
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return value  # the schema reports it, next to the field
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


@router.post("/rounds")
def open_round(
    request: Request,
    form: CheckedForm,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
) -> Response:
    require_roles(Role.coordinator, Role.admin)(user)
    values = {k: text(form, k) for k in ("name", "deadline", "currency")}
    raw: dict[str, Any] = {"name": values["name"], "currency": values["currency"] or "USD"}
    if values["deadline"]:
        raw["deadline"] = _deadline(values["deadline"], group_zone(settings))
    try:
        data = RoundCreate.model_validate(raw)
    except ValidationError as exc:
        issues = [
            FieldIssue(".".join(str(p) for p in e["loc"]), e["msg"].removeprefix("Value error, "))
            for e in exc.errors(include_url=False)
        ]
        page = paginate(session, rounds_service.rounds_query(), _page(settings, 0), RoundRead)
        return render(
            request,
            settings,
            "rounds.html",
            {
                "page": page,
                "status": None,
                "statuses": list(RoundStatus),
                "zone": group_zone(settings),
                "values": values,
                "errors": field_errors(issues),
            },
            status_code=422,
        )
    round_ = rounds_service.create(session, user, data)
    return redirect(f"/rounds/{round_.id}", settings, f"Round “{round_.name}” is open.")


def _agency_totals(session: Any, user: User, round_id: int) -> list[dict[str, Any]]:
    visible = needs_service.needs_query(user, round_id=round_id, status=NeedStatus.submitted)
    needs = visible.subquery()
    rows = session.execute(
        sa.select(needs.c.agency_id, sa.func.count(), sa.func.sum(needs.c.quantity))
        .group_by(needs.c.agency_id)
        .order_by(needs.c.agency_id)
    ).all()
    return [{"agency_id": a, "needs": int(n), "units": int(q or 0)} for a, n, q in rows]


def round_context(
    session: Any, user: User, round_: Round, settings: Settings, offset: int = 0
) -> dict[str, Any]:
    """What the round page shows this user: their own needs, the totals, the runs."""
    context: dict[str, Any] = {"round": round_, "zone": group_zone(settings)}
    if user.has_role(Role.local_team) and user.agency_id is not None:
        stmt = needs_service.needs_query(user, round_id=round_.id, agency_id=user.agency_id)
        page = paginate(session, stmt, _page(settings, offset, 100), NeedRead)
        needs_service.fill_duplicates(session, page.items)
        context["own_needs"] = page
        context["own_etags"] = _etags(session, [n.id for n in page.items])
    context["totals"] = _agency_totals(session, user, round_.id)
    context["duplicates"] = needs_service.round_duplicates(
        session,
        round_.id,
        agency_id=user.agency_id if not is_round_manager(user) and user.agency_id else None,
    )
    own = context["own_needs"].items if "own_needs" in context else []
    context |= names_context(
        session,
        [n.item_id for n in own] + [p.item_id for p in context["duplicates"]],
        [n.location_id for n in own] + [p.location_id for p in context["duplicates"]],
    )
    try:
        _round, viewer = runs_service.get_round_for_runs(session, user, round_.id)
    except NotFound:
        viewer = None
    runs: list[Run] = []
    if viewer is not None:
        runs = list(session.scalars(runs_service.runs_query(round_.id).limit(20)))
    context["runs"] = runs
    context["viewer"] = viewer
    # What-ifs are seen by whoever sees the runs in full; each run's page lists its own.
    context["scenario_counts"] = (
        {run.id: _count(session, scenarios_service.scenarios_query(run.id)) for run in runs}
        if viewer is not None and viewer.full
        else {}
    )
    context["can_close"] = user.has_role(Role.coordinator) and round_.status == RoundStatus.open
    context["can_rerun"] = (
        user.has_role(Role.coordinator)
        and round_.status in RE_RUNNABLE
        and bool(runs)
        and not any(r.status in runs_service.IN_PROGRESS for r in runs)
    )
    context["published"] = round_.status in rounds_service.PUBLISHED_STATUSES
    return context


def _count(session: Any, stmt: sa.Select[Any]) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0)


def _etags(session: Any, ids: list[int]) -> dict[int, str]:
    from app.api import etag_for

    if not ids:
        return {}
    return {n.id: etag_for(n) for n in session.scalars(sa.select(Need).where(Need.id.in_(ids)))}


@router.get("/rounds/{round_id}")
def round_page(
    round_id: int,
    request: Request,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
    offset: Offset = 0,
) -> Response:
    round_ = rounds_service.get(session, round_id)
    return render(
        request, settings, "round.html", round_context(session, user, round_, settings, offset)
    )


@router.post("/rounds/{round_id}/close")
def close_round(
    round_id: int,
    form: CheckedForm,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
    backend: JobBackendDep,
) -> Response:
    """Queue the solve and go straight to the run's page, which follows its progress."""
    require_roles(Role.coordinator)(user)
    run = flows.close_round(session, user, round_id, settings=settings, backend=backend)
    return redirect(
        f"/runs/{run.id}", settings, f"Round closed: its needs are frozen in run #{run.number}."
    )


@router.post("/rounds/{round_id}/rerun")
def rerun_round(
    round_id: int,
    form: CheckedForm,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
    backend: JobBackendDep,
) -> Response:
    require_roles(Role.coordinator)(user)
    run = flows.rerun(session, user, round_id, settings=settings, backend=backend)
    return redirect(f"/runs/{run.id}", settings, f"Run #{run.number} started.")
