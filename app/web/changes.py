"""The audit log as people read it: who changed what, in words, with a link to it; and each
user's "what changed since you last looked".

What a user is shown on ``/changes`` (``visible_entries``), the conservative reading of
the service's visibility rules (drafts are their agency's own, a need's history may hold
a draft's words):

* everyone: changes to rounds, runs, the catalogue (items, locations, suppliers, offers,
  routes), which every signed-in member reads on its pages;
* everyone with an agency: changes to their own agency's needs;
* coordinators and admins, who read the whole log at ``/audit`` anyway: also every
  need's, approval's, scenario's, purchase order's and sourcing rule's changes;
* never their own changes (they know them), nor the system's plumbing (jobs, tokens,
  users' accounts).

Opening ``/changes`` moves the user's marker (``AuditSeen``) to the newest entry: what
it showed is seen. The marker is a reading position, not a change of the group's data,
so it is not itself audited (the log would fill with its own readers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.audit.models import AuditEntry, AuditSeen
from app.auth.models import Role, User
from app.db import utcnow
from app.needs.models import Need

PUBLIC_TYPES = ("round", "run", "item", "location", "supplier", "offer", "route")
MANAGER_TYPES = (
    *PUBLIC_TYPES,
    "need",
    "approval",
    "scenario",
    "purchase_order",
    "capacity_group",
    "award_rule",
    "agency_budget",
    "delivery_policy",
)
BADGE_CAP = 99  # the nav's badge counts up to here, then says "99+"


def is_log_reader(user: User) -> bool:
    """Coordinators and admins read the whole log (as the API's ``AuditReader``)."""
    return user.has_role(Role.coordinator, Role.admin)


def visible_entries(user: User) -> sa.Select[Any]:
    """The entries ``user`` is told about on ``/changes`` (see the module), newest first."""
    others = sa.or_(AuditEntry.actor_id.is_(None), AuditEntry.actor_id != user.id)
    about: sa.ColumnElement[bool]
    if is_log_reader(user):
        about = AuditEntry.entity_type.in_(MANAGER_TYPES)
    else:
        about = AuditEntry.entity_type.in_(PUBLIC_TYPES)
        if user.agency_id is not None:
            own_needs = sa.select(sa.cast(Need.id, sa.String)).where(
                Need.agency_id == user.agency_id
            )
            about = sa.or_(
                about,
                sa.and_(AuditEntry.entity_type == "need", AuditEntry.entity_id.in_(own_needs)),
            )
    return sa.select(AuditEntry).where(others, about).order_by(AuditEntry.id.desc())


def last_seen(session: Session, user: User) -> int:
    """The id of the newest entry the user's last visit showed; 0 if they never looked."""
    marker = session.get(AuditSeen, user.id)
    return marker.last_entry_id if marker is not None else 0


def newest_entry_id(session: Session) -> int:
    return int(session.scalar(sa.select(sa.func.max(AuditEntry.id))) or 0)


def unseen_count(session: Session, user: User) -> int:
    """How many entries the user has not seen, up to ``BADGE_CAP + 1`` (the count stops
    there: the badge needs no more, and the query reads no more rows)."""
    stmt = visible_entries(user).where(AuditEntry.id > last_seen(session, user))
    capped = stmt.order_by(None).with_only_columns(AuditEntry.id).limit(BADGE_CAP + 1)
    return int(session.scalar(sa.select(sa.func.count()).select_from(capped.subquery())) or 0)


def mark_seen(session: Session, user: User, entry_id: int) -> None:
    """Move the user's marker forward to ``entry_id`` (never back), and commit."""
    marker = session.get(AuditSeen, user.id)
    if marker is None:
        session.add(AuditSeen(user_id=user.id, last_entry_id=entry_id, seen_at=utcnow()))
        try:
            session.commit()
            return
        except IntegrityError:  # the same user's other tab got there first
            session.rollback()
            marker = session.get(AuditSeen, user.id)
            assert marker is not None
    if entry_id > marker.last_entry_id:
        marker.last_entry_id = entry_id
        marker.seen_at = utcnow()
    session.commit()


# ------------------------------------------------------------------ reading an entry

# Bookkeeping that every row carries, and a run's documents' digests (the log's proof,
# not words for a reader): not what a reader wants to know changed.
QUIET_FIELDS = frozenset(
    {"id", "version", "created_at", "updated_at", "created_by_id", "problem_sha256", "plan_sha256"}
)
SHOWN_FIELDS = 4
# What a creation is told by first: the rest follow in the entry's own order.
FIRST_FIELDS = ("name", "quantity", "item_id", "location_id", "status", "need_by", "priority")
SHOWN_CHARS = 60


def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | dict):
        text = ", ".join(map(str, value)) if isinstance(value, list) else f"{len(value)} fields"
    else:
        text = str(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def _field(name: str) -> str:
    return name.removesuffix("_id").replace("_", " ")


def _listed(parts: list[str]) -> str:
    shown = "; ".join(parts[:SHOWN_FIELDS])
    more = len(parts) - SHOWN_FIELDS
    return shown + (f"; and {more} more" if more > 0 else "")


def summary(before: Any, after: Any) -> str:
    """What an entry changed, in a line: ``quantity 4000 → 5000; status draft → submitted``."""
    if not isinstance(before, Mapping) or not isinstance(after, Mapping):
        return f"{_value(before)} → {_value(after)}"
    keys = [k for k in dict.fromkeys([*before, *after]) if k not in QUIET_FIELDS]
    changed = [
        f"{_field(k)} {_value(before.get(k))} → {_value(after.get(k))}"
        for k in keys
        if before.get(k) != after.get(k)
    ]
    return _listed(changed) if changed else "no visible change"


def created_summary(after: Mapping[str, Any]) -> str:
    keys = sorted(after, key=lambda k: FIRST_FIELDS.index(k) if k in FIRST_FIELDS else 99)
    parts = [
        f"{_field(k)} {_value(after[k])}"
        for k in keys
        if k not in QUIET_FIELDS and after[k] not in (None, "", [], {})
    ]
    return "created" + (f": {_listed(parts)}" if parts else "")


def describe(entry: Any) -> str:
    """An entry's change in a line: what a creation set, a removal, or what changed."""
    if entry.before is None and entry.after is None:
        return "recorded"
    if entry.before is None and isinstance(entry.after, Mapping):
        return created_summary(entry.after)
    if entry.after is None and entry.before is not None:
        return "removed"
    return summary(entry.before, entry.after)


ENTITY_NAMES = {
    "purchase_order": "purchase order",
    "capacity_group": "capacity group",
    "award_rule": "award rule",
    "agency_budget": "agency budget",
    "delivery_policy": "delivery policy",
    "api_token": "API token",
}


def entity_name(entity_type: str) -> str:
    return ENTITY_NAMES.get(entity_type, entity_type.replace("_", " "))


def entity_link(entity_type: str, entity_id: str, user: User) -> str | None:
    """The page that shows the entity, where there is one the user may open."""
    from urllib.parse import quote

    code = quote(entity_id, safe="")
    pages = {
        "round": f"/rounds/{code}",
        "run": f"/runs/{code}",
        "need": f"/needs/{code}/review",
        "scenario": f"/scenarios/{code}",
        "item": f"/catalogue/items?q={code}",
        "location": f"/catalogue/locations?q={code}",
        "supplier": f"/catalogue/suppliers?q={code}",
    }
    if user.has_role(Role.technical_specialist, Role.admin):
        pages |= {
            "offer": f"/catalogue/offers/{code}/edit",
            "route": f"/catalogue/routes/{code}/edit",
        }
    return pages.get(entity_type)
