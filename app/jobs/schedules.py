"""Round schedules: a round closes at its deadline by itself, and a recurring one opens the next.

A round carries a schedule when it has a time zone (``schedule_timezone``);
its cron expression (``schedule_cron``, five fields, read in that zone) makes
it recurring. At the deadline the scheduler (``app.jobs.scheduler``) fires it:
in one transaction, the round is closed and frozen exactly as a coordinator's
close would (run #1, queued), and a recurring round's next window is opened:
a new open round with the same name, currency, settings and schedule, whose
deadline is the cron's next time after the later of now and the old deadline
(windows missed while the service was down are not opened after the fact).

Exactly one firing per round, however many API replicas and workers run a
scheduler: the round's lock makes the close itself a conditional transition
(open to closed), and ``schedule_firing.round_id`` is unique, so a second
firer's transaction cannot commit. A round whose snapshot is invalid is not
closed; its firing records why, and a coordinator closes it by hand.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from cronsim import CronSim, CronSimError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.api import IfMatch
from app.audit import record, snapshot
from app.auth.models import User
from app.db import utcnow
from app.errors import Conflict
from app.jobs.models import ScheduleFiring
from app.rounds.models import Round, RoundStatus
from app.rounds.service import ensure_open, lock_round
from app.runs.snapshot import SnapshotInvalid
from app.settings import Settings

SCHEDULER = "scheduler"
UPCOMING = 5


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ValueError if there is none by that name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone (e.g. America/Panama)") from None


def check_cron(expression: str) -> str:
    """A five-field cron expression, or ValueError saying what is wrong with it."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            "a cron expression has five fields: minute hour day-of-month month day-of-week"
        )
    try:
        CronSim(" ".join(fields), dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    except CronSimError as exc:
        raise ValueError(f"not a valid cron expression: {exc}") from None
    return " ".join(fields)


def deadlines(cron: str, timezone: str, after: dt.datetime, count: int) -> list[dt.datetime]:
    """The cron's next ``count`` times strictly after ``after``, in UTC."""
    it = CronSim(cron, after.astimezone(zone(timezone)))
    return [next(it).astimezone(dt.UTC) for _ in range(count)]


def next_deadline(cron: str, timezone: str, after: dt.datetime) -> dt.datetime:
    return deadlines(cron, timezone, after, 1)[0]


# --------------------------------------------------------------------- reading


def firing_of(session: Session, round_id: int) -> ScheduleFiring | None:
    return session.scalar(sa.select(ScheduleFiring).where(ScheduleFiring.round_id == round_id))


def previous_window(session: Session, round_id: int) -> int | None:
    return session.scalar(
        sa.select(ScheduleFiring.round_id).where(ScheduleFiring.next_round_id == round_id)
    )


def upcoming(round_: Round) -> list[dt.datetime]:
    """The deadlines of this round and of the windows after it, as the schedule stands."""
    if round_.schedule_timezone is None:
        return []
    if round_.schedule_cron is None:
        return [round_.deadline]
    later = deadlines(round_.schedule_cron, round_.schedule_timezone, round_.deadline, UPCOMING - 1)
    return [round_.deadline, *later]


# -------------------------------------------------------------------- changing


def set_schedule(
    session: Session,
    actor: User,
    round_id: int,
    *,
    timezone: str,
    cron: str | None,
    deadline: dt.datetime | None,
    if_match: IfMatch,
) -> Round:
    """Give an open round a schedule; with a cron and no deadline, the cron's next time.

    409 once the round is closed, or when its deadline would already have passed.
    """
    try:
        round_ = lock_round(session, round_id)
        if_match.check(round_)
        ensure_open(round_, "its schedule can no longer change")
        before = snapshot(round_)
        now = utcnow()
        if deadline is None and cron is not None:
            deadline = next_deadline(cron, timezone, now)
        if deadline is not None:
            round_.deadline = deadline
        if round_.deadline <= now:
            raise Conflict(
                f"round {round_id}'s deadline {round_.deadline.isoformat()} has passed: send a "
                "later deadline (or a cron) with the schedule"
            )
        round_.schedule_timezone = timezone
        round_.schedule_cron = cron
        session.flush()
        record(session, actor, "round.schedule", "round", round_.id, before, snapshot(round_))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return round_


def clear_schedule(session: Session, actor: User, round_id: int, if_match: IfMatch) -> Round:
    """The round no longer closes by itself (nor recurs); its deadline stays."""
    try:
        round_ = lock_round(session, round_id)
        if_match.check(round_)
        ensure_open(round_, "its schedule can no longer change")
        before = snapshot(round_)
        round_.schedule_timezone = None
        round_.schedule_cron = None
        session.flush()
        if snapshot(round_) != before:
            record(session, actor, "round.unschedule", "round", round_.id, before, snapshot(round_))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return round_


# ---------------------------------------------------------------------- firing


def due_rounds(session: Session, now: dt.datetime | None = None) -> list[int]:
    """Scheduled open rounds whose deadline has passed and that were not fired yet."""
    now = now or utcnow()
    fired = sa.select(ScheduleFiring.round_id)
    return list(
        session.scalars(
            sa.select(Round.id)
            .where(
                Round.status == RoundStatus.open,
                Round.schedule_timezone.is_not(None),
                Round.deadline <= now,
                Round.id.not_in(fired),
            )
            .order_by(Round.deadline, Round.id)
        )
    )


def fire(
    session: Session,
    round_id: int,
    *,
    fired_by: str,
    settings: Settings,
    now: dt.datetime | None = None,
) -> int | None:
    """Close a due scheduled round and queue its run; the job's id, or None if nothing to do.

    Commits. Safe to call from several processes at once: one of them fires.
    """
    from app.runs import service as runs_service

    now = now or utcnow()
    try:
        round_ = lock_round(session, round_id)
        due = (
            round_.status == RoundStatus.open
            and round_.schedule_timezone is not None
            and round_.deadline <= now
            and firing_of(session, round_id) is None
        )
        if not due:
            session.rollback()
            return None
        owner = session.get_one(User, round_.created_by_id)
        firing = ScheduleFiring(
            round_id=round_.id, deadline=round_.deadline, fired_at=now, fired_by=fired_by
        )
        job_id = None
        try:
            with session.begin_nested():
                run, job = runs_service.freeze_round(
                    session, owner, round_, settings, audit_actor=SCHEDULER
                )
            firing.run_id, job_id = run.id, job.id
        except SnapshotInvalid as exc:
            problems = "; ".join(f"{e.path}: {e.reason}" for e in exc.errors)
            firing.error = f"not closed: its snapshot breaks contract v1 ({problems})"
        round_ = session.get_one(Round, round_id)
        if round_.schedule_cron is not None and firing.error is None:
            firing.next_round_id = _open_next_window(session, round_, now).id
        session.add(firing)
        session.flush()
        record(session, SCHEDULER, "schedule.fire", "round", round_id, None, _firing_state(firing))
        session.commit()
        return job_id
    except IntegrityError:
        # Another scheduler fired this round in the meantime: one firing, theirs.
        session.rollback()
        return None
    except BaseException:
        session.rollback()
        raise


def _open_next_window(session: Session, round_: Round, now: dt.datetime) -> Round:
    assert round_.schedule_cron is not None and round_.schedule_timezone is not None
    window = Round(
        name=round_.name,
        status=RoundStatus.open,
        deadline=next_deadline(
            round_.schedule_cron, round_.schedule_timezone, max(now, round_.deadline)
        ),
        as_of=None,
        currency=round_.currency,
        settings=dict(round_.settings or {}),
        schedule_cron=round_.schedule_cron,
        schedule_timezone=round_.schedule_timezone,
        created_by_id=round_.created_by_id,
    )
    session.add(window)
    session.flush()
    record(session, SCHEDULER, "round.create", "round", window.id, None, snapshot(window))
    return window


def _firing_state(firing: ScheduleFiring) -> dict[str, Any]:
    return snapshot(firing)
