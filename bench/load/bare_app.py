"""The near-limit anchor: a bare FastAPI endpoint doing one INSERT into poolbuy's ``need`` table.

``uvicorn bench.load.bare_app:app --workers N`` with ``BARE_DATABASE_URL`` (the same
database the service uses in the same run), ``BARE_AGENCY_ID`` and ``BARE_USER_ID`` (an
existing agency and user for the foreign keys). Same body as ``POST
/api/v1/rounds/{round_id}/needs``, validated by a Pydantic model, a sync route in the
thread pool like the service's, one pooled connection, one transaction, one INSERT
... RETURNING, a commit. No authentication, no lock, no audit: everything poolbuy does on
top of this is what the ratio measures.
"""

from __future__ import annotations

import datetime as dt
import os
from functools import lru_cache
from typing import Literal

import sqlalchemy as sa
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

NEED = sa.table(
    "need",
    sa.column("id", sa.Integer),
    sa.column("round_id", sa.Integer),
    sa.column("agency_id", sa.String),
    sa.column("item_id", sa.String),
    sa.column("location_id", sa.String),
    sa.column("quantity", sa.Integer),
    sa.column("need_by", sa.Date),
    sa.column("priority", sa.String),
    sa.column("justification", sa.Text),
    sa.column("status", sa.String),
    sa.column("created_by_id", sa.Integer),
    sa.column("submitted_at", sa.DateTime(timezone=True)),
    sa.column("version", sa.Integer),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


class BareNeed(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_id: str = Field(min_length=1, max_length=64)
    location_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0)
    need_by: dt.date
    priority: Literal["critical", "high", "normal"]
    justification: str = ""
    submit: bool = False


@lru_cache
def engine() -> sa.Engine:
    # The same pool size and pre-ping as the service's engine (app.db.make_engine).
    return sa.create_engine(os.environ["BARE_DATABASE_URL"], pool_pre_ping=True)


app = FastAPI(title="bare insert")


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/bare/rounds/{round_id}/needs", status_code=201)
def create_need(round_id: int, body: BareNeed) -> dict[str, object]:
    now = dt.datetime.now(dt.UTC)
    with engine().begin() as conn:
        need_id = conn.execute(
            sa.insert(NEED)
            .values(
                round_id=round_id,
                agency_id=os.environ["BARE_AGENCY_ID"],
                item_id=body.item_id,
                location_id=body.location_id,
                quantity=body.quantity,
                need_by=body.need_by,
                priority=body.priority,
                justification=body.justification,
                status="submitted" if body.submit else "draft",
                created_by_id=int(os.environ["BARE_USER_ID"]),
                submitted_at=now if body.submit else None,
                version=1,
                created_at=now,
                updated_at=now,
            )
            .returning(NEED.c.id)
        ).scalar_one()
    return {"id": need_id, "round_id": round_id, **body.model_dump(mode="json")}
