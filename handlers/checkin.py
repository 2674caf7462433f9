"""Daily check-ins (/签到, /打卡): once per member per calendar day of the community, streaks that survive a missed
day by a monthly freeze (applied by itself, one day each), an optional minimum of what the check-in says, and a
monthly check-in ranking with optional milestone points — shown there only, never cash, never in the sharing
ranking or its rewards."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bot.context import BaseCtx, Ctx
from bot.errors import CommandError
from bot.router import Router
from models import CheckIn, Member

router = Router()

RANKED = 10
WORDS = ("签到", "打卡")


def today(ctx: BaseCtx, at: datetime | None = None) -> date:
    """The community's calendar day of `at` (default now), whatever zone the server runs in."""
    return (at or ctx.now).astimezone(ctx.tz).date()


def month_start(day: date) -> date:
    return day.replace(day=1)


async def _freezes_used(ctx: BaseCtx, member_id: int, month: date) -> int:
    nxt = (month + timedelta(days=32)).replace(day=1)
    return int(await ctx.db.scalar(select(func.count()).select_from(CheckIn).where(
        CheckIn.community_id == ctx.community.id, CheckIn.member_id == member_id, CheckIn.frozen.is_(True),
        CheckIn.day >= month, CheckIn.day < nxt)) or 0)


async def _cover(ctx: BaseCtx, member_id: int, missed: list[date]) -> bool:
    """Whether the freezes left in each missed day's month cover every missed day (then they are used up)."""
    by_month: dict[date, int] = {}
    for day in missed:
        by_month[month_start(day)] = by_month.get(month_start(day), 0) + 1
    for month, needed in by_month.items():
        if ctx.ccfg.checkin.freezes_per_month - await _freezes_used(ctx, member_id, month) < needed:
            return False
    return True


def milestone_points(ctx: BaseCtx, before: int, after: int) -> int:
    """Points of the milestones a streak passed going from `before` to `after` days."""
    return sum(points for days, points in ctx.ccfg.checkin.milestones.items() if before < days <= after)


@router.command("checkin", aliases=("签到", "打卡"), words=WORDS)
async def checkin(ctx: Ctx) -> None:
    """Check in for today (what one learnt may follow, and must when checkin.min_chars is set)."""
    text = ctx.args.strip()
    day = today(ctx)
    done = await ctx.db.scalar(select(CheckIn).where(
        CheckIn.community_id == ctx.community.id, CheckIn.member_id == ctx.member.id, CheckIn.day == day))
    if done is not None:
        raise CommandError("checkin.already", streak=done.streak)
    need = ctx.ccfg.checkin.min_chars
    if len(text) < need:
        raise CommandError("checkin.too_short", need=need, have=len(text))
    last = await ctx.db.scalar(select(CheckIn).where(
        CheckIn.community_id == ctx.community.id, CheckIn.member_id == ctx.member.id, CheckIn.day < day)
        .order_by(CheckIn.day.desc()).limit(1))
    streak, frozen = 1, []
    if last is not None:
        missed = [last.day + timedelta(days=n) for n in range(1, (day - last.day).days)]
        if not missed:
            streak = last.streak + 1
        elif await _cover(ctx, ctx.member.id, missed):
            frozen = missed
            streak = last.streak + len(missed) + 1
    for n, missed_day in enumerate(frozen, 1):
        ctx.db.add(CheckIn(community_id=ctx.community.id, member_id=ctx.member.id, day=missed_day, at=ctx.now,
                           frozen=True, streak=(last.streak if last else 0) + n, points=0, text="", cause=ctx.cause))
    points = milestone_points(ctx, last.streak if last is not None and streak > 1 else 0, streak)
    ctx.db.add(CheckIn(community_id=ctx.community.id, member_id=ctx.member.id, day=day, at=ctx.now, frozen=False,
                       streak=streak, points=points, text=text, cause=ctx.cause))
    try:
        await ctx.db.flush()
    except IntegrityError:          # the same member checking in at the same moment from another chat
        raise CommandError("checkin.already", streak=streak) from None
    month = month_start(day)
    count = await ctx.db.scalar(select(func.count()).select_from(CheckIn).where(
        CheckIn.community_id == ctx.community.id, CheckIn.member_id == ctx.member.id, CheckIn.frozen.is_(False),
        CheckIn.day >= month, CheckIn.day <= day))
    lines = [ctx.t("checkin.ok", streak=streak, count=count)]
    if frozen:
        left = ctx.ccfg.checkin.freezes_per_month - await _freezes_used(ctx, ctx.member.id, month)
        lines.append(ctx.t("checkin.frozen", days=ctx.t("common.list_sep").join(ctx.day(_noon(ctx, d))
                                                                                   for d in frozen),
                           left=max(0, left)))
    elif last is not None and streak == 1:
        lines.append(ctx.t("checkin.broken", before=last.streak))
    if points:
        lines.append(ctx.t("checkin.milestone", streak=streak, points=points))
    await ctx.respond_text("\n".join(lines))


def _noon(ctx: BaseCtx, day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=ctx.tz)


@router.subcommand("checkin", "rank", aliases=("排行", "排行榜", "榜"))
async def checkin_rank(ctx: Ctx) -> None:
    """This month's check-ins: most days first, then milestone points, then the longest streak."""
    day = today(ctx)
    month = month_start(day)
    rows = (await ctx.db.execute(
        select(Member.display_name, func.count(CheckIn.id), func.sum(CheckIn.points), func.max(CheckIn.streak))
        .join(Member, Member.id == CheckIn.member_id)
        .where(CheckIn.community_id == ctx.community.id, CheckIn.frozen.is_(False), CheckIn.day >= month,
               CheckIn.day <= day, Member.deleted_at.is_(None))
        .group_by(Member.id, Member.display_name))).all()
    ranked = sorted(rows, key=lambda r: (-r[1], -(r[2] or 0), -(r[3] or 0), r[0]))[:RANKED]
    lines = [ctx.t("checkin.rank_title", month=month.month, year=month.year)]
    if not ranked:
        lines.append(ctx.t("checkin.rank_empty"))
    with_points = bool(ctx.ccfg.checkin.milestones)
    for i, (name, days, points, longest) in enumerate(ranked, 1):
        line = ctx.t("checkin.rank_line", n=i, name=name, days=days, longest=longest)
        if with_points:
            line += ctx.t("checkin.rank_points", points=points or 0)
        lines.append(line)
    if with_points:
        lines.append(ctx.t("checkin.rank_points_note"))
    await ctx.reply_text("\n".join(lines))
