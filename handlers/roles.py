"""Who runs the community: owners appoint and dismiss moderators, treasurers and co-owners; everyone can list them."""
from __future__ import annotations

from sqlalchemy import select

from bot.context import Ctx
from bot.errors import CommandError
from bot.roles import Role
from bot.router import Router
from bot.text import clip
from models import Member, RoleGrant

router = Router()

ROLE_WORDS = {
    "版主": Role.MODERATOR, "moderator": Role.MODERATOR, "mod": Role.MODERATOR,
    "财务": Role.TREASURER, "treasurer": Role.TREASURER,
    "群主": Role.OWNER, "owner": Role.OWNER,
}


async def _target_and_role(ctx: Ctx, usage: str) -> tuple[Member, Role]:
    targets = await ctx.mentioned_members()
    words = ctx.args_without_mentions.lower().split()
    if len(targets) != 1 or len(words) != 1:
        raise CommandError(usage)
    role = ROLE_WORDS.get(words[0])
    if role is None:
        raise CommandError("appoint.unknown_role", role=clip(words[0]))
    return targets[0], role


def _config_roles(ctx: Ctx, user_id: str) -> set[Role]:
    cfg = ctx.ccfg
    return {r for r, ids in ((Role.OWNER, cfg.owners), (Role.MODERATOR, cfg.moderators),
                             (Role.TREASURER, cfg.treasurers)) if user_id in ids}


@router.command("appoint", aliases=("任命",), role=Role.OWNER)
async def appoint(ctx: Ctx) -> None:
    """Give a member a role: moderator, treasurer or owner."""
    target, role = await _target_and_role(ctx, "appoint.usage")
    label = ctx.t(f"role.{role.value}")
    held = await ctx.db.get(RoleGrant, (ctx.community.id, target.user_id, role.value))
    if held is not None or role in _config_roles(ctx, target.user_id):
        raise CommandError("appoint.already", name=target.display_name, role=label)
    ctx.db.add(RoleGrant(community_id=ctx.community.id, user_id=target.user_id, role=role.value,
                         granted_by=ctx.sender_id, granted_at=ctx.now))
    ctx.roles_changed()
    await ctx.reply("appoint.ok", mentions=(target.user_id,), name=target.display_name, role=label)


@router.command("dismiss", aliases=("免职",), role=Role.OWNER)
async def dismiss(ctx: Ctx) -> None:
    """Take a role back."""
    target, role = await _target_and_role(ctx, "dismiss.usage")
    label = ctx.t(f"role.{role.value}")
    held = await ctx.db.get(RoleGrant, (ctx.community.id, target.user_id, role.value))
    if held is None:
        key = "dismiss.config" if role in _config_roles(ctx, target.user_id) else "dismiss.not_held"
        raise CommandError(key, name=target.display_name, role=label)
    await ctx.db.delete(held)
    ctx.roles_changed()
    await ctx.reply("dismiss.ok", mentions=(target.user_id,), name=target.display_name, role=label)


@router.command("roles", aliases=("角色", "管理员"))
async def roles(ctx: Ctx) -> None:
    """List the community's owners, treasurers and moderators."""
    holders: dict[Role, list[str]] = {r: [] for r in (Role.OWNER, Role.TREASURER, Role.MODERATOR)}
    ids: dict[Role, set[str]] = {r: set() for r in holders}
    for role, user_ids in ((Role.OWNER, ctx.ccfg.owners), (Role.TREASURER, ctx.ccfg.treasurers),
                           (Role.MODERATOR, ctx.ccfg.moderators)):
        ids[role].update(user_ids)
    for grant in await ctx.db.scalars(select(RoleGrant).where(RoleGrant.community_id == ctx.community.id)):
        ids[Role(grant.role)].add(grant.user_id)
    everyone = {u for s in ids.values() for u in s}
    names = {m.user_id: m.display_name for m in await ctx.db.scalars(
        select(Member).where(Member.community_id == ctx.community.id, Member.user_id.in_(everyone)))}
    lines = [ctx.t("roles.title", community=ctx.community.name)]
    for role, users in ids.items():
        shown = ctx.t("common.list_sep").join(sorted(names.get(u, u) for u in users)) or ctx.t("roles.nobody")
        lines.append(ctx.t("common.field_line", label=ctx.t(f"role.{role.value}"), value=shown))
    await ctx.reply_text("\n".join(lines))
