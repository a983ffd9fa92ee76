"""Round schedules: set and read through the API, fired once at the deadline, caught up, recurring.

Firing is tested on a database of its own (real commits): the sweeper and
several concurrent firers open sessions of their own, as the API replicas and
workers do. Jobs the firing queues go to a recording backend; the scale-out
test (test_scaleout.py) shows real workers solving them.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.audit.models import AuditEntry
from app.auth.models import Role
from app.db import utcnow
from app.jobs.models import Job, JobState
from app.jobs.scheduler import Sweeper
from app.rounds import flows, schedules
from app.rounds.models import Round, RoundStatus, ScheduleFiring
from app.runs.models import Run
from app.settings import get_settings
from tests.factories import make_round, make_user_and_token
from tests.test_jobs import RecordingBackend
from tests.test_runs import build_world

pytestmark = pytest.mark.integration

Headers = Callable[[str], dict[str, str]]
PANAMA = "America/Panama"


def _url(round_id: int) -> str:
    return f"/api/v1/rounds/{round_id}/schedule"


# ------------------------------------------------------------------------ the API


def test_a_coordinator_schedules_a_round_that_recurs(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    coordinator, token = make_user_and_token(session, Role.coordinator)
    round_ = make_round(session, created_by=coordinator)
    headers = auth_headers(token)
    read = client.get(_url(round_.id), headers=headers)
    assert read.status_code == 200 and read.json()["scheduled"] is False
    assert read.json()["upcoming_deadlines"] == []

    response = client.put(
        _url(round_.id),
        json={"cron": "0 17 * * 5", "timezone": PANAMA},
        headers={**headers, "If-Match": read.headers["ETag"]},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scheduled"] and body["cron"] == "0 17 * * 5" and body["timezone"] == PANAMA
    deadline = dt.datetime.fromisoformat(body["deadline"])
    local = deadline.astimezone(ZoneInfo(PANAMA))
    assert (local.weekday(), local.hour, local.minute) == (4, 17, 0) and deadline > utcnow()
    upcoming = [dt.datetime.fromisoformat(d) for d in body["upcoming_deadlines"]]
    assert upcoming[0] == deadline and len(upcoming) == schedules.UPCOMING
    assert all(b - a == dt.timedelta(days=7) for a, b in itertools.pairwise(upcoming))
    assert response.headers["ETag"] != read.headers["ETag"]
    assert (
        client.get(f"/api/v1/rounds/{round_.id}", headers=headers).json()["deadline"]
        == (body["deadline"])
    )
    entry = session.scalars(
        sa.select(AuditEntry).where(
            AuditEntry.action == "round.schedule", AuditEntry.entity_id == str(round_.id)
        )
    ).one()
    assert entry.before["schedule_cron"] is None and entry.after["schedule_cron"] == "0 17 * * 5"

    # Any member reads it.
    _, team = make_user_and_token(session, Role.local_team)
    assert client.get(_url(round_.id), headers=auth_headers(team)).json()["cron"] == "0 17 * * 5"

    cleared = client.delete(
        _url(round_.id), headers={**headers, "If-Match": response.headers["ETag"]}
    )
    assert cleared.status_code == 204
    assert client.get(_url(round_.id), headers=headers).json()["scheduled"] is False


def test_a_one_off_schedule_keeps_a_given_deadline(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    coordinator, token = make_user_and_token(session, Role.coordinator)
    round_ = make_round(session, created_by=coordinator)
    headers = auth_headers(token)
    etag = client.get(_url(round_.id), headers=headers).headers["ETag"]
    when = (utcnow() + dt.timedelta(days=2)).replace(microsecond=0)
    response = client.put(
        _url(round_.id),
        json={"timezone": PANAMA, "deadline": when.isoformat()},
        headers={**headers, "If-Match": etag},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["cron"] is None and dt.datetime.fromisoformat(body["deadline"]) == when
    assert body["upcoming_deadlines"] == [body["deadline"]]


def test_schedule_changes_are_validated_all_at_once(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    coordinator, token = make_user_and_token(session, Role.coordinator)
    round_ = make_round(session, created_by=coordinator)
    headers = auth_headers(token)
    etag = client.get(_url(round_.id), headers=headers).headers["ETag"]
    bad = client.put(
        _url(round_.id),
        json={"cron": "61 * * *", "timezone": "Mars/Olympus", "status": "closed"},
        headers={**headers, "If-Match": etag},
    )
    assert bad.status_code == 422
    paths = {e["path"] for e in bad.json()["errors"]}
    assert paths == {"$.cron", "$.timezone", "$.status"}
    naive = client.put(
        _url(round_.id),
        json={"timezone": PANAMA, "deadline": "2030-01-01T10:00:00"},
        headers={**headers, "If-Match": etag},
    )
    assert naive.status_code == 422
    past = client.put(
        _url(round_.id),
        json={"timezone": PANAMA, "deadline": "2020-01-01T10:00:00Z"},
        headers={**headers, "If-Match": etag},
    )
    assert past.status_code == 409
    session.refresh(round_)
    assert round_.schedule_timezone is None  # nothing changed


def test_schedule_changes_need_a_manager_a_fresh_etag_and_an_open_round(
    session: Session, client: TestClient, auth_headers: Headers
) -> None:
    coordinator, token = make_user_and_token(session, Role.coordinator)
    round_ = make_round(session, created_by=coordinator)
    closed = make_round(session, created_by=coordinator, status=RoundStatus.closed)
    _, admin = make_user_and_token(session, Role.admin)
    others = [
        make_user_and_token(session, role)[1]
        for role in (Role.local_team, Role.chief_of_mission, Role.technical_specialist)
    ]
    # Refused requests roll their transaction back; the setup must outlive them.
    session.commit()
    headers = auth_headers(token)
    body = {"cron": "0 9 * * 1", "timezone": PANAMA}
    etag = client.get(_url(round_.id), headers=headers).headers["ETag"]
    for other in others:
        response = client.put(
            _url(round_.id), json=body, headers={**auth_headers(other), "If-Match": etag}
        )
        assert response.status_code == 403
    assert client.put(_url(round_.id), json=body).status_code == 401
    assert client.put(_url(round_.id), json=body, headers=headers).status_code == 428
    stale = client.put(_url(round_.id), json=body, headers={**headers, "If-Match": '"stale"'})
    assert stale.status_code == 412
    missing = client.put(_url(999_999), json=body, headers={**headers, "If-Match": etag})
    assert missing.status_code == 404
    closed_etag = client.get(_url(closed.id), headers=headers).headers["ETag"]
    refused = client.put(_url(closed.id), json=body, headers={**headers, "If-Match": closed_etag})
    assert refused.status_code == 409
    by_admin = client.put(
        _url(round_.id), json=body, headers={**auth_headers(admin), "If-Match": etag}
    )
    assert by_admin.status_code == 200


def test_cron_times_follow_the_zones_daylight_saving() -> None:
    # 17:00 in Madrid is 16:00 UTC in winter and 15:00 UTC in summer (from 29 March 2026).
    after = dt.datetime(2026, 3, 27, 12, 0, tzinfo=dt.UTC)
    times = schedules.deadlines("0 17 * * *", "Europe/Madrid", after, 3)
    assert [t.hour for t in times] == [16, 16, 15]  # 27, 28 March in winter; 29 in summer
    with pytest.raises(ValueError, match="five fields"):
        schedules.check_cron("* * * *")
    with pytest.raises(ValueError, match="IANA"):
        schedules.zone("Panama/Nowhere")


# ------------------------------------------------------------------------- firing


@pytest.fixture
def factory(isolated_engine: sa.Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=isolated_engine, expire_on_commit=False)


def _scheduled_world(
    factory: sessionmaker[Session], *, cron: str | None, deadline: dt.datetime
) -> int:
    with factory() as session:
        world = build_world(session)
        world.round.schedule_timezone = PANAMA
        world.round.schedule_cron = cron
        world.round.deadline = deadline
        session.commit()
        return world.round.id


def _sweeper(factory: sessionmaker[Session], engine: sa.Engine) -> tuple[Sweeper, RecordingBackend]:
    backend = RecordingBackend()
    settings = get_settings().model_copy(update={"jobs_scheduler": False})
    url = engine.url.render_as_string(hide_password=False)
    return Sweeper(settings, backend, factory, url, name="test-sweeper"), backend


def test_at_its_deadline_a_round_closes_queues_its_run_and_opens_the_next_window(
    factory: sessionmaker[Session], isolated_engine: sa.Engine
) -> None:
    now = utcnow()
    round_id = _scheduled_world(factory, cron="0 17 * * 5", deadline=now + dt.timedelta(hours=1))
    sweeper, backend = _sweeper(factory, isolated_engine)
    assert sweeper.sweep(now).fired == []  # not yet due

    later = now + dt.timedelta(hours=2)
    report = sweeper.sweep(later)
    assert report.fired == [round_id] and len(backend.dispatched) == 1
    with factory() as session:
        round_ = session.get_one(Round, round_id)
        assert round_.status == RoundStatus.closed and round_.closed_at is not None
        run = session.scalars(sa.select(Run).where(Run.round_id == round_id)).one()
        job = session.scalars(sa.select(Job).where(Job.run_id == run.id)).one()
        assert job.id == backend.dispatched[0] and job.state == JobState.queued
        assert run.triggered_by_id == round_.created_by_id
        firing = session.scalars(sa.select(ScheduleFiring)).one()
        assert firing.run_id == run.id and firing.fired_by == "test-sweeper"
        window = session.get_one(Round, firing.next_round_id)
        assert window.status == RoundStatus.open and window.name == round_.name
        assert window.settings == round_.settings and window.schedule_cron == "0 17 * * 5"
        local = window.deadline.astimezone(ZoneInfo(PANAMA))
        assert (local.weekday(), local.hour) == (4, 17) and window.deadline > later
        actors = session.scalars(
            sa.select(AuditEntry.actor_name).where(
                AuditEntry.entity_type == "round", AuditEntry.entity_id == str(round_id)
            )
        ).all()
        assert "scheduler" in actors

    # The next pass does nothing more: one firing per deadline.
    assert sweeper.sweep(later + dt.timedelta(minutes=1)).fired == []


def test_a_deadline_is_fired_once_by_many_schedulers_at_the_same_moment(
    factory: sessionmaker[Session],
) -> None:
    now = utcnow()
    round_id = _scheduled_world(
        factory, cron="*/30 * * * *", deadline=now - dt.timedelta(minutes=1)
    )
    results: list[int | None] = []
    errors: list[str] = []
    start = threading.Barrier(4)
    settings = get_settings()

    def fire(name: str) -> None:
        with factory() as session:
            start.wait()
            try:
                results.append(
                    flows.fire_schedule(
                        session, round_id, fired_by=name, settings=settings, now=now
                    )
                )
            except Exception as exc:
                errors.append(repr(exc))

    threads = [threading.Thread(target=fire, args=(f"replica-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    assert len([r for r in results if r is not None]) == 1
    with factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(ScheduleFiring)) == 1
        assert session.scalar(sa.select(sa.func.count()).where(Run.round_id == round_id)) == 1
        assert session.scalar(sa.select(sa.func.count()).select_from(Round)) == 2  # + next window


def test_a_missed_deadline_is_caught_up_at_start_without_opening_missed_windows(
    factory: sessionmaker[Session], isolated_engine: sa.Engine
) -> None:
    now = utcnow()
    # The service was down for three days across three daily deadlines.
    round_id = _scheduled_world(factory, cron="0 12 * * *", deadline=now - dt.timedelta(days=3))
    sweeper, backend = _sweeper(factory, isolated_engine)
    report = sweeper.sweep()
    assert report.fired == [round_id] and len(backend.dispatched) == 1
    with factory() as session:
        firing = session.scalars(sa.select(ScheduleFiring)).one()
        window = session.get_one(Round, firing.next_round_id)
        # One new window, due at the next noon after now, not one per missed day.
        assert now < window.deadline <= now + dt.timedelta(days=1)
        assert session.scalar(sa.select(sa.func.count()).select_from(Round)) == 2


def test_a_one_off_schedule_closes_without_a_next_window(
    factory: sessionmaker[Session], isolated_engine: sa.Engine
) -> None:
    round_id = _scheduled_world(factory, cron=None, deadline=utcnow() - dt.timedelta(seconds=1))
    sweeper, _ = _sweeper(factory, isolated_engine)
    assert sweeper.sweep().fired == [round_id]
    with factory() as session:
        firing = session.scalars(sa.select(ScheduleFiring)).one()
        assert firing.next_round_id is None and firing.error is None


def test_a_round_whose_snapshot_is_invalid_stays_open_with_the_reason(
    factory: sessionmaker[Session], isolated_engine: sa.Engine
) -> None:
    round_id = _scheduled_world(
        factory, cron="0 12 * * *", deadline=utcnow() - dt.timedelta(seconds=1)
    )
    with factory() as session:
        # A setting the contract refuses (stored behind the API's back).
        session.execute(
            sa.update(Round).where(Round.id == round_id).values(settings={"relative_gap": 5})
        )
        session.commit()
    sweeper, backend = _sweeper(factory, isolated_engine)
    report = sweeper.sweep()
    assert report.fired == [] and backend.dispatched == []
    with factory() as session:
        round_ = session.get_one(Round, round_id)
        assert round_.status == RoundStatus.open
        firing = session.scalars(sa.select(ScheduleFiring)).one()
        assert firing.run_id is None and firing.next_round_id is None
        assert firing.error is not None and "relative_gap" in firing.error
        assert session.scalar(sa.select(sa.func.count()).select_from(Run)) == 0
    # It is not retried at every pass; the coordinator closes it by hand.
    assert sweeper.sweep().fired == []


def test_the_schedule_shows_its_firing_and_the_window_it_opened(
    factory: sessionmaker[Session],
    isolated_engine: sa.Engine,
    auth_headers: Headers,
) -> None:
    from app.db import get_session, serve_session
    from app.main import create_app

    round_id = _scheduled_world(
        factory, cron="0 12 * * *", deadline=utcnow() - dt.timedelta(seconds=1)
    )
    sweeper, _ = _sweeper(factory, isolated_engine)
    sweeper.sweep()
    with factory() as session:
        _, token = make_user_and_token(session, Role.local_team)
        session.commit()
    app = create_app()

    def _session() -> Any:
        with factory() as session:
            yield from serve_session(session)

    app.dependency_overrides[get_session] = _session
    client = TestClient(app)
    body = client.get(_url(round_id), headers=auth_headers(token)).json()
    assert body["firing"]["round_id"] == round_id and body["upcoming_deadlines"] == []
    following = client.get(_url(body["firing"]["next_round_id"]), headers=auth_headers(token))
    assert following.json()["previous_round_id"] == round_id
    assert len(following.json()["upcoming_deadlines"]) == schedules.UPCOMING
