"""The morning post: each day at schedule.post_morning_topic, every group gets the day's topic — from
morning.topics in turn, else an open question — and today's or the coming week's guest talks; quiet days have none.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from bot.config import WEEKDAYS
from bot.context import JobCtx
from bot.events import ChatRef
from bot.router import Router
from handlers import talks
from models import Question
from models.questions import OPEN

router = Router()

AHEAD = timedelta(days=7)       # talks this far ahead are mentioned
LATE = timedelta(hours=4)       # a morning post caught up later than this after its time is not posted


async def topic(job: JobCtx, day_index: int) -> str | None:
    """The day's topic: the configured ones in turn, else the open questions in turn (oldest first)."""
    if job.ccfg.morning.topics:
        return job.t("morning.topic", topic=job.ccfg.morning.topics[day_index % len(job.ccfg.morning.topics)])
    questions = list(await job.db.execute(select(Question.number, Question.title).where(
        Question.community_id == job.community.id, Question.status == OPEN, Question.hidden.is_(False))
        .order_by(Question.number)))
    if not questions:
        return None
    number, title = questions[day_index % len(questions)]
    return job.t("morning.question", ref=f"Q{number}", title=title)


def _expires(job: JobCtx) -> datetime:
    return job.period + LATE


@router.job("post_morning_topic", catch_up="latest", expires=_expires,
            wanted=lambda cfg: any(c.morning.enabled for c in cfg.communities))
async def post_morning_topic(job: JobCtx) -> None:
    """Every morning, in every group: the day's topic and today's or coming talks (nothing on quiet days, nor when
    there is neither)."""
    cfg = job.ccfg.morning
    local = job.period.astimezone(job.tz)
    if not cfg.enabled or WEEKDAYS[local.weekday()] in cfg.quiet_days:
        return
    day_index = (local.date() - job.community.started_at.astimezone(job.tz).date()).days
    line = await topic(job, day_index)
    coming = await talks.upcoming(job, until=job.period + AHEAD)
    end_of_day = datetime(local.year, local.month, local.day, tzinfo=job.tz) + timedelta(days=1)
    for group in await job.groups():
        lines = [job.t("morning.title", day=job.day(job.period),
                       weekday=job.t("date.weekdays").split(",")[local.weekday()])]
        if line:
            lines.append(line)
        for talk in (t for t in coming if t.room_id == group.room_id):
            key = "morning.talk_today" if talk.starts_at < end_of_day else "morning.talk_coming"
            lines.append(job.t(key, n=talk.number, title=talk.title, guest=talk.guest,
                               when=job.session_label(talk.starts_at)))
        if len(lines) > 1:
            lines.append(job.t("morning.footer"))
            await job.post(ChatRef(room_id=group.room_id), "\n".join(lines))
