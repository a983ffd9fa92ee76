"""Deliveries on the web: a reception station's order lines, a line with its receipts and
the phone-sized form a field team records a delivery with; the supplier record; the
technical specialists' review of the lead times the next round learns.

Every write goes through ``app.deliveries.service.create_receipt`` (or
``app.deliveries.learning.review`` / ``propose``), the core operations the API and the
import use too; the page shows their problems by the fields.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from app.api import IfMatch, etag_for
from app.api.params import IdPath
from app.auth.deps import require_roles
from app.auth.models import Role, User
from app.catalogue import service as catalogue_service
from app.db import SessionDep
from app.deliveries import learning, record, results, service
from app.deliveries.learning import AdjustmentEvidence
from app.deliveries.models import AdjustmentStatus, LineState
from app.deliveries.schemas import LeadTimeReviewCreate
from app.errors import FieldIssue, InvalidInput, PreconditionFailed, field_issues
from app.exchange.service import group_zone
from app.rounds import service as rounds_service
from app.rounds.models import RoundStatus
from app.settings import Settings
from app.web import charts
from app.web.deps import (
    CheckedForm,
    SettingsDep,
    WebRoute,
    WebUser,
    field_errors,
    page_markup,
    redirect,
    render,
    text,
)

router = APIRouter(route_class=WebRoute, include_in_schema=False)

RECEIPT_FIELDS = (
    "location_id",
    "received_on",
    "quantity_received",
    "quantity_rejected",
    "rejection_reason",
    "notes",
)
STATE_LABELS = {
    LineState.open: "open",
    LineState.partly_delivered: "partly delivered",
    LineState.delivered: "delivered",
    LineState.overdue: "overdue",
    LineState.closed_short: "closed short",
}


@router.get("/deliveries")
def deliveries_page(
    request: Request,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
    location_id: Annotated[str, Query(max_length=64)] = "",
    state: Annotated[LineState | None, Query()] = None,
    mine: Annotated[bool, Query()] = True,
) -> Response:
    """A reception station's lines: a field team picks its station and sees what is due."""
    service.ensure_may_see(user)
    agency = user.agency_id if mine and user.has_role(Role.local_team) else None
    stmt = service.lines_query(location_id=location_id or None, agency_id=agency)
    lines = service.filter_state(
        service.line_reads(session, session.scalars(stmt), settings), state
    )
    locations = list(session.scalars(catalogue_service.locations_query(active=None)))
    return render(
        request,
        settings,
        "deliveries.html",
        {
            "lines": lines,
            "locations": locations,
            "location_id": location_id,
            "state": state.value if state else "",
            "states": STATE_LABELS,
            "mine": agency is not None,
        },
    )


def _values(form: FormData) -> tuple[dict[str, str], dict[str, Any]]:
    """The form as typed, and as the service takes it (whole numbers as ints, blanks left out)."""
    values = {f: text(form, f) for f in RECEIPT_FIELDS}
    raw: dict[str, Any] = {k: v for k, v in values.items() if v != ""}
    for field in ("quantity_received", "quantity_rejected"):
        number = values[field].replace(",", "").replace(" ", "")
        if number.lstrip("-").isdigit():
            raw[field] = int(number)
    return values, raw


def _line_context(
    session: Any,
    settings: Any,
    user: Any,
    line_id: int,
    values: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    line = service.get_line(session, user, line_id)
    read = service.line_reads(session, [line], settings)[0]
    may_record = user.has_role(Role.local_team) and user.agency_id == line.agency_id
    return {
        "line": read,
        "receipts": service.receipt_reads(line),
        "states": STATE_LABELS,
        "may_record": may_record,
        "values": values
        or {
            "location_id": line.location_id,
            "received_on": service.today(settings).isoformat(),
            "quantity_received": "",
            "quantity_rejected": "0",
            "rejection_reason": "",
            "notes": "",
        },
        "errors": errors or {},
        "reasons": ["damaged", "expired", "wrong_specification"],
        "today": service.today(settings).isoformat(),
    }


@router.get("/order-lines/{line_id}")
def line_page(
    line_id: int, request: Request, session: SessionDep, user: WebUser, settings: SettingsDep
) -> Response:
    return render(
        request, settings, "order_line.html", _line_context(session, settings, user, line_id)
    )


@router.post("/order-lines/{line_id}/receipts")
def record_receipt(
    line_id: int,
    request: Request,
    form: CheckedForm,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
) -> Response:
    values, raw = _values(form)
    try:
        receipt = service.create_receipt(session, user, line_id, raw, settings=settings)
    except InvalidInput as exc:
        context = _line_context(session, settings, user, line_id, values, field_errors(exc.errors))
        return render(request, settings, "order_line.html", context, status_code=422)
    line = service.line_reads(session, [service.get_line(session, user, line_id)], settings)[0]
    notice = (
        f"Receipt #{receipt.id} recorded: {receipt.quantity_accepted} accepted. "
        f"The line is {STATE_LABELS[line.state]}."
    )
    return redirect(f"/order-lines/{line_id}", settings, notice)


@router.get("/supplier-records")
def supplier_records_page(
    request: Request, session: SessionDep, user: WebUser, settings: SettingsDep
) -> Response:
    service.ensure_may_see(user)
    records = record.supplier_records(session, settings)
    return render(request, settings, "supplier_records.html", {"records": records})


@router.get("/results")
def results_page(
    request: Request, session: SessionDep, user: WebUser, settings: SettingsDep
) -> Response:
    """Round over round: savings planned and realised, OTIF and fill rate, per agency."""
    service.ensure_may_see(user)
    rows = results.results(session, settings)
    rounds = [r for r in rows if r.agency_id == results.ALL]
    latest = rounds[-1].round_id if rounds else None
    savings = charts.bar_chart(
        [
            bar
            for r in rounds
            for bar in (
                charts.Bar(f"#{r.round_id} planned", r.planned_savings),
                charts.Bar(f"#{r.round_id} realised", r.realised_savings),
            )
        ],
        title="Savings planned and realised, per round",
        unit=rounds[0].currency if rounds else "",
    )
    otif = charts.line_chart(
        [
            charts.Point(i + 1, 100 * (r.otif_rate or 0), f"#{r.round_id}")
            for i, r in enumerate(rounds)
        ],
        title="On time in full, per round (%)",
        x_label="round (oldest first)",
        y_label="OTIF %",
    )
    fill = charts.bar_chart(
        [
            charts.Bar(r.agency_id, 100 * (r.fill_rate or 0), f"{100 * (r.fill_rate or 0):.0f} %")
            for r in rows
            if r.round_id == latest and r.agency_id != results.ALL
        ],
        title="Fill rate per agency, latest round (%)",
        fmt=lambda v: f"{v:.0f} %",
    )
    return render(
        request,
        settings,
        "results.html",
        {
            "rows": rows,
            "rounds": rounds,
            "savings_svg": page_markup(savings),
            "otif_svg": page_markup(otif),
            "fill_svg": page_markup(fill),
        },
    )


# ------------------------------------------------------------- lead-time review

REVIEW_FIELDS = ("decision", "days", "evidence", "source")
REVIEW_LABELS = {
    "decision": "Decision",
    "days": "Lead time to use",
    "evidence": "Reason",
    "source": "Source",
}
STATUS_LABELS = {
    AdjustmentStatus.proposed: "to review",
    AdjustmentStatus.confirmed: "confirmed",
    AdjustmentStatus.overridden: "overridden",
}


def _specialist(user: User) -> User:
    """The review is the technical specialists' (as the API's): anyone else gets 403."""
    return require_roles(Role.technical_specialist)(user)


@router.get("/rounds/{round_id}/lead-times")
def lead_times_page(
    round_id: IdPath, request: Request, session: SessionDep, user: WebUser, settings: SettingsDep
) -> Response:
    """A round's lead-time adjustments: the rule's proposals left to review and the
    decisions taken, each with its evidence."""
    _specialist(user)
    round_ = rounds_service.get(session, round_id)
    shown = learning.round_evidence(session, round_.id)
    left = sum(e.adjustment.status == AdjustmentStatus.proposed for e in shown)
    return render(
        request,
        settings,
        "lead_times.html",
        {
            "round": round_,
            "adjustments": shown,
            "left_to_review": left,
            "statuses": STATUS_LABELS,
            "open": round_.status == RoundStatus.open,
            "zone": group_zone(settings),
        },
    )


@router.post("/rounds/{round_id}/lead-times/propose")
def propose_lead_times(
    round_id: IdPath, form: CheckedForm, session: SessionDep, user: WebUser, settings: SettingsDep
) -> Response:
    """The rule's proposals again, from the latest deliveries (decided ones are kept)."""
    _specialist(user)
    found = learning.propose(session, user, round_id)
    left = sum(a.status == AdjustmentStatus.proposed for a in found)
    return redirect(
        f"/rounds/{round_id}/lead-times",
        settings,
        f"The rule was applied to the latest deliveries: {left} proposal"
        f"{'s' if left != 1 else ''} to review.",
    )


def _review_context(
    session: Any,
    settings: Settings,
    evidence: AdjustmentEvidence,
    values: dict[str, str],
    errors: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    adjustment = evidence.adjustment
    round_ = rounds_service.get(session, adjustment.round_id)
    return {
        "round": round_,
        "e": evidence,
        "a": adjustment,
        "statuses": STATUS_LABELS,
        "values": values,
        "errors": errors or {},
        "labels": REVIEW_LABELS,
        "etag": etag_for(adjustment),
        "may_review": round_.status == RoundStatus.open,
        "zone": group_zone(settings),
    }


def _evidence(session: Any, adjustment_id: int) -> AdjustmentEvidence:
    return learning.evidence_of(session, [learning.get(session, adjustment_id)])[0]


@router.get("/lead-time-adjustments/{adjustment_id}/review")
def lead_time_review_page(
    adjustment_id: IdPath,
    request: Request,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
) -> Response:
    _specialist(user)
    evidence = _evidence(session, adjustment_id)
    values = {"decision": "", "days": "", "evidence": "", "source": learning.RECEIPTS_SOURCE}
    context = _review_context(session, settings, evidence, values)
    return render(request, settings, "lead_time_review.html", context)


def review_data(values: dict[str, str], evidence: AdjustmentEvidence) -> LeadTimeReviewCreate:
    """The form as the service takes it, or every problem at once. A confirmation cites
    the realised figures when no reason is given; an override needs its own figure, a
    reason and a source."""
    issues: list[FieldIssue] = []
    raw: dict[str, Any] = {k: values[k] for k in ("decision", "evidence", "source")}
    if values["decision"] == "override":
        days = values["days"].replace(",", "").replace(" ", "")
        if not days:
            issues.append(
                FieldIssue("$.days", "is required to override: the lead time to use, in days")
            )
        else:
            raw["days"] = int(days) if days.lstrip("-").isdigit() else days
        if not values["evidence"]:
            issues.append(
                FieldIssue(
                    "$.evidence",
                    "is required to override: say why the realised figure should not be used",
                )
            )
        if not values["source"]:
            issues.append(
                FieldIssue("$.source", "is required to override: where the reason comes from")
            )
    elif values["decision"] == "confirm":
        raw["evidence"] = values["evidence"] or evidence.words
        raw["source"] = values["source"] or learning.RECEIPTS_SOURCE
    else:
        issues.append(
            FieldIssue("$.decision", "choose to confirm the rule's figure or override it")
        )
    try:
        data = LeadTimeReviewCreate.model_validate(raw)
    except ValidationError as exc:
        said = {i.path for i in issues}
        issues += [i for i in field_issues(exc.errors(include_url=False)) if i.path not in said]
        raise InvalidInput(issues) from exc
    if issues:
        raise InvalidInput(issues)
    return data


@router.post("/lead-time-adjustments/{adjustment_id}/review")
def review_lead_time(
    adjustment_id: IdPath,
    request: Request,
    form: CheckedForm,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
) -> Response:
    _specialist(user)
    evidence = _evidence(session, adjustment_id)
    values = {k: text(form, k) for k in REVIEW_FIELDS}
    try:
        data = review_data(values, evidence)
        decided = learning.review(
            session, user, adjustment_id, data, IfMatch((text(form, "etag"),))
        )
    except InvalidInput as exc:
        context = _review_context(session, settings, evidence, values, field_errors(exc.errors))
        return render(request, settings, "lead_time_review.html", context, status_code=422)
    except PreconditionFailed:
        session.expire_all()
        evidence = _evidence(session, adjustment_id)
        errors = {
            "_form": [
                "Someone decided this lead time after you opened it. It is shown below as it "
                "is now: decide again if you still disagree."
            ]
        }
        context = _review_context(session, settings, evidence, values, errors)
        return render(request, settings, "lead_time_review.html", context, status_code=412)
    how = "confirmed" if decided.status == AdjustmentStatus.confirmed else "overridden"
    return redirect(
        f"/rounds/{decided.round_id}/lead-times",
        settings,
        f"{evidence.supplier_name}'s lead time for {evidence.item_name} {how}: "
        f"{decided.decided_days} days (promised {decided.promised_days}). The round's "
        "snapshot will use it.",
    )
