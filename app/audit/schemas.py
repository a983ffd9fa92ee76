"""Audit entries and the chain check, as the API shows them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AuditEntryRead(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 41,
                    "seq": 41,
                    "occurred_at": "2026-11-28T21:30:00.123456Z",
                    "actor_id": 7,
                    "actor_name": "ana.rios@iom.int",
                    "action": "need.update",
                    "entity_type": "need",
                    "entity_id": "12",
                    "before": {"quantity": 4000, "version": 1},
                    "after": {"quantity": 5000, "version": 2},
                    "prev_hash": "9f2c...e1",
                    "hash": "04ab...7d",
                }
            ]
        },
    )

    id: int
    seq: int
    occurred_at: dt.datetime
    actor_id: int | None
    actor_name: str
    action: str
    entity_type: str
    entity_id: str
    before: Any
    after: Any
    prev_hash: str
    hash: str


class ChainReportRead(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {"ok": True, "entries_checked": 41, "head_seq": 41},
                {
                    "ok": False,
                    "entries_checked": 11,
                    "head_seq": 41,
                    "first_broken_seq": 12,
                    "first_broken_id": 12,
                    "reason": "content does not match its hash: the entry was altered",
                },
            ]
        },
    )

    ok: bool
    entries_checked: int = Field(description="entries that held before the first broken one")
    head_seq: int = Field(description="entries the chain head says there are")
    first_broken_seq: int | None = None
    first_broken_id: int | None = None
    reason: str | None = None
