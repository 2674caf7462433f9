"""Which groups the bot serves (an owner enables one by typing /启用 in it, or disables one enabled that way), the
ids config.yaml needs (/我), and which community a member of several means in private chat (/切换)."""
from __future__ import annotations

from bot import roster
from bot.context import Ctx
from bot.errors import CommandError
from bot.events import Capability
from bot.roles import Role
from bot.router import Router
from bot.tiers import template_args
from handlers import tiers
from models import Group

router = Router()


@router.command("enable", aliases=("启用",), role=Role.OWNER)
async def enable(ctx: Ctx) -> None:
    """Start serving the group this is typed in, for the owner's community."""
    room_id = ctx.event.room_id
    if room_id is None:
        raise CommandError("common.group_only", command="enable")
    if ctx.group is not None:
        raise CommandError("enable.already", community=ctx.community.name)
    template_name = template_args(ctx.args)
    template = await tiers.template_group(ctx, template_name) if template_name is not None else None
    group = await ctx.db.get(Group, room_id)
    if group is None:
        group = Group(room_id=room_id, community_id=ctx.community.id, source="chat")
        ctx.db.add(group)
    # Served by the bot account that heard the command (when several processes share the database).
    group.community_id, group.enabled, group.account = ctx.community.id, True, ctx.account
    group.enabled_by, group.enabled_at = ctx.sender_id, ctx.now
    await ctx.db.flush()
    ctx.group = group
    await roster.touch(ctx.db, ctx.community.id, ctx.sender_id, ctx.event.sender_name, ctx.now, room_id=room_id)
    ctx.group_changed(room_id)
    # The group's size decides privacy: ask the platform for the member list once the group is served.
    ctx.refresh_members(room_id)
    if template is None:
        group.tier = None
        await ctx.reply("enable.ok", community=ctx.community.name, room_id=room_id)
        return
    tier = tiers.copy_group(ctx, template, group)
    await ctx.reply("enable.copied", community=ctx.community.name, room_id=room_id,
                    template=tiers.group_label(template), tier=tier.name if tier else ctx.t("tier.no_tier"))


@router.command("whoami", aliases=("我", "我是谁"))
async def whoami(ctx: Ctx) -> None:
    """The ids config.yaml needs: the sender's user id (never for the whole group to read) and, in a group, the
    group's id."""
    if ctx.group is None:
        await ctx.respond("whoami.user", id=ctx.sender_id)
        return
    can_dm = ctx.can(Capability.CAN_DM)
    where = ctx.t("whoami.user_sent" if can_dm else "whoami.user_ask")
    await ctx.respond_text(ctx.t("whoami.group", room_id=ctx.group.room_id) + "\n" + where)
    if can_dm:
        await ctx.dm(ctx.sender_id, "whoami.user", id=ctx.sender_id)


@router.command("disable", aliases=("停用",), role=Role.OWNER, in_group=True)
async def disable(ctx: Ctx) -> None:
    """Stop serving this group (groups listed in config.yaml are changed there)."""
    group = await ctx.db.get_one(Group, ctx.chat.room_id)
    if group.source == "config":
        raise CommandError("disable.config")
    group.enabled = False
    ctx.group_changed(group.room_id)
    await ctx.reply("disable.ok")


@router.command("use", aliases=("切换",), private=True, hidden=True)
async def use(ctx: Ctx) -> None:
    """Choose which community your private messages are for (when you are in several)."""
    raise CommandError("use.only_one", community=ctx.community.name)
