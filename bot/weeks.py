"""The community week: one definition for everything weekly."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config import parse_week_start


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
