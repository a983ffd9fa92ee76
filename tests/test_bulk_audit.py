"""The bulk paths the load work added: ``record_many`` chains and stores exactly as ``record``
does, and a needs import (``app.exchange.batch.create_needs``: its quick check of plainly
valid rows, one COPY/INSERT, ``record_many``) accepts, stores and audits each need as a
single creation would. Both databases."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.audit.models import AuditEntry
from app.audit.service import entry_hash, record, record_many, snapshot, to_jsonable, verify_chain
from app.auth.models import Role
from app.db import inserting_columns, utcnow
from app.errors import InvalidInput
from app.exchange import batch
from app.needs import service as needs_service
from app.needs.models import Need, NeedStatus, Priority
from app.needs.schemas import MAX_QUANTITY, MAX_TEXT
from tests.factories import make_agency, make_item, make_location, make_round, make_user

pytestmark = pytest.mark.integration


def test_record_many_continues_the_chain_like_record(session: Session) -> None:
    first = record(session, "test", "thing.create", "thing", 1, None, {"n": 1})
    assert record_many(session, "test", []) == 0
    count = record_many(
        session,
        "test",
        [("thing.update", "thing", 1, {"n": i}, {"n": i + 1, "at": dt.date(2026, 1, i)})
         for i in range(1, 4)],
    )  # fmt: skip
    last = record(session, "test", "thing.delete", "thing", 1, {"n": 4}, None)

    assert count == 3
    entries = session.scalars(
        sa.select(AuditEntry).where(AuditEntry.seq >= first.seq).order_by(AuditEntry.seq)
    ).all()
    assert [e.seq for e in entries] == list(range(first.seq, last.seq + 1))
    assert [e.action for e in entries] == ["thing.create"] + ["thing.update"] * 3 + ["thing.delete"]
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    assert entries[2].after == {"n": 3, "at": "2026-01-02"}
    report = verify_chain(session)
    assert report.ok and report.entries_checked == report.head_seq


def test_an_import_stores_and_audits_each_need_as_a_single_creation(session: Session) -> None:
    agency = make_agency(session)
    officer = make_user(session, Role.local_team, agency=agency)
    item, location, round_ = make_item(session), make_location(session), make_round(session)
    need_by = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    rows = [
        {
            "item_id": item.id,
            "location_id": location.id,
            "quantity": q,
            "need_by": need_by,
            "priority": "high" if q == 20 else "normal",
            "justification": "outbreak at the border" if q == 20 else "",
        }
        for q in (10, 20, 30)
    ]

    ids = batch.create_needs(session, officer, round_.id, rows, [2, 3, 4], submit=True)

    assert len(ids) == 3 and ids == sorted(ids)
    needs = [session.get_one(Need, i, populate_existing=True) for i in ids]
    assert [(n.quantity, n.status, n.agency_id, n.created_by_id) for n in needs] == [
        (q, NeedStatus.submitted, agency.id, officer.id) for q in (10, 20, 30)
    ]
    assert needs[1].justification == "outbreak at the border" and needs[0].submitted_at
    entries = session.scalars(
        sa.select(AuditEntry)
        .where(AuditEntry.action == "need.create", AuditEntry.entity_id.in_([str(i) for i in ids]))
        .order_by(AuditEntry.seq)
    ).all()
    assert [e.entity_id for e in entries] == [str(i) for i in ids]
    for entry, need in zip(entries, needs, strict=True):
        assert entry.before is None
        assert entry.after == snapshot(need)  # what needs_service.create would record
        assert entry.actor_id == officer.id
    report = verify_chain(session)
    assert report.ok and report.entries_checked == report.head_seq


def stored_text(session: Session, entry_id: int) -> str:
    """The ``after`` column as the database holds it (PostgreSQL's json keeps the text)."""
    return str(
        session.scalar(
            sa.select(sa.cast(AuditEntry.after, sa.Text)).where(AuditEntry.id == entry_id)
        )
    )


def test_record_many_stores_and_hashes_what_record_would(session: Session) -> None:
    tricky = ["tab\there", "new\nline", "back\\slash", 'a "quote"', "é€", "\x7f", "%s 100%", ""]
    same_keys = [
        {
            "n": i,
            "text": text,
            "ok": i % 2 == 0,
            "none": None,
            "%k": "v",
            "clé": "same",
            "big": -(10**20),
        }
        for i, text in enumerate(tricky)
    ]
    mixed = [
        {"nested": {"b": [1, 2.5, "x"]}, "money": Decimal("1.10")},
        {"day": dt.date(2026, 1, 2), "priority": Priority.high},
        None,
        {},
    ]
    for afters in (same_keys, mixed):
        first = record(session, "test", "thing.create", "thing", 0, None, afters[0])
        record_many(
            session, "test", [("thing.create", "thing", i, None, a) for i, a in enumerate(afters)]
        )
        entries = session.scalars(
            sa.select(AuditEntry).where(AuditEntry.seq > first.seq).order_by(AuditEntry.seq)
        ).all()
        assert len(entries) == len(afters)
        # The very text record stores (json.dumps of the JSON-able value), read back alike.
        assert stored_text(session, entries[0].id) == stored_text(session, first.id)
        for entry, after in zip(entries, afters, strict=True):
            assert entry.hash == entry_hash(entry) and entry.before is None
            if after is None:
                assert entry.after is None
            else:
                assert entry.after == to_jsonable(after)
                assert stored_text(session, entry.id) == json.dumps(to_jsonable(after))
    report = verify_chain(session)
    assert report.ok and report.entries_checked == report.head_seq


def test_the_quick_check_accepts_only_rows_the_needs_rules_accept_unchanged(
    session: Session,
) -> None:
    """``create_needs`` skips ``validate_create`` for the rows its quick check vouches for:
    for every row it takes, the rules must accept it and give the very same values."""
    item, location = make_item(session), make_location(session)
    retired = make_item(session)
    retired.active = False
    spaced = make_item(session, f" {item.id}-x")
    session.flush()
    today = utcnow().date()
    base: dict[str, Any] = {
        "item_id": item.id,
        "location_id": location.id,
        "quantity": 10,
        "need_by": today + dt.timedelta(days=30),
        "priority": "normal",
        "justification": "",
    }
    variants: dict[str, list[Any]] = {
        "item_id": [item.id, retired.id, spaced.id, f" {item.id}", "ghost", "", None, 5],
        "location_id": [location.id, item.id, f"{location.id} ", None],
        "quantity": [1, MAX_QUANTITY, MAX_QUANTITY + 1, 0, -1, True, 10.0, "10", None],
        "need_by": [
            today - dt.timedelta(days=1),
            today,
            today + dt.timedelta(days=1),
            dt.datetime.combine(today + dt.timedelta(days=9), dt.time()),
            (today + dt.timedelta(days=9)).isoformat(),
            None,
        ],
        "priority": ["critical", "high", "HIGH", "urgent", Priority.high, None, 1],
        "justification": [
            "why",
            " why ",
            "x" * MAX_TEXT,
            "x" * (MAX_TEXT + 1),
            " " * 3,
            "a\ud800b",
            "é\t€\n\\",
            None,
        ],
    }
    rows = [base, {**base, "extra": 1}, {k: v for k, v in base.items() if k != "quantity"}]
    rows += [{**base, field: value} for field, values in variants.items() for value in values]
    rows += [
        {**base, "priority": level, "justification": why}
        for level in ("critical", "high", "normal")
        for why in ("", "because")
    ]
    # Orders placed in five days: a need due tomorrow is refused by both.
    round_ = make_round(session)
    round_.as_of = today + dt.timedelta(days=5)
    plain = batch._PlainNeeds(session, submit=True, order_date=round_.as_of)
    taken = 0
    for row in rows:
        quick = plain.check(row)
        try:
            data = needs_service.validate_create(session, {**row, "submit": True}, round_)
        except InvalidInput:
            assert quick is None, row
            continue
        if quick is not None:
            taken += 1
            ruled = (
                data.item_id,
                data.location_id,
                data.quantity,
                data.need_by,
                data.priority,
                data.justification,
            )
            assert quick == ruled and [type(v) for v in quick] == [type(v) for v in ruled], row
    assert plain.check(base) is not None and taken >= 10
    assert plain.check({**base, "need_by": today + dt.timedelta(days=1)}) is None
    refused = batch._PlainNeeds(session, submit="yes", order_date=None)  # type: ignore[arg-type]
    assert refused.check(base) is None


def test_imported_needs_keep_tabs_newlines_and_backslashes_and_the_snapshot_order(
    session: Session,
) -> None:
    agency = make_agency(session)
    officer = make_user(session, Role.local_team, agency=agency)
    item, location, round_ = make_item(session), make_location(session), make_round(session)
    need_by = dt.date.today() + dt.timedelta(days=30)
    texts = ["a\tb", "line\nbreak\r\n", "back\\slash \\N", "é€ \\."]
    rows = [
        {
            "item_id": item.id,
            "location_id": location.id,
            "quantity": 5,
            "need_by": need_by,
            "priority": "critical",
            "justification": text,
        }
        for text in texts
    ]
    ids = batch.create_needs(session, officer, round_.id, rows, [2, 3, 4, 5], submit=False)
    needs = [session.get_one(Need, i, populate_existing=True) for i in ids]
    # As the needs' rules keep it (stripped: that row went through validate_create).
    assert [n.justification for n in needs] == [t.strip() for t in texts]
    assert all(n.status == NeedStatus.draft and n.submitted_at is None for n in needs)
    single = needs_service.create(
        session, officer, round_.id, {**rows[0], "need_by": need_by.isoformat()}
    )
    entries = session.scalars(
        sa.select(AuditEntry)
        .where(
            AuditEntry.action == "need.create",
            AuditEntry.entity_id.in_([str(i) for i in [*ids, single.id]]),
        )
        .order_by(AuditEntry.seq)
    ).all()

    def keys(entry: AuditEntry) -> list[str]:
        return json.loads(
            stored_text(session, entry.id), object_pairs_hook=lambda p: [k for k, _ in p]
        )

    assert [keys(e) for e in entries[:-1]] == [keys(entries[-1])] * len(ids)
    assert [e.after["justification"] for e in entries[:-1]] == [t.strip() for t in texts]


def test_inserting_columns_hands_back_a_failure_of_the_block_or_of_the_database(
    session: Session,
) -> None:
    """The block runs while PostgreSQL takes the rows (a thread sends them); a failure in
    either reaches the caller, whose transaction then holds none of the rows."""
    officer = make_user(session, Role.local_team, agency=make_agency(session))
    item, location, round_ = make_item(session), make_location(session), make_round(session)
    need = sa.inspect(Need).local_table
    now = utcnow()

    def columns(items: list[str]) -> dict[str, list[Any]]:
        last = session.scalar(sa.select(sa.func.max(Need.id))) or 0
        fixed = {
            "round_id": round_.id,
            "agency_id": officer.agency_id,
            "location_id": location.id,
            "quantity": 1,
            "need_by": now.date(),
            "priority": Priority.normal,
            "justification": "",
            "confirmed_priority": None,
            "status": NeedStatus.draft,
            "created_by_id": officer.id,
            "submitted_at": None,
            "withdrawn_at": None,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        return {
            "id": list(range(last + 1, last + 1 + len(items))),
            "item_id": items,
            **{key: [value] * len(items) for key, value in fixed.items()},
        }

    before = session.scalar(sa.select(sa.func.count()).select_from(Need))
    session.commit()  # a savepoint the failures roll back to
    rows = columns([item.id] * 3000)
    with (
        pytest.raises(RuntimeError, match="in the block"),
        inserting_columns(session.connection(), need, rows),
    ):
        raise RuntimeError("a failure in the block")
    session.rollback()
    assert session.scalar(sa.select(sa.func.count()).select_from(Need)) == before
    rows = columns([item.id] * 2999 + ["ghost"])
    with (
        pytest.raises(Exception, match=r"(?i)foreign key"),
        inserting_columns(session.connection(), need, rows),
    ):
        pass
    session.rollback()
    assert session.scalar(sa.select(sa.func.count()).select_from(Need)) == before
    with inserting_columns(session.connection(), need, columns([item.id] * 3)):
        pass
    assert session.scalar(sa.select(sa.func.count()).select_from(Need)) == before + 3
