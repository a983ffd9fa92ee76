"""Freezing a round into a contract-v2 problem document.

The document is the whole truth of a run: the plan is solved from it, re-runs
start from it, and anyone can re-solve it (``poolbuy solve``) to check the
stored plan. So it is plain JSON (no Decimal, no date objects), its lists are
in a fixed order, and its settings are written out in full, resolved from the
round's and capped by the service, rather than left to defaults.

Needs appear as ``"n-<need id>"``, offers as ``"o-<offer id>"`` (the
catalogue's convention); ``need_ref`` / ``need_id_of`` convert.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from app.catalogue.service import OFFER_ID_PREFIX, catalogue_document_parts
from app.errors import DomainError, FieldIssue, InvalidInput
from app.needs.models import Need
from app.needs.service import submitted_needs
from app.rounds.models import Round
from app.rounds.schemas import ROUND_DEFAULT_SETTINGS
from app.solve.service import contract_issues
from app.sourcing import service as sourcing_service
from solver import ProblemInvalid, validate

log = logging.getLogger("poolbuy.runs")

NEED_PREFIX = "n-"


def need_ref(need_id: int) -> str:
    """A need's id in a problem document."""
    return f"{NEED_PREFIX}{need_id}"


def need_id_of(ref: str) -> int | None:
    """The database id behind a problem document's need id (None if not one of ours)."""
    if not ref.startswith(NEED_PREFIX):
        return None
    try:
        return int(ref[len(NEED_PREFIX) :])
    except ValueError:
        return None


class SnapshotInvalid(DomainError):
    """The round's data cannot be turned into a valid document: a bug or bad round settings.

    409, not 500: nothing was changed (the round stays open), and the listed
    problems say what to fix, e.g. a round setting out of range.
    """

    def __init__(self, errors: list[FieldIssue], blocking_needs: Sequence[int] = ()) -> None:
        detail = (
            "the round's needs, catalogue and settings do not make a valid problem document "
            "(contract v2); the round was not closed. Every problem is listed"
        )
        if blocking_needs:
            ids = ", ".join(str(n) for n in blocking_needs)
            detail += (
                f". Blocked by need {ids}: its agency may correct it, or a coordinator may set "
                "it aside (POST /api/v1/needs/{id}/set-aside)"
            )
        super().__init__(409, "Snapshot invalid", detail, errors)
        self.blocking_needs = list(blocking_needs)


def closing_day(round_: Round, closed_at: dt.datetime) -> dt.date:
    """The problem's ``as_of``: the round's own, else the day it closes.

    That day is taken in the round's time zone when it has one (a round closed
    in Panama at 20:00 closes that day, not the next UTC day), else in UTC.
    """
    if round_.as_of is not None:
        return round_.as_of
    zone: dt.tzinfo = dt.UTC
    if round_.schedule_timezone:
        try:
            zone = ZoneInfo(round_.schedule_timezone)
        except (ZoneInfoNotFoundError, ValueError):
            log.warning("round %s: unknown time zone %r", round_.id, round_.schedule_timezone)
    return closed_at.astimezone(zone).date()


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"cannot put {type(value).__name__} in a problem document")


def to_json_document(document: Mapping[str, Any]) -> dict[str, Any]:
    """The document as it will be stored: a round trip through JSON text."""
    result: dict[str, Any] = json.loads(json.dumps(document, default=_plain, allow_nan=False))
    return result


def resolve_settings(
    base: Mapping[str, Any] | None,
    overrides: Mapping[str, Any] | None = None,
    *,
    max_time_limit_seconds: float | None = None,
) -> dict[str, Any]:
    """Contract-v1 settings written out in full: ``base``, then ``overrides``, capped.

    Priority weights merge key by key, as the contract merges a partial set.
    Raises InvalidInput (paths under ``$.settings``) for values the contract refuses.
    """
    merged: dict[str, Any] = dict(base or {})
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key == "priority_weights" and isinstance(value, Mapping):
            weights = dict(merged.get("priority_weights") or {})
            weights.update({k: v for k, v in value.items() if v is not None})
            merged[key] = weights
        else:
            merged[key] = value
    probe = {"as_of": "2000-01-01", "currency": "USD", "settings": merged}
    try:
        settings = validate(probe).settings
    except ProblemInvalid as exc:
        raise InvalidInput(contract_issues(probe, exc)) from None
    resolved: dict[str, Any] = settings.model_dump(mode="json")
    if max_time_limit_seconds is not None:
        resolved["time_limit_seconds"] = min(resolved["time_limit_seconds"], max_time_limit_seconds)
    return resolved


def _need_line(need: Need) -> dict[str, Any]:
    return {
        "id": need_ref(need.id),
        "agency": need.agency_id,
        "item": need.item_id,
        "location": need.location_id,
        "quantity": need.quantity,
        "need_by": need.need_by.isoformat(),
        # The priority a specialist confirmed, when one did: the evidence wins.
        "priority": need.effective_priority.value,
    }


def build_document(
    session: Session,
    round_: Round,
    as_of: dt.date,
    *,
    max_time_limit_seconds: float | None = None,
    lead_times: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The round's needs, the catalogue valid on ``as_of`` and its sourcing, as contract v2.

    ``lead_times``: offer id (``"o-12"``) -> the lead time to use instead of the
    catalogue's (the close passes the decided lead-time adjustments of the round).

    Call it with the round locked, so no need is submitted or edited while it
    is read. Catalogue parts are kept to what the needs reference: their items
    and locations, the offers of those items valid on ``as_of``, the suppliers
    of those offers, and those suppliers' routes to the needs' locations; the
    sourcing parts (budgets, exclusions, capacity groups, rules) likewise
    (``app.sourcing.service.document_parts``).
    Raises SnapshotInvalid if the result breaks the contract.
    """
    lead_times = lead_times or {}
    needs = sorted(submitted_needs(session, round_.id), key=lambda n: n.id)
    item_ids = sorted({n.item_id for n in needs})
    location_ids = {n.location_id for n in needs}
    agencies = {n.agency_id: n.agency.name for n in needs}
    # Eligibility cut to the agencies in the document: it may name only those.
    parts = catalogue_document_parts(session, as_of, item_ids=item_ids, agency_ids=sorted(agencies))

    # Items and locations come from the needs themselves, so a need whose item
    # the catalogue has since retired still finds it (and is reported unmet).
    items = {i["id"]: i for i in parts.get("items", []) if i["id"] in item_ids}
    for n in needs:
        items.setdefault(
            n.item_id,
            {
                "id": n.item.id,
                "name": n.item.name,
                "unit": n.item.unit,
                "category": n.item.category,
            },
        )
    locations = {loc["id"]: loc for loc in parts.get("locations", []) if loc["id"] in location_ids}
    for n in needs:
        locations.setdefault(n.location_id, {"id": n.location.id, "name": n.location.name})

    offers = [
        {**o, "lead_time_days": lead_times[o["id"]]} if o["id"] in lead_times else o
        for o in parts.get("offers", [])
        if o["item"] in items
    ]
    supplier_ids = {o["supplier"] for o in offers}
    suppliers = [s for s in parts.get("suppliers", []) if s["id"] in supplier_ids]
    routes = [
        r
        for r in parts.get("routes", [])
        if r["supplier"] in supplier_ids and r["location"] in location_ids
    ]

    sourcing = sourcing_service.document_parts(
        session,
        round_.id,
        agency_ids=agencies,
        offer_ids={int(o["id"].removeprefix(OFFER_ID_PREFIX)): o["id"] for o in offers},
        supplier_ids=supplier_ids,
        item_ids=items,
        location_ids=location_ids,
    )
    document = to_json_document(
        {
            "version": 2,
            "as_of": as_of,
            "currency": round_.currency,
            "agencies": [
                {
                    "id": a,
                    "name": agencies[a],
                    "budget": sourcing["budgets"].get(a),
                    "excluded_suppliers": sourcing["excluded_suppliers"][a],
                }
                for a in sorted(agencies)
            ],
            "items": [items[i] for i in sorted(items)],
            "locations": [locations[loc] for loc in sorted(locations)],
            "suppliers": sorted([*suppliers, *sourcing["suppliers"]], key=lambda s: s["id"]),
            "needs": [_need_line(n) for n in needs],
            "offers": sorted(offers, key=_offer_order),
            "routes": sorted(routes, key=lambda r: (r["supplier"], r["location"])),
            "capacity_groups": sourcing["capacity_groups"],
            "rules": sourcing["rules"],
            "settings": {},
        }
    )
    try:
        # Rounds check fairness unless their coordinator turned it off.
        document["settings"] = resolve_settings(
            {**ROUND_DEFAULT_SETTINGS, **round_.settings},
            max_time_limit_seconds=max_time_limit_seconds,
        )
    except InvalidInput as exc:
        raise SnapshotInvalid(exc.errors) from None
    check_document(document)
    return document


def _offer_order(offer: Mapping[str, Any]) -> tuple[int, str]:
    # "o-12" after "o-9": by number where the id has one.
    ref = str(offer["id"])
    tail = ref.rsplit("-", 1)[-1]
    return (int(tail) if tail.isdigit() else -1, ref)


_NEED_PATH = re.compile(r"^\$\.needs\[(\d+)\]")


def check_document(document: Mapping[str, Any]) -> None:
    """Raise SnapshotInvalid, listing every problem, unless the document is contract v2.

    A problem with one of the needs names that need (its database id), in its reason and
    in the error's ``blocking_needs``: the coordinator can set that need aside.
    """
    try:
        validate(document)
    except ProblemInvalid as exc:
        log.error("snapshot breaks contract v2: %s", [e.as_dict() for e in exc.errors])
        issues, blocking = [], []
        lines = document.get("needs", [])
        for error in contract_issues(document, exc):
            match = _NEED_PATH.match(error.path)
            index = int(match.group(1)) if match else -1
            ref = lines[index].get("id") if 0 <= index < len(lines) else None
            need_id = need_id_of(ref) if isinstance(ref, str) else None
            if need_id is None:
                issues.append(FieldIssue(error.path, error.reason))
                continue
            agency = lines[index].get("agency")
            issues.append(FieldIssue(error.path, f"need {need_id} of {agency}: {error.reason}"))
            if need_id not in blocking:
                blocking.append(need_id)
        raise SnapshotInvalid(issues, blocking) from None
