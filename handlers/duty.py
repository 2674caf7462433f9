"""Duty moderators who rotate (/值班): members queue up in signup order and take turns of a configured term; the
one on duty holds the moderator role for that term, routes questions to the people who can answer them, and is
paid a stipend from the ops account by KPIs computed from what happened. Owners skip turns and move people; two
members swap turns once the other confirms."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot import roster
from bot.context import BaseCtx, Ctx, EventCtx, JobCtx
from bot.errors import CommandError
from bot.events import Capability, ChatRef
from bot.roles import Role
from bot.router import Router
from bot.text import NUMBER, split_first
from handlers.duty_kpis import Term, term_kpis, tier_of, tier_rule
from handlers.duty_notes import handover_note
from handlers.duty_rotation import (
    add,
    after,
    current_shift,
    duty_cron,
    end_shift,
    hand_over,
    kpi_lines,
    next_up,
    queue,
    remove,
    reorder,
    settle,
    start_shift,
    state,
    stipend_text,
    tell,
    tell_owners,
    term_at,
    term_label,
    warn_if_short,
)
from handlers.refs import find_question, parse_ref
from models import Answer, Member
from models.duty import DONE, EXPIRED, PENDING, DutyMember, DutyRoute, DutyShift, DutyState, DutySwap
from models.ledger import lock_community
from models.questions import CLOSED

router = Router()

async def _in_queue(ctx: BaseCtx, member: Member) -> DutyMember | None:
    return await ctx.db.get(DutyMember, (ctx.community.id, member.id))


async def _one_mentioned(ctx: Ctx, usage: str) -> Member:
    members = await ctx.mentioned_members()
    if len(members) != 1:
        raise CommandError(usage)
    return members[0]


# ---- the queue ---------------------------------------------------------------------------------------------------

@router.command("mod", aliases=("值班",))
async def mod(ctx: Ctx) -> None:
    """The duty rotation: the queue in order, who is on duty and until when. Its verbs follow."""
    if ctx.args.strip():
        raise CommandError("duty.usage")
    await _show(ctx)


@router.subcommand("mod", "list", aliases=("名单", "列表"))
async def mod_list(ctx: Ctx) -> None:
    """The queue in order, who is on duty and until when, whose turn is next."""
    if ctx.args.strip():
        raise CommandError("duty.usage")
    await _show(ctx)


async def _show(ctx: Ctx) -> None:
    members = await queue(ctx)
    shift = await current_shift(ctx)
    count, unit = ctx.ccfg.duty.term_length
    lines = [ctx.t("duty.list_title", term=ctx.t(f"duty.term_{unit}", n=count))]
    if shift is not None:
        member = await ctx.db.get_one(Member, shift.member_id)
        lines.append(ctx.t("duty.list_on_duty", name=member.display_name, until=ctx.session_label(shift.term_end)))
    else:
        lines.append(ctx.t("duty.list_owners"))
    if not members:
        lines.append(ctx.t("duty.list_empty"))
    else:
        following = await next_up(ctx, [m.id for m in members], besides=shift.member_id if shift else None)
        for n, member in enumerate(members, 1):
            mark = ""
            if shift is not None and member.id == shift.member_id:
                mark = ctx.t("duty.mark_on_duty")
            elif member.id == following:
                mark = ctx.t("duty.mark_next")
            lines.append(ctx.t("duty.list_line", n=n, name=member.display_name, mark=mark))
    lines.append(ctx.t("duty.list_hint"))
    await ctx.reply_text("\n".join(lines))


@router.subcommand("mod", "join", aliases=("报名",))
async def mod_join(ctx: Ctx) -> None:
    """Join the rotation at the end of the queue; when nobody is on duty, take it at once."""
    await lock_community(ctx.db, ctx.community.id)
    if ctx.args.strip():
        raise CommandError("duty.join_usage")
    place = await _in_queue(ctx, ctx.member)
    if place is not None:
        order = [m.id for m in await queue(ctx)]
        raise CommandError("duty.already_queued", n=order.index(ctx.member.id) + 1)
    position = await add(ctx, ctx.member)
    if await current_shift(ctx) is None:
        shift = await start_shift(ctx, ctx.member.id, ctx.now)
        await ctx.respond("duty.joined_on_duty", until=ctx.session_label(shift.term_end))
        await tell(ctx, ctx.member, await handover_note(ctx, shift))
    else:
        await ctx.respond("duty.joined", n=position)


@router.subcommand("mod", "leave", aliases=("退出",))
async def mod_leave(ctx: Ctx) -> None:
    """Leave the rotation (an owner may take someone else out: /值班 退出 @成员); whoever is on duty hands over to
    the next in line at once."""
    await lock_community(ctx.db, ctx.community.id)
    named = await ctx.mentioned_members()
    if len(named) > 1 or (named and ctx.args_without_mentions) or (not named and ctx.args.strip()):
        raise CommandError("duty.leave_usage")
    if named and named[0].id != ctx.member.id and not ctx.is_owner:
        raise CommandError("duty.leave_others")
    member = named[0] if named else ctx.member
    if await _in_queue(ctx, member) is None:
        raise CommandError("duty.not_queued", name=member.display_name)
    was_on_duty, following = await _leave(ctx, member, "left")
    if not was_on_duty:
        await ctx.reply("duty.left", name=member.display_name)
    elif following is None:
        await ctx.reply("duty.left_owners", name=member.display_name)
    else:
        shift = await current_shift(ctx)
        assert shift is not None
        await ctx.reply("duty.left_handed_over", mentions=(following.user_id,), name=member.display_name,
                        next=following.display_name, until=ctx.session_label(shift.term_end))


async def _leave(ctx: BaseCtx, member: Member, reason: str) -> tuple[bool, Member | None]:
    """Take a member out of the queue; if on duty, the next in line takes over now and the owners are told.
    (Whether they were on duty, who took over: None, nobody, the owners hold it.)"""
    shift = await current_shift(ctx)
    following: Member | None = None
    on_duty_now = shift is not None and shift.member_id == member.id
    if shift is not None and on_duty_now:
        following = await hand_over(ctx, shift, reason, besides=member.id)
        await tell_owners(ctx, ctx.t("duty.owners_left", name=member.display_name,
                                     next=following.display_name if following else ctx.t("duty.owners_hold")))
    await remove(ctx, member.id)
    if len(await queue(ctx)) < 2:
        await warn_if_short(ctx)
    return on_duty_now, following


@router.on_forget
async def member_gone(ctx: BaseCtx, member: Member) -> None:
    """A member left every group of the community or deleted their data: out of the queue, and off duty (the next in
    line takes over; their stipend is prorated to the time served)."""
    if await ctx.db.get(DutyMember, (ctx.community.id, member.id)) is not None:
        await lock_community(ctx.db, ctx.community.id)
        await _leave(ctx, member, "gone")
        return
    shift = await current_shift(ctx)
    if shift is not None and shift.member_id == member.id:
        await hand_over(ctx, shift, "gone", besides=member.id)


@router.on_leave
async def left_group(ctx: EventCtx) -> None:
    """Someone in the rotation who is in none of the community's groups any more leaves it."""
    if ctx.member is None or await roster.groups_of(ctx.db, ctx.community.id, ctx.member.user_id):
        return
    await member_gone(ctx, ctx.member)


# ---- owners: skip, move ----------------------------------------------------------------------------------------

@router.subcommand("mod", "skip", aliases=("跳过",), role=Role.OWNER)
async def mod_skip(ctx: Ctx) -> None:
    """Skip the turn of whoever is on duty: the next in line takes over now (nobody on duty: the next turn is
    skipped)."""
    await lock_community(ctx.db, ctx.community.id)
    if ctx.args.strip():
        raise CommandError("duty.skip_usage")
    members = await queue(ctx)
    order = [m.id for m in members]
    shift = await current_shift(ctx)
    if shift is None:
        skipped = await next_up(ctx, order)
        if skipped is None or len(order) < 2:
            raise CommandError("duty.skip_nobody")
        (await state(ctx)).next_member_id = after(order, skipped)
        name = next(m.display_name for m in members if m.id == skipped)
        await ctx.reply("duty.skipped_next", name=name)
        return
    if not [m for m in order if m != shift.member_id]:
        raise CommandError("duty.skip_alone")
    skipped_member = await ctx.db.get_one(Member, shift.member_id)
    following = await hand_over(ctx, shift, "skipped")
    assert following is not None
    await ctx.reply("duty.skipped", mentions=(following.user_id,), name=skipped_member.display_name,
                    next=following.display_name, until=ctx.session_label(shift.term_end))


@router.subcommand("mod", "move", aliases=("调整",), role=Role.OWNER)
async def mod_move(ctx: Ctx) -> None:
    """Move a member to another place in the queue: /值班 调整 @成员 3."""
    await lock_community(ctx.db, ctx.community.id)
    target = await _one_mentioned(ctx, "duty.move_usage")
    token = ctx.args_without_mentions
    if not NUMBER.match(token):
        raise CommandError("duty.move_usage")
    order = [m.id for m in await queue(ctx)]
    if target.id not in order:
        raise CommandError("duty.not_queued", name=target.display_name)
    place = int(token)
    if not 1 <= place <= len(order):
        raise CommandError("duty.move_range", count=len(order))
    order.remove(target.id)
    order.insert(place - 1, target.id)
    await reorder(ctx, order)
    await ctx.reply("duty.moved", name=target.display_name, n=place)


# ---- swaps -----------------------------------------------------------------------------------------------------

@router.subcommand("mod", "swap", aliases=("换班",))
async def mod_swap(ctx: Ctx) -> None:
    """Ask another member of the queue to swap turns; it happens when they confirm (/值班 确认) in time."""
    await lock_community(ctx.db, ctx.community.id)
    other = await _one_mentioned(ctx, "duty.swap_usage")
    if ctx.args_without_mentions:
        raise CommandError("duty.swap_usage")
    if other.id == ctx.member.id:
        raise CommandError("duty.swap_self")
    order = [m.id for m in await queue(ctx)]
    if ctx.member.id not in order:
        raise CommandError("duty.not_queued", name=ctx.member.display_name)
    if other.id not in order:
        raise CommandError("duty.not_queued", name=other.display_name)
    for earlier in await ctx.db.scalars(select(DutySwap).where(
            DutySwap.community_id == ctx.community.id, DutySwap.from_member_id == ctx.member.id,
            DutySwap.status == PENDING)):
        earlier.status = EXPIRED            # one request at a time: the new one replaces it
    hours = ctx.ccfg.duty.swap_hours
    ctx.db.add(DutySwap(community_id=ctx.community.id, from_member_id=ctx.member.id, to_member_id=other.id,
                        requested_at=ctx.now, expires_at=ctx.now + timedelta(hours=hours), status=PENDING,
                        cause=ctx.cause))
    text = ctx.t("duty.swap_asked", name=ctx.member.display_name, mine=order.index(ctx.member.id) + 1,
                 theirs=order.index(other.id) + 1, hours=hours)
    if ctx.group is not None:
        await ctx.reply_text(f"@{other.display_name} {text}", mentions=(other.user_id,))
    else:
        await tell(ctx, other, text)
        await ctx.reply("duty.swap_sent", name=other.display_name, hours=hours)


@router.subcommand("mod", "confirm", aliases=("确认",))
async def mod_confirm(ctx: Ctx) -> None:
    """Confirm a swap another member asked for: your places in the queue change; if one of you is on duty, the
    other takes over now."""
    await lock_community(ctx.db, ctx.community.id)
    if ctx.args.strip():
        raise CommandError("duty.confirm_usage")
    asked = list(await ctx.db.scalars(select(DutySwap).where(
        DutySwap.community_id == ctx.community.id, DutySwap.to_member_id == ctx.member.id,
        DutySwap.status == PENDING).order_by(DutySwap.requested_at.desc(), DutySwap.id.desc())))
    live = [s for s in asked if s.expires_at > ctx.now]
    for stale in asked:
        if stale not in live:
            stale.status = EXPIRED
    if not live:
        raise CommandError("duty.confirm_expired" if asked else "duty.confirm_none", hours=ctx.ccfg.duty.swap_hours)
    swap = live[0]
    requester = await ctx.db.get_one(Member, swap.from_member_id)
    members = await queue(ctx)
    order = [m.id for m in members]
    if requester.id not in order or ctx.member.id not in order:
        swap.status = EXPIRED
        raise CommandError("duty.confirm_gone")
    i, j = order.index(requester.id), order.index(ctx.member.id)
    order[i], order[j] = order[j], order[i]
    await reorder(ctx, order)
    current = await state(ctx)
    if current.next_member_id in (requester.id, ctx.member.id):
        current.next_member_id = ctx.member.id if current.next_member_id == requester.id else requester.id
    swap.status = DONE
    shift = await current_shift(ctx)
    if shift is not None and shift.member_id in (requester.id, ctx.member.id):
        taker = ctx.member if shift.member_id == requester.id else requester
        await end_shift(ctx, shift, ctx.now, "swapped")
        new = await start_shift(ctx, taker.id, ctx.now)
        current.next_member_id = after(order, shift.member_id)       # the one relieved serves at the taker's turn
        await tell(ctx, taker, await handover_note(ctx, new))
        await ctx.reply("duty.swapped_now", mentions=(requester.user_id,), name=requester.display_name,
                        other=ctx.member.display_name, taker=taker.display_name,
                        until=ctx.session_label(new.term_end))
        return
    await ctx.reply("duty.swapped", mentions=(requester.user_id,), name=requester.display_name,
                    other=ctx.member.display_name)


# ---- routing a question ----------------------------------------------------------------------------------------

@router.subcommand("mod", "route", aliases=("邀答",), role=Role.MODERATOR)
async def mod_route(ctx: Ctx) -> None:
    """Ask a member to answer a question: /值班 邀答 Q12 @成员 (the request goes to them privately where it can);
    it counts in the moderator's KPIs once they answer."""
    await lock_community(ctx.db, ctx.community.id)
    token, _ = split_first(ctx.args_without_mentions)
    number = parse_ref(token, "Q") if token else None
    if number is None or ctx.args_without_mentions.strip() != token:
        raise CommandError("duty.route_usage")
    target = await _one_mentioned(ctx, "duty.route_usage")
    question = await find_question(ctx, number)
    ref = f"Q{question.number}"
    if question.status == CLOSED:
        raise CommandError("duty.route_closed", ref=ref)
    if target.id == ctx.member.id:
        raise CommandError("duty.route_self")
    if target.id == question.asker_id:
        raise CommandError("duty.route_asker", name=target.display_name, ref=ref)
    if await ctx.db.scalar(select(Answer.id).where(Answer.question_id == question.id,
                                                   Answer.author_id == target.id).limit(1)) is not None:
        raise CommandError("duty.route_answered", name=target.display_name, ref=ref)
    if await ctx.db.scalar(select(DutyRoute.id).where(DutyRoute.question_id == question.id,
                                                      DutyRoute.member_id == target.id)) is not None:
        raise CommandError("duty.route_again", name=target.display_name, ref=ref)
    ctx.db.add(DutyRoute(community_id=ctx.community.id, question_id=question.id, member_id=target.id,
                         by_member_id=ctx.member.id, routed_at=ctx.now, cause=ctx.cause))
    request = ctx.t("duty.route_request", by=ctx.member.display_name, ref=ref, title=question.title)
    if ctx.can(Capability.CAN_DM):
        await ctx.post(ChatRef(user_id=target.user_id), request)
        await ctx.respond("duty.routed_private", name=target.display_name, ref=ref)
    elif ctx.group is not None:
        await ctx.reply_text(f"@{target.display_name} {request}", mentions=(target.user_id,))
    else:
        await tell(ctx, target, request)
        await ctx.respond("duty.routed_group", name=target.display_name, ref=ref)


# ---- KPIs --------------------------------------------------------------------------------------------------------

async def terms_kpis(ctx: BaseCtx) -> list[str]:
    """The current and the previous term's KPIs, shift by shift, with the stipend each earned or would earn (the
    owners' weekly report shows them too)."""
    start, end = term_at(ctx, ctx.now)
    previous = term_at(ctx, start - (end - start) / 2)
    tiers = ctx.ccfg.duty.tiers
    lines: list[str] = []
    for key, (first, last) in (("duty.kpi_current", (start, end)), ("duty.kpi_previous", previous)):
        if last <= ctx.community.started_at:
            continue
        lines.append(ctx.t(key, span=term_label(ctx, first, last)))
        shifts = list(await ctx.db.scalars(select(DutyShift).where(
            DutyShift.community_id == ctx.community.id, DutyShift.term_start == first)
            .order_by(DutyShift.started_at, DutyShift.id)))
        if not shifts:
            lines.append(ctx.t("duty.kpi_nobody"))
            kpis = await term_kpis(ctx.db, ctx.community, Term(first, min(last, ctx.now), None))
            lines += kpi_lines(ctx, kpis)
        for shift in shifts:
            member = await ctx.db.get_one(Member, shift.member_id)
            until = shift.ended_at or min(shift.term_end, ctx.now)
            lines.append(ctx.t("duty.kpi_shift", name=member.display_name, start=ctx.session_label(shift.started_at),
                               end=ctx.session_label(shift.ended_at or shift.term_end)))
            kpis = await term_kpis(ctx.db, ctx.community, Term(shift.started_at, until, member.id, member.user_id,
                                                               member.display_name))
            lines += kpi_lines(ctx, kpis)
            if shift.settled:
                lines.append(stipend_text(ctx, shift))
            else:
                tier = tier_of(tiers, kpis)
                lines.append(ctx.t("duty.kpi_so_far", share=tiers[tier].share if tier is not None else 0))
    return lines


@router.subcommand("mod", "kpi", aliases=("KPI", "考核"))
async def mod_kpi(ctx: Ctx) -> None:
    """The KPIs of the current and the previous term, shift by shift, with the stipend each earned or would earn."""
    if ctx.args.strip():
        raise CommandError("duty.kpi_usage")
    lines = [ctx.t("duty.kpi_title", rule=tier_rule(ctx.locale, ctx.ccfg.duty.tiers)), *await terms_kpis(ctx)]
    await ctx.reply_text("\n".join(lines))


# ---- the term job ------------------------------------------------------------------------------------------------

@router.job("rotate_duty", catch_up="each", cron=duty_cron)
async def rotate_duty(job: JobCtx) -> None:
    """At a term's start: the ended term's shifts are settled and paid (each missed term once, in order), the next
    in line goes on duty. Only the current term is announced: a term that passed while the bot was down is paid
    but not announced."""
    start, end = term_at(job, job.period)
    if start != job.period:
        return                  # a week (or month) inside a longer term
    settled = await settle(job, start)
    rotation = await job.db.get(DutyState, job.community.id)
    if rotation is None:
        return                  # nobody ever joined: the community does not use the rotation
    members = await queue(job)
    previous = settled[-1].member if settled else None
    following = await next_up(job, [m.id for m in members], besides=previous.id if previous else None)
    shift = await start_shift(job, following, start) if following is not None else None
    if end <= job.now:
        return
    for done in settled:
        lines = [job.t("duty.outgoing", start=job.session_label(done.shift.started_at),
                       end=job.session_label(done.shift.ended_at or done.shift.term_end)),
                 *kpi_lines(job, done.kpis)]
        rule = tier_rule(job.locale, job.ccfg.duty.tiers)
        if done.shift.amount:
            lines += [stipend_text(job, done.shift), job.t("duty.outgoing_rule", rule=rule)]
        else:
            lines.append(job.t("duty.outgoing_none", rule=rule))
        if done.member.deleted_at is None:
            await tell(job, done.member, "\n".join(lines))
    if shift is None:
        await job.post_to_groups(job.t("duty.announce_owners", span=term_label(job, start, end)))
        await warn_if_short(job)
        return
    member = await job.db.get_one(Member, shift.member_id)
    upcoming = await next_up(job, [m.id for m in members], besides=member.id)
    after_them = next((m.display_name for m in members if m.id == upcoming != member.id), job.t("duty.nobody_else"))
    before = job.t("duty.announce_previous", name=previous.display_name) if previous and previous.id != member.id \
        else ""
    await job.post_to_groups(job.t("duty.announce", name=member.display_name, until=job.session_label(end),
                                   previous=before, next=after_them), mentions=(member.user_id,))
    await tell(job, member, await handover_note(job, shift))
    if len(members) < 2:
        await warn_if_short(job)
