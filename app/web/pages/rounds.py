"""Rounds: the list, opening one, a round's page for each role, closing and re-running;
on the round's page a chief of mission sets their agency's budget and the coordinator
the allocation rule and whether fairness is checked.

Both forms follow ``app.web.pages.catalogue_forms``: the form becomes the API's body
(``app.web.forms``), parsed with the API's own schema (``BudgetCreate``/``BudgetUpdate``,
``RoundUpdate``) by ``parse_body``, then the same service call as the API's route
(``app.sourcing.service`` for budgets, ``app.rounds.service.update`` for the settings),
with the ETag the page was shown with as If-Match. The settings form changes only
``allocation`` and ``fairness``: since ``RoundUpdate.settings`` replaces the settings
whole, the round's other stored settings are sent back as they are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError

from app.api import IfMatch, etag_for
from app.api.params import IdPath
from app.auth.deps import require_roles
from app.auth.models import Role, User
from app.catalogue.deps import parse_body
from app.catalogue.models import Item, Location
from app.db import SessionDep
from app.errors import (
    Conflict,
    FieldIssue,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    field_issues,
)
from app.exchange.service import group_zone
from app.jobs.deps import JobBackendDep
from app.needs import service as needs_service
from app.needs.models import Need, NeedStatus, Priority
from app.needs.schemas import NeedRead
from app.rounds import flows
from app.rounds import service as rounds_service
from app.rounds.models import Round, RoundStatus
from app.rounds.schemas import RoundCreate, RoundRead, RoundUpdate, effective_round_settings
from app.runs import service as runs_service
from app.runs.models import Decision, Run
from app.scenarios import service as scenarios_service
from app.settings import Settings
from app.sourcing import service as sourcing_service
from app.sourcing.models import AgencyBudget
from app.sourcing.schemas import BudgetCreate, BudgetUpdate
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
from app.web.forms import FormField, raw_body, shown, values_of
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


BUDGET_FIELDS = (
    FormField(
        "amount",
        "Budget",
        "money",
        required=True,
        hint="The most your agency spends directly in this round: goods, fees and per-unit "
        "shipping of its own awards.",
        attrs='inputmode="decimal" autocomplete="off"',
    ),
    FormField("note", "Note", nullable=True, hint="e.g. the allocation it comes from (optional)"),
)
BUDGET_LABELS = {"_form": "", **{f.name: f.label for f in BUDGET_FIELDS}}
ALLOCATIONS = {
    "usage": "By usage: each agency pays for what it is awarded",
    "proportional": "Proportional: the pool's saving split by each agency's stand-alone cost",
    "least_core": "Least core: no group does better alone, as far as it can be",
}
SETTINGS_LABELS = {"allocation": "Allocation rule", "fairness": "Fairness check"}


def is_round_manager(user: User) -> bool:
    return user.has_role(Role.coordinator, Role.admin)


def _own_budget(session: Any, user: User, round_id: int) -> AgencyBudget | None:
    if user.agency_id is None:
        return None
    stmt = sourcing_service.budgets_query(round_id).where(AgencyBudget.agency_id == user.agency_id)
    return session.scalar(stmt)


def _sourcing_context(session: Any, user: User, round_: Round) -> dict[str, Any]:
    """The round's budgets and sourcing settings, and the forms this user may use."""
    effective = effective_round_settings(round_.settings)
    budgets = list(session.scalars(sourcing_service.budgets_query(round_.id)))
    context: dict[str, Any] = {
        "budgets": budgets,
        "allocation": effective["allocation"],
        "fairness_on": effective["fairness"] == "core",
        "allocations": ALLOCATIONS,
        "can_set_budget": user.has_role(Role.chief_of_mission)
        and user.agency_id is not None
        and round_.status == RoundStatus.open,
        "can_set_settings": is_round_manager(user) and round_.status == RoundStatus.open,
        "round_etag": etag_for(round_),
        "budget_errors": {},
        "settings_errors": {},
        "budget_labels": BUDGET_LABELS,
        "settings_labels": SETTINGS_LABELS,
    }
    # The page holds the round's budgets already; the form's POST reads its own.
    own = next((b for b in budgets if b.agency_id == user.agency_id), None)
    context["own_budget"] = own
    context["budget_etag"] = etag_for(own) if own is not None else ""
    context["budget_values"] = {f.name: shown(getattr(own, f.name, None)) for f in BUDGET_FIELDS}
    context["settings_values"] = {
        "allocation": context["allocation"],
        "fairness": "on" if context["fairness_on"] else "",
    }
    return context


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
    context |= _sourcing_context(session, user, round_)
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


def _round_again(
    request: Request,
    session: Any,
    user: User,
    round_id: int,
    settings: Settings,
    status_code: int,
    **forms: Any,
) -> Response:
    """The round's page again, with a form as it was sent and its problems."""
    session.rollback()
    round_ = rounds_service.get(session, round_id)
    context = round_context(session, user, round_, settings) | forms
    return render(request, settings, "round.html", context, status_code=status_code)


def _write_on_round(
    request: Request,
    session: Any,
    user: User,
    round_id: int,
    settings: Settings,
    write: Callable[[], object],
    *,
    form: str,
    kept: Mapping[str, Any],
    stale: str,
    issues: Callable[[list[FieldIssue]], list[FieldIssue]] = list,
) -> Response | None:
    """Run ``write`` (a service call that checks, audits and commits); on a problem, the
    round's page again with the ``form``'s messages: every field's at once and the form as
    sent (``kept``) for 422, ``stale`` for 412, the conflict's own words for 409."""
    try:
        write()
    except InvalidInput as exc:
        errors = {f"{form}_errors": field_errors(issues(exc.errors))}
        return _round_again(request, session, user, round_id, settings, 422, **kept, **errors)
    except (Conflict, PreconditionFailed) as exc:
        changed = isinstance(exc, PreconditionFailed)
        errors = {f"{form}_errors": {"_form": [stale if changed else exc.detail]}}
        code = 412 if changed else 409
        return _round_again(request, session, user, round_id, settings, code, **errors)
    return None


@router.post("/rounds/{round_id}/budget")
def set_budget(
    round_id: IdPath,
    request: Request,
    form: CheckedForm,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
) -> Response:
    """Set or change the chief of mission's own agency's budget (the API's POST or PATCH)."""
    require_roles(Role.chief_of_mission)(user)
    round_ = rounds_service.get(session, round_id)
    own = _own_budget(session, user, round_.id)
    editing = own is not None
    values = values_of(form, BUDGET_FIELDS, editing)
    raw = raw_body(values, BUDGET_FIELDS, editing)
    # The ETag the form was shown with (none: there was no budget when it was shown).
    sent_etag = text(form, "etag")

    def write() -> object:
        if own is None:
            if sent_etag:
                raise PreconditionFailed("the budget was removed since the page was shown")
            body = parse_body(BudgetCreate, raw, list)
            return sourcing_service.create_budget(session, user, round_.id, body, None)
        update = parse_body(BudgetUpdate, raw, list)
        return sourcing_service.update_budget(session, user, own, update, IfMatch((sent_etag,)))

    problem = _write_on_round(
        request,
        session,
        user,
        round_id,
        settings,
        write,
        form="budget",
        kept={"budget_values": values, "budget_etag": sent_etag},
        stale="Someone changed your agency's budget after you opened this page. It is shown "
        "below as it is now: set it again.",
    )
    if problem is not None:
        return problem
    return redirect(
        f"/rounds/{round_id}#budget-title",
        settings,
        f"{user.agency_id}'s budget for this round is saved.",
    )


def _settings_issues(issues: list[FieldIssue]) -> list[FieldIssue]:
    # ``$.settings.allocation`` is the form's ``allocation`` field.
    return [FieldIssue(i.path.replace("$.settings.", "$.", 1), i.reason) for i in issues]


@router.post("/rounds/{round_id}/settings")
def set_settings(
    round_id: IdPath,
    request: Request,
    form: CheckedForm,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
) -> Response:
    """The allocation rule and the fairness check; every other setting kept as stored."""
    require_roles(Role.coordinator, Role.admin)(user)
    round_ = rounds_service.get(session, round_id)
    values = {"allocation": text(form, "allocation"), "fairness": text(form, "fairness")}
    chosen = {
        "allocation": values["allocation"] or None,
        "fairness": "core" if values["fairness"] == "on" else "none",
    }
    raw = {"settings": {**(round_.settings or {}), **chosen}}
    sent_etag = text(form, "etag")

    def write() -> object:
        body = parse_body(RoundUpdate, raw, list)
        return rounds_service.update(session, user, round_.id, body, IfMatch((sent_etag,)))

    problem = _write_on_round(
        request,
        session,
        user,
        round_id,
        settings,
        write,
        form="settings",
        kept={"settings_values": values, "round_etag": sent_etag},
        stale="Someone changed this round after you opened its page. Its settings are shown "
        "below as they are now: make your change again.",
        issues=_settings_issues,
    )
    if problem is not None:
        return problem
    fairness = "checked" if chosen["fairness"] == "core" else "not checked"
    return redirect(
        f"/rounds/{round_id}#settings-title",
        settings,
        f"Settings saved: allocation {chosen['allocation'] or 'usage'}, fairness {fairness}.",
    )
