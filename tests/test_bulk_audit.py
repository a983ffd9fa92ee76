"""The bulk paths the load work added: ``record_many`` chains exactly as ``record`` does, and a
needs import (``app.exchange.batch.create_needs``: one COPY/INSERT, ``record_many``) stores
and audits each need as a single creation would. Both databases."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.audit.models import AuditEntry
from app.audit.service import record, record_many, snapshot, verify_chain
from app.auth.models import Role
from app.exchange import batch
from app.needs.models import Need, NeedStatus
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
