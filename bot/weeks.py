"""The community week: one definition for everything weekly."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from bot.config import WEEKDAYS, parse_week_start


def week_start(at: datetime, tz: ZoneInfo, week_start_setting: str) -> datetime:
    """The start of the week containing `at` (aware, in `tz`)."""
    weekday, hour, minute = parse_week_start(week_start_setting)
    local = at.astimezone(tz)
    start = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    start -= timedelta(days=(local.weekday() - weekday) % 7)
    if start > local:
        start -= timedelta(days=7)
    # Rebuild through the zone so a DST change inside the week keeps the wall-clock start.
    return datetime(start.year, start.month, start.day, hour, minute, tzinfo=tz)


def last_completed_week(at: datetime, tz: ZoneInfo, week_start_setting: str) -> tuple[datetime, datetime]:
    """[start, end) of the latest week that ended at or before `at`."""
    end = week_start(at, tz, week_start_setting)
    start = week_start(end - timedelta(seconds=1), tz, week_start_setting)
    return start, end


def weekly_cron(setting: str, *, days_before: int = 0) -> str:
    """'wed 20:00' -> the crontab line '0 20 * * wed' (or the same time `days_before` days earlier)."""
    weekday, hour, minute = parse_week_start(setting)
    return f"{minute} {hour} * * {WEEKDAYS[(weekday - days_before) % 7]}"


def week_stamp(week: datetime) -> str:
    """A week's start as it appears in ledger keys: UTC, to the minute."""
    return week.astimezone(timezone.utc).strftime("%Y%m%dT%H%M")
