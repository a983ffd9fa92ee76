"""A local team's needs: the form (new and edit), submit, withdraw, the bulk upload; and the
technical specialists' priority review.

Every write goes through ``app.needs.service`` (or ``app.exchange.service`` for a
file), which checks every rule and lists every problem; the pages only show those
problems next to the fields they are about.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request, Response
from pydantic import BeforeValidator, ValidationError
from starlette.datastructures import FormData, UploadFile

from app.api import IfMatch, etag_for
from app.api.params import IdPath
from app.auth.deps import require_roles
from app.auth.models import Role, User
from app.catalogue import service as catalogue_service
from app.catalogue.models import Item, Location
from app.db import SessionDep
from app.errors import Forbidden, InvalidInput, PreconditionFailed, field_issues
from app.exchange import service as exchange_service
from app.exchange.service import Upload, group_zone
from app.needs import service as needs_service
from app.needs.models import Need, NeedStatus, Priority
from app.needs.schemas import NeedRead, PriorityReviewCreate, PriorityReviewRead
from app.rounds import service as rounds_service
from app.rounds.models import Round, RoundStatus
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
from app.web.tables import Table, name_of, ranked

router = APIRouter(route_class=WebRoute, include_in_schema=False)

NEED_FIELDS = ("item_id", "location_id", "quantity", "need_by", "priority", "justification")
PICKER_LIMIT = 300
REVIEWS = Table(
    {
        "id": Need.id,
        "agency": Need.agency_id,
        "item": name_of(Item, Need.item_id),
        "location": name_of(Location, Need.location_id),
        "quantity": Need.quantity,
        "asked": ranked(Need.priority, list(Priority)),
        "in_force": ranked(
            sa.func.coalesce(Need.confirmed_priority, Need.priority), list(Priority)
        ),
    },
    key=Need.id,
    default="id",
    per_page=50,
    labels={"id": "number", "asked": "priority asked", "in_force": "priority in force"},
)


# ----------------------------------------------------------------- the item picker


def item_choices(
    session: Any, search: str, selected: str | None = None
) -> tuple[list[tuple[str, list[Item]]], int]:
    """Active items matching ``search`` (name, code, or UNSPSC digits), by category.

    Digits search the UNSPSC codes through the catalogue's own filter (a segment,
    family or class code finds every item under it). The selected item stays in the
    list even when the search leaves it out, so a re-shown form keeps the choice.
    """
    search = search.strip()
    digits = search.isdigit()
    stmt = catalogue_service.items_query(
        q=None if digits or not search else search,
        unspsc=search if digits else None,
        active=True,
    )
    items = list(session.scalars(stmt.limit(PICKER_LIMIT + 1)))
    total = len(items)
    items = items[:PICKER_LIMIT]
    if selected and all(i.id != selected for i in items):
        chosen = session.get(Item, selected)
        if chosen is not None:
            items.insert(0, chosen)
    groups: dict[str, list[Item]] = {}
    for item in sorted(items, key=lambda i: (i.category, i.name)):
        groups.setdefault(item.category, []).append(item)
    return sorted(groups.items()), total


def location_choices(session: Any) -> list[tuple[str, list[Location]]]:
    groups: dict[str, list[Location]] = {}
    for location in session.scalars(catalogue_service.locations_query(active=True)):
        groups.setdefault(location.region or "Other", []).append(location)
    return sorted((region, sorted(rows, key=lambda r: r.name)) for region, rows in groups.items())


def _form_context(
    session: Any,
    round_: Round,
    values: dict[str, str],
    search: str,
    need: Need | None = None,
    errors: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    items, found = item_choices(session, search, values.get("item_id") or None)
    return {
        "round": round_,
        "need": need,
        "values": values,
        "search": search,
        "items": items,
        "items_found": found,
        "picker_limit": PICKER_LIMIT,
        "locations": location_choices(session),
        "priorities": list(Priority),
        "errors": errors or {},
        "etag": etag_for(need) if need is not None else "",
        "today": dt.date.today().isoformat(),
    }


def _raw_need(form: FormData) -> tuple[dict[str, str], dict[str, Any]]:
    """The form's values as typed, and as the service takes them (whole numbers as ints)."""
    values = {field: text(form, field) for field in NEED_FIELDS}
    raw: dict[str, Any] = dict(values)
    quantity = values["quantity"].replace(",", "").replace(" ", "")
    if quantity.isdigit() or (quantity.startswith("-") and quantity[1:].isdigit()):
        raw["quantity"] = int(quantity)
    return values, raw


def _require_local_team(user: User) -> None:
    require_roles(Role.local_team)(user)
    if user.agency_id is None:
        raise Forbidden("only a local team member of an agency manages needs")


# -------------------------------------------------------------------------- create


@router.get("/rounds/{round_id}/needs/new")
def new_need_page(
    round_id: IdPath,
    request: Request,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
    q: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    _require_local_team(user)
    round_ = rounds_service.get(session, round_id)
    values = {f: request.query_params.get(f, "") for f in NEED_FIELDS}
    values["priority"] = values["priority"] or Priority.normal.value
    return render(request, settings, "need_form.html", _form_context(session, round_, values, q))


@router.post("/rounds/{round_id}/needs/new")
def create_need(
    round_id: IdPath,
    request: Request,
    form: CheckedForm,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
) -> Response:
    _require_local_team(user)
    round_ = rounds_service.get(session, round_id)
    values, raw = _raw_need(form)
    raw["submit"] = text(form, "action") == "submit"
    try:
        need = needs_service.create(session, user, round_.id, raw)
    except InvalidInput as exc:
        context = _form_context(
            session, round_, values, text(form, "q"), errors=field_errors(exc.errors)
        )
        return render(request, settings, "need_form.html", context, status_code=422)
    done = "submitted" if need.status == NeedStatus.submitted else "saved as a draft"
    return redirect(f"/rounds/{round_.id}#need-{need.id}", settings, f"Need #{need.id} {done}.")


# ---------------------------------------------------------------------------- edit


def _own_need(session: Any, user: User, need_id: int) -> Need:
    need = needs_service.get_visible(session, user, need_id)
    if not user.has_role(Role.local_team) or user.agency_id != need.agency_id:
        raise Forbidden(f"only {need.agency_id}'s local team may change need {need.id}")
    return need


def _need_values(need: Need) -> dict[str, str]:
    return {
        "item_id": need.item_id,
        "location_id": need.location_id,
        "quantity": str(need.quantity),
        "need_by": need.need_by.isoformat(),
        "priority": need.priority.value,
        "justification": need.justification,
    }


@router.get("/needs/{need_id}/edit")
def edit_need_page(
    need_id: IdPath,
    request: Request,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
    q: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    need = _own_need(session, user, need_id)
    context = _form_context(session, need.round, _need_values(need), q, need=need)
    context["read"] = needs_service.present(session, need)
    return render(request, settings, "need_form.html", context)


@router.post("/needs/{need_id}/edit")
def update_need(
    need_id: IdPath,
    request: Request,
    form: CheckedForm,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
) -> Response:
    need = _own_need(session, user, need_id)
    values, raw = _raw_need(form)
    try:
        need = needs_service.update(session, user, need, raw, IfMatch((text(form, "etag"),)))
    except InvalidInput as exc:
        context = _form_context(
            session, need.round, values, text(form, "q"), need=need, errors=field_errors(exc.errors)
        )
        context["read"] = needs_service.present(session, need)
        return render(request, settings, "need_form.html", context, status_code=422)
    except PreconditionFailed:
        session.refresh(need)
        context = _form_context(
            session,
            need.round,
            _need_values(need),
            "",
            need=need,
            errors={
                "_form": [
                    "Someone changed this need after you opened it. It is shown below as it "
                    "is now: make your change again."
                ]
            },
        )
        context["read"] = needs_service.present(session, need)
        return render(request, settings, "need_form.html", context, status_code=412)
    return redirect(f"/rounds/{need.round_id}#need-{need.id}", settings, f"Need #{need.id} saved.")


def _life_cycle(
    need_id: int, form: FormData, session: Any, user: User, settings: Settings, action: str
) -> Response:
    need = needs_service.get_visible(session, user, need_id)
    if_match = IfMatch((text(form, "etag"),))
    if action == "submit":
        need = needs_service.submit(session, user, need, if_match)
        notice = f"Need #{need.id} submitted: every agency of the group can see it now."
    else:
        need = needs_service.withdraw(session, user, need, if_match)
        notice = f"Need #{need.id} withdrawn."
    return redirect(f"/rounds/{need.round_id}#need-{need.id}", settings, notice)


@router.post("/needs/{need_id}/submit")
def submit_need(
    need_id: IdPath, form: CheckedForm, session: SessionDep, user: WebUser, settings: SettingsDep
) -> Response:
    return _life_cycle(need_id, form, session, user, settings, "submit")


@router.post("/needs/{need_id}/withdraw")
def withdraw_need(
    need_id: IdPath, form: CheckedForm, session: SessionDep, user: WebUser, settings: SettingsDep
) -> Response:
    return _life_cycle(need_id, form, session, user, settings, "withdraw")


# -------------------------------------------------------------------------- upload


def upload_of(form: FormData) -> Upload | None:
    """The form's file; read in the route's worker thread, as the form already spooled it."""
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        return None
    file.file.seek(0)
    return Upload(file.file.read(), file.filename, file.content_type)


@router.get("/rounds/{round_id}/needs/upload")
def upload_page(
    round_id: IdPath, request: Request, session: SessionDep, user: WebUser, settings: SettingsDep
) -> Response:
    _require_local_team(user)
    round_ = rounds_service.get(session, round_id)
    return render(
        request,
        settings,
        "needs_upload.html",
        {"round": round_, "values": {"layout": "template", "submit": "yes"}},
    )


@router.post("/rounds/{round_id}/needs/upload")
def upload_needs(
    round_id: IdPath,
    request: Request,
    form: CheckedForm,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
) -> Response:
    _require_local_team(user)
    round_ = rounds_service.get(session, round_id)
    upload = upload_of(form)
    values = {
        "layout": "hxl" if text(form, "layout") == "hxl" else "template",
        "submit": "yes" if text(form, "submit") == "yes" else "",
    }
    context: dict[str, Any] = {"round": round_, "values": values}
    if upload is None:
        context["errors"] = {"file": ["Choose a CSV or XLSX file to upload."]}
        return render(request, settings, "needs_upload.html", context, status_code=422)
    try:
        result = exchange_service.import_needs(
            session,
            user,
            round_id,
            upload,
            settings=settings,
            layout="hxl" if values["layout"] == "hxl" else "template",
            submit=values["submit"] == "yes",
        )
    except InvalidInput as exc:
        context |= {"problems": exc.errors, "detail": exc.detail, "filename": upload.filename}
        return render(request, settings, "needs_upload.html", context, status_code=422)
    state = "submitted" if values["submit"] == "yes" else "saved as drafts"
    plural = "s" if result.created != 1 else ""
    return redirect(
        f"/rounds/{round_id}",
        settings,
        f"{result.created} need{plural} imported from {upload.filename} and {state}.",
    )


# ----------------------------------------------------------------- priority review


def _blank_is_none(value: Any) -> Any:
    """A filter form's "any" option sends the field empty: no filter."""
    return None if value == "" else value


@router.get("/rounds/{round_id}/reviews")
def reviews_page(
    round_id: IdPath,
    request: Request,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
    priority: Annotated[Priority | None, BeforeValidator(_blank_is_none), Query()] = None,
    review: Annotated[
        Literal["to_review", "reviewed"] | None, BeforeValidator(_blank_is_none), Query()
    ] = None,
) -> Response:
    """The round's submitted needs for a specialist's priority review: what is left to
    review (``review=to_review``) or was reviewed, and by whom."""
    view = REVIEWS.read(request, settings)
    round_ = rounds_service.get(session, round_id)
    reviewed = None if review is None else review == "reviewed"

    def submitted(reviewed: bool | None) -> Any:
        return needs_service.needs_query(
            user,
            round_id=round_.id,
            status=NeedStatus.submitted,
            effective_priority=priority,
            reviewed=reviewed,
        )

    page = REVIEWS.page(session, submitted(reviewed), view, NeedRead)
    left = session.scalar(sa.select(sa.func.count()).select_from(submitted(False).subquery()))
    return render(
        request,
        settings,
        "reviews.html",
        {
            **names_context(
                session, [n.item_id for n in page.items], [n.location_id for n in page.items]
            ),
            "round": round_,
            "page": page,
            "view": view,
            "review": review,
            "left_to_review": int(left or 0),
            "latest": needs_service.latest_reviews(session, [n.id for n in page.items]),
            "zone": group_zone(settings),
            "priority": priority,
            "priorities": list(Priority),
            "may_review": user.has_role(Role.technical_specialist)
            and round_.status == RoundStatus.open,
        },
    )


def _review_context(session: Any, need: Need, values: dict[str, str]) -> dict[str, Any]:
    reviews = [
        PriorityReviewRead.model_validate(r)
        for r in session.scalars(needs_service.reviews_query(need))
    ]
    return {
        "need": needs_service.present(session, need),
        "item": need.item,
        "location": need.location,
        "round": need.round,
        "reviews": reviews,
        "priorities": list(Priority),
        "values": values,
    }


@router.get("/needs/{need_id}/review")
def review_page(
    need_id: IdPath, request: Request, session: SessionDep, user: WebUser, settings: SettingsDep
) -> Response:
    need = needs_service.get_visible(session, user, need_id)
    values = {"priority": need.effective_priority.value, "evidence": "", "source": ""}
    return render(request, settings, "review.html", _review_context(session, need, values))


@router.post("/needs/{need_id}/review")
def review_need(
    need_id: IdPath,
    request: Request,
    form: CheckedForm,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
) -> Response:
    require_roles(Role.technical_specialist)(user)
    need = needs_service.get_visible(session, user, need_id)
    values = {k: text(form, k) for k in ("priority", "evidence", "source")}
    try:
        data = PriorityReviewCreate.model_validate(values)
    except ValidationError as exc:
        issues = field_issues(exc.errors(include_url=False))
        context = _review_context(session, need, values)
        context["errors"] = field_errors(issues)
        return render(request, settings, "review.html", context, status_code=422)
    needs_service.review_priority(session, user, need, data)
    return redirect(
        f"/rounds/{need.round_id}/reviews",
        settings,
        f"Need #{need.id}: priority {data.priority.value} confirmed, with its evidence.",
    )
