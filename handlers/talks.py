"""Guest talks (/分享会): a moderator schedules one with a title, a time, a guest and a duration; it is announced,
members send questions ahead (numbered per talk) and upvote them; reminders go out 24 hours and 1 hour before, a
post at the start asks for quiet with the top questions, the last minutes open for questions, and afterwards the
moderator gets a draft digest of the talk's time. Each of those moments is a one-off timer (scheduler.core): run
once across restarts, skipped when caught up after it stopped being true."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from bot.cleaning import clean
from bot.context import BaseCtx, Ctx, JobCtx
from bot.errors import CommandError
from bot.events import Capability, ChatRef
from bot.flows import origin_room
from bot.roles import Role
from bot.router import Router
from bot.text import NUMBER, clip, too_long
from bot.weeks import parse_moment
from handlers import digest
from handlers.digest_render import Shown
from models import Member, Talk, TalkQuestion, TalkVote, Timer
from models.jobs import PENDING, SKIPPED
from models.ledger import lock_community
from models.talks import CANCELLED, SCHEDULED
from scheduler.core import set_timer

router = Router()

TITLE_LIMIT = 60
GUEST_LIMIT = 30
QUESTION_LIMIT = 200
TOP = 3                         # questions shown in reminders and at the start
LISTED = 10
MAX_AHEAD = timedelta(days=180)
_FIELDS = re.compile(r"\s*[|｜]\s*")
_DURATION = re.compile(r"\A(\d{1,3}(?:\.\d)?)\s*(分钟|分|min|mins|minutes?|m|小时|个小时|h|hours?)?\Z", re.I)
_TALK_REF = re.compile(r"\A#(\d{1,5})\Z")
# The moments of a talk: (timer kind, when it is due, until when it is still worth doing).
REMIND_DAY, REMIND_HOUR, START, QA, END = "talk_remind_day", "talk_remind_hour", "talk_start", "talk_qa", "talk_end"


def end_of(talk: Talk) -> datetime:
    return talk.starts_at + timedelta(minutes=talk.minutes)


def qa_at(ctx: BaseCtx, talk: Talk) -> datetime:
    return end_of(talk) - timedelta(minutes=min(ctx.ccfg.talks.qa_minutes, talk.minutes))


def _moments(ctx: BaseCtx, talk: Talk) -> list[tuple[str, datetime, datetime]]:
    start, qa, end = talk.starts_at, qa_at(ctx, talk), end_of(talk)
    return [(REMIND_DAY, start - timedelta(hours=24), start), (REMIND_HOUR, start - timedelta(hours=1), start),
            (START, start, qa if qa > start else end), (QA, qa, end), (END, end, end + timedelta(days=1))]


def _minutes(token: str) -> int | None:
    m = _DURATION.match(token.strip())
    if m is None:
        return None
    amount = float(m.group(1))
    unit = (m.group(2) or "分钟").lower()
    minutes = amount * 60 if unit in ("小时", "个小时", "h", "hour", "hours") else amount
    return int(minutes) if minutes == int(minutes) else None


def parse_talk(ctx: Ctx, args: str) -> tuple[str, datetime, str, int]:
    """'标题 | 12.10 20:00 | 嘉宾 [| 90分钟]' -> (title, start, guest, minutes)."""
    parts = [p for p in _FIELDS.split(clean(args).strip())]
    if len(parts) not in (3, 4) or not all(parts):
        raise CommandError("talk.usage")
    title, when, guest = parts[:3]
    start = parse_moment(when, ctx.now, ctx.tz)
    if start is None:
        raise CommandError("talk.bad_time", text=clip(when))
    minutes = ctx.ccfg.talks.default_minutes
    if len(parts) == 4:
        given = _minutes(parts[3])
        if given is None or not 10 <= given <= 600:
            raise CommandError("talk.bad_minutes", text=clip(parts[3]))
        minutes = given
    if too_long(title, TITLE_LIMIT) or too_long(guest, GUEST_LIMIT):
        raise CommandError("talk.too_long", title=TITLE_LIMIT, guest=GUEST_LIMIT)
    if start <= ctx.now:
        raise CommandError("talk.in_the_past", at=ctx.session_label(start))
    if start - ctx.now > MAX_AHEAD:
        raise CommandError("talk.too_far", days=MAX_AHEAD.days)
    return title, start, guest, minutes


def _when(ctx: BaseCtx, talk: Talk) -> str:
    return ctx.t("talk.when", start=ctx.session_label(talk.starts_at),
                 end=end_of(talk).astimezone(ctx.tz).strftime("%H:%M"), minutes=talk.minutes)


async def _top_questions(ctx: BaseCtx, talk: Talk, limit: int | None = TOP) -> list[str]:
    query = (select(TalkQuestion.number, TalkQuestion.text, TalkQuestion.votes, Member.display_name)
             .join(Member, Member.id == TalkQuestion.member_id).where(TalkQuestion.talk_id == talk.id)
             .order_by(TalkQuestion.votes.desc(), TalkQuestion.number))
    if limit is not None:
        query = query.limit(limit)
    return [ctx.t("talk.question_line", n=n, text=text, votes=votes, name=name)
            for n, text, votes, name in (await ctx.db.execute(query)).all()]


async def upcoming(ctx: BaseCtx, *, until: datetime | None = None) -> list[Talk]:
    """Scheduled talks not over yet (starting before `until`, if given), soonest first."""
    query = select(Talk).where(Talk.community_id == ctx.community.id, Talk.status == SCHEDULED)
    if until is not None:
        query = query.where(Talk.starts_at < until)
    talks = list(await ctx.db.scalars(query.order_by(Talk.starts_at, Talk.number)))
    return [t for t in talks if end_of(t) > ctx.now]


# ---- scheduling ---------------------------------------------------------------------------------------------------

@router.command("event", aliases=("分享会",))
async def event(ctx: Ctx) -> None:
    """The coming talks, and the next one's questions by votes (anything after /分享会 that is not a verb is a talk
    to schedule: event_new)."""
    await event_list(ctx)


@router.subcommand("event", "new", aliases=("安排", "新建"), role=Role.MODERATOR, pattern=r".+")
async def event_new(ctx: Ctx) -> None:
    """Schedule a guest talk in this group (in private: the moderator's group) and announce it there."""
    title, start, guest, minutes = parse_talk(ctx, ctx.args)
    room = await origin_room(ctx)
    if room is None:
        raise CommandError("talk.no_group")
    await lock_community(ctx.db, ctx.community.id)     # numbers, and two moderators booking the same evening
    end = start + timedelta(minutes=minutes)
    for other in await upcoming(ctx, until=end):
        if other.room_id == room and end_of(other) > start:
            raise CommandError("talk.overlap", n=other.number, title=other.title, when=_when(ctx, other))
    number = int(await ctx.db.scalar(select(func.coalesce(func.max(Talk.number), 0)).where(
        Talk.community_id == ctx.community.id)) or 0) + 1
    talk = Talk(community_id=ctx.community.id, number=number, room_id=room, title=title, guest=guest,
                starts_at=start, minutes=minutes, created_by=ctx.sender_id, created_at=ctx.now, status=SCHEDULED,
                cause=ctx.cause)
    ctx.db.add(talk)
    await ctx.db.flush()
    for kind, due, expires in _moments(ctx, talk):
        if due > ctx.now:               # a talk tomorrow morning has no 24-hour reminder
            await set_timer(ctx.db, ctx.community.id, kind, f"talk:{talk.id}", due, expires)
    announcement = ctx.t("talk.announce", n=number, title=title, guest=guest, when=_when(ctx, talk),
                         qa=ctx.ccfg.talks.qa_minutes)
    await ctx.post(ChatRef(room_id=room), announcement)
    if ctx.group is None or ctx.group.room_id != room:
        await ctx.respond("talk.scheduled", n=number, title=title)


async def _talk(ctx: Ctx, token: str | None) -> Talk:
    """The talk a member's verb is about: '#3', else the next one not over yet."""
    if token is not None:
        m = _TALK_REF.match(token)
        assert m is not None
        talk = await ctx.db.scalar(select(Talk).where(Talk.community_id == ctx.community.id,
                                                      Talk.number == int(m.group(1))))
        if talk is None or talk.status != SCHEDULED or end_of(talk) <= ctx.now:
            raise CommandError("talk.not_found", n=m.group(1))
        return talk
    talks = await upcoming(ctx)
    if not talks:
        raise CommandError("talk.none")
    return talks[0]


def _ref_and_rest(args: str) -> tuple[str | None, str]:
    parts = args.strip().split(None, 1)
    if parts and _TALK_REF.match(parts[0]):
        return parts[0], parts[1].strip() if len(parts) == 2 else ""
    return None, args.strip()


@router.subcommand("event", "ask", aliases=("提问", "问"))
async def event_ask(ctx: Ctx) -> None:
    """A question for the next talk (or '#3 …' for talk 3), numbered per talk."""
    ref, text = _ref_and_rest(ctx.args)
    text = clean(text).strip()
    if not text:
        raise CommandError("talk.ask_usage")
    if too_long(text, QUESTION_LIMIT):
        raise CommandError("talk.question_too_long", limit=QUESTION_LIMIT)
    await lock_community(ctx.db, ctx.community.id)
    talk = await _talk(ctx, ref)
    number = int(await ctx.db.scalar(select(func.coalesce(func.max(TalkQuestion.number), 0)).where(
        TalkQuestion.talk_id == talk.id)) or 0) + 1
    ctx.db.add(TalkQuestion(talk_id=talk.id, number=number, member_id=ctx.member.id, text=text, votes=0,
                            asked_at=ctx.now))
    await ctx.respond("talk.asked", n=number, talk=talk.number, title=talk.title)


@router.subcommand("event", "vote", aliases=("投票", "顶", "赞"))
async def event_vote(ctx: Ctx) -> None:
    """Upvote a question of the next talk (or '#3 2' for talk 3's question 2), once each, never one's own."""
    ref, token = _ref_and_rest(ctx.args)
    if not NUMBER.match(token):
        raise CommandError("talk.vote_usage")
    talk = await _talk(ctx, ref)
    question = await ctx.db.scalar(select(TalkQuestion).where(TalkQuestion.talk_id == talk.id,
                                                              TalkQuestion.number == int(token)))
    if question is None:
        raise CommandError("talk.no_question", n=token, talk=talk.number)
    if question.member_id == ctx.member.id:
        raise CommandError("talk.own_question")
    number = question.number
    if await ctx.db.get(TalkVote, (question.id, ctx.member.id)) is not None:
        raise CommandError("talk.voted_already", n=number)
    ctx.db.add(TalkVote(question_id=question.id, member_id=ctx.member.id, voted_at=ctx.now))
    try:
        await ctx.db.flush()
    except IntegrityError:          # the same vote at the same moment from another process
        raise CommandError("talk.voted_already", n=number) from None
    votes = await ctx.db.scalar(update(TalkQuestion).where(TalkQuestion.id == question.id)
                                .values(votes=TalkQuestion.votes + 1).returning(TalkQuestion.votes))
    await ctx.respond("talk.voted", n=number, votes=votes)


@router.subcommand("event", "list", aliases=("列表", "日程"))
async def event_list(ctx: Ctx) -> None:
    """The coming talks, and the next one's questions by votes."""
    talks = await upcoming(ctx)
    if not talks:
        raise CommandError("talk.none")
    lines = [ctx.t("talk.list_title")]
    lines += [ctx.t("talk.list_line", n=t.number, title=t.title, guest=t.guest, when=_when(ctx, t))
              for t in talks[:LISTED]]
    questions = await _top_questions(ctx, talks[0], LISTED)
    if questions:
        lines += [ctx.t("talk.questions_of", n=talks[0].number), *questions]
    lines.append(ctx.t("talk.hint"))
    await ctx.reply_text("\n".join(lines))


@router.subcommand("event", "cancel", aliases=("取消",), role=Role.MODERATOR)
async def event_cancel(ctx: Ctx) -> None:
    """Cancel a talk ('#3'); its reminders are not sent and its group is told."""
    ref, _ = _ref_and_rest(ctx.args)
    if ref is None:
        raise CommandError("talk.cancel_usage")
    talk = await _talk(ctx, ref)
    talk.status = CANCELLED
    await ctx.db.execute(update(Timer).where(Timer.ref_id == f"talk:{talk.id}", Timer.status == PENDING)
                         .values(status=SKIPPED, ran_at=ctx.now))
    await ctx.post(ChatRef(room_id=talk.room_id), ctx.t("talk.cancelled", n=talk.number, title=talk.title,
                                                        when=_when(ctx, talk)))
    if ctx.group is None or ctx.group.room_id != talk.room_id:
        await ctx.respond("talk.cancelled_ok", n=talk.number)


# ---- the talk's moments -------------------------------------------------------------------------------------------

async def _timer_talk(job: JobCtx, timer: Timer) -> Talk | None:
    talk = await job.db.get(Talk, int(timer.ref_id.split(":", 1)[1]))
    return talk if talk is not None and talk.status == SCHEDULED else None


async def _post_with_questions(job: JobCtx, talk: Talk, key: str, empty_key: str) -> None:
    questions = await _top_questions(job, talk)
    lines = [job.t(key, n=talk.number, title=talk.title, guest=talk.guest, when=_when(job, talk),
                   qa=job.ccfg.talks.qa_minutes)]
    lines += questions or [job.t(empty_key)]
    await job.post(ChatRef(room_id=talk.room_id), "\n".join(lines))


@router.timer(REMIND_DAY)
async def remind_talk_day(job: JobCtx, timer: Timer) -> None:
    """24 hours before: the talk, its top questions so far, how to ask and vote."""
    if (talk := await _timer_talk(job, timer)) is not None:
        await _post_with_questions(job, talk, "talk.remind_day", "talk.no_questions_yet")


@router.timer(REMIND_HOUR)
async def remind_talk_hour(job: JobCtx, timer: Timer) -> None:
    """1 hour before."""
    if (talk := await _timer_talk(job, timer)) is not None:
        await _post_with_questions(job, talk, "talk.remind_hour", "talk.no_questions_yet")


@router.timer(START)
async def start_talk(job: JobCtx, timer: Timer) -> None:
    """At the start: quiet please, and the questions the guest will take, by votes."""
    if (talk := await _timer_talk(job, timer)) is not None:
        await _post_with_questions(job, talk, "talk.start", "talk.no_questions")


@router.timer(QA)
async def open_talk_qa(job: JobCtx, timer: Timer) -> None:
    """The last minutes: questions are open."""
    if (talk := await _timer_talk(job, timer)) is not None:
        await _post_with_questions(job, talk, "talk.qa", "talk.no_questions")


@router.timer(END)
async def end_talk(job: JobCtx, timer: Timer) -> None:
    """Afterwards: thanks in the group, and the moderator who scheduled it gets a draft digest of the talk's time
    to edit and publish (/周报 as always)."""
    if (talk := await _timer_talk(job, timer)) is None:
        return
    room = ChatRef(room_id=talk.room_id)
    await job.post(room, job.t("talk.ended", n=talk.number, title=talk.title, guest=talk.guest))
    if not job.can(Capability.CAN_DM):
        # No private chat to open: the moderator is asked in the group to draft it privately soon (a span back
        # from then still covers the talk).
        moderator = await job.db.scalar(select(Member.display_name).where(
            Member.community_id == job.community.id, Member.user_id == talk.created_by))
        hours = -(-talk.minutes // 60) + 1
        await job.post(room, job.t("talk.digest_ask_private", name=moderator or talk.created_by, n=talk.number,
                                   hours=hours), mentions=(talk.created_by,))
        return
    shown = Shown()
    draft = await digest.fresh_draft(job, talk.room_id, digest.SPAN, talk.starts_at, end_of(talk), None,
                                     talk.created_by, shown=shown)
    if draft is None:
        note = job.t("talk.digest_empty", n=talk.number, title=talk.title)
    else:
        note = job.t("talk.digest_draft", n=talk.number, title=talk.title) + "\n" + (
            await digest.document(job, draft, shown) or "")
    await job.post(ChatRef(user_id=talk.created_by), note)
