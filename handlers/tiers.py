"""Tiers and replication: an owner promotes a member to a higher tier (the bot records it and sends how to join),
lists the groups with their tiers, and enables a new group as a copy of a template group (/启用 模板 <群名>)."""
from __future__ import annotations

from sqlalchemy import select

from bot.config import TierConfig
from bot.context import BaseCtx, Ctx
from bot.errors import CommandError
from bot.events import Capability
from bot.roles import Role
from bot.router import Router
from bot.tiers import tier_of
from models import Group, Promotion

router = Router()


async def groups_with_tiers(ctx: BaseCtx) -> list[tuple[Group, TierConfig | None]]:
    """The community's served groups, each with its tier (None: no tier, every feature runs), for the owner's
    report and /分层."""
    rows = await ctx.db.scalars(select(Group).where(Group.community_id == ctx.community.id, Group.enabled)
                                .order_by(Group.room_id))
    return [(g, tier_of(ctx.ccfg, g)) for g in rows]


def tier_names(ctx: BaseCtx) -> str:
    return ctx.t("common.list_sep").join(t.name for t in ctx.ccfg.tiers) or ctx.t("tier.none_configured")


def group_label(group: Group) -> str:
    return group.name or group.room_id


async def template_group(ctx: BaseCtx, name: str) -> Group:
    """The served group named `name` (its name or room id); CommandError listing the groups when none is."""
    groups = [g for g, _ in await groups_with_tiers(ctx)]
    found = [g for g in groups if name in (g.name, g.room_id)]
    if not name or not found:
        raise CommandError("enable.no_template", name=name, groups=ctx.t("common.list_sep").join(
            group_label(g) for g in groups))
    return found[0]


def copy_group(ctx: BaseCtx, template: Group, group: Group) -> TierConfig | None:
    """Make `group` run as `template` does: its tier (features, rules in the welcome) and whether chat is kept.
    The schedule is the community's, so the same jobs run in it wherever its tier runs them."""
    tier = tier_of(ctx.ccfg, template)
    group.tier = tier.name if tier is not None else None
    group.history = template.history
    return tier


@router.command("promote", aliases=("晋升",), role=Role.OWNER)
async def promote(ctx: Ctx) -> None:
    """Promote a member to a tier (`/晋升 @x 核心群`): recorded, and they are sent how to join its groups."""
    targets = await ctx.mentioned_members()
    word = ctx.args_without_mentions
    if len(targets) != 1 or not word:
        raise CommandError("promote.usage", tiers=tier_names(ctx))
    member = targets[0]
    tier = ctx.ccfg.tier(word)
    if tier is None:
        raise CommandError("promote.no_tier", tier=word[:40], tiers=tier_names(ctx))
    if await ctx.db.scalar(select(Promotion.id).where(Promotion.member_id == member.id, Promotion.tier == tier.name)):
        raise CommandError("promote.already", name=member.display_name, tier=tier.name)
    ctx.db.add(Promotion(community_id=ctx.community.id, member_id=member.id, tier=tier.name,
                         promoted_by=ctx.sender_id, promoted_at=ctx.now, cause=ctx.cause))
    groups = [group_label(g) for g, t in await groups_with_tiers(ctx) if t is tier]
    how = tier.invitation or ctx.t("promote.default_invitation", groups=ctx.t("common.list_sep").join(groups)
                                   or tier.name)
    if ctx.can(Capability.CAN_DM):
        await ctx.reply("promote.ok", name=member.display_name, tier=tier.name)
        await ctx.dm(member.user_id, "promote.invitation", community=ctx.community.name, tier=tier.name, how=how)
    else:
        # WeCom: a private message reaches only someone who wrote to the bot first; the instructions go here.
        await ctx.reply("promote.ok_here", name=member.display_name, tier=tier.name, how=how)


@router.command("tiers", aliases=("分层",), role=Role.OWNER)
async def tiers(ctx: Ctx) -> None:
    """The community's groups with their tiers and the features that run in each."""
    lines = [ctx.t("tier.title", community=ctx.community.name)]
    sep = ctx.t("common.list_sep")
    for group, tier in await groups_with_tiers(ctx):
        if tier is None:
            lines.append(ctx.t("tier.line_plain", group=group_label(group)))
        else:
            features = sep.join(tier.features) if tier.features is not None else ctx.t("tier.all_features")
            lines.append(ctx.t("tier.line", group=group_label(group), tier=tier.name, features=features))
    lines.append(ctx.t("tier.configured", tiers=tier_names(ctx)))
    await ctx.reply_text("\n".join(lines))
