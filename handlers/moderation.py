"""Anti-spam with a human in the loop: what happens to a flagged message (a warning, the moderators told with the
evidence, a removal a moderator confirms), the whitelist, the audit log, appeals and a removed member's return.

What is spam is bot.spam's to say; this module decides, per member and burst, what to do about it.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from bot import roster
from bot.context import BaseCtx, Ctx, EventCtx
from bot.errors import CommandError
from bot.events import Capability, JoinEvent
from bot.roles import Role
from bot.router import Router
from bot.spam import Finding, host_of
from handlers import lifecycle
from models import Member, ModerationAction, WhitelistEntry
from models.ledger import lock_community

router = Router()
OFFENCES = ("warn", "report", "remove", "removed", "by_hand")     # the steps that answer a flagged burst
LOG_LINES = 15
STATS_DAYS = 30
_DOMAIN = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)+")


# ---- who is left alone --------------------------------------------------------------------------------------

async def whitelisted(ctx: BaseCtx, kind: str, value: str) -> bool:
    return await ctx.db.get(WhitelistEntry, (ctx.community.id, kind, value)) is not None


async def _excused(ctx: Ctx, finding: Finding) -> bool:
    """Owners, moderators and whitelisted members; a link whose every domain an owner allowed from chat."""
    if ctx.roles & {Role.OWNER, Role.MODERATOR} or await whitelisted(ctx, "member", ctx.sender_id):
        return True
    if finding.domains:
        allowed = set(await ctx.db.scalars(select(WhitelistEntry.value).where(
            WhitelistEntry.community_id == ctx.community.id, WhitelistEntry.kind == "domain")))
        return all(any(host == d or host.endswith("." + d) for d in allowed) for host in finding.domains)
    return False


# ---- what a flagged burst leads to -------------------------------------------------------------------------------

async def _next_number(ctx: BaseCtx) -> int:
    await lock_community(ctx.db, ctx.community.id)
    latest = await ctx.db.scalar(select(func.max(ModerationAction.number))
                                 .where(ModerationAction.community_id == ctx.community.id))
    return (latest or 0) + 1


def _record(ctx: BaseCtx, user_id: str, room_id: str | None, rule: str, step: str, *, evidence: str = "",
            number: int | None = None, state: str | None = None, expires_at: datetime | None = None,
            actor_id: str | None = None) -> ModerationAction:
    action = ModerationAction(community_id=ctx.community.id, number=number, user_id=user_id, room_id=room_id,
                              rule=rule, step=step, evidence=evidence, repeats=0, state=state, expires_at=expires_at,
                              actor_id=actor_id, created_at=ctx.now, last_at=ctx.now)
    ctx.db.add(action)
    return action


async def _tell_moderators(ctx: BaseCtx, key: str, **params: object) -> None:
    for user_id in await roster.moderators(ctx.db, ctx.ccfg):
        await ctx.dm(user_id, key, **params)


async def _watched(ctx: Ctx) -> bool:
    """New members get no free pass; nor does someone removed before who came back."""
    days = ctx.ccfg.hygiene.spam.new_member_days
    # Seen joining lately (members already there when the bot came have no join time).
    if ctx.member.joined_at is not None and ctx.now - ctx.member.joined_at < timedelta(days=days):
        return True
    return bool(await ctx.db.scalar(select(ModerationAction.id).where(
        ModerationAction.community_id == ctx.community.id, ModerationAction.user_id == ctx.sender_id,
        ModerationAction.step == "removed").limit(1)))


@router.on_violation
async def judge(ctx: Ctx, finding: Finding) -> None:
    """One action per burst, climbing the configured steps with each burst in the window: a private warning, the
    moderators told with the evidence, then a removal (confirmed by a moderator unless the owner chose otherwise)."""
    assert ctx.group is not None
    if await _excused(ctx, finding):
        return
    cfg = ctx.ccfg.hygiene.spam
    mine = (ModerationAction.community_id == ctx.community.id, ModerationAction.user_id == ctx.sender_id,
            ModerationAction.step.in_(OFFENCES))
    burst = await ctx.db.scalar(select(ModerationAction).where(
        *mine, ModerationAction.last_at > ctx.now - timedelta(seconds=cfg.burst_seconds))
        .order_by(ModerationAction.id.desc()).limit(1))
    if burst is not None:                       # the same burst: counted, never answered again
        burst.repeats += 1
        burst.last_at = ctx.now
        return
    earlier = await ctx.db.scalar(select(func.count()).select_from(ModerationAction).where(
        *mine, ModerationAction.created_at > ctx.now - timedelta(days=cfg.window_days))) or 0
    level = earlier + (1 if await _watched(ctx) else 0)
    step = cfg.steps[min(level, len(cfg.steps) - 1)]
    number = await _next_number(ctx)
    rule_name = ctx.t(f"spam.rule.{finding.rule}")
    evidence = ctx.t("spam.evidence", rule=rule_name, evidence=finding.evidence)
    group = ctx.group.name or ctx.group.room_id
    about = dict(n=number, name=ctx.member.display_name, group=group, evidence=evidence, earlier=earlier)
    if step == "warn":
        _record(ctx, ctx.sender_id, ctx.group.room_id, finding.rule, "warn", evidence=finding.evidence, number=number)
        if ctx.can(Capability.CAN_DM):
            await ctx.dm(ctx.sender_id, "spam.warn", rule=rule_name, group=group)
        else:
            await ctx.respond("spam.warn_here", rule=rule_name)
    elif step == "report":
        _record(ctx, ctx.sender_id, ctx.group.room_id, finding.rule, "report", evidence=finding.evidence,
                number=number)
        await _tell_moderators(ctx, "spam.report", **about)
    elif not ctx.can(Capability.CAN_REMOVE):
        _record(ctx, ctx.sender_id, ctx.group.room_id, finding.rule, "by_hand", evidence=finding.evidence,
                number=number)
        await _tell_moderators(ctx, "spam.by_hand", **about)
    elif cfg.confirm_removal:
        _record(ctx, ctx.sender_id, ctx.group.room_id, finding.rule, "remove", evidence=finding.evidence,
                number=number, state="pending", expires_at=ctx.now + timedelta(hours=cfg.confirm_hours))
        await _tell_moderators(ctx, "spam.remove_ask", hours=cfg.confirm_hours, **about)
    else:
        _record(ctx, ctx.sender_id, ctx.group.room_id, finding.rule, "remove", evidence=finding.evidence,
                number=number, state="done")
        removed = await _remove(ctx, ctx.member, ctx.t("spam.reason", rule=rule_name), number, actor_id=None)
        await _tell_moderators(ctx, "spam.removed_now", groups=removed, **about)


async def _remove(ctx: BaseCtx, member: Member, reason: str, number: int, *, actor_id: str | None) -> str:
    """Remove a member from every group of the community they are in (`actor_id` confirmed it; None: the bot
    alone); the groups, named."""
    groups = await roster.groups_of(ctx.db, ctx.community.id, member.user_id)
    for group in groups:
        await ctx.remove_member(group.room_id, member.user_id, reason)
        _record(ctx, member.user_id, group.room_id, "removal", "removed", evidence=reason, number=number,
                actor_id=actor_id)
    return ctx.t("common.list_sep").join(g.name or g.room_id for g in groups) or "-"


def _off_note(ctx: Ctx) -> list[str]:
    """A line for the moderators when the anti-spam is not watching: the platform shows the bot only @-messages,
    or the community has not switched it on."""
    if not ctx.can(Capability.SEES_ALL_MESSAGES):
        return [ctx.t("spam.mentions_only")]
    return [] if ctx.ccfg.hygiene.spam.enabled else [ctx.t("spam.disabled")]


# ---- /移出 ----------------------------------------------------------------------------------------------------

@router.command("remove", aliases=("移出",), role=Role.MODERATOR)
async def remove(ctx: Ctx) -> None:
    """Removals a moderator confirms: one asked for by the anti-spam, or the idle members' list."""
    raise CommandError("remove.usage")


def _number(ctx: Ctx) -> int:
    text = ctx.args.strip().lstrip("#＃").removeprefix("编号").strip()
    if not text.isdigit() or len(text) > 7:
        raise CommandError("remove.usage")
    return int(text)


@router.subcommand("remove", "confirm", aliases=("确认",), role=Role.MODERATOR)
async def remove_confirm(ctx: Ctx) -> None:
    """Confirm removal N: the first confirmation removes, any later one is told it was handled."""
    number = _number(ctx)
    if not ctx.can(Capability.CAN_REMOVE):
        raise CommandError("remove.cannot")
    here = (ModerationAction.community_id == ctx.community.id, ModerationAction.number == number)
    asked = list(await ctx.db.scalars(select(ModerationAction).where(*here, ModerationAction.step == "remove")
                                      .order_by(ModerationAction.id)))
    if not asked:
        raise CommandError("remove.not_found", n=number)
    # One UPDATE decides between two moderators confirming at once: only the first finds the rows pending.
    won = list(await ctx.db.scalars(
        update(ModerationAction).where(*here, ModerationAction.step == "remove", ModerationAction.state == "pending",
                                       ModerationAction.expires_at > ctx.now)
        .values(state="done", handled_by=ctx.sender_id, handled_at=ctx.now)
        .returning(ModerationAction.user_id).execution_options(synchronize_session=False)))
    if not won:
        first = asked[0]
        await ctx.db.refresh(first)
        if first.state == "done":
            by = await roster.get_member(ctx.db, ctx.community.id, first.handled_by or "")
            raise CommandError("remove.already", n=number, by=by.display_name if by else "-")
        raise CommandError("remove.expired", n=number)
    lines = []
    for member in (await roster.members_by_user(ctx.db, ctx.community.id, won)).values():
        groups = await _remove(ctx, member, ctx.t("remove.reason", n=number), number, actor_id=ctx.sender_id)
        lines.append(ctx.t("remove.done_line", name=member.display_name, groups=groups))
    await ctx.reply("remove.done", n=number, lines="\n".join(lines))


@router.subcommand("remove", "inactive", aliases=("不活跃",), role=Role.MODERATOR)
async def remove_inactive(ctx: Ctx) -> None:
    """Ask to remove everyone on the idle list; a moderator confirms with /移出 确认 N."""
    idle = await lifecycle.idle_for_removal(ctx)
    if idle is None:
        raise CommandError("lifecycle.unavailable")
    if not idle:
        raise CommandError("lifecycle.none", days=ctx.ccfg.hygiene.lifecycle.list_days)
    number = await _next_number(ctx)
    hours = ctx.ccfg.hygiene.spam.confirm_hours
    for member in idle:
        _record(ctx, member.user_id, None, "inactive", "remove", number=number, state="pending",
                expires_at=ctx.now + timedelta(hours=hours), actor_id=ctx.sender_id,
                evidence=ctx.t("lifecycle.evidence", days=ctx.ccfg.hygiene.lifecycle.list_days))
    await ctx.reply("remove.inactive_ask", n=number, count=len(idle), hours=hours,
                    names=ctx.t("common.list_sep").join(m.display_name for m in idle))


# ---- /违规 ---------------------------------------------------------------------------------------------------

@router.command("violations", aliases=("违规",), role=Role.MODERATOR)
async def violations(ctx: Ctx) -> None:
    """The audit log, newest first (of one member when one is @-mentioned)."""
    await violations_log(ctx)


@router.subcommand("violations", "log", aliases=("记录",), role=Role.MODERATOR)
async def violations_log(ctx: Ctx) -> None:
    """The audit log: every warning, report, removal, appeal and return, newest first."""
    if ctx.args_without_mentions:
        raise CommandError("violations.usage")
    who = await ctx.mentioned_members() if ctx.typed_names() or ctx.event.mention_ids else []
    query = select(ModerationAction).where(ModerationAction.community_id == ctx.community.id)
    if who:
        query = query.where(ModerationAction.user_id.in_([m.user_id for m in who]))
    rows = list(await ctx.db.scalars(query.order_by(ModerationAction.id.desc()).limit(LOG_LINES)))
    if not rows:
        await ctx.reply_text("\n".join([ctx.t("violations.empty"), *_off_note(ctx)]))
        return
    names = await roster.members_by_user(ctx.db, ctx.community.id, {r.user_id for r in rows})
    lines = [ctx.t("violations.title")]
    for row in rows:
        member = names.get(row.user_id)
        state = ctx.t(f"violations.state.{row.state}") if row.state else ""
        if row.state == "pending" and row.expires_at is not None and row.expires_at <= ctx.now:
            state = ctx.t("violations.state.expired")
        lines.append(ctx.t("violations.line", n=row.number or "-", day=ctx.session_label(row.created_at),
                           name=member.display_name if member else row.user_id,
                           rule=ctx.t(f"spam.rule.{row.rule}"), step=ctx.t(f"violations.step.{row.step}"),
                           state=state, repeats=ctx.t("violations.repeats", n=row.repeats) if row.repeats else "",
                           evidence=row.evidence))
    await ctx.reply_text("\n".join([*lines, *_off_note(ctx)]))


@router.subcommand("violations", "stats", aliases=("统计",), role=Role.MODERATOR)
async def violations_stats(ctx: Ctx) -> None:
    """Counts of the last 30 days: by rule, and by what was done."""
    since = ctx.now - timedelta(days=STATS_DAYS)
    here = (ModerationAction.community_id == ctx.community.id, ModerationAction.created_at >= since)
    by_step = dict((await ctx.db.execute(select(ModerationAction.step, func.count()).where(*here)
                                         .group_by(ModerationAction.step))).all())
    by_rule = dict((await ctx.db.execute(
        select(ModerationAction.rule, func.count()).where(*here, ModerationAction.step.in_(OFFENCES[:3]))
        .group_by(ModerationAction.rule))).all())
    sep = ctx.t("common.list_sep")
    rules = sep.join(ctx.t("violations.count", what=ctx.t(f"spam.rule.{rule}"), n=n)
                     for rule, n in sorted(by_rule.items(), key=lambda kv: (-kv[1], kv[0]))) or "-"
    steps = sep.join(ctx.t("violations.count", what=ctx.t(f"violations.step.{step}"), n=by_step[step])
                     for step in ("warn", "report", "remove", "removed", "by_hand", "appeal", "rejoin")
                     if by_step.get(step)) or "-"
    await ctx.reply_text("\n".join([ctx.t("violations.stats", days=STATS_DAYS, rules=rules, steps=steps),
                                    *_off_note(ctx)]))


# ---- /申诉 ---------------------------------------------------------------------------------------------------

@router.command("appeal", aliases=("申诉",))
async def appeal(ctx: Ctx) -> None:
    """Ask a human: the moderators get the member's words and their latest audit lines."""
    text = ctx.args.strip()
    if not text:
        raise CommandError("appeal.usage")
    if len(text) > 300:
        raise CommandError("appeal.too_long", limit=300)
    recent = list(await ctx.db.scalars(select(ModerationAction).where(
        ModerationAction.community_id == ctx.community.id, ModerationAction.user_id == ctx.sender_id,
        ModerationAction.step.in_(OFFENCES)).order_by(ModerationAction.id.desc()).limit(3)))
    history = "\n".join(ctx.t("appeal.history_line", n=r.number or "-", day=ctx.session_label(r.created_at),
                              rule=ctx.t(f"spam.rule.{r.rule}"), step=ctx.t(f"violations.step.{r.step}"))
                        for r in recent) or ctx.t("appeal.no_history")
    _record(ctx, ctx.sender_id, ctx.group.room_id if ctx.group else None, "appeal", "appeal", evidence=text,
            actor_id=ctx.sender_id)
    await _tell_moderators(ctx, "appeal.forward", name=ctx.member.display_name, text=text, history=history)
    await ctx.respond("appeal.ok")


# ---- /白名单 -------------------------------------------------------------------------------------------------

@router.command("whitelist", aliases=("白名单",), role=Role.MODERATOR)
async def whitelist(ctx: Ctx) -> None:
    """/白名单 @成员: the anti-spam leaves them alone; alone, it lists the whitelist."""
    if not ctx.args:
        await _list(ctx)
        return
    members = await ctx.mentioned_members()
    if not members or ctx.args_without_mentions:
        raise CommandError("whitelist.usage")
    for member in members:
        await _add(ctx, "member", member.user_id)
    await ctx.reply("whitelist.added", what=ctx.t("common.list_sep").join(m.display_name for m in members))


@router.subcommand("whitelist", "domain", aliases=("域名",), role=Role.MODERATOR)
async def whitelist_domain(ctx: Ctx) -> None:
    """Allow links to a domain and its subdomains."""
    domain = _domain(ctx.args)
    await _add(ctx, "domain", domain)
    await ctx.reply("whitelist.added", what=domain)


@router.subcommand("whitelist", "drop", aliases=("删除", "移除"), role=Role.MODERATOR)
async def whitelist_drop(ctx: Ctx) -> None:
    """Take a member or a domain off the whitelist."""
    if ctx.typed_names() or ctx.event.mention_ids:
        entries = [("member", m.user_id, m.display_name) for m in await ctx.mentioned_members()]
    else:
        domain = _domain(ctx.args)
        entries = [("domain", domain, domain)]
    for kind, value, shown in entries:
        entry = await ctx.db.get(WhitelistEntry, (ctx.community.id, kind, value))
        if entry is None:
            raise CommandError("whitelist.not_listed", what=shown)
        await ctx.db.delete(entry)
        _record(ctx, value, None, "whitelist", "unlisted", evidence=value if kind == "domain" else "",
                actor_id=ctx.sender_id)
    await ctx.reply("whitelist.dropped", what=ctx.t("common.list_sep").join(shown for _, _, shown in entries))


def _domain(text: str) -> str:
    raw = text.strip().lower()
    domain = host_of(raw) if "/" in raw else raw.lstrip(".")
    if not _DOMAIN.fullmatch(domain) or len(domain) > 100:
        raise CommandError("whitelist.domain_usage")
    return domain


async def _add(ctx: Ctx, kind: str, value: str) -> None:
    if not await whitelisted(ctx, kind, value):
        ctx.db.add(WhitelistEntry(community_id=ctx.community.id, kind=kind, value=value, added_by=ctx.sender_id,
                                  added_at=ctx.now))
        _record(ctx, value, None, "whitelist", "whitelisted", evidence=value if kind == "domain" else "",
                actor_id=ctx.sender_id)


async def _list(ctx: Ctx) -> None:
    rows = list(await ctx.db.scalars(select(WhitelistEntry).where(WhitelistEntry.community_id == ctx.community.id)
                                     .order_by(WhitelistEntry.kind, WhitelistEntry.value)))
    names = await roster.members_by_user(ctx.db, ctx.community.id, [r.value for r in rows if r.kind == "member"])
    sep = ctx.t("common.list_sep")
    members = sep.join(names[r.value].display_name if r.value in names else r.value
                       for r in rows if r.kind == "member") or "-"
    domains = sep.join(r.value for r in rows if r.kind == "domain") or "-"
    await ctx.reply_text("\n".join([ctx.t("whitelist.list", members=members, domains=domains,
                                          allowed=sep.join(ctx.ccfg.hygiene.spam.allowed_domains) or "-"),
                                    *_off_note(ctx)]))


# ---- a removed member comes back -----------------------------------------------------------------------------

@router.on_join
async def watch_returning(ctx: EventCtx) -> None:
    """Someone removed before joins again: the audit log notes it and the moderators are told; the anti-spam gives
    them no free pass."""
    assert isinstance(ctx.event, JoinEvent)
    removals = await ctx.db.scalar(select(func.count()).select_from(ModerationAction).where(
        ModerationAction.community_id == ctx.community.id, ModerationAction.user_id == ctx.event.user_id,
        ModerationAction.step == "removed")) or 0
    if not removals:
        return
    _record(ctx, ctx.event.user_id, ctx.group.room_id, "rejoin", "rejoin", actor_id=ctx.event.inviter_id)
    await _tell_moderators(ctx, "spam.rejoined", name=ctx.event.name, group=ctx.group.name or ctx.group.room_id,
                           removals=removals)

