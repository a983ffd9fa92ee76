"""Many needs, offers, routes or award rules made in the caller's transaction: all, or none.

The domain services (``app.needs.service``, ``app.catalogue.service``) create one
row per call and commit it; a spreadsheet import must not leave half a file in the
database when row 900 turns out bad. These functions run the owners' own rules on
every row first (``needs_service.validate_create``, ``catalogue_service.offer_issues``,
``route_issues``, ``require_may_manage_offer``), collect every problem with the row
it came from, and only when there is none add the rows, flush and record one
audit entry per row, exactly as the single-row service would. They never commit:
``app.exchange.service`` commits once, after the idempotent response is stored.

Needs come in files of up to 100,000 rows, so ``create_needs`` takes the rows the
needs' rules plainly accept without running them row by row (``_PlainNeeds``; any
other row still goes through ``validate_create``), inserts them in one COPY or
executemany and appends their audit entries as ``record_many`` does.

Problems carry the sheet position as their path (``row 5, quantity``), the form
``app.exchange.table.ParseError.path`` gives the parser's own findings, so one 422
reads the same whichever check found the problem.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, cast

import sqlalchemy as sa
from pydantic import BaseModel, ValidationError
from sqlalchemy.dialects.postgresql import REGCLASS
from sqlalchemy.orm import Session

from app.api import API_PREFIX
from app.audit.service import append_entries, prepare_entries, to_jsonable
from app.auth.models import Role, User
from app.catalogue import service as catalogue_service
from app.catalogue.models import Item, Location, Offer, Route
from app.catalogue.schemas import OfferCreate, RouteCreate
from app.db import inserting_columns, utcnow
from app.errors import DomainError, FieldIssue, Forbidden, InvalidInput, field_issues
from app.needs import service as needs_service
from app.needs.models import Need, Priority
from app.needs.schemas import (
    LATEST_NEED_BY,
    MAX_QUANTITY,
    MAX_TEXT,
    PRIORITIES_NEEDING_JUSTIFICATION,
)
from app.rounds.service import ensure_open, lock_round
from app.sourcing import service as sourcing_service
from app.sourcing.models import AwardRule
from app.sourcing.schemas import AwardRuleCreate

# Field of the service's schema -> the template's column, so a problem the service
# finds is shown under the header the person typed it in.
NEED_COLUMNS = {"item_id": "item", "location_id": "location"}
OFFER_COLUMNS = {
    "supplier_id": "supplier",
    "item_id": "item",
    "reference": "offer_id",
    "eligible_agencies": "eligible_agencies",
}
ROUTE_COLUMNS = {"supplier_id": "supplier", "location_id": "location"}


def row_path(number: int, path: str, columns: Mapping[str, str]) -> str:
    """``$.item_id`` of sheet row 7 -> ``row 7, item``; ``$.price_tiers[1].unit_price``
    -> ``row 7, tier2_unit_price``; ``$`` -> ``row 7``."""
    field = path.removeprefix("$").lstrip(".")
    if not field:
        return f"row {number}"
    if field.startswith("price_tiers["):
        index, _, rest = field.removeprefix("price_tiers[").partition("]")
        name = rest.lstrip(".") or "min_quantity"
        if index.isdigit():
            return f"row {number}, tier{int(index) + 1}_{name}"
    head = field.split(".", 1)[0].split("[", 1)[0]
    return f"row {number}, {columns.get(head, head)}"


def _at_rows(
    number: int, issues: Sequence[FieldIssue], columns: Mapping[str, str]
) -> list[FieldIssue]:
    return [FieldIssue(row_path(number, i.path, columns), i.reason) for i in issues]


def _refuse_if(issues: list[FieldIssue], what: str, duplicates: int = 0) -> None:
    """422 listing every problem; 409 when all there is are rows already stored.

    A single create of an offer or route that exists is a conflict (409); a file
    whose only fault is such rows gets the same answer, with its rows listed.
    """
    if issues and len(issues) == duplicates:
        raise DomainError(
            409,
            "Conflict",
            f"{duplicates} row{'s' if duplicates != 1 else ''} already in the catalogue; "
            f"no {what} were imported",
            issues,
        )
    if issues:
        unique = list(dict.fromkeys((i.path, i.reason) for i in issues))
        rows = {p.split(",", 1)[0] for p, _ in unique if p.startswith("row ")}
        raise InvalidInput(
            [FieldIssue(p, r) for p, r in unique],
            detail=f"{len(unique)} problem{'s' if len(unique) != 1 else ''} in "
            f"{len(rows)} row{'s' if len(rows) != 1 else ''}; no {what} were imported",
        )


def _accepted_rows[M: BaseModel](
    session: Session,
    rows: Sequence[Mapping[str, Any]],
    row_numbers: Sequence[int],
    schema: type[M],
    owner_issues: Callable[[Session, Mapping[str, Any]], list[FieldIssue]],
    columns: Mapping[str, str],
    what: str,
    *,
    refusals: Callable[[M], list[FieldIssue]] | None = None,
    stored: Callable[[M], FieldIssue | None] | None = None,
) -> list[M]:
    """Every row as ``schema``, or ``_refuse_if`` with every problem at its row.

    A row's problems are, in this order: the schema's (when it refuses the row), the
    owning service's (``owner_issues``), then for a row the schema takes, ``refusals``
    and ``stored`` (the row that already exists, counted for ``_refuse_if``'s 409).
    """
    issues: list[FieldIssue] = []
    duplicates = 0
    accepted: list[M] = []
    for number, row in zip(row_numbers, rows, strict=True):
        row_issues = owner_issues(session, row)
        try:
            data = schema.model_validate(row)
        except ValidationError as exc:
            found = field_issues(exc.errors(include_url=False))
            issues += _at_rows(number, found + row_issues, columns)
            continue
        if refusals is not None:
            row_issues += refusals(data)
        existing = stored(data) if stored is not None else None
        if existing is not None:
            duplicates += 1
            row_issues.append(existing)
        issues += _at_rows(number, row_issues, columns)
        accepted.append(data)
    _refuse_if(issues, what, duplicates)
    return accepted


# ----------------------------------------------------------------------------- needs


def create_needs(
    session: Session,
    actor: User,
    round_id: int,
    rows: Sequence[Mapping[str, Any]],
    row_numbers: Sequence[int],
    *,
    submit: bool,
) -> list[int]:
    """Needs of ``actor``'s agency in an open round, one per row; drafts unless ``submit``.
    Returns their ids, in the rows' order.

    Takes the round lock first, as every need write does, so the rows land in the
    round before it closes or the whole file is refused with 409.
    """
    if not actor.has_role(Role.local_team) or actor.agency_id is None:
        raise Forbidden("only a local team member of an agency imports needs")
    round_ = lock_round(session, round_id)
    ensure_open(round_)
    plain = _PlainNeeds(session, submit, round_.as_of)
    issues: list[FieldIssue] = []
    accepted: list[tuple[str, str, int, dt.date, Priority, str]] = []
    catalogue: list[Any] | None = None
    for number, row in zip(row_numbers, rows, strict=True):
        checked = plain.check(row)
        if checked is None:
            if catalogue is None:
                # Held for the loop: the rules look items and locations up by id, and with
                # every one in the identity map that is a dictionary look-up, not 2 queries.
                catalogue = [
                    *session.scalars(sa.select(Item)),
                    *session.scalars(sa.select(Location)),
                ]
            try:
                data = needs_service.validate_create(session, {**row, "submit": submit}, round_)
            except InvalidInput as exc:
                issues += _at_rows(number, exc.errors, NEED_COLUMNS)
                continue
            checked = tuple(getattr(data, name) for name in needs_service.BODY_COLUMNS)
        accepted.append(checked)
    _refuse_if(issues, "needs")
    del catalogue
    if not accepted:
        return []

    # The rows as needs_service.create would store them, in one COPY (PostgreSQL) or one
    # executemany, and their audit entries (the ``snapshot`` each would get) in one go.
    need = cast(sa.Table, Need.__table__)
    count = len(accepted)
    ids = _new_ids(session, need, count)
    fixed = needs_service.new_need_columns(round_.id, actor, submit=submit, now=utcnow())
    fields = needs_service.BODY_COLUMNS
    columns: dict[str, Sequence[Any]] = {
        "id": ids,
        **dict(zip(fields, zip(*accepted, strict=True), strict=True)),
        **{key: [value] * count for key, value in fixed.items()},
    }
    assert set(columns) == set(need.columns.keys()), "a column of need is not set"
    dialect = session.get_bind().dialect
    with inserting_columns(session.connection(), need, columns):
        # While the database inserts, checks and indexes the needs (most of an import's
        # time), their audit entries are made ready here; then they are appended. Nothing
        # in this block may query (the actor's columns were loaded above, for ``fixed``).
        entries = prepare_entries(actor, _need_entries(columns, fixed), dialect)
    append_entries(session, entries)
    return ids


def _new_ids(session: Session, table: sa.Table, count: int) -> list[int]:
    """Ids for ``count`` new rows of ``table``, ascending, as inserting them one by one
    would give; the rows are then inserted with their ids (no RETURNING: in parameter
    order it costs the driver more than the insert itself)."""
    if session.get_bind().dialect.name == "postgresql":
        # One array rather than a row per id (fetching 100,000 rows costs more than
        # drawing them), and the sequence named once, not looked up for every id.
        sequence = session.scalar(sa.select(sa.func.pg_get_serial_sequence(table.name, "id")))
        drawn = session.scalar(
            sa.select(sa.func.array_agg(sa.func.nextval(sa.cast(sequence, REGCLASS)))).select_from(
                sa.func.generate_series(1, count)
            )
        )
        return sorted(drawn or ())
    # SQLite gives a new row the largest id plus one (the ids are not AUTOINCREMENT), and
    # this transaction holds the database's write lock since its BEGIN IMMEDIATE (app.db):
    # nobody else inserts until it commits.
    last = session.scalar(sa.select(sa.func.max(table.c.id))) or 0
    return list(range(last + 1, last + 1 + count))


def _need_entries(
    columns: Mapping[str, Sequence[Any]], fixed: Mapping[str, Any]
) -> Iterator[tuple[str, str, int, None, dict[str, Any]]]:
    """``need.create`` entries, each ``after`` what ``snapshot(need)`` gives a single
    creation: every column in the mapper's order, as JSON (dates ISO, enums their value,
    plain ``str`` and ``int`` so that ``record_many`` takes its quick way). What all the
    file's needs share (``fixed``) is converted once."""
    plain = {k: v.value if isinstance(v, enum.Enum) else v for k, v in to_jsonable(fixed).items()}
    template = {attr.key: plain.get(attr.key) for attr in sa.inspect(Need).column_attrs}
    days = {day: day.isoformat() for day in set(columns["need_by"])}
    for need_id, item_id, location_id, quantity, need_by, priority, justification in zip(
        columns["id"],
        columns["item_id"],
        columns["location_id"],
        columns["quantity"],
        columns["need_by"],
        columns["priority"],
        columns["justification"],
        strict=True,
    ):
        after = template.copy()
        after["id"] = need_id
        after["item_id"] = item_id
        after["location_id"] = location_id
        after["quantity"] = quantity
        after["need_by"] = days[need_by]
        after["priority"] = priority.value
        after["justification"] = justification
        yield "need.create", "need", need_id, None, after


class _PlainNeeds:
    """Tells the rows the needs service's rules plainly accept, without running them.

    ``needs_service.validate_create`` builds a ``NeedCreate`` and looks the item and the
    location up, for every row: a large part of a 100,000-row import. A parsed row is
    typed already; when each value has the exact type and lies within ``NeedCreate``'s
    bounds, the item and the location are active, and a critical or high need has a
    justification, those rules accept the row as it is. ``check`` gives None for any
    other row, which then goes through ``validate_create`` itself, so every refusal
    reads as it always did (tests/test_bulk_audit.py checks that the two agree).
    """

    def __init__(self, session: Session, submit: bool, order_date: dt.date | None) -> None:
        self.items = _active_codes(session, Item)
        self.locations = _active_codes(session, Location)
        # Strictly after today (UTC, NeedCreate's "not in the past"): a need due today is
        # left to the rules, which may run after midnight.
        self.today = utcnow().date()
        # Not before the round's order date (``needs_service.need_by_issues``).
        self.order_date = order_date or self.today
        self.usable = type(submit) is bool  # NeedCreate's StrictBool

    def check(self, row: Mapping[str, Any]) -> tuple[str, str, int, dt.date, Priority, str] | None:
        if not self.usable or row.keys() != _NEED_FIELDS:
            return None
        item, location = row["item_id"], row["location_id"]
        quantity, need_by = row["quantity"], row["need_by"]
        priority, justification = row["priority"], row["justification"]
        level = _PRIORITIES.get(priority) if type(priority) is str else None
        if (
            level is None
            or type(item) is not str
            or item not in self.items
            or type(location) is not str
            or location not in self.locations
            or type(quantity) is not int
            or not 0 < quantity <= MAX_QUANTITY
            or type(need_by) is not dt.date
            or not self.today < need_by <= LATEST_NEED_BY
            or need_by < self.order_date
            or not _plain_text(justification)
            or (level in PRIORITIES_NEEDING_JUSTIFICATION and not justification)
        ):
            return None
        return item, location, quantity, need_by, level, justification


_NEED_FIELDS = frozenset(
    {"item_id", "location_id", "quantity", "need_by", "priority", "justification"}
)
_PRIORITIES = {level.value: level for level in Priority}
_CODE_MAX = 64  # NeedCreate's Code


def _plain_text(value: Any) -> bool:
    """A str NeedCreate keeps as it is: stripped already, not too long, valid Unicode."""
    if type(value) is not str or len(value) > MAX_TEXT or value != value.strip():
        return False
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:  # a lone surrogate, which pydantic refuses
        return False
    return True


def _active_codes(session: Session, model: type[Item] | type[Location]) -> frozenset[str]:
    """Ids of the active rows that NeedCreate's Code takes as they are."""
    return frozenset(
        code
        for code in session.scalars(sa.select(model.id).where(model.active))
        if 0 < len(code) <= _CODE_MAX and _plain_text(code)
    )


# ---------------------------------------------------------------------------- offers


def create_offers(
    session: Session,
    actor: User,
    rows: Sequence[Mapping[str, Any]],
    row_numbers: Sequence[int],
) -> list[Offer]:
    """Offers with their tiers, one per row.

    Besides the catalogue's rules, a row whose supplier already has an offer with
    the same reference is refused: uploading a file twice must not double every
    offer (change an offer through the API instead).
    """

    def refusals(data: OfferCreate) -> list[FieldIssue]:
        if catalogue_service.may_manage_offer(actor, data.owner_agency_id):
            return []
        return [FieldIssue("$.owner_agency_id", "only that agency's specialists may add it")]

    def stored(data: OfferCreate) -> FieldIssue | None:
        if data.reference is None:
            return None
        existing = session.scalar(
            sa.select(Offer.id).where(
                Offer.supplier_id == data.supplier_id, Offer.reference == data.reference
            )
        )
        if existing is None:
            return None
        return FieldIssue(
            "$.reference",
            f"{data.supplier_id} already has offer {existing} with this reference "
            f"({API_PREFIX}/offers/{existing}); change that one instead",
        )

    accepted = _accepted_rows(
        session,
        rows,
        row_numbers,
        OfferCreate,
        catalogue_service.offer_issues,
        OFFER_COLUMNS,
        "offers",
        refusals=refusals,
        stored=stored,
    )

    return catalogue_service.add_offers(session, actor, accepted)


# ---------------------------------------------------------------------------- routes


def create_routes(
    session: Session,
    actor: User,
    rows: Sequence[Mapping[str, Any]],
    row_numbers: Sequence[int],
) -> list[Route]:
    """Routes, one per row; a pair that already has a route is refused at its row."""

    def stored(data: RouteCreate) -> FieldIssue | None:
        existing = catalogue_service.route_between(session, data.supplier_id, data.location_id)
        if existing is None:
            return None
        return FieldIssue(
            "$.location_id",
            f"a route from {data.supplier_id} to {data.location_id} already exists "
            f"({catalogue_service.route_url(existing)}); change that one instead",
        )

    accepted = _accepted_rows(
        session,
        rows,
        row_numbers,
        RouteCreate,
        catalogue_service.route_issues,
        ROUTE_COLUMNS,
        "routes",
        stored=stored,
    )

    return catalogue_service.add_routes(session, actor, accepted)


# ----------------------------------------------------------------------- award rules

RULE_COLUMNS = {"item_id": "item", "location_id": "location", "supplier_id": "supplier"}


def create_rules(
    session: Session,
    actor: User,
    rows: Sequence[Mapping[str, Any]],
    row_numbers: Sequence[int],
) -> list[AwardRule]:
    """Award rules, one per row, each through the sourcing service's one core write.

    Every row is checked first (the schema and ``rule_issues``), so a file with a
    bad row writes nothing and lists every problem at its row.
    """
    accepted = _accepted_rows(
        session,
        rows,
        row_numbers,
        AwardRuleCreate,
        sourcing_service.rule_issues,
        RULE_COLUMNS,
        "rules",
    )
    return [sourcing_service.add_rule(session, actor, data) for data in accepted]
