"""Newcomers: one combined welcome per burst of joins, and the weekly new-members post."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot import roster
from bot.context import BaseCtx, EventCtx, JobCtx
from bot.events import ChatRef, JoinEvent, LeaveEvent
from bot.router import Router
from bot.tiers import tier_of
from handlers import privacy
from handlers.history import kept_note
from models import Group, Member, Profile

router = Router()
WELCOME = "welcome"
MAX_LISTED = 30      # newcomers named in one weekly post
MAX_WELCOMED = 20    # newcomers named in one welcome


def _rules(ctx: BaseCtx, group: Group) -> str:
    """The group's rules: its tier's, else the community's, else the locale's default."""
    tier = tier_of(ctx.ccfg, group)
    rules = (tier.rules if tier else None) or ctx.ccfg.rules or ctx.t("welcome.default_rules").split("\n")
    return "\n".join(f"{i}. {rule}" for i, rule in enumerate(rules, 1))


async def _welcome_text(ctx: EventCtx, user_ids: list[str]) -> str:
    members = {m.user_id: m for m in await ctx.db.scalars(
        select(Member).where(Member.community_id == ctx.community.id, Member.user_id.in_(user_ids)))}
    names = " ".join(f"@{members[u].display_name}" for u in user_ids if u in members)
    text = ctx.t("welcome.text", names=names, community=ctx.community.name, rules=_rules(ctx, ctx.group))
    kept = kept_note(ctx, ctx.group)
    return text if kept is None else f"{text}\n{kept}"


@router.on_join
async def welcome(ctx: EventCtx) -> None:
    """Welcome newcomers: joins that come together share one message, sent once no one has joined for
    `welcome_quiet_seconds`, and at most `welcome_window_seconds` after the first of them."""
    assert isinstance(ctx.event, JoinEvent)
    chat = ChatRef(room_id=ctx.group.room_id)
    quiet = timedelta(seconds=ctx.config.welcome_quiet_seconds)
    window = timedelta(seconds=ctx.config.welcome_window_seconds)
    pending = await ctx.waiting(chat, WELCOME)
    if any(ctx.event.user_id in row.mentions for row in pending):
        return                         # left and joined again while their welcome waits: already welcomed
    # Merge into the newest waiting welcome while it is a whole message (only a split message's first part
    # carries mentions) with room for one more name; otherwise (or if it is being sent right now) this join
    # starts a new welcome. A welcome is stored at the first join it names and a leave rewrites it in place, so
    # its created_at is where its window starts. Never earlier than it was: a failed send's retry time holds.
    last = pending[-1] if pending else None
    if last is not None and last.mentions and len(last.mentions) < MAX_WELCOMED:
        user_ids = [*last.mentions, ctx.event.user_id]
        not_before = max(last.not_before, min(ctx.now + quiet, last.created_at + window))
        if await ctx.rewrite_waiting(last, await _welcome_text(ctx, user_ids), user_ids, not_before=not_before):
            return
    await ctx.post(chat, await _welcome_text(ctx, [ctx.event.user_id]), mentions=(ctx.event.user_id,),
                   purpose=WELCOME, not_before=ctx.now + min(quiet, window))


@router.on_leave
async def unwelcome(ctx: EventCtx) -> None:
    """Someone who leaves while their welcome waits is taken out of it; a welcome left to nobody is dropped."""
    assert isinstance(ctx.event, LeaveEvent)
    chat = ChatRef(room_id=ctx.group.room_id)
    pending = await ctx.waiting(chat, WELCOME)
    for row in pending:
        if ctx.event.user_id not in row.mentions:
            continue
        rest = [u for u in row.mentions if u != ctx.event.user_id]
        parts = [r for r in pending if r.cause == row.cause]        # a long welcome is stored in parts
        # A whole welcome is rewritten in place: it keeps its send time, and the start of its window for later joins.
        if rest and len(parts) == 1 and await ctx.rewrite_waiting(row, await _welcome_text(ctx, rest), rest):
            return
        if not await ctx.withdraw_waiting(parts):
            return                     # it is being sent right now
        if rest:
            await ctx.post(chat, await _welcome_text(ctx, rest), mentions=rest, purpose=WELCOME,
                           not_before=row.not_before)
        return


@router.job("post_new_members", catch_up="latest")
async def post_new_members(job: JobCtx) -> None:
    """Introduce last week's newcomers from their profiles (姓名 and 公司 only while groups are small)."""
    start, end = job.last_completed_week(job.period)
    rows = (await job.db.execute(
        select(Member, Profile).outerjoin(Profile, Profile.member_id == Member.id)
        .where(Member.community_id == job.community.id, Member.deleted_at.is_(None),
               Member.joined_at >= start, Member.joined_at < end)
        .order_by(Member.joined_at, Member.id)
    )).all()
    if not rows:
        return
    show_private = await privacy.shares_everything(job)
    for group in await job.groups():
        here = [(m, p) for m, p in rows if await roster.in_room(job.db, group.room_id, m.user_id)]
        if not here:
            continue
        title = "newcomers.title_late" if job.late else "newcomers.title"     # late: not "last week" any more
        lines = [job.t(title, start=job.day(start, padded=True), end=job.day(end - timedelta(days=1), padded=True),
                       count=len(here))]
        mentions = []
        for member, profile in here[:MAX_LISTED]:
            mentions.append(member.user_id)
            if profile is None:
                lines.append(job.t("newcomers.no_profile", name=member.display_name))
                continue
            bits = [b for b in (profile.city, profile.title, profile.industry) if b]
            if show_private:
                bits = [b for b in (profile.real_name, profile.company) if b] + bits
            line = job.t("newcomers.line", name=member.display_name, about=" · ".join(bits) or "-")
            if profile.skills:
                line += job.t("newcomers.skills", skills=profile.skills)
            if profile.needs:
                line += job.t("newcomers.needs", needs=profile.needs)
            lines.append(line)
        if len(here) > MAX_LISTED:
            lines.append(job.t("newcomers.more", count=len(here) - MAX_LISTED))
        lines.append(job.t("newcomers.footer"))
        await job.post(ChatRef(room_id=group.room_id), "\n".join(lines), mentions=tuple(mentions))
