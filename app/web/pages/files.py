"""Downloads for a signed-in person: the same files the API serves, by session cookie."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response

from app.api.params import IdPath
from app.db import SessionDep
from app.deliveries import service as deliveries_service
from app.exchange import service as exchange_service
from app.exchange.service import Download
from app.rounds import service as rounds_service
from app.web.deps import SettingsDep, WebRoute, WebUser

router = APIRouter(route_class=WebRoute, include_in_schema=False)

OrderNumber = Annotated[str, Path(pattern=r"^PO-\d{1,12}-\d{2,4}$")]


def _send(download: Download) -> Response:
    return Response(
        download.body,
        media_type=download.media_type,
        headers={"Content-Disposition": f'attachment; filename="{download.filename}"'},
    )


@router.get("/files/templates/{kind}.{fmt}")
def template(
    kind: Literal["needs", "offers", "routes"], fmt: Literal["xlsx", "csv"], user: WebUser
) -> Response:
    return _send(exchange_service.template(kind, fmt))


@router.get("/files/runs/{run_id}/plan.xlsx")
def plan_xlsx(run_id: IdPath, session: SessionDep, user: WebUser) -> Response:
    return _send(exchange_service.plan_xlsx(session, user, run_id))


@router.get("/files/runs/{run_id}/orders/{number}.pdf")
def purchase_order_pdf(
    run_id: int, number: OrderNumber, session: SessionDep, user: WebUser
) -> Response:
    """One supplier's purchase order, printable."""
    issued = deliveries_service.issued_numbers(session, run_id)
    return _send(exchange_service.purchase_order_pdf(session, user, run_id, number, issued))


@router.get("/files/runs/{run_id}/plan-csv.zip")
def plan_csv_zip(run_id: IdPath, session: SessionDep, user: WebUser) -> Response:
    return _send(exchange_service.plan_csv_zip(session, user, run_id))


@router.get("/files/runs/{run_id}/plan.hxl.csv")
def plan_hxl(run_id: IdPath, session: SessionDep, user: WebUser) -> Response:
    return _send(exchange_service.plan_hxl(session, user, run_id))


@router.get("/files/rounds/{round_id}/needs.hxl.csv")
def needs_hxl(round_id: IdPath, session: SessionDep, user: WebUser) -> Response:
    round_ = rounds_service.get(session, round_id)
    return _send(exchange_service.needs_hxl(session, user, round_))


@router.get("/files/rounds/{round_id}/ocds.json")
def ocds(round_id: IdPath, session: SessionDep, user: WebUser, settings: SettingsDep) -> Response:
    deliveries = deliveries_service.ocds_deliveries(session, round_id, settings)
    package = exchange_service.ocds_package(
        session, user, round_id, settings=settings, deliveries=deliveries
    )
    return _send(
        Download(
            json.dumps(package, ensure_ascii=False, indent=2).encode(),
            "application/json",
            f"poolbuy-round-{round_id}-ocds.json",
        )
    )
