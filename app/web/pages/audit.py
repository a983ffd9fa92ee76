"""The audit log for coordinators and admins (``/audit``: every entry, filtered, with the
hash chain's check), and every user's "what changed since you last looked" (``/changes``).

Both read through ``app.audit.service`` (``entries_query``, ``verify_chain``), the API's
own functions, under the API's rule for the log: coordinators and admins only, others
403. What ``/changes`` shows each user is decided in ``app.web.changes``.
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, Request, Response

from app.api.params import MAX_ID
from app.audit import service as audit_service
from app.audit.models import AuditEntry
from app.audit.schemas import AuditEntryRead
from app.auth.deps import require_roles
from app.auth.models import Role, User
from app.db import SessionDep
from app.exchange.service import group_zone
from app.web import changes
from app.web.deps import SettingsDep, WebRoute, WebUser, render
from app.web.tables import Table, View

router = APIRouter(route_class=WebRoute, include_in_schema=False)

AUDIT = Table(
    {
        "when": AuditEntry.seq,
        "actor": AuditEntry.actor_name,
        "action": AuditEntry.action,
        "entity": AuditEntry.entity_type,
    },
    key=AuditEntry.seq,
    default="when",
    default_dir="desc",  # newest first
    per_page=50,
    labels={"entity": "what"},
)
CHANGES = Table({}, key=AuditEntry.id, default="when", default_dir="desc", per_page=50)
Filter = Annotated[str, Query(max_length=64)]


def _rows(listing: Any, user: User) -> list[dict[str, Any]]:
    return [
        {
            "entry": entry,
            "what": changes.entity_name(entry.entity_type),
            "link": changes.entity_link(entry.entity_type, entry.entity_id, user),
            "summary": changes.describe(entry),
        }
        for entry in listing.items
    ]


def _distinct(session: Any, column: Any) -> list[str]:
    return list(session.scalars(sa.select(column).distinct().order_by(column)))


@router.get("/audit")
def audit_page(
    request: Request,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
    entity_type: Filter = "",
    action: Filter = "",
    # The form sends "any" as empty: a user's id or nothing.
    actor: Annotated[str, Query(max_length=12, pattern=r"^[0-9]*$")] = "",
) -> Response:
    """Every entry of the log, newest first, filtered by what it is about, who and what."""
    require_roles(Role.coordinator, Role.admin)(user)
    actor_id = int(actor) if actor else None
    view = AUDIT.read(request, settings)
    stmt = audit_service.entries_query(
        entity_type=entity_type or None, actor_id=actor_id, action=action or None
    )
    listing = AUDIT.page(session, stmt, view, AuditEntryRead)
    return render(
        request,
        settings,
        "audit.html",
        {
            "view": view,
            "page": listing,
            "rows": _rows(listing, user),
            "zone": group_zone(settings),
            "entity_type": entity_type,
            "action": action,
            "actor": actor_id,
            "entity_types": _distinct(session, AuditEntry.entity_type),
            "actions": _distinct(session, AuditEntry.action),
            "actors": session.execute(
                sa.select(AuditEntry.actor_id, sa.func.max(AuditEntry.actor_name))
                .where(AuditEntry.actor_id.is_not(None))
                .group_by(AuditEntry.actor_id)
                .order_by(sa.func.max(AuditEntry.actor_name))
            ).all(),
            "entity_name": changes.entity_name,
        },
    )


@router.get("/audit/verify")
def verify_page(
    request: Request, session: SessionDep, user: WebUser, settings: SettingsDep
) -> Response:
    """The hash chain checked now, entry by entry (``verify_chain``, the API's check). On
    its own page, as it reads the whole log (about 10 s for 100,000 entries): the log's
    list does not wait for it."""
    require_roles(Role.coordinator, Role.admin)(user)
    return render(
        request, settings, "audit_verify.html", {"chain": audit_service.verify_chain(session)}
    )


@router.get("/changes")
def changes_page(
    request: Request,
    session: SessionDep,
    user: WebUser,
    settings: SettingsDep,
    since: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
    until: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
) -> Response:
    """What changed, of what the user can see, since their last visit; the visit marks it
    seen. Its pages carry the window they list (``since`` < id <= ``until``), so the
    second page of a visit is the same list even though the marker has moved."""
    first = since is None or until is None
    window_since = changes.last_seen(session, user) if since is None else since
    window_until = changes.newest_entry_id(session) if until is None else until
    view: View = CHANGES.read(request, settings)
    stmt = changes.visible_entries(user).where(
        AuditEntry.id > window_since, AuditEntry.id <= window_until
    )
    listing = CHANGES.page(session, stmt, view, AuditEntryRead)
    changes.mark_seen(session, user, window_until)
    return render(
        request,
        settings,
        "changes.html",
        {
            "page": listing,
            "rows": _rows(listing, user),
            "zone": group_zone(settings),
            "window": {"since": window_since, "until": window_until} if first else None,
            "never_looked": window_since == 0,
        },
    )
