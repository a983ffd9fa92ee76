"""Time zones and cron expressions of round schedules: pure functions, no database."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError


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
