"""Deliveries on the web: a reception station's order lines, a line with its receipts and
the phone-sized form a field team records a delivery with; the supplier record.

Every write goes through ``app.deliveries.service.create_receipt``, the one core
operation the API and the import use too; the page shows its problems by the fields.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.datastructures import FormData

from app.auth.models import Role
from app.catalogue import service as catalogue_service
from app.db import SessionDep
from app.deliveries import record, results, service
from app.deliveries.models import LineState
from app.errors import InvalidInput
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
