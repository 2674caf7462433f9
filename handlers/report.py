"""The owners' weekly report (/运营报告): the week's figures a community owner watches, in sections, with what
changed since the week before and a chart of the last 12 weeks. Sent privately to every owner by a weekly job (or
to the owners' group where the platform cannot message them); figures the platform cannot see are n/a, with why.

Beside its own figures it shows what other parts of the bot keep: the duty moderators' KPIs (handlers.duty), the
members the lifecycle lists for removal (handlers.lifecycle), the week's referrals (handlers.invites) and each group
with its tier (handlers.tiers).
"""
from __future__ import annotations

import logging
import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from bot.activity import active_members
from bot.context import BaseCtx, Ctx, JobCtx
from bot.errors import CommandError
from bot.events import Capability, ChatRef
from bot.money import format_fen
from bot.roles import Role
from bot.router import Router
from bot.weeks import week_stamp
from handlers import duty, lifecycle, report_chart
from handlers.fund import balances, cash, next_payout, weekly_pool
from handlers.invites import referral_ranking
from handlers.ranking import counted_tips
from handlers.tiers import group_label, groups_with_tiers
from models import ActivityDay, Answer, DutyShift, Group, LedgerEntry, Member, Question, RoleGrant, RoomMember
from models.ledger import POINTS

log = logging.getLogger("qunbot.report")
router = Router()

INACTIVE_DAYS = (30, 60, 90)
BEST_ANSWERS = 3
REFERRALS = 5           # inviters shown
CHART_WEEKS = 12
CHART_PURPOSE = "report_chart"


@dataclass
class Figures:
    """One week's numbers; None where the platform cannot see them."""

    joined: int | None
    left: int | None
    total: int | None
    active: int | None
    seen_active: int            # members seen using the bot (commands, questions, answers, tips, check-ins)
    active_present: int | None  # of the active, those still in the groups (the share's numerator)
    messages: int | None
    asked: int
    answered: int
    first_answer_minutes: float | None
    pool: int

    @property
    def quiet(self) -> bool:
        """Nothing at all happened (no one joined, left, took part or asked)."""
        return not (self.joined or self.left or self.seen_active or self.active or self.messages or self.asked)


@dataclass
class Report:
    start: datetime
    end: datetime
    week: Figures
    before: Figures | None      # None: the community did not exist the week before


Section = Callable[[BaseCtx, Report], Awaitable[list[str]]]


# ---- figures -----------------------------------------------------------------------------------------------------

async def _groups(ctx: BaseCtx) -> list[Group]:
    return list(await ctx.db.scalars(select(Group).where(Group.community_id == ctx.community.id, Group.enabled)))


async def _rooms(ctx: BaseCtx) -> list[str]:
    return [g.room_id for g in await _groups(ctx)]


async def present_members(ctx: BaseCtx) -> set[str]:
    """Everyone the platform lists in the community's groups now."""
    return set(await ctx.db.scalars(select(RoomMember.user_id).where(
        RoomMember.room_id.in_(await _rooms(ctx)), RoomMember.present.is_(True))))


async def _total(ctx: BaseCtx) -> int | None:
    if ctx.can(Capability.MEMBER_LIST) or ctx.can(Capability.SEES_JOINS):
        return len(await present_members(ctx))
    sizes = [g.size_hint for g in await _groups(ctx)]
    if sizes and all(sizes):                    # config.yaml's group sizes, where the platform cannot count
        return sum(s for s in sizes if s)
    return None


async def _moves(ctx: BaseCtx, start: datetime, end: datetime) -> tuple[int | None, int | None]:
    """Distinct people who joined and who left the community's groups in [start, end)."""
    if not ctx.can(Capability.SEES_JOINS):
        return None, None
    rooms = await _rooms(ctx)
    joined = await ctx.db.scalar(select(func.count(func.distinct(RoomMember.user_id))).where(
        RoomMember.room_id.in_(rooms), RoomMember.joined_at >= start, RoomMember.joined_at < end))
    left = await ctx.db.scalar(select(func.count(func.distinct(RoomMember.user_id))).where(
        RoomMember.room_id.in_(rooms), RoomMember.present.is_(False), RoomMember.left_at >= start,
        RoomMember.left_at < end))
    return int(joined or 0), int(left or 0)


async def _keeps_chat(ctx: BaseCtx) -> bool:
    return ctx.can(Capability.SEES_ALL_MESSAGES) and any(g.history for g in await _groups(ctx))


async def _messages(ctx: BaseCtx, start: datetime, end: datetime) -> int | None:
    if not await _keeps_chat(ctx):
        return None
    # The day counters keep what the chat table's retention may since have deleted.
    first, last = start.astimezone(ctx.tz).date(), (end - timedelta(microseconds=1)).astimezone(ctx.tz).date()
    count = await ctx.db.scalar(select(func.coalesce(func.sum(ActivityDay.messages), 0)).where(
        ActivityDay.community_id == ctx.community.id, ActivityDay.day >= first, ActivityDay.day <= last))
    return int(count or 0)


async def _questions(ctx: BaseCtx, start: datetime, end: datetime) -> tuple[int, int, float | None]:
    """Questions asked in [start, end), how many have an answer by now, the median minutes to the first one."""
    first = (select(Answer.question_id, func.min(Answer.answered_at).label("first"))
             .where(Answer.community_id == ctx.community.id, Answer.hidden.is_(False), Answer.answered_at < ctx.now)
             .group_by(Answer.question_id).subquery())
    rows = (await ctx.db.execute(select(Question.asked_at, first.c.first).outerjoin(
        first, first.c.question_id == Question.id).where(
        Question.community_id == ctx.community.id, Question.hidden.is_(False), Question.asked_at >= start,
        Question.asked_at < end))).all()
    waits = [(answered - asked).total_seconds() / 60 for asked, answered in rows if answered is not None]
    return len(rows), len(waits), statistics.median(waits) if waits else None


async def pool_at(ctx: BaseCtx, moments: list[datetime]) -> list[int]:
    """The reward pool's balance at each of `moments` (ascending), from its ledger entries."""
    held = await balances(ctx)
    pool = await cash(ctx, "pool")
    entries = (await ctx.db.execute(select(LedgerEntry.created_at, LedgerEntry.amount, LedgerEntry.credit_id).where(
        LedgerEntry.community_id == ctx.community.id, (LedgerEntry.debit_id == pool.id)
        | (LedgerEntry.credit_id == pool.id)).order_by(LedgerEntry.created_at))).all()
    out = []
    for moment in moments:
        # Now's balance, less what moved after the moment.
        later = sum(amount if credit == pool.id else -amount for at, amount, credit in entries if at >= moment)
        out.append(held.get("pool", 0) - later)
    return out


async def figures(ctx: BaseCtx, start: datetime, end: datetime) -> Figures:
    joined, left = await _moves(ctx, start, end)
    seen = await active_members(ctx.db, ctx.community.id, start, end, ctx.tz)
    asked, answered, wait = await _questions(ctx, start, end)
    pool, = await pool_at(ctx, [end])
    keeps_chat = await _keeps_chat(ctx)
    present = await present_members(ctx) if ctx.can(Capability.MEMBER_LIST) else None
    return Figures(joined=joined, left=left, total=await _total(ctx),
                   active=len(seen) if keeps_chat else None, seen_active=len(seen),
                   active_present=len(seen & present) if keeps_chat and present is not None else None,
                   messages=await _messages(ctx, start, end), asked=asked, answered=answered,
                   first_answer_minutes=wait, pool=pool)


# ---- sections ----------------------------------------------------------------------------------------------------

def _na(ctx: BaseCtx, why: str) -> str:
    return ctx.t("report.na", why=ctx.t(f"report.why.{why}"))


def _count(ctx: BaseCtx, value: int | None, why: str) -> str:
    return _na(ctx, why) if value is None else str(value)


def duration(ctx: BaseCtx, minutes: float) -> str:
    """'3 小时 20 分' / '2 天 4 小时' / '15 分'."""
    whole = round(minutes)
    days, rest = divmod(whole, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return ctx.t("report.days_hours", days=days, hours=hours)
    if hours:
        return ctx.t("report.hours_minutes", hours=hours, minutes=mins)
    return ctx.t("report.minutes", minutes=mins)


async def members_section(ctx: BaseCtx, r: Report) -> list[str]:
    f = r.week
    total = _count(ctx, f.total, "size")
    if f.joined is None or f.left is None:
        moves = ctx.t("report.members_na", why=ctx.t("report.why.joins"), total=total)
    else:
        moves = ctx.t("report.members", joined=f.joined, left=f.left, net=f"{f.joined - f.left:+d}", total=total)
    lines = [ctx.t("report.members_title"), moves]
    if f.active is None:
        lines.append(ctx.t("report.active_na", why=ctx.t("report.why.chat"), seen=f.seen_active))
    else:
        # Of those still here (someone active who left since is not in the total).
        base = f.active if f.active_present is None else f.active_present
        share = ctx.t("report.share", pct=f"{100 * base / f.total:.1f}") if f.total else ctx.t("report.share_na")
        lines.append(ctx.t("report.active", active=f.active, share=share))
    if f.messages is None:
        lines.append(ctx.t("report.messages_na", why=ctx.t("report.why.chat")))
    else:
        lines.append(ctx.t("report.messages", messages=f.messages))
    return lines


async def questions_section(ctx: BaseCtx, r: Report) -> list[str]:
    f = r.week
    wait = ctx.t("report.no_wait") if f.first_answer_minutes is None else duration(ctx, f.first_answer_minutes)
    return [ctx.t("report.questions_title"),
            ctx.t("report.questions", asked=f.asked, answered=f.answered, unanswered=f.asked - f.answered, wait=wait)]


async def fund_section(ctx: BaseCtx, r: Report) -> list[str]:
    held = await balances(ctx)
    pool = held.get("pool", 0)
    return [ctx.t("report.fund_title"),
            ctx.t("report.fund", pool=format_fen(pool), weekly=format_fen(weekly_pool(ctx, pool, next_payout(ctx))),
                  owed=format_fen(held.get("payable", 0)), ops=format_fen(held.get("ops", 0)),
                  stipends=format_fen(held.get("stipend", 0))),
            *([ctx.t("report.unfunded", amount=format_fen(-held["unfunded"]))] if held.get("unfunded") else [])]


async def duty_section(ctx: BaseCtx, r: Report) -> list[str]:
    """The duty moderators' KPIs: the term under way and the one before, shift by shift; one line while nobody has
    taken a turn lately (the questions' figures above say the rest)."""
    since = r.start - (r.end - r.start)
    recent = await ctx.db.scalar(select(DutyShift.id).where(DutyShift.community_id == ctx.community.id,
                                                            DutyShift.term_end > since).limit(1))
    if recent is None:
        return [ctx.t("report.duty_title"), ctx.t("report.no_duty")]
    return [ctx.t("report.duty_title"), *await duty.terms_kpis(ctx)]


async def inactive_section(ctx: BaseCtx, r: Report) -> list[str]:
    lines = [ctx.t("report.inactive_title")]
    if not ctx.can(Capability.SEES_ALL_MESSAGES) or not ctx.can(Capability.MEMBER_LIST):
        return [*lines, ctx.t("report.inactive_na", why=ctx.t("report.why.chat"))]
    present = await present_members(ctx)
    rows = (await ctx.db.execute(select(Member.user_id, Member.display_name, Member.first_seen_at).where(
        Member.community_id == ctx.community.id, Member.deleted_at.is_(None), Member.user_id.in_(present))
        .order_by(Member.display_name, Member.user_id))).all()
    buckets: list[list[str]] = []
    taken: set[str] = set()
    for days in reversed(INACTIVE_DAYS):        # 90 first: each person in their longest bucket only
        since = r.end - timedelta(days=days)
        active = await active_members(ctx.db, ctx.community.id, since, r.end, ctx.tz)
        quiet = [name for user_id, name, first_seen in rows
                 if user_id not in active and user_id not in taken and first_seen <= since]
        taken |= {user_id for user_id, _, first_seen in rows if user_id not in active and first_seen <= since}
        buckets.append(quiet)
    bounds = [*INACTIVE_DAYS[1:], None]
    for days, upto, names in zip(INACTIVE_DAYS, bounds, reversed(buckets)):
        listed = ctx.t("common.list_sep").join(names[:ctx.ccfg.report.listed])
        if len(names) > ctx.ccfg.report.listed:
            listed += ctx.t("report.and_more", count=len(names) - ctx.ccfg.report.listed)
        label = ctx.t("report.bucket", days=days, upto=upto - 1) if upto else ctx.t("report.bucket_last", days=days)
        lines.append(ctx.t("report.inactive", label=label, count=len(names), names=listed or "—"))
    idle = await lifecycle.idle_for_removal(ctx)
    if idle:
        lines.append(ctx.t("report.removal_hint", days=ctx.ccfg.hygiene.lifecycle.list_days, count=len(idle)))
    return lines


async def referrals_section(ctx: BaseCtx, r: Report) -> list[str]:
    """Who brought members in this week (who stayed, who signed up)."""
    ranked = await referral_ranking(ctx, since=r.start, until=r.end, top=REFERRALS)
    lines = [ctx.t("report.referrals_title")]
    if not ranked:
        return [*lines, ctx.t("report.no_referrals")]
    for i, rank in enumerate(ranked, 1):
        lines.append(ctx.t("report.referral_line", n=i, name=rank.inviter.display_name, joined=rank.joined,
                           stayed=rank.stayed, signed=rank.signed_up))
    return lines


async def groups_section(ctx: BaseCtx, r: Report) -> list[str]:
    """Each served group with its tier and how many are in it (its size in config.yaml, else as the platform's
    member lists count it where it sends them); nothing for a community of one group without tiers."""
    groups = await groups_with_tiers(ctx)
    if len(groups) < 2 and not ctx.ccfg.tiers:
        return []
    counts = dict((await ctx.db.execute(
        select(RoomMember.room_id, func.count()).where(RoomMember.room_id.in_([g.room_id for g, _ in groups]),
                                                       RoomMember.present.is_(True))
        .group_by(RoomMember.room_id))).all()) if ctx.can(Capability.MEMBER_LIST) else {}
    lines = [ctx.t("report.groups_title")]
    for group, tier in groups:
        size = group.size_hint or counts.get(group.room_id)
        lines.append(ctx.t("report.group_line", name=group_label(group),
                           tier=tier.name if tier else ctx.t("report.no_tier"),
                           size=size if size is not None else ctx.t("report.na_short")))
    return lines


async def best_answers_section(ctx: BaseCtx, r: Report) -> list[str]:
    tips = (select(LedgerEntry.answer_id, func.sum(LedgerEntry.amount).label("points"))
            .join(Answer, Answer.id == LedgerEntry.answer_id).join(Question, Question.id == Answer.question_id)
            .where(LedgerEntry.community_id == ctx.community.id, LedgerEntry.unit == POINTS,
                   LedgerEntry.kind == "tip", counted_tips()).group_by(LedgerEntry.answer_id).subquery())
    rows = (await ctx.db.execute(
        select(Answer.number, Member.display_name, Question.number, Question.title,
               func.coalesce(tips.c.points, 0), Question.best_answer_id == Answer.id)
        .join(Question, Question.id == Answer.question_id).join(Member, Member.id == Answer.author_id)
        .outerjoin(tips, tips.c.answer_id == Answer.id)
        .where(Answer.community_id == ctx.community.id, Answer.hidden.is_(False), Question.hidden.is_(False),
               Answer.answered_at >= r.start, Answer.answered_at < r.end))).all()
    weight = ctx.ccfg.score
    ranked = sorted(rows, key=lambda row: (-(row[4] * weight.point_received + bool(row[5]) * weight.best_answer),
                                           row[0]))
    ranked = [row for row in ranked if row[4] or row[5]][:BEST_ANSWERS]
    lines = [ctx.t("report.best_title")]
    if not ranked:
        return [*lines, ctx.t("report.no_best")]
    for i, (a, name, q, title, points, best) in enumerate(ranked, 1):
        lines.append(ctx.t("report.best_line", n=i, a=a, name=name, q=q, title=title, points=points,
                           best=ctx.t("report.best_mark") if best else ""))
    return lines


def _change(ctx: BaseCtx, label: str, now: int | None, before: int | None, money: bool = False) -> str | None:
    if now is None or before is None:
        return None
    shown = format_fen if money else str
    if now == before:
        arrow = ctx.t("report.same")
    else:
        arrow = ("↑" if now > before else "↓") + shown(abs(now - before))
    return ctx.t("report.change", label=ctx.t(f"report.label.{label}"), arrow=arrow, before=shown(before),
                 now=shown(now))


async def changes_section(ctx: BaseCtx, r: Report) -> list[str]:
    w, b = r.week, r.before
    if b is None:
        return [ctx.t("report.changes_title"), ctx.t("report.first_week")]
    lines = [_change(ctx, "joined", w.joined, b.joined), _change(ctx, "left", w.left, b.left),
             _change(ctx, "active", w.active, b.active), _change(ctx, "messages", w.messages, b.messages),
             _change(ctx, "asked", w.asked, b.asked), _change(ctx, "answered", w.answered, b.answered),
             _change(ctx, "pool", w.pool, b.pool, money=True)]
    return [ctx.t("report.changes_title"), *(line for line in lines if line)]


# The report's sections in order.
SECTIONS: tuple[Section, ...] = (members_section, questions_section, fund_section, duty_section, inactive_section,
                                 best_answers_section, referrals_section, groups_section, changes_section)


async def compile_report(ctx: BaseCtx, start: datetime, end: datetime) -> Report:
    before_start = ctx.week_start(start - timedelta(seconds=1))
    existed = ctx.community.started_at < start
    return Report(start, end, await figures(ctx, start, end),
                  await figures(ctx, before_start, start) if existed else None)


async def render(ctx: BaseCtx, r: Report, *, late: bool = False, so_far: bool = False) -> str:
    lines = [ctx.t("report.title", community=ctx.community.name, span=ctx.span(r.start))]
    if late:
        lines.append(ctx.t("report.late"))
    if so_far:
        lines.append(ctx.t("report.so_far", at=ctx.session_label(r.end)))
    if r.week.quiet:
        lines.append(ctx.t("report.quiet"))
    for section in SECTIONS:
        lines += await section(ctx, r)
    lines.append(ctx.t("report.digest_hint"))
    return "\n".join(lines)


# ---- the chart ---------------------------------------------------------------------------------------------------

async def chart(ctx: BaseCtx, end: datetime) -> Callable[[], Awaitable[str | None]]:
    """The last 12 weeks up to `end` (those since the community started), read now; what draws them as a PNG file
    later (off the transaction), giving its path, or None when drawing failed (logged)."""
    first = ctx.week_start(ctx.community.started_at)
    starts = [s for s in (ctx.week_start(end - timedelta(weeks=k, seconds=1)) for k in range(CHART_WEEKS - 1, -1, -1))
              if s >= first]
    points: list[report_chart.Week] = []
    pools = await pool_at(ctx, [s + timedelta(weeks=1) for s in starts])
    keeps_chat = await _keeps_chat(ctx)
    for start, pool in zip(starts, pools):
        stop = ctx.week_start(start + timedelta(days=7, hours=12))
        active = await active_members(ctx.db, ctx.community.id, start, stop, ctx.tz)
        asked, _, _ = await _questions(ctx, start, stop)
        points.append(report_chart.Week(label=ctx.day(start), active=len(active) if keeps_chat else None,
                                        messages=await _messages(ctx, start, stop), questions=asked, pool_fen=pool))
    labels = report_chart.Labels(
        title=ctx.t("report.chart_title",
                    first=ctx.day(starts[0] if starts else first), last=ctx.day(end - timedelta(days=1))),
        active=ctx.t("report.chart_active"), messages=ctx.t("report.chart_messages"),
        questions=ctx.t("report.chart_questions"), pool=ctx.t("report.chart_pool"), na=ctx.t("report.chart_na"),
        empty=ctx.t("report.chart_empty"))
    path = Path(ctx.config.charts_dir) / f"{ctx.community.id}-{week_stamp(end)}.png"
    community = ctx.community.id

    async def draw() -> str | None:
        try:
            return str(await report_chart.draw(path, points, labels))
        except Exception:
            log.exception("the report chart of %s could not be drawn", community)
            return None
    return draw


# ---- delivery ----------------------------------------------------------------------------------------------------

async def owners(ctx: BaseCtx) -> list[str]:
    granted = await ctx.db.scalars(select(RoleGrant.user_id).where(
        RoleGrant.community_id == ctx.community.id, RoleGrant.role == Role.OWNER.value))
    return sorted({*ctx.ccfg.owners, *granted})


def _can_send_image(ctx: BaseCtx, chat: ChatRef) -> bool:
    """Images go out where the adapter sends files, or to a group with a WeCom robot webhook."""
    if ctx.can(Capability.CAN_SEND_IMAGE):
        return True
    return chat.room_id is not None and any(g.room == chat.room_id and g.webhook_key for g in ctx.ccfg.groups)


async def deliver(ctx: BaseCtx, chats: list[ChatRef], text: str, end: datetime, start: datetime) -> None:
    """The report's text to each chat, then its chart where the platform takes images (drawn once this transaction
    has committed); where it does not, the text says the chart is left out."""
    imaged = [chat for chat in chats if _can_send_image(ctx, chat)]
    for chat in chats:
        await ctx.post(chat, text if chat in imaged else text + "\n" + ctx.t("report.no_chart"))
    if imaged:
        ctx.post_image_later(imaged, await chart(ctx, end), ctx.t("report.chart_caption", span=ctx.span(start)),
                             purpose=CHART_PURPOSE, about=ctx.community.id, failed=ctx.t("report.chart_error"))


async def chart_refused(ctx: BaseCtx, chat: ChatRef, reason: str) -> None:
    """The platform refused a report's chart for good: whoever got the text is told (the text went out alone)."""
    await ctx.post(chat, ctx.t("report.chart_failed", reason=reason))


async def _targets(ctx: BaseCtx) -> list[ChatRef]:
    if ctx.can(Capability.CAN_DM):
        return [ChatRef(user_id=user_id) for user_id in await owners(ctx)]
    if ctx.ccfg.report.owners_room:
        return [ChatRef(room_id=ctx.ccfg.report.owners_room)]
    return []


@router.job("send_owner_report", catch_up="latest", wanted=lambda cfg: any(c.report.weekly for c in cfg.communities))
async def send_owner_report(job: JobCtx) -> None:
    """Each week: last week's report to every owner privately (or the owners' group), once, with its chart."""
    if not job.ccfg.report.weekly:
        return
    targets = await _targets(job)
    if not targets:
        log.warning("the weekly report of %s has nowhere to go: this platform cannot message owners privately and "
                    "report.owners_room is not set", job.community.id)
        return
    start, end = job.last_completed_week(job.period)
    if end <= job.community.started_at:
        return                  # the community's first Monday: the week before it there is nothing to report
    text = await render(job, await compile_report(job, start, end), late=job.late)
    await deliver(job, targets, text, end, start)


@router.command("report", aliases=("运营报告",), role=Role.OWNER)
async def report(ctx: Ctx) -> None:
    """The owners' report of the last complete week, with its chart, on demand: in private (asked in a group, it
    goes to the owner privately; where the bot cannot open a private chat, the owner is asked to write privately)."""
    if ctx.group is not None and not ctx.can(Capability.CAN_DM):
        raise CommandError("report.private_only")
    start, end = ctx.last_completed_week()
    so_far = ctx.community.started_at >= end         # no complete week yet: this one so far
    if so_far:
        start, end = end, ctx.now
    text = await render(ctx, await compile_report(ctx, start, end), so_far=so_far)
    await deliver(ctx, [ChatRef(user_id=ctx.sender_id)], text, end, start)
    if ctx.group is not None:
        await ctx.respond("report.sent_private")
