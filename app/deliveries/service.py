"""Deliveries: orders issued at approval, receipts against their lines, the group's policy.

Life of an order
----------------
``issue_orders`` runs in the transaction that makes a run binding (the round's
approval): one purchase order per supplier of the plan, one line per award, each
line traced to the need it serves and promised on the award's delivery date. From
then on the agency's local team records what arrives at the line's location.

Receipts: one core operation
----------------------------
``record_receipt`` validates a receipt against its locked line, adds it, flushes
and audits it; it never commits. The API's single receipt (``create_receipt``), the
web form and the spreadsheet import (``import_receipts``) all call it and commit
once above it, so every entry point obeys the same rules and an import is every
row or none. Rules, each reported with its field so one 422 lists them all:

* only the local team of the line's agency records (403 for anyone else; a row of
  an import naming another agency's line is reported at its row);
* at the line's location (``location_id`` must be the line's);
* received on a day neither in the future nor before the order was issued;
* rejected units need a reason, and no more than were received;
* the accepted total (received minus rejected, over the receipts that count)
  stays within ordered + the group's tolerance (``DeliveryPolicy.tolerance_pct``);
* a correction names a receipt of the same line that nobody corrected yet; a line
  closed short takes corrections only.

Who sees what: orders are made of an approved plan, which every member agency sees
in full (``app.runs.service``), so every user of a member agency, coordinators and
admins see every order, line and receipt; a user of no agency and neither role
sees none (404).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.orm import Session

from app.audit.service import record, record_many, snapshot
from app.auth.models import Role, User
from app.catalogue.models import Route
from app.db import utcnow
from app.deliveries import figures
from app.deliveries.figures import facts
from app.deliveries.models import DeliveryPolicy, LineState, OrderLine, PurchaseOrder, Receipt
from app.deliveries.policy import max_acceptable, policy
from app.deliveries.schemas import (
    CloseShortCreate,
    OrderLineRead,
    PurchaseOrderRead,
    ReceiptCreate,
    ReceiptRead,
)
from app.errors import (
    Conflict,
    DomainError,
    FieldIssue,
    Forbidden,
    InvalidInput,
    NotFound,
    field_issues,
)
from app.exchange import ocds, spreadsheets
from app.exchange.batch import row_path
from app.exchange.schemas import ImportRead
from app.exchange.service import Upload, group_zone
from app.runs import outputs
from app.settings import Settings

if TYPE_CHECKING:
    from app.api.etags import IfMatch
    from app.api.idempotency import Idempotency
    from app.runs.models import Run
    from app.runs.schemas import PurchaseOrder as PlanOrder

API_PREFIX = "/api/v1"
# (action, entity type, entity id, before, after): one audit entry to write.
AuditChange = tuple[str, str, int, Any, Any]
RECEIPT_COLUMNS = {"location_id": "location", "corrects_id": "corrects_receipt_id"}


def line_url(line_id: int) -> str:
    return f"{API_PREFIX}/order-lines/{line_id}"


def receipt_url(receipt: Receipt) -> str:
    return f"{line_url(receipt.line_id)}/receipts/{receipt.id}"


def today(settings: Settings) -> dt.date:
    """The group's day (its time zone): what "overdue" and "not in the future" mean."""
    return dt.datetime.now(group_zone(settings)).date()


# ---------------------------------------------------------------------- issuing


def issue_orders(
    session: Session, actor: User, run: Run, *, settings: Settings
) -> list[PurchaseOrder]:
    """The binding run's purchase orders, issued (no commit): called when a run is bound.

    Every award becomes a line; its price, lead time, transit and processing days are
    the plan's, copied here, so the promise on record never moves with the catalogue.
    """
    if run.plan is None or not run.binding:
        raise Conflict(f"run {run.id} is not binding: only an approved plan is ordered")
    if session.scalar(sa.select(PurchaseOrder.id).where(PurchaseOrder.run_id == run.id)):
        raise Conflict(f"run {run.id}'s orders were issued already")
    problem = run.problem
    offers = {o["id"]: o for o in problem.get("offers", [])}
    transit = {(r["supplier"], r["location"]): r["transit_days"] for r in problem.get("routes", [])}
    processing = int(problem.get("settings", {}).get("order_processing_days", 0))
    route_ids = {
        (r.supplier_id, r.location_id): r.id
        for r in session.scalars(
            sa.select(Route).where(Route.supplier_id.in_(sorted({s for s, _ in transit})))
        )
    }
    issued_at = run.approved_at or utcnow()
    issued_on = issued_at.astimezone(group_zone(settings)).date()
    orders = []
    for po in outputs.purchase_orders(problem, run.plan, round_id=run.round_id):
        order = PurchaseOrder(
            number=po.number,
            round_id=run.round_id,
            run_id=run.id,
            supplier_id=po.supplier,
            currency=po.currency,
            issued_at=issued_at,
            issued_on=issued_on,
            issued_by_id=actor.id,
        )
        for line in po.lines:
            offer = offers[line.offer]
            for award in line.awards:
                if award.need_id is None:
                    raise Conflict(f"award of {award.need!r} names no need of this service")
                order.lines.append(
                    OrderLine(
                        need_id=award.need_id,
                        agency_id=award.agency,
                        item_id=line.item,
                        location_id=award.location,
                        offer_ref=line.offer,
                        offer_id=line.offer_id,
                        route_id=route_ids.get((po.supplier, award.location)),
                        quantity=award.quantity,
                        unit_price=Decimal(str(line.unit_price)),
                        need_by=award.need_by,
                        promised_on=award.delivery_date,
                        lead_time_days=int(offer["lead_time_days"]),
                        transit_days=int(transit.get((po.supplier, award.location), 0)),
                        processing_days=processing,
                    )
                )
        session.add(order)
        orders.append(order)
    session.flush()
    for order in orders:
        after = snapshot(order)
        after["lines"] = [snapshot(line) for line in order.lines]
        record(session, actor, "purchase_order.issue", "purchase_order", order.id, None, after)
    return orders


def issued_numbers(session: Session, run_id: int) -> dict[str, str]:
    """Supplier -> the number its order of the run was issued under (none before)."""
    return dict(
        session.execute(
            sa.select(PurchaseOrder.supplier_id, PurchaseOrder.number).where(
                PurchaseOrder.run_id == run_id
            )
        )
        .tuples()
        .all()
    )


def numbered_orders(
    session: Session, run: Run, problem: Mapping[str, Any], plan: Mapping[str, Any]
) -> list[PlanOrder]:
    """The plan's purchase orders (``app.runs.outputs``), an issued order under the number
    it was issued with: the stored number wins over today's computation."""
    stored = issued_numbers(session, run.id)
    return [
        order.model_copy(update={"number": stored[order.supplier]})
        if order.supplier in stored
        else order
        for order in outputs.purchase_orders(problem, plan, round_id=run.round_id)
    ]


# ------------------------------------------------------------------- visibility


def ensure_may_see(user: User) -> None:
    if user.agency_id is None and not user.has_role(Role.coordinator, Role.admin):
        raise NotFound("deliveries")


def get_line(session: Session, user: User, line_id: int, *, lock: bool = False) -> OrderLine:
    ensure_may_see(user)
    stmt = sa.select(OrderLine).where(OrderLine.id == line_id)
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    line = session.scalar(stmt)
    if line is None:
        raise NotFound(f"order line {line_id}")
    return line


def get_order(session: Session, user: User, order_id: int) -> PurchaseOrder:
    ensure_may_see(user)
    order = session.get(PurchaseOrder, order_id)
    if order is None:
        raise NotFound(f"purchase order {order_id}")
    return order


def orders_query(
    *, round_id: int | None = None, supplier_id: str | None = None
) -> sa.Select[PurchaseOrder]:
    stmt = sa.select(PurchaseOrder).order_by(PurchaseOrder.id)
    if round_id is not None:
        stmt = stmt.where(PurchaseOrder.round_id == round_id)
    if supplier_id is not None:
        stmt = stmt.where(PurchaseOrder.supplier_id == supplier_id)
    return stmt


def lines_query(
    *,
    round_id: int | None = None,
    agency_id: str | None = None,
    location_id: str | None = None,
    supplier_id: str | None = None,
    offer_id: int | None = None,
) -> sa.Select[OrderLine]:
    stmt = sa.select(OrderLine).join(PurchaseOrder).order_by(OrderLine.id)
    if round_id is not None:
        stmt = stmt.where(PurchaseOrder.round_id == round_id)
    if agency_id is not None:
        stmt = stmt.where(OrderLine.agency_id == agency_id)
    if location_id is not None:
        stmt = stmt.where(OrderLine.location_id == location_id)
    if supplier_id is not None:
        stmt = stmt.where(PurchaseOrder.supplier_id == supplier_id)
    if offer_id is not None:
        stmt = stmt.where(OrderLine.offer_id == offer_id)
    return stmt


# ---------------------------------------------------------------------- reading


def line_read(line: OrderLine, rules: DeliveryPolicy, day: dt.date) -> OrderLineRead:
    known = facts(line)
    counted = figures.effective(known.receipts)
    accepted = sum(r.accepted for r in counted)
    return OrderLineRead(
        id=line.id,
        order_id=line.order_id,
        round_id=line.order.round_id,
        supplier_id=line.order.supplier_id,
        need_id=line.need_id,
        agency_id=line.agency_id,
        item_id=line.item_id,
        location_id=line.location_id,
        offer_ref=line.offer_ref,
        offer_id=line.offer_id,
        route_id=line.route_id,
        quantity=line.quantity,
        unit_price=line.unit_price,
        need_by=line.need_by,
        issued_on=line.order.issued_on,
        promised_on=line.promised_on,
        overdue_after=line.promised_on + dt.timedelta(days=rules.grace_days),
        state=figures.state(known, day, rules.grace_days),
        quantity_received=sum(r.quantity_received for r in counted),
        quantity_rejected=sum(r.quantity_rejected for r in counted),
        quantity_accepted=accepted,
        quantity_remaining=max(0, line.quantity - accepted),
        max_acceptable=max_acceptable(line.quantity, rules.tolerance_pct),
        last_received_on=max((r.received_on for r in counted), default=None),
        closed_short_at=line.closed_short_at,
        closed_short_reason=line.closed_short_reason,
    )


def line_reads(
    session: Session, lines: Iterable[OrderLine], settings: Settings
) -> list[OrderLineRead]:
    rules, day = policy(session), today(settings)
    return [line_read(line, rules, day) for line in lines]


def order_read(session: Session, order: PurchaseOrder, settings: Settings) -> PurchaseOrderRead:
    return PurchaseOrderRead(
        id=order.id,
        number=order.number,
        round_id=order.round_id,
        run_id=order.run_id,
        supplier_id=order.supplier_id,
        currency=order.currency,
        issued_at=order.issued_at,
        issued_on=order.issued_on,
        lines=line_reads(session, order.lines, settings),
    )


def receipt_read(receipt: Receipt, corrected_by: Mapping[int, int]) -> ReceiptRead:
    read = ReceiptRead.model_validate(receipt)
    read.corrected_by_id = corrected_by.get(receipt.id)
    return read


def receipt_reads(line: OrderLine) -> list[ReceiptRead]:
    corrected_by = {r.corrects_id: r.id for r in line.receipts if r.corrects_id is not None}
    return [receipt_read(r, corrected_by) for r in line.receipts]


def filter_state(reads: list[OrderLineRead], state: LineState | None) -> list[OrderLineRead]:
    return reads if state is None else [r for r in reads if r.state == state]


# ---------------------------------------------------------------------- receipts


def ensure_recorder(actor: User, line: OrderLine) -> None:
    """403 unless ``actor`` is the local team of the line's agency."""
    if not actor.has_role(Role.local_team) or actor.agency_id != line.agency_id:
        raise Forbidden(
            f"order line {line.id} is {line.agency_id}'s: only its local team records what "
            "arrives for it"
        )


def _raw_text(raw: Mapping[str, Any], key: str) -> Any:
    value = raw.get(key)
    return value.strip() if isinstance(value, str) else value


def receipt_issues(
    line: OrderLine,
    raw: Mapping[str, Any],
    data: ReceiptCreate | None,
    *,
    rules: DeliveryPolicy,
    day: dt.date,
) -> list[FieldIssue]:
    """The line's rules for a receipt, read tolerantly from the raw body where the
    fields' own rules failed (so both kinds of problem are listed at once)."""
    issues: list[FieldIssue] = []
    location = _raw_text(raw, "location_id")
    if isinstance(location, str) and location and location != line.location_id:
        issues.append(
            FieldIssue(
                "$.location_id",
                f"order line {line.id} is delivered at {line.location_id}: record it there, "
                f"not at {location}",
            )
        )
    if data is None:
        return issues
    if data.received_on > day:
        issues.append(FieldIssue("$.received_on", f"is in the future (today is {day})"))
    if data.received_on < line.order.issued_on:
        issues.append(
            FieldIssue("$.received_on", f"is before the order was issued ({line.order.issued_on})")
        )
    if data.quantity_rejected > data.quantity_received:
        issues.append(FieldIssue("$.quantity_rejected", "must not exceed quantity_received"))
    if data.quantity_rejected > 0 and data.rejection_reason is None:
        issues.append(FieldIssue("$.rejection_reason", "is required when units are rejected"))
    if data.quantity_rejected == 0 and data.rejection_reason is not None:
        issues.append(FieldIssue("$.rejection_reason", "must be left out when none is rejected"))
    corrected: Receipt | None = None
    if data.corrects_id is not None:
        corrected = next((r for r in line.receipts if r.id == data.corrects_id), None)
        successor = next((r for r in line.receipts if r.corrects_id == data.corrects_id), None)
        if corrected is None:
            issues.append(
                FieldIssue(
                    "$.corrects_id", f"order line {line.id} has no receipt {data.corrects_id}"
                )
            )
        elif successor is not None:
            issues.append(
                FieldIssue(
                    "$.corrects_id",
                    f"receipt {corrected.id} was corrected by receipt {successor.id}; "
                    "correct that one",
                )
            )
    else:
        if data.quantity_received == 0:
            issues.append(
                FieldIssue("$.quantity_received", "must be at least 1 (a correction may set 0)")
            )
        if line.closed_short_at is not None:
            issues.append(
                FieldIssue("$", f"order line {line.id} is closed short: it takes corrections only")
            )
    counted = figures.effective(facts(line).receipts)
    already = sum(r.accepted for r in counted if corrected is None or r.id != corrected.id)
    total = already + data.quantity_received - data.quantity_rejected
    ceiling = max_acceptable(line.quantity, rules.tolerance_pct)
    if total > ceiling:
        issues.append(
            FieldIssue(
                "$.quantity_received",
                f"{total} units accepted on order line {line.id} would exceed the "
                f"{line.quantity} ordered plus the group's {rules.tolerance_pct.normalize():f}% "
                f"tolerance ({ceiling}); at most {max(0, ceiling - already)} more may be accepted",
            )
        )
    return issues


def record_receipt(
    session: Session,
    actor: User,
    line: OrderLine,
    raw: Mapping[str, Any],
    *,
    rules: DeliveryPolicy,
    day: dt.date,
    audit: list[AuditChange] | None = None,
) -> Receipt:
    """The core operation: validate against the locked line, add, flush, audit (no commit).

    ``audit``: a list to append the receipt's audit entry to, for the caller to write
    with ``record_many`` (an import: the same entries, in order, the chain's head row
    updated once); without it the entry is recorded here. Raises Forbidden (not the
    line's agency's team) or InvalidInput (every problem).
    """
    ensure_recorder(actor, line)
    try:
        data: ReceiptCreate | None = ReceiptCreate.model_validate(raw)
        issues: list[FieldIssue] = []
    except ValidationError as exc:
        data, issues = None, field_issues(exc.errors(include_url=False))
    issues += receipt_issues(line, raw, data, rules=rules, day=day)
    if issues:
        raise InvalidInput(sorted(issues, key=lambda i: i.path))
    assert data is not None
    receipt = Receipt(
        line_id=line.id,
        location_id=data.location_id,
        received_on=data.received_on,
        quantity_received=data.quantity_received,
        quantity_rejected=data.quantity_rejected,
        rejection_reason=data.rejection_reason,
        notes=data.notes.strip(),
        corrects_id=data.corrects_id,
        recorded_by_id=actor.id,
        created_at=utcnow(),
    )
    # Through the line's collection: the next receipt's checks read it without a query.
    line.receipts.append(receipt)
    session.flush()
    action = "receipt.correct" if data.corrects_id is not None else "receipt.create"
    change: AuditChange = (action, "receipt", receipt.id, None, snapshot(receipt))
    if audit is None:
        record(session, actor, *change)
    else:
        audit.append(change)
    return receipt


def create_receipt(
    session: Session,
    actor: User,
    line_id: int,
    raw: Mapping[str, Any],
    *,
    settings: Settings,
    idem: Idempotency | None = None,
) -> Receipt:
    """One receipt from the API or the web form; committed."""
    try:
        line = get_line(session, actor, line_id, lock=True)
        receipt = record_receipt(
            session, actor, line, raw, rules=policy(session), day=today(settings)
        )
        if idem is not None:
            idem.save(201, receipt_read(receipt, {}), location=receipt_url(receipt))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return receipt


def import_receipts(
    session: Session,
    actor: User,
    upload: Upload,
    *,
    settings: Settings,
    idem: Idempotency | None = None,
) -> ImportRead:
    """Receipts from a CSV/XLSX, each through ``record_receipt``; every row or none.

    The lines are locked in id order before the first row, so two imports (or an
    import and a single receipt) cannot interleave on a line.
    """
    ensure_may_see(actor)
    result = spreadsheets.parse(
        "receipts",
        upload.data,
        upload.filename,
        upload.content_type,
        known_ids={"location": set(session.scalars(sa.select(OrderLine.location_id).distinct()))},
        max_rows=settings.upload_max_rows,
        max_bytes=settings.max_body_bytes,
    )
    issues = [FieldIssue(e.path, e.reason) for e in result.errors]
    if issues:
        raise _refusal(issues)
    try:
        wanted = sorted({int(row["line_id"]) for row in result.rows})
        lines = {
            line.id: line
            for line in session.scalars(
                sa.select(OrderLine)
                .where(OrderLine.id.in_(wanted))
                .order_by(OrderLine.id)
                .with_for_update()
            )
        }
        rules, day = policy(session), today(settings)
        ids: list[int] = []
        entries: list[AuditChange] = []
        for number, row in zip(result.row_numbers, result.rows, strict=True):
            line = lines.get(row["line_id"])
            if line is None:
                issues.append(
                    FieldIssue(f"row {number}, line_id", f"no order line {row['line_id']}")
                )
                continue
            body = {k: v for k, v in row.items() if k != "line_id"}
            try:
                receipt = record_receipt(
                    session, actor, line, body, rules=rules, day=day, audit=entries
                )
                ids.append(receipt.id)
            except InvalidInput as exc:
                issues += [
                    FieldIssue(row_path(number, i.path, RECEIPT_COLUMNS), i.reason)
                    for i in exc.errors
                ]
            except Forbidden as exc:
                issues.append(FieldIssue(f"row {number}, line_id", exc.detail))
        if issues:
            raise _refusal(issues)
        record_many(session, actor, entries)
        read = ImportRead(kind="receipts", created=len(ids), ids=ids)
        if idem is not None:
            idem.save(201, read, location=f"{API_PREFIX}/order-lines")
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return read


def _refusal(issues: Sequence[FieldIssue]) -> DomainError:
    rows = {i.path.split(",", 1)[0] for i in issues if i.path.startswith("row ")}
    count = len(issues)
    return InvalidInput(
        list(issues),
        detail=f"{count} problem{'s' if count != 1 else ''} in {len(rows)} "
        f"row{'s' if len(rows) != 1 else ''}; no receipts were imported",
    )


def close_short(
    session: Session,
    actor: User,
    line_id: int,
    data: CloseShortCreate,
    if_match: IfMatch,
) -> OrderLine:
    """The line's agency team says the rest will not come: the line is closed short."""
    try:
        line = get_line(session, actor, line_id, lock=True)
        ensure_recorder(actor, line)
        if_match.check(line)
        if line.closed_short_at is not None:
            raise Conflict(f"order line {line.id} is closed short already")
        if figures.accepted(facts(line)) >= line.quantity:
            raise Conflict(f"order line {line.id} is delivered in full; nothing to close short")
        before = snapshot(line)
        line.closed_short_at = utcnow()
        line.closed_short_reason = data.reason.strip()
        session.flush()
        record(
            session, actor, "order_line.close_short", "order_line", line.id, before, snapshot(line)
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return line


def ocds_deliveries(session: Session, round_id: int, settings: Settings) -> list[ocds.LineDelivery]:
    """The round's order lines as delivered, for the OCDS export's implementation."""
    rules, day = policy(session), today(settings)
    lines = session.scalars(lines_query(round_id=round_id))
    result = []
    for line in lines:
        known = facts(line)
        result.append(
            ocds.LineDelivery(
                agency=line.agency_id,
                supplier=line.order.supplier_id,
                order=line.order.number,
                line_id=line.id,
                offer=line.offer_ref,
                quantity=line.quantity,
                unit_price=line.unit_price,
                promised_on=line.promised_on,
                state=figures.state(known, day, rules.grace_days).value,
                receipts=tuple(
                    ocds.ReceiptFigure(r.id, r.received_on, r.accepted)
                    for r in figures.effective(known.receipts)
                ),
            )
        )
    return result
