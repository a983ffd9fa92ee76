"""Data exchange as a service: imports that create everything or nothing, and the exports.

The API routes (``app.exchange.routes``) and the web pages (``app.web``) both call
these, so an upload through a browser and one through ``curl`` obey the same rules
and give the same report.

Imports read the file with the pure parsers (``app.exchange.spreadsheets``,
``app.exchange.hxl``), then hand every row to ``app.exchange.batch``, which runs
the owning domain's rules on each and creates them in one transaction committed
here; a file with any bad row raises ``InvalidInput`` listing every problem at its
sheet position (``row 5, quantity``), and nothing is written.

Exports check who may see what with the runs service: a plan export holds every
agency's orders, so it needs the run's full view (``require_full_view``), as the
purchase orders do; a round's OCDS package is served once the round is approved.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.auth.models import Agency, User
from app.catalogue.models import Item, Location, Supplier
from app.errors import Conflict, FieldIssue, InvalidInput, NotFound
from app.exchange import batch, hxl, ocds, plan_export, spreadsheets
from app.exchange import purchase_order_pdf as po_pdf
from app.exchange.schemas import ImportKind, ImportRead
from app.exchange.table import ParseResult
from app.needs import service as needs_service
from app.needs.models import Need, NeedStatus
from app.rounds import service as rounds_service
from app.rounds.models import Round, RoundStatus
from app.runs import outputs
from app.runs import service as runs_service
from app.runs.models import Run
from app.settings import Settings

if TYPE_CHECKING:
    from app.api.idempotency import Idempotency

NeedsLayout = Literal["template", "hxl"]
PLAN_SHEETS = plan_export.SHEETS


@dataclass(frozen=True)
class Upload:
    """An uploaded file as the parsers take it."""

    data: bytes
    filename: str | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class Download:
    """A file to send: its bytes, media type and the name to save it under."""

    body: bytes
    media_type: str
    filename: str


# --------------------------------------------------------------------------- imports


def known_ids(session: Session, *kinds: str) -> dict[str, set[str]]:
    """Ids of the rows an upload may name, for the parser to check with each row."""
    models: dict[str, Any] = {
        "item": Item,
        "location": Location,
        "supplier": Supplier,
        "agency": Agency,
    }
    return {kind: set(session.scalars(sa.select(models[kind].id))) for kind in kinds}


def _raise_parse_errors(result: ParseResult, what: str) -> None:
    if result.errors:
        rows = {e.row for e in result.errors if e.row is not None}
        count = len(result.errors)
        where = f" in {len(rows)} row{'s' if len(rows) != 1 else ''}" if rows else ""
        raise InvalidInput(
            [FieldIssue(e.path, e.reason) for e in result.errors],
            detail=f"{count} problem{'s' if count != 1 else ''}{where}; no {what} were imported",
        )


def _finish(
    session: Session,
    kind: ImportKind,
    ids: Sequence[int],
    idem: Idempotency | None,
    location: str,
) -> ImportRead:
    read = ImportRead(kind=kind, created=len(ids), ids=list(ids))
    if idem is not None:
        idem.save(201, read, location=location)
    session.commit()
    return read


def _today(settings: Settings) -> dt.date:
    return dt.datetime.now(group_zone(settings)).date()


def import_needs(
    session: Session,
    actor: User,
    round_id: int,
    upload: Upload,
    *,
    settings: Settings,
    layout: NeedsLayout = "template",
    submit: bool = False,
    idem: Idempotency | None = None,
) -> ImportRead:
    """Needs of the actor's agency from a CSV/XLSX (template columns) or an HXL-tagged file.

    Drafts unless ``submit``. Every row or none; 409 once the round is closed.
    """
    rounds_service.get(session, round_id)  # 404 before reading the file
    ids = known_ids(session, "item", "location")
    common: dict[str, Any] = {
        "known_ids": ids,
        "today": _today(settings),
        "max_rows": settings.upload_max_rows,
        "max_bytes": settings.max_body_bytes,
    }
    if layout == "hxl":
        result = hxl.parse_needs_hxl(
            upload.data, upload.filename, upload.content_type, agency=actor.agency_id, **common
        )
    else:
        result = spreadsheets.parse_needs(
            upload.data, upload.filename, upload.content_type, **common
        )
    _raise_parse_errors(result, "needs")
    created = batch.create_needs(
        session, actor, round_id, result.rows, result.row_numbers, submit=submit
    )
    return _finish(
        session,
        "needs",
        created,
        idem,
        f"/api/v1/needs?round_id={round_id}&agency_id={actor.agency_id}",
    )


CatalogueKind = Literal["offers", "routes", "rules"]


@dataclass(frozen=True)
class _CatalogueImport:
    """How one catalogue template is read and stored: its parser, the ids its rows may
    name, the batch write (``app.exchange.batch``) and where the rows are listed."""

    parse: Callable[..., ParseResult]
    names: tuple[str, ...]
    create: Callable[[Session, User, Sequence[Any], Sequence[int]], Sequence[Any]]
    listed_at: str


_CATALOGUE_IMPORTS: dict[CatalogueKind, _CatalogueImport] = {
    "offers": _CatalogueImport(
        spreadsheets.parse_offers, ("item", "supplier", "agency"), batch.create_offers, "offers"
    ),
    "routes": _CatalogueImport(
        spreadsheets.parse_routes, ("supplier", "location"), batch.create_routes, "routes"
    ),
    "rules": _CatalogueImport(
        spreadsheets.parse_rules,
        ("item", "location", "supplier"),
        batch.create_rules,
        "award-rules",
    ),
}


def import_catalogue(
    kind: CatalogueKind,
    session: Session,
    actor: User,
    upload: Upload,
    *,
    settings: Settings,
    idem: Idempotency | None = None,
) -> ImportRead:
    """Offers with their price tiers, routes or award rules from a CSV/XLSX of their
    template; every row or none."""
    spec = _CATALOGUE_IMPORTS[kind]
    result = spec.parse(
        upload.data,
        upload.filename,
        upload.content_type,
        known_ids=known_ids(session, *spec.names),
        max_rows=settings.upload_max_rows,
        max_bytes=settings.max_body_bytes,
    )
    _raise_parse_errors(result, kind)
    rows = spec.create(session, actor, result.rows, result.row_numbers)
    return _finish(session, kind, [r.id for r in rows], idem, catalogue_listed_at(kind))


def catalogue_listed_at(kind: CatalogueKind) -> str:
    """Where the imported rows are listed (the import's Location)."""
    return f"/api/v1/{_CATALOGUE_IMPORTS[kind].listed_at}"


import_offers = functools.partial(import_catalogue, "offers")
import_routes = functools.partial(import_catalogue, "routes")
import_rules = functools.partial(import_catalogue, "rules")


def template(kind: spreadsheets.Kind, fmt: spreadsheets.Format) -> Download:
    return Download(
        spreadsheets.template_bytes(kind, fmt),
        spreadsheets.media_type(fmt),
        spreadsheets.template_filename(kind, fmt),
    )


# --------------------------------------------------------------------------- exports


def group_zone(settings: Settings) -> dt.tzinfo:
    try:
        return ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def plan_of(
    session: Session, user: User, run_id: int
) -> tuple[Run, dict[str, Any], dict[str, Any]]:
    """The run with its problem and plan, for an export of the whole plan.

    404 when the run is hidden from ``user``; 403 before its round is published to
    member agencies (the plan consolidates every agency's needs); 409 without a plan.
    """
    visible = runs_service.get_run(session, user, run_id)
    runs_service.require_full_view(visible, "plan exports")
    problem, plan = runs_service.require_plan(visible)
    return visible.run, problem, plan


def _plan_info(run: Run) -> dict[str, Any]:
    return {
        "round": run.round.name,
        "round_id": run.round_id,
        "run": run.number,
        "run_id": run.id,
        "binding": "yes" if run.binding else "no",
    }


def _stem(run: Run) -> str:
    return f"poolbuy-round-{run.round_id}-run-{run.number}"


def plan_xlsx(session: Session, user: User, run_id: int) -> Download:
    run, problem, plan = plan_of(session, user, run_id)
    body = plan_export.plan_xlsx(problem, plan, info=_plan_info(run))
    return Download(body, plan_export.XLSX_MEDIA_TYPE, f"{_stem(run)}.xlsx")


def purchase_order_pdf(
    session: Session,
    user: User,
    run_id: int,
    number: str,
    issued: Mapping[str, str] | None = None,
) -> Download:
    """One supplier's purchase order of the run's plan, as a PDF (404 for a number the
    plan does not have). ``issued``: supplier -> the number its order was issued under
    (``app.deliveries.service.issued_numbers``), which wins over the computed one."""
    run, problem, plan = plan_of(session, user, run_id)
    issued = issued or {}
    orders = {
        o.number: o
        for o in (
            o.model_copy(update={"number": issued[o.supplier]}) if o.supplier in issued else o
            for o in outputs.purchase_orders(problem, plan, round_id=run.round_id)
        )
    }
    order = orders.get(number)
    if order is None:
        raise NotFound(f"run {run.id}'s plan has no purchase order {number!r}")
    context = po_pdf.OrderContext(
        round_name=run.round.name,
        run_number=run.number,
        binding=run.binding,
        order_date=dt.date.fromisoformat(problem["as_of"]) if problem.get("as_of") else None,
        location_names={e["id"]: e.get("name") or e["id"] for e in problem["locations"]},
    )
    body = po_pdf.purchase_order_pdf(order, context)
    return Download(body, po_pdf.MEDIA_TYPE, f"poolbuy-{order.number}.pdf")


def plan_csv_zip(session: Session, user: User, run_id: int) -> Download:
    run, problem, plan = plan_of(session, user, run_id)
    body = plan_export.plan_csv_zip(problem, plan, info=_plan_info(run), prefix=_stem(run))
    return Download(body, plan_export.ZIP_MEDIA_TYPE, f"{_stem(run)}-csv.zip")


def plan_csv(session: Session, user: User, run_id: int, sheet: str) -> Download:
    run, problem, plan = plan_of(session, user, run_id)
    body = plan_export.plan_csv(problem, plan, sheet, info=_plan_info(run))
    return Download(body, "text/csv; charset=utf-8", f"{_stem(run)}-{sheet}.csv")


def plan_hxl(session: Session, user: User, run_id: int) -> Download:
    run, problem, plan = plan_of(session, user, run_id)
    return Download(hxl.plan_to_hxl(problem, plan), hxl.MEDIA_TYPE, f"{_stem(run)}-hxl.csv")


def _names(session: Session, model: Any, ids: Collection[str]) -> list[dict[str, Any]]:
    if not ids:
        return []
    rows = session.scalars(sa.select(model).where(model.id.in_(sorted(ids))))
    if model is Item:
        return [{"id": i.id, "name": i.name, "unit": i.unit, "category": i.category} for i in rows]
    return [{"id": r.id, "name": r.name} for r in rows]


def needs_hxl(
    session: Session,
    user: User,
    round_: Round,
    *,
    status: NeedStatus | None = NeedStatus.submitted,
    agency_id: str | None = None,
) -> Download:
    """A round's needs the user may see, as HXL-tagged CSV (submitted ones by default).

    The priority written is the one runs use (the specialist's confirmed priority
    once reviewed), since that is what the group acts on.
    """
    needs: list[Need] = list(
        session.scalars(
            needs_service.needs_query(user, round_id=round_.id, status=status, agency_id=agency_id)
        )
    )
    entries = [
        {
            "id": f"n-{n.id}",
            "agency": n.agency_id,
            "item": n.item_id,
            "location": n.location_id,
            "quantity": n.quantity,
            "need_by": n.need_by,
            "priority": n.effective_priority.value,
            "justification": n.justification,
        }
        for n in needs
    ]
    body = hxl.needs_to_hxl(
        entries,
        agencies=_names(session, Agency, {n.agency_id for n in needs}),
        items=_names(session, Item, {n.item_id for n in needs}),
        locations=_names(session, Location, {n.location_id for n in needs}),
    )
    return Download(body, hxl.MEDIA_TYPE, f"poolbuy-round-{round_.id}-needs-hxl.csv")


def binding_run(session: Session, round_: Round) -> Run | None:
    return session.scalars(runs_service.runs_query(round_.id, binding=True)).first()


def ocds_package(
    session: Session,
    user: User,
    round_id: int,
    *,
    settings: Settings,
    deliveries: Iterable[ocds.LineDelivery] = (),
) -> dict[str, Any]:
    """The round's approved plan as an OCDS 1.1 release package; 409 before approval.

    ``deliveries``: the order lines as delivered (``app.deliveries``), which add each
    contract's implementation (milestones and transactions).
    """
    round_, _viewer = runs_service.get_round_for_runs(session, user, round_id)
    run = binding_run(session, round_)
    if round_.status != RoundStatus.approved or run is None or run.plan is None:
        raise Conflict(
            f"round {round_id} is {round_.status.value}: only an approved plan is published "
            "as OCDS (every chief of mission with awards must approve it first)"
        )
    item_ids = {i["id"] for i in run.problem.get("items", [])}
    codes = {
        item.id: item.unspsc_code
        for item in session.scalars(sa.select(Item).where(Item.id.in_(sorted(item_ids))))
        if item.unspsc_code
    }
    coordinator = round_.created_by.agency_id or settings.coordinating_agency
    coordinator_row = session.get(Agency, coordinator)
    try:
        package = ocds.release_package(
            run.problem,
            run.plan,
            round_id=round_.id,
            coordinator=coordinator,
            coordinator_name=coordinator_row.name if coordinator_row is not None else None,
            published_at=run.approved_at or round_.updated_at,
            round_name=round_.name,
            ocid_prefix=settings.ocds_ocid_prefix,
            item_codes=codes,
            tender_period=(round_.created_at, round_.deadline),
            zone=group_zone(settings),
            release_id=f"{ocds.ocid_for(round_.id, settings.ocds_ocid_prefix)}-run-{run.number}",
        )
    except ocds.NotExportable as exc:
        raise Conflict(str(exc)) from exc
    return ocds.add_implementation(package, deliveries, zone=group_zone(settings))
