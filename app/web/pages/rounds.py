"""Rounds: the list, opening one, a round's page for each role, closing and re-running."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError

from app.api.params import IdPath
from app.auth.deps import require_roles
from app.auth.models import Role, User
from app.catalogue.models import Item, Location
from app.db import SessionDep
from app.errors import NotFound, field_issues
from app.exchange.service import group_zone
from app.jobs.deps import JobBackendDep
from app.needs import service as needs_service
from app.needs.models import Need, NeedStatus, Priority
from app.needs.schemas import NeedRead
from app.rounds import flows
from app.rounds import service as rounds_service
from app.rounds.models import Round, RoundStatus
from app.rounds.schemas import RoundCreate, RoundRead
from app.runs import service as runs_service
from app.runs.models import Decision, Run
from app.scenarios import service as scenarios_service
from app.settings import Settings
from app.web.deps import (
    CheckedForm,
    SettingsDep,
    WebRoute,
    WebUser,
    field_errors,
    names_context,
    redirect,
    render,
    text,
)
from app.web.tables import Table, View, name_of, ranked

router = APIRouter(route_class=WebRoute, include_in_schema=False)

PAGE_SIZE = 25
RE_RUNNABLE = frozenset({RoundStatus.closed, RoundStatus.optimised, RoundStatus.rejected})


ROUNDS = Table(
    {
        "name": Round.name,
        "status": Round.status,
        "deadline": Round.deadline,
        "currency": Round.currency,
    },
    key=Round.id,
    default="id",
    default_dir="desc",  # newest first: the round people work in is usually the latest
    per_page=PAGE_SIZE,
    labels={"id": "newest", "name": "round", "deadline": "deadline"},
)
# A local team's needs on its round's page.
OWN_NEEDS = Table(
    {
        "item": name_of(Item, Need.item_id),
        "location": name_of(Location, Need.location_id),
        "quantity": Need.quantity,
        "need_by": Need.need_by,
        "priority": ranked(
            sa.func.coalesce(Need.confirmed_priority, Need.priority), list(Priority)
        ),
        "status": Need.status,
    },
    key=Need.id,
    default="id",
    per_page=100,
    labels={"id": "number", "need_by": "need by"},
)


def is_round_manager(user: User) -> bool:
    return user.has_role(Role.coordinator, Role.admin)


@router.get("/rounds")
def rounds_page(
    request: Request,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
    status: Annotated[RoundStatus | None, Query()] = None,
) -> Response:
    view = ROUNDS.read(request, settings)
    page = ROUNDS.page(session, rounds_service.rounds_query(status), view, RoundRead)
    return render(
        request,
        settings,
        "rounds.html",
        {
            "page": page,
            "view": view,
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
        issues = field_issues(exc.errors(include_url=False))
        view = ROUNDS.read(request, settings)
        page = ROUNDS.page(session, rounds_service.rounds_query(), view, RoundRead)
        return render(
            request,
            settings,
            "rounds.html",
            {
                "page": page,
                "view": view,
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
    session: Any, user: User, round_: Round, settings: Settings, view: View | None = None
) -> dict[str, Any]:
    """What the round page shows this user: their own needs, the totals, the runs."""
    context: dict[str, Any] = {"round": round_, "zone": group_zone(settings)}
    if user.has_role(Role.local_team) and user.agency_id is not None:
        view = view or View("id", "asc", 1, OWN_NEEDS.per_page)
        stmt = needs_service.needs_query(user, round_id=round_.id, agency_id=user.agency_id)
        page = OWN_NEEDS.page(session, stmt, view, NeedRead)
        context["own_view"] = view
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
    context["rejections"] = _rejections(runs) if round_.status == RoundStatus.rejected else []
    return context


def _rejections(runs: list[Run]) -> list[Any]:
    """The rejections of the round's latest run with a plan: who rejected it and why."""
    planned = [r for r in runs if r.plan is not None]
    if not planned:
        return []
    latest = max(planned, key=lambda r: r.number)
    return sorted(
        (a for a in latest.approvals if a.decision == Decision.rejected),
        key=lambda a: a.agency_id,
    )


def _count(session: Any, stmt: sa.Select[Any]) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0)


def _etags(session: Any, ids: list[int]) -> dict[int, str]:
    from app.api import etag_for

    if not ids:
        return {}
    return {n.id: etag_for(n) for n in session.scalars(sa.select(Need).where(Need.id.in_(ids)))}


@router.get("/rounds/{round_id}")
def round_page(
    round_id: IdPath,
    request: Request,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
) -> Response:
    view = OWN_NEEDS.read(request, settings)
    round_ = rounds_service.get(session, round_id)
    return render(
        request, settings, "round.html", round_context(session, user, round_, settings, view)
    )


@router.get("/rounds/{round_id}/close")
def confirm_close(
    round_id: int, request: Request, session: SessionDep, user: WebUser, settings: SettingsDep
) -> Response:
    """Closing cannot be undone and leaves every draft out: the coordinator is shown what
    goes in, which drafts stay out and whose they are, and confirms."""
    require_roles(Role.coordinator)(user)
    round_ = rounds_service.get(session, round_id)
    if round_.status != RoundStatus.open:
        return redirect(f"/rounds/{round_id}", settings, "This round is closed already.", "warn")
    drafts = needs_service.drafts_of_round(session, round_id)
    context = {
        "round": round_,
        "zone": group_zone(settings),
        "totals": _agency_totals(session, user, round_id),
        "drafts": drafts,
    }
    context |= names_context(session, [n.item_id for n in drafts], [n.location_id for n in drafts])
    return render(request, settings, "close_round.html", context)


@router.post("/rounds/{round_id}/close")
def close_round(
    round_id: IdPath,
    form: CheckedForm,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
    backend: JobBackendDep,
) -> Response:
    """Queue the solve and go straight to the run's page, which follows its progress.
    Only from the confirmation page (``confirm=yes``); else the browser is sent there."""
    require_roles(Role.coordinator)(user)
    if text(form, "confirm") != "yes":
        return redirect(f"/rounds/{round_id}/close")
    run = flows.close_round(session, user, round_id, settings=settings, backend=backend)
    return redirect(
        f"/runs/{run.id}", settings, f"Round closed: its needs are frozen in run #{run.number}."
    )


@router.post("/rounds/{round_id}/rerun")
def rerun_round(
    round_id: IdPath,
    form: CheckedForm,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
    backend: JobBackendDep,
) -> Response:
    require_roles(Role.coordinator)(user)
    run = flows.rerun(session, user, round_id, settings=settings, backend=backend)
    return redirect(f"/runs/{run.id}", settings, f"Run #{run.number} started.")
