"""/api/v1/audit: read the log and verify its hash chain (coordinators and admins)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from app.api import Page, PageParamsDep, paginate
from app.api.openapi import problem_responses
from app.api.params import MAX_ID, IsoDateTime
from app.audit import service
from app.audit.schemas import AuditEntryRead, ChainReportRead
from app.auth.deps import AuditReader
from app.db import SessionDep

# Mounted under /api/v1 by app.main, like every domain router.
router = APIRouter(tags=["audit"])


@router.get(
    "/audit", response_model=Page[AuditEntryRead], responses=problem_responses(401, 403, 422)
)
def list_audit_entries(
    session: SessionDep,
    reader: AuditReader,
    page: PageParamsDep,
    entity_type: Annotated[str | None, Query(examples=["need"])] = None,
    entity_id: Annotated[str | None, Query(examples=["12"])] = None,
    actor_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    action: Annotated[str | None, Query(examples=["need.update"])] = None,
    since: Annotated[IsoDateTime | None, Query(description="from this instant, inclusive")] = None,
    until: Annotated[IsoDateTime | None, Query(description="before this instant")] = None,
) -> Any:
    """Entries newest first, filtered by entity, actor, action and time."""
    stmt = service.entries_query(
        entity_type=entity_type,
        entity_id=entity_id,
        actor_id=actor_id,
        action=action,
        since=since,
        until=until,
    )
    return paginate(session, stmt, page, AuditEntryRead)


@router.get("/audit/verify", response_model=ChainReportRead, responses=problem_responses(401, 403))
def verify_audit_chain(session: SessionDep, reader: AuditReader) -> Any:
    """Recompute every entry's hash in order; report the first that does not hold."""
    return service.verify_chain(session)
