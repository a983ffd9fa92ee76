"""The audit log: a hash chain that verifies, shows tampering, joins the caller's transaction."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from decimal import Decimal

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.audit import record, snapshot, to_jsonable, verify_chain
from app.audit.models import GENESIS_HASH, AuditChainHead, AuditEntry
from app.auth.models import Role
from app.db import utcnow
from app.needs.models import Priority
from tests.factories import make_agency, make_offer, make_user, make_user_and_token

pytestmark = pytest.mark.integration

Headers = Callable[[str], dict[str, str]]


def _entries(session: Session) -> list[AuditEntry]:
    return list(session.scalars(sa.select(AuditEntry).order_by(AuditEntry.seq)))


def _head(session: Session) -> tuple[int, str]:
    head = session.get_one(AuditChainHead, 1, populate_existing=True)
    return head.seq, head.hash


def _record_three(session: Session) -> list[AuditEntry]:
    actor = make_user(session, Role.coordinator)
    agency = make_agency(session)
    before = snapshot(agency)
    agency.name = "Renamed"
    session.flush()
    return [
        record(session, actor, "agency.create", "agency", agency.id, None, before),
        record(session, actor, "agency.update", "agency", agency.id, before, snapshot(agency)),
        record(
            session,
            "scheduler",
            "round.close",
            "round",
            7,
            {"status": "open"},
            {"status": "closed"},
        ),
    ]


def test_entries_chain_and_verify(session: Session) -> None:
    start_seq, start_hash = _head(session)
    entries = _record_three(session)
    assert [e.seq for e in entries] == [start_seq + 1, start_seq + 2, start_seq + 3]
    assert entries[0].prev_hash == start_hash
    assert entries[1].prev_hash == entries[0].hash
    assert entries[2].prev_hash == entries[1].hash
    assert _head(session) == (entries[2].seq, entries[2].hash)
    assert entries[2].actor_id is None and entries[2].actor_name == "scheduler"
    assert entries[1].before["name"] != entries[1].after["name"]

    report = verify_chain(session)
    assert report.ok, report
    assert report.entries_checked == report.head_seq == entries[2].seq


def test_the_first_entry_follows_genesis(session: Session) -> None:
    first = session.scalar(sa.select(AuditEntry).where(AuditEntry.seq == 1))
    if first is None:
        first = _record_three(session)[0]
    assert first.seq == 1 and first.prev_hash == GENESIS_HASH


def test_editing_an_entry_in_sql_is_detected(session: Session) -> None:
    entries = _record_three(session)
    target = entries[1]
    # A bare UPDATE, as someone with database access would do.
    session.execute(
        sa.text("UPDATE audit_entry SET after = :after WHERE id = :id"),
        {"after": '{"name": "Forged"}', "id": target.id},
    )
    session.expire_all()
    report = verify_chain(session)
    assert not report.ok
    assert report.first_broken_seq == target.seq
    assert report.first_broken_id == target.id
    assert "altered" in (report.reason or "")


def test_rewriting_an_entry_and_its_hash_breaks_the_next_link(session: Session) -> None:
    entries = _record_three(session)
    session.execute(
        sa.text("UPDATE audit_entry SET actor_name = 'someone-else', hash = :h WHERE id = :id"),
        {"h": "f" * 64, "id": entries[0].id},
    )
    session.expire_all()
    report = verify_chain(session)
    assert not report.ok and report.first_broken_seq == entries[0].seq


def test_removing_entries_is_detected(session: Session) -> None:
    entries = _record_three(session)
    seqs = [e.seq for e in entries]
    session.execute(sa.text("DELETE FROM audit_entry WHERE id = :id"), {"id": entries[1].id})
    session.expire_all()
    report = verify_chain(session)
    assert not report.ok and report.first_broken_seq == seqs[2]
    assert "missing" in (report.reason or "")

    session.execute(sa.text("DELETE FROM audit_entry WHERE seq >= :s"), {"s": seqs[1]})
    session.expire_all()
    report = verify_chain(session)
    assert not report.ok and "removed" in (report.reason or "")


def test_entries_roll_back_with_the_callers_transaction(session: Session) -> None:
    session.commit()
    head_before = _head(session)
    count_before = session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))

    actor = make_user(session, Role.admin)
    record(session, actor, "user.create", "user", actor.id, None, snapshot(actor))
    assert _head(session)[0] == head_before[0] + 1
    session.rollback()  # the service failed after recording: nothing of it remains

    assert _head(session) == head_before
    assert session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == count_before
    assert verify_chain(session).ok


def test_record_never_commits(session: Session) -> None:
    session.commit()
    record(session, None, "noop", "thing", 1)
    assert session.in_transaction()
    session.rollback()
    assert session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "noop")) is None


def test_values_are_stored_exactly_as_hashed() -> None:
    moment = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert to_jsonable(
        {
            "price": Decimal("1.200000"),
            "at": moment,
            "day": dt.date(2026, 12, 1),
            "priority": Priority.critical,
            "tags": ("a", "b"),
            1: None,
        }
    ) == {
        "price": "1.200000",
        "at": "2026-11-28T17:00:00+00:00",
        "day": "2026-12-01",
        "priority": "critical",
        "tags": ["a", "b"],
        "1": None,
    }
    with pytest.raises(ValueError):
        to_jsonable(float("nan"))
    with pytest.raises(ValueError):
        to_jsonable(dt.datetime(2026, 1, 1))


def test_awkward_values_survive_the_round_trip(session: Session) -> None:
    offer = make_offer(session, tiers=[(0, "1.2345"), (10_000, "0.9999")], eligible=[])
    after = {
        **snapshot(offer),
        "ratio": 0.1 + 0.2,
        "big": 2**62,
        "text": 'Darién — niños \u00e9\u0301 "quoted" \\ back',
        "nested": {"b": [1, 2.5, None, True], "a": {}},
    }
    record(session, None, "offer.create", "offer", offer.id, None, after)
    session.expire_all()
    assert verify_chain(session).ok


def test_concurrent_writers_never_fork_the_chain(isolated_engine: sa.Engine) -> None:
    # Real commits from several connections at once (without the chain-head
    # lock, PostgreSQL writers would all append after the same entry).
    engine = isolated_engine
    writers, per_writer = 6, 5
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_writer):
                with Session(engine) as s:
                    record(s, f"writer-{n}", "test.write", "thing", f"{n}-{i}", None, {"i": i})
                    s.commit()
        except BaseException as exc:  # reported below, from the main thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Session(engine) as s:
        report = verify_chain(s)
        assert report.ok, report
        assert report.entries_checked == writers * per_writer


# --------------------------------------------------------------------------- API


def test_the_log_is_listed_newest_first_with_filters(
    client: TestClient, session: Session, auth_headers: Headers
) -> None:
    _, token = make_user_and_token(session, Role.coordinator)
    entries = _record_three(session)
    agency_id = entries[0].entity_id
    headers = auth_headers(token)

    response = client.get(
        "/api/v1/audit", params={"entity_type": "agency", "entity_id": agency_id}, headers=headers
    )
    assert response.status_code == 200, response.text
    page = response.json()
    assert [e["seq"] for e in page["items"]] == [entries[1].seq, entries[0].seq]
    assert page["total"] == 2 and page["next_offset"] is None
    assert page["items"][0]["before"]["name"] != page["items"][0]["after"]["name"]

    by_actor = client.get(
        "/api/v1/audit", params={"actor_id": entries[0].actor_id}, headers=headers
    ).json()
    assert {e["seq"] for e in by_actor["items"]} == {entries[0].seq, entries[1].seq}

    future = (utcnow() + dt.timedelta(hours=1)).isoformat()
    assert (
        client.get("/api/v1/audit", params={"since": future}, headers=headers).json()["total"] == 0
    )
    recent = client.get(
        "/api/v1/audit",
        params={"since": entries[0].occurred_at.isoformat(), "action": "round.close"},
        headers=headers,
    ).json()
    assert [e["seq"] for e in recent["items"]] == [entries[2].seq]

    paged = client.get("/api/v1/audit", params={"limit": 1}, headers=headers).json()
    assert len(paged["items"]) == 1 and paged["next_offset"] == 1


def test_verify_over_the_api_reports_tampering(
    client: TestClient, session: Session, auth_headers: Headers
) -> None:
    _, token = make_user_and_token(session, Role.admin)
    entries = _record_three(session)
    assert client.get("/api/v1/audit/verify", headers=auth_headers(token)).json()["ok"] is True

    session.execute(
        sa.text("UPDATE audit_entry SET entity_id = 'other' WHERE id = :id"), {"id": entries[2].id}
    )
    session.expire_all()
    report = client.get("/api/v1/audit/verify", headers=auth_headers(token)).json()
    assert report["ok"] is False
    assert report["first_broken_seq"] == entries[2].seq


def test_changes_through_the_api_are_audited(
    client: TestClient, session: Session, auth_headers: Headers
) -> None:
    admin, token = make_user_and_token(session, Role.admin)
    client.post(
        "/api/v1/agencies", json={"id": "UNFPA", "name": "UNFPA"}, headers=auth_headers(token)
    )
    entry = session.scalars(
        sa.select(AuditEntry).where(
            AuditEntry.entity_type == "agency", AuditEntry.entity_id == "UNFPA"
        )
    ).one()
    assert entry.action == "agency.create"
    assert entry.actor_id == admin.id and entry.actor_name == admin.email
    assert entry.before is None and entry.after["name"] == "UNFPA"
