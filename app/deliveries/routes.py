"""/api/v1: issued purchase orders, their lines, receipts, the supplier record, the
delivery policy and the lead-time adjustments."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status

from app.api import IdempotencyDep, IfMatchDep, Page, PageParamsDep, paginate, set_etag
from app.api.openapi import problem_responses
from app.api.params import MAX_ID
from app.db import SessionDep
from app.deliveries import learning, record, results, service
from app.deliveries.deps import (
    LocalTeam,
    Member,
    PolicyManager,
    Proposer,
    Specialist,
    ValidAdjustment,
    ValidLine,
    ValidOrder,
)
from app.deliveries.models import AdjustmentStatus, LineState
from app.deliveries.policy import POLICY_URL, policy, update_policy
from app.deliveries.schemas import (
    CloseShortCreate,
    DeliveryPolicyRead,
    DeliveryPolicyUpdate,
    LeadTimeAdjustmentRead,
    LeadTimeReviewCreate,
    OrderLineRead,
    PurchaseOrderRead,
    ReceiptCreate,
    ReceiptRead,
    SupplierRecord,
)
from app.errors import NotFound
from app.exchange import plan_export
from app.exchange.routes import SettingsDep, UploadDep, UploadIdempotency
from app.exchange.schemas import ImportRead
from app.needs.deps import JsonObject
from app.needs.service import page_of
from app.rounds.deps import ValidRound
from app.runs.deps import VisibleRunDep

router = APIRouter(tags=["deliveries"])

_RECEIPT_RULES = (
    "a location other than the line's; a day in the future or before the order was issued; "
    "rejected units without a reason or above those received; accepted units above ordered "
    "plus the group's tolerance; a correction of a receipt of another line or one corrected "
    "already; a new receipt on a line closed short"
)

# The body is read raw (app.needs.deps.json_object) so that the line's rules and the
# fields' rules are listed in one 422; its schema is documented from the model.
_RECEIPT_SCHEMA = ReceiptCreate.model_json_schema(ref_template="#/components/schemas/{model}")
_RECEIPT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {k: v for k, v in _RECEIPT_SCHEMA.items() if k != "examples"},
                "example": _RECEIPT_SCHEMA.get("examples", [{}])[0],
            }
        },
    }
}


def _send(body: bytes, media_type: str, filename: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _download(description: str) -> dict[int | str, dict[str, Any]]:
    """The 200 of an export in the OpenAPI document: XLSX (binary) or CSV (text)."""
    return {
        200: {
            "description": description,
            "content": {
                plan_export.XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    }


def _export(
    sheets: list[plan_export.Sheet], fmt: str, sheet: str, stem: str, title: str
) -> Response:
    """XLSX: every table, one sheet each; CSV: the table named ``sheet``."""
    if fmt == "xlsx":
        body = plan_export.workbook_bytes(sheets, title=title)
        return _send(body, plan_export.XLSX_MEDIA_TYPE, f"{stem}.xlsx")
    chosen = next(s for s in sheets if s.name == sheet)
    return _send(plan_export.sheet_csv(chosen), "text/csv; charset=utf-8", f"{stem}-{sheet}.csv")


RoundFilter = Annotated[int | None, Query(ge=1, le=MAX_ID, description="only this round's")]
SupplierFilter = Annotated[str | None, Query(description="only this supplier's")]


@router.get(
    "/purchase-orders",
    summary="List issued purchase orders",
    response_model=Page[PurchaseOrderRead],
    responses=problem_responses(401, 404, 422),
)
def list_orders(
    session: SessionDep,
    user: Member,
    page: PageParamsDep,
    settings: SettingsDep,
    round_id: RoundFilter = None,
    supplier_id: SupplierFilter = None,
) -> Any:
    """Orders issued when their round was approved, each line with its delivery state."""
    stmt = service.orders_query(round_id=round_id, supplier_id=supplier_id)
    reads = [service.order_read(session, o, settings) for o in session.scalars(stmt)]
    return page_of(reads, page, PurchaseOrderRead)


@router.get(
    "/purchase-orders/{order_id}",
    summary="Read an issued purchase order",
    response_model=PurchaseOrderRead,
    responses=problem_responses(401, 404, 422),
)
def read_order(order: ValidOrder, session: SessionDep, settings: SettingsDep) -> Any:
    return service.order_read(session, order, settings)


@router.get(
    "/order-lines",
    summary="List order lines with their delivery state",
    response_model=Page[OrderLineRead],
    responses=problem_responses(401, 404, 422),
)
def list_lines(
    session: SessionDep,
    user: Member,
    page: PageParamsDep,
    settings: SettingsDep,
    round_id: RoundFilter = None,
    agency_id: Annotated[str | None, Query(description="only this agency's")] = None,
    location_id: Annotated[str | None, Query(description="only lines delivered here")] = None,
    supplier_id: SupplierFilter = None,
    state: Annotated[LineState | None, Query(description="only lines in this state")] = None,
) -> Any:
    """Every member agency sees every line; a field team filters by its station."""
    stmt = service.lines_query(
        round_id=round_id, agency_id=agency_id, location_id=location_id, supplier_id=supplier_id
    )
    reads = service.filter_state(
        service.line_reads(session, session.scalars(stmt), settings), state
    )
    return page_of(reads, page, OrderLineRead)


@router.get(
    "/order-lines/{line_id}",
    summary="Read an order line",
    response_model=OrderLineRead,
    responses=problem_responses(401, 404, 422),
)
def read_line(
    line: ValidLine, session: SessionDep, settings: SettingsDep, response: Response
) -> Any:
    set_etag(response, line)
    return service.line_reads(session, [line], settings)[0]


@router.get(
    "/order-lines/{line_id}/receipts",
    summary="List a line's receipts (corrected ones included, marked)",
    response_model=Page[ReceiptRead],
    responses=problem_responses(401, 404, 422),
)
def list_receipts(line: ValidLine, page: PageParamsDep) -> Any:
    return page_of(service.receipt_reads(line), page, ReceiptRead)


@router.post(
    "/order-lines/{line_id}/receipts",
    summary="Record a delivery (or correct an earlier receipt)",
    status_code=status.HTTP_201_CREATED,
    response_model=ReceiptRead,
    responses=problem_responses(401, 403, 404, 422, beyond_schema=_RECEIPT_RULES),
    openapi_extra=_RECEIPT_BODY,
)
def create_receipt(
    line: ValidLine,
    body: JsonObject,
    session: SessionDep,
    user: LocalTeam,
    idem: IdempotencyDep,
    settings: SettingsDep,
    response: Response,
) -> Any:
    """The local team of the line's agency, at the line's location. Append-only: to fix a
    receipt, post the corrected figures with ``corrects_id``. Send an Idempotency-Key to
    retry safely."""
    if (replay := idem.replay()) is not None:
        return replay
    receipt = service.create_receipt(session, user, line.id, body, settings=settings, idem=idem)
    response.headers["Location"] = service.receipt_url(receipt)
    return service.receipt_read(receipt, {})


@router.post(
    "/receipts/import",
    status_code=201,
    response_model=ImportRead,
    summary="Import receipts from a CSV or XLSX file",
    responses=problem_responses(401, 403, 404, 409, 413, 422, beyond_schema=_RECEIPT_RULES),
)
def import_receipts(
    upload: UploadDep,
    session: SessionDep,
    user: LocalTeam,
    idem: UploadIdempotency,
    settings: SettingsDep,
    response: Response,
) -> Any:
    """Local team: one receipt per row of the receipts template (``/templates/receipts``),
    each for a line of your agency at its location. Every bad row is listed; all rows or
    none."""
    if (replay := idem.replay()) is not None:
        return replay
    result = service.import_receipts(session, user, upload, settings=settings, idem=idem)
    response.headers["Location"] = "/api/v1/order-lines"
    return result


@router.post(
    "/order-lines/{line_id}/close-short",
    summary="Close a line short: the rest will not come",
    response_model=OrderLineRead,
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428),
)
def close_short(
    line: ValidLine,
    body: CloseShortCreate,
    session: SessionDep,
    user: LocalTeam,
    if_match: IfMatchDep,
    settings: SettingsDep,
    response: Response,
) -> Any:
    """The line's agency team, with the line's ETag (If-Match)."""
    closed = service.close_short(session, user, line.id, body, if_match)
    set_etag(response, closed)
    return service.line_reads(session, [closed], settings)[0]


# ------------------------------------------------------------------ supplier record

ExportFormat = Annotated[Literal["csv", "xlsx"], Query(description="the file's format")]
ExportSheet = Annotated[
    Literal["suppliers", "offers", "routes", "prices"],
    Query(description="for CSV: which table"),
]


@router.get(
    "/supplier-records",
    summary="Every supplier's delivery record",
    response_model=Page[SupplierRecord],
    responses=problem_responses(401, 404, 422),
)
def list_supplier_records(
    session: SessionDep, user: Member, page: PageParamsDep, settings: SettingsDep
) -> Any:
    """OTIF, realised lead time (median, p90), rejection rate and prices paid, per
    supplier, offer and route; every member agency sees every supplier's."""
    return page_of(record.supplier_records(session, settings), page, SupplierRecord)


@router.get(
    "/supplier-records/export",
    summary="Download the supplier records as XLSX or CSV",
    responses={
        **_download("the records (XLSX: four sheets; CSV: the sheet asked for)"),
        **problem_responses(401, 404, 422),
    },
)
def export_supplier_records(
    session: SessionDep,
    user: Member,
    settings: SettingsDep,
    format: ExportFormat = "xlsx",
    sheet: ExportSheet = "suppliers",
) -> Response:
    sheets = record.record_sheets(record.supplier_records(session, settings))
    return _export(sheets, format, sheet, "poolbuy-supplier-records", "Supplier records")


@router.get(
    "/suppliers/{supplier_id}/record",
    summary="One supplier's delivery record",
    response_model=SupplierRecord,
    responses=problem_responses(401, 404, 422),
)
def read_supplier_record(
    supplier_id: str, session: SessionDep, user: Member, settings: SettingsDep
) -> Any:
    found = record.supplier_records(session, settings, [supplier_id])
    if not found:
        raise NotFound(f"a delivery record of supplier {supplier_id}")
    return found[0]


# ---------------------------------------------------------------------- policy


@router.get(
    "/delivery-policy",
    summary="The group's delivery policy",
    response_model=DeliveryPolicyRead,
    responses=problem_responses(401, 404),
)
def read_policy(session: SessionDep, user: Member, response: Response) -> Any:
    row = policy(session)
    set_etag(response, row)
    return row


@router.patch(
    "/delivery-policy",
    summary="Change the group's delivery policy",
    response_model=DeliveryPolicyRead,
    responses=problem_responses(401, 403, 412, 422, 428),
)
def change_policy(
    body: DeliveryPolicyUpdate,
    session: SessionDep,
    user: PolicyManager,
    if_match: IfMatchDep,
    response: Response,
) -> Any:
    """Coordinators: grace days before a line is overdue, the over-delivery tolerance,
    and the lead-time rule. With the policy's ETag (If-Match)."""
    row = update_policy(session, user, body, if_match)
    set_etag(response, row)
    response.headers["Content-Location"] = POLICY_URL
    return row


# -------------------------------------------------------------- lead-time learning


@router.get(
    "/rounds/{round_id}/lead-time-adjustments",
    summary="A round's lead-time adjustments",
    response_model=Page[LeadTimeAdjustmentRead],
    responses=problem_responses(401, 404, 422),
)
def list_adjustments(
    round_: ValidRound,
    session: SessionDep,
    page: PageParamsDep,
    status: Annotated[AdjustmentStatus | None, Query(description="only these")] = None,
) -> Any:
    return paginate(
        session, learning.adjustments_query(round_.id, status=status), page, LeadTimeAdjustmentRead
    )


@router.post(
    "/rounds/{round_id}/lead-time-adjustments",
    summary="Propose lead-time adjustments from realised deliveries (the group's rule)",
    response_model=list[LeadTimeAdjustmentRead],
    responses=problem_responses(401, 403, 404, 409),
)
def propose_adjustments(round_: ValidRound, session: SessionDep, user: Proposer) -> Any:
    """Specialists and coordinators, while the round is open: one proposal per offer whose
    realised figure differs from its promise. Undecided proposals are refreshed; decided
    ones are kept. Proposals alone change nothing."""
    return learning.propose(session, user, round_.id)


@router.get(
    "/lead-time-adjustments/{adjustment_id}",
    summary="Read a lead-time adjustment",
    response_model=LeadTimeAdjustmentRead,
    responses=problem_responses(401, 404, 422),
)
def read_adjustment(adjustment: ValidAdjustment, response: Response) -> Any:
    set_etag(response, adjustment)
    return adjustment


@router.post(
    "/lead-time-adjustments/{adjustment_id}/review",
    summary="Confirm or override a lead-time adjustment, citing evidence",
    response_model=LeadTimeAdjustmentRead,
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428),
)
def review_adjustment(
    adjustment: ValidAdjustment,
    body: LeadTimeReviewCreate,
    session: SessionDep,
    user: Specialist,
    if_match: IfMatchDep,
    response: Response,
) -> Any:
    """A technical specialist, while the round is open, with the adjustment's ETag. Once
    decided, the round's snapshot uses the decided lead time."""
    reviewed = learning.review(session, user, adjustment.id, body, if_match)
    set_etag(response, reviewed)
    return reviewed


@router.get(
    "/runs/{run_id}/lead-time-adjustments",
    summary="The lead times a run's snapshot took from realised deliveries",
    response_model=list[LeadTimeAdjustmentRead],
    responses=problem_responses(401, 404, 422),
)
def run_adjustments(visible: VisibleRunDep, session: SessionDep) -> Any:
    """Which offers' lead times were adjusted, from what to what, why, and who decided."""
    return list(
        session.scalars(
            learning.adjustments_query(visible.run.round_id).where(
                learning.LeadTimeAdjustment.status.in_(learning.DECIDED)
            )
        )
    )


# ------------------------------------------------------------------------ results


@router.get(
    "/results",
    summary="Round-over-round results per round and agency",
    response_model=Page[results.RoundResult],
    responses=problem_responses(401, 404, 422),
)
def list_results(
    session: SessionDep,
    user: Member,
    page: PageParamsDep,
    settings: SettingsDep,
    round_id: RoundFilter = None,
    agency_id: Annotated[str | None, Query(description="one agency, or 'all'")] = None,
) -> Any:
    """For every approved round: planned and realised savings, fill rate, OTIF, response
    time (median, p90) and unmet units by reason, per agency and for the round ('all')."""
    rows = results.results(session, settings, round_id=round_id, agency_id=agency_id)
    return page_of(rows, page, results.RoundResult)


@router.get(
    "/results/export",
    summary="Download the results as XLSX or CSV",
    responses={**_download("the results table"), **problem_responses(401, 404, 422)},
)
def export_results(
    session: SessionDep, user: Member, settings: SettingsDep, format: ExportFormat = "xlsx"
) -> Response:
    sheets = [results.result_sheet(results.results(session, settings))]
    return _export(sheets, format, "results", "poolbuy-rounds", "Round results")
