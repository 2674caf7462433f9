"""The duty rotation's domain: the queue in order, whose turn is next, shifts started and ended (the moderator role
for the shift only), stipends posted from the ops account at a term's end, and the notes that go with a handover.
The commands (handlers/duty.py) and the term job call these."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update

from bot import roster
from bot.config import CommunityConfig
from bot.context import BaseCtx, addressed
from bot.events import Capability, ChatRef
from bot.money import format_fen
from bot.roles import Role
from bot.text import clip
from bot.weeks import week_cron
from handlers.duty_kpis import Kpis, Term, format_kpis, term_kpis, term_of, terms_left, tier_of, tier_rule
from handlers.duty_notes import handover_note
from handlers.fund import cash, fund_end
from models import Group, Member, RoleGrant
from models.duty import EXPIRED, PENDING, DutyMember, DutyShift, DutyState, DutySwap
from models.ledger import FEN, account, post

DUTY = "duty"               # the source of a moderator grant that the duty made


# ---- terms -------------------------------------------------------------------------------------------------------

def duty_cron(ccfg: CommunityConfig) -> str:
    """When a term can start: each week start (weekly terms) or the first of each month at the week's time."""
    _, unit = ccfg.duty.term_length
    if unit == "w":
        return week_cron(ccfg)
    hour_minute = week_cron(ccfg).split()[:2]
    return f"{hour_minute[0]} {hour_minute[1]} 1 * *"


def term_at(ctx: BaseCtx, at: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the term containing `at`."""
    return term_of(ctx.ccfg, ctx.tz, ctx.community.started_at, at)


def term_label(ctx: BaseCtx, start: datetime, end: datetime) -> str:
    """A term as its days: 11.30–12.6."""
    return ctx.t("date.span", first=ctx.day(start), last=ctx.day(end - timedelta(seconds=1)))


# ---- the queue ---------------------------------------------------------------------------------------------------

async def queue(ctx: BaseCtx) -> list[Member]:
    """The queue in its order (signup order unless an owner moved someone)."""
    return list(await ctx.db.scalars(select(Member).join(DutyMember, DutyMember.member_id == Member.id).where(
        DutyMember.community_id == ctx.community.id).order_by(DutyMember.position, DutyMember.joined_at)))


async def reorder(ctx: BaseCtx, order: list[int]) -> None:
    """Number the queue 1..n in this order."""
    for position, member_id in enumerate(order, 1):
        await ctx.db.execute(update(DutyMember).where(DutyMember.community_id == ctx.community.id,
                                                      DutyMember.member_id == member_id).values(position=position))


async def state(ctx: BaseCtx) -> DutyState:
    found = await ctx.db.get(DutyState, ctx.community.id)
    if found is None:
        found = DutyState(community_id=ctx.community.id, next_member_id=None)
        ctx.db.add(found)
        await ctx.db.flush()
    return found


def after(order: list[int], member_id: int) -> int:
    """The one after `member_id` in the queue, cyclically (after the last, the first again)."""
    return order[(order.index(member_id) + 1) % len(order)]


async def next_up(ctx: BaseCtx, order: list[int], *, besides: int | None = None,
                  strict: bool = False) -> int | None:
    """Whose turn comes next: someone other than `besides` when there is anyone else, else `besides` again (never,
    when `strict`: they are leaving or skipped)."""
    candidates = [m for m in order if m != besides]
    if not candidates:
        return besides if besides in order and not strict else None
    wanted = (await state(ctx)).next_member_id
    if wanted in candidates:
        return wanted
    if besides is not None and besides in order:
        return after(order, besides)
    return candidates[0]


async def add(ctx: BaseCtx, member: Member) -> int:
    """Put a member at the end of the queue; their position."""
    top = await ctx.db.scalar(select(func.max(DutyMember.position)).where(DutyMember.community_id == ctx.community.id))
    position = (top or 0) + 1
    ctx.db.add(DutyMember(community_id=ctx.community.id, member_id=member.id, position=position, joined_at=ctx.now))
    await state(ctx)            # the community has a rotation now: owners hear when it runs dry
    await ctx.db.flush()
    return position


async def remove(ctx: BaseCtx, member_id: int) -> None:
    """Take a member out of the queue (whose turn was next passes to the one after them) and drop their swaps."""
    order = [m.id for m in await queue(ctx)]
    current = await state(ctx)
    if current.next_member_id == member_id:
        following = after(order, member_id)
        current.next_member_id = None if following == member_id else following
    await ctx.db.execute(delete(DutyMember).where(DutyMember.community_id == ctx.community.id,
                                                  DutyMember.member_id == member_id))
    await ctx.db.execute(update(DutySwap).where(
        DutySwap.community_id == ctx.community.id, DutySwap.status == PENDING,
        (DutySwap.from_member_id == member_id) | (DutySwap.to_member_id == member_id)).values(status=EXPIRED))
    await reorder(ctx, [m for m in order if m != member_id])


# ---- shifts ------------------------------------------------------------------------------------------------------

async def current_shift(ctx: BaseCtx) -> DutyShift | None:
    return await ctx.db.scalar(select(DutyShift).where(DutyShift.community_id == ctx.community.id,
                                                       DutyShift.ended_at.is_(None)).order_by(DutyShift.id.desc()))


async def on_duty(ctx: BaseCtx) -> Member | None:
    """The moderator on duty now (None: the owners hold it)."""
    shift = await current_shift(ctx)
    return await ctx.db.get(Member, shift.member_id) if shift is not None else None


async def start_shift(ctx: BaseCtx, member_id: int, at: datetime) -> DutyShift:
    """Put a member on duty from `at` to the end of its term, with the moderator role for that long; the turn after
    theirs is the next in the queue."""
    start, end = term_at(ctx, at)
    member = await ctx.db.get_one(Member, member_id)
    held = member.user_id in (*ctx.ccfg.owners, *ctx.ccfg.moderators) or await ctx.db.get(
        RoleGrant, (ctx.community.id, member.user_id, Role.MODERATOR.value)) is not None
    if not held:
        ctx.db.add(RoleGrant(community_id=ctx.community.id, user_id=member.user_id, role=Role.MODERATOR.value,
                             source=DUTY, granted_by=None, granted_at=ctx.now))
        ctx.roles_changed()
    shift = DutyShift(community_id=ctx.community.id, member_id=member_id, term_start=start, term_end=end,
                      started_at=at, granted=not held, settled=False, cause=ctx.cause)
    ctx.db.add(shift)
    order = [m.id for m in await queue(ctx)]
    if member_id in order:
        (await state(ctx)).next_member_id = after(order, member_id)
    await ctx.db.flush()
    return shift


async def end_shift(ctx: BaseCtx, shift: DutyShift, at: datetime, reason: str) -> None:
    """Take a member off duty at `at` (the role the duty gave goes with it); paid when the term ends."""
    shift.ended_at, shift.end_reason = at, reason
    if shift.granted:
        member = await ctx.db.get_one(Member, shift.member_id)
        await ctx.db.execute(delete(RoleGrant).where(
            RoleGrant.community_id == ctx.community.id, RoleGrant.user_id == member.user_id,
            RoleGrant.role == Role.MODERATOR.value, RoleGrant.source == DUTY))
        ctx.roles_changed()
    await ctx.db.flush()


# ---- telling people ------------------------------------------------------------------------------------------

async def tell(ctx: BaseCtx, member: Member, text: str) -> None:
    """A note for one member: in private where the platform can send one, else in their groups, @-mentioning
    them."""
    if ctx.can(Capability.CAN_DM):
        await ctx.post(ChatRef(user_id=member.user_id), text)
        return
    groups = await roster.groups_of(ctx.db, ctx.community.id, member.user_id)
    if not groups:
        groups = list(await ctx.db.scalars(select(Group).where(Group.community_id == ctx.community.id,
                                                                Group.enabled).order_by(Group.room_id)))
    for group in groups:
        await ctx.post(ChatRef(room_id=group.room_id), addressed(member.display_name, text),
                       mentions=(member.user_id,))


async def tell_owners(ctx: BaseCtx, text: str) -> None:
    owners = set(ctx.ccfg.owners) | set(await ctx.db.scalars(select(RoleGrant.user_id).where(
        RoleGrant.community_id == ctx.community.id, RoleGrant.role == Role.OWNER.value)))
    for member in (await roster.members_by_user(ctx.db, ctx.community.id, sorted(owners))).values():
        await tell(ctx, member, text)


async def warn_if_short(ctx: BaseCtx) -> None:
    """Owners hear when the queue is empty (the duty falls to them) or has fewer than two in it."""
    members = await queue(ctx)
    if not members:
        await tell_owners(ctx, ctx.t("duty.owners_empty"))
    elif len(members) < 2:
        await tell_owners(ctx, ctx.t("duty.owners_short", name=members[0].display_name))


async def hand_over(ctx: BaseCtx, shift: DutyShift, reason: str, *, besides: int | None = None) -> Member | None:
    """End the shift now and put the next in line on duty for the rest of the term (None: nobody else is queued,
    the owners hold it). `besides`: who must not take it (the one leaving or skipped)."""
    order = [m.id for m in await queue(ctx)]
    following = await next_up(ctx, order, besides=besides if besides is not None else shift.member_id, strict=True)
    await end_shift(ctx, shift, ctx.now, reason)
    if following is None:
        return None
    new = await start_shift(ctx, following, ctx.now)
    member = await ctx.db.get_one(Member, following)
    await tell(ctx, member, await handover_note(ctx, new))
    return member


# ---- stipends ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Settled:
    shift: DutyShift
    member: Member
    kpis: Kpis


async def term_stipend(ctx: BaseCtx, term_end: datetime) -> int:
    """The stipend of the term ending at `term_end`: the fixed amount, or the ops balance ÷ terms left to the
    fund's end (stipends already posted have left the balance)."""
    fixed = ctx.ccfg.duty.stipend_fen
    if fixed is not None:
        return fixed
    ops = await cash(ctx, "ops")
    return max(0, ops.balance) // terms_left(ctx.ccfg, ctx.tz, ctx.community.started_at, term_end, fund_end(ctx))


async def cover_unfunded(ctx: BaseCtx) -> None:
    """Stipends once owed beyond what the ops account held are funded first from ops income that came since."""
    debt = await account(ctx.db, ctx.community.id, FEN, "unfunded", may_go_negative=True)
    ops = await cash(ctx, "ops")
    amount = min(-debt.balance, ops.balance)
    if amount > 0:
        await post(ctx.db, ops, debt, amount, kind="stipend_funding", key=f"stipend-funding:{ctx.cause}",
                   cause=ctx.cause, now=ctx.now)


async def settle(ctx: BaseCtx, term_end: datetime) -> list[Settled]:
    """Close the shifts of the term that ends at `term_end` and post each one's stipend once: the term's stipend ×
    the KPI tier's share (× the time served, prorated), from ops to the moderator's stipend payable; what ops lacks
    is owed all the same, as unfunded."""
    shifts = list(await ctx.db.scalars(select(DutyShift).where(
        DutyShift.community_id == ctx.community.id, DutyShift.settled.is_(False), DutyShift.term_end <= term_end)
        .order_by(DutyShift.started_at, DutyShift.id)))
    if not shifts:
        return []
    await cover_unfunded(ctx)
    amounts: dict[datetime, int] = {}
    cfg = ctx.ccfg.duty
    rule = tier_rule(ctx.locale, cfg.tiers)
    done = []
    for shift in shifts:
        if shift.ended_at is None:
            await end_shift(ctx, shift, shift.term_end, "term")
        assert shift.ended_at is not None
        if shift.term_end not in amounts:
            amounts[shift.term_end] = await term_stipend(ctx, shift.term_end)
        member = await ctx.db.get_one(Member, shift.member_id)
        kpis = await term_kpis(ctx.db, ctx.community, Term(shift.started_at, shift.ended_at, member.id,
                                                          member.user_id, member.display_name))
        tier = tier_of(cfg.tiers, kpis)
        share = cfg.tiers[tier].share if tier is not None else 0
        term_length = (shift.term_end - shift.term_start).total_seconds()
        served = (shift.ended_at - shift.started_at).total_seconds()
        paid_for = served if cfg.prorate else term_length if shift.end_reason == "term" else 0
        amount = int(amounts[shift.term_end] * share * paid_for // (100 * term_length))
        shift.tier, shift.share, shift.amount, shift.unfunded, shift.settled = tier, share, amount, 0, True
        if amount > 0:
            reason = clip(ctx.t("duty.entry_reason", answerers=kpis.answerers, percent=kpis.answered_percent,
                                share=share, days=f"{served / 86400:.1f}", term=f"{term_length / 86400:.0f}",
                                rule=rule), 190)
            payable = await account(ctx.db, ctx.community.id, FEN, f"stipend:{member.id}", member_id=member.id)
            ops = await cash(ctx, "ops")
            funded = min(amount, max(0, ops.balance))
            if funded:
                await post(ctx.db, ops, payable, funded, kind="stipend", key=f"stipend:{shift.id}", cause=ctx.cause,
                           now=ctx.now, member_id=member.id, reason=reason)
            if amount > funded:
                debt = await account(ctx.db, ctx.community.id, FEN, "unfunded", may_go_negative=True)
                await post(ctx.db, debt, payable, amount - funded, kind="stipend_unfunded",
                           key=f"stipend-unfunded:{shift.id}", cause=ctx.cause, now=ctx.now, member_id=member.id,
                           reason=reason)
                shift.unfunded = amount - funded
        done.append(Settled(shift, member, kpis))
    await ctx.db.flush()
    return done


def stipend_text(ctx: BaseCtx, shift: DutyShift) -> str:
    """'津贴 ¥575.00（档位：全额 100%，值班 3.5/7 天）' with what of it is unfunded."""
    days = ((shift.ended_at or shift.term_end) - shift.started_at) / timedelta(days=1)
    term = (shift.term_end - shift.term_start) / timedelta(days=1)
    text = ctx.t("duty.stipend_line", amount=format_fen(shift.amount or 0), share=shift.share or 0,
                 days=f"{days:.1f}", term=f"{term:.0f}")
    if shift.unfunded:
        text += ctx.t("duty.stipend_unfunded", amount=format_fen(shift.unfunded))
    return text


def kpi_lines(ctx: BaseCtx, kpis: Kpis) -> list[str]:
    return format_kpis(ctx.locale, kpis)
