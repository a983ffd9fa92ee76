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

import sqlalchemy as sa
from sqlalchemy.orm import Session

from app.api import IfMatch
from app.audit import record, snapshot
from app.auth.models import User
from app.db import utcnow
from app.errors import Conflict
from app.rounds.cron import check_cron, deadlines, next_deadline, zone
from app.rounds.models import Round, RoundStatus, ScheduleFiring
from app.rounds.service import ensure_open, lock_round

SCHEDULER = "scheduler"
UPCOMING = 5

__all__ = ["check_cron", "deadlines", "next_deadline", "zone"]  # the calendar's, for callers


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


def open_next_window(session: Session, round_: Round, now: dt.datetime) -> Round:
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
