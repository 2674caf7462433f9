"""Referrals: a member's personal invite code, who brought whom (a redeemed code, else the platform's inviter),
each member's referrals, the ranking the owner's report shows, and an optional reward for invitees who stay."""
from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select

from bot import roster
from bot.context import BaseCtx, Ctx, EventCtx, JobCtx
from bot.errors import CommandError
from bot.events import JoinEvent
from bot.router import Router
from bot.text import clip
from bot.weeks import week_cron
from handlers.fund import cash
from models import Group, InviteCode, Member, Profile, Referral, RoomMember
from models.ledger import POINTS, Insufficient, account, post

router = Router()

# "YQ-" and six letters and digits: never mistaken for a challenge code (six letters and digits, no prefix).
CODE = re.compile(r"YQ-[2-9A-HJ-NP-Z]{6}")
SHOWN = 20          # referrals listed by /邀请 记录


def _new_code(ctx: BaseCtx, member: Member) -> str:
    seed = f"invite:{ctx.community.id}:{member.id}:{ctx.community.started_at.isoformat()}:{ctx.cause}".encode()
    raw = base64.b32encode(hashlib.sha256(seed).digest()).decode()
    return "YQ-" + "".join(c for c in raw if c not in "01IO")[:6]


async def code_of(ctx: BaseCtx, member: Member) -> str:
    """The member's invite code, made on first use."""
    found = await ctx.db.scalar(select(InviteCode.code).where(InviteCode.member_id == member.id))
    if found is not None:
        return found
    code = _new_code(ctx, member)
    ctx.db.add(InviteCode(code=code, community_id=ctx.community.id, member_id=member.id, created_at=ctx.now))
    return code


def _joined(member: Member) -> datetime:
    """When the member came: their join, or (where the platform tells no joins) when the bot first saw them."""
    return member.joined_at or member.first_seen_at


@router.command("invite", aliases=("邀请",))
async def invite(ctx: Ctx) -> None:
    """Your personal invite code (`/邀请`), or redeem the code of whoever invited you (`/邀请 CODE`)."""
    typed = ctx.args.strip().upper()
    if not typed:
        code = await code_of(ctx, ctx.member)
        await ctx.respond("invite.code", code=code, community=ctx.community.name,
                          days=ctx.ccfg.invites.redeem_days)
        return
    if not CODE.fullmatch(typed):
        raise CommandError("invite.unknown", code=clip(typed, 12))
    row = await ctx.db.get(InviteCode, typed)
    inviter = await ctx.db.get(Member, row.member_id) if row is not None and row.community_id == ctx.community.id \
        else None
    if inviter is None or inviter.deleted_at is not None:
        raise CommandError("invite.unknown", code=typed)
    if inviter.id == ctx.member.id:
        raise CommandError("invite.own")
    current = await ctx.db.get(Referral, ctx.member.id)
    if current is not None and current.source == "code":
        raise CommandError("invite.used", code=current.code or typed)
    days = ctx.ccfg.invites.redeem_days
    if ctx.now - _joined(ctx.member) > timedelta(days=days):
        raise CommandError("invite.too_late", days=days, date=ctx.date(_joined(ctx.member)))
    if current is None:
        current = Referral(invitee_id=ctx.member.id, community_id=ctx.community.id)
        ctx.db.add(current)
    current.inviter_id, current.source, current.code = inviter.id, "code", typed
    current.at, current.cause = _joined(ctx.member), ctx.cause
    await ctx.respond("invite.redeemed", name=inviter.display_name)


@router.on_join
async def attribute_join(ctx: EventCtx) -> None:
    """A join names its inviter (wechaty): the referral is theirs unless a code is redeemed later."""
    assert isinstance(ctx.event, JoinEvent)
    if ctx.member is None or not ctx.event.inviter_id or ctx.event.inviter_id == ctx.event.user_id:
        return
    if await ctx.db.get(Referral, ctx.member.id) is not None:
        return                              # joined before (another group, or left and came back): the first stays
    inviter = await roster.get_member(ctx.db, ctx.community.id, ctx.event.inviter_id)
    if inviter is None:
        return
    ctx.db.add(Referral(invitee_id=ctx.member.id, community_id=ctx.community.id, inviter_id=inviter.id,
                        source="platform", at=ctx.now, cause=ctx.cause))


@dataclass
class Referred:
    member: Member
    referral: Referral
    present: bool
    signed_up: bool


async def referrals(ctx: BaseCtx, *, inviter_id: int | None = None, since: datetime | None = None,
                    until: datetime | None = None) -> list[Referred]:
    """The community's referrals (one inviter's, or joins in [since, until)), oldest first, with whether each
    invitee is still in a group and has signed up."""
    present = exists().where(RoomMember.user_id == Member.user_id, RoomMember.present.is_(True),
                             RoomMember.room_id.in_(select(Group.room_id).where(
                                 Group.community_id == ctx.community.id, Group.enabled.is_(True))))
    signed = exists().where(Profile.member_id == Member.id)
    query = (select(Member, Referral, present, signed).join(Referral, Referral.invitee_id == Member.id)
             .where(Referral.community_id == ctx.community.id).order_by(Referral.at, Member.id))
    if inviter_id is not None:
        query = query.where(Referral.inviter_id == inviter_id)
    if since is not None:
        query = query.where(Referral.at >= since)
    if until is not None:
        query = query.where(Referral.at < until)
    return [Referred(m, r, bool(p), bool(s)) for m, r, p, s in await ctx.db.execute(query)]


@dataclass
class ReferralRank:
    inviter: Member
    joined: int
    stayed: int
    signed_up: int


async def referral_ranking(ctx: BaseCtx, since: datetime | None = None, until: datetime | None = None,
                           top: int = 10) -> list[ReferralRank]:
    """Who brought the most members who stayed (then who signed up, then all joins), for the owner's report."""
    by_inviter: dict[int, ReferralRank] = {}
    rows = await referrals(ctx, since=since, until=until)
    inviters = {m.id: m for m in await ctx.db.scalars(select(Member).where(
        Member.id.in_({r.referral.inviter_id for r in rows})))}
    for r in rows:
        rank = by_inviter.setdefault(r.referral.inviter_id, ReferralRank(inviters[r.referral.inviter_id], 0, 0, 0))
        rank.joined += 1
        rank.stayed += r.present
        rank.signed_up += r.signed_up
    ranked = sorted(by_inviter.values(), key=lambda x: (-x.stayed, -x.signed_up, -x.joined, x.inviter.id))
    return ranked[:top]


# Listed by /帮助 under /邀请 (its verb 记录), not again on its own.
@router.command("invites", aliases=("邀请记录",), hidden=True)
async def invites(ctx: Ctx) -> None:
    """Whom you brought: who joined, who is still in, who signed up."""
    rows = await referrals(ctx, inviter_id=ctx.member.id)
    if not rows:
        raise CommandError("invite.none")
    lines = [ctx.t("invite.list_title", count=len(rows), stayed=sum(r.present for r in rows),
                   signed=sum(r.signed_up for r in rows))]
    for r in rows[-SHOWN:]:
        state = ctx.t("invite.state_deleted") if r.member.deleted_at is not None else \
            ctx.t("invite.state_in" if r.present else "invite.state_left")
        signed = ctx.t("invite.signed" if r.signed_up else "invite.not_signed")
        lines.append(ctx.t("invite.line", name=r.member.display_name, date=ctx.day(r.referral.at),
                           how=ctx.t(f"invite.by_{r.referral.source}"), state=state, signed=signed))
    if len(rows) > SHOWN:
        lines.append(ctx.t("invite.more", count=len(rows) - SHOWN))
    await ctx.respond_text("\n".join(lines))


router.subcommand("invite", "list", aliases=("记录", "records"))(invites)


@router.job("reward_referrals", catch_up="each", cron=week_cron,
            wanted=lambda config: any(c.invites.rewarded for c in config.communities))
async def reward_referrals(job: JobCtx) -> None:
    """At the week's start: an inviter earns the configured reward for each invitee who signed up and is still in
    reward_after_weeks after joining; once per invitee. Points are their own kind and never count in the ranking;
    cash is a payable from the reward pool, in the open ledger (left for a later week while the pool is short)."""
    cfg = job.ccfg.invites
    if not cfg.rewarded:
        return
    due = job.period - timedelta(weeks=cfg.reward_after_weeks)
    for r in await referrals(job, until=due + timedelta(microseconds=1)):
        if r.referral.rewarded_at is not None or not (r.present and r.signed_up) or r.member.deleted_at is not None:
            continue
        inviter_id, key = r.referral.inviter_id, f"referral:{r.member.id}"
        details: dict[str, Any] = {"member_id": inviter_id, "week": job.period, "reason": r.member.display_name}
        if cfg.reward_cash_fen:
            try:
                await post(job.db, await cash(job, "pool"), await cash(job, f"payable:{inviter_id}", inviter_id),
                           cfg.reward_cash_fen, kind="referral", key=key, cause=job.cause, now=job.now, **details)
            except Insufficient:
                continue
        if cfg.reward_points:
            issuer = await account(job.db, job.community.id, POINTS, "referral_issuer", may_go_negative=True)
            bonus = await account(job.db, job.community.id, POINTS, f"referral:{inviter_id}", member_id=inviter_id)
            await post(job.db, issuer, bonus, cfg.reward_points, kind="referral", key=key, cause=job.cause,
                       now=job.now, **details)
        r.referral.rewarded_at = job.now
