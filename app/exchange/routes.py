"""/api/v1: spreadsheet uploads and templates, plan downloads, OCDS and HXL. Thin: each
route calls ``app.exchange.service``.

Uploads are ``multipart/form-data`` with one ``file`` part (CSV or XLSX; HXL-tagged
CSV for the HXL route). A file with any bad row imports nothing and answers 422
with every problem, its path the sheet position (``row 5, quantity``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Header, Path, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse

from app.api.deps import RequestIdempotency
from app.api.openapi import problem_responses
from app.api.params import DIGITS, MAX_ID
from app.auth.deps import CurrentUser
from app.catalogue.deps import CatalogueManager
from app.db import SessionDep
from app.deliveries import service as deliveries_service
from app.exchange import service
from app.exchange.schemas import ImportRead
from app.exchange.service import Download, Upload
from app.needs.deps import LocalTeam
from app.needs.models import NeedStatus
from app.rounds.deps import ValidRound
from app.settings import Settings, get_settings

# Mounted under /api/v1 by app.main, like every domain router.
router = APIRouter(tags=["data exchange"])

SettingsDep = Annotated[Settings, Depends(get_settings)]
RunId = Annotated[int, DIGITS, Path(ge=1, le=MAX_ID, description="the run's id", examples=[7])]
RoundId = Annotated[int, DIGITS, Path(ge=1, le=MAX_ID, description="the round's id", examples=[3])]

_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_UPLOAD_EXAMPLE = (
    "item,location,quantity,need_by,priority,justification\n"
    "ppe-mask-n95,pa-darien-lajas-blancas,5000,2026-12-20,critical,outbreak among arrivals\n"
)
_IMPORT_422 = {
    "type": "about:blank",
    "title": "Invalid input",
    "status": 422,
    "detail": "2 problems in 2 rows; no needs were imported",
    "instance": "/api/v1/rounds/3/needs/import",
    "errors": [
        {"path": "row 3, quantity", "reason": "must be a whole number"},
        {"path": "row 5, item", "reason": "no item 'ppe-mask-n59'"},
    ],
}


def _import_responses() -> dict[int | str, dict[str, Any]]:
    responses = problem_responses(401, 403, 404, 409, 413, 422)
    responses[422]["content"]["application/problem+json"]["example"] = _IMPORT_422
    return responses


def _download(
    media_type: str, description: str, *problems: int, binary: bool = True
) -> dict[int | str, dict[str, Any]]:
    """A file download's responses: the file (200), then the ``problems``' statuses."""
    schema = {"type": "string", "format": "binary"} if binary else {"type": "string"}
    return {
        200: {"description": description, "content": {media_type: {"schema": schema}}},
        **problem_responses(*problems),
    }


def _send(download: Download) -> Response:
    return Response(
        download.body,
        media_type=download.media_type,
        headers={"Content-Disposition": f'attachment; filename="{download.filename}"'},
    )


# --------------------------------------------------------------------------- uploads


async def read_upload(
    file: Annotated[
        UploadFile,
        File(description="the spreadsheet: CSV (UTF-8, comma, semicolon or tab) or XLSX"),
    ],
) -> Upload:
    return Upload(await file.read(), file.filename, file.content_type)


UploadDep = Annotated[Upload, Depends(read_upload)]


async def upload_idempotency(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    upload: UploadDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="any unique string (a UUID); a retry with the same key and file "
            "returns the first response and imports nothing again",
            examples=["5f0c6a8e-3b7d-4d7a-9d43-2b0f1c8e9a10"],
        ),
    ] = None,
) -> RequestIdempotency:
    """``Idempotency-Key`` for uploads, fingerprinted on the file's bytes.

    The shared dependency hashes the raw body, whose multipart boundary a client
    draws anew for every retry: the same file would look like another request.
    """
    return RequestIdempotency.for_request(
        session,
        user,
        idempotency_key,
        method=request.method,
        path=request.url.path,
        query=request.url.query,
        body=upload.data,
    )


UploadIdempotency = Annotated[RequestIdempotency, Depends(upload_idempotency)]
Submit = Annotated[
    bool,
    Query(description="true: create the needs submitted at once; false (default): as drafts"),
]


def _upload_body(summary: str, example: str) -> dict[str, Any]:
    """OpenAPI: the multipart body with an example file (as text, for reading)."""
    return {
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "examples": {"csv": {"summary": summary, "value": {"file": example}}}
                }
            }
        }
    }


_UPLOAD_BODY = _upload_body("A needs CSV (the template's columns)", _UPLOAD_EXAMPLE)
_HXL_BODY = _upload_body(
    "Needs tagged with HXL hashtags under the headers",
    "Item,Place,Units,Needed by,Priority\n"
    "#item+code,#loc+code,#indicator+num+quantity,#date+needed,#severity+priority\n"
    "ppe-mask-n95,pa-darien-lajas-blancas,5000,2026-12-20,normal\n",
)
_OFFERS_BODY = _upload_body(
    "Offers with two price tiers",
    "offer_id,supplier,item,capacity,lead_time_days,valid_from,tier1_min_quantity,"
    "tier1_unit_price,tier2_min_quantity,tier2_unit_price\n"
    "LTA-2026-014,sup-001,ppe-mask-n95,50000,10,2026-11-01,0,1.20,10000,1.00\n",
)
_RULES_BODY = _upload_body(
    "Award rules: two suppliers for rapid tests, no supplier above 60% of masks",
    "kind,item,location,supplier,limit,share,penalty,reason\n"
    "min_suppliers,test-rdt-covid,,,2,,2000,supply risk\n"
    "max_share,ppe-mask-n95,,sup-001,,0.6,4,no supplier above 60%\n",
)
_ROUTES_BODY = _upload_body(
    "Delivery routes",
    "supplier,location,fixed_cost,unit_cost,transit_days\n"
    "sup-001,pa-darien-lajas-blancas,500,0.01,3\n",
)


def _needs_import(layout: service.NeedsLayout, name: str, doc: str) -> Callable[..., Any]:
    """The route that imports needs from a file of one layout: the template, or HXL."""
    import_needs = functools.partial(service.import_needs, layout=layout)

    def endpoint(
        round_id: RoundId,
        upload: UploadDep,
        session: SessionDep,
        user: LocalTeam,
        idem: UploadIdempotency,
        settings: SettingsDep,
        response: Response,
        submit: Submit = False,
    ) -> Any:
        if (replay := idem.replay()) is not None:
            return replay
        result = import_needs(
            session, user, round_id, upload, settings=settings, submit=submit, idem=idem
        )
        response.headers["Location"] = (
            f"/api/v1/needs?round_id={round_id}&agency_id={user.agency_id}"
        )
        return result

    endpoint.__name__ = endpoint.__qualname__ = name
    endpoint.__doc__ = doc
    return endpoint


_IMPORT_ROUTE: dict[str, Any] = {
    "status_code": 201,
    "response_model": ImportRead,
    "responses": _import_responses(),
}

router.post(
    "/rounds/{round_id}/needs/import",
    summary="Import needs from a CSV or XLSX file",
    openapi_extra=_UPLOAD_BODY,
    **_IMPORT_ROUTE,
)(
    _needs_import(
        "template",
        "import_needs",
        """Local team: your agency's needs, one per row of the needs template (columns item,
    location, quantity, need_by, priority, justification; see `GET /templates/needs`).
    Every row is checked with the same rules as `POST /rounds/{round_id}/needs`; if any
    row is bad nothing is imported and the 422 lists every problem by row and column.
    409 once the round is closed. Send an Idempotency-Key to retry safely.""",
    )
)
router.post(
    "/rounds/{round_id}/needs/import-hxl",
    summary="Import needs from an HXL-tagged CSV",
    openapi_extra=_HXL_BODY,
    **_IMPORT_ROUTE,
)(
    _needs_import(
        "hxl",
        "import_needs_hxl",
        """Local team: needs from a Humanitarian Exchange Language table. Columns are found by
    hashtag, whatever their headers: `#item+code`, `#loc+code`, `#indicator+num+quantity`,
    `#date+needed`, `#severity+priority` (or `#priority`), optionally
    `#description+justification` and `#org+code` (which must be your agency). The file
    `GET /rounds/{round_id}/needs.hxl.csv` gives back imports here unchanged. All rows or
    none, as the spreadsheet import.""",
    )
)


def _catalogue_import(kind: service.CatalogueKind, name: str, doc: str) -> Callable[..., Any]:
    """The route that imports one catalogue template: the same for offers, rules, routes."""

    def endpoint(
        upload: UploadDep,
        session: SessionDep,
        user: CatalogueManager,
        idem: UploadIdempotency,
        settings: SettingsDep,
        response: Response,
    ) -> Any:
        if (replay := idem.replay()) is not None:
            return replay
        result = service.import_catalogue(kind, session, user, upload, settings=settings, idem=idem)
        response.headers["Location"] = service.catalogue_listed_at(kind)
        return result

    endpoint.__name__ = endpoint.__qualname__ = name
    endpoint.__doc__ = doc
    return endpoint


router.post(
    "/offers/import",
    summary="Import offers with their price tiers from a CSV or XLSX file",
    openapi_extra=_OFFERS_BODY,
    **_IMPORT_ROUTE,
)(
    _catalogue_import(
        "offers",
        "import_offers",
        """Technical specialist or admin: one offer per row of the offers template (tiers as
    `tier1_min_quantity`, `tier1_unit_price`, ... up to 5). A row whose supplier already
    has an offer with the same `offer_id` (reference) is refused, so a file uploaded twice
    adds nothing twice. All rows or none.""",
    )
)
router.post(
    "/award-rules/import",
    summary="Import award rules from a CSV or XLSX file",
    openapi_extra=_RULES_BODY,
    **_IMPORT_ROUTE,
)(
    _catalogue_import(
        "rules",
        "import_rules",
        """Technical specialist or admin: one award rule per row of the rules template (kind,
    item, location, supplier, limit, share, penalty, reason). Every bad row is listed;
    all rows or none.""",
    )
)
router.post(
    "/routes/import",
    summary="Import delivery routes from a CSV or XLSX file",
    openapi_extra=_ROUTES_BODY,
    **_IMPORT_ROUTE,
)(
    _catalogue_import(
        "routes",
        "import_routes",
        """Technical specialist or admin: one route per row (supplier, location, fixed_cost,
    unit_cost, transit_days). A supplier and location that already have a route are
    refused at their row. All rows or none.""",
    )
)


@router.get(
    "/templates/{kind}",
    summary="Download an empty spreadsheet template",
    responses={
        200: {
            "description": "the template (XLSX, or CSV with format=csv)",
            "content": {
                _XLSX: {"schema": {"type": "string", "format": "binary"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        **problem_responses(401, 422),
    },
)
def download_template(
    kind: Annotated[
        Literal["needs", "offers", "routes", "receipts", "rules"],
        Path(description="what the file imports"),
    ],
    _user: CurrentUser,
    format: Annotated[Literal["xlsx", "csv"], Query(description="file type")] = "xlsx",
) -> Response:
    """The columns an import takes, with an example row (XLSX: on a sheet of its own, with
    what each column takes; CSV: a commented row the importer skips)."""
    return _send(service.template(kind, format))


# --------------------------------------------------------------------------- exports

_PLAN_SHEETS = "sheets summary, orders, awards, agencies, unmet, shipments, rules, coalitions"


@router.get(
    "/runs/{run_id}/plan.xlsx",
    summary="Download a plan as an XLSX workbook",
    responses=_download(_XLSX, _PLAN_SHEETS, 401, 403, 404, 409),
)
def plan_xlsx(run_id: RunId, session: SessionDep, user: CurrentUser) -> Response:
    """Every figure of the run's plan, typed (numbers, dates): the consolidated orders, the
    awards per need, each agency's allocated and stand-alone cost and savings, the unmet
    needs with their reasons, the shipments. Visible when the purchase orders are (the
    round is optimised; coordinators always). 409 while the run has no plan."""
    return _send(service.plan_xlsx(session, user, run_id))


@router.get(
    "/runs/{run_id}/plan-csv.zip",
    summary="Download a plan as CSV files (one per sheet, zipped)",
    responses=_download(
        "application/zip", "one CSV per sheet of the XLSX export", 401, 403, 404, 409
    ),
)
def plan_csv_zip(run_id: RunId, session: SessionDep, user: CurrentUser) -> Response:
    """The XLSX export's sheets as UTF-8 CSV files in one zip."""
    return _send(service.plan_csv_zip(session, user, run_id))


@router.get(
    "/runs/{run_id}/plan/{sheet}.csv",
    summary="Download one sheet of a plan as CSV",
    responses=_download(
        "text/csv", "the sheet as UTF-8 CSV", 401, 403, 404, 409, 422, binary=False
    ),
)
def plan_csv(
    run_id: RunId,
    sheet: Annotated[
        Literal[
            "summary", "orders", "awards", "agencies", "unmet", "shipments", "rules", "coalitions"
        ],
        Path(description="which sheet", examples=["agencies"]),
    ],
    session: SessionDep,
    user: CurrentUser,
) -> Response:
    return _send(service.plan_csv(session, user, run_id, sheet))


@router.get(
    "/runs/{run_id}/plan.hxl.csv",
    summary="Download a plan as HXL-tagged CSV",
    responses=_download(
        "text/csv", "awards and unmet needs, HXL hashtags", 401, 403, 404, 409, binary=False
    ),
)
def plan_hxl(run_id: RunId, session: SessionDep, user: CurrentUser) -> Response:
    """One row per award, then one per need left unmet, with a hashtag row under the
    headers (`#org+code`, `#sector`, `#loc+code`, `#item+code`, `#date+needed`, ...) for
    3W dashboards and the HXL tools."""
    return _send(service.plan_hxl(session, user, run_id))


@router.get(
    "/rounds/{round_id}/needs.hxl.csv",
    summary="Download a round's needs as HXL-tagged CSV",
    responses=_download("text/csv", "one row per need, HXL hashtags", 401, 404, 422, binary=False),
)
def needs_hxl(
    round_: ValidRound,
    session: SessionDep,
    user: CurrentUser,
    status: Annotated[
        NeedStatus | None,
        Query(description="needs in this status (default submitted)"),
    ] = NeedStatus.submitted,
    agency_id: Annotated[str | None, Query(description="only this agency's")] = None,
) -> Response:
    """The needs you may see (your agency's in every status, others' once submitted), with
    the priority runs use. Import it back with `POST /rounds/{round_id}/needs/import-hxl`."""
    return _send(service.needs_hxl(session, user, round_, status=status, agency_id=agency_id))


OCDS_EXAMPLE = {
    "uri": "urn:uuid:0b3f4b1e-2f7d-5b4e-8c1a-6d2e9f0a1b2c",
    "version": "1.1",
    "publishedDate": "2026-12-03T14:30:00Z",
    "publisher": {"name": "poolbuy: joint procurement of the UN inter-agency group in Panama"},
    "releases": [{"ocid": "ocds-poolbuy-3", "id": "ocds-poolbuy-3-run-1", "tag": ["award"]}],
}


@router.get(
    "/rounds/{round_id}/ocds",
    summary="A round's approved plan as an OCDS 1.1 release package",
    responses={
        200: {
            "description": "an OCDS 1.1 release package",
            "content": {"application/json": {"example": OCDS_EXAMPLE}},
        },
        **problem_responses(401, 404, 409),
    },
)
def ocds_package(
    round_id: RoundId, session: SessionDep, user: CurrentUser, settings: SettingsDep
) -> JSONResponse:
    """One contracting process per round: every agency a buyer party, the tender's items
    (one per need), one award per supplier, one contract per agency and supplier. Only
    the approved (binding) plan is published: 409 before the round is approved. Each
    contract's implementation lists a milestone per order line (due on its promised date,
    met or not) and a transaction per receipt (units accepted at the order's price)."""
    deliveries = deliveries_service.ocds_deliveries(session, round_id, settings)
    package = service.ocds_package(
        session, user, round_id, settings=settings, deliveries=deliveries
    )
    return JSONResponse(package)
