"""Points tipping: a weekly allowance to give (unused points expire at the reset), points received to keep.

Accounts of the points ledger: "issuer" (grants allowances, takes expired points back; may go negative),
"allowance:<member>:<week>" (spendable that week only) and "received:<member>" (never spendable). An allowance is
granted on the member's first tip of the week, so members who never tip cost no ledger rows.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import func, select

from bot.cleaning import clean
from bot.context import BaseCtx, Ctx, JobCtx
from bot.errors import CommandError
from bot.router import Router
from bot.text import NUMBER, clip, split_first, too_long
from bot.weeks import week_cron, week_stamp
from handlers import ranking
from handlers.refs import find_answer, parse_ref
from models import LedgerAccount, LedgerEntry, Member
from models.ledger import POINTS, Insufficient, account, balance_of, find_account, lock_community, post

router = Router()
REASON_LIMIT = 50


async def _issuer(ctx: BaseCtx) -> LedgerAccount:
    """The points issuer's account (once a transaction: a first tip of the week posts to it twice)."""
    if (issuer := ctx.memo.get("tips.issuer")) is None:
        issuer = ctx.memo["tips.issuer"] = await account(ctx.db, ctx.community.id, POINTS, "issuer",
                                                         may_go_negative=True)
    return cast(LedgerAccount, issuer)


async def expire_allowances(ctx: BaseCtx, before: datetime, *, member_id: int | None = None) -> int:
    """Return the unused allowance of weeks before `before` to the issuer; the points expired."""
    query = select(LedgerAccount).where(
        LedgerAccount.community_id == ctx.community.id, LedgerAccount.unit == POINTS,
        LedgerAccount.kind == "allowance", LedgerAccount.balance > 0, LedgerAccount.week < before)
    if member_id is not None:
        query = query.where(LedgerAccount.member_id == member_id)
    issuer = await _issuer(ctx)
    total = 0
    for old in list(await ctx.db.scalars(query.order_by(LedgerAccount.id))):
        amount = await balance_of(ctx.db, old.id)
        await post(ctx.db, old, issuer, amount, kind="expire", key=f"expire:{old.id}", cause=ctx.cause, now=ctx.now,
                   week=old.week, member_id=old.member_id)
        total += amount
    return total


async def allowance_account(ctx: BaseCtx, member: Member) -> LedgerAccount:
    """This week's allowance account of `member`, granted on first use (last week's leftover expires first)."""
    week = ctx.week_start()
    key = f"allowance:{member.id}:{week_stamp(week)}"
    wallet = await find_account(ctx.db, ctx.community.id, POINTS, key)
    if wallet is not None:
        return wallet                     # granted with the first tip of the week (last week's expired then)
    await expire_allowances(ctx, week, member_id=member.id)
    wallet = await account(ctx.db, ctx.community.id, POINTS, key, member_id=member.id, week=week, new=True)
    await post(ctx.db, await _issuer(ctx), wallet, ctx.ccfg.tips.weekly_allowance, kind="grant",
               key=f"grant:{member.id}:{week_stamp(week)}", cause=ctx.cause, now=ctx.now, week=week,
               member_id=member.id)
    return wallet


async def allowance_left(ctx: BaseCtx, member: Member) -> int:
    week = ctx.week_start()
    left = await ctx.db.scalar(select(LedgerAccount.balance).where(
        LedgerAccount.community_id == ctx.community.id, LedgerAccount.unit == POINTS,
        LedgerAccount.key == f"allowance:{member.id}:{week_stamp(week)}"))
    return ctx.ccfg.tips.weekly_allowance if left is None else int(left)


async def points_received(ctx: BaseCtx, member_id: int, since: datetime | None = None) -> int:
    query = select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
        LedgerEntry.member_id == member_id, LedgerEntry.unit == POINTS, LedgerEntry.kind == "tip")
    if since is not None:
        query = query.where(LedgerEntry.created_at >= since)
    return int((await ctx.db.scalars(query)).one())


async def give(ctx: BaseCtx, giver: Member, receiver: Member, amount: int, *, answer_id: int | None = None,
               question_id: int | None = None, reason: str | None = None) -> int:
    """Move `amount` points from the giver's allowance to the receiver, once per message; the allowance left."""
    if giver.id == receiver.id:
        raise CommandError("tip.self")
    wallet = await allowance_account(ctx, giver)
    inbox = await account(ctx.db, ctx.community.id, POINTS, f"received:{receiver.id}", member_id=receiver.id)
    try:
        await post(ctx.db, wallet, inbox, amount, kind="tip", key=f"tip:{ctx.cause}", cause=ctx.cause, now=ctx.now,
                   week=wallet.week, member_id=receiver.id, actor_id=giver.id, answer_id=answer_id,
                   question_id=question_id, reason=reason)
    except Insufficient as exc:
        raise CommandError("tip.not_enough", amount=amount, left=exc.balance) from None
    return wallet.balance               # as the spend left it


def parse_points(ctx: BaseCtx, token: str) -> int:
    """A whole, positive number of points no larger than the weekly allowance."""
    if re.fullmatch(r"[0-9]+", token):
        amount = int(token) if len(token) <= 12 else None       # a longer number is over any allowance
        if amount == 0:
            raise CommandError("tip.zero")
        if amount is None or amount > ctx.ccfg.tips.weekly_allowance:
            raise CommandError("tip.over_allowance", amount=clip(token, 12), allowance=ctx.ccfg.tips.weekly_allowance)
        return amount
    if re.fullmatch(r"[-−][0-9]+(?:\.[0-9]+)?", token):
        raise CommandError("tip.negative")
    if re.fullmatch(r"[0-9]+[.,][0-9]+", token):
        raise CommandError("tip.whole")
    raise CommandError("tip.usage")


@router.command("tip", aliases=("打赏",))
async def tip(ctx: Ctx) -> None:
    """Give points from your weekly allowance to a member (@name) or to an answer's author (A37)."""
    await lock_community(ctx.db, ctx.community.id)      # an answer hidden meanwhile in another process is seen
    first, rest = split_first(ctx.args)
    number = parse_ref(first, "A") if first and not NUMBER.match(first) else None
    answer = None
    if number is not None:
        answer = await find_answer(ctx, number)
        receiver = await ctx.db.get_one(Member, answer.author_id)
        words = rest
    else:
        targets = await ctx.mentioned_members()
        if len(targets) != 1:
            raise CommandError("tip.usage")
        receiver = targets[0]
        words = ctx.args_without_mentions
    amount_token, reason = split_first(words)
    if not amount_token:
        raise CommandError("tip.usage")
    amount = parse_points(ctx, amount_token)
    why_given = clean(reason).strip() or None
    if why_given is not None and too_long(why_given, REASON_LIMIT):
        raise CommandError("tip.reason_too_long", limit=REASON_LIMIT)
    if receiver.deleted_at is not None:
        raise CommandError("tip.gone")
    left = await give(ctx, ctx.member, receiver, amount, answer_id=answer.id if answer else None,
                      question_id=answer.question_id if answer else None, reason=why_given)
    what = ctx.t("tip.for_answer", ref=f"A{answer.number}") if answer else ""
    why = ctx.t("tip.because", reason=why_given) if why_given else ""
    mentions = (receiver.user_id,) if ctx.group is not None else ()
    shown = f"@{receiver.display_name}" if mentions else receiver.display_name
    await ctx.reply("tip.ok", mentions=mentions, giver=ctx.member.display_name, receiver=shown,
                    amount=amount, what=what, why=why, left=left)


@router.command("points", aliases=("积分",))
async def points(ctx: Ctx) -> None:
    """Your allowance left this week and the points you have received."""
    week = ctx.week_start()
    text = ctx.t("points.show", left=await allowance_left(ctx, ctx.member),
                 allowance=ctx.ccfg.tips.weekly_allowance,
                 reset=ctx.session_label(week + timedelta(days=7)),
                 week=await points_received(ctx, ctx.member.id, since=week),
                 total=await points_received(ctx, ctx.member.id))
    hidden = int(await ctx.db.scalar(ranking.tips_query(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
        LedgerEntry.member_id == ctx.member.id, LedgerEntry.unit == POINTS, LedgerEntry.kind == "tip",
        ~ranking.counted_tips())))
    if hidden:
        text += "\n" + ctx.t("points.hidden", points=hidden)
    await ctx.respond_text(text)


@router.job("reset_allowances", catch_up="each", cron=week_cron)
async def reset_allowances(job: JobCtx) -> None:
    """At the week's start, last week's unused allowances expire (new ones are granted on first use)."""
    await expire_allowances(job, job.week_start(job.period))
