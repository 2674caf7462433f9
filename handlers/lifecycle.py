"""The member lifecycle and the nickname format: a friendly private nudge after a stretch without activity, the
moderators' list of the long idle (removal is theirs to confirm: /移出 不活跃), and private nickname suggestions.

"Active" is bot.activity's definition. Where the bot sees only messages that @-mention it (WeCom), silence is not
observable: the lifecycle is off there and says so.
"""
from __future__ import annotations

import re
import string
from datetime import timedelta
from functools import cache

from sqlalchemy import func, select

from bot import roster
from bot.activity import active_members
from bot.context import BaseCtx, Ctx, JobCtx
from bot.errors import CommandError
from bot.events import Capability
from bot.roles import Role
from bot.router import Router
from handlers.profile import suggested_nickname
from models import Group, Member, MemberNotice, Profile, RoomMember

router = Router()
WEEK = timedelta(days=7)
MAX_LISTED = 50


# ---- who is idle ---------------------------------------------------------------------------------------------

def observable(ctx: BaseCtx) -> bool:
    """Whether silence can be seen: the platform shows the bot every message."""
    return ctx.can(Capability.SEES_ALL_MESSAGES)


async def idle_members(ctx: BaseCtx, days: int) -> list[Member]:
    """Members present in a group of the community, known to the bot for at least `days` days and not active in
    the last `days` days (owners and moderators left out, and anyone in a group whose chat is not kept), in the
    order the bot came to know them."""
    since = ctx.now - timedelta(days=days)
    present = (select(Member).distinct()
               .join(RoomMember, RoomMember.user_id == Member.user_id)
               .join(Group, Group.room_id == RoomMember.room_id)
               .where(Member.community_id == ctx.community.id, Member.deleted_at.is_(None),
                      Group.community_id == ctx.community.id, Group.enabled.is_(True), RoomMember.present.is_(True),
                      func.coalesce(Member.joined_at, Member.first_seen_at) <= since)
               .order_by(Member.id))
    # In a group whose chat is not kept (/记录 关) what a member says is not seen: its members are never called idle.
    unseen = set(await ctx.db.scalars(
        select(RoomMember.user_id).join(Group, Group.room_id == RoomMember.room_id)
        .where(Group.community_id == ctx.community.id, Group.enabled.is_(True), Group.history.is_(False),
               RoomMember.present.is_(True))))
    candidates = [m for m in await ctx.db.scalars(present) if m.user_id not in unseen]
    if not candidates:
        return []
    active = await active_members(ctx.db, ctx.community.id, since, ctx.now, ctx.tz)
    staff = set(await roster.moderators(ctx.db, ctx.ccfg))
    return [m for m in candidates if m.user_id not in active and m.user_id not in staff]


async def idle_for_removal(ctx: BaseCtx) -> list[Member] | None:
    """The members idle for lifecycle.list_days (for the moderators, and the owners' weekly report); None where
    the platform cannot show silence."""
    if not observable(ctx):
        return None
    return await idle_members(ctx, ctx.ccfg.hygiene.lifecycle.list_days)


async def _notice(ctx: BaseCtx, user_id: str, kind: str) -> MemberNotice | None:
    return await ctx.db.get(MemberNotice, (ctx.community.id, user_id, kind))


def _noted(ctx: BaseCtx, notice: MemberNotice | None, user_id: str, kind: str) -> None:
    if notice is None:
        ctx.db.add(MemberNotice(community_id=ctx.community.id, user_id=user_id, kind=kind, count=1, last_at=ctx.now))
    else:
        notice.count += 1
        notice.last_at = ctx.now


def _idle_list(ctx: BaseCtx, members: list[Member]) -> str:
    names = ctx.t("common.list_sep").join(m.display_name for m in members[:MAX_LISTED])
    if len(members) > MAX_LISTED:
        names += ctx.t("lifecycle.more", count=len(members) - MAX_LISTED)
    return names


@router.job("nudge_idle_members", catch_up="latest")
async def nudge_idle_members(job: JobCtx) -> None:
    """Daily: a friendly private word to members idle for lifecycle.nudge_days (once per such stretch)."""
    if not observable(job) or not job.can(Capability.CAN_DM):
        return
    days = job.ccfg.hygiene.lifecycle.nudge_days
    for member in await idle_members(job, days):
        notice = await _notice(job, member.user_id, "idle")
        if notice is not None and notice.last_at > job.now - timedelta(days=days):
            continue
        await job.dm(member.user_id, "lifecycle.nudge", name=member.display_name, community=job.community.name)
        _noted(job, notice, member.user_id, "idle")


@router.job("list_idle_members", catch_up="latest")
async def list_idle_members(job: JobCtx) -> None:
    """Weekly: the moderators get the list of members idle for lifecycle.list_days, with the removal command."""
    idle = await idle_for_removal(job)
    if not idle:
        return
    for user_id in await roster.moderators(job.db, job.ccfg):
        await job.dm(user_id, "lifecycle.list", days=job.ccfg.hygiene.lifecycle.list_days, count=len(idle),
                     names=_idle_list(job, idle))


@router.command("inactive", aliases=("不活跃",), role=Role.MODERATOR)
async def inactive(ctx: Ctx) -> None:
    """The members idle for lifecycle.list_days; /移出 不活跃 asks to remove them."""
    idle = await idle_for_removal(ctx)
    if idle is None:
        raise CommandError("lifecycle.unavailable")
    days = ctx.ccfg.hygiene.lifecycle.list_days
    if not idle:
        await ctx.reply("lifecycle.none", days=days)
        return
    await ctx.reply("lifecycle.list", days=days, count=len(idle), names=_idle_list(ctx, idle))


# ---- nicknames ------------------------------------------------------------------------------------------------

@cache
def nickname_pattern(fmt: str) -> re.Pattern[str]:
    """A nickname format as a pattern: each placeholder one or more characters other than the format's
    separators ("{城市}-{行业}-{昵称}" matches 上海-教育-小明)."""
    parts = list(string.Formatter().parse(fmt))
    separators = "".join(sorted({c for literal, *_ in parts for c in literal if not c.isspace()})) or "-"
    piece = f"[^{re.escape(separators)}]+"
    return re.compile("".join(re.escape(literal) + (piece if name is not None else "")
                              for literal, name, _, _ in parts))


def fits(fmt: str, nickname: str) -> bool:
    return nickname_pattern(fmt).fullmatch(nickname.strip()) is not None


@router.job("remind_nicknames", catch_up="latest",
            wanted=lambda config: any(c.hygiene.nicknames.remind for c in config.communities))
async def remind_nicknames(job: JobCtx) -> None:
    """Daily: signed-up members whose group nickname does not fit the format get a suggestion built from their
    profile, privately: once, then at most hygiene.nicknames.reminders times, a week apart."""
    cfg = job.ccfg.hygiene.nicknames
    if not cfg.remind or not job.can(Capability.CAN_DM):
        return
    fmt = job.ccfg.nickname_format
    rows = (await job.db.execute(
        select(Member, Profile).join(Profile, Profile.member_id == Member.id)
        .join(RoomMember, RoomMember.user_id == Member.user_id)
        .join(Group, Group.room_id == RoomMember.room_id)
        .where(Member.community_id == job.community.id, Member.deleted_at.is_(None), RoomMember.present.is_(True),
               Group.community_id == job.community.id, Group.enabled.is_(True))
        .distinct().order_by(Member.id))).all()
    for member, profile in rows:
        if fits(fmt, member.display_name):
            continue
        suggestion = suggested_nickname(fmt, member, profile.fields())
        if suggestion == member.display_name:
            continue
        notice = await _notice(job, member.user_id, "nickname")
        if notice is None:
            await job.dm(member.user_id, "nickname.suggest", nickname=suggestion, format=fmt)
        elif notice.count <= cfg.reminders and notice.last_at <= job.now - WEEK:
            await job.dm(member.user_id, "nickname.remind", nickname=suggestion, format=fmt,
                         left=cfg.reminders - notice.count)
        else:
            continue
        _noted(job, notice, member.user_id, "nickname")
