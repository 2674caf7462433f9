"""The weekly Q&A session: a reminder the day before, and the agenda at the start, @-mentioning members whose
directory profile matches each question (finding the right person to answer)."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from bot import roster
from bot.config import CommunityConfig
from bot.context import BaseCtx, JobCtx
from bot.events import ChatRef
from bot.router import Router
from bot.text import cut_async
from bot.weeks import weekly_cron
from handlers.directory import search
from models import Answer, Member, Question
from models.questions import OPEN

router = Router()
MAX_ON_AGENDA = 15
BODY_PREVIEW = 60
# Words that say nothing about the topic of a question.
STOP_WORDS = {
    "如何", "怎么", "怎样", "什么", "为什么", "哪些", "哪个", "有没有", "可以", "应该", "我们", "你们", "他们", "一个",
    "这个", "那个", "问题", "大家", "请教", "求助", "是否", "还是", "或者", "以及", "关于", "的话", "目前", "现在",
    "how", "what", "why", "which", "the", "and", "for", "with", "should", "can", "does",
}


def session_cron(ccfg: CommunityConfig) -> str:
    return weekly_cron(ccfg.questions.session)


def reminder_cron(ccfg: CommunityConfig) -> str:
    return weekly_cron(ccfg.questions.session, days_before=1)


def session_of_reminder(job: JobCtx) -> datetime:
    """The session a reminder (the day before, at the session's time of day) is about."""
    local = job.period.astimezone(job.tz) + timedelta(days=1)
    return datetime(local.year, local.month, local.day, local.hour, local.minute, tzinfo=local.tzinfo)


def session_end(job: JobCtx) -> datetime:
    """An agenda is true until its session ends."""
    return job.period + timedelta(minutes=job.ccfg.questions.session_minutes)


async def agenda(job: JobCtx, session: datetime) -> list[tuple[Question, str]]:
    rows = await job.db.execute(
        select(Question, Member.display_name).join(Member, Member.id == Question.asker_id)
        .where(Question.community_id == job.community.id, Question.session_at == session,
               Question.status == OPEN, Question.hidden.is_(False))
        .order_by(Question.number).limit(MAX_ON_AGENDA))
    return [(q, name) for q, name in rows]


async def keywords(text: str) -> str:
    """The topic words of a question, for a directory search."""
    words = [w.lower() for w in await cut_async(text) if len(w.strip()) >= 2]
    return " ".join(dict.fromkeys(w for w in words if w not in STOP_WORDS and not w.isdigit()))


async def suggested_people(job: BaseCtx, question: Question) -> list[Member]:
    """Members whose profile matches the question best, other than the asker and those who answered already."""
    want = job.ccfg.questions.suggest_people
    query = await keywords(question.title + "\n" + (question.body or "")[:200])
    if not want or not query:
        return []
    hits, _ = await search(job, query, limit=want + 5)
    answered = set(await job.db.scalars(select(Answer.author_id).where(Answer.question_id == question.id)))
    skip = answered | {question.asker_id}
    ids = [h.member_id for h in hits if h.member_id not in skip]
    members = {m.id: m for m in await job.db.scalars(select(Member).where(Member.id.in_(ids)))} if ids else {}
    return [members[i] for i in ids if i in members and members[i].deleted_at is None]


def _preview(text: str | None) -> str:
    if not text:
        return ""
    flat = " ".join(text.split())
    return flat if len(flat) <= BODY_PREVIEW else flat[:BODY_PREVIEW] + "…"


@router.job("post_qa_agenda", catch_up="latest", cron=session_cron, expires=session_end)
async def post_qa_agenda(job: JobCtx) -> None:
    """At the session's start: the agenda, with the people who might know each answer @-mentioned."""
    items = await agenda(job, job.period)
    if not items:
        return
    suggestions = {q.id: await suggested_people(job, q) for q, _ in items}
    for group in await job.groups():
        lines = [job.t("session.start", session=job.session_label(job.period), count=len(items))]
        mentions: list[str] = []
        for question, asker in items:
            lines.append(job.t("session.item", ref=f"Q{question.number}", title=question.title, asker=asker))
            if question.body:
                lines.append(job.t("session.background", text=_preview(question.body)))
            here = [m for m in suggestions[question.id] if await roster.in_room(job.db, group.room_id, m.user_id)]
            here = here[:job.ccfg.questions.suggest_people]
            if here:
                lines.append(job.t("session.who_knows", names=" ".join(f"@{m.display_name}" for m in here)))
                mentions += [m.user_id for m in here if m.user_id not in mentions]
        lines.append(job.t("session.footer"))
        await job.post(ChatRef(room_id=group.room_id), "\n".join(lines), mentions=tuple(mentions))


@router.job("remind_qa_session", catch_up="latest", cron=reminder_cron, expires=session_of_reminder)
async def remind_qa_session(job: JobCtx) -> None:
    """The day before the session: what is on the agenda, so people can prepare (caught up on the session's day
    itself, it says today; once the session has started it is not posted)."""
    if not job.ccfg.questions.remind:
        return
    session = session_of_reminder(job)
    items = await agenda(job, session)
    if not items:
        return
    tz = job.tz
    day = "session.today" if job.now.astimezone(tz).date() == session.date() else "session.tomorrow"
    lines = [job.t("session.reminder", day=job.t(day), session=job.session_label(session), count=len(items))]
    lines += [job.t("session.item", ref=f"Q{q.number}", title=q.title, asker=asker) for q, asker in items]
    lines.append(job.t("session.reminder_footer"))
    await job.post_to_groups("\n".join(lines))
