"""The community's calendar: one definition of the week for everything weekly, crontab lines for jobs, and
dates as members read them (the formats live in the locale files, date.*)."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot import i18n
from bot.config import WEEKDAYS, CommunityConfig, parse_week_start


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


def week_cron(ccfg: CommunityConfig) -> str:
    """The crontab line of the community's week start, for jobs that run when a week begins."""
    return weekly_cron(ccfg.week_start)


def week_stamp(week: datetime) -> str:
    """A week's start as it appears in ledger keys: UTC, to the minute."""
    return week.astimezone(UTC).strftime("%Y%m%dT%H%M")


def _parts(at: datetime, tz: ZoneInfo) -> dict[str, int]:
    local = at.astimezone(tz)
    return {"year": local.year, "month": local.month, "day": local.day}


def day(at: datetime, tz: ZoneInfo, locale: str, *, padded: bool = False) -> str:
    """A day as members read it: 12.6 (12/6 in English); `padded` for columns of them (12.06)."""
    return i18n.t(locale, "date.day_padded" if padded else "date.day", **_parts(at, tz))


def date(at: datetime, tz: ZoneInfo, locale: str) -> str:
    """A day with its year: 2026.11.23 (11/23/2026 in English)."""
    return i18n.t(locale, "date.full", **_parts(at, tz))


def span(start: datetime, tz: ZoneInfo, locale: str, *, padded: bool = False) -> str:
    """The week that starts at `start`: 11.30–12.6 (11.30–12.06 `padded`)."""
    return i18n.t(locale, "date.span", first=day(start, tz, locale, padded=padded),
                  last=day(start + timedelta(days=6), tz, locale, padded=padded))


def moment(at: datetime, tz: ZoneInfo, locale: str) -> str:
    """A moment with its weekday: 11.25（周三）20:00 (Wed 11/25 20:00 in English)."""
    local = at.astimezone(tz)
    weekday = i18n.t(locale, "date.weekdays").split(",")[local.weekday()]
    return i18n.t(locale, "date.moment", date=day(at, tz, locale), weekday=weekday, time=local.strftime("%H:%M"))


_WEEKDAY_WORDS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6,
                  "mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_DAY_WORDS = {"今天": 0, "today": 0, "明天": 1, "tomorrow": 1, "后天": 2}
_MOMENT = re.compile(
    r"\A(?:(?:(?P<year>\d{4})[./-])?(?P<month>\d{1,2})[./-](?P<day>\d{1,2})|(?:周|星期|礼拜)(?P<cn_weekday>[一二三四五六日天])"
    r"|(?P<en_weekday>mon|tue|wed|thu|fri|sat|sun)[a-z]*|(?P<word>今天|明天|后天|today|tomorrow))"
    r"\s*(?P<hour>\d{1,2})[:：](?P<minute>\d{2})\Z", re.I)


def parse_moment(text: str, now: datetime, tz: ZoneInfo) -> datetime | None:
    """A moment as members type it, in the community's zone: '12.10 20:00', '2027.1.5 20:00', '12/10 20:00',
    '周三 20:00' (the next Wednesday, today if still ahead), 'wed 20:00', '明天 20:00'. A date without a year is this
    year's, or next year's when this year's was more than half a year ago. None when it is not a moment."""
    m = _MOMENT.match(text.strip())
    if m is None:
        return None
    hour, minute = int(m.group("hour")), int(m.group("minute"))
    if hour > 23 or minute > 59:
        return None
    local = now.astimezone(tz)
    try:
        if m.group("month"):
            year = int(m.group("year") or local.year)
            at = datetime(year, int(m.group("month")), int(m.group("day")), hour, minute, tzinfo=tz)
            if not m.group("year") and (local - at).days > 183:
                at = at.replace(year=year + 1)
            return at
    except ValueError:
        return None
    if m.group("word"):
        day = local.date() + timedelta(days=_DAY_WORDS[m.group("word").lower()])
    else:
        weekday = _WEEKDAY_WORDS[(m.group("cn_weekday") or m.group("en_weekday")).lower()]
        day = local.date() + timedelta(days=(weekday - local.weekday()) % 7)
        if datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz) <= now:
            day += timedelta(days=7)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
